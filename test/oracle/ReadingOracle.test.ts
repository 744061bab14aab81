import { expect } from "chai";
import { ReadingOracle__factory } from "../../types/ethers-contracts/index.js";
import { buildIntervalTree } from "../../src/tree.js";
import {
  deployFixture,
  ethers,
  lastEndedInterval,
  networkHelpers,
  sampleLeaves,
  INTERVAL,
  type Fixture,
} from "../helpers/fixture.js";

const { loadFixture } = networkHelpers;
const ROOT_A = ethers.id("root A");
const ROOT_B = ethers.id("root B");

async function submit(f: Fixture, who: number, intervalId: bigint, root = ROOT_A, leafCount = 4, imp = 10n, exp = 20n) {
  return f.system.oracle.connect(f.relayers[who]).submitRoot(intervalId, root, leafCount, imp, exp);
}

describe("ReadingOracle", function () {
  describe("construction and committee", function () {
    it("test_constructor_setsCommitteeThresholdAndLength", async function () {
      const f = await loadFixture(deployFixture);
      expect(await f.system.oracle.members()).to.deep.equal(f.relayers.map((r) => r.address));
      expect(await f.system.oracle.threshold()).to.equal(2n);
      expect(await f.system.oracle.intervalLength()).to.equal(INTERVAL);
      expect(await f.system.oracle.isMember(f.relayers[0].address)).to.equal(true);
      expect(await f.system.oracle.isMember(f.stranger.address)).to.equal(false);
    });

    it("test_constructor_rejectsBadThresholdLengthAndMembers", async function () {
      const f = await loadFixture(deployFixture);
      const factory = new ReadingOracle__factory(f.deployer);
      const gov = await f.system.governance.getAddress();
      const two = [f.relayers[0].address, f.relayers[1].address];
      await expect(factory.deploy(gov, 900, two, 0))
        .to.be.revertedWithCustomError(factory, "ReadingOracleInvalidThreshold")
        .withArgs(0, 2);
      await expect(factory.deploy(gov, 900, two, 3))
        .to.be.revertedWithCustomError(factory, "ReadingOracleInvalidThreshold")
        .withArgs(3, 2);
      await expect(factory.deploy(gov, 0, two, 1)).to.be.revertedWithCustomError(
        factory,
        "ReadingOracleInvalidIntervalLength",
      );
      await expect(factory.deploy(gov, 900, [two[0], two[0]], 1))
        .to.be.revertedWithCustomError(factory, "ReadingOracleMemberExists")
        .withArgs(two[0]);
      await expect(factory.deploy(gov, 900, [ethers.ZeroAddress], 1))
        .to.be.revertedWithCustomError(factory, "ReadingOracleInvalidMember")
        .withArgs(ethers.ZeroAddress);
    });

    it("test_addMember_thenRemove_emitsAndBumpsEpoch", async function () {
      const f = await loadFixture(deployFixture);
      await expect(f.system.oracle.addMember(f.stranger.address))
        .to.emit(f.system.oracle, "MemberAdded")
        .withArgs(f.stranger.address, 4);
      await expect(f.system.oracle.addMember(f.stranger.address))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleMemberExists")
        .withArgs(f.stranger.address);
      await expect(f.system.oracle.removeMember(f.stranger.address))
        .to.emit(f.system.oracle, "MemberRemoved")
        .withArgs(f.stranger.address, 3, 1);
      expect(await f.system.oracle.epoch()).to.equal(1n);
      await expect(f.system.oracle.removeMember(f.stranger.address))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleNotMember")
        .withArgs(f.stranger.address);
    });

    it("test_removeMember_revertsBelowThreshold", async function () {
      const f = await loadFixture(deployFixture);
      await f.system.oracle.setThreshold(3);
      await expect(f.system.oracle.removeMember(f.relayers[0].address))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleInvalidThreshold")
        .withArgs(3, 2);
    });

    it("test_addMember_revertsWhenCommitteeFull", async function () {
      const f = await loadFixture(deployFixture);
      for (let i = 3; i < 32; i++) await f.system.oracle.addMember(ethers.Wallet.createRandom().address);
      await expect(f.system.oracle.addMember(f.stranger.address))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleCommitteeFull")
        .withArgs(32);
    });

    it("test_setThreshold_boundsAndEvent", async function () {
      const f = await loadFixture(deployFixture);
      await expect(f.system.oracle.setThreshold(3)).to.emit(f.system.oracle, "ThresholdChanged").withArgs(2, 3);
      await expect(f.system.oracle.setThreshold(4))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleInvalidThreshold")
        .withArgs(4, 3);
      await expect(f.system.oracle.setThreshold(0))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleInvalidThreshold")
        .withArgs(0, 3);
    });

    it("test_committeeAdmin_revertsForNonOracleAdmin", async function () {
      const f = await loadFixture(deployFixture);
      const o = f.system.oracle.connect(f.stranger);
      for (const call of [
        () => o.addMember(f.stranger.address),
        () => o.removeMember(f.relayers[0].address),
        () => o.setThreshold(1),
        () => o.pause(),
        () => o.unpause(),
      ]) {
        await expect(call()).to.be.revertedWithCustomError(o, "AccessManagedUnauthorized").withArgs(f.stranger.address);
      }
    });
  });

  describe("submitRoot", function () {
    it("test_submit_firstVoteIsPendingWithOneVote", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await expect(submit(f, 0, id))
        .to.emit(f.system.oracle, "RootSubmitted")
        .withArgs(id, f.relayers[0].address, ROOT_A, 4, 10n, 20n, 1);
      const info = await f.system.oracle.getInterval(id);
      expect([
        info.status,
        info.root,
        info.leafCount,
        info.totalImportWh,
        info.totalExportWh,
        info.votes,
      ]).to.deep.equal([1n, ROOT_A, 4n, 10n, 20n, 1n]);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ethers.ZeroHash, 0n]);
      expect(await f.system.oracle.hasVoted(id, f.relayers[0].address)).to.equal(true);
      expect(await f.system.oracle.hasVoted(id, f.relayers[1].address)).to.equal(false);
    });

    it("test_submit_thresholdIdenticalVotesFinalise", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id);
      await expect(submit(f, 1, id))
        .to.emit(f.system.oracle, "RootFinalized")
        .withArgs(id, ROOT_A, 4, 10n, 20n, 2);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ROOT_A, 20n]);
      const info = await f.system.oracle.getInterval(id);
      expect([info.status, info.votes]).to.deep.equal([2n, 2n]);
    });

    it("test_submit_revertsForAVoteOnAFinalInterval", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id);
      await submit(f, 1, id);
      await expect(submit(f, 2, id, ROOT_B))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalFinal")
        .withArgs(id, ROOT_A);
    });

    it("test_submit_revertsForADuplicateVote", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id);
      await expect(submit(f, 0, id))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleAlreadyVoted")
        .withArgs(id, f.relayers[0].address);
      // A changed mind is a second vote too.
      await expect(submit(f, 0, id, ROOT_B))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleAlreadyVoted")
        .withArgs(id, f.relayers[0].address);
    });

    it("test_submit_revertsForANonMember", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await expect(f.system.oracle.connect(f.stranger).submitRoot(id, ROOT_A, 1, 0, 0))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleNotMember")
        .withArgs(f.stranger.address);
    });

    it("test_submit_revertsForZeroRootAndEmptyTree", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await expect(submit(f, 0, id, ethers.ZeroHash))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleZeroRoot")
        .withArgs(id);
      await expect(submit(f, 0, id, ROOT_A, 0))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleEmptyTree")
        .withArgs(id);
    });

    it("test_submit_revertsForAnIntervalThatHasNotEnded", async function () {
      const f = await loadFixture(deployFixture);
      // Start at the beginning of a fresh interval, so that it cannot end during the test whatever the clock.
      const current = (await lastEndedInterval()) + 2n;
      await networkHelpers.time.increaseTo(current * INTERVAL);
      const tx = submit(f, 0, current);
      await expect(tx).to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalNotEnded");
      const now = BigInt(await networkHelpers.time.latest());
      await networkHelpers.time.setNextBlockTimestamp(now + 1n);
      await expect(submit(f, 0, current))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalNotEnded")
        .withArgs(current, (current + 1n) * INTERVAL, now + 1n);
    });

    it("test_submit_conflictingRootIsRecordedAndRaised", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id, ROOT_A);
      await expect(submit(f, 1, id, ROOT_B))
        .to.emit(f.system.oracle, "RootConflicted")
        .withArgs(id, f.relayers[1].address, ROOT_B, 4, 10n, 20n, ROOT_A);
      expect(await f.system.oracle.votesFor(id, ROOT_A, 4, 10n, 20n)).to.equal(1n);
      expect(await f.system.oracle.votesFor(id, ROOT_B, 4, 10n, 20n)).to.equal(1n);
      // Same root with other totals is a different proposal.
      expect(await f.system.oracle.votesFor(id, ROOT_A, 4, 10n, 21n)).to.equal(0n);
      const info = await f.system.oracle.getInterval(id);
      expect([info.status, info.root, info.votes]).to.deep.equal([1n, ROOT_A, 1n]);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ethers.ZeroHash, 0n]);
    });

    it("test_submit_divergingTotalsAreAConflictToo", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id, ROOT_A, 4, 10n, 20n);
      await expect(submit(f, 1, id, ROOT_A, 4, 10n, 999n)).to.emit(f.system.oracle, "RootConflicted");
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ethers.ZeroHash, 0n]);
    });

    it("test_submit_alternateReachingThresholdFirstBecomesFinal", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id, ROOT_A);
      await submit(f, 1, id, ROOT_B, 5, 1n, 2n);
      await expect(submit(f, 2, id, ROOT_B, 5, 1n, 2n))
        .to.emit(f.system.oracle, "RootFinalized")
        .withArgs(id, ROOT_B, 5, 1n, 2n, 2);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ROOT_B, 2n]);
      const info = await f.system.oracle.getInterval(id);
      expect([info.status, info.root, info.leafCount, info.votes]).to.deep.equal([2n, ROOT_B, 5n, 2n]);
      // The losing first proposal keeps its supporter on record.
      expect(await f.system.oracle.votesFor(id, ROOT_A, 4, 10n, 20n)).to.equal(1n);
      expect(await f.system.oracle.votesFor(id, ROOT_B, 5, 1n, 2n)).to.equal(2n);
    });

    it("test_submit_minorityOfColludingRelayersCannotFinalise", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id, ROOT_B); // one colluder of three, threshold 2
      await submit(f, 1, id, ROOT_A);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ethers.ZeroHash, 0n]);
      await submit(f, 2, id, ROOT_A);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ROOT_A, 20n]);
    });

    it("test_submit_finalRootNeverChanges", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id);
      await submit(f, 1, id);
      await f.system.oracle.setThreshold(1);
      await expect(submit(f, 2, id, ROOT_B)).to.be.revertedWithCustomError(
        f.system.oracle,
        "ReadingOracleIntervalFinal",
      );
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ROOT_A, 20n]);
    });

    it("test_removeMember_discardsPendingVotesOfTheOldCommittee", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id);
      await f.system.oracle.removeMember(f.relayers[0].address);
      expect(await f.system.oracle.hasVoted(id, f.relayers[0].address)).to.equal(false);
      expect((await f.system.oracle.getInterval(id)).status).to.equal(0n);
      expect(await f.system.oracle.votesFor(id, ROOT_A, 4, 10n, 20n)).to.equal(0n);
      // The new holder of the freed seat does not inherit the vote; remaining members vote afresh.
      await f.system.oracle.addMember(f.stranger.address);
      await f.system.oracle.connect(f.stranger).submitRoot(id, ROOT_A, 4, 10n, 20n);
      expect((await f.system.oracle.getInterval(id)).votes).to.equal(1n);
      await submit(f, 1, id);
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ROOT_A, 20n]);
    });

    it("test_removeMember_discardsPendingAlternateTallies", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await submit(f, 0, id, ROOT_A);
      await submit(f, 1, id, ROOT_B);
      await f.system.oracle.removeMember(f.relayers[2].address);
      expect(await f.system.oracle.votesFor(id, ROOT_B, 4, 10n, 20n)).to.equal(0n);
      await submit(f, 1, id, ROOT_B);
      await expect(submit(f, 0, id, ROOT_B)).to.emit(f.system.oracle, "RootFinalized");
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([ROOT_B, 20n]);
    });

    it("test_submit_revertsWhilePausedAndResumes", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      await f.system.oracle.pause();
      await expect(submit(f, 0, id)).to.be.revertedWithCustomError(f.system.oracle, "EnforcedPause");
      await f.system.oracle.unpause();
      await expect(submit(f, 0, id)).to.emit(f.system.oracle, "RootSubmitted");
    });

    it("test_submit_realTreeRootFromTheRelayerLibrary", async function () {
      const f = await loadFixture(deployFixture);
      const id = await lastEndedInterval();
      const tree = buildIntervalTree(id, sampleLeaves(f));
      for (const r of f.relayers.slice(0, 2)) {
        await f.system.oracle
          .connect(r)
          .submitRoot(id, tree.root, tree.leafCount, tree.totalImportWh, tree.totalExportWh);
      }
      expect(await f.system.oracle.finalRoot(id)).to.deep.equal([tree.root, 5_100n]);
      expect(tree.totalImportWh).to.equal(2_810n);
    });
  });
});
