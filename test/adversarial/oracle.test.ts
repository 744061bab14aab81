import { expect } from "chai";
import { buildIntervalTree, proofFor } from "../../src/tree.js";
import {
  deployFixture,
  ethers,
  lastEndedInterval,
  networkHelpers,
  sampleLeaves,
  INTERVAL,
  type Fixture,
} from "../helpers/fixture.js";
import type { Account } from "./helpers.js";

/*
 * The ReadingOracle committee (README "Contracts"): a root is final when `threshold` distinct members voted identical
 * values (root, leaf count, totals); a member votes once per interval and committee epoch; diverging votes are tallied
 * and raised (`RootConflicted`), never silently replacing; a final root never changes.
 */

const { loadFixture } = networkHelpers;
const STATUS = { None: 0n, Pending: 1n, Final: 2n } as const;

/** The fixture with the honest tree of the last ended interval and a fake one inflating alice's export. */
async function trees() {
  const f = await deployFixture();
  const id = await lastEndedInterval();
  const honest = buildIntervalTree(id, sampleLeaves(f));
  const fake = buildIntervalTree(
    id,
    sampleLeaves(f).map((l, i) => (i === 0 ? { ...l, exportWh: 1_000_000n } : l)),
  );
  return { ...f, id, honest, fake };
}

type F = Awaited<ReturnType<typeof trees>>;
type Tree = F["honest"];

function vote(f: Fixture, who: Account, id: bigint, t: Tree) {
  return f.system.oracle.connect(who).submitRoot(id, t.root, t.leafCount, t.totalImportWh, t.totalExportWh);
}

function votesFor(f: Fixture, id: bigint, t: Tree) {
  return f.system.oracle.votesFor(id, t.root, t.leafCount, t.totalImportWh, t.totalExportWh);
}

describe("adversarial: duplicate and conflicting oracle votes", function () {
  it("test_oracleVotes_duplicate_aMemberVotesOncePerIntervalWhateverItVotesSecond", async function () {
    const f = await loadFixture(trees);
    const [r1] = f.relayers;
    await (await vote(f, r1, f.id, f.honest)).wait();
    for (const t of [f.honest, f.fake]) {
      await expect(vote(f, r1, f.id, t))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleAlreadyVoted")
        .withArgs(f.id, r1.address);
    }
    expect(await votesFor(f, f.id, f.honest)).to.equal(1n);
    expect(await votesFor(f, f.id, f.fake)).to.equal(0n);
    expect((await f.system.oracle.getInterval(f.id)).status).to.equal(STATUS.Pending);
  });

  it("test_oracleVotes_duplicate_aVoteOfAnEarlierCommitteeNeverCountsTwice", async function () {
    const f = await loadFixture(trees);
    const [r1, r2, r3] = f.relayers;
    await (await vote(f, r1, f.id, f.honest)).wait();
    // The committee changes (epoch + 1): r1's pending vote is discarded, so voting again counts once, not twice.
    await (await f.system.oracle.removeMember(r3.address)).wait();
    expect(await f.system.oracle.hasVoted(f.id, r1.address)).to.equal(false);
    await expect(vote(f, r1, f.id, f.honest))
      .to.emit(f.system.oracle, "RootSubmitted")
      .withArgs(f.id, r1.address, f.honest.root, 4, f.honest.totalImportWh, f.honest.totalExportWh, 1n);
    expect((await f.system.oracle.finalRoot(f.id)).root).to.equal(ethers.ZeroHash);
    await expect(vote(f, r2, f.id, f.honest)).to.emit(f.system.oracle, "RootFinalized");
    // The removed member can no longer vote at all.
    await expect(vote(f, r3, f.id, f.honest))
      .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleNotMember")
      .withArgs(r3.address);
  });

  it("test_oracleVotes_conflicting_areTalliedAndRaisedAndNeverSilentlyReplaceTheLead", async function () {
    const f = await loadFixture(trees);
    const [r1, r2, r3] = f.relayers;
    await (await vote(f, r1, f.id, f.honest)).wait();
    await expect(vote(f, r2, f.id, f.fake))
      .to.emit(f.system.oracle, "RootConflicted")
      .withArgs(
        f.id,
        r2.address,
        f.fake.root,
        f.fake.leafCount,
        f.fake.totalImportWh,
        f.fake.totalExportWh,
        f.honest.root,
      );
    const info = await f.system.oracle.getInterval(f.id);
    expect([info.status, info.root, info.votes]).to.deep.equal([STATUS.Pending, f.honest.root, 1n]);
    expect(await votesFor(f, f.id, f.fake)).to.equal(1n);
    expect(await f.system.oracle.finalRoot(f.id)).to.deep.equal([ethers.ZeroHash, 0n]);
    // The same root with other totals is a conflict too (the totals cap minting).
    const inflated = { ...f.honest, totalExportWh: f.honest.totalExportWh + 1n };
    await expect(vote(f, r3, f.id, inflated)).to.emit(f.system.oracle, "RootConflicted");
    expect(await f.system.oracle.finalRoot(f.id)).to.deep.equal([ethers.ZeroHash, 0n]);
    expect([await votesFor(f, f.id, f.honest), await votesFor(f, f.id, inflated)]).to.deep.equal([1n, 1n]);
  });

  it("test_oracleVotes_conflicting_aFinalRootNeverChanges", async function () {
    const f = await loadFixture(trees);
    const [r1, r2, r3] = f.relayers;
    await (await vote(f, r1, f.id, f.honest)).wait();
    await expect(vote(f, r2, f.id, f.honest))
      .to.emit(f.system.oracle, "RootFinalized")
      .withArgs(f.id, f.honest.root, 4, f.honest.totalImportWh, f.honest.totalExportWh, 2n);
    for (const [who, t] of [
      [r3, f.fake],
      [r3, f.honest],
      [r1, f.fake],
    ] as const) {
      await expect(vote(f, who, f.id, t))
        .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalFinal")
        .withArgs(f.id, f.honest.root);
    }
    // Even a committee change or a lower threshold leaves the final root as it is.
    await (await f.system.oracle.setThreshold(1)).wait();
    await (await f.system.oracle.removeMember(r1.address)).wait();
    await expect(vote(f, r3, f.id, f.fake))
      .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalFinal")
      .withArgs(f.id, f.honest.root);
    expect(await f.system.oracle.finalRoot(f.id)).to.deep.equal([f.honest.root, f.honest.totalExportWh]);
  });
});

describe("adversarial: a minority of colluding relayers", function () {
  it("test_colludingMinority_oneOfThreeCannotFinaliseAFakeRootAndItsProofsMintNothing", async function () {
    const f = await loadFixture(trees);
    const [colluder, h1, h2] = f.relayers;
    // The colluder votes first, for a tree crediting alice's meter with 1,000 kWh.
    await (await vote(f, colluder, f.id, f.fake)).wait();
    const forged = proofFor(f.fake, f.meters[0].address);
    await expect(f.system.kwh.claim(forged.meter, f.id, forged.importWh, forged.exportWh, forged.proof))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenRootNotFinal")
      .withArgs(f.id);
    await (await vote(f, h1, f.id, f.honest)).wait();
    await expect(vote(f, h2, f.id, f.honest)).to.emit(f.system.oracle, "RootFinalized");
    expect(await f.system.oracle.finalRoot(f.id)).to.deep.equal([f.honest.root, f.honest.totalExportWh]);
    await expect(f.system.kwh.claim(forged.meter, f.id, forged.importWh, forged.exportWh, forged.proof))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(forged.meter, f.id);
    const real = proofFor(f.honest, f.meters[0].address);
    await expect(f.system.kwh.claim(real.meter, f.id, real.importWh, real.exportWh, real.proof))
      .to.emit(f.system.kwh, "KwhClaimed")
      .withArgs(real.meter, f.id, f.alice.address, await f.system.kwh.tokenId(1, f.id), 0n, 1_200n);
  });

  it("test_colludingMinority_twoOfFiveCannotFinaliseNorBlockTheHonestThree", async function () {
    const f = await loadFixture(trees);
    const signers = await ethers.getSigners();
    const [c1, c2] = [signers[7], signers[8]];
    for (const m of [c1, c2]) await (await f.system.oracle.addMember(m.address)).wait();
    await (await f.system.oracle.setThreshold(3)).wait();
    for (const c of [c1, c2]) await (await vote(f, c, f.id, f.fake)).wait();
    expect(await votesFor(f, f.id, f.fake)).to.equal(2n);
    expect((await f.system.oracle.finalRoot(f.id)).root).to.equal(ethers.ZeroHash);
    const [h1, h2, h3] = f.relayers;
    await (await vote(f, h1, f.id, f.honest)).wait();
    await (await vote(f, h2, f.id, f.honest)).wait();
    await expect(vote(f, h3, f.id, f.honest))
      .to.emit(f.system.oracle, "RootFinalized")
      .withArgs(f.id, f.honest.root, 4, f.honest.totalImportWh, f.honest.totalExportWh, 3n);
    await expect(vote(f, c1, f.id, f.fake))
      .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalFinal")
      .withArgs(f.id, f.honest.root);
  });

  it("test_colludingMinority_cannotVoteBeforeTheIntervalEnds", async function () {
    const f = await loadFixture(trees);
    // The interval after the current one: whatever the clock, it ends at least one interval from now.
    const current = BigInt(await networkHelpers.time.latest()) / INTERVAL + 1n;
    const endsAt = (current + 1n) * INTERVAL;
    const at = BigInt(await networkHelpers.time.latest()) + 1n;
    await networkHelpers.time.setNextBlockTimestamp(at);
    await expect(vote(f, f.relayers[0], current, f.fake))
      .to.be.revertedWithCustomError(f.system.oracle, "ReadingOracleIntervalNotEnded")
      .withArgs(current, endsAt, at);
  });

  it("test_colludingMinority_cannotChangeTheCommitteeOrItsThreshold", async function () {
    const f = await loadFixture(trees);
    const [colluder] = f.relayers;
    const oracle = f.system.oracle.connect(colluder);
    for (const call of [
      () => oracle.addMember(f.stranger.address),
      () => oracle.removeMember(f.relayers[1].address),
      () => oracle.setThreshold(1),
      () => oracle.pause(),
    ]) {
      await expect(call())
        .to.be.revertedWithCustomError(f.system.oracle, "AccessManagedUnauthorized")
        .withArgs(colluder.address);
    }
    expect(await f.system.oracle.threshold()).to.equal(2n);
    expect(await f.system.oracle.members()).to.deep.equal(f.relayers.map((r) => r.address));
  });
});
