/**
 * Throughput of reading verification: ethers' `verifyTypedData` (the reference), the inline path of this package
 * (digest + recover on the calling thread, native secp256k1 if it loads, and the pure-JS fallback on a sample),
 * and a `VerifierPool` of worker threads.
 *
 * Readings are generated fast: a few keys, the digest from `ReadingDigester`, signed with libsecp256k1's
 * `ecdsaSign` (or noble's `sign` without the addon); a sample is checked against ethers first, and every measured
 * path must recover every reading's meter, or the bench throws.
 */
import { availableParallelism, cpus } from "node:os";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { secp256k1 as noble } from "@noble/curves/secp256k1.js";
import { TypedDataEncoder, Wallet, verifyTypedData } from "ethers";
import type * as Secp256k1Native from "secp256k1";
import { METER_READING_TYPES, readingDomain } from "../../../src/readings.js";
import type { Hex, SignedReading } from "../types.js";
import { ReadingDigester } from "./digest.js";
import { recoverSignerWith, secp256k1Backend, type Secp256k1Backend } from "./recover.js";
import { VerifierPool, verifyInline } from "./verifierPool.js";

/** One measured path. */
export interface BenchFigure {
  readings: number;
  seconds: number;
  perSecond: number;
}

export interface BenchVerifyResult {
  n: number;
  keys: number;
  cpus: number;
  cpuModel: string;
  backend: Secp256k1Backend;
  /** Generating and signing the readings (not a verification figure). */
  generateSeconds: number;
  ethersVerifyTypedData: BenchFigure;
  /** `ReadingDigester.digest` alone, all readings. */
  digestOnly: BenchFigure;
  /** Digest + recover inline on the calling thread with the active backend (`VerifierPool` with 0 workers). */
  inline: BenchFigure;
  /** Digest + recover inline with the pure-JS backend (noble), on a sample. */
  inlineJs: BenchFigure;
  /** `VerifierPool` with `poolWorkers` workers, after warm-up; one `verify` call of all readings. */
  pool: BenchFigure & { workers: number; startupMs: number };
}

export interface BenchVerifyOptions {
  /** Meter keys the readings are spread over (default 8). */
  keys?: number;
  /** Pool size (default 2). */
  poolWorkers?: number;
  /** Readings measured with ethers (default all n; ethers manages ~1–2k/s). */
  ethersSample?: number;
  /** Readings measured with the JS backend (default min(n, 2000)). */
  jsSample?: number;
}

const CHAIN_ID = 31337n;
const REGISTRY: Hex = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
/** The domain generated readings are signed under (Hardhat's chain id, its first deployment address). */
export const BENCH_DOMAIN: { chainId: bigint; verifyingContract: Hex } = {
  chainId: CHAIN_ID,
  verifyingContract: REGISTRY,
};

function figure(readings: number, ms: number): BenchFigure {
  const seconds = ms / 1000;
  return { readings, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(readings / seconds) };
}

function expectSigners(what: string, readings: readonly SignedReading[], signers: readonly (Hex | null)[]): void {
  for (let i = 0; i < readings.length; i++) {
    if (signers[i] !== readings[i].meter) {
      throw new Error(`${what}: reading ${i} recovers to ${signers[i]}, not ${readings[i].meter}`);
    }
  }
}

function loadNative(): typeof Secp256k1Native | undefined {
  try {
    return createRequire(import.meta.url)("secp256k1/bindings.js") as typeof Secp256k1Native;
  } catch {
    return undefined;
  }
}

/** `n` readings signed by `keys` random meter keys in {@link BENCH_DOMAIN} (signatures 65 bytes, v 27/28, low s). */
export function generateSignedReadings(n: number, keys = 8): SignedReading[] {
  const wallets = Array.from({ length: keys }, () => Wallet.createRandom());
  const secrets = wallets.map((w) => Buffer.from(w.privateKey.slice(2), "hex"));
  const digester = new ReadingDigester({ chainId: CHAIN_ID, verifyingContract: REGISTRY });
  const native = loadNative();
  const readings: SignedReading[] = new Array(n);
  const base = 1_750_000_000n / 900n;
  for (let i = 0; i < n; i++) {
    const k = i % keys;
    const intervalId = base + BigInt(Math.floor(i / keys));
    const fields = {
      meter: wallets[k].address as Hex,
      intervalId,
      importWhTotal: BigInt(i) * 37n,
      exportWhTotal: BigInt(i) * 11n,
      timestamp: (intervalId + 1n) * 900n,
    };
    const digest = digester.digest(fields);
    const sig = Buffer.alloc(65);
    if (native !== undefined) {
      const { signature, recid } = native.ecdsaSign(digest, secrets[k]);
      sig.set(signature, 0);
      sig[64] = 27 + recid;
    } else {
      const rec = noble.sign(digest, secrets[k], { prehash: false, format: "recovered" });
      sig.set(rec.subarray(1), 0);
      sig[64] = 27 + rec[0];
    }
    readings[i] = { ...fields, signature: `0x${sig.toString("hex")}` };
  }
  return readings;
}

/** Measures reading verification on `n` generated readings (see the module comment). */
export async function benchVerify(n: number, opts: BenchVerifyOptions = {}): Promise<BenchVerifyResult> {
  const keys = opts.keys ?? 8;
  const poolWorkers = opts.poolWorkers ?? 2;
  const ethersN = Math.min(n, opts.ethersSample ?? n);
  const jsN = Math.min(n, opts.jsSample ?? 2000);
  const domain = readingDomain(CHAIN_ID, REGISTRY);

  let t = performance.now();
  const readings = generateSignedReadings(n, keys);
  const generateSeconds = Number(((performance.now() - t) / 1000).toFixed(3));

  // The generated signatures are what ethers signs: check a sample before measuring anything.
  const digester = new ReadingDigester({ chainId: CHAIN_ID, verifyingContract: REGISTRY });
  for (let i = 0; i < Math.min(n, 16); i++) {
    const r = readings[i];
    if (
      Buffer.from(digester.digest(r)).toString("hex") !== TypedDataEncoder.hash(domain, METER_READING_TYPES, r).slice(2)
    ) {
      throw new Error(`digest of reading ${i} differs from ethers' TypedDataEncoder.hash`);
    }
  }

  t = performance.now();
  const ethersSigners: Hex[] = [];
  for (let i = 0; i < ethersN; i++) {
    const r = readings[i];
    ethersSigners.push(verifyTypedData(domain, METER_READING_TYPES, r, r.signature) as Hex);
  }
  const ethersFigure = figure(ethersN, performance.now() - t);
  expectSigners("ethers", readings.slice(0, ethersN), ethersSigners);

  t = performance.now();
  for (const r of readings) digester.digest(r);
  const digestOnly = figure(n, performance.now() - t);

  t = performance.now();
  const inlineSigners = verifyInline(digester, readings);
  const inline = figure(n, performance.now() - t);
  expectSigners("inline", readings, inlineSigners);

  t = performance.now();
  const jsSigners = readings
    .slice(0, jsN)
    .map((r) => recoverSignerWith("js", digester.digest(r), Buffer.from(r.signature.slice(2), "hex")));
  const inlineJs = figure(jsN, performance.now() - t);
  expectSigners("inline js", readings.slice(0, jsN), jsSigners);

  t = performance.now();
  const pool = new VerifierPool({ workers: poolWorkers, domain: { chainId: CHAIN_ID, verifyingContract: REGISTRY } });
  try {
    // Warm-up: every worker loads its modules (tsx compiles them from source) and answers once.
    await pool.verify(readings.slice(0, Math.min(n, 64 * Math.max(1, poolWorkers))));
    const startupMs = Math.round(performance.now() - t);
    t = performance.now();
    const poolSigners = await pool.verify(readings);
    const poolFigure = figure(n, performance.now() - t);
    expectSigners("pool", readings, poolSigners);
    return {
      n,
      keys,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? "unknown",
      backend: secp256k1Backend,
      generateSeconds,
      ethersVerifyTypedData: ethersFigure,
      digestOnly,
      inline,
      inlineJs,
      pool: { ...poolFigure, workers: poolWorkers, startupMs },
    };
  } finally {
    await pool.close();
  }
}

// `npx tsx oracle/src/ingest/benchVerify.ts [n]` prints the figures as JSON.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const n = Number(process.argv[2] ?? 20_000);
  console.log(JSON.stringify(await benchVerify(n), null, 2));
}
