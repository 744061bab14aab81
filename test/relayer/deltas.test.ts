import { expect } from "chai";
import { InputError } from "../../src/errors.js";
import { deriveLeaves } from "../../oracle/src/batch/deltas.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";

const [A, B, C, D] = [
  "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
  "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
  "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
  "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
] as Hex[];

function reading(meter: Hex, intervalId: bigint, importWhTotal: bigint, exportWhTotal: bigint): SignedReading {
  return {
    meter,
    intervalId,
    importWhTotal,
    exportWhTotal,
    timestamp: (intervalId + 1n) * 900n,
    signature: `0x${"11".repeat(65)}`,
  };
}

describe("oracle/batch/deltas", function () {
  it("test_deriveLeaves_leafIsTheAdvanceOfEachRegisterSinceTheBaseline", function () {
    const baselines = new Map([
      [A, reading(A, 9n, 1_000n, 50n)],
      [B, reading(B, 9n, 7n, 2_000n)],
    ]);
    const { leaves, skipped } = deriveLeaves(
      10n,
      [reading(A, 10n, 1_250n, 50n), reading(B, 10n, 7n, 2_900n)],
      baselines,
    );
    expect(leaves).to.deep.equal([
      { meter: A, importWh: 250n, exportWh: 0n },
      { meter: B, importWh: 0n, exportWh: 900n },
    ]);
    expect(skipped).to.deep.equal([]);
  });

  it("test_deriveLeaves_unchangedRegisters_giveAZeroLeaf", function () {
    const { leaves } = deriveLeaves(10n, [reading(A, 10n, 5n, 6n)], new Map([[A, reading(A, 9n, 5n, 6n)]]));
    expect(leaves).to.deep.equal([{ meter: A, importWh: 0n, exportWh: 0n }]);
  });

  it("test_deriveLeaves_firstReading_isOnlyABaseline", function () {
    const { leaves, skipped } = deriveLeaves(
      10n,
      [reading(C, 10n, 400n, 0n), reading(A, 10n, 30n, 40n), reading(D, 10n, 1n, 1n)],
      new Map([[A, reading(A, 9n, 10n, 10n)]]),
    );
    expect(leaves).to.deep.equal([{ meter: A, importWh: 20n, exportWh: 30n }]);
    expect(skipped).to.deep.equal([
      { meter: C, reason: "no_baseline" },
      { meter: D, reason: "no_baseline" },
    ]);
  });

  it("test_deriveLeaves_missedIntervals_nextDeltaCoversTheWholeGap", function () {
    // A last reported in interval 5; its reading for 9 carries the energy of intervals 6 … 9.
    const { leaves } = deriveLeaves(
      9n,
      [reading(A, 9n, 1_900n, 3_000n)],
      new Map([[A, reading(A, 5n, 1_000n, 1_000n)]]),
    );
    expect(leaves).to.deep.equal([{ meter: A, importWh: 900n, exportWh: 2_000n }]);
  });

  it("test_deriveLeaves_decreasedRegister_isSkippedAsTampering", function () {
    const baselines = new Map([
      [A, reading(A, 9n, 100n, 100n)],
      [B, reading(B, 9n, 100n, 100n)],
      [C, reading(C, 9n, 100n, 100n)],
    ]);
    const { leaves, skipped } = deriveLeaves(
      10n,
      [reading(A, 10n, 99n, 500n), reading(B, 10n, 100n, 100n), reading(C, 10n, 500n, 0n)],
      baselines,
    );
    expect(leaves).to.deep.equal([{ meter: B, importWh: 0n, exportWh: 0n }]);
    expect(skipped).to.deep.equal([
      { meter: A, reason: "register_decreased" },
      { meter: C, reason: "register_decreased" },
    ]);
  });

  it("test_deriveLeaves_noReadings_nothing", function () {
    expect(deriveLeaves(10n, [], new Map([[A, reading(A, 9n, 1n, 1n)]]))).to.deep.equal({ leaves: [], skipped: [] });
  });

  it("test_deriveLeaves_mixedUpInputs_throwInputError", function () {
    const base = new Map([[A, reading(A, 9n, 1n, 1n)]]);
    expect(() => deriveLeaves(10n, [reading(A, 11n, 2n, 2n)], base)).to.throw(
      InputError,
      `reading of meter ${A} is for interval 11, not 10`,
    );
    expect(() => deriveLeaves(10n, [reading(A, 10n, 2n, 2n), reading(A, 10n, 3n, 3n)], base)).to.throw(
      InputError,
      `meter ${A} has two readings for interval 10`,
    );
    expect(() => deriveLeaves(10n, [reading(A, 10n, 2n, 2n)], new Map([[A, reading(A, 10n, 1n, 1n)]]))).to.throw(
      InputError,
      `baseline of meter ${A} is meter ${A}'s reading for interval 10, not an earlier reading of the same meter`,
    );
    expect(() => deriveLeaves(10n, [reading(A, 10n, 2n, 2n)], new Map([[A, reading(B, 9n, 1n, 1n)]]))).to.throw(
      InputError,
      `baseline of meter ${A} is meter ${B}'s reading for interval 9`,
    );
  });
});
