/**
 * EIP-712 digest of a meter reading, computed without ethers on the ingest hot path.
 *
 * `digest = keccak256(0x1901 ‖ domainSeparator ‖ structHash)` with
 * `structHash = keccak256(METER_READING_TYPEHASH ‖ meter ‖ intervalId ‖ importWhTotal ‖ exportWhTotal ‖ timestamp)`
 * (each field one ABI word), exactly what `MeterRegistry.hashReading` and ethers' `TypedDataEncoder.hash` return.
 * The domain separator is computed once per domain; each digest fills two reused buffers and runs two keccaks of
 * hash-wasm (WebAssembly). The module also exports the keccak and EIP-55 checksum helpers the other ingest modules
 * share (both are keccak-based).
 */
import { createKeccak } from "hash-wasm";
import type { Hex } from "../types.js";

/** hash-wasm's keccak-256 (created once per thread: creation is async, every use after it synchronous). */
const hasher = await createKeccak(256);

/** keccak-256 of `data` (a new 32-byte array). */
export function keccak256(data: Uint8Array): Uint8Array {
  return hasher.init().update(data).digest("binary");
}

const textEncoder = new TextEncoder();

/** EIP-712 type string of a meter reading; must match `MeterReadings.METER_READING_TYPEHASH`. */
export const METER_READING_TYPE =
  "MeterReading(address meter,uint64 intervalId,uint64 importWhTotal,uint64 exportWhTotal,uint64 timestamp)";
const EIP712_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

/** Name and version of the MeterRegistry's EIP-712 domain (as in `src/readings.ts`). */
export const REGISTRY_DOMAIN_NAME = "Microgrid MeterRegistry";
export const REGISTRY_DOMAIN_VERSION = "1";

/** keccak256 of {@link METER_READING_TYPE}. */
export const METER_READING_TYPEHASH: Uint8Array = keccak256(textEncoder.encode(METER_READING_TYPE));

/** The registry's EIP-712 domain: the chain and the `MeterRegistry` address (name and version are fixed). */
export interface ReadingDomain {
  chainId: bigint;
  verifyingContract: Hex | string;
}

/** The reading fields the digest covers (a `SignedReading` without its signature will do). */
export interface ReadingFields {
  meter: Hex | string;
  intervalId: bigint;
  importWhTotal: bigint;
  exportWhTotal: bigint;
  timestamp: bigint;
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const UINT256_MAX = (1n << 256n) - 1n;

function writeWord(buf: Buffer, offset: number, value: bigint): void {
  if (value < 0n || value > UINT256_MAX) throw new RangeError(`value ${value} is outside uint256`);
  buf.write(value.toString(16).padStart(64, "0"), offset, 32, "hex");
}

function writeAddressWord(buf: Buffer, offset: number, address: string, what: string): void {
  if (!ADDRESS_RE.test(address)) throw new TypeError(`${what} ${address} is not a 20-byte hex address`);
  buf.fill(0, offset, offset + 12);
  buf.write(address.slice(2), offset + 12, 20, "hex");
}

/** EIP-712 domain separator of the registry's domain (32 bytes). */
export function domainSeparator(domain: ReadingDomain): Uint8Array {
  const buf = Buffer.alloc(5 * 32);
  buf.set(keccak256(textEncoder.encode(EIP712_DOMAIN_TYPE)), 0);
  buf.set(keccak256(textEncoder.encode(REGISTRY_DOMAIN_NAME)), 32);
  buf.set(keccak256(textEncoder.encode(REGISTRY_DOMAIN_VERSION)), 64);
  writeWord(buf, 96, domain.chainId);
  writeAddressWord(buf, 128, domain.verifyingContract, "verifyingContract");
  return keccak256(buf);
}

const UINT64_MAX = (1n << 64n) - 1n;

function uint64(name: string, value: bigint): bigint {
  if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) {
    throw new RangeError(`${name} ${String(value)} is not a uint64 bigint`);
  }
  return value;
}

/**
 * Computes reading digests for one domain over two reused buffers. Every call is synchronous, so one instance
 * serves all callers of a thread; each worker thread makes its own.
 */
export class ReadingDigester {
  /** The domain separator (32 bytes). */
  readonly separator: Uint8Array;
  /** typehash ‖ meter ‖ intervalId ‖ import ‖ export ‖ timestamp, one word each; the padding stays zero. */
  private readonly struct = Buffer.alloc(6 * 32);
  /** 0x1901 ‖ domainSeparator ‖ structHash. */
  private readonly outer = Buffer.alloc(2 + 32 + 32);

  constructor(domain: ReadingDomain) {
    this.separator = domainSeparator(domain);
    this.struct.set(METER_READING_TYPEHASH, 0);
    this.outer[0] = 0x19;
    this.outer[1] = 0x01;
    this.outer.set(this.separator, 2);
  }

  /**
   * The EIP-712 digest of `reading` (a new 32-byte array). Throws a TypeError for a meter that is not a 20-byte hex
   * address and a RangeError for a number outside uint64 (parsed readings never have either).
   */
  digest(reading: ReadingFields): Uint8Array {
    this.fillStruct(reading.meter, reading.intervalId, reading.importWhTotal, reading.exportWhTotal, reading.timestamp);
    return this.finish();
  }

  /**
   * The digest of a reading whose meter is given as 20 raw bytes at `meter[meterOffset…+20]` (what the verifier
   * pool packs), written into `out` at `outOffset`.
   */
  digestPackedInto(
    meter: Uint8Array,
    meterOffset: number,
    intervalId: bigint,
    importWhTotal: bigint,
    exportWhTotal: bigint,
    timestamp: bigint,
    out: Uint8Array,
    outOffset: number,
  ): void {
    const s = this.struct;
    s.set(meter.subarray(meterOffset, meterOffset + 20), 44);
    s.writeBigUInt64BE(intervalId, 88);
    s.writeBigUInt64BE(importWhTotal, 120);
    s.writeBigUInt64BE(exportWhTotal, 152);
    s.writeBigUInt64BE(timestamp, 184);
    out.set(this.finish(), outOffset);
  }

  /**
   * The digest of a reading packed as the verifier pool packs it (`verifierPool.ts`): the meter's 20 bytes at
   * `record[offset…+20]`, then intervalId, import, export and timestamp as 8 big-endian bytes each. The bytes are
   * copied into their ABI words as they are (no bigint round trip), written into `out` at `outOffset`.
   */
  digestRecordInto(record: Uint8Array, offset: number, out: Uint8Array, outOffset: number): void {
    const s = this.struct;
    s.set(record.subarray(offset, offset + 20), 44);
    s.set(record.subarray(offset + 20, offset + 28), 88);
    s.set(record.subarray(offset + 28, offset + 36), 120);
    s.set(record.subarray(offset + 36, offset + 44), 152);
    s.set(record.subarray(offset + 44, offset + 52), 184);
    out.set(this.finish(), outOffset);
  }

  private fillStruct(
    meter: string,
    intervalId: bigint,
    importWhTotal: bigint,
    exportWhTotal: bigint,
    timestamp: bigint,
  ): void {
    const s = this.struct;
    if (!ADDRESS_RE.test(meter)) throw new TypeError(`meter ${meter} is not a 20-byte hex address`);
    s.write(meter.slice(2), 44, 20, "hex");
    s.writeBigUInt64BE(uint64("intervalId", intervalId), 88);
    s.writeBigUInt64BE(uint64("importWhTotal", importWhTotal), 120);
    s.writeBigUInt64BE(uint64("exportWhTotal", exportWhTotal), 152);
    s.writeBigUInt64BE(uint64("timestamp", timestamp), 184);
  }

  private finish(): Uint8Array {
    this.outer.set(keccak256(this.struct), 34);
    return keccak256(this.outer);
  }
}

const asciiBuf = Buffer.alloc(40);
const outCodes = new Uint8Array(42);
outCodes[0] = 0x30; // "0"
outCodes[1] = 0x78; // "x"

/**
 * EIP-55 checksummed form of a lowercase 40-hex-digit address (without `0x`). The caller guarantees the input
 * (lowercase hex, 40 characters); one keccak of 40 bytes, no allocation besides the result.
 */
export function checksumLowerHex(lower40: string): Hex {
  asciiBuf.write(lower40, 0, 40, "latin1");
  const h = keccak256(asciiBuf);
  for (let i = 0; i < 40; i++) {
    let c = asciiBuf[i];
    // Letters a–f (0x61–0x66) are upper-cased where the hash nibble is ≥ 8.
    if (c >= 0x61) {
      const nibble = i & 1 ? h[i >> 1] & 0x0f : h[i >> 1] >> 4;
      if (nibble >= 8) c -= 0x20;
    }
    outCodes[i + 2] = c;
  }
  return Buffer.from(outCodes.buffer, outCodes.byteOffset, 42).toString("latin1") as Hex;
}

/** EIP-55 checksummed address of 20 raw bytes at `bytes[offset…+20]`. */
export function checksumAddressBytes(bytes: Uint8Array, offset = 0): Hex {
  return checksumLowerHex(Buffer.from(bytes.buffer, bytes.byteOffset + offset, 20).toString("hex"));
}
