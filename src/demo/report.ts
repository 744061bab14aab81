/**
 * The demo's report: what happened in the simulated day, as plain JSON (numbers, not bigints: Wh, base units of the
 * 6-decimal payment token and gas all stay far below 2^53), built from what the run recorded on chain (events of
 * the transactions it sent, the relayers' batches, balances).
 *
 * Bills. A prosumer's day on the microgrid costs what it paid in the market (energy bought, bonds slashed,
 * certificates bought) minus what it earned (energy sold, compensation, certificates sold), plus the utility for
 * the rest, interval by interval: imports not covered by energy bought locally at the retail tariff; exports not
 * sold locally, and energy bought beyond what the meter imported, at the feed-in tariff. The baseline is the same
 * meter's day with the utility alone: every import at retail, every export at feed-in. Tariffs are the day's
 * auction bounds (the price feeds').
 */
import { formatCertificateId } from "../ops/rec.js";
import { ZONE_NAMES } from "./community.js";
import type { DayRecord, OrderRecord } from "./day.js";

export interface ReportZone {
  zone: number;
  name: string;
  exportCapacityW: number;
  importCapacityW: number;
  /** The same per interval, Wh (what the clearing uses). */
  exportCapWh: number;
  importCapWh: number;
}

export interface ReportInterval {
  intervalId: string;
  /** Start, ISO 8601 UTC, and the time of day `HH:MM`. */
  start: string;
  time: string;
  floor: number | null;
  ceiling: number | null;
  systemPrice: number | null;
  zones: { zone: number; price: number; congestion: "none" | "export" | "import"; netExportWh: number }[];
  buyOrders: number;
  sellOrders: number;
  bidWh: number;
  offeredWh: number;
  tradedWh: number;
  deliveredWh: number;
  shortfallWh: number;
  /** Proven by the meters (the final root's totals). */
  provenExportWh: number;
  provenImportWh: number;
  mintedWh: number;
  /** Proven export not sold in the market: exported to the main grid. */
  gridExportWh: number;
  congestionRent: number;
  slashed: number;
  compensation: number;
  recIssuedWh: number;
  recRetiredWh: number;
  rejectedReadings: number;
  root: string | null;
}

export interface ReportBill {
  name: string;
  zone: number;
  technology: string;
  quirk: string | null;
  green: boolean;
  owner: string;
  meter: string;
  importWh: number;
  exportWh: number;
  boughtWh: number;
  soldWh: number;
  market: {
    paidForEnergy: number;
    receivedForEnergy: number;
    compensation: number;
    slashed: number;
    certificatesBought: number;
    certificatesSold: number;
    penalties: number;
  };
  /** What the market moved into (+) or out of (−) the prosumer's account, from the events. */
  marketNet: number;
  /** The account's payment-token balance change on chain over the day. */
  balanceChange: number;
  utility: { importWh: number; exportWh: number; cost: number };
  /** Positive: a cost; negative: income. */
  bill: number;
  baseline: number;
  saving: number;
}

export interface GasRow {
  op: string;
  count: number;
  total: number;
  avg: number;
  min: number;
  max: number;
}

export interface DemoReport {
  version: 1;
  runId: string;
  createdAt: string;
  network: string;
  chainId: string;
  rpcUrl: string;
  mqtt: { url: string; embedded: boolean };
  contracts: Record<string, string>;
  day: {
    firstInterval: string;
    intervals: number;
    intervalLength: number;
    start: string;
    end: string;
    prosumers: number;
  };
  /** Base units of the payment token (6 decimals) per kWh. */
  tariffs: { feedIn: number; retail: number; tick: number; decimals: 6 };
  zones: ReportZone[];
  intervals: ReportInterval[];
  bills: ReportBill[];
  money: {
    buyerCollateralIn: number;
    sellerBondsIn: number;
    collateralIn: number;
    withdrawn: number;
    penalties: number;
    sellerPayments: number;
    bondsReturned: number;
    buyerRefunds: number;
    compensation: number;
    buyerPayments: number;
    slashed: number;
    congestionRent: number;
    dust: number;
    out: number;
    /** collateralIn − out: 0 once every auction settled and its dust was swept. */
    residual: number;
    auctionBalanceEnd: number;
  };
  energy: {
    provenExportWh: number;
    provenImportWh: number;
    mintedWh: number;
    soldWh: number;
    deliveredWh: number;
    shortfallWh: number;
    receivedWh: number;
    gridExportWh: number;
    /** Share of the proven export consumed locally (sold in the market). */
    localShare: number;
  };
  orders: { placed: number; buy: number; sell: number; filled: number; unfilled: number };
  congestion: {
    intervalId: string;
    time: string;
    zone: number;
    kind: string;
    zonePrice: number;
    systemPrice: number;
    netExportWh: number;
    capWh: number;
  }[];
  defaults: {
    intervalId: string;
    time: string;
    name: string;
    filledWh: number;
    deliveredWh: number;
    slashed: number;
    settledAs: "partial delivery" | "default";
  }[];
  rejections: { intervalId: string; time: string; name: string; meter: string; reason: string; relayers: number }[];
  certificates: {
    issuedWh: number;
    retiredWh: number;
    receipts: {
      receiptId: number;
      intervalId: string;
      time: string;
      buyer: string;
      seller: string;
      classId: string;
      amountWh: number;
      payment: number;
    }[];
  };
  gas: GasRow[];
  relayers: {
    id: string;
    address: string;
    accepted: number;
    duplicates: number;
    rejected: Record<string, number>;
    latencyP50Ms: number | null;
    latencyP99Ms: number | null;
  }[];
  ingest: { published: number; processed: number; seconds: number; readingsPerSecond: number };
  timing: {
    setupSeconds: number;
    daySeconds: number;
    /** CPU time of the demo's process (its JavaScript, the in-process chain, the relayers) during the day. */
    dayCpuSeconds: number;
    totalSeconds: number;
    steps: number;
    perIntervalMs: number;
    phases: Record<string, number>;
    /** Wall time of each step of the pipeline, s. */
    stepSeconds: number[];
    targetSeconds: number;
  };
}

const n = (v: bigint) => Number(v);
const max0 = (v: bigint) => (v > 0n ? v : 0n);

function timeOf(intervalId: bigint, length: bigint): { start: string; time: string } {
  const start = new Date(Number(intervalId * length) * 1000).toISOString().replace(".000Z", "Z");
  return { start, time: start.slice(11, 16) };
}

/** Builds the report of a run. */
export function buildReport(
  rec: DayRecord,
  meta: { runId: string; createdAt: string; targetSeconds?: number },
): DemoReport {
  const L = rec.intervalLength;
  const { floor: feedIn, ceiling: retail } = rec.tariffs;
  const ids: bigint[] = [];
  for (let k = 0; k < rec.intervalCount; k++) ids.push(rec.firstInterval + BigInt(k));
  const ordersByInterval = new Map<bigint, OrderRecord[]>();
  for (const o of rec.orders) ordersByInterval.set(o.intervalId, [...(ordersByInterval.get(o.intervalId) ?? []), o]);
  const retiredByInterval = new Map<bigint, bigint>();
  for (const d of rec.deals)
    retiredByInterval.set(d.intervalId, (retiredByInterval.get(d.intervalId) ?? 0n) + d.amountWh);
  const capWh = (w: bigint) => (w * L) / 3600n;

  const intervals: ReportInterval[] = ids.map((id) => {
    const r = rec.intervals.get(id);
    const orders = ordersByInterval.get(id) ?? [];
    const sells = orders.filter((o) => o.side === "sell");
    const buys = orders.filter((o) => o.side === "buy");
    let provenExport = 0n;
    let provenImport = 0n;
    for (const l of r?.leaves.values() ?? []) {
      provenExport += l.exportWh;
      provenImport += l.importWh;
    }
    const delivered = sells.reduce((s, o) => s + (o.seller?.deliveredWh ?? 0n), 0n);
    const filled = sells.reduce((s, o) => s + o.filledWh, 0n);
    return {
      intervalId: id.toString(),
      ...timeOf(id, L),
      floor: r?.bounds ? n(r.bounds.floor) : null,
      ceiling: r?.bounds ? n(r.bounds.ceiling) : null,
      systemPrice: r?.cleared ? n(r.cleared.systemPrice) : null,
      zones: (r?.cleared?.zones ?? []).map((z) => ({
        zone: z.zone,
        price: n(z.price),
        congestion: z.congestion,
        netExportWh: n(z.netExportWh),
      })),
      buyOrders: buys.length,
      sellOrders: sells.length,
      bidWh: n(buys.reduce((s, o) => s + o.quantityWh, 0n)),
      offeredWh: n(sells.reduce((s, o) => s + o.quantityWh, 0n)),
      tradedWh: n(r?.cleared?.tradedWh ?? 0n),
      deliveredWh: n(delivered),
      shortfallWh: n(filled - delivered),
      provenExportWh: n(provenExport),
      provenImportWh: n(provenImport),
      mintedWh: n(r?.mintedWh ?? 0n),
      gridExportWh: n(provenExport - delivered),
      congestionRent: n(r?.rentPaid ?? 0n),
      slashed: n(sells.reduce((s, o) => s + (o.seller?.slashed ?? 0n), 0n)),
      compensation: n(buys.reduce((s, o) => s + (o.buyer?.compensation ?? 0n), 0n)),
      recIssuedWh: n(r?.recIssuedWh ?? 0n),
      recRetiredWh: n(retiredByInterval.get(id) ?? 0n),
      rejectedReadings: r?.rejected.length ?? 0,
      root: r?.root ?? null,
    };
  });

  // Bills, interval by interval.
  const bills: ReportBill[] = rec.members.map((m, i) => {
    const meter = m.meterKey.address;
    const mine = rec.orders.filter((o) => o.member === i);
    const market = {
      paidForEnergy: 0n,
      receivedForEnergy: 0n,
      compensation: 0n,
      slashed: 0n,
      certificatesBought: 0n,
      certificatesSold: 0n,
      penalties: 0n,
    };
    let importWh = 0n;
    let exportWh = 0n;
    let boughtWh = 0n;
    let soldWh = 0n;
    const utility = { importWh: 0n, exportWh: 0n };
    for (const id of ids) {
      const leaf = rec.intervals.get(id)?.leaves.get(meter) ?? { importWh: 0n, exportWh: 0n };
      const os = mine.filter((o) => o.intervalId === id);
      const bought = os.reduce((s, o) => s + (o.buyer?.receivedWh ?? 0n), 0n);
      const sold = os.reduce((s, o) => s + (o.seller?.deliveredWh ?? 0n), 0n);
      importWh += leaf.importWh;
      exportWh += leaf.exportWh;
      boughtWh += bought;
      soldWh += sold;
      utility.importWh += max0(leaf.importWh - bought);
      utility.exportWh += max0(leaf.exportWh - sold) + max0(bought - leaf.importWh);
    }
    for (const o of mine) {
      market.paidForEnergy += o.buyer?.payment ?? 0n;
      market.compensation += o.buyer?.compensation ?? 0n;
      market.receivedForEnergy += o.seller?.payment ?? 0n;
      market.slashed += o.seller?.slashed ?? 0n;
      market.penalties += o.withdrawn?.penalty ?? 0n;
    }
    for (const d of rec.deals) {
      if (d.buyer === i) market.certificatesBought += d.payment;
      if (d.seller === i) market.certificatesSold += d.payment;
    }
    const marketNet =
      market.receivedForEnergy +
      market.compensation +
      market.certificatesSold -
      market.paidForEnergy -
      market.slashed -
      market.certificatesBought -
      market.penalties;
    // Payment rounds against the prosumer: imports up, exports down, like the escrow.
    const utilityCost = (utility.importWh * retail + 999n) / 1000n - (utility.exportWh * feedIn) / 1000n;
    const baseline = (importWh * retail + 999n) / 1000n - (exportWh * feedIn) / 1000n;
    const bill = utilityCost - marketNet;
    return {
      name: m.name,
      zone: m.zone,
      technology: m.technology,
      quirk: m.quirk ?? null,
      green: m.green ?? false,
      owner: rec.owners[i],
      meter,
      importWh: n(importWh),
      exportWh: n(exportWh),
      boughtWh: n(boughtWh),
      soldWh: n(soldWh),
      market: {
        paidForEnergy: n(market.paidForEnergy),
        receivedForEnergy: n(market.receivedForEnergy),
        compensation: n(market.compensation),
        slashed: n(market.slashed),
        certificatesBought: n(market.certificatesBought),
        certificatesSold: n(market.certificatesSold),
        penalties: n(market.penalties),
      },
      marketNet: n(marketNet),
      balanceChange: n(rec.balances.end[i] - rec.balances.start[i]),
      utility: { importWh: n(utility.importWh), exportWh: n(utility.exportWh), cost: n(utilityCost) },
      bill: n(bill),
      baseline: n(baseline),
      saving: n(baseline - bill),
    };
  });

  // The auction's and the escrow's money.
  let buyerCollateralIn = 0n;
  let sellerBondsIn = 0n;
  const m = {
    withdrawn: 0n,
    penalties: 0n,
    sellerPayments: 0n,
    bondsReturned: 0n,
    buyerRefunds: 0n,
    compensation: 0n,
    buyerPayments: 0n,
    slashed: 0n,
  };
  for (const o of rec.orders) {
    if (o.side === "buy") buyerCollateralIn += o.collateral;
    else sellerBondsIn += o.collateral;
    m.withdrawn += o.withdrawn?.refunded ?? 0n;
    m.penalties += o.withdrawn?.penalty ?? 0n;
    m.sellerPayments += o.seller?.payment ?? 0n;
    m.bondsReturned += o.seller?.bondReturned ?? 0n;
    m.slashed += o.seller?.slashed ?? 0n;
    m.buyerRefunds += o.buyer?.refunded ?? 0n;
    m.compensation += o.buyer?.compensation ?? 0n;
    m.buyerPayments += o.buyer?.payment ?? 0n;
  }
  let rent = 0n;
  let dust = 0n;
  for (const r of rec.intervals.values()) {
    rent += r.rentPaid;
    dust += r.dust;
  }
  const collateralIn = buyerCollateralIn + sellerBondsIn;
  const out = m.withdrawn + m.penalties + m.sellerPayments + m.bondsReturned + m.buyerRefunds + rent + dust;

  const sum = (f: (x: ReportInterval) => number) => intervals.reduce((s, x) => s + f(x), 0);
  const provenExportWh = sum((x) => x.provenExportWh);
  const deliveredWh = sum((x) => x.deliveredWh);
  const soldWh = n(rec.orders.reduce((s, o) => s + (o.side === "sell" ? o.filledWh : 0n), 0n));

  const congestion: DemoReport["congestion"] = [];
  for (const x of intervals) {
    for (const z of x.zones) {
      if (z.congestion === "none") continue;
      const spec = rec.zones.find((s) => s.zone === z.zone)!;
      congestion.push({
        intervalId: x.intervalId,
        time: x.time,
        zone: z.zone,
        kind: z.congestion,
        zonePrice: z.price,
        systemPrice: x.systemPrice ?? 0,
        netExportWh: z.netExportWh,
        capWh: n(capWh(z.congestion === "export" ? spec.exportCapacityW : spec.importCapacityW)),
      });
    }
  }
  const defaults: DemoReport["defaults"] = rec.orders
    .filter((o) => o.seller !== null && o.seller.deliveredWh < o.filledWh)
    .map((o) => ({
      intervalId: o.intervalId.toString(),
      time: timeOf(o.intervalId, L).time,
      name: rec.members[o.member].name,
      filledWh: n(o.filledWh),
      deliveredWh: n(o.seller!.deliveredWh),
      slashed: n(o.seller!.slashed),
      settledAs: o.seller!.viaDefault ? ("default" as const) : ("partial delivery" as const),
    }));
  const rejections: DemoReport["rejections"] = [];
  for (const r of rec.intervals.values())
    for (const x of r.rejected)
      rejections.push({
        intervalId: r.intervalId.toString(),
        time: timeOf(r.intervalId, L).time,
        name: rec.members[x.member].name,
        meter: x.meter,
        reason: x.reason,
        relayers: x.relayers,
      });

  const byOp = new Map<string, bigint[]>();
  for (const g of rec.gas) byOp.set(g.op, [...(byOp.get(g.op) ?? []), g.gasUsed]);
  const gas: GasRow[] = [...byOp.entries()]
    .map(([op, v]) => {
      const total = v.reduce((a, b) => a + b, 0n);
      return {
        op,
        count: v.length,
        total: n(total),
        avg: Math.round(n(total) / v.length),
        min: n(v.reduce((a, b) => (b < a ? b : a))),
        max: n(v.reduce((a, b) => (b > a ? b : a))),
      };
    })
    .sort((a, b) => b.total - a.total);

  const end = rec.firstInterval + BigInt(rec.intervalCount);
  return {
    version: 1,
    runId: meta.runId,
    createdAt: meta.createdAt,
    network: rec.network,
    chainId: rec.chainId.toString(),
    rpcUrl: rec.rpcUrl,
    mqtt: { url: rec.mqttUrl, embedded: rec.embeddedBroker },
    contracts: Object.fromEntries(Object.entries(rec.deployment.contracts).map(([k, c]) => [k, c!.address])),
    day: {
      firstInterval: rec.firstInterval.toString(),
      intervals: rec.intervalCount,
      intervalLength: n(L),
      start: timeOf(rec.firstInterval, L).start,
      end: timeOf(end, L).start,
      prosumers: rec.members.length,
    },
    tariffs: { feedIn: n(feedIn), retail: n(retail), tick: n(rec.tariffs.tick), decimals: 6 },
    zones: rec.zones.map((z) => ({
      zone: z.zone,
      name: z.name ?? ZONE_NAMES[z.zone],
      exportCapacityW: n(z.exportCapacityW),
      importCapacityW: n(z.importCapacityW),
      exportCapWh: n(capWh(z.exportCapacityW)),
      importCapWh: n(capWh(z.importCapacityW)),
    })),
    intervals,
    bills,
    money: {
      buyerCollateralIn: n(buyerCollateralIn),
      sellerBondsIn: n(sellerBondsIn),
      collateralIn: n(collateralIn),
      withdrawn: n(m.withdrawn),
      penalties: n(m.penalties),
      sellerPayments: n(m.sellerPayments),
      bondsReturned: n(m.bondsReturned),
      buyerRefunds: n(m.buyerRefunds),
      compensation: n(m.compensation),
      buyerPayments: n(m.buyerPayments),
      slashed: n(m.slashed),
      congestionRent: n(rent),
      dust: n(dust),
      out: n(out),
      residual: n(collateralIn - out),
      auctionBalanceEnd: n(rec.auctionBalanceEnd),
    },
    energy: {
      provenExportWh,
      provenImportWh: sum((x) => x.provenImportWh),
      mintedWh: sum((x) => x.mintedWh),
      soldWh,
      deliveredWh,
      shortfallWh: soldWh - deliveredWh,
      receivedWh: n(rec.orders.reduce((s, o) => s + (o.buyer?.receivedWh ?? 0n), 0n)),
      gridExportWh: provenExportWh - deliveredWh,
      localShare: provenExportWh === 0 ? 0 : deliveredWh / provenExportWh,
    },
    orders: {
      placed: rec.orders.length,
      buy: rec.orders.filter((o) => o.side === "buy").length,
      sell: rec.orders.filter((o) => o.side === "sell").length,
      filled: rec.orders.filter((o) => o.filledWh > 0n).length,
      unfilled: rec.orders.filter((o) => o.filledWh === 0n).length,
    },
    congestion,
    defaults,
    rejections,
    certificates: {
      issuedWh: sum((x) => x.recIssuedWh),
      retiredWh: n(rec.deals.reduce((s, d) => s + d.amountWh, 0n)),
      receipts: rec.deals.map((d) => ({
        receiptId: n(d.receiptId),
        intervalId: d.intervalId.toString(),
        time: timeOf(d.intervalId + 1n, L).time,
        buyer: rec.members[d.buyer].name,
        seller: rec.members[d.seller].name,
        classId: formatCertificateId(d.classId),
        amountWh: n(d.amountWh),
        payment: n(d.payment),
      })),
    },
    gas,
    relayers: rec.relayers,
    ingest: {
      ...rec.ingest,
      readingsPerSecond: rec.ingest.seconds === 0 ? 0 : Math.round(rec.ingest.processed / rec.ingest.seconds),
    },
    timing: {
      setupSeconds: round(rec.timing.setupSeconds),
      daySeconds: round(rec.timing.daySeconds),
      dayCpuSeconds: round(rec.timing.dayCpuSeconds),
      totalSeconds: round(rec.timing.totalSeconds),
      steps: rec.timing.steps,
      perIntervalMs: Math.round((rec.timing.daySeconds * 1000) / rec.intervalCount),
      phases: Object.fromEntries(Object.entries(rec.timing.phases).map(([k, v]) => [k, round(v)])),
      stepSeconds: rec.timing.stepSeconds.map(round),
      targetSeconds: meta.targetSeconds ?? 120,
    },
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
