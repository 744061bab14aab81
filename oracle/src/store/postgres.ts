/**
 * The shared store: PostgreSQL over a `pg.Pool`, safe for several relayer instances on one database. The
 * primary key of `readings` and the unique keys of `conflicts` and `batches` do the deduplication, so instances
 * need no coordination beyond it; migrations take an advisory lock. A commit is durable when it returns
 * (PostgreSQL's default `synchronous_commit = on`), so a resolved `insertReadings` survives a crash.
 */
import { Client, DatabaseError, Pool, type PoolClient, type QueryResultRow, types } from "pg";
import type { BatchRecord, Hex, IngestSource, IntervalBatch, PostStatus, SignedReading } from "../types.js";
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
import { migratePostgres, quoteSchema } from "./migrations.js";
import type { ConflictRecord, InsertResult, ReadingStore } from "./store.js";

export interface PostgresStoreOptions {
  /** Schema holding the tables, created if missing (default `public`); lets tests or deployments share a database. */
  schema?: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before failing (default 10 s). */
  connectTimeoutMs?: number;
}

/** BIGINT columns come back as bigint (pg returns strings by default); other types parse as usual. */
const INT8_AS_BIGINT = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === types.builtins.INT8 ? BigInt : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
};

const READING_COLUMNS =
  "meter, interval_id, import_wh_total, export_wh_total, timestamp, signature, source, received_at";
const BATCH_COLUMNS =
  "interval_id, root, leaf_count, total_import_wh, total_export_wh, leaves::text AS leaves, status, tx_hash, built_at, updated_at";

/** The store's queries against the tables of schema `s` (quoted). */
function queries(s: string) {
  const readingsFromArrays = `
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
      WITH ORDINALITY AS u(meter, interval_id, import_wh_total, export_wh_total, timestamp, signature, ord)
    ORDER BY u.ord`;
  return {
    insertReadings: `
      INSERT INTO ${s}.readings (${READING_COLUMNS})
      SELECT u.meter, u.interval_id, u.import_wh_total, u.export_wh_total, u.timestamp, u.signature, $7, $8
      ${readingsFromArrays}
      ON CONFLICT (meter, interval_id) DO NOTHING
      RETURNING meter, interval_id`,
    insertConflicts: `
      INSERT INTO ${s}.conflicts (${READING_COLUMNS})
      SELECT u.meter, u.interval_id, u.import_wh_total, u.export_wh_total, u.timestamp, u.signature, $7, $8
      ${readingsFromArrays}
      ON CONFLICT (meter, interval_id, signature) DO NOTHING`,
    storedReadings: `
      SELECT r.meter, r.interval_id, r.import_wh_total, r.export_wh_total, r.timestamp, r.signature, r.source, r.received_at
      FROM unnest($1::text[], $2::bigint[]) AS k(meter, interval_id)
      JOIN ${s}.readings r ON r.meter = k.meter AND r.interval_id = k.interval_id`,
    reading: `SELECT ${READING_COLUMNS} FROM ${s}.readings WHERE meter = $1 AND interval_id = $2`,
    readingBefore: `SELECT ${READING_COLUMNS} FROM ${s}.readings WHERE meter = $1 AND interval_id <= $2 ORDER BY interval_id DESC LIMIT 1`,
    readingAfter: `SELECT ${READING_COLUMNS} FROM ${s}.readings WHERE meter = $1 AND interval_id >= $2 ORDER BY interval_id LIMIT 1`,
    readingsOfInterval: `SELECT ${READING_COLUMNS} FROM ${s}.readings WHERE interval_id = $1 ORDER BY meter`,
    baselines: `
      SELECT p.* FROM ${s}.readings c
      CROSS JOIN LATERAL (
        SELECT ${READING_COLUMNS} FROM ${s}.readings p
        WHERE p.meter = c.meter AND p.interval_id < c.interval_id ORDER BY p.interval_id DESC LIMIT 1
      ) p
      WHERE c.interval_id = $1`,
    conflicts: `SELECT ${READING_COLUMNS} FROM ${s}.conflicts ORDER BY id`,
    conflictsOfInterval: `SELECT ${READING_COLUMNS} FROM ${s}.conflicts WHERE interval_id = $1 ORDER BY id`,
    // Walks the distinct interval ids through the index (one seek each) instead of scanning every reading.
    intervalsToBatch: `
      WITH RECURSIVE iv(id) AS (
        SELECT min(interval_id) FROM ${s}.readings
        UNION ALL
        SELECT (SELECT min(interval_id) FROM ${s}.readings WHERE interval_id > iv.id) FROM iv WHERE iv.id < $1::bigint
      )
      SELECT id FROM iv
      WHERE id <= $1::bigint AND NOT EXISTS (SELECT 1 FROM ${s}.batches b WHERE b.interval_id = iv.id)
      ORDER BY id`,
    insertBatch: `
      INSERT INTO ${s}.batches (interval_id, root, leaf_count, total_import_wh, total_export_wh, leaves, status, tx_hash, built_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'built', NULL, $7, $7)
      ON CONFLICT (interval_id) DO NOTHING`,
    batch: `SELECT ${BATCH_COLUMNS} FROM ${s}.batches WHERE interval_id = $1`,
    unfinishedIntervals: `SELECT interval_id FROM ${s}.batches WHERE status <> 'final' ORDER BY interval_id`,
    updateStatus: `
      UPDATE ${s}.batches SET status = $1, tx_hash = coalesce($2, tx_hash), updated_at = $3
      WHERE interval_id = $4 AND (status <> 'final' OR $1 = 'final')`,
    batchExists: `SELECT 1 FROM ${s}.batches WHERE interval_id = $1`,
    countReadings: `SELECT count(*) AS n FROM ${s}.readings`,
  };
}

/** A reading's primary key as a map key. */
function keyOf(r: { meter: string; intervalId: bigint }): string {
  return `${r.meter}/${r.intervalId}`;
}

function byKey(a: SignedReading, b: SignedReading): number {
  if (a.meter !== b.meter) return a.meter < b.meter ? -1 : 1;
  return a.intervalId < b.intervalId ? -1 : a.intervalId > b.intervalId ? 1 : 0;
}

/** Parameters $1..$6 of `readingsFromArrays`: one array per column. */
function columnArrays(readings: SignedReading[]): string[][] {
  return [
    readings.map((r) => r.meter),
    readings.map((r) => r.intervalId.toString()),
    readings.map((r) => r.importWhTotal.toString()),
    readings.map((r) => r.exportWhTotal.toString()),
    readings.map((r) => r.timestamp.toString()),
    readings.map((r) => r.signature),
  ];
}

function copyReading(r: SignedReading): SignedReading {
  const { meter, intervalId, importWhTotal, exportWhTotal, timestamp, signature } = r;
  return { meter, intervalId, importWhTotal, exportWhTotal, timestamp, signature };
}

export class PostgresStore implements ReadingStore {
  private pool?: Pool;
  private readonly sql: ReturnType<typeof queries>;
  /** `host:port/database`, for error messages (never the password). */
  readonly where: string;
  readonly schema: string;

  constructor(
    private readonly connectionString: string,
    private readonly options: PostgresStoreOptions = {},
  ) {
    this.schema = options.schema ?? "public";
    this.sql = queries(quoteSchema(this.schema));
    const parsed = new Client({ connectionString });
    this.where = `${parsed.host}:${parsed.port}/${parsed.database ?? parsed.user ?? ""}`;
  }

  async open(): Promise<void> {
    if (this.pool !== undefined) return;
    const pool = new Pool({
      connectionString: this.connectionString,
      max: this.options.poolSize ?? 10,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 10_000,
      types: INT8_AS_BIGINT,
    });
    // An idle connection that breaks (server restart) is dropped by the pool; the next query reconnects or
    // reports the failure. Without a listener the 'error' event would crash the process.
    pool.on("error", () => undefined);
    try {
      const client = await this.connect(pool);
      try {
        await migratePostgres(client, this.schema);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end();
      throw err;
    }
    this.pool = pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  async insertReadings(readings: SignedReading[], source: IngestSource, receivedAt: number): Promise<InsertResult[]> {
    checkInsert(readings, source, receivedAt);
    this.checkOpen();
    if (readings.length === 0) return [];
    // The first occurrence of each key is inserted, in key order: every instance takes row locks in the same
    // order, so concurrent batches over the same keys wait for each other instead of deadlocking.
    const firstIndex = new Map<string, number>();
    readings.forEach((r, i) => firstIndex.has(keyOf(r)) || firstIndex.set(keyOf(r), i));
    const firsts = [...firstIndex.values()].map((i) => readings[i]).sort(byKey);
    return this.withClient("insertReadings", async (c) => {
      await c.query("BEGIN");
      try {
        const fixed = [source, receivedAt];
        const inserted = await c.query<{ meter: string; interval_id: bigint }>(this.sql.insertReadings, [
          ...columnArrays(firsts),
          ...fixed,
        ]);
        const insertedKeys = new Set(
          inserted.rows.map((row) => keyOf({ meter: row.meter, intervalId: row.interval_id })),
        );
        const notInserted = firsts.filter((r) => !insertedKeys.has(keyOf(r)));
        const stored = new Map<string, SignedReading>();
        if (notInserted.length > 0) {
          const [meters, intervalIds] = columnArrays(notInserted);
          const { rows } = await c.query<ReadingRow>(this.sql.storedReadings, [meters, intervalIds]);
          for (const row of rows) stored.set(keyOf(readingFromRow(row)), readingFromRow(row));
        }
        const conflicting: SignedReading[] = [];
        const results = readings.map((r, i): InsertResult => {
          const key = keyOf(r);
          const first = firstIndex.get(key)!;
          if (insertedKeys.has(key) && first === i) return { kind: "inserted" };
          const existing = insertedKeys.has(key) ? copyReading(readings[first]) : stored.get(key)!;
          if (sameSignature(existing.signature, r.signature)) return { kind: "duplicate" };
          conflicting.push(r);
          return { kind: "conflict", existing };
        });
        if (conflicting.length > 0) {
          conflicting.sort(
            (a, b) => byKey(a, b) || (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0),
          );
          await c.query(this.sql.insertConflicts, [...columnArrays(conflicting), ...fixed]);
        }
        await c.query("COMMIT");
        return results;
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    });
  }

  async getReading(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined> {
    this.checkOpen();
    if (!storable(intervalId)) return undefined;
    return this.oneReading("getReading", this.sql.reading, meter, intervalId);
  }

  async readingBefore(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined> {
    const bound = lastBefore(intervalId);
    this.checkOpen();
    if (bound === undefined) return undefined;
    return this.oneReading("readingBefore", this.sql.readingBefore, meter, bound);
  }

  async readingAfter(meter: Hex, intervalId: bigint): Promise<SignedReading | undefined> {
    const bound = firstAfter(intervalId);
    this.checkOpen();
    if (bound === undefined) return undefined;
    return this.oneReading("readingAfter", this.sql.readingAfter, meter, bound);
  }

  async readingsOfInterval(intervalId: bigint): Promise<SignedReading[]> {
    this.checkOpen();
    if (!storable(intervalId)) return [];
    const rows = await this.rows<ReadingRow>("readingsOfInterval", this.sql.readingsOfInterval, [intervalId]);
    return rows.map(readingFromRow);
  }

  async baselinesFor(intervalId: bigint): Promise<Map<Hex, SignedReading>> {
    this.checkOpen();
    if (!storable(intervalId)) return new Map();
    const rows = await this.rows<ReadingRow>("baselinesFor", this.sql.baselines, [intervalId]);
    return new Map(rows.map((row) => [row.meter as Hex, readingFromRow(row)]));
  }

  async conflicts(intervalId?: bigint): Promise<ConflictRecord[]> {
    if (intervalId === undefined)
      return (await this.rows<ReadingRow>("conflicts", this.sql.conflicts, [])).map(conflictFromRow);
    this.checkOpen();
    if (!storable(intervalId)) return [];
    const rows = await this.rows<ReadingRow>("conflicts", this.sql.conflictsOfInterval, [intervalId]);
    return rows.map(conflictFromRow);
  }

  async intervalsToBatch(maxIntervalId: bigint): Promise<bigint[]> {
    const bound = upTo(maxIntervalId);
    this.checkOpen();
    if (bound === undefined) return [];
    const rows = await this.rows<{ id: bigint }>("intervalsToBatch", this.sql.intervalsToBatch, [bound]);
    return rows.map((row) => row.id);
  }

  async saveBatch(batch: IntervalBatch, builtAt: number): Promise<boolean> {
    checkBatch(batch);
    checkTime(builtAt, "builtAt");
    const { rowCount } = await this.withClient("saveBatch", (c) =>
      c.query(this.sql.insertBatch, [
        batch.intervalId,
        batch.root,
        batch.leafCount,
        batch.totalImportWh,
        batch.totalExportWh,
        encodeLeaves(batch.leaves),
        builtAt,
      ]),
    );
    return rowCount === 1;
  }

  async getBatch(intervalId: bigint): Promise<BatchRecord | undefined> {
    this.checkOpen();
    if (!storable(intervalId)) return undefined;
    const [row] = await this.rows<BatchRow>("getBatch", this.sql.batch, [intervalId]);
    return row === undefined ? undefined : batchFromRow(row);
  }

  async unfinishedIntervals(): Promise<bigint[]> {
    const rows = await this.rows<{ interval_id: bigint }>("unfinishedIntervals", this.sql.unfinishedIntervals, []);
    return rows.map((row) => row.interval_id);
  }

  async updateBatchStatus(intervalId: bigint, status: PostStatus, txHash?: Hex, updatedAt = Date.now()): Promise<void> {
    checkStatusUpdate(status, txHash, updatedAt);
    this.checkOpen();
    if (!storable(intervalId)) throw noBatch(intervalId);
    const missing = await this.withClient("updateBatchStatus", async (c) => {
      const { rowCount } = await c.query(this.sql.updateStatus, [status, txHash ?? null, updatedAt, intervalId]);
      // Nothing updated: no such batch, or a final one that stays final.
      return rowCount === 0 && (await c.query(this.sql.batchExists, [intervalId])).rowCount === 0;
    });
    if (missing) throw noBatch(intervalId);
  }

  async isSealed(intervalId: bigint): Promise<boolean> {
    this.checkOpen();
    if (!storable(intervalId)) return false;
    return (await this.rows("isSealed", this.sql.batchExists, [intervalId])).length > 0;
  }

  async countReadings(): Promise<number> {
    const [row] = await this.rows<{ n: bigint }>("countReadings", this.sql.countReadings, []);
    return Number(row.n);
  }

  private checkOpen(): Pool {
    if (this.pool === undefined) throw new StoreError(`the PostgreSQL store at ${this.where} is not open`);
    return this.pool;
  }

  private async connect(pool: Pool): Promise<PoolClient> {
    try {
      return await pool.connect();
    } catch (err) {
      throw new StoreError(`cannot connect to PostgreSQL at ${this.where}: ${reason(err)}`, { cause: err });
    }
  }

  /**
   * Runs `body` on a pooled connection. Failures become one-line StoreErrors naming the operation; a connection
   * that failed other than by a server-reported error is discarded rather than returned to the pool.
   */
  private async withClient<T>(operation: string, body: (c: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect(this.checkOpen());
    let broken: Error | undefined;
    try {
      return await body(client);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      if (!(err instanceof DatabaseError)) broken = err instanceof Error ? err : new Error(String(err));
      throw new StoreError(`PostgreSQL ${operation} failed at ${this.where}: ${reason(err)}`, { cause: err });
    } finally {
      client.release(broken);
    }
  }

  private async rows<R extends QueryResultRow>(operation: string, text: string, values: unknown[]): Promise<R[]> {
    return this.withClient(operation, async (c) => (await c.query<R>(text, values)).rows);
  }

  private async oneReading(
    operation: string,
    text: string,
    meter: Hex,
    intervalId: bigint,
  ): Promise<SignedReading | undefined> {
    const [row] = await this.rows<ReadingRow>(operation, text, [meter, intervalId]);
    return row === undefined ? undefined : readingFromRow(row);
  }
}
