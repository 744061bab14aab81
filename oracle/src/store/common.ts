/**
 * What the SQLite and PostgreSQL stores share: their error class, input checks, interval bounds for lookups, and
 * the mapping between rows and the relayer's types. Both schemas use the same column names, and both drivers are
 * set up to return 64-bit integers as bigint, so one mapping serves both.
 */
import { InputError, MicrogridError } from "../../../src/errors.js";
import type { BatchRecord, Hex, IngestSource, IntervalBatch, Leaf, PostStatus, SignedReading } from "../types.js";
import type { ConflictRecord } from "./store.js";

/** The database failed, refused or is unreachable (connection, migration, a batch that does not exist). */
export class StoreError extends MicrogridError {}

/** Largest value of a signed 64-bit column (SQLite INTEGER, PostgreSQL BIGINT). */
export const INT64_MAX = (1n << 63n) - 1n;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The first line of whatever was thrown (pg's connection errors may carry only a code). */
export function reason(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0 && !err.message) return reason(err.errors[0]);
  const e = err as { message?: unknown; code?: unknown };
  const text = typeof e?.message === "string" && e.message !== "" ? e.message : String(e?.code ?? err);
  return text.split("\n")[0];
}

function checkInt64(value: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > INT64_MAX) {
    throw new InputError(`${what} must be a bigint in [0, 2^63-1] to be stored, got ${String(value)}`);
  }
}

/** Rejects a time (ms or s, as the caller keeps it) that is not a non-negative safe integer. */
export function checkTime(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InputError(`${what} must be a non-negative integer, got ${value}`);
  }
}

/** Rejects a reading the schema cannot hold exactly: malformed hex, or a value outside the signed 64-bit range. */
function checkReading(r: SignedReading): void {
  if (!ADDRESS.test(r.meter)) throw new InputError(`meter ${String(r.meter)} is not a 0x-prefixed 20-byte address`);
  const what = `reading of ${r.meter} for interval ${String(r.intervalId)}`;
  checkInt64(r.intervalId, `intervalId of ${what}`);
  checkInt64(r.importWhTotal, `importWhTotal of ${what}`);
  checkInt64(r.exportWhTotal, `exportWhTotal of ${what}`);
  checkInt64(r.timestamp, `timestamp of ${what}`);
  if (!SIGNATURE.test(r.signature)) throw new InputError(`signature of ${what} is not 65 bytes of 0x-prefixed hex`);
}

/** Rejects a batch the schema cannot hold or whose leaf count contradicts its leaves. */
export function checkBatch(b: IntervalBatch): void {
  const what = `batch of interval ${String(b.intervalId)}`;
  checkInt64(b.intervalId, `intervalId of ${what}`);
  if (!BYTES32.test(b.root)) throw new InputError(`root of ${what} is not 32 bytes of 0x-prefixed hex`);
  if (b.leafCount !== b.leaves.length) {
    throw new InputError(`${what} says ${b.leafCount} leaves but carries ${b.leaves.length}`);
  }
  checkInt64(b.totalImportWh, `totalImportWh of ${what}`);
  checkInt64(b.totalExportWh, `totalExportWh of ${what}`);
}

/** Rejects what `insertReadings` cannot store; it checks the whole call before writing any of it. */
export function checkInsert(readings: SignedReading[], source: IngestSource, receivedAt: number): void {
  readings.forEach(checkReading);
  if (source !== "mqtt" && source !== "http") {
    throw new InputError(`source must be mqtt or http, got ${String(source)}`);
  }
  checkTime(receivedAt, "receivedAt");
}

const STATUSES: readonly PostStatus[] = ["built", "sent", "voted", "final"];

/** Rejects an unknown status, a transaction hash that is not 32 bytes of hex, or a bad time. */
export function checkStatusUpdate(status: PostStatus, txHash: Hex | undefined, updatedAt: number): void {
  if (!STATUSES.includes(status)) {
    throw new InputError(`batch status must be one of ${STATUSES.join(", ")}, got ${status}`);
  }
  if (txHash !== undefined && !BYTES32.test(txHash)) {
    throw new InputError(`transaction hash ${txHash} is not 32 bytes of 0x-prefixed hex`);
  }
  checkTime(updatedAt, "updatedAt");
}

/** Whether two signatures are the same bytes (hex case aside): then the readings are the same signed reading. */
export function sameSignature(a: Hex, b: Hex): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Whether an interval id can be stored at all (lookups of ids outside int64 find nothing instead of failing). */
export function storable(intervalId: bigint): boolean {
  return intervalId >= 0n && intervalId <= INT64_MAX;
}

/** Inclusive upper bound for "strictly before `intervalId`", or undefined when nothing stored can be before it. */
export function lastBefore(intervalId: bigint): bigint | undefined {
  if (intervalId <= 0n) return undefined;
  return intervalId - 1n < INT64_MAX ? intervalId - 1n : INT64_MAX;
}

/** Inclusive lower bound for "strictly after `intervalId`", or undefined when nothing stored can be after it. */
export function firstAfter(intervalId: bigint): bigint | undefined {
  if (intervalId >= INT64_MAX) return undefined;
  return intervalId + 1n > 0n ? intervalId + 1n : 0n;
}

/** Inclusive upper bound for "up to and including `intervalId`", or undefined when it is below every stored id. */
export function upTo(intervalId: bigint): bigint | undefined {
  if (intervalId < 0n) return undefined;
  return intervalId < INT64_MAX ? intervalId : INT64_MAX;
}

/**
 * An interval's leaves as stored: compact JSON an auditor can read and query (`json_each` in SQLite,
 * `jsonb_array_elements` in PostgreSQL), Wh as decimal strings so no JSON reader rounds them.
 */
export function encodeLeaves(leaves: Leaf[]): string {
  return JSON.stringify(
    leaves.map((l) => ({ meter: l.meter, importWh: l.importWh.toString(), exportWh: l.exportWh.toString() })),
  );
}

function decodeLeaves(json: string): Leaf[] {
  return (JSON.parse(json) as { meter: Hex; importWh: string; exportWh: string }[]).map((l) => ({
    meter: l.meter,
    importWh: BigInt(l.importWh),
    exportWh: BigInt(l.exportWh),
  }));
}

/** A row of `readings` or `conflicts`, 64-bit columns as bigint. */
export interface ReadingRow {
  meter: string;
  interval_id: bigint;
  import_wh_total: bigint;
  export_wh_total: bigint;
  timestamp: bigint;
  signature: string;
  source: string;
  received_at: bigint;
}

/** A row of `batches`, 64-bit columns as bigint, `leaves` as JSON text. */
export interface BatchRow {
  interval_id: bigint;
  root: string;
  leaf_count: bigint;
  total_import_wh: bigint;
  total_export_wh: bigint;
  leaves: string;
  status: string;
  tx_hash: string | null;
  built_at: bigint;
  updated_at: bigint;
}

export function readingFromRow(row: ReadingRow): SignedReading {
  return {
    meter: row.meter as Hex,
    intervalId: row.interval_id,
    importWhTotal: row.import_wh_total,
    exportWhTotal: row.export_wh_total,
    timestamp: row.timestamp,
    signature: row.signature as Hex,
  };
}

export function conflictFromRow(row: ReadingRow): ConflictRecord {
  return {
    reading: readingFromRow(row),
    source: row.source as ConflictRecord["source"],
    receivedAt: Number(row.received_at),
  };
}

export function batchFromRow(row: BatchRow): BatchRecord {
  return {
    intervalId: row.interval_id,
    root: row.root as Hex,
    leafCount: Number(row.leaf_count),
    totalImportWh: row.total_import_wh,
    totalExportWh: row.total_export_wh,
    leaves: decodeLeaves(row.leaves),
    status: row.status as PostStatus,
    ...(row.tx_hash === null ? {} : { txHash: row.tx_hash as Hex }),
    builtAt: Number(row.built_at),
    updatedAt: Number(row.updated_at),
  };
}

/** `updateBatchStatus` of an interval without a batch: a caller's bug, not a state to record. */
export function noBatch(intervalId: bigint): StoreError {
  return new StoreError(`no batch is stored for interval ${intervalId}`);
}
