/**
 * Fault tests of the relayer as a separate process: SIGKILL during ingest, SIGKILL between a vote landing and its
 * status being recorded, and the JSON-RPC node unreachable across the moment an interval is sealed. The relayer
 * runs in `fixtures/relayerProcess.ts`; the chain is Hardhat's in-process network served over HTTP, deployed with
 * 10-second intervals so that real intervals end (and are sealed) while the tests run.
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync, type WriteStream } from "node:fs";
import { createConnection, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { network } from "hardhat";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { deploySystem, writeDeployment, type Deployment, type System } from "../../src/deploy.js";
import { registerMeter, setZone } from "../../src/ops/meters.js";
import type { RelayerConfigInput } from "../../oracle/src/config.js";
import { SqliteStore } from "../../oracle/src/store/sqlite.js";
import { createMeters, type SimulatedMeter, toMeterInput } from "../../oracle/simulator/keys.js";
import { ReadingSigner, toPayload } from "../../oracle/simulator/sign.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";
import { HARDHAT_KEYS, getJson, until } from "./helpers.js";

/** Hardhat's default accounts 0 (deployer) and 1 (the only committee relayer, threshold 1). */
const [DEPLOYER_KEY, RELAYER_KEY] = HARDHAT_KEYS;
const RELAYER_KEY_ENV = "FAULTS_RELAYER_KEY";
const INTERVAL = 10n;
const ROOT_DIR = fileURLToPath(new URL("../../", import.meta.url));
const HARNESS = fileURLToPath(new URL("./fixtures/relayerProcess.ts", import.meta.url));
/** Final status of `IReadingOracle.Status`. */
const STATUS_FINAL = 2n;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** Waits until the wall clock reaches `t` (seconds). */
async function untilTime(t: bigint): Promise<void> {
  while (nowSeconds() < t) await sleep(100);
}

/** A relayer child process: its stdout lines (harness lines and JSON logs), and how it ended. */
class RelayerChild {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly proc: ChildProcess;
  private readonly log: WriteStream;
  private killing?: Promise<void>;

  constructor(configPath: string, logPath: string, env: Record<string, string> = {}) {
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      [RELAYER_KEY_ENV]: RELAYER_KEY,
      EXIT_WITH_STDIN: "1", // the child also goes if this process dies without cleaning up
      ...env,
    };
    // The config alone decides: no PostgreSQL, broker or RPC override from the test environment.
    for (const name of ["DATABASE_URL", "MQTT_URL", "RELAYER_RPC_URL", "NODE_OPTIONS"]) delete childEnv[name];
    this.log = createWriteStream(logPath, { flags: "a" });
    this.proc = spawn(process.execPath, ["--import", "tsx", HARNESS, configPath], {
      cwd: ROOT_DIR,
      env: childEnv,
      stdio: ["pipe", "pipe", "pipe"],
    });
    // `close`, not `exit`: every line the process wrote has been read by then.
    this.exited = new Promise((resolve) => {
      this.proc.once("close", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      if (!this.log.writableEnded) this.log.write(line + "\n");
      if (!line.startsWith("{")) this.lines.push(line);
    });
    createInterface({ input: this.proc.stderr! }).on("line", (line) => {
      if (!this.log.writableEnded) this.log.write("[stderr] " + line + "\n");
      this.lines.push("[stderr] " + line);
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The API URL from the `ready` line; fails if the process ends first. */
  async ready(timeoutMs = 90_000): Promise<string> {
    return until(
      "the relayer process to print ready",
      async () => {
        const line = this.lines.find((l) => l.startsWith("ready "));
        if (line !== undefined) return line.slice("ready ".length).trim();
        if (this.exit !== undefined)
          throw new Error(`relayer exited (${JSON.stringify(this.exit)}) before ready: ${this.lines.join(" | ")}`);
        return undefined;
      },
      timeoutMs,
    );
  }

  /** Statuses the harness printed for an interval's vote attempts. */
  posts(intervalId: bigint): string[] {
    return this.lines.filter((l) => l.startsWith(`post ${intervalId} `)).map((l) => l.split(" ")[2]);
  }

  /**
   * The vote attempts that reached the chain: without `not_ended`, an attempt made while the node's clock (which
   * advances only with blocks) had not passed the interval's end yet — it sends nothing and is retried; how many
   * there are depends on the machine's load. The tests count the transactions separately.
   */
  votes(intervalId: bigint): string[] {
    return this.posts(intervalId).filter((p) => p !== "not_ended");
  }

  /** SIGKILLs the process (if still running) and waits for it to end. Idempotent. */
  kill(): Promise<void> {
    this.killing ??= (async () => {
      if (this.exit === undefined) this.proc.kill("SIGKILL");
      await this.exited;
      await new Promise<void>((r) => this.log.end(r));
    })();
    return this.killing;
  }
}

/** A TCP forwarder to the JSON-RPC server that can be taken down (connections refused) and brought back. */
class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = createTcpServer((client) => {
      const upstream = createConnection(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    // The port of the first start is reused on a restart; retry briefly if the OS has not released it yet.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(this.port, "127.0.0.1", () => {
            server.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || Date.now() > deadline) throw e;
        await sleep(100);
      }
    }
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Closes the listener and destroys every connection: the node is unreachable until `start()`. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type IngestResponse = { accepted: number; duplicate: number; rejected: number; results: any[] };

async function postReadings(httpUrl: string, readings: SignedReading[]): Promise<IngestResponse> {
  const res = await fetch(`${httpUrl}/readings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(readings.map(toPayload)),
  });
  const body = (await res.json()) as IngestResponse;
  if (!Array.isArray(body.results)) throw new Error(`unexpected answer ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

describe("relayer faults (relayer in a child process: SIGKILL, RPC outage)", function () {
  this.timeout(180_000);
  const base = mkdtempSync(join(tmpdir(), "relayer-faults-"));
  let server: Awaited<ReturnType<typeof network.createServer>>;
  let rpcHost: string;
  let rpcPort: number;
  let provider: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let deploymentPath: string;
  let meters: SimulatedMeter[];
  let signer: ReadingSigner;
  const relayerAddress = new Wallet(RELAYER_KEY).address;
  const children: RelayerChild[] = [];
  const proxies: TcpProxy[] = [];
  let caseNo = 0;
  let keepLogs = false;

  /** A fresh directory and config for one relayer (SQLite file, HTTP on any port, no MQTT). */
  function relayerConfig(overrides: { rpcUrl?: string; graceSeconds: number; clockSkewSeconds: number }): {
    dir: string;
    configPath: string;
    sqlitePath: string;
  } {
    const caseDir = mkdtempSync(join(base, `case-${++caseNo}-`));
    const sqlitePath = join(caseDir, "relayer.sqlite");
    const config: RelayerConfigInput = {
      relayerId: `faults-${caseNo}`,
      chain: {
        rpcUrl: overrides.rpcUrl ?? `http://${rpcHost}:${rpcPort}`,
        deployment: deploymentPath,
        privateKeyEnv: RELAYER_KEY_ENV,
        pollMs: 100,
      },
      store: { sqlitePath },
      http: { host: "127.0.0.1", port: 0 },
      ingest: { workers: 1, clockSkewSeconds: overrides.clockSkewSeconds },
      batch: { graceSeconds: overrides.graceSeconds, pollMs: 200 },
      log: { level: "info" },
    };
    const configPath = join(caseDir, "relayer.json");
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    return { dir: caseDir, configPath, sqlitePath };
  }

  function startChild(dir: string, configPath: string, env: Record<string, string> = {}): RelayerChild {
    const child = new RelayerChild(configPath, join(dir, `relayer-${children.length}.log`), env);
    children.push(child);
    return child;
  }

  /** Cumulative registers of a meter at an interval: a few Wh per 10 s interval, within every meter's capacity. */
  function reading(m: SimulatedMeter, index: number, intervalId: bigint): SignedReading {
    const k = BigInt(index);
    return signer.sign(m.privateKey, {
      meter: m.meter as Hex,
      intervalId,
      importWhTotal: 1_000_000n + intervalId * (1n + (k % 3n)),
      exportWhTotal: 2_000_000n + intervalId * (1n + (k % 5n)),
      timestamp: (intervalId + 1n) * INTERVAL,
    });
  }

  /**
   * Two consecutive intervals `[a, b]` for readings sent now: `a` (the baselines) stays open at least `marginS`
   * seconds more, so that `b` is sealed 10–20 s after the margin.
   */
  function nextPair(graceSeconds: bigint, marginS = 5n): [bigint, bigint] {
    const a = (nowSeconds() + marginS - graceSeconds) / INTERVAL;
    return [a, a + 1n];
  }

  /** Mines a block when the chain's clock is behind the wall clock (a vote needs its interval ended on chain). */
  async function mineIfBehind(): Promise<void> {
    const latest = await provider.getBlock("latest");
    if (latest !== null && BigInt(latest.timestamp) < nowSeconds()) await provider.send("evm_mine", []);
  }

  async function rootSubmissions(intervalId: bigint) {
    return system.oracle.queryFilter(
      system.oracle.filters.RootSubmitted(intervalId, relayerAddress),
      deployment.block,
      "latest",
    );
  }

  /** The batch the relayer stored for an interval, read from its SQLite file (safe while the relayer runs). */
  async function storedBatch(sqlitePath: string, intervalId: bigint) {
    const store = new SqliteStore(sqlitePath);
    await store.open();
    try {
      return await store.getBatch(intervalId);
    } finally {
      await store.close();
    }
  }

  before(async function () {
    server = await network.createServer("default", "127.0.0.1", 0);
    const { address, port } = await server.listen();
    [rpcHost, rpcPort] = [address, port];
    provider = new JsonRpcProvider(`http://${address}:${port}`, undefined, { pollingInterval: 50 });
    const deployer = new NonceManager(new Wallet(DEPLOYER_KEY, provider));
    ({ system, deployment } = await deploySystem(deployer as never, "faults", {
      intervalLength: INTERVAL,
      relayers: [relayerAddress],
      threshold: 1,
    }));
    deploymentPath = writeDeployment(base, deployment);
    for (const zone of [1, 2, 3]) await setZone(system.registry, zone, 100_000n, 100_000n);
    meters = createMeters({
      count: 50,
      owners: ["0x90F79bf6EB2c4f870365E785982E1f101E93b906", "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"],
      zones: 3,
      seed: 23,
      accreditationExpiry: Math.floor(Date.now() / 1000) + 86_400 * 365,
    });
    // Registered ten at a time (the nonce manager numbers them; the node mines them in nonce order).
    for (let i = 0; i < meters.length; i += 10)
      await Promise.all(meters.slice(i, i + 10).map((m) => registerMeter(system.registry, toMeterInput(m))));
    signer = new ReadingSigner({
      chainId: BigInt(deployment.chainId),
      verifyingContract: deployment.contracts.MeterRegistry.address,
    });
  });

  afterEach(async function () {
    // Whatever happened, no relayer process and no proxy outlives its test.
    await Promise.all(children.splice(0).map((c) => c.kill()));
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
    if (this.currentTest?.state === "failed") keepLogs = true;
  });

  after(async function () {
    await Promise.all(children.splice(0).map((c) => c.kill()));
    provider?.destroy();
    await server?.close();
    if (keepLogs) console.log(`    relayer logs and stores kept in ${base}`);
    else rmSync(base, { recursive: true, force: true });
  });

  it("test_sigkill_midIngest_noAcknowledgedReadingIsLost", async function () {
    // A long grace period: every ended interval stays open, the batcher seals nothing, readings of 30 past
    // intervals per meter are all acceptable in any order.
    const { dir, configPath, sqlitePath } = relayerConfig({ graceSeconds: 86_400, clockSkewSeconds: 120 });
    const current = nowSeconds() / INTERVAL;
    const all: SignedReading[] = [];
    for (let t = current - 40n; t < current - 10n; t++) meters.forEach((m, i) => all.push(reading(m, i, t)));
    const batches: SignedReading[][] = [];
    for (let i = 0; i < all.length; i += 20) batches.push(all.slice(i, i + 20));

    const first = startChild(dir, configPath);
    const url = await first.ready();
    const acknowledged = new Map<string, SignedReading>();
    const rejected: string[] = [];
    let next = 0;
    let inFlight = 0;
    let inFlightAtKill = -1;
    let killed = false;
    const killAfter = Math.floor(all.length / 3);
    const sender = async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        inFlight++;
        let res: IngestResponse;
        try {
          res = await postReadings(url, batch);
        } catch {
          return; // the relayer is gone: this batch's fate is unknown, and so is every later one's
        } finally {
          inFlight--;
        }
        res.results.forEach((r, i) => {
          if (r.status === "accepted" || r.status === "duplicate") acknowledged.set(batch[i].signature, batch[i]);
          else rejected.push(`${r.status}:${r.reason}`);
        });
        // Kill while other requests are still being answered: the relayer dies in the middle of ingesting.
        if (!killed && acknowledged.size >= killAfter && inFlight >= 1) {
          killed = true;
          inFlightAtKill = inFlight;
          await first.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, sender));
    expect(killed, "the relayer was killed during the run").to.equal(true);
    expect(first.exit?.signal).to.equal("SIGKILL");
    expect(inFlightAtKill, "requests in flight when the relayer was killed").to.be.greaterThan(0);
    expect(rejected, "nothing was rejected before the kill").to.deep.equal([]);
    expect(acknowledged.size).to.be.at.least(killAfter).and.lessThan(all.length);

    // Every acknowledged reading is in the file the killed process left behind, exactly as signed.
    const store = new SqliteStore(sqlitePath);
    await store.open();
    const lost: string[] = [];
    try {
      for (const r of acknowledged.values()) {
        const stored = await store.getReading(r.meter, r.intervalId);
        if (stored?.signature.toLowerCase() !== r.signature.toLowerCase()) lost.push(`${r.meter}@${r.intervalId}`);
      }
      expect(lost, "acknowledged readings missing after SIGKILL").to.deep.equal([]);
      expect(await store.countReadings()).to.be.at.least(acknowledged.size);
      expect(await store.conflicts()).to.deep.equal([]);
    } finally {
      await store.close();
    }

    // The restarted relayer takes everything again: what it had is a duplicate, the rest is accepted.
    const second = startChild(dir, configPath);
    const url2 = await second.ready();
    const statuses: string[] = [];
    const notDuplicate: string[] = [];
    let resendNext = 0;
    const resender = async () => {
      while (resendNext < batches.length) {
        const batch = batches[resendNext++];
        const res = await postReadings(url2, batch);
        res.results.forEach((r, i) => {
          statuses[all.indexOf(batch[i])] = r.status === "rejected" ? `rejected:${r.reason}` : r.status;
          if (acknowledged.has(batch[i].signature) && r.status !== "duplicate") notDuplicate.push(r.status);
        });
      }
    };
    await Promise.all(Array.from({ length: 4 }, resender));
    expect(statuses.filter((s) => s !== "accepted" && s !== "duplicate")).to.deep.equal([]);
    expect(statuses.filter((s) => s !== undefined)).to.have.length(all.length);
    expect(notDuplicate, "an acknowledged reading was taken as new after the restart").to.deep.equal([]);
    const health = await getJson(`${url2}/health`);
    expect(health.readings).to.equal(all.length);
    await second.kill();
    const after = new SqliteStore(sqlitePath);
    await after.open();
    try {
      expect(await after.countReadings()).to.equal(all.length);
      expect(await after.conflicts()).to.deep.equal([]);
    } finally {
      await after.close();
    }
  });

  it("test_sigkill_betweenVoteAndRecord_rootSubmittedExactlyOnce", async function () {
    const grace = 2n;
    const { dir, configPath, sqlitePath } = relayerConfig({ graceSeconds: Number(grace), clockSkewSeconds: 30 });
    const crashing = startChild(dir, configPath, { CRASH_AFTER_VOTE: "1" });
    const url = await crashing.ready();
    const group = meters.slice(0, 8);
    const [a, b] = nextPair(grace);
    const readings = group.flatMap((m, i) => [reading(m, i, a), reading(m, i, b)]);
    const res = await postReadings(url, readings);
    expect(res.accepted, JSON.stringify(res.results.filter((r) => r.status !== "accepted"))).to.equal(16);

    // Sealed `grace` s after b ends; the vote lands and the process kills itself before recording it.
    await until(
      "the relayer to kill itself after its vote",
      async () => {
        await mineIfBehind();
        return crashing.exit;
      },
      90_000,
    );
    expect(crashing.exit?.signal, crashing.lines.join("\n")).to.equal("SIGKILL");
    expect(crashing.votes(b)).to.deep.equal(["final"]);
    expect(await system.oracle.hasVoted(b, relayerAddress)).to.equal(true);
    const submitted = await rootSubmissions(b);
    expect(submitted).to.have.length(1);
    // The store holds the vote as `sent` (written before the broadcast), not as landed.
    const crashed = await storedBatch(sqlitePath, b);
    expect([crashed?.status, crashed?.txHash]).to.deep.equal(["sent", submitted[0].transactionHash]);
    const nonce = await provider.getTransactionCount(relayerAddress, "latest");

    // Restarted without the crash: it reads the chain, finds its vote final and records it; nothing is resent.
    const restarted = startChild(dir, configPath);
    const url2 = await restarted.ready();
    const view = await until("the restarted relayer to record the interval final", async () => {
      await mineIfBehind();
      const v = await getJson(`${url2}/intervals/${b}`);
      return v.local?.status === "final" && v;
    });
    expect(view.chain.status).to.equal("final");
    expect(view.local.root).to.equal(submitted[0].args.root);
    expect(view.local.txHash).to.equal(submitted[0].transactionHash);
    const info = await system.oracle.getInterval(b);
    expect([info.status, info.root]).to.deep.equal([STATUS_FINAL, view.local.root]);
    expect(await rootSubmissions(b)).to.have.length(1);
    expect(await provider.getTransactionCount(relayerAddress, "latest"), "no transaction after the restart").to.equal(
      nonce,
    );
    expect(restarted.votes(b)).to.deep.equal(["final"]);
    expect(view.local.leafCount).to.equal(group.length);
  });

  it("test_rpcDown_rootIsPostedAfterTheNodeReturns", async function () {
    const grace = 3n;
    const proxy = new TcpProxy(rpcHost, rpcPort);
    proxies.push(proxy);
    const proxyPort = await proxy.start();
    const { dir, configPath, sqlitePath } = relayerConfig({
      rpcUrl: `http://127.0.0.1:${proxyPort}`,
      graceSeconds: Number(grace),
      clockSkewSeconds: 30,
    });
    const child = startChild(dir, configPath);
    const url = await child.ready();
    const group = meters.slice(8, 16);
    const [a, b] = nextPair(grace);
    const readings = group.flatMap((m, i) => [reading(m, i + 8, a), reading(m, i + 8, b)]);
    const res = await postReadings(url, readings);
    expect(res.accepted, JSON.stringify(res.results.filter((r) => r.status !== "accepted"))).to.equal(16);

    // The node goes away before b's grace period ends (b is sealed while it is unreachable) …
    await proxy.stop();
    const sealAt = (b + 1n) * INTERVAL + grace;
    expect(nowSeconds() < sealAt, "the node went down before the interval was sealed").to.equal(true);
    const nonce = await provider.getTransactionCount(relayerAddress, "latest");
    const health = await getJson(`${url}/health`);
    expect([health.ok, health.chain.reachable]).to.deep.equal([false, false]);
    const sealed = await until("the relayer to seal the interval without the node", () => storedBatch(sqlitePath, b));
    expect(sealed.status).to.equal("built");
    // … and stays away past the grace period while the relayer retries with backoff.
    await untilTime(sealAt + 4n);
    expect((await storedBatch(sqlitePath, b))?.status, "no vote while the node is down").to.equal("built");
    expect(await provider.getTransactionCount(relayerAddress, "latest")).to.equal(nonce);
    expect(child.exit, "the relayer survived the outage").to.equal(undefined);

    // The node returns on the same address: the vote goes out once and the root becomes final.
    await proxy.start();
    const view = await until("the root to be final after the node returned", async () => {
      await mineIfBehind();
      const v = await getJson(`${url}/intervals/${b}`).catch(() => undefined);
      return v?.local?.status === "final" && v;
    });
    const submitted = await rootSubmissions(b);
    expect(submitted).to.have.length(1);
    expect(submitted[0].args.root).to.equal(view.local.root);
    const info = await system.oracle.getInterval(b);
    expect([info.status, info.root]).to.deep.equal([STATUS_FINAL, view.local.root]);
    expect(view.local.txHash).to.equal(submitted[0].transactionHash);
    expect(child.votes(b)).to.deep.equal(["final"]);
  });
});
