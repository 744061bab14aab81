/**
 * The prosumers' trading agents. One simple, documented strategy for everyone, with per-prosumer parameters
 * (`community.ts`):
 *
 * - **Position.** An agent forecasts its meter's net energy for the interval (within ±10% of what it will measure)
 *   and places at most one order: a sell order for a forecast surplus, a buy order for a forecast need.
 * - **Quantity.** Sellers offer 85% of the forecast surplus (a margin for the forecast error, so they can deliver
 *   what they sell), within their meter's capacity over one interval; buyers bid for their whole forecast need.
 *   Orders below 50 Wh (sellers) or 100 Wh (buyers) are not worth their gas and are not placed.
 * - **Price.** Between the day's tariffs from the price feeds: a seller asks `feed-in + askFactor × (retail −
 *   feed-in)`, a buyer bids `feed-in + bidFactor × (retail − feed-in)`, rounded to the auction's tick. Selling to a
 *   neighbour above the feed-in tariff and buying below retail both beat the utility. In the evening peak
 *   (17:00–21:00 UTC) sellers ask 0.2 of the spread more: stored energy is scarce then.
 * - **Quirk `oversells`.** This seller offers 1.6× its forecast surplus (within its meter's capacity), so it
 *   regularly delivers less than it sold: the escrow slashes its bond and compensates its buyers.
 */
import type { Member } from "./community.js";
import { forecastNetWh } from "./community.js";

export interface Tariffs {
  /** Feed-in tariff (the auction's floor), base units per kWh. */
  floor: bigint;
  /** Retail tariff (the auction's ceiling), base units per kWh. */
  ceiling: bigint;
  tick: bigint;
}

export interface OrderIntent {
  side: "buy" | "sell";
  quantityWh: bigint;
  limitPrice: bigint;
}

export const SELL_SHARE = 0.85;
export const OVERSELL_FACTOR = 1.6;
export const MIN_SELL_WH = 50;
export const MIN_BUY_WH = 100;
export const EVENING_PREMIUM = 0.2;

/** A price `factor` of the way from the feed-in to the retail tariff, on the tick. */
export function priceAt(t: Tariffs, factor: number): bigint {
  const f = Math.min(1, Math.max(0, factor));
  const raw = t.floor + (BigInt(Math.round(f * 1_000_000)) * (t.ceiling - t.floor)) / 1_000_000n;
  const onTick = (raw / t.tick) * t.tick;
  const lo = ((t.floor + t.tick - 1n) / t.tick) * t.tick;
  const hi = (t.ceiling / t.tick) * t.tick;
  return onTick < lo ? lo : onTick > hi ? hi : onTick;
}

/** The agent's order for `intervalId`, or null when it sits this auction out. */
export function decideOrder(m: Member, intervalId: bigint, intervalLength: number, t: Tariffs): OrderIntent | null {
  const forecast = forecastNetWh(m, intervalId, intervalLength);
  const hour = ((Number(intervalId) * intervalLength) % 86_400) / 3600;
  if (forecast > 0 && m.technology !== "load-only") {
    const maxWh = Math.floor((m.ratedCapacityW * intervalLength) / 3600);
    const share = m.quirk === "oversells" ? OVERSELL_FACTOR : SELL_SHARE;
    const q = Math.min(maxWh, Math.floor(forecast * share));
    if (q < MIN_SELL_WH) return null;
    const evening = hour >= 17 && hour < 21 ? EVENING_PREMIUM : 0;
    return { side: "sell", quantityWh: BigInt(q), limitPrice: priceAt(t, m.askFactor + evening) };
  }
  if (forecast < 0 && -forecast >= MIN_BUY_WH) {
    return { side: "buy", quantityWh: BigInt(-forecast), limitPrice: priceAt(t, m.bidFactor) };
  }
  return null;
}
