import { expect } from "chai";
import type { Hex, MirroredMeter, SignedReading } from "../../oracle/src/types.js";
import { checkRules, maxWhOver, type RuleConfig } from "../../oracle/src/ingest/rules.js";

const UINT64_MAX = (1n << 64n) - 1n;
const L = 900n;
const SKEW = 30n;
const CONFIG: RuleConfig = { intervalLength: L, clockSkewSeconds: SKEW };
const METER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" as Hex;
const ID = 1_944_444n;
const END = (ID + 1n) * L;
/** Long after the interval: only the rule under test can fail. */
const LATER = END + 86_400n;

/** 1001 W over 900 s = 250.25 Wh: the bound rounds up to 251 Wh per interval. */
const CAPACITY = 1_001n;
const PER_INTERVAL = 251n;

function meter(overrides: Partial<MirroredMeter> = {}): MirroredMeter {
  return {
    meter: METER,
    owner: "0x0000000000000000000000000000000000000001",
    zone: 1,
    index: 0,
    technology: 0,
    ratedCapacityW: CAPACITY,
    revokedAt: 0n,
    ...overrides,
  };
}

function reading(intervalId = ID, importWhTotal = 10_000n, exportWhTotal = 20_000n, timestamp?: bigint): SignedReading {
  return {
    meter: METER,
    intervalId,
    importWhTotal,
    exportWhTotal,
    timestamp: timestamp ?? (intervalId + 1n) * L,
    signature: `0x${"11".repeat(64)}1b`,
  };
}

function expectViolation(v: ReturnType<typeof checkRules>, reason: string, detail?: RegExp): void {
  expect(v, "expected a violation").to.not.equal(null);
  expect(v!.reason).to.equal(reason);
  expect(v!.detail).to.not.match(/[\r\n]/);
  if (detail !== undefined) expect(v!.detail).to.match(detail);
}

describe("relayer: acceptance rules", function () {
  it("test_rules_passingReading_isNull", function () {
    const prev = reading(ID - 1n, 10_000n - PER_INTERVAL, 20_000n - PER_INTERVAL);
    const next = reading(ID + 1n, 10_000n + PER_INTERVAL, 20_000n + PER_INTERVAL);
    expect(checkRules(reading(), meter(), CONFIG, LATER, prev, next)).to.equal(null);
    expect(checkRules(reading(), meter(), CONFIG, LATER)).to.equal(null);
  });

  describe("unknown_meter", function () {
    it("test_unknownMeter_rejected_knownAccepted", function () {
      expectViolation(
        checkRules(reading(), undefined, CONFIG, LATER),
        "unknown_meter",
        new RegExp(`meter ${METER} is not registered`),
      );
      expect(checkRules(reading(), meter(), CONFIG, LATER)).to.equal(null);
    });

    it("test_unknownMeter_isReportedFirst", function () {
      // Also not ended and misaligned: the first rule wins.
      expectViolation(checkRules(reading(ID, 1n, 1n, 0n), undefined, CONFIG, 0n), "unknown_meter");
    });
  });

  describe("revoked_meter", function () {
    it("test_revoked_beforeIntervalEnd_rejected", function () {
      expectViolation(
        checkRules(reading(), meter({ revokedAt: END - 1n }), CONFIG, LATER),
        "revoked_meter",
        new RegExp(`revoked at ${END - 1n}, before interval ${ID} ended at ${END}`),
      );
    });

    it("test_revoked_atOrAfterIntervalEnd_accepted", function () {
      expect(checkRules(reading(), meter({ revokedAt: END }), CONFIG, LATER)).to.equal(null);
      expect(checkRules(reading(), meter({ revokedAt: END + 1n }), CONFIG, LATER)).to.equal(null);
    });

    it("test_notRevoked_zero_accepted", function () {
      expect(checkRules(reading(), meter({ revokedAt: 0n }), CONFIG, LATER)).to.equal(null);
    });
  });

  describe("not_ended", function () {
    it("test_notEnded_endWithinSkewOfNow_accepted", function () {
      expect(checkRules(reading(), meter(), CONFIG, END - SKEW)).to.equal(null); // end == now + skew
      expect(checkRules(reading(), meter(), CONFIG, END)).to.equal(null);
    });

    it("test_notEnded_endBeyondNowPlusSkew_rejected", function () {
      expectViolation(
        checkRules(reading(), meter(), CONFIG, END - SKEW - 1n),
        "not_ended",
        new RegExp(`interval ${ID} ends at ${END}, after now ${END - SKEW - 1n} \\+ skew ${SKEW}`),
      );
    });

    it("test_notEnded_zeroSkew_boundary", function () {
      const noSkew = { ...CONFIG, clockSkewSeconds: 0n };
      expect(checkRules(reading(), meter(), noSkew, END)).to.equal(null);
      expectViolation(checkRules(reading(), meter(), noSkew, END - 1n), "not_ended");
    });
  });

  describe("misaligned", function () {
    it("test_misaligned_timestampWithinSkewOfEnd_accepted", function () {
      for (const ts of [END - SKEW, END, END + SKEW]) {
        expect(checkRules(reading(ID, 1n, 1n, ts), meter(), CONFIG, LATER), `timestamp ${ts}`).to.equal(null);
      }
    });

    it("test_misaligned_timestampBeyondSkew_rejected", function () {
      expectViolation(
        checkRules(reading(ID, 1n, 1n, END + SKEW + 1n), meter(), CONFIG, LATER),
        "misaligned",
        new RegExp(
          `timestamp ${END + SKEW + 1n} is ${SKEW + 1n} s from the end ${END} of interval ${ID} \\(skew ${SKEW} s\\)`,
        ),
      );
      expectViolation(
        checkRules(reading(ID, 1n, 1n, END - SKEW - 1n), meter(), CONFIG, LATER),
        "misaligned",
        /is -31 s from/,
      );
      // The start of the interval is not its end.
      expectViolation(checkRules(reading(ID, 1n, 1n, ID * L), meter(), CONFIG, LATER), "misaligned");
    });
  });

  describe("register_decreased", function () {
    const base = reading();

    it("test_registers_equalToPrevious_accepted", function () {
      const prev = reading(ID - 1n, base.importWhTotal, base.exportWhTotal);
      expect(checkRules(base, meter(), CONFIG, LATER, prev)).to.equal(null);
    });

    it("test_importBelowPrevious_rejected", function () {
      const prev = reading(ID - 1n, base.importWhTotal + 1n, base.exportWhTotal);
      expectViolation(
        checkRules(base, meter(), CONFIG, LATER, prev),
        "register_decreased",
        new RegExp(
          `import register ${base.importWhTotal} Wh is below ${base.importWhTotal + 1n} Wh of interval ${ID - 1n}`,
        ),
      );
    });

    it("test_exportBelowPrevious_rejected", function () {
      const prev = reading(ID - 5n, base.importWhTotal, base.exportWhTotal + 1n);
      expectViolation(
        checkRules(base, meter(), CONFIG, LATER, prev),
        "register_decreased",
        /export register .* is below/,
      );
    });

    it("test_registers_equalToNext_accepted", function () {
      const next = reading(ID + 1n, base.importWhTotal, base.exportWhTotal);
      expect(checkRules(base, meter(), CONFIG, LATER, undefined, next)).to.equal(null);
    });

    it("test_importAboveNext_rejected", function () {
      const next = reading(ID + 1n, base.importWhTotal - 1n, base.exportWhTotal);
      expectViolation(
        checkRules(base, meter(), CONFIG, LATER, undefined, next),
        "register_decreased",
        new RegExp(
          `import register ${base.importWhTotal} Wh is above ${base.importWhTotal - 1n} Wh of later interval ${ID + 1n}`,
        ),
      );
    });

    it("test_exportAboveNext_rejected", function () {
      const next = reading(ID + 3n, base.importWhTotal, base.exportWhTotal - 1n);
      expectViolation(
        checkRules(base, meter(), CONFIG, LATER, undefined, next),
        "register_decreased",
        /export register .* is above/,
      );
    });

    it("test_neighboursOfTheSameInterval_areIgnored", function () {
      const same = reading(ID, base.importWhTotal + 100n, base.exportWhTotal - 100n);
      expect(checkRules(base, meter(), CONFIG, LATER, same, same)).to.equal(null);
    });
  });

  describe("impossible_delta", function () {
    it("test_maxWhOver_roundsUp", function () {
      expect(maxWhOver(CAPACITY, 1n, L)).to.equal(PER_INTERVAL);
      expect(maxWhOver(4_000n, 1n, L)).to.equal(1_000n); // exact: no rounding
      expect(maxWhOver(CAPACITY, 3n, L)).to.equal(751n); // 750.75
      expect(maxWhOver(1n, 1n, 1n)).to.equal(1n);
      expect(maxWhOver(0n, 5n, L)).to.equal(0n);
    });

    for (const register of ["import", "export"] as const) {
      const at = (prevWh: bigint, wh: bigint, intervals = 1n) => {
        const prev =
          register === "import" ? reading(ID - intervals, prevWh, 20_000n) : reading(ID - intervals, 10_000n, prevWh);
        const r = register === "import" ? reading(ID, wh, 20_000n) : reading(ID, 10_000n, wh);
        return checkRules(r, meter(), CONFIG, LATER, prev);
      };

      it(`test_${register}Delta_atRoundedUpCapacity_accepted_oneMore_rejected`, function () {
        expect(at(5_000n, 5_000n + PER_INTERVAL)).to.equal(null);
        expectViolation(
          at(5_000n, 5_000n + PER_INTERVAL + 1n),
          "impossible_delta",
          new RegExp(
            `${register} rose ${PER_INTERVAL + 1n} Wh from interval ${ID - 1n} to ${ID} \\(previous reading\\), over the ${PER_INTERVAL} Wh that ${CAPACITY} W allows in 1 × ${L} s`,
          ),
        );
      });

      it(`test_${register}Delta_scalesWithIntervalsElapsed`, function () {
        expect(at(5_000n, 5_000n + 751n, 3n)).to.equal(null);
        expectViolation(at(5_000n, 5_000n + 752n, 3n), "impossible_delta", /over the 751 Wh .* in 3 × 900 s/);
      });
    }

    it("test_deltaToNext_isBoundedToo", function () {
      // Two intervals: ceil(1001 W × 1800 s / 3600) = ceil(500.5) = 501 Wh.
      const r = reading(ID, 10_000n, 20_000n);
      expect(
        checkRules(r, meter(), CONFIG, LATER, undefined, reading(ID + 2n, 10_000n + 501n, 20_000n + 501n)),
      ).to.equal(null);
      expectViolation(
        checkRules(r, meter(), CONFIG, LATER, undefined, reading(ID + 2n, 10_000n, 20_000n + 502n)),
        "impossible_delta",
        new RegExp(`export rose 502 Wh from interval ${ID} to ${ID + 2n} \\(next reading\\), over the 501 Wh`),
      );
    });

    it("test_noPrevious_noDeltaCheck", function () {
      expect(checkRules(reading(ID, UINT64_MAX, UINT64_MAX), meter(), CONFIG, LATER)).to.equal(null);
    });
  });
});
