import type { Book } from "./types.js";

/** A book as BatchAuction loads it for `ZonalClearing.clear`: zones in ascending id, levels merged by price. */
export interface LevelBook {
  exportCapWh: bigint[];
  importCapWh: bigint[];
  totalSell: bigint[];
  totalBuy: bigint[];
  prices: bigint[];
  /** Index into the zone arrays. */
  zoneOf: bigint[];
  sells: bigint[];
  buys: bigint[];
}

/** Aggregates `book`'s orders into one level per (zone, limit price), ascending by price (then zone). */
export function levelBook(book: Book): { zones: number[]; levels: LevelBook } {
  const zones = [...book.zones].sort((a, b) => a.zone - b.zone);
  const index = new Map(zones.map((z, i) => [z.zone, i]));
  const byKey = new Map<string, { price: bigint; zone: number; sell: bigint; buy: bigint }>();
  for (const o of book.orders) {
    const zone = index.get(o.zone)!;
    const key = `${o.limitPrice}:${zone}`;
    const l = byKey.get(key) ?? { price: o.limitPrice, zone, sell: 0n, buy: 0n };
    l[o.side] += o.quantityWh;
    byKey.set(key, l);
  }
  const sorted = [...byKey.values()].sort((a, b) => (a.price < b.price ? -1 : a.price > b.price ? 1 : a.zone - b.zone));
  const total = (side: "sell" | "buy", z: number) =>
    sorted.filter((l) => l.zone === z).reduce((s, l) => s + l[side], 0n);
  return {
    zones: zones.map((z) => z.zone),
    levels: {
      exportCapWh: zones.map((z) => z.exportCapWh),
      importCapWh: zones.map((z) => z.importCapWh),
      totalSell: zones.map((_, i) => total("sell", i)),
      totalBuy: zones.map((_, i) => total("buy", i)),
      prices: sorted.map((l) => l.price),
      zoneOf: sorted.map((l) => BigInt(l.zone)),
      sells: sorted.map((l) => l.sell),
      buys: sorted.map((l) => l.buy),
    },
  };
}
