import { readFileSync, writeFileSync } from "node:fs";
import { getAddress } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { InputError } from "./errors.js";

/** Leaf encoding of an interval tree: `[meter, intervalId, importWh, exportWh]` (see `MeterReadings.leaf`). */
export const LEAF_ENCODING = ["address", "uint64", "uint64", "uint64"] as const;

export type LeafValue = [string, bigint, bigint, bigint];

/** One meter's energy in one interval. */
export interface IntervalLeaf {
  meter: string;
  importWh: bigint;
  exportWh: bigint;
}

/** An interval's Merkle tree and the values a relayer submits to the ReadingOracle. */
export interface IntervalTree {
  intervalId: bigint;
  root: string;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  tree: StandardMerkleTree<LeafValue>;
}

const UINT64_MAX = (1n << 64n) - 1n;

/** Builds the StandardMerkleTree of an interval's leaves; rejects duplicates, negative and oversized values. */
export function buildIntervalTree(intervalId: bigint, leaves: IntervalLeaf[]): IntervalTree {
  if (leaves.length === 0) throw new InputError(`interval ${intervalId} has no readings: nothing to anchor`);
  const seen = new Set<string>();
  let totalImportWh = 0n;
  let totalExportWh = 0n;
  const values: LeafValue[] = leaves.map((leaf) => {
    const meter = getAddress(leaf.meter);
    if (seen.has(meter)) throw new InputError(`meter ${meter} appears twice in interval ${intervalId}`);
    seen.add(meter);
    for (const [name, v] of [
      ["importWh", leaf.importWh],
      ["exportWh", leaf.exportWh],
    ] as const) {
      if (v < 0n || v > UINT64_MAX) throw new InputError(`${name} ${v} of meter ${meter} is not a uint64`);
    }
    totalImportWh += leaf.importWh;
    totalExportWh += leaf.exportWh;
    return [meter, intervalId, leaf.importWh, leaf.exportWh];
  });
  if (totalImportWh > UINT64_MAX || totalExportWh > UINT64_MAX) {
    throw new InputError(`interval ${intervalId} totals overflow uint64`);
  }
  const tree = StandardMerkleTree.of(values, [...LEAF_ENCODING]);
  return { intervalId, root: tree.root, leafCount: values.length, totalImportWh, totalExportWh, tree };
}

/** A leaf of `tree` with its proof, ready for `KwhToken.claim`. */
export interface LeafProof {
  meter: string;
  intervalId: bigint;
  importWh: bigint;
  exportWh: bigint;
  proof: string[];
}

export function proofFor(tree: IntervalTree, meter: string): LeafProof {
  const wanted = getAddress(meter);
  for (const [i, value] of tree.tree.entries()) {
    if (value[0] === wanted) {
      return {
        meter: wanted,
        intervalId: tree.intervalId,
        importWh: BigInt(value[2]),
        exportWh: BigInt(value[3]),
        proof: tree.tree.getProof(i),
      };
    }
  }
  throw new InputError(`meter ${wanted} has no leaf in interval ${tree.intervalId}`);
}

/** A multi-proof for several meters of one interval, ready for `KwhToken.claimInterval`. */
export interface MultiLeafProof {
  intervalId: bigint;
  leaves: { meter: string; importWh: bigint; exportWh: bigint }[];
  proof: string[];
  proofFlags: boolean[];
}

export function multiProofFor(tree: IntervalTree, meters: string[]): MultiLeafProof {
  const indices = meters.map((m) => {
    const wanted = getAddress(m);
    for (const [i, value] of tree.tree.entries()) if (value[0] === wanted) return i;
    throw new InputError(`meter ${wanted} has no leaf in interval ${tree.intervalId}`);
  });
  const mp = tree.tree.getMultiProof(indices);
  return {
    intervalId: tree.intervalId,
    leaves: mp.leaves.map((v) => ({ meter: v[0], importWh: BigInt(v[2]), exportWh: BigInt(v[3]) })),
    proof: mp.proof,
    proofFlags: mp.proofFlags,
  };
}

/** Writes an interval tree so that proofs can be served or claimed later. */
export function saveTree(path: string, tree: IntervalTree): void {
  const dump = tree.tree.dump();
  writeFileSync(
    path,
    JSON.stringify(
      {
        intervalId: tree.intervalId.toString(),
        root: tree.root,
        leafCount: tree.leafCount,
        totalImportWh: tree.totalImportWh.toString(),
        totalExportWh: tree.totalExportWh.toString(),
        tree: dump,
      },
      (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v),
      2,
    ) + "\n",
  );
}

export function loadTree(path: string): IntervalTree {
  let raw: {
    intervalId: string;
    root: string;
    leafCount: number;
    totalImportWh: string;
    totalExportWh: string;
    tree: Parameters<typeof StandardMerkleTree.load<LeafValue>>[0];
  };
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read tree file ${path}: ${(e as Error).message}`);
  }
  const tree = StandardMerkleTree.load<LeafValue>(raw.tree);
  tree.validate();
  if (tree.root !== raw.root) throw new InputError(`tree file ${path} is corrupt: root does not match its leaves`);
  return {
    intervalId: BigInt(raw.intervalId),
    root: raw.root,
    leafCount: raw.leafCount,
    totalImportWh: BigInt(raw.totalImportWh),
    totalExportWh: BigInt(raw.totalExportWh),
    tree,
  };
}
