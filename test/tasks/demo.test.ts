import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hardhat } from "./helpers.js";

describe("npm run demo", function () {
  this.timeout(180_000);

  it("test_demo_runsToTheEndAndBalancesItsLedgers", async function () {
    // The demo checks its own ledgers (minted = proven export, certificates held + retired = renewable export)
    // and exits non-zero when they differ.
    // A shortened day around noon (test/demo/ checks a run's report against the chain in detail), written to a
    // temporary folder rather than reports/.
    const dir = mkdtempSync(join(tmpdir(), "microgrid-demo-task-"));
    try {
      const out = join(dir, "run");
      const env = { ...process.env, DEMO_INTERVALS: "4", DEMO_PROSUMERS: "6", DEMO_START_HOUR: "11", DEMO_OUT: out };
      const r = await hardhat(env, "run", "scripts/demo.ts");
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain("receipt #1");
      expect(r.stdout).to.match(/(\d+) Wh minted on chain \(proven export \1 Wh\)/);
      expect(r.stdout).to.match(/(\d+) Wh of certificates \(renewable proven export \1 Wh\)/);
      expect(existsSync(join(out, "report.json")), "report.json in DEMO_OUT").to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
