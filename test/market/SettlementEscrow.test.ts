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
import {
  FeeOnTransferStablecoin__factory,
  NoReturnStablecoin__factory,
  ReentrantEscrowBuyer__factory,
  type MockStablecoin,
} from "../../types/ethers-contracts/index.js";
import { deploySystem } from "../../src/deploy.js";

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
async function clearedAuction(f: Pick<Fixture, "system">, orders: [Trader, Order][]) {
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
  const end = (intervalId + 1n) * INTERVAL;
  if (BigInt(await networkHelpers.time.latest()) < end) await networkHelpers.time.increaseTo(end);
  const leaves = exports.map(([m, exportWh]) => ({ meter: f.meters[m].address, importWh: 0n, exportWh }));
  const tree = await postRoot(f.system, f.relayers, intervalId, leaves);
  for (const [m] of exports) {
    const p = proofFor(tree, f.meters[m].address);
    await (await f.system.kwh.claim(p.meter, intervalId, p.importWh, p.exportWh, p.proof)).wait();
  }
}

/**
 * A ReentrantEscrowBuyer funded with 10 USD whose `buys` clear against alice's 1,000 Wh from meter 0 (zone 1, at
 * 0.10; the buyers bid 0.30, so the price is 0.20), proven and delivered: the buyer's orders are ready to collect.
 */
async function buyerContractAuction(f: Fixture, buys: Order[], label: string) {
  const { escrow, auction, paymentToken: token } = f.system;
  const buyer = await new ReentrantEscrowBuyer__factory(f.deployer).deploy(auction, escrow);
  const buyerAddress = await buyer.getAddress();
  await (await token.mint(buyerAddress, 10n * USD)).wait();
  await (await buyer.approve(token)).wait();
  const now = BigInt(await networkHelpers.time.latest());
  const intervalId = (now + 3_600n + 300n + 900n + 1_800n) / INTERVAL + 1n;
  const s = await auction.schedule(intervalId);
  await networkHelpers.time.increaseTo(s.commitStart);
  const sellOrder = sell(1, 1_000n, 100_000n, f.meters[0].address);
  const sc = await auction.commitmentOf(intervalId, f.alice.address, sellOrder, salt(`${label} sell`));
  await (await auction.connect(f.alice).commit(intervalId, sc, collateralFor(sellOrder))).wait();
  const commitments: string[] = [];
  for (const [i, o] of buys.entries()) {
    commitments.push(await auction.commitmentOf(intervalId, buyerAddress, o, salt(`${label} buy ${i}`)));
    await (await buyer.commit(intervalId, commitments[i], collateralFor(o))).wait();
  }
  await networkHelpers.time.increaseTo(s.revealStart);
  await (await auction.connect(f.alice).reveal(intervalId, sellOrder, salt(`${label} sell`))).wait();
  for (const [i, o] of buys.entries()) await (await buyer.reveal(intervalId, o, salt(`${label} buy ${i}`))).wait();
  await networkHelpers.time.increaseTo(s.gateClosure);
  await (await auction.clear(intervalId)).wait();
  await proveAndClaim(f, intervalId, [[0, 1_000n]]);
  await (await escrow.deliver(intervalId, f.alice.address, sc)).wait();
  return { buyer, buyerAddress, intervalId, commitments };
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
      // Only alice herself accepts the shortfall before the deadline.
      await expect(escrow.connect(f.stranger).deliver(intervalId, f.alice.address, seller.commitment))
        .to.be.revertedWithCustomError(escrow, "EscrowShortDeliveryNotBySeller")
        .withArgs(intervalId, f.alice.address, 700n, 1_000n);
      await expect(escrow.connect(f.alice).deliver(intervalId, f.alice.address, seller.commitment))
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

  describe("importing zone, several buyers", function () {
    it("test_collect_importingZoneBuyers_receiveTheirFillsExactlyOwnZoneFirst", async function () {
      const { escrow, kwh, auction, registry } = f.system;
      // Zone 2 imports at most 100 Wh per interval (400 W): 150 Wh of its own and 100 imported for 250 bought.
      await (await registry.setZone(2, 100_000, 400)).wait();
      const a = await clearedAuction(f, [
        [f.alice, sell(1, 1_000n, 60_000n, f.meters[1].address)],
        [f.bob, sell(2, 150n, 100_000n, f.meters[2].address)],
        [f.stranger, buy(2, 83n, 300_000n)],
        [f.stranger, buy(2, 83n, 300_000n)],
        [f.stranger, buy(2, 84n, 300_000n)],
      ]);
      const z2 = await auction.zoneOutcome(a.intervalId, 2);
      expect([z2.boughtWh, z2.netExportWh]).to.deep.equal([250n, -100n]);
      await proveAndClaim(f, a.intervalId, [
        [1, 1_000n],
        [2, 150n],
      ]);
      await (
        await escrow.deliverBatch(
          a.intervalId,
          [f.alice.address, f.bob.address],
          [a.placed[0].commitment, a.placed[1].commitment],
        )
      ).wait();
      const own = await kwh.tokenId(2, a.intervalId);
      const imported = await kwh.tokenId(1, a.intervalId);
      // The zone's 250 Wh as one list, 150 of its own then 100 imported; each buyer takes its fill's slice of it
      // (separate roundings of the two parts would give the last buyer 85 Wh for an 84 Wh fill).
      const expected = [
        [83n, 0n],
        [67n, 16n],
        [0n, 84n],
      ];
      for (const [i, p] of a.placed.slice(2).entries()) {
        const before = [
          await kwh.balanceOf(f.stranger.address, own),
          await kwh.balanceOf(f.stranger.address, imported),
        ];
        await expect(escrow.collect(a.intervalId, f.stranger.address, p.commitment))
          .to.emit(escrow, "BuyerCollected")
          .withArgs(
            a.intervalId,
            f.stranger.address,
            p.commitment,
            2,
            p.order.quantityWh,
            p.order.quantityWh,
            z2.price,
            (p.order.quantityWh * z2.price + 999n) / 1000n,
            0n,
            p.collateral - (p.order.quantityWh * z2.price + 999n) / 1000n,
          );
        expect([
          (await kwh.balanceOf(f.stranger.address, own)) - before[0],
          (await kwh.balanceOf(f.stranger.address, imported)) - before[1],
        ]).to.deep.equal(expected[i]);
      }
      expect(await kwh.balanceOf(await escrow.getAddress(), own)).to.equal(0n);
      expect(await kwh.balanceOf(await escrow.getAddress(), imported)).to.equal(0n);
    });
  });

  describe("adversarial", function () {
    const REENTRANCY = "ReentrancyGuardReentrantCall";

    it("test_collect_reentrantReceiver_cannotCollectAgainOrAnotherOrderFromTheCallback", async function () {
      const { escrow, auction, kwh } = f.system;
      // Two orders of the buyer contract; alice sells what both buy.
      const buys = [buy(1, 400n, 300_000n), buy(1, 600n, 300_000n)];
      const { buyer, buyerAddress, intervalId, commitments: bc } = await buyerContractAuction(f, buys, "r");

      // Re-entering with the other order: the guard's error bubbles up and nothing is collected.
      await (await buyer.arm(intervalId, bc[1], 1)).wait();
      await expect(escrow.collect(intervalId, buyerAddress, bc[0])).to.be.revertedWithCustomError(escrow, REENTRANCY);
      // Re-entering with the order being collected, the error caught: the outer collection goes through alone.
      await (await buyer.arm(intervalId, bc[0], 2)).wait();
      await expect(escrow.collect(intervalId, buyerAddress, bc[0]))
        .to.emit(escrow, "BuyerCollected")
        .withArgs(
          intervalId,
          buyerAddress,
          bc[0],
          1,
          400n,
          400n,
          200_000n,
          80_000n,
          0n,
          collateralFor(buys[0]) - 80_000n,
        );
      expect(await buyer.reentries()).to.equal(1n); // the first attempt reverted with its whole collection
      expect(await buyer.reentryError()).to.equal(escrow.interface.encodeErrorResult(REENTRANCY, []));
      // The other order is still there for a plain collection, and the buyer got exactly its two fills.
      await (await buyer.arm(intervalId, bc[1], 0)).wait();
      await (await escrow.collect(intervalId, buyerAddress, bc[1])).wait();
      expect(await kwh.balanceOf(buyerAddress, await kwh.tokenId(1, intervalId))).to.equal(1_000n);
      await expect(escrow.collect(intervalId, buyerAddress, bc[1]))
        .to.be.revertedWithCustomError(auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(intervalId, bc[1]);
    });

    it("test_collectTo_aBuyerContractRefusingTokens_redirectsItsOwnSettlement", async function () {
      const { escrow, auction, kwh, paymentToken: token } = f.system;
      const buyOrder = buy(1, 1_000n, 300_000n);
      const {
        buyer,
        buyerAddress,
        intervalId,
        commitments: [bc],
      } = await buyerContractAuction(f, [buyOrder], "t");

      await (await buyer.arm(intervalId, bc, 3)).wait(); // refuses ERC-1155 tokens
      await expect(escrow.collect(intervalId, buyerAddress, bc)).to.be.revertedWithCustomError(
        buyer,
        "ReentrantEscrowBuyerRejects",
      );
      // Nobody but the buyer redirects its settlement: for anyone else the commitment is not theirs.
      await expect(escrow.connect(f.stranger).collectTo(intervalId, bc, f.stranger.address))
        .to.be.revertedWithCustomError(auction, "BatchAuctionNotFilled")
        .withArgs(intervalId, bc);
      await expect(buyer.collectTo(intervalId, bc, ethers.ZeroAddress)).to.be.revertedWithCustomError(
        escrow,
        "EscrowZeroAddress",
      );
      const before = await token.balanceOf(f.bob.address);
      const refund = collateralFor(buyOrder) - 200_000n;
      await expect(buyer.collectTo(intervalId, bc, f.bob.address))
        .to.emit(escrow, "BuyerCollected")
        .withArgs(intervalId, buyerAddress, bc, 1, 1_000n, 1_000n, 200_000n, 200_000n, 0n, refund);
      expect(await kwh.balanceOf(f.bob.address, await kwh.tokenId(1, intervalId))).to.equal(1_000n);
      expect(await token.balanceOf(f.bob.address)).to.equal(before + refund);
      expect((await escrow.auctionBook(intervalId)).collectedBoughtWh).to.equal(1_000n);
    });

    it("test_deliver_tokensOfAnotherZoneOrInterval_areNotTakenAndTheFillDefaults", async function () {
      const { escrow, kwh } = f.system;
      const { intervalId, placed } = await clearedAuction(f, [
        [f.alice, sell(1, 1_000n, 100_000n, f.meters[0].address)],
        [f.stranger, buy(1, 1_000n, 300_000n)],
      ]);
      // alice holds zone 2's tokens of the interval (from bob) and zone 1's of the next interval, none of zone 1's.
      await proveAndClaim(f, intervalId, [[2, 1_000n]]);
      const otherZone = await kwh.tokenId(2, intervalId);
      await (await kwh.connect(f.bob).safeTransferFrom(f.bob.address, f.alice.address, otherZone, 1_000n, "0x")).wait();
      await proveAndClaim(f, intervalId + 1n, [[0, 1_000n]]);
      const nextInterval = await kwh.tokenId(1, intervalId + 1n);
      const bond = sellerBond(1_000n, 100_000n);
      await expect(escrow.connect(f.alice).deliver(intervalId, f.alice.address, placed[0].commitment))
        .to.emit(escrow, "SellerSettled")
        .withArgs(
          intervalId,
          f.alice.address,
          placed[0].commitment,
          1,
          1_000n,
          0n,
          200_000n,
          0n,
          bond,
          placed[0].collateral - bond,
        );
      expect(await kwh.balanceOf(f.alice.address, otherZone)).to.equal(1_000n);
      expect(await kwh.balanceOf(f.alice.address, nextInterval)).to.equal(1_000n);
      expect(await kwh.balanceOf(await escrow.getAddress(), otherZone)).to.equal(0n);
      expect(await kwh.balanceOf(await escrow.getAddress(), nextInterval)).to.equal(0n);
    });

    it("test_batches_mismatchedListsOrAWrongSide_revertAsAWhole", async function () {
      const { escrow, auction } = f.system;
      const { intervalId, placed } = await clearedAuction(f, [
        [f.alice, sell(1, 1_000n, 100_000n, f.meters[0].address)],
        [f.bob, sell(2, 1_000n, 100_000n, f.meters[2].address)],
        [f.stranger, buy(1, 2_000n, 300_000n)],
      ]);
      await proveAndClaim(f, intervalId, [
        [0, 1_000n],
        [2, 1_000n],
      ]);
      const [a, b, c] = placed;
      await expect(escrow.deliverBatch(intervalId, [f.alice.address], [a.commitment, b.commitment]))
        .to.be.revertedWithCustomError(escrow, "EscrowLengthMismatch")
        .withArgs(1n, 2n);
      await expect(escrow.collectBatch(intervalId, [], [c.commitment]))
        .to.be.revertedWithCustomError(escrow, "EscrowLengthMismatch")
        .withArgs(0n, 1n);
      await expect(escrow.deliverBatch(intervalId, [f.alice.address, f.stranger.address], [a.commitment, c.commitment]))
        .to.be.revertedWithCustomError(escrow, "EscrowWrongSide")
        .withArgs(intervalId, c.commitment);
      expect((await escrow.auctionBook(intervalId)).processedSoldWh).to.equal(0n); // nothing of the batch stayed
      await (
        await escrow.deliverBatch(intervalId, [f.alice.address, f.bob.address], [a.commitment, b.commitment])
      ).wait();
      await expect(escrow.deliverBatch(intervalId, [f.alice.address], [a.commitment]))
        .to.be.revertedWithCustomError(auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(intervalId, a.commitment);
      await (await escrow.collectBatch(intervalId, [f.stranger.address], [c.commitment])).wait();
      expect((await escrow.auctionBook(intervalId)).collectedBoughtWh).to.equal(2_000n);
    });

    it("test_settlement_noReturnPaymentToken_settlesAndRefundsExactly", async function () {
      const noReturn = await new NoReturnStablecoin__factory(f.deployer).deploy();
      const { system } = await deploySystem(f.deployer, "hardhat", {
        intervalLength: INTERVAL,
        relayers: f.relayers.map((r) => r.address),
        threshold: 2,
        market: { paymentToken: await noReturn.getAddress() },
      });
      const { auction, escrow, kwh, registry } = system;
      await (await registry.setZone(1, 200_000, 150_000)).wait();
      const meter = ethers.Wallet.createRandom().address;
      await (
        await registry.registerMeter(meter, {
          owner: f.alice.address,
          zone: 1,
          technology: 0,
          ratedCapacityW: 8_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        })
      ).wait();
      for (const t of [f.alice, f.stranger]) {
        await (await noReturn.mint(t.address, 10n * USD)).wait();
        await (await noReturn.connect(t).approve(await auction.getAddress(), ethers.MaxUint256)).wait();
        await (await kwh.connect(t).setApprovalForAll(await escrow.getAddress(), true)).wait();
      }
      const a = await clearedAuction({ system }, [
        [f.alice, sell(1, 1_000n, 100_000n, meter)],
        [f.stranger, buy(1, 1_000n, 300_000n)],
      ]);
      await networkHelpers.time.increaseTo((a.intervalId + 1n) * INTERVAL);
      const tree = await postRoot(system, f.relayers, a.intervalId, [{ meter, importWh: 0n, exportWh: 700n }]);
      const pr = proofFor(tree, meter);
      await (await kwh.claim(pr.meter, a.intervalId, pr.importWh, pr.exportWh, pr.proof)).wait();
      await (await escrow.connect(f.alice).deliver(a.intervalId, f.alice.address, a.placed[0].commitment)).wait();
      await (await escrow.collect(a.intervalId, f.stranger.address, a.placed[1].commitment)).wait();
      await (await escrow.payRent(a.intervalId)).wait();
      await (await escrow.sweepDust(a.intervalId)).wait();
      // 700 Wh delivered at 0.20: alice is paid 140,000 and keeps her bond but the 300 Wh shortfall's
      // slashing; stranger pays 140,000, gets the slashed bond, and everything else comes back.
      const bond = sellerBond(1_000n, 100_000n);
      const slashed = bond < 60_000n ? bond : 60_000n;
      expect(await noReturn.balanceOf(f.alice.address)).to.equal(10n * USD + 140_000n - slashed);
      expect(await noReturn.balanceOf(f.stranger.address)).to.equal(10n * USD - 140_000n + slashed);
      expect(await noReturn.balanceOf(await auction.getAddress())).to.equal(0n);
      expect(await kwh.balanceOf(f.stranger.address, await kwh.tokenId(1, a.intervalId))).to.equal(700n);
    });
  });
});
