import { InputError } from "../../../src/errors.js";
import type { Hex, Leaf, SignedReading } from "../types.js";

/** Why a meter's reading gives no leaf in its interval. */
export type SkipReason =
  /** The meter's first reading ever: it only sets the baseline that later deltas are taken from. */
  | "no_baseline"
  /** A cumulative register is below the baseline's: tampering or a replaced meter (ingest normally refuses these). */
  | "register_decreased";

/** The leaves of one interval and the meters that got none. */
export interface DerivedLeaves {
  /** One per reading with a baseline and no decreased register, in the order of the readings. */
  leaves: Leaf[];
  /** One per other reading, in the order of the readings. */
  skipped: { meter: Hex; reason: SkipReason }[];
}

/**
 * Derives an interval's leaves from the meters' cumulative readings: a meter's leaf is the energy its registers
 * advanced since its baseline, `importWh = reading.importWhTotal - baseline.importWhTotal` and likewise
 * `exportWh`. A leaf can be zero (the meter reported, nothing flowed).
 *
 * Catch-up rule: the baseline is the meter's latest reading before this interval, not necessarily the previous
 * interval's. A meter that missed intervals gets no leaf for them; its next delta covers the whole gap and is
 * credited to the interval of the reading that closes it.
 *
 * Pure: reads nothing but its arguments.
 * @param intervalId The interval being batched.
 * @param readings The interval's readings, at most one per meter.
 * @param baselines For each meter, its latest reading strictly before `intervalId`, keyed by the meter exactly as
 *   spelt in its readings (checksummed). A meter without one is on its first reading.
 * @throws InputError if a reading is of another interval, two readings are of the same meter, or a baseline is of
 *   another meter or not of an earlier interval (the caller mixed up its inputs).
 */
export function deriveLeaves(
  intervalId: bigint,
  readings: SignedReading[],
  baselines: Map<Hex, SignedReading>,
): DerivedLeaves {
  const leaves: Leaf[] = [];
  const skipped: DerivedLeaves["skipped"] = [];
  const seen = new Set<Hex>();
  for (const reading of readings) {
    const { meter } = reading;
    if (reading.intervalId !== intervalId) {
      throw new InputError(`reading of meter ${meter} is for interval ${reading.intervalId}, not ${intervalId}`);
    }
    if (seen.has(meter)) throw new InputError(`meter ${meter} has two readings for interval ${intervalId}`);
    seen.add(meter);
    const baseline = baselines.get(meter);
    if (baseline === undefined) {
      skipped.push({ meter, reason: "no_baseline" });
      continue;
    }
    if (baseline.meter !== meter || baseline.intervalId >= intervalId) {
      throw new InputError(
        `baseline of meter ${meter} is meter ${baseline.meter}'s reading for interval ${baseline.intervalId}, ` +
          `not an earlier reading of the same meter`,
      );
    }
    const importWh = reading.importWhTotal - baseline.importWhTotal;
    const exportWh = reading.exportWhTotal - baseline.exportWhTotal;
    if (importWh < 0n || exportWh < 0n) skipped.push({ meter, reason: "register_decreased" });
    else leaves.push({ meter, importWh, exportWh });
  }
  return { leaves, skipped };
}
