/** A tiny async mutex: ingest storage and interval sealing take turns, so a sealed interval gains no readings. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` when every earlier holder has finished. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
