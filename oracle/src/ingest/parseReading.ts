/**
 * Strict validation of what meters send: a JSON payload of one reading object or an array of them.
 *
 * A reading is a JSON object with these fields (any order):
 * - `meter`: a 20-byte hex address `0x` + 40 hex digits, in any case. All-lowercase and all-uppercase digits are
 *   taken as they are; mixed case must be a valid EIP-55 checksum (as ethers' `getAddress` insists), because a
 *   wrong mixed-case checksum is a corrupted address. The output is EIP-55 checksummed.
 * - `intervalId`, `importWhTotal`, `exportWhTotal`, `timestamp`: unsigned integers within uint64, either as JSON
 *   numbers that are safe integers (≤ 2^53 − 1; larger numbers lose precision in JSON.parse and are refused: send
 *   a string) or as decimal strings of digits only (no sign, no spaces, no `0x`, no leading zeros except "0").
 * - `signature`: `0x` + 130 hex digits (65 bytes r ‖ s ‖ v) with v ∈ {27, 28, 0, 1}. The output is lowercase with
 *   v rewritten to 27/28 (0/1 denote the same signature; `ecrecover` on chain takes only 27/28), so one signed
 *   reading has one spelling and duplicates compare equal. Range checks of r and s belong to signature recovery
 *   (`recover.ts`): a well-formed but invalid signature is a `bad_signature`, not a `malformed` reading.
 *
 * Unknown extra fields are ignored and dropped: they are not covered by the signature, so they cannot change what
 * is stored, and rejecting them would break meters whose firmware adds diagnostic fields. Only own properties count
 * (a field inherited from a prototype is missing).
 */
import type { Hex, SignedReading } from "../types.js";
import { checksumLowerHex } from "./digest.js";

export type ParseReadingResult = { ok: true; reading: SignedReading } | { ok: false; detail: string };
export type ParsePayloadResult = { ok: true; items: unknown[] } | { ok: false; detail: string };

const UINT64_MAX = (1n << 64n) - 1n;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE_RE = /^0x[0-9a-fA-F]{130}$/;
const DECIMAL_RE = /^(?:0|[1-9][0-9]{0,19})$/;
const NUMBER_FIELDS = ["intervalId", "importWhTotal", "exportWhTotal", "timestamp"] as const;

/** Shortened JSON of a bad value for a detail string (one line, at most ~40 characters). */
function show(value: unknown): string {
  let s: string;
  try {
    s = typeof value === "bigint" ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    s = Object.prototype.toString.call(value);
  }
  s = oneLine(s);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Control characters and line separators become spaces: a detail is one line of a log or HTTP response. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ");
}

function parseUint64(name: string, value: unknown): bigint | string {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return `${name}: ${show(value)} is not an integer`;
    if (value < 0) return `${name}: ${show(value)} is negative`;
    if (!Number.isSafeInteger(value))
      return `${name}: ${show(value)} exceeds 2^53-1 as a JSON number: send a decimal string`;
    return BigInt(value);
  }
  if (typeof value === "string") {
    if (!DECIMAL_RE.test(value)) return `${name}: ${show(value)} is not a decimal integer string`;
    const n = BigInt(value);
    if (n > UINT64_MAX) return `${name}: ${show(value)} exceeds uint64`;
    return n;
  }
  if (value === undefined) return `${name}: missing`;
  return `${name}: expected an integer or a decimal string, got ${value === null ? "null" : typeof value}`;
}

/** The checksummed address or a detail string. */
function parseMeter(value: unknown): Hex | string {
  if (value === undefined) return "meter: missing";
  if (typeof value !== "string")
    return `meter: expected a hex address string, got ${value === null ? "null" : typeof value}`;
  if (!ADDRESS_RE.test(value)) return `meter: ${show(value)} is not 0x followed by 40 hex digits`;
  const digits = value.slice(2);
  const lower = digits.toLowerCase();
  const checksummed = checksumLowerHex(lower);
  if (digits !== lower && digits !== digits.toUpperCase() && `0x${digits}` !== checksummed) {
    return `meter: ${value} has mixed case but a wrong EIP-55 checksum (expected ${checksummed})`;
  }
  return checksummed;
}

/** The canonical signature (lowercase, v 27/28) or a detail string. */
function parseSignature(value: unknown): Hex | string {
  if (value === undefined) return "signature: missing";
  if (typeof value !== "string")
    return `signature: expected a hex string, got ${value === null ? "null" : typeof value}`;
  if (!SIGNATURE_RE.test(value)) return `signature: ${show(value)} is not 0x followed by 130 hex digits (65 bytes)`;
  const sig = value.toLowerCase();
  const v = sig.slice(130);
  switch (v) {
    case "1b":
    case "1c":
      return sig as Hex;
    case "00":
      return `${sig.slice(0, 130)}1b` as Hex;
    case "01":
      return `${sig.slice(0, 130)}1c` as Hex;
    default:
      return `signature: v = ${parseInt(v, 16)}, expected 27, 28, 0 or 1`;
  }
}

/**
 * Validates one payload item as a signed reading (see the module comment). Never throws; the detail of a failure
 * is one line naming the first bad field.
 */
export function parseReading(payload: unknown): ParseReadingResult {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    const kind = payload === null ? "null" : Array.isArray(payload) ? "an array" : typeof payload;
    return { ok: false, detail: `expected a reading object, got ${kind}` };
  }
  const o = payload as Record<string, unknown>;
  const own = (key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

  const meter = parseMeter(own("meter"));
  if (!meter.startsWith("0x")) return { ok: false, detail: meter };
  const numbers: bigint[] = [];
  for (const name of NUMBER_FIELDS) {
    const n = parseUint64(name, own(name));
    if (typeof n === "string") return { ok: false, detail: n };
    numbers.push(n);
  }
  const signature = parseSignature(own("signature"));
  if (!signature.startsWith("0x")) return { ok: false, detail: signature };
  return {
    ok: true,
    reading: {
      meter: meter as Hex,
      intervalId: numbers[0],
      importWhTotal: numbers[1],
      exportWhTotal: numbers[2],
      timestamp: numbers[3],
      signature: signature as Hex,
    },
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Splits a message body into payload items: a JSON object is one item, a JSON array its elements (each then goes
 * through {@link parseReading}). Refuses, with a one-line detail: a body over `maxBytes` bytes (checked before
 * decoding), invalid UTF-8, malformed JSON, an empty array, and any other JSON value. Never throws.
 */
export function parsePayload(body: string | Buffer, maxBytes: number): ParsePayloadResult {
  let text: string;
  if (typeof body === "string") {
    // A UTF-16 code unit is at least one UTF-8 byte, so the length alone decides most oversize strings.
    if (body.length > maxBytes || Buffer.byteLength(body, "utf8") > maxBytes) {
      return { ok: false, detail: `payload exceeds the limit of ${maxBytes} bytes` };
    }
    text = body;
  } else {
    if (body.length > maxBytes) {
      return { ok: false, detail: `payload of ${body.length} bytes exceeds the limit of ${maxBytes} bytes` };
    }
    try {
      text = utf8.decode(body);
    } catch {
      return { ok: false, detail: "payload is not valid UTF-8" };
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, detail: `malformed JSON: ${oneLine((e as Error).message).slice(0, 120)}` };
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return { ok: false, detail: "empty array: no readings" };
    return { ok: true, items: value };
  }
  if (typeof value === "object" && value !== null) return { ok: true, items: [value] };
  return {
    ok: false,
    detail: `expected a reading object or an array of them, got ${value === null ? "null" : typeof value}`,
  };
}
