/**
 * Write throughput of a store, as the relayer uses it: `insertReadings` calls of `batchSize` new readings (one
 * interval of `batchSize` meters per call), awaited one after another. Run it on the deployment's disk to check
 * the durability setting costs what you expect, e.g. with `node --import tsx` and a two-line script that opens a
 * store, calls `benchInsertThroughput` and prints the result.
 */
import type { Hex, SignedReading } from "../types.js";
import type { ReadingStore } from "./store.js";

export interface BenchResult {
  readings: number;
  seconds: number;
  readingsPerSecond: number;
}

/** `batchSize` meters' readings of interval `intervalId`; addresses and signatures are well-formed, not real. */
function intervalOfReadings(intervalId: bigint, batchSize: number): SignedReading[] {
  return Array.from({ length: batchSize }, (_, i) => {
    const meter = `0x${i.toString(16).padStart(40, "0")}` as Hex;
    const seed = `${intervalId.toString(16).padStart(16, "0")}${i.toString(16).padStart(8, "0")}`;
    return {
      meter,
      intervalId,
      importWhTotal: intervalId * 100n + BigInt(i),
      exportWhTotal: intervalId * 50n,
      timestamp: (intervalId + 1n) * 900n,
      signature: `0x${seed.repeat(5)}${"1b".padStart(10, "0")}` as Hex,
    };
  });
}

/**
 * Inserts `batches` × `batchSize` new readings into an open, empty store (intervals `firstIntervalId` onwards)
 * and reports how many per second were stored. Readings are generated before the clock starts.
 */
export async function benchInsertThroughput(
  store: ReadingStore,
  { batches, batchSize, firstIntervalId = 1n }: { batches: number; batchSize: number; firstIntervalId?: bigint },
): Promise<BenchResult> {
  const work = Array.from({ length: batches }, (_, b) => intervalOfReadings(firstIntervalId + BigInt(b), batchSize));
  const started = process.hrtime.bigint();
  for (const readings of work) await store.insertReadings(readings, "mqtt", Date.now());
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const readings = batches * batchSize;
  return { readings, seconds, readingsPerSecond: Math.round(readings / seconds) };
}
