import { expect } from "chai";
import { AbiCoder, concat, dataLength, keccak256 } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { buildIntervalTree, multiProofFor, proofFor, type IntervalTree } from "../../src/tree.js";
import {
  deployFixture,
  ethers,
  lastEndedInterval,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  type Fixture,
} from "../helpers/fixture.js";

/*
 * Merkle second preimages and proofs carried across intervals (README "Contracts", src/tree.ts,
 * contracts/libraries/MeterReadings.sol): leaves are the StandardMerkleTree encoding
 * keccak256(keccak256(abi.encode(meter, intervalId, importWh, exportWh))), 128 bytes hashed twice, so no 64-byte
 * internal node is ever a leaf; the interval is inside the leaf, and each interval has its own final root.
 */

const { loadFixture } = networkHelpers;

/** OpenZeppelin MerkleProof's commutative pair hash. */
function hashPair(a: string, b: string): string {
  return BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

/** MerkleProof.processProof: what a verifier that took raw hashes as leaves would compute. */
function processProof(leaf: string, proof: string[]): string {
  return proof.reduce(hashPair, leaf);
}

/** A final root of the sample readings for the interval that ended last. */
async function withRoot() {
  const f = await deployFixture();
  const id = await lastEndedInterval();
  const tree = await postRoot(f.system, f.relayers, id, sampleLeaves(f));
  return { ...f, id, tree };
}

/** The parent of meter 0's leaf, and the proof that takes it to the root. */
function internalNode(tree: IntervalTree, meter: string) {
  const p = proofFor(tree, meter);
  const leaf = tree.tree.leafHash([p.meter, tree.intervalId, p.importWh, p.exportWh]);
  return { node: hashPair(leaf, p.proof[0]), rest: p.proof.slice(1) };
}

/** Reads a 32-byte node as the claim fields an attacker controls: (meter, importWh, exportWh). */
function asClaimFields(node: string) {
  return {
    meter: ethers.getAddress(ethers.dataSlice(node, 0, 20)),
    importWh: BigInt(ethers.dataSlice(node, 20, 28)),
    exportWh: BigInt(ethers.dataSlice(node, 28, 32)),
  };
}

async function balances(f: Fixture, id: bigint) {
  return {
    minted: await f.system.kwh.mintedWh(id),
    alice: await f.system.kwh.balanceOf(f.alice.address, await f.system.kwh.tokenId(1, id)),
  };
}

describe("adversarial: Merkle second preimage", function () {
  it("test_merkleSecondPreimage_internalNodeVerifiesAsARawHashButNoClaimPathAcceptsIt", async function () {
    const f = await loadFixture(withRoot);
    const { node, rest } = internalNode(f.tree, f.meters[0].address);
    // The classic attack: the node with the shortened proof reaches the root under raw-hash verification…
    expect(processProof(node, rest)).to.equal(f.tree.root);
    // …but the tree's leaves are double-hashed 128-byte encodings, which a 64-byte node is not.
    expect(StandardMerkleTree.verify(f.tree.root, ["bytes32"], [node], rest)).to.equal(false);
    const x = asClaimFields(node);
    const before = await balances(f, f.id);
    await expect(f.system.kwh.claim(x.meter, f.id, x.importWh, x.exportWh, rest))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(x.meter, f.id);
    await expect(f.system.kwh.claimMany([{ ...x, intervalId: f.id, proof: rest }]))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(x.meter, f.id);
    await expect(
      f.system.kwh.claimInterval(
        f.id,
        [x],
        rest,
        rest.map(() => false),
      ),
    )
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(x.meter, f.id);
    expect(await balances(f, f.id)).to.deep.equal(before);
  });

  it("test_merkleSecondPreimage_leafPreimageIs128BytesHashedTwice", async function () {
    const f = await loadFixture(withRoot);
    const p = proofFor(f.tree, f.meters[1].address);
    const encoded = AbiCoder.defaultAbiCoder().encode(
      ["address", "uint64", "uint64", "uint64"],
      [p.meter, f.id, p.importWh, p.exportWh],
    );
    expect(dataLength(encoded)).to.equal(128);
    const leaf = keccak256(keccak256(encoded));
    expect(f.tree.tree.leafHash([p.meter, f.id, p.importWh, p.exportWh])).to.equal(leaf);
    expect(processProof(leaf, p.proof)).to.equal(f.tree.root);
    // The single-hashed encoding (a 32-byte value, like a node) is not the leaf: a proof built on it fails.
    expect(processProof(keccak256(encoded), p.proof)).to.not.equal(f.tree.root);
    // A leaf's own proof with one sibling too many or too few (treating it as a node one level up or down) fails.
    for (const proof of [p.proof.slice(1), [...p.proof, p.proof[0]]]) {
      await expect(f.system.kwh.claim(p.meter, f.id, p.importWh, p.exportWh, proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
        .withArgs(p.meter, f.id);
    }
    await expect(f.system.kwh.claim(p.meter, f.id, p.importWh, p.exportWh, p.proof)).to.emit(
      f.system.kwh,
      "KwhClaimed",
    );
  });

  it("test_merkleSecondPreimage_leavesBeyondTheRootsDeclaredExportAreNeverMinted", async function () {
    // Whatever a tree proves, an interval never mints more than the totals its quorum voted.
    const f = await loadFixture(deployFixture);
    const id = await lastEndedInterval();
    const tree = buildIntervalTree(id, sampleLeaves(f)); // 5,100 Wh exported
    for (const r of f.relayers.slice(0, 2)) {
      await (await f.system.oracle.connect(r).submitRoot(id, tree.root, tree.leafCount, 0n, 2_000n)).wait();
    }
    const claim = (m: number) => {
      const p = proofFor(tree, f.meters[m].address);
      return f.system.kwh.claim(p.meter, id, p.importWh, p.exportWh, p.proof);
    };
    await (await claim(0)).wait(); // 1,200 Wh
    await expect(claim(1))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenExceedsProvenExport")
      .withArgs(id, 3_100n, 2_000n);
    expect(await f.system.kwh.mintedWh(id)).to.equal(1_200n);
  });
});

describe("adversarial: proofs across intervals", function () {
  /** The same readings anchored for two consecutive ended intervals. */
  async function twoIntervals() {
    const f = await deployFixture();
    await networkHelpers.time.increase(INTERVAL);
    const second = await lastEndedInterval();
    const first = second - 1n;
    const a = await postRoot(f.system, f.relayers, first, sampleLeaves(f));
    const b = await postRoot(f.system, f.relayers, second, sampleLeaves(f));
    return { ...f, first, second, a, b };
  }

  it("test_proofAcrossIntervals_identicalReadingsGiveDistinctRootsAndEachProofOpensOnlyItsInterval", async function () {
    const f = await loadFixture(twoIntervals);
    expect(f.a.root).to.not.equal(f.b.root);
    const p = proofFor(f.a, f.meters[0].address);
    await expect(f.system.kwh.claim(p.meter, f.second, p.importWh, p.exportWh, p.proof))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(p.meter, f.second);
    // Each interval's own proof claims it, once.
    for (const [id, tree] of [
      [f.first, f.a],
      [f.second, f.b],
    ] as const) {
      const q = proofFor(tree, f.meters[0].address);
      await expect(f.system.kwh.claim(q.meter, id, q.importWh, q.exportWh, q.proof))
        .to.emit(f.system.kwh, "KwhClaimed")
        .withArgs(q.meter, id, f.alice.address, await f.system.kwh.tokenId(1, id), q.importWh, q.exportWh);
      await expect(f.system.kwh.claim(q.meter, id, q.importWh, q.exportWh, q.proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed")
        .withArgs(q.meter, id);
    }
  });

  it("test_proofAcrossIntervals_batchAndMultiProofClaimsWithAForeignProofRevertWhole", async function () {
    const f = await loadFixture(twoIntervals);
    const own = proofFor(f.b, f.meters[1].address);
    const foreign = proofFor(f.a, f.meters[0].address);
    await expect(
      f.system.kwh.claimMany([
        { ...own, intervalId: f.second },
        { ...foreign, intervalId: f.second },
      ]),
    )
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(foreign.meter, f.second);
    const multi = multiProofFor(f.a, [f.meters[0].address, f.meters[1].address]);
    await expect(f.system.kwh.claimInterval(f.second, multi.leaves, multi.proof, multi.proofFlags))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenInvalidProof")
      .withArgs(multi.leaves[0].meter, f.second);
    expect(await f.system.kwh.mintedWh(f.second)).to.equal(0n);
    expect(await f.system.kwh.isClaimed(own.meter, f.second)).to.equal(false);
  });

  it("test_proofAcrossIntervals_intervalsWithoutAFinalRootClaimNothing", async function () {
    const f = await loadFixture(twoIntervals);
    const p = proofFor(f.b, f.meters[0].address);
    // A later interval with a pending root (one vote), one never posted, one not even ended.
    await networkHelpers.time.increase(INTERVAL);
    const pending = await lastEndedInterval();
    const tree = await postRoot(f.system, f.relayers, pending, sampleLeaves(f), 1);
    const q = proofFor(tree, f.meters[0].address);
    await expect(f.system.kwh.claim(q.meter, pending, q.importWh, q.exportWh, q.proof))
      .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenRootNotFinal")
      .withArgs(pending);
    for (const id of [pending + 1n, pending + 100n]) {
      await expect(f.system.kwh.claim(p.meter, id, p.importWh, p.exportWh, p.proof))
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenRootNotFinal")
        .withArgs(id);
    }
  });
});
