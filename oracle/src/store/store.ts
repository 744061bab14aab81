import type { BatchRecord, Hex, IngestSource, IntervalBatch, PostStatus, SignedReading } from "../types.js";

/** Result of storing one reading. */
export type InsertResult =
  /** New: stored durably before this promise resolved. */
  | { kind: "inserted" }
  /** The identical signed reading (same signature) is stored already. */
  | { kind: "duplicate" }
  /** A different reading for the same (meter, interval) is stored; the new one was kept in `conflicts`. */
  | { kind: "conflict"; existing: SignedReading };

/** A reading kept for audit because it conflicted with a stored one. */
export interface ConflictRecord {
  reading: SignedReading;
  source: IngestSource;
  receivedAt: number;
}

/**
 * The relayer's durable state. Implementations: SQLite (embedded default, WAL) and PostgreSQL (shared by several
 * relayer instances). Every method is safe to call concurrently; `insertReadings` is atomic per call and
 * idempotent; schema migrations run in `open()`. Values the schema cannot hold exactly (bigints outside
 * [0, 2^63-1], malformed hex) are rejected with InputError before anything is written; lookups of interval ids
 * outside that range find nothing. Database failures are StoreErrors.
 */
export interface ReadingStore {
  /** Connects and runs migrations. */
  open(): Promise<void>;
  close(): Promise<void>;

  /**
   * Stores readings (one transaction), one result each, in order. A reading whose (meter, intervalId) is new is
   * inserted; the same signature again is a duplicate; a different reading for the same key is a conflict and is
   * recorded in the conflicts table (never overwriting the stored one).
   */
  insertReadings(readings: SignedReading[], source: IngestSource, receivedAt: number): Promise<InsertResult[]>;

  /** The stored reading of `meter` for `intervalId`, if any. */
  getReading(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined>;

  /** The latest stored reading of `meter` strictly before `intervalId`, if any. */
  readingBefore(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined>;

  /** The earliest stored reading of `meter` strictly after `intervalId`, if any. */
  readingAfter(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined>;

  /** All stored readings of an interval, ordered by meter (byte order of the address string). */
  readingsOfInterval(intervalId: bigint): Promise<SignedReading[]>;

  /**
   * For each meter with a reading in `intervalId`, its latest reading strictly before `intervalId` (the baseline
   * its delta is taken from). Meters without an earlier reading are absent.
   */
  baselinesFor(intervalId: bigint): Promise<Map<Hex, SignedReading>>;

  /**
   * Conflicting readings kept for audit, optionally of one interval, in arrival order. A conflicting reading that
   * arrives again (same signature) is kept once, with its first arrival.
   */
  conflicts(intervalId?: bigint): Promise<ConflictRecord[]>;

  /** Intervals that have readings and no batch yet, up to and including `maxIntervalId`, ascending. */
  intervalsToBatch(maxIntervalId: bigint): Promise<bigint[]>;

  /** Stores an interval's batch (status `built`); returns false if one exists already (it is never replaced). */
  saveBatch(batch: IntervalBatch, builtAt: number): Promise<boolean>;

  getBatch(intervalId: bigint): Promise<BatchRecord | undefined>;

  /** Interval ids of the batches not yet `final`, ascending (ids only: each batch is loaded with `getBatch`). */
  unfinishedIntervals(): Promise<bigint[]>;

  /**
   * Records the vote's progress (`sent` with its tx hash, `voted`, `final`). Without `txHash` the stored one is
   * kept; `updatedAt` defaults to now. `final` is terminal: a later non-final status for a final batch is ignored
   * (another instance may report a stale step). Throws StoreError if no batch is stored for the interval.
   */
  updateBatchStatus(intervalId: bigint, status: PostStatus, txHash?: Hex, updatedAt?: number): Promise<void>;

  /** Whether a batch exists for the interval (readings for it are then `sealed`). */
  isSealed(intervalId: bigint): Promise<boolean>;

  /** Readings stored in total (for health and metrics). */
  countReadings(): Promise<number>;
}
