import { readFileSync } from "node:fs";
import type { ReadingOracle } from "../../types/ethers-contracts/index.js";
import { InputError, toChainError } from "../errors.js";
import { SYSTEM_INTERFACES } from "../deploy.js";
import { buildIntervalTree, type IntervalLeaf, type IntervalTree } from "../tree.js";
import { parseAddress, parsePositiveInt } from "./meters.js";

/** File format of `oracle submit-root --file`: one interval's per-meter energy (deltas, Wh). */
export interface IntervalReadingsFile {
  intervalId: string | number;
  readings: { meter: string; importWh: string | number; exportWh: string | number }[];
}

/** Reads and validates an interval readings file. */
export function readIntervalFile(path: string): { intervalId: bigint; leaves: IntervalLeaf[] } {
  let raw: IntervalReadingsFile;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read readings file ${path}: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || !Array.isArray(raw.readings)) {
    throw new InputError(`readings file ${path} needs {"intervalId": ..., "readings": [...]}`);
  }
  const intervalId = parsePositiveInt(raw.intervalId, "intervalId");
  const leaves = raw.readings.map((r, i) => ({
    meter: parseAddress(String(r?.meter), `readings[${i}].meter`),
    importWh: parsePositiveInt(r.importWh, `readings[${i}].importWh`),
    exportWh: parsePositiveInt(r.exportWh, `readings[${i}].exportWh`),
  }));
  return { intervalId, leaves };
}

/** Submits this relayer's vote for an interval tree; returns the transaction hash. */
export async function submitTree(oracle: ReadingOracle, tree: IntervalTree): Promise<string> {
  try {
    const tx = await oracle.submitRoot(
      tree.intervalId,
      tree.root,
      tree.leafCount,
      tree.totalImportWh,
      tree.totalExportWh,
    );
    await tx.wait();
    return tx.hash;
  } catch (e) {
    throw toChainError(e, SYSTEM_INTERFACES);
  }
}

/** Builds the tree of a readings file and submits it. */
export async function submitRootFromFile(
  oracle: ReadingOracle,
  path: string,
): Promise<{ tree: IntervalTree; txHash: string }> {
  const { intervalId, leaves } = readIntervalFile(path);
  const tree = buildIntervalTree(intervalId, leaves);
  return { tree, txHash: await submitTree(oracle, tree) };
}

/** What `oracle status` prints. */
export interface IntervalStatus {
  intervalId: bigint;
  status: "none" | "pending" | "final";
  root: string;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  votes: number;
  threshold: number;
  members: { address: string; voted: boolean }[];
}

export async function intervalStatus(oracle: ReadingOracle, intervalId: bigint): Promise<IntervalStatus> {
  try {
    const info = await oracle.getInterval(intervalId);
    const members = await oracle.members();
    return {
      intervalId,
      status: (["none", "pending", "final"] as const)[Number(info.status)],
      root: info.root,
      leafCount: Number(info.leafCount),
      totalImportWh: info.totalImportWh,
      totalExportWh: info.totalExportWh,
      votes: Number(info.votes),
      threshold: Number(await oracle.threshold()),
      members: await Promise.all(
        members.map(async (address) => ({ address, voted: await oracle.hasVoted(intervalId, address) })),
      ),
    };
  } catch (e) {
    throw toChainError(e, SYSTEM_INTERFACES);
  }
}
