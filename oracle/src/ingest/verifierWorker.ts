/**
 * A verifier worker thread (started by `VerifierPool`): receives packed readings, answers with their packed
 * recovered signers. The domain comes in `workerData`; the format is documented in `verifierPool.ts`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ReadingDigester } from "./digest.js";
import { verifyPacked, type VerifierWorkerData, type VerifyRequest, type VerifyResponse } from "./verifierPool.js";

if (parentPort === null) throw new Error("verifierWorker.ts runs as a worker thread of VerifierPool");
const port = parentPort;
const digester = new ReadingDigester((workerData as VerifierWorkerData).domain);

port.on("message", (msg: VerifyRequest) => {
  let response: VerifyResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    const results = verifyPacked(digester, new Uint8Array(msg.packed));
    // Buffer.alloc gives the results their own ArrayBuffer; slice only if that ever changes.
    const own = results.byteOffset === 0 && results.buffer.byteLength === results.length;
    const buffer = (
      own ? results.buffer : results.buffer.slice(results.byteOffset, results.byteOffset + results.length)
    ) as ArrayBuffer;
    response = { id: msg.id, results: buffer };
    transfer = [buffer];
  } catch (e) {
    response = { id: msg.id, error: (e as Error).message.split("\n")[0] };
  }
  port.postMessage(response, transfer);
});
