/**
 * Reference clearing of one sealed-bid call market (one delivery interval, several zones), in exact integers.
 * The BatchAuction contract implements the same rules; tasks use this to preview an auction and tests use it as
 * the oracle. The rules (docs/auction.md):
 *
 * A zone z at price p could net-export anything in [E⁻(p), E⁺(p)]: sellers strictly below p and buyers strictly
 * above p fill fully, orders exactly at p anywhere between nothing and all:
 *   E⁻(p) = Σ sells(limit < p) − Σ buys(limit ≥ p),   E⁺(p) = Σ sells(limit ≤ p) − Σ buys(limit > p),
 * both clamped to the zone's capacity [−importCap, exportCap]. Both are non-decreasing step functions of p.
 *
 * 1. System price. Λ = { p in [floor, ceiling] : Σ_z clamp(E⁻_z(p)) ≤ 0 ≤ Σ_z clamp(E⁺_z(p)) } is a closed
 *    interval [lo, hi] whose ends are limit prices or the bounds; the system price is its midpoint ⌊(lo+hi)/2⌋.
 * 2. Zones. At the system price λ a zone whose E⁻(λ) exceeds its export capacity is export-congested: it
 *    exports exactly its capacity at its own price, the midpoint of { p : E⁻(p) ≤ cap ≤ E⁺(p) } (below λ).
 *    Likewise a zone whose E⁺(λ) is below −importCap is import-congested (its price is above λ). Every other
 *    zone trades at λ.
 * 3. Net exports. Congested zones export their capacity; the uncongested zones' net exports lie in their clamped
 *    [E⁻(λ), E⁺(λ)] and must sum to minus the congested ones'; the slack above the lower ends is shared in
 *    proportion to the intervals' widths, in zone order with cumulative rounding (so the sum is exact).
 * 4. Fills. In each zone, orders strictly in the money fill fully and strictly out of it not at all; orders at
 *    the zone's price fill as much as possible on both sides (the short side fully, the long side pro rata),
 *    given the zone's net export. Pro-rata fills of one price level are rounded by cumulative quantity in book
 *    (reveal) order: order i gets ⌊cum_i·F/T⌋ − ⌊cum_(i−1)·F/T⌋, so a level's fills add up to F exactly.
 *
 * This maximises welfare (Σ buyers' limits − Σ sellers' limits over traded Wh) subject to the capacities: the
 * prices are the dual of that linear program, every order's fill is consistent with its zone's price, and the
 * choices left (at-price volume, how slack is shared) do not change welfare.
 */
import { InputError } from "../errors.js";
import type { Book, ClearingResult, Congestion, Fill, Order, ZoneCapacity, ZoneResult } from "./types.js";

/** One zone's book aggregated by price: quantities at each limit, in ascending price order. */
interface ZoneBook {
  cap: ZoneCapacity;
  prices: bigint[];
  sellAt: Map<bigint, bigint>;
  buyAt: Map<bigint, bigint>;
  totalSell: bigint;
  totalBuy: bigint;
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);
const min = (a: bigint, b: bigint) => (a < b ? a : b);

function clamp(x: bigint, cap: ZoneCapacity): bigint {
  return max(-cap.importCapWh, min(cap.exportCapWh, x));
}

/** Σ of `m`'s values at keys satisfying `pred`. */
function sumWhere(m: Map<bigint, bigint>, pred: (price: bigint) => boolean): bigint {
  let s = 0n;
  for (const [price, q] of m) if (pred(price)) s += q;
  return s;
}

/** The zone's net-export interval at price `p`, before the capacity clamp. */
function netExport(z: ZoneBook, p: bigint): { lo: bigint; hi: bigint } {
  const sellBelow = sumWhere(z.sellAt, (x) => x < p);
  const sellAt = z.sellAt.get(p) ?? 0n;
  const buyAbove = sumWhere(z.buyAt, (x) => x > p);
  const buyAt = z.buyAt.get(p) ?? 0n;
  return { lo: sellBelow - buyAbove - buyAt, hi: sellBelow + sellAt - buyAbove };
}

/** Midpoint of { p in candidates ∪ bounds : lower(p) ≤ target ≤ upper(p) } for non-decreasing lower/upper. */
function midpointWhere(
  candidates: bigint[],
  lower: (p: bigint) => bigint,
  upper: (p: bigint) => bigint,
  target: bigint,
): bigint {
  let lo: bigint | undefined;
  let hi: bigint | undefined;
  for (const p of candidates) {
    if (lo === undefined && upper(p) >= target) lo = p;
    if (lower(p) <= target) hi = p;
  }
  if (lo === undefined || hi === undefined || lo > hi) throw new Error("no clearing price: inconsistent book");
  return (lo + hi) / 2n;
}

function validate(book: Book): Map<number, ZoneCapacity> {
  if (book.floor < 0n || book.ceiling < book.floor) {
    throw new InputError(`price bounds [${book.floor}, ${book.ceiling}] are not an interval`);
  }
  const zones = new Map<number, ZoneCapacity>();
  for (const z of book.zones) {
    if (zones.has(z.zone)) throw new InputError(`zone ${z.zone} is listed twice`);
    if (z.exportCapWh < 0n || z.importCapWh < 0n) throw new InputError(`zone ${z.zone} has a negative capacity`);
    zones.set(z.zone, z);
  }
  const ids = new Set<number>();
  for (const o of book.orders) {
    if (ids.has(o.id)) throw new InputError(`order id ${o.id} is used twice`);
    ids.add(o.id);
    if (!zones.has(o.zone)) throw new InputError(`order ${o.id} names zone ${o.zone}, which is not in the book`);
    if (o.quantityWh <= 0n) throw new InputError(`order ${o.id} has quantity ${o.quantityWh} Wh; it must be positive`);
    if (o.limitPrice < book.floor || o.limitPrice > book.ceiling) {
      throw new InputError(`order ${o.id} limit ${o.limitPrice} is outside [${book.floor}, ${book.ceiling}]`);
    }
  }
  return zones;
}

/** Clears `book`: prices, net exports and every order's fill (see the module comment for the rules). */
export function clearBook(book: Book): ClearingResult {
  const caps = validate(book);
  const zoneIds = [...caps.keys()].sort((a, b) => a - b);
  const books = new Map<number, ZoneBook>();
  for (const id of zoneIds) {
    books.set(id, { cap: caps.get(id)!, prices: [], sellAt: new Map(), buyAt: new Map(), totalSell: 0n, totalBuy: 0n });
  }
  const allPrices = new Set<bigint>([book.floor, book.ceiling]);
  for (const o of book.orders) {
    const z = books.get(o.zone)!;
    const m = o.side === "sell" ? z.sellAt : z.buyAt;
    m.set(o.limitPrice, (m.get(o.limitPrice) ?? 0n) + o.quantityWh);
    if (o.side === "sell") z.totalSell += o.quantityWh;
    else z.totalBuy += o.quantityWh;
    allPrices.add(o.limitPrice);
  }
  const ascending = (s: Iterable<bigint>) => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const z of books.values())
    z.prices = ascending(new Set([book.floor, book.ceiling, ...z.sellAt.keys(), ...z.buyAt.keys()]));

  // 1. System price.
  const sumClamped = (p: bigint, end: "lo" | "hi") => {
    let s = 0n;
    for (const z of books.values()) s += clamp(netExport(z, p)[end], z.cap);
    return s;
  };
  const systemPrice = midpointWhere(
    ascending(allPrices),
    (p) => sumClamped(p, "lo"),
    (p) => sumClamped(p, "hi"),
    0n,
  );

  // 2. Zone prices and congestion; 3. net exports.
  const state = new Map<number, { price: bigint; congestion: Congestion; netExportWh: bigint }>();
  const uncongested: { id: number; lo: bigint; width: bigint }[] = [];
  let congestedExport = 0n;
  for (const id of zoneIds) {
    const z = books.get(id)!;
    const e = netExport(z, systemPrice);
    if (e.lo > z.cap.exportCapWh) {
      const cap = z.cap.exportCapWh;
      const price = midpointWhere(
        z.prices,
        (p) => netExport(z, p).lo,
        (p) => netExport(z, p).hi,
        cap,
      );
      state.set(id, { price, congestion: "export", netExportWh: cap });
      congestedExport += cap;
    } else if (e.hi < -z.cap.importCapWh) {
      const cap = -z.cap.importCapWh;
      const price = midpointWhere(
        z.prices,
        (p) => netExport(z, p).lo,
        (p) => netExport(z, p).hi,
        cap,
      );
      state.set(id, { price, congestion: "import", netExportWh: cap });
      congestedExport += cap;
    } else {
      const lo = clamp(e.lo, z.cap);
      uncongested.push({ id, lo, width: clamp(e.hi, z.cap) - lo });
      state.set(id, { price: systemPrice, congestion: "none", netExportWh: lo });
    }
  }
  const slack = -congestedExport - uncongested.reduce((s, u) => s + u.lo, 0n);
  const totalWidth = uncongested.reduce((s, u) => s + u.width, 0n);
  if (slack < 0n || slack > totalWidth) throw new Error("no feasible net exports at the system price");
  if (totalWidth > 0n) {
    let cum = 0n;
    for (const u of uncongested) {
      const before = (cum * slack) / totalWidth;
      cum += u.width;
      state.get(u.id)!.netExportWh = u.lo + (cum * slack) / totalWidth - before;
    }
  }

  // 4. Fills.
  const zones: ZoneResult[] = [];
  const levelFill = new Map<string, { total: bigint; filled: bigint; cum: bigint }>();
  for (const id of zoneIds) {
    const z = books.get(id)!;
    const s = state.get(id)!;
    const p = s.price;
    const sellWh = z.sellAt.get(p) ?? 0n;
    const buyWh = z.buyAt.get(p) ?? 0n;
    const strictNet = sumWhere(z.sellAt, (x) => x < p) - sumWhere(z.buyAt, (x) => x > p);
    const k = s.netExportWh - strictNet; // at-price sells minus at-price buys
    const sellFilledWh = min(sellWh, buyWh + k);
    const buyFilledWh = sellFilledWh - k;
    if (sellFilledWh < 0n || buyFilledWh < 0n || buyFilledWh > buyWh) throw new Error(`zone ${id}: infeasible fills`);
    levelFill.set(`${id}:sell`, { total: sellWh, filled: sellFilledWh, cum: 0n });
    levelFill.set(`${id}:buy`, { total: buyWh, filled: buyFilledWh, cum: 0n });
    zones.push({
      zone: id,
      price: p,
      netExportWh: s.netExportWh,
      congestion: s.congestion,
      atPrice: { sellWh, sellFilledWh, buyWh, buyFilledWh },
    });
  }

  const fills: Fill[] = [];
  let welfare = 0n;
  let congestionRent = 0n;
  let tradedWh = 0n;
  for (const o of book.orders) {
    const price = state.get(o.zone)!.price;
    const filledWh = fillOf(o, price, levelFill);
    fills.push({ id: o.id, filledWh, price });
    if (o.side === "buy") {
      welfare += filledWh * o.limitPrice;
      congestionRent += filledWh * price;
      tradedWh += filledWh;
    } else {
      welfare -= filledWh * o.limitPrice;
      congestionRent -= filledWh * price;
    }
  }
  return { systemPrice, zones, fills, welfare, congestionRent, tradedWh };
}

function fillOf(o: Order, price: bigint, levels: Map<string, { total: bigint; filled: bigint; cum: bigint }>): bigint {
  const inTheMoney = o.side === "buy" ? o.limitPrice > price : o.limitPrice < price;
  if (inTheMoney) return o.quantityWh;
  if (o.limitPrice !== price) return 0n;
  const level = levels.get(`${o.zone}:${o.side}`)!;
  const before = (level.cum * level.filled) / level.total;
  level.cum += o.quantityWh;
  return (level.cum * level.filled) / level.total - before;
}
