/**
 * `npm run demo`: simulates a whole day of a 24-prosumer microgrid on the embedded default — the in-process network,
 * three relayers with their own SQLite stores behind an in-process MQTT broker, the meter simulator — through the
 * same code as production, and writes `reports/<run id>/report.json` and a self-contained `report.html`.
 *
 *   npm run demo [-- --network localhost] [--mqtt-url mqtt://127.0.0.1:1883] [--intervals 96] [--prosumers 24]
 *                    [--start-hour 0] [--seed 1] [--weather-date 2026-06-21] [--out reports/<run id>]
 *
 * Run through `hardhat run scripts/demo.ts` instead, it takes the same options from the environment
 * (`DEMO_INTERVALS`, `DEMO_PROSUMERS`, `DEMO_START_HOUR`, `DEMO_SEED`, `DEMO_WEATHER_DATE`, `DEMO_OUT`, `MQTT_URL`,
 * `HARDHAT_NETWORK`).
 * See README, "Demo".
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { network } from "hardhat";
import { DEMO_NETWORK_OVERRIDE, fmtUsd, runDay, type StepInfo } from "../src/demo/day.js";
import { buildReport, type DemoReport } from "../src/demo/report.js";
import { renderHtml } from "../src/demo/html.js";
import { readLedgers } from "../src/demo/ledger.js";
import { InputError, MicrogridError } from "../src/errors.js";

const USAGE = `usage: npm run demo [-- --network localhost] [--mqtt-url URL] [--intervals N] [--prosumers N] [--start-hour H] [--seed N] [--weather-date YYYY-MM-DD] [--out DIR]`;
/** The benchmark target for the full default day, seconds. */
const TARGET_SECONDS = 120;

function options() {
  const at = process.argv.findIndex((a) => /[\\/]demo\.ts$/.test(a) || a === "demo.ts");
  let values;
  try {
    ({ values } = parseArgs({
      args: at >= 0 ? process.argv.slice(at + 1) : [],
      options: {
        network: { type: "string" },
        "mqtt-url": { type: "string" },
        intervals: { type: "string" },
        prosumers: { type: "string" },
        "start-hour": { type: "string" },
        seed: { type: "string" },
        "weather-date": { type: "string" },
        out: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new InputError(`${(e as Error).message.split("\n")[0]}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const env = process.env;
  const num = (name: string, v: string | undefined, d: number) => {
    if (v === undefined || v === "") return d;
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new InputError(`--${name} "${v}" is not a number`);
    return x;
  };
  const networkName = values.network ?? env.HARDHAT_NETWORK ?? "default";
  const runId = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-") + `-${networkName}`;
  return {
    networkName,
    runId,
    outDir: values.out ?? env.DEMO_OUT ?? join("reports", runId),
    intervals: num("intervals", values.intervals ?? env.DEMO_INTERVALS, 96),
    prosumers: num("prosumers", values.prosumers ?? env.DEMO_PROSUMERS, 24),
    startHour: num("start-hour", values["start-hour"] ?? env.DEMO_START_HOUR, 0),
    seed: num("seed", values.seed ?? env.DEMO_SEED, 1),
    weatherDate: values["weather-date"] ?? env.DEMO_WEATHER_DATE,
    mqttUrl: values["mqtt-url"] ?? env.MQTT_URL,
  };
}

/** A progress bar on a terminal; a line every few steps otherwise. */
function progress() {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let shown = false;
  const clear = () => {
    if (tty && shown) process.stderr.write("\r\x1b[2K");
  };
  return {
    step(s: StepInfo) {
      const width = 30;
      const done = Math.round((s.step / s.steps) * width);
      const line =
        `  [${"█".repeat(done)}${"░".repeat(width - done)}] ${String(s.step).padStart(3)}/${s.steps}  ` +
        `${s.label.padEnd(17)} traded ${(Number(s.tradedWh) / 1000).toFixed(1).padStart(7)} kWh  ` +
        `${((performance.now() - started) / 1000).toFixed(0)} s`;
      if (tty) {
        clear();
        process.stderr.write(line);
        shown = true;
      } else if (s.step % 12 === 0 || s.step === s.steps) console.log(line);
    },
    note(line: string) {
      clear();
      console.log(`  ${line}`);
    },
    end() {
      clear();
      shown = false;
    },
  };
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const kwh = (wh: number) => (wh / 1000).toFixed(1);
const usd = (v: number) => fmtUsd(BigInt(Math.round(v))).replace(/(\.\d{2})\d+$/, "$1");

function printSummary(r: DemoReport) {
  console.log(`\nProsumers (kWh; bills in stablecoin, negative = income):`);
  console.log(
    `  ${"prosumer".padEnd(16)}${"zone".padEnd(12)}${"technology".padEnd(11)}${pad("import", 8)}${pad("export", 8)}` +
      `${pad("bought", 8)}${pad("sold", 8)}${pad("bill", 9)}${pad("utility", 9)}${pad("saving", 8)}`,
  );
  for (const b of r.bills) {
    const name = `${b.name}${b.quirk === "oversells" ? " (oversells)" : b.quirk === "tampered" ? " (tampered)" : ""}`;
    console.log(
      `  ${name.padEnd(16)}${(r.zones.find((z) => z.zone === b.zone)?.name ?? "").padEnd(12)}${b.technology.padEnd(11)}` +
        `${pad(kwh(b.importWh), 8)}${pad(kwh(b.exportWh), 8)}${pad(kwh(b.boughtWh), 8)}${pad(kwh(b.soldWh), 8)}` +
        `${pad(usd(b.bill), 9)}${pad(usd(b.baseline), 9)}${pad(usd(b.saving), 8)}`,
    );
  }
  const e = r.energy;
  const m = r.money;
  const traded = r.intervals.reduce((s, x) => s + x.tradedWh, 0);
  console.log(`\nThe day (${r.day.start} to ${r.day.end}, ${r.day.intervals} intervals):`);
  const rows: [string, string][] = [
    [
      "orders placed / filled",
      `${r.orders.placed} / ${r.orders.filled} (${r.orders.buy} bids, ${r.orders.sell} offers)`,
    ],
    ["traded / delivered / shortfall", `${kwh(traded)} / ${kwh(e.deliveredWh)} / ${kwh(e.shortfallWh)} kWh`],
    [
      "proven export: consumed locally / to the main grid",
      `${kwh(e.deliveredWh)} / ${kwh(e.gridExportWh)} kWh (${(e.localShare * 100).toFixed(1)}% local)`,
    ],
    ["congestion events (zone × interval)", `${r.congestion.length}`],
    [
      "shortfalls: partial deliveries / defaults",
      `${r.defaults.filter((d) => d.settledAs === "partial delivery").length} / ${r.defaults.filter((d) => d.settledAs === "default").length}`,
    ],
    [
      "readings rejected",
      r.rejections.map((x) => `${x.name} ${x.time} (${x.reason}, ${x.relayers} relayers)`).join("; ") || "0",
    ],
    ["certificates issued / retired", `${kwh(r.certificates.issuedWh)} / ${kwh(r.certificates.retiredWh)} kWh`],
    [
      "collateral and bonds in / out (dust)",
      `${fmtUsd(BigInt(m.collateralIn))} / ${fmtUsd(BigInt(m.out))} (${fmtUsd(BigInt(m.dust))}); left in the auction ${fmtUsd(BigInt(m.auctionBalanceEnd))}`,
    ],
    ["congestion rent to the grid operator", fmtUsd(BigInt(m.congestionRent))],
    ["community saving vs utility only", usd(r.bills.reduce((s, b) => s + b.saving, 0))],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(52)}${v}`);
  console.log(`\nGas per operation:`);
  console.log(`  ${"operation".padEnd(30)}${pad("txs", 6)}${pad("average", 11)}${pad("min", 11)}${pad("max", 11)}`);
  for (const g of r.gas)
    console.log(
      `  ${g.op.padEnd(30)}${pad(g.count, 6)}${pad(g.avg.toLocaleString("en-US"), 11)}` +
        `${pad(g.min.toLocaleString("en-US"), 11)}${pad(g.max.toLocaleString("en-US"), 11)}`,
    );
  console.log(`\nRelayers (2-of-3 quorum, MQTT ${r.mqtt.embedded ? "in-process broker" : r.mqtt.url}):`);
  for (const x of r.relayers)
    console.log(
      `  ${x.id}  ${x.address}  accepted ${x.accepted}, rejected ${
        Object.entries(x.rejected)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || 0
      }, ` + `ingest latency p50 ≤ ${x.latencyP50Ms ?? "–"} ms, p99 ≤ ${x.latencyP99Ms ?? "–"} ms`,
    );
  console.log(
    `  ingest rate: ${r.ingest.processed} readings processed in ${r.ingest.seconds.toFixed(2)} s of ingest time = ` +
      `${r.ingest.readingsPerSecond.toLocaleString("en-US")} readings/s (3 relayers, one burst of ${r.day.prosumers} per interval)`,
  );
}

const opts = options();
let failed = false;
try {
  const conn = await network.create({
    network: opts.networkName,
    // The operator, three relayers and the prosumers; a fixed gas limit spares every transaction an estimation.
    override: DEMO_NETWORK_OVERRIDE,
  });
  console.log(
    `Microgrid Exchange demo on ${conn.networkName}: ${opts.prosumers} prosumers, ${opts.intervals} intervals` +
      `${opts.mqttUrl ? `, MQTT broker ${opts.mqttUrl}` : ""}`,
  );
  const bar = progress();
  const rec = await runDay(conn, {
    intervals: opts.intervals,
    prosumers: opts.prosumers,
    startHour: opts.startHour,
    seed: opts.seed,
    weatherDate: opts.weatherDate,
    mqttUrl: opts.mqttUrl,
    outDir: opts.outDir,
    onStep: (s) => bar.step(s),
    onNote: (l) => bar.note(l),
  });
  bar.end();
  const report = buildReport(rec, {
    runId: opts.runId,
    createdAt: new Date().toISOString(),
    targetSeconds: TARGET_SECONDS,
  });
  const [runner] = await conn.ethers.getSigners();
  const ledgers = await readLedgers(rec, runner);
  await conn.close();
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(opts.outDir, "report.html"), renderHtml(report));
  printSummary(report);

  console.log(`\nChecks against the chain:`);
  console.log(`  ${ledgers.mintedWh} Wh minted on chain (proven export ${ledgers.provenExportWh} Wh)`);
  console.log(
    `  ${ledgers.certificatesWh} Wh of certificates (renewable proven export ${ledgers.renewableProvenWh} Wh)`,
  );
  console.log(
    `  ${report.money.residual} base units of collateral unaccounted for, ${ledgers.auctionBalance} left in the auction`,
  );
  const mismatched = report.bills.filter((b) => b.marketNet !== b.balanceChange).map((b) => b.name);
  console.log(`  prosumers whose balance change differs from the report: ${mismatched.join(", ") || "none"}`);
  if (
    ledgers.mintedWh > ledgers.provenExportWh ||
    ledgers.certificatesWh !== ledgers.renewableProvenWh ||
    report.money.residual !== 0 ||
    ledgers.auctionBalance !== 0n ||
    mismatched.length > 0
  ) {
    console.error("A ledger does not balance (see above).");
    failed = true;
  }

  const t = report.timing;
  const wall = process.uptime();
  console.log(
    `\nBenchmark: the day took ${t.daySeconds.toFixed(1)} s (${t.perIntervalMs} ms per interval, ` +
      `${t.dayCpuSeconds.toFixed(1)} s of CPU), deploy and setup ` +
      `${t.setupSeconds.toFixed(1)} s, ${wall.toFixed(1)} s for the whole command since start-up ` +
      `(target for the full default day: ≤ ${TARGET_SECONDS} s).`,
  );
  console.log(`Report: ${join(opts.outDir, "report.html")} (data: report.json)`);
} catch (e) {
  console.error(`\nError: ${e instanceof MicrogridError ? e.message : ((e as Error).stack ?? String(e))}`);
  failed = true;
}
if (failed) process.exitCode = 1;
