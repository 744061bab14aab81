import { action, connectSystem, printTable, toJson, connectAs } from "./common.js";
import { InputError } from "../src/errors.js";
import { parseAddress } from "../src/ops/meters.js";
import {
  auctionBook,
  auctionStatus,
  clearAuction,
  commitOrder,
  fundAccount,
  parseWhole,
  revealOrder,
} from "../src/ops/auction.js";

function intervalOf(value: bigint): bigint {
  if (value < 0n) throw new InputError("give --interval <delivery interval id>");
  return parseWhole(value, "--interval");
}

export const status = action<{ interval: bigint; json: boolean }>(async (args, hre) => {
  const intervalId = intervalOf(args.interval);
  const { system } = await connectSystem(hre);
  const s = await auctionStatus(system, intervalId);
  if (args.json) {
    console.log(toJson(s));
    return;
  }
  const phase = s.phase[0].toUpperCase() + s.phase.slice(1);
  console.log(`auction of interval ${s.intervalId}: phase ${phase} (chain time ${s.now.iso})`);
  for (const [name, t] of Object.entries(s.schedule)) console.log(`  ${name.padEnd(18)} ${t.iso}  (${t.unix})`);
  console.log(
    `  bounds             ${s.bounds === null ? "not set (fixed by the first `auction commit`, or the first reveal)" : `${s.bounds.floor}..${s.bounds.ceiling} base units per kWh`}, tick ${s.tickSize}`,
  );
  console.log(`  revealed orders    ${s.orderCount} of at most ${s.maxOrders}`);
  console.log(`  zones              ${s.zones.length === 0 ? "-" : s.zones.join(", ")}`);
  if (s.result !== null) {
    console.log(`  system price       ${s.result.systemPrice}`);
    printTable(
      s.result.zones.map((z) => ({
        zone: z.zone,
        price: z.price,
        netExportWh: z.netExportWh,
        congestion: z.congestion,
      })),
    );
  }
});

interface CommitArgs {
  interval: bigint;
  side: string;
  zone: string;
  quantity: string;
  price: string;
  meter: string;
  collateral: string;
  from: string;
  out: string;
}

export const commit = action<CommitArgs>(async (args, hre) => {
  const intervalId = intervalOf(args.interval);
  if (args.side === "") throw new InputError("give --side buy|sell");
  if (args.zone === "") throw new InputError("give --zone <zone id>");
  if (args.quantity === "") throw new InputError("give --quantity <Wh>");
  if (args.price === "") throw new InputError("give --price <base units per kWh>");
  const { system, signer, networkName } = await connectAs(hre, args.from);
  const r = await commitOrder(system, signer, {
    intervalId,
    side: args.side,
    zone: args.zone,
    quantityWh: args.quantity,
    limitPrice: args.price,
    meter: args.meter === "" ? undefined : args.meter,
    collateral: args.collateral === "" ? undefined : args.collateral,
    saltFile: args.out === "" ? undefined : args.out,
    network: networkName,
  });
  if (r.openTx !== null) console.log(`opened the auction: its bounds are now fixed (tx ${r.openTx})`);
  console.log(
    `committed ${r.commitment} for interval ${intervalId} with ${r.collateral} base units of collateral (tx ${r.txHash})`,
  );
  console.log(`order and salt written to ${r.file}: keep it, it is needed to reveal (auction reveal --file ${r.file})`);
});

export const reveal = action<{ file: string; from: string }>(async (args, hre) => {
  if (args.file === "") throw new InputError("give --file <order file written by `auction commit`>");
  const { system, signer } = await connectAs(hre, args.from);
  const r = await revealOrder(system, signer, args.file);
  console.log(
    `revealed ${r.commitment}: ${r.order.side} ${r.order.quantityWh} Wh at ${r.order.limitPrice} in zone ${r.order.zone} ` +
      `for interval ${r.intervalId} (tx ${r.txHash})`,
  );
});

export const clear = action<{ interval: bigint }>(async (args, hre) => {
  const intervalId = intervalOf(args.interval);
  const { system } = await connectSystem(hre);
  const r = await clearAuction(system, intervalId);
  console.log(
    `cleared interval ${intervalId}: system price ${r.systemPrice}, traded ${r.tradedWh} Wh, ` +
      `congestion rent ${r.congestionRent} (price × Wh) (tx ${r.txHash})`,
  );
});

export const book = action<{ interval: bigint; json: boolean }>(async (args, hre) => {
  const intervalId = intervalOf(args.interval);
  const { system, deployment } = await connectSystem(hre);
  const b = await auctionBook(system, intervalId, deployment.block);
  if (args.json) {
    console.log(toJson(b));
    return;
  }
  const cleared = b.onChain !== null;
  console.log(
    `auction of interval ${b.intervalId}: phase ${b.phase}, ${b.orders.length} revealed orders` +
      (b.bounds === null ? "" : `, bounds ${b.bounds.floor}..${b.bounds.ceiling}`) +
      (cleared ? "" : " (fills: preview by the reference clearing)"),
  );
  printTable(
    b.orders.map((o) => ({
      trader: o.trader,
      side: o.side,
      zone: o.zone,
      Wh: o.quantityWh,
      limit: o.limitPrice,
      fill: o.filledWh ?? "-",
      price: o.price ?? "-",
    })),
  );
  const result = b.onChain ?? b.reference;
  if (result !== null) {
    console.log(`system price ${result.systemPrice}, traded ${result.tradedWh} Wh`);
    printTable(
      result.zones.map((z) => ({ zone: z.zone, price: z.price, netExportWh: z.netExportWh, congestion: z.congestion })),
    );
  }
  if (b.matchesReference !== null) {
    console.log(`matches the reference clearing: ${b.matchesReference ? "yes" : "no"}`);
    for (const d of b.differences) console.log(`  ${d}`);
  }
});

export const fund = action<{ account: string; amount: string }>(async (args, hre) => {
  if (args.account === "") throw new InputError("give --account <address>");
  if (args.amount === "") throw new InputError("give --amount <base units>");
  const account = parseAddress(args.account, "account");
  const { system, deployment } = await connectSystem(hre);
  const tx = await fundAccount(system, deployment, account, args.amount);
  console.log(`minted ${args.amount} base units of the MockStablecoin to ${account} (tx ${tx})`);
});
