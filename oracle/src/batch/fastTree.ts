/**
 * An interval's Merkle tree, built fast and stored flat.
 *
 * The tree is byte for byte the one `StandardMerkleTree.of(values, ["address", "uint64", "uint64", "uint64"])` of
 * `@openzeppelin/merkle-tree` (v1, default options) builds from the values `[meter, intervalId, importWh, exportWh]`:
 * - leaf hash `keccak256(keccak256(abi.encode(meter, intervalId, importWh, exportWh)))` (`MeterReadings.leaf`);
 * - leaves sorted by ascending leaf hash (`sortLeaves: true`);
 * - a complete binary tree in one array of `2n - 1` nodes, root at 0, children of `i` at `2i + 1` and `2i + 2`,
 *   the sorted leaves at the end in reverse order (leaf `k` of the sorted order at `2n - 2 - k`);
 * - internal node = keccak256 of its two children concatenated smaller first (OpenZeppelin `MerkleProof`'s
 *   commutative pair hash).
 * So `root`, `proof` and `multiProof` equal the library's `root`, `getProof` and `getMultiProof`, and verify with
 * `MerkleProof.verify` / `multiProofVerify` on chain. "Tree order" below is the sorted order, leaf 0 first.
 *
 * The nodes live in one `Uint8Array` of `32 (2n - 1)` bytes instead of an array of hex strings, the leaf values in
 * typed arrays in tree order, and a `Map` finds a meter's leaf in O(1). Hashing (hash-wasm keccak256, one instance
 * and one 128-byte encoding buffer per thread, see `fastTreeHash.ts`) is split between the calling thread and
 * `fastTreeWorker.ts` threads for large trees: the leaves in equal ranges, then the internal nodes level by level.
 * The calling thread blocks until the tree is built (the API is synchronous); a worker that fails to start or to
 * finish its range only costs time, its range is hashed by the calling thread.
 */
import { randomInt } from "node:crypto";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { crc32 } from "node:zlib";
import { InputError } from "../../../src/errors.js";
import type { Hex, IntervalBatch, Leaf } from "../types.js";
import {
  checkMeter,
  type HashTask,
  type LeafJob,
  METER_BAD_CHECKSUM,
  METER_CHARS,
  METER_MALFORMED,
  METER_OK,
  NODE,
  runHashTask,
} from "./fastTreeHash.js";
import type { WorkerTask } from "./fastTreeWorker.js";

/** Leaf encoding of an interval tree (`MeterReadings.leaf`), as `StandardMerkleTree` names it. */
export const FAST_TREE_LEAF_ENCODING = ["address", "uint64", "uint64", "uint64"] as const;

/** From this many leaves on, a build uses several threads by default. */
export const PARALLEL_MIN_LEAVES = 50_000;
/** Most threads a build uses by default: beyond that the single-threaded steps (sorting, copying) dominate. */
const MAX_DEFAULT_THREADS = 4;
/** Fewest internal nodes of one level worth splitting between threads. */
const PARALLEL_MIN_NODES = 4096;
/** Longest wait for a worker to load, and for a worker's range. */
const WORKER_START_TIMEOUT_MS = 10_000;
const WORKER_TASK_TIMEOUT_MS = 60_000;

const UINT64_MAX = (1n << 64n) - 1n;
/** Serialisation: magic "MGFT", format version, header bytes, trailer (CRC-32) bytes. */
const MAGIC = 0x4d474654;
const FORMAT_VERSION = 1;
const HEADER = 16;
const TRAILER = 4;

/** `HEX_BYTE[b]` is the two lowercase hex digits of byte `b`. */
const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function hexOf(bytes: Uint8Array, offset: number): Hex {
  let s = "0x";
  for (let i = offset; i < offset + NODE; i++) s += HEX_BYTE[bytes[i]];
  return s as Hex;
}

/**
 * Writes `meter` as ASCII to `ascii[offset, offset + 42)`; false unless it is a 42-character string. A string with
 * a non-ASCII character either fails the byte count or leaves a byte >= 0x80, which `checkMeter` rejects.
 */
function writeMeter(meter: unknown, ascii: Buffer, offset: number): boolean {
  return (
    typeof meter === "string" &&
    meter.length === METER_CHARS &&
    ascii.write(meter, offset, METER_CHARS, "utf8") === METER_CHARS
  );
}

const lookupAscii = Buffer.alloc(METER_CHARS);
const lookupAddress = new Uint8Array(20);

/**
 * `meter` EIP-55 checksummed, by ethers' `getAddress` rules but with the `0x` prefix required: all-lowercase or
 * all-uppercase digits are accepted, mixed case must be the checksum.
 * @throws InputError if `meter` is malformed or has a wrong checksum.
 */
function checksummed(meter: unknown): Hex {
  const status = writeMeter(meter, lookupAscii, 0) ? checkMeter(lookupAscii, 0, lookupAddress, 0) : METER_MALFORMED;
  checkMeterStatus(meter, status);
  return status === METER_OK ? (meter as Hex) : (lookupAscii.toString("latin1") as Hex);
}

/** @throws InputError if `status` (of `meter`) is malformed or a bad checksum. */
function checkMeterStatus(meter: unknown, status: number): void {
  if (status === METER_MALFORMED) throw new InputError(`meter ${String(meter)} is not a 0x-prefixed 20-byte address`);
  if (status === METER_BAD_CHECKSUM) throw new InputError(`meter ${String(meter)} has an invalid EIP-55 checksum`);
}

/** Started hashing threads, reused by every build; unref'd, so they never keep the process alive. */
const workers: Worker[] = [];
/** Set once a worker failed to start: later builds do not try again. */
let workersUnavailable = false;

/** Up to `count` ready workers, starting missing ones (blocking until they are loaded). */
function workersFor(count: number): Worker[] {
  if (workers.length < count && !workersUnavailable) {
    const ts = import.meta.url.endsWith(".ts");
    const url = new URL(ts ? "./fastTreeWorker.ts" : "./fastTreeWorker.js", import.meta.url);
    const execArgv = ts ? ["--import", import.meta.resolve("tsx")] : [];
    const starting = Array.from({ length: count - workers.length }, () => {
      const ready = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(url, { workerData: ready, execArgv });
      worker.unref();
      return { worker, ready };
    });
    for (const { worker, ready } of starting) {
      if (Atomics.wait(ready, 0, 0, WORKER_START_TIMEOUT_MS) === "timed-out") {
        workersUnavailable = true;
        void worker.terminate();
        continue;
      }
      workers.push(worker);
      worker.once("exit", () => retire(worker));
    }
  }
  return workers.slice(0, count);
}

/** Stops using `worker` (it failed, or exited). */
function retire(worker: Worker): void {
  const i = workers.indexOf(worker);
  if (i >= 0) workers.splice(i, 1);
  void worker.terminate();
}

/**
 * Runs `task(from, to)` over `[from, to)` split evenly between the calling thread and `helpers`, and returns once
 * every range is done. A helper that fails or times out is terminated and its range redone here.
 */
function runSplit(helpers: Worker[], from: number, to: number, task: (from: number, to: number) => HashTask): void {
  const size = Math.ceil((to - from) / (helpers.length + 1));
  const rangeOf = (part: number): [number, number] => [
    Math.min(to, from + part * size),
    Math.min(to, from + (part + 1) * size),
  ];
  const done = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, helpers.length)));
  helpers.forEach((worker, slot) => {
    const message: WorkerTask = { ...task(...rangeOf(slot + 1)), done, slot };
    worker.postMessage(message);
  });
  runHashTask(task(...rangeOf(0)));
  helpers.forEach((worker, slot) => {
    Atomics.wait(done, slot, 0, WORKER_TASK_TIMEOUT_MS);
    if (Atomics.load(done, slot) !== 1) {
      retire(worker);
      runHashTask(task(...rangeOf(slot + 1)));
    }
  });
}

/**
 * Orders the `count` 32-byte hashes stored back to back in `hashes` ascending, as big-endian numbers (as the
 * library sorts leaves): a counting sort on the first two bytes, then a comparison sort inside each (for hashes,
 * tiny) bucket.
 */
function sortByHash(hashes: Uint8Array, count: number): Uint32Array {
  const bucketOf = (i: number) => (hashes[i * NODE] << 8) | hashes[i * NODE + 1];
  const starts = new Uint32Array(65537);
  for (let i = 0; i < count; i++) starts[bucketOf(i) + 1]++;
  for (let b = 1; b <= 65536; b++) starts[b] += starts[b - 1];
  const order = new Uint32Array(count);
  const next = starts.slice(0, 65536);
  for (let i = 0; i < count; i++) order[next[bucketOf(i)]++] = i;
  const compare = (a: number, b: number): number => {
    for (let j = 2; j < NODE; j++) {
      const d = hashes[a * NODE + j] - hashes[b * NODE + j];
      if (d !== 0) return d;
    }
    return 0;
  };
  for (let b = 0; b < 65536; b++) {
    if (starts[b + 1] - starts[b] > 1) order.subarray(starts[b], starts[b + 1]).sort(compare);
  }
  return order;
}

/**
 * Index of the first of `count` 20-byte addresses (back to back in `addresses`, at offset 0 of their buffer) that
 * equals an earlier one, or -1: an open-addressing hash set of indices, hashed with random odd multipliers so that
 * no set of addresses collides by design.
 */
function findRepeatedAddress(addresses: Uint8Array, count: number): number {
  const bits = 32 - Math.clz32(2 * count - 1);
  const slots = new Int32Array(2 ** bits);
  const words = new Int32Array(addresses.buffer, 0, 5 * count);
  const multipliers = Array.from({ length: 5 }, () => randomInt(2 ** 31) | 1);
  for (let i = 0; i < count; i++) {
    let h = 0;
    for (let w = 0; w < 5; w++) h ^= Math.imul(words[5 * i + w], multipliers[w]);
    for (let slot = h >>> (32 - bits); ; slot = (slot + 1) & (slots.length - 1)) {
      const j = slots[slot] - 1;
      if (j < 0) {
        slots[slot] = i + 1;
        break;
      }
      let w = 0;
      while (w < 5 && words[5 * i + w] === words[5 * j + w]) w++;
      if (w === 5) return i;
    }
  }
  return -1;
}

/** @throws InputError unless `value` is a bigint in uint64 range. */
function checkUint64(name: string, value: unknown, meter: unknown): asserts value is bigint {
  if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) {
    throw new InputError(`${name} ${String(value)} of meter ${String(meter)} is not a uint64`);
  }
}

/** Bytes of a serialised tree of `n` leaves. */
function serializedLength(n: number): number {
  return HEADER + n * (METER_CHARS + 16) + (2 * n - 1) * NODE + TRAILER;
}

/** A multi-proof as `StandardMerkleTree.getMultiProof` returns it, with the leaves as `Leaf`s. */
export interface FastMultiProof {
  /** The proven leaves in the library's order: ascending leaf hash (descending tree index). */
  leaves: Leaf[];
  proof: Hex[];
  proofFlags: boolean[];
}

/** The private constructor of {@link FastTree}, for {@link buildFastTree} (set by the class's static block). */
let createTree: (intervalId: bigint, nodes: Uint8Array, meters: Hex[], amounts: Uint8Array) => FastTree;

/**
 * An interval's tree (see the module comment for the layout). Build one with {@link buildFastTree}, reload one
 * with {@link FastTree.deserialize}.
 */
export class FastTree {
  /** The interval every leaf commits to. */
  readonly intervalId: bigint;
  /** Number of leaves (meters). */
  readonly leafCount: number;
  /** Sum of the leaves' `importWh`. */
  readonly totalImportWh: bigint;
  /** Sum of the leaves' `exportWh`. */
  readonly totalExportWh: bigint;
  /** Root, `0x` + 64 lowercase hex digits (the library's `root`). */
  readonly root: Hex;

  /** `32 (2n - 1)` bytes: node `i` at `[32i, 32i + 32)`. */
  readonly #nodes: Uint8Array;
  /** Checksummed meter of each leaf, in tree order. */
  readonly #meters: Hex[];
  /** importWh, exportWh of each leaf in tree order, big-endian uint64s: leaf `k` at `[16k, 16k + 16)`. */
  readonly #amounts: DataView;
  /** Checksummed meter → position in tree order; made by the first lookup (builds and reloads skip it). */
  #position: Map<Hex, number> | undefined;

  static {
    createTree = (...args) => new FastTree(...args);
  }

  /** @throws InputError if a total overflows uint64. */
  private constructor(intervalId: bigint, nodes: Uint8Array, meters: Hex[], amounts: Uint8Array) {
    this.intervalId = intervalId;
    this.leafCount = meters.length;
    this.#nodes = nodes;
    this.#meters = meters;
    this.#amounts = new DataView(amounts.buffer, amounts.byteOffset, amounts.byteLength);
    let totalImportWh = 0n;
    let totalExportWh = 0n;
    for (let k = 0; k < meters.length; k++) {
      totalImportWh += this.#amounts.getBigUint64(16 * k);
      totalExportWh += this.#amounts.getBigUint64(16 * k + 8);
    }
    if (totalImportWh > UINT64_MAX || totalExportWh > UINT64_MAX) {
      throw new InputError(`interval ${intervalId} totals overflow uint64`);
    }
    this.totalImportWh = totalImportWh;
    this.totalExportWh = totalExportWh;
    this.root = hexOf(nodes, 0);
  }

  /** The leaves in tree order (ascending leaf hash), checksummed. */
  leaves(): Leaf[] {
    return Array.from({ length: this.leafCount }, (_, k) => this.#leafAt(k));
  }

  /**
   * Proof of `meter`'s leaf, sibling hashes from the leaf up: the library's `getProof(valueIndex)`.
   * @param meter Any case; mixed case must be the checksum.
   * @throws InputError if `meter` is malformed or has no leaf in this tree.
   */
  proof(meter: Hex): Hex[] {
    const proof: Hex[] = [];
    for (let i = this.#treeIndex(meter); i > 0; i = (i - 1) >> 1) {
      proof.push(hexOf(this.#nodes, (i % 2 === 1 ? i + 1 : i - 1) * NODE));
    }
    return proof;
  }

  /**
   * Multi-proof of several meters' leaves: the library's `getMultiProof(valueIndices)` (same leaves order, proof
   * and flags), for `MerkleProof.multiProofVerify`. No meters: no leaves, the root as the proof, no flags.
   * @throws InputError if a meter is malformed, has no leaf in this tree, or is listed twice.
   */
  multiProof(meters: Hex[]): FastMultiProof {
    const indices = meters.map((m) => this.#treeIndex(m)).sort((a, b) => b - a);
    for (let p = 1; p < indices.length; p++) {
      if (indices[p] === indices[p - 1]) {
        throw new InputError(`meter ${this.#meters[this.#sortedPosition(indices[p])]} is listed twice`);
      }
    }
    // The library's walk: take the deepest pending node; pair it with its sibling if that is pending too.
    const queue = indices.slice();
    let head = 0;
    const proof: Hex[] = [];
    const proofFlags: boolean[] = [];
    while (head < queue.length && queue[head] > 0) {
      const j = queue[head++];
      const sibling = j % 2 === 1 ? j + 1 : j - 1;
      if (head < queue.length && queue[head] === sibling) {
        proofFlags.push(true);
        head++;
      } else {
        proofFlags.push(false);
        proof.push(hexOf(this.#nodes, sibling * NODE));
      }
      queue.push((j - 1) >> 1);
    }
    if (indices.length === 0) proof.push(this.root);
    return { leaves: indices.map((i) => this.#leafAt(this.#sortedPosition(i))), proof, proofFlags };
  }

  /** The batch the relayer stores and posts: root, totals and the leaves in tree order. */
  toBatch(): IntervalBatch {
    return {
      intervalId: this.intervalId,
      root: this.root,
      leafCount: this.leafCount,
      totalImportWh: this.totalImportWh,
      totalExportWh: this.totalExportWh,
      leaves: this.leaves(),
    };
  }

  /**
   * The whole tree as bytes, reloadable with {@link FastTree.deserialize} without hashing it again. Layout (integers
   * big-endian): `"MGFT"`, u8 version 1, 3 zero bytes, u64 intervalId; per leaf in tree order the 42 ASCII
   * characters of its checksummed meter; per leaf in tree order its u64 importWh and u64 exportWh; the `2n - 1`
   * nodes of 32 bytes; last the u32 CRC-32 of all the bytes before it. The length implies n.
   */
  serialize(): Buffer {
    const n = this.leafCount;
    const buf = Buffer.alloc(serializedLength(n));
    buf.writeUInt32BE(MAGIC, 0);
    buf.writeUInt8(FORMAT_VERSION, 4);
    buf.writeBigUInt64BE(this.intervalId, 8);
    let offset = HEADER;
    for (const meter of this.#meters) offset += buf.write(meter, offset, "latin1");
    const amounts = this.#amounts;
    buf.set(new Uint8Array(amounts.buffer, amounts.byteOffset, amounts.byteLength), offset);
    offset += amounts.byteLength;
    buf.set(this.#nodes, offset);
    offset += this.#nodes.length;
    buf.writeUInt32BE(crc32(buf.subarray(0, offset)), offset);
    return buf;
  }

  /**
   * Reloads a tree written by {@link FastTree.serialize}. The trailing CRC-32 catches truncation and corruption;
   * the nodes are not hashed again.
   * @throws InputError if `bytes` are not a complete, intact serialised tree.
   */
  static deserialize(bytes: Uint8Array): FastTree {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC || buf[4] !== FORMAT_VERSION) {
      throw new InputError("not a serialised interval tree (bad magic or version)");
    }
    // serializedLength is linear in n: solve it for n, which must come out a positive integer.
    const n = (buf.length - serializedLength(0)) / (serializedLength(1) - serializedLength(0));
    if (!Number.isInteger(n) || n < 1) throw new InputError(`serialised tree has a bad length (${buf.length} bytes)`);
    const body = buf.length - TRAILER;
    if (crc32(buf.subarray(0, body)) !== buf.readUInt32BE(body)) {
      throw new InputError("serialised tree is corrupt (CRC-32 mismatch)");
    }
    let offset = HEADER;
    const meters: Hex[] = new Array(n);
    for (let k = 0; k < n; k++, offset += METER_CHARS) {
      meters[k] = buf.toString("latin1", offset, offset + METER_CHARS) as Hex;
    }
    const amounts = new Uint8Array(buf.subarray(offset, offset + 16 * n));
    const nodes = new Uint8Array(buf.subarray(offset + 16 * n, body));
    return new FastTree(buf.readBigUInt64BE(8), nodes, meters, amounts);
  }

  /** Tree-array index of `meter`'s leaf. */
  #treeIndex(meter: Hex): number {
    this.#position ??= new Map(this.#meters.map((m, k) => [m, k]));
    const k = this.#position.get(meter) ?? this.#position.get(checksummed(meter));
    if (k === undefined) throw new InputError(`meter ${meter} has no leaf in interval ${this.intervalId}`);
    return 2 * this.leafCount - 2 - k;
  }

  /** Position in tree order of the leaf at tree-array index `i`. */
  #sortedPosition(i: number): number {
    return 2 * this.leafCount - 2 - i;
  }

  #leafAt(k: number): Leaf {
    return {
      meter: this.#meters[k],
      importWh: this.#amounts.getBigUint64(16 * k),
      exportWh: this.#amounts.getBigUint64(16 * k + 8),
    };
  }
}

/** Options of {@link buildFastTree}. */
export interface FastTreeOptions {
  /**
   * Threads that hash, the calling one included (1: no worker threads). Default: `os.availableParallelism()`, at
   * most 4, from {@link PARALLEL_MIN_LEAVES} leaves on; 1 below. Worker threads start on the first build that needs
   * them (the build waits for them to load, a few hundred ms) and stay for later builds.
   */
  threads?: number;
}

/**
 * Builds the tree of an interval's leaves: the same tree as `StandardMerkleTree.of(values, FAST_TREE_LEAF_ENCODING)`
 * with `values = leaves.map(l => [l.meter, intervalId, l.importWh, l.exportWh])`.
 * @param intervalId The delivery interval (a uint64) every leaf commits to.
 * @param leaves One per meter, in any order. A meter may be in any case (mixed case must be the EIP-55 checksum);
 *   the tree keeps it checksummed.
 * @throws InputError if `intervalId` is not a uint64, there are no leaves, a meter is malformed or appears twice,
 *   an amount is not a uint64, a total overflows uint64 (the on-chain totals are uint64), or `threads` is not a
 *   positive integer.
 */
export function buildFastTree(intervalId: bigint, leaves: Leaf[], options: FastTreeOptions = {}): FastTree {
  const n = leaves.length;
  if (typeof intervalId !== "bigint" || intervalId < 0n || intervalId > UINT64_MAX) {
    throw new InputError(`interval id ${String(intervalId)} is not a uint64`);
  }
  if (n === 0) throw new InputError(`interval ${intervalId} has no readings: nothing to anchor`);
  const threads =
    options.threads ?? (n >= PARALLEL_MIN_LEAVES ? Math.min(MAX_DEFAULT_THREADS, availableParallelism()) : 1);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new InputError(`threads must be a positive integer, not ${threads}`);
  }
  const helpers = threads > 1 ? workersFor(threads - 1) : [];
  const alloc = (bytes: number) =>
    Buffer.from(helpers.length > 0 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));

  const [ascii, amounts, status, addresses, hashes] = [METER_CHARS, 16, 1, 20, NODE].map((size) => alloc(n * size));
  const job: LeafJob = { intervalId, meters: ascii, amounts, status, addresses, hashes };
  const amountView = new DataView(amounts.buffer);
  const given: Hex[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const { meter, importWh, exportWh } = leaves[i];
    if (!writeMeter(meter, ascii, i * METER_CHARS)) checkMeterStatus(meter, METER_MALFORMED);
    checkUint64("importWh", importWh, meter);
    checkUint64("exportWh", exportWh, meter);
    amountView.setBigUint64(i * 16, importWh);
    amountView.setBigUint64(i * 16 + 8, exportWh);
    given[i] = meter;
  }
  runSplit(helpers, 0, n, (from, to) => ({ kind: "leaves", job, from, to }));
  for (let i = 0; i < n; i++) checkMeterStatus(given[i], status[i]);
  const meterOf = (i: number): Hex =>
    status[i] === METER_OK ? given[i] : (ascii.toString("latin1", i * METER_CHARS, (i + 1) * METER_CHARS) as Hex);

  const twice = findRepeatedAddress(addresses, n);
  if (twice >= 0) throw new InputError(`meter ${meterOf(twice)} appears twice in interval ${intervalId}`);

  const byHash = sortByHash(hashes, n);
  const nodes = alloc((2 * n - 1) * NODE);
  const meters: Hex[] = new Array(n);
  const sortedAmounts = new Uint8Array(16 * n);
  // Copied as 32-bit words: every record starts at a multiple of 4 bytes of a buffer of its own.
  const [hashWords, nodeWords, amountWords, sortedAmountWords] = [hashes, nodes, amounts, sortedAmounts].map(
    (bytes) => new Int32Array(bytes.buffer, 0, bytes.length / 4),
  );
  for (let k = 0; k < n; k++) {
    const i = byHash[k];
    for (let w = 0, from = i * 8, to = (2 * n - 2 - k) * 8; w < 8; w++) nodeWords[to + w] = hashWords[from + w];
    for (let w = 0; w < 4; w++) sortedAmountWords[4 * k + w] = amountWords[4 * i + w];
    meters[k] = meterOf(i);
  }
  // Internal nodes 0 … n - 2, one level at a time from the deepest: a level only needs the one below it.
  for (let end = n - 1; end > 0;) {
    const start = 2 ** (31 - Math.clz32(end)) - 1;
    runSplit(end - start >= PARALLEL_MIN_NODES ? helpers : [], start, end, (from, to) => ({
      kind: "nodes",
      nodes,
      from,
      to,
    }));
    end = start;
  }
  return createTree(intervalId, nodes, meters, sortedAmounts);
}
