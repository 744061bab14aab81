import { expect } from "chai";
import { prng } from "../../oracle/simulator/profiles.js";
import { clearBook } from "../../src/market/clearing.js";
import { optimalWelfare, type LpOptimum } from "../../src/market/lp.js";
import { CEILING, FLOOR, HUGE_CAP_WH, randomBook, shuffle } from "../../src/market/randomBook.js";
import type { Book, ClearingResult, Order, Side, ZoneCapacity } from "../../src/market/types.js";

/**
 * The reference clearing (`clearing.ts`) against an independent linear programme (`lp.ts`, HiGHS) on random
 * books (`randomBook.ts`), plus hand-made books with known answers. CLEARING_BOOKS sets how many random books
 * (default 1,000), CLEARING_LARGE_BOOKS how many books of up to 300 orders (default 200), CLEARING_SEED the first
 * seed (default 1); a failing seed reproduces with `randomBook(seed)` (large books: `randomBook(seed, { maxOrders:
 * 300 })`).
 */

const BOOKS = Number(process.env.CLEARING_BOOKS ?? 1_000);
const LARGE_BOOKS = Number(process.env.CLEARING_LARGE_BOOKS ?? 200);
const FIRST_SEED = Number(process.env.CLEARING_SEED ?? 1);

const abs = (x: bigint) => (x < 0n ? -x : x);

/**
 * Every property the clearing must have on `book`, whatever the LP says: (a) feasibility, (c) fills consistent
 * with the zone prices, (d) congestion and prices, (e) congestion rent, plus the reported totals. Returns the
 * violations found (empty when the result is sound).
 */
function violations(book: Book, r: ClearingResult): string[] {
  const out: string[] = [];
  const bad = (msg: string) => out.push(msg);

  // Zones: one result per book zone, prices within the day's bounds.
  const caps = new Map<number, ZoneCapacity>(book.zones.map((z) => [z.zone, z]));
  const zoneResults = new Map(r.zones.map((z) => [z.zone, z]));
  if (r.zones.length !== book.zones.length || ![...caps.keys()].every((z) => zoneResults.has(z)))
    bad(`zones reported ${r.zones.map((z) => z.zone)} for book zones ${[...caps.keys()]}`);
  if (r.systemPrice < book.floor || r.systemPrice > book.ceiling) bad(`system price ${r.systemPrice} out of bounds`);
  for (const z of r.zones)
    if (z.price < book.floor || z.price > book.ceiling) bad(`zone ${z.zone} price ${z.price} out of bounds`);

  // (a) Fills: one per order in book order, 0 ≤ fill ≤ quantity, at the order's zone price.
  if (r.fills.length !== book.orders.length) {
    bad(`${r.fills.length} fills for ${book.orders.length} orders`);
    return out;
  }
  const net = new Map<number, bigint>(book.zones.map((z) => [z.zone, 0n]));
  let sold = 0n;
  let bought = 0n;
  let welfare = 0n;
  let rent = 0n;
  const atPrice = new Map<number, { sellWh: bigint; sellFilledWh: bigint; buyWh: bigint; buyFilledWh: bigint }>(
    book.zones.map((z) => [z.zone, { sellWh: 0n, sellFilledWh: 0n, buyWh: 0n, buyFilledWh: 0n }]),
  );
  book.orders.forEach((o, i) => {
    const f = r.fills[i];
    const zone = zoneResults.get(o.zone);
    if (f.id !== o.id) bad(`fill ${i} is for order ${f.id}, expected ${o.id}`);
    if (zone === undefined) return;
    const price = zone.price;
    if (f.price !== price) bad(`order ${o.id}: fill price ${f.price} ≠ zone ${o.zone} price ${price}`);
    if (f.filledWh < 0n || f.filledWh > o.quantityWh) bad(`order ${o.id}: fill ${f.filledWh} of ${o.quantityWh} Wh`);
    if (o.side === "sell") {
      sold += f.filledWh;
      net.set(o.zone, net.get(o.zone)! + f.filledWh);
      welfare -= o.limitPrice * f.filledWh;
      rent -= price * f.filledWh;
    } else {
      bought += f.filledWh;
      net.set(o.zone, net.get(o.zone)! - f.filledWh);
      welfare += o.limitPrice * f.filledWh;
      rent += price * f.filledWh;
    }
    // (c) A fill never worse than the order's limit; strictly in the money fills fully, strictly out not at all.
    const gain = o.side === "buy" ? o.limitPrice - price : price - o.limitPrice; // > 0: in the money
    if (f.filledWh > 0n && gain < 0n) bad(`order ${o.id} (${o.side} at ${o.limitPrice}) fills at ${price}`);
    if (gain > 0n && f.filledWh !== o.quantityWh)
      bad(`order ${o.id} (${o.side} at ${o.limitPrice}) in the money at ${price} fills ${f.filledWh}/${o.quantityWh}`);
    if (gain === 0n) {
      const a = atPrice.get(o.zone)!;
      if (o.side === "sell") {
        a.sellWh += o.quantityWh;
        a.sellFilledWh += f.filledWh;
      } else {
        a.buyWh += o.quantityWh;
        a.buyFilledWh += f.filledWh;
      }
    }
  });
  if (sold !== bought) bad(`sold ${sold} Wh ≠ bought ${bought} Wh`);
  if (r.tradedWh !== bought) bad(`tradedWh ${r.tradedWh} ≠ bought ${bought}`);
  if (r.welfare !== welfare) bad(`reported welfare ${r.welfare} ≠ recomputed ${welfare}`);

  for (const z of r.zones) {
    const cap = caps.get(z.zone);
    if (cap === undefined) continue;
    const n = net.get(z.zone)!;
    if (z.netExportWh !== n) bad(`zone ${z.zone}: reported net export ${z.netExportWh} ≠ fills' ${n}`);
    if (n > cap.exportCapWh || n < -cap.importCapWh)
      bad(`zone ${z.zone}: net export ${n} outside [−${cap.importCapWh}, ${cap.exportCapWh}]`);
    const a = atPrice.get(z.zone)!;
    if (
      z.atPrice.sellWh !== a.sellWh ||
      z.atPrice.sellFilledWh !== a.sellFilledWh ||
      z.atPrice.buyWh !== a.buyWh ||
      z.atPrice.buyFilledWh !== a.buyFilledWh
    )
      bad(`zone ${z.zone}: atPrice ${fmt(z.atPrice)} ≠ orders' ${fmt(a)}`);
    // (d) Uncongested zones share the system price; a congested zone sits at its capacity on its side of it.
    if (z.congestion === "none" && z.price !== r.systemPrice)
      bad(`zone ${z.zone}: uncongested at ${z.price} ≠ system price ${r.systemPrice}`);
    if (z.congestion === "export" && (z.price > r.systemPrice || n !== cap.exportCapWh))
      bad(`zone ${z.zone}: export-congested at ${z.price} (system ${r.systemPrice}), net ${n}, cap ${cap.exportCapWh}`);
    if (z.congestion === "import" && (z.price < r.systemPrice || n !== -cap.importCapWh))
      bad(`zone ${z.zone}: import-congested at ${z.price} (system ${r.systemPrice}), net ${n}, cap ${cap.importCapWh}`);
  }

  // (e) Congestion rent: buyers' payments minus sellers' receipts at zone prices, never negative.
  if (r.congestionRent !== rent) bad(`reported congestion rent ${r.congestionRent} ≠ recomputed ${rent}`);
  if (rent < 0n) bad(`congestion rent ${rent} < 0`);
  return out;
}

/**
 * (b) The clearing's welfare (recomputed from its fills in exact integers) against the LP optimum. The clearing
 * fills whole Wh, the LP is continuous: rounding an order's fill by less than 1 Wh moves welfare by less than its
 * limit ≤ ceiling (welfare is limit × Wh), so the two may differ by at most (number of orders) × ceiling; the
 * LP's own floating-point error adds a relative 1e-6. (The LP matrix is totally unimodular, so its optimum is in
 * whole Wh too, and the clearing's pro-rata rounding only moves Wh between orders of one limit, one zone and one
 * side: in practice the two agree exactly.)
 */
function welfareGap(book: Book, r: ClearingResult, lp: LpOptimum): string[] {
  let welfare = 0n;
  book.orders.forEach((o, i) => {
    welfare += (o.side === "buy" ? 1n : -1n) * o.limitPrice * r.fills[i].filledWh;
  });
  const bound = book.orders.length * Number(book.ceiling) + 1e-6 * Math.abs(lp.welfare);
  const diff = Number(welfare) - lp.welfare;
  return Math.abs(diff) <= bound
    ? []
    : [`welfare ${welfare} vs LP optimum ${lp.welfare} (diff ${diff}, bound ${bound})`];
}

/** The LP's own answer must be feasible too (guards the reference itself). */
function lpViolations(book: Book, lp: LpOptimum): string[] {
  const out: string[] = [];
  const eps = 1e-6;
  let balance = 0;
  for (const o of book.orders) {
    const f = lp.fills.get(o.id)!;
    if (!(f >= -eps && f <= Number(o.quantityWh) + eps)) out.push(`LP fill ${f} of order ${o.id}`);
    balance += o.side === "sell" ? f : -f;
  }
  if (Math.abs(balance) > eps * Math.max(1, book.orders.length)) out.push(`LP balance ${balance}`);
  for (const z of book.zones) {
    const n = lp.netExport.get(z.zone)!;
    if (n > Number(z.exportCapWh) + eps || n < -Number(z.importCapWh) - eps) out.push(`LP zone ${z.zone} net ${n}`);
  }
  return out;
}

/**
 * (f) The same book cleared again gives the same result and leaves the book untouched; the book with its orders
 * in another reveal order clears at the same prices, congestion, net exports and totals, with every order's
 * fill the same except orders exactly at their zone's price, whose pro-rata share may move by the rounding
 * (at most 1 Wh each).
 */
function determinismViolations(book: Book, r: ClearingResult, seed: number): string[] {
  const out: string[] = [];
  const copy = cloneBook(book);
  const again = clearBook(book);
  try {
    expect(again).to.deep.equal(r);
  } catch {
    out.push("clearing the same book twice gave different results");
  }
  try {
    expect(book).to.deep.equal(copy);
  } catch {
    out.push("clearBook modified the book");
  }

  const reordered = cloneBook(book);
  shuffle(reordered.orders, prng(seed ^ 0x5eed));
  const s = clearBook(reordered);
  if (s.systemPrice !== r.systemPrice) out.push(`reordered: system price ${s.systemPrice} ≠ ${r.systemPrice}`);
  const zonesBefore = new Map(r.zones.map((z) => [z.zone, z]));
  for (const z of s.zones) {
    const b = zonesBefore.get(z.zone);
    if (b === undefined) continue;
    if (z.price !== b.price || z.congestion !== b.congestion)
      out.push(`reordered: zone ${z.zone} ${z.price}/${z.congestion} ≠ ${b.price}/${b.congestion}`);
    if (z.netExportWh !== b.netExportWh || fmt(z.atPrice) !== fmt(b.atPrice))
      out.push(
        `reordered: zone ${z.zone} net ${z.netExportWh} atPrice ${fmt(z.atPrice)} ≠ ${b.netExportWh} ${fmt(b.atPrice)}`,
      );
  }
  if (s.tradedWh !== r.tradedWh) out.push(`reordered: traded ${s.tradedWh} ≠ ${r.tradedWh}`);
  if (abs(s.welfare - r.welfare) > BigInt(book.orders.length) * book.ceiling)
    out.push(`reordered: welfare ${s.welfare} ≠ ${r.welfare} beyond rounding`);
  const fillsBefore = new Map(r.fills.map((f) => [f.id, f]));
  const ordersById = new Map(book.orders.map((o) => [o.id, o]));
  for (const f of s.fills) {
    const b = fillsBefore.get(f.id)!;
    const atMargin = ordersById.get(f.id)!.limitPrice === b.price;
    const d = abs(f.filledWh - b.filledWh);
    if (d > (atMargin ? 1n : 0n)) out.push(`reordered: order ${f.id} fills ${f.filledWh} ≠ ${b.filledWh}`);
  }
  return out;
}

function cloneBook(book: Book): Book {
  return { ...book, zones: book.zones.map((z) => ({ ...z })), orders: book.orders.map((o) => ({ ...o })) };
}

function fmt(x: object): string {
  return JSON.stringify(x, (_, v) => (typeof v === "bigint" ? v.toString() : v));
}

async function checkSeeds(seeds: number[], maxOrders: number): Promise<void> {
  const failures: { seed: number; problems: string[] }[] = [];
  for (const seed of seeds) {
    const book = randomBook(seed, { maxOrders });
    let problems: string[];
    try {
      const lp = await optimalWelfare(book);
      const r = clearBook(book);
      problems = [
        ...lpViolations(book, lp),
        ...violations(book, r),
        ...welfareGap(book, r, lp),
        ...determinismViolations(book, r, seed),
      ];
    } catch (e) {
      problems = [`threw: ${(e as Error).message}`];
    }
    if (problems.length > 0) failures.push({ seed, problems });
  }
  const shown = failures
    .slice(0, 10)
    .map((f) => `seed ${f.seed}: ${f.problems.slice(0, 5).join("; ")}`)
    .join("\n");
  expect(
    failures,
    `${failures.length} of ${seeds.length} books fail (maxOrders ${maxOrders}):\n${shown}`,
  ).to.have.length(0);
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

// --- hand-made books ---------------------------------------------------------------------------------------------

let nextId = 0;
function order(side: Side, zone: number, quantityWh: bigint, limitPrice: bigint): Order {
  return { id: nextId++, side, zone, quantityWh, limitPrice };
}
function zone(zoneId: number, exportCapWh = HUGE_CAP_WH, importCapWh = HUGE_CAP_WH): ZoneCapacity {
  return { zone: zoneId, exportCapWh, importCapWh };
}
function book(zones: ZoneCapacity[], orders: Order[]): Book {
  return { floor: FLOOR, ceiling: CEILING, zones, orders };
}

/** Clears a hand-made book, checks every general property and the LP optimum, and returns the result. */
async function clearChecked(b: Book): Promise<{ r: ClearingResult; lp: LpOptimum }> {
  const r = clearBook(b);
  const lp = await optimalWelfare(b);
  expect([...violations(b, r), ...lpViolations(b, lp), ...determinismViolations(b, r, 7)]).to.deep.equal([]);
  expect(Number(r.welfare)).to.equal(lp.welfare);
  return { r, lp };
}

const filled = (r: ClearingResult) => r.fills.map((f) => f.filledWh);

describe("market/clearing against the LP optimum", function () {
  it("test_clearBook_welfareEqualsLpOptimum_onRandomBooks", async function () {
    this.timeout(600_000);
    await checkSeeds(range(FIRST_SEED, BOOKS), 60);
  });

  it("test_clearBook_welfareEqualsLpOptimum_onLargeRandomBooks", async function () {
    this.timeout(600_000);
    await checkSeeds(range(1_000_000 + FIRST_SEED, LARGE_BOOKS), 300);
  });

  it("test_clearBook_oneZoneCross_marginalSellerSetsPriceAndFillsPartly", async function () {
    const b = book(
      [zone(0)],
      [order("sell", 0, 100n, 100_000n), order("sell", 0, 100n, 200_000n), order("buy", 0, 150n, 300_000n)],
    );
    const { r, lp } = await clearChecked(b);
    expect(r.systemPrice).to.equal(200_000n);
    expect(filled(r)).to.deep.equal([100n, 50n, 150n]);
    // 150 × 300,000 − 100 × 100,000 − 50 × 200,000
    expect(r.welfare).to.equal(25_000_000n);
    expect(lp.welfare).to.equal(25_000_000);
    expect(r.congestionRent).to.equal(0n);
    expect(r.tradedWh).to.equal(150n);
  });

  it("test_clearBook_bindingExportCap_splitsTheMarketIntoTwoPrices", async function () {
    // Zone 1 has cheap sellers but can export only 400 Wh; zone 2's buyers take the rest from a dearer local seller.
    const b = book(
      [zone(1, 400n, 0n), zone(2)],
      [order("sell", 1, 1_000n, 60_000n), order("buy", 2, 1_000n, 300_000n), order("sell", 2, 1_000n, 250_000n)],
    );
    const { r, lp } = await clearChecked(b);
    const z = new Map(r.zones.map((x) => [x.zone, x]));
    expect(r.systemPrice).to.equal(250_000n);
    expect(z.get(1)!).to.include({ price: 60_000n, congestion: "export", netExportWh: 400n });
    expect(z.get(2)!).to.include({ price: 250_000n, congestion: "none", netExportWh: -400n });
    expect(filled(r)).to.deep.equal([400n, 1_000n, 600n]);
    // 1,000 × 300,000 − 400 × 60,000 − 600 × 250,000
    expect(r.welfare).to.equal(126_000_000n);
    expect(lp.welfare).to.equal(126_000_000);
    // The 400 Wh exported earn the price difference: (250,000 − 60,000) × 400.
    expect(r.congestionRent).to.equal(76_000_000n);
  });

  it("test_clearBook_bindingImportCap_raisesTheImportersPrice", async function () {
    // Zone 0 can import only 300 Wh; its buyers outbid its own dear seller, who sets the zone's price.
    const b = book(
      [zone(0, 0n, 300n), zone(1)],
      [order("buy", 0, 500n, 350_000n), order("sell", 0, 400n, 320_000n), order("sell", 1, 2_000n, 100_000n)],
    );
    const { r } = await clearChecked(b);
    const z = new Map(r.zones.map((x) => [x.zone, x]));
    expect(z.get(0)!).to.include({ price: 320_000n, congestion: "import", netExportWh: -300n });
    expect(z.get(1)!).to.include({ price: 100_000n, congestion: "none", netExportWh: 300n });
    expect(r.systemPrice).to.equal(100_000n);
    expect(filled(r)).to.deep.equal([500n, 200n, 300n]);
    expect(r.welfare).to.equal(500n * 350_000n - 200n * 320_000n - 300n * 100_000n);
    expect(r.congestionRent).to.equal(300n * (320_000n - 100_000n));
  });

  it("test_clearBook_tiesAtTheMargin_shareProRataWithCumulativeRounding", async function () {
    // Three sellers at one limit share 301 Wh of demand: exactly 50.17, 100.33, 150.5 Wh pro rata.
    const b = book(
      [zone(0)],
      [
        order("sell", 0, 100n, 100_000n),
        order("sell", 0, 200n, 100_000n),
        order("buy", 0, 301n, 200_000n),
        order("sell", 0, 300n, 100_000n),
      ],
    );
    const { r } = await clearChecked(b);
    expect(r.systemPrice).to.equal(100_000n);
    // ⌊100·301/600⌋ = 50, ⌊300·301/600⌋ − 50 = 100, 301 − 150 = 151.
    expect(filled(r)).to.deep.equal([50n, 100n, 301n, 151n]);
    expect(r.zones[0].atPrice).to.deep.equal({ sellWh: 600n, sellFilledWh: 301n, buyWh: 0n, buyFilledWh: 0n });
    expect(r.welfare).to.equal(301n * (200_000n - 100_000n));
  });

  it("test_clearBook_tiesAcrossZones_shareTheMarginalVolume", async function () {
    // Sellers at one limit in two uncongested zones; 100 Wh of demand in zone 0 is split between them.
    const b = book(
      [zone(0), zone(1)],
      [order("sell", 0, 200n, 100_000n), order("sell", 1, 200n, 100_000n), order("buy", 0, 100n, 300_000n)],
    );
    const { r } = await clearChecked(b);
    expect(r.systemPrice).to.equal(100_000n);
    expect(r.zones.map((z) => z.congestion)).to.deep.equal(["none", "none"]);
    expect(filled(r)).to.deep.equal([50n, 50n, 100n]);
    expect(r.welfare).to.equal(100n * 200_000n);
  });

  it("test_clearBook_buyersAndSellersAtOneLimit_tradeWithoutWelfare", async function () {
    const b = book([zone(0)], [order("buy", 0, 100n, 150_000n), order("sell", 0, 70n, 150_000n)]);
    const { r } = await clearChecked(b);
    expect(r.systemPrice).to.equal(150_000n);
    expect(r.welfare).to.equal(0n);
    // At-price volume is maximised: the short side fills fully.
    expect(filled(r)).to.deep.equal([70n, 70n]);
  });

  it("test_clearBook_noCross_tradesNothing", async function () {
    const b = book([zone(0)], [order("buy", 0, 100n, 100_000n), order("sell", 0, 100n, 200_000n)]);
    const { r, lp } = await clearChecked(b);
    expect(filled(r)).to.deep.equal([0n, 0n]);
    expect(r.welfare).to.equal(0n);
    expect(lp.welfare).to.equal(0);
    expect(r.tradedWh).to.equal(0n);
    expect(r.systemPrice >= 100_000n && r.systemPrice <= 200_000n).to.equal(true);
  });

  it("test_clearBook_zeroCapacities_isolateTheZones", async function () {
    // A zone that can neither export nor import: its seller cannot reach the buyer next door.
    const b = book([zone(0, 0n, 0n), zone(1)], [order("sell", 0, 100n, 60_000n), order("buy", 1, 100n, 390_000n)]);
    const { r } = await clearChecked(b);
    expect(filled(r)).to.deep.equal([0n, 0n]);
    expect(r.welfare).to.equal(0n);
  });

  it("test_clearBook_emptyBook_tradesNothing", async function () {
    const { r, lp } = await clearChecked(book([zone(0), zone(1, 0n, 0n)], []));
    expect(r.fills).to.deep.equal([]);
    expect(r.welfare).to.equal(0n);
    expect(r.tradedWh).to.equal(0n);
    expect(lp.welfare).to.equal(0);
  });
});
