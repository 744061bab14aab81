import { expect } from "chai";
import {
  FLOOR,
  PARAMS,
  PHASE,
  USD,
  buy,
  commitOrder,
  deployAuction,
  deployAuctionFixture,
  futureInterval,
  salt,
  sell,
  toPhase,
  type Order,
} from "../helpers/auction.js";
import { ethers, networkHelpers } from "../helpers/fixture.js";
import { clearedAuction, proveAndClaim, systemFixture, type Account } from "./helpers.js";

/*
 * Griefing with many tiny orders (docs/auction.md, "Known limits"): a minimum deposit per commitment, at most
 * `maxOrders` revealed orders (commitments are not counted: committing touches no auction-wide state) and 16 zones
 * per auction, and settlement batches that still settle a book of tiny fills. A trader whose reveal a full book
 * refused pays no non-reveal penalty.
 */

const { loadFixture } = networkHelpers;

/** The auction fixture with an interval in its commit phase. */
async function commitPhase() {
  const f = await deployAuctionFixture();
  const id = await futureInterval();
  await toPhase(f, id, "commit");
  return { ...f, id };
}

/** EIP-7825's per-transaction gas cap: what a settlement batch must stay under. */
const TX_GAS_CAP = 16_777_216n;

describe("adversarial: griefing with many tiny orders", function () {
  it("test_griefing_commitmentBelowTheMinimumDepositIsRejected", async function () {
    const f = await loadFixture(commitPhase);
    const before = await f.token.balanceOf(f.stranger.address);
    for (const collateral of [0n, 1n, PARAMS.minDeposit - 1n]) {
      const c = await f.auction.commitmentOf(f.id, f.stranger.address, buy(1, 1n, FLOOR), salt(`${collateral}`));
      await expect(f.auction.connect(f.stranger).commit(f.id, c, collateral))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCollateralBelowMinimum")
        .withArgs(collateral, PARAMS.minDeposit);
      // Nothing is left behind: no commitment is recorded (withdraw checks that before the phase)…
      await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
        .withArgs(f.id, c);
    }
    // …and no collateral moved.
    expect(await f.token.balanceOf(f.stranger.address)).to.equal(before);
    expect(await f.token.balanceOf(await f.auction.getAddress())).to.equal(0n);
  });

  it("test_griefing_fillingTheBookStopsAtMaxOrdersRevealsAndARefusedTraderWithdrawsInFull", async function () {
    const f = await loadFixture(commitPhase);
    const maxOrders = 12n;
    const auction = await deployAuction(f, f.token, f.floorFeed, f.ceilingFeed, f.treasury, { maxOrders });
    const vault = await auction.getAddress();
    await (await f.token.connect(f.stranger).approve(vault, 100n * USD)).wait();
    await (await f.token.connect(f.alice).approve(vault, 100n * USD)).wait();
    const grieferStart = await f.token.balanceOf(f.stranger.address);
    // Commitments are not capped: the griefer commits more than maxOrders, and the honest trader still commits after.
    const spam: [Order, string][] = [];
    for (let i = 0; i < Number(maxOrders) + 3; i++) {
      const o = buy(1, 1n + BigInt(i), FLOOR);
      const c = await auction.commitmentOf(f.id, f.stranger.address, o, salt(`spam ${i}`));
      await expect(auction.connect(f.stranger).commit(f.id, c, PARAMS.minDeposit))
        .to.emit(auction, "OrderCommitted")
        .withArgs(f.id, f.stranger.address, c, PARAMS.minDeposit);
      spam.push([o, c]);
    }
    const order = buy(1, 1_000n, 200_000n);
    const honest = await auction.commitmentOf(f.id, f.alice.address, order, salt("honest"));
    await expect(auction.connect(f.alice).commit(f.id, honest, USD))
      .to.emit(auction, "OrderCommitted")
      .withArgs(f.id, f.alice.address, honest, USD);
    // alice also commits to the next interval's auction (its commit phase opens one interval later, while this
    // auction's is still open), which the griefer leaves alone.
    await toPhase(f, f.id + 1n, "commit");
    const nextHonest = await auction.commitmentOf(f.id + 1n, f.alice.address, order, salt("honest"));
    await (await auction.connect(f.alice).commit(f.id + 1n, nextHonest, USD)).wait();
    // The griefer reveals maxOrders of its spam first: the book is full.
    await toPhase(f, f.id, "reveal");
    for (let i = 0; i < Number(maxOrders); i++)
      await (await auction.connect(f.stranger).reveal(f.id, spam[i][0], salt(`spam ${i}`))).wait();
    expect(await auction.orderCount(f.id)).to.equal(maxOrders);
    // The next reveal, the griefer's own or alice's, is refused.
    await expect(auction.connect(f.stranger).reveal(f.id, spam[Number(maxOrders)][0], salt(`spam ${maxOrders}`)))
      .to.be.revertedWithCustomError(auction, "BatchAuctionFull")
      .withArgs(f.id, maxOrders);
    await expect(auction.connect(f.alice).reveal(f.id, order, salt("honest")))
      .to.be.revertedWithCustomError(auction, "BatchAuctionFull")
      .withArgs(f.id, maxOrders);
    expect(await auction.orderCount(f.id)).to.equal(maxOrders);
    // After gate closure alice withdraws her whole collateral: the full book, not she, kept her order out.
    await networkHelpers.time.increaseTo((await auction.schedule(f.id)).gateClosure);
    const treasuryBefore = await f.token.balanceOf(f.treasury);
    const tx = auction.connect(f.alice).withdraw(f.id, honest);
    await expect(tx).to.emit(auction, "CollateralWithdrawn").withArgs(f.id, f.alice.address, honest, USD, 0n);
    await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice.address, f.treasury, vault], [USD, 0n, -USD]);
    // The griefer's unrevealed extras are refunded in full for the same reason; its revealed spam, out of the
    // money, after clearing. Blocking the auction cost it locked capital only.
    for (const [, c] of spam.slice(Number(maxOrders))) {
      await expect(auction.connect(f.stranger).withdraw(f.id, c))
        .to.emit(auction, "CollateralWithdrawn")
        .withArgs(f.id, f.stranger.address, c, PARAMS.minDeposit, 0n);
    }
    await (await auction.clear(f.id)).wait();
    for (const [, c] of spam.slice(0, Number(maxOrders))) {
      await expect(auction.connect(f.stranger).withdraw(f.id, c))
        .to.emit(auction, "CollateralWithdrawn")
        .withArgs(f.id, f.stranger.address, c, PARAMS.minDeposit, 0n);
    }
    expect(await f.token.balanceOf(f.stranger.address)).to.equal(grieferStart);
    expect(await f.token.balanceOf(f.treasury)).to.equal(treasuryBefore);
    expect(await f.token.balanceOf(vault)).to.equal(USD); // alice's commitment to the next interval
    // Only that auction: the next interval's book is empty and takes alice's reveal.
    await toPhase(f, f.id + 1n, "reveal");
    await expect(auction.connect(f.alice).reveal(f.id + 1n, order, salt("honest")))
      .to.emit(auction, "OrderRevealed")
      .withArgs(
        f.id + 1n,
        f.alice.address,
        nextHonest,
        order.side,
        order.zone,
        order.quantityWh,
        order.limitPrice,
        order.meter,
      );
    expect(await auction.orderCount(f.id + 1n)).to.equal(1n);
  });

  it("test_griefing_fillingTheDeployedBookLocksMaxOrdersTimesTheMinimumDepositUntilClearing", async function () {
    // The deployed defaults: blocking one auction takes maxOrders revealed orders, so it locks maxOrders × minDeposit
    // until clearing (refunded in full when out of the money; see the next test), and with the book full nobody pays
    // the non-reveal penalty. maxOrders commitments left unrevealed block nobody (only reveals count) and, once honest
    // reveals set the bounds, forfeit half of that.
    const f = await loadFixture(systemFixture);
    const p = await f.system.auction.params();
    expect([p.maxOrders, p.minDeposit, p.nonRevealPenaltyBps]).to.deep.equal([1_500n, USD, 5_000n]);
    expect(p.maxOrders).to.be.at.most(65_535n); // the constructor's cap on maxOrders
    expect(p.maxOrders * p.minDeposit).to.equal(1_500n * USD);
    expect((p.maxOrders * p.minDeposit * p.nonRevealPenaltyBps) / 10_000n).to.equal(750n * USD);
  });

  it("test_griefing_revealedOutOfTheMoneyOrdersAreRefundedInFullAndDoNotMoveTheClearing", async function () {
    // The documented limit: far-out-of-the-money orders that are revealed cost the griefer nothing but locked capital.
    const f = await loadFixture(commitPhase);
    const spam: [Order, string][] = [];
    for (let i = 0; i < 8; i++) {
      const o = buy(1, 1n + BigInt(i), FLOOR);
      spam.push([o, await commitOrder(f, f.stranger, f.id, o, PARAMS.minDeposit, salt(`oom ${i}`))]);
    }
    const bid = buy(1, 1_000n, 200_000n);
    const ask = sell(1, 1_000n, 100_000n, f.meters[0].address);
    await commitOrder(f, f.bob, f.id, bid, USD, salt("bid"));
    await commitOrder(f, f.alice, f.id, ask, USD, salt("ask"));
    await toPhase(f, f.id, "reveal");
    for (const [i, [o]] of spam.entries())
      await (await f.auction.connect(f.stranger).reveal(f.id, o, salt(`oom ${i}`))).wait();
    await (await f.auction.connect(f.bob).reveal(f.id, bid, salt("bid"))).wait();
    await (await f.auction.connect(f.alice).reveal(f.id, ask, salt("ask"))).wait();
    await toPhase(f, f.id, "clearing");
    await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 150_000n, 1_000n, 0n);
    const before = await f.token.balanceOf(f.stranger.address);
    for (const [, c] of spam) {
      await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.stranger.address, c, PARAMS.minDeposit, 0n);
    }
    expect((await f.token.balanceOf(f.stranger.address)) - before).to.equal(8n * PARAMS.minDeposit);
  });

  it("test_griefing_sixteenZonesOfSpamShutOutASeventeenthZoneWhoseTraderPaysThePenalty", async function () {
    // The documented 16-zone limit as a griefing vector: revealed spam in 16 zones (refunded in full) leaves an
    // honest trader of a 17th zone unable to reveal, and its commitment is then penalised as unrevealed.
    const f = await loadFixture(commitPhase);
    for (let z = 3; z <= 17; z++) await (await f.system.registry.setZone(z, 100_000, 100_000)).wait();
    const spam: Order[] = [];
    for (let z = 1; z <= 16; z++) {
      spam.push(buy(z, 1n, FLOOR));
      await commitOrder(f, f.stranger, f.id, spam[z - 1], PARAMS.minDeposit, salt(`zone ${z}`));
    }
    const honest = buy(17, 1_000n, 200_000n);
    const c = await commitOrder(f, f.alice, f.id, honest, 2n * USD, salt("zone 17"));
    await toPhase(f, f.id, "reveal");
    for (const [i, o] of spam.entries())
      await (await f.auction.connect(f.stranger).reveal(f.id, o, salt(`zone ${i + 1}`))).wait();
    await expect(f.auction.connect(f.alice).reveal(f.id, honest, salt("zone 17")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionTooManyZones")
      .withArgs(f.id, 16n);
    await toPhase(f, f.id, "clearing");
    await (await f.auction.clear(f.id)).wait();
    const penalty = (2n * USD * PARAMS.nonRevealPenaltyBps) / 10_000n;
    await expect(f.auction.connect(f.alice).withdraw(f.id, c))
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.alice.address, c, 2n * USD - penalty, penalty);
    expect(await f.auction.phase(f.id)).to.equal(BigInt(PHASE.Cleared));
  });

  it("test_griefing_aBookOfTinyFilledOrdersSettlesThroughTheEscrowBatches", async function () {
    const f = await loadFixture(systemFixture);
    const { auction, escrow, kwh, paymentToken: token } = f.system;
    const buyers: Account[] = [f.bob, f.stranger, f.deployer as Account];
    const orders: [Account, Order][] = [];
    let demand = 0n;
    for (let i = 0; i < 48; i++) {
      const q = 1n + BigInt(i % 3);
      orders.push([buyers[i % 3], buy(1, q, 300_000n)]);
      demand += q;
    }
    const sold = demand - 5n; // buyers are the long side at 0.30: their tiny fills are rounded pro rata
    orders.push([f.alice, sell(1, sold, 100_000n, f.meters[1].address)]);
    const a = await clearedAuction(f.system, orders, "tiny");
    expect(await auction.tradedWh(a.intervalId)).to.equal(sold);
    await proveAndClaim(f, a.intervalId, [[1, sold]]);
    const seller = a.placed[48];
    await (await escrow.deliverBatch(a.intervalId, [f.alice.address], [seller.commitment])).wait();

    const filled: typeof a.placed = [];
    let fills = 0n;
    for (const p of a.placed.slice(0, 48)) {
      const [wh] = await auction.fillOf(a.intervalId, p.trader.address, p.commitment);
      fills += wh;
      if (wh > 0n) filled.push(p);
      // An order rounded down to nothing is not the escrow's: it withdraws from the auction in full.
      else
        await expect(auction.connect(p.trader).withdraw(a.intervalId, p.commitment))
          .to.emit(auction, "CollateralWithdrawn")
          .withArgs(a.intervalId, p.trader.address, p.commitment, p.collateral, 0n);
    }
    expect(fills).to.equal(sold);
    const tx = await escrow.collectBatch(
      a.intervalId,
      filled.map((p) => p.trader.address),
      filled.map((p) => p.commitment),
    );
    const receipt = (await tx.wait())!;
    expect(receipt.gasUsed).to.be.lessThan(TX_GAS_CAP);
    const id = await kwh.tokenId(1, a.intervalId);
    let received = 0n;
    for (const b of buyers) received += await kwh.balanceOf(b.address, id);
    expect(received).to.equal(sold);
    expect((await escrow.auctionBook(a.intervalId)).collectedBoughtWh).to.equal(sold);
    await (await escrow.payRent(a.intervalId)).wait();
    await (await escrow.sweepDust(a.intervalId)).wait();
    expect(await token.balanceOf(await auction.getAddress())).to.equal(0n);
    expect(await kwh.balanceOf(await escrow.getAddress(), id)).to.equal(0n);
  });
});
