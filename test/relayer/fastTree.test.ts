import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { getAddress, Wallet } from "ethers";
import fc from "fast-check";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { InputError } from "../../src/errors.js";
import { buildFastTree, FAST_TREE_LEAF_ENCODING, FastTree } from "../../oracle/src/batch/fastTree.js";
import type { Hex, Leaf } from "../../oracle/src/types.js";

type Value = [string, bigint, bigint, bigint];
const ENCODING = [...FAST_TREE_LEAF_ENCODING];
const UINT64_MAX = (1n << 64n) - 1n;

function randomMeter(): Hex {
  return getAddress(`0x${randomBytes(20).toString("hex")}`) as Hex;
}

function randomLeaves(n: number): Leaf[] {
  return Array.from({ length: n }, () => ({
    meter: randomMeter(),
    importWh: BigInt(randomBytes(4).readUInt32BE()),
    exportWh: BigInt(randomBytes(6).readUIntBE(0, 6)),
  }));
}

function reference(intervalId: bigint, leaves: Leaf[]): StandardMerkleTree<Value> {
  return StandardMerkleTree.of(
    leaves.map((l): Value => [l.meter, intervalId, l.importWh, l.exportWh]),
    ENCODING,
  );
}

const asLeaf = (v: Value): Leaf => ({ meter: v[0] as Hex, importWh: BigInt(v[2]), exportWh: BigInt(v[3]) });

/** Random subset of `0 … n - 1` in random order. */
function randomSubset(n: number, p: number): number[] {
  const picked = [...Array(n).keys()].filter(() => Math.random() < p);
  return picked.sort(() => Math.random() - 0.5);
}

/** Asserts that `tree` equals the library's tree of the same leaves: root, order, totals, every proof, multi-proofs. */
function expectSameAsLibrary(tree: FastTree, intervalId: bigint, leaves: Leaf[], multiProofSets: number[][]): void {
  const ref = reference(intervalId, leaves);
  expect(tree.root).to.equal(ref.root);
  expect(tree.leafCount).to.equal(leaves.length);
  expect(tree.totalImportWh).to.equal(leaves.reduce((s, l) => s + l.importWh, 0n));
  expect(tree.totalExportWh).to.equal(leaves.reduce((s, l) => s + l.exportWh, 0n));
  const dump = ref.dump();
  const libraryOrder = [...dump.values].sort((a, b) => b.treeIndex - a.treeIndex).map((v) => asLeaf(v.value));
  expect(tree.leaves()).to.deep.equal(libraryOrder);
  leaves.forEach((leaf, i) => expect(tree.proof(leaf.meter), `proof ${i}`).to.deep.equal(ref.getProof(i)));
  for (const indices of multiProofSets) {
    const ours = tree.multiProof(indices.map((i) => leaves[i].meter));
    const theirs = ref.getMultiProof(indices);
    expect(ours.leaves, `multi-proof leaves of ${indices}`).to.deep.equal(theirs.leaves.map(asLeaf));
    expect(ours.proof, `multi-proof of ${indices}`).to.deep.equal(theirs.proof);
    expect(ours.proofFlags, `multi-proof flags of ${indices}`).to.deep.equal(theirs.proofFlags);
  }
}

function multiProofSets(n: number): number[][] {
  return [[], [0], [n - 1], [...Array(n).keys()], randomSubset(n, 0.5), randomSubset(n, 0.1)];
}

describe("oracle/batch/fastTree", function () {
  for (const n of [1, 2, 3, 7, 100, 1000]) {
    it(`test_buildFastTree_${n}Leaves_equalsStandardMerkleTree`, function () {
      const leaves = randomLeaves(n);
      const tree = buildFastTree(42n, leaves);
      expectSameAsLibrary(tree, 42n, leaves, multiProofSets(n));
      expect(tree.toBatch()).to.deep.equal({
        intervalId: 42n,
        root: tree.root,
        leafCount: n,
        totalImportWh: tree.totalImportWh,
        totalExportWh: tree.totalExportWh,
        leaves: tree.leaves(),
      });
    });
  }

  it("test_buildFastTree_workerThreads_equalStandardMerkleTree", function () {
    for (const n of [1, 2, 7, 1000]) {
      const leaves = randomLeaves(n);
      expectSameAsLibrary(buildFastTree(9n, leaves, { threads: 2 }), 9n, leaves, multiProofSets(n));
    }
  });

  it("test_buildFastTree_largeDefaultParallelBuild_equalsSingleThreadBuild", function () {
    const leaves = randomLeaves(60_000);
    const parallel = buildFastTree(7n, leaves);
    const single = buildFastTree(7n, leaves, { threads: 1 });
    expect(parallel.serialize().equals(single.serialize())).to.equal(true);
    const i = 12_345;
    expect(
      StandardMerkleTree.verify(
        parallel.root,
        ENCODING,
        [leaves[i].meter, 7n, leaves[i].importWh, leaves[i].exportWh],
        parallel.proof(leaves[i].meter),
      ),
    ).to.equal(true);
  });

  it("test_buildFastTree_property_equalsStandardMerkleTree", function () {
    const leafArb = fc.record({
      meter: fc
        .uint8Array({ minLength: 20, maxLength: 20 })
        .map((b) => getAddress(`0x${Buffer.from(b).toString("hex")}`) as Hex),
      importWh: fc.bigInt({ min: 0n, max: UINT64_MAX / 64n }),
      exportWh: fc.bigInt({ min: 0n, max: UINT64_MAX / 64n }),
    });
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: UINT64_MAX }),
        fc.uniqueArray(leafArb, { minLength: 1, maxLength: 40, selector: (l) => l.meter }),
        fc.func(fc.boolean()),
        (intervalId, leaves, pick) => {
          const indices = leaves.map((_, i) => i).filter((i) => pick(i));
          expectSameAsLibrary(buildFastTree(intervalId, leaves), intervalId, leaves, [indices]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("test_buildFastTree_anyCaseMeters_storedChecksummedSameRoot", function () {
    const leaves = randomLeaves(5);
    const cased = leaves.map((l, i) => ({
      ...l,
      meter: (i % 2 === 0 ? l.meter.toLowerCase() : `0x${l.meter.slice(2).toUpperCase()}`) as Hex,
    }));
    const tree = buildFastTree(3n, cased);
    expect(tree.root).to.equal(reference(3n, leaves).root);
    expect(
      tree
        .leaves()
        .map((l) => l.meter)
        .sort(),
    ).to.deep.equal(leaves.map((l) => l.meter).sort());
    expect(tree.proof(leaves[1].meter.toLowerCase() as Hex)).to.deep.equal(tree.proof(leaves[1].meter));
    expect(tree.multiProof([cased[2].meter]).leaves).to.deep.equal([leaves[2]]);
  });

  it("test_buildFastTree_invalidInput_throwsInputError", function () {
    const [a, b] = randomLeaves(2);
    const build =
      (leaves: unknown[], intervalId: unknown = 1n, threads?: number) =>
      () =>
        buildFastTree(intervalId as bigint, leaves as Leaf[], { threads });
    // EIP-55's test vector 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed with its second letter's case flipped.
    const badChecksum = "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    expect(build([])).to.throw(InputError, "interval 1 has no readings: nothing to anchor");
    expect(build([a, { ...b, meter: a.meter.toLowerCase() }])).to.throw(
      InputError,
      `meter ${a.meter} appears twice in interval 1`,
    );
    const malformed = [
      a.meter.slice(2),
      `0X${a.meter.slice(2)}`,
      `${a.meter}00`,
      a.meter.slice(0, 41),
      `0x${"g".repeat(40)}`,
      `0x${"0".repeat(39)}Ā`,
      `0xĀ${"0".repeat(39)}`,
      42,
    ];
    for (const meter of malformed) {
      expect(build([{ ...a, meter }]), String(meter)).to.throw(InputError, /is not a 0x-prefixed 20-byte address/);
    }
    expect(build([{ ...a, meter: badChecksum }])).to.throw(
      InputError,
      `meter ${badChecksum} has an invalid EIP-55 checksum`,
    );
    expect(buildFastTree(1n, [{ ...a, meter: badChecksum.toLowerCase() as Hex }]).leaves()[0].meter).to.equal(
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    expect(build([{ ...a, importWh: -1n }])).to.throw(InputError, `importWh -1 of meter ${a.meter} is not a uint64`);
    expect(build([{ ...a, exportWh: UINT64_MAX + 1n }])).to.throw(
      InputError,
      /exportWh 18446744073709551616 .* not a uint64/,
    );
    expect(build([{ ...a, importWh: 5 }])).to.throw(InputError, "importWh 5 of meter");
    expect(
      build([
        { ...a, exportWh: UINT64_MAX },
        { ...b, exportWh: 1n },
      ]),
    ).to.throw(InputError, "interval 1 totals overflow uint64");
    expect(build([a], -1n)).to.throw(InputError, "interval id -1 is not a uint64");
    expect(build([a], 1)).to.throw(InputError, "interval id 1 is not a uint64");
    expect(build([a], 1n, 0)).to.throw(InputError, "threads must be a positive integer, not 0");
    // The same errors from the worker-thread path, where meters are checked off the calling thread.
    expect(build([a, { ...b, meter: `0x${"g".repeat(40)}` }], 1n, 2)).to.throw(InputError, /0x-prefixed 20-byte/);
    expect(build([a, b, { ...a, importWh: 1n }], 1n, 2)).to.throw(InputError, `meter ${a.meter} appears twice`);
  });

  it("test_proofLookups_unknownOrRepeatedMeter_throwInputError", function () {
    const leaves = randomLeaves(4);
    const tree = buildFastTree(8n, leaves);
    const stranger = Wallet.createRandom().address as Hex;
    expect(() => tree.proof(stranger)).to.throw(InputError, `meter ${stranger} has no leaf in interval 8`);
    expect(() => tree.proof("0x1234" as Hex)).to.throw(InputError, "is not a 0x-prefixed 20-byte address");
    expect(() => tree.multiProof([leaves[0].meter, stranger])).to.throw(InputError, "has no leaf in interval 8");
    expect(() => tree.multiProof([leaves[1].meter, leaves[1].meter.toLowerCase() as Hex])).to.throw(
      InputError,
      `meter ${leaves[1].meter} is listed twice`,
    );
  });

  it("test_serialize_roundTrip_restoresTheSameTree", function () {
    const leaves = randomLeaves(257);
    const tree = buildFastTree(123_456n, leaves);
    const bytes = tree.serialize();
    expect(bytes.length).to.equal(16 + 257 * (42 + 16) + (2 * 257 - 1) * 32 + 4);
    const copy = FastTree.deserialize(new Uint8Array(bytes));
    expect([copy.intervalId, copy.root, copy.leafCount, copy.totalImportWh, copy.totalExportWh]).to.deep.equal([
      123_456n,
      tree.root,
      257,
      tree.totalImportWh,
      tree.totalExportWh,
    ]);
    expect(copy.leaves()).to.deep.equal(tree.leaves());
    for (const leaf of leaves) expect(copy.proof(leaf.meter)).to.deep.equal(tree.proof(leaf.meter));
    const some = leaves.slice(10, 60).map((l) => l.meter);
    expect(copy.multiProof(some)).to.deep.equal(tree.multiProof(some));
    expect(copy.serialize().equals(bytes)).to.equal(true);
  });

  it("test_deserialize_damagedBytes_throwInputError", function () {
    const bytes = buildFastTree(5n, randomLeaves(3)).serialize();
    const flipped = Buffer.from(bytes);
    flipped[100] ^= 1;
    expect(() => FastTree.deserialize(flipped)).to.throw(InputError, "serialised tree is corrupt (CRC-32 mismatch)");
    expect(() => FastTree.deserialize(bytes.subarray(0, bytes.length - 1))).to.throw(InputError, "bad length");
    expect(() => FastTree.deserialize(bytes.subarray(0, 16 + 4))).to.throw(InputError, "bad length");
    const otherMagic = Buffer.from(bytes);
    otherMagic[0] = 0;
    expect(() => FastTree.deserialize(otherMagic)).to.throw(InputError, "not a serialised interval tree");
  });
});
