/**
 * Child process of `npm run bench:soak` (scripts/bench/soak.ts): the simulated meters.
 *
 * Like `relayerPublisher.ts` (the relayer benchmark's publisher), it derives `meters` deterministic meter keys and
 * signs every reading before the measured run starts, so that signing does not compete with the relayer for the
 * CPU; unlike it, the readings carry the simulator's energy profiles (`oracle/simulator/profiles.ts`, cumulative
 * registers) and are published interval by interval, when the soak driver allows it (its simulated clock has
 * reached the interval's end). Signing runs on worker threads (this file again), each taking a range of meters.
 *
 * argv: meters intervals firstIntervalId intervalLength chainId registry addressesFile
 * stdout (to the driver): `addresses` (addresses and profiles written to addressesFile), `signed <ms>`,
 *   `connected`, `published <k> <count> <ms>` per interval k (every PUBACK received), `done <cpuMs> <maxRssMiB>`
 *   (CPU time spent publishing, after signing).
 * stdin (from the driver): `connect <mqttUrl> [<topic root>]` (topics `<root>/<meter>/readings`, default `meters`),
 *   `allow <k>` (publish intervals up to index k), `end`.
 */
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import secp256k1 from "secp256k1";
import { connectAsync } from "mqtt";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { checksumAddressBytes, ReadingDigester } from "../../oracle/src/ingest/digest.js";
import { ReadingSigner, toPayload } from "../../oracle/simulator/sign.js";
import { intervalEnergy, type Technology } from "../../oracle/simulator/profiles.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";

/** A simulated meter: key, address and energy profile. */
export interface SoakMeter {
  key: Uint8Array;
  address: Hex;
  technology: Technology;
  ratedCapacityW: number;
  baseLoadW: number;
  seed: number;
}

const TECH: Technology[] = ["solar", "load-only", "solar", "battery", "wind", "load-only", "solar", "load-only"];

/** Meter `i`: the key as in the relayer benchmark, a profile as in `createMeters` (simulator). */
export function soakMeter(i: number): SoakMeter {
  const key = keccak_256(new TextEncoder().encode(`bench meter ${i}`));
  const pub = secp256k1.publicKeyCreate(key, false);
  const technology = TECH[i % TECH.length];
  return {
    key,
    address: checksumAddressBytes(keccak_256(pub.subarray(1)), 12),
    technology,
    ratedCapacityW:
      technology === "load-only" ? 12_000 : technology === "wind" ? 10_000 : 4_000 + ((i * 1_000) % 6_000),
    baseLoadW: 400 + ((i * 137) % 700),
    seed: 1_000_003 + i,
  };
}

interface SignJob {
  from: number;
  to: number;
  intervals: number;
  firstInterval: string;
  intervalLength: number;
  chainId: string;
  registry: Hex;
}

/** One interval's signed payloads of a range of meters: JSON texts back to back, `offsets[j]..offsets[j+1]`. */
interface SignedChunk {
  k: number;
  bytes: ArrayBuffer;
  offsets: Uint32Array;
}

/** Signs the readings of meters [from, to) for every interval (a worker thread's job). */
function signRange(job: SignJob, emit: (c: SignedChunk) => void): void {
  const domain = { chainId: BigInt(job.chainId), verifyingContract: job.registry };
  const digester = new ReadingDigester(domain);
  const meters: SoakMeter[] = [];
  for (let i = job.from; i < job.to; i++) meters.push(soakMeter(i));
  const registers = meters.map(() => ({ imp: 0n, exp: 0n }));
  const L = BigInt(job.intervalLength);
  const sig = new Uint8Array(65);
  for (let k = 0; k < job.intervals; k++) {
    const intervalId = BigInt(job.firstInterval) + BigInt(k);
    const texts: Buffer[] = [];
    const offsets = new Uint32Array(meters.length + 1);
    let size = 0;
    meters.forEach((m, j) => {
      // The first interval is every meter's baseline (its first reading ever); later ones carry energy.
      if (k > 0) {
        const e = intervalEnergy(m, intervalId, job.intervalLength);
        registers[j].imp += e.importWh;
        registers[j].exp += e.exportWh;
      }
      const fields = {
        meter: m.address,
        intervalId,
        importWhTotal: registers[j].imp,
        exportWhTotal: registers[j].exp,
        timestamp: (intervalId + 1n) * L,
      };
      // ReadingSigner's signature (same digest, same native secp256k1), without its ethers hex conversion.
      const { signature, recid } = secp256k1.ecdsaSign(digester.digest(fields), m.key);
      sig.set(signature, 0);
      sig[64] = 27 + recid;
      const reading: SignedReading = { ...fields, signature: `0x${Buffer.from(sig).toString("hex")}` as Hex };
      if (k === 0 && j === 0) {
        const reference = new ReadingSigner(domain).sign(`0x${Buffer.from(m.key).toString("hex")}`, fields);
        if (reference.signature !== reading.signature) throw new Error("signature differs from ReadingSigner's");
      }
      const text = Buffer.from(JSON.stringify(toPayload(reading)));
      texts.push(text);
      size += text.length;
      offsets[j + 1] = size;
    });
    const bytes = Buffer.concat(texts, size);
    emit({ k, bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + size) as ArrayBuffer, offsets });
  }
}

if (!isMainThread) {
  signRange(workerData as SignJob, (c) => parentPort!.postMessage(c, [c.bytes, c.offsets.buffer as ArrayBuffer]));
  parentPort!.postMessage("done");
} else {
  const [metersArg, intervalsArg, firstInterval, intervalLength, chainId, registry, addressesFile] =
    process.argv.slice(2);
  const meters = Number(metersArg);
  const intervals = Number(intervalsArg);
  const out = (line: string) => process.stdout.write(line + "\n");

  const all = Array.from({ length: meters }, (_, i) => soakMeter(i));
  writeFileSync(addressesFile, JSON.stringify(all.map(({ key: _key, ...m }) => m)));
  out("addresses");

  // Pre-sign everything on worker threads, one range of meters each.
  const signStart = performance.now();
  const threads = Math.max(1, Number(process.env.SOAK_SIGNERS ?? availableParallelism()));
  const per = Math.ceil(meters / threads);
  const chunks: SignedChunk[][] = Array.from({ length: intervals }, () => []);
  const ranges: { from: number; to: number }[] = [];
  for (let from = 0; from < meters; from += per) ranges.push({ from, to: Math.min(meters, from + per) });
  await Promise.all(
    ranges.map(
      (r, w) =>
        new Promise<void>((resolve, reject) => {
          const job: SignJob = {
            ...r,
            intervals,
            firstInterval,
            intervalLength: Number(intervalLength),
            chainId,
            registry: registry as Hex,
          };
          const worker = new Worker(new URL(import.meta.url), {
            workerData: job,
            execArgv: ["--import", import.meta.resolve("tsx")],
          });
          worker.on("message", (m: SignedChunk | "done") => {
            if (m === "done") return resolve();
            chunks[m.k][w] = { ...m, offsets: new Uint32Array(m.offsets) };
          });
          worker.on("error", reject);
          worker.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`signer exited with ${code}`))));
        }),
    ),
  );
  out(`signed ${Math.round(performance.now() - signStart)}`);
  const cpuAfterSigning = process.cpuUsage();

  let topics: string[] = [];
  let allowed = -1;
  let wake: (() => void) | undefined;
  let client: Awaited<ReturnType<typeof connectAsync>> | undefined;
  let maxRss = 0;
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const [cmd, arg, topicRoot] = line.split(" ");
    if (cmd === "connect") {
      topics = all.map((m) => `${topicRoot ?? "meters"}/${m.address}/readings`);
      void connectAsync(arg, { clientId: `soak-meters-${process.pid}`, clean: true, reconnectPeriod: 500 }).then(
        (c) => {
          client = c;
          out("connected");
          wake?.();
        },
        (e: Error) => {
          console.error(`soak publisher: cannot connect to ${arg}: ${e.message}`);
          process.exit(1);
        },
      );
    } else if (cmd === "allow") {
      allowed = Math.max(allowed, Number(arg));
      wake?.();
    } else if (cmd === "end") {
      allowed = Number.POSITIVE_INFINITY;
      wake?.();
    }
  });

  // Publishes each interval once allowed: QoS 1, 2,000 messages in flight (as the relayer benchmark's publisher).
  const WINDOW = 2_000;
  for (let k = 0; k < intervals; k++) {
    while (allowed < k || client === undefined) await new Promise<void>((r) => (wake = r));
    if (allowed === Number.POSITIVE_INFINITY) break;
    const start = performance.now();
    const messages: { topic: string; body: Buffer }[] = [];
    for (const [w, c] of chunks[k].entries()) {
      const bytes = Buffer.from(c.bytes);
      for (let j = 0; j + 1 < c.offsets.length; j++)
        messages.push({ topic: topics[ranges[w].from + j], body: bytes.subarray(c.offsets[j], c.offsets[j + 1]) });
    }
    for (let i = 0; i < messages.length; i += WINDOW) {
      await Promise.all(messages.slice(i, i + WINDOW).map((m) => client!.publishAsync(m.topic, m.body, { qos: 1 })));
    }
    chunks[k] = []; // sent: let the signed payloads go
    maxRss = Math.max(maxRss, process.memoryUsage.rss());
    out(`published ${k} ${messages.length} ${Math.round(performance.now() - start)}`);
  }
  const cpu = process.cpuUsage(cpuAfterSigning);
  await client?.endAsync();
  out(`done ${Math.round((cpu.user + cpu.system) / 1000)} ${Math.round(maxRss / 2 ** 20)}`);
  rl.close();
  process.stdin.destroy(); // nothing more to read: let the process end
}
