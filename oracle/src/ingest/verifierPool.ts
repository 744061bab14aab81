/**
 * Signature recovery off the main thread: a pool of `worker_threads` that compute reading digests and recover
 * their signers, so that ingest keeps answering MQTT and HTTP while a batch is verified.
 *
 * A `verify` call is split into chunks (up to {@link MAX_CHUNK} readings); each chunk goes to the worker with the
 * fewest readings in flight as one packed ArrayBuffer, transferred, not copied: per reading one flag byte (1 = well
 * formed), the meter's 20 bytes, the four uint64 fields big-endian and the 65 signature bytes
 * ({@link RECORD_SIZE} bytes). The worker answers with one transferred buffer of 40 ASCII bytes per reading: the
 * checksummed signer without `0x`, or a zero first byte for none. Results come back in input order.
 *
 * With `workers: 0` everything runs inline on the calling thread (digest + recover per reading, no packing).
 * Workers are unref'd while idle, so a pool that is never closed does not keep the process alive; `close()` waits
 * for chunks in flight, then terminates the workers. A worker that dies fails its chunks (the `verify` calls they
 * belong to reject) and is replaced.
 *
 * The worker starts from TypeScript source when this module runs as TypeScript (tsx: `npx tsx`, Hardhat's mocha
 * runner): it is given tsx's loader with `--import`. From compiled JavaScript it starts `verifierWorker.js` as is.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Hex, SignedReading } from "../types.js";
import { ReadingDigester, type ReadingDomain } from "./digest.js";
import { recoverSigner } from "./recover.js";

/** Bytes per packed reading: flag ‖ meter(20) ‖ intervalId ‖ import ‖ export ‖ timestamp (8 each) ‖ signature(65). */
export const RECORD_SIZE = 1 + 20 + 4 * 8 + 65;
/** Bytes per result: the checksummed address's 40 hex characters (ASCII); first byte 0 = no signer. */
export const RESULT_SIZE = 40;
/** Most readings in one message to a worker. */
export const MAX_CHUNK = 1024;
/** Fewest readings worth a separate message when splitting a call across workers. */
const MIN_CHUNK = 64;

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE_RE = /^0x[0-9a-fA-F]{130}$/;
const UINT64_MAX = (1n << 64n) - 1n;

function isUint64(v: unknown): v is bigint {
  return typeof v === "bigint" && v >= 0n && v <= UINT64_MAX;
}

/**
 * Packs `readings[from…to)` into one buffer of {@link RECORD_SIZE}-byte records. A reading that is not well formed
 * (it did not come from `parseReading`) gets flag 0 and will have no signer.
 */
export function packReadings(readings: readonly SignedReading[], from = 0, to = readings.length): ArrayBuffer {
  const buf = Buffer.from(new ArrayBuffer((to - from) * RECORD_SIZE));
  for (let i = from, o = 0; i < to; i++, o += RECORD_SIZE) {
    const r = readings[i];
    if (
      typeof r !== "object" ||
      r === null ||
      typeof r.meter !== "string" ||
      !ADDRESS_RE.test(r.meter) ||
      typeof r.signature !== "string" ||
      !SIGNATURE_RE.test(r.signature) ||
      !isUint64(r.intervalId) ||
      !isUint64(r.importWhTotal) ||
      !isUint64(r.exportWhTotal) ||
      !isUint64(r.timestamp)
    ) {
      continue; // flag stays 0
    }
    buf[o] = 1;
    buf.write(r.meter.slice(2), o + 1, 20, "hex");
    buf.writeBigUInt64BE(r.intervalId, o + 21);
    buf.writeBigUInt64BE(r.importWhTotal, o + 29);
    buf.writeBigUInt64BE(r.exportWhTotal, o + 37);
    buf.writeBigUInt64BE(r.timestamp, o + 45);
    buf.write(r.signature.slice(2), o + 53, 65, "hex");
  }
  return buf.buffer as ArrayBuffer;
}

/** Digests and recovers every packed record (what a worker does); returns the packed results. */
export function verifyPacked(digester: ReadingDigester, packed: Uint8Array): Uint8Array {
  const count = Math.floor(packed.length / RECORD_SIZE);
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.length);
  const out = Buffer.alloc(count * RESULT_SIZE);
  const digest = new Uint8Array(32);
  for (let i = 0, o = 0; i < count; i++, o += RECORD_SIZE) {
    if (buf[o] !== 1) continue;
    digester.digestRecordInto(buf, o + 1, digest, 0);
    const signer = recoverSigner(digest, buf.subarray(o + 53, o + 118));
    if (signer !== null) out.write(signer.slice(2), i * RESULT_SIZE, RESULT_SIZE, "latin1");
  }
  return out;
}

/** Reads packed results back into addresses (null for none). */
export function unpackSigners(results: Uint8Array, into: (Hex | null)[], at: number): void {
  const buf = Buffer.from(results.buffer, results.byteOffset, results.length);
  const count = Math.floor(buf.length / RESULT_SIZE);
  for (let i = 0; i < count; i++) {
    const o = i * RESULT_SIZE;
    into[at + i] = buf[o] === 0 ? null : (`0x${buf.toString("latin1", o, o + RESULT_SIZE)}` as Hex);
  }
}

/** Digest + recover on the calling thread; a reading that is not well formed has no signer. */
export function verifyInline(digester: ReadingDigester, readings: readonly SignedReading[]): (Hex | null)[] {
  return readings.map((r) => {
    if (typeof r !== "object" || r === null) return null;
    if (typeof r.signature !== "string" || !SIGNATURE_RE.test(r.signature)) return null;
    let digest: Uint8Array;
    try {
      digest = digester.digest(r);
    } catch {
      return null;
    }
    return recoverSigner(digest, Buffer.from(r.signature.slice(2), "hex"));
  });
}

/** Messages between the pool and a worker. */
export interface VerifyRequest {
  id: number;
  packed: ArrayBuffer;
}
export interface VerifyResponse {
  id: number;
  results?: ArrayBuffer;
  error?: string;
}
/** `workerData` of a verifier worker. */
export interface VerifierWorkerData {
  domain: { chainId: bigint; verifyingContract: string };
}

export interface VerifierPoolOptions {
  /** Worker threads; 0 runs inline on the calling thread. Default: `os.availableParallelism()`. */
  workers?: number;
  /** The registry's EIP-712 domain the readings are signed under. */
  domain: { chainId: bigint; verifyingContract: Hex };
}

interface Task {
  id: number;
  count: number;
  resolve: (results: Uint8Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  tasks: Map<number, Task>;
  inFlight: number;
}

/** How a worker is started from this module (TypeScript source via tsx, or compiled JavaScript). */
function workerEntry(): { url: URL; execArgv: string[] } {
  const ts = import.meta.url.endsWith(".ts");
  const url = new URL(ts ? "./verifierWorker.ts" : "./verifierWorker.js", import.meta.url);
  return { url, execArgv: ts ? ["--import", import.meta.resolve("tsx")] : [] };
}

/** Recovers the signers of parsed readings on worker threads (see the module comment). */
export class VerifierPool {
  /** Number of worker threads (0 = inline). */
  readonly size: number;
  private readonly digester: ReadingDigester | undefined;
  private readonly slots: Slot[] = [];
  private readonly workerData: VerifierWorkerData;
  private nextId = 1;
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(opts: VerifierPoolOptions) {
    const size = opts.workers ?? availableParallelism();
    if (!Number.isInteger(size) || size < 0)
      throw new RangeError(`workers must be a non-negative integer, not ${size}`);
    this.size = size;
    this.workerData = {
      domain: { chainId: opts.domain.chainId, verifyingContract: opts.domain.verifyingContract },
    };
    if (size === 0) this.digester = new ReadingDigester(opts.domain);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** The recovered signer of each reading (checksummed), or null where the signature is invalid; in input order. */
  async verify(readings: SignedReading[]): Promise<(Hex | null)[]> {
    if (this.closed) throw new Error("VerifierPool is closed");
    if (this.digester !== undefined) return verifyInline(this.digester, readings);
    const n = readings.length;
    const out: (Hex | null)[] = new Array(n);
    if (n === 0) return out;
    const chunk = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.ceil(n / this.size)));
    const parts: Promise<void>[] = [];
    for (let from = 0; from < n; from += chunk) {
      const to = Math.min(n, from + chunk);
      const at = from;
      parts.push(this.run(packReadings(readings, from, to), to - from).then((res) => unpackSigners(res, out, at)));
    }
    await Promise.all(parts);
    return out;
  }

  /** Waits for the chunks in flight, then stops the workers. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const { url, execArgv } = workerEntry();
    const worker = new Worker(url, { workerData: this.workerData, execArgv });
    worker.unref();
    const slot: Slot = { worker, tasks: new Map(), inFlight: 0 };
    worker.on("message", (msg: VerifyResponse) => {
      const task = slot.tasks.get(msg.id);
      if (task === undefined) return;
      this.finish(slot, task);
      if (msg.results !== undefined) task.resolve(new Uint8Array(msg.results));
      else task.reject(new Error(`verifier worker: ${msg.error ?? "no result"}`));
    });
    const fail = (e: Error) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return; // replaced or closed already
      for (const task of slot.tasks.values()) task.reject(e);
      slot.tasks.clear();
      void worker.terminate();
      if (this.closed) this.slots.splice(i, 1);
      else this.slots[i] = this.spawn();
    };
    worker.on("error", (e) => fail(e instanceof Error ? e : new Error(String(e))));
    worker.on("messageerror", (e) => fail(e));
    worker.on("exit", (code) => fail(new Error(`verifier worker exited with code ${code}`)));
    return slot;
  }

  private finish(slot: Slot, task: Task): void {
    slot.tasks.delete(task.id);
    slot.inFlight -= task.count;
    if (slot.tasks.size === 0) slot.worker.unref();
  }

  private run(packed: ArrayBuffer, count: number): Promise<Uint8Array> {
    let slot = this.slots[0];
    for (const s of this.slots) if (s.inFlight < slot.inFlight) slot = s;
    const id = this.nextId++;
    const p = new Promise<Uint8Array>((resolve, reject) => {
      const task: Task = { id, count, resolve, reject };
      if (slot.tasks.size === 0) slot.worker.ref();
      slot.tasks.set(id, task);
      slot.inFlight += count;
      const request: VerifyRequest = { id, packed };
      slot.worker.postMessage(request, [packed]);
    });
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }
}
