import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { connectAsync } from "mqtt";
import fc from "fast-check";
import pg from "pg";
import { pino } from "pino";
import { deploySystem, writeDeployment, type Deployment, type System } from "../../src/deploy.js";
import { registerMeter, setZone } from "../../src/ops/meters.js";
import { kwhTokenId } from "../../src/intervals.js";
import { parseConfig } from "../../oracle/src/config.js";
import { startRelayer, type Relayer } from "../../oracle/src/service.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../oracle/src/ingest/broker.js";
import { createMeters, type SimulatedMeter, toMeterInput } from "../../oracle/simulator/keys.js";
import { ReadingSigner, toPayload } from "../../oracle/simulator/sign.js";
import { readingsFor } from "../../oracle/simulator/main.js";
import { mqttPublisher } from "../../oracle/simulator/publish.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";
import { HARDHAT_KEYS, getJson, until } from "./helpers.js";

/** Matches a Prometheus sample of `name` with the given labels (any order) and a non-zero value. */
function sample(name: string, labels: Record<string, string>, value = "[1-9]\\d*"): RegExp {
  const look = Object.entries(labels)
    .map(([k, v]) => `(?=[^}]*${k}="${v}")`)
    .join("");
  return new RegExp(`^${name}\\{${look}[^}]*\\} ${value}$`, "m");
}

describe("relayer service (simulator → MQTT → two relayers → roots on chain → claim)", function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), "relayer-e2e-"));
  let server: Awaited<ReturnType<typeof network.createServer>>;
  let rpcUrl: string;
  let provider: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let broker: EmbeddedBroker | undefined;
  let mqttUrl: string;
  const relayers: Relayer[] = [];
  let meters: SimulatedMeter[];
  let signer: ReadingSigner;
  let fromInterval: bigint;
  const intervals = 2;
  /** The committee relayers' clock: inside the grace period while readings arrive, moved past it to seal. */
  let clock = 0n;
  const GRACE = 3_000n;
  const schemaPrefix = `e2e_${process.pid}_${Date.now()}`;

  before(async function () {
    server = await network.createServer("default", "127.0.0.1", 0);
    const { address, port } = await server.listen();
    rpcUrl = `http://${address}:${port}`;
    provider = new JsonRpcProvider(rpcUrl, undefined, { pollingInterval: 50 });
    const deployer = new NonceManager(new Wallet(HARDHAT_KEYS[0], provider));
    const relayerAddrs = [new Wallet(HARDHAT_KEYS[1]).address, new Wallet(HARDHAT_KEYS[2]).address];
    ({ system, deployment } = await deploySystem(deployer as never, "e2e", { relayers: relayerAddrs, threshold: 2 }));
    writeDeployment(dir, deployment);
    for (const zone of [1, 2, 3]) await setZone(system.registry, zone, 100_000n, 100_000n);
    meters = createMeters({
      count: 12,
      owners: ["0x90F79bf6EB2c4f870365E785982E1f101E93b906", "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"],
      zones: 3,
      seed: 7,
      accreditationExpiry: Math.floor(Date.now() / 1000) + 86_400 * 365,
    });
    for (const m of meters) await registerMeter(system.registry, toMeterInput(m));
    signer = new ReadingSigner({
      chainId: BigInt(deployment.chainId),
      verifyingContract: deployment.contracts.MeterRegistry.address,
    });
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    // Published intervals end two intervals ago; the interval before the current one stays free for HTTP cases.
    fromInterval = now / 900n - BigInt(intervals) - 1n;
    clock = (fromInterval + BigInt(intervals)) * 900n + 1n; // just after the last published interval ended

    if (process.env.MQTT_URL) mqttUrl = process.env.MQTT_URL;
    else {
      broker = await startEmbeddedBroker(0);
      mqttUrl = broker.url;
    }
    const suffix = `${process.pid}-${Date.now()}`;
    for (const i of [1, 2, 3]) {
      process.env[`E2E_RELAYER_KEY_${i}`] = HARDHAT_KEYS[i];
      const config = parseConfig(
        {
          relayerId: `e2e-${i}`,
          chain: {
            rpcUrl,
            deployment: join(dir, "e2e.json"),
            privateKeyEnv: `E2E_RELAYER_KEY_${i}`,
            pollMs: 50,
            replaceAfterMs: 5_000,
          },
          // A schema of its own when relayer 1 runs on PostgreSQL: the database is shared with other runs.
          store: {
            sqlitePath: join(dir, `relayer-${i}.sqlite`),
            postgresSchema: `${schemaPrefix}_${i}`,
          },
          // Relayer 3 is outside the committee, HTTP only, and never seals: its intervals stay open for the cases.
          mqtt: i === 3 ? undefined : { url: mqttUrl, clientId: `e2e-relayer-${i}-${suffix}` },
          http: { port: 0, bodyLimitBytes: 65_536 },
          ingest: { workers: i === 1 ? 2 : 0, clockSkewSeconds: 120 },
          batch: { graceSeconds: i === 3 ? 86_400 : Number(GRACE), pollMs: 100 },
          log: { level: "silent" },
        },
        // Relayer 1 uses PostgreSQL when the environment provides it; relayer 2 always SQLite.
        i === 1 && process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {},
      );
      const relayer = await startRelayer(config, {
        log: pino({ level: process.env.E2E_LOG ?? "silent" }),
        now: i === 3 ? undefined : () => clock,
      });
      await relayer.mqttReady;
      relayers.push(relayer);
    }
  });

  after(async function () {
    for (const r of relayers) await r.stop();
    if (process.env.DATABASE_URL) {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schemaPrefix}_1 CASCADE`);
      await client.end();
    }
    await broker?.close();
    provider?.destroy();
    await server?.close();
  });

  it("test_e2e_simulatedMetersReachAFinalRootAndAClaimWithAnApiProof", async function () {
    const publisher = await mqttPublisher(mqttUrl, `e2e-sim-${process.pid}`);
    for (const readings of readingsFor(meters, signer, fromInterval, intervals, 900)) await publisher.publish(readings);
    await publisher.close();
    const last = fromInterval + BigInt(intervals) - 1n;
    for (const r of relayers.slice(0, 2)) {
      await until(
        "every reading to be stored",
        async () => (await r.store.countReadings()) === meters.length * (intervals + 1),
      );
    }
    clock += GRACE; // the grace period of every published interval has passed: seal and vote
    const [root] = await until("the last interval's root to be final", async () => {
      const r = await system.oracle.finalRoot(last);
      return r[0] !== `0x${"0".repeat(64)}` && r;
    });
    for (const r of relayers.slice(0, 2)) {
      const res = await getJson(`${r.httpUrl}/intervals/${last}`);
      await until(
        "both relayers to record the final status",
        async () => (await r.store.getBatch(last))?.status === "final",
      );
      expect(res.chain.status).to.equal("final");
      expect(res.local.root).to.equal(root);
    }
    // Every relayer stored every reading exactly once.
    for (const r of relayers.slice(0, 2))
      expect(await r.store.countReadings()).to.equal(meters.length * (intervals + 1));
    const seller = meters.find((m) => m.technology === "solar")!;
    const proof = await getJson(`${relayers[0].httpUrl}/proofs/${last}/${seller.meter}`);
    expect(proof.root).to.equal(root);
    await (
      await system.kwh.claim(proof.meter, last, BigInt(proof.importWh), BigInt(proof.exportWh), proof.proof)
    ).wait();
    expect(await system.kwh.balanceOf(seller.owner, kwhTokenId(seller.zone, last))).to.equal(BigInt(proof.exportWh));
    const metrics = await (await fetch(`${relayers[0].httpUrl}/metrics`)).text();
    expect(metrics).to.match(sample("relayer_readings_accepted_total", { source: "mqtt" }, "36"));
    const health = await getJson(`${relayers[0].httpUrl}/health`);
    expect([health.ok, health.mqtt, health.meters]).to.deep.equal([true, "connected", 12]);
  });

  it("test_http_rejectsEachKindOfBadReadingWithAReason", async function () {
    const r = relayers[2];
    const post = async (body: string | object, raw = false) => {
      const res = await fetch(`${r.httpUrl}/readings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: raw ? (body as string) : JSON.stringify(body),
      });
      return { code: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const m = meters[0];
    const id = fromInterval + BigInt(intervals); // ended, and never sealed by relayer 3
    const baseline = signer.sign(m.privateKey, {
      meter: m.meter as Hex,
      intervalId: id - 1n,
      importWhTotal: 1_000n,
      exportWhTotal: 1_000n,
      timestamp: id * 900n,
    });
    expect((await post(toPayload(baseline))).body.status).to.equal("accepted");
    const good = signer.sign(m.privateKey, {
      meter: m.meter as Hex,
      intervalId: id,
      importWhTotal: 10_000_000n,
      exportWhTotal: 10_000_000n,
      timestamp: (id + 1n) * 900n,
    });
    const stranger = Wallet.createRandom();
    const cases: [string | object, boolean, number, string][] = [
      ["{not json", true, 400, "malformed"],
      [{ ...toPayload(good), signature: "0x1234" }, false, 422, "malformed"],
      [toPayload(signer.sign(stranger.privateKey, { ...good, meter: m.meter as Hex })), false, 422, "bad_signature"],
      [
        toPayload(signer.sign(stranger.privateKey, { ...good, meter: stranger.address as Hex })),
        false,
        422,
        "unknown_meter",
      ],
      [
        toPayload(signer.sign(m.privateKey, { ...good, timestamp: good.timestamp + 10_000n })),
        false,
        422,
        "misaligned",
      ],
      [
        toPayload(signer.sign(m.privateKey, { ...good, intervalId: id + 1_000n, timestamp: (id + 1_001n) * 900n })),
        false,
        422,
        "not_ended",
      ],
      [
        toPayload(signer.sign(m.privateKey, { ...good, importWhTotal: 999n, exportWhTotal: 1_000n })),
        false,
        422,
        "register_decreased",
      ],
      [toPayload(good), false, 422, "impossible_delta"],
    ];
    for (const [body, raw, code, reason] of cases) {
      const res = await post(body, raw);
      expect([res.code, res.body.reason], JSON.stringify(body).slice(0, 80)).to.deep.equal([code, reason]);
    }
    // A plausible reading is accepted once, acknowledged again as a duplicate, and a different one conflicts.
    const ok = signer.sign(m.privateKey, { ...good, importWhTotal: 1_001n, exportWhTotal: 1_002n });
    expect((await post(toPayload(ok))).body.status).to.equal("accepted");
    expect((await post(toPayload(ok))).body.status).to.equal("duplicate");
    const other = signer.sign(m.privateKey, { ...ok, exportWhTotal: ok.exportWhTotal + 1n });
    expect(await post(toPayload(other))).to.deep.include({ code: 422 });
    expect((await r.store.conflicts(id)).map((c) => c.reading.signature)).to.deep.equal([other.signature]);
    // An oversized body is refused with 413.
    const big = await fetch(`${r.httpUrl}/readings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "[" + "1,".repeat(40_000) + "1]",
    });
    expect(big.status).to.equal(413);
    const metrics = await (await fetch(`${r.httpUrl}/metrics`)).text();
    for (const reason of [
      "malformed",
      "bad_signature",
      "unknown_meter",
      "misaligned",
      "not_ended",
      "register_decreased",
      "impossible_delta",
      "conflict",
    ]) {
      expect(metrics, reason).to.match(sample("relayer_readings_rejected_total", { reason, source: "http" }));
    }
  });

  it("test_readingsApi_returnsTheStoredSignedReadingWithItsBaselineAndConflicts", async function () {
    const r = relayers[2];
    const m = meters[3];
    const id = fromInterval + BigInt(intervals); // ended, and never sealed by relayer 3
    const sign = (intervalId: bigint, importWhTotal: bigint, exportWhTotal: bigint) =>
      signer.sign(m.privateKey, {
        meter: m.meter as Hex,
        intervalId,
        importWhTotal,
        exportWhTotal,
        timestamp: (intervalId + 1n) * 900n,
      });
    const baseline = sign(id - 1n, 2_000n, 2_000n);
    const reading = sign(id, 2_001n, 2_003n);
    const other = sign(id, 2_001n, 2_004n);
    const post = async (x: SignedReading) => {
      const res = await fetch(`${r.httpUrl}/readings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(toPayload(x)),
      });
      return (await res.json()) as { status: string; reason?: string };
    };
    expect((await post(baseline)).status).to.equal("accepted");
    expect((await post(reading)).status).to.equal("accepted");
    expect((await post(other)).reason).to.equal("conflict");
    const [{ receivedAt }] = await r.store.conflicts(id).then((cs) => cs.filter((c) => c.reading.meter === m.meter));
    // Exactly as stored, whatever the case of the address in the path.
    for (const meter of [m.meter, m.meter.toLowerCase()]) {
      const res = await fetch(`${r.httpUrl}/readings/${id}/${meter}`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({
        meter: m.meter,
        intervalId: id.toString(),
        reading: toPayload(reading),
        baseline: toPayload(baseline),
        conflicts: [{ reading: toPayload(other), source: "http", receivedAt }],
      });
    }
    expect(await r.store.getReading(m.meter as Hex, id)).to.deep.equal(reading);
    // The first reading has no baseline; a meter or interval without a reading is 404; bad parameters 400.
    expect((await getJson(`${r.httpUrl}/readings/${id - 1n}/${m.meter}`)).baseline).to.equal(null);
    const cases: [string, number, RegExp][] = [
      [
        `/readings/${id + 5n}/${m.meter}`,
        404,
        new RegExp(`^meter ${m.meter} has no stored reading in interval ${id + 5n}$`),
      ],
      [`/readings/${id}/${meters[4].meter}`, 404, /has no stored reading/],
      [`/readings/abc/${m.meter}`, 400, /^interval id "abc" is not a number$/],
      [`/readings/-1/${m.meter}`, 400, /is not a number/],
      [`/readings/${id}/0x1234`, 400, /^"0x1234" is not an address$/],
    ];
    for (const [path, code, detail] of cases) {
      const res = await fetch(`${r.httpUrl}${path}`);
      const body = (await res.json()) as { error: string; detail: string };
      expect([res.status, body.error], path).to.deep.equal([code, code === 404 ? "not_found" : "bad_request"]);
      expect(body.detail, path).to.match(detail);
    }
  });

  it("test_property_randomAndMutatedPayloadsOnBothPathsNeverBreakIngest", async function () {
    const r = relayers[2];
    const m = meters[1];
    const id = fromInterval + BigInt(intervals);
    const base = toPayload(
      signer.sign(m.privateKey, {
        meter: m.meter as Hex,
        intervalId: id,
        importWhTotal: 1n,
        exportWhTotal: 1n,
        timestamp: (id + 1n) * 900n,
      }),
    );
    const mutated = fc
      .record({
        field: fc.constantFrom(...Object.keys(base)),
        value: fc.oneof(fc.anything(), fc.string(), fc.bigInt().map(String), fc.integer(), fc.constant(null)),
        drop: fc.boolean(),
      })
      .map(({ field, value, drop }) => {
        const copy: Record<string, unknown> = { ...base };
        if (drop) delete copy[field];
        else copy[field] = value;
        return copy;
      });
    const payloads = fc.oneof(fc.anything(), fc.json(), mutated);
    const client = await connectAsync(mqttUrl, { clientId: `e2e-fuzz-${process.pid}` });
    try {
      await fc.assert(
        fc.asyncProperty(payloads, async (payload) => {
          let body: string;
          try {
            body = typeof payload === "string" ? payload : (JSON.stringify(payload) ?? "null");
          } catch {
            body = "null";
          }
          const res = await fetch(`${r.httpUrl}/readings`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          });
          expect([200, 400, 422]).to.include(res.status);
          await client.publishAsync(`meters/${m.meter}/readings`, body, { qos: 1 });
        }),
        { numRuns: 150, seed: 42 },
      );
    } finally {
      await client.endAsync();
    }
    // Still alive and healthy on both paths.
    expect((await fetch(`${r.httpUrl}/health`)).status).to.equal(200);
    const metrics = await (await fetch(`${r.httpUrl}/metrics`)).text();
    expect(metrics).to.match(sample("relayer_readings_rejected_total", { reason: "malformed", source: "http" }));
    const mqttMetrics = await (await fetch(`${relayers[1].httpUrl}/metrics`)).text();
    expect(mqttMetrics).to.match(sample("relayer_readings_rejected_total", { reason: "malformed", source: "mqtt" }));
  });
});
