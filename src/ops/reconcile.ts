/**
 * `audit reconcile`: compares the relayers' stores with the chain over a range of delivery intervals, and the
 * chain's ledgers with each other.
 *
 * What is compared (docs/auditing.md, "Reconcile"):
 * - readings vs roots: each store's batch of an interval, its root recomputed from its leaves (never trusted as
 *   stored), against the root final on chain; each stored reading's delta (reading minus its baseline, as the
 *   relayer derives leaves) against the batch's leaf; each leaf the chain proved (KwhClaimed) against the store;
 * - relayer roots: the stores' batches of one interval against each other, and the committee's votes (RootSubmitted)
 *   against the final (or leading) root;
 * - minted supply: the kWh minted for an interval (mints of its token ids) against the final root's exported total,
 *   the KwhClaimed events, KwhToken.mintedWh and each store's leaves and totals;
 * - fills vs settlements: every filled order of each cleared auction against the escrow's settlement of it;
 * - payment-token flows: the payment token's Transfer logs into and out of BatchAuction and SettlementEscrow, the
 *   flows the market's own events account for, and the balances.
 *
 * Everything on chain is read through the system's JSON-RPC provider (events with `queryLogs`, views); the stores
 * are only read. The comparisons are pure functions of the facts (`compareInterval`, `compareSettlement`,
 * `compareTokenFlows`), so that a test can feed them facts the chain would never produce.
 */
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { ZeroAddress, getAddress } from "ethers";
import { deriveLeaves } from "../../oracle/src/batch/deltas.js";
import pg from "pg";
import { PostgresStore, SqliteStore, type ReadingStore } from "../../oracle/src/store/index.js";
import { reason } from "../../oracle/src/store/common.js";
import { quoteSchema } from "../../oracle/src/store/migrations.js";
import type { BatchRecord, Hex, SignedReading } from "../../oracle/src/types.js";
import type { System } from "../deploy.js";
import { InputError } from "../errors.js";
import { buildIntervalTree } from "../tree.js";
import { call, providerOf } from "./chain.js";
import { queryLogs } from "./rec.js";
import { settlementStatus, type SettlementStatus } from "./settlement.js";

/*//////////////////////////////////////////////////////////////
                               REPORT
//////////////////////////////////////////////////////////////*/

/** What a mismatch is about (docs/auditing.md lists each with its likely causes). */
export const MISMATCH_KINDS = [
  "reading-not-in-root",
  "leaf-missing-from-store",
  "relayer-roots-differ",
  "minted-exceeds-final",
  "minted-vs-totals",
  "fill-not-settled",
  "settlement-differs-from-fill",
  "token-flows-unbalanced",
] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

/** One inconsistency: where, what was expected, what was found, and why it probably happened. */
export interface Mismatch {
  kind: MismatchKind;
  /** The delivery interval; null for the payment-token flows, which are checked over the whole history. */
  intervalId: bigint | null;
  meter?: string;
  zone?: number;
  /** A relayer store's identifier, a committee member's address, or both sides of a comparison ("a vs b"). */
  relayer?: string;
  trader?: string;
  commitment?: string;
  /** The token account (BatchAuction or SettlementEscrow) of a flow mismatch. */
  contract?: string;
  /** What `expected` and `actual` measure: `root`, `exportWh`, `importWh`, `leafCount`, `mintedWh`, `filledWh`, … */
  field: string;
  /** The reference value (the chain's final root, the leaf, the fill, …); null where none exists. */
  expected: bigint | string | null;
  /** What was found instead; null where nothing was found. */
  actual: bigint | string | null;
  /** One sentence naming the problem and its likely cause. */
  cause: string;
}

/** How much was compared. */
export interface ReconcileChecked {
  /** Intervals in the range. */
  intervals: number;
  /** Of them, final on chain, and with votes but no quorum yet. */
  finalRoots: number;
  pendingRoots: number;
  /** Committee votes (RootSubmitted) for intervals of the range. */
  votes: number;
  /** Relayer stores read (0: store checks skipped). */
  stores: number;
  /** Batches, readings and leaves read from the stores, over all stores. */
  storeBatches: number;
  storedReadings: number;
  storeLeaves: number;
  /** Intervals sealed by two stores or more (their roots compared). */
  storeComparisons: number;
  /** KwhClaimed events of the range, and the intervals with kWh minted. */
  claims: number;
  mintedIntervals: number;
  /** Cleared auctions of the range, their filled orders, and of those the settled ones. */
  auctions: number;
  filledOrders: number;
  settledOrders: number;
  /** Payment-token accounts (BatchAuction, SettlementEscrow) and their Transfer logs. */
  tokenAccounts: number;
  tokenTransfers: number;
}

export interface ReconcileReport {
  range: { from: bigint; to: bigint };
  /** The stores compared, by identifier (passwords of URLs masked); empty when the store checks were skipped. */
  stores: string[];
  storeChecksSkipped: boolean;
  tolerance: { wh: bigint; units: bigint };
  /** The chain's latest block when the checks ran, and where the event searches started. */
  block: number;
  fromBlock: number;
  checked: ReconcileChecked;
  /** Intervals of the range whose root is not final yet although a store or a vote has one (not mismatches). */
  pending: bigint[];
  mismatches: Mismatch[];
}

/** A store opened by the caller, with the name the report gives it. */
export interface NamedStore {
  name: string;
  store: ReadingStore;
}

export interface ReconcileOptions {
  from: bigint;
  to: bigint;
  /**
   * Relayer stores: SQLite file paths or `postgres://` URLs (`?schema=` selects the PostgreSQL schema), opened and
   * closed here; or stores the caller opened (left open). Empty: the store checks are skipped.
   */
  stores?: (string | NamedStore)[];
  /** Energy differences up to this many Wh are not mismatches (default 0: exact). */
  toleranceWh?: bigint;
  /** Payment differences up to this many base units are not mismatches (default 0: exact). */
  toleranceUnits?: bigint;
  /** Where event searches start: the deployment block (default 0). */
  fromBlock?: number;
}

/** Most intervals one run checks (about 104 days of 15-minute intervals). */
export const MAX_RANGE = 10_000n;

/*//////////////////////////////////////////////////////////////
                               FACTS
//////////////////////////////////////////////////////////////*/

/** A committee member's vote (RootSubmitted). */
export interface ChainVote {
  member: string;
  root: string;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  txHash: string;
}

/** A leaf proven under a final root and minted (KwhClaimed). */
export interface ChainClaim {
  meter: string;
  owner: string;
  id: bigint;
  zone: number;
  importWh: bigint;
  exportWh: bigint;
  txHash: string;
}

/** What the chain holds about one interval. */
export interface ChainInterval {
  intervalId: bigint;
  /** ReadingOracle.getInterval: the final values, or the leading proposal while pending. */
  status: "none" | "pending" | "final";
  root: string;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  votes: ChainVote[];
  claims: ChainClaim[];
  /** KwhToken.mintedWh (the contract's own count). */
  mintedWh: bigint;
  /** The interval's kWh tokens minted, from the token's transfers from the zero address (its supply ledger). */
  mintedSupplyWh: bigint;
}

/** What one store holds about one interval. */
export interface StoreInterval {
  name: string;
  batch: BatchRecord | undefined;
  readings: SignedReading[];
  /** Each reading meter's latest earlier reading (what its delta is taken from). */
  baselines: Map<Hex, SignedReading>;
}

/** One contract's payment-token account: the token's ledger, the market's events and the balance. */
export interface TokenAccount {
  contract: "BatchAuction" | "SettlementEscrow";
  address: string;
  /** Σ Transfer values to and from it since `fromBlock`, and their number. */
  transfersIn: bigint;
  transfersOut: bigint;
  transfers: number;
  /** What the market's events say came in (collateral committed) and went out (withdrawals, settlements, rent, dust). */
  marketIn: bigint;
  marketOut: bigint;
  /** balanceOf at the latest block. */
  balance: bigint;
}

export interface Tolerance {
  wh: bigint;
  units: bigint;
}

export const ZERO_ROOT = `0x${"0".repeat(64)}`;

/*//////////////////////////////////////////////////////////////
                               HELPERS
//////////////////////////////////////////////////////////////*/

const STATUS_NAMES = ["none", "pending", "final"] as const;

const abs = (x: bigint) => (x < 0n ? -x : x);
const beyond = (expected: bigint, actual: bigint, tolerance: bigint) => abs(expected - actual) > tolerance;
const sum = <T>(xs: T[], f: (x: T) => bigint) => xs.reduce((s, x) => s + f(x), 0n);
const sameHex = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
/** `0x1234…abcd`, for sentences. */
export const shortHex = (h: string) => (h.length > 14 ? `${h.slice(0, 6)}…${h.slice(-4)}` : h);
const leafText = (n: number) => `${n} ${n === 1 ? "leaf" : "leaves"}`;

function checksum(address: string): string {
  try {
    return getAddress(address);
  } catch {
    return address;
  }
}

/** An empty record of `intervalId`: what the chain holds of an interval nobody voted on. */
export function emptyChainInterval(intervalId: bigint): ChainInterval {
  return {
    intervalId,
    status: "none",
    root: ZERO_ROOT,
    leafCount: 0,
    totalImportWh: 0n,
    totalExportWh: 0n,
    votes: [],
    claims: [],
    mintedWh: 0n,
    mintedSupplyWh: 0n,
  };
}

export function emptyChecked(): ReconcileChecked {
  return {
    intervals: 0,
    finalRoots: 0,
    pendingRoots: 0,
    votes: 0,
    stores: 0,
    storeBatches: 0,
    storedReadings: 0,
    storeLeaves: 0,
    storeComparisons: 0,
    claims: 0,
    mintedIntervals: 0,
    auctions: 0,
    filledOrders: 0,
    settledOrders: 0,
    tokenAccounts: 0,
    tokenTransfers: 0,
  };
}

/*//////////////////////////////////////////////////////////////
                       INTERVAL: READINGS, ROOTS, MINTS
//////////////////////////////////////////////////////////////*/

/** A store's batch as reconciled: its root and totals recomputed from its leaves. */
interface Sealed {
  name: string;
  batch: BatchRecord;
  /** Recomputed from the leaves; ZERO_ROOT for an empty batch; null when the leaves make no tree. */
  root: string | null;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  leaves: Map<string, { importWh: bigint; exportWh: bigint }>;
}

function sealedOf(name: string, batch: BatchRecord, intervalId: bigint, out: Mismatch[]): Sealed {
  const leaves = new Map(batch.leaves.map((l) => [checksum(l.meter), { importWh: l.importWh, exportWh: l.exportWh }]));
  const base = {
    name,
    batch,
    leafCount: batch.leaves.length,
    totalImportWh: sum(batch.leaves, (l) => l.importWh),
    totalExportWh: sum(batch.leaves, (l) => l.exportWh),
    leaves,
  };
  if (batch.leaves.length === 0) return { ...base, root: ZERO_ROOT };
  try {
    return {
      ...base,
      root: buildIntervalTree(
        intervalId,
        batch.leaves.map((l) => ({ meter: l.meter, importWh: l.importWh, exportWh: l.exportWh })),
      ).root,
    };
  } catch (e) {
    out.push({
      kind: "reading-not-in-root",
      intervalId,
      relayer: name,
      field: "leaves",
      expected: "a valid interval tree",
      actual: (e as Error).message,
      cause: `store ${name}'s batch of interval ${intervalId} cannot make a tree (${(e as Error).message}): the batch row was altered or written by another program`,
    });
    return { ...base, root: null };
  }
}

/** The votes that differ from the final root (or, while pending, from the leading proposal). */
function compareVotes(ci: ChainInterval, out: Mismatch[]): void {
  if (ci.votes.length === 0 || ci.status === "none") return;
  const distinct = new Set(ci.votes.map((v) => v.root.toLowerCase()));
  if (ci.status === "pending" && distinct.size < 2) return;
  for (const v of ci.votes) {
    const sameValues =
      sameHex(v.root, ci.root) &&
      v.leafCount === ci.leafCount &&
      v.totalImportWh === ci.totalImportWh &&
      v.totalExportWh === ci.totalExportWh;
    if (sameValues) continue;
    const rootDiffers = !sameHex(v.root, ci.root);
    const against = ci.status === "final" ? "the final root" : "the leading proposal";
    out.push({
      kind: "relayer-roots-differ",
      intervalId: ci.intervalId,
      relayer: v.member,
      field: rootDiffers ? "root" : "totalExportWh",
      expected: rootDiffers ? ci.root : ci.totalExportWh,
      actual: rootDiffers ? v.root : v.totalExportWh,
      cause:
        `committee member ${v.member} voted root ${shortHex(v.root)} (${leafText(v.leafCount)}, ${v.totalExportWh} Wh exported), ` +
        `not ${against} ${shortHex(ci.root)} (${leafText(ci.leafCount)}, ${ci.totalExportWh} Wh): its relayer sealed the ` +
        `interval from other readings (missed, late or conflicting ones) or computed its totals differently` +
        (ci.status === "pending" ? "; the interval cannot finalise until a quorum agrees" : ""),
    });
  }
}

/** The interval's minted supply against its final root, its claims and the KwhToken's own count. */
function compareMinted(ci: ChainInterval, tol: Tolerance, out: Mismatch[]): void {
  const claimed = sum(ci.claims, (c) => c.exportWh);
  const cap = ci.status === "final" ? ci.totalExportWh : 0n;
  const minted = ci.mintedSupplyWh > ci.mintedWh ? ci.mintedSupplyWh : ci.mintedWh;
  if (minted > cap + tol.wh) {
    out.push({
      kind: "minted-exceeds-final",
      intervalId: ci.intervalId,
      field: "mintedWh",
      expected: cap,
      actual: minted,
      cause:
        ci.status === "final"
          ? `${minted} Wh of kWh tokens were minted for interval ${ci.intervalId}, more than the ${cap} Wh exported under its final root: ` +
            `tokens were minted outside proven claims, or the KwhToken's cap failed (a KwhToken or ReadingOracle other than the deployment's?)`
          : `${minted} Wh of kWh tokens were minted for interval ${ci.intervalId}, which has no final root: ` +
            `tokens were minted outside proven claims (a KwhToken other than the deployment's oracle's?)`,
    });
  }
  if (beyond(claimed, ci.mintedSupplyWh, tol.wh)) {
    out.push({
      kind: "minted-vs-totals",
      intervalId: ci.intervalId,
      field: "mintedWh",
      expected: claimed,
      actual: ci.mintedSupplyWh,
      cause:
        `the KwhToken minted ${ci.mintedSupplyWh} Wh of interval ${ci.intervalId}'s ids (transfers from the zero address) but its ` +
        `KwhClaimed events add up to ${claimed} Wh: tokens were minted without a claim, or the event search started after the first of them (the deployment record's block)`,
    });
  }
  if (beyond(claimed, ci.mintedWh, tol.wh)) {
    out.push({
      kind: "minted-vs-totals",
      intervalId: ci.intervalId,
      field: "mintedWh (KwhToken.mintedWh)",
      expected: claimed,
      actual: ci.mintedWh,
      cause:
        `KwhToken.mintedWh(${ci.intervalId}) says ${ci.mintedWh} Wh but the interval's KwhClaimed events add up to ${claimed} Wh: ` +
        `the contract's count and its events disagree, or the event search started after the first of them (the deployment record's block)`,
    });
  }
}

/** One store's batch and readings against the chain. */
function compareStore(
  ci: ChainInterval,
  si: StoreInterval,
  sealed: Sealed | null,
  tol: Tolerance,
  checked: ReconcileChecked,
  out: Mismatch[],
): void {
  const id = ci.intervalId;
  const name = si.name;
  const final = ci.status === "final";
  if (sealed === null) {
    if (final)
      out.push({
        kind: "leaf-missing-from-store",
        intervalId: id,
        relayer: name,
        field: "leafCount",
        expected: BigInt(ci.leafCount),
        actual: null,
        cause:
          `store ${name} holds no batch for interval ${id}, final on chain with ${leafText(ci.leafCount)} (root ${shortHex(ci.root)}): ` +
          `the relayer never sealed it (down, restored from an older backup, or another chain's store)`,
      });
    return;
  }
  const { batch } = sealed;

  // The batch against itself: the stored root and totals must be those of its leaves.
  if (sealed.root !== null && !sameHex(sealed.root, batch.root))
    out.push({
      kind: "reading-not-in-root",
      intervalId: id,
      relayer: name,
      field: "root",
      expected: sealed.root,
      actual: batch.root,
      cause: `store ${name}'s batch records root ${shortHex(batch.root)} but its leaves hash to ${shortHex(sealed.root)}: the batch row was altered after sealing`,
    });
  if (batch.leafCount !== sealed.leafCount)
    out.push({
      kind: "reading-not-in-root",
      intervalId: id,
      relayer: name,
      field: "leafCount",
      expected: BigInt(sealed.leafCount),
      actual: BigInt(batch.leafCount),
      cause: `store ${name}'s batch says ${leafText(batch.leafCount)} but holds ${sealed.leafCount}: the batch row was altered after sealing`,
    });
  for (const [field, stored, recomputed] of [
    ["totalExportWh", batch.totalExportWh, sealed.totalExportWh],
    ["totalImportWh", batch.totalImportWh, sealed.totalImportWh],
  ] as const) {
    if (beyond(recomputed, stored, tol.wh))
      out.push({
        kind: "reading-not-in-root",
        intervalId: id,
        relayer: name,
        field,
        expected: recomputed,
        actual: stored,
        cause: `store ${name}'s batch says ${field} ${stored} Wh but its leaves add up to ${recomputed} Wh: the batch row was altered after sealing`,
      });
  }

  // The batch against the chain.
  const vote = batch.txHash === undefined ? undefined : ci.votes.find((v) => sameHex(v.txHash, batch.txHash!));
  const member = vote === undefined ? "" : ` (committee member ${vote.member})`;
  if (vote !== undefined && !sameHex(vote.root, batch.root))
    out.push({
      kind: "reading-not-in-root",
      intervalId: id,
      relayer: name,
      field: "root",
      expected: batch.root,
      actual: vote.root,
      cause: `store ${name}'s vote transaction ${shortHex(vote.txHash)} posted root ${shortHex(vote.root)}, not its batch's ${shortHex(batch.root)}: the batch was replaced after the vote`,
    });
  if (final) {
    if (sealed.leafCount === 0)
      out.push({
        kind: "leaf-missing-from-store",
        intervalId: id,
        relayer: name,
        field: "leafCount",
        expected: BigInt(ci.leafCount),
        actual: 0n,
        cause:
          `store ${name}${member} sealed interval ${id} empty, but the chain finalised ${leafText(ci.leafCount)} (root ${shortHex(ci.root)}): ` +
          `its readings of the interval (or their baselines) were missing when it sealed`,
      });
    else if (sealed.root !== null && !sameHex(sealed.root, ci.root))
      out.push({
        kind: "reading-not-in-root",
        intervalId: id,
        relayer: name,
        field: "root",
        expected: ci.root,
        actual: sealed.root,
        cause:
          `store ${name}${member}'s batch (${leafText(sealed.leafCount)}, ${sealed.totalExportWh} Wh exported) hashes to ${shortHex(sealed.root)}, ` +
          `not the final root ${shortHex(ci.root)} (${leafText(ci.leafCount)}, ${ci.totalExportWh} Wh): this relayer sealed the interval ` +
          `from other readings than the quorum (a missed, late or altered reading)`,
      });
  } else if (batch.status === "final" && sealed.leafCount > 0) {
    out.push({
      kind: "reading-not-in-root",
      intervalId: id,
      relayer: name,
      field: "status",
      expected: "final",
      actual: ci.status,
      cause:
        `store ${name} marks its batch of interval ${id} final, but the chain's root is ${ci.status === "none" ? "absent" : "not final"}: ` +
        `the store belongs to another chain or deployment, or its record was edited`,
    });
  }

  // Leaves the chain proved (claimed) against the store's leaves.
  if (final && sealed.leafCount > 0) {
    for (const c of ci.claims) {
      const leaf = sealed.leaves.get(checksum(c.meter));
      if (leaf === undefined) {
        out.push({
          kind: "leaf-missing-from-store",
          intervalId: id,
          meter: c.meter,
          zone: c.zone,
          relayer: name,
          field: "exportWh",
          expected: c.exportWh,
          actual: null,
          cause:
            `meter ${c.meter} proved a leaf of ${c.exportWh} Wh exported under the final root (claim ${shortHex(c.txHash)}), ` +
            `but store ${name}'s batch has no leaf for it: the store lost the reading, or sealed without it`,
        });
        continue;
      }
      for (const [field, stored, proven] of [
        ["exportWh", leaf.exportWh, c.exportWh],
        ["importWh", leaf.importWh, c.importWh],
      ] as const) {
        if (beyond(stored, proven, tol.wh))
          out.push({
            kind: "minted-vs-totals",
            intervalId: id,
            meter: c.meter,
            zone: c.zone,
            relayer: name,
            field,
            expected: stored,
            actual: proven,
            cause:
              `meter ${c.meter} claimed a leaf with ${field} ${proven} Wh under the final root (claim ${shortHex(c.txHash)}), ` +
              `but store ${name}'s leaf says ${stored} Wh: the store's reading differs from the one the quorum anchored`,
          });
      }
    }
    const minted = ci.mintedSupplyWh;
    if (minted > sealed.totalExportWh + tol.wh)
      out.push({
        kind: "minted-vs-totals",
        intervalId: id,
        relayer: name,
        field: "mintedWh",
        expected: sealed.totalExportWh,
        actual: minted,
        cause:
          `${minted} Wh of kWh tokens were minted for interval ${id}, more than the ${sealed.totalExportWh} Wh exported in store ${name}'s batch: ` +
          `the store's leaves are short of what the chain proved (a lost or altered reading)`,
      });
  }

  // Stored readings against the batch's leaves: each reading's delta since its baseline is its meter's leaf.
  checked.storedReadings += si.readings.length;
  checked.storeLeaves += sealed.leafCount;
  let derived: ReturnType<typeof deriveLeaves>;
  try {
    derived = deriveLeaves(id, si.readings, si.baselines);
  } catch (e) {
    out.push({
      kind: "reading-not-in-root",
      intervalId: id,
      relayer: name,
      field: "readings",
      expected: "one reading per meter with an earlier baseline",
      actual: (e as Error).message,
      cause: `store ${name}'s readings of interval ${id} cannot make leaves (${(e as Error).message}): its readings table was altered`,
    });
    return;
  }
  const fromReadings = new Map(derived.leaves.map((l) => [checksum(l.meter), l]));
  const skipped = new Map(derived.skipped.map((s) => [checksum(s.meter), s.reason]));
  const readingMeters = new Set(si.readings.map((r) => checksum(r.meter)));
  for (const [meter, d] of fromReadings) {
    const leaf = sealed.leaves.get(meter);
    if (leaf === undefined) {
      out.push({
        kind: "reading-not-in-root",
        intervalId: id,
        meter,
        relayer: name,
        field: "exportWh",
        expected: null,
        actual: d.exportWh,
        cause:
          `store ${name} holds a reading of meter ${meter} for interval ${id} (${d.exportWh} Wh exported since its baseline) ` +
          `that its batch has no leaf for: the reading arrived or was inserted after sealing`,
      });
      continue;
    }
    for (const [field, inLeaf, inReading] of [
      ["exportWh", leaf.exportWh, d.exportWh],
      ["importWh", leaf.importWh, d.importWh],
    ] as const) {
      if (beyond(inLeaf, inReading, tol.wh))
        out.push({
          kind: "reading-not-in-root",
          intervalId: id,
          meter,
          relayer: name,
          field,
          expected: inLeaf,
          actual: inReading,
          cause:
            `meter ${meter}'s stored readings in store ${name} give ${field} ${inReading} Wh for interval ${id}, but its leaf in the ` +
            `batch says ${inLeaf} Wh: the stored reading or its baseline was changed after sealing`,
        });
    }
  }
  for (const [meter, leaf] of sealed.leaves) {
    if (fromReadings.has(meter)) continue;
    const reason = skipped.get(meter);
    const why = !readingMeters.has(meter)
      ? "no stored reading behind it: the reading was deleted, or the batch was copied from another relayer"
      : reason === "register_decreased"
        ? "its stored reading is below its baseline (a register went backwards): the reading or its baseline was changed after sealing"
        : "its baseline (the meter's previous reading) is missing from the store: an earlier reading was deleted";
    out.push({
      kind: reason === "register_decreased" ? "reading-not-in-root" : "leaf-missing-from-store",
      intervalId: id,
      meter,
      relayer: name,
      field: "exportWh",
      expected: leaf.exportWh,
      actual: null,
      cause: `store ${name}'s batch has a leaf of meter ${meter} for interval ${id} (${leaf.exportWh} Wh exported) but ${why}`,
    });
  }
}

/** The stores' batches of one interval against each other. */
function compareRelayers(ci: ChainInterval, sealed: Sealed[], checked: ReconcileChecked, out: Mismatch[]): void {
  const roots = sealed.filter((s): s is Sealed & { root: string } => s.root !== null);
  if (roots.length < 2) return;
  checked.storeComparisons += 1;
  const ref =
    (ci.status === "final" ? roots.find((s) => sameHex(s.root, ci.root)) : undefined) ??
    roots.find((s) => s.root !== ZERO_ROOT) ??
    roots[0];
  for (const s of roots) {
    if (s === ref || sameHex(s.root, ref.root)) continue;
    const finalNote =
      ci.status === "final"
        ? sameHex(ref.root, ci.root)
          ? `; the quorum finalised ${ref.name}'s`
          : "; the chain finalised neither"
        : "; no root is final yet";
    out.push({
      kind: "relayer-roots-differ",
      intervalId: ci.intervalId,
      relayer: `${ref.name} vs ${s.name}`,
      field: "root",
      expected: ref.root,
      actual: s.root,
      cause:
        `relayers ${ref.name} and ${s.name} sealed interval ${ci.intervalId} differently ` +
        `(${ref.leafCount} vs ${leafText(s.leafCount)}, ${ref.totalExportWh} vs ${s.totalExportWh} Wh exported): ` +
        `one of them missed, received late or received different readings${finalNote}`,
    });
  }
}

/**
 * Every check of one interval: the committee's votes, the minted supply, and each store's batch and readings against
 * the chain and the other stores. Pure: reads nothing but its arguments.
 */
export function compareInterval(
  ci: ChainInterval,
  stores: StoreInterval[],
  tol: Tolerance,
  checked: ReconcileChecked = emptyChecked(),
): Mismatch[] {
  const out: Mismatch[] = [];
  if (ci.status === "final") checked.finalRoots += 1;
  if (ci.status === "pending") checked.pendingRoots += 1;
  checked.votes += ci.votes.length;
  checked.claims += ci.claims.length;
  if (ci.mintedSupplyWh > 0n || ci.mintedWh > 0n || ci.claims.length > 0) checked.mintedIntervals += 1;
  compareVotes(ci, out);
  compareMinted(ci, tol, out);
  const sealed: Sealed[] = [];
  for (const si of stores) {
    const s = si.batch === undefined ? null : sealedOf(si.name, si.batch, ci.intervalId, out);
    if (s !== null) {
      sealed.push(s);
      checked.storeBatches += 1;
    }
    compareStore(ci, si, s, tol, checked, out);
  }
  compareRelayers(ci, sealed, checked, out);
  return out;
}

/*//////////////////////////////////////////////////////////////
                        FILLS VS SETTLEMENTS
//////////////////////////////////////////////////////////////*/

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/**
 * A cleared auction's filled orders against the escrow's settlement of each (`settlementStatus`, rebuilt from
 * events), and the escrow's events against its books. Pure.
 */
export function compareSettlement(s: SettlementStatus, tol: Tolerance, checked: ReconcileChecked = emptyChecked()) {
  const out: Mismatch[] = [];
  const id = s.intervalId;
  checked.auctions += 1;
  checked.filledOrders += s.obligations.length;
  for (const o of s.obligations) {
    const subject = { intervalId: id, trader: o.trader, commitment: o.commitment, zone: o.zone };
    if (!o.settled) {
      if (!s.deadlinePassed) continue;
      const why =
        o.side === "sell"
          ? s.rootFinal
            ? `the seller neither delivered nor was settled as a default: anyone may settle it (\`settle deliver --interval ${id} --all\`)`
            : `the interval's root is not final, so nobody could deliver; once it is, settle it as a default (\`settle deliver --interval ${id} --all\`)`
          : s.sellers.pendingWh > 0n
            ? `buyers collect once every seller settled, and ${s.sellers.pendingWh} Wh sold are still open (\`settle deliver --interval ${id} --all\`, then \`settle collect --interval ${id} --all\`)`
            : `the buyer has not collected: anyone may collect for it (\`settle collect --interval ${id} --all\`)`;
      out.push({
        kind: "fill-not-settled",
        ...subject,
        field: "filledWh",
        expected: o.filledWh,
        actual: 0n,
        cause: `the ${o.side} order's fill of ${o.filledWh} Wh is not settled in the escrow although the settlement deadline passed at ${s.settlementDeadline.iso}: ${why}`,
      });
      continue;
    }
    checked.settledOrders += 1;
    const rec =
      o.side === "sell"
        ? o.delivery === null
          ? null
          : {
              event: "SellerSettled",
              zone: o.delivery.zone,
              filledWh: o.delivery.filledWh,
              price: o.delivery.price,
              energyWh: o.delivery.deliveredWh,
              payment: o.delivery.payment,
              expectedPayment: (o.delivery.deliveredWh * o.delivery.price) / 1000n,
              txHash: o.delivery.txHash,
            }
        : o.collection === null
          ? null
          : {
              event: "BuyerCollected",
              zone: o.collection.zone,
              filledWh: o.collection.filledWh,
              price: o.collection.price,
              energyWh: o.collection.receivedWh,
              payment: o.collection.payment,
              expectedPayment: ceilDiv(o.collection.receivedWh * o.collection.price, 1000n),
              txHash: o.collection.txHash,
            };
    if (rec === null) continue;
    const where = `the escrow's ${rec.event} (${shortHex(rec.txHash)})`;
    if (beyond(o.filledWh, rec.filledWh, tol.wh))
      out.push({
        kind: "settlement-differs-from-fill",
        ...subject,
        field: "filledWh",
        expected: o.filledWh,
        actual: rec.filledWh,
        cause: `the auction filled the ${o.side} order ${o.filledWh} Wh but ${where} settled ${rec.filledWh} Wh: the escrow read another fill (an escrow or auction other than the deployment's?)`,
      });
    if (o.price !== rec.price)
      out.push({
        kind: "settlement-differs-from-fill",
        ...subject,
        field: "price",
        expected: o.price,
        actual: rec.price,
        cause: `the auction cleared zone ${o.zone} at ${o.price} per kWh but ${where} settled the ${o.side} order at ${rec.price}: the escrow read another zone's or auction's price`,
      });
    if (o.zone !== rec.zone)
      out.push({
        kind: "settlement-differs-from-fill",
        ...subject,
        field: "zone",
        expected: BigInt(o.zone),
        actual: BigInt(rec.zone),
        cause: `the ${o.side} order is in zone ${o.zone} but ${where} settled it in zone ${rec.zone}`,
      });
    if (rec.energyWh > o.filledWh + tol.wh)
      out.push({
        kind: "settlement-differs-from-fill",
        ...subject,
        field: o.side === "sell" ? "deliveredWh" : "receivedWh",
        expected: o.filledWh,
        actual: rec.energyWh,
        cause: `${where} moved ${rec.energyWh} Wh for the auction's fill of ${o.filledWh} Wh: more energy than was traded`,
      });
    if (beyond(rec.expectedPayment, rec.payment, tol.units))
      out.push({
        kind: "settlement-differs-from-fill",
        ...subject,
        field: "payment",
        expected: rec.expectedPayment,
        actual: rec.payment,
        cause:
          `${where} records a payment of ${rec.payment} base units for ${rec.energyWh} Wh at ${rec.price} per kWh, not ` +
          `${rec.expectedPayment} (${o.side === "sell" ? "rounded down" : "rounded up"}): the escrow's payment arithmetic differs from the documented rule`,
      });
  }
  for (const d of s.differences) {
    const m = /^(.*): events (.*), escrow (.*)$/.exec(d);
    const toValue = (v: string) => (/^-?\d+$/.test(v) ? BigInt(v) : v);
    out.push({
      kind: "settlement-differs-from-fill",
      intervalId: id,
      field: m?.[1] ?? "escrow books",
      expected: m === null ? null : toValue(m[2]),
      actual: m === null ? d : toValue(m[3]),
      cause: `the escrow's books disagree with its events (${d}): an event was missed (the search starts at the deployment record's block) or the escrow's accounting is wrong`,
    });
  }
  return out;
}

/*//////////////////////////////////////////////////////////////
                          PAYMENT-TOKEN FLOWS
//////////////////////////////////////////////////////////////*/

/** Each payment-token account: the token's Transfer logs, the market's events and the balance must agree. Pure. */
export function compareTokenFlows(
  accounts: TokenAccount[],
  tol: Tolerance,
  checked: ReconcileChecked = emptyChecked(),
): Mismatch[] {
  const out: Mismatch[] = [];
  for (const a of accounts) {
    checked.tokenAccounts += 1;
    checked.tokenTransfers += a.transfers;
    const ledgerNet = a.transfersIn - a.transfersOut;
    const marketNet = a.marketIn - a.marketOut;
    const subject = { intervalId: null, contract: a.contract };
    if (beyond(ledgerNet, a.balance, tol.units))
      out.push({
        kind: "token-flows-unbalanced",
        ...subject,
        field: "balance vs Transfer logs",
        expected: ledgerNet,
        actual: a.balance,
        cause:
          `the payment token's Transfer logs put ${ledgerNet} base units in ${a.contract} (${a.transfersIn} in, ${a.transfersOut} out) ` +
          `but balanceOf says ${a.balance}: a fee-on-transfer or rebasing token, or transfers before the event search's first block`,
      });
    if (beyond(marketNet, a.balance, tol.units)) {
      const causes: string[] = [];
      if (a.transfersIn !== a.marketIn)
        causes.push(
          `${a.transfersIn} base units came in but the market's events account for ${a.marketIn}` +
            (a.transfersIn > a.marketIn
              ? ": tokens were sent to the contract by plain transfers, outside any commitment (stranded funds)"
              : ": collateral recorded as committed never arrived"),
        );
      if (a.transfersOut !== a.marketOut)
        causes.push(
          `${a.transfersOut} base units went out but the market's events account for ${a.marketOut}` +
            (a.transfersOut > a.marketOut
              ? ": tokens left without a withdrawal or settlement event"
              : ": recorded payouts never left"),
        );
      if (causes.length === 0) causes.push("the balance moved without any Transfer log (a rebasing token)");
      out.push({
        kind: "token-flows-unbalanced",
        ...subject,
        field: "balance",
        expected: marketNet,
        actual: a.balance,
        cause: `${a.contract} should hold ${marketNet} base units by the market's events but holds ${a.balance}: ${causes.join("; ")}`,
      });
    }
  }
  return out;
}

/*//////////////////////////////////////////////////////////////
                         READING THE CHAIN
//////////////////////////////////////////////////////////////*/

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T, R>(items: T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/** The oracle's and the KwhToken's records of every interval of the range with any activity (votes, claims, mints). */
export async function loadChainIntervals(
  system: System,
  from: bigint,
  to: bigint,
  fromBlock: number,
  toBlock: number,
): Promise<Map<bigint, ChainInterval>> {
  const o = system.oracle;
  const k = system.kwh;
  const [submitted, claimed, mintSingles, mintBatches] = await call(() =>
    Promise.all([
      queryLogs(o, o.filters.RootSubmitted(), fromBlock, toBlock),
      queryLogs(k, k.filters.KwhClaimed(), fromBlock, toBlock),
      queryLogs(k, k.filters.TransferSingle(undefined, ZeroAddress), fromBlock, toBlock),
      queryLogs(k, k.filters.TransferBatch(undefined, ZeroAddress), fromBlock, toBlock),
    ]),
  );
  const inRange = (i: bigint) => i >= from && i <= to;
  const intervals = new Map<bigint, ChainInterval>();
  const get = (i: bigint) => {
    let ci = intervals.get(i);
    if (ci === undefined) intervals.set(i, (ci = emptyChainInterval(i)));
    return ci;
  };
  for (const ev of submitted) {
    const a = ev.args;
    if (!inRange(a.intervalId)) continue;
    get(a.intervalId).votes.push({
      member: a.member,
      root: a.root,
      leafCount: Number(a.leafCount),
      totalImportWh: a.totalImportWh,
      totalExportWh: a.totalExportWh,
      txHash: ev.transactionHash,
    });
  }
  for (const ev of claimed) {
    const a = ev.args;
    if (!inRange(a.intervalId)) continue;
    get(a.intervalId).claims.push({
      meter: a.meter,
      owner: a.owner,
      id: a.id,
      zone: Number(a.id >> 64n),
      importWh: a.importWh,
      exportWh: a.exportWh,
      txHash: ev.transactionHash,
    });
  }
  const mint = (id: bigint, value: bigint) => {
    const intervalId = id & ((1n << 64n) - 1n);
    if (inRange(intervalId)) get(intervalId).mintedSupplyWh += value;
  };
  for (const ev of mintSingles) mint(ev.args.id, ev.args.value);
  for (const ev of mintBatches) {
    // TransferBatch's `values` is its argument 4 (`values` is also the name of a Result method).
    const values = ev.args[4] as bigint[];
    ev.args.ids.forEach((id, i) => mint(id, values[i]));
  }
  await inParallel([...intervals.values()], 8, async (ci) => {
    const [info, minted] = await call(() =>
      Promise.all([
        o.getInterval(ci.intervalId, { blockTag: toBlock }),
        k.mintedWh(ci.intervalId, { blockTag: toBlock }),
      ]),
    );
    ci.status = STATUS_NAMES[Number(info.status)] ?? "none";
    ci.root = info.root;
    ci.leafCount = Number(info.leafCount);
    ci.totalImportWh = info.totalImportWh;
    ci.totalExportWh = info.totalExportWh;
    ci.mintedWh = minted;
  });
  return intervals;
}

/** The settlement of every auction of the range that cleared. */
export async function loadSettlements(
  system: System,
  from: bigint,
  to: bigint,
  fromBlock: number,
  toBlock: number,
): Promise<SettlementStatus[]> {
  const a = system.auction;
  const cleared = await call(() => queryLogs(a, a.filters.AuctionCleared(), fromBlock, toBlock));
  const ids = [...new Set(cleared.map((ev) => ev.args.intervalId))]
    .filter((i) => i >= from && i <= to)
    .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return inParallel(ids, 4, (id) => settlementStatus(system, id, fromBlock));
}

/** The payment-token accounts of the auction (which holds all collateral) and the escrow (which should hold none). */
export async function loadTokenAccounts(system: System, fromBlock: number, toBlock: number): Promise<TokenAccount[]> {
  const t = system.paymentToken;
  const a = system.auction;
  const e = system.escrow;
  const [auctionAddress, escrowAddress] = await Promise.all([a.getAddress(), e.getAddress()]);
  const [committed, withdrawn, sellers, buyers, rents, dusts] = await call(() =>
    Promise.all([
      queryLogs(a, a.filters.OrderCommitted(), fromBlock, toBlock),
      queryLogs(a, a.filters.CollateralWithdrawn(), fromBlock, toBlock),
      queryLogs(e, e.filters.SellerSettled(), fromBlock, toBlock),
      queryLogs(e, e.filters.BuyerCollected(), fromBlock, toBlock),
      queryLogs(e, e.filters.CongestionRentPaid(), fromBlock, toBlock),
      queryLogs(e, e.filters.DustSwept(), fromBlock, toBlock),
    ]),
  );
  // Every payout of the market leaves the auction's vault: the escrow moves it with transferFrom.
  const auctionOut =
    sum(withdrawn, (ev) => ev.args.refunded + ev.args.penalty) +
    sum(sellers, (ev) => ev.args.payment + ev.args.bondReturned) +
    sum(buyers, (ev) => ev.args.refunded) +
    sum(rents, (ev) => ev.args.amount) +
    sum(dusts, (ev) => ev.args.amount);
  const market = {
    BatchAuction: { in: sum(committed, (ev) => ev.args.collateral), out: auctionOut },
    SettlementEscrow: { in: 0n, out: 0n },
  };
  return Promise.all(
    (
      [
        ["BatchAuction", auctionAddress],
        ["SettlementEscrow", escrowAddress],
      ] as const
    ).map(async ([contract, address]) => {
      const [ins, outs, balance] = await call(() =>
        Promise.all([
          queryLogs(t, t.filters.Transfer(undefined, address), fromBlock, toBlock),
          queryLogs(t, t.filters.Transfer(address), fromBlock, toBlock),
          t.balanceOf(address, { blockTag: toBlock }),
        ]),
      );
      return {
        contract,
        address,
        transfersIn: sum(ins, (ev) => ev.args.value),
        transfersOut: sum(outs, (ev) => ev.args.value),
        transfers: ins.length + outs.length,
        marketIn: market[contract].in,
        marketOut: market[contract].out,
        balance,
      };
    }),
  );
}

/*//////////////////////////////////////////////////////////////
                          RELAYER STORES
//////////////////////////////////////////////////////////////*/

/** Splits a `--store` / `$RELAYER_STORES` list; refuses a store named twice. */
export function parseStoreList(value: string): string[] {
  const specs = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s)) throw new InputError(`relayer store ${storeName(s)} is given twice`);
    seen.add(s);
  }
  return specs;
}

const isPostgres = (spec: string) => /^postgres(ql)?:\/\//i.test(spec);

/** How the report names a store: its path, or its URL without the password. */
export function storeName(spec: string): string {
  if (!isPostgres(spec)) return spec;
  try {
    const url = new URL(spec);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return spec.replace(/:\/\/([^:/@]*):[^@]*@/, "://$1:***@");
  }
}

/** node:sqlite, loaded already by the SQLite store (so it warns no more). */
const sqlite = () => createRequire(import.meta.url)("node:sqlite") as typeof import("node:sqlite");

/**
 * Opens a relayer store for reading: a SQLite file (which must exist and hold the relayer's tables: nothing is
 * created) or a PostgreSQL URL, `?schema=<name>` selecting the relayer's schema.
 */
export async function openRelayerStore(spec: string): Promise<NamedStore> {
  const name = storeName(spec);
  const fail = (why: string, cause?: unknown): never => {
    throw new InputError(`cannot open relayer store ${name}: ${why}`, { cause });
  };
  let store: ReadingStore;
  if (isPostgres(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch (e) {
      return fail(`not a URL (${reason(e)})`, e);
    }
    const schema = url.searchParams.get("schema") ?? "public";
    url.searchParams.delete("schema");
    const connectionString = url.toString();
    // Read-only first: a database or schema without the relayer's tables is refused before the store's migrations
    // could create them.
    let quoted: string;
    try {
      quoted = quoteSchema(schema);
    } catch (e) {
      return fail(reason(e), e);
    }
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 10_000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ readings: string | null; batches: string | null }>(
        "SELECT to_regclass($1)::text AS readings, to_regclass($2)::text AS batches",
        [`${quoted}.readings`, `${quoted}.batches`],
      );
      if (rows[0]?.readings == null || rows[0]?.batches == null)
        fail(`not a relayer store (no readings and batches tables in schema ${schema})`);
    } catch (e) {
      if (e instanceof InputError) throw e;
      fail(reason(e), e);
    } finally {
      await client.end().catch(() => undefined);
    }
    store = new PostgresStore(connectionString, { schema, poolSize: 2, connectTimeoutMs: 10_000 });
  } else {
    if (!existsSync(spec)) return fail("no such file");
    if (!statSync(spec).isFile()) return fail("not a file");
    // Read-only first: a file without the relayer's tables is refused before the store's migrations could add them.
    try {
      const db = new (sqlite().DatabaseSync)(spec, { readOnly: true });
      try {
        const tables = db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('readings', 'batches')")
          .all();
        if (tables.length < 2) fail("not a relayer store (no readings and batches tables)");
      } finally {
        db.close();
      }
    } catch (e) {
      if (e instanceof InputError) throw e;
      fail(reason(e), e);
    }
    store = new SqliteStore(spec);
  }
  try {
    await store.open();
  } catch (e) {
    await store.close().catch(() => undefined);
    const message = reason(e).replace(/^cannot (?:open SQLite database|connect to PostgreSQL) at \S+: /, "");
    fail(message, e);
  }
  return { name, store };
}

/** What one store holds about one interval. */
async function loadStoreInterval(s: NamedStore, intervalId: bigint): Promise<StoreInterval> {
  const [batch, readings] = await Promise.all([s.store.getBatch(intervalId), s.store.readingsOfInterval(intervalId)]);
  const baselines = readings.length === 0 ? new Map<Hex, SignedReading>() : await s.store.baselinesFor(intervalId);
  return { name: s.name, batch, readings, baselines };
}

/*//////////////////////////////////////////////////////////////
                              RECONCILE
//////////////////////////////////////////////////////////////*/

/** Checks the range's bounds; one-line InputErrors. */
export function checkRange(from: bigint, to: bigint): void {
  if (from < 0n) throw new InputError("give --from <first interval id>");
  if (to < 0n) throw new InputError("give --to <last interval id>");
  if (to < from) throw new InputError(`--to ${to} is before --from ${from}`);
  if (to - from + 1n > MAX_RANGE)
    throw new InputError(
      `--from ${from} --to ${to} spans ${to - from + 1n} intervals, more than the ${MAX_RANGE} one run checks: split the range`,
    );
}

/**
 * Compares the relayer stores with the chain over intervals `from`..`to` and the chain's ledgers with each other;
 * returns every mismatch beyond the tolerances. Opens (and closes) the stores given as specs.
 */
export async function reconcile(system: System, opts: ReconcileOptions): Promise<ReconcileReport> {
  const { from, to } = opts;
  checkRange(from, to);
  const tol: Tolerance = { wh: opts.toleranceWh ?? 0n, units: opts.toleranceUnits ?? 0n };
  if (tol.wh < 0n || tol.units < 0n) throw new InputError("tolerances cannot be negative");
  const fromBlock = opts.fromBlock ?? 0;
  const given = opts.stores ?? [];
  const names = given.map((s) => (typeof s === "string" ? storeName(s) : s.name));
  if (new Set(names).size !== names.length) throw new InputError("a relayer store is given twice");

  const opened: NamedStore[] = [];
  try {
    const stores: NamedStore[] = [];
    for (const s of given) {
      if (typeof s === "string") {
        const o = await openRelayerStore(s);
        opened.push(o);
        stores.push(o);
      } else stores.push(s);
    }
    const provider = providerOf(system);
    const toBlock = await call(() => provider.getBlockNumber());
    const [intervals, settlements, accounts] = await Promise.all([
      loadChainIntervals(system, from, to, fromBlock, toBlock),
      loadSettlements(system, from, to, fromBlock, toBlock),
      loadTokenAccounts(system, fromBlock, toBlock),
    ]);

    const checked = emptyChecked();
    checked.intervals = Number(to - from + 1n);
    checked.stores = stores.length;
    const mismatches: Mismatch[] = [];
    const pending: bigint[] = [];
    for (let id = from; id <= to; id++) {
      const storeIntervals = await Promise.all(stores.map((s) => loadStoreInterval(s, id)));
      const ci = intervals.get(id);
      const stored = storeIntervals.some((si) => si.batch !== undefined || si.readings.length > 0);
      if (ci === undefined && !stored) continue;
      const chain = ci ?? emptyChainInterval(id);
      if (
        chain.status !== "final" &&
        (chain.votes.length > 0 || storeIntervals.some((si) => (si.batch?.leafCount ?? 0) > 0))
      )
        pending.push(id);
      mismatches.push(...compareInterval(chain, storeIntervals, tol, checked));
    }
    for (const s of settlements) mismatches.push(...compareSettlement(s, tol, checked));
    mismatches.push(...compareTokenFlows(accounts, tol, checked));
    return {
      range: { from, to },
      stores: stores.map((s) => s.name),
      storeChecksSkipped: stores.length === 0,
      tolerance: tol,
      block: toBlock,
      fromBlock,
      checked,
      pending,
      mismatches,
    };
  } finally {
    for (const s of opened) await s.store.close().catch(() => undefined);
  }
}

/** Mismatches per kind, every kind listed. */
export function countByKind(mismatches: Mismatch[]): Record<MismatchKind, number> {
  const counts = Object.fromEntries(MISMATCH_KINDS.map((k) => [k, 0])) as Record<MismatchKind, number>;
  for (const m of mismatches) counts[m.kind] += 1;
  return counts;
}
