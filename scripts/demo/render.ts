/**
 * Renders a demo run's `report.html` again from its `report.json` (after a change to the charts):
 * `npx tsx scripts/demo/render.ts reports/<run id>/report.json`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { renderHtml } from "../../src/demo/html.js";
import type { DemoReport } from "../../src/demo/report.js";

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: npx tsx scripts/demo/render.ts reports/<run id>/report.json");
  process.exit(1);
}
const out = join(dirname(file), "report.html");
writeFileSync(out, renderHtml(JSON.parse(readFileSync(file, "utf8")) as DemoReport));
console.log(`wrote ${out}`);
