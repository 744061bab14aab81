import { expect } from "chai";
import { certificateId, vintageOf } from "../../src/certificates.js";
import { dealDomain } from "../../src/ops/deals.js";
import { multiProofFor, proofFor } from "../../src/tree.js";
import type { System } from "../../src/deploy.js";
import { USD, buy, collateralFor, salt, sell, sellerBond } from "../helpers/auction.js";
import { networkHelpers, postRoot, sampleLeaves, INTERVAL } from "../helpers/fixture.js";
import {
  clearedAuction,
  nextAuctionInterval,
  proveAndClaim,
  signedQuote,
  systemFixture,
  type Account,
} from "./helpers.js";

/*
 * Actions while paused. PAUSER (role 3) pauses root submission, kWh claims, certificate transfers and retirements,
 * settlement and deal fills (contracts/governance/Roles.sol, README). What each pause stops and what it never stops:
 *
 *  - ReadingOracle: stops `submitRoot`; final roots stay final and claimable.
 *  - KwhToken: stops `claim`, `claimMany`, `claimInterval`; transfers (and so deliveries) and burns go on.
 *  - RecToken: stops transfers and every retirement; never issuance (claims still issue certificates).
 *  - SettlementEscrow: stops `deliver`(Batch) and collections before the settlement deadline; defaults, collections
 *    after the deadline, the rent and the dust never stop (docs/settlement.md, "Pausing").
 *  - DealDesk: stops `fill`; `cancel` and `invalidateNoncesBelow` go on (docs/deals.md).
 *  - BatchAuction, MeterRegistry, Governance: not pausable; the auction's refunds never stop.
 */

const { loadFixture, time } = networkHelpers;
const PAUSED = "EnforcedPause";

/**
 * A cleared auction (alice sells 1,000 Wh from meter 0 at 0.10; bob, stranger and the deployer buy 400, 300 and 300
 * at 0.30: all fill at 0.20), its interval proven with alice's 1,200 Wh claimed (kWh and certificates), and the next
 * interval anchored with the sample readings, unclaimed.
 */
async function pauseFixture() {
  const f = await systemFixture();
  const a = await clearedAuction(
    f.system,
    [
      [f.alice, sell(1, 1_000n, 100_000n, f.meters[0].address)],
      [f.bob, buy(1, 400n, 300_000n)],
      [f.stranger, buy(1, 300n, 300_000n)],
      [f.deployer as Account, buy(1, 300n, 300_000n)],
    ],
    "pause",
  );
  await proveAndClaim(f, a.intervalId, [[0, 1_200n]]);
  const next = a.intervalId + 1n;
  await time.increaseTo((next + 1n) * INTERVAL);
  const tree = await postRoot(f.system, f.relayers, next, sampleLeaves(f));
  const kwhId = await f.system.kwh.tokenId(1, a.intervalId);
  const recId = certificateId({
    meter: f.meters[0].address,
    vintage: vintageOf(a.intervalId * INTERVAL),
    technology: "Solar",
    zone: 1,
  });
  const [sellOrder, bobs, strangers, deployers] = a.placed;
  return { ...f, ...a, next, tree, kwhId, recId, sellOrder, bobs, strangers, deployers };
}

async function pauseAll(system: System) {
  for (const c of [system.oracle, system.kwh, system.rec, system.escrow, system.desk]) await (await c.pause()).wait();
}

describe("adversarial: actions while paused", function () {
  it("test_actionsWhilePaused_exactlyTheDocumentedContractsArePausableAndTogglesAreStrict", async function () {
    const f = await loadFixture(systemFixture);
    const s = f.system;
    const pausable = { oracle: s.oracle, kwh: s.kwh, rec: s.rec, escrow: s.escrow, desk: s.desk };
    const hasPause = (c: { interface: { fragments: readonly { type: string; format(): string }[] } }) =>
      c.interface.fragments.some((x) => x.type === "function" && x.format() === "paused()");
    for (const c of [s.governance, s.registry, s.auction]) expect(hasPause(c)).to.equal(false);
    for (const c of Object.values(pausable)) expect(hasPause(c)).to.equal(true);
    for (const c of Object.values(pausable)) {
      await expect(c.unpause()).to.be.revertedWithCustomError(c, "ExpectedPause");
      await expect(c.pause()).to.emit(c, "Paused").withArgs(f.deployer.address);
      await expect(c.pause()).to.be.revertedWithCustomError(c, PAUSED);
      expect(await c.paused()).to.equal(true);
    }
  });

  it("test_actionsWhilePaused_oracleStopsVotesButFinalRootsStayClaimable", async function () {
    const f = await loadFixture(pauseFixture);
    const { oracle, kwh } = f.system;
    await (await oracle.pause()).wait();
    const later = f.next + 1n;
    await time.increaseTo((later + 1n) * INTERVAL);
    await expect(oracle.connect(f.relayers[0]).submitRoot(later, f.tree.root, 4, 1n, 1n)).to.be.revertedWithCustomError(
      oracle,
      PAUSED,
    );
    const p = proofFor(f.tree, f.meters[1].address);
    await expect(kwh.claim(p.meter, f.next, p.importWh, p.exportWh, p.proof)).to.emit(kwh, "KwhClaimed");
    expect((await oracle.finalRoot(f.next)).root).to.equal(f.tree.root);
    await (await oracle.unpause()).wait();
    await expect(oracle.connect(f.relayers[0]).submitRoot(later, f.tree.root, 4, 1n, 1n)).to.emit(
      oracle,
      "RootSubmitted",
    );
  });

  it("test_actionsWhilePaused_kwhTokenStopsEveryClaimPathButNotTransfersBurnsOrDeliveries", async function () {
    const f = await loadFixture(pauseFixture);
    const { kwh, escrow } = f.system;
    await (await kwh.pause()).wait();
    const p = proofFor(f.tree, f.meters[1].address);
    const mp = multiProofFor(f.tree, [f.meters[1].address]);
    await expect(kwh.claim(p.meter, f.next, p.importWh, p.exportWh, p.proof)).to.be.revertedWithCustomError(
      kwh,
      PAUSED,
    );
    await expect(kwh.claimMany([{ ...p }])).to.be.revertedWithCustomError(kwh, PAUSED);
    await expect(kwh.claimInterval(f.next, mp.leaves, mp.proof, mp.proofFlags)).to.be.revertedWithCustomError(
      kwh,
      PAUSED,
    );
    expect(await kwh.isClaimed(p.meter, f.next)).to.equal(false);
    await expect(kwh.connect(f.alice).safeTransferFrom(f.alice.address, f.bob.address, f.kwhId, 50n, "0x")).to.emit(
      kwh,
      "TransferSingle",
    );
    await expect(kwh.connect(f.alice).burn(f.alice.address, f.kwhId, 50n)).to.emit(kwh, "TransferSingle");
    await expect(escrow.deliver(f.intervalId, f.alice.address, f.sellOrder.commitment)).to.emit(
      escrow,
      "SellerSettled",
    );
    expect(await kwh.balanceOf(f.alice.address, f.kwhId)).to.equal(100n); // 1,200 − 50 − 50 − 1,000 delivered
  });

  it("test_actionsWhilePaused_recTokenStopsTransfersAndEveryRetirementButNeverIssuance", async function () {
    const f = await loadFixture(pauseFixture);
    const { rec, kwh } = f.system;
    await (await rec.connect(f.alice).setApprovalForAll(f.bob.address, true)).wait();
    await (await rec.pause()).wait();
    const a = f.alice.address;
    const calls = [
      () => rec.connect(f.alice).safeTransferFrom(a, f.bob.address, f.recId, 1n, "0x"),
      () => rec.connect(f.alice).safeBatchTransferFrom(a, f.bob.address, [f.recId], [1n], "0x"),
      () => rec.connect(f.alice).retire(f.recId, 1n, a, "0x"),
      () => rec.connect(f.alice).retireBatch([f.recId], [1n], a, "0x"),
      () => rec.connect(f.bob).retireFrom(a, f.recId, 1n, a, "0x"),
      () => rec.connect(f.bob).retireBatchFrom(a, [f.recId], [1n], a, "0x"),
    ];
    for (const call of calls) await expect(call()).to.be.revertedWithCustomError(rec, PAUSED);
    expect(await rec.balanceOf(a, f.recId)).to.equal(1_200n);
    expect(await rec.receiptCount()).to.equal(0n);
    // Issuance goes on: claiming meter 0's next interval issues its certificates while the RecToken is paused.
    const p = proofFor(f.tree, f.meters[0].address);
    await expect(kwh.claim(p.meter, f.next, p.importWh, p.exportWh, p.proof)).to.emit(rec, "CertificatesIssued");
    await (await rec.unpause()).wait();
    await expect(rec.connect(f.alice).retire(f.recId, 1n, a, "0x")).to.emit(rec, "ClaimSingle");
  });

  it("test_actionsWhilePaused_dealDeskStopsFillsButNotCancellations", async function () {
    const f = await loadFixture(pauseFixture);
    const { desk, kwh, rec, paymentToken } = f.system;
    const deskAddress = await desk.getAddress();
    await (await kwh.connect(f.alice).setApprovalForAll(deskAddress, true)).wait();
    await (await rec.connect(f.alice).setApprovalForAll(deskAddress, true)).wait();
    await (await paymentToken.connect(f.bob).approve(deskAddress, 1_000n * USD)).wait();
    const ctx = { alice: f.alice, system: f.system, kwhId: f.kwhId, domain: dealDomain(f.chainId, deskAddress) };
    const keep = await signedQuote(ctx, { amount: 100n, nonce: 10n });
    const drop = await signedQuote(ctx, { amount: 100n, nonce: 11n });
    await (await desk.pause()).wait();
    await expect(desk.connect(f.bob).fill(keep.q, keep.sig, 100n)).to.be.revertedWithCustomError(desk, PAUSED);
    await expect(desk.connect(f.alice).cancel(drop.q)).to.emit(desk, "QuoteCancelled");
    await expect(desk.connect(f.alice).invalidateNoncesBelow(10n)).to.emit(desk, "NoncesInvalidated");
    await (await desk.unpause()).wait();
    await expect(desk.connect(f.bob).fill(keep.q, keep.sig, 100n)).to.emit(desk, "DealFilled");
    await expect(desk.connect(f.bob).fill(drop.q, drop.sig, 100n))
      .to.be.revertedWithCustomError(desk, "DealDeskQuoteCancelled")
      .withArgs(drop.hash);
    // Certificates cannot be dealt while the RecToken is paused (the token's own pause).
    const certs = await signedQuote(ctx, { token: await rec.getAddress(), id: f.recId, amount: 100n, nonce: 12n });
    await (await rec.pause()).wait();
    await expect(desk.connect(f.bob).fill(certs.q, certs.sig, 100n)).to.be.revertedWithCustomError(rec, PAUSED);
  });

  it("test_actionsWhilePaused_escrowStopsDeliveriesAndEarlyCollectionsButNeverRefundsAfterTheDeadline", async function () {
    const f = await loadFixture(pauseFixture);
    const { escrow, kwh, paymentToken: token } = f.system;
    const id = f.intervalId;
    await (await escrow.pause()).wait();
    await expect(escrow.deliver(id, f.alice.address, f.sellOrder.commitment)).to.be.revertedWithCustomError(
      escrow,
      PAUSED,
    );
    await expect(escrow.deliverBatch(id, [f.alice.address], [f.sellOrder.commitment])).to.be.revertedWithCustomError(
      escrow,
      PAUSED,
    );
    await (await escrow.unpause()).wait();
    await (await escrow.deliver(id, f.alice.address, f.sellOrder.commitment)).wait();
    await (await escrow.pause()).wait();
    // Every seller settled: collections wait for the deadline while paused…
    await expect(escrow.collect(id, f.bob.address, f.bobs.commitment)).to.be.revertedWithCustomError(escrow, PAUSED);
    await expect(
      escrow.connect(f.stranger).collectTo(id, f.strangers.commitment, f.stranger.address),
    ).to.be.revertedWithCustomError(escrow, PAUSED);
    await expect(escrow.collectBatch(id, [f.deployer.address], [f.deployers.commitment])).to.be.revertedWithCustomError(
      escrow,
      PAUSED,
    );
    // …and from the deadline on, still paused, every collection, the rent and the dust go through.
    await time.increaseTo(f.schedule.settlementDeadline);
    expect(await escrow.paused()).to.equal(true);
    const before = await token.balanceOf(f.bob.address);
    await expect(escrow.collect(id, f.bob.address, f.bobs.commitment)).to.emit(escrow, "BuyerCollected");
    expect((await token.balanceOf(f.bob.address)) - before).to.equal(f.bobs.collateral - 80_000n);
    await expect(escrow.connect(f.stranger).collectTo(id, f.strangers.commitment, f.stranger.address)).to.emit(
      escrow,
      "BuyerCollected",
    );
    await expect(escrow.collectBatch(id, [f.deployer.address], [f.deployers.commitment])).to.emit(
      escrow,
      "BuyerCollected",
    );
    await expect(escrow.payRent(id)).to.emit(escrow, "CongestionRentPaid");
    await expect(escrow.sweepDust(id)).to.emit(escrow, "DustSwept");
    expect(await kwh.balanceOf(f.bob.address, f.kwhId)).to.equal(400n);
    expect(await token.balanceOf(await f.system.auction.getAddress())).to.equal(0n);
  });

  it("test_actionsWhilePaused_escrowPausedThroughTheDeadlineTurnsADeliveryIntoADefault", async function () {
    // The documented rule followed to its end: a seller holding its kWh cannot deliver while the escrow is paused, and
    // from the deadline only a default settles it — its bond is slashed to the buyers although it could deliver.
    const f = await loadFixture(pauseFixture);
    const { escrow } = f.system;
    const id = f.intervalId;
    await (await escrow.pause()).wait();
    await time.increaseTo(f.schedule.settlementDeadline);
    await expect(escrow.deliver(id, f.alice.address, f.sellOrder.commitment)).to.be.revertedWithCustomError(
      escrow,
      PAUSED,
    );
    const bond = sellerBond(1_000n, 100_000n);
    await expect(escrow.settleDefault(id, f.alice.address, f.sellOrder.commitment))
      .to.emit(escrow, "SellerSettled")
      .withArgs(
        id,
        f.alice.address,
        f.sellOrder.commitment,
        1,
        1_000n,
        0n,
        200_000n,
        0n,
        bond,
        f.sellOrder.collateral - bond,
      );
    await (await escrow.unpause()).wait();
    expect(await f.system.kwh.balanceOf(f.alice.address, f.kwhId)).to.equal(1_200n);
  });

  it("test_actionsWhilePaused_theAuctionCannotBePausedAndKeepsTakingOrdersAndRefunding", async function () {
    const f = await loadFixture(systemFixture);
    const { auction, paymentToken: token } = f.system;
    await pauseAll(f.system);
    const id = await nextAuctionInterval();
    const s = await auction.schedule(id);
    await time.increaseTo(s.commitStart);
    const open = buy(1, 1_000n, 200_000n);
    const c1 = await auction.commitmentOf(id, f.bob.address, open, salt("paused 1"));
    const c2 = await auction.commitmentOf(id, f.stranger.address, open, salt("paused 2"));
    await (await auction.connect(f.bob).commit(id, c1, collateralFor(open))).wait();
    await (await auction.connect(f.stranger).commit(id, c2, 2n * USD)).wait();
    await time.increaseTo(s.revealStart);
    await (await auction.connect(f.bob).reveal(id, open, salt("paused 1"))).wait();
    await time.increaseTo(s.gateClosure);
    await expect(auction.clear(id)).to.emit(auction, "AuctionCleared");
    const bobBefore = await token.balanceOf(f.bob.address);
    await expect(auction.connect(f.bob).withdraw(id, c1))
      .to.emit(auction, "CollateralWithdrawn")
      .withArgs(id, f.bob.address, c1, collateralFor(open), 0n);
    expect((await token.balanceOf(f.bob.address)) - bobBefore).to.equal(collateralFor(open));
    await expect(auction.connect(f.stranger).withdraw(id, c2))
      .to.emit(auction, "CollateralWithdrawn")
      .withArgs(id, f.stranger.address, c2, USD, USD);
  });
});
