/**
 * `npm run bench:soak`: a soak run of the relayer. The production service (`startRelayer`, oracle/src/service.ts)
 * runs in this process with its embedded MQTT broker (or the broker at MQTT_URL) and a SQLite store in a temporary
 * folder, against the in-process chain; simulated meters (scripts/bench/soakPublisher.ts, another process, readings
 * signed before the run) publish `SOAK_READINGS` (default 1,000,000) signed readings: `SOAK_METERS` (10,000) meters ×
 * intervals. Every `SOAK_SAMPLE_MS` (2,000) it samples RSS and heap (every `SOAK_GC`-th sample, default 5, after a
 * forced full GC: the retained heap; 0 = never), the ingest rate, the ingest latency (the service's histogram), the
 * queue depth, CPU and event-loop delay. At the end it checks that no
 * reading was lost (store, counters, batches, roots on chain) and that memory did not grow after warm-up, writes
 * `bench/soak.json` (or SOAK_OUT) and exits 1 if a check failed.
 *
 * Time: intervals keep the deployment's length (900 s) on a simulated clock (the service's `now` option and the
 * chain's timestamp), compressed: the clock moves to an interval's end when the meters may publish it, and the
 * meters may run `SOAK_WINDOW` (2) intervals ahead of what the relayer has processed. With a grace period of
 * SOAK_WINDOW intervals (30 simulated minutes; the service's default is 60 s, but compressed time needs the room),
 * the relayer seals interval k and votes on its root when the meters start interval k + SOAK_WINDOW. A reading the
 * relayer never processes stalls the run (the meters wait for it): reported after 60 s, not waited for forever.
 * SOAK_CPU_PROFILE=<seconds> writes a CPU profile of the relayer's thread (diagnostics).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { network } from "hardhat";
import { Wallet, toBeHex } from "ethers";
import { pino } from "pino";
import { deploySystem, writeDeployment } from "../../src/deploy.js";
import { setZone, TECHNOLOGIES } from "../../src/ops/meters.js";
import { startRpcBridge } from "../../src/demo/rpcBridge.js";
import { ReadingOracle__factory } from "../../types/ethers-contracts/index.js";
import { parseConfig } from "../../oracle/src/config.js";
import { startRelayer } from "../../oracle/src/service.js";
import { deriveLeaves } from "../../oracle/src/batch/deltas.js";
import { buildFastTree } from "../../oracle/src/batch/fastTree.js";
import type { Metrics } from "../../oracle/src/metrics.js";
import type { Hex } from "../../oracle/src/types.js";

// ---------------------------------------------------------------------------------------------- parameters
const int = (name: string, fallback: number) => {
  const raw = process.env[name];
  const v = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}=${raw} must be a positive whole number`);
  return v;
};
const METERS = Math.min(int("SOAK_METERS", 10_000), int("SOAK_READINGS", 1_000_000));
const INTERVALS = Math.max(2, Math.round(int("SOAK_READINGS", 1_000_000) / METERS));
const TOTAL = METERS * INTERVALS;
const WINDOW = int("SOAK_WINDOW", 2);
const SAMPLE_MS = int("SOAK_SAMPLE_MS", 2_000);
/** A full GC before every n-th sample (0: never), so that those samples show the retained heap. */
const GC_EVERY =
  process.env.SOAK_GC === undefined || process.env.SOAK_GC === ""
    ? TOTAL >= 500_000
      ? 5
      : 2 // a short run needs more retained-heap samples to judge
    : Number(process.env.SOAK_GC);
const WARMUP_FRACTION = 0.1;
/** Memory check: median of the last post-warm-up quartile minus that of the first, MiB. */
const HEAP_GROWTH_LIMIT_MIB = 10;
const RSS_GROWTH_LIMIT_MIB = 64;
/** A shorter post-warm-up phase (a quick SOAK_READINGS run) or fewer samples: memory checks skipped, not passed. */
const MIN_MEMORY_SAMPLES = 8;
const MIN_MEMORY_SECONDS = 60;
/** A run where nothing is processed for this long has lost readings (the meters wait for the relayer). */
const STALL_MS = 60_000;
const RELAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as Hex; // hardhat account 1
const OWNER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"; // hardhat account 3

const MiB = 2 ** 20;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = performance.now();
const elapsed = () => performance.now() - t0;
const say = (s: string) => console.log(`[${(elapsed() / 1000).toFixed(1).padStart(6)} s] ${s}`);

/** `global.gc` when run with --expose-gc, otherwise exposed at run time. */
function resolveGc(): { gc: () => void; how: string } {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return { gc: g, how: "--expose-gc" };
  setFlagsFromString("--expose-gc");
  return { gc: runInNewContext("gc") as () => void, how: "v8.setFlagsFromString('--expose-gc')" };
}

// ---------------------------------------------------------------------------------------------- metrics helpers
async function total(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((s, v) => s + v.value, 0);
}

async function outcomeCounts(m: Metrics) {
  const rejectedBy: Record<string, number> = {};
  for (const v of (await m.rejected.get()).values)
    if (v.value > 0) rejectedBy[String(v.labels.reason)] = (rejectedBy[String(v.labels.reason)] ?? 0) + v.value;
  const accepted = await total(m.accepted);
  const duplicate = await total(m.duplicates);
  const rejected = Object.values(rejectedBy).reduce((s, n) => s + n, 0);
  return { accepted, duplicate, rejected, rejectedBy, processed: accepted + duplicate + rejected };
}

/** Cumulative bucket counts of the ingest-latency histogram (upper bounds in seconds, +Inf last). */
async function latencyBuckets(m: Metrics): Promise<{ le: number; count: number }[]> {
  return (await m.ingestLatency.get()).values
    .filter((v) => v.metricName?.endsWith("_bucket"))
    .map((v) => ({ le: v.labels.le === "+Inf" ? Infinity : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
}

/**
 * Quantile `q` (ms) of the readings between two bucket snapshots, interpolated linearly inside the bucket as
 * Prometheus' histogram_quantile does; `upper` is the bucket's upper bound (ms). Null without observations.
 */
function quantile(
  now: { le: number; count: number }[],
  before: { le: number; count: number }[] | undefined,
  q: number,
): { ms: number; upperMs: number } | null {
  const counts = now.map((b, i) => b.count - (before?.[i]?.count ?? 0));
  const n = counts.at(-1) ?? 0;
  if (n <= 0) return null;
  const rank = q * n;
  const i = counts.findIndex((c) => c >= rank);
  const upper = now[i].le;
  const lower = i === 0 ? 0 : now[i - 1].le;
  if (!Number.isFinite(upper)) return { ms: lower * 1000, upperMs: Infinity };
  const below = i === 0 ? 0 : counts[i - 1];
  const inBucket = counts[i] - below;
  const ms = (lower + (upper - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000;
  return { ms: round(ms, 2), upperMs: upper * 1000 };
}

/** JSON has no NaN or Infinity: null where there is no figure. */
function fin(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

/** RssAnon and RssFile + RssShmem of this process, MiB (null where /proc is not there). */
function rssSplit(): { rssAnonMiB: number | null; rssFileShmemMiB: number | null } {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    const anon = kib("RssAnon");
    const file = kib("RssFile") + kib("RssShmem");
    return { rssAnonMiB: fin(round(anon / 1024)), rssFileShmemMiB: fin(round(file / 1024)) };
  } catch {
    return { rssAnonMiB: null, rssFileShmemMiB: null };
  }
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

// ---------------------------------------------------------------------------------------------- chain and meters
const dir = mkdtempSync(join(tmpdir(), "bench-soak-"));
say(
  `soak: ${METERS.toLocaleString("en")} meters × ${INTERVALS} intervals = ${TOTAL.toLocaleString("en")} readings; temp ${dir}`,
);
const conn = await network.connect();
const { ethers } = conn;
const provider = conn.provider;
const rpc = <T>(method: string, params: unknown[] = []) => provider.request({ method, params }) as Promise<T>;
const [keeper] = await ethers.getSigners();
const relayerAddress = new Wallet(RELAYER_KEY).address;
const { system, deployment } = await deploySystem(keeper, conn.networkName, {
  relayers: [relayerAddress],
  threshold: 1,
});
const deploymentPath = writeDeployment(dir, deployment);
for (const zone of [1, 2, 3]) await setZone(system.registry, zone, 1_000_000_000n, 1_000_000_000n);
const L = BigInt(deployment.params.intervalLength);
const latestTs = async () =>
  BigInt((await rpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false])).timestamp);
/** First interval: a little after now, so that registration happens before it (the clock then jumps to its end). */
const FIRST = (await latestTs()) / L + 3n;
const GRACE = BigInt(WINDOW) * L;
const end = (k: number) => (FIRST + BigInt(k) + 1n) * L;

// The meters sign their readings (child process, worker threads) while this process registers them.
const addressesFile = join(dir, "meters.json");
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "scripts/bench/soakPublisher.ts",
    String(METERS),
    String(INTERVALS),
    String(FIRST),
    String(L),
    String(deployment.chainId),
    deployment.contracts.MeterRegistry.address,
    addressesFile,
  ],
  { stdio: ["pipe", "pipe", "inherit"] },
);
let childExited = false;
child.on("exit", (code) => {
  childExited = true;
  if (code !== 0) console.error(`soak publisher exited with code ${code}`);
});
const childLines = createInterface({ input: child.stdout! });
const waiters: { prefix: string; resolve: (parts: string[]) => void }[] = [];
const published: { count: number; ms: number; at: number }[] = [];
let publisherDone: string[] | undefined;
childLines.on("line", (line) => {
  const parts = line.split(" ");
  if (parts[0] === "published")
    published[Number(parts[1])] = { count: Number(parts[2]), ms: Number(parts[3]), at: elapsed() };
  if (parts[0] === "done") publisherDone = parts;
  const i = waiters.findIndex((w) => w.prefix === parts[0]);
  if (i >= 0) waiters.splice(i, 1)[0].resolve(parts);
});
const fromChild = (prefix: string, timeoutMs = 600_000) =>
  new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`soak publisher: no "${prefix}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    waiters.push({
      prefix,
      resolve: (p) => {
        clearTimeout(timer);
        resolve(p);
      },
    });
  });
child.stdin!.on("error", () => undefined); // the publisher closes its stdin once done
const toChild = (line: string) => {
  if (!childExited && child.stdin!.writable) child.stdin!.write(line + "\n");
};
const signed = fromChild("signed");

await fromChild("addresses", 120_000);
const meterSpecs = JSON.parse(readFileSync(addressesFile, "utf8")) as {
  address: Hex;
  technology: (typeof TECHNOLOGIES)[number];
  ratedCapacityW: number;
}[];
say(`registering ${METERS.toLocaleString("en")} meters on chain (the meters sign their readings meanwhile) …`);
const registerStart = elapsed();
{
  const iface = system.registry.interface;
  const to = await system.registry.getAddress();
  const data = (i: number) =>
    iface.encodeFunctionData("registerMeter", [
      meterSpecs[i].address,
      {
        owner: OWNER,
        zone: (i % 3) + 1,
        technology: TECHNOLOGIES.indexOf(meterSpecs[i].technology),
        ratedCapacityW: meterSpecs[i].ratedCapacityW,
        recEligible: false,
        accreditationExpiry: 0,
      },
    ]);
  const gas = (BigInt(await rpc<string>("eth_estimateGas", [{ from: keeper.address, to, data: data(0) }])) * 13n) / 10n;
  const gasLimit = BigInt((await rpc<{ gasLimit: string }>("eth_getBlockByNumber", ["latest", false])).gasLimit);
  const perBlock = Math.max(1, Number(gasLimit / gas) - 1);
  let nonce = Number(BigInt(await rpc<string>("eth_getTransactionCount", [keeper.address, "pending"])));
  await rpc("evm_setAutomine", [false]);
  try {
    for (let i = 0; i < METERS; i += perBlock) {
      const sends: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(METERS, i + perBlock); j++)
        sends.push(
          rpc("eth_sendTransaction", [
            { from: keeper.address, to, data: data(j), gas: toBeHex(gas), nonce: toBeHex(nonce++) },
          ]),
        );
      await Promise.all(sends);
      await rpc("evm_mine");
    }
  } finally {
    await rpc("evm_setAutomine", [true]);
  }
  const count = await system.registry.meterCount();
  if (count !== BigInt(METERS)) throw new Error(`registered ${count} meters, expected ${METERS}`);
}
const registerMs = elapsed() - registerStart;
say(`registered in ${(registerMs / 1000).toFixed(1)} s; waiting for the meters' signatures …`);
const signMs = Number((await signed)[1]);
say(`${TOTAL.toLocaleString("en")} readings signed in ${(signMs / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------------------------------------- the relayer
const bridge = await startRpcBridge(provider);
let clock = (FIRST - 1n) * L; // before the first interval's end
process.env.SOAK_RELAYER_KEY = RELAYER_KEY;
const suffix = `${process.pid}-${Date.now()}`;
/** `meters/<meter>/readings`; on an external broker, which others may share, a topic tree of this run's own. */
const TOPIC_ROOT = process.env.MQTT_URL ? `soak-${suffix}` : "meters";
const config = parseConfig(
  {
    relayerId: "soak",
    // Simulated time runs several hundred times faster than real time: chain polling (registry events, vote
    // receipts; default 2 s) and batch polling (default 1 s) are scaled down to 250 ms. Everything else: defaults.
    chain: { rpcUrl: bridge.url, deployment: deploymentPath, privateKeyEnv: "SOAK_RELAYER_KEY", pollMs: 250 },
    store: { sqlitePath: join(dir, "relayer.sqlite") },
    mqtt: { embeddedPort: 0, clientId: `soak-relayer-${suffix}`, topic: `${TOPIC_ROOT}/+/readings` },
    http: { port: 0 },
    batch: { graceSeconds: Number(GRACE), pollMs: 250 },
    log: { level: "warn" },
  },
  process.env.MQTT_URL ? { MQTT_URL: process.env.MQTT_URL } : {}, // the store is always this run's SQLite file
);
const logPath = join(dir, "relayer.log");
const relayer = await startRelayer(config, {
  log: pino({ level: "warn" }, pino.destination({ dest: logPath, sync: true })),
  now: () => clock,
});
await relayer.mqttReady;
const health = (await (await fetch(`${relayer.httpUrl}/health`)).json()) as { meters: number };
if (health.meters !== METERS) throw new Error(`the relayer mirrors ${health.meters} meters, not ${METERS}`);
const brokerKind = process.env.MQTT_URL ? `external (${process.env.MQTT_URL})` : "embedded (aedes, in this process)";
toChild(`connect ${relayer.mqttUrl} ${TOPIC_ROOT}`);
await fromChild("connected", 30_000);
say(`relayer up (broker ${brokerKind}, ${config.ingest.workers} verifier threads); publishing …`);

// ---------------------------------------------------------------------------------------------- sampling
interface Sample {
  t: number;
  processed: number;
  queue: number;
  rssMiB: number;
  heapUsedMiB: number;
  /** heapUsed right after a forced full GC (every GC_EVERY-th sample): the retained heap. */
  heapAfterGcMiB: number | null;
  heapTotalMiB: number;
  /** RSS minus the V8 heap's resident pages: native memory (SQLite's cache, buffers, the chain, the allocator). */
  nonHeapRssMiB: number;
  /** RSS split by the kernel (Linux, /proc/self/status): anonymous (heaps, malloc) and file-backed/shared (mmap). */
  rssAnonMiB: number | null;
  rssFileShmemMiB: number | null;
  externalMiB: number;
  ratePerS: number;
  p50Ms: number | null;
  p99Ms: number | null;
  finalInterval: number | null;
  /** CPU time of this process (all threads) per wall second since the previous sample, % of one core. */
  cpuPercent: number;
  /** Event-loop delay of this thread since the previous sample, p99 and max, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** 1-minute load average of the machine (2 cores: above 2, other work competes for the CPU). */
  load1: number;
  buckets: { le: number; count: number }[];
}
const { gc, how: gcHow } = resolveGc();
const samples: Sample[] = [];
let sampling = true;
let sampleBusy = false;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let lastCpu = { usage: process.cpuUsage(), at: performance.now() };
const takeSample = async (final = false): Promise<Sample> => {
  const cpu = process.cpuUsage(lastCpu.usage);
  const cpuPercent = Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - lastCpu.at)) * 100);
  lastCpu = { usage: process.cpuUsage(), at: performance.now() };
  const delay = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  loopDelay.reset();
  const forceGc = GC_EVERY > 0 && (samples.length % GC_EVERY === 0 || final);
  if (forceGc) gc();
  const mem = process.memoryUsage();
  const counts = await outcomeCounts(relayer.metrics);
  const buckets = await latencyBuckets(relayer.metrics);
  const prev = samples.at(-1);
  const t = elapsed();
  const last = (await relayer.metrics.lastFinalInterval.get()).values[0]?.value;
  return {
    t: round(t / 1000, 2),
    processed: counts.processed,
    queue: relayer.ingestor.depth,
    rssMiB: round(mem.rss / MiB),
    heapUsedMiB: round(mem.heapUsed / MiB),
    heapAfterGcMiB: forceGc ? round(mem.heapUsed / MiB) : null,
    heapTotalMiB: round(mem.heapTotal / MiB),
    nonHeapRssMiB: round((mem.rss - getHeapStatistics().total_physical_size) / MiB),
    ...rssSplit(),
    externalMiB: round(mem.external / MiB),
    ratePerS: prev ? Math.round((counts.processed - prev.processed) / (t / 1000 - prev.t)) : 0,
    p50Ms: quantile(buckets, prev?.buckets, 0.5)?.ms ?? null,
    p99Ms: quantile(buckets, prev?.buckets, 0.99)?.ms ?? null,
    finalInterval: last ? Number(BigInt(last) - FIRST) : null,
    cpuPercent,
    loopDelayP99Ms: round(delay.p99),
    loopDelayMaxMs: round(delay.max),
    load1: round(loadavg()[0], 2),
    buckets,
  };
};
const sampler = setInterval(() => {
  if (!sampling || sampleBusy) return;
  sampleBusy = true;
  takeSample()
    .then((s) => {
      samples.push(s);
      if (samples.length % 10 === 0)
        say(
          `${s.processed.toLocaleString("en")} processed, ${s.ratePerS.toLocaleString("en")}/s, queue ${s.queue}, ` +
            `heap ${s.heapUsedMiB} MiB, rss ${s.rssMiB} MiB, p99 ${s.p99Ms ?? "–"} ms, final ${s.finalInterval ?? "–"}, ` +
            `cpu ${s.cpuPercent}%, loop p99 ${s.loopDelayP99Ms} ms, load ${s.load1}`,
        );
    })
    .catch((e: Error) => console.error(`sample failed: ${e.message}`))
    .finally(() => (sampleBusy = false));
}, SAMPLE_MS);

/** Diagnostics (SOAK_CPU_PROFILE=<seconds>): a CPU profile of this thread, taken after warm-up. */
async function profileMainThread(seconds: number): Promise<void> {
  const { Session } = await import("node:inspector/promises");
  while ((await outcomeCounts(relayer.metrics)).processed < WARMUP_FRACTION * TOTAL) await sleep(500);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  await sleep(seconds * 1000);
  const { profile } = await session.post("Profiler.stop");
  const path = join(tmpdir(), `soak-${process.pid}.cpuprofile`);
  writeFileSync(path, JSON.stringify(profile));
  session.disconnect();
  say(`CPU profile of the main thread written to ${path}`);
}

// ---------------------------------------------------------------------------------------------- the run
const setClock = async (t: bigint) => {
  if (t <= clock) return;
  if ((await latestTs()) < t) {
    await rpc("evm_setNextBlockTimestamp", [Number(t)]);
    await rpc("evm_mine");
  }
  clock = t;
  const at = elapsed();
  for (let k = 0; k < INTERVALS; k++) if (sealAt[k] === undefined && end(k) + GRACE <= clock) sealAt[k] = at;
};
const allowedAt: number[] = [];
const processedAt: number[] = [];
const sealAt: (number | undefined)[] = new Array(INTERVALS);
let allowed = -1;
let lastProgress = { processed: -1, at: elapsed() };
let stalled: string | undefined;
const runStart = elapsed();
if (process.env.SOAK_CPU_PROFILE) void profileMainThread(Number(process.env.SOAK_CPU_PROFILE));
for (;;) {
  const { processed } = await outcomeCounts(relayer.metrics);
  const now = elapsed();
  while (processedAt.length < INTERVALS && processed >= (processedAt.length + 1) * METERS) processedAt.push(now);
  if (processed !== lastProgress.processed) lastProgress = { processed, at: now };
  if (processed >= TOTAL && published.filter(Boolean).length === INTERVALS) break;
  const next = allowed + 1;
  if (next < INTERVALS && processed >= Math.max(0, next - WINDOW + 1) * METERS) {
    // The meters publish interval `next` at its end; intervals ≤ next - WINDOW pass their grace period now.
    await setClock(end(next) + 1n);
    allowedAt[next] = elapsed();
    toChild(`allow ${next}`);
    allowed = next;
    continue;
  }
  const publisherFailed = childExited && publisherDone === undefined;
  if (now - lastProgress.at > STALL_MS || publisherFailed) {
    stalled = `${processed.toLocaleString("en")} of ${TOTAL.toLocaleString("en")} readings processed; nothing for ${Math.round((now - lastProgress.at) / 1000)} s (publisher ${publisherFailed ? "exited early" : "running"})`;
    say(`STALLED: ${stalled}`);
    break;
  }
  await sleep(20);
}
const ingestEnd = elapsed();
const endOfIngest = await takeSample(true);
samples.push(endOfIngest);
say(
  `ingest done: ${endOfIngest.processed.toLocaleString("en")} readings in ${((ingestEnd - runStart) / 1000).toFixed(1)} s; sealing the last intervals …`,
);

// Past the grace period of the last interval: everything is sealed and voted on.
await setClock(end(INTERVALS - 1) + GRACE + 1n);
const lastId = FIRST + BigInt(INTERVALS - 1);
const drainDeadline = elapsed() + 300_000; // votes left behind by a saturated ingest go out now
for (;;) {
  const unfinished = await relayer.store.unfinishedIntervals(); // ids only: leaves stay on disk
  const toBatch = await relayer.store.intervalsToBatch(lastId);
  if (unfinished.length === 0 && toBatch.length === 0 && (await relayer.store.getBatch(lastId)) !== undefined) break;
  if (elapsed() > drainDeadline || stalled) break;
  await sleep(50);
}
const drainEnd = elapsed();
sampling = false;
clearInterval(sampler);
while (sampleBusy) await sleep(10);
const finalSample = await takeSample(true);
samples.push(finalSample);
say(`roots posted; checking …`);

// ---------------------------------------------------------------------------------------------- checks
const counts = await outcomeCounts(relayer.metrics);
const publishedTotal = published.reduce((s, p) => s + (p?.count ?? 0), 0);
const oracle = ReadingOracle__factory.connect(deployment.contracts.ReadingOracle.address, ethers.provider);
const ZERO_ROOT = `0x${"0".repeat(64)}`;
const perInterval: {
  k: number;
  published: number;
  stored: number;
  leaves: number | null;
  expectedLeaves: number;
  rootMatches: boolean;
  status: string | null;
  chain: string;
  sealToFinalMs: number | null;
}[] = [];
{
  const seen = new Set<string>();
  for (let k = 0; k < INTERVALS; k++) {
    const id = FIRST + BigInt(k);
    const readings = await relayer.store.readingsOfInterval(id);
    const expectedLeaves = readings.filter((r) => seen.has(r.meter)).length;
    for (const r of readings) seen.add(r.meter);
    const batch = await relayer.store.getBatch(id);
    const derived = deriveLeaves(id, readings, await relayer.store.baselinesFor(id));
    const root = derived.leaves.length === 0 ? ZERO_ROOT : buildFastTree(id, derived.leaves).root;
    let chain = "not voted (no leaves)";
    if (batch !== undefined && batch.leafCount > 0) {
      const info = await oracle.getInterval(id);
      const ok = Number(info.status) === 2 && info.root === batch.root && Number(info.leafCount) === batch.leafCount;
      chain = ok ? "final" : `status ${info.status}, root ${info.root}, leaves ${info.leafCount}`;
    }
    perInterval.push({
      k,
      published: published[k]?.count ?? 0,
      stored: readings.length,
      leaves: batch?.leafCount ?? null,
      expectedLeaves,
      rootMatches: batch !== undefined && batch.root === root && batch.leafCount === derived.leaves.length,
      status: batch?.status ?? null,
      chain,
      sealToFinalMs:
        batch?.status === "final" && sealAt[k] !== undefined
          ? Math.round(batch.updatedAt - (performance.timeOrigin + sealAt[k]! + t0))
          : null,
    });
  }
}
const storedTotal = await relayer.store.countReadings();
const logLines = readFileSync(logPath, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { level: number; msg: string; err?: string });
const errorsLogged = logLines.filter((l) => l.level >= 50);

// Memory and latency after warm-up.
const ingestSamples = samples.filter((s) => s.t * 1000 <= ingestEnd + 1 || s === endOfIngest);
const warm = ingestSamples.filter((s) => s.processed >= WARMUP_FRACTION * TOTAL);
const quarter = Math.max(1, Math.floor(warm.length / 4));
const q1 = warm.slice(0, quarter);
const q4 = warm.slice(-quarter);
/** A memory series after warm-up: quartile medians (first vs last quarter of its samples) and the linear trend. */
const memSeries = (
  key:
    "heapAfterGcMiB" | "heapUsedMiB" | "rssMiB" | "nonHeapRssMiB" | "heapTotalMiB" | "rssAnonMiB" | "rssFileShmemMiB",
) => {
  const points = warm.filter((s) => s[key] !== null);
  const value = (s: Sample) => s[key]!;
  const n = Math.max(1, Math.floor(points.length / 4));
  const first = round(median(points.slice(0, n).map(value)), 2);
  const last = round(median(points.slice(-n).map(value)), 2);
  return {
    samples: points.length,
    atWarmupMiB: points[0] ? value(points[0]) : null,
    atEndOfIngestMiB: endOfIngest[key],
    afterLastRootMiB: finalSample[key],
    firstQuartileMedianMiB: fin(first),
    lastQuartileMedianMiB: fin(last),
    growthMiB: fin(round(last - first)),
    growthPercent: fin(round(((last - first) / first) * 100)),
    slopeMiBPer100kReadings: fin(
      round(
        slope(
          points.map((s) => s.processed / 100_000),
          points.map(value),
        ),
        2,
      ),
    ),
    peakMiB: fin(Math.max(...samples.filter((s) => s[key] !== null).map(value))),
  };
};
const heapSeries = GC_EVERY > 0 ? "heapAfterGcMiB" : "heapUsedMiB";
const heap = memSeries(heapSeries);
const heapRaw = memSeries("heapUsedMiB");
const rss = memSeries("rssMiB");
const nonHeapRss = memSeries("nonHeapRssMiB");
const rssAnon = memSeries("rssAnonMiB");
const rssFile = memSeries("rssFileShmemMiB");
const heapTotal = memSeries("heapTotalMiB");
const warmStart = warm[0];
const latency = (before: Sample["buckets"] | undefined, after: Sample["buckets"]) => ({
  p50Ms: quantile(after, before, 0.5)?.ms ?? null,
  p95Ms: quantile(after, before, 0.95)?.ms ?? null,
  p99Ms: quantile(after, before, 0.99)?.ms ?? null,
  p99BucketUpperMs: quantile(after, before, 0.99)?.upperMs ?? null,
});
const rates = warm.slice(1).map((s) => s.ratePerS);
if (rates.length === 0) rates.push(NaN);
const ingestSeconds = (ingestEnd - runStart) / 1000;
const sealToFinal = perInterval.map((p) => p.sealToFinalMs).filter((x): x is number => x !== null);
const turnaround = processedAt.map((t, k) => t - (allowedAt[k] ?? t));

/** Why memory growth cannot be judged on this run, if it cannot: too short after warm-up, or not completed. */
const postWarmupSeconds = warm.length > 1 ? warm.at(-1)!.t - warm[0].t : 0;
const tooShort = stalled
  ? "the run did not complete"
  : postWarmupSeconds < MIN_MEMORY_SECONDS || heap.samples < MIN_MEMORY_SAMPLES
    ? `${Math.round(postWarmupSeconds)} s and ${heap.samples} retained-heap samples after warm-up; at least ${MIN_MEMORY_SECONDS} s and ${MIN_MEMORY_SAMPLES} needed to judge growth: run the full soak`
    : undefined;
const lostIntervals = perInterval.filter((p) => p.stored !== p.published || p.published !== METERS);
const badBatches = perInterval.filter((p) => p.leaves !== p.expectedLeaves || !p.rootMatches);
const notFinal = perInterval.filter((p) => p.status !== "final" || (p.expectedLeaves > 0 && p.chain !== "final"));
const checks: Record<string, { pass: boolean | "skip"; detail: string }> = {
  allPublished: {
    pass: publishedTotal === TOTAL && !stalled,
    detail: `${publishedTotal.toLocaleString("en")} of ${TOTAL.toLocaleString("en")} readings published${stalled ? `; stalled: ${stalled}` : ""}`,
  },
  noLostReadings: {
    pass: lostIntervals.length === 0 && storedTotal === publishedTotal,
    detail: `store holds ${storedTotal.toLocaleString("en")} readings; per interval stored == published for ${INTERVALS - lostIntervals.length} of ${INTERVALS} intervals`,
  },
  outcomesAddUp: {
    pass:
      counts.accepted + counts.duplicate + counts.rejected === publishedTotal &&
      counts.rejected === 0 &&
      counts.accepted === storedTotal,
    detail: `accepted ${counts.accepted} + duplicate ${counts.duplicate} + rejected ${counts.rejected} = ${counts.processed} (published ${publishedTotal})${counts.rejected ? `; rejected: ${JSON.stringify(counts.rejectedBy)}` : ""}`,
  },
  batchesMatchReporters: {
    pass: badBatches.length === 0,
    detail: `${INTERVALS - badBatches.length} of ${INTERVALS} sealed batches have one leaf per meter that reported (with a baseline) and the root rebuilt from the store`,
  },
  rootsFinalOnChain: {
    pass: notFinal.length === 0,
    detail: `${perInterval.filter((p) => p.chain === "final").length} roots final on chain (${perInterval.filter((p) => p.expectedLeaves === 0).length} baseline-only interval(s) without leaves, final locally); not final: ${notFinal.map((p) => p.k).join(", ") || "none"}`,
  },
  heapFlatAfterWarmup: {
    pass: tooShort ? "skip" : heap.growthMiB !== null && heap.growthMiB < HEAP_GROWTH_LIMIT_MIB,
    detail: `heap${GC_EVERY > 0 ? " after a full GC" : " (no forced GC)"}: median of the first post-warm-up quartile ${heap.firstQuartileMedianMiB} MiB, of the last ${heap.lastQuartileMedianMiB} MiB (growth ${heap.growthMiB} MiB, limit ${HEAP_GROWTH_LIMIT_MIB}); slope ${heap.slopeMiBPer100kReadings} MiB per 100k readings over ${heap.samples} samples${tooShort ? ` (${tooShort})` : ""}`,
  },
  rssFlatAfterWarmup: {
    pass: tooShort ? "skip" : rss.growthMiB !== null && rss.growthMiB < RSS_GROWTH_LIMIT_MIB,
    detail: `RSS: ${rss.firstQuartileMedianMiB} → ${rss.lastQuartileMedianMiB} MiB (growth ${rss.growthMiB} MiB, limit ${RSS_GROWTH_LIMIT_MIB}: SQLite's 64 MiB page cache fills as the file grows); slope ${rss.slopeMiBPer100kReadings} MiB per 100k readings${tooShort ? ` (${tooShort})` : ""}`,
  },
  noErrorsLogged: {
    pass: errorsLogged.length === 0,
    detail: `${errorsLogged.length} error(s) in the relayer's log${errorsLogged.length ? `: ${[...new Set(errorsLogged.map((l) => `${l.msg}${l.err ? ` (${l.err})` : ""}`))].slice(0, 3).join("; ")}` : ""}`,
  },
};

// ---------------------------------------------------------------------------------------------- report
await relayer.stop();
await bridge.close();
toChild("end");
for (let i = 0; i < 100 && !childExited; i++) await sleep(50);
if (!childExited) child.kill();

const step = Math.max(1, Math.ceil(samples.length / 120));
const result = {
  machine: `${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB; shared and noisy: figures vary between runs`,
  command: "npm run bench:soak",
  setup: {
    meters: METERS,
    intervals: INTERVALS,
    readings: TOTAL,
    intervalLengthSeconds: Number(L),
    graceSeconds: Number(GRACE),
    metersAheadIntervals: WINDOW,
    clock:
      "simulated (service `now` option + chain timestamp), advanced as the meters publish; see scripts/bench/soak.ts",
    broker: brokerKind,
    store: "SQLite in a temporary folder",
    verifierThreads: config.ingest.workers,
    ingestBatchSize: config.ingest.batchSize,
    maxQueue: config.ingest.maxQueue,
    publisher: "separate process, readings pre-signed on worker threads, QoS 1, 2,000 in flight",
    sampleEveryMs: SAMPLE_MS,
    forcedGc: GC_EVERY > 0 ? `before every ${GC_EVERY}th sample (${gcHow})` : false,
    warmup: `first ${WARMUP_FRACTION * 100}% of readings`,
    node: process.version,
  },
  timing: {
    registerMetersS: round(registerMs / 1000),
    presignS: round(signMs / 1000),
    ingestS: round(ingestSeconds),
    lastRootsAfterIngestS: round((drainEnd - ingestEnd) / 1000),
    totalS: round(elapsed() / 1000),
    publisherCpuS: publisherDone ? round(Number(publisherDone[1]) / 1000) : null,
  },
  totals: {
    published: publishedTotal,
    accepted: counts.accepted,
    duplicate: counts.duplicate,
    rejected: counts.rejected,
    rejectedBy: counts.rejectedBy,
    stored: storedTotal,
    batches: perInterval.filter((p) => p.leaves !== null).length,
    rootsFinalOnChain: perInterval.filter((p) => p.chain === "final").length,
    warningsLogged: logLines.filter((l) => l.level === 40).length,
    errorsLogged: errorsLogged.length,
  },
  rate: {
    readingsPerSecond: Math.round(publishedTotal / ingestSeconds),
    afterWarmupReadingsPerSecond:
      warmStart && endOfIngest.t > warmStart.t
        ? Math.round((endOfIngest.processed - warmStart.processed) / (endOfIngest.t - warmStart.t))
        : null,
    perSampleMin: fin(Math.min(...rates)),
    perSampleMedian: fin(median(rates)),
    perSampleMax: fin(Math.max(...rates)),
  },
  latency: {
    source: "relayer_ingest_latency_seconds (receipt by the relayer → stored), interpolated within buckets",
    all: latency(undefined, endOfIngest.buckets),
    afterWarmup: latency(warmStart?.buckets, endOfIngest.buckets),
    firstQuartile: q1.length > 1 ? latency(q1[0].buckets, q1.at(-1)!.buckets) : null,
    lastQuartile: q4.length > 1 ? latency(q4[0].buckets, q4.at(-1)!.buckets) : null,
    queueDepthMax: Math.max(...samples.map((s) => s.queue)),
  },
  intervals: {
    publishMsMedian: fin(median(published.filter(Boolean).map((p) => p.ms))),
    publishToProcessedMsMedian: fin(Math.round(median(turnaround))),
    publishToProcessedMsP95: fin(Math.round(percentile(turnaround, 0.95))),
    graceEndToRootFinalMsMedian: fin(median(sealToFinal)),
    graceEndToRootFinalMsP95: fin(percentile(sealToFinal, 0.95)),
    graceEndToRootFinalMsMax: fin(Math.max(...sealToFinal)),
  },
  memory: {
    [GC_EVERY > 0 ? "heapAfterGc" : "heapUsed"]: heap,
    heapUsedWithoutGc: heapRaw,
    heapTotal,
    rss,
    rssOutsideV8Heap: nonHeapRss,
    rssAnon,
    rssFileAndShmem: rssFile,
  },
  checks,
  samples: samples.filter((_s, i) => i % step === 0 || i === samples.length - 1).map(({ buckets: _b, ...s }) => s),
};
const OUT = process.env.SOAK_OUT || "bench/soak.json";
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");

const table = [
  [
    "readings",
    `${publishedTotal.toLocaleString("en")} (${METERS.toLocaleString("en")} meters × ${INTERVALS} intervals)`,
  ],
  [
    "ingest",
    `${result.timing.ingestS} s, ${result.rate.readingsPerSecond.toLocaleString("en")} readings/s (after warm-up ${result.rate.afterWarmupReadingsPerSecond?.toLocaleString("en")}/s; per sample ${result.rate.perSampleMin?.toLocaleString("en")}–${result.rate.perSampleMax?.toLocaleString("en")})`,
  ],
  [
    "latency p50 / p95 / p99",
    `${result.latency.afterWarmup.p50Ms} / ${result.latency.afterWarmup.p95Ms} / ${result.latency.afterWarmup.p99Ms} ms (after warm-up)`,
  ],
  ["queue depth max", String(result.latency.queueDepthMax)],
  [
    "grace end → root final",
    `median ${result.intervals.graceEndToRootFinalMsMedian} ms, max ${result.intervals.graceEndToRootFinalMsMax} ms`,
  ],
  [
    "heap at warm-up → end",
    `${heap.atWarmupMiB} → ${heap.atEndOfIngestMiB} MiB (quartile medians ${heap.firstQuartileMedianMiB} → ${heap.lastQuartileMedianMiB}; slope ${heap.slopeMiBPer100kReadings} MiB/100k)`,
  ],
  [
    "RSS at warm-up → end",
    `${rss.atWarmupMiB} → ${rss.atEndOfIngestMiB} MiB (quartile medians ${rss.firstQuartileMedianMiB} → ${rss.lastQuartileMedianMiB}; slope ${rss.slopeMiBPer100kReadings} MiB/100k)`,
  ],
  [
    "run time",
    `${result.timing.totalS} s (register ${result.timing.registerMetersS} s, pre-sign ${result.timing.presignS} s, ingest ${result.timing.ingestS} s)`,
  ],
];
const w = Math.max(...table.map((r) => r[0].length));
console.log("\n" + table.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n"));
console.log("\nchecks:");
for (const [name, c] of Object.entries(checks))
  console.log(`  ${c.pass === "skip" ? "SKIP" : c.pass ? "PASS" : "FAIL"}  ${name}: ${c.detail}`);
console.log(`\nwritten to ${OUT}`);
const failed = Object.values(checks).some((c) => c.pass === false);
if (!failed) rmSync(dir, { recursive: true, force: true });
else console.log(`relayer store and log kept in ${dir}`);
process.exit(failed ? 1 : 0);
