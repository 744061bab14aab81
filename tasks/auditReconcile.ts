import { action, connectSystem, printTable, toJson } from "./common.js";
import { InputError } from "../src/errors.js";
import { call, providerOf } from "../src/ops/chain.js";
import {
  checkRange,
  countByKind,
  parseStoreList,
  reconcile,
  shortHex,
  type Mismatch,
  type MismatchKind,
  type ReconcileReport,
} from "../src/ops/reconcile.js";

interface Args {
  from: bigint;
  to: bigint;
  store: string;
  toleranceWh: bigint;
  toleranceUnits: bigint;
  json: boolean;
}

/** `n word(s)`. */
const count = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

/** The checks as the summary lists them: the kinds each can report and what it compared. */
const CHECKS: { check: string; kinds: MismatchKind[]; compared: (c: ReconcileReport["checked"]) => string }[] = [
  {
    check: "readings vs roots",
    kinds: ["reading-not-in-root", "leaf-missing-from-store"],
    compared: (c) =>
      `${count(c.storedReadings, "stored reading")}, ${count(c.storeLeaves, "leaf", "leaves")} in ` +
      `${count(c.storeBatches, "store batch", "store batches")}; ${count(c.finalRoots, "final root")}`,
  },
  {
    check: "relayer roots",
    kinds: ["relayer-roots-differ"],
    compared: (c) =>
      `${count(c.votes, "committee vote")}; ${count(c.storeComparisons, "interval")} sealed by 2+ stores`,
  },
  {
    check: "minted vs roots",
    kinds: ["minted-exceeds-final", "minted-vs-totals"],
    compared: (c) => `${count(c.claims, "claim")}; ${count(c.mintedIntervals, "interval")} with kWh minted`,
  },
  {
    check: "fills vs settlements",
    kinds: ["fill-not-settled", "settlement-differs-from-fill"],
    compared: (c) =>
      `${count(c.filledOrders, "filled order")} (${c.settledOrders} settled) in ${count(c.auctions, "cleared auction")}`,
  },
  {
    check: "payment-token flows",
    kinds: ["token-flows-unbalanced"],
    compared: (c) => `${count(c.tokenTransfers, "transfer")} of ${count(c.tokenAccounts, "account")} (whole history)`,
  },
];

const show = (v: bigint | string | null) => (v === null ? "none" : typeof v === "string" ? shortHex(v) : v.toString());

function subject(m: Mismatch): string {
  const parts: string[] = [];
  if (m.contract !== undefined) parts.push(m.contract);
  if (m.relayer !== undefined) parts.push(`relayer ${m.relayer}`);
  if (m.meter !== undefined) parts.push(`meter ${m.meter}`);
  if (m.trader !== undefined) parts.push(`trader ${m.trader}`);
  if (m.commitment !== undefined) parts.push(`order ${shortHex(m.commitment)}`);
  if (m.zone !== undefined && m.meter === undefined) parts.push(`zone ${m.zone}`);
  return parts.length === 0 ? "-" : parts.join(", ");
}

function printReport(r: ReconcileReport): void {
  const n = r.range.to - r.range.from + 1n;
  console.log(
    `reconcile intervals ${r.range.from}..${r.range.to} (${n} interval${n === 1n ? "" : "s"}); events from block ${r.fromBlock} to ${r.block}`,
  );
  console.log(
    r.storeChecksSkipped
      ? "relayer stores: none given (--store or $RELAYER_STORES): store checks skipped, chain-only checks ran"
      : `relayer stores: ${r.stores.join(", ")}`,
  );
  console.log(`tolerance: ${r.tolerance.wh} Wh, ${r.tolerance.units} base units`);
  console.log("");
  const counts = countByKind(r.mismatches);
  printTable(
    CHECKS.map((c) => ({
      check: c.check,
      compared: c.compared(r.checked),
      mismatches: c.kinds.reduce((s, k) => s + counts[k], 0),
      kinds: c.kinds.join(", "),
    })),
  );
  if (r.pending.length > 0)
    console.log(
      `\nnot final yet (not mismatches): interval${r.pending.length === 1 ? "" : "s"} ${r.pending.join(", ")}`,
    );
  if (r.mismatches.length > 0) {
    console.log("");
    printTable(
      r.mismatches.map((m) => ({
        kind: m.kind,
        interval: m.intervalId ?? "-",
        subject: subject(m),
        field: m.field,
        expected: show(m.expected),
        actual: show(m.actual),
        cause: m.cause,
      })),
    );
  }
  console.log("");
  console.log(
    r.mismatches.length === 0
      ? "reconcile: OK"
      : `reconcile: ${r.mismatches.length} mismatch${r.mismatches.length === 1 ? "" : "es"}`,
  );
}

export default action<Args>(async (args, hre) => {
  if (args.from < 0n)
    throw new InputError("give --from <first interval id> (--to defaults to the last ended interval)");
  if (args.toleranceWh < 0n || args.toleranceUnits < 0n)
    throw new InputError("--tolerance-wh and --tolerance-units cannot be negative");
  const stores = parseStoreList(args.store !== "" ? args.store : (process.env.RELAYER_STORES ?? ""));
  // The range is checked before connecting when both ends are given.
  if (args.to >= 0n) checkRange(args.from, args.to);
  const { system, deployment } = await connectSystem(hre);
  let to = args.to;
  if (to < 0n) {
    const [block, length] = await call(() =>
      Promise.all([providerOf(system).getBlock("latest"), system.oracle.intervalLength()]),
    );
    to = BigInt(block?.timestamp ?? 0) / length - 1n;
    if (to < args.from)
      throw new InputError(`--from ${args.from} has not ended yet (the last ended interval is ${to}): give --to`);
  }
  const report = await reconcile(system, {
    from: args.from,
    to,
    stores,
    toleranceWh: args.toleranceWh,
    toleranceUnits: args.toleranceUnits,
    fromBlock: deployment.block,
  });
  if (args.json) console.log(toJson(report));
  else printReport(report);
  // A scheduled run alerts on the exit code: mismatches fail the command (errors do too, via `action`).
  if (report.mismatches.length > 0) process.exitCode = 1;
});
