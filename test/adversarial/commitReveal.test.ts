import { expect } from "chai";
import { AbiCoder, ZeroAddress, keccak256, solidityPacked } from "ethers";
import {
  CEILING,
  FLOOR,
  PARAMS,
  PHASE,
  USD,
  buy,
  commitOrder,
  commitmentOffChain,
  deployAuction,
  deployAuctionFixture,
  futureInterval,
  salt,
  sell,
  toPhase,
  type Order,
} from "../helpers/auction.js";
import { ethers, networkHelpers } from "../helpers/fixture.js";
import { twinChains } from "./helpers.js";

/*
 * Attack classes of the call market's commit–reveal scheme (docs/auction.md): bidders who never reveal, copied and
 * replayed commitments and reveals (another trader, interval, auction contract or chain), salt reuse, and encoding
 * ambiguity in what a commitment binds.
 */

const { loadFixture, time } = networkHelpers;

/** The auction fixture with an interval in its commit phase. */
async function commitPhase() {
  const f = await deployAuctionFixture();
  const id = await futureInterval();
  await toPhase(f, id, "commit");
  return { ...f, id };
}

const penaltyOf = (collateral: bigint) => (collateral * PARAMS.nonRevealPenaltyBps) / 10_000n;

describe("adversarial: non-revealing bidders", function () {
  it("test_nonRevealingBidder_forfeitsThePenaltyToTheTreasuryAndNothingElse", async function () {
    const f = await loadFixture(commitPhase);
    const collateral = 3n * USD;
    const c = await commitOrder(f, f.stranger, f.id, buy(1, 1_000n, 200_000n), collateral, salt("silent"));
    // Anyone opens the auction: its bounds are set, so a reveal was possible and not revealing is the bidder's choice
    // (the penalty applies only with the bounds set and room left in the book).
    await expect(f.auction.connect(f.bob).open(f.id)).to.emit(f.auction, "BoundsSet").withArgs(f.id, FLOOR, CEILING);
    // No withdrawal while the auction is open: a bidder cannot pull its collateral to dodge the outcome.
    await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Clearing, PHASE.Commit);
    await toPhase(f, f.id, "reveal");
    await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Clearing, PHASE.Reveal);
    await toPhase(f, f.id, "clearing");
    expect(await f.auction.bounds(f.id)).to.deep.equal([FLOOR, CEILING]);
    expect(await f.auction.orderCount(f.id)).to.be.lessThan(PARAMS.maxOrders);
    const penalty = penaltyOf(collateral);
    const tx = f.auction.connect(f.stranger).withdraw(f.id, c);
    await expect(tx)
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.stranger.address, c, collateral - penalty, penalty);
    await expect(tx).to.changeTokenBalances(
      ethers,
      f.token,
      [f.stranger.address, f.treasury, await f.auction.getAddress()],
      [collateral - penalty, penalty, -collateral],
    );
    await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyWithdrawn")
      .withArgs(f.id, c);
  });

  it("test_nonRevealingBidder_cannotRevealLateOrEarly", async function () {
    const f = await loadFixture(commitPhase);
    const order = buy(1, 1_000n, 200_000n);
    await commitOrder(f, f.stranger, f.id, order, 2n * USD, salt("late"));
    await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt("late")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Reveal, PHASE.Commit);
    await toPhase(f, f.id, "clearing");
    await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt("late")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Reveal, PHASE.Clearing);
    await (await f.auction.clear(f.id)).wait();
    await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt("late")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Reveal, PHASE.Cleared);
  });

  it("test_nonRevealingBidder_doesNotMoveTheClearing", async function () {
    // A huge hidden bid that is never revealed: the auction clears on the revealed book alone.
    const f = await loadFixture(commitPhase);
    const bid = buy(2, 1_000n, 200_000n);
    const ask = sell(2, 1_000n, 100_000n, f.meters[2].address);
    await commitOrder(f, f.stranger, f.id, buy(2, 9_000_000n, CEILING), 5_000n * USD, salt("whale"));
    const cBid = await commitOrder(f, f.alice, f.id, bid, USD, salt("bid"));
    const cAsk = await commitOrder(f, f.bob, f.id, ask, USD, salt("ask"));
    await toPhase(f, f.id, "reveal");
    await (await f.auction.connect(f.alice).reveal(f.id, bid, salt("bid"))).wait();
    await (await f.auction.connect(f.bob).reveal(f.id, ask, salt("ask"))).wait();
    await toPhase(f, f.id, "clearing");
    await expect(f.auction.clear(f.id)).to.emit(f.auction, "AuctionCleared").withArgs(f.id, 150_000n, 1_000n, 0n);
    expect(await f.auction.fillOf(f.id, f.alice.address, cBid)).to.deep.equal([1_000n, 150_000n]);
    expect(await f.auction.fillOf(f.id, f.bob.address, cAsk)).to.deep.equal([1_000n, 150_000n]);
  });

  it("test_nonRevealingBidder_inAVoidAuctionStillPaysThePenaltyWhileRevealedOrdersGetEverythingBack", async function () {
    const f = await loadFixture(commitPhase);
    const bid = buy(1, 1_000n, 200_000n);
    const silent = await commitOrder(f, f.stranger, f.id, bid, 2n * USD, salt("silent"));
    const open = await commitOrder(f, f.alice, f.id, bid, 2n * USD, salt("open"));
    await toPhase(f, f.id, "reveal");
    await (await f.auction.connect(f.alice).reveal(f.id, bid, salt("open"))).wait();
    // Nobody clears before delivery: the auction is void.
    await time.increaseTo((await f.auction.schedule(f.id)).deliveryStart);
    expect(await f.auction.phase(f.id)).to.equal(BigInt(PHASE.Void));
    await expect(f.auction.connect(f.stranger).withdraw(f.id, silent))
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.stranger.address, silent, 2n * USD - penaltyOf(2n * USD), penaltyOf(2n * USD));
    await expect(f.auction.connect(f.alice).withdraw(f.id, open))
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.alice.address, open, 2n * USD, 0n);
    await expect(f.auction.clear(f.id))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Clearing, PHASE.Void);
  });
});

describe("adversarial: reveal copying and replay across auctions, chains and contracts", function () {
  it("test_revealReplay_copiedCommitmentAndRevealAreTheCopiersOwnAndNeverOpen", async function () {
    const f = await loadFixture(commitPhase);
    const order = buy(1, 1_000n, 200_000n);
    const c = await f.auction.commitmentOf(f.id, f.alice.address, order, salt(1));
    // The copier front-runs alice's commit with her hash; alice's own commit still goes through.
    await expect(f.auction.connect(f.stranger).commit(f.id, c, USD))
      .to.emit(f.auction, "OrderCommitted")
      .withArgs(f.id, f.stranger.address, c, USD);
    await expect(f.auction.connect(f.alice).commit(f.id, c, 2n * USD))
      .to.emit(f.auction, "OrderCommitted")
      .withArgs(f.id, f.alice.address, c, 2n * USD);
    await toPhase(f, f.id, "reveal");
    // The copier front-runs alice's reveal with her order and salt: the hash binds the sender, so it opens nothing.
    const copierHash = await f.auction.commitmentOf(f.id, f.stranger.address, order, salt(1));
    expect(copierHash).to.not.equal(c);
    await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt(1)))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
      .withArgs(f.id, copierHash);
    await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(1)))
      .to.emit(f.auction, "OrderRevealed")
      .withArgs(f.id, f.alice.address, c, 0, 1, 1_000n, 200_000n, ZeroAddress);
    // Replaying alice's reveal again, by anyone, finds it revealed or unknown.
    await expect(f.auction.connect(f.alice).reveal(f.id, order, salt(1)))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyRevealed")
      .withArgs(f.id, c);
    await expect(f.auction.connect(f.stranger).reveal(f.id, order, salt(1)))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
      .withArgs(f.id, copierHash);
    // The copy costs the copier its penalty and leaves alice's record untouched.
    await toPhase(f, f.id, "clearing");
    await expect(f.auction.connect(f.stranger).withdraw(f.id, c))
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.stranger.address, c, USD - penaltyOf(USD), penaltyOf(USD));
    await (await f.auction.clear(f.id)).wait();
    await expect(f.auction.connect(f.alice).withdraw(f.id, c))
      .to.emit(f.auction, "CollateralWithdrawn")
      .withArgs(f.id, f.alice.address, c, 2n * USD, 0n);
  });

  it("test_revealReplay_anotherIntervalsAuctionRejectsTheSameCommitmentAndReveal", async function () {
    const f = await loadFixture(deployAuctionFixture);
    const t = await futureInterval();
    const next = t + 1n;
    const order = buy(1, 1_000n, 200_000n);
    // Both auctions are in their commit phase from the later one's commit start.
    await toPhase(f, next, "commit");
    expect(await f.auction.phase(t)).to.equal(BigInt(PHASE.Commit));
    const c = await commitOrder(f, f.alice, t, order, USD, salt("t"));
    // The hash of interval t committed to interval t + 1 (by alice herself, or replayed by anyone)…
    await (await f.auction.connect(f.alice).commit(next, c, USD)).wait();
    await (await f.auction.connect(f.stranger).commit(next, c, USD)).wait();
    await toPhase(f, t, "reveal");
    await (await f.auction.connect(f.alice).reveal(t, order, salt("t"))).wait();
    await toPhase(f, next, "reveal");
    // …cannot be opened there: the reveal hashes the interval it is sent to.
    const inNext = await f.auction.commitmentOf(next, f.alice.address, order, salt("t"));
    expect(inNext).to.not.equal(c);
    await expect(f.auction.connect(f.alice).reveal(next, order, salt("t")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
      .withArgs(next, inNext);
    await expect(f.auction.connect(f.stranger).reveal(next, order, salt("t")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
      .withArgs(next, await f.auction.commitmentOf(next, f.stranger.address, order, salt("t")));
  });

  it("test_revealReplay_anotherAuctionContractRejectsTheSameCommitmentAndReveal", async function () {
    const f = await loadFixture(commitPhase);
    const other = await deployAuction(f, f.token, f.floorFeed, f.ceilingFeed, f.treasury);
    await (await f.token.connect(f.alice).approve(await other.getAddress(), ethers.MaxUint256)).wait();
    const order = buy(1, 1_000n, 200_000n);
    const c = await commitOrder(f, f.alice, f.id, order, USD, salt("x"));
    await (await other.connect(f.alice).commit(f.id, c, USD)).wait();
    await toPhase(f, f.id, "reveal");
    const inOther = await other.commitmentOf(f.id, f.alice.address, order, salt("x"));
    expect(inOther).to.equal(
      commitmentOffChain(f.chainId, await other.getAddress(), f.id, f.alice.address, order, salt("x")),
    );
    expect(inOther).to.not.equal(c);
    await expect(other.connect(f.alice).reveal(f.id, order, salt("x")))
      .to.be.revertedWithCustomError(other, "BatchAuctionUnknownCommitment")
      .withArgs(f.id, inOther);
    await expect(f.auction.connect(f.alice).reveal(f.id, order, salt("x"))).to.emit(f.auction, "OrderRevealed");
  });

  it("test_revealReplay_sameAuctionAddressOnAnotherChainRejectsTheCommitmentAndReveal", async function () {
    // The same deployer deployed the same system on two chains: the auctions share an address.
    const [a, b] = await twinChains();
    const auctionAddress = await a.system.auction.getAddress();
    expect(await b.system.auction.getAddress()).to.equal(auctionAddress);
    // An interval whose auction has not opened on either chain.
    const now = BigInt(Math.max(await a.time.latest(), await b.time.latest()));
    const t = (now + 3_600n + 300n + 900n + 1_800n) / 900n + 1n;
    const order = buy(1, 1_000n, 200_000n);
    const commitStart = (await a.system.auction.schedule(t)).commitStart;
    for (const chain of [a, b]) await chain.time.increaseTo(commitStart);
    const onA = await a.system.auction.commitmentOf(t, a.alice.address, order, salt("chain"));
    const onB = await b.system.auction.commitmentOf(t, b.alice.address, order, salt("chain"));
    expect(onA).to.equal(commitmentOffChain(a.chainId, auctionAddress, t, a.alice.address, order, salt("chain")));
    expect(onB).to.equal(commitmentOffChain(b.chainId, auctionAddress, t, b.alice.address, order, salt("chain")));
    expect(onA).to.not.equal(onB);
    // alice's commitment on chain A, replayed on chain B (by her or by anyone), cannot be revealed on B.
    await (await a.system.auction.connect(a.alice).commit(t, onA, USD)).wait();
    await (await b.system.auction.connect(b.alice).commit(t, onA, USD)).wait();
    await (await b.system.auction.connect(b.bob).commit(t, onA, USD)).wait();
    const revealStart = (await a.system.auction.schedule(t)).revealStart;
    for (const chain of [a, b]) await chain.time.increaseTo(revealStart);
    await expect(a.system.auction.connect(a.alice).reveal(t, order, salt("chain"))).to.emit(
      a.system.auction,
      "OrderRevealed",
    );
    await expect(b.system.auction.connect(b.alice).reveal(t, order, salt("chain")))
      .to.be.revertedWithCustomError(b.system.auction, "BatchAuctionUnknownCommitment")
      .withArgs(t, onB);
    await expect(b.system.auction.connect(b.bob).reveal(t, order, salt("chain")))
      .to.be.revertedWithCustomError(b.system.auction, "BatchAuctionUnknownCommitment")
      .withArgs(t, await b.system.auction.commitmentOf(t, b.bob.address, order, salt("chain")));
  });
});

describe("adversarial: salt reuse", function () {
  it("test_saltReuse_sameOrderAndSaltTwiceIsRejectedAndChargedOnce", async function () {
    const f = await loadFixture(commitPhase);
    const order = buy(1, 1_000n, 200_000n);
    const c = await commitOrder(f, f.alice, f.id, order, USD, salt("once"));
    const before = await f.token.balanceOf(f.alice.address);
    await expect(f.auction.connect(f.alice).commit(f.id, c, USD))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionCommitmentExists")
      .withArgs(f.id, c);
    expect(await f.token.balanceOf(f.alice.address)).to.equal(before);
    expect(await f.token.balanceOf(await f.auction.getAddress())).to.equal(USD);
    // The one commitment opens once and is one order in the book.
    await toPhase(f, f.id, "reveal");
    await (await f.auction.connect(f.alice).reveal(f.id, order, salt("once"))).wait();
    await expect(f.auction.connect(f.alice).reveal(f.id, order, salt("once")))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyRevealed")
      .withArgs(f.id, c);
    expect(await f.auction.orderCount(f.id)).to.equal(1n);
  });

  it("test_saltReuse_differentOrdersUnderOneSaltAreDistinctAndEachOpensOnce", async function () {
    const f = await loadFixture(commitPhase);
    const a = buy(1, 1_000n, 200_000n);
    const b = buy(1, 2_000n, 150_000n);
    const ca = await commitOrder(f, f.alice, f.id, a, USD, salt("shared"));
    const cb = await commitOrder(f, f.alice, f.id, b, USD, salt("shared"));
    expect(ca).to.not.equal(cb);
    await toPhase(f, f.id, "reveal");
    await expect(f.auction.connect(f.alice).reveal(f.id, a, salt("shared"))).to.emit(f.auction, "OrderRevealed");
    await expect(f.auction.connect(f.alice).reveal(f.id, b, salt("shared"))).to.emit(f.auction, "OrderRevealed");
    for (const [o, c] of [
      [a, ca],
      [b, cb],
    ] as [Order, string][]) {
      await expect(f.auction.connect(f.alice).reveal(f.id, o, salt("shared")))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionAlreadyRevealed")
        .withArgs(f.id, c);
    }
  });

  it("test_saltReuse_aRevealedSaltExposesTheOtherOrderOnlyAfterCommitsClosed", async function () {
    // alice reuses a salt for two orders. Once she reveals one, an observer knows the salt and can search the
    // small order space for her other commitment's preimage — but commits closed before reveals opened, so it
    // learns the order when nobody can bid on it any more.
    const f = await loadFixture(commitPhase);
    const first = buy(1, 1_000n, 200_000n);
    const hidden = buy(1, 3_000n, 250_000n);
    await commitOrder(f, f.alice, f.id, first, USD, salt("reused"));
    const hiddenHash = await commitOrder(f, f.alice, f.id, hidden, 2n * USD, salt("reused"));
    await toPhase(f, f.id, "reveal");
    await (await f.auction.connect(f.alice).reveal(f.id, first, salt("reused"))).wait();
    const auctionAddress = await f.auction.getAddress();
    let found: Order | undefined;
    for (let q = 1_000n; q <= 5_000n && found === undefined; q += 1_000n) {
      for (let p = FLOOR; p <= CEILING && found === undefined; p += 50_000n) {
        const guess = buy(1, q, p);
        if (commitmentOffChain(f.chainId, auctionAddress, f.id, f.alice.address, guess, salt("reused")) === hiddenHash)
          found = guess;
      }
    }
    expect(found).to.deep.equal(hidden);
    const c = await f.auction.commitmentOf(f.id, f.stranger.address, buy(1, 3_000n, 240_000n), salt(9));
    await expect(f.auction.connect(f.stranger).commit(f.id, c, USD))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
      .withArgs(f.id, PHASE.Commit, PHASE.Reveal);
  });

  it("test_saltReuse_sameOrderAndSaltInAnotherIntervalOrByAnotherTraderIsAnotherCommitment", async function () {
    const f = await loadFixture(deployAuctionFixture);
    const t = await futureInterval();
    await toPhase(f, t + 1n, "commit");
    const order = buy(1, 1_000n, 200_000n);
    const hashes = [
      await commitOrder(f, f.alice, t, order, USD, salt("s")),
      await commitOrder(f, f.alice, t + 1n, order, USD, salt("s")),
      await commitOrder(f, f.bob, t, order, USD, salt("s")),
    ];
    expect(new Set(hashes).size).to.equal(3);
    // Each opens in its own auction, as its own order: two in interval t's book, one in t + 1's.
    await toPhase(f, t, "reveal");
    for (const [trader, c] of [
      [f.alice, hashes[0]],
      [f.bob, hashes[2]],
    ] as const) {
      await expect(f.auction.connect(trader).reveal(t, order, salt("s")))
        .to.emit(f.auction, "OrderRevealed")
        .withArgs(t, trader.address, c, order.side, order.zone, order.quantityWh, order.limitPrice, order.meter);
    }
    await toPhase(f, t + 1n, "reveal");
    await expect(f.auction.connect(f.alice).reveal(t + 1n, order, salt("s")))
      .to.emit(f.auction, "OrderRevealed")
      .withArgs(
        t + 1n,
        f.alice.address,
        hashes[1],
        order.side,
        order.zone,
        order.quantityWh,
        order.limitPrice,
        order.meter,
      );
    expect(await f.auction.orderCount(t)).to.equal(2n);
    expect(await f.auction.orderCount(t + 1n)).to.equal(1n);
  });
});

describe("adversarial: abi.encodePacked-style ambiguity", function () {
  const coder = AbiCoder.defaultAbiCoder();
  const ORDER = "tuple(uint8,uint32,uint64,uint64,address)";

  it("test_encodingAmbiguity_commitmentIsTheAbiEncodingOfEveryFieldNeverThePackedOne", async function () {
    const f = await loadFixture(commitPhase);
    const auctionAddress = await f.auction.getAddress();
    const orders = [
      buy(1, 1n, FLOOR),
      sell(4_294_967_295, 18_446_744_073_709_551_615n, 18_446_744_073_709_551_615n, f.meters[0].address),
    ];
    for (const o of orders) {
      const s = salt(`enc ${o.zone}`);
      const fields = [o.side, o.zone, o.quantityWh, o.limitPrice, o.meter];
      const encoded = coder.encode(
        ["uint256", "address", "uint64", "address", ORDER, "bytes32"],
        [f.chainId, auctionAddress, f.id, f.alice.address, fields, s],
      );
      expect(ethers.dataLength(encoded)).to.equal(10 * 32); // every field in its own word
      const onChain = await f.auction.commitmentOf(f.id, f.alice.address, o, s);
      expect(onChain).to.equal(keccak256(encoded));
      const packed = solidityPacked(
        ["uint256", "address", "uint64", "address", "uint8", "uint32", "uint64", "uint64", "address", "bytes32"],
        [f.chainId, auctionAddress, f.id, f.alice.address, ...fields, s],
      );
      expect(onChain).to.not.equal(keccak256(packed));
    }
  });

  it("test_encodingAmbiguity_shiftedFieldBoundariesAreDistinctCommitmentsAndVotes", async function () {
    // Pairs whose fields concatenate to the same digits or bytes when written without fixed widths — what a
    // packed or string encoding would confuse — are different commitments, and revealing one never opens the other.
    const f = await loadFixture(commitPhase);
    const pairs: [Order, Order][] = [
      [buy(1, 23_000n, 100_000n), buy(12, 3_000n, 100_000n)], // "1"+"23000" vs "12"+"3000"
      [buy(1, 1_000n, 200_000n), buy(1, 10_002n, 100_000n)], // "1000"+"200000" vs "10002"+"00000"
      [buy(1, 0x0100n, 0x0200n), buy(1, 0x01n, 0x000200n)], // 0x0100|0x0200 vs 0x01|0x000200
    ];
    for (const [a, b] of pairs) {
      expect(await f.auction.commitmentOf(f.id, f.alice.address, a, salt(0))).to.not.equal(
        await f.auction.commitmentOf(f.id, f.alice.address, b, salt(0)),
      );
    }
    const [a, b] = pairs[0];
    await commitOrder(f, f.alice, f.id, a, 3n * USD, salt(0));
    await toPhase(f, f.id, "reveal");
    await expect(f.auction.connect(f.alice).reveal(f.id, b, salt(0)))
      .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
      .withArgs(f.id, await f.auction.commitmentOf(f.id, f.alice.address, b, salt(0)));
    // The oracle keys votes by abi.encode(root, leafCount, importWh, exportWh): shifted totals are a conflict.
    const id = BigInt(await time.latest()) / 900n - 1n;
    const root = ethers.id("root");
    const [r1, r2] = f.relayers;
    await (await f.system.oracle.connect(r1).submitRoot(id, root, 1, 23n, 4n)).wait();
    await expect(f.system.oracle.connect(r2).submitRoot(id, root, 12, 3n, 4n))
      .to.emit(f.system.oracle, "RootConflicted")
      .withArgs(id, r2.address, root, 12, 3n, 4n, root);
    expect(await f.system.oracle.votesFor(id, root, 1, 23n, 4n)).to.equal(1n);
    expect(await f.system.oracle.votesFor(id, root, 12, 3n, 4n)).to.equal(1n);
    expect((await f.system.oracle.finalRoot(id)).root).to.equal(ethers.ZeroHash);
  });
});
