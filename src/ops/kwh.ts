import type { KwhToken } from "../../types/ethers-contracts/index.js";
import { toChainError } from "../errors.js";
import { SYSTEM_INTERFACES } from "../deploy.js";
import { decodeKwhTokenId } from "../intervals.js";
import { multiProofFor, proofFor, type IntervalTree } from "../tree.js";

/** Claims one meter's leaf of `tree`; returns the transaction hash. */
export async function claimKwh(kwh: KwhToken, tree: IntervalTree, meter: string): Promise<string> {
  const p = proofFor(tree, meter);
  try {
    const tx = await kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof);
    await tx.wait();
    return tx.hash;
  } catch (e) {
    throw toChainError(e, SYSTEM_INTERFACES);
  }
}

/** Claims several meters of one interval with one multi-proof per batch; returns the transaction hashes. */
export async function claimKwhBatch(
  kwh: KwhToken,
  tree: IntervalTree,
  meters: string[],
  batchSize = 16,
): Promise<string[]> {
  const hashes: string[] = [];
  for (let i = 0; i < meters.length; i += batchSize) {
    const mp = multiProofFor(tree, meters.slice(i, i + batchSize));
    try {
      const tx = await kwh.claimInterval(mp.intervalId, mp.leaves, mp.proof, mp.proofFlags);
      await tx.wait();
      hashes.push(tx.hash);
    } catch (e) {
      throw toChainError(e, SYSTEM_INTERFACES);
    }
  }
  return hashes;
}

/** One kWh token holding. */
export interface KwhHolding {
  id: bigint;
  zone: bigint;
  intervalId: bigint;
  balanceWh: bigint;
  transferableUntil: bigint;
}

/** An account's kWh holdings, found from the transfer events that touched it. */
export async function kwhBalances(kwh: KwhToken, account: string, fromBlock = 0): Promise<KwhHolding[]> {
  try {
    const ids = new Set<bigint>();
    for (const filter of [
      kwh.filters.TransferSingle(undefined, undefined, account),
      kwh.filters.TransferSingle(undefined, account),
    ]) {
      for (const ev of await kwh.queryFilter(filter, fromBlock)) ids.add(ev.args.id);
    }
    for (const filter of [
      kwh.filters.TransferBatch(undefined, undefined, account),
      kwh.filters.TransferBatch(undefined, account),
    ]) {
      for (const ev of await kwh.queryFilter(filter, fromBlock)) for (const id of ev.args.ids) ids.add(id);
    }
    const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const holdings: KwhHolding[] = [];
    for (const id of sorted) {
      const balanceWh = await kwh.balanceOf(account, id);
      if (balanceWh === 0n) continue;
      holdings.push({ id, ...decodeKwhTokenId(id), balanceWh, transferableUntil: await kwh.transferableUntil(id) });
    }
    return holdings;
  } catch (e) {
    throw toChainError(e, SYSTEM_INTERFACES);
  }
}
