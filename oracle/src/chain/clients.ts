/**
 * Talking to the chain: viem clients for the relayer's RPC endpoint and key, the relayer key itself (from the
 * environment or an encrypted keystore, never a plain key in a file), and the RPC plumbing the other chain modules
 * share: which errors are worth retrying, a retry loop with exponential backoff, and one-line descriptions of
 * contract reverts (custom errors decoded against the system's ABIs).
 */
import { readFileSync } from "node:fs";
import { Wallet, isKeystoreJson } from "ethers";
import {
  BaseError,
  ContractFunctionRevertedError,
  HttpRequestError,
  RawContractError,
  RpcRequestError,
  TimeoutError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Chain,
  type HttpTransport,
  type PrivateKeyAccount,
  type PublicClient,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { InputError, MicrogridError, toChainError } from "../../../src/errors.js";
import { SYSTEM_INTERFACES } from "../../../src/deploy.js";
import type { Hex } from "../types.js";

/*//////////////////////////////////////////////////////////////
                              CLIENTS
//////////////////////////////////////////////////////////////*/

/** Where and as whom the relayer talks to the chain. */
export interface ChainConfig {
  rpcUrl: string;
  chainId: number;
  privateKey: Hex;
  /** How often viem polls (blocks, receipts, filters), ms. Default 2000; tests use tens of ms. */
  pollingIntervalMs?: number;
  /** HTTP request timeout, ms. Default 10000. */
  timeoutMs?: number;
  /**
   * Retries inside the viem transport for one request (network errors, 429, 5xx). Default 1: the chain modules
   * retry with their own backoff on top, and keep it low so that their retries stay predictable.
   */
  transportRetries?: number;
  /** Chain name in viem errors. Default `chain-<id>`. */
  chainName?: string;
}

/** A public client for reads and a wallet client whose local account signs as the relayer. */
export interface ChainClients {
  chain: Chain;
  account: PrivateKeyAccount;
  publicClient: PublicClient<HttpTransport, Chain>;
  walletClient: WalletClient<HttpTransport, Chain, PrivateKeyAccount>;
}

/**
 * Creates viem public and wallet clients over HTTP for `config.chainId`. The account signs locally
 * (`privateKeyToAccount`): the node never sees the key and `eth_sendRawTransaction` is the only way out.
 * Nothing is requested here; call `assertChainId` to check that the endpoint serves the configured chain.
 */
export function createChainClients(config: ChainConfig): ChainClients {
  if (!Number.isSafeInteger(config.chainId) || config.chainId <= 0) {
    throw new InputError(`chain id ${config.chainId} must be a positive integer`);
  }
  const account = privateKeyToAccount(config.privateKey);
  const chain = defineChain({
    id: config.chainId,
    name: config.chainName ?? `chain-${config.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  });
  const pollingInterval = config.pollingIntervalMs ?? 2_000;
  const transport = http(config.rpcUrl, {
    timeout: config.timeoutMs ?? 10_000,
    retryCount: config.transportRetries ?? 1,
    retryDelay: Math.min(150, pollingInterval),
  });
  const publicClient = createPublicClient({ chain, transport, pollingInterval, cacheTime: 0 });
  const walletClient = createWalletClient({ account, chain, transport, pollingInterval, cacheTime: 0 });
  return { chain, account, publicClient, walletClient };
}

/** Throws unless the endpoint's `eth_chainId` is `chainId` (a relayer must never vote on the wrong chain). */
export async function assertChainId(publicClient: PublicClient, chainId: number): Promise<void> {
  const actual = await publicClient.getChainId();
  if (actual !== chainId) {
    throw new InputError(`the RPC endpoint serves chain ${actual}, the relayer is configured for chain ${chainId}`);
  }
}

/*//////////////////////////////////////////////////////////////
                            RELAYER KEY
//////////////////////////////////////////////////////////////*/

/** Where the relayer key comes from. */
export interface RelayerKeySource {
  /** Name of an environment variable holding the key as `0x` + 64 hex digits. */
  env?: string;
  /** An ethers-style encrypted JSON keystore (scrypt or pbkdf2, as `Wallet.encrypt` writes it) … */
  keystorePath?: string;
  /** … and the name of the environment variable holding its password. */
  passwordEnv?: string;
  /** The environment to read; `process.env` by default. */
  environment?: NodeJS.ProcessEnv;
}

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;

function checkedKey(key: string, where: string): Hex {
  if (!PRIVATE_KEY.test(key)) throw new InputError(`${where} is not a private key (0x followed by 64 hex digits)`);
  try {
    privateKeyToAccount(key as Hex);
  } catch {
    throw new InputError(`${where} is not a valid secp256k1 private key`);
  }
  return key as Hex;
}

/**
 * Loads the relayer's private key from the environment variable `env` or from the encrypted keystore at
 * `keystorePath` (password in the environment variable `passwordEnv`). Exactly one source must be available: an
 * environment variable that is named but unset falls through to the keystore, and both being available is an
 * error (so that a stray shell variable never silently replaces the keystore identity). A file is only ever read
 * as an encrypted keystore: a plain key in a file is refused.
 * @throws InputError with a one-line reason (never containing the key or the password).
 */
export async function loadRelayerKey(opts: RelayerKeySource): Promise<Hex> {
  const environment = opts.environment ?? process.env;
  const fromEnv = opts.env !== undefined ? environment[opts.env] : undefined;
  const hasEnvKey = fromEnv !== undefined && fromEnv.trim() !== "";
  if (hasEnvKey && opts.keystorePath !== undefined) {
    throw new InputError(
      `both the environment variable ${opts.env} and the keystore ${opts.keystorePath} hold a relayer key: keep one`,
    );
  }
  if (hasEnvKey) return checkedKey(fromEnv.trim(), `the environment variable ${opts.env}`);
  if (opts.keystorePath === undefined) {
    throw new InputError(
      opts.env !== undefined
        ? `the environment variable ${opts.env} (relayer key) is not set and no keystore is configured`
        : "no relayer key source: set an environment variable name or a keystore path",
    );
  }
  if (opts.passwordEnv === undefined) {
    throw new InputError(`keystore ${opts.keystorePath}: name the environment variable holding its password`);
  }
  const password = environment[opts.passwordEnv];
  if (password === undefined) {
    throw new InputError(`the environment variable ${opts.passwordEnv} (keystore password) is not set`);
  }
  let json: string;
  try {
    json = readFileSync(opts.keystorePath, "utf8");
  } catch (e) {
    throw new InputError(`cannot read keystore ${opts.keystorePath}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!isKeystoreJson(json)) {
    throw new InputError(
      `${opts.keystorePath} is not an encrypted JSON keystore (plain private keys are never read from files)`,
    );
  }
  let wallet;
  try {
    wallet = await Wallet.fromEncryptedJson(json, password);
  } catch (e) {
    const reason = /password/i.test((e as Error).message) ? "wrong password" : (e as Error).message.split("\n")[0];
    throw new InputError(`cannot decrypt keystore ${opts.keystorePath}: ${reason}`);
  }
  return checkedKey(wallet.privateKey, `the key in keystore ${opts.keystorePath}`);
}

/*//////////////////////////////////////////////////////////////
                         RPC ERRORS AND RETRIES
//////////////////////////////////////////////////////////////*/

/** Structured log sink (pino's `Logger` fits). */
export interface ChainLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const SILENT_LOGGER: ChainLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** An operation of the chain modules that could not complete; `code` says why. */
export class ChainOperationError extends MicrogridError {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown; details?: string }) {
    super(message, options);
    this.code = code;
  }
}

/** Every message in an error's cause chain, lowercased and joined: for matching node-specific wordings. */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && e !== undefined; depth++) {
    if (typeof e !== "object") {
      parts.push(String(e));
      break;
    }
    const o = e as { shortMessage?: unknown; details?: unknown; message?: unknown; code?: unknown; cause?: unknown };
    // viem's `message` repeats the short message, details and the request body: take the parts instead.
    const own = o.shortMessage !== undefined ? [o.shortMessage, o.details] : [o.message];
    for (const v of [...own, o.code]) if (v !== undefined) parts.push(String(v));
    e = o.cause;
  }
  return parts.join(" | ").toLowerCase();
}

const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([-32005, -32007, 429, -1]);
const TRANSIENT_TEXT =
  /econnrefused|econnreset|etimedout|epipe|enotfound|eai_again|socket hang up|fetch failed|other side closed|network error|request timed out|took too long/;
/** Node answers that are about the transaction, not the node's health: never retried as transient. */
const PERMANENT_TEXT =
  /revert|nonce too (low|high)|underpriced|insufficient funds|already known|known transaction|intrinsic gas|exceeds block gas limit|invalid (sender|signature)/;

/**
 * Whether an RPC failure is worth retrying unchanged: the endpoint is unreachable or timed out, answered 5xx, 429
 * or 408, or reported an internal/rate-limit JSON-RPC error. Reverts and transaction-level refusals (nonce,
 * fee, funds) are not transient.
 */
export function isTransientRpcError(err: unknown): boolean {
  if (err instanceof BaseError) {
    if (err.walk((e) => e instanceof ContractFunctionRevertedError || e instanceof RawContractError)) return false;
    const http = err.walk((e) => e instanceof HttpRequestError) as HttpRequestError | null;
    if (http !== null) return http.status === undefined || TRANSIENT_STATUS.has(http.status);
    if (err.walk((e) => e instanceof TimeoutError)) return true;
    const rpc = err.walk((e) => e instanceof RpcRequestError) as RpcRequestError | null;
    if (rpc !== null) {
      if (TRANSIENT_CODES.has(rpc.code)) return true;
      return rpc.code === -32603 && !PERMANENT_TEXT.test(errorText(err));
    }
  }
  const text = errorText(err);
  return TRANSIENT_TEXT.test(text) && !PERMANENT_TEXT.test(text);
}

/** Exponential backoff: attempt `k` (0-based) waits `min(maxMs, baseMs * 2^k)`, ±20% jitter. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 6, baseMs: 250, maxMs: 15_000 };

/** Delay before retry `attempt` (0-based) under `policy`. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

/** Thrown by `sleep` and `withRetry` when their signal aborts. */
export class StoppedError extends ChainOperationError {
  constructor() {
    super("stopped", "stopped");
  }
}

/** Resolves after `ms`, or rejects with `StoppedError` when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new StoppedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StoppedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn`, retrying transient RPC failures (`isTransientRpcError`) with exponential backoff. Other errors, and
 * the last transient one, are thrown as they are.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  opts: { policy: RetryPolicy; label: string; logger?: ChainLogger; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new StoppedError();
    try {
      return await fn();
    } catch (e) {
      if (attempt >= opts.policy.retries || !isTransientRpcError(e)) throw e;
      const delay = backoffDelay(opts.policy, attempt);
      opts.logger?.warn(
        { op: opts.label, attempt: attempt + 1, retryInMs: delay, err: describeChainError(e) },
        "RPC request failed, retrying",
      );
      await sleep(delay, opts.signal);
    }
  }
}

/** A contract revert decoded from a viem error. */
export interface DecodedRevert {
  errorName: string;
  args: Record<string, unknown>;
  /** One line: `Name(arg=value, …): hint`. */
  message: string;
}

function rawRevertData(err: BaseError): Hex | undefined {
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
  if (reverted?.raw !== undefined) return reverted.raw;
  const raw = err.walk((e) => e instanceof RawContractError) as RawContractError | null;
  if (typeof raw?.data === "string") return raw.data;
  const withData = err.walk(
    (e) => typeof (e as { data?: unknown }).data === "string" && String((e as { data: string }).data).startsWith("0x"),
  ) as { data: Hex } | null;
  return withData?.data;
}

/**
 * The custom error a call reverted with, decoded against the system's ABIs (MeterRegistry, ReadingOracle,
 * KwhToken, Governance) with the project's hints; undefined if `err` is not a decodable revert.
 */
export function decodeRevert(err: unknown): DecodedRevert | undefined {
  if (!(err instanceof BaseError)) return undefined;
  const data = rawRevertData(err);
  if (data === undefined || data.length < 10) return undefined;
  const chainError = toChainError({ data }, SYSTEM_INTERFACES);
  if (chainError.errorName === undefined) return undefined;
  return { errorName: chainError.errorName, args: chainError.errorArgs ?? {}, message: chainError.message };
}

/** One line for logs and results: the decoded custom error, or the first line of the error's short message. */
export function describeChainError(err: unknown): string {
  const decoded = decodeRevert(err);
  if (decoded !== undefined) return decoded.message;
  if (err instanceof BaseError) {
    const http = err.walk((e) => e instanceof HttpRequestError) as HttpRequestError | null;
    if (http !== null) {
      const cause = http.cause instanceof Error ? `: ${http.cause.message}` : "";
      return `HTTP request to ${http.url} failed${http.status !== undefined ? ` (status ${http.status})` : cause}`;
    }
    const details = err.details ? ` (${err.details.split("\n")[0]})` : "";
    return `${err.shortMessage.split("\n")[0]}${details}`;
  }
  return ((err as Error)?.message ?? String(err)).split("\n")[0];
}
