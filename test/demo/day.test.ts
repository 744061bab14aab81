import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { attachSystem, type System } from "../../src/deploy.js";
import { FUNDING } from "../../src/demo/day.js";
import { settlementStatus } from "../../src/ops/settlement.js";
import { connection, shortRun, type ShortRun } from "./helpers.js";

/** A shortened `npm run demo`, its report checked against the chain's state and events. */
describe("demo: a shortened day against the chain", function () {
  this.timeout(300_000);
  let run: ShortRun;
  let system: System;
  let fromBlock: number;
  const ids = () => run.report.intervals.map((x) => BigInt(x.intervalId));

  before(async function () {
    run = await shortRun();
    const [runner] = await connection.ethers.getSigners();
    system = attachSystem(run.rec.deployment, runner);
    fromBlock = run.rec.deployment.block;
  });

  it("test_demo_mintsNoMoreWhThanTheMetersProved", async function () {
    let minted = 0n;
    let proven = 0n;
    for (const [k, id] of ids().entries()) {
      const [m, info] = await Promise.all([system.kwh.mintedWh(id), system.oracle.getInterval(id)]);
      expect(info.status, `interval ${id} final`).to.equal(2n);
      expect(m, `interval ${id}`).to.be.at.most(info.totalExportWh);
      expect(Number(m)).to.equal(run.report.intervals[k].mintedWh);
      expect(Number(info.totalExportWh)).to.equal(run.report.intervals[k].provenExportWh);
      expect(info.root).to.equal(run.report.intervals[k].root);
      minted += m;
      proven += info.totalExportWh;
    }
    expect(minted).to.be.greaterThan(0n);
    expect(Number(minted)).to.equal(run.report.energy.mintedWh);
    expect(Number(proven)).to.equal(run.report.energy.provenExportWh);
  });

  it("test_demo_paymentsRefundsCompensationAndRent_equalCollateralAndBondsIn", async function () {
    const { auction, escrow, paymentToken } = system;
    const sum = <T>(xs: T[], f: (x: T) => bigint) => xs.reduce((s, x) => s + f(x), 0n);
    const committed = await auction.queryFilter(auction.filters.OrderCommitted(), fromBlock);
    const withdrawn = await auction.queryFilter(auction.filters.CollateralWithdrawn(), fromBlock);
    const sellers = await escrow.queryFilter(escrow.filters.SellerSettled(), fromBlock);
    const buyers = await escrow.queryFilter(escrow.filters.BuyerCollected(), fromBlock);
    const rent = await escrow.queryFilter(escrow.filters.CongestionRentPaid(), fromBlock);
    const dust = await escrow.queryFilter(escrow.filters.DustSwept(), fromBlock);
    const collateralIn = sum(committed, (e) => e.args.collateral);
    const sellerPayments = sum(sellers, (e) => e.args.payment);
    const bondsReturned = sum(sellers, (e) => e.args.bondReturned);
    const refunds = sum(buyers, (e) => e.args.refunded); // collateral − payment + compensation
    const compensation = sum(buyers, (e) => e.args.compensation);
    const slashed = sum(sellers, (e) => e.args.slashed);
    const congestionRent = sum(rent, (e) => e.args.amount);
    const dustSwept = sum(dust, (e) => e.args.amount);
    const withdrawals = sum(withdrawn, (e) => e.args.refunded + e.args.penalty);
    const out = sellerPayments + bondsReturned + refunds + congestionRent + withdrawals;
    // Everything that came in went out; what rounding kept back was swept as dust (less than a unit per order).
    expect(out + dustSwept).to.equal(collateralIn);
    expect(dustSwept).to.be.lessThan(BigInt(committed.length) * 2n);
    expect(await paymentToken.balanceOf(await auction.getAddress())).to.equal(0n);
    expect(compensation).to.be.greaterThan(0n);
    expect(compensation).to.be.at.most(slashed);
    expect(congestionRent).to.be.greaterThan(0n);
    const m = run.report.money;
    expect([m.collateralIn, m.sellerPayments, m.bondsReturned, m.buyerRefunds, m.compensation]).to.deep.equal(
      [collateralIn, sellerPayments, bondsReturned, refunds, compensation].map(Number),
    );
    expect([m.congestionRent, m.dust, m.withdrawn + m.penalties, m.slashed]).to.deep.equal(
      [congestionRent, dustSwept, withdrawals, slashed].map(Number),
    );
    expect(m.residual).to.equal(0);
    expect(m.auctionBalanceEnd).to.equal(0);
  });

  it("test_demo_everyProsumersBalanceChangeMatchesTheReport", async function () {
    expect(run.report.bills).to.have.length(8);
    for (const b of run.report.bills) {
      // Fresh accounts: the stablecoin balance started at zero before the demo funded them.
      const now = await system.paymentToken.balanceOf(b.owner);
      expect(Number(now - FUNDING), b.name).to.equal(b.marketNet);
      expect(b.balanceChange, b.name).to.equal(b.marketNet);
      expect(b.bill, b.name).to.equal(b.utility.cost - b.marketNet);
    }
    // Someone sold and someone bought.
    expect(run.report.bills.some((b) => b.market.receivedForEnergy > 0)).to.equal(true);
    expect(run.report.bills.some((b) => b.market.paidForEnergy > 0)).to.equal(true);
  });

  it("test_demo_underDeliveryIsSlashedAndTheTamperedReadingRejected", async function () {
    const { report } = run;
    const partial = report.defaults.filter((d) => d.settledAs === "partial delivery");
    const defaults = report.defaults.filter((d) => d.settledAs === "default");
    expect(partial.map((d) => d.name)).to.include("Uma");
    expect(defaults.map((d) => d.name)).to.deep.equal(["Tom"]);
    expect(defaults[0].time).to.equal("12:15");
    expect(report.rejections).to.deep.equal([
      {
        intervalId: defaults[0].intervalId,
        time: "12:15",
        name: "Tom",
        meter: report.bills[2].meter,
        reason: "bad_signature",
        relayers: 3,
      },
    ]);
    // Tom's meter has no leaf in the tampered interval; its next reading's delta covers the gap.
    const tom = report.bills[2].meter;
    const tampered = BigInt(defaults[0].intervalId);
    expect(run.rec.intervals.get(tampered)!.leaves.has(tom)).to.equal(false);
    expect(run.rec.intervals.get(tampered + 1n)!.leaves.get(tom)!.exportWh).to.be.greaterThan(0n);
    const settled = await system.escrow.queryFilter(system.escrow.filters.SellerSettled(), fromBlock);
    const short = settled.filter((e) => e.args.deliveredWh < e.args.filledWh);
    expect(short).to.have.length(report.defaults.length);
    for (const r of run.report.relayers) expect(r.rejected).to.deep.equal({ bad_signature: 1 });
  });

  it("test_demo_settlementStatusOfEveryAuction_matchesTheEscrowsBooksAndTheReport", async function () {
    // The demo settles through the `settle` tasks' functions; their status (`settle status`) finds every auction
    // settled in full, its events matching the escrow's books, with the report's figures.
    const traded = run.report.intervals.filter((x) => x.tradedWh > 0);
    expect(traded).to.not.have.length(0);
    for (const x of traded) {
      const s = await settlementStatus(system, x.intervalId, fromBlock);
      expect(s.matchesChain, `${x.time}: ${s.differences.join("; ")}`).to.equal(true);
      expect([s.sellers.pendingWh, s.buyers.pendingWh, s.residual.onChain], x.time).to.deep.equal([0n, 0n, 0n]);
      expect([s.rent.paid, s.dust.swept], x.time).to.deep.equal([true, true]);
      expect(
        [s.tradedWh, s.sellers.deliveredWh, s.sellers.shortfallWh, s.rent.amount, s.sellers.slashed].map(Number),
        x.time,
      ).to.deep.equal([x.tradedWh, x.deliveredWh, x.shortfallWh, x.congestionRent, x.slashed]);
      expect(Number(s.buyers.compensation), x.time).to.equal(x.compensation);
    }
  });

  it("test_demo_pricesAndCongestionMatchTheAuctionsOutcomes", async function () {
    const { report } = run;
    expect(report.congestion.length).to.be.greaterThan(0);
    for (const x of report.intervals) {
      const id = BigInt(x.intervalId);
      expect(Number(await system.auction.systemPrice(id))).to.equal(x.systemPrice);
      for (const z of x.zones) {
        const o = await system.auction.zoneOutcome(id, z.zone);
        expect([
          Number(o.price),
          Number(o.netExportWh),
          ["none", "export", "import"][Number(o.congestion)],
        ]).to.deep.equal([z.price, z.netExportWh, z.congestion]);
        expect(z.price).to.be.within(report.tariffs.feedIn, report.tariffs.retail);
      }
    }
  });

  it("test_demo_certificatesIssuedAndRetiredMatchTheRecToken", async function () {
    const { rec } = system;
    const issued = await rec.queryFilter(rec.filters.CertificatesIssued(), fromBlock);
    const retired = await rec.queryFilter(rec.filters.ClaimSingle(), fromBlock);
    expect(issued.reduce((s, e) => s + Number(e.args.wh), 0)).to.equal(run.report.certificates.issuedWh);
    expect(retired.reduce((s, e) => s + Number(e.args.amount), 0)).to.equal(run.report.certificates.retiredWh);
    expect(run.report.certificates.retiredWh).to.be.greaterThan(0);
    expect(retired.map((e) => Number(e.args.receiptId))).to.deep.equal(
      run.report.certificates.receipts.map((r) => r.receiptId),
    );
  });

  it("test_demo_writesTheReportFilesAndGasPerOperation", function () {
    const json = JSON.parse(readFileSync(join(run.dir, "report.json"), "utf8"));
    expect(json.day.intervals).to.equal(6);
    const ops = new Set(run.report.gas.map((g) => g.op));
    for (const op of [
      "open",
      "commit",
      "reveal",
      "clear",
      "submitRoot",
      "claimInterval",
      "deliverBatch",
      "collectBatch",
    ])
      expect(ops.has(op), op).to.equal(true);
    // One `open` per auction: the first commit opens it, the concurrent ones find the bounds set.
    const count = (op: string) => run.report.gas.find((g) => g.op === op)?.count;
    expect(count("open")).to.equal(count("clear"));
    expect(run.report.ingest.processed).to.equal(run.report.ingest.published * 3);
    expect(readFileSync(run.htmlPath, "utf8")).to.not.match(/<script|https?:\/\/(?!www\.w3\.org)/);
  });
});
