/**
 * Casting this relayer's committee vote for an interval's root, restart-safe.
 *
 * Invariant: at most one vote transaction per interval is ever in flight, and at most one vote per interval ever
 * lands. How:
 * - **Chain state first.** Before anything is signed, `post()` reads the interval and `hasVoted(intervalId, me)`:
 *   final with our values → `final`; final with other values → `conflict` (never sent); already voted → `voted`.
 *   A restarted relayer therefore never resends a vote that landed.
 * - **One nonce per vote.** A vote is signed locally for one nonce; retries rebroadcast the same bytes (so a lost
 *   response cannot create a second transaction) and replacements reuse the nonce with higher fees, so only one of
 *   them can be mined. A vote whose receipt has not been seen stays tracked across `post()` calls, and no new
 *   vote is signed while it is pending.
 * - **Nothing sent over unknown pending transactions.** If the account has pending transactions the poster did not
 *   send (`pending` nonce above `latest`: a crashed earlier run, or another process with this key), it waits for
 *   them to be mined and re-reads the chain; if they stay pending it refuses (`pending_transactions`).
 * - **Write-ahead hash.** `onSent(intervalId, txHash)` runs before each broadcast (the hash is computed from the
 *   signed bytes), so the service can persist `sent` first; `post({ ...batch, txHash })` after a restart adopts a
 *   still-pending transaction (waits for it, replaces it if stuck) instead of signing a new one. A recorded hash
 *   that never reached the chain is harmless: it is simply not found.
 * - **The contract as the last line.** A vote that reverts with `ReadingOracleAlreadyVoted` (simulated or mined) is
 *   reported as `voted`.
 *
 * Fees: EIP-1559 (`estimateFeesPerGas`), or legacy `gasPrice` when the chain's blocks carry no base fee. A vote not
 * mined within `replaceAfterMs` of its last broadcast is replaced with fees bumped by `feeBumpPercent` (at least
 * 12.5%, above the 10% nodes require) or the current estimate if higher, up to `maxReplacements` times and never
 * above `maxFeePerGasCap`. RPC failures (unreachable, timeouts, 5xx, rate limits) are retried with exponential
 * backoff; the vote waits for `confirmations` blocks and is re-checked against reorgs.
 */
import {
  BaseError,
  Eip1559FeesNotSupportedError,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  decodeFunctionData,
  encodeFunctionData,
  getAddress,
  keccak256,
  type Chain,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type TransactionReceipt,
} from "viem";
import { sendRawTransaction } from "viem/actions";
import { InputError } from "../../../src/errors.js";
import { ReadingOracle__factory } from "../../../types/ethers-contracts/index.js";
import type { Hex, IntervalBatch, PostStatus } from "../types.js";
import {
  ChainOperationError,
  DEFAULT_RETRY,
  SILENT_LOGGER,
  StoppedError,
  backoffDelay,
  decodeRevert,
  describeChainError,
  errorText,
  isTransientRpcError,
  sleep,
  withRetry,
  type ChainLogger,
  type RetryPolicy,
} from "./clients.js";

const ORACLE_ABI = ReadingOracle__factory.abi;
/** `IReadingOracle.Status.Final`. */
const STATUS_FINAL = 2;
const UINT32_MAX = 2n ** 32n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const ROOT = /^0x[0-9a-fA-F]{64}$/;

/** What `post()` found or did. `voted`/`final` may come without `txHash` when the vote was cast earlier. */
export interface PostResult {
  status: PostStatus | "conflict" | "not_ended";
  /** The vote transaction that landed, when this call saw it land. */
  txHash?: Hex;
  /** One line for logs: why, with the chain's values on a conflict. */
  detail?: string;
}

/** A batch to vote for; `txHash` is the hash recorded as `sent` by an earlier run, if any. */
export type PostInput = IntervalBatch & { txHash?: Hex };

export interface RootPosterOptions {
  /** A client with its chain set (the chain id is signed into every vote). */
  publicClient: PublicClient<Transport, Chain>;
  /** The relayer's local account (signs offline; see `createChainClients`). */
  account: LocalAccount;
  /** The ReadingOracle. */
  oracle: Hex;
  /** Blocks a vote must be buried under before `post()` reports it (1 = mined). Default 1. */
  confirmations?: number;
  /** Receipt polling period, ms. Default 1000. */
  pollIntervalMs?: number;
  /** Replace a vote not mined this long after its last broadcast, ms. Default 60000. */
  replaceAfterMs?: number;
  /** Fee bumps of one vote at most. Default 5. */
  maxReplacements?: number;
  /** Fee increase of a replacement, percent; at least 12.5. Default 12.5. */
  feeBumpPercent?: number;
  /** Never sign a vote with a higher `maxFeePerGas` (or `gasPrice`), wei. Default none. */
  maxFeePerGasCap?: bigint;
  /** Give up waiting for a vote (it stays tracked; the next `post()` resumes it) after this long, ms. */
  stuckAfterMs?: number;
  /** How long to wait for pending transactions the poster did not send before refusing to vote, ms. */
  foreignPendingWaitMs?: number;
  /** Fixed gas limit for votes instead of `estimateGas`. */
  gasLimit?: bigint;
  /** Gas estimate headroom, percent of the estimate. Default 125. */
  gasMultiplierPercent?: number;
  /** With `gasLimit`, still `eth_call` the vote before sending it. Default true. */
  simulate?: boolean;
  /** Backoff for RPC failures. */
  retry?: Partial<RetryPolicy>;
  /** Called with each signed vote's hash before it is broadcast (persist `sent` here); a throw aborts the send. */
  onSent?: (intervalId: bigint, txHash: Hex) => void | Promise<void>;
  logger?: ChainLogger;
}

type Fees =
  { type: "eip1559"; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { type: "legacy"; gasPrice: bigint };

/** The vote transaction of one nonce: the original and its replacements. */
interface Inflight {
  intervalId: bigint;
  nonce: number;
  data: Hex;
  gas: bigint;
  /** Fees of the latest signed transaction. */
  fees: Fees;
  /** Every transaction signed for this nonce, oldest first. */
  hashes: Hex[];
  /** Latest signed transaction, for rebroadcasting (undefined for an adopted one). */
  raw?: Hex;
  /** The latest broadcast may not have reached the node (RPC failed): rebroadcast it. */
  rebroadcast: boolean;
  lastSentAt: number;
  startedAt: number;
  replacements: number;
  capReached: boolean;
}

type Settled = { kind: "mined"; receipt: TransactionReceipt } | { kind: "nonce_taken" };
type Broadcast = "accepted" | "nonce_used" | "underpriced" | "unknown";

function feeOf(f: Fees): bigint {
  return f.type === "eip1559" ? f.maxFeePerGas : f.gasPrice;
}

function describeFees(f: Fees): Record<string, string> {
  return f.type === "eip1559"
    ? { maxFeePerGas: f.maxFeePerGas.toString(), maxPriorityFeePerGas: f.maxPriorityFeePerGas.toString() }
    : { gasPrice: f.gasPrice.toString() };
}

function sameValues(
  info: { root: Hex; leafCount: number; totalImportWh: bigint; totalExportWh: bigint },
  batch: IntervalBatch,
): boolean {
  return (
    info.root.toLowerCase() === batch.root.toLowerCase() &&
    info.leafCount === batch.leafCount &&
    info.totalImportWh === batch.totalImportWh &&
    info.totalExportWh === batch.totalExportWh
  );
}

/** Posts this relayer's votes, one at a time (calls are queued; a second call for the same interval joins the first). */
export class RootPoster {
  readonly #client: PublicClient<Transport, Chain>;
  readonly #account: LocalAccount;
  readonly #me: Hex;
  readonly #oracle: Hex;
  readonly #confirmations: bigint;
  readonly #pollMs: number;
  readonly #replaceAfterMs: number;
  readonly #maxReplacements: number;
  readonly #bumpBps: bigint;
  readonly #feeCap?: bigint;
  readonly #stuckAfterMs: number;
  readonly #foreignWaitMs: number;
  readonly #gasLimit?: bigint;
  readonly #gasMultiplier: bigint;
  readonly #simulate: boolean;
  readonly #retry: RetryPolicy;
  readonly #onSent?: (intervalId: bigint, txHash: Hex) => void | Promise<void>;
  readonly #log: ChainLogger;
  readonly #abort = new AbortController();
  readonly #running = new Map<bigint, Promise<PostResult>>();
  #queue: Promise<unknown> = Promise.resolve();
  #inflight?: Inflight;
  #nonce?: number;

  constructor(opts: RootPosterOptions) {
    const bump = opts.feeBumpPercent ?? 12.5;
    if (!(bump >= 12.5)) throw new InputError(`feeBumpPercent ${bump} must be at least 12.5`);
    this.#client = opts.publicClient;
    this.#account = opts.account;
    this.#me = getAddress(opts.account.address);
    this.#oracle = getAddress(opts.oracle);
    this.#confirmations = BigInt(Math.max(1, opts.confirmations ?? 1));
    this.#pollMs = opts.pollIntervalMs ?? 1_000;
    this.#replaceAfterMs = opts.replaceAfterMs ?? 60_000;
    this.#maxReplacements = opts.maxReplacements ?? 5;
    this.#bumpBps = BigInt(Math.ceil(bump * 100));
    this.#feeCap = opts.maxFeePerGasCap;
    this.#stuckAfterMs = opts.stuckAfterMs ?? this.#replaceAfterMs * (this.#maxReplacements + 2);
    this.#foreignWaitMs = opts.foreignPendingWaitMs ?? this.#replaceAfterMs * 2;
    this.#gasLimit = opts.gasLimit;
    this.#gasMultiplier = BigInt(opts.gasMultiplierPercent ?? 125);
    this.#simulate = opts.simulate ?? true;
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#onSent = opts.onSent;
    this.#log = opts.logger ?? SILENT_LOGGER;
  }

  /** The relayer's address. */
  get address(): Hex {
    return this.#me;
  }

  /** The vote transaction still awaiting its receipt, if any (for health checks). */
  get pendingVote(): { intervalId: bigint; nonce: number; hashes: Hex[] } | undefined {
    const f = this.#inflight;
    return f && { intervalId: f.intervalId, nonce: f.nonce, hashes: [...f.hashes] };
  }

  /** Next nonce the poster expects to use (undefined before its first vote). */
  get nonce(): number | undefined {
    return this.#nonce;
  }

  /**
   * Votes for `batch` unless the chain says there is nothing to do. Calls are serialised; a call for an interval
   * already being posted returns that call's promise.
   * @returns `final`, `voted`, `conflict` (final with other values: nothing sent) or `not_ended`.
   * @throws ChainOperationError `rpc` (endpoint unavailable beyond the retries), `rejected` (the contract or the
   * node refused the vote: not a member, paused, insufficient funds…), `reverted` (mined but reverted for another
   * reason than a duplicate vote), `pending_transactions`, `stuck`, `stopped`; InputError for a malformed batch.
   * After `rpc`, `stuck` or `stopped` a signed vote may still be pending: the next call resumes it.
   */
  post(batch: PostInput): Promise<PostResult> {
    const joined = this.#running.get(batch.intervalId);
    if (joined !== undefined) return joined;
    const run = this.#queue.then(() => this.#post(batch));
    this.#queue = run.catch(() => undefined);
    this.#running.set(batch.intervalId, run);
    const forget = () => {
      if (this.#running.get(batch.intervalId) === run) this.#running.delete(batch.intervalId);
    };
    run.then(forget, forget);
    return run;
  }

  /** Aborts waits and retries; calls in progress reject with `stopped`. Pending transactions are not cancelled. */
  stop(): void {
    this.#abort.abort();
  }

  /*//////////////////////////////////////////////////////////////
                               FLOW
  //////////////////////////////////////////////////////////////*/

  async #post(batch: PostInput): Promise<PostResult> {
    this.#check(batch);
    if (this.#abort.signal.aborted) throw new StoppedError();
    // A vote of ours still pending from an earlier call (which threw or was stopped) goes first: its nonce is taken.
    if (this.#inflight === undefined && batch.txHash !== undefined) await this.#adopt(batch, batch.txHash);
    const prior = this.#inflight;
    if (prior !== undefined) {
      const settled = await this.#settle(prior);
      if (prior.intervalId === batch.intervalId) {
        const result = await this.#conclude(batch, prior, settled);
        if (result !== undefined) return result;
      }
    }
    for (let round = 0; round < 4; round++) {
      const known = await this.#fromState(batch);
      if (known !== undefined) return known;
      const idle = await this.#idleNonce(batch);
      if (typeof idle !== "number") return idle;
      const data = encodeFunctionData({
        abi: ORACLE_ABI,
        functionName: "submitRoot",
        args: [batch.intervalId, batch.root, batch.leafCount, batch.totalImportWh, batch.totalExportWh],
      });
      const gas = await this.#prepare(batch);
      if (typeof gas !== "bigint") return gas;
      const fees = await this.#currentFees();
      const inflight: Inflight = {
        intervalId: batch.intervalId,
        nonce: idle,
        data,
        gas,
        fees,
        hashes: [],
        rebroadcast: false,
        lastSentAt: Date.now(),
        startedAt: Date.now(),
        replacements: 0,
        capReached: false,
      };
      this.#inflight = inflight;
      const sent = await this.#signAndSend(inflight, fees).catch((e: unknown) => {
        // Refused outright (or onSent failed): nothing of this nonce can be pending.
        if (inflight.hashes.length <= 1 && !(e instanceof StoppedError)) this.#inflight = undefined;
        throw e;
      });
      this.#log.info(
        {
          intervalId: batch.intervalId,
          nonce: idle,
          txHash: inflight.hashes.at(-1),
          broadcast: sent,
          ...describeFees(fees),
        },
        "vote sent",
      );
      const settled = await this.#settle(inflight);
      const result = await this.#conclude(batch, inflight, settled);
      if (result !== undefined) return result;
    }
    throw new ChainOperationError(
      "nonce_contention",
      `interval ${batch.intervalId}: other transactions of ${this.#me} keep taking the vote's nonce`,
    );
  }

  #check(batch: IntervalBatch): void {
    const id = batch.intervalId;
    if (typeof id !== "bigint" || id < 0n || id > UINT64_MAX) throw new InputError(`interval id ${id} is not a uint64`);
    if (!ROOT.test(batch.root) || BigInt(batch.root) === 0n) {
      throw new InputError(`interval ${id}: root ${batch.root} is not a non-zero bytes32`);
    }
    if (!Number.isInteger(batch.leafCount) || batch.leafCount < 1 || BigInt(batch.leafCount) > UINT32_MAX) {
      throw new InputError(`interval ${id}: leaf count ${batch.leafCount} is not a positive uint32`);
    }
    for (const [name, v] of [
      ["totalImportWh", batch.totalImportWh],
      ["totalExportWh", batch.totalExportWh],
    ] as const) {
      if (typeof v !== "bigint" || v < 0n || v > UINT64_MAX)
        throw new InputError(`interval ${id}: ${name} ${v} is not a uint64`);
    }
  }

  /** `final` / `conflict` / `voted` as the chain says now, or undefined if this relayer still has to vote. */
  async #fromState(batch: IntervalBatch): Promise<PostResult | undefined> {
    const [info, voted] = await Promise.all([
      this.#rpc("getInterval", () =>
        this.#client.readContract({
          address: this.#oracle,
          abi: ORACLE_ABI,
          functionName: "getInterval",
          args: [batch.intervalId],
        }),
      ),
      this.#rpc("hasVoted", () =>
        this.#client.readContract({
          address: this.#oracle,
          abi: ORACLE_ABI,
          functionName: "hasVoted",
          args: [batch.intervalId, this.#me],
        }),
      ),
    ]);
    if (info.status === STATUS_FINAL) {
      if (sameValues(info, batch)) return { status: "final" };
      const detail =
        `interval ${batch.intervalId} is final with root ${info.root} (${info.leafCount} leaves, ` +
        `${info.totalImportWh} Wh in, ${info.totalExportWh} Wh out); ours is ${batch.root} (${batch.leafCount} leaves, ` +
        `${batch.totalImportWh} Wh in, ${batch.totalExportWh} Wh out)`;
      this.#log.error(
        { intervalId: batch.intervalId, finalRoot: info.root, ourRoot: batch.root },
        "root conflict: " + detail,
      );
      return { status: "conflict", detail };
    }
    if (voted) return { status: "voted", detail: "this relayer's vote is on chain already" };
    return undefined;
  }

  /**
   * The nonce for a new vote once the account has no pending transaction; while transactions the poster did not
   * send are pending it waits (re-reading the chain, which may show them to be our vote) up to `foreignPendingWaitMs`.
   */
  async #idleNonce(batch: IntervalBatch): Promise<number | PostResult> {
    const deadline = Date.now() + this.#foreignWaitMs;
    for (let warned = false; ;) {
      const [latest, pending] = await Promise.all([this.#count("latest"), this.#count("pending")]);
      if (pending <= latest) {
        if (this.#nonce !== undefined && this.#nonce !== latest) {
          this.#log.warn(
            { expected: this.#nonce, chain: latest },
            "account nonce moved outside this poster: following the chain",
          );
        }
        this.#nonce = latest;
        return latest;
      }
      if (Date.now() >= deadline) {
        throw new ChainOperationError(
          "pending_transactions",
          `${pending - latest} transaction(s) of ${this.#me} not sent by this poster are pending (an earlier run or ` +
            `another process with this key): not voting for interval ${batch.intervalId} until they are mined`,
        );
      }
      if (!warned) {
        this.#log.warn(
          { latest, pending, intervalId: batch.intervalId },
          "waiting for pending transactions of this account",
        );
        warned = true;
      }
      await sleep(this.#pollMs, this.#abort.signal);
      const known = await this.#fromState(batch);
      if (known !== undefined) return known;
    }
  }

  /** The gas limit, after simulating the vote; or what a simulated revert means (`voted`, `final`…). */
  async #prepare(batch: IntervalBatch): Promise<bigint | PostResult> {
    const args = [batch.intervalId, batch.root, batch.leafCount, batch.totalImportWh, batch.totalExportWh] as const;
    try {
      if (this.#gasLimit !== undefined) {
        if (this.#simulate) {
          await this.#rpc("simulate", () =>
            this.#client.simulateContract({
              address: this.#oracle,
              abi: ORACLE_ABI,
              functionName: "submitRoot",
              args,
              account: this.#account,
            }),
          );
        }
        return this.#gasLimit;
      }
      const estimate = await this.#rpc("estimateGas", () =>
        this.#client.estimateContractGas({
          address: this.#oracle,
          abi: ORACLE_ABI,
          functionName: "submitRoot",
          args,
          account: this.#account,
        }),
      );
      return (estimate * this.#gasMultiplier) / 100n;
    } catch (e) {
      if (e instanceof ChainOperationError) throw e;
      if (isTransientRpcError(e)) throw this.#rpcFailure(e, batch.intervalId);
      const meaning = await this.#revertMeaning(batch, e, undefined);
      if (meaning !== undefined) return meaning;
      throw new ChainOperationError(
        "rejected",
        `vote for interval ${batch.intervalId} would fail: ${describeChainError(e)}`,
        { cause: e },
      );
    }
  }

  /** What a revert of our vote means, if it is one the flow expects. */
  async #revertMeaning(batch: IntervalBatch, err: unknown, txHash: Hex | undefined): Promise<PostResult | undefined> {
    const revert = decodeRevert(err);
    switch (revert?.errorName) {
      case "ReadingOracleAlreadyVoted":
        return { status: "voted", txHash, detail: `the contract rejected a second vote: ${revert.message}` };
      case "ReadingOracleIntervalFinal": {
        // The root became final before our vote landed (the other relayers' votes reached the threshold first):
        // the chain's state says whether with our values; the result names the error either way.
        const state = await this.#fromState(batch);
        if (state === undefined) return { status: "final", ...(txHash && { txHash }), detail: revert.message };
        const why =
          state.status === "final"
            ? `${revert.message} (already final with our root: the other relayers' votes finalised it first)`
            : state.detail === undefined
              ? revert.message
              : `${revert.message}; ${state.detail}`;
        return { ...state, ...(txHash && { txHash }), detail: why };
      }
      case "ReadingOracleIntervalNotEnded":
        return { status: "not_ended", txHash, detail: revert.message };
      default:
        return undefined;
    }
  }

  /** Turns a settled vote into the call's result; undefined when another transaction took its nonce. */
  async #conclude(batch: IntervalBatch, inflight: Inflight, settled: Settled): Promise<PostResult | undefined> {
    if (settled.kind === "nonce_taken") return undefined;
    const { receipt } = settled;
    const txHash = receipt.transactionHash;
    if (receipt.status === "success") {
      const info = await this.#rpc("getInterval", () =>
        this.#client.readContract({
          address: this.#oracle,
          abi: ORACLE_ABI,
          functionName: "getInterval",
          args: [batch.intervalId],
        }),
      );
      this.#log.info(
        { intervalId: batch.intervalId, txHash, block: receipt.blockNumber, final: info.status === STATUS_FINAL },
        "vote landed",
      );
      if (info.status !== STATUS_FINAL) return { status: "voted", txHash };
      if (sameValues(info, batch)) return { status: "final", txHash };
      return {
        status: "conflict",
        txHash,
        detail: `our vote landed in ${txHash} but interval ${batch.intervalId} became final with root ${info.root}`,
      };
    }
    // Reverted: replay the call on the block's state to learn why (the receipt carries no reason).
    let replayError: unknown;
    try {
      const decoded = decodeFunctionData({ abi: ORACLE_ABI, data: inflight.data });
      if (decoded.functionName !== "submitRoot") throw new Error("not a vote");
      await this.#rpc("replay", () =>
        this.#client.simulateContract({
          address: this.#oracle,
          abi: ORACLE_ABI,
          functionName: "submitRoot",
          args: decoded.args,
          account: this.#account,
          blockNumber: receipt.blockNumber,
        }),
      );
    } catch (e) {
      if (e instanceof ChainOperationError) throw e; // the endpoint failed, not the replay
      replayError = e;
    }
    const meaning = replayError === undefined ? undefined : await this.#revertMeaning(batch, replayError, txHash);
    if (meaning !== undefined) {
      const error = decodeRevert(replayError)?.errorName;
      this.#log.warn(
        { intervalId: batch.intervalId, txHash, status: meaning.status, error },
        `vote reverted: ${meaning.detail ?? `${error ?? "reverted"} (${meaning.status})`}`,
      );
      return meaning;
    }
    const reason =
      replayError !== undefined && decodeRevert(replayError) !== undefined
        ? describeChainError(replayError)
        : `no reason reproduced (gas used ${receipt.gasUsed} of ${inflight.gas})`;
    throw new ChainOperationError("reverted", `vote ${txHash} for interval ${batch.intervalId} reverted: ${reason}`);
  }

  /** Adopts a recorded vote transaction that is still pending, so that it is awaited (and replaced) rather than duplicated. */
  async #adopt(batch: IntervalBatch, hash: Hex): Promise<void> {
    let tx;
    try {
      tx = await this.#rpc("getTransaction", () => this.#client.getTransaction({ hash }));
    } catch (e) {
      if (e instanceof BaseError && e.walk((x) => x instanceof TransactionNotFoundError)) return;
      throw e;
    }
    if (tx.blockNumber !== null) return; // mined: the state read tells what it did
    let intervalId: bigint | undefined;
    try {
      const decoded = decodeFunctionData({ abi: ORACLE_ABI, data: tx.input });
      if (decoded.functionName === "submitRoot") intervalId = decoded.args[0];
    } catch {
      intervalId = undefined;
    }
    if (
      getAddress(tx.from) !== this.#me ||
      tx.to?.toLowerCase() !== this.#oracle.toLowerCase() ||
      intervalId !== batch.intervalId
    ) {
      this.#log.warn(
        { txHash: hash, intervalId: batch.intervalId },
        "recorded transaction is not this relayer's vote for the interval: ignored",
      );
      return;
    }
    const fees: Fees =
      tx.maxFeePerGas !== undefined && tx.maxPriorityFeePerGas !== undefined
        ? { type: "eip1559", maxFeePerGas: tx.maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas }
        : { type: "legacy", gasPrice: tx.gasPrice ?? 0n };
    this.#inflight = {
      intervalId,
      nonce: tx.nonce,
      data: tx.input,
      gas: tx.gas,
      fees,
      hashes: [hash],
      rebroadcast: false,
      lastSentAt: Date.now(),
      startedAt: Date.now(),
      replacements: 0,
      capReached: false,
    };
    this.#log.info(
      { intervalId, txHash: hash, nonce: tx.nonce },
      "adopted the pending vote recorded by an earlier run",
    );
  }

  /**
   * Waits until one of the nonce's transactions is mined and confirmed (replacing it when it lingers), or another
   * transaction takes the nonce. Clears the in-flight record then; on a throw the record stays for the next call.
   */
  async #settle(inflight: Inflight): Promise<Settled> {
    let failures = 0;
    for (;;) {
      if (this.#abort.signal.aborted) throw new StoppedError();
      try {
        if (inflight.rebroadcast && inflight.raw !== undefined) {
          if ((await this.#broadcast(inflight.raw, 0)) !== "unknown") inflight.rebroadcast = false;
        }
        // Count first, receipts second: a nonce used with none of our receipts visible afterwards is someone else's.
        const latest = await this.#count("latest", 0);
        const receipt = await this.#findReceipt(inflight);
        if (receipt !== undefined) {
          const confirmed = await this.#confirm(receipt);
          if (confirmed !== undefined) {
            this.#inflight = undefined;
            this.#nonce = inflight.nonce + 1;
            return { kind: "mined", receipt: confirmed };
          }
          this.#log.warn({ txHash: receipt.transactionHash }, "vote receipt disappeared (reorg): waiting again");
          continue;
        }
        if (latest > inflight.nonce) {
          this.#inflight = undefined;
          this.#nonce = latest;
          this.#log.warn(
            { nonce: inflight.nonce, hashes: inflight.hashes },
            "another transaction of this account took the vote's nonce",
          );
          return { kind: "nonce_taken" };
        }
        if (Date.now() - inflight.startedAt >= this.#stuckAfterMs) {
          throw new ChainOperationError(
            "stuck",
            `vote for interval ${inflight.intervalId} (nonce ${inflight.nonce}, ${inflight.hashes.length} transaction(s), ` +
              `last ${inflight.hashes.at(-1)}) not mined after ${Date.now() - inflight.startedAt} ms; the next post() keeps waiting`,
          );
        }
        if (Date.now() - inflight.lastSentAt >= this.#replaceAfterMs) await this.#replace(inflight);
        failures = 0;
      } catch (e) {
        if (e instanceof ChainOperationError || !isTransientRpcError(e)) throw e;
        failures += 1;
        if (failures > this.#retry.retries) throw this.#rpcFailure(e, inflight.intervalId);
        const delay = backoffDelay(this.#retry, failures - 1);
        this.#log.warn(
          { err: describeChainError(e), failures, retryInMs: delay },
          "RPC failed while waiting for the vote",
        );
        await sleep(delay, this.#abort.signal);
        continue;
      }
      await sleep(this.#pollMs, this.#abort.signal);
    }
  }

  async #findReceipt(inflight: Inflight): Promise<TransactionReceipt | undefined> {
    for (const hash of [...inflight.hashes].reverse()) {
      try {
        return await this.#client.getTransactionReceipt({ hash });
      } catch (e) {
        if (e instanceof BaseError && e.walk((x) => x instanceof TransactionReceiptNotFoundError)) continue;
        throw e;
      }
    }
    return undefined;
  }

  /** The receipt once `confirmations` blocks deep and still in the chain, or undefined if it was reorged out. */
  async #confirm(receipt: TransactionReceipt): Promise<TransactionReceipt | undefined> {
    if (this.#confirmations <= 1n) return receipt;
    for (;;) {
      const head = await this.#client.getBlockNumber({ cacheTime: 0 });
      if (head >= receipt.blockNumber + this.#confirmations - 1n) break;
      await sleep(this.#pollMs, this.#abort.signal);
    }
    try {
      const again = await this.#client.getTransactionReceipt({ hash: receipt.transactionHash });
      return again.blockHash === receipt.blockHash ? again : undefined;
    } catch (e) {
      if (e instanceof BaseError && e.walk((x) => x instanceof TransactionReceiptNotFoundError)) return undefined;
      throw e;
    }
  }

  /** Re-signs the vote for the same nonce with bumped fees (unless the bump limit or the fee cap is reached). */
  async #replace(inflight: Inflight): Promise<void> {
    if (inflight.replacements >= this.#maxReplacements || inflight.capReached) return;
    const current = await this.#currentFees();
    const next = this.#bumped(inflight.fees, current);
    if (this.#feeCap !== undefined && feeOf(next) > this.#feeCap) {
      inflight.capReached = true;
      this.#log.warn(
        {
          intervalId: inflight.intervalId,
          nonce: inflight.nonce,
          cap: this.#feeCap.toString(),
          ...describeFees(inflight.fees),
        },
        "vote is pending but a replacement would exceed the fee cap: waiting",
      );
      return;
    }
    inflight.replacements += 1;
    const previous = inflight.hashes.at(-1);
    let outcome: Broadcast;
    try {
      outcome = await this.#signAndSend(inflight, next);
    } catch (e) {
      if (!(e instanceof ChainOperationError && e.code === "rejected")) throw e;
      // E.g. not enough funds for the higher fee: the earlier transactions stay valid, keep waiting for them.
      inflight.capReached = true;
      this.#log.error(
        { intervalId: inflight.intervalId, nonce: inflight.nonce, err: e.message },
        "vote replacement refused",
      );
      return;
    }
    this.#log.warn(
      {
        intervalId: inflight.intervalId,
        nonce: inflight.nonce,
        replaced: previous,
        txHash: inflight.hashes.at(-1),
        replacement: inflight.replacements,
        broadcast: outcome,
        ...describeFees(next),
      },
      "vote not mined in time: replaced with higher fees",
    );
  }

  /** Replacement fees: every component bumped by `feeBumpPercent`, or the current estimate if that is higher. */
  #bumped(old: Fees, current: Fees): Fees {
    const bump = (x: bigint) => {
      const up = (x * (10_000n + this.#bumpBps) + 9_999n) / 10_000n;
      return up > x ? up : x + 1n;
    };
    const max = (a: bigint, b: bigint) => (a > b ? a : b);
    if (old.type === "legacy") return { type: "legacy", gasPrice: max(bump(old.gasPrice), feeOf(current)) };
    const currentTip = current.type === "eip1559" ? current.maxPriorityFeePerGas : current.gasPrice;
    const tip = max(bump(old.maxPriorityFeePerGas), currentTip);
    return {
      type: "eip1559",
      maxPriorityFeePerGas: tip,
      maxFeePerGas: max(max(bump(old.maxFeePerGas), feeOf(current)), tip),
    };
  }

  /*//////////////////////////////////////////////////////////////
                          SIGNING AND RPC
  //////////////////////////////////////////////////////////////*/

  /** Signs the vote for the nonce with `fees`, records the hash (`onSent` first), broadcasts it. */
  async #signAndSend(inflight: Inflight, fees: Fees): Promise<Broadcast> {
    const chainId = this.#client.chain.id;
    const base = { chainId, to: this.#oracle, data: inflight.data, nonce: inflight.nonce, gas: inflight.gas };
    const raw =
      fees.type === "eip1559"
        ? await this.#account.signTransaction({
            ...base,
            type: "eip1559",
            maxFeePerGas: fees.maxFeePerGas,
            maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
          })
        : await this.#account.signTransaction({ ...base, type: "legacy", gasPrice: fees.gasPrice });
    const hash = keccak256(raw);
    await this.#onSent?.(inflight.intervalId, hash);
    inflight.hashes.push(hash);
    inflight.raw = raw;
    inflight.fees = fees;
    inflight.lastSentAt = Date.now();
    const outcome = await this.#broadcast(raw, this.#retry.retries);
    inflight.rebroadcast = outcome === "unknown";
    return outcome;
  }

  /**
   * Broadcasts signed bytes; transient failures rebroadcast the same bytes (idempotent). `unknown`: the endpoint
   * stayed unreachable, the node may or may not have the transaction.
   */
  async #broadcast(raw: Hex, retries: number): Promise<Broadcast> {
    try {
      await withRetry(() => sendRawTransaction(this.#client, { serializedTransaction: raw }), {
        policy: { ...this.#retry, retries },
        label: "sendRawTransaction",
        logger: this.#log,
        signal: this.#abort.signal,
      });
      return "accepted";
    } catch (e) {
      if (e instanceof StoppedError) throw e;
      const text = errorText(e);
      if (/already known|known transaction|already imported|alreadyknown/.test(text)) return "accepted";
      if (/nonce too low|nonce has already been used|oldnonce|nonce is too low/.test(text)) return "nonce_used";
      if (/underpriced|fee too low|replacement/.test(text)) return "underpriced";
      if (isTransientRpcError(e)) return "unknown";
      // Hardhat-style automining nodes mine a reverting transaction and answer the broadcast with the revert.
      if (/revert/.test(text) && (await this.#minedReceipt(keccak256(raw))) !== undefined) return "accepted";
      throw new ChainOperationError("rejected", `the node refused the vote: ${describeChainError(e)}`, { cause: e });
    }
  }

  async #minedReceipt(hash: Hex): Promise<TransactionReceipt | undefined> {
    try {
      return await this.#rpc("getTransactionReceipt", () => this.#client.getTransactionReceipt({ hash }));
    } catch (e) {
      if (e instanceof BaseError && e.walk((x) => x instanceof TransactionReceiptNotFoundError)) return undefined;
      throw e;
    }
  }

  async #currentFees(): Promise<Fees> {
    try {
      const f = await this.#rpc("estimateFeesPerGas", () => this.#client.estimateFeesPerGas({ type: "eip1559" }));
      return { type: "eip1559", maxFeePerGas: f.maxFeePerGas, maxPriorityFeePerGas: f.maxPriorityFeePerGas };
    } catch (e) {
      if (!(e instanceof BaseError && e.walk((x) => x instanceof Eip1559FeesNotSupportedError))) throw e;
    }
    return { type: "legacy", gasPrice: await this.#rpc("getGasPrice", () => this.#client.getGasPrice()) };
  }

  #count(blockTag: "latest" | "pending", retries = this.#retry.retries): Promise<number> {
    return this.#rpc(
      `getTransactionCount(${blockTag})`,
      () => this.#client.getTransactionCount({ address: this.#me, blockTag }),
      retries,
    );
  }

  /** An RPC call with the poster's retries; exhausted transient failures become ChainOperationError `rpc`. */
  async #rpc<T>(label: string, fn: () => Promise<T>, retries = this.#retry.retries): Promise<T> {
    try {
      return await withRetry(fn, {
        policy: { ...this.#retry, retries },
        label,
        logger: this.#log,
        signal: this.#abort.signal,
      });
    } catch (e) {
      if (retries > 0 && isTransientRpcError(e)) throw this.#rpcFailure(e);
      throw e;
    }
  }

  #rpcFailure(e: unknown, intervalId?: bigint): ChainOperationError {
    if (e instanceof ChainOperationError) return e;
    const pending = this.#inflight
      ? `; vote ${this.#inflight.hashes.at(-1)} may be pending, the next post() resumes it`
      : "";
    const what = intervalId !== undefined ? `interval ${intervalId}: ` : "";
    return new ChainOperationError("rpc", `${what}RPC endpoint unavailable: ${describeChainError(e)}${pending}`, {
      cause: e,
    });
  }
}
