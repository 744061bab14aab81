import { action, connectSystem, printTable, toJson } from "./common.js";
import { InputError } from "../src/errors.js";
import { claimKwh, claimKwhBatch, kwhBalances } from "../src/ops/kwh.js";
import { loadTree } from "../src/tree.js";
import { parseAddress } from "../src/ops/meters.js";

export const claim = action<{ tree: string; meter: string; all: boolean }>(async (args, hre) => {
  if (args.tree === "") throw new InputError("give --tree <file written by oracle submit-root>");
  if (!args.all && args.meter === "") throw new InputError("give --meter <address> or --all");
  const { system } = await connectSystem(hre);
  const tree = loadTree(args.tree);
  if (args.all) {
    const meters = [...tree.tree.entries()].map(([, v]) => v[0]);
    const txs = await claimKwhBatch(system.kwh, tree, meters);
    console.log(`claimed ${meters.length} readings of interval ${tree.intervalId} in ${txs.length} transactions`);
  } else {
    const tx = await claimKwh(system.kwh, tree, parseAddress(args.meter, "meter"));
    console.log(`claimed interval ${tree.intervalId} for ${args.meter} (tx ${tx})`);
  }
});

export const balance = action<{ account: string; json: boolean }>(async (args, hre) => {
  const { system, deployment, ethers } = await connectSystem(hre);
  const account = args.account === "" ? (await ethers.getSigners())[0].address : parseAddress(args.account, "account");
  const holdings = await kwhBalances(system.kwh, account, deployment.block);
  if (args.json) {
    console.log(toJson(holdings));
    return;
  }
  const total = holdings.reduce((s, h) => s + h.balanceWh, 0n);
  console.log(`${account}: ${total} Wh in ${holdings.length} token ids`);
  printTable(
    holdings.map((h) => ({
      id: h.id,
      zone: h.zone,
      interval: h.intervalId,
      wh: h.balanceWh,
      transferableUntil: new Date(Number(h.transferableUntil) * 1000).toISOString(),
    })),
  );
});
