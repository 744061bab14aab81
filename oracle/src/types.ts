/**
 * Shapes shared by the relayer's modules. Energy in Wh, times in Unix seconds, all as bigint; addresses are
 * EIP-55 checksummed `0x…` strings; signatures are 65-byte `0x…` hex (r, s, v).
 */
export type Hex = `0x${string}`;

/** A meter's EIP-712-signed cumulative reading as it arrives (the typed data of `MeterRegistry`). */
export interface SignedReading {
  meter: Hex;
  intervalId: bigint;
  importWhTotal: bigint;
  exportWhTotal: bigint;
  timestamp: bigint;
  signature: Hex;
}

/** Where a reading came in. */
export type IngestSource = "mqtt" | "http";

/**
 * Why a reading was rejected. Each is a counter label on `/metrics` and a code in HTTP responses and logs.
 * - malformed: not JSON, wrong types or missing fields, values out of range
 * - bad_signature: the signature does not recover to `meter` in the registry's domain
 * - unknown_meter / revoked_meter: not registered, or revoked before the interval ended
 * - misaligned: the timestamp is not at the end of its interval (beyond the clock-skew tolerance)
 * - not_ended: the interval has not ended yet (future reading)
 * - register_decreased: a cumulative register is below an earlier interval's or above a later one's
 * - impossible_delta: more energy than rated capacity × elapsed time allows
 * - conflict: a different reading for the same (meter, interval) is already stored (kept for audit)
 * - sealed: the interval closed (its grace period passed; its tree may be built already)
 * - overloaded: back-pressure: the ingest queue is full, retry later
 */
export type RejectReason =
  | "malformed"
  | "bad_signature"
  | "unknown_meter"
  | "revoked_meter"
  | "misaligned"
  | "not_ended"
  | "register_decreased"
  | "impossible_delta"
  | "conflict"
  | "sealed"
  | "overloaded";

export const REJECT_REASONS: readonly RejectReason[] = [
  "malformed",
  "bad_signature",
  "unknown_meter",
  "revoked_meter",
  "misaligned",
  "not_ended",
  "register_decreased",
  "impossible_delta",
  "conflict",
  "sealed",
  "overloaded",
];

/** What ingest says about one reading. `duplicate` = the identical signed reading was stored before. */
export type IngestOutcome =
  | { status: "accepted"; meter: Hex; intervalId: bigint }
  | { status: "duplicate"; meter: Hex; intervalId: bigint }
  | { status: "rejected"; reason: RejectReason; detail: string; meter?: Hex; intervalId?: bigint };

/** A registered meter as the relayer mirrors it from `MeterRegistry` events. */
export interface MirroredMeter {
  meter: Hex;
  owner: Hex;
  zone: number;
  index: number;
  technology: number;
  ratedCapacityW: bigint;
  /** Unix seconds of revocation, 0n while active. */
  revokedAt: bigint;
}

/** One leaf of an interval tree: `[meter, intervalId, importWh, exportWh]`. */
export interface Leaf {
  meter: Hex;
  importWh: bigint;
  exportWh: bigint;
}

/** An interval's batch as the relayer builds, stores and posts it. */
export interface IntervalBatch {
  intervalId: bigint;
  root: Hex;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  leaves: Leaf[];
}

/** Where the relayer's vote for an interval stands. */
export type PostStatus = "built" | "sent" | "voted" | "final";

export interface BatchRecord extends IntervalBatch {
  status: PostStatus;
  txHash?: Hex;
  builtAt: number;
  updatedAt: number;
}
