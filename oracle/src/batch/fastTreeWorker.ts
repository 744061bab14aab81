/**
 * A hashing thread of `fastTree.ts`. Once loaded it sets its `ready` word (its `workerData`) to 1; then it runs
 * each {@link WorkerTask} it is sent on shared memory and sets the task's word `done[slot]` to 1 (finished) or 2
 * (failed), waking the building thread, which waits in `Atomics.wait`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type HashTask, runHashTask } from "./fastTreeHash.js";

/** A task as sent to a worker: the work and where to report it. */
export type WorkerTask = HashTask & { done: Int32Array; slot: number };

if (parentPort === null) throw new Error("fastTreeWorker.ts runs as a worker thread of fastTree.ts");

parentPort.on("message", (task: WorkerTask) => {
  let outcome = 2;
  try {
    runHashTask(task);
    outcome = 1;
  } finally {
    Atomics.store(task.done, task.slot, outcome);
    Atomics.notify(task.done, task.slot);
  }
});

const ready = workerData as Int32Array;
Atomics.store(ready, 0, 1);
Atomics.notify(ready, 0);
