/**
 * The demo's oracle quorum: three relayers (the production service, `oracle/src/service.ts`), each with its own key
 * and SQLite store, subscribed to one MQTT broker (in-process aedes by default, or an external one such as
 * Mosquitto), and the meter simulator's publisher that sends them signed cumulative readings.
 *
 * Simulated time: the relayers' clock is the demo's clock (the chain time it last set), passed in through the
 * service's `now` option, so "the interval has ended" and "the grace period has passed" follow the simulated day,
 * not the wall clock.
 */
import { join } from "node:path";
import { pino } from "pino";
import { parseConfig } from "../../oracle/src/config.js";
import { startRelayer, type Relayer } from "../../oracle/src/service.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../oracle/src/ingest/broker.js";
import { mqttPublisher, type Publisher } from "../../oracle/simulator/publish.js";
import type { SignedReading } from "../../oracle/src/types.js";
import { MicrogridError } from "../errors.js";

/** Seconds after an interval's end before the relayers seal it (simulated time). */
export const GRACE_SECONDS = 120n;

export interface QuorumOptions {
  rpcUrl: string;
  /** `deployments/<network>.json` of the run (the relayers read addresses and the start block from it). */
  deploymentPath: string;
  /** The relayers' private keys; each is handed over in an environment variable, never in a file. */
  keys: string[];
  /** Folder for the relayers' SQLite stores. */
  dir: string;
  /** An external MQTT broker; default: an in-process one. */
  mqttUrl?: string;
  /** Chain polling (registry events, vote receipts), ms. */
  pollMs?: number;
  /** Batcher polling (the relayer's own store), ms. */
  batchPollMs?: number;
}

export interface IngestFigures {
  /** Readings published to the broker. */
  published: number;
  /** Readings the relayers processed (accepted, duplicate or rejected), summed over the relayers. */
  processed: number;
  /** Wall time from each publish until every relayer had processed the interval's readings, summed, s. */
  seconds: number;
}

export interface RelayerFigures {
  id: string;
  address: string;
  accepted: number;
  duplicates: number;
  rejected: Record<string, number>;
  /** Median and 99th percentile of the ingest latency (receipt to durable storage), ms, from the histogram. */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

export interface Quorum {
  relayers: Relayer[];
  mqttUrl: string;
  embeddedBroker: boolean;
  /** Sets the relayers' clock (Unix seconds, never backwards). */
  setClock(t: bigint): void;
  /**
   * Publishes readings and resolves once every relayer stored each of them but the `rejected` ones and counted the
   * rejected ones as rejected. (Checked in the stores, not only in the counters: on a shared external broker other
   * publishers' readings reach the relayers too.)
   */
  publish(readings: SignedReading[], rejected?: SignedReading[]): Promise<void>;
  ingest: IngestFigures;
  figures(): Promise<RelayerFigures[]>;
  stop(): Promise<void>;
}

async function counterTotal(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((s, v) => s + v.value, 0);
}

async function processed(r: Relayer): Promise<number> {
  const m = r.metrics;
  return (await counterTotal(m.accepted)) + (await counterTotal(m.duplicates)) + (await counterTotal(m.rejected));
}

/** Quantile `q` of a prom-client histogram's cumulative buckets (upper bound of the bucket reaching it), ms. */
async function quantileMs(h: Relayer["metrics"]["ingestLatency"], q: number): Promise<number | null> {
  const values = (await h.get()).values;
  const buckets = values
    .filter((v) => v.metricName?.endsWith("_bucket"))
    .map((v) => ({ le: Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const bucket = buckets.find((b) => b.count >= q * total);
  return bucket === undefined || !Number.isFinite(bucket.le) ? null : bucket.le * 1000;
}

/** `p`, or an error naming the broker when it takes longer than 15 s (an unreachable broker never answers). */
async function within<T>(p: Promise<T>, url: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new MicrogridError(`cannot reach the MQTT broker at ${url} within 15 s: is it running?`)),
      15_000,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the broker (unless external), three relayers and the meters' publisher. */
export async function startQuorum(o: QuorumOptions): Promise<Quorum> {
  let clock = 0n;
  let broker: EmbeddedBroker | undefined;
  const relayers: Relayer[] = [];
  let publisher: Publisher | undefined;
  const stop = async () => {
    await publisher?.close().catch(() => undefined);
    for (const r of relayers) await r.stop();
    await broker?.close();
  };
  try {
    const mqttUrl = o.mqttUrl ?? (broker = await startEmbeddedBroker(0)).url;
    const suffix = `${process.pid}-${Date.now()}`;
    for (const [i, key] of o.keys.entries()) {
      const env = `MICROGRID_DEMO_RELAYER_KEY_${i + 1}`;
      process.env[env] = key;
      const config = parseConfig(
        {
          relayerId: `demo-relayer-${i + 1}`,
          chain: { rpcUrl: o.rpcUrl, deployment: o.deploymentPath, privateKeyEnv: env, pollMs: o.pollMs ?? 100 },
          store: { sqlitePath: join(o.dir, `relayer-${i + 1}.sqlite`) },
          mqtt: { url: mqttUrl, clientId: `demo-relayer-${i + 1}-${suffix}` },
          http: { port: 0 },
          ingest: { workers: 0, batchDelayMs: 2 },
          batch: { graceSeconds: Number(GRACE_SECONDS), pollMs: o.batchPollMs ?? 50 },
          log: { level: "silent" },
        },
        {}, // the demo's relayers always keep their own SQLite store and the broker given here
      );
      // Warnings and errors go to `relayer-<i>.log` next to the store.
      const log = pino({ level: "warn" }, pino.destination({ dest: join(o.dir, `relayer-${i + 1}.log`), sync: false }));
      const relayer = await startRelayer(config, { log, now: () => clock });
      relayers.push(relayer);
      await within(relayer.mqttReady, mqttUrl);
    }
    publisher = await within(mqttPublisher(mqttUrl, `demo-meters-${suffix}`), mqttUrl);
    const ingest: IngestFigures = { published: 0, processed: 0, seconds: 0 };
    const quorum: Quorum = {
      relayers,
      mqttUrl,
      embeddedBroker: broker !== undefined,
      setClock(t) {
        if (t > clock) clock = t;
      },
      async publish(readings, rejected = []) {
        const before = await Promise.all(relayers.map(processed));
        const rejectedBefore = await Promise.all(relayers.map((r) => counterTotal(r.metrics.rejected)));
        const toStore = readings.filter((x) => !rejected.includes(x));
        const stored = async (r: Relayer) => {
          for (const x of toStore)
            if ((await r.store.getReading(x.meter, x.intervalId))?.signature !== x.signature) return false;
          return true;
        };
        const started = performance.now();
        await publisher!.publish(readings);
        const deadline = Date.now() + 60_000;
        for (;;) {
          const now = await Promise.all(relayers.map(processed));
          if (now.every((n, i) => n - before[i] >= readings.length)) {
            const rej = await Promise.all(relayers.map((r) => counterTotal(r.metrics.rejected)));
            if (
              rej.every((n, i) => n - rejectedBefore[i] >= rejected.length) &&
              (await Promise.all(relayers.map(stored))).every(Boolean)
            )
              break;
          }
          if (Date.now() > deadline)
            throw new MicrogridError(
              `the relayers did not process ${readings.length} readings within 60 s (processed ${now.map((n, i) => n - before[i]).join(", ")})`,
            );
          await new Promise((r) => setTimeout(r, 2));
        }
        ingest.seconds += (performance.now() - started) / 1000;
        ingest.published += readings.length;
        ingest.processed += readings.length * relayers.length;
      },
      ingest,
      async figures() {
        return Promise.all(
          relayers.map(async (r, i) => {
            const rejected: Record<string, number> = {};
            for (const v of (await r.metrics.rejected.get()).values)
              if (v.value > 0) rejected[String(v.labels.reason)] = (rejected[String(v.labels.reason)] ?? 0) + v.value;
            return {
              id: `demo-relayer-${i + 1}`,
              address: r.address,
              accepted: await counterTotal(r.metrics.accepted),
              duplicates: await counterTotal(r.metrics.duplicates),
              rejected,
              latencyP50Ms: await quantileMs(r.metrics.ingestLatency, 0.5),
              latencyP99Ms: await quantileMs(r.metrics.ingestLatency, 0.99),
            };
          }),
        );
      },
      stop,
    };
    return quorum;
  } catch (e) {
    await stop();
    throw e;
  }
}
