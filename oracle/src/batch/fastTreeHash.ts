/**
 * The hashing kernels of `fastTree.ts`, run on the building thread and on `fastTreeWorker.ts` threads alike: each
 * kernel fills a range of a shared output from a shared input and never throws on bad input (it reports it in a
 * status byte), so a range can be given to any thread, or redone by another.
 *
 * Every thread has one hash-wasm keccak256 instance and reuses it, and one 128-byte buffer for the leaf encoding.
 */
import { createKeccak } from "hash-wasm";

/** Bytes of a node (a keccak256 hash). */
export const NODE = 32;
/** Characters of a `0x`-prefixed address, stored as that many ASCII bytes. */
export const METER_CHARS = 42;

/** Meter status: the ASCII was a valid checksummed address as given. */
export const METER_OK = 0;
/** Meter status: all-lowercase or all-uppercase digits, rewritten in place to the EIP-55 checksum. */
export const METER_RECASED = 1;
/** Meter status: not `0x` followed by 40 hex digits. */
export const METER_MALFORMED = 2;
/** Meter status: mixed-case digits that are not the EIP-55 checksum. */
export const METER_BAD_CHECKSUM = 3;
export type MeterStatus = typeof METER_OK | typeof METER_RECASED | typeof METER_MALFORMED | typeof METER_BAD_CHECKSUM;

/**
 * The leaves of one interval, laid out for the kernels (SharedArrayBuffer-backed when worker threads share it).
 * Leaf `i` is `meters[42i, 42i + 42)` (its ASCII, `0x…`, rewritten in EIP-55 case) and `amounts[16i, 16i + 16)`
 * (importWh, exportWh as big-endian uint64); the kernel writes its status to `status[i]`, its 20 address bytes to
 * `addresses[20i, 20i + 20)` and its leaf hash to `hashes[32i, 32i + 32)`.
 */
export interface LeafJob {
  intervalId: bigint;
  meters: Uint8Array;
  amounts: Uint8Array;
  status: Uint8Array;
  addresses: Uint8Array;
  hashes: Uint8Array;
}

/** A range of work for one thread: leaf hashes of `job`, or internal nodes of `nodes` (indices `[from, to)`). */
export type HashTask =
  | { kind: "leaves"; job: LeafJob; from: number; to: number }
  | { kind: "nodes"; nodes: Uint8Array; from: number; to: number };

const keccak = await createKeccak(256);

/** `NIBBLE[byte]` is the value of a hex digit, -1 for any other byte. */
const NIBBLE = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) {
  NIBBLE["0123456789abcdef".charCodeAt(c)] = c;
  NIBBLE["0123456789ABCDEF".charCodeAt(c)] = c;
}
const LOWER_A = 97;
const lowerDigits = new Uint8Array(40);
/** abi.encode(address, uint64, uint64, uint64): four 32-byte words, each value right-aligned. */
const encoded = new Uint8Array(4 * NODE);
const pair = new Uint8Array(2 * NODE);

/**
 * Checks the address ASCII at `ascii[offset, offset + 42)` and puts it in EIP-55 case in place (the rules of
 * ethers' `getAddress`, `0x` prefix required); writes its 20 bytes to `address[addressOffset..]`.
 */
export function checkMeter(ascii: Uint8Array, offset: number, address: Uint8Array, addressOffset: number): MeterStatus {
  if (ascii[offset] !== 0x30 || ascii[offset + 1] !== 0x78) return METER_MALFORMED;
  let upper = false;
  let lower = false;
  for (let i = 0; i < 40; i++) {
    const c = ascii[offset + 2 + i];
    const v = NIBBLE[c];
    if (v < 0) return METER_MALFORMED;
    if (c >= LOWER_A) lower = true;
    else if (c >= 0x41) upper = true;
    lowerDigits[i] = v < 10 ? c : c | 0x20;
    if ((i & 1) === 1) address[addressOffset + (i >> 1)] = (NIBBLE[ascii[offset + 1 + i]] << 4) | v;
  }
  const hash = keccak.init().update(lowerDigits).digest("binary");
  let status: MeterStatus = METER_OK;
  for (let i = 0; i < 40; i++) {
    const c = lowerDigits[i];
    const nibble = (i & 1) === 0 ? hash[i >> 1] >> 4 : hash[i >> 1] & 0x0f;
    const want = c >= LOWER_A && nibble >= 8 ? c ^ 0x20 : c;
    if (want !== ascii[offset + 2 + i]) {
      if (upper && lower) return METER_BAD_CHECKSUM;
      ascii[offset + 2 + i] = want;
      status = METER_RECASED;
    }
  }
  return status;
}

/**
 * Leaf hashes of `job`'s leaves `[from, to)`: `keccak256(keccak256(abi.encode(meter, intervalId, importWh,
 * exportWh)))`, with each meter's status and address bytes. A malformed meter gets neither address nor hash.
 */
function hashLeaves(job: LeafJob, from: number, to: number): void {
  new DataView(encoded.buffer).setBigUint64(NODE + 24, job.intervalId);
  for (let i = from; i < to; i++) {
    const status = checkMeter(job.meters, i * METER_CHARS, encoded, 12);
    job.status[i] = status;
    if (status === METER_MALFORMED || status === METER_BAD_CHECKSUM) continue;
    for (let b = 0; b < 20; b++) job.addresses[i * 20 + b] = encoded[12 + b];
    for (let b = 0; b < 8; b++) {
      encoded[2 * NODE + 24 + b] = job.amounts[i * 16 + b];
      encoded[3 * NODE + 24 + b] = job.amounts[i * 16 + 8 + b];
    }
    const inner = keccak.init().update(encoded).digest("binary");
    job.hashes.set(keccak.init().update(inner).digest("binary"), i * NODE);
  }
}

/** Compares the 32-byte nodes at `a[ao..]` and `b[bo..]` as big-endian numbers: negative, 0 or positive. */
function compareNodes(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let i = 0; i < NODE; i++) {
    const d = a[ao + i] - b[bo + i];
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Internal nodes `[from, to)` of a complete binary tree array: node `i` = keccak256 of its children `2i + 1`,
 * `2i + 2` concatenated smaller first (the library's `standardNodeHash`). The children must be final already.
 */
function hashNodes(nodes: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const left = (2 * i + 1) * NODE;
    const right = left + NODE;
    const swap = compareNodes(nodes, left, nodes, right) > 0;
    const low = swap ? right : left;
    const high = swap ? left : right;
    for (let b = 0; b < NODE; b++) {
      pair[b] = nodes[low + b];
      pair[NODE + b] = nodes[high + b];
    }
    nodes.set(keccak.init().update(pair).digest("binary"), i * NODE);
  }
}

/** Runs one task on the calling thread. */
export function runHashTask(task: HashTask): void {
  if (task.kind === "leaves") hashLeaves(task.job, task.from, task.to);
  else hashNodes(task.nodes, task.from, task.to);
}
