/**
 * `report.html`: the demo's report as one self-contained page (inline CSS and SVG, no script, nothing fetched).
 */
import type { DemoReport } from "./report.js";
import { esc, groupedHBars, heatStrip, lineChart, stackedBars, type Series } from "./svg.js";

const ZONE_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];

const usd = (baseUnits: number, digits = 2) =>
  `${baseUnits < 0 ? "−" : ""}$${(Math.abs(baseUnits) / 1e6).toFixed(digits)}`;
const perKwh = (baseUnits: number) => `$${(baseUnits / 1e6).toFixed(3)}`;
const kwh = (wh: number, digits = 1) => `${(wh / 1000).toFixed(digits)} kWh`;
const int = (v: number) => Math.round(v).toLocaleString("en-US");

function table(headers: string[], rows: (string | number)[][], numericFrom = 1): string {
  const th = headers.map((h, i) => `<th${i >= numericFrom ? ' class="num"' : ""}>${esc(h)}</th>`).join("");
  const tr = rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${i >= numericFrom ? ' class="num"' : ""}>${esc(String(c))}</td>`).join("")}</tr>`,
    )
    .join("");
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

/** Renders the report. */
export function renderHtml(r: DemoReport): string {
  const labels = r.intervals.map((x) => x.time);
  const zoneName = (z: number) => r.zones.find((x) => x.zone === z)?.name ?? `Zone ${z}`;

  // 1. Prices per zone against the tariffs.
  const priceSeries: Series[] = r.zones.map((z, k) => ({
    name: `${zoneName(z.zone)} price`,
    color: ZONE_COLORS[k % ZONE_COLORS.length],
    values: r.intervals.map((x) => x.zones.find((q) => q.zone === z.zone)?.price ?? null),
    // Uncongested zones share one price: earlier lines are wider so that each stays visible under the next.
    width: 2 + 2.5 * (r.zones.length - 1 - k),
  }));
  priceSeries.push(
    { name: "retail tariff (ceiling)", color: "#555", dashed: true, values: r.intervals.map(() => r.tariffs.retail) },
    { name: "feed-in tariff (floor)", color: "#999", dashed: true, values: r.intervals.map(() => r.tariffs.feedIn) },
  );
  const markers = r.congestion.map((c) => ({
    index: r.intervals.findIndex((x) => x.intervalId === c.intervalId),
    value: c.zonePrice,
    color: ZONE_COLORS[r.zones.findIndex((z) => z.zone === c.zone) % ZONE_COLORS.length],
    title: `${c.time} ${zoneName(c.zone)}: ${c.kind} congestion, zone price ${perKwh(c.zonePrice)} vs system ${perKwh(c.systemPrice)}`,
  }));
  const prices = lineChart(
    "prices",
    "Clearing price per zone and interval, with the feed-in and retail tariffs",
    labels,
    priceSeries,
    (v) => perKwh(v),
    {
      min: 0,
      max: r.tariffs.retail * 1.05,
      markers,
    },
  );

  // 2. Traded volume.
  const volume = stackedBars(
    "volume",
    "Energy traded per interval: delivered and not delivered (shortfall)",
    labels,
    [
      { name: "delivered", color: "#2ca02c", values: r.intervals.map((x) => x.deliveredWh) },
      { name: "shortfall", color: "#d62728", values: r.intervals.map((x) => x.shortfallWh) },
    ],
    (v) => kwh(v),
    (i) => `${labels[i]} (${r.intervals[i].buyOrders} bids, ${r.intervals[i].sellOrders} offers)`,
  );

  // 3. Local PV consumed locally vs exported to the main grid.
  const pv = stackedBars(
    "pv",
    "Proven export (PV, wind, batteries): consumed by neighbours vs exported to the main grid",
    labels,
    [
      {
        name: "consumed locally (sold in the market)",
        color: "#ff7f0e",
        values: r.intervals.map((x) => x.deliveredWh),
      },
      { name: "exported to the main grid", color: "#7f7f7f", values: r.intervals.map((x) => x.gridExportWh) },
    ],
    (v) => kwh(v),
    (i) => labels[i],
  );

  // 4. Congestion.
  const congestionStrip = heatStrip(
    "congestion",
    "Congestion by zone and interval",
    labels,
    r.zones.map((z) => ({
      name: zoneName(z.zone),
      cells: r.intervals.map((x) => {
        const zo = x.zones.find((q) => q.zone === z.zone);
        const kind = zo?.congestion ?? "none";
        return {
          color: kind === "export" ? "#ff7f0e" : kind === "import" ? "#9467bd" : zo ? "#e8f1e4" : "#f4f4f4",
          marked: kind !== "none",
          title: zo
            ? `${x.time} ${zoneName(z.zone)}: ${kind === "none" ? "uncongested" : `${kind} congestion`}, price ${perKwh(zo.price)}, net export ${kwh(zo.netExportWh, 2)}`
            : `${x.time} ${zoneName(z.zone)}: no orders`,
        };
      }),
    })),
  );

  // 5. Bills.
  const bills = groupedHBars(
    "bills",
    "Each prosumer's day: bill with the market vs utility only (negative: income)",
    r.bills.map((b) => `${b.name} (${zoneName(b.zone).split(" ")[0]})`),
    [
      { name: "utility only (retail imports, feed-in exports)", color: "#999", values: r.bills.map((b) => b.baseline) },
      { name: "with the market", color: "#1f77b4", values: r.bills.map((b) => b.bill) },
    ],
    (v) => usd(v),
  );

  // 6. Certificates, cumulative.
  let issued = 0;
  let retired = 0;
  const certificates = lineChart(
    "certificates",
    "Renewable-energy certificates issued and retired (cumulative)",
    labels,
    [
      { name: "issued", color: "#2ca02c", values: r.intervals.map((x) => (issued += x.recIssuedWh)) },
      { name: "retired", color: "#9467bd", values: r.intervals.map((x) => (retired += x.recRetiredWh)) },
    ],
    (v) => kwh(v, 0),
    { min: 0 },
  );

  // 7. Gas per operation.
  const gasRows = r.gas.filter((g) => g.count > 0);
  const gas = groupedHBars(
    "gas",
    "Gas per operation (average per transaction)",
    gasRows.map((g) => g.op),
    [{ name: "average gas per transaction", color: "#8c564b", values: gasRows.map((g) => g.avg) }],
    (v) => int(v),
  );

  const e = r.energy;
  const m = r.money;
  const kpis: [string, string][] = [
    ["Traded", kwh(r.intervals.reduce((s, x) => s + x.tradedWh, 0))],
    ["Delivered / shortfall", `${kwh(e.deliveredWh)} / ${kwh(e.shortfallWh)}`],
    ["Proven export consumed locally", `${(e.localShare * 100).toFixed(1)}%`],
    ["Congestion events (zone × interval)", String(r.congestion.length)],
    [
      "Shortfalls (partial / default)",
      `${r.defaults.filter((d) => d.settledAs === "partial delivery").length} / ${r.defaults.filter((d) => d.settledAs === "default").length}`,
    ],
    ["Readings rejected", String(r.rejections.length)],
    ["Certificates issued / retired", `${kwh(r.certificates.issuedWh)} / ${kwh(r.certificates.retiredWh)}`],
    ["Congestion rent to the grid operator", usd(m.congestionRent, 4)],
    ["Community saving vs utility only", usd(r.bills.reduce((s, b) => s + b.saving, 0))],
    ["Day simulated in", `${r.timing.daySeconds.toFixed(1)} s (${r.timing.perIntervalMs} ms per interval)`],
  ];

  const css = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px}
.kpi{background:#f6f8fa;border-radius:6px;padding:8px 10px}.kpi b{display:block;font-size:16px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}svg{display:block;margin:6px 0}
svg .grid{stroke:#eee}svg .axis{stroke:#999}svg .tick{font-size:11px;fill:#555}svg .legend{font-size:12px;fill:#333}
.note{color:#555;font-size:13px}code{background:#f3f3f3;padding:0 3px;border-radius:3px}`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Microgrid Exchange — day report ${esc(r.runId)}</title><style>${css}</style></head>
<body>
<h1>Microgrid Exchange — one day of the microgrid</h1>
<p class="sub">Run <code>${esc(r.runId)}</code> on <code>${esc(r.network)}</code> (chain ${esc(r.chainId)}) · ${esc(r.day.start)} to ${esc(r.day.end)} ·
${r.day.intervals} intervals of ${r.day.intervalLength / 60} min · ${r.day.prosumers} prosumers in ${r.zones.length} zones ·
tariffs: feed-in ${perKwh(r.tariffs.feedIn)}/kWh, retail ${perKwh(r.tariffs.retail)}/kWh · MQTT ${r.mqtt.embedded ? "in-process broker" : esc(r.mqtt.url)}</p>
<div class="kpis">${kpis.map(([k, v]) => `<div class="kpi">${esc(k)}<b>${esc(v)}</b></div>`).join("")}</div>

<h2>Clearing prices</h2>
<p class="note">Uniform price per zone and interval. Dots mark congested zones, whose price splits from the system price.</p>
${prices}
<h2>Traded volume</h2>
${volume}
<h2>Local generation: consumed locally vs exported to the main grid</h2>
${pv}
<h2>Congestion</h2>
<p class="note">Orange: the zone's export capacity binds; purple: its import capacity binds.</p>
${congestionStrip}
${table(
  ["interval", "zone", "congestion", "zone price", "system price", "net export", "capacity"],
  r.congestion.map((c) => [
    c.time,
    zoneName(c.zone),
    c.kind,
    perKwh(c.zonePrice),
    perKwh(c.systemPrice),
    kwh(c.netExportWh, 2),
    kwh(c.capWh, 2),
  ]),
  3,
)}
<h2>Bills: the market vs the utility alone</h2>
${bills}
${table(
  [
    "prosumer",
    "zone",
    "technology",
    "import",
    "export",
    "bought",
    "sold",
    "market net",
    "utility",
    "bill",
    "utility only",
    "saving",
  ],
  r.bills.map((b) => [
    `${b.name}${b.quirk ? ` (${b.quirk})` : ""}${b.green ? " ♻" : ""}`,
    zoneName(b.zone),
    b.technology,
    kwh(b.importWh),
    kwh(b.exportWh),
    kwh(b.boughtWh),
    kwh(b.soldWh),
    usd(b.marketNet),
    usd(b.utility.cost),
    usd(b.bill),
    usd(b.baseline),
    usd(b.saving),
  ]),
  3,
)}
<h2>Shortfalls and rejected readings</h2>
${table(
  ["interval", "seller", "sold", "delivered", "bond slashed", "settled as"],
  r.defaults.map((d) => [d.time, d.name, kwh(d.filledWh, 3), kwh(d.deliveredWh, 3), usd(d.slashed, 4), d.settledAs]),
  2,
)}
${table(
  ["interval", "meter of", "reason", "rejected by relayers"],
  r.rejections.map((x) => [x.time, x.name, x.reason, `${x.relayers} of ${r.relayers.length}`]),
  3,
)}
<h2>Certificates</h2>
${certificates}
${table(
  ["receipt", "after", "retired by", "from", "amount", "paid"],
  r.certificates.receipts.map((c) => [
    `#${c.receiptId}`,
    c.time,
    c.buyer,
    c.seller,
    kwh(c.amountWh, 3),
    usd(c.payment, 4),
  ]),
  4,
)}
<h2>Money through the auction and the escrow</h2>
${table(
  ["flow", "amount"],
  [
    ["in: buyers' collateral", usd(m.buyerCollateralIn, 6)],
    ["in: sellers' bonds", usd(m.sellerBondsIn, 6)],
    ["out: unfilled orders withdrawn", usd(m.withdrawn, 6)],
    ["out: payments to sellers", usd(m.sellerPayments, 6)],
    ["out: bonds returned", usd(m.bondsReturned, 6)],
    ["out: buyers' refunds (incl. compensation " + usd(m.compensation, 6) + ")", usd(m.buyerRefunds, 6)],
    ["out: congestion rent", usd(m.congestionRent, 6)],
    ["out: rounding dust swept", usd(m.dust, 6)],
    ["out: non-reveal penalties", usd(m.penalties, 6)],
    ["in − out", usd(m.residual, 6)],
    ["left in the auction contract", usd(m.auctionBalanceEnd, 6)],
  ],
)}
<h2>Gas per operation</h2>
${gas}
${table(
  ["operation", "transactions", "average", "min", "max", "total"],
  r.gas.map((g) => [g.op, g.count, int(g.avg), int(g.min), int(g.max), int(g.total)]),
)}
<h2>Relayers</h2>
${table(
  ["relayer", "address", "accepted", "rejected", "ingest p50", "ingest p99"],
  r.relayers.map((x) => [
    x.id,
    x.address,
    x.accepted,
    Object.entries(x.rejected)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "0",
    x.latencyP50Ms === null ? "–" : `≤ ${x.latencyP50Ms} ms`,
    x.latencyP99Ms === null ? "–" : `≤ ${x.latencyP99Ms} ms`,
  ]),
  2,
)}
<p class="note">Ingest: ${int(r.ingest.published)} readings published, ${int(r.ingest.processed)} processed by the relayers in ${r.ingest.seconds.toFixed(2)} s of ingest time (${int(r.ingest.readingsPerSecond)} readings/s; each interval's 24 readings arrive as one burst).</p>
<h2>Timing</h2>
${table(
  ["phase", "seconds"],
  [
    ["setup (deploy, register, fund)", r.timing.setupSeconds.toFixed(1)],
    ["the day", r.timing.daySeconds.toFixed(1)],
    ["  CPU time of the process during the day", r.timing.dayCpuSeconds.toFixed(1)],
    ...Object.entries(r.timing.phases).map(([k, v]) => [`  ${k}`, v.toFixed(1)]),
  ],
)}
<p class="note">Phases overlap (the operator's and the prosumers' transactions run side by side). Contracts: ${Object.entries(
    r.contracts,
  )
    .map(([k, v]) => `${esc(k)} <code>${esc(v)}</code>`)
    .join(", ")}.</p>
</body></html>
`;
}
