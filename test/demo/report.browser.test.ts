import { expect } from "chai";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { shortRun, type ShortRun } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";

/** Opens the shortened run's report.html in Debian's headless Chromium and checks that every chart rendered. */
describe("demo: report.html in a browser", function () {
  this.timeout(300_000);
  let run: ShortRun;
  let browser: Browser | undefined;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is absent (install Debian's chromium package: apt-get install chromium)`);
      this.skip();
    }
    run = await shortRun();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async function () {
    await browser?.close();
  });

  it("test_report_rendersEveryChartWithItsMarks", async function () {
    const page = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith("file:")) problems.push(`fetched ${r.url()}`);
    });
    await page.goto(pathToFileURL(run.htmlPath).href);
    const { report } = run;
    const count = (chart: string, selector: string) => page.locator(`svg[data-chart="${chart}"] ${selector}`).count();

    for (const chart of ["prices", "volume", "pv", "congestion", "bills", "certificates", "gas"]) {
      const box = await page.locator(`svg[data-chart="${chart}"]`).boundingBox();
      expect(box, chart).to.not.equal(null);
      expect(box!.width, chart).to.be.greaterThan(500);
      expect(box!.height, chart).to.be.greaterThan(100);
    }
    // Prices: one line per zone plus the two tariffs, a dot per congestion event.
    expect(await count("prices", "path.series")).to.equal(report.zones.length + 2);
    expect(await count("prices", "circle.marker")).to.equal(report.congestion.length);
    expect(await count("volume", "rect.bar")).to.be.at.least(report.intervals.filter((x) => x.tradedWh > 0).length);
    expect(await count("pv", "rect.bar")).to.be.at.least(report.intervals.filter((x) => x.provenExportWh > 0).length);
    expect(await count("congestion", "rect.mark")).to.equal(report.congestion.length);
    expect(await count("bills", "rect.bar")).to.equal(2 * report.bills.length);
    expect(await count("certificates", "path.series")).to.equal(2);
    expect(await count("gas", "rect.bar")).to.equal(report.gas.length);
    // A drawn line has a length; a bar has an area.
    const pathLength = await page
      .locator('svg[data-chart="prices"] path.series')
      .first()
      .evaluate((p) => (p as unknown as { getTotalLength(): number }).getTotalLength());
    expect(pathLength).to.be.greaterThan(100);
    const bar = await page.locator('svg[data-chart="volume"] rect.bar').first().boundingBox();
    expect(bar!.height * bar!.width).to.be.greaterThan(0);
    expect(await page.title()).to.contain("Microgrid Exchange");
    await page.screenshot({ path: join(run.dir, "report.png"), fullPage: true });
    expect(problems).to.deep.equal([]);
  });
});
