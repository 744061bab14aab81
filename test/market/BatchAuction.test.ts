import { expect } from "chai";
import { Signature, ZeroAddress, type Signer } from "ethers";
import { clearBook } from "../../src/market/clearing.js";
import { randomBook } from "../../src/market/randomBook.js";
import type { Book, ClearingResult, Congestion } from "../../src/market/types.js";
import { ethers, INTERVAL, meterKey, networkHelpers, TECH } from "../helpers/fixture.js";
import {
  buy,
  CEILING,
  CEILING_ANSWER,
  collateralFor,
  commitmentOffChain,
  commitOrder,
  CONGESTION,
  deployAuction,
  deployAuctionFixture,
  deployFeed,
  FEED_DECIMALS,
  FLOOR,
  FLOOR_ANSWER,
  futureInterval,
  INITIAL_BALANCE,
  orderValue,
  PARAMS,
  PHASE,
  salt,
  sell,
  sellerBond,
  SIDE,
  toPhase,
  USD,
  type AuctionFixture,
  type Order,
} from "../helpers/auction.js";

const { loadFixture, time } = networkHelpers;

type Trader = Signer & { address: string };

/** How many random books the differential test clears on-chain (AUCTION_BOOKS overrides). */
const RANDOM_BOOKS = Number(process.env.AUCTION_BOOKS ?? 24);

const CONGESTION_OF: Record<Congestion, number> = {
  none: CONGESTION.None,
  export: CONGESTION.Export,
  import: CONGESTION.Import,
};

/*//////////////////////////////////////////////////////////////
                            FIXTURES
//////////////////////////////////////////////////////////////*/

/** The auction fixture with an interval whose commit phase has just started. */
async function commitPhaseFixture() {
  const f = await deployAuctionFixture();
  const id = await futureInterval();
  await toPhase(f, id, "commit");
  return { ...f, id };
}

type CommitFixture = Awaited<ReturnType<typeof commitPhaseFixture>>;

/** Registers a generating meter (Solar, not REC-eligible) for `owner` in `zone`; returns its address. */
async function addMeter(f: AuctionFixture, i: number, owner: Trader, zone: number, ratedCapacityW: bigint) {
  const key = meterKey(i);
  await (
    await f.system.registry.registerMeter(key.address, {
      owner: owner.address,
      zone,
      technology: TECH.Solar,
      ratedCapacityW,
      recEligible: false,
      accreditationExpiry: 0n,
    })
  ).wait();
  return key.address;
}

/** Commit phase, plus alice's 400 kW plant in zone 1 (100,000 Wh per interval). */
async function plantFixture() {
  const f = await commitPhaseFixture();
  const plant = await addMeter(f, 50, f.alice, 1, 400_000n);
  return { ...f, plant };
}

/**
 * A small book revealed and waiting for gate closure: alice sells 1,000 Wh at 100,000 (meter 0), bob buys 1,000 Wh
 * at 150,000 (both fill), stranger buys 500 Wh at 60,000 (does not fill); alice's fourth commitment stays unrevealed.
 * Λ = [100,000, 150,000], so it clears at 125,000.
 */
async function revealedFixture() {
  const f = await commitPhaseFixture();
  const { id } = f;
  const orders = {
    aliceSell: sell(1, 1_000n, 100_000n, f.meters[0].address),
    bobBuy: buy(1, 1_000n, 150_000n),
    strangerBuy: buy(1, 500n, 60_000n),
    aliceHidden: buy(1, 2_000n, 300_000n),
  };
  const collateral = { aliceSell: 1n * USD, bobBuy: 1n * USD + 500_000n, strangerBuy: 2n * USD, aliceHidden: 3n * USD };
  const c = {
    aliceSell: await commitOrder(f, f.alice, id, orders.aliceSell, collateral.aliceSell, salt("aliceSell")),
    bobBuy: await commitOrder(f, f.bob, id, orders.bobBuy, collateral.bobBuy, salt("bobBuy")),
    strangerBuy: await commitOrder(f, f.stranger, id, orders.strangerBuy, collateral.strangerBuy, salt("strangerBuy")),
    aliceHidden: await commitOrder(f, f.alice, id, orders.aliceHidden, collateral.aliceHidden, salt("aliceHidden")),
  };
  await toPhase(f, id, "reveal");
  await (await f.auction.connect(f.alice).reveal(id, orders.aliceSell, salt("aliceSell"))).wait();
  await (await f.auction.connect(f.bob).reveal(id, orders.bobBuy, salt("bobBuy"))).wait();
  await (await f.auction.connect(f.stranger).reveal(id, orders.strangerBuy, salt("strangerBuy"))).wait();
  return { ...f, orders, collateral, c };
}

/** {revealedFixture} after gate closure, cleared. */
async function clearedFixture() {
  const f = await revealedFixture();
  await toPhase(f, f.id, "clearing");
  await (await f.auction.clear(f.id)).wait();
  return f;
}

/*//////////////////////////////////////////////////////////////
                            HELPERS
//////////////////////////////////////////////////////////////*/

interface Entry {
  trader: Trader;
  order: Order;
}

/** Commits every entry (its order's required collateral, at least the minimum deposit) and returns the commitments. */
async function commitAll(f: CommitFixture, entries: Entry[], label = "book"): Promise<string[]> {
  const out: string[] = [];
  for (const [i, e] of entries.entries()) {
    out.push(await commitOrder(f, e.trader, f.id, e.order, collateralFor(e.order), salt(`${label} ${i}`)));
  }
  return out;
}

/** Reveals every entry in order. */
async function revealAll(f: CommitFixture, entries: Entry[], label = "book"): Promise<void> {
  for (const [i, e] of entries.entries()) {
    await (await f.auction.connect(e.trader).reveal(f.id, e.order, salt(`${label} ${i}`))).wait();
  }
}

/** The reference book of `entries` (reveal order), with the auction's bounds and its zones' registry capacities. */
async function referenceBook(f: CommitFixture, entries: Entry[]): Promise<Book> {
  const [floor, ceiling] = await f.auction.bounds(f.id);
  const zoneIds = [...new Set(entries.map((e) => e.order.zone))];
  const zones = [];
  for (const zone of zoneIds) {
    const z = await f.system.registry.getZone(zone);
    zones.push({
      zone,
      exportCapWh: (z.exportCapacityW * INTERVAL) / 3600n,
      importCapWh: (z.importCapacityW * INTERVAL) / 3600n,
    });
  }
  return {
    floor,
    ceiling,
    zones,
    orders: entries.map((e, id) => ({
      id,
      side: e.order.side === SIDE.Buy ? "buy" : "sell",
      zone: e.order.zone,
      quantityWh: e.order.quantityWh,
      limitPrice: e.order.limitPrice,
    })),
  };
}

/**
 * Asserts that the cleared auction agrees with `r` (the reference result of `book`): prices, zones and fills, each
 * fill read for the entry's trader (`commitments[i]` is `entries[i]`'s).
 */
async function expectMatchesReference(
  f: CommitFixture,
  book: Book,
  r: ClearingResult,
  entries: Entry[],
  commitments: string[],
): Promise<void> {
  expect(await f.auction.systemPrice(f.id)).to.equal(r.systemPrice, "system price");
  const traded = new Set(book.orders.map((o) => o.zone));
  expect([...(await f.auction.zonesOf(f.id))].map(Number).sort((a, b) => a - b)).to.deep.equal(
    [...traded].sort((a, b) => a - b),
  );
  for (const z of r.zones) {
    if (!traded.has(z.zone)) continue; // a zone without orders is not part of the on-chain auction
    const o = await f.auction.zoneOutcome(f.id, z.zone);
    expect({
      price: o.price,
      netExportWh: o.netExportWh,
      congestion: Number(o.congestion),
      sellAtPriceWh: o.sellAtPriceWh,
      sellAtPriceFilledWh: o.sellAtPriceFilledWh,
      buyAtPriceWh: o.buyAtPriceWh,
      buyAtPriceFilledWh: o.buyAtPriceFilledWh,
      listed: o.listed,
    }).to.deep.equal(
      {
        price: z.price,
        netExportWh: z.netExportWh,
        congestion: CONGESTION_OF[z.congestion],
        sellAtPriceWh: z.atPrice.sellWh,
        sellAtPriceFilledWh: z.atPrice.sellFilledWh,
        buyAtPriceWh: z.atPrice.buyWh,
        buyAtPriceFilledWh: z.atPrice.buyFilledWh,
        listed: true,
      },
      `zone ${z.zone}`,
    );
  }
  const onChain = [];
  for (const [i, c] of commitments.entries()) {
    const [filledWh, price] = await f.auction.fillOf(f.id, entries[i].trader.address, c);
    onChain.push({ filledWh, price });
  }
  expect(onChain).to.deep.equal(r.fills.map((x) => ({ filledWh: x.filledWh, price: x.price })));
}

/** Commits and reveals `entries`, clears after gate closure; returns the clear transaction, the book and its reference result. */
async function runBook(f: CommitFixture, entries: Entry[]) {
  const commitments = await commitAll(f, entries);
  await toPhase(f, f.id, "reveal");
  await revealAll(f, entries);
  await toPhase(f, f.id, "clearing");
  const tx = await f.auction.clear(f.id);
  await tx.wait();
  const book = await referenceBook(f, entries);
  return { tx, book, result: clearBook(book), commitments };
}

async function tokenBalance(f: AuctionFixture, who: string | { getAddress(): Promise<string> }): Promise<bigint> {
  return f.token.balanceOf(typeof who === "string" ? who : await who.getAddress());
}

/** An ERC-2612 permit of `owner` for the auction over `value`. */
async function signPermit(f: AuctionFixture, owner: Trader, value: bigint, deadline: bigint, signer: Trader = owner) {
  const d = await f.token.eip712Domain();
  const domain = { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract };
  const types = {
    Permit: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
  };
  const message = {
    owner: owner.address,
    spender: await f.auction.getAddress(),
    value,
    nonce: await f.token.nonces(owner.address),
    deadline,
  };
  return Signature.from(await signer.signTypedData(domain, types, message));
}

/*//////////////////////////////////////////////////////////////
                             TESTS
//////////////////////////////////////////////////////////////*/

describe("BatchAuction", function () {
  describe("deployment", function () {
    it("test_constructor_storesAddressesAndParams", async function () {
      const f = await loadFixture(deployAuctionFixture);
      expect(await f.auction.registry()).to.equal(await f.system.registry.getAddress());
      expect(await f.auction.paymentToken()).to.equal(await f.token.getAddress());
      expect(await f.auction.floorFeed()).to.equal(await f.floorFeed.getAddress());
      expect(await f.auction.ceilingFeed()).to.equal(await f.ceilingFeed.getAddress());
      expect(await f.auction.treasury()).to.equal(f.treasury);
      expect(await f.auction.intervalLength()).to.equal(INTERVAL);
      const p = await f.auction.params();
      expect({
        commitWindow: p.commitWindow,
        revealWindow: p.revealWindow,
        gateLead: p.gateLead,
        settlementWindow: p.settlementWindow,
        minDeposit: p.minDeposit,
        tickSize: p.tickSize,
        maxOrders: p.maxOrders,
        sellerBondBps: p.sellerBondBps,
        nonRevealPenaltyBps: p.nonRevealPenaltyBps,
        maxFeedAge: p.maxFeedAge,
      }).to.deep.equal(PARAMS);
      for (const s of [f.alice, f.bob, f.stranger])
        expect(await f.token.balanceOf(s.address)).to.equal(INITIAL_BALANCE);
    });

    it("test_constructor_revertsOnInvalidParams", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const cases: [Partial<typeof PARAMS>, string][] = [
        [{ gateLead: INTERVAL - 1n }, "gateLead below one interval"],
        [{ commitWindow: 0n }, "empty window"],
        [{ revealWindow: 0n }, "empty window"],
        [{ tickSize: 0n }, "tickSize"],
        [{ maxOrders: 0n }, "maxOrders"],
        [{ maxOrders: 65_536n }, "maxOrders"],
        [{ sellerBondBps: 10_001n }, "basis points above 10000"],
        [{ nonRevealPenaltyBps: 10_001n }, "basis points above 10000"],
      ];
      for (const [overrides, reason] of cases) {
        await expect(deployAuction(f, f.token, f.floorFeed, f.ceilingFeed, f.treasury, overrides))
          .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvalidParams")
          .withArgs(reason);
      }
      await expect(deployAuction(f, f.token, f.floorFeed, f.ceilingFeed, ZeroAddress))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvalidParams")
        .withArgs("treasury");
    });
  });

  describe("schedule and phases", function () {
    it("test_schedule_arithmetic", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const id = await futureInterval();
      const s = await f.auction.schedule(id);
      const deliveryStart = id * INTERVAL;
      expect(s.deliveryStart).to.equal(deliveryStart);
      expect(s.gateClosure).to.equal(deliveryStart - PARAMS.gateLead);
      expect(s.revealStart).to.equal(deliveryStart - PARAMS.gateLead - PARAMS.revealWindow);
      expect(s.commitStart).to.equal(deliveryStart - PARAMS.gateLead - PARAMS.revealWindow - PARAMS.commitWindow);
      expect(s.settlementDeadline).to.equal(deliveryStart + INTERVAL + PARAMS.settlementWindow);
      // 5,100 s before delivery the commits open; consecutive auctions are one interval apart.
      expect(s.deliveryStart - s.commitStart).to.equal(5_100n);
      const next = await f.auction.schedule(id + 1n);
      expect([
        next.commitStart,
        next.revealStart,
        next.gateClosure,
        next.deliveryStart,
        next.settlementDeadline,
      ]).to.deep.equal(
        [s.commitStart, s.revealStart, s.gateClosure, s.deliveryStart, s.settlementDeadline].map((t) => t + INTERVAL),
      );
    });

    it("test_schedule_revertsForAnIntervalTooEarly", async function () {
      const f = await loadFixture(deployAuctionFixture);
      // The commits of interval i open at 900·i − 5,100 s: before 1970 for i ≤ 5.
      const lead = PARAMS.gateLead + PARAMS.revealWindow + PARAMS.commitWindow;
      const firstValid = (lead + INTERVAL - 1n) / INTERVAL;
      expect(firstValid).to.equal(6n);
      const c = await f.auction.commitmentOf(1n, f.alice.address, buy(1, 1n, FLOOR), salt(1));
      for (const id of [0n, 1n, firstValid - 1n]) {
        await expect(f.auction.schedule(id))
          .to.be.revertedWithCustomError(f.auction, "BatchAuctionIntervalTooEarly")
          .withArgs(id);
        await expect(f.auction.phase(id))
          .to.be.revertedWithCustomError(f.auction, "BatchAuctionIntervalTooEarly")
          .withArgs(id);
      }
      await expect(f.auction.connect(f.alice).commit(1n, c, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionIntervalTooEarly")
        .withArgs(1n);
      const deadline = BigInt(await time.latest()) + 3_600n;
      const sig = await signPermit(f, f.alice, USD, deadline);
      await expect(f.auction.connect(f.alice).commitWithPermit(1n, c, USD, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionIntervalTooEarly")
        .withArgs(1n);
      await expect(f.auction.connect(f.alice).reveal(1n, buy(1, 1n, FLOOR), salt(1)))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionIntervalTooEarly")
        .withArgs(1n);
      await expect(f.auction.clear(1n))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionIntervalTooEarly")
        .withArgs(1n);
      // The first interval whose auction opens at or after 1970 has a schedule (long past and never cleared: void).
      const s = await f.auction.schedule(firstValid);
      expect(s.commitStart).to.equal(firstValid * INTERVAL - lead);
      expect(s.deliveryStart).to.equal(firstValid * INTERVAL);
      expect(await f.auction.phase(firstValid)).to.equal(PHASE.Void);
    });

    it("test_futureInterval_isScheduled", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const id = await futureInterval();
      const s = await f.auction.schedule(id);
      expect(s.commitStart).to.be.greaterThan(BigInt(await time.latest()));
      expect(await f.auction.phase(id)).to.equal(PHASE.Scheduled);
    });

    it("test_phase_followsTheScheduleFromScheduledToCleared", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const id = await futureInterval();
      const s = await f.auction.schedule(id);
      expect(await f.auction.phase(id)).to.equal(PHASE.Scheduled);
      const steps: [bigint, number][] = [
        [s.commitStart - 1n, PHASE.Scheduled],
        [s.commitStart, PHASE.Commit],
        [s.revealStart - 1n, PHASE.Commit],
        [s.revealStart, PHASE.Reveal],
        [s.gateClosure - 1n, PHASE.Reveal],
        [s.gateClosure, PHASE.Clearing],
        [s.deliveryStart - 2n, PHASE.Clearing], // the clear below mines one second later, still before delivery
      ];
      for (const [t, phase] of steps) {
        await time.increaseTo(t);
        expect(await f.auction.phase(id)).to.equal(phase, `at ${t}`);
      }
      await (await f.auction.clear(id)).wait();
      expect(await f.auction.phase(id)).to.equal(PHASE.Cleared);
      await time.increaseTo(s.settlementDeadline + 1n);
      expect(await f.auction.phase(id)).to.equal(PHASE.Cleared);
      // The next interval's auction is independent.
      expect(await f.auction.phase(id + 100n)).to.equal(PHASE.Scheduled);
    });
  });

  describe("void auctions", function () {
    it("test_void_anAuctionNotClearedBeforeDeliveryCannotClearAndRefundsEveryRevealedOrder", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const c = await commitOrder(f, f.alice, f.id, order, 1_000_000_000n, salt(7));
      const hidden = await commitOrder(f, f.bob, f.id, buy(1, 1n, FLOOR), 2n * USD, salt(8));
      await toPhase(f, f.id, "reveal");
      await (await f.auction.connect(f.alice).reveal(f.id, order, salt(7))).wait();
      const s = await f.auction.schedule(f.id);
      await time.increaseTo(s.deliveryStart);
      expect(await f.auction.phase(f.id)).to.equal(PHASE.Void);
      await expect(f.auction.clear(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Void);
      const before = await f.token.balanceOf(f.alice.address);
      await expect(f.auction.connect(f.alice).withdraw(f.id, c))
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.alice.address, c, 1_000_000_000n, 0n);
      expect(await f.token.balanceOf(f.alice.address)).to.equal(before + 1_000_000_000n);
      // An unrevealed commitment still pays its penalty.
      await expect(f.auction.connect(f.bob).withdraw(f.id, hidden))
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.bob.address, hidden, USD, USD);
    });
  });

  describe("commit", function () {
    it("test_commit_locksCollateralAndEmits", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, order, salt(1));
      const tx = f.auction.connect(f.alice).commit(f.id, c, 2n * USD);
      await expect(tx)
        .to.emit(f.auction, "OrderCommitted")
        .withArgs(f.id, f.alice.address, c, 2n * USD);
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice, f.auction], [-2n * USD, 2n * USD]);
      // Committing touches no auction-wide state: no bounds, no order counted (orders count at reveal).
      await expect(tx).to.not.emit(f.auction, "BoundsSet");
      expect(await f.auction.bounds(f.id)).to.deep.equal([0n, 0n]);
      expect(await f.auction.orderCount(f.id)).to.equal(0n);
      expect(await f.auction.phase(f.id)).to.equal(PHASE.Commit);
    });

    it("test_commit_commitmentOfMatchesOffChainEncoding", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const orders = [buy(1, 1_000n, 200_000n), sell(2, 2_500n, 50_000n, f.meters[2].address)];
      for (const [i, order] of orders.entries()) {
        const onChain = await f.auction.commitmentOf(f.id, f.bob.address, order, salt(i));
        const offChain = commitmentOffChain(
          f.chainId,
          await f.auction.getAddress(),
          f.id,
          f.bob.address,
          order,
          salt(i),
        );
        expect(onChain).to.equal(offChain);
      }
      // Interval, trader and salt are all bound.
      const base = await f.auction.commitmentOf(f.id, f.bob.address, orders[0], salt(0));
      expect(await f.auction.commitmentOf(f.id + 1n, f.bob.address, orders[0], salt(0))).to.not.equal(base);
      expect(await f.auction.commitmentOf(f.id, f.alice.address, orders[0], salt(0))).to.not.equal(base);
      expect(await f.auction.commitmentOf(f.id, f.bob.address, orders[0], salt(1))).to.not.equal(base);
    });

    it("test_open_setsBoundsFromFeedsOnceAndAnyoneMayCallIt", async function () {
      const f = await loadFixture(commitPhaseFixture);
      expect(await f.auction.bounds(f.id)).to.deep.equal([0n, 0n]);
      expect(await f.auction.connect(f.stranger).open.staticCall(f.id)).to.deep.equal([FLOOR, CEILING]);
      await expect(f.auction.connect(f.stranger).open(f.id))
        .to.emit(f.auction, "BoundsSet")
        .withArgs(f.id, FLOOR, CEILING);
      expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
      // Later feed answers do not move this auction's bounds: a second open returns them and emits nothing.
      await (await f.floorFeed.updateAnswer(6_000_000n)).wait();
      await (await f.ceilingFeed.updateAnswer(30_000_000n)).wait();
      await expect(f.auction.connect(f.bob).open(f.id)).to.not.emit(f.auction, "BoundsSet");
      expect(await f.auction.connect(f.bob).open.staticCall(f.id)).to.deep.equal([FLOOR, CEILING]);
      // The same in the reveal phase.
      await toPhase(f, f.id, "reveal");
      await expect(f.auction.connect(f.bob).open(f.id)).to.not.emit(f.auction, "BoundsSet");
      expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
      // A later auction reads the new answers when it is opened.
      await toPhase(f, f.id + 8n, "commit");
      await expect(f.auction.open(f.id + 8n))
        .to.emit(f.auction, "BoundsSet")
        .withArgs(f.id + 8n, 60_000n, 300_000n);
    });

    it("test_open_revertsOutsideTheCommitAndRevealPhases", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const id = await futureInterval();
      await expect(f.auction.open(id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(id, PHASE.Commit, PHASE.Scheduled);
      await toPhase(f, id, "clearing");
      await expect(f.auction.open(id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(id, PHASE.Commit, PHASE.Clearing);
      expect(await f.auction.bounds(id)).to.deep.equal([0n, 0n]);
    });

    it("test_reveal_firstRevealSetsTheBoundsWhenNobodyOpenedTheAuction", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const bid = buy(1, 1_000n, 200_000n);
      await commitOrder(f, f.alice, f.id, bid, USD, salt(1));
      await commitOrder(f, f.bob, f.id, buy(1, 1_000n, 300_000n), USD, salt(2));
      await toPhase(f, f.id, "reveal");
      await expect(f.auction.connect(f.alice).reveal(f.id, bid, salt(1)))
        .to.emit(f.auction, "BoundsSet")
        .withArgs(f.id, FLOOR, CEILING);
      expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
      // Later reveals use them, whatever the feeds say now.
      await (await f.ceilingFeed.updateAnswer(25_000_000n)).wait();
      await expect(f.auction.connect(f.bob).reveal(f.id, buy(1, 1_000n, 300_000n), salt(2))).to.not.emit(
        f.auction,
        "BoundsSet",
      );
      expect(await f.auction.orderCount(f.id)).to.equal(2n);
    });

    it("test_open_convertsFeedsWith18And6Decimals", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const floor18 = await deployFeed(f, 18, 50_000_000_000_000_000n); // 0.05
      const ceiling6 = await deployFeed(f, 6, 400_000n); // 0.40
      const auction = await deployAuction(f, f.token, floor18, ceiling6, f.treasury);
      await expect(auction.connect(f.alice).open(f.id)).to.emit(auction, "BoundsSet").withArgs(f.id, FLOOR, CEILING);
      expect(await auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
      // And the other way round: a 6-decimal floor, an 18-decimal ceiling.
      const floor6 = await deployFeed(f, 6, 50_000n);
      const ceiling18 = await deployFeed(f, 18, 400_000_000_000_000_000n);
      const auction2 = await deployAuction(f, f.token, floor6, ceiling18, f.treasury);
      await expect(auction2.connect(f.alice).open(f.id)).to.emit(auction2, "BoundsSet").withArgs(f.id, FLOOR, CEILING);
    });

    it("test_open_roundsBoundsInwardToTheTick", async function () {
      const f = await loadFixture(commitPhaseFixture);
      // 0.050000123456789 and 0.399999 per kWh: 50,000.12… and 399,999 base units; floor up, ceiling down to 100.
      const floor18 = await deployFeed(f, 18, 50_000_123_456_789_000n);
      const ceiling6 = await deployFeed(f, 6, 399_999n);
      const auction = await deployAuction(f, f.token, floor18, ceiling6, f.treasury);
      await expect(auction.connect(f.alice).open(f.id)).to.emit(auction, "BoundsSet").withArgs(f.id, 50_100n, 399_900n);
    });

    it("test_open_capsTheCeilingAtMaxPrice", async function () {
      const f = await loadFixture(commitPhaseFixture);
      // A retail tariff of 10^9 per kWh (10^15 base units) is above MAX_PRICE = 2^48 − 1 base units per kWh.
      const ceilingHuge = await deployFeed(f, 6, 10n ** 15n);
      const auction = await deployAuction(f, f.token, f.floorFeed, ceilingHuge, f.treasury);
      const maxPrice = await auction.MAX_PRICE();
      expect(maxPrice).to.equal(2n ** 48n - 1n);
      await expect(auction.open(f.id))
        .to.emit(auction, "BoundsSet")
        .withArgs(f.id, FLOOR, (maxPrice / PARAMS.tickSize) * PARAMS.tickSize);
    });

    it("test_commit_acceptsExactlyTheMinimumDeposit", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1n, FLOOR), salt(1));
      await expect(f.auction.connect(f.alice).commit(f.id, c, PARAMS.minDeposit))
        .to.emit(f.auction, "OrderCommitted")
        .withArgs(f.id, f.alice.address, c, PARAMS.minDeposit);
    });

    it("test_commit_revertsBelowMinimumDeposit", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1n, FLOOR), salt(1));
      await expect(f.auction.connect(f.alice).commit(f.id, c, PARAMS.minDeposit - 1n))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCollateralBelowMinimum")
        .withArgs(PARAMS.minDeposit - 1n, PARAMS.minDeposit);
    });

    it("test_commit_revertsBeforeCommitPhase", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const id = await futureInterval();
      const c = await f.auction.commitmentOf(id, f.alice.address, buy(1, 1n, FLOOR), salt(1));
      await expect(f.auction.connect(f.alice).commit(id, c, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(id, PHASE.Commit, PHASE.Scheduled);
      const s = await f.auction.schedule(id);
      await time.increaseTo(s.commitStart - 10n);
      await (await f.floorFeed.updateAnswer(FLOOR_ANSWER)).wait();
      await (await f.ceilingFeed.updateAnswer(CEILING_ANSWER)).wait();
      await time.setNextBlockTimestamp(s.commitStart - 1n);
      await expect(f.auction.connect(f.alice).commit(id, c, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(id, PHASE.Commit, PHASE.Scheduled);
      // The first second of the window is in.
      await time.setNextBlockTimestamp(s.commitStart);
      await expect(f.auction.connect(f.alice).commit(id, c, USD)).to.emit(f.auction, "OrderCommitted");
    });

    it("test_commit_revertsAfterCommitPhase", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const s = await f.auction.schedule(f.id);
      const c1 = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1n, FLOOR), salt(1));
      const c2 = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1n, FLOOR), salt(2));
      // The last second of the window is in.
      await time.setNextBlockTimestamp(s.revealStart - 1n);
      await expect(f.auction.connect(f.alice).commit(f.id, c1, USD)).to.emit(f.auction, "OrderCommitted");
      await time.setNextBlockTimestamp(s.revealStart);
      await expect(f.auction.connect(f.alice).commit(f.id, c2, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Commit, PHASE.Reveal);
      await toPhase(f, f.id, "clearing");
      await expect(f.auction.connect(f.alice).commit(f.id, c2, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Commit, PHASE.Clearing);
      await (await f.auction.clear(f.id)).wait();
      await expect(f.auction.connect(f.alice).commit(f.id, c2, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Commit, PHASE.Cleared);
    });

    it("test_commit_revertsOnASecondCommitReusingASalt", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const c = await commitOrder(f, f.alice, f.id, order, USD, salt(1));
      await expect(f.auction.connect(f.alice).commit(f.id, c, USD))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCommitmentExists")
        .withArgs(f.id, c);
      // The same order under a fresh salt is a new commitment.
      const c2 = await commitOrder(f, f.alice, f.id, order, USD, salt(2));
      expect(c2).to.not.equal(c);
    });

    it("test_commit_copiedCommitmentDoesNotBlockItsTrader", async function () {
      // Commitments are keyed by (interval, trader, hash): a hash copied from the mempool is the copier's own record.
      // It neither blocks the trader's commit nor touches the trader's order, and the copier can never reveal it
      // (the hash binds the trader), so it only costs the copier the non-reveal penalty.
      const f = await loadFixture(commitPhaseFixture);
      const auctionAddress = await f.auction.getAddress();
      const order = buy(2, 1_000n, 200_000n);
      const ask = sell(2, 1_000n, 100_000n, f.meters[2].address);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, order, salt(1));
      // The front-running copy commits first…
      await expect(f.auction.connect(f.stranger).commit(f.id, c, USD))
        .to.emit(f.auction, "OrderCommitted")
        .withArgs(f.id, f.stranger.address, c, USD);
      // …and alice's own commit of the same hash still goes through.
      await expect(f.auction.connect(f.alice).commit(f.id, c, 2n * USD))
        .to.emit(f.auction, "OrderCommitted")
        .withArgs(f.id, f.alice.address, c, 2n * USD);
      // Each may commit it only once.
      for (const s of [f.stranger, f.alice]) {
        await expect(f.auction.connect(s).commit(f.id, c, USD))
          .to.be.revertedWithCustomError(f.auction, "BatchAuctionCommitmentExists")
          .withArgs(f.id, c);
      }
      await commitOrder(f, f.bob, f.id, ask, USD, salt(2));
      await toPhase(f, f.id, "reveal");
      await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(1)))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(f.id, f.alice.address, c, SIDE.Buy, 2, 1_000n, 200_000n, ZeroAddress);
      await (await f.auction.connect(f.bob).reveal(f.id, ask, salt(2))).wait();
      // The copier knows the order and salt but opens a commitment of its own address, which it never made.
      await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt(1)))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
        .withArgs(f.id, await f.auction.commitmentOf(f.id, f.stranger.address, order, salt(1)));
      // After gate closure the copier gets its own collateral back less the penalty…
      await toPhase(f, f.id, "clearing");
      const penalty = (USD * PARAMS.nonRevealPenaltyBps) / 10_000n;
      const tx = f.auction.connect(f.stranger).withdraw(f.id, c);
      await expect(tx)
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.stranger.address, c, USD - penalty, penalty);
      await expect(tx).to.changeTokenBalances(
        ethers,
        f.token,
        [f.stranger, f.treasury, f.auction, f.alice],
        [USD - penalty, penalty, -USD, 0n],
      );
      await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(f.id, c);
      // …and alice's order is unaffected: it clears, fills and its collateral stays locked for settlement.
      await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 150_000n, 1_000n, 0n);
      expect(await f.auction.fillOf(f.id, f.alice.address, c)).to.deep.equal([1_000n, 150_000n]);
      expect(await f.auction.fillOf(f.id, f.stranger.address, c)).to.deep.equal([0n, 0n]);
      await expect(f.auction.connect(f.alice).withdraw(f.id, c))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCollateralLocked")
        .withArgs(f.id, c, 1_000n);
      // What stays in the auction is alice's and bob's collateral.
      expect(await f.token.balanceOf(auctionAddress)).to.equal(2n * USD + USD);
    });

    it("test_commit_copiedCommitmentOfAnUnfilledOrderLeavesTheTraderRefundable", async function () {
      // The same, for an order that does not fill: the copier's withdrawal does not mark alice's record withdrawn.
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, order, salt(1));
      await (await f.auction.connect(f.stranger).commit(f.id, c, USD)).wait();
      await (await f.auction.connect(f.alice).commit(f.id, c, 2n * USD)).wait();
      await toPhase(f, f.id, "reveal");
      await (await f.auction.connect(f.alice).reveal(f.id, order, salt(1))).wait();
      await toPhase(f, f.id, "clearing");
      await (await f.auction.connect(f.stranger).withdraw(f.id, c)).wait();
      await (await f.auction.clear(f.id)).wait();
      const [filledWh] = await f.auction.fillOf(f.id, f.alice.address, c);
      expect(filledWh).to.equal(0n);
      const tx = f.auction.connect(f.alice).withdraw(f.id, c);
      await expect(tx)
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.alice.address, c, 2n * USD, 0n);
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice, f.auction], [2n * USD, -2n * USD]);
      expect(await tokenBalance(f, f.auction)).to.equal(0n);
    });

    it("test_reveal_revertsWhenTheBookIsFullAndTheRefusedTraderIsRefundedWithoutPenalty", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const auction = await deployAuction(f, f.token, f.floorFeed, f.ceilingFeed, f.treasury, { maxOrders: 2n });
      await (await f.token.connect(f.alice).approve(await auction.getAddress(), 10n * USD)).wait();
      // Commitments are not capped: three commit.
      const commitments: string[] = [];
      for (let i = 0; i < 3; i++) {
        const c = await auction.commitmentOf(f.id, f.alice.address, buy(1, 1n, FLOOR), salt(i));
        await (await auction.connect(f.alice).commit(f.id, c, USD)).wait();
        commitments.push(c);
      }
      await toPhase(f, f.id, "reveal");
      for (let i = 0; i < 2; i++)
        await (await auction.connect(f.alice).reveal(f.id, buy(1, 1n, FLOOR), salt(i))).wait();
      expect(await auction.orderCount(f.id)).to.equal(2n);
      await expect(auction.connect(f.alice).reveal(f.id, buy(1, 1n, FLOOR), salt(2)))
        .to.be.revertedWithCustomError(auction, "BatchAuctionFull")
        .withArgs(f.id, 2);
      // The refused commitment could not be revealed: it withdraws in full after gate closure.
      await toPhase(f, f.id, "clearing");
      await expect(auction.connect(f.alice).withdraw(f.id, commitments[2]))
        .to.emit(auction, "CollateralWithdrawn")
        .withArgs(f.id, f.alice.address, commitments[2], USD, 0n);
    });

    it("test_commit_succeedsWhileTheFeedsAreStale", async function () {
      // Committing reads no feed: a stale feed blocks opening the auction, not committing.
      const f = await loadFixture(commitPhaseFixture);
      await (await f.floorFeed.updateAnswer(0n)).wait();
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1n, FLOOR), salt(1));
      await expect(f.auction.connect(f.alice).commit(f.id, c, USD)).to.emit(f.auction, "OrderCommitted");
      await expect(f.auction.open(f.id)).to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed");
    });

    it("test_open_revertsOnStaleFeed", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const t = BigInt(await time.latest()) + 100n;
      // The floor feed's answer one second older than maxFeedAge when the auction is opened.
      const stale = t - PARAMS.maxFeedAge - 1n;
      await (await f.floorFeed.updateRoundData(7n, FLOOR_ANSWER, stale, stale)).wait();
      await time.setNextBlockTimestamp(t);
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed")
        .withArgs(await f.floorFeed.getAddress(), FLOOR_ANSWER, stale);
      // The ceiling feed is checked too.
      await (await f.floorFeed.updateAnswer(FLOOR_ANSWER)).wait();
      await (await f.ceilingFeed.updateRoundData(9n, CEILING_ANSWER, stale, stale)).wait();
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed")
        .withArgs(await f.ceilingFeed.getAddress(), CEILING_ANSWER, stale);
      // Exactly maxFeedAge old is still fresh.
      const t2 = BigInt(await time.latest()) + 100n;
      await (
        await f.ceilingFeed.updateRoundData(10n, CEILING_ANSWER, t2 - PARAMS.maxFeedAge, t2 - PARAMS.maxFeedAge)
      ).wait();
      await time.setNextBlockTimestamp(t2);
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.emit(f.auction, "BoundsSet")
        .withArgs(f.id, FLOOR, CEILING);
    });

    it("test_open_revertsOnNonPositiveAnswer", async function () {
      const f = await loadFixture(commitPhaseFixture);
      await (await f.floorFeed.updateAnswer(0n)).wait();
      const floorAt = await f.floorFeed.latestTimestamp();
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed")
        .withArgs(await f.floorFeed.getAddress(), 0n, floorAt);
      await (await f.floorFeed.updateAnswer(FLOOR_ANSWER)).wait();
      await (await f.ceilingFeed.updateAnswer(-1n)).wait();
      const ceilingAt = await f.ceilingFeed.latestTimestamp();
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed")
        .withArgs(await f.ceilingFeed.getAddress(), -1n, ceilingAt);
    });

    it("test_open_revertsOnInvertedBounds", async function () {
      const f = await loadFixture(commitPhaseFixture);
      await (await f.floorFeed.updateAnswer(45_000_000n)).wait(); // 0.45 > 0.40
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvertedBounds")
        .withArgs(450_000n, 400_000n);
      // Equal bounds are an interval of one price.
      await (await f.floorFeed.updateAnswer(CEILING_ANSWER)).wait();
      await expect(f.auction.connect(f.alice).open(f.id))
        .to.emit(f.auction, "BoundsSet")
        .withArgs(f.id, CEILING, CEILING);
    });
    it("test_open_staleFeedAfterBoundsDoesNotAffectTheAuction", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const bid = buy(1, 1_000n, 200_000n);
      const ask = sell(1, 1_000n, 100_000n, f.meters[0].address);
      await (await f.auction.open(f.id)).wait();
      await commitOrder(f, f.bob, f.id, bid, USD, salt(1));
      // Both feeds go bad once the auction has its bounds: a zero floor, a ceiling a week old.
      await (await f.floorFeed.updateAnswer(0n)).wait();
      const weekAgo = BigInt(await time.latest()) - 7n * 86_400n;
      await (await f.ceilingFeed.updateRoundData(9n, CEILING_ANSWER, weekAgo, weekAgo)).wait();
      await commitOrder(f, f.alice, f.id, ask, USD, salt(2));
      // Reveals and clearing use the stored bounds (the clock moves without refreshing the feeds).
      const s = await f.auction.schedule(f.id);
      await time.increaseTo(s.revealStart);
      await (await f.auction.connect(f.bob).reveal(f.id, bid, salt(1))).wait();
      await (await f.auction.connect(f.alice).reveal(f.id, ask, salt(2))).wait();
      await time.increaseTo(s.gateClosure);
      await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 150_000n, 1_000n, 0n);
      expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    });
  });

  describe("commitWithPermit", function () {
    it("test_commitWithPermit_worksWithASignatureAndNoApproval", async function () {
      const f = await loadFixture(commitPhaseFixture);
      await (await f.token.connect(f.alice).approve(await f.auction.getAddress(), 0n)).wait();
      const collateral = 3n * USD;
      const deadline = BigInt(await time.latest()) + 3_600n;
      const sig = await signPermit(f, f.alice, collateral, deadline);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt(1));
      const tx = f.auction.connect(f.alice).commitWithPermit(f.id, c, collateral, deadline, sig.v, sig.r, sig.s);
      await expect(tx).to.emit(f.auction, "OrderCommitted").withArgs(f.id, f.alice.address, c, collateral);
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice, f.auction], [-collateral, collateral]);
      expect(await f.token.nonces(f.alice.address)).to.equal(1n);
      expect(await f.token.allowance(f.alice.address, await f.auction.getAddress())).to.equal(0n);
    });

    it("test_commitWithPermit_worksWhenThePermitWasFrontRun", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const auctionAddress = await f.auction.getAddress();
      await (await f.token.connect(f.alice).approve(auctionAddress, 0n)).wait();
      const collateral = 3n * USD;
      const deadline = BigInt(await time.latest()) + 3_600n;
      const sig = await signPermit(f, f.alice, collateral, deadline);
      // Someone copies the permit from the mempool and submits it first.
      await (
        await f.token
          .connect(f.stranger)
          .permit(f.alice.address, auctionAddress, collateral, deadline, sig.v, sig.r, sig.s)
      ).wait();
      expect(await f.token.allowance(f.alice.address, auctionAddress)).to.equal(collateral);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt(1));
      const tx = f.auction.connect(f.alice).commitWithPermit(f.id, c, collateral, deadline, sig.v, sig.r, sig.s);
      await expect(tx).to.emit(f.auction, "OrderCommitted").withArgs(f.id, f.alice.address, c, collateral);
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice, f.auction], [-collateral, collateral]);
      expect(await f.token.allowance(f.alice.address, auctionAddress)).to.equal(0n);
    });

    it("test_commitWithPermit_keepsALargerApproval", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const auctionAddress = await f.auction.getAddress();
      await (await f.token.connect(f.alice).approve(auctionAddress, ethers.MaxUint256)).wait();
      const collateral = 3n * USD;
      const deadline = BigInt(await time.latest()) + 3_600n;
      const sig = await signPermit(f, f.alice, collateral, deadline);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt(1));
      const tx = f.auction.connect(f.alice).commitWithPermit(f.id, c, collateral, deadline, sig.v, sig.r, sig.s);
      await expect(tx).to.emit(f.auction, "OrderCommitted").withArgs(f.id, f.alice.address, c, collateral);
      await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice, f.auction], [-collateral, collateral]);
      // The permit was not used: the max approval stands, not one of `collateral` spent down to zero.
      expect(await f.token.allowance(f.alice.address, auctionAddress)).to.equal(ethers.MaxUint256);
      expect(await f.token.nonces(f.alice.address)).to.equal(0n);
      // A finite approval above the collateral is kept too (and spent down by the transfer).
      const approval = 100n * USD;
      await (await f.token.connect(f.alice).approve(auctionAddress, approval)).wait();
      const sig2 = await signPermit(f, f.alice, collateral, deadline);
      const c2 = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt(2));
      await (
        await f.auction.connect(f.alice).commitWithPermit(f.id, c2, collateral, deadline, sig2.v, sig2.r, sig2.s)
      ).wait();
      expect(await f.token.allowance(f.alice.address, auctionAddress)).to.equal(approval - collateral);
      expect(await f.token.nonces(f.alice.address)).to.equal(0n);
    });

    it("test_commitWithPermit_usesThePermitWhenTheAllowanceFallsShort", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const auctionAddress = await f.auction.getAddress();
      const collateral = 3n * USD;
      await (await f.token.connect(f.alice).approve(auctionAddress, collateral - 1n)).wait();
      const deadline = BigInt(await time.latest()) + 3_600n;
      const sig = await signPermit(f, f.alice, collateral, deadline);
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt(1));
      await expect(f.auction.connect(f.alice).commitWithPermit(f.id, c, collateral, deadline, sig.v, sig.r, sig.s))
        .to.emit(f.auction, "OrderCommitted")
        .withArgs(f.id, f.alice.address, c, collateral);
      expect(await f.token.nonces(f.alice.address)).to.equal(1n);
      expect(await f.token.allowance(f.alice.address, auctionAddress)).to.equal(0n);
    });

    it("test_commitWithPermit_revertsWithAnInvalidPermitAndNoAllowance", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const auctionAddress = await f.auction.getAddress();
      await (await f.token.connect(f.alice).approve(auctionAddress, 0n)).wait();
      const collateral = 3n * USD;
      const deadline = BigInt(await time.latest()) + 3_600n;
      const sig = await signPermit(f, f.alice, collateral, deadline, f.bob); // signed by the wrong key
      const c = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt(1));
      await expect(f.auction.connect(f.alice).commitWithPermit(f.id, c, collateral, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance")
        .withArgs(auctionAddress, 0n, collateral);
    });
  });

  describe("reveal", function () {
    /** Commits `order` for `trader` with `collateral` and moves to the reveal phase. */
    async function committed(f: CommitFixture, trader: Trader, order: Order, collateral = 5n * USD) {
      const c = await commitOrder(f, trader, f.id, order, collateral, salt(1));
      await toPhase(f, f.id, "reveal");
      return c;
    }

    /** Expects `trader`'s reveal of `order` (salt 1) to revert with `error(args)`. */
    async function expectRevealReverts(f: CommitFixture, trader: Trader, order: Order, error: string, args: unknown[]) {
      await expect(f.auction.connect(trader).reveal(f.id, order, salt(1)))
        .to.be.revertedWithCustomError(f.auction, error)
        .withArgs(...args);
    }

    it("test_reveal_buyerOrderEmitsOrderRevealed", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(2, 3_000n, 250_000n);
      expect(orderValue(3_000n, 250_000n)).to.equal(750_000n); // below the minimum deposit, which is what counts
      const c = await committed(f, f.stranger, order, PARAMS.minDeposit);
      await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt(1)))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(f.id, f.stranger.address, c, SIDE.Buy, 2, 3_000n, 250_000n, ZeroAddress);
      expect(await f.auction.zonesOf(f.id)).to.deep.equal([2n]);
      // Nothing fills before clearing.
      expect(await f.auction.fillOf(f.id, f.stranger.address, c)).to.deep.equal([0n, 0n]);
    });

    it("test_reveal_sellerOrderEmitsOrderRevealed", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = sell(1, 1_250n, CEILING, f.meters[0].address); // the meter's whole capacity at the ceiling
      const c = await committed(f, f.alice, order, PARAMS.minDeposit);
      await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(1)))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(f.id, f.alice.address, c, SIDE.Sell, 1, 1_250n, CEILING, f.meters[0].address);
      expect(await f.auction.zonesOf(f.id)).to.deep.equal([1n]);
    });

    it("test_reveal_acceptsLimitsAtTheBounds", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const atFloor = buy(1, 1_000n, FLOOR);
      const atCeiling = buy(1, 1_000n, CEILING);
      await commitOrder(f, f.bob, f.id, atFloor, USD, salt(1));
      await commitOrder(f, f.bob, f.id, atCeiling, USD, salt(2));
      await toPhase(f, f.id, "reveal");
      await expect(f.auction.connect(f.bob).reveal(f.id, atFloor, salt(1))).to.emit(f.auction, "OrderRevealed");
      await expect(f.auction.connect(f.bob).reveal(f.id, atCeiling, salt(2))).to.emit(f.auction, "OrderRevealed");
    });

    it("test_reveal_revertsWithWrongSalt", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      await committed(f, f.alice, order);
      const wrong = salt(2);
      await expect(f.auction.connect(f.alice).reveal(f.id, order, wrong))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
        .withArgs(f.id, await f.auction.commitmentOf(f.id, f.alice.address, order, wrong));
    });

    it("test_reveal_revertsWithAChangedOrder", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      await committed(f, f.alice, order);
      const changed = buy(1, 1_000n, 300_000n);
      await expectRevealReverts(f, f.alice, changed, "BatchAuctionUnknownCommitment", [
        f.id,
        await f.auction.commitmentOf(f.id, f.alice.address, changed, salt(1)),
      ]);
    });

    it("test_reveal_revertsForAnotherSender", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const c = await committed(f, f.alice, order);
      // bob copies alice's order and salt: the commitment he opens is his own, and he has none.
      await expectRevealReverts(f, f.bob, order, "BatchAuctionUnknownCommitment", [
        f.id,
        await f.auction.commitmentOf(f.id, f.bob.address, order, salt(1)),
      ]);
      await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(1)))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(f.id, f.alice.address, c, SIDE.Buy, 1, 1_000n, 200_000n, ZeroAddress);
    });

    it("test_reveal_revertsForACommitmentOfAnotherInterval", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const next = f.id + 1n;
      const order = buy(1, 1_000n, 200_000n);
      // alice commits for the next interval, whose commit window overlaps this one's.
      await toPhase(f, next, "commit");
      const c = await commitOrder(f, f.alice, next, order, USD, salt(1));
      await toPhase(f, f.id, "reveal");
      await expectRevealReverts(f, f.alice, order, "BatchAuctionUnknownCommitment", [
        f.id,
        await f.auction.commitmentOf(f.id, f.alice.address, order, salt(1)),
      ]);
      // It opens in its own auction.
      await toPhase(f, next, "reveal");
      await expect(f.auction.connect(f.alice).reveal(next, order, salt(1)))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(next, f.alice.address, c, SIDE.Buy, 1, 1_000n, 200_000n, ZeroAddress);
    });

    it("test_reveal_revertsBeforeRevealPhase", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      await commitOrder(f, f.alice, f.id, order, USD, salt(1));
      await expectRevealReverts(f, f.alice, order, "BatchAuctionWrongPhase", [f.id, PHASE.Reveal, PHASE.Commit]);
      const s = await f.auction.schedule(f.id);
      await time.setNextBlockTimestamp(s.revealStart - 1n);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionWrongPhase", [f.id, PHASE.Reveal, PHASE.Commit]);
      await time.setNextBlockTimestamp(s.revealStart);
      await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(1))).to.emit(f.auction, "OrderRevealed");
    });

    it("test_reveal_revertsAfterGateClosure", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const order2 = buy(1, 1_000n, 100_000n);
      await commitOrder(f, f.alice, f.id, order, USD, salt(1));
      await commitOrder(f, f.alice, f.id, order2, USD, salt(2));
      const s = await f.auction.schedule(f.id);
      await time.increaseTo(s.gateClosure - 10n);
      await time.setNextBlockTimestamp(s.gateClosure - 1n);
      await expect(f.auction.connect(f.alice).reveal(f.id, order2, salt(2))).to.emit(f.auction, "OrderRevealed");
      await time.setNextBlockTimestamp(s.gateClosure);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionWrongPhase", [f.id, PHASE.Reveal, PHASE.Clearing]);
      await (await f.auction.clear(f.id)).wait();
      await expectRevealReverts(f, f.alice, order, "BatchAuctionWrongPhase", [f.id, PHASE.Reveal, PHASE.Cleared]);
    });

    it("test_reveal_revertsOnSecondReveal", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 200_000n);
      const c = await committed(f, f.alice, order);
      await (await f.auction.connect(f.alice).reveal(f.id, order, salt(1))).wait();
      await expectRevealReverts(f, f.alice, order, "BatchAuctionAlreadyRevealed", [f.id, c]);
    });

    it("test_reveal_revertsOnLimitAboveCeiling", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, CEILING + PARAMS.tickSize);
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionInvalidPrice", [
        CEILING + PARAMS.tickSize,
        FLOOR,
        CEILING,
        PARAMS.tickSize,
      ]);
    });

    it("test_reveal_revertsOnLimitBelowFloor", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = sell(1, 1_000n, FLOOR - PARAMS.tickSize, f.meters[0].address);
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionInvalidPrice", [
        FLOOR - PARAMS.tickSize,
        FLOOR,
        CEILING,
        PARAMS.tickSize,
      ]);
    });

    it("test_reveal_revertsOnLimitOffTheTick", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 1_000n, 100_050n);
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionInvalidPrice", [
        100_050n,
        FLOOR,
        CEILING,
        PARAMS.tickSize,
      ]);
    });

    it("test_reveal_revertsOnZeroQuantity", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = buy(1, 0n, 200_000n);
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionZeroQuantity", []);
    });

    it("test_reveal_revertsOnUnknownZone", async function () {
      const f = await loadFixture(commitPhaseFixture);
      expect((await f.system.registry.getZone(9)).configured).to.equal(false);
      const order = buy(9, 1_000n, 200_000n);
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionUnknownZone", [9]);
    });

    it("test_reveal_revertsForSellerWithSomeoneElsesMeter", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = sell(1, 1_000n, 100_000n, f.meters[0].address); // alice's meter
      await committed(f, f.bob, order);
      await expectRevealReverts(f, f.bob, order, "BatchAuctionInvalidSellerMeter", [
        f.meters[0].address,
        f.bob.address,
        1,
      ]);
    });

    it("test_reveal_revertsForSellerMeterInAnotherZone", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = sell(2, 1_000n, 100_000n, f.meters[0].address); // meter 0 is in zone 1
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionInvalidSellerMeter", [
        f.meters[0].address,
        f.alice.address,
        2,
      ]);
    });

    it("test_reveal_revertsForLoadOnlySellerMeter", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = sell(2, 1_000n, 100_000n, f.meters[3].address);
      await committed(f, f.bob, order);
      await expectRevealReverts(f, f.bob, order, "BatchAuctionInvalidSellerMeter", [
        f.meters[3].address,
        f.bob.address,
        2,
      ]);
    });

    it("test_reveal_revertsForRevokedSellerMeter", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order = sell(2, 1_000n, 100_000n, f.meters[2].address);
      await committed(f, f.bob, order);
      await (await f.system.registry.revokeMeter(f.meters[2].address)).wait();
      await expectRevealReverts(f, f.bob, order, "BatchAuctionInvalidSellerMeter", [
        f.meters[2].address,
        f.bob.address,
        2,
      ]);
    });

    it("test_reveal_revertsForSellerWithoutMeter", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const unregistered = meterKey(77).address;
      const noMeter = sell(1, 1_000n, 100_000n, ZeroAddress);
      const unknown = sell(1, 1_000n, 100_000n, unregistered);
      await commitOrder(f, f.alice, f.id, noMeter, USD, salt(1));
      await commitOrder(f, f.alice, f.id, unknown, USD, salt(2));
      await toPhase(f, f.id, "reveal");
      await expectRevealReverts(f, f.alice, noMeter, "BatchAuctionInvalidSellerMeter", [
        ZeroAddress,
        f.alice.address,
        1,
      ]);
      await expect(f.auction.connect(f.alice).reveal(f.id, unknown, salt(2)))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvalidSellerMeter")
        .withArgs(unregistered, f.alice.address, 1);
    });

    it("test_reveal_revertsAboveMeterCapacity", async function () {
      const f = await loadFixture(commitPhaseFixture);
      // Meter 0: 5,000 W × 900 s = 1,250 Wh.
      expect(await f.system.registry.maxWhPerInterval(f.meters[0].address)).to.equal(1_250n);
      const over = sell(1, 1_251n, 100_000n, f.meters[0].address);
      const full = sell(1, 1_250n, 100_000n, f.meters[0].address);
      await commitOrder(f, f.alice, f.id, over, USD, salt(1));
      await commitOrder(f, f.alice, f.id, full, USD, salt(2));
      await toPhase(f, f.id, "reveal");
      await expectRevealReverts(f, f.alice, over, "BatchAuctionQuantityAboveCapacity", [1_251n, 1_250n]);
      await expect(f.auction.connect(f.alice).reveal(f.id, full, salt(2))).to.emit(f.auction, "OrderRevealed");
    });

    it("test_reveal_revertsAboveTheLargestOrder", async function () {
      // MAX_ORDER_WH = 2^32 − 1 Wh (an order's quantity packs into 32 bits of its commitment's slot).
      const f = await loadFixture(commitPhaseFixture);
      const max = await f.auction.MAX_ORDER_WH();
      expect(max).to.equal(2n ** 32n - 1n);
      const over = buy(1, max + 1n, FLOOR);
      const largest = buy(1, max, FLOOR);
      const need = orderValue(max + 1n, FLOOR);
      await (await f.token.mint(f.alice.address, 2n * need)).wait();
      await (await f.token.connect(f.alice).approve(await f.auction.getAddress(), 2n * need)).wait();
      await commitOrder(f, f.alice, f.id, over, need, salt(1));
      const c = await commitOrder(f, f.alice, f.id, largest, need, salt(2));
      await toPhase(f, f.id, "reveal");
      await expectRevealReverts(f, f.alice, over, "BatchAuctionQuantityAboveCapacity", [max + 1n, max]);
      await expect(f.auction.connect(f.alice).reveal(f.id, largest, salt(2)))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(f.id, f.alice.address, c, SIDE.Buy, 1, max, FLOOR, ZeroAddress);
    });

    it("test_reveal_revertsForBuyerNamingAMeter", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const order: Order = { ...buy(1, 1_000n, 100_000n), meter: f.meters[0].address };
      await committed(f, f.alice, order);
      await expectRevealReverts(f, f.alice, order, "BatchAuctionBuyerMeter", [f.meters[0].address]);
    });

    it("test_reveal_revertsWhenBuyerCollateralBelowValue", async function () {
      const f = await loadFixture(commitPhaseFixture);
      // 10,001 Wh × 100,100 / 1000 = 1,001,100.1, rounded up.
      const order = buy(1, 10_001n, 100_100n);
      const required = 1_001_101n;
      expect(orderValue(10_001n, 100_100n)).to.equal(required);
      await commitOrder(f, f.alice, f.id, order, required - 1n, salt(1));
      await commitOrder(f, f.alice, f.id, order, required, salt(2));
      await toPhase(f, f.id, "reveal");
      await expectRevealReverts(f, f.alice, order, "BatchAuctionInsufficientCollateral", [required - 1n, required]);
      await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(2))).to.emit(f.auction, "OrderRevealed");
    });

    it("test_reveal_revertsWhenSellerCollateralBelowBond", async function () {
      const f = await loadFixture(plantFixture);
      // ⌈50,001 × 100,100 / 1000⌉ = 5,005,101; its 20 % rounded up: ⌈1,001,020.2⌉ = 1,001,021.
      const order = sell(1, 50_001n, 100_100n, f.plant);
      const bond = 1_001_021n;
      expect(sellerBond(50_001n, 100_100n)).to.equal(bond);
      await commitOrder(f, f.alice, f.id, order, bond - 1n, salt(1));
      await commitOrder(f, f.alice, f.id, order, bond, salt(2));
      await toPhase(f, f.id, "reveal");
      await expectRevealReverts(f, f.alice, order, "BatchAuctionInsufficientCollateral", [bond - 1n, bond]);
      await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(2))).to.emit(f.auction, "OrderRevealed");
    });

    it("test_reveal_revertsInASeventeenthZone", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const maxZones = await f.auction.MAX_ZONES();
      expect(maxZones).to.equal(16n);
      for (let z = 3; z <= 17; z++) await (await f.system.registry.setZone(z, 10_000, 10_000)).wait();
      // Zones 1..17, then a second order in zone 1.
      const orders = [...Array.from({ length: 17 }, (_, i) => buy(i + 1, 1_000n, 100_000n)), buy(1, 500n, 90_000n)];
      for (const [i, o] of orders.entries()) await commitOrder(f, f.bob, f.id, o, USD, salt(i));
      await toPhase(f, f.id, "reveal");
      for (const [i, o] of orders.slice(0, 16).entries()) {
        await (await f.auction.connect(f.bob).reveal(f.id, o, salt(i))).wait();
      }
      await expect(f.auction.connect(f.bob).reveal(f.id, orders[16], salt(16)))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionTooManyZones")
        .withArgs(f.id, maxZones);
      // Another order in a listed zone is fine.
      await expect(f.auction.connect(f.bob).reveal(f.id, orders[17], salt(17))).to.emit(f.auction, "OrderRevealed");
      expect((await f.auction.zonesOf(f.id)).map(Number)).to.deep.equal(Array.from({ length: 16 }, (_, i) => i + 1));
    });
  });

  describe("clear", function () {
    it("test_clear_revertsBeforeGateClosure", async function () {
      const f = await loadFixture(commitPhaseFixture);
      await commitOrder(f, f.alice, f.id, buy(1, 1_000n, 200_000n), USD, salt(1));
      await expect(f.auction.clear(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Commit);
      await toPhase(f, f.id, "reveal");
      const s = await f.auction.schedule(f.id);
      await time.setNextBlockTimestamp(s.gateClosure - 1n);
      await expect(f.auction.clear(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Reveal);
      await time.setNextBlockTimestamp(s.gateClosure);
      await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared");
    });

    it("test_clear_revertsTwice", async function () {
      const f = await loadFixture(clearedFixture);
      await expect(f.auction.clear(f.id))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Cleared);
    });

    it("test_clear_withoutRevealsClearsAtTheMidpointOfTheBounds", async function () {
      const f = await loadFixture(commitPhaseFixture);
      await (await f.auction.open(f.id)).wait();
      await commitOrder(f, f.alice, f.id, buy(1, 1_000n, 200_000n), USD, salt(1));
      await commitOrder(f, f.bob, f.id, sell(2, 1_000n, 60_000n, f.meters[2].address), USD, salt(2));
      await toPhase(f, f.id, "clearing");
      const reference = clearBook({ floor: FLOOR, ceiling: CEILING, zones: [], orders: [] });
      expect(reference.systemPrice).to.equal((FLOOR + CEILING) / 2n);
      await expect(f.auction.clear(f.id))
        .to.emit(f.auction, "AuctionCleared")
        .withArgs(f.id, reference.systemPrice, 0n, 0n);
      expect(await f.auction.systemPrice(f.id)).to.equal(reference.systemPrice);
      expect(await f.auction.zonesOf(f.id)).to.deep.equal([]);
      expect(await f.auction.phase(f.id)).to.equal(PHASE.Cleared);
    });

    it("test_clear_withoutCommitsDoesNotRevert", async function () {
      const f = await loadFixture(deployAuctionFixture);
      const id = await futureInterval();
      await toPhase(f, id, "clearing");
      // Nobody opened the auction nor revealed: the bounds are [0, 0] and so is the price.
      const reference = clearBook({ floor: 0n, ceiling: 0n, zones: [], orders: [] });
      await expect(f.auction.clear(id))
        .to.emit(f.auction, "AuctionCleared")
        .withArgs(id, reference.systemPrice, 0n, 0n);
      expect(await f.auction.phase(id)).to.equal(PHASE.Cleared);
    });

    it("test_clear_handMadeBookMatchesReference", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const [m0, m1, m2] = f.meters.map((m) => m.address);
      const entries: Entry[] = [
        { trader: f.alice, order: sell(1, 1_250n, 80_000n, m0) },
        { trader: f.alice, order: sell(1, 2_000n, 120_000n, m1) },
        { trader: f.bob, order: sell(2, 2_500n, 150_000n, m2) },
        { trader: f.bob, order: buy(2, 1_500n, 200_000n) },
        { trader: f.stranger, order: buy(1, 1_000n, 120_000n) },
        { trader: f.stranger, order: buy(2, 2_000n, 120_000n) },
        { trader: f.bob, order: buy(1, 1_000n, 120_000n) },
      ];
      const { tx, book, result, commitments } = await runBook(f, entries);
      await expectMatchesReference(f, book, result, entries, commitments);
      // By hand: one market at 120,000; zone 1's at-price buyers get 1,167 of 2,000 Wh, zone 2's 583 of 2,000.
      expect(result.systemPrice).to.equal(120_000n);
      expect(result.fills.map((x) => x.filledWh)).to.deep.equal([1_250n, 2_000n, 0n, 1_500n, 583n, 583n, 584n]);
      expect(result.zones.map((z) => z.netExportWh)).to.deep.equal([2_083n, -2_083n]);
      await expect(tx)
        .to.emit(f.auction, "AuctionCleared")
        .withArgs(f.id, 120_000n, result.tradedWh, result.congestionRent);
      expect(result.tradedWh).to.equal(3_250n);
      expect(result.congestionRent).to.equal(0n);
    });

    it("test_clear_zone2ImportCapacityBinds", async function () {
      const f = await loadFixture(plantFixture);
      // Zone 2 may import 100,000 W × 900 s = 25,000 Wh; its buyers want 30,000 Wh, zone 1 sells cheaply.
      const entries: Entry[] = [
        { trader: f.alice, order: sell(1, 30_000n, 60_000n, f.plant) },
        { trader: f.stranger, order: buy(2, 30_000n, 300_000n) },
        { trader: f.alice, order: sell(1, 10_000n, 60_000n, f.plant) },
        { trader: f.bob, order: sell(2, 2_000n, 250_000n, f.meters[2].address) },
        { trader: f.alice, order: sell(1, 2_000n, 350_000n, f.meters[1].address) },
        { trader: f.bob, order: buy(1, 1_000n, 55_000n) },
      ];
      const { tx, book, result, commitments } = await runBook(f, entries);
      await expectMatchesReference(f, book, result, entries, commitments);
      // By hand: two prices, zone 1 exports 25,000 Wh at 60,000, zone 2 imports them at 300,000.
      expect(result.systemPrice).to.equal(60_000n);
      expect(result.zones).to.deep.equal([
        {
          zone: 1,
          price: 60_000n,
          netExportWh: 25_000n,
          congestion: "none",
          atPrice: { sellWh: 40_000n, sellFilledWh: 25_000n, buyWh: 0n, buyFilledWh: 0n },
        },
        {
          zone: 2,
          price: 300_000n,
          netExportWh: -25_000n,
          congestion: "import",
          atPrice: { sellWh: 0n, sellFilledWh: 0n, buyWh: 30_000n, buyFilledWh: 27_000n },
        },
      ]);
      expect(result.fills.map((x) => x.filledWh)).to.deep.equal([18_750n, 27_000n, 6_250n, 2_000n, 0n, 0n]);
      await expect(tx)
        .to.emit(f.auction, "ZoneCleared")
        .withArgs(f.id, 1, 60_000n, 25_000n, CONGESTION.None, 40_000n, 25_000n, 0n, 0n);
      await expect(tx)
        .to.emit(f.auction, "ZoneCleared")
        .withArgs(f.id, 2, 300_000n, -25_000n, CONGESTION.Import, 0n, 0n, 30_000n, 27_000n);
      // 27,000 Wh traded; rent 25,000 Wh × (300,000 − 60,000).
      await expect(tx).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 60_000n, 27_000n, 6_000_000_000n);
      expect(result.tradedWh).to.equal(27_000n);
      expect(result.congestionRent).to.equal(6_000_000_000n);
    });

    it("test_clear_tieAtTheMarginFillsProRata", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const [m0, m1] = f.meters.map((m) => m.address);
      // Meter 1 backs two orders: 2,000 Wh, its capacity over one interval.
      const entries: Entry[] = [
        { trader: f.alice, order: sell(1, 1_000n, 100_000n, m0) },
        { trader: f.alice, order: sell(1, 1_000n, 100_000n, m1) },
        { trader: f.alice, order: sell(1, 1_000n, 100_000n, m1) },
        { trader: f.bob, order: buy(1, 1_200n, 150_000n) },
        { trader: f.stranger, order: buy(1, 800n, 200_000n) },
      ];
      const { tx, book, result, commitments } = await runBook(f, entries);
      await expectMatchesReference(f, book, result, entries, commitments);
      // 2,000 of the 3,000 Wh offered at 100,000 fill: ⌊1000·2/3⌋ = 666, then 1333 − 666 = 667, 2000 − 1333 = 667.
      expect(result.systemPrice).to.equal(100_000n);
      expect(result.fills.map((x) => x.filledWh)).to.deep.equal([666n, 667n, 667n, 1_200n, 800n]);
      await expect(tx)
        .to.emit(f.auction, "ZoneCleared")
        .withArgs(f.id, 1, 100_000n, 0n, CONGESTION.None, 3_000n, 2_000n, 0n, 0n);
      await expect(tx).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 100_000n, 2_000n, 0n);
    });

    it("test_clear_ignoresUnrevealedCommitments", async function () {
      const f = await loadFixture(revealedFixture);
      await toPhase(f, f.id, "clearing");
      await (await f.auction.clear(f.id)).wait();
      const entries: Entry[] = [
        { trader: f.alice, order: f.orders.aliceSell },
        { trader: f.bob, order: f.orders.bobBuy },
        { trader: f.stranger, order: f.orders.strangerBuy },
      ];
      const book = await referenceBook(f, entries);
      await expectMatchesReference(f, book, clearBook(book), entries, [f.c.aliceSell, f.c.bobBuy, f.c.strangerBuy]);
      expect(await f.auction.fillOf(f.id, f.alice.address, f.c.aliceHidden)).to.deep.equal([0n, 0n]);
    });

    /**
     * A tick-1 auction (with `ceilingFeed`, the fixture's unless given) over all MAX_ZONES zones, each with a sell and
     * a buy at prices off any round tick, every one in its own bitmap word; commits, reveals and clears it and
     * checks the result against the reference. Returns the clear receipt.
     */
    async function clearTickOneAtMaxZones(f: CommitFixture, ceilingFeed = f.ceilingFeed) {
      const auction = await deployAuction(f, f.token, f.floorFeed, ceilingFeed, f.treasury, { tickSize: 1n });
      const g: CommitFixture = { ...f, auction };
      for (const s of [f.alice, f.bob]) {
        await (await f.token.connect(s).approve(await auction.getAddress(), INITIAL_BALANCE)).wait();
      }
      const zones = Number(await auction.MAX_ZONES());
      expect(zones).to.equal(16);
      // Zones 1 and 2 come with the fixture; 3..16 get small capacities, so some of them congest.
      for (let z = 3; z <= zones; z++) {
        await (await f.system.registry.setZone(z, 1_000 * z, 2_000 * z)).wait();
      }
      const entries: Entry[] = [];
      for (let z = 1; z <= zones; z++) {
        const meter = await addMeter(f, 3_000 + z, f.alice, z, 8_000n); // 2,000 Wh per interval
        const zb = BigInt(z);
        entries.push(
          { trader: f.alice, order: sell(z, 1_000n, FLOOR + 7_919n * zb, meter) },
          { trader: f.bob, order: buy(z, 800n, CEILING - 5_003n * zb) },
        );
      }
      const { tx, book, result, commitments } = await runBook(g, entries);
      const receipt = await tx.wait();
      expect(receipt?.status).to.equal(1);
      expect((await auction.zonesOf(f.id)).length).to.equal(zones);
      await expectMatchesReference(g, book, result, entries, commitments);
      return receipt!;
    }

    it("test_clear_tickSizeOneWithMaxZonesStaysWithinGasBound", async function () {
      // Clearing walks the summary bitmap to the non-empty tick words, so its cost follows the orders, not
      // (ceiling − floor) / tick: with a tick of 1 the day's range is 350,001 ticks (1,368 bitmap words per zone),
      // which a walk over every word of every zone could not clear within this bound.
      const f = await loadFixture(commitPhaseFixture);
      const receipt = await clearTickOneAtMaxZones(f);
      expect(receipt.gasUsed).to.be.lessThan(3_000_000n, `clear() used ${receipt.gasUsed} gas`);
    });

    it("test_clear_tickSizeOneGasDoesNotGrowWithTheRange", async function () {
      // Clearing walks three bitmap levels (top words of 2^24 ticks, summary words of 2^16, tick words of 2^8)
      // down to the non-empty tick words only: the same book under a ten times higher ceiling (ten times the
      // range in ticks) clears within the same bound.
      const f = await loadFixture(commitPhaseFixture);
      const ceilingFeed = await deployFeed(f, FEED_DECIMALS, 10n * CEILING_ANSWER); // 4.00 per kWh
      const receipt = await clearTickOneAtMaxZones(f, ceilingFeed);
      expect(receipt.gasUsed).to.be.lessThan(3_000_000n, `clear() used ${receipt.gasUsed} gas`);
    });

    describe("random books against the reference", function () {
      for (let seed = 1; seed <= RANDOM_BOOKS; seed++) {
        it(`test_clear_randomBookMatchesReference_seed${seed}`, async function () {
          const f = await loadFixture(commitPhaseFixture);
          const raw = randomBook(seed, { maxOrders: Number(PARAMS.maxOrders) - 1 });
          // Registry zones 100 + z (same order), capacities in W (Wh × 3600 / 900); each sell order gets its own
          // meter of alice whose capacity over one interval is exactly the order's quantity.
          for (const z of raw.zones) {
            await (await f.system.registry.setZone(100 + z.zone, z.exportCapWh * 4n, z.importCapWh * 4n)).wait();
          }
          const entries: Entry[] = [];
          for (const [i, o] of raw.orders.entries()) {
            const zone = 100 + o.zone;
            if (o.side === "buy") {
              entries.push({ trader: i % 2 === 0 ? f.bob : f.stranger, order: buy(zone, o.quantityWh, o.limitPrice) });
            } else {
              const meter = await addMeter(f, 1_000 + i, f.alice, zone, o.quantityWh * 4n);
              entries.push({ trader: f.alice, order: sell(zone, o.quantityWh, o.limitPrice, meter) });
            }
          }
          // One commitment is never revealed (it sets the bounds of an otherwise empty book).
          const hidden = await commitOrder(f, f.bob, f.id, buy(100, 1n, FLOOR), USD, salt("hidden"));
          const { book: onChainBook, commitments } = await runBook(f, entries);
          const book: Book = {
            ...onChainBook,
            zones: raw.zones.map((z) => ({ ...z, zone: 100 + z.zone })),
          };
          await expectMatchesReference(f, book, clearBook(book), entries, commitments);
          expect(await f.auction.fillOf(f.id, f.bob.address, hidden)).to.deep.equal([0n, 0n]);
        });
      }
    });
  });

  describe("withdraw", function () {
    it("test_withdraw_unrevealedAfterGateClosurePaysPenaltyToTreasury", async function () {
      const f = await loadFixture(revealedFixture);
      await toPhase(f, f.id, "clearing");
      const collateral = f.collateral.aliceHidden;
      const penalty = (collateral * PARAMS.nonRevealPenaltyBps) / 10_000n;
      const tx = f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden);
      await expect(tx)
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.alice.address, f.c.aliceHidden, collateral - penalty, penalty);
      await expect(tx).to.changeTokenBalances(
        ethers,
        f.token,
        [f.alice, f.treasury, f.auction],
        [collateral - penalty, penalty, -collateral],
      );
    });

    it("test_withdraw_unrevealedAfterClearingPaysPenaltyToTreasury", async function () {
      const f = await loadFixture(clearedFixture);
      const collateral = f.collateral.aliceHidden;
      const penalty = collateral / 2n;
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden)).to.changeTokenBalances(
        ethers,
        f.token,
        [f.alice, f.treasury],
        [collateral - penalty, penalty],
      );
    });

    it("test_withdraw_revertsForUnrevealedDuringRevealPhase", async function () {
      const f = await loadFixture(revealedFixture);
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Reveal);
    });

    it("test_withdraw_revertsForUnrevealedDuringCommitPhase", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const c = await commitOrder(f, f.alice, f.id, buy(1, 1_000n, 200_000n), USD, salt(1));
      await expect(f.auction.connect(f.alice).withdraw(f.id, c))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Commit);
    });

    it("test_withdraw_refundsRevealedUnfilledOrderInFull", async function () {
      const f = await loadFixture(clearedFixture);
      expect(await f.auction.fillOf(f.id, f.stranger.address, f.c.strangerBuy)).to.deep.equal([0n, 125_000n]);
      const collateral = f.collateral.strangerBuy;
      const tx = f.auction.connect(f.stranger).withdraw(f.id, f.c.strangerBuy);
      await expect(tx)
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.stranger.address, f.c.strangerBuy, collateral, 0n);
      await expect(tx).to.changeTokenBalances(
        ethers,
        f.token,
        [f.stranger, f.treasury, f.auction],
        [collateral, 0n, -collateral],
      );
    });

    it("test_withdraw_revertsForRevealedOrderBeforeClearing", async function () {
      const f = await loadFixture(revealedFixture);
      await expect(f.auction.connect(f.stranger).withdraw(f.id, f.c.strangerBuy))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Cleared, PHASE.Reveal);
      await toPhase(f, f.id, "clearing");
      await expect(f.auction.connect(f.stranger).withdraw(f.id, f.c.strangerBuy))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Cleared, PHASE.Clearing);
    });

    it("test_withdraw_revertsForFilledOrder", async function () {
      const f = await loadFixture(clearedFixture);
      // Λ = [100,000, 150,000]: the price is its midpoint.
      expect(await f.auction.systemPrice(f.id)).to.equal(125_000n);
      expect(await f.auction.fillOf(f.id, f.alice.address, f.c.aliceSell)).to.deep.equal([1_000n, 125_000n]);
      expect(await f.auction.fillOf(f.id, f.bob.address, f.c.bobBuy)).to.deep.equal([1_000n, 125_000n]);
      // A fill is the trader's: the same commitment read for anyone else is no order.
      expect(await f.auction.fillOf(f.id, f.bob.address, f.c.aliceSell)).to.deep.equal([0n, 0n]);
      expect(await f.auction.fillOf(f.id, f.alice.address, f.c.bobBuy)).to.deep.equal([0n, 0n]);
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceSell))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCollateralLocked")
        .withArgs(f.id, f.c.aliceSell, 1_000n);
      await expect(f.auction.connect(f.bob).withdraw(f.id, f.c.bobBuy))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCollateralLocked")
        .withArgs(f.id, f.c.bobBuy, 1_000n);
    });

    it("test_withdraw_revertsForPartiallyFilledOrder", async function () {
      const f = await loadFixture(commitPhaseFixture);
      const [m0, m1] = f.meters.map((m) => m.address);
      const entries: Entry[] = [
        { trader: f.alice, order: sell(1, 1_000n, 100_000n, m0) },
        { trader: f.alice, order: sell(1, 1_000n, 100_000n, m1) },
        { trader: f.bob, order: buy(1, 1_500n, 150_000n) },
      ];
      const { commitments } = await runBook(f, entries);
      expect(await f.auction.fillOf(f.id, f.alice.address, commitments[0])).to.deep.equal([750n, 100_000n]);
      await expect(f.auction.connect(f.alice).withdraw(f.id, commitments[0]))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionCollateralLocked")
        .withArgs(f.id, commitments[0], 750n);
    });

    it("test_withdraw_revertsOnSecondWithdraw", async function () {
      const f = await loadFixture(clearedFixture);
      await (await f.auction.connect(f.stranger).withdraw(f.id, f.c.strangerBuy)).wait();
      await expect(f.auction.connect(f.stranger).withdraw(f.id, f.c.strangerBuy))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(f.id, f.c.strangerBuy);
    });

    it("test_withdraw_revertsForSomeoneElsesCommitment", async function () {
      const f = await loadFixture(clearedFixture);
      // bob never made these commitments: withdraw looks up his own record, and he has none.
      await expect(f.auction.connect(f.bob).withdraw(f.id, f.c.strangerBuy))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
        .withArgs(f.id, f.c.strangerBuy);
      await expect(f.auction.connect(f.bob).withdraw(f.id, f.c.aliceHidden))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
        .withArgs(f.id, f.c.aliceHidden);
      // A commitment of another interval is unknown here, even to its trader.
      await expect(f.auction.connect(f.stranger).withdraw(f.id + 1n, f.c.strangerBuy))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
        .withArgs(f.id + 1n, f.c.strangerBuy);
      // The owners' records are untouched: stranger still withdraws in full, alice less the penalty.
      await expect(f.auction.connect(f.stranger).withdraw(f.id, f.c.strangerBuy))
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.stranger.address, f.c.strangerBuy, f.collateral.strangerBuy, 0n);
      const penalty = (f.collateral.aliceHidden * PARAMS.nonRevealPenaltyBps) / 10_000n;
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden))
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.alice.address, f.c.aliceHidden, f.collateral.aliceHidden - penalty, penalty);
    });

    it("test_withdraw_nonRevealerTryingToWithdrawInFull", async function () {
      const f = await loadFixture(revealedFixture);
      const collateral = f.collateral.aliceHidden;
      const penalty = collateral / 2n;
      const before = await tokenBalance(f, f.alice.address);
      // Not while reveals are open…
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Reveal);
      // …and after gate closure only the collateral minus the penalty comes back.
      await toPhase(f, f.id, "clearing");
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden))
        .to.emit(f.auction, "CollateralWithdrawn")
        .withArgs(f.id, f.alice.address, f.c.aliceHidden, collateral - penalty, penalty);
      expect(await tokenBalance(f, f.alice.address)).to.equal(before + collateral - penalty);
      expect(await tokenBalance(f, f.treasury)).to.equal(penalty);
      // No second withdrawal, no late reveal, not even after clearing.
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(f.id, f.c.aliceHidden);
      await expect(f.auction.connect(f.alice).reveal(f.id, f.orders.aliceHidden, salt("aliceHidden")))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Reveal, PHASE.Clearing);
      await (await f.auction.clear(f.id)).wait();
      await expect(f.auction.connect(f.alice).withdraw(f.id, f.c.aliceHidden))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(f.id, f.c.aliceHidden);
      expect(await tokenBalance(f, f.alice.address)).to.equal(before + collateral - penalty);
      // What stays in the auction is exactly the other traders' collateral.
      const others = f.collateral.aliceSell + f.collateral.bobBuy + f.collateral.strangerBuy;
      expect(await tokenBalance(f, f.auction)).to.equal(others);
    });
  });
});
