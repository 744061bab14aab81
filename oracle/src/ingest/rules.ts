/**
 * The relayer's acceptance rules for a reading whose signature already recovered to its meter. Pure: no I/O, no
 * clock (the caller passes `now`).
 *
 * Intervals follow `src/intervals.ts`: interval `id` runs over `[id·L, (id+1)·L)` and ends at `(id+1)·L`, the
 * moment its reading is due. Checks, in this order (the first failure is reported):
 * 1. unknown_meter: the meter is not in the registry mirror.
 * 2. revoked_meter: `revokedAt ≠ 0` and `revokedAt < end` (the condition `KwhToken` refuses claims on).
 * 3. not_ended: `end > now + skew`.
 * 4. misaligned: `|timestamp − end| > skew`.
 * 5. register_decreased: a register below the previous reading's or above the next reading's (equal is fine:
 *    no energy flowed).
 * 6. impossible_delta: a register grew by more than `ceil(ratedCapacityW × k × L / 3600)` Wh over the `k`
 *    intervals since the previous reading, for import and for export. The same bound is applied between this
 *    reading and the next stored one: accepting a late reading that makes its successor's delta impossible would
 *    only move the violation to a reading stored earlier.
 */
import type { MirroredMeter, RejectReason, SignedReading } from "../types.js";

/** Interval length and clock-skew tolerance, seconds. */
export interface RuleConfig {
  intervalLength: bigint;
  clockSkewSeconds: bigint;
}

/** Why a reading breaks a rule; `detail` is one line naming the values. */
export interface RuleViolation {
  reason: RejectReason;
  detail: string;
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** Most Wh a meter of `ratedCapacityW` can move in `intervals` intervals of `intervalLength` seconds, rounded up. */
export function maxWhOver(ratedCapacityW: bigint, intervals: bigint, intervalLength: bigint): bigint {
  const wattSeconds = ratedCapacityW * intervals * intervalLength;
  return (wattSeconds + 3599n) / 3600n;
}

function deltaViolation(
  earlier: SignedReading,
  later: SignedReading,
  meter: MirroredMeter,
  intervalLength: bigint,
  which: "previous" | "next",
): RuleViolation | null {
  const intervals = later.intervalId - earlier.intervalId;
  const max = maxWhOver(meter.ratedCapacityW, intervals, intervalLength);
  for (const [register, a, b] of [
    ["import", earlier.importWhTotal, later.importWhTotal],
    ["export", earlier.exportWhTotal, later.exportWhTotal],
  ] as const) {
    const delta = b - a;
    if (delta > max) {
      return {
        reason: "impossible_delta",
        detail:
          `${register} rose ${delta} Wh from interval ${earlier.intervalId} to ${later.intervalId} ` +
          `(${which} reading), over the ${max} Wh that ${meter.ratedCapacityW} W allows in ${intervals} × ${intervalLength} s`,
      };
    }
  }
  return null;
}

/**
 * Checks `reading` against the rules above. `meter` is the registry mirror's entry (undefined if unknown);
 * `previous` / `next` are the meter's readings of the nearest earlier / later interval, if any (same meter; one
 * whose interval is not strictly before / after `reading`'s, e.g. an identical reading earlier in the same batch,
 * is ignored). Returns null when the reading passes.
 */
export function checkRules(
  reading: SignedReading,
  meter: MirroredMeter | undefined,
  config: RuleConfig,
  now: bigint,
  previous?: SignedReading,
  next?: SignedReading,
): RuleViolation | null {
  const { intervalLength, clockSkewSeconds: skew } = config;
  if (meter === undefined) {
    return { reason: "unknown_meter", detail: `meter ${reading.meter} is not registered` };
  }
  const end = (reading.intervalId + 1n) * intervalLength;
  if (meter.revokedAt !== 0n && meter.revokedAt < end) {
    return {
      reason: "revoked_meter",
      detail: `meter ${reading.meter} was revoked at ${meter.revokedAt}, before interval ${reading.intervalId} ended at ${end}`,
    };
  }
  if (end > now + skew) {
    return {
      reason: "not_ended",
      detail: `interval ${reading.intervalId} ends at ${end}, after now ${now} + skew ${skew}`,
    };
  }
  if (abs(reading.timestamp - end) > skew) {
    return {
      reason: "misaligned",
      detail: `timestamp ${reading.timestamp} is ${reading.timestamp - end} s from the end ${end} of interval ${reading.intervalId} (skew ${skew} s)`,
    };
  }
  // A "neighbour" of the same (or the wrong side's) interval is no neighbour: the store decides duplicates and
  // conflicts of one interval, so it is ignored rather than treated as an error.
  if (previous !== undefined && previous.intervalId >= reading.intervalId) previous = undefined;
  if (next !== undefined && next.intervalId <= reading.intervalId) next = undefined;
  for (const [register, value, prev, nxt] of [
    ["import", reading.importWhTotal, previous?.importWhTotal, next?.importWhTotal],
    ["export", reading.exportWhTotal, previous?.exportWhTotal, next?.exportWhTotal],
  ] as const) {
    if (prev !== undefined && value < prev) {
      return {
        reason: "register_decreased",
        detail: `${register} register ${value} Wh is below ${prev} Wh of interval ${previous!.intervalId}`,
      };
    }
    if (nxt !== undefined && value > nxt) {
      return {
        reason: "register_decreased",
        detail: `${register} register ${value} Wh is above ${nxt} Wh of later interval ${next!.intervalId}`,
      };
    }
  }
  if (previous !== undefined) {
    const v = deltaViolation(previous, reading, meter, intervalLength, "previous");
    if (v !== null) return v;
  }
  if (next !== undefined) {
    const v = deltaViolation(reading, next, meter, intervalLength, "next");
    if (v !== null) return v;
  }
  return null;
}
