/**
 * Benchmark of the interval tree builder: {@link buildFastTree} on 100,000 and 1,000,000 leaves (on all cores, and
 * on one thread), and `StandardMerkleTree.of` of `@openzeppelin/merkle-tree` on the same 100,000 leaves as the
 * baseline. Leaves have pseudo-random checksummed meters and amounts derived from a fixed seed, so every case
 * gets the same leaves.
 *
 * Each case runs in a child process of its own (this module, run with the case's name as its argument), so that
 * no case inherits another's heap: the figures are the build's wall time, after a warm-up build that starts the
 * worker threads, and its memory. The builds are synchronous, so a sampler thread reads the process's resident set
 * size (process-wide, worker threads included) every 2 ms while one runs; the figures are the peak RSS and its
 * growth over the RSS just before the build, after a full garbage collection. The inputs (the leaves, about
 * 200 MiB for a million) exist before the build: they count in the peak, not in the growth.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { availableParallelism } from "node:os";
import { argv } from "node:process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { createKeccak } from "hash-wasm";
import type { Hex, Leaf } from "../types.js";
import { buildFastTree, FAST_TREE_LEAF_ENCODING } from "./fastTree.js";

/** One measured build. */
export interface TreeBuildFigures {
  leaves: number;
  /** Threads hashing (1 for the library). */
  threads: number;
  buildMs: number;
  /** Highest resident set size of the process during the build, MiB. */
  peakRssMiB: number;
  /** Peak RSS minus the RSS just before the build, MiB: what the build needs beyond its input. */
  rssGrowthMiB: number;
  /** The tree's root. */
  root: Hex;
}

/** Everything {@link benchTree} measures. */
export interface TreeBenchFigures {
  fastTree100k: TreeBuildFigures;
  fastTree1M: TreeBuildFigures;
  fastTree1MOneThread: TreeBuildFigures;
  library100k: TreeBuildFigures;
  /** library100k.buildMs / fastTree100k.buildMs. */
  speedup100k: number;
  /** Whether both builders gave the 100,000-leaf tree the same root. */
  rootsAgree: boolean;
}

type CaseName = "fastTree100k" | "fastTree1M" | "fastTree1MOneThread" | "library100k";

const CASES: Record<CaseName, { leaves: number; threads: number; library: boolean }> = {
  fastTree100k: { leaves: 100_000, threads: availableParallelism(), library: false },
  fastTree1M: { leaves: 1_000_000, threads: availableParallelism(), library: false },
  fastTree1MOneThread: { leaves: 1_000_000, threads: 1, library: false },
  library100k: { leaves: 100_000, threads: 1, library: true },
};

const MiB = 1024 * 1024;
const INTERVAL_ID = 1_900_000n;

/** Samples the process RSS into `peak[0]` every 2 ms (raising it only), until terminated. */
const SAMPLER = `
const { workerData } = require("node:worker_threads");
const peak = new Float64Array(workerData);
setInterval(() => { const rss = process.memoryUsage.rss(); if (rss > peak[0]) peak[0] = rss; }, 2);
`;

/** Leaf `i` of the benchmark: meter and amounts from sha256("bench-tree" ‖ i), the meter EIP-55 checksummed. */
async function seededLeaves(count: number): Promise<Leaf[]> {
  const keccak = await createKeccak(256);
  const ascii = Buffer.alloc(42);
  return Array.from({ length: count }, (_, i) => {
    const seed = createHash("sha256").update(`bench-tree ${i}`).digest();
    ascii.write(`0x${seed.toString("hex", 0, 20)}`, "latin1");
    const hash = keccak.init().update(ascii.subarray(2)).digest("binary");
    for (let j = 0; j < 40; j++) {
      const nibble = j % 2 === 0 ? hash[j >> 1] >> 4 : hash[j >> 1] & 0x0f;
      if (nibble >= 8 && ascii[2 + j] >= 0x61) ascii[2 + j] -= 0x20;
    }
    return {
      meter: ascii.toString("latin1") as Hex,
      importWh: BigInt(seed.readUInt32BE(20)),
      exportWh: BigInt(seed.readUInt32BE(24)),
    };
  });
}

/** Runs one case in this process (started with `--expose-gc`) and returns its figures. */
async function runCase(name: string): Promise<TreeBuildFigures> {
  if (!(name in CASES)) throw new Error(`unknown case ${name}: one of ${Object.keys(CASES).join(", ")}`);
  const { leaves: count, threads, library } = CASES[name as CaseName];
  const leaves = await seededLeaves(count);
  let build: () => Hex;
  if (library) {
    const values = leaves.map((l) => [l.meter, INTERVAL_ID, l.importWh, l.exportWh]);
    build = () => StandardMerkleTree.of(values, [...FAST_TREE_LEAF_ENCODING]).root as Hex;
  } else {
    buildFastTree(INTERVAL_ID, leaves.slice(0, 5_000), { threads });
    build = () => buildFastTree(INTERVAL_ID, leaves, { threads }).root;
  }

  const peak = new Float64Array(new SharedArrayBuffer(8));
  const sampler = new Worker(SAMPLER, { eval: true, workerData: peak.buffer });
  await once(sampler, "online");
  (globalThis as unknown as { gc: () => void }).gc();
  const before = process.memoryUsage.rss();
  peak[0] = before;
  const start = performance.now();
  const root = build();
  const buildMs = Math.round(performance.now() - start);
  const peakRss = Math.max(peak[0], process.memoryUsage.rss());
  await sampler.terminate();
  const round = (x: number) => Math.round((x / MiB) * 10) / 10;
  return { leaves: count, threads, buildMs, peakRssMiB: round(peakRss), rssGrowthMiB: round(peakRss - before), root };
}

/** Measures every case, one child process each, one after the other (see the module comment); about a minute. */
export async function benchTree(): Promise<TreeBenchFigures> {
  const self = fileURLToPath(import.meta.url);
  const loader = self.endsWith(".ts") ? ["--import", import.meta.resolve("tsx")] : [];
  const figures = {} as Record<CaseName, TreeBuildFigures>;
  for (const name of Object.keys(CASES) as CaseName[]) {
    const { stdout } = await promisify(execFile)(process.execPath, [...loader, "--expose-gc", self, name]);
    figures[name] = JSON.parse(stdout) as TreeBuildFigures;
  }
  return {
    ...figures,
    speedup100k: Math.round((figures.library100k.buildMs / figures.fastTree100k.buildMs) * 10) / 10,
    rootsAgree: figures.library100k.root === figures.fastTree100k.root,
  };
}

if (argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(JSON.stringify(await runCase(argv[2])));
}
