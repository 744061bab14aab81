import { expect } from "chai";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { RejectingReceiver__factory } from "../../types/ethers-contracts/index.js";
import { multiProofFor, proofFor } from "../../src/tree.js";
import { kwhTokenId } from "../../src/intervals.js";
import {
  deployFixture,
  ethers,
  lastEndedInterval,
  meterKey,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  SETTLEMENT_WINDOW,
  TECH,
  type Fixture,
} from "../helpers/fixture.js";

const { loadFixture } = networkHelpers;

async function withRoot(f: Fixture, leaves = sampleLeaves(f)) {
  const id = await lastEndedInterval();
  const tree = await postRoot(f.system, f.relayers, id, leaves);
  return { id, tree };
}

async function claimFor(f: Fixture, tree: Awaited<ReturnType<typeof withRoot>>["tree"], meter: string) {
  const p = proofFor(tree, meter);
  return f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof);
}

/** A contract-owned meter in zone 1 whose owner is a configurable ERC-1155 receiver. */
async function receiverMeter(f: Fixture, i: number) {
  const receiver = await new RejectingReceiver__factory(f.deployer).deploy();
  const key = meterKey(i).address;
  await f.system.registry.registerMeter(key, {
    owner: await receiver.getAddress(),
    zone: 1,
    technology: TECH.Solar,
    ratedCapacityW: 1_000n,
    recEligible: false,
    accreditationExpiry: 0n,
  });
  return { receiver, key };
}

describe("KwhToken", function () {
  describe("claim", function () {
    it("test_claim_mintsExportToOwnerUnderZoneAndInterval", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      const tokenId = kwhTokenId(1, id);
      await expect(claimFor(f, tree, f.meters[0].address))
        .to.emit(f.system.kwh, "KwhClaimed")
        .withArgs(f.meters[0].address, id, f.alice.address, tokenId, 0n, 1_200n)
        .and.to.emit(f.system.kwh, "TransferSingle")
        .withArgs(f.deployer.address, ethers.ZeroAddress, f.alice.address, tokenId, 1_200n);
      expect(await f.system.kwh.balanceOf(f.alice.address, tokenId)).to.equal(1_200n);
      expect(await f.system.kwh.isClaimed(f.meters[0].address, id)).to.equal(true);
      expect(await f.system.kwh.isClaimed(f.meters[1].address, id)).to.equal(false);
      expect(await f.system.kwh.mintedWh(id)).to.equal(1_200n);
    });

    it("test_claim_isPermissionlessButPaysTheOwner", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      const p = proofFor(tree, f.meters[2].address);
      await f.system.kwh.connect(f.stranger).claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof);
      expect(await f.system.kwh.balanceOf(f.bob.address, kwhTokenId(2, id))).to.equal(2_000n);
      expect(await f.system.kwh.balanceOf(f.stranger.address, kwhTokenId(2, id))).to.equal(0n);
    });

    it("test_claim_revertsTheSecondTime", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      await claimFor(f, tree, f.meters[0].address);
      await expect(claimFor(f, tree, f.meters[0].address))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed")
        .withArgs(f.meters[0].address, id);
    });

    it("test_claim_revertsBeforeTheRootIsFinal", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      const tree = await postRoot(f.system, f.relayers, id, sampleLeaves(f), 1);
      await expect(claimFor(f, tree, f.meters[0].address))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenRootNotFinal")
        .withArgs(id);
    });

    it("test_claim_revertsForAlteredLeafValues", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      const p = proofFor(tree, f.meters[0].address);
      await expect(f.system.kwh.claim(p.meter, id, p.importWh, p.exportWh + 1n, p.proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(p.meter, id);
      await expect(f.system.kwh.claim(f.meters[1].address, id, p.importWh, p.exportWh, p.proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(f.meters[1].address, id);
    });

    it("test_claim_revertsForAProofFromAnotherInterval", async function () {
      const f = await loadFixture(deployFixture);
      const { id: first, tree } = await withRoot(f);
      await networkHelpers.time.increase(INTERVAL);
      const second = first + 1n;
      await postRoot(
        f.system,
        f.relayers,
        second,
        sampleLeaves(f).map((l) => ({ ...l, exportWh: l.exportWh + 1n })),
      );
      const p = proofFor(tree, f.meters[0].address);
      await expect(f.system.kwh.claim(p.meter, second, p.importWh, p.exportWh, p.proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(p.meter, second);
    });

    it("test_claim_rejectsAnInternalNodePassedAsALeaf", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      // The parent of leaf 0 verifies under the root with the leaf's proof minus its first element
      // (the classic second-preimage shape), but it is 64 bytes and claim hashes 128-byte abi.encode'd
      // leaves twice: the node cannot be expressed as (meter, interval, import, export).
      const p = proofFor(tree, f.meters[0].address);
      const leafHash = tree.tree.leafHash([p.meter, id, p.importWh, p.exportWh]);
      const [a, b] = [leafHash, p.proof[0]].sort();
      const node = ethers.keccak256(ethers.concat([a, b]));
      const shortened = p.proof.slice(1);
      expect(StandardMerkleTree.verify(tree.root, ["bytes32"], [node], shortened)).to.equal(false);
      const meter = ethers.getAddress(ethers.dataSlice(node, 0, 20));
      const imp = BigInt(ethers.dataSlice(node, 20, 28));
      const exp = BigInt(ethers.dataSlice(node, 24, 32));
      await expect(f.system.kwh.claim(meter, id, imp, exp, shortened))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(meter, id);
    });

    it("test_claim_revertsForAnUnknownMeterEvenUnderAFinalRoot", async function () {
      const f = await loadFixture(deployFixture);
      const stray = meterKey(300).address;
      const { id, tree } = await withRoot(f, [...sampleLeaves(f), { meter: stray, importWh: 0n, exportWh: 5n }]);
      await expect(claimFor(f, tree, stray))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenUnknownMeter")
        .withArgs(stray);
      expect(await f.system.kwh.isClaimed(stray, id)).to.equal(false);
    });

    it("test_claim_revertsForAMeterRevokedBeforeTheIntervalEnded", async function () {
      const f = await loadFixture(deployFixture);
      // Start at the beginning of a fresh interval, so that the revocation lands inside it whatever the clock.
      const current = (await lastEndedInterval()) + 2n;
      await networkHelpers.time.increaseTo(current * INTERVAL);
      await f.system.registry.revokeMeter(f.meters[0].address);
      const revokedAt = BigInt(await networkHelpers.time.latest());
      await networkHelpers.time.increaseTo((current + 1n) * INTERVAL);
      const tree = await postRoot(f.system, f.relayers, current, sampleLeaves(f));
      await expect(claimFor(f, tree, f.meters[0].address))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenMeterRevoked")
        .withArgs(f.meters[0].address, current, revokedAt);
    });

    it("test_claim_allowsAMeterRevokedAfterTheIntervalEnded", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      await f.system.registry.revokeMeter(f.meters[0].address);
      await claimFor(f, tree, f.meters[0].address);
      expect(await f.system.kwh.balanceOf(f.alice.address, kwhTokenId(1, id))).to.equal(1_200n);
    });

    it("test_claim_neverMintsAboveTheRootsExportTotal", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      const leaves = sampleLeaves(f);
      const honest = StandardMerkleTree.of(
        leaves.map((l) => [l.meter, id, l.importWh, l.exportWh]),
        ["address", "uint64", "uint64", "uint64"],
      );
      // An inconsistent committee: totals say 2,000 Wh, the leaves add up to 5,100 Wh.
      for (const r of f.relayers.slice(0, 2)) {
        await f.system.oracle.connect(r).submitRoot(id, honest.root, 4, 2_810n, 2_000n);
      }
      const tree = {
        intervalId: id,
        root: honest.root,
        leafCount: 4,
        totalImportWh: 0n,
        totalExportWh: 0n,
        tree: honest,
      };
      await claimFor(f, tree as never, f.meters[0].address); // 1,200
      await expect(claimFor(f, tree as never, f.meters[1].address)) // +1,900 > 2,000
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenExceedsProvenExport")
        .withArgs(id, 3_100n, 2_000n);
      expect(await f.system.kwh.mintedWh(id)).to.equal(1_200n);
    });

    it("test_claim_zeroExportLeafIsMarkedUsedWithoutMinting", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      await expect(claimFor(f, tree, f.meters[3].address))
        .to.emit(f.system.kwh, "KwhClaimed")
        .withArgs(f.meters[3].address, id, f.bob.address, kwhTokenId(2, id), 2_500n, 0n)
        .and.not.to.emit(f.system.kwh, "TransferSingle");
      expect(await f.system.kwh.isClaimed(f.meters[3].address, id)).to.equal(true);
    });

    it("test_claim_revertsWhilePausedAndResumes", async function () {
      const f = await loadFixture(deployFixture);
      const { tree } = await withRoot(f);
      await f.system.kwh.pause();
      await expect(claimFor(f, tree, f.meters[0].address)).to.be.revertedWithCustomError(f.system.kwh, "EnforcedPause");
      await expect(f.system.kwh.claimMany([])).to.be.revertedWithCustomError(f.system.kwh, "EnforcedPause");
      await expect(f.system.kwh.claimInterval(0, [], [], [])).to.be.revertedWithCustomError(
        f.system.kwh,
        "EnforcedPause",
      );
      await f.system.kwh.unpause();
      await expect(claimFor(f, tree, f.meters[0].address)).to.emit(f.system.kwh, "KwhClaimed");
    });

    it("test_pauseAndWindow_revertForUnauthorisedCallers", async function () {
      const f = await loadFixture(deployFixture);
      const k = f.system.kwh.connect(f.stranger);
      for (const call of [() => k.pause(), () => k.unpause(), () => k.setSettlementWindow(1)]) {
        await expect(call()).to.be.revertedWithCustomError(k, "AccessManagedUnauthorized").withArgs(f.stranger.address);
      }
    });

    it("test_claim_receiverThatRejectsBlocksTheMint", async function () {
      const f = await loadFixture(deployFixture);
      const { receiver, key } = await receiverMeter(f, 400);
      const { id, tree } = await withRoot(f, [{ meter: key, importWh: 0n, exportWh: 100n }]);
      await expect(claimFor(f, tree, key))
        .to.be.revertedWithCustomError(f.system.kwh, "ERC1155InvalidReceiver")
        .withArgs(await receiver.getAddress());
      expect(await f.system.kwh.isClaimed(key, id)).to.equal(false);
    });

    it("test_claim_reentrantReceiverCannotClaimTwice", async function () {
      const f = await loadFixture(deployFixture);
      const { receiver, key } = await receiverMeter(f, 401);
      const { id, tree } = await withRoot(f, [{ meter: key, importWh: 0n, exportWh: 100n }, ...sampleLeaves(f)]);
      const p = proofFor(tree, key);
      await receiver.configure(1, { ...p });
      await claimFor(f, tree, key);
      const err = await receiver.reentryError();
      expect(f.system.kwh.interface.parseError(err)?.name).to.equal("KwhTokenAlreadyClaimed");
      expect(await f.system.kwh.balanceOf(await receiver.getAddress(), kwhTokenId(1, id))).to.equal(100n);
      expect(await f.system.kwh.mintedWh(id)).to.equal(100n);
    });
  });

  describe("batch claims", function () {
    it("test_claimMany_claimsAcrossMetersAndIntervals", async function () {
      const f = await loadFixture(deployFixture);
      const { id: first, tree: t1 } = await withRoot(f);
      await networkHelpers.time.increase(INTERVAL);
      const second = first + 1n;
      const t2 = await postRoot(
        f.system,
        f.relayers,
        second,
        sampleLeaves(f).map((l) => ({ ...l, exportWh: l.exportWh * 2n })),
      );
      const claims = [
        proofFor(t1, f.meters[0].address),
        proofFor(t2, f.meters[0].address),
        proofFor(t1, f.meters[2].address),
        proofFor(t2, f.meters[1].address),
      ];
      await f.system.kwh.claimMany(claims);
      expect(await f.system.kwh.balanceOf(f.alice.address, kwhTokenId(1, first))).to.equal(1_200n);
      expect(await f.system.kwh.balanceOf(f.alice.address, kwhTokenId(1, second))).to.equal(2_400n + 3_800n);
      expect(await f.system.kwh.balanceOf(f.bob.address, kwhTokenId(2, first))).to.equal(2_000n);
      expect(await f.system.kwh.mintedWh(first)).to.equal(3_200n);
      expect(await f.system.kwh.mintedWh(second)).to.equal(6_200n);
    });

    it("test_claimMany_revertsWholeBatchOnOneBadClaim", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      const good = proofFor(tree, f.meters[0].address);
      const bad = { ...proofFor(tree, f.meters[1].address), exportWh: 1n };
      await expect(f.system.kwh.claimMany([good, bad]))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(f.meters[1].address, id);
      await expect(f.system.kwh.claimMany([good, good]))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed")
        .withArgs(f.meters[0].address, id);
      expect(await f.system.kwh.mintedWh(id)).to.equal(0n);
    });

    it("test_claimMany_and_claimInterval_revertWhenEmpty", async function () {
      const f = await loadFixture(deployFixture);
      await expect(f.system.kwh.claimMany([])).to.be.revertedWithCustomError(f.system.kwh, "KwhTokenEmptyClaim");
      await expect(f.system.kwh.claimInterval(1, [], [], [])).to.be.revertedWithCustomError(
        f.system.kwh,
        "KwhTokenEmptyClaim",
      );
    });

    it("test_claimInterval_claimsEveryLeafWithOneMultiProof", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      const mp = multiProofFor(
        tree,
        f.meters.map((m) => m.address),
      );
      await f.system.kwh.claimInterval(id, mp.leaves, mp.proof, mp.proofFlags);
      expect(await f.system.kwh.balanceOf(f.alice.address, kwhTokenId(1, id))).to.equal(3_100n);
      expect(await f.system.kwh.balanceOf(f.bob.address, kwhTokenId(2, id))).to.equal(2_000n);
      expect(await f.system.kwh.mintedWh(id)).to.equal(tree.totalExportWh);
      for (const m of f.meters) expect(await f.system.kwh.isClaimed(m.address, id)).to.equal(true);
      await expect(claimFor(f, tree, f.meters[0].address)).to.be.revertedWithCustomError(
        f.system.kwh,
        "KwhTokenAlreadyClaimed",
      );
    });

    it("test_claimInterval_revertsForATamperedMultiProof", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      const mp = multiProofFor(tree, [f.meters[0].address, f.meters[2].address]);
      const leaves = mp.leaves.map((l, i) => (i === 0 ? { ...l, exportWh: l.exportWh + 1n } : l));
      await expect(f.system.kwh.claimInterval(id, leaves, mp.proof, mp.proofFlags))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(leaves[0].meter, id);
    });
  });

  describe("settlement window, ids and metadata", function () {
    it("test_transfer_worksInsideTheWindowAndRevertsAfter", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      await claimFor(f, tree, f.meters[0].address);
      const tokenId = kwhTokenId(1, id);
      await f.system.kwh.connect(f.alice).safeTransferFrom(f.alice.address, f.bob.address, tokenId, 200n, "0x");
      expect(await f.system.kwh.balanceOf(f.bob.address, tokenId)).to.equal(200n);
      const closesAt = (id + 1n) * INTERVAL + SETTLEMENT_WINDOW;
      expect(await f.system.kwh.transferableUntil(tokenId)).to.equal(closesAt);
      await networkHelpers.time.increaseTo(closesAt);
      await expect(f.system.kwh.connect(f.alice).safeTransferFrom(f.alice.address, f.bob.address, tokenId, 1n, "0x"))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenTransferWindowClosed")
        .withArgs(tokenId, closesAt);
      await expect(
        f.system.kwh.connect(f.alice).safeBatchTransferFrom(f.alice.address, f.bob.address, [tokenId], [1n], "0x"),
      ).to.be.revertedWithCustomError(f.system.kwh, "KwhTokenTransferWindowClosed");
      // Burning still works after the window.
      await f.system.kwh.connect(f.alice).burn(f.alice.address, tokenId, 1_000n);
      expect(await f.system.kwh.balanceOf(f.alice.address, tokenId)).to.equal(0n);
    });

    it("test_claim_stillMintsAfterTheWindowClosed", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree } = await withRoot(f);
      await networkHelpers.time.increase(SETTLEMENT_WINDOW * 2n);
      await claimFor(f, tree, f.meters[0].address);
      expect(await f.system.kwh.balanceOf(f.alice.address, kwhTokenId(1, id))).to.equal(1_200n);
    });

    it("test_setSettlementWindow_changesDeadlineAndEmits", async function () {
      const f = await loadFixture(deployFixture);
      await expect(f.system.kwh.setSettlementWindow(7_200))
        .to.emit(f.system.kwh, "SettlementWindowChanged")
        .withArgs(SETTLEMENT_WINDOW, 7_200);
      expect(await f.system.kwh.settlementWindow()).to.equal(7_200n);
      expect(await f.system.kwh.transferableUntil(kwhTokenId(1, 10n))).to.equal(11n * INTERVAL + 7_200n);
    });

    it("test_tokenId_roundTripsAndRejectsInvalidIds", async function () {
      const f = await loadFixture(deployFixture);
      const id = await f.system.kwh.tokenId(3, 1_234_567n);
      expect(id).to.equal(kwhTokenId(3, 1_234_567n));
      expect(await f.system.kwh.decodeTokenId(id)).to.deep.equal([3n, 1_234_567n]);
      for (const bad of [5n, 1n << 96n]) {
        await expect(f.system.kwh.decodeTokenId(bad))
          .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidId")
          .withArgs(bad);
        await expect(f.system.kwh.uri(bad)).to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidId");
        await expect(f.system.kwh.transferableUntil(bad)).to.be.revertedWithCustomError(
          f.system.kwh,
          "KwhTokenInvalidId",
        );
      }
    });

    it("test_uri_describesZoneIntervalAndUnits", async function () {
      const f = await loadFixture(deployFixture);
      const uri = await f.system.kwh.uri(kwhTokenId(2, 100n));
      const prefix = "data:application/json;utf8,";
      expect(uri.startsWith(prefix)).to.equal(true);
      const meta = JSON.parse(uri.slice(prefix.length));
      expect(meta.name).to.equal("kWh zone 2 interval 100");
      expect(meta.decimals).to.equal(3);
      expect(meta.properties).to.deep.equal({
        zone: 2,
        intervalId: 100,
        intervalStart: 90_000,
        intervalEnd: 90_900,
        transferableUntil: 90_900 + Number(SETTLEMENT_WINDOW),
        unit: "Wh",
      });
      expect(await f.system.kwh.name()).to.equal("Microgrid kWh");
      expect(await f.system.kwh.symbol()).to.equal("kWh");
    });

    it("test_isClaimed_isFalseForUnknownMeters", async function () {
      const f = await loadFixture(deployFixture);
      expect(await f.system.kwh.isClaimed(meterKey(999).address, 1n)).to.equal(false);
    });
  });
});
