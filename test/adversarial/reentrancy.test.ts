import { expect } from "chai";
import {
  ReentrantBatchEscrowBuyer__factory,
  ReentrantCertificateHolder__factory,
  ReentrantDealTaker__factory,
  ReentrantEscrowBuyer__factory,
  RejectingReceiver__factory,
} from "../../types/ethers-contracts/index.js";
import { certificateId, vintageOf } from "../../src/certificates.js";
import { kwhTokenId } from "../../src/intervals.js";
import { buildIntervalTree, multiProofFor, proofFor, type IntervalTree } from "../../src/tree.js";
import { USD, buy, collateralFor, salt, sell, type Order } from "../helpers/auction.js";
import {
  deployFixture,
  ethers,
  meterKey,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  TECH,
} from "../helpers/fixture.js";
import {
  dealFixture,
  nextAuctionInterval,
  proveAndClaim,
  signedQuote,
  systemFixture,
  type Account,
} from "./helpers.js";

/*
 * ERC-1155 receiver re-entrancy, path by path. Every path that mints or transfers to an address someone else chose
 * calls that address's onERC1155Received / onERC1155BatchReceived:
 *
 *  - KwhToken.claim / claimMany / claimInterval: mints kWh to the meter's owner (state written first);
 *  - RecToken.issue (only from those claims): mints certificates to the owner;
 *  - RecToken / KwhToken transfers: to any receiver (RecToken retirements burn: no hook);
 *  - DealDesk.fill: the maker's units to the taker (nonReentrant);
 *  - SettlementEscrow.collect / collectBatch / collectTo: the buyer's share, one id (single hook) or an importing
 *    buyer's several zones (batch hook) (nonReentrant);
 *  - SettlementEscrow.deliver / settleDefault: the seller's tokens go to the escrow itself, the money is ERC-20: no
 *    hook on user code; sweepDust: to the dust account fixed at deployment.
 */

const { loadFixture, takeSnapshot } = networkHelpers;
const REENTRANCY = "ReentrancyGuardReentrantCall";
const RECEIVER = { Reject: 0, Reenter: 1 } as const;
const HOLDER = { Accept: 0, ReplayClaim: 1, RetireOnReceipt: 2, RejectCertificates: 3 } as const;
const BUYER = { Accept: 0, Reenter: 1, ReenterAndCatch: 2, Reject: 3 } as const;
const TAKER = { Accept: 0, Reenter: 1, ReenterAndCatch: 2 } as const;

/**
 * One interval after the fixture's registrations, anchored with the sample readings plus two contract-owned meters:
 * a RejectingReceiver's solar meter (300 Wh) and a ReentrantCertificateHolder's REC-accredited wind meter (2,000 Wh).
 */
async function claimFixture() {
  const f = await deployFixture();
  const { kwh, rec, registry } = f.system;
  const receiver = await new RejectingReceiver__factory(f.deployer).deploy();
  const holder = await new ReentrantCertificateHolder__factory(f.deployer).deploy(
    await kwh.getAddress(),
    await rec.getAddress(),
  );
  const r = meterKey(60).address;
  const h = meterKey(61).address;
  const expiry = BigInt(await networkHelpers.time.latest()) + 30n * 86_400n;
  for (const [meter, owner, technology, recEligible] of [
    [r, await receiver.getAddress(), TECH.Solar, false],
    [h, await holder.getAddress(), TECH.Wind, true],
  ] as const) {
    await (
      await registry.registerMeter(meter, {
        owner,
        zone: 1,
        technology,
        ratedCapacityW: 10_000n,
        recEligible,
        accreditationExpiry: recEligible ? expiry : 0n,
      })
    ).wait();
  }
  const leaves = [
    ...sampleLeaves(f),
    { meter: r, importWh: 0n, exportWh: 300n },
    { meter: h, importWh: 0n, exportWh: 2_000n },
  ];
  // The first interval whose tree lists some sample meter's leaf after the receiver's (leaves are ordered by hash,
  // which depends on the interval): the batch re-entrancy test claims such a later leaf from the receiver's hook.
  let id = BigInt(await networkHelpers.time.latest()) / INTERVAL + 1n;
  const laterThanReceiver = (i: bigint) =>
    f.meters.some((m) => multiProofFor(buildIntervalTree(i, leaves), [r, m.address]).leaves[0].meter === r);
  while (!laterThanReceiver(id)) id++;
  await networkHelpers.time.increaseTo((id + 1n) * INTERVAL);
  const tree = await postRoot(f.system, f.relayers, id, leaves);
  const vintage = vintageOf(id * INTERVAL);
  return {
    ...f,
    receiver,
    holder,
    r,
    h,
    id,
    tree,
    kwhId: kwhTokenId(1, id),
    holderRecId: certificateId({ meter: h, vintage, technology: "Wind", zone: 1 }),
    aliceRecId: certificateId({ meter: f.meters[0].address, vintage, technology: "Solar", zone: 1 }),
  };
}

function claimOf(tree: IntervalTree, meter: string) {
  const p = proofFor(tree, meter);
  return { meter: p.meter, intervalId: p.intervalId, importWh: p.importWh, exportWh: p.exportWh, proof: p.proof };
}

/**
 * A cleared two-zone auction (zone 2 may import 250 Wh) with contract buyers, proven, its sellers delivered:
 * `local` (a ReentrantEscrowBuyer) holds two zone-1 bids of 400 and 600 Wh, stranger one of 100 Wh, and `importer` (a
 * ReentrantBatchEscrowBuyer) a zone-2 bid that receives zone 2's 500 Wh and 250 Wh imported from zone 1, as one batch.
 */
async function escrowFixture() {
  const f = await systemFixture();
  const { auction, escrow, registry, paymentToken: token } = f.system;
  await (await registry.setZone(2, 100_000, 1_000)).wait();
  const local = await new ReentrantEscrowBuyer__factory(f.deployer).deploy(auction, escrow);
  const importer = await new ReentrantBatchEscrowBuyer__factory(f.deployer).deploy(auction, escrow);
  for (const c of [local, importer]) {
    await (await token.mint(await c.getAddress(), 1_000n * USD)).wait();
    await (await c.approve(token)).wait();
  }
  const id = await nextAuctionInterval();
  const s = await auction.schedule(id);
  await networkHelpers.time.increaseTo(s.commitStart);
  // Each order with how its trader commits and reveals: an EOA directly, a contract buyer through its own calls.
  type Trader = Pick<typeof local, "commit" | "reveal">;
  const eoa = (a: Account): Trader => ({
    commit: ((i, c, x) => auction.connect(a).commit(i, c, x)) as Trader["commit"],
    reveal: ((i, o, x) => auction.connect(a).reveal(i, o, x)) as Trader["reveal"],
  });
  const orders: Record<string, [Trader, string, Order]> = {
    alice: [eoa(f.alice), f.alice.address, sell(1, 2_000n, 60_000n, f.meters[1].address)],
    bob: [eoa(f.bob), f.bob.address, sell(2, 500n, 300_000n, f.meters[2].address)],
    stranger: [eoa(f.stranger), f.stranger.address, buy(1, 100n, 390_000n)],
    local0: [local, await local.getAddress(), buy(1, 400n, 390_000n)],
    local1: [local, await local.getAddress(), buy(1, 600n, 390_000n)],
    importer: [importer, await importer.getAddress(), buy(2, 2_000n, 350_000n)],
  };
  const c: Record<string, string> = {};
  for (const [name, [trader, address, order]] of Object.entries(orders)) {
    c[name] = await auction.commitmentOf(id, address, order, salt(name));
    await (await trader.commit(id, c[name], collateralFor(order))).wait();
  }
  await networkHelpers.time.increaseTo(s.revealStart);
  for (const [name, [trader, , order]] of Object.entries(orders)) {
    await (await trader.reveal(id, order, salt(name))).wait();
  }
  await networkHelpers.time.increaseTo(s.gateClosure);
  await (await auction.clear(id)).wait();
  await proveAndClaim(f, id, [
    [1, 2_000n],
    [2, 500n],
  ]);
  await (await escrow.deliverBatch(id, [f.alice.address, f.bob.address], [c.alice, c.bob])).wait();
  return { ...f, id, c, local, importer, localAddress: await local.getAddress() };
}

describe("adversarial: ERC-1155 receiver re-entrancy on every path that mints or transfers", function () {
  describe("kWh claims (KwhToken mint to the meter's owner)", function () {
    it("test_reentrancy_claimMint_replayingTheSameLeafFromTheHookFindsItUsed", async function () {
      const f = await loadFixture(claimFixture);
      const own = claimOf(f.tree, f.r);
      await (await f.receiver.configure(RECEIVER.Reenter, own)).wait();
      await (await f.system.kwh.claim(own.meter, f.id, own.importWh, own.exportWh, own.proof)).wait();
      expect(await f.receiver.reentryError()).to.equal(
        f.system.kwh.interface.encodeErrorResult("KwhTokenAlreadyClaimed", [f.r, f.id]),
      );
      expect(await f.system.kwh.balanceOf(await f.receiver.getAddress(), f.kwhId)).to.equal(300n);
      expect(await f.system.kwh.mintedWh(f.id)).to.equal(300n);
    });

    it("test_reentrancy_claimMint_claimingAnotherLeafFromTheHookMintsItOnceToItsOwner", async function () {
      const f = await loadFixture(claimFixture);
      const own = claimOf(f.tree, f.r);
      const alices = claimOf(f.tree, f.meters[0].address);
      await (await f.receiver.configure(RECEIVER.Reenter, alices)).wait();
      await (await f.system.kwh.claim(own.meter, f.id, own.importWh, own.exportWh, own.proof)).wait();
      expect(await f.receiver.reentryError()).to.equal("0x"); // a permissionless claim, paid to alice
      expect(await f.system.kwh.balanceOf(f.alice.address, f.kwhId)).to.equal(1_200n);
      expect(await f.system.rec.balanceOf(f.alice.address, f.aliceRecId)).to.equal(1_200n);
      await expect(f.system.kwh.claim(alices.meter, f.id, alices.importWh, alices.exportWh, alices.proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed")
        .withArgs(alices.meter, f.id);
      expect(await f.system.kwh.mintedWh(f.id)).to.equal(1_500n);
    });

    it("test_reentrancy_claimManyAndClaimInterval_aHookClaimingALaterLeafRevertsTheWholeBatch", async function () {
      const f = await loadFixture(claimFixture);
      const own = claimOf(f.tree, f.r);
      // A leaf the multi-proof lists after the receiver's (the fixture picked an interval where one exists).
      const later = f.meters
        .map((m) => m.address)
        .find((m) => multiProofFor(f.tree, [f.r, m]).leaves[0].meter === f.r)!;
      const victim = claimOf(f.tree, later);
      await (await f.receiver.configure(RECEIVER.Reenter, victim)).wait();
      await expect(f.system.kwh.claimMany([own, victim]))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed")
        .withArgs(later, f.id);
      const mp = multiProofFor(f.tree, [f.r, later]);
      await expect(f.system.kwh.claimInterval(f.id, mp.leaves, mp.proof, mp.proofFlags))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed")
        .withArgs(later, f.id);
      // Nothing of either batch stayed; the leaves are claimed one by one (what the relayer's claimer falls back to).
      expect(await f.system.kwh.mintedWh(f.id)).to.equal(0n);
      await (await f.system.kwh.claim(victim.meter, f.id, victim.importWh, victim.exportWh, victim.proof)).wait();
      await (await f.system.kwh.claim(own.meter, f.id, own.importWh, own.exportWh, own.proof)).wait();
      expect(await f.system.kwh.mintedWh(f.id)).to.equal(300n + victim.exportWh);
    });
  });

  describe("certificate issuance (RecToken.issue inside the claims)", function () {
    it("test_reentrancy_certificateIssuance_replayFromTheHookFindsTheLeafUsedOnEveryEntryPoint", async function () {
      const f = await loadFixture(claimFixture);
      const own = claimOf(f.tree, f.h);
      const holder = await f.holder.getAddress();
      await (await f.holder.configure(HOLDER.ReplayClaim, own)).wait();
      const mp = multiProofFor(f.tree, [f.h]);
      const entryPoints = [
        () => f.system.kwh.claim(own.meter, f.id, own.importWh, own.exportWh, own.proof),
        () => f.system.kwh.claimMany([own]),
        () => f.system.kwh.claimInterval(f.id, mp.leaves, mp.proof, mp.proofFlags),
      ];
      const used = f.system.kwh.interface.encodeErrorResult("KwhTokenAlreadyClaimed", [f.h, f.id]);
      for (const claim of entryPoints) {
        const snapshot = await takeSnapshot();
        await expect(claim())
          .to.emit(f.system.rec, "CertificatesIssued")
          .withArgs(f.h, f.holderRecId, f.id, holder, 2_000n);
        expect(await f.holder.replayError()).to.equal(used);
        expect(await f.system.rec.balanceOf(holder, f.holderRecId)).to.equal(2_000n);
        expect(await f.system.kwh.balanceOf(holder, f.kwhId)).to.equal(2_000n);
        await snapshot.restore();
      }
    });

    it("test_reentrancy_certificateIssuance_retiringOnReceiptKeepsTheLedgerWhole", async function () {
      const f = await loadFixture(claimFixture);
      const own = claimOf(f.tree, f.h);
      const holder = await f.holder.getAddress();
      await (await f.holder.configure(HOLDER.RetireOnReceipt, own)).wait();
      await expect(f.system.kwh.claim(own.meter, f.id, own.importWh, own.exportWh, own.proof))
        .to.emit(f.system.rec, "ClaimSingle")
        .withArgs(
          holder,
          holder,
          holder,
          1n,
          f.holderRecId,
          2_000n,
          ethers.hexlify(ethers.toUtf8Bytes("retired on receipt")),
        );
      // issued (2,000) = held (0) + retired (2,000)
      expect(await f.system.rec.balanceOf(holder, f.holderRecId)).to.equal(0n);
      expect(await f.system.rec.claimedBalanceOf(holder, f.holderRecId)).to.equal(2_000n);
    });

    it("test_reentrancy_certificateIssuance_aRejectingOwnerRevertsTheClaimWithNothingUsed", async function () {
      const f = await loadFixture(claimFixture);
      const own = claimOf(f.tree, f.h);
      await (await f.holder.configure(HOLDER.RejectCertificates, own)).wait();
      await expect(f.system.kwh.claim(own.meter, f.id, own.importWh, own.exportWh, own.proof))
        .to.be.revertedWithCustomError(f.system.rec, "ERC1155InvalidReceiver")
        .withArgs(await f.holder.getAddress());
      expect(await f.system.kwh.isClaimed(f.h, f.id)).to.equal(false);
      expect(await f.system.kwh.mintedWh(f.id)).to.equal(0n);
    });
  });

  describe("certificate transfers", function () {
    it("test_reentrancy_certificateTransfer_retiringOnReceiptKeepsTheLedgerWhole", async function () {
      const f = await loadFixture(claimFixture);
      const alices = claimOf(f.tree, f.meters[0].address);
      await (await f.system.kwh.claim(alices.meter, f.id, alices.importWh, alices.exportWh, alices.proof)).wait();
      const holder = await f.holder.getAddress();
      await (await f.holder.configure(HOLDER.RetireOnReceipt, alices)).wait();
      await expect(f.system.rec.connect(f.alice).safeTransferFrom(f.alice.address, holder, f.aliceRecId, 500n, "0x"))
        .to.emit(f.system.rec, "ClaimSingle")
        .withArgs(
          holder,
          holder,
          holder,
          1n,
          f.aliceRecId,
          500n,
          ethers.hexlify(ethers.toUtf8Bytes("retired on receipt")),
        );
      expect(await f.system.rec.balanceOf(f.alice.address, f.aliceRecId)).to.equal(700n);
      expect(await f.system.rec.balanceOf(holder, f.aliceRecId)).to.equal(0n);
      expect(await f.system.rec.claimedBalanceOf(holder, f.aliceRecId)).to.equal(500n);
    });
  });

  describe("deal fills (DealDesk.fill, the maker's units to the taker)", function () {
    it("test_reentrancy_dealFill_aTakerReenteringFromItsHookIsStoppedByTheGuard", async function () {
      const f = await loadFixture(dealFixture);
      const taker = await new ReentrantDealTaker__factory(f.deployer).deploy(f.deskAddress);
      const takerAddress = await taker.getAddress();
      await (await f.system.paymentToken.mint(takerAddress, 1_000n * USD)).wait();
      await (await taker.approve(await f.system.paymentToken.getAddress())).wait();
      for (const [token, id] of [
        [f.system.kwh, f.kwhId],
        [f.system.rec, f.recId],
      ] as const) {
        const { q, sig, hash } = await signedQuote(f, { token: await token.getAddress(), id, allowPartial: true });
        await expect(taker.take(q, sig, 400n, TAKER.Reenter)).to.be.revertedWithCustomError(f.system.desk, REENTRANCY);
        expect(await f.system.desk.filledOf(hash)).to.equal(0n);
        await expect(taker.take(q, sig, 400n, TAKER.ReenterAndCatch)).to.emit(f.system.desk, "DealFilled");
        expect(await taker.reentryError()).to.equal(f.system.desk.interface.encodeErrorResult(REENTRANCY, []));
        expect(await f.system.desk.filledOf(hash)).to.equal(400n);
        expect(await token.balanceOf(takerAddress, id)).to.equal(400n);
      }
    });
  });

  describe("settlement collections (SettlementEscrow, the buyer's share to the buyer)", function () {
    it("test_reentrancy_escrowCollect_reenteringWithAnotherOrderOrTheSameIsStoppedByTheGuard", async function () {
      const f = await loadFixture(escrowFixture);
      const { escrow, kwh } = f.system;
      await (await f.local.arm(f.id, f.c.local1, BUYER.Reenter)).wait();
      await expect(escrow.collect(f.id, f.localAddress, f.c.local0)).to.be.revertedWithCustomError(escrow, REENTRANCY);
      await (await f.local.arm(f.id, f.c.local0, BUYER.ReenterAndCatch)).wait();
      await expect(escrow.collect(f.id, f.localAddress, f.c.local0)).to.emit(escrow, "BuyerCollected");
      expect(await f.local.reentries()).to.equal(1n);
      expect(await f.local.reentryError()).to.equal(escrow.interface.encodeErrorResult(REENTRANCY, []));
      expect(await kwh.balanceOf(f.localAddress, kwhTokenId(1, f.id))).to.equal(400n);
      await expect(escrow.collect(f.id, f.localAddress, f.c.local0))
        .to.be.revertedWithCustomError(f.system.auction, "BatchAuctionAlreadyWithdrawn")
        .withArgs(f.id, f.c.local0);
    });

    it("test_reentrancy_escrowCollectBatch_aReenteringBuyerRevertsItsBatchAndNothingElse", async function () {
      const f = await loadFixture(escrowFixture);
      const { escrow, kwh } = f.system;
      await (await f.local.arm(f.id, f.c.local0, BUYER.Reenter)).wait();
      await expect(
        escrow.collectBatch(f.id, [f.stranger.address, f.localAddress], [f.c.stranger, f.c.local1]),
      ).to.be.revertedWithCustomError(escrow, REENTRANCY);
      expect((await escrow.auctionBook(f.id)).collectedBoughtWh).to.equal(0n);
      await (await escrow.collectBatch(f.id, [f.stranger.address], [f.c.stranger])).wait();
      expect(await kwh.balanceOf(f.stranger.address, kwhTokenId(1, f.id))).to.equal(100n);
    });

    it("test_reentrancy_escrowCollectTo_aReenteringRecipientIsStoppedByTheGuard", async function () {
      const f = await loadFixture(escrowFixture);
      const { escrow } = f.system;
      const recipient = await f.importer.getAddress();
      await (await f.importer.arm(f.id, f.c.importer, BUYER.Reenter)).wait();
      await expect(f.local.collectTo(f.id, f.c.local0, recipient)).to.be.revertedWithCustomError(escrow, REENTRANCY);
      await (await f.importer.arm(f.id, f.c.importer, BUYER.Accept)).wait();
      await expect(f.local.collectTo(f.id, f.c.local0, recipient)).to.emit(escrow, "BuyerCollected");
      expect(await f.system.kwh.balanceOf(recipient, kwhTokenId(1, f.id))).to.equal(400n);
    });

    it("test_reentrancy_escrowImporterBatchTransfer_reenteringFromTheBatchHookIsStoppedByTheGuard", async function () {
      const f = await loadFixture(escrowFixture);
      const { escrow, kwh } = f.system;
      const importer = await f.importer.getAddress();
      const [filled] = await f.system.auction.fillOf(f.id, importer, f.c.importer);
      expect(filled).to.equal(750n); // zone 2 imports at most 250 Wh on top of its own 500 Wh
      const share = await escrow.buyerShare(f.id, 2, filled);
      expect(share.ids.length).to.equal(2); // zone 2's own energy and zone 1's imported energy: one batch transfer
      await (await f.importer.arm(f.id, f.c.importer, BUYER.Reenter)).wait();
      await expect(escrow.collect(f.id, importer, f.c.importer)).to.be.revertedWithCustomError(escrow, REENTRANCY);
      await (await f.importer.arm(f.id, f.c.importer, BUYER.ReenterAndCatch)).wait();
      await expect(escrow.collect(f.id, importer, f.c.importer)).to.emit(escrow, "BuyerCollected");
      expect([await f.importer.batches(), await f.importer.reentries()]).to.deep.equal([1n, 1n]);
      expect(await f.importer.reentryError()).to.equal(escrow.interface.encodeErrorResult(REENTRANCY, []));
      expect(await kwh.balanceOf(importer, kwhTokenId(2, f.id))).to.equal(500n);
      expect(await kwh.balanceOf(importer, kwhTokenId(1, f.id))).to.equal(250n);
    });
  });
});
