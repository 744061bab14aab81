import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { action, connectAs, connectSystem, printTable, toJson } from "./common.js";
import { InputError, MicrogridError } from "../src/errors.js";
import {
  collect as collectOrders,
  collectAll,
  deliver as deliverOrders,
  deliverAll,
  settlementStatus,
  type BuyerCollection,
  type Delivered,
  type OrderSelection,
  type Skipped,
} from "../src/ops/settlement.js";

interface Args {
  interval: bigint;
  commitment: string;
  file: string;
  all: boolean;
  from: string;
}

/** The interval option (-1: not given) as the ops take it. */
const intervalArg = (value: bigint) => (value < 0n ? undefined : value);

/** The orders one `deliver`/`collect` is about. */
const selection = (args: Args, trader: string, fromBlock: number): OrderSelection => ({
  trader,
  commitment: args.commitment,
  file: args.file,
  fromBlock,
});

/** The connected system with the `--from` account as signer (default: account 0). */
async function sender(hre: HardhatRuntimeEnvironment, from: string) {
  const { signer, system, deployment } = await connectAs(hre, from);
  return { signer, system, fromBlock: deployment.block };
}

/** `--all` works on the whole interval: no trader, commitment or file. */
function checkAll(args: Args, traderOption: string, trader: string): bigint {
  if (args.interval < 0n) throw new InputError("give --interval <delivery interval id> with --all");
  if (trader !== "" || args.commitment !== "" || args.file !== "")
    throw new InputError(`--all settles the whole interval: drop ${traderOption}, --commitment and --file`);
  return args.interval;
}

function settledLine(d: Delivered): string {
  const head = `order ${d.commitment} of ${d.seller} (zone ${d.zone}, ${d.filledWh} Wh at ${d.price})`;
  const money = `paid ${d.payment}, bond returned ${d.bondReturned}, slashed ${d.slashed} (tx ${d.txHash})`;
  return d.defaulted
    ? `defaulted ${head}: nothing delivered; ${money}`
    : `delivered ${head}: ${d.deliveredWh} of ${d.filledWh} Wh; ${money}`;
}

function collectedLine(c: BuyerCollection): string {
  const sources = c.received.map((r) => `${r.wh} Wh of zone ${r.zone} (id ${r.id})`).join(", ");
  return (
    `collected order ${c.commitment} of ${c.buyer} (zone ${c.zone}, ${c.filledWh} Wh at ${c.price}): ` +
    `received ${c.receivedWh} of ${c.filledWh} Wh${sources === "" ? "" : ` (${sources})`}; ` +
    `paid ${c.payment}, compensation ${c.compensation}, refunded ${c.refunded} (tx ${c.txHash})`
  );
}

/** Dust as the tasks print it: base units and the kWh left of each zone. */
function dustText(amount: bigint | null, kwh: { zone: number; wh: bigint }[]): string {
  const wh = kwh
    .filter((k) => k.wh !== 0n)
    .map((k) => `${k.wh} Wh of zone ${k.zone}`)
    .join(", ");
  return `${amount} base units${wh === "" ? "" : ` and ${wh}`}`;
}

/** Prints what an `--all` run left alone; fails (one line) when the chain refused any order. */
function reportLeftOver(skipped: Skipped[], failed: Skipped[], attempted: number): void {
  for (const s of skipped) console.log(`skipped order ${s.commitment} of ${s.trader}: ${s.reason}`);
  for (const f of failed) console.log(`failed order ${f.commitment} of ${f.trader}: ${f.reason}`);
  if (failed.length > 0)
    throw new MicrogridError(`${failed.length} of ${attempted} orders were refused by the chain (listed above)`);
}

export const deliver = action<Args & { seller: string }>(async (args, hre) => {
  const { signer, system, fromBlock } = await sender(hre, args.from);
  if (args.all) {
    const r = await deliverAll(system, signer, checkAll(args, "--seller", args.seller), fromBlock);
    if (r.approvalTx !== null) console.log(`approved the escrow for the sender's kWh tokens (tx ${r.approvalTx})`);
    if (r.afterDeadline && r.settlements.length > 0)
      console.log(`the settlement deadline passed at ${r.deadline.iso}: open sell orders settle as defaults`);
    for (const d of r.settlements) console.log(settledLine(d));
    const attempted = r.settlements.length + r.failed.length;
    console.log(
      `interval ${r.intervalId}: settled ${r.settlements.length} sell order${r.settlements.length === 1 ? "" : "s"}` +
        (r.skipped.length === 0 && r.failed.length === 0 ? "; every seller has settled" : ""),
    );
    reportLeftOver(r.skipped, r.failed, attempted);
    return;
  }
  const r = await deliverOrders(system, signer, intervalArg(args.interval), selection(args, args.seller, fromBlock));
  if (r.approvalTx !== null) console.log(`approved the escrow for ${r.seller}'s kWh tokens (tx ${r.approvalTx})`);
  if (r.afterDeadline)
    console.log(
      `the settlement deadline passed at ${r.deadline.iso}: settled as a default (the whole fill is shortfall)`,
    );
  for (const d of r.settlements) {
    if (d.warning !== null) console.log(`warning: ${d.warning}`);
    console.log(settledLine(d));
  }
});

export const collect = action<Args & { buyer: string }>(async (args, hre) => {
  const { signer, system, fromBlock } = await sender(hre, args.from);
  if (args.all) {
    const r = await collectAll(system, signer, checkAll(args, "--buyer", args.buyer), fromBlock);
    for (const c of r.collections) console.log(collectedLine(c));
    console.log(
      `congestion rent ${r.rent.amount} ${r.rent.paidNow ? "paid" : "was paid already"} to ${r.rent.to} (tx ${r.rent.txHash})`,
    );
    if (r.dust === null) console.log("dust not swept: a buyer has not collected");
    else
      console.log(
        `dust ${dustText(r.dust.amount, r.dust.kwh)} ${r.dust.sweptNow ? "swept" : "was swept already"} to ${r.dust.to} (tx ${r.dust.txHash})`,
      );
    reportLeftOver([], r.failed, r.collections.length + r.failed.length);
    return;
  }
  const r = await collectOrders(system, signer, intervalArg(args.interval), selection(args, args.buyer, fromBlock));
  for (const c of r.collections) console.log(collectedLine(c));
});

export const status = action<{ interval: bigint; json: boolean }>(async (args, hre) => {
  if (args.interval < 0n) throw new InputError("give --interval <delivery interval id>");
  const { system, deployment } = await connectSystem(hre);
  const s = await settlementStatus(system, args.interval, deployment.block);
  if (args.json) {
    console.log(toJson(s));
    return;
  }
  console.log(
    `settlement of interval ${s.intervalId}: root ${s.rootFinal ? "final" : "not final"}, ` +
      `deadline ${s.settlementDeadline.iso} (${s.deadlinePassed ? "passed" : "open"})${s.paused ? ", escrow paused" : ""} ` +
      `(chain time ${s.now.iso})`,
  );
  console.log(`traded ${s.tradedWh} Wh, system price ${s.systemPrice}`);
  printTable(
    s.zones.map((z) => ({
      zone: z.zone,
      price: z.price,
      netExportWh: z.netExportWh,
      congestion: z.congestion,
      soldWh: z.soldWh,
      boughtWh: z.boughtWh,
      deliveredWh: z.deliveredWh,
      settledWh: z.processedWh,
      slashed: z.slashed,
    })),
  );
  printTable(
    s.obligations.map((o) => {
      const d = o.delivery;
      const c = o.collection;
      const state =
        d !== null
          ? d.defaulted
            ? "defaulted"
            : d.deliveredWh < d.filledWh
              ? "short"
              : "delivered"
          : c !== null
            ? "collected"
            : "open";
      return {
        trader: o.trader,
        commitment: o.commitment.slice(0, 10),
        side: o.side,
        zone: o.zone,
        filledWh: o.filledWh,
        price: o.price,
        state,
        Wh: d?.deliveredWh ?? c?.receivedWh ?? "-",
        paid: d?.payment ?? c?.payment ?? "-",
        slashed: d?.slashed ?? "-",
        compensation: c?.compensation ?? "-",
        returned: d?.bondReturned ?? c?.refunded ?? "-",
      };
    }),
  );
  const se = s.sellers;
  const bu = s.buyers;
  console.log(
    `sellers: ${se.settled} of ${se.orders} orders settled; delivered ${se.deliveredWh} of ${se.settledWh} Wh ` +
      `(shortfall ${se.shortfallWh}), paid ${se.paid}, bonds returned ${se.bondsReturned}, slashed ${se.slashed}; ` +
      `pending ${se.pendingWh} Wh`,
  );
  console.log(
    `buyers: ${bu.collected} of ${bu.orders} orders collected; received ${bu.receivedWh} of ${bu.collectedWh} Wh, ` +
      `paid ${bu.paid}, compensation ${bu.compensation}, refunded ${bu.refunded}; pending ${bu.pendingWh} Wh`,
  );
  console.log(
    s.rent.paid
      ? `congestion rent: ${s.rent.amount} paid to ${s.rent.to} (tx ${s.rent.txHash})`
      : `congestion rent: ${s.rent.amount} so far, pending (paid to ${s.rent.to} once every seller settled: \`settle collect --all\`)`,
  );
  console.log(
    s.dust.swept
      ? `dust: ${dustText(s.dust.amount, s.dust.kwh)} swept to ${s.dust.to} (tx ${s.dust.txHash})`
      : `dust: not swept (to ${s.dust.to} once every buyer collected and the rent was paid)`,
  );
  console.log(`residual: ${s.residual.rebuilt} from the events (escrow: ${s.residual.onChain})`);
  console.log(`matches the escrow's books: ${s.matchesChain ? "yes" : "no"}`);
  for (const d of s.differences) console.log(`  ${d}`);
});
