/**
 * The SettlementEscrow's arithmetic in TypeScript (docs/settlement.md): what a seller is paid and slashed, what a
 * buyer receives, pays and is compensated, and the congestion rent. Tasks use it to preview a settlement; the tests
 * hold the contract to it on random auctions. All amounts are integers: Wh, and payment-token base units; prices
 * are base units per kWh.
 */

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** A seller's filled order as the auction hands it over. */
export interface SellerOrder {
  quantityWh: bigint;
  limitPrice: bigint;
  filledWh: bigint;
  price: bigint;
  collateral: bigint;
}

/** A seller's settlement: `balanceWh` is its balance of the order's kWh token (zero for a default). */
export function settleSeller(
  o: SellerOrder,
  balanceWh: bigint,
  ceiling: bigint,
  sellerBondBps: bigint,
): { deliveredWh: bigint; payment: bigint; slashed: bigint; bondReturned: bigint } {
  const deliveredWh = min(o.filledWh, balanceWh);
  const payment = (deliveredWh * o.price) / 1000n;
  let slashed = 0n;
  if (deliveredWh < o.filledWh) {
    const bond = ceilDiv(ceilDiv(o.quantityWh * o.limitPrice, 1000n) * sellerBondBps, 10_000n);
    slashed = min(bond, ((o.filledWh - deliveredWh) * (ceiling - o.price)) / 1000n);
  }
  return { deliveredWh, payment, slashed, bondReturned: o.collateral - slashed };
}

/** One zone of a cleared auction and its settlement so far (the escrow's ZoneBook and the auction's outcome). */
export interface ZoneState {
  zone: number;
  price: bigint;
  boughtWh: bigint;
  netExportWh: bigint;
  deliveredWh: bigint;
  slashed: bigint;
  collectedWh: bigint;
}

/** What a collecting buyer gets: kWh of each zone's token (its own first), payment and compensation. */
export interface BuyerShare {
  amounts: { zone: number; wh: bigint }[];
  receivedWh: bigint;
  payment: bigint;
  compensation: bigint;
}

/** The part of an exporting zone's `amount` that leaves it: X / (B + X), rounded down. */
function exported(amount: bigint, z: ZoneState): bigint {
  return (amount * z.netExportWh) / (z.boughtWh + z.netExportWh);
}

/** Slice [c0, c1) of `total` spread over `bought` positions. */
function slice(total: bigint, c0: bigint, c1: bigint, bought: bigint): bigint {
  return (total * c1) / bought - (total * c0) / bought;
}

/** The exported pool: what each exporting zone sends out, and the totals (zones in the auction's `zonesOf` order). */
function pool(zones: ZoneState[]) {
  const out = zones.map((z) => (z.netExportWh > 0n ? exported(z.deliveredWh, z) : 0n));
  let compensation = 0n;
  let total = 0n;
  for (const z of zones) {
    if (z.netExportWh <= 0n) continue;
    compensation += exported(z.slashed, z);
    total += z.netExportWh;
  }
  return { out, energy: out.reduce((s, e) => s + e, 0n), compensation, total };
}

/** The share of the next buyer of `zone` to collect, with fill `filledWh` (`zones` in `zonesOf` order). */
export function buyerShare(zones: ZoneState[], zone: number, filledWh: bigint): BuyerShare {
  const z = zones.find((s) => s.zone === zone);
  if (z === undefined) throw new Error(`zone ${zone} has no outcome`);
  if (z.boughtWh === 0n) return { amounts: [], receivedWh: 0n, payment: 0n, compensation: 0n };
  const c0 = z.collectedWh;
  const c1 = c0 + filledWh;
  let ownEnergy = z.deliveredWh;
  let ownCompensation = z.slashed;
  if (z.netExportWh > 0n) {
    ownEnergy -= exported(ownEnergy, z);
    ownCompensation -= exported(ownCompensation, z);
  }
  let compensation = slice(ownCompensation, c0, c1, z.boughtWh);
  // The zone's energy as one list: its own pool, then (importing) its range [start, start + g) of the exported pool.
  let start = 0n;
  let g = 0n;
  const p = pool(zones);
  if (z.netExportWh < 0n) {
    let before = 0n;
    for (const s of zones) {
      if (s.zone === zone) break;
      if (s.netExportWh < 0n) before -= s.netExportWh;
    }
    const imported = -z.netExportWh;
    start = (p.energy * before) / p.total;
    g = (p.energy * (before + imported)) / p.total - start;
    const cg = (p.compensation * (before + imported)) / p.total - (p.compensation * before) / p.total;
    compensation += slice(cg, c0, c1, z.boughtWh);
  }
  const lo = ((ownEnergy + g) * c0) / z.boughtWh;
  const hi = ((ownEnergy + g) * c1) / z.boughtWh;
  const own = min(hi, ownEnergy) - min(lo, ownEnergy);
  const amounts = own === 0n ? [] : [{ zone, wh: own }];
  if (hi > ownEnergy) {
    const poolLo = start + max(0n, lo - ownEnergy);
    const poolHi = start + hi - ownEnergy;
    let end = 0n;
    for (const [i, s] of zones.entries()) {
      const begin = end;
      end += p.out[i];
      const wh = max(0n, min(poolHi, end) - max(poolLo, begin));
      if (wh > 0n) amounts.push({ zone: s.zone, wh });
    }
  }
  const receivedWh = amounts.reduce((s, a) => s + a.wh, 0n);
  return { amounts, receivedWh, payment: ceilDiv(receivedWh * z.price, 1000n), compensation };
}

/** The congestion rent once every seller settled: imported energy at the importers' prices less at the exporters'. */
export function congestionRent(zones: ZoneState[]): bigint {
  const p = pool(zones);
  let revenue = 0n;
  let cost = 0n;
  let before = 0n;
  for (const [i, z] of zones.entries()) {
    if (z.netExportWh > 0n) cost += p.out[i] * z.price;
    if (z.netExportWh >= 0n) continue;
    const imported = -z.netExportWh;
    revenue += ((p.energy * (before + imported)) / p.total - (p.energy * before) / p.total) * z.price;
    before += imported;
  }
  return revenue > cost ? (revenue - cost) / 1000n : 0n;
}
