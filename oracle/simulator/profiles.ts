/**
 * Deterministic energy profiles of simulated prosumers, per delivery interval (Wh). Solar follows a clear-sky
 * bell between 06:00 and 18:00 UTC scaled by daily and per-interval cloudiness; wind is a slowly varying random
 * walk; households draw a base load with morning and evening peaks; batteries charge from midday surplus and
 * discharge into the evening peak. The same seed gives the same day.
 */
export type Technology = "solar" | "wind" | "battery" | "load-only";

/** Small fast PRNG (mulberry32) so that profiles are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface ProfileSpec {
  technology: Technology;
  ratedCapacityW: number;
  /** Average household load, W. */
  baseLoadW: number;
  seed: number;
}

const HOUR = 3600;

/** Fraction of rated PV output at a UTC time of day (clear sky). */
export function solarShape(secondsOfDay: number): number {
  const h = secondsOfDay / HOUR;
  if (h <= 6 || h >= 18) return 0;
  return Math.sin(((h - 6) / 12) * Math.PI) ** 1.5;
}

/** Household demand multiplier over the day: night trough, morning and evening peaks. */
export function loadShape(secondsOfDay: number): number {
  const h = secondsOfDay / HOUR;
  const morning = Math.exp(-((h - 7.5) ** 2) / 2);
  const evening = 1.6 * Math.exp(-((h - 19) ** 2) / 3);
  return 0.45 + morning * 0.8 + evening;
}

/** One meter's import and export for an interval, Wh (integers, never negative). */
export function intervalEnergy(
  spec: ProfileSpec,
  intervalId: bigint,
  intervalLength: number,
): { importWh: bigint; exportWh: bigint } {
  const start = Number(intervalId) * intervalLength;
  const mid = (start + intervalLength / 2) % 86_400;
  const day = Math.floor(start / 86_400);
  const rnd = prng(spec.seed ^ Number(intervalId % 1_000_000_007n));
  const dayCloud = 0.55 + 0.45 * prng(spec.seed ^ day)();
  const hours = intervalLength / HOUR;
  const load = spec.baseLoadW * loadShape(mid) * (0.85 + 0.3 * rnd());
  let generation = 0;
  if (spec.technology === "solar") generation = spec.ratedCapacityW * solarShape(mid) * dayCloud * (0.8 + 0.2 * rnd());
  else if (spec.technology === "wind")
    generation =
      spec.ratedCapacityW *
      (0.15 + 0.5 * prng(spec.seed ^ (day * 97 + Math.floor(mid / 7_200)))()) *
      (0.9 + 0.2 * rnd());
  else if (spec.technology === "battery") {
    // Solar on the roof plus a battery shifting midday surplus to the evening peak.
    const pv = spec.ratedCapacityW * 0.8 * solarShape(mid) * dayCloud;
    const h = mid / HOUR;
    const shift = h >= 10 && h < 14 ? -0.4 * spec.ratedCapacityW : h >= 17 && h < 21 ? 0.5 * spec.ratedCapacityW : 0;
    generation = Math.max(0, pv + shift);
  }
  const netW = generation - load;
  const wh = (w: number) => BigInt(Math.round(Math.min(Math.abs(w), spec.ratedCapacityW) * hours));
  return netW >= 0 ? { importWh: 0n, exportWh: wh(netW) } : { importWh: wh(netW), exportWh: 0n };
}
