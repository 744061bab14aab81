/**
 * Deterministic random call-market books for property tests of the clearing: the same seed and options always
 * give the same book. The generator leans on the cases that break clearings — ties at one limit within and
 * across zones and sides, zones with one side only, capacities that bind, are zero one way or are unlimited in
 * effect, empty books, tiny quantities that make pro-rata rounding matter, ids that are not order indexes.
 */
import { prng } from "../../oracle/simulator/profiles.js";
import type { Book, Order, Side, ZoneCapacity } from "./types.js";

/** Price grid of the generated books, base units per kWh. */
export const TICK = 100n;
export const FLOOR = 50_000n;
export const CEILING = 400_000n;
export const MAX_QUANTITY_WH = 50_000;
/** An export or import capacity that never binds (more than any generated book can trade). */
export const HUGE_CAP_WH = 1_000_000_000n;

export interface RandomBookOptions {
  /** Most orders in a book (default 60; up to 300 keeps every quantity and total within the LP's range). */
  maxOrders?: number;
  /** Most zones (default 6). */
  maxZones?: number;
}

export function randomBook(seed: number, opts: RandomBookOptions = {}): Book {
  const maxOrders = opts.maxOrders ?? 60;
  const maxZones = opts.maxZones ?? 6;
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;

  // Zones: mostly 0..n-1, sometimes sparse ids in a shuffled order.
  const zoneCount = int(1, maxZones);
  const sparse = chance(0.2);
  const zoneIds = Array.from({ length: zoneCount }, (_, i) => (sparse ? 10 * i + int(1, 9) : i));
  if (chance(0.2)) shuffle(zoneIds, rnd);

  // Orders: 6 % empty books, otherwise 1..maxOrders, small books more likely.
  const orderCount = chance(0.06) ? 0 : Math.max(1, Math.floor(maxOrders * rnd() ** 1.5));

  // Limit prices: a few shared levels (ties) or anything on the grid, or a mix.
  const minTicks = Number(FLOOR / TICK);
  const maxTicks = Number(CEILING / TICK);
  const priceMode = pick(["levels", "levels", "wide", "narrow", "mixed", "extremes"] as const);
  const levelCount = int(1, 5);
  const centre = int(minTicks, maxTicks);
  const levels = Array.from({ length: levelCount }, () =>
    chance(0.5) ? clamp(centre + int(-3, 3), minTicks, maxTicks) : int(minTicks, maxTicks),
  );
  const limitTicks = (): number => {
    switch (priceMode) {
      case "levels":
        return pick(levels);
      case "wide":
        return int(minTicks, maxTicks);
      case "narrow":
        return clamp(centre + int(-10, 10), minTicks, maxTicks);
      case "mixed":
        return chance(0.6) ? pick(levels) : int(minTicks, maxTicks);
      case "extremes":
        return chance(0.7) ? pick([minTicks, maxTicks]) : pick(levels);
    }
  };

  // Quantities: full range, tiny (rounding at the margin), or one size for all.
  const qtyMode = pick(["wide", "wide", "tiny", "same", "mixed"] as const);
  const sameQty = int(1, MAX_QUANTITY_WH);
  const quantity = (): number => {
    switch (qtyMode) {
      case "wide":
        return int(1, MAX_QUANTITY_WH);
      case "tiny":
        return int(1, 7);
      case "same":
        return sameQty;
      case "mixed":
        return chance(0.3) ? int(1, 10) : chance(0.5) ? sameQty : int(1, MAX_QUANTITY_WH);
    }
  };

  // Per zone, which sides trade there: both, buyers only or sellers only.
  const zoneSides = new Map<number, readonly Side[]>(
    zoneIds.map((z) => [
      z,
      zoneCount > 1 && chance(0.35)
        ? chance(0.5)
          ? (["buy"] as const)
          : (["sell"] as const)
        : (["buy", "sell"] as const),
    ]),
  );
  const buyBias = chance(0.3) ? rnd() : 0.5;

  const idMode = pick(["index", "index", "offset", "shuffled"] as const);
  const ids = Array.from({ length: orderCount }, (_, i) =>
    idMode === "index" ? i : idMode === "offset" ? 1000 + 3 * i : i,
  );
  if (idMode === "shuffled") shuffle(ids, rnd);

  const orders: Order[] = [];
  let previous: Order | undefined;
  for (let i = 0; i < orderCount; i++) {
    // Now and then an exact copy of the previous order's limit (and sometimes side and zone): ties.
    const copy = previous !== undefined && chance(0.15);
    const zone: number = copy && chance(0.5) ? previous!.zone : pick(zoneIds);
    const sides = zoneSides.get(zone)!;
    const side: Side =
      sides.length === 1 ? sides[0] : copy && chance(0.5) ? previous!.side : rnd() < buyBias ? "buy" : "sell";
    const limitPrice = copy ? previous!.limitPrice : BigInt(limitTicks()) * TICK;
    const order: Order = { id: ids[i], side, zone, quantityWh: BigInt(quantity()), limitPrice };
    orders.push(order);
    previous = order;
  }

  // Capacities, per direction: unlimited in effect, zero, small, or about what the zone could trade (binding).
  const tradable = new Map<number, { sell: number; buy: number }>(zoneIds.map((z) => [z, { sell: 0, buy: 0 }]));
  for (const o of orders) tradable.get(o.zone)![o.side] += Number(o.quantityWh);
  const allHuge = chance(0.2);
  const cap = (volume: number): bigint => {
    if (allHuge) return HUGE_CAP_WH;
    switch (pick(["huge", "huge", "zero", "small", "binding", "binding", "binding"] as const)) {
      case "huge":
        return HUGE_CAP_WH;
      case "zero":
        return 0n;
      case "small":
        return BigInt(int(1, 100));
      case "binding":
        return BigInt(Math.floor(volume * rnd()));
    }
  };
  const zones: ZoneCapacity[] = zoneIds.map((zone) => {
    const t = tradable.get(zone)!;
    return { zone, exportCapWh: cap(t.sell), importCapWh: cap(t.buy) };
  });

  return { floor: FLOOR, ceiling: CEILING, zones, orders };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** Fisher–Yates with the given PRNG. */
export function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
