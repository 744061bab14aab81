import { expect } from "chai";
import {
  CEILING,
  CEILING_ANSWER,
  FLOOR,
  FLOOR_ANSWER,
  PARAMS,
  USD,
  buy,
  commitOrder,
  deployAuctionFixture,
  futureInterval,
  salt,
  sell,
  toPhase,
} from "../helpers/auction.js";
import { networkHelpers } from "../helpers/fixture.js";

/*
 * Stale and negative price feeds (docs/auction.md, "Stale or missing price feeds"): an auction's bounds are read from
 * the two Chainlink tariff feeds at its first commitment; a non-positive or stale answer, or a floor above the
 * ceiling, blocks that commitment; once set, the bounds never move.
 */

const { loadFixture, time } = networkHelpers;

/** The auction fixture with an interval at the start of its commit phase (feeds just refreshed). */
async function commitPhase() {
  const f = await deployAuctionFixture();
  const id = await futureInterval();
  await toPhase(f, id, "commit");
  const c = await f.auction.commitmentOf(id, f.alice.address, buy(1, 1_000n, 200_000n), salt("first"));
  return { ...f, id, c };
}

type F = Awaited<ReturnType<typeof commitPhase>>;

/** The first commitment must revert with `BatchAuctionStaleFeed(feed, answer, updatedAt)` and leave nothing. */
async function expectStale(f: F, feed: string, answer: bigint, updatedAt: bigint) {
  const before = await f.token.balanceOf(f.alice.address);
  await expect(f.auction.connect(f.alice).commit(f.id, f.c, USD))
    .to.be.revertedWithCustomError(f.auction, "BatchAuctionStaleFeed")
    .withArgs(feed, answer, updatedAt);
  expect(await f.token.balanceOf(f.alice.address)).to.equal(before);
  expect(await f.auction.commitCount(f.id)).to.equal(0n);
  expect(await f.auction.bounds(f.id)).to.deep.equal([0n, 0n]);
}

describe("adversarial: stale and negative price feeds", function () {
  it("test_priceFeeds_zeroOrNegativeAnswersBlockTheFirstCommitment", async function () {
    const f = await loadFixture(commitPhase);
    for (const [feed, good] of [
      [f.floorFeed, FLOOR_ANSWER],
      [f.ceilingFeed, CEILING_ANSWER],
    ] as const) {
      for (const answer of [0n, -1n, -CEILING_ANSWER]) {
        await (await feed.updateAnswer(answer)).wait();
        await expectStale(f, await feed.getAddress(), answer, await feed.latestTimestamp());
      }
      await (await feed.updateAnswer(good)).wait();
    }
    await expect(f.auction.connect(f.alice).commit(f.id, f.c, USD))
      .to.emit(f.auction, "BoundsSet")
      .withArgs(f.id, FLOOR, CEILING);
  });

  it("test_priceFeeds_anAnswerOlderThanMaxFeedAgeBlocksTheFirstCommitment_toTheSecond", async function () {
    const f = await loadFixture(commitPhase);
    for (const feed of [f.floorFeed, f.ceilingFeed]) {
      const answer = await feed.latestAnswer();
      const commitAt = BigInt(await time.latest()) + 10n;
      // One second too old for the commitment's block…
      const stale = commitAt - PARAMS.maxFeedAge - 1n;
      await (await feed.updateRoundData(7n, answer, stale, stale)).wait();
      await time.setNextBlockTimestamp(commitAt);
      await expectStale(f, await feed.getAddress(), answer, stale);
      await (await feed.updateAnswer(answer)).wait();
    }
    // …while exactly maxFeedAge old is still fresh.
    const commitAt = BigInt(await time.latest()) + 10n;
    const oldest = commitAt - PARAMS.maxFeedAge;
    await (await f.floorFeed.updateRoundData(8n, FLOOR_ANSWER, oldest, oldest)).wait();
    await time.setNextBlockTimestamp(commitAt);
    await expect(f.auction.connect(f.alice).commit(f.id, f.c, USD))
      .to.emit(f.auction, "BoundsSet")
      .withArgs(f.id, FLOOR, CEILING);
  });

  it("test_priceFeeds_aFloorAboveTheCeilingBlocksTheFirstCommitment", async function () {
    const f = await loadFixture(commitPhase);
    await (await f.floorFeed.updateAnswer(CEILING_ANSWER + 10_000_000n)).wait(); // 0.50 > 0.40
    await expect(f.auction.connect(f.alice).commit(f.id, f.c, USD))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvertedBounds")
      .withArgs(500_000n, CEILING);
    expect(await f.auction.commitCount(f.id)).to.equal(0n);
  });

  it("test_priceFeeds_badFeedsAfterTheFirstCommitmentNeverMoveTheAuctionsBounds", async function () {
    const f = await loadFixture(commitPhase);
    await (await f.auction.connect(f.alice).commit(f.id, f.c, USD)).wait();
    // Both feeds go bad, then are pushed far apart: the auction keeps the bounds it read.
    await (await f.floorFeed.updateAnswer(-1n)).wait();
    const weekAgo = BigInt(await time.latest()) - 7n * 86_400n;
    await (await f.ceilingFeed.updateRoundData(9n, 10n * CEILING_ANSWER, weekAgo, weekAgo)).wait();
    const ask = sell(1, 1_000n, 100_000n, f.meters[0].address);
    await commitOrder(f, f.bob, f.id, buy(1, 500n, 3_000_000n), 5n * USD, salt("above"));
    await commitOrder(f, f.alice, f.id, ask, USD, salt("ask"));
    expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    await toPhase(f, f.id, "reveal");
    await expect(f.auction.connect(f.bob).reveal(f.id, buy(1, 500n, 3_000_000n), salt("above")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionInvalidPrice")
      .withArgs(3_000_000n, FLOOR, CEILING, PARAMS.tickSize);
    await (await f.auction.connect(f.alice).reveal(f.id, buy(1, 1_000n, 200_000n), salt("first"))).wait();
    await (await f.auction.connect(f.alice).reveal(f.id, ask, salt("ask"))).wait();
    await toPhase(f, f.id, "clearing");
    await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 150_000n, 1_000n, 0n);
    expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
  });
});
