import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { action, connectSystem, printTable, toJson } from "./common.js";
import { InputError } from "../src/errors.js";
import { intervalStatus, submitRootFromFile } from "../src/ops/oracle.js";
import { saveTree } from "../src/tree.js";
import { attachSystem } from "../src/deploy.js";
import { parseAddress } from "../src/ops/meters.js";

export const submitRoot = action<{ file: string; from: string; tree: string }>(async (args, hre) => {
  if (args.file === "") throw new InputError("give --file <readings.json>");
  const { deployment, networkName, ethers } = await connectSystem(hre);
  const signers = await ethers.getSigners();
  const signer = args.from === "" ? signers[1] : signers.find((s) => s.address === parseAddress(args.from, "from"));
  if (signer === undefined) throw new InputError(`account ${args.from || "1"} is not configured for ${networkName}`);
  const { oracle } = attachSystem(deployment, signer);
  const { tree, txHash } = await submitRootFromFile(oracle, args.file);
  const out = args.tree || join("trees", networkName, `${tree.intervalId}.json`);
  mkdirSync(dirname(out), { recursive: true });
  saveTree(out, tree);
  const s = await intervalStatus(oracle, tree.intervalId);
  console.log(
    `interval ${tree.intervalId}: root ${tree.root}, ${tree.leafCount} leaves, import ${tree.totalImportWh} Wh, ` +
      `export ${tree.totalExportWh} Wh; vote by ${signer.address} (tx ${txHash}); ${s.status}, ${s.votes}/${s.threshold} votes; tree written to ${out}`,
  );
});

export const status = action<{ interval: bigint; json: boolean }>(async (args, hre) => {
  if (args.interval < 0n) throw new InputError("give --interval <id>");
  const { system } = await connectSystem(hre);
  const s = await intervalStatus(system.oracle, args.interval);
  if (args.json) {
    console.log(toJson(s));
    return;
  }
  console.log(
    `interval ${s.intervalId}: ${s.status}, ${s.votes}/${s.threshold} votes` +
      (s.status === "none"
        ? ""
        : `; root ${s.root}, ${s.leafCount} leaves, import ${s.totalImportWh} Wh, export ${s.totalExportWh} Wh`),
  );
  printTable(s.members.map((m) => ({ member: m.address, voted: m.voted })));
});
