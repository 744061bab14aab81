/**
 * The end-to-end ingest benchmark of `npm run bench:relayer` (MQTT in → verified → stored), also runnable on its
 * own with a CPU budget per thread and process: `node --import tsx scripts/bench/relayerIngest.ts [mosquitto|embedded]`
 * (env: BENCH_METERS, BENCH_INTERVALS, BENCH_WORKERS, BENCH_BATCH, BENCH_REPEAT).
 *
 * The publisher runs in a child process (`relayerPublisher.ts`); the relayer side is the production path
 * (`MqttIngest` pipelined engine → `Ingestor` → `VerifierPool` → `SqliteStore`, synchronous=FULL). A reading counts
 * once `Ingestor` has counted it accepted, i.e. after the transaction that stored it committed.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { SqliteStore } from "../../oracle/src/store/sqlite.js";
import { VerifierPool } from "../../oracle/src/ingest/verifierPool.js";
import { Ingestor } from "../../oracle/src/ingest/ingestor.js";
import { MqttIngest } from "../../oracle/src/ingest/mqtt.js";
import { startEmbeddedBroker } from "../../oracle/src/ingest/broker.js";
import { Mutex } from "../../oracle/src/lock.js";
import { createMetrics } from "../../oracle/src/metrics.js";
import type { Hex, MirroredMeter } from "../../oracle/src/types.js";

const log = pino({ level: process.env.BENCH_LOG ?? "silent" });
const dir = mkdtempSync(join(tmpdir(), "bench-relayer-ingest-"));
const INTERVAL = 900n;
const TICK_MS = 1e3 / 100; // USER_HZ
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

/** utime + stime of a process or thread, ms (0 if it is gone). */
function cpuMsOf(statPath: string): number {
  try {
    const stat = readFileSync(statPath, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** CPU ms per thread of this process, keyed by tid. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) out.set(tid, cpuMsOf(`/proc/self/task/${tid}/stat`));
  return out;
}

/**
 * A private Mosquitto (Debian's binary) on a free port, in-flight window unbounded so that acknowledgements after
 * storage do not throttle delivery (Mosquitto's default is 20 messages in flight per client).
 */
async function startMosquitto(): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\npersistence false\n`,
  );
  const proc = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: proc.pid!,
    close: async () => {
      proc.kill("SIGTERM");
    },
  };
}

export interface IngestBenchOptions {
  meters: number;
  intervals: number;
  broker: "embedded" | "mosquitto";
  /** Verifier worker threads (default 2). */
  workers?: number;
  /** Ingestor batch size (default 1,000). */
  batchSize?: number;
}

export interface IngestBenchResult {
  broker: "embedded" | "mosquitto";
  readings: number;
  meters: number;
  intervals: number;
  workers: number;
  ms: number;
  readingsPerSecond: number;
  publisherMs: number;
  storedCount: number;
  /** CPU time per reading, µs, by where it was spent (the run's wall time is the denominator of `cores`). */
  cpuMicrosPerReading: {
    relayerMainThread: number;
    relayerVerifierWorkers: number;
    relayerOtherThreads: number;
    publisher: number;
    broker: number | null;
    total: number;
  };
  /** Average cores busy during the run (CPU time / wall time), all processes together. */
  coresBusy: number;
}

/** MQTT in → verified → stored, with the publisher in another process so it does not share this thread. */
export async function benchIngest(o: IngestBenchOptions): Promise<IngestBenchResult> {
  const { meters, intervals, broker: brokerKind } = o;
  const workers = o.workers ?? 2;
  const broker = brokerKind === "mosquitto" ? await startMosquitto() : { ...(await startEmbeddedBroker(0)), pid: undefined };
  const chainId = 31337n;
  const registry: Hex = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
  const now = BigInt(Math.floor(Date.now() / 1000));
  const firstInterval = now / INTERVAL - BigInt(intervals) - 1n;
  const addressesFile = join(dir, "addresses.json");
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/bench/relayerPublisher.ts",
      broker.url,
      String(meters),
      String(intervals),
      addressesFile,
      String(chainId),
      registry,
      String(firstInterval),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout! });
  const nextLine = () => new Promise<string>((resolve) => lines.once("line", resolve));
  if ((await nextLine()) !== "ready") throw new Error("publisher did not start");
  const addresses = JSON.parse(readFileSync(addressesFile, "utf8")) as Hex[];
  const mirror = new Map<string, MirroredMeter>(
    addresses.map((a, i) => [
      a.toLowerCase(),
      { meter: a, owner: a, zone: 1, index: i, technology: 0, ratedCapacityW: 1_000_000n, revokedAt: 0n },
    ]),
  );
  const store = new SqliteStore(join(dir, `ingest-${brokerKind}-${Date.now()}.sqlite`));
  await store.open();
  const verifier = new VerifierPool({ workers, domain: { chainId, verifyingContract: registry } });
  await verifier.verify([]);
  const metrics = createMetrics("bench");
  const ingestor = new Ingestor({
    store,
    verifier,
    meters: { get: (m) => mirror.get(m.toLowerCase()) },
    lock: new Mutex(),
    metrics,
    log,
    intervalLength: INTERVAL,
    clockSkewSeconds: 120n,
    graceSeconds: 86_400n,
    batchSize: o.batchSize ?? 1_000,
    batchDelayMs: 5,
    maxQueue: 50_000,
  });
  const mqtt = new MqttIngest({
    url: broker.url,
    clientId: "bench-relayer",
    topic: "meters/+/readings",
    ingestor,
    log,
    maxPayloadBytes: 65_536,
  });
  mqtt.start();
  await mqtt.ready;
  const total = meters * intervals;
  const threadsBefore = threadCpu();
  const brokerBefore = broker.pid === undefined ? 0 : cpuMsOf(`/proc/${broker.pid}/stat`);
  const start = performance.now();
  const publishedLine = nextLine();
  child.stdin!.write("go\n");
  let stored = 0;
  while (stored < total) {
    await new Promise((r) => setTimeout(r, 20));
    stored = (await metrics.accepted.get()).values.reduce((s, v) => s + v.value, 0);
    if (process.env.BENCH_DEBUG) console.log("stored", stored, "queue", ingestor.depth);
    const rejected = (await metrics.rejected.get()).values.reduce((s, v) => s + v.value, 0);
    if (rejected > 0) throw new Error(`${rejected} readings rejected during the ingest benchmark`);
  }
  const ms = performance.now() - start;
  const threadsAfter = threadCpu();
  const brokerMs = broker.pid === undefined ? null : cpuMsOf(`/proc/${broker.pid}/stat`) - brokerBefore;
  const [, publishedMs, publisherCpuMs] = (await publishedLine).split(" ");
  const count = await store.countReadings();
  await mqtt.stop();
  await verifier.close();
  await store.close();
  await broker.close();

  // Threads of this process: the main thread (tid = pid), the verifier workers (the `workers` busiest other
  // threads), and the rest (V8 GC helpers, libuv pool, the embedded broker runs on the main thread).
  const deltas = [...threadsAfter].map(([tid, after]) => ({ tid, ms: after - (threadsBefore.get(tid) ?? 0) }));
  const main = deltas.find((d) => d.tid === String(process.pid))?.ms ?? 0;
  const others = deltas.filter((d) => d.tid !== String(process.pid)).sort((a, b) => b.ms - a.ms);
  const verifierMs = others.slice(0, workers).reduce((s, d) => s + d.ms, 0);
  const otherMs = others.slice(workers).reduce((s, d) => s + d.ms, 0);
  const per = (cpuMs: number) => Math.round((cpuMs * 1000) / total);
  const publisherMs = Number(publisherCpuMs);
  const totalMs = main + verifierMs + otherMs + publisherMs + (brokerMs ?? 0);
  return {
    broker: brokerKind,
    readings: total,
    meters,
    intervals,
    workers,
    ms: Math.round(ms),
    readingsPerSecond: rate(total, ms),
    publisherMs: Number(publishedMs),
    storedCount: count,
    cpuMicrosPerReading: {
      relayerMainThread: per(main),
      relayerVerifierWorkers: per(verifierMs),
      relayerOtherThreads: per(otherMs),
      publisher: per(publisherMs),
      broker: brokerMs === null ? null : per(brokerMs),
      total: per(totalMs),
    },
    coresBusy: Number((totalMs / ms).toFixed(2)),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const broker = (process.argv[2] ?? "mosquitto") as "mosquitto" | "embedded";
  const repeat = Number(process.env.BENCH_REPEAT ?? 1);
  for (let i = 0; i < repeat; i++) {
    const r = await benchIngest({
      meters: Number(process.env.BENCH_METERS ?? 10_000),
      intervals: Number(process.env.BENCH_INTERVALS ?? 10),
      broker,
      workers: Number(process.env.BENCH_WORKERS ?? 2),
      batchSize: Number(process.env.BENCH_BATCH ?? 1_000),
    });
    console.log(JSON.stringify(r));
  }
}
