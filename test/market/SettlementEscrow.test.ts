import { expect } from "chai";
import { type Signer } from "ethers";
import { proofFor } from "../../src/tree.js";
import { deployFixture, ethers, networkHelpers, INTERVAL, postRoot, type Fixture } from "../helpers/fixture.js";
import {
  USD,
  buy,
  collateralFor,
  deployAuction,
  deployFeed,
  salt,
  sell,
  sellerBond,
  type Order,
} from "../helpers/auction.js";
import { FeeOnTransferStablecoin__factory, type MockStablecoin } from "../../types/ethers-contracts/index.js";

type Trader = Signer & { address: string };
interface Placed {
  trader: Trader;
  order: Order;
  commitment: string;
  collateral: bigint;
}

/** The system of {deployFixture}; alice, bob, stranger and the deployer hold 10,000 USD approved for the auction. */
async function escrowFixture() {
  const f = await deployFixture();
  const { paymentToken: token, auction, escrow, kwh } = f.system;
  for (const s of [f.alice, f.bob, f.stranger, f.deployer]) {
    await (await token.mint(s.address, 10_000n * USD)).wait();
    await (await token.connect(s).approve(await auction.getAddress(), ethers.MaxUint256)).wait();
    await (await kwh.connect(s).setApprovalForAll(await escrow.getAddress(), true)).wait();
  }
  return f;
}

/** Runs an auction for a future interval through clearing with `orders`; returns it and the placed orders. */
async function clearedAuction(f: Fixture, orders: [Trader, Order][]) {
  const { auction } = f.system;
  const now = BigInt(await networkHelpers.time.latest());
  const intervalId = (now + 3_600n + 300n + 900n + 1_800n) / INTERVAL + 1n;
  const s = await auction.schedule(intervalId);
  await networkHelpers.time.increaseTo(s.commitStart);
  const placed: Placed[] = [];
  for (const [i, [trader, order]] of orders.entries()) {
    const commitment = await auction.commitmentOf(intervalId, trader.address, order, salt(`escrow ${i}`));
    const collateral = collateralFor(order);
    await (await auction.connect(trader).commit(intervalId, commitment, collateral)).wait();
    placed.push({ trader, order, commitment, collateral });
  }
  await networkHelpers.time.increaseTo(s.revealStart);
  for (const [i, p] of placed.entries()) {
    await (await auction.connect(p.trader).reveal(intervalId, p.order, salt(`escrow ${i}`))).wait();
  }
  await networkHelpers.time.increaseTo(s.gateClosure);
  await (await auction.clear(intervalId)).wait();
  return { intervalId, placed, schedule: s };
}

/** Ends the interval, posts a final root with the meters' exports and claims them. */
async function proveAndClaim(f: Fixture, intervalId: bigint, exports: [number, bigint][]) {
  await networkHelpers.time.increaseTo((intervalId + 1n) * INTERVAL);
  const leaves = exports.map(([m, exportWh]) => ({ meter: f.meters[m].address, importWh: 0n, exportWh }));
  const tree = await postRoot(f.system, f.relayers, intervalId, leaves);
  for (const [m] of exports) {
    const p = proofFor(tree, f.meters[m].address);
    await (await f.system.kwh.claim(p.meter, intervalId, p.importWh, p.exportWh, p.proof)).wait();
  }
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

describe("SettlementEscrow", function () {
  let f: Fixture;
  let vault: string;

  beforeEach(async function () {
    f = await networkHelpers.loadFixture(escrowFixture);
    vault = await f.system.auction.getAddress();
  });

  describe("one zone", function () {
    // alice sells 1,000 Wh at 0.10 from meter 0 (zone 1); stranger buys 1,000 Wh at 0.30: price 0.20.
    async function oneZone(delivered: bigint) {
      const meter = f.meters[0].address;
      const a = await clearedAuction(f, [
        [f.alice, sell(1, 1_000n, 100_000n, meter)],
        [f.stranger, buy(1, 1_000n, 300_000n)],
      ]);
      if (delivered > 0n) await proveAndClaim(f, a.intervalId, [[0, delivered]]);
      return a;
    }

    it("test_deliverAndCollect_fullDelivery_paysTheSellerAndGivesTheBuyerTheEnergy", async function () {
      const { intervalId, placed } = await oneZone(1_200n);
      const { escrow, kwh, paymentToken: token, auction } = f.system;
      const [seller, buyer] = placed;
      const id = await kwh.tokenId(1, intervalId);
      const [, price] = await auction.fillOf(intervalId, seller.trader.address, seller.commitment);
      expect(price).to.equal(200_000n);
      const payment = (1_000n * price) / 1000n;

      const sellerBefore = await token.balanceOf(f.alice.address);
      await expect(escrow.deliver(intervalId, f.alice.address, seller.commitment))
        .to.emit(escrow, "SellerSettled")
        .withArgs(
          intervalId,
          f.alice.address,
          seller.commitment,
          1,
          1_000n,
          1_000n,
          price,
          payment,
          0n,
          seller.collateral,
        );
      expect(await token.balanceOf(f.alice.address)).to.equal(sellerBefore + payment + seller.collateral);
      expect(await kwh.balanceOf(f.alice.address, id)).to.equal(200n); // 1,200 proven, 1,000 sold

      const buyerBefore = await token.balanceOf(f.stranger.address);
      const refund = buyer.collateral - payment;
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.emit(escrow, "BuyerCollected")
        .withArgs(intervalId, f.stranger.address, buyer.commitment, 1, 1_000n, 1_000n, price, payment, 0n, refund);
      expect(await kwh.balanceOf(f.stranger.address, id)).to.equal(1_000n);
      expect(await token.balanceOf(f.stranger.address)).to.equal(buyerBefore + refund);
      expect(await escrow.residualOf(intervalId)).to.equal(0n);
      expect(await token.balanceOf(vault)).to.equal(0n);
    });

    it("test_deliver_partialDelivery_slashesTheBondForTheShortfallAndCompensatesTheBuyer", async function () {
      const { intervalId, placed } = await oneZone(700n);
      const { escrow, kwh, paymentToken: token } = f.system;
      const [seller, buyer] = placed;
      const price = 200_000n;
      const payment = (700n * price) / 1000n;
      // 300 Wh short at (ceiling 0.40 − price 0.20) would be 60,000 base units: capped by the bond, 20,000.
      const bond = sellerBond(1_000n, 100_000n);
      const slashed = (300n * (400_000n - price)) / 1000n < bond ? (300n * (400_000n - price)) / 1000n : bond;
      await expect(escrow.deliver(intervalId, f.alice.address, seller.commitment))
        .to.emit(escrow, "SellerSettled")
        .withArgs(
          intervalId,
          f.alice.address,
          seller.commitment,
          1,
          1_000n,
          700n,
          price,
          payment,
          slashed,
          seller.collateral - slashed,
        );
      const buyerPays = ceilDiv(700n * price, 1000n);
      const refund = buyer.collateral - buyerPays + slashed;
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.emit(escrow, "BuyerCollected")
        .withArgs(intervalId, f.stranger.address, buyer.commitment, 1, 1_000n, 700n, price, buyerPays, slashed, refund);
      expect(await kwh.balanceOf(f.stranger.address, await kwh.tokenId(1, intervalId))).to.equal(700n);
      await (await escrow.payRent(intervalId)).wait();
      await (await escrow.sweepDust(intervalId)).wait();
      expect(await token.balanceOf(vault)).to.equal(0n);
    });

    it("test_settleDefault_afterTheDeadline_slashesTheWholeShortfallAndRefundsTheBuyer", async function () {
      const { intervalId, placed, schedule } = await oneZone(0n);
      const { escrow, paymentToken: token } = f.system;
      const [seller, buyer] = placed;
      await expect(escrow.settleDefault(intervalId, f.alice.address, seller.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowDeadlineNotReached")
        .withArgs(intervalId, schedule.settlementDeadline);
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowRootNotFinal")
        .withArgs(intervalId);
      await networkHelpers.time.increaseTo(schedule.settlementDeadline);
      await expect(escrow.deliver(intervalId, f.alice.address, seller.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowRootNotFinal")
        .withArgs(intervalId);
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowSellersPending")
        .withArgs(intervalId, 1_000n);
      const bond = sellerBond(1_000n, 100_000n);
      const slashed = bond < 200_000n ? bond : 200_000n;
      await expect(escrow.settleDefault(intervalId, f.alice.address, seller.commitment))
        .to.emit(escrow, "SellerSettled")
        .withArgs(
          intervalId,
          f.alice.address,
          seller.commitment,
          1,
          1_000n,
          0n,
          200_000n,
          0n,
          slashed,
          seller.collateral - slashed,
        );
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.emit(escrow, "BuyerCollected")
        .withArgs(
          intervalId,
          f.stranger.address,
          buyer.commitment,
          1,
          1_000n,
          0n,
          200_000n,
          0n,
          slashed,
          buyer.collateral + slashed,
        );
      await (await escrow.payRent(intervalId)).wait();
      await (await escrow.sweepDust(intervalId)).wait();
      expect(await token.balanceOf(vault)).to.equal(0n);
    });

    it("test_settlement_badCalls_revertWithTheExactErrors", async function () {
      const { intervalId, placed, schedule } = await oneZone(1_000n);
      const { escrow, auction } = f.system;
      const [seller, buyer] = placed;
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowSellersPending")
        .withArgs(intervalId, 1_000n);
      await expect(escrow.deliver(intervalId, f.stranger.address, buyer.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowWrongSide")
        .withArgs(intervalId, buyer.commitment);
      await expect(auction.settleOrder(intervalId, f.alice.address, seller.commitment))
        .to.be.revertedWithCustomError(auction, "BatchAuctionNotSettlement")
        .withArgs(f.deployer.address);
      await expect(escrow.sweepDust(intervalId)).to.be.revertedWithCustomError(escrow, "EscrowNotSweepable");

      await (await escrow.pause()).wait();
      await expect(escrow.deliver(intervalId, f.alice.address, seller.commitment)).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
      await (await escrow.unpause()).wait();
      await (await escrow.deliver(intervalId, f.alice.address, seller.commitment)).wait();
      await expect(escrow.deliver(intervalId, f.alice.address, seller.commitment))
        .to.be.revertedWithCustomError(auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(intervalId, seller.commitment);
      await expect(escrow.collect(intervalId, f.alice.address, seller.commitment))
        .to.be.revertedWithCustomError(auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(intervalId, seller.commitment);
      await expect(auction.connect(f.stranger).withdraw(intervalId, buyer.commitment))
        .to.be.revertedWithCustomError(auction, "BatchAuctionCollateralLocked")
        .withArgs(intervalId, buyer.commitment, 1_000n);

      // Paused: collections wait until the deadline, then go through.
      await (await escrow.pause()).wait();
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment)).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
      await networkHelpers.time.increaseTo(schedule.settlementDeadline);
      await (await escrow.collect(intervalId, f.stranger.address, buyer.commitment)).wait();
      await expect(escrow.collect(intervalId, f.stranger.address, buyer.commitment))
        .to.be.revertedWithCustomError(auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(intervalId, buyer.commitment);
      await (await escrow.payRent(intervalId)).wait();
      await expect(escrow.payRent(intervalId))
        .to.be.revertedWithCustomError(escrow, "EscrowRentAlreadyPaid")
        .withArgs(intervalId);
    });

    it("test_deliver_afterTheDeadline_reverts", async function () {
      const { intervalId, placed, schedule } = await oneZone(1_000n);
      await networkHelpers.time.increaseTo(schedule.settlementDeadline);
      await expect(f.system.escrow.deliver(intervalId, f.alice.address, placed[0].commitment))
        .to.be.revertedWithCustomError(f.system.escrow, "EscrowDeadlinePassed")
        .withArgs(intervalId, schedule.settlementDeadline);
    });
  });

  describe("payment token", function () {
    it("test_commit_feeOnTransferToken_revertsWithTheAmountsSentAndReceived", async function () {
      const fee = await new FeeOnTransferStablecoin__factory(f.deployer).deploy();
      const floor = await deployFeed(f, 8, 5_000_000n);
      const ceiling = await deployFeed(f, 8, 40_000_000n);
      const auction = await deployAuction(f, fee as unknown as MockStablecoin, floor, ceiling, f.stranger.address);
      await (await fee.mint(f.alice.address, 10n * USD)).wait();
      await (await fee.connect(f.alice).approve(await auction.getAddress(), ethers.MaxUint256)).wait();
      const now = BigInt(await networkHelpers.time.latest());
      const intervalId = (now + 3_600n + 300n + 900n + 1_800n) / INTERVAL + 1n;
      await networkHelpers.time.increaseTo((await auction.schedule(intervalId)).commitStart);
      await (await floor.updateAnswer(5_000_000n)).wait();
      await (await ceiling.updateAnswer(40_000_000n)).wait();
      await expect(auction.connect(f.alice).commit(intervalId, ethers.id("c"), 2n * USD))
        .to.be.revertedWithCustomError(auction, "BatchAuctionTransferMismatch")
        .withArgs(2n * USD, (2n * USD * 99n) / 100n);
    });
  });

  describe("two zones, congested", function () {
    it("test_settlement_importingZone_receivesBothZonesEnergyAndTheRentGoesToTheGridOperator", async function () {
      const { escrow, kwh, paymentToken: token, auction, registry } = f.system;
      // Zone 2 imports at most 250 Wh per interval (1,000 W).
      await (await registry.setZone(2, 100_000, 1_000)).wait();
      const a = await clearedAuction(f, [
        [f.alice, sell(1, 2_000n, 60_000n, f.meters[1].address)],
        [f.bob, sell(2, 500n, 300_000n, f.meters[2].address)],
        [f.stranger, buy(2, 2_000n, 350_000n)],
        [f.deployer as Trader, buy(1, 100n, 390_000n)],
      ]);
      const [aliceSell, bobSell, strangerBuy] = a.placed;
      const z1 = await auction.zoneOutcome(a.intervalId, 1);
      const z2 = await auction.zoneOutcome(a.intervalId, 2);
      expect(z2.congestion).to.equal(2n); // import-congested
      expect(z2.price).to.be.greaterThan(z1.price);
      await proveAndClaim(f, a.intervalId, [
        [1, 2_000n],
        [2, 500n],
      ]);
      const vaultBefore = await token.balanceOf(vault);
      await (await escrow.deliver(a.intervalId, f.alice.address, aliceSell.commitment)).wait();
      await (await escrow.deliver(a.intervalId, f.bob.address, bobSell.commitment)).wait();
      const rent = await escrow.congestionRent(a.intervalId);
      // 250 Wh flow from zone 1 to zone 2; the rent is that energy times the price difference.
      expect(rent).to.equal((250n * (z2.price - z1.price)) / 1000n);
      await expect(escrow.payRent(a.intervalId))
        .to.emit(escrow, "CongestionRentPaid")
        .withArgs(a.intervalId, f.deployer.address, rent);
      await (await escrow.collect(a.intervalId, f.stranger.address, strangerBuy.commitment)).wait();
      const deployerBuy = a.placed[3];
      await (await escrow.collect(a.intervalId, f.deployer.address, deployerBuy.commitment)).wait();
      // stranger's 750 Wh: 500 from zone 2's seller, 250 imported from zone 1
      expect(await kwh.balanceOf(f.stranger.address, await kwh.tokenId(2, a.intervalId))).to.equal(500n);
      expect(await kwh.balanceOf(f.stranger.address, await kwh.tokenId(1, a.intervalId))).to.equal(250n);
      await (await escrow.sweepDust(a.intervalId)).wait();
      expect(await escrow.residualOf(a.intervalId)).to.equal(0n);
      const collateral = a.placed.reduce((s, p) => s + p.collateral, 0n);
      expect(vaultBefore - (await token.balanceOf(vault))).to.be.lessThanOrEqual(collateral);
      expect(await token.balanceOf(vault)).to.equal(0n);
      expect(await kwh.balanceOf(await escrow.getAddress(), await kwh.tokenId(1, a.intervalId))).to.equal(0n);
    });
  });
});
