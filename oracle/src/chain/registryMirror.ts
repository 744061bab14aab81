/**
 * The relayer's in-memory copy of the MeterRegistry, rebuilt from the registry's events.
 *
 * At `start()` it replays `MeterRegistered`, `MeterUpdated` and `MeterRevoked` from the deployment block to the
 * head (minus `confirmations`) in `getLogs` windows of `chunkSize` blocks, checks the result against the
 * registry's `meterCount()` at the same block, then polls for new logs every `pollIntervalMs`, catching up from
 * the last applied block. Events rather than `meterAt`/`getMeter` reads: the mirror is then exactly what an auditor
 * replaying the logs gets, one request covers thousands of blocks, and revocation times come from the events.
 *
 * RPC failures never lose or duplicate an event: a window is applied whole or not at all, and `lastBlock` only moves
 * past applied windows. Failures back off exponentially (`pollIntervalMs · 2^failures`, capped at `maxBackoffMs`)
 * and halve the window (a node's `getLogs` range or result limit), which grows back after successes.
 */
import { getAddress, type GetContractEventsReturnType, type PublicClient } from "viem";
import { MeterRegistry__factory } from "../../../types/ethers-contracts/index.js";
import type { Hex, MirroredMeter } from "../types.js";
import {
  ChainOperationError,
  SILENT_LOGGER,
  StoppedError,
  backoffDelay,
  describeChainError,
  sleep,
  type ChainLogger,
} from "./clients.js";

const REGISTRY_ABI = MeterRegistry__factory.abi;

/** A decoded MeterRegistry log. */
type RegistryLog = GetContractEventsReturnType<typeof REGISTRY_ABI, undefined, true>[number];

/** One change to a mirrored meter, in chain order. */
export interface MeterChange {
  kind: "registered" | "updated" | "revoked";
  /** The meter after the change. */
  meter: MirroredMeter;
  /** The meter before it (undefined for `registered`). */
  previous?: MirroredMeter;
  blockNumber: bigint;
  transactionHash: Hex;
  logIndex: number;
}

export interface RegistryMirrorOptions {
  publicClient: PublicClient;
  /** The MeterRegistry (`deployments/<network>.json` → `contracts.MeterRegistry.address`). */
  registry: Hex;
  /** First block to read: the registry's deployment block (`contracts.MeterRegistry.block`). */
  fromBlock: bigint;
  /** Poll period, ms. Default 2000. */
  pollIntervalMs?: number;
  /** Blocks per `getLogs` request. Default 5000. */
  chunkSize?: bigint;
  /** Only blocks at least this deep are read (reorg safety on chains without instant finality). Default 0. */
  confirmations?: number;
  /** Longest wait between failing polls, ms. Default 60000. */
  maxBackoffMs?: number;
  /** Compare the loaded meters with `meterCount()` once loaded. Default true. */
  verifyCount?: boolean;
  onChange?: (change: MeterChange) => void;
  logger?: ChainLogger;
}

type Listener = (change: MeterChange) => void;

/** Keeps a map of every registered meter, fresh within one poll of the chain. */
export class RegistryMirror {
  readonly #client: PublicClient;
  readonly #registry: Hex;
  readonly #fromBlock: bigint;
  readonly #pollMs: number;
  readonly #maxChunk: bigint;
  readonly #confirmations: bigint;
  readonly #maxBackoffMs: number;
  readonly #verifyCount: boolean;
  readonly #log: ChainLogger;
  readonly #listeners = new Set<Listener>();
  /** Meters by lowercase address. */
  readonly #meters = new Map<string, MirroredMeter>();
  #chunk: bigint;
  #lastBlock: bigint;
  #syncing?: Promise<number>;
  #timer?: NodeJS.Timeout;
  #abort?: AbortController;
  #running = false;
  #failures = 0;

  constructor(opts: RegistryMirrorOptions) {
    if (opts.fromBlock < 0n) throw new ChainOperationError("invalid", "fromBlock must not be negative");
    this.#client = opts.publicClient;
    this.#registry = getAddress(opts.registry);
    this.#fromBlock = opts.fromBlock;
    this.#pollMs = opts.pollIntervalMs ?? 2_000;
    this.#maxChunk = opts.chunkSize ?? 5_000n;
    if (this.#maxChunk < 1n) throw new ChainOperationError("invalid", "chunkSize must be at least 1");
    this.#chunk = this.#maxChunk;
    this.#confirmations = BigInt(opts.confirmations ?? 0);
    this.#maxBackoffMs = opts.maxBackoffMs ?? 60_000;
    this.#verifyCount = opts.verifyCount ?? true;
    this.#log = opts.logger ?? SILENT_LOGGER;
    this.#lastBlock = opts.fromBlock - 1n;
    if (opts.onChange) this.#listeners.add(opts.onChange);
  }

  /** The meter registered under `meter` (any case), or undefined if the mirror has not seen it. */
  get(meter: Hex | string): MirroredMeter | undefined {
    return this.#meters.get(meter.toLowerCase());
  }

  /** Meters mirrored, revoked ones included. */
  get size(): number {
    return this.#meters.size;
  }

  /** Last block whose registry events are applied (`fromBlock - 1` before the first sync). */
  get lastBlock(): bigint {
    return this.#lastBlock;
  }

  /** Every mirrored meter, in registration order of first sight. */
  meters(): MirroredMeter[] {
    return [...this.#meters.values()];
  }

  /** Calls `listener` after every change; returns a function that unsubscribes it. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Loads every meter up to the head, retrying RPC failures with backoff until it succeeds (or `stop()`), checks
   * the count against `meterCount()`, then keeps polling. Resolves once the mirror is complete up to `lastBlock`.
   * @throws ChainOperationError `count_mismatch` if the events since `fromBlock` miss meters the registry has
   * (`fromBlock` after the deployment block, or a node that lost logs); `stopped` if stopped first.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.syncOnce();
        break;
      } catch (e) {
        if (e instanceof StoppedError || !this.#running) throw new StoppedError();
        const delay = Math.min(
          this.#maxBackoffMs,
          backoffDelay({ retries: 0, baseMs: this.#pollMs, maxMs: this.#maxBackoffMs }, attempt),
        );
        this.#log.warn(
          { err: describeChainError(e), retryInMs: delay },
          "registry mirror: initial load failed, retrying",
        );
        await sleep(delay, this.#abort.signal);
      }
    }
    if (this.#verifyCount) await this.#checkCount();
    this.#log.info({ meters: this.size, lastBlock: this.#lastBlock }, "registry mirror loaded");
    this.#schedule(this.#pollMs);
  }

  /** Stops polling and waits for a sync in progress to finish. The mirror keeps its contents. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort?.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#syncing?.catch(() => undefined);
  }

  /**
   * Applies every registry event from `lastBlock + 1` to the head (minus confirmations) now. Concurrent calls share
   * one sync. Returns the number of changes applied.
   */
  syncOnce(): Promise<number> {
    this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(): Promise<number> {
    const head = await this.#client.getBlockNumber({ cacheTime: 0 });
    const target = head - this.#confirmations;
    let applied = 0;
    while (this.#lastBlock < target) {
      const from = this.#lastBlock + 1n;
      const to = from + this.#chunk - 1n < target ? from + this.#chunk - 1n : target;
      let logs;
      try {
        logs = await this.#client.getContractEvents({
          address: this.#registry,
          abi: REGISTRY_ABI,
          fromBlock: from,
          toBlock: to,
          strict: true,
        });
      } catch (e) {
        if (this.#chunk > 1n) this.#chunk = this.#chunk / 2n;
        throw e;
      }
      logs.sort((a, b) =>
        a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
      );
      // Staged, so that a failure half-way through a window (a `getMeter` fallback read) leaves the mirror as it was.
      const staged = new Map<string, MirroredMeter>();
      const changes: MeterChange[] = [];
      for (const log of logs) {
        const change = await this.#apply(log, staged);
        if (change !== undefined) changes.push(change);
      }
      for (const [key, meter] of staged) this.#meters.set(key, meter);
      this.#lastBlock = to;
      if (this.#chunk < this.#maxChunk)
        this.#chunk = this.#chunk * 2n > this.#maxChunk ? this.#maxChunk : this.#chunk * 2n;
      applied += changes.length;
      for (const change of changes) this.#emit(change);
    }
    return applied;
  }

  /** Applies one decoded log; returns the change, or undefined for events that do not concern meters. */
  async #apply(log: RegistryLog, staged: Map<string, MirroredMeter>): Promise<MeterChange | undefined> {
    const where = { blockNumber: log.blockNumber, transactionHash: log.transactionHash, logIndex: log.logIndex };
    switch (log.eventName) {
      case "MeterRegistered": {
        const a = log.args;
        const meter: MirroredMeter = {
          meter: getAddress(a.meter),
          owner: getAddress(a.owner),
          zone: Number(a.zone),
          index: Number(a.index),
          technology: Number(a.technology),
          ratedCapacityW: a.ratedCapacityW,
          revokedAt: 0n,
        };
        const key = meter.meter.toLowerCase();
        const previous = staged.get(key) ?? this.#meters.get(key);
        staged.set(key, meter);
        return { kind: "registered", meter, previous, ...where };
      }
      case "MeterUpdated": {
        const a = log.args;
        const previous = await this.#known(a.meter, log.blockNumber, staged);
        const meter: MirroredMeter = {
          ...previous,
          owner: getAddress(a.owner),
          zone: Number(a.zone),
          technology: Number(a.technology),
          ratedCapacityW: a.ratedCapacityW,
        };
        staged.set(meter.meter.toLowerCase(), meter);
        return { kind: "updated", meter, previous, ...where };
      }
      case "MeterRevoked": {
        const a = log.args;
        const previous = await this.#known(a.meter, log.blockNumber, staged);
        const meter: MirroredMeter = { ...previous, owner: getAddress(a.owner), revokedAt: a.revokedAt };
        staged.set(meter.meter.toLowerCase(), meter);
        return { kind: "revoked", meter, previous, ...where };
      }
      default:
        return undefined;
    }
  }

  /**
   * The mirrored record of `meter`; if an update or revocation arrives for a meter whose registration the mirror
   * never saw (a `fromBlock` after it), the record is read from the registry at that block instead.
   */
  async #known(meter: Hex, blockNumber: bigint, staged: Map<string, MirroredMeter>): Promise<MirroredMeter> {
    const known = staged.get(meter.toLowerCase()) ?? this.#meters.get(meter.toLowerCase());
    if (known !== undefined) return known;
    this.#log.warn({ meter, blockNumber }, "registry mirror: event for a meter registered before fromBlock");
    const m = await this.#client.readContract({
      address: this.#registry,
      abi: REGISTRY_ABI,
      functionName: "getMeter",
      args: [meter],
      blockNumber,
    });
    return {
      meter: getAddress(meter),
      owner: getAddress(m.owner),
      zone: Number(m.zone),
      index: Number(m.index),
      technology: Number(m.technology),
      ratedCapacityW: m.ratedCapacityW,
      revokedAt: m.revokedAt,
    };
  }

  async #checkCount(): Promise<void> {
    const count = await this.#client.readContract({
      address: this.#registry,
      abi: REGISTRY_ABI,
      functionName: "meterCount",
      blockNumber: this.#lastBlock,
    });
    if (count !== BigInt(this.size)) {
      throw new ChainOperationError(
        "count_mismatch",
        `MeterRegistry ${this.#registry} has ${count} meters at block ${this.#lastBlock} but its events since block ` +
          `${this.#fromBlock} register ${this.size}: is fromBlock the registry's deployment block?`,
      );
    }
  }

  #emit(change: MeterChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (e) {
        this.#log.error({ err: (e as Error).message, meter: change.meter.meter }, "registry mirror: listener threw");
      }
    }
  }

  #schedule(delay: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref?.();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (!this.#running) return;
    let delay = this.#pollMs;
    try {
      await this.syncOnce();
      this.#failures = 0;
    } catch (e) {
      delay = Math.min(
        this.#maxBackoffMs,
        backoffDelay({ retries: 0, baseMs: this.#pollMs, maxMs: this.#maxBackoffMs }, this.#failures),
      );
      this.#failures += 1;
      this.#log.warn(
        { err: describeChainError(e), failures: this.#failures, retryInMs: delay, lastBlock: this.#lastBlock },
        "registry mirror: poll failed",
      );
    }
    this.#schedule(delay);
  }
}
