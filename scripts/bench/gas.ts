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
import { certificateId, vintageOf } from "../../src/certificates.js";
import { BaselineBurnable__factory, BaselineMerkleMint__factory } from "../../types/ethers-contracts/index.js";

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
/** Certificates: meters with and without accreditation, claimed side by side in two intervals of one month. */
const REC_PAIRS = 30;
/** 2030-01-01T00:00:00Z / 900: two intervals of January 2030, after the meters' accreditation began. */
const IV_REC_FIRST = 2_103_840n;
const IV_REC_LATER = 2_103_841n;
const RETIRE_SAMPLES = 10;
const RETIRE_BATCH = 10;
const CLAIM_DATA = toUtf8Bytes('{"period":"2030-01","location":"Zone 1"}');
const TARGETS = {
  claim: 70_000,
  batchPerReading: 35_000,
  submitRoot: 80_000,
  issuanceAdded: 25_000,
  retire: 45_000,
} as const;
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

type Unit = "gas/tx" | "gas/reading" | "gas added";

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

// --- 5. Certificates: issuance added to a claim, retirement beside an OpenZeppelin burn ------------------------------
// REC_PAIRS accredited solar meters and as many without accreditation, alternating (so both sets share bitmap words
// and tree depth), each with its own owner; one tree per interval holds all of them. The added gas of issuance is a
// claim of an accredited meter minus the claim of its unaccredited neighbour in the same interval.
const { rec } = system;
const recMeters = range(0, 2 * REC_PAIRS).map((i) => addr(`bench rec meter ${i}`));
const recOwners = range(0, 2 * REC_PAIRS).map((i) => key(`bench rec owner ${i}`).connect(ethers.provider));
const accredited = (i: number) => i % 2 === 0;
for (let i = 0; i < recMeters.length; i++) {
  lastRegistration = await registry.registerMeter(recMeters[i], {
    owner: recOwners[i].address,
    zone: 1,
    technology: 0,
    ratedCapacityW: 10_000n,
    recEligible: accredited(i),
    accreditationExpiry: accredited(i) ? 4_102_444_800n : 0n, // 2100-01-01
  });
}
await lastRegistration!.wait();
await networkHelpers.time.increaseTo((IV_REC_LATER + 2n) * INTERVAL_LENGTH);
const recTrees = [IV_REC_FIRST, IV_REC_LATER].map((iv, k) =>
  buildIntervalTree(iv, leavesFor([...recMeters, ...meters], 10 + k)),
);
for (const t of recTrees) {
  await submit(t, r1);
  await submit(t, r2);
}
const recClaim = (t: IntervalTree, i: number) => claimTx(t, i, stranger);
// The interval's first claim (fresh minted counter) and the first claim of each bitmap word are not measured.
// Registry indices 1000.. : recMeters[24] (index 1024) opens bitmap word 4; pairs stay aligned (2j, 2j+1).
const recPrewarm = new Set([0, 1, 24, 25]);
for (const t of recTrees) for (const i of recPrewarm) await gasOf(recClaim(t, i));
const issuance: Record<"first" | "later", { with: bigint[]; without: bigint[] }> = {
  first: { with: [], without: [] },
  later: { with: [], without: [] },
};
for (const [k, phase] of [
  [0, "first"],
  [1, "later"],
] as const) {
  for (let i = 0; i < 2 * REC_PAIRS; i++) {
    if (recPrewarm.has(i)) continue;
    const g = await gasOf(recClaim(recTrees[k], i));
    (accredited(i) ? issuance[phase].with : issuance[phase].without).push(g);
  }
}
const vintage = vintageOf(IV_REC_FIRST * INTERVAL_LENGTH);
const recIdOf = (i: number) => certificateId({ meter: recMeters[i], vintage, technology: "Solar", zone: 1 });
const expectRec = BigInt(recTrees[0].tree.at(0)![3]) + BigInt(recTrees[1].tree.at(0)![3]);
if ((await rec.balanceOf(recOwners[0].address, recIdOf(0))) !== expectRec) {
  throw new Error("certificates issued do not match the claimed export");
}
const avgGas = (xs: bigint[]) => xs.reduce((sum, g) => sum + g, 0n) / BigInt(xs.length);
for (const [phase, label] of [
  ["first", "first certificates of the month (fresh class balance)"],
  ["later", "later interval of the month (class already held)"],
] as const) {
  const m = issuance[phase];
  addRow({
    id: `claim.rec.${phase}.with`,
    label: `KwhToken.claim + certificate issuance, ${label}`,
    unit: "gas/tx",
    samples: m.with,
    target: null,
  });
  addRow({
    id: `claim.rec.${phase}.without`,
    label: `  (the same claims of unaccredited meters, same trees)`,
    unit: "gas/tx",
    samples: m.without,
    target: null,
  });
  // Pairs: accredited meter 2j and its unaccredited neighbour 2j+1 of the same interval.
  addRow({
    id: `claim.rec.${phase}.added`,
    label: `  issuance added to a claim, ${phase === "first" ? "first of the month" : "steady state"}`,
    unit: "gas added",
    samples: m.with.map((g, j) => g - m.without[j]),
    target: TARGETS.issuanceAdded,
  });
  if (phase === "later") {
    // Keep the averages honest: report the difference of averages too.
    console.log(`issuance added (difference of averages, ${phase}): ${avgGas(m.with) - avgGas(m.without)}`);
  }
}

// Retirement: owners retire part of their own class for themselves, twice (the first creates the claimed
// balance slot); a desk holding RETIRE_BATCH classes retires them in one batch, twice. Baseline: OZ burn.
for (const o of recOwners) await networkHelpers.setBalance(o.address, 10n ** 18n);
const holders = range(0, RETIRE_SAMPLES).map((j) => 2 * j + 2);
const desk = key("bench retirement desk").connect(ethers.provider);
await networkHelpers.setBalance(desk.address, 10n ** 18n);
const deskClasses = range(0, RETIRE_BATCH).map((j) => 2 * j + 2 + 2 * RETIRE_SAMPLES);
for (const i of [...holders, ...deskClasses]) {
  const held = await rec.balanceOf(recOwners[i].address, recIdOf(i));
  if (held < 300n) throw new Error(`bench rec owner ${i} holds ${held} Wh: the retirements need 300`);
}
for (const i of deskClasses) {
  const held = await rec.balanceOf(recOwners[i].address, recIdOf(i));
  await gasOf(rec.connect(recOwners[i]).safeTransferFrom(recOwners[i].address, desk.address, recIdOf(i), held, "0x"));
}
const retireFirst: bigint[] = [];
const retireLater: bigint[] = [];
const retireNoData: bigint[] = [];
for (const [samples, data] of [
  [retireFirst, CLAIM_DATA],
  [retireLater, CLAIM_DATA],
  [retireNoData, "0x"],
] as const) {
  for (const i of holders) {
    samples.push(await gasOf(rec.connect(recOwners[i]).retire(recIdOf(i), 100n, recOwners[i].address, data)));
  }
}
const deskIds = deskClasses.map(recIdOf);
const deskAmounts = deskIds.map(() => 100n);
const batchFirst = await gasOf(rec.connect(desk).retireBatch(deskIds, deskAmounts, desk.address, CLAIM_DATA));
const batchLater = await gasOf(rec.connect(desk).retireBatch(deskIds, deskAmounts, desk.address, CLAIM_DATA));

const burnable = await new BaselineBurnable__factory(deployer).deploy();
await burnable.waitForDeployment();
const burnFirst: bigint[] = [];
for (const i of holders) await gasOf(burnable.mint(recOwners[i].address, recIdOf(i), 10_000n));
for (const i of holders) burnFirst.push(await gasOf(burnable.connect(recOwners[i]).burn(recOwners[i].address, recIdOf(i), 100n)));
for (const id of deskIds) await gasOf(burnable.mint(desk.address, id, 10_000n));
const burnBatch = await gasOf(burnable.connect(desk).burnBatch(desk.address, deskIds, deskAmounts));

addRow({
  id: "rec.retire.first",
  label: "RecToken.retire, a beneficiary's first retirement of the class (fresh claimed balance)",
  unit: "gas/tx",
  samples: retireFirst,
  target: TARGETS.retire,
});
addRow({
  id: "rec.retire.later",
  label: "RecToken.retire, steady state (claimed balance already non-zero)",
  unit: "gas/tx",
  samples: retireLater,
  target: TARGETS.retire,
});
addRow({
  id: "rec.retire.later.noClaimData",
  label: "RecToken.retire, steady state, empty claim data",
  unit: "gas/tx",
  samples: retireNoData,
  target: TARGETS.retire,
});
addRow({
  id: "rec.retireBatch10.first",
  label: `RecToken.retireBatch, ${RETIRE_BATCH} classes, first retirement of each`,
  unit: "gas/tx",
  samples: [batchFirst],
  target: null,
});
addRow({
  id: "rec.retireBatch10.later",
  label: `RecToken.retireBatch, ${RETIRE_BATCH} classes, steady state`,
  unit: "gas/tx",
  samples: [batchLater],
  target: null,
});
addRow({
  id: "baseline.burn",
  label: "Baseline OZ ERC1155Burnable.burn (same holders, partial burn)",
  unit: "gas/tx",
  samples: burnFirst,
  target: null,
});
addRow({
  id: "baseline.burnBatch10",
  label: `Baseline OZ ERC1155Burnable.burnBatch, ${RETIRE_BATCH} ids`,
  unit: "gas/tx",
  samples: [burnBatch],
  target: null,
});
log("certificates measured");

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
    certificates: {
      intervals: [IV_REC_FIRST.toString(), IV_REC_LATER.toString()],
      pairs: REC_PAIRS,
      added: "claim of an accredited meter minus the claim of its unaccredited neighbour (same tree, same interval)",
      retire: `${RETIRE_SAMPLES} holders, 100 Wh each, ${CLAIM_DATA.length}-byte claim data`,
      baseline: "contracts/mocks/BaselineBurnable.sol: OpenZeppelin ERC1155Burnable",
    },
  },
  targets: {
    claimPerTx: TARGETS.claim,
    batchPerReading: TARGETS.batchPerReading,
    submitRootPerTx: TARGETS.submitRoot,
    issuanceAddedToClaim: TARGETS.issuanceAdded,
    retirePerTx: TARGETS.retire,
  },
  results: rows,
  failed: failed.map((r) => r.id),
};
mkdirSync("bench", { recursive: true });
writeFileSync(OUT, JSON.stringify(report, null, 2) + "\n");
log(`wrote ${OUT}`);
