/**
 * `npm run bench:relayer`: the relayer's figures, measured side by side in one run, written to
 * `bench/relayer.json`. Targets: >= 20,000 readings/s verified and persisted end to end (MQTT in, stored);
 * a 1,000,000-leaf tree in <= 5 s and <= 1 GiB; the root voted <= 10 s after the grace period for 100,000 meters.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { pino } from "pino";
import { deploySystem } from "../../src/deploy.js";
import { benchVerify } from "../../oracle/src/ingest/benchVerify.js";
import { benchTree } from "../../oracle/src/batch/benchTree.js";
import { SqliteStore } from "../../oracle/src/store/sqlite.js";
import { Mutex } from "../../oracle/src/lock.js";
import { createMetrics } from "../../oracle/src/metrics.js";
import { Batcher } from "../../oracle/src/batch/batcher.js";
import { createChainClients } from "../../oracle/src/chain/clients.js";
import { RootPoster } from "../../oracle/src/chain/postRoot.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";
import { benchIngest } from "./relayerIngest.js";

const log = pino({ level: process.env.BENCH_LOG ?? "silent" });
const dir = mkdtempSync(join(tmpdir(), "bench-relayer-"));
const INTERVAL = 900n;

/** Seal + vote for an interval of `meters` meters: tree from the store, vote mined on the in-process chain. */
async function benchSealAndVote(meters: number) {
  const server = await network.createServer("default", "127.0.0.1", 0);
  const { address, port } = await server.listen();
  const rpcUrl = `http://${address}:${port}`;
  const provider = new JsonRpcProvider(rpcUrl, undefined, { pollingInterval: 50 });
  const relayerKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as Hex;
  const deployer = new NonceManager(new Wallet("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", provider));
  const { deployment } = await deploySystem(deployer as never, "bench", { relayers: [new Wallet(relayerKey).address], threshold: 1 });
  const store = new SqliteStore(join(dir, "seal.sqlite"));
  await store.open();
  const now = BigInt((await provider.getBlock("latest"))!.timestamp);
  const intervalId = now / INTERVAL - 1n;
  const sig = `0x${"11".repeat(65)}` as Hex;
  const meterAddr = (i: number) => `0x${i.toString(16).padStart(40, "0")}` as Hex;
  for (const [k, id] of [intervalId - 1n, intervalId].entries()) {
    for (let i = 0; i < meters; i += 5_000) {
      const chunk: SignedReading[] = [];
      for (let j = i; j < Math.min(meters, i + 5_000); j++) {
        chunk.push({ meter: meterAddr(j + 1), intervalId: id, importWhTotal: BigInt(k * (j % 5)), exportWhTotal: BigInt(k * (100 + (j % 900))), timestamp: (id + 1n) * INTERVAL, signature: sig });
      }
      await store.insertReadings(chunk, "http", Date.now());
    }
  }
  const clients = createChainClients({ rpcUrl, chainId: Number(deployment.chainId), privateKey: relayerKey, pollingIntervalMs: 50 });
  const poster = new RootPoster({ publicClient: clients.publicClient, account: clients.account, oracle: deployment.contracts.ReadingOracle.address as Hex, pollIntervalMs: 50 });
  const batcher = new Batcher({
    store,
    lock: new Mutex(),
    poster,
    metrics: createMetrics("bench-seal"),
    log,
    intervalLength: INTERVAL,
    graceSeconds: 0n,
    pollMs: 1_000,
  });
  const start = performance.now();
  await batcher.tick();
  const ms = performance.now() - start;
  const batch = await store.getBatch(intervalId);
  poster.stop();
  await store.close();
  provider.destroy();
  await server.close();
  return { meters, leaves: batch?.leafCount ?? 0, status: batch?.status, sealAndVoteMs: Math.round(ms) };
}

console.log("verification (20,000 signed readings) …");
const verify = process.env.BENCH_ONLY_INGEST ? ({} as never) : await benchVerify(20_000, { ethersSample: 2_000 });
const [benchMeters, benchIntervals] = [Number(process.env.BENCH_METERS ?? 10_000), Number(process.env.BENCH_INTERVALS ?? 10)];
console.log(`MQTT ingest end to end (${benchMeters} meters × ${benchIntervals} intervals), broker in this process (aedes) …`);
const ingestEmbedded = await benchIngest({ meters: benchMeters, intervals: benchIntervals, broker: "embedded" });
const hasMosquitto = spawnSync("mosquitto", ["-h"]).error === undefined;
console.log(hasMosquitto ? "… and through a separate Mosquitto process …" : "… (no mosquitto binary: skipped)");
const ingestMosquitto = hasMosquitto ? await benchIngest({ meters: benchMeters, intervals: benchIntervals, broker: "mosquitto" }) : undefined;
const ingest = ingestMosquitto ?? ingestEmbedded;
console.log("tree builds …");
const tree = await benchTree();
console.log("seal and vote for 100,000 meters …");
const seal = await benchSealAndVote(100_000);

const result = {
  machine: "2 cores (shared); figures vary with load",
  verification: verify,
  ingestEndToEnd: { embeddedBroker: ingestEmbedded, mosquitto: ingestMosquitto ?? null },
  tree,
  sealAndVote100k: seal,
  targets: {
    ingestReadingsPerSecond: { target: 20_000, measured: ingest.readingsPerSecond, pass: ingest.readingsPerSecond >= 20_000 },
    tree1MSeconds: { target: 5, measured: tree.fastTree1M.buildMs / 1000, pass: tree.fastTree1M.buildMs <= 5_000 },
    tree1MMiB: { target: 1024, measured: tree.fastTree1M.peakRssMiB, pass: tree.fastTree1M.peakRssMiB <= 1024 },
    rootAfterGrace100kSeconds: { target: 10, measured: seal.sealAndVoteMs / 1000, pass: seal.sealAndVoteMs <= 10_000 && seal.status === "final" },
  },
};
mkdirSync("bench", { recursive: true });
writeFileSync("bench/relayer.json", JSON.stringify(result, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
console.log(JSON.stringify(result.targets, null, 2));
console.log(`ingest ${ingest.readingsPerSecond}/s end to end (ethers.verifyTypedData alone: ${JSON.stringify(verify).match(/"ethers[^}]*}/)?.[0] ?? "see bench/relayer.json"})`);
console.log("written to bench/relayer.json");
