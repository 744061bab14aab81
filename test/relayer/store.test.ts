import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { getAddress, id } from "ethers";
import { InputError } from "../../src/errors.js";
import type { Hex, IntervalBatch, SignedReading } from "../../oracle/src/types.js";
import { PostgresStore, SqliteStore, StoreError, openStore } from "../../oracle/src/store/index.js";
import { MIGRATIONS, migratePostgres, migrateSqlite } from "../../oracle/src/store/migrations.js";
import type { InsertResult, ReadingStore } from "../../oracle/src/store/store.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;
const DATABASE_URL = process.env.DATABASE_URL;
/** node:sqlite for raw access to a store's file; sqlite.ts loaded it already, so it warns no more. */
const { DatabaseSync: Database } = createRequire(import.meta.url)("node:sqlite") as typeof import("node:sqlite");

/** A checksummed, mixed-case meter address (so ordering by meter is not trivially numeric). */
function meter(i: number): Hex {
  return getAddress(id(`meter ${i}`).slice(0, 42)) as Hex;
}

/** A reading with a well-formed 65-byte signature unique to its values (the store does not verify signatures). */
function reading(
  m: Hex,
  intervalId: bigint,
  importWhTotal = intervalId * 10n,
  exportWhTotal = intervalId * 3n,
): SignedReading {
  const timestamp = (intervalId + 1n) * 900n;
  const seed = `${m}/${intervalId}/${importWhTotal}/${exportWhTotal}/${timestamp}`;
  return {
    meter: m,
    intervalId,
    importWhTotal,
    exportWhTotal,
    timestamp,
    signature: `0x${id(seed).slice(2)}${id(`${seed}:s`).slice(2)}1b` as Hex,
  };
}

function batchOf(intervalId: bigint, root = id(`root ${intervalId}`) as Hex): IntervalBatch {
  const leaves = [
    { meter: meter(1), importWh: 5n, exportWh: 7n },
    { meter: meter(2), importWh: 0n, exportWh: 11n },
  ];
  return { intervalId, root, leafCount: leaves.length, totalImportWh: 5n, totalExportWh: 18n, leaves };
}

const TX = id("tx") as Hex;

/** Asserts that `promise` rejects with an instance of `type` whose one-line message matches `message`. */
async function rejects(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => Error,
  message: RegExp,
): Promise<void> {
  let err: unknown;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  expect(err, "a rejection").to.be.instanceOf(type);
  expect((err as Error).message)
    .to.match(message)
    .and.not.include("\n");
}

/** A database the shared suite runs against: one fresh database (file or schema) per test. */
interface Backend {
  /** Starts the next test on an empty database. */
  fresh(): Promise<void>;
  /** A new, unopened store over the current test's database. */
  store(): ReadingStore;
  /** Raw SQL on the current test's database. */
  sql(text: string): Promise<Record<string, unknown>[]>;
  /** Runs the migrations directly once more; returns the versions applied. */
  migrateAgain(): Promise<number[]>;
  dispose(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), "store-test-"));
  let path = "";
  let n = 0;
  const withDb = <T>(body: (db: DatabaseSync) => T): T => {
    const db = new Database(path, { readBigInts: true });
    try {
      return body(db);
    } finally {
      db.close();
    }
  };
  return {
    async fresh() {
      path = join(dir, `store-${n++}.sqlite`);
    },
    store: () => new SqliteStore(path),
    async sql(text) {
      return withDb((db) => db.prepare(text).all() as Record<string, unknown>[]);
    },
    async migrateAgain() {
      return withDb(migrateSqlite);
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(url: string): Backend & { schema(): string } {
  const admin = new pg.Client({ connectionString: url });
  let connected = false;
  const schemas: string[] = [];
  let schema = "";
  const connect = async () => {
    if (!connected) await admin.connect();
    connected = true;
  };
  return {
    async fresh() {
      await connect();
      schema = `store_test_${process.pid}_${Date.now()}_${schemas.length}`;
      schemas.push(schema);
    },
    schema: () => schema,
    store: () => new PostgresStore(url, { schema, poolSize: 4 }),
    async sql(text) {
      await admin.query(`SET search_path TO "${schema}"`);
      return (await admin.query(text)).rows;
    },
    async migrateAgain() {
      return migratePostgres(admin, schema);
    },
    async dispose() {
      if (!connected) return;
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await admin.end();
    },
  };
}

/** The behaviour every ReadingStore must have. `opened` stores are closed after each test. */
function behavesAsAReadingStore<B extends Backend>(
  makeBackend: () => B,
): { backend: () => B; open: () => Promise<ReadingStore> } {
  let backend: B;
  let store: ReadingStore;
  const opened: ReadingStore[] = [];
  const open = async () => {
    const s = backend.store();
    opened.push(s);
    await s.open();
    return s;
  };

  before(function () {
    backend = makeBackend();
  });
  beforeEach(async function () {
    await backend.fresh();
    store = await open();
  });
  afterEach(async function () {
    for (const s of opened.splice(0)) await s.close();
  });
  after(async function () {
    await backend.dispose();
  });

  it("test_insertReadings_withinOneBatch_insertsThenReportsDuplicateAndConflictInOrder", async function () {
    const a = reading(meter(1), 10n);
    const other = reading(meter(1), 10n, 999n);
    const b = reading(meter(2), 10n);
    const results = await store.insertReadings([a, a, other, b, other], "mqtt", 1_000);
    expect(results).to.deep.equal([
      { kind: "inserted" },
      { kind: "duplicate" },
      { kind: "conflict", existing: a },
      { kind: "inserted" },
      { kind: "conflict", existing: a },
    ]);
    expect(await store.getReading(a.meter, 10n)).to.deep.equal(a);
    expect(await store.countReadings()).to.equal(2);
    expect(await store.conflicts()).to.deep.equal([{ reading: other, source: "mqtt", receivedAt: 1_000 }]);
  });

  it("test_insertReadings_acrossBatches_sameSignatureIsDuplicateAndDifferentReadingIsConflict", async function () {
    const a = reading(meter(1), 10n);
    expect(await store.insertReadings([a], "mqtt", 1_000)).to.deep.equal([{ kind: "inserted" }]);
    const upperCaseSignature = { ...a, signature: `0x${a.signature.slice(2).toUpperCase()}` as Hex };
    const other = reading(meter(1), 10n, 11n);
    const results = await store.insertReadings([upperCaseSignature, other, reading(meter(1), 11n)], "http", 2_000);
    expect(results).to.deep.equal([{ kind: "duplicate" }, { kind: "conflict", existing: a }, { kind: "inserted" }]);
    expect(await store.conflicts(10n)).to.deep.equal([{ reading: other, source: "http", receivedAt: 2_000 }]);
    expect(await store.countReadings()).to.equal(2);
  });

  it("test_conflicts_areKeptInArrivalOrderOnceEachAndNeverOverwriteTheStoredReading", async function () {
    const a = reading(meter(1), 10n);
    const x = reading(meter(1), 10n, 1n);
    const y = reading(meter(1), 10n, 2n);
    const z = reading(meter(3), 20n, 3n);
    await store.insertReadings([a, reading(meter(3), 20n)], "mqtt", 1);
    await store.insertReadings([x], "mqtt", 2);
    await store.insertReadings([y, x], "http", 3);
    await store.insertReadings([z], "mqtt", 4);
    const expected = [
      { reading: x, source: "mqtt", receivedAt: 2 },
      { reading: y, source: "http", receivedAt: 3 },
      { reading: z, source: "mqtt", receivedAt: 4 },
    ];
    expect(await store.conflicts()).to.deep.equal(expected);
    expect(await store.conflicts(10n)).to.deep.equal(expected.slice(0, 2));
    expect(await store.conflicts(99n)).to.deep.equal([]);
    expect(await store.getReading(meter(1), 10n)).to.deep.equal(a);
    await store.close();
    const reopened = await open();
    expect(await reopened.conflicts()).to.deep.equal(expected);
    expect(await reopened.getReading(meter(1), 10n)).to.deep.equal(a);
  });

  it("test_insertReadings_rejectsValuesOutsideInt64AndStoresNoneOfTheBatch", async function () {
    const good = reading(meter(1), 10n);
    const tooBig = reading(meter(2), 10n, INT64_MAX + 1n);
    await rejects(store.insertReadings([good, tooBig], "mqtt", 1), InputError, /importWhTotal .* \[0, 2\^63-1\]/);
    await rejects(store.insertReadings([{ ...good, meter: "0x1234" }], "mqtt", 1), InputError, /meter 0x1234/);
    await rejects(store.insertReadings([good], "mqtt", 1.5), InputError, /receivedAt/);
    await rejects(store.insertReadings([good], "ftp" as "mqtt", 1), InputError, /source must be mqtt or http/);
    expect(await store.countReadings()).to.equal(0);
  });

  it("test_bigints_upTo2Pow63Minus1_roundTripExactly", async function () {
    const max = { ...reading(meter(1), INT64_MAX, INT64_MAX, INT64_MAX), timestamp: INT64_MAX };
    const before = { ...reading(meter(1), INT64_MAX - 1n, INT64_MAX - 1n, 0n), timestamp: INT64_MAX - 900n };
    expect(await store.insertReadings([max, before], "mqtt", Number.MAX_SAFE_INTEGER)).to.deep.equal([
      { kind: "inserted" },
      { kind: "inserted" },
    ]);
    expect(await store.getReading(meter(1), INT64_MAX)).to.deep.equal(max);
    expect(await store.readingBefore(meter(1), INT64_MAX)).to.deep.equal(before);
    expect(await store.readingBefore(meter(1), UINT64_MAX)).to.deep.equal(max);
    expect(await store.readingAfter(meter(1), INT64_MAX)).to.equal(undefined);
    expect(await store.intervalsToBatch(UINT64_MAX)).to.deep.equal([INT64_MAX - 1n, INT64_MAX]);
    const batch = { ...batchOf(INT64_MAX), totalImportWh: INT64_MAX, totalExportWh: INT64_MAX };
    batch.leaves[0].importWh = UINT64_MAX; // leaves are JSON strings: any uint64 round-trips
    expect(await store.saveBatch(batch, Number.MAX_SAFE_INTEGER)).to.equal(true);
    expect(await store.getBatch(INT64_MAX)).to.deep.equal({
      ...batch,
      status: "built",
      builtAt: Number.MAX_SAFE_INTEGER,
      updatedAt: Number.MAX_SAFE_INTEGER,
    });
    expect(await store.getReading(meter(1), UINT64_MAX)).to.equal(undefined);
    expect(await store.isSealed(UINT64_MAX)).to.equal(false);
  });

  it("test_readingBeforeAndAfter_findTheNearestStrictlyEarlierAndLaterReadingOfThatMeterOnly", async function () {
    const [a, b] = [meter(1), meter(2)];
    await store.insertReadings(
      [reading(a, 30n), reading(b, 15n), reading(a, 10n), reading(b, 25n), reading(a, 20n)],
      "mqtt",
      1,
    );
    expect(await store.readingBefore(a, 20n)).to.deep.equal(reading(a, 10n));
    expect(await store.readingBefore(a, 21n)).to.deep.equal(reading(a, 20n));
    expect(await store.readingBefore(a, 10n)).to.equal(undefined);
    expect(await store.readingBefore(a, 0n)).to.equal(undefined);
    expect(await store.readingAfter(a, 20n)).to.deep.equal(reading(a, 30n));
    expect(await store.readingAfter(a, 19n)).to.deep.equal(reading(a, 20n));
    expect(await store.readingAfter(a, -5n)).to.deep.equal(reading(a, 10n));
    expect(await store.readingAfter(a, 30n)).to.equal(undefined);
    expect(await store.readingBefore(b, 100n)).to.deep.equal(reading(b, 25n));
    expect(await store.readingAfter(meter(9), 0n)).to.equal(undefined);
    expect(await store.getReading(b, 20n)).to.equal(undefined);
  });

  it("test_readingsOfInterval_returnsOnlyThatIntervalOrderedByMeter", async function () {
    const meters = [5, 3, 8, 1, 7, 2].map(meter);
    await store.insertReadings(
      meters.map((m) => reading(m, 42n)),
      "mqtt",
      1,
    );
    await store.insertReadings([reading(meter(4), 41n), reading(meter(6), 43n)], "http", 2);
    const got = await store.readingsOfInterval(42n);
    expect(got.map((r) => r.meter)).to.deep.equal([...meters].sort());
    expect(got[0]).to.deep.equal(reading(got[0].meter, 42n));
    expect(await store.readingsOfInterval(44n)).to.deep.equal([]);
  });

  it("test_baselinesFor_mapsEachMeterOfTheIntervalToItsLatestEarlierReading", async function () {
    const [a, b, c, d] = [1, 2, 3, 4].map(meter);
    await store.insertReadings([reading(a, 10n), reading(a, 20n), reading(a, 30n), reading(a, 40n)], "mqtt", 1);
    await store.insertReadings([reading(b, 25n), reading(b, 30n), reading(c, 30n), reading(d, 10n)], "mqtt", 1);
    const baselines = await store.baselinesFor(30n);
    expect([...baselines.keys()].sort()).to.deep.equal([a, b].sort());
    expect(baselines.get(a)).to.deep.equal(reading(a, 20n));
    expect(baselines.get(b)).to.deep.equal(reading(b, 25n));
    expect((await store.baselinesFor(10n)).size).to.equal(0);
  });

  it("test_intervalsToBatch_listsIntervalsWithReadingsAndNoBatchUpToTheBoundAscending", async function () {
    for (const i of [9n, 3n, 5n, 7n, 3n]) await store.insertReadings([reading(meter(Number(i)), i)], "mqtt", 1);
    await store.insertReadings([reading(meter(1), 7n)], "mqtt", 1);
    expect(await store.saveBatch(batchOf(5n), 1)).to.equal(true);
    expect(await store.intervalsToBatch(8n)).to.deep.equal([3n, 7n]);
    expect(await store.intervalsToBatch(9n)).to.deep.equal([3n, 7n, 9n]);
    expect(await store.intervalsToBatch(2n)).to.deep.equal([]);
    expect(await store.intervalsToBatch(-1n)).to.deep.equal([]);
    expect(await store.isSealed(5n)).to.equal(true);
    expect(await store.isSealed(7n)).to.equal(false);
  });

  it("test_saveBatch_storesLeavesReadablyAndNeverReplacesAStoredBatch", async function () {
    const batch = batchOf(7n);
    expect(await store.saveBatch(batch, 1_000)).to.equal(true);
    expect(await store.saveBatch(batchOf(7n, id("another root") as Hex), 2_000)).to.equal(false);
    expect(await store.getBatch(7n)).to.deep.equal({ ...batch, status: "built", builtAt: 1_000, updatedAt: 1_000 });
    expect(await store.getBatch(8n)).to.equal(undefined);
    const [row] = await backend.sql("SELECT CAST(leaves AS text) AS leaves FROM batches");
    expect(JSON.parse(String(row.leaves))).to.deep.equal([
      { meter: meter(1), importWh: "5", exportWh: "7" },
      { meter: meter(2), importWh: "0", exportWh: "11" },
    ]);
    await rejects(store.saveBatch({ ...batch, intervalId: 9n, leafCount: 3 }, 1), InputError, /3 leaves/);
  });

  it("test_updateBatchStatus_recordsProgressKeepsTheTxHashFinalIsTerminalAndUnfinishedListsTheRest", async function () {
    for (const i of [3n, 1n, 2n]) await store.saveBatch(batchOf(i), 100);
    await store.updateBatchStatus(1n, "sent", TX, 200);
    await store.updateBatchStatus(1n, "voted", undefined, 300);
    expect(await store.getBatch(1n)).to.include({ status: "voted", txHash: TX, builtAt: 100, updatedAt: 300 });
    await store.updateBatchStatus(2n, "final", undefined, 400);
    const unfinished = await store.unfinishedIntervals();
    expect(unfinished).to.deep.equal([1n, 3n]);
    expect(await Promise.all(unfinished.map(async (i) => (await store.getBatch(i))!.status))).to.deep.equal([
      "voted",
      "built",
    ]);
    await store.updateBatchStatus(2n, "sent", TX, 500);
    expect(await store.getBatch(2n))
      .to.include({ status: "final", updatedAt: 400 })
      .and.not.have.property("txHash");
    await store.updateBatchStatus(2n, "final", TX, 600);
    expect(await store.getBatch(2n)).to.include({ status: "final", txHash: TX, updatedAt: 600 });
    await rejects(store.updateBatchStatus(4n, "sent", TX), StoreError, /^no batch is stored for interval 4$/);
    await rejects(store.updateBatchStatus(3n, "sent", "0x12"), InputError, /transaction hash 0x12/);
    const before = Date.now();
    await store.updateBatchStatus(3n, "sent", TX);
    expect((await store.getBatch(3n))!.updatedAt).to.be.at.least(before);
    for (const i of [1n, 3n]) await store.updateBatchStatus(i, "final", undefined, 700);
    expect(await store.unfinishedIntervals()).to.deep.equal([]);
  });

  it("test_reopen_keepsEveryRowAndRunsNoMigrationTwice", async function () {
    await store.insertReadings([reading(meter(1), 1n), reading(meter(1), 1n, 5n)], "mqtt", 1);
    await store.saveBatch(batchOf(1n), 1);
    await store.close();
    const reopened = await open();
    expect(await reopened.getReading(meter(1), 1n)).to.deep.equal(reading(meter(1), 1n));
    expect(await reopened.conflicts()).to.have.length(1);
    expect(await reopened.isSealed(1n)).to.equal(true);
    const versions = await backend.sql("SELECT version FROM schema_migrations ORDER BY version");
    expect(versions.map((v) => Number(v.version))).to.deep.equal(MIGRATIONS.map((m) => m.version));
    expect(await backend.migrateAgain()).to.deep.equal([]);
  });

  it("test_open_refusesADatabaseMigratedByANewerRelayer", async function () {
    await store.close();
    await backend.sql("INSERT INTO schema_migrations (version, description, applied_at) VALUES (999, 'future', 0)");
    await rejects(open(), StoreError, /schema is at version 999, newer than this relayer knows/);
  });

  it("test_closedStore_failsWithStoreError", async function () {
    await store.close();
    await rejects(store.getReading(meter(1), 1n), StoreError, /is not open/);
    await rejects(store.insertReadings([reading(meter(1), 1n)], "mqtt", 1), StoreError, /is not open/);
  });

  return { backend: () => backend, open };
}

/** A permutation of 0..n-1, the same for the same seed. */
function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let state = seed + 1;
  for (let i = n - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Lines a child process wrote to stdout, as they arrive. */
function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    lines.forEach(onLine);
  });
}

describe("oracle/src/store: SqliteStore", function () {
  const suite = behavesAsAReadingStore(sqliteBackend);

  it("test_sqlite_usesWalJournalAndAcceptsMemoryDatabases", async function () {
    const [row] = await suite.backend().sql("PRAGMA journal_mode");
    expect(row.journal_mode).to.equal("wal");
    const memory = new SqliteStore(":memory:");
    await memory.open();
    expect(await memory.insertReadings([reading(meter(1), 1n)], "http", 1)).to.deep.equal([{ kind: "inserted" }]);
    await memory.close();
  });

  it("test_sqlite_unopenablePath_failsWithOneLineStoreError", async function () {
    const missing = join(tmpdir(), `no-such-dir-${process.pid}`, "x.sqlite");
    await rejects(new SqliteStore(missing).open(), StoreError, /^cannot open SQLite database at .*x\.sqlite: \S/);
  });

  it("test_sqlite_writeLockHeldByAnotherConnection_waitsTheBusyTimeoutThenFailsWithOneLineStoreError", async function () {
    const store = await suite.open();
    const [path] = (await suite.backend().sql("PRAGMA database_list")).map((row) => String(row.file));
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    try {
      const started = Date.now();
      await rejects(
        store.insertReadings([reading(meter(1), 1n)], "mqtt", 1),
        StoreError,
        /^SQLite insertReadings failed at .*: database is locked$/,
      );
      expect(Date.now() - started).to.be.at.least(4_000);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(await store.insertReadings([reading(meter(1), 1n)], "mqtt", 1)).to.deep.equal([{ kind: "inserted" }]);
  });

  it("test_sqlite_everyAcknowledgedInsertSurvivesSigkill", async function () {
    const dir = mkdtempSync(join(tmpdir(), "store-kill-"));
    const dbPath = join(dir, "relayer.sqlite");
    const script = join(dir, "writer.mts");
    const storeUrl = pathToFileURL(join(ROOT, "oracle/src/store/sqlite.ts")).href;
    writeFileSync(
      script,
      `import { SqliteStore } from ${JSON.stringify(storeUrl)};
const store = new SqliteStore(process.argv[2]);
await store.open();
for (let interval = 0; ; interval++) {
  const readings = Array.from({ length: 50 }, (_, i) => ({
    meter: "0x" + (i + 1).toString(16).padStart(40, "0"),
    intervalId: BigInt(interval),
    importWhTotal: BigInt(interval * 1000 + i),
    exportWhTotal: 0n,
    timestamp: BigInt((interval + 1) * 900),
    signature: "0x" + "ab".repeat(65),
  }));
  await store.insertReadings(readings, "mqtt", Date.now());
  process.stdout.write("acked " + (interval + 1) * 50 + "\\n");
}
`,
    );
    try {
      const child = spawn(process.execPath, ["--import", "tsx", script, dbPath], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let acked = 0;
      let stderr = "";
      child.stderr!.on("data", (d) => (stderr += d));
      onLines(child.stdout!, (line) => {
        const m = /^acked (\d+)$/.exec(line);
        if (m === null) return;
        acked = Number(m[1]);
        if (acked >= 5_000) child.kill("SIGKILL");
      });
      const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
        child.on("exit", (_code, sig) => resolve(sig)),
      );
      expect(signal, `writer exited by itself: ${stderr}`).to.equal("SIGKILL");
      expect(acked).to.be.at.least(5_000);

      const store = new SqliteStore(dbPath);
      await store.open();
      try {
        expect(await store.countReadings()).to.be.at.least(acked);
        for (let interval = 0; interval < acked / 50; interval++) {
          const stored = await store.readingsOfInterval(BigInt(interval));
          expect(stored, `interval ${interval}`).to.have.length(50);
          expect(stored[49].importWhTotal).to.equal(BigInt(interval * 1000 + 49));
        }
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("test_openStore_withoutDatabaseUrl_opensSqlite", async function () {
    const dir = mkdtempSync(join(tmpdir(), "store-open-"));
    try {
      const store = await openStore({ sqlitePath: join(dir, "r.sqlite") });
      expect(store).to.be.instanceOf(SqliteStore);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

(DATABASE_URL ? describe : describe.skip)("oracle/src/store: PostgresStore (DATABASE_URL)", function () {
  const url = DATABASE_URL ?? "";
  const suite = behavesAsAReadingStore(() => postgresBackend(url));

  it("test_postgres_twoInstancesInsertingTheSameReadingsConcurrently_storeOneRowEachAndAgreeOnOutcomes", async function () {
    const a = await suite.open();
    const b = await suite.open();
    /** Inserts `readings` in `order`, 100 per call, all calls at once; returns each reading's result. */
    const run = async (store: ReadingStore, readings: SignedReading[], order: number[]) => {
      const results: InsertResult[] = new Array(readings.length);
      const chunks = Array.from({ length: order.length / 100 }, (_, c) => order.slice(c * 100, (c + 1) * 100));
      await Promise.all(
        chunks.map(async (chunk) => {
          const out = await store.insertReadings(
            chunk.map((k) => readings[k]),
            "mqtt",
            1,
          );
          chunk.forEach((k, j) => (results[k] = out[j]));
        }),
      );
      return results;
    };
    for (let round = 0; round < 3; round++) {
      const keys = Array.from({ length: 600 }, (_, k) => ({
        m: meter(k % 200),
        interval: BigInt(round * 10 + Math.floor(k / 200)),
      }));
      // The first 450 keys get the same reading from both instances; the rest a different one from each.
      const forA = keys.map(({ m, interval }, k) => reading(m, interval, k < 450 ? 1n : 100n));
      const forB = keys.map(({ m, interval }, k) => reading(m, interval, k < 450 ? 1n : 200n));
      // Each instance sends the keys in its own shuffled order, its calls overlapping the other's: rows would be
      // locked in conflicting orders (deadlock) if the store did not sort them.
      const [resA, resB] = await Promise.all([
        run(a, forA, shuffled(600, round)),
        run(b, forB, shuffled(600, round + 100)),
      ]);

      expect(await a.countReadings()).to.equal(600 * (round + 1));
      for (const [k, { m, interval }] of keys.entries()) {
        const kinds = [resA[k].kind, resB[k].kind].sort();
        const stored = await b.getReading(m, interval);
        if (k < 450) {
          expect(kinds, `key ${k}`).to.deep.equal(["duplicate", "inserted"]);
          expect(stored).to.deep.equal(forA[k]);
        } else {
          expect(kinds, `key ${k}`).to.deep.equal(["conflict", "inserted"]);
          const [winner, loser] = resA[k].kind === "inserted" ? [forA[k], forB[k]] : [forB[k], forA[k]];
          expect(stored).to.deep.equal(winner);
          expect([resA[k], resB[k]].find((r) => r.kind === "conflict")).to.deep.equal({
            kind: "conflict",
            existing: winner,
          });
          const kept = (await a.conflicts(interval)).filter((c) => c.reading.meter === m);
          expect(kept.map((c) => c.reading)).to.deep.equal([loser]);
        }
      }
    }
  });

  it("test_postgres_concurrentSaveBatchOfOneInterval_exactlyOneInstanceStoresIt", async function () {
    const stores = [await suite.open(), await suite.open(), await suite.open()];
    const saved = await Promise.all(stores.map((s, i) => s.saveBatch(batchOf(5n, id(`root ${i}`) as Hex), i)));
    expect(saved.filter(Boolean)).to.have.length(1);
    expect((await stores[0].getBatch(5n))!.root).to.equal(id(`root ${saved.indexOf(true)}`));
  });

  it("test_postgres_instancesStartingTogether_migrateTheSchemaOnce", async function () {
    await suite.backend().fresh(); // a schema that does not exist yet
    await Promise.all([suite.open(), suite.open(), suite.open(), suite.open()]);
    const versions = await suite.backend().sql("SELECT version FROM schema_migrations");
    expect(versions.map((v) => Number(v.version))).to.deep.equal(MIGRATIONS.map((m) => m.version));
  });

  it("test_postgres_unreachableServer_failsWithOneLineConnectError", async function () {
    const store = new PostgresStore("postgres://postgres:secret@127.0.0.1:1/test", { connectTimeoutMs: 2_000 });
    await rejects(store.open(), StoreError, /^cannot connect to PostgreSQL at 127\.0\.0\.1:1\/test: (?!.*secret)\S/);
  });

  it("test_openStore_withDatabaseUrl_opensPostgresInTheGivenSchema", async function () {
    await suite.backend().fresh();
    const store = await openStore({
      databaseUrl: url,
      sqlitePath: "/nonexistent/unused.sqlite",
      postgresSchema: suite.backend().schema(),
    });
    try {
      expect(store).to.be.instanceOf(PostgresStore);
      await store.insertReadings([reading(meter(1), 1n)], "mqtt", 1);
      const rows = await suite.backend().sql("SELECT count(*)::int AS n FROM readings");
      expect(rows[0].n).to.equal(1);
    } finally {
      await store.close();
    }
  });
});
