import { expect } from "chai";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { buildIntervalTree, loadTree, multiProofFor, proofFor, saveTree } from "../../src/tree.js";
import { InputError } from "../../src/errors.js";
import { decodeKwhTokenId, intervalAt, intervalEnd, intervalStart, kwhTokenId } from "../../src/intervals.js";

const meters = [0, 1, 2, 3, 4].map(() => Wallet.createRandom().address);
const leaves = meters.map((meter, i) => ({ meter, importWh: BigInt(i * 10), exportWh: BigInt(1000 + i) }));

describe("src/tree", function () {
  it("test_buildIntervalTree_equalsStandardMerkleTreeAndSumsTotals", function () {
    const t = buildIntervalTree(42n, leaves);
    const reference = StandardMerkleTree.of(
      leaves.map((l) => [l.meter, 42n, l.importWh, l.exportWh]),
      ["address", "uint64", "uint64", "uint64"],
    );
    expect(t.root).to.equal(reference.root);
    expect([t.leafCount, t.totalImportWh, t.totalExportWh]).to.deep.equal([5, 100n, 5010n]);
  });

  it("test_proofs_verifyAgainstTheRoot", function () {
    const t = buildIntervalTree(42n, leaves);
    const p = proofFor(t, meters[3].toLowerCase());
    expect(
      StandardMerkleTree.verify(
        t.root,
        ["address", "uint64", "uint64", "uint64"],
        [p.meter, 42n, p.importWh, p.exportWh],
        p.proof,
      ),
    ).to.equal(true);
    const mp = multiProofFor(t, [meters[0], meters[4]]);
    expect(mp.leaves.map((l) => l.meter).sort()).to.deep.equal([meters[0], meters[4]].sort());
    expect(() => proofFor(t, Wallet.createRandom().address)).to.throw(InputError, /has no leaf in interval 42/);
    expect(() => multiProofFor(t, [Wallet.createRandom().address])).to.throw(InputError, /has no leaf/);
  });

  it("test_buildIntervalTree_rejectsEmptyDuplicateAndOutOfRangeLeaves", function () {
    expect(() => buildIntervalTree(1n, [])).to.throw(InputError, "interval 1 has no readings: nothing to anchor");
    expect(() => buildIntervalTree(1n, [leaves[0], { ...leaves[0], exportWh: 1n }])).to.throw(
      InputError,
      /appears twice/,
    );
    expect(() => buildIntervalTree(1n, [{ ...leaves[0], exportWh: -1n }])).to.throw(
      InputError,
      /exportWh -1 .* is not a uint64/,
    );
    expect(() => buildIntervalTree(1n, [{ ...leaves[0], importWh: 1n << 64n }])).to.throw(
      InputError,
      /importWh .* is not a uint64/,
    );
    const big = (1n << 64n) - 1n;
    expect(() =>
      buildIntervalTree(1n, [
        { ...leaves[0], exportWh: big },
        { ...leaves[1], exportWh: big },
      ]),
    ).to.throw(InputError, /totals overflow uint64/);
  });

  it("test_saveTree_loadTree_roundTripAndDetectCorruption", function () {
    const dir = mkdtempSync(join(tmpdir(), "tree-"));
    const path = join(dir, "t.json");
    const t = buildIntervalTree(7n, leaves);
    saveTree(path, t);
    const back = loadTree(path);
    expect([back.intervalId, back.root, back.leafCount, back.totalImportWh, back.totalExportWh]).to.deep.equal([
      7n,
      t.root,
      5,
      100n,
      5010n,
    ]);
    expect(proofFor(back, meters[2]).proof).to.deep.equal(proofFor(t, meters[2]).proof);
    const raw = JSON.parse(readFileSync(path, "utf8"));
    raw.root = "0x" + "11".repeat(32);
    writeFileSync(path, JSON.stringify(raw));
    expect(() => loadTree(path)).to.throw(InputError, /corrupt/);
    expect(() => loadTree(join(dir, "missing.json"))).to.throw(InputError, /cannot read tree file/);
  });

  it("test_intervals_andTokenIds", function () {
    expect(intervalAt(1_800_000_899n, 900n)).to.equal(2_000_000n);
    expect(intervalStart(2n, 900n)).to.equal(1_800n);
    expect(intervalEnd(2n, 900n)).to.equal(2_700n);
    expect(decodeKwhTokenId(kwhTokenId(3, 123n))).to.deep.equal({ zone: 3n, intervalId: 123n });
  });
});
