import { expect } from "chai";
import { pino } from "pino";
import { Ingestor } from "../../oracle/src/ingest/ingestor.js";
import { Mutex } from "../../oracle/src/lock.js";
import { createMetrics } from "../../oracle/src/metrics.js";
import { SqliteStore } from "../../oracle/src/store/sqlite.js";
import { createMeters } from "../../oracle/simulator/keys.js";
import { ReadingSigner, toPayload } from "../../oracle/simulator/sign.js";
import type { Hex, MirroredMeter, SignedReading } from "../../oracle/src/types.js";

const DOMAIN = { chainId: 31337n, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Hex };
const meters = createMeters({
  count: 4,
  owners: ["0x90F79bf6EB2c4f870365E785982E1f101E93b906"],
  zones: 1,
  seed: 3,
  accreditationExpiry: 0,
});
const signer = new ReadingSigner(DOMAIN);
const mirror = new Map<string, MirroredMeter>(
  meters.map((m, i) => [
    m.meter,
    {
      meter: m.meter as Hex,
      owner: m.owner as Hex,
      zone: 1,
      index: i,
      technology: 0,
      ratedCapacityW: 1_000_000n,
      revokedAt: 0n,
    },
  ]),
);
const NOW = 2_000_000n * 900n;

function reading(i: number, intervalId: bigint, wh: bigint): SignedReading {
  const m = meters[i];
  return signer.sign(m.privateKey, {
    meter: m.meter as Hex,
    intervalId,
    importWhTotal: 0n,
    exportWhTotal: wh,
    timestamp: (intervalId + 1n) * 900n,
  });
}

/** A verifier whose answers wait until `release()`; it records the batch sizes it was given. */
function heldVerifier() {
  const calls: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return {
    calls,
    release: () => release(),
    verify: async (rs: SignedReading[]) => {
      calls.push(rs.length);
      await gate;
      return rs.map((r) => r.meter);
    },
  };
}

async function ingestor(verifier: { verify(r: SignedReading[]): Promise<(Hex | null)[]> }, maxQueue: number) {
  const store = new SqliteStore(":memory:");
  await store.open();
  const ing = new Ingestor({
    store,
    verifier,
    meters: { get: (m) => mirror.get(m) },
    lock: new Mutex(),
    metrics: createMetrics("test"),
    log: pino({ level: "silent" }),
    intervalLength: 900n,
    clockSkewSeconds: 120n,
    graceSeconds: 86_400n,
    batchSize: 2,
    batchDelayMs: 1,
    maxQueue,
    now: () => NOW,
  });
  return { ing, store };
}

describe("Ingestor", function () {
  it("test_backPressure_countsReadingsBeingVerified", async function () {
    const v = heldVerifier();
    const { ing, store } = await ingestor(v, 4);
    const first = ing.submit(
      [0, 1, 2, 3].map((i) => toPayload(reading(i, 1_999_990n, 10n))),
      "http",
    );
    await new Promise((r) => setTimeout(r, 20));
    // All four were taken into two verification batches: the queue is empty but the ingestor is full.
    expect(v.calls).to.deep.equal([2, 2]);
    expect(ing.depth).to.equal(4);
    const [refused] = await ing.submit([toPayload(reading(0, 1_999_991n, 20n))], "http");
    expect(refused).to.deep.include({ status: "rejected", reason: "overloaded" });
    v.release();
    expect((await first).map((o) => o.status)).to.deep.equal(["accepted", "accepted", "accepted", "accepted"]);
    await new Promise((r) => setImmediate(r)); // the batch is released right after its answers
    expect(ing.depth).to.equal(0);
    expect(ing.full).to.equal(false);
    expect(await store.countReadings()).to.equal(4);
    await store.close();
  });

  it("test_overlappedVerification_storesEachMetersReadingsInOrder", async function () {
    const { ing, store } = await ingestor({ verify: async (rs) => rs.map((r) => r.meter) }, 1_000);
    // Readings of one meter over consecutive intervals arrive in several batches; each must see the previous one.
    const rs = Array.from({ length: 9 }, (_, k) => reading(0, 1_999_980n + BigInt(k), 100n * BigInt(k + 1)));
    const outcomes = await ing.submit(rs.map(toPayload), "http");
    expect(outcomes.map((o) => o.status)).to.deep.equal(Array(9).fill("accepted"));
    // A reading whose register went backwards relative to the stored previous interval is refused.
    const [bad] = await ing.submit([toPayload(reading(0, 1_999_989n, 50n))], "http");
    expect(bad).to.deep.include({ status: "rejected", reason: "register_decreased" });
    expect(await store.countReadings()).to.equal(9);
    await store.close();
  });
});
