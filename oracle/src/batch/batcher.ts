import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Mutex } from "../lock.js";
import type { ReadingStore } from "../store/store.js";
import type { BatchRecord, Hex, IntervalBatch, PostStatus } from "../types.js";
import { buildFastTree } from "./fastTree.js";
import { deriveLeaves } from "./deltas.js";

/** What the batcher needs to vote on chain; `RootPoster` in production. */
export interface Poster {
  post(batch: IntervalBatch): Promise<{ status: PostStatus | "conflict" | "not_ended"; txHash?: Hex; detail?: string }>;
}

export interface BatcherOptions {
  store: ReadingStore;
  lock: Mutex;
  poster: Poster;
  metrics: Metrics;
  log: Logger;
  intervalLength: bigint;
  graceSeconds: bigint;
  pollMs: number;
  /** Called once an interval's root is final (e.g. to claim kWh on behalf of meters). */
  onFinal?(batch: BatchRecord): Promise<void>;
  now?: () => bigint;
}

const ZERO_ROOT = `0x${"0".repeat(64)}` as Hex;

/**
 * Seals each interval once its grace period has passed (derives per-meter deltas from consecutive cumulative
 * readings, builds the tree, stores the batch) and posts this relayer's vote until the root is final. Every step
 * reads its state from the store and the chain, so a restart resumes where the last run stopped.
 */
export class Batcher {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = true;
  private readonly now: () => bigint;

  constructor(private readonly o: BatcherOptions) {
    this.now = o.now ?? (() => BigInt(Math.floor(Date.now() / 1000)));
  }

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick()
        .catch((e: Error) => this.o.log.error({ err: e.message }, "batcher tick failed"))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.o.pollMs);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
  }

  /** Last interval whose grace period has passed at `now`. */
  lastSealable(now: bigint): bigint {
    return (now - this.o.graceSeconds) / this.o.intervalLength - 1n;
  }

  /**
   * Seals every sealable interval, then advances every unfinished vote, oldest first, loading one batch (and its
   * leaves) at a time: a backlog of votes (a slow or unreachable chain) must not hold every batch in memory at once.
   */
  async tick(): Promise<void> {
    const now = this.now();
    const last = this.lastSealable(now);
    for (const intervalId of await this.o.store.intervalsToBatch(last)) await this.seal(intervalId);
    for (const intervalId of await this.o.store.unfinishedIntervals()) {
      const batch = await this.o.store.getBatch(intervalId);
      if (batch !== undefined && batch.status !== "final") await this.advance(batch);
    }
  }

  /** Builds and stores an interval's batch under the ingest lock (no reading can slip in meanwhile). */
  async seal(intervalId: bigint): Promise<void> {
    await this.o.lock.run(async () => {
      const readings = await this.o.store.readingsOfInterval(intervalId);
      const baselines = await this.o.store.baselinesFor(intervalId);
      const { leaves, skipped } = deriveLeaves(intervalId, readings, baselines);
      for (const s of skipped) {
        this.o.log.info(
          { intervalId: intervalId.toString(), meter: s.meter, reason: s.reason },
          "reading without leaf",
        );
      }
      const batch: IntervalBatch =
        leaves.length === 0
          ? { intervalId, root: ZERO_ROOT, leafCount: 0, totalImportWh: 0n, totalExportWh: 0n, leaves: [] }
          : buildFastTree(intervalId, leaves).toBatch();
      const saved = await this.o.store.saveBatch(batch, Date.now());
      if (saved && batch.leafCount === 0)
        await this.o.store.updateBatchStatus(intervalId, "final", undefined, Date.now());
      if (saved) {
        this.o.metrics.batchSize.observe(batch.leafCount);
        this.o.log.info(
          {
            intervalId: intervalId.toString(),
            root: batch.root,
            leaves: batch.leafCount,
            exportWh: batch.totalExportWh.toString(),
          },
          "interval sealed",
        );
      }
    });
  }

  /** Posts (or re-checks) this relayer's vote for a batch and records how far it got. */
  async advance(batch: BatchRecord): Promise<void> {
    if (batch.leafCount === 0) return;
    const result = await this.o.poster.post(batch);
    const at = Date.now();
    if (result.status === "conflict") {
      this.o.log.error(
        { intervalId: batch.intervalId.toString(), detail: result.detail },
        "chain finalised a different root",
      );
      return;
    }
    if (result.status === "not_ended") return;
    if (result.status !== batch.status || result.txHash !== batch.txHash) {
      await this.o.store.updateBatchStatus(batch.intervalId, result.status, result.txHash ?? batch.txHash, at);
    }
    if (
      (result.status === "voted" || result.status === "final") &&
      batch.status !== "voted" &&
      batch.status !== "final"
    ) {
      const graceEnd = Number((batch.intervalId + 1n) * this.o.intervalLength + this.o.graceSeconds);
      this.o.metrics.postLatency.observe(Math.max(0, at / 1000 - graceEnd));
    }
    if (result.status === "final") {
      this.o.metrics.lastFinalInterval.set(Number(batch.intervalId));
      if (this.o.onFinal) await this.o.onFinal({ ...batch, status: "final", txHash: result.txHash ?? batch.txHash });
    }
  }
}
