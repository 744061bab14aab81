import { expect } from "chai";
import fc from "fast-check";
import { getAddress } from "ethers";
import type { SignedReading } from "../../oracle/src/types.js";
import { parsePayload, parseReading } from "../../oracle/src/ingest/parseReading.js";

const UINT64_MAX = (1n << 64n) - 1n;
const NUMBER_FIELDS = ["intervalId", "importWhTotal", "exportWhTotal", "timestamp"] as const;
const FIELDS = ["meter", ...NUMBER_FIELDS, "signature"] as const;

const METER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"; // the EIP-55 example
const SIG_RS = "ab".repeat(32) + "7f".repeat(32);
const SIG = `0x${SIG_RS}1b`;

function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    meter: METER,
    intervalId: 1_944_444,
    importWhTotal: "18446744073709551615",
    exportWhTotal: 0,
    timestamp: "1750000500",
    signature: SIG,
    ...overrides,
  };
}

function expectReject(payload: unknown, pattern: RegExp): void {
  const r = parseReading(payload);
  expect(
    r.ok,
    JSON.stringify(payload, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)),
  ).to.equal(false);
  if (!r.ok) {
    expect(r.detail).to.match(pattern);
    expect(r.detail).to.not.match(/[\u0000-\u001f\u2028\u2029]/);
  }
}

/**
 * Reference validator written from the specification, independently of the implementation: ethers' getAddress
 * for addresses (it refuses a mixed-case address with a wrong checksum), BigInt for numbers.
 */
function reference(payload: unknown): SignedReading | null {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return null;
  const get = (k: string): unknown => (Object.hasOwn(payload, k) ? (payload as Record<string, unknown>)[k] : undefined);
  const meter = get("meter");
  if (typeof meter !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(meter)) return null;
  let checksummed: string;
  try {
    checksummed = getAddress(meter);
  } catch {
    return null;
  }
  const nums: bigint[] = [];
  for (const f of NUMBER_FIELDS) {
    const v = get(f);
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v) || v < 0) return null;
      nums.push(BigInt(v));
    } else if (typeof v === "string") {
      if (!/^[0-9]+$/.test(v) || (v.length > 1 && v[0] === "0")) return null;
      const n = BigInt(v);
      if (n > UINT64_MAX) return null;
      nums.push(n);
    } else return null;
  }
  const sig = get("signature");
  if (typeof sig !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(sig)) return null;
  const v = parseInt(sig.slice(130), 16);
  if (![0, 1, 27, 28].includes(v)) return null;
  const canonical = `${sig.slice(0, 130).toLowerCase()}${(v < 27 ? v + 27 : v).toString(16)}`;
  return {
    meter: checksummed as SignedReading["meter"],
    intervalId: nums[0],
    importWhTotal: nums[1],
    exportWhTotal: nums[2],
    timestamp: nums[3],
    signature: canonical as SignedReading["signature"],
  };
}

/** parseReading agrees with the reference: accepts exactly the valid payloads, with the same output. */
function agreesWithReference(payload: unknown): void {
  let result: ReturnType<typeof parseReading>;
  try {
    result = parseReading(payload);
  } catch (e) {
    throw new Error(`parseReading threw: ${(e as Error).message}`);
  }
  const expected = reference(payload);
  if (expected === null) {
    expect(result.ok).to.equal(false);
    if (!result.ok) {
      expect(result.detail).to.be.a("string").and.not.equal("");
      expect(result.detail).to.not.match(/[\u0000-\u001f\u2028\u2029]/);
    }
  } else {
    expect(result).to.deep.equal({ ok: true, reading: expected });
  }
}

// ---------------------------------------------------------------------------------------------- arbitraries

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const uint64 = fc.bigInt({ min: 0n, max: UINT64_MAX });

const validMeter = fc
  .tuple(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.constantFrom("lower", "upper", "checksum"))
  .map(([b, mode]) => {
    const lower = `0x${hexOf(b)}`;
    return mode === "lower" ? lower : mode === "upper" ? `0x${hexOf(b).toUpperCase()}` : getAddress(lower);
  });

const validNumber = fc.oneof(
  fc.maxSafeNat(),
  fc.maxSafeNat().map(String),
  uint64.map(String),
  fc.constantFrom(0, "0", "18446744073709551615", Number.MAX_SAFE_INTEGER),
);

const validSignature = fc
  .tuple(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.constantFrom(0, 1, 27, 28), fc.boolean())
  .map(([rs, v, upper]) => {
    const h = `${hexOf(rs)}${v.toString(16).padStart(2, "0")}`;
    return `0x${upper ? h.toUpperCase() : h}`;
  });

const validPayload = fc.record({
  meter: validMeter,
  intervalId: validNumber,
  importWhTotal: validNumber,
  exportWhTotal: validNumber,
  timestamp: validNumber,
  signature: validSignature,
});

/** Values that are wrong for some or all fields (and a few right ones, which the reference sorts out). */
const trickyValue = fc.oneof(
  fc.constantFrom<unknown>(
    -1,
    -0,
    1.5,
    2 ** 53,
    2 ** 64,
    1e21,
    -1e21,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "-1",
    "+1",
    " 1",
    "1 ",
    "01",
    "00",
    "0x10",
    "1e3",
    "1.0",
    "",
    "18446744073709551616",
    "99999999999999999999999",
    "abc",
    "0x",
    "0xzz",
    `0x${"g".repeat(40)}`,
    `0x${"a".repeat(39)}`,
    `0x${"a".repeat(41)}`,
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", // checksum broken in the last letter
    "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    `0X${"a".repeat(40)}`,
    `0x${SIG_RS}1d`,
    `0x${SIG_RS}ff`,
    `0x${SIG_RS}1`,
    `0x${SIG_RS}1b00`,
    null,
    true,
    false,
    [],
    {},
    [1],
    10n,
  ),
  fc.integer(),
  fc.double(),
  fc.bigInt().map(String),
  fc.bigInt({ min: UINT64_MAX - 5n, max: UINT64_MAX + 5n }).map(String),
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.jsonValue(),
);

type Mutation = { field: string; op: "remove" | "set" | "retype"; value?: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  field: fc.constantFrom<string>(...FIELDS, "extra", "__proto__"),
  op: fc.constantFrom("remove", "set", "retype"),
  value: trickyValue,
});

function mutate(payload: Record<string, unknown>, m: Mutation): Record<string, unknown> {
  const out: Record<string, unknown> = { ...payload };
  if (m.op === "remove") {
    delete out[m.field];
  } else if (m.op === "set") {
    Object.defineProperty(out, m.field, { value: m.value, enumerable: true, configurable: true, writable: true });
  } else {
    const v = out[m.field];
    const retyped =
      typeof v === "number"
        ? String(v)
        : typeof v === "string" && /^[0-9]+$/.test(v)
          ? Number(v)
          : typeof v === "string"
            ? [v]
            : String(v);
    Object.defineProperty(out, m.field, { value: retyped, enumerable: true, configurable: true, writable: true });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- tests

describe("relayer: parseReading / parsePayload", function () {
  describe("parseReading", function () {
    it("test_parseReading_acceptsNumbersAndDecimalStrings", function () {
      const r = parseReading(valid());
      expect(r).to.deep.equal({
        ok: true,
        reading: {
          meter: METER,
          intervalId: 1_944_444n,
          importWhTotal: UINT64_MAX,
          exportWhTotal: 0n,
          timestamp: 1_750_000_500n,
          signature: SIG,
        },
      });
    });

    it("test_parseReading_meterInAnyCase_isChecksummed", function () {
      for (const m of [METER.toLowerCase(), `0x${METER.slice(2).toUpperCase()}`, METER]) {
        const r = parseReading(valid({ meter: m }));
        expect(r.ok && r.reading.meter).to.equal(METER);
      }
    });

    it("test_parseReading_mixedCaseWithWrongChecksum_isRejected", function () {
      expectReject(
        valid({ meter: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD" }),
        /EIP-55 checksum.*0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed/,
      );
    });

    it("test_parseReading_badMeters_areRejected", function () {
      expectReject(valid({ meter: undefined }), /^meter: missing$/);
      expectReject(valid({ meter: 42 }), /meter: expected a hex address string, got number/);
      expectReject(valid({ meter: METER.slice(0, 41) }), /meter: .* is not 0x followed by 40 hex digits/);
      expectReject(valid({ meter: METER.slice(2) }), /not 0x followed/);
      expectReject(valid({ meter: `0x${"g".repeat(40)}` }), /not 0x followed/);
    });

    it("test_parseReading_uint64Bounds", function () {
      const max = parseReading(valid({ timestamp: "18446744073709551615" }));
      expect(max.ok && max.reading.timestamp).to.equal(UINT64_MAX);
      expectReject(valid({ timestamp: "18446744073709551616" }), /timestamp: .* exceeds uint64/);
      expectReject(valid({ intervalId: "123456789012345678901" }), /intervalId: .* is not a decimal integer string/);
      const safe = parseReading(valid({ intervalId: Number.MAX_SAFE_INTEGER }));
      expect(safe.ok && safe.reading.intervalId).to.equal(BigInt(Number.MAX_SAFE_INTEGER));
      expectReject(
        valid({ intervalId: Number.MAX_SAFE_INTEGER + 1 }),
        /exceeds 2\^53-1 as a JSON number: send a decimal string/,
      );
      expectReject(valid({ exportWhTotal: 1e21 }), /exceeds 2\^53-1/);
    });

    it("test_parseReading_negativeFractionalAndNonDecimalNumbers_areRejected", function () {
      expectReject(valid({ importWhTotal: -1 }), /importWhTotal: -1 is negative/);
      expectReject(valid({ importWhTotal: 1.5 }), /importWhTotal: 1.5 is not an integer/);
      for (const s of ["-1", "+1", " 1", "1 ", "01", "0x10", "1e3", "1.0", ""]) {
        expectReject(valid({ importWhTotal: s }), /importWhTotal: .* is not a decimal integer string/);
      }
      expectReject(valid({ exportWhTotal: null }), /exportWhTotal: expected an integer or a decimal string, got null/);
      expectReject(valid({ exportWhTotal: true }), /got boolean/);
      expectReject(valid({ timestamp: undefined }), /^timestamp: missing$/);
    });

    it("test_parseReading_signatureFormAndV", function () {
      const v0 = parseReading(valid({ signature: `0x${SIG_RS}00` }));
      expect(v0.ok && v0.reading.signature).to.equal(`0x${SIG_RS}1b`);
      const v1 = parseReading(valid({ signature: `0x${SIG_RS.toUpperCase()}01` }));
      expect(v1.ok && v1.reading.signature).to.equal(`0x${SIG_RS}1c`);
      const v28 = parseReading(valid({ signature: `0x${SIG_RS}1C` }));
      expect(v28.ok && v28.reading.signature).to.equal(`0x${SIG_RS}1c`);
      expectReject(valid({ signature: `0x${SIG_RS}1d` }), /signature: v = 29, expected 27, 28, 0 or 1/);
      expectReject(valid({ signature: `0x${SIG_RS}02` }), /v = 2,/);
      expectReject(valid({ signature: `0x${SIG_RS}1` }), /not 0x followed by 130 hex digits/);
      expectReject(valid({ signature: `0x${SIG_RS}1b00` }), /not 0x followed by 130 hex digits/);
      expectReject(valid({ signature: `0x${"z".repeat(130)}` }), /not 0x followed by 130 hex digits/);
      expectReject(valid({ signature: undefined }), /^signature: missing$/);
      expectReject(valid({ signature: 5 }), /signature: expected a hex string, got number/);
    });

    it("test_parseReading_extraFieldsAreIgnored_inheritedFieldsAreMissing", function () {
      const r = parseReading(valid({ firmware: "2.1.0", meter: METER }));
      expect(r.ok && Object.keys(r.reading)).to.deep.equal([
        "meter",
        "intervalId",
        "importWhTotal",
        "exportWhTotal",
        "timestamp",
        "signature",
      ]);
      const inherited = Object.create(valid());
      expectReject(inherited, /^meter: missing$/);
      // JSON.parse makes "__proto__" an own field, not a prototype.
      expectReject(JSON.parse(`{"__proto__": ${JSON.stringify(valid())}}`), /^meter: missing$/);
    });

    it("test_parseReading_nonObjects_areRejected", function () {
      expectReject(null, /got null/);
      expectReject([valid()], /got an array/);
      expectReject("{}", /got string/);
      expectReject(7, /got number/);
      expectReject(undefined, /got undefined/);
    });

    it("test_parseReading_longBadValues_areShortenedInTheDetail", function () {
      const r = parseReading(valid({ meter: `x${"\n".repeat(10)}${"a".repeat(10_000)}` }));
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.detail.length).to.be.lessThan(120);
        expect(r.detail).to.not.match(/[\u0000-\u001f\u2028\u2029]/);
      }
    });
  });

  describe("parsePayload", function () {
    it("test_parsePayload_objectOrArray", function () {
      expect(parsePayload(JSON.stringify(valid()), 10_000)).to.deep.equal({ ok: true, items: [valid()] });
      expect(parsePayload(Buffer.from(JSON.stringify([valid(), 5])), 10_000)).to.deep.equal({
        ok: true,
        items: [valid(), 5],
      });
    });

    it("test_parsePayload_malformedEmptyAndScalar_areRejected", function () {
      const bad: [string, RegExp][] = [
        ["{", /^malformed JSON: /],
        ["", /^malformed JSON: /],
        ["{} {}", /^malformed JSON: /],
        ["[]", /empty array/],
        ["null", /got null/],
        ["42", /got number/],
        ['"x"', /got string/],
      ];
      for (const [body, pattern] of bad) {
        const r = parsePayload(body, 1000);
        expect(r.ok, body).to.equal(false);
        if (!r.ok)
          expect(r.detail)
            .to.match(pattern)
            .and.not.match(/[\r\n]/);
      }
    });

    it("test_parsePayload_sizeLimitInBytes_boundary", function () {
      const body = JSON.stringify({ note: "€€" }); // 3 bytes per €
      const bytes = Buffer.byteLength(body);
      expect(bytes).to.equal(body.length + 4);
      for (const b of [body, Buffer.from(body)]) {
        expect(parsePayload(b, bytes).ok).to.equal(true);
        const over = parsePayload(b, bytes - 1);
        expect(over.ok).to.equal(false);
        if (!over.ok) expect(over.detail).to.match(new RegExp(`exceeds the limit of ${bytes - 1} bytes`));
      }
    });

    it("test_parsePayload_invalidUtf8_isRejected", function () {
      const r = parsePayload(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), 100);
      expect(r).to.deep.equal({ ok: false, detail: "payload is not valid UTF-8" });
    });
  });

  describe("properties", function () {
    it("test_property_validPayloads_areAccepted_asTheReferenceSays", function () {
      fc.assert(
        fc.property(validPayload, (p) => {
          expect(reference(p)).to.not.equal(null);
          agreesWithReference(p);
        }),
        { numRuns: 500 },
      );
    });

    it("test_property_oneFieldMutatedRemovedOrRetyped_acceptedExactlyWhenValid", function () {
      let rejected = 0;
      fc.assert(
        fc.property(validPayload, mutation, (p, m) => {
          const mutated = mutate(p, m);
          if (m.op === "remove" && (FIELDS as readonly string[]).includes(m.field)) {
            expect(parseReading(mutated).ok).to.equal(false);
          }
          agreesWithReference(mutated);
          if (reference(mutated) === null) rejected++;
        }),
        { numRuns: 3000 },
      );
      expect(rejected).to.be.greaterThan(1000); // the mutations do hit
    });

    it("test_property_randomValues_neverThrow_andAgreeWithTheReference", function () {
      const shaped = fc.record(
        {
          meter: fc.oneof(validMeter, trickyValue),
          intervalId: fc.oneof(validNumber, trickyValue),
          importWhTotal: fc.oneof(validNumber, trickyValue),
          exportWhTotal: fc.oneof(validNumber, trickyValue),
          timestamp: fc.oneof(validNumber, trickyValue),
          signature: fc.oneof(validSignature, trickyValue),
        },
        { requiredKeys: [] },
      );
      const any = fc.anything({
        withBigInt: true,
        withBoxedValues: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withNullPrototype: true,
        withObjectString: true,
        withTypedArray: true,
        withSparseArray: true,
      });
      fc.assert(fc.property(fc.oneof(fc.jsonValue(), any, shaped), agreesWithReference), { numRuns: 3000 });
    });

    it("test_property_parsePayload_neverThrows_andAcceptsExactlyWellFormedBodies", function () {
      const jsonMutation = mutation.filter((m) => typeof m.value !== "bigint");
      const value = fc.oneof(
        validPayload,
        fc.tuple(validPayload, jsonMutation).map(([p, m]) => mutate(p, m)),
        fc.jsonValue(),
      );
      const body = fc.oneof(
        fc.oneof(value, fc.array(value, { maxLength: 4 })).map((v) => JSON.stringify(v) ?? "undefined"),
        fc
          .tuple(
            value.map((v) => JSON.stringify(v) ?? ""),
            fc.nat(),
            fc.string({ maxLength: 3 }),
          )
          .map(([s, cut, junk]) => s.slice(0, cut % (s.length + 1)) + junk),
        fc.string({ unit: "binary" }),
      );
      fc.assert(
        fc.property(body, fc.integer({ min: -3, max: 3 }), fc.boolean(), (text, slack, asBuffer) => {
          const bytes = Buffer.byteLength(text);
          const maxBytes = Math.max(0, bytes + slack);
          const r = parsePayload(asBuffer ? Buffer.from(text) : text, maxBytes);
          if (!r.ok)
            expect(r.detail)
              .to.be.a("string")
              .and.not.match(/[\u0000-\u001f\u2028\u2029]/);
          if (bytes > maxBytes) {
            expect(r.ok).to.equal(false);
            return;
          }
          // A Buffer carries the UTF-8 encoding: a lone surrogate in `text` becomes U+FFFD.
          const effective = asBuffer ? Buffer.from(text).toString("utf8") : text;
          let parsed: unknown;
          try {
            parsed = JSON.parse(effective);
          } catch {
            expect(r.ok).to.equal(false);
            return;
          }
          if (Array.isArray(parsed) && parsed.length > 0) expect(r).to.deep.equal({ ok: true, items: parsed });
          else if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
            expect(r).to.deep.equal({ ok: true, items: [parsed] });
          } else expect(r.ok).to.equal(false);
          // Each item then parses as the reference says.
          if (r.ok) for (const item of r.items) agreesWithReference(item);
        }),
        { numRuns: 3000 },
      );
    });

    it("test_property_parsePayload_randomBytes_neverThrow", function () {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          const buf = Buffer.from(bytes);
          const r = parsePayload(buf, 150);
          if (bytes.length > 150) expect(r.ok).to.equal(false);
          let utf8 = true;
          try {
            new TextDecoder("utf-8", { fatal: true }).decode(buf);
          } catch {
            utf8 = false;
          }
          if (!utf8) expect(r.ok).to.equal(false);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
