import { expect } from "chai";
import {
  CEILING,
  CEILING_ANSWER,
  FLOOR,
  FLOOR_ANSWER,
  PARAMS,
  PHASE,
  USD,
  buy,
  commitOrder,
  deployAuctionFixture,
  futureInterval,
  salt,
  sell,
  toPhase,
} from "../helpers/auction.js";
import { ethers, networkHelpers } from "../helpers/fixture.js";

/*
 * Stale and negative price feeds (docs/auction.md, "Stale or missing price feeds"): committing reads no feed, so
 * commits go through whatever the feeds say. An auction's bounds are read from the two Chainlink tariff feeds once,
 * by the permissionless `open` (commit or reveal phase) or, if nobody opened it, by the first reveal; a non-positive
 * or stale answer, or a floor above the ceiling, makes that call revert and leaves the bounds unset. Once set, the
 * bounds never move. If they are never set (the feeds stale all through the reveal window), nobody could reveal, so
 * an unrevealed commitment withdraws its whole collateral without penalty.
 */

const { loadFixture, time } = networkHelpers;

/** alice's bid, committed in the fixture with {USD} of collateral. */
const BID = buy(1, 1_000n, 200_000n);

/** The auction fixture with an interval at the start of its commit phase (feeds just refreshed), alice's bid committed. */
async function commitPhase() {
  const f = await deployAuctionFixture();
  const id = await futureInterval();
  await toPhase(f, id, "commit");
  const c = await commitOrder(f, f.alice, id, BID, USD, salt("first"));
  return { ...f, id, c };
}

type F = Awaited<ReturnType<typeof commitPhase>>;

/** Moves the clock to the start of the reveal phase without refreshing the feeds (unlike {toPhase}). */
async function toRevealStart(f: F) {
  await time.increaseTo((await f.auction.schedule(f.id)).revealStart);
}

/**
 * With the feeds as they are, `open` by anyone and — in the reveal phase — alice's first reveal revert with
 * `error(...args)`; the bounds stay unset, no order enters the book and alice's collateral stays locked.
 */
async function expectBlocked(f: F, phase: "commit" | "reveal", error: string, args: unknown[]) {
  const locked = await f.token.balanceOf(await f.auction.getAddress());
  await expect(f.auction.connect(f.stranger).open(f.id))
    .to.be.revertedWithCustomError(f.auction, error)
    .withArgs(...args);
  if (phase === "reveal") {
    await expect(f.auction.connect(f.alice).reveal(f.id, BID, salt("first")))
      .to.be.revertedWithCustomError(f.auction, error)
      .withArgs(...args);
  }
  expect(await f.auction.bounds(f.id)).to.deep.equal([0n, 0n]);
  expect(await f.auction.orderCount(f.id)).to.equal(0n);
  expect(await f.token.balanceOf(await f.auction.getAddress())).to.equal(locked);
}

/** A commitment of bob's goes through (its collateral locked) without reading the feeds. */
async function expectCommitGoesThrough(f: F, label: string) {
  const c = await f.auction.commitmentOf(f.id, f.bob.address, BID, salt(label));
  const tx = f.auction.connect(f.bob).commit(f.id, c, USD);
  await expect(tx).to.emit(f.auction, "OrderCommitted").withArgs(f.id, f.bob.address, c, USD);
  await expect(tx).to.not.emit(f.auction, "BoundsSet");
  await expect(tx).to.changeTokenBalances(ethers, f.token, [f.bob.address, await f.auction.getAddress()], [-USD, USD]);
}

describe("adversarial: stale and negative price feeds", function () {
  it("test_priceFeeds_zeroOrNegativeAnswersBlockOpeningAndTheFirstRevealButNotCommits", async function () {
    const f = await loadFixture(commitPhase);
    const feeds = [
      [f.floorFeed, FLOOR_ANSWER],
      [f.ceilingFeed, CEILING_ANSWER],
    ] as const;
    for (const [feed, good] of feeds) {
      for (const answer of [0n, -1n, -CEILING_ANSWER]) {
        await (await feed.updateAnswer(answer)).wait();
        const args = [await feed.getAddress(), answer, await feed.latestTimestamp()];
        await expectBlocked(f, "commit", "BatchAuctionStaleFeed", args);
        await expectCommitGoesThrough(f, `commit ${await feed.getAddress()} ${answer}`);
      }
      await (await feed.updateAnswer(good)).wait();
    }
    // The same answers in the reveal phase block the first reveal (which would fix the bounds) as well as `open`.
    await toRevealStart(f);
    for (const [feed, good] of feeds) {
      for (const answer of [0n, -1n, -CEILING_ANSWER]) {
        await (await feed.updateAnswer(answer)).wait();
        await expectBlocked(f, "reveal", "BatchAuctionStaleFeed", [
          await feed.getAddress(),
          answer,
          await feed.latestTimestamp(),
        ]);
      }
      await (await feed.updateAnswer(good)).wait();
    }
    // Good answers again: the first reveal fixes the bounds and enters the book.
    const c = await f.auction.commitmentOf(f.id, f.alice.address, BID, salt("first"));
    await expect(f.auction.connect(f.alice).reveal(f.id, BID, salt("first")))
      .to.emit(f.auction, "BoundsSet")
      .withArgs(f.id, FLOOR, CEILING)
      .and.to.emit(f.auction, "OrderRevealed")
      .withArgs(f.id, f.alice.address, c, BID.side, BID.zone, BID.quantityWh, BID.limitPrice, BID.meter);
    expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    expect(await f.auction.orderCount(f.id)).to.equal(1n);
  });

  it("test_priceFeeds_anAnswerOlderThanMaxFeedAgeBlocksOpeningTheAuction_toTheSecond", async function () {
    const f = await loadFixture(commitPhase);
    for (const feed of [f.floorFeed, f.ceilingFeed]) {
      const answer = await feed.latestAnswer();
      const openAt = BigInt(await time.latest()) + 10n;
      // One second too old for the block of `open`…
      const stale = openAt - PARAMS.maxFeedAge - 1n;
      await (await feed.updateRoundData(7n, answer, stale, stale)).wait();
      await time.setNextBlockTimestamp(openAt);
      await expectBlocked(f, "commit", "BatchAuctionStaleFeed", [await feed.getAddress(), answer, stale]);
      // …while commits still go through on the stale feed.
      await expectCommitGoesThrough(f, `stale ${await feed.getAddress()}`);
      await (await feed.updateAnswer(answer)).wait();
    }
    // …while exactly maxFeedAge old is still fresh.
    const openAt = BigInt(await time.latest()) + 10n;
    const oldest = openAt - PARAMS.maxFeedAge;
    await (await f.floorFeed.updateRoundData(8n, FLOOR_ANSWER, oldest, oldest)).wait();
    await time.setNextBlockTimestamp(openAt);
    await expect(f.auction.connect(f.stranger).open(f.id))
      .to.emit(f.auction, "BoundsSet")
      .withArgs(f.id, FLOOR, CEILING);
    expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    expect(await f.auction.orderCount(f.id)).to.equal(0n);
  });

  it("test_priceFeeds_anAnswerOlderThanMaxFeedAgeBlocksTheFirstReveal_toTheSecond", async function () {
    const f = await loadFixture(commitPhase);
    await toRevealStart(f);
    for (const feed of [f.floorFeed, f.ceilingFeed]) {
      const answer = await feed.latestAnswer();
      const revealAt = BigInt(await time.latest()) + 10n;
      // One second too old for the block of `open` (and of the reveal right after it, older still)…
      const stale = revealAt - PARAMS.maxFeedAge - 1n;
      await (await feed.updateRoundData(7n, answer, stale, stale)).wait();
      await time.setNextBlockTimestamp(revealAt);
      await expectBlocked(f, "reveal", "BatchAuctionStaleFeed", [await feed.getAddress(), answer, stale]);
      await (await feed.updateAnswer(answer)).wait();
    }
    // …while exactly maxFeedAge old is still fresh: the first reveal fixes the bounds.
    const revealAt = BigInt(await time.latest()) + 10n;
    const oldest = revealAt - PARAMS.maxFeedAge;
    await (await f.ceilingFeed.updateRoundData(8n, CEILING_ANSWER, oldest, oldest)).wait();
    await time.setNextBlockTimestamp(revealAt);
    await expect(f.auction.connect(f.alice).reveal(f.id, BID, salt("first")))
      .to.emit(f.auction, "BoundsSet")
      .withArgs(f.id, FLOOR, CEILING);
    expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    expect(await f.auction.orderCount(f.id)).to.equal(1n);
  });

  it("test_priceFeeds_aFloorAboveTheCeilingBlocksOpeningAndTheFirstReveal", async function () {
    const f = await loadFixture(commitPhase);
    await (await f.floorFeed.updateAnswer(CEILING_ANSWER + 10_000_000n)).wait(); // 0.50 > 0.40
    await expectBlocked(f, "commit", "BatchAuctionInvertedBounds", [500_000n, CEILING]);
    await expectCommitGoesThrough(f, "inverted");
    await toRevealStart(f);
    await (await f.floorFeed.updateAnswer(CEILING_ANSWER + 10_000_000n)).wait(); // fresh again, still inverted
    await expectBlocked(f, "reveal", "BatchAuctionInvertedBounds", [500_000n, CEILING]);
  });

  it("test_priceFeeds_badFeedsAfterTheBoundsAreSetNeverMoveThemAndRevealsKeepWorking", async function () {
    for (const setBy of ["open", "firstReveal"] as const) {
      const f = await loadFixture(commitPhase);
      const above = buy(1, 500n, 3_000_000n);
      const ask = sell(1, 1_000n, 100_000n, f.meters[0].address);
      await commitOrder(f, f.bob, f.id, above, 5n * USD, salt("above"));
      await commitOrder(f, f.alice, f.id, ask, USD, salt("ask"));
      if (setBy === "open") {
        expect(await f.auction.connect(f.stranger).open.staticCall(f.id)).to.deep.equal([FLOOR, CEILING]);
        await expect(f.auction.connect(f.stranger).open(f.id))
          .to.emit(f.auction, "BoundsSet")
          .withArgs(f.id, FLOOR, CEILING);
      }
      await toRevealStart(f); // the feeds, refreshed at the commit start, are still fresh
      if (setBy === "firstReveal") {
        await expect(f.auction.connect(f.alice).reveal(f.id, BID, salt("first")))
          .to.emit(f.auction, "BoundsSet")
          .withArgs(f.id, FLOOR, CEILING);
      }
      // Both feeds go bad, the ceiling far above its old answer: the auction keeps the bounds it read.
      await (await f.floorFeed.updateAnswer(-1n)).wait();
      const weekAgo = BigInt(await time.latest()) - 7n * 86_400n;
      await (await f.ceilingFeed.updateRoundData(9n, 10n * CEILING_ANSWER, weekAgo, weekAgo)).wait();
      // `open` again returns the stored bounds and emits nothing.
      expect(await f.auction.connect(f.stranger).open.staticCall(f.id)).to.deep.equal([FLOOR, CEILING]);
      await expect(f.auction.connect(f.stranger).open(f.id)).to.not.emit(f.auction, "BoundsSet");
      expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
      await expect(f.auction.connect(f.bob).reveal(f.id, above, salt("above")))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvalidPrice")
        .withArgs(3_000_000n, FLOOR, CEILING, PARAMS.tickSize);
      const reveals: [typeof BID, string][] =
        setBy === "open"
          ? [
              [BID, "first"],
              [ask, "ask"],
            ]
          : [[ask, "ask"]];
      for (const [order, label] of reveals) {
        const tx = f.auction.connect(f.alice).reveal(f.id, order, salt(label));
        await expect(tx).to.emit(f.auction, "OrderRevealed");
        await expect(tx).to.not.emit(f.auction, "BoundsSet");
      }
      expect(await f.auction.orderCount(f.id)).to.equal(2n);
      await time.increaseTo((await f.auction.schedule(f.id)).gateClosure);
      await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 150_000n, 1_000n, 0n);
      expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    }
  });

  it("test_priceFeeds_feedsStaleThroughTheWholeRevealWindowRefundAnUnrevealedCommitmentInFull", async function () {
    const f = await loadFixture(commitPhase);
    const bobOrder = sell(2, 1_000n, 100_000n, f.meters[2].address);
    const bobC = await commitOrder(f, f.bob, f.id, bobOrder, 3n * USD, salt("bob"));
    // The floor feed stops updating before the reveal window opens and stays stale until gate closure.
    await toRevealStart(f);
    const stale = BigInt(await time.latest()) - PARAMS.maxFeedAge - 1n;
    await (await f.floorFeed.updateRoundData(7n, FLOOR_ANSWER, stale, stale)).wait();
    const staleArgs = [await f.floorFeed.getAddress(), FLOOR_ANSWER, stale];
    await expectBlocked(f, "reveal", "BatchAuctionStaleFeed", staleArgs);
    await expect(f.auction.connect(f.bob).reveal(f.id, bobOrder, salt("bob")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed")
      .withArgs(...staleArgs);
    const gateClosure = (await f.auction.schedule(f.id)).gateClosure;
    // The window's last two seconds: `open` at gateClosure − 2, alice's reveal at gateClosure − 1.
    await time.setNextBlockTimestamp(gateClosure - 2n);
    await expectBlocked(f, "reveal", "BatchAuctionStaleFeed", staleArgs);
    // After gate closure the bounds can no longer be set: `open` is refused for the phase.
    await time.increaseTo(gateClosure);
    await expect(f.auction.connect(f.stranger).open(f.id))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Commit, PHASE.Clearing);
    expect(await f.auction.bounds(f.id)).to.deep.equal([0n, 0n]);
    // Nobody could reveal: each unrevealed commitment withdraws its whole collateral, the treasury gets nothing.
    const auction = await f.auction.getAddress();
    const tx = f.auction.connect(f.alice).withdraw(f.id, f.c);
    await expect(tx).to.emit(f.auction, "CollateralWithdrawn").withArgs(f.id, f.alice.address, f.c, USD, 0n);
    await expect(tx).to.changeTokenBalances(ethers, f.token, [f.alice.address, f.treasury, auction], [USD, 0n, -USD]);
    await expect(f.auction.connect(f.bob).withdraw(f.id, bobC))
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.bob.address, bobC, 3n * USD, 0n);
    expect(await f.token.balanceOf(f.treasury)).to.equal(0n);
    expect(await f.token.balanceOf(auction)).to.equal(0n);
    await expect(f.auction.connect(f.alice).withdraw(f.id, f.c))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyWithdrawn")
      .withArgs(f.id, f.c);
  });
});
