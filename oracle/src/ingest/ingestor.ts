import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Mutex } from "../lock.js";
import type { ReadingStore } from "../store/store.js";
import type { Hex, IngestOutcome, IngestSource, MirroredMeter, SignedReading } from "../types.js";
import { parseReading } from "./parseReading.js";
import { checkRules } from "./rules.js";

/** What the ingestor needs to recover signers; `VerifierPool` in production. */
export interface SignerRecovery {
  verify(readings: SignedReading[]): Promise<(Hex | null)[]>;
}

export interface IngestorOptions {
  store: ReadingStore;
  verifier: SignerRecovery;
  meters: { get(meter: Hex): MirroredMeter | undefined };
  lock: Mutex;
  metrics: Metrics;
  log: Logger;
  intervalLength: bigint;
  clockSkewSeconds: bigint;
  /** Seconds after an interval's end before the batcher may seal it. */
  graceSeconds: bigint;
  batchSize: number;
  batchDelayMs: number;
  maxQueue: number;
  now?: () => bigint;
}

const UINT64_MAX = (1n << 64n) - 1n;

interface Pending {
  reading: SignedReading;
  source: IngestSource;
  receivedAt: number;
  resolve: (o: IngestOutcome) => void;
}

/**
 * The ingest pipeline: parse → queue → (in batches) recover signers on worker threads → check the rules against
 * the registry mirror and the meter's neighbouring readings → store durably → answer. A reading is acknowledged
 * only after `insertReadings` resolved, so an acknowledged reading survives a crash. The queue is bounded: past
 * `maxQueue` readings wait, new ones are rejected as `overloaded` (HTTP answers 503, MQTT withholds the ack).
 */
export class Ingestor {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** Readings taken from the queue whose batch is being verified or stored. */
  private taken = 0;
  private readonly now: () => bigint;
  /** Highest interval stored per meter: in-order readings need no neighbour lookup in the store. */
  private readonly latest = new Map<Hex, SignedReading | null>();

  constructor(private readonly o: IngestorOptions) {
    this.now = o.now ?? (() => BigInt(Math.floor(Date.now() / 1000)));
  }

  /** Readings waiting to be processed (queued, or taken and not yet answered). */
  get depth(): number {
    return this.queue.length + this.taken;
  }

  /** Whether a new reading would be refused for back-pressure. */
  get full(): boolean {
    return this.depth >= this.o.maxQueue;
  }

  /**
   * Ingests payload items (one per reading); resolves, in order, once each is stored or rejected. `expectedMeter`
   * (the meter named by an MQTT topic) must match each reading's meter. With `wait`, a full queue delays instead of
   * refusing (MQTT: the unacknowledged messages hold the broker back).
   */
  async submit(
    items: unknown[],
    source: IngestSource,
    opts: { expectedMeter?: string; wait?: boolean } = {},
  ): Promise<IngestOutcome[]> {
    if (opts.wait) while (this.full) await new Promise((r) => setTimeout(r, this.o.batchDelayMs + 1));
    const receivedAt = Date.now();
    return Promise.all(
      items.map((item) => {
        const parsed = parseReading(item);
        if (!parsed.ok) return Promise.resolve(this.reject(source, { reason: "malformed", detail: parsed.detail }));
        if (
          opts.expectedMeter !== undefined &&
          opts.expectedMeter.toLowerCase() !== parsed.reading.meter.toLowerCase()
        ) {
          return Promise.resolve(
            this.reject(source, {
              reason: "malformed",
              detail: `topic names meter ${opts.expectedMeter} but the reading is of ${parsed.reading.meter}`,
            }),
          );
        }
        if (this.full) {
          return Promise.resolve(
            this.reject(source, {
              reason: "overloaded",
              detail: `ingest queue full (${this.o.maxQueue} readings): retry later`,
              meter: parsed.reading.meter,
              intervalId: parsed.reading.intervalId,
            }),
          );
        }
        return new Promise<IngestOutcome>((resolve) => {
          this.queue.push({ reading: parsed.reading, source, receivedAt, resolve });
          this.o.metrics.queueDepth.set(this.queue.length);
          this.schedule();
        });
      }),
    );
  }

  /** Processes everything queued; resolves when the queue is empty. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) {
      this.kick();
      await this.running;
    }
    await this.running;
  }

  private schedule(): void {
    if (this.queue.length >= this.o.batchSize) this.kick();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.kick(), this.o.batchDelayMs);
  }

  /**
   * Takes the next batch and starts recovering its signers at once; only the storage step is chained, in order,
   * so the worker threads verify the next batch while this thread stores the previous one.
   */
  private kick(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.queue.splice(0, this.o.batchSize);
    this.o.metrics.queueDepth.set(this.queue.length);
    if (batch.length === 0) return;
    this.taken += batch.length;
    const signers = this.o.verifier.verify(batch.map((p) => p.reading));
    signers.catch(() => {}); // handled when its turn comes
    this.running = this.running
      .then(() => this.settle(batch, signers))
      .finally(() => (this.taken -= batch.length))
      .catch((e) => this.o.log.error({ err: e }, "ingest batch failed"));
    if (this.queue.length > 0) this.schedule();
  }

  private async settle(batch: Pending[], signers: Promise<(Hex | null)[]>): Promise<void> {
    try {
      await this.process(batch, await signers);
    } catch (e) {
      // Nothing was acknowledged: answer every reading of the batch so that the sender retries.
      this.o.log.error({ err: (e as Error).message }, "ingest batch failed; readings not stored");
      for (const p of batch) {
        p.resolve(
          this.reject(p.source, {
            reason: "overloaded",
            detail: `not stored (${(e as Error).message.split("\n")[0]}): retry later`,
            meter: p.reading.meter,
            intervalId: p.reading.intervalId,
          }),
        );
      }
    }
  }

  private async process(batch: Pending[], signers: (Hex | null)[]): Promise<void> {
    await this.o.lock.run(async () => {
      // Read the clock inside the lock that sealing takes too: an interval is either stored before the batcher
      // reads it, or closed by then.
      const now = this.now();
      // Readings of one meter are checked in interval order so that each sees the one before it.
      const order = batch
        .map((p, i) => i)
        .sort((a, b) => {
          const ra = batch[a].reading;
          const rb = batch[b].reading;
          return ra.meter < rb.meter
            ? -1
            : ra.meter > rb.meter
              ? 1
              : ra.intervalId < rb.intervalId
                ? -1
                : ra.intervalId > rb.intervalId
                  ? 1
                  : 0;
        });
      const toStore: { p: Pending; index: number }[] = [];
      const outcomes: (IngestOutcome | undefined)[] = new Array(batch.length);
      const pendingByMeter = new Map<Hex, SignedReading>();
      for (const i of order) {
        const { reading } = batch[i];
        if (signers[i] !== reading.meter) {
          outcomes[i] = this.rejectOutcome(
            "bad_signature",
            `signature recovers to ${signers[i] ?? "nothing"}, not ${reading.meter}`,
            reading,
          );
          continue;
        }
        if (this.isClosed(reading.intervalId, now)) {
          const stored = await this.o.store.getReading(reading.meter, reading.intervalId);
          outcomes[i] =
            stored?.signature.toLowerCase() === reading.signature.toLowerCase()
              ? { status: "duplicate", meter: reading.meter, intervalId: reading.intervalId }
              : this.rejectOutcome(
                  "sealed",
                  `interval ${reading.intervalId} closed ${this.o.graceSeconds} s after its end; the next reading's delta will include this energy`,
                  reading,
                );
          continue;
        }
        const { previous, next } = await this.neighbours(reading, pendingByMeter.get(reading.meter));
        const violation = checkRules(
          reading,
          this.o.meters.get(reading.meter),
          { intervalLength: this.o.intervalLength, clockSkewSeconds: this.o.clockSkewSeconds },
          now,
          previous,
          next,
        );
        if (violation !== null) {
          outcomes[i] = this.rejectOutcome(violation.reason, violation.detail, reading);
          continue;
        }
        pendingByMeter.set(reading.meter, reading);
        toStore.push({ p: batch[i], index: i });
      }
      for (const source of ["mqtt", "http"] as const) {
        const group = toStore.filter((s) => s.p.source === source);
        if (group.length === 0) continue;
        const results = await this.o.store.insertReadings(
          group.map((s) => s.p.reading),
          source,
          Math.min(...group.map((s) => s.p.receivedAt)),
        );
        results.forEach((r, k) => {
          const { p, index } = group[k];
          const { reading } = p;
          if (r.kind === "conflict") {
            outcomes[index] = this.rejectOutcome(
              "conflict",
              `a different reading of ${reading.meter} for interval ${reading.intervalId} is stored; this one is kept for audit`,
              reading,
            );
            this.o.log.warn({ meter: reading.meter, intervalId: reading.intervalId.toString() }, "conflicting reading");
            return;
          }
          const cur = this.latest.get(reading.meter);
          if (cur == null || cur.intervalId < reading.intervalId) this.latest.set(reading.meter, reading);
          outcomes[index] = {
            status: r.kind === "inserted" ? "accepted" : "duplicate",
            meter: reading.meter,
            intervalId: reading.intervalId,
          };
        });
      }
      const done = Date.now();
      // Counters are incremented once per source for the batch (same totals as one increment per reading).
      const acceptedBy = { mqtt: 0, http: 0 };
      const duplicatesBy = { mqtt: 0, http: 0 };
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o.status === "accepted") acceptedBy[p.source]++;
        else if (o.status === "duplicate") duplicatesBy[p.source]++;
        else this.o.metrics.rejected.inc({ source: p.source, reason: o.reason });
        if (o.status !== "rejected") this.o.metrics.ingestLatency.observe((done - p.receivedAt) / 1000);
      });
      for (const source of ["mqtt", "http"] as const) {
        if (acceptedBy[source] > 0) this.o.metrics.accepted.inc({ source }, acceptedBy[source]);
        if (duplicatesBy[source] > 0) this.o.metrics.duplicates.inc({ source }, duplicatesBy[source]);
      }
      batch.forEach((p, i) => p.resolve(outcomes[i]!));
    });
  }

  /**
   * The meter's readings just before and after `reading`'s interval. `inBatch` is the meter's previous reading in
   * this batch (checked, not yet stored). In-order arrivals, the common case, need no store query once the
   * meter's latest stored reading is cached.
   */
  private async neighbours(
    reading: SignedReading,
    inBatch: SignedReading | undefined,
  ): Promise<{ previous?: SignedReading; next?: SignedReading }> {
    const stored = await this.latestStored(reading.meter);
    const known =
      inBatch !== undefined && (stored === undefined || inBatch.intervalId > stored.intervalId) ? inBatch : stored;
    if (known === undefined || known.intervalId < reading.intervalId) return { previous: known };
    // Out of order: an equal or later interval is stored already.
    const before = await this.o.store.readingBefore(reading.meter, reading.intervalId);
    const previous =
      inBatch !== undefined && (before === undefined || inBatch.intervalId > before.intervalId) ? inBatch : before;
    return { previous, next: await this.o.store.readingAfter(reading.meter, reading.intervalId) };
  }

  /**
   * Whether the interval is closed: its grace period has passed, so the batcher may have sealed it. A meter that
   * misses the grace period loses nothing: its next reading's delta covers the gap.
   */
  private isClosed(intervalId: bigint, now: bigint): boolean {
    return (intervalId + 1n) * this.o.intervalLength + this.o.graceSeconds <= now;
  }

  /** The meter's latest stored reading, cached after the first lookup. */
  private async latestStored(meter: Hex): Promise<SignedReading | undefined> {
    let cached = this.latest.get(meter);
    if (cached === undefined) {
      cached = (await this.o.store.readingBefore(meter, UINT64_MAX)) ?? null;
      this.latest.set(meter, cached);
    }
    return cached ?? undefined;
  }

  private rejectOutcome(
    reason: Extract<IngestOutcome, { status: "rejected" }>["reason"],
    detail: string,
    r: SignedReading,
  ): IngestOutcome {
    return { status: "rejected", reason, detail, meter: r.meter, intervalId: r.intervalId };
  }

  private reject(
    source: IngestSource,
    o: Omit<Extract<IngestOutcome, { status: "rejected" }>, "status">,
  ): IngestOutcome {
    this.o.metrics.rejected.inc({ source, reason: o.reason });
    return { status: "rejected", ...o };
  }
}
