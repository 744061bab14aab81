/**
 * Gas benchmark of the claim and oracle paths, measured from transaction receipts (`gasUsed`, i.e. including the
 * 21,000 base cost and calldata) on the in-process EDR network, in one run.
 *
 *   npm run bench      (= hardhat build --quiet && hardhat run scripts/bench/gas.ts)
 *
 * Prints a table with a PASS/FAIL column against the targets and writes `bench/gas.json`. Every input is derived
 * from fixed seeds and fixed interval ids, so the figures are reproducible and the JSON only changes when gas does.
 * The script exits 0 even when a target is missed: it is a benchmark, not a test.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import hre, { network } from "hardhat";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { type ContractRunner, type ContractTransactionResponse, Wallet, dataSlice, getAddress, keccak256, toUtf8Bytes } from "ethers";
import { deploySystem } from "../../src/deploy.js";
import { buildIntervalTree, type IntervalLeaf, type IntervalTree } from "../../src/tree.js";
import { kwhTokenId } from "../../src/intervals.js";
import { prng } from "../../oracle/simulator/profiles.js";
import { BaselineMerkleMint__factory } from "../../types/ethers-contracts/index.js";

/*//////////////////////////////////////////////////////////////
                          PARAMETERS
//////////////////////////////////////////////////////////////*/

const METERS = 1_000;
const ZONES = 3;
const INTERVAL_LENGTH = 900n;
/** Fixed interval ids (March 2024), long ended at the chain's start time, so inputs never depend on the clock. */
const IV_SINGLE = 1_900_000n;
const IV_BATCH = 1_900_001n;
const IV_ORACLE_SMALL = 1_900_010n;
const IV_ORACLE_LARGE = 1_900_011n;
const WARMUP = 5;
const STEADY = 50;
const BATCH = 16;
const BATCHES = 5;
const TARGETS = { claim: 70_000, batchPerReading: 35_000, submitRoot: 80_000 } as const;
const OUT = "bench/gas.json";

/*//////////////////////////////////////////////////////////////
                       DETERMINISTIC INPUTS
//////////////////////////////////////////////////////////////*/

/** Address derived from a label (no key: such an account never signs). */
function addr(label: string): string {
  return getAddress(dataSlice(keccak256(toUtf8Bytes(label)), 12));
}

/** Key derived from a label (for accounts that must send transactions). */
function key(label: string): Wallet {
  return new Wallet(keccak256(toUtf8Bytes(label)));
}


function randInt(rand: () => number, lo: number, hi: number): bigint {
  return BigInt(lo + Math.floor(rand() * (hi - lo + 1)));
}

function shuffled<T>(items: T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function leavesFor(meters: string[], seed: number): IntervalLeaf[] {
  const rand = prng(seed);
  return meters.map((meter) => ({ meter, importWh: randInt(rand, 0, 3_000), exportWh: randInt(rand, 1, 5_000) }));
}

/*//////////////////////////////////////////////////////////////
                          MEASUREMENT
//////////////////////////////////////////////////////////////*/

type Unit = "gas/tx" | "gas/reading";

interface Row {
  id: string;
  label: string;
  unit: Unit;
  n: number;
  min: number;
  avg: number;
  max: number;
  /** Merkle proof hashes sent per transaction (min-max, or the average for multi-proofs). */
  proofHashes: string | null;
  /** The target applies to every measured transaction, so a row passes when its max is within it. */
  target: number | null;
  pass: boolean | null;
}

const rows: Row[] = [];

function span(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

function addRow(opts: {
  id: string;
  label: string;
  unit: Unit;
  samples: bigint[];
  target: number | null;
  proofHashes?: string;
  /** Readings per transaction, for gas/reading rows. */
  perTx?: number;
}): void {
  const { id, label, unit, samples, target } = opts;
  if (samples.length === 0) throw new Error(`no samples for ${id}`);
  const values = samples.map((g) => Number(g) / (opts.perTx ?? 1));
  const max = Math.round(Math.max(...values));
  rows.push({
    id,
    label,
    unit,
    n: values.length,
    min: Math.round(Math.min(...values)),
    avg: Math.round(values.reduce((sum, v) => sum + v, 0) / values.length),
    max,
    proofHashes: opts.proofHashes ?? null,
    target,
    pass: target === null ? null : max <= target,
  });
}

async function gasOf(p: Promise<ContractTransactionResponse>): Promise<bigint> {
  const receipt = await (await p).wait();
  if (receipt === null || receipt.status !== 1) throw new Error("transaction failed");
  return receipt.gasUsed;
}

/*//////////////////////////////////////////////////////////////
                              RUN
//////////////////////////////////////////////////////////////*/

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const { ethers, networkHelpers } = await network.create();
const [deployer, r1, r2, r3, stranger] = await ethers.getSigners();

// --- System, zones, 1,000 meters ------------------------------------------------------------------------------
const { system } = await deploySystem(deployer, "hardhat", {
  intervalLength: INTERVAL_LENGTH,
  relayers: [r1.address, r2.address, r3.address],
  threshold: 2,
  settlementWindow: 86_400n,
});
const { registry, oracle, kwh } = system;
for (let zone = 1; zone <= ZONES; zone++) await (await registry.setZone(zone, 1_000_000, 1_000_000)).wait();

/** Meters 0..999 get registry indices 0..999. The owners of the owner-caller sample hold keys; the rest do not. */
const OWNER_CALLER_FROM = 1 + WARMUP + STEADY;
const ownerKeys = new Map<number, Wallet>();
for (let i = OWNER_CALLER_FROM; i < OWNER_CALLER_FROM + STEADY; i++) ownerKeys.set(i, key(`bench owner ${i}`));
const meters = Array.from({ length: METERS }, (_, i) => addr(`bench meter ${i}`));
const owners = meters.map((_, i) => ownerKeys.get(i)?.address ?? addr(`bench owner ${i}`));
const zoneOf = (i: number) => (i % ZONES) + 1;

let lastRegistration: ContractTransactionResponse | undefined;
for (let i = 0; i < METERS; i++) {
  // Sent without waiting for each receipt; automine puts every transaction in its own block.
  lastRegistration = await registry.registerMeter(meters[i], {
    owner: owners[i],
    zone: zoneOf(i),
    technology: 0,
    ratedCapacityW: 10_000n,
    recEligible: false,
    accreditationExpiry: 0n,
  });
}
await lastRegistration!.wait();
if ((await registry.meterCount()) !== BigInt(METERS)) throw new Error("meter registration incomplete");
log(`deployed and registered ${METERS} meters in ${ZONES} zones`);

async function submit(tree: IntervalTree, relayer: typeof r1): Promise<bigint> {
  return gasOf(
    oracle
      .connect(relayer)
      .submitRoot(tree.intervalId, tree.root, tree.leafCount, tree.totalImportWh, tree.totalExportWh),
  );
}

// --- 1. Single claims, 1,000-meter tree ---------------------------------------------------------------------------
// Leaves are given in meter order, so the tree's value index i is meter i (registry index i).
const treeA = buildIntervalTree(IV_SINGLE, leavesFor(meters, 1));
const oracleFirst1k = await submit(treeA, r1);
const oracleFinal1k = await submit(treeA, r2);

function claimTx(tree: IntervalTree, i: number, from: ContractRunner) {
  const v = tree.tree.at(i)!;
  return kwh.connect(from).claim(v[0], tree.intervalId, v[2], v[3], tree.tree.getProof(i));
}
/** Claims meters `indices` of tree A one transaction each; returns the gas and the proof lengths. */
async function claimSamples(indices: number[], from: (i: number) => ContractRunner) {
  const gas: bigint[] = [];
  const proofs: number[] = [];
  for (const i of indices) {
    proofs.push(treeA.tree.getProof(i).length);
    gas.push(await gasOf(claimTx(treeA, i, from(i))));
  }
  return { gas, proofHashes: span(proofs) };
}
const range = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k);

const firstClaim = await claimSamples([0], () => stranger);
await claimSamples(range(1, WARMUP), () => stranger); // warm-up, not reported
const steadyStranger = await claimSamples(range(1 + WARMUP, STEADY), () => stranger);
for (const i of ownerKeys.keys()) await networkHelpers.setBalance(owners[i], 10n ** 18n);
const steadyOwner = await claimSamples(range(OWNER_CALLER_FROM, STEADY), (i) =>
  ownerKeys.get(i)!.connect(ethers.provider),
);
const newWord = await claimSamples([256], () => stranger); // registry index 256: first bit of bitmap word 1
// Sanity check: exactly the claimed leaves' export was minted.
const claimedA = [0, ...range(1, WARMUP + 2 * STEADY), 256];
const expectedA = claimedA.reduce((sum, i) => sum + BigInt(treeA.tree.at(i)![3]), 0n);
if ((await kwh.mintedWh(IV_SINGLE)) !== expectedA) throw new Error("minted total does not match the claims");

for (const [id, label, m] of [
  ["claim.first", "KwhToken.claim, first claim of an interval (fresh minted + bitmap words)", firstClaim],
  [
    "claim.steady.stranger",
    `KwhToken.claim, steady state, unrelated sender (claims ${1 + WARMUP}..${WARMUP + STEADY})`,
    steadyStranger,
  ],
  ["claim.steady.owner", "KwhToken.claim, steady state, sent by the meter's owner (owner warm)", steadyOwner],
  ["claim.newBitmapWord", "KwhToken.claim, first claim in a fresh 256-meter bitmap word", newWord],
] as const) {
  addRow({ id, label, unit: "gas/tx", samples: m.gas, target: TARGETS.claim, proofHashes: m.proofHashes });
}
log("single claims measured");

// --- 2. Batch claims, 1,000-meter tree ----------------------------------------------------------------------------
const treeB = buildIntervalTree(IV_BATCH, leavesFor(meters, 2));
await submit(treeB, r1);
await submit(treeB, r2);
// Pre-warm the interval: one claim in each 256-meter bitmap word, so the batches below measure the steady state
// (the interval's minted counter and every bitmap word already non-zero).
const prewarm = [0, 256, 512, 768];
for (const i of prewarm) await gasOf(claimTx(treeB, i, stranger));
const used = new Set<number>(prewarm);

// Adjacent leaves: the 16 leaves under one internal node k four levels above them, i.e. the consecutive tree
// indices 16k+15 .. 16k+30 (children of node j are 2j+1 and 2j+2), mapped back to value indices through
// dump().values. StandardMerkleTree sorts leaves by hash, so these are not consecutive meters. Searching from the
// last node down picks subtrees on the deepest level (1,000 leaves: 976 on level 10, 24 on level 9).
const byTreeIndex = new Map<number, number>();
treeB.tree.dump().values.forEach((v, valueIndex) => byTreeIndex.set(v.treeIndex, valueIndex));
const adjacentBatches: number[][] = [];
for (let k = Math.floor((2 * METERS - 2 - 30) / 16); adjacentBatches.length < BATCHES && k >= 0; k--) {
  const indices = range(16 * k + 15, BATCH).map((t) => byTreeIndex.get(t));
  if (indices.every((v) => v !== undefined && !used.has(v))) {
    adjacentBatches.push(indices as number[]);
    for (const v of indices) used.add(v as number);
  }
}
if (adjacentBatches.length < BATCHES) throw new Error("not enough complete 16-leaf subtrees");
const pool = shuffled(
  range(0, METERS).filter((i) => !used.has(i)),
  prng(3),
);
const randomBatches = range(0, BATCHES).map((b) => pool.slice(b * BATCH, (b + 1) * BATCH));
const manyBatches = range(BATCHES, BATCHES).map((b) => pool.slice(b * BATCH, (b + 1) * BATCH));

const multiProofSizes: Record<"random" | "adjacent", number[]> = { random: [], adjacent: [] };
async function claimIntervalGas(indices: number[], kind: "random" | "adjacent"): Promise<bigint> {
  const mp = treeB.tree.getMultiProof(indices);
  multiProofSizes[kind].push(mp.proof.length);
  const leaves = mp.leaves.map((v) => ({ meter: v[0], importWh: v[2], exportWh: v[3] }));
  return gasOf(kwh.connect(stranger).claimInterval(IV_BATCH, leaves, mp.proof, mp.proofFlags));
}
const randomGas: bigint[] = [];
for (const b of randomBatches) randomGas.push(await claimIntervalGas(b, "random"));
const adjacentGas: bigint[] = [];
for (const b of adjacentBatches) adjacentGas.push(await claimIntervalGas(b, "adjacent"));
const manyGas: bigint[] = [];
const manyProofs: number[] = [];
for (const b of manyBatches) {
  const claims = b.map((i) => {
    const v = treeB.tree.at(i)!;
    return { meter: v[0], intervalId: IV_BATCH, importWh: v[2], exportWh: v[3], proof: treeB.tree.getProof(i) };
  });
  manyProofs.push(claims.reduce((sum, c) => sum + c.proof.length, 0));
  manyGas.push(await gasOf(kwh.connect(stranger).claimMany(claims)));
}
const avgOf = (xs: number[]) => (xs.reduce((sum, v) => sum + v, 0) / xs.length).toFixed(1);
const batches = [
  {
    id: "claimInterval.random16",
    label: "KwhToken.claimInterval, 16 random leaves (multi-proof)",
    short: "claimInterval, 16 random",
    gas: randomGas,
    proofs: multiProofSizes.random,
  },
  {
    id: "claimInterval.adjacent16",
    label: "KwhToken.claimInterval, 16 adjacent leaves of one subtree (multi-proof)",
    short: "claimInterval, 16 adjacent",
    gas: adjacentGas,
    proofs: multiProofSizes.adjacent,
  },
  {
    id: "claimMany.random16",
    label: "KwhToken.claimMany, 16 random leaves, single proofs",
    short: "claimMany, 16 random",
    gas: manyGas,
    proofs: manyProofs,
  },
];
for (const { id, label, gas, proofs } of batches) {
  const proofHashes = `${avgOf(proofs)} avg`;
  addRow({ id, label, unit: "gas/reading", samples: gas, target: TARGETS.batchPerReading, proofHashes, perTx: BATCH });
}
for (const { id, short, gas, proofs } of batches) {
  const label = `  (${short}: the whole transaction)`;
  addRow({ id: `${id}.tx`, label, unit: "gas/tx", samples: gas, target: null, proofHashes: `${avgOf(proofs)} avg` });
}
log("batch claims measured");

// --- 3. ReadingOracle.submitRoot for 10, 1,000 and 100,000 leaves --------------------------------------------------
const treeSmall = buildIntervalTree(
  IV_ORACLE_SMALL,
  leavesFor(
    range(0, 10).map((i) => addr(`bench small ${i}`)),
    4,
  ),
);
const smallFirst = await submit(treeSmall, r1);
const smallFinal = await submit(treeSmall, r2);
const largeLeaves = leavesFor(
  range(0, 100_000).map((i) => addr(`bench large ${i}`)),
  5,
);
const treeLarge = buildIntervalTree(IV_ORACLE_LARGE, largeLeaves);
log("100,000-leaf tree built");
const largeFirst = await submit(treeLarge, r1);
const largeFinal = await submit(treeLarge, r2);
for (const [size, first, final] of [
  ["10", smallFirst, smallFinal],
  ["1k", oracleFirst1k, oracleFinal1k],
  ["100k", largeFirst, largeFinal],
] as const) {
  const leavesLabel = { "10": "10", "1k": "1,000", "100k": "100,000" }[size];
  addRow({
    id: `submitRoot.${size}.first`,
    label: `ReadingOracle.submitRoot, ${leavesLabel} leaves, first vote (pending)`,
    unit: "gas/tx",
    samples: [first],
    target: TARGETS.submitRoot,
  });
  addRow({
    id: `submitRoot.${size}.final`,
    label: `ReadingOracle.submitRoot, ${leavesLabel} leaves, finalising vote (2 of 3)`,
    unit: "gas/tx",
    samples: [final],
    target: TARGETS.submitRoot,
  });
}
log("oracle measured");

// --- 4. Baseline: OpenZeppelin ERC1155 mint + MerkleProof verify, 1,000 leaves ------------------------------------
const baselineId = kwhTokenId(1, IV_SINGLE);
const baselineRand = prng(6);
const baselineValues: [string, bigint, bigint][] = range(0, METERS).map((i) => [
  addr(`bench baseline account ${i}`),
  baselineId,
  randInt(baselineRand, 1, 5_000),
]);
const baselineTree = StandardMerkleTree.of(baselineValues, ["address", "uint256", "uint256"]);
const baseline = await new BaselineMerkleMint__factory(deployer).deploy(baselineTree.root);
await baseline.waitForDeployment();
const baselineProofs: number[] = [];
const baselineClaim = async (i: number) => {
  const [account, id, amount] = baselineTree.at(i)!;
  const proof = baselineTree.getProof(i);
  baselineProofs.push(proof.length);
  return gasOf(baseline.connect(stranger).claim(account, id, amount, proof));
};
const baselineFirst = [await baselineClaim(0)];
const baselineFirstProof = span(baselineProofs);
for (const i of range(1, WARMUP)) await baselineClaim(i);
baselineProofs.length = 0;
const baselineSteady: bigint[] = [];
for (const i of range(1 + WARMUP, STEADY)) baselineSteady.push(await baselineClaim(i));
addRow({
  id: "baseline.first",
  label: "Baseline OZ ERC1155 mint + MerkleProof, first claim",
  unit: "gas/tx",
  samples: baselineFirst,
  target: null,
  proofHashes: baselineFirstProof,
});
addRow({
  id: "baseline.steady",
  label: "Baseline OZ ERC1155 mint + MerkleProof, steady state, unrelated sender",
  unit: "gas/tx",
  samples: baselineSteady,
  target: null,
  proofHashes: span(baselineProofs),
});
log("baseline measured");

/*//////////////////////////////////////////////////////////////
                             REPORT
//////////////////////////////////////////////////////////////*/

const fmt = (n: number) => n.toLocaleString("en-US");
const header = ["Measurement", "unit", "n", "min", "avg", "max", "proof", "target", "result"];
const table = rows.map((r) => [
  r.label,
  r.unit,
  String(r.n),
  fmt(r.min),
  fmt(r.avg),
  fmt(r.max),
  r.proofHashes ?? "",
  r.target === null ? "-" : `<= ${fmt(r.target)}`,
  r.pass === null ? "" : r.pass ? "PASS" : "FAIL",
]);
const widths = header.map((h, c) => Math.max(h.length, ...table.map((cells) => cells[c].length)));
const line = (cells: string[]) =>
  cells.map((cell, c) => (c <= 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
console.log();
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const cells of table) console.log(line(cells));
console.log();
console.log("Gas = receipt gasUsed (21,000 base + calldata + execution); gas/reading = transaction gas / 16.");
console.log("proof = Merkle proof hashes per transaction. A target applies to every transaction: max must be within.");
const failed = rows.filter((r) => r.pass === false);
if (failed.length === 0) console.log("All targets met.");
else {
  console.log(`TARGETS MISSED (${failed.length}):`);
  for (const r of failed) console.log(`  FAIL  ${r.label.trim()}: max ${fmt(r.max)} > ${fmt(r.target!)} ${r.unit}`);
}

const compiler = hre.config.solidity.profiles.default.compilers[0];
const settings = compiler.settings as { evmVersion?: string; optimizer?: { enabled?: boolean; runs?: number } };
const report = {
  compiler: {
    solc: compiler.version,
    evmVersion: settings.evmVersion ?? null,
    optimizer: settings.optimizer ?? null,
  },
  setup: {
    network: "in-process EDR (hardhat network.create())",
    gas: "receipt gasUsed (21,000 base + calldata + execution); gas/reading = transaction gas / batch size",
    meters: METERS,
    zones: ZONES,
    meterOwners: "distinct, one meter each: every mint writes a fresh ERC-1155 balance slot",
    oracle: "3 relayers, threshold 2",
    singleClaims: {
      interval: IV_SINGLE.toString(),
      order: "registry index order; the first claim is excluded from the steady state",
      warmupExcluded: WARMUP,
      steadyStateSamples: STEADY,
    },
    batchClaims: {
      interval: IV_BATCH.toString(),
      batchSize: BATCH,
      batches: BATCHES,
      prewarm: "one claim in each 256-meter bitmap word before the batches (steady state)",
    },
    baseline: "contracts/mocks/BaselineMerkleMint.sol: leaf [address, uint256 id, uint256 amount], no claimed bitmap",
  },
  targets: { claimPerTx: TARGETS.claim, batchPerReading: TARGETS.batchPerReading, submitRootPerTx: TARGETS.submitRoot },
  results: rows,
  failed: failed.map((r) => r.id),
};
mkdirSync("bench", { recursive: true });
writeFileSync(OUT, JSON.stringify(report, null, 2) + "\n");
log(`wrote ${OUT}`);
