import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { DEMO_NETWORK_OVERRIDE, runDay, type DayRecord } from "../../src/demo/day.js";
import { buildReport, type DemoReport } from "../../src/demo/report.js";
import { renderHtml } from "../../src/demo/html.js";

/** The demo's connection: the in-process network with the demo's accounts and fixed gas limit (as `npm run demo`). */
export const connection = await network.create({
  override: DEMO_NETWORK_OVERRIDE,
});

export interface ShortRun {
  dir: string;
  rec: DayRecord;
  report: DemoReport;
  htmlPath: string;
}

let run: Promise<ShortRun> | undefined;

/**
 * A shortened day, run once per test process and shared by the demo's test files: 8 prosumers (the over-selling
 * seller, the tampered meter, a school, PV, wind, an EV and a battery in three zones) over 6 intervals around noon
 * (11:30 to 13:00 UTC, so congestion, a partial delivery every interval and the tampered reading at 12:15 all
 * happen), with its report.json and report.html written.
 */
export function shortRun(): Promise<ShortRun> {
  run ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "microgrid-demo-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const rec = await runDay(connection, { intervals: 6, prosumers: 8, startHour: 11.5, outDir: dir });
    const report = buildReport(rec, { runId: "test", createdAt: new Date().toISOString() });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "report.json"), JSON.stringify(report, null, 2));
    const htmlPath = join(dir, "report.html");
    writeFileSync(htmlPath, renderHtml(report));
    return { dir, rec, report, htmlPath };
  })();
  return run;
}
