/**
 * The embedded store: one SQLite file in WAL mode, written by one relayer process (a second process on the same
 * file waits for the write lock up to the busy timeout). node:sqlite is synchronous, so each method runs to
 * completion without interleaving with other calls: concurrent calls are safe and `insertReadings` is atomic.
 */
import { createRequire } from "node:module";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { BatchRecord, Hex, IngestSource, IntervalBatch, PostStatus, SignedReading } from "../types.js";
import { MicrogridError } from "../../../src/errors.js";
import {
  type BatchRow,
  type ReadingRow,
  StoreError,
  batchFromRow,
  checkBatch,
  checkInsert,
  checkStatusUpdate,
  checkTime,
  conflictFromRow,
  encodeLeaves,
  firstAfter,
  lastBefore,
  noBatch,
  readingFromRow,
  reason,
  sameSignature,
  storable,
  upTo,
} from "./common.js";
import { migrateSqlite } from "./migrations.js";
import type { ConflictRecord, InsertResult, ReadingStore } from "./store.js";

/**
 * `node:sqlite` without the one-time "SQLite is an experimental feature" warning it emits when first loaded. Only
 * that warning is dropped, only while loading; every other warning is emitted as usual.
 */
function loadSqlite(): typeof import("node:sqlite") {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]): void {
    const [typeOrOptions] = rest as [string | { type?: string } | undefined];
    const type =
      warning instanceof Error ? warning.name : typeof typeOrOptions === "string" ? typeOrOptions : typeOrOptions?.type;
    const message = warning instanceof Error ? warning.message : warning;
    if (type === "ExperimentalWarning" && message.includes("SQLite")) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return createRequire(import.meta.url)("node:sqlite") as typeof import("node:sqlite");
  } finally {
    process.emitWarning = emitWarning;
  }
}

const { DatabaseSync: Database } = loadSqlite();

/** How long a write waits for another connection's lock before failing with "database is locked". */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Tuning for batched inserts, measured with `benchStore.ts`. A batch holds one reading per meter, so it dirties
 * about one primary-key page per reading, and each dirty page is written whole to the WAL and again at checkpoint:
 * - 1 KiB pages (set when the file is created; an existing file keeps its size): 3.1 KB written per reading
 *   instead of 6.6 KB with 4 KiB pages, and point and interval reads measured as fast;
 * - a checkpoint every 65536 pages (64 MiB of WAL) instead of 1000: a page rewritten by many commits is copied to
 *   the database once per checkpoint;
 * - a 64 MiB page cache: the key's tail pages of tens of thousands of meters stay in memory.
 */
const PAGE_SIZE = "PRAGMA page_size = 1024;";
const TUNING = "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 65536;";

const READING_COLUMNS =
  "meter, interval_id, import_wh_total, export_wh_total, timestamp, signature, source, received_at";
const BATCH_COLUMNS =
  "interval_id, root, leaf_count, total_import_wh, total_export_wh, leaves, status, tx_hash, built_at, updated_at";

const SQL = {
  begin: "BEGIN IMMEDIATE",
  commit: "COMMIT",
  rollback: "ROLLBACK",
  insertReading: `INSERT INTO readings (${READING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (meter, interval_id) DO NOTHING`,
  insertConflict: `INSERT INTO conflicts (${READING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (meter, interval_id, signature) DO NOTHING`,
  reading: `SELECT ${READING_COLUMNS} FROM readings WHERE meter = ? AND interval_id = ?`,
  readingBefore: `SELECT ${READING_COLUMNS} FROM readings WHERE meter = ? AND interval_id <= ? ORDER BY interval_id DESC LIMIT 1`,
  readingAfter: `SELECT ${READING_COLUMNS} FROM readings WHERE meter = ? AND interval_id >= ? ORDER BY interval_id LIMIT 1`,
  readingsOfInterval: `SELECT ${READING_COLUMNS} FROM readings WHERE interval_id = ? ORDER BY meter`,
  baselines: `
    SELECT p.* FROM readings c
    JOIN readings p ON p.meter = c.meter
      AND p.interval_id = (SELECT max(interval_id) FROM readings WHERE meter = c.meter AND interval_id < c.interval_id)
    WHERE c.interval_id = ?`,
  conflicts: `SELECT ${READING_COLUMNS} FROM conflicts ORDER BY id`,
  conflictsOfInterval: `SELECT ${READING_COLUMNS} FROM conflicts WHERE interval_id = ? ORDER BY id`,
  // Walks the distinct interval ids through the index (one seek each) instead of scanning every reading.
  intervalsToBatch: `
    WITH RECURSIVE iv(id) AS (
      SELECT min(interval_id) FROM readings
      UNION ALL
      SELECT (SELECT min(interval_id) FROM readings WHERE interval_id > iv.id) FROM iv WHERE iv.id < ?1
    )
    SELECT id FROM iv WHERE id <= ?1 AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.interval_id = iv.id) ORDER BY id`,
  insertBatch: `INSERT INTO batches (${BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 'built', NULL, ?, ?) ON CONFLICT (interval_id) DO NOTHING`,
  batch: `SELECT ${BATCH_COLUMNS} FROM batches WHERE interval_id = ?`,
  unfinishedIntervals: "SELECT interval_id FROM batches WHERE status <> 'final' ORDER BY interval_id",
  updateStatus: `
    UPDATE batches SET status = ?1, tx_hash = coalesce(?2, tx_hash), updated_at = ?3
    WHERE interval_id = ?4 AND (status <> 'final' OR ?1 = 'final')`,
  batchExists: "SELECT 1 FROM batches WHERE interval_id = ?",
  countReadings: "SELECT count(*) AS n FROM readings",
} as const;

type Statements = Record<keyof typeof SQL, StatementSync>;

export interface SqliteStoreOptions {
  /**
   * `FULL` (default): every commit fsyncs the WAL, so a resolved `insertReadings` survives a process kill and an
   * OS crash or power loss. `NORMAL`: fsync only at checkpoints; survives a process kill, but an OS crash can lose
   * the last commits. At the relayer's batch sizes the two measured the same (the cost is the bytes written,
   * not the fsync per commit; see `benchStore.ts`).
   */
  synchronous?: "FULL" | "NORMAL";
}

export class SqliteStore implements ReadingStore {
  private db?: DatabaseSync;
  private s?: Statements;

  /** `path` is a file (created if missing) or ":memory:". */
  constructor(
    readonly path: string,
    private readonly options: SqliteStoreOptions = {},
  ) {}

  async open(): Promise<void> {
    if (this.db !== undefined) return;
    let db: DatabaseSync;
    try {
      db = new Database(this.path, { readBigInts: true, timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      throw new StoreError(`cannot open SQLite database at ${this.path}: ${reason(err)}`, { cause: err });
    }
    try {
      db.exec(
        `${PAGE_SIZE} PRAGMA journal_mode = WAL; PRAGMA synchronous = ${this.options.synchronous ?? "FULL"}; ${TUNING}`,
      );
      migrateSqlite(db);
      this.s = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
    } catch (err) {
      db.close();
      throw err instanceof StoreError
        ? err
        : new StoreError(`cannot open SQLite database at ${this.path}: ${reason(err)}`, { cause: err });
    }
    this.db = db;
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
    this.s = undefined;
  }

  async insertReadings(readings: SignedReading[], source: IngestSource, receivedAt: number): Promise<InsertResult[]> {
    checkInsert(readings, source, receivedAt);
    const at = BigInt(receivedAt);
    return this.run("insertReadings", (s) =>
      readings.length === 0
        ? []
        : this.transaction(s, () =>
            readings.map((r): InsertResult => {
              const row = [
                r.meter,
                r.intervalId,
                r.importWhTotal,
                r.exportWhTotal,
                r.timestamp,
                r.signature,
                source,
                at,
              ];
              if (Number(s.insertReading.run(...row).changes) === 1) return { kind: "inserted" };
              const existing = readingFromRow(s.reading.get(r.meter, r.intervalId) as unknown as ReadingRow);
              if (sameSignature(existing.signature, r.signature)) return { kind: "duplicate" };
              s.insertConflict.run(...row);
              return { kind: "conflict", existing };
            }),
          ),
    );
  }

  async getReading(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined> {
    return this.run("getReading", (s) => (storable(intervalId) ? oneReading(s.reading, meter, intervalId) : undefined));
  }

  async readingBefore(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined> {
    const bound = lastBefore(intervalId);
    return this.run("readingBefore", (s) =>
      bound === undefined ? undefined : oneReading(s.readingBefore, meter, bound),
    );
  }

  async readingAfter(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined> {
    const bound = firstAfter(intervalId);
    return this.run("readingAfter", (s) =>
      bound === undefined ? undefined : oneReading(s.readingAfter, meter, bound),
    );
  }

  async readingsOfInterval(intervalId: bigint): Promise<SignedReading[]> {
    return this.run("readingsOfInterval", (s) =>
      storable(intervalId) ? readingRows(s.readingsOfInterval, intervalId).map(readingFromRow) : [],
    );
  }

  async baselinesFor(intervalId: bigint): Promise<Map<Hex, SignedReading>> {
    return this.run("baselinesFor", (s) => {
      const rows = storable(intervalId) ? readingRows(s.baselines, intervalId) : [];
      return new Map(rows.map((row) => [row.meter as Hex, readingFromRow(row)]));
    });
  }

  async conflicts(intervalId?: bigint): Promise<ConflictRecord[]> {
    return this.run("conflicts", (s) => {
      if (intervalId === undefined) return readingRows(s.conflicts).map(conflictFromRow);
      return storable(intervalId) ? readingRows(s.conflictsOfInterval, intervalId).map(conflictFromRow) : [];
    });
  }

  async intervalsToBatch(maxIntervalId: bigint): Promise<bigint[]> {
    const bound = upTo(maxIntervalId);
    return this.run("intervalsToBatch", (s) =>
      bound === undefined ? [] : s.intervalsToBatch.all(bound).map((row) => row.id as bigint),
    );
  }

  async saveBatch(batch: IntervalBatch, builtAt: number): Promise<boolean> {
    checkBatch(batch);
    checkTime(builtAt, "builtAt");
    const at = BigInt(builtAt);
    return this.run("saveBatch", (s) => {
      const { changes } = s.insertBatch.run(
        batch.intervalId,
        batch.root,
        batch.leafCount,
        batch.totalImportWh,
        batch.totalExportWh,
        encodeLeaves(batch.leaves),
        at,
        at,
      );
      return Number(changes) === 1;
    });
  }

  async getBatch(intervalId: bigint): Promise<BatchRecord | undefined> {
    return this.run("getBatch", (s) => {
      const row = storable(intervalId) ? (s.batch.get(intervalId) as unknown as BatchRow | undefined) : undefined;
      return row === undefined ? undefined : batchFromRow(row);
    });
  }

  async unfinishedIntervals(): Promise<bigint[]> {
    return this.run("unfinishedIntervals", (s) => s.unfinishedIntervals.all().map((row) => row.interval_id as bigint));
  }

  async updateBatchStatus(intervalId: bigint, status: PostStatus, txHash?: Hex, updatedAt = Date.now()): Promise<void> {
    checkStatusUpdate(status, txHash, updatedAt);
    return this.run("updateBatchStatus", (s) => {
      const exists = storable(intervalId) && s.batchExists.get(intervalId) !== undefined;
      if (!exists) throw noBatch(intervalId);
      s.updateStatus.run(status, txHash ?? null, BigInt(updatedAt), intervalId);
    });
  }

  async isSealed(intervalId: bigint): Promise<boolean> {
    return this.run("isSealed", (s) => storable(intervalId) && s.batchExists.get(intervalId) !== undefined);
  }

  async countReadings(): Promise<number> {
    return this.run("countReadings", (s) => Number(s.countReadings.get()!.n));
  }

  /**
   * Runs `body` with the prepared statements. Database failures ("database is locked" after the busy timeout,
   * "database or disk is full", …) become one-line StoreErrors naming the operation.
   */
  private run<T>(operation: string, body: (s: Statements) => T): T {
    if (this.s === undefined) throw new StoreError(`the SQLite store at ${this.path} is not open`);
    try {
      return body(this.s);
    } catch (err) {
      if (err instanceof MicrogridError) throw err;
      throw new StoreError(`SQLite ${operation} failed at ${this.path}: ${reason(err)}`, { cause: err });
    }
  }

  /** Runs `body` in one write transaction (taking the write lock first), rolled back if it throws. */
  private transaction<T>(s: Statements, body: () => T): T {
    s.begin.run();
    try {
      const result = body();
      s.commit.run();
      return result;
    } catch (err) {
      if (this.db!.isTransaction) s.rollback.run();
      throw err;
    }
  }
}

function oneReading(statement: StatementSync, meter: Hex, intervalId: bigint): SignedReading | undefined {
  const row = statement.get(meter, intervalId) as unknown as ReadingRow | undefined;
  return row === undefined ? undefined : readingFromRow(row);
}

function readingRows(statement: StatementSync, ...params: bigint[]): ReadingRow[] {
  return statement.all(...params) as unknown as ReadingRow[];
}
