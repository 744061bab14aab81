/**
 * Claiming an interval's kWh on behalf of its meters (optional relayer duty): `KwhToken.claimInterval` with a
 * multi-proof per batch of meters. Tokens always go to each meter's registered owner; the relayer only pays gas.
 *
 * Already-claimed meters are skipped (read with `isClaimed` first). A batch whose simulation fails because of one
 * meter (claimed meanwhile, revoked before the interval ended, unknown) is retried without it, and that meter is
 * reported; a revert no argument pins on a meter (an owner contract refusing kWh or certificates in
 * `onERC1155Received`) splits the batch into single claims, so one owner cannot block the others; a failure of
 * the whole interval (root not final, proof not matching the final root, paused) throws.
 * Claims are idempotent on chain (`KwhTokenAlreadyClaimed`), so a rerun after any failure is safe; sends are not
 * retried blindly (a rerun re-reads `isClaimed`).
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  getAddress,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { InputError } from "../../../src/errors.js";
import { KwhToken__factory } from "../../../types/ethers-contracts/index.js";
import type { Hex } from "../types.js";
import {
  ChainOperationError,
  DEFAULT_RETRY,
  SILENT_LOGGER,
  decodeRevert,
  describeChainError,
  withRetry,
  type ChainLogger,
  type RetryPolicy,
} from "./clients.js";

const KWH_ABI = KwhToken__factory.abi;

/** Anything that gives `MerkleProof.multiProofVerify` inputs for meters of one interval tree (`FastTree`, …). */
export interface MultiProofSource {
  multiProof(meters: Hex[]): {
    leaves: readonly { meter: string; importWh: bigint; exportWh: bigint }[];
    proof: readonly string[];
    proofFlags: readonly boolean[];
  };
}

export interface ClaimContext {
  publicClient: PublicClient;
  /** Sends the claims (its account pays the gas). */
  walletClient: WalletClient<Transport, Chain, Account>;
  /** The KwhToken. */
  kwh: Hex;
  /** Blocks each claim transaction waits for. Default 1. */
  confirmations?: number;
  retry?: Partial<RetryPolicy>;
  logger?: ChainLogger;
}

export interface ClaimBatchResult {
  /** Meters claimed by this call. */
  claimed: Hex[];
  /** Meters whose leaf was claimed before (by anyone). */
  alreadyClaimed: Hex[];
  /** Meters that cannot be claimed, with the contract's one-line reason. */
  failed: { meter: Hex; reason: string }[];
  /** The claim transactions sent. */
  txHashes: Hex[];
}

/** Custom errors that concern one meter of a batch (its first argument), not the whole interval. */
const PER_METER_ERRORS = new Set(["KwhTokenAlreadyClaimed", "KwhTokenMeterRevoked", "KwhTokenUnknownMeter"]);
/** Custom errors that concern the whole interval: no batch of it can succeed. */
const INTERVAL_ERRORS = new Set([
  "KwhTokenRootNotFinal",
  "KwhTokenInvalidProof",
  "KwhTokenExceedsProvenExport",
  "KwhTokenEmptyClaim",
  "EnforcedPause",
]);

function isContractRevert(err: unknown): boolean {
  return err instanceof BaseError && err.walk((e) => e instanceof ContractFunctionRevertedError) !== null;
}

/**
 * Claims `meters`' leaves of `intervalId` in batches of `batchSize` through `KwhToken.claimInterval`.
 * @param tree The interval's tree; its root must be the oracle's final root for the interval.
 * @throws ChainOperationError `rejected` when the interval cannot be claimed (not final, wrong tree, paused…), or
 * the RPC error when the endpoint stays unavailable. Claims that landed before a throw stay claimed.
 */
export async function claimBatch(
  ctx: ClaimContext,
  intervalId: bigint,
  tree: MultiProofSource,
  meters: readonly (Hex | string)[],
  batchSize = 16,
): Promise<ClaimBatchResult> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new InputError(`batch size ${batchSize} must be a positive integer`);
  const log = ctx.logger ?? SILENT_LOGGER;
  const policy = { ...DEFAULT_RETRY, ...ctx.retry };
  const kwh = getAddress(ctx.kwh);
  const account = ctx.walletClient.account;
  const read = <T>(label: string, fn: () => Promise<T>) => withRetry(fn, { policy, label, logger: log });
  const result: ClaimBatchResult = { claimed: [], alreadyClaimed: [], failed: [], txHashes: [] };

  const unique: Hex[] = [];
  const seen = new Set<string>();
  for (const m of meters) {
    const meter = getAddress(m);
    if (!seen.has(meter)) unique.push(meter);
    seen.add(meter);
  }
  const todo: Hex[] = [];
  for (let i = 0; i < unique.length; i += 32) {
    const slice = unique.slice(i, i + 32);
    const claimed = await Promise.all(
      slice.map((meter) =>
        read("isClaimed", () =>
          ctx.publicClient.readContract({
            address: kwh,
            abi: KWH_ABI,
            functionName: "isClaimed",
            args: [meter, intervalId],
          }),
        ),
      ),
    );
    slice.forEach((meter, k) => (claimed[k] ? result.alreadyClaimed : todo).push(meter));
  }

  const queue: Hex[][] = [];
  for (let i = 0; i < todo.length; i += batchSize) queue.push(todo.slice(i, i + batchSize));
  for (let batch = queue.shift(); batch !== undefined; batch = queue.shift()) {
    let reverts = 0;
    while (batch.length > 0) {
      const mp = tree.multiProof(batch);
      const args = [
        intervalId,
        mp.leaves.map((l) => ({ meter: getAddress(l.meter), importWh: l.importWh, exportWh: l.exportWh })),
        mp.proof.map((p) => p as Hex),
        [...mp.proofFlags],
      ] as const;
      let request;
      try {
        ({ request } = await read("simulate claimInterval", () =>
          ctx.publicClient.simulateContract({
            address: kwh,
            abi: KWH_ABI,
            functionName: "claimInterval",
            args,
            account,
          }),
        ));
      } catch (e) {
        const revert = decodeRevert(e);
        const culprit =
          revert !== undefined && PER_METER_ERRORS.has(revert.errorName) ? String(revert.args.meter) : undefined;
        const intervalWide = revert !== undefined && INTERVAL_ERRORS.has(revert.errorName);
        if (culprit === undefined && !intervalWide && isContractRevert(e)) {
          // Not pinned on a meter (an owner contract refusing tokens, say): claim meter by meter.
          if (batch.length > 1) {
            log.warn(
              { intervalId, meters: batch.length, reason: describeChainError(e) },
              "batch refused; claiming singly",
            );
            queue.unshift(...batch.map((m) => [m]));
          } else {
            result.failed.push({ meter: batch[0], reason: describeChainError(e) });
          }
          batch = [];
          continue;
        }
        if (culprit === undefined || !batch.some((m) => m.toLowerCase() === culprit.toLowerCase())) {
          throw new ChainOperationError(
            "rejected",
            `claim of interval ${intervalId} refused: ${describeChainError(e)}`,
            { cause: e },
          );
        }
        const meter = getAddress(culprit);
        if (revert!.errorName === "KwhTokenAlreadyClaimed") result.alreadyClaimed.push(meter);
        else result.failed.push({ meter, reason: revert!.message });
        batch = batch.filter((m) => m !== meter);
        continue;
      }
      const hash = await ctx.walletClient.writeContract(request);
      result.txHashes.push(hash);
      const receipt = await read("waitForTransactionReceipt", () =>
        ctx.publicClient.waitForTransactionReceipt({ hash, confirmations: ctx.confirmations ?? 1 }),
      );
      if (receipt.status !== "success") {
        // Lost a race (someone claimed one of these meanwhile): simulate again, which names the meter.
        if (++reverts > 2) {
          throw new ChainOperationError(
            "reverted",
            `claim ${hash} of interval ${intervalId} reverted and simulates fine`,
          );
        }
        log.warn({ intervalId, txHash: hash }, "claim reverted; retrying the batch");
        continue;
      }
      log.info({ intervalId, txHash: hash, meters: batch.length }, "kWh claimed");
      result.claimed.push(...batch);
      batch = [];
    }
  }
  return result;
}
