import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { TypedDataEncoder, Wallet, verifyTypedData, getAddress, type BaseWallet, type TypedDataDomain } from "ethers";
import { METER_READING_TYPES, readingDomain, type MeterReading } from "../../src/readings.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";
import { ReadingDigester, checksumLowerHex, domainSeparator } from "../../oracle/src/ingest/digest.js";
import {
  nativeAvailable,
  recoverSigner,
  recoverSignerWith,
  secp256k1Backend,
  type Secp256k1Backend,
} from "../../oracle/src/ingest/recover.js";
import { VerifierPool, verifyInline } from "../../oracle/src/ingest/verifierPool.js";
import { BENCH_DOMAIN, generateSignedReadings } from "../../oracle/src/ingest/benchVerify.js";
import { deployFixture, networkHelpers } from "../helpers/fixture.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const UINT64_MAX = (1n << 64n) - 1n;
const CHAIN_ID = 31337n;
const REGISTRY = getAddress(`0x${"5a".repeat(20)}`) as Hex;
const DOMAIN = readingDomain(CHAIN_ID, REGISTRY);
const BACKENDS: Secp256k1Backend[] = nativeAvailable ? ["native", "js"] : ["js"];

const wallets = Array.from({ length: 6 }, (_, i) => new Wallet(`0x${(i + 1).toString(16).padStart(64, "0")}`));
const digester = new ReadingDigester({ chainId: CHAIN_ID, verifyingContract: REGISTRY });

function randomUint64(): bigint {
  const pick = randomBytes(1)[0] % 4;
  if (pick === 0) return 0n;
  if (pick === 1) return UINT64_MAX;
  return randomBytes(8).readBigUInt64BE(0) >> BigInt(randomBytes(1)[0] % 64);
}

function randomReading(meter: string): MeterReading {
  return {
    meter,
    intervalId: randomUint64(),
    importWhTotal: randomUint64(),
    exportWhTotal: randomUint64(),
    timestamp: randomUint64(),
  };
}

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

function sigBytes(signature: string): Uint8Array {
  return Buffer.from(signature.slice(2), "hex");
}

async function signed(wallet: BaseWallet, reading: MeterReading, domain: TypedDataDomain = DOMAIN): Promise<string> {
  return wallet.signTypedData(domain, METER_READING_TYPES, reading);
}

/** The same signature with s → n − s and v flipped: valid for ecrecover, rejected by EIP-2 / OZ ECDSA. */
function highS(signature: string): Uint8Array {
  const b = Buffer.from(sigBytes(signature));
  const s = BigInt(`0x${b.subarray(32, 64).toString("hex")}`);
  b.write((N - s).toString(16).padStart(64, "0"), 32, "hex");
  b[64] = b[64] === 27 ? 28 : 27;
  return b;
}

function recoverAll(digest: Uint8Array, sig: Uint8Array): (Hex | null)[] {
  return BACKENDS.map((b) => recoverSignerWith(b, digest, sig));
}

describe("relayer: reading digest and signer recovery", function () {
  describe("digest", function () {
    it("test_domainSeparator_equalsEthersHashDomain", function () {
      for (const [chainId, registry] of [
        [CHAIN_ID, REGISTRY],
        [1n, getAddress(hex(randomBytes(20)))],
        [UINT64_MAX * UINT64_MAX, getAddress(hex(randomBytes(20)).toLowerCase())],
      ] as const) {
        const expected = TypedDataEncoder.hashDomain(readingDomain(chainId, registry));
        expect(hex(domainSeparator({ chainId, verifyingContract: registry }))).to.equal(expected);
      }
    });

    it("test_digest_equalsEthersTypedDataEncoderHash_onRandomReadings", function () {
      for (let i = 0; i < 500; i++) {
        const meter = getAddress(hex(randomBytes(20)));
        const r = randomReading(i % 2 === 0 ? meter : meter.toLowerCase());
        expect(hex(digester.digest(r))).to.equal(TypedDataEncoder.hash(DOMAIN, METER_READING_TYPES, r));
      }
    });

    it("test_digest_throwsForFieldsOutsideTheirTypes", function () {
      const r = randomReading(wallets[0].address);
      expect(() => digester.digest({ ...r, importWhTotal: UINT64_MAX + 1n })).to.throw(RangeError, /importWhTotal/);
      expect(() => digester.digest({ ...r, intervalId: -1n })).to.throw(RangeError, /intervalId/);
      expect(() => digester.digest({ ...r, meter: "0x1234" })).to.throw(TypeError, /meter/);
    });

    it("test_checksumLowerHex_equalsEthersGetAddress", function () {
      for (let i = 0; i < 1000; i++) {
        const lower = randomBytes(20).toString("hex");
        expect(checksumLowerHex(lower)).to.equal(getAddress(`0x${lower}`));
      }
    });
  });

  describe("recoverSigner", function () {
    it("test_recoverSigner_equalsEthersVerifyTypedData_forRandomKeysAndReadings", async function () {
      for (let i = 0; i < 40; i++) {
        const wallet = Wallet.createRandom();
        const r = randomReading(wallet.address);
        const signature = await signed(wallet, r);
        const expected = verifyTypedData(DOMAIN, METER_READING_TYPES, r, signature);
        expect(expected).to.equal(wallet.address);
        expect(recoverSigner(digester.digest(r), sigBytes(signature))).to.equal(expected);
      }
    });

    it("test_recoverSigner_backendsAgree_onValidAndInvalidSignatures", async function () {
      if (!nativeAvailable) this.skip();
      for (let i = 0; i < 60; i++) {
        const wallet = wallets[i % wallets.length];
        const r = randomReading(wallet.address);
        const digest = digester.digest(r);
        const good = sigBytes(await signed(wallet, r));
        const noise = randomBytes(65);
        noise[64] = 27 + (i % 2);
        noise[32] &= 0x7f; // low s, so that recovery runs
        for (const sig of [good, noise, highS(hex(good))]) {
          expect(recoverSignerWith("native", digest, sig)).to.equal(recoverSignerWith("js", digest, sig));
        }
        expect(recoverSignerWith("native", digest, good)).to.equal(wallet.address);
      }
    });

    it("test_backend_isNativeHere_andEnvForcesJs", function () {
      expect(secp256k1Backend).to.equal(nativeAvailable ? "native" : "js");
      const url = new URL("../../oracle/src/ingest/recover.ts", import.meta.url).href;
      const script = `const m = await import(${JSON.stringify(url)}); console.log(m.secp256k1Backend);`;
      const run = (env: Record<string, string>) =>
        execFileSync(process.execPath, ["--import", import.meta.resolve("tsx"), "--input-type=module", "-e", script], {
          env: { ...process.env, ...env },
          encoding: "utf8",
        }).trim();
      expect(run({ RELAYER_SECP256K1: "js" })).to.equal("js");
      expect(run({ RELAYER_SECP256K1: "" })).to.equal(nativeAvailable ? "native" : "js");
    });

    it("test_recoverSigner_forgedByOtherKey_recoversTheOtherKey", async function () {
      const [meter, forger] = wallets;
      const r = randomReading(meter.address);
      const sig = sigBytes(await signed(forger, r));
      for (const got of recoverAll(digester.digest(r), sig)) {
        expect(got).to.equal(forger.address);
        expect(got).to.not.equal(meter.address);
      }
    });

    it("test_recoverSigner_tamperedField_doesNotRecoverTheMeter", async function () {
      const meter = wallets[1];
      const r: MeterReading = { ...randomReading(meter.address), importWhTotal: 1000n, timestamp: 5000n };
      const sig = sigBytes(await signed(meter, r));
      expect(recoverAll(digester.digest(r), sig)).to.deep.equal(BACKENDS.map(() => meter.address));
      const tampered: MeterReading[] = [
        { ...r, meter: wallets[2].address },
        { ...r, intervalId: r.intervalId ^ 1n },
        { ...r, importWhTotal: r.importWhTotal + 1n },
        { ...r, exportWhTotal: r.exportWhTotal ^ 1n },
        { ...r, timestamp: r.timestamp - 1n },
      ];
      for (const t of tampered) {
        for (const got of recoverAll(digester.digest(t), sig)) expect(got).to.not.equal(meter.address);
      }
    });

    it("test_recoverSigner_wrongDomain_doesNotRecoverTheMeter", async function () {
      const meter = wallets[2];
      const r = randomReading(meter.address);
      for (const domain of [readingDomain(1n, REGISTRY), readingDomain(CHAIN_ID, wallets[3].address)]) {
        const sig = sigBytes(await signed(meter, r, domain));
        for (const got of recoverAll(digester.digest(r), sig)) expect(got).to.not.equal(meter.address);
        // ... while a digester of that domain does recover it.
        const other = new ReadingDigester({
          chainId: BigInt(domain.chainId!),
          verifyingContract: domain.verifyingContract!,
        });
        expect(recoverAll(other.digest(r), sig)).to.deep.equal(BACKENDS.map(() => meter.address));
      }
    });

    it("test_recoverSigner_malformedSignatures_returnNull", async function () {
      const meter = wallets[3];
      const r = randomReading(meter.address);
      const digest = digester.digest(r);
      const good = Buffer.from(sigBytes(await signed(meter, r)));
      const withV = (v: number) => Buffer.concat([good.subarray(0, 64), Buffer.from([v])]);
      const withR = (rv: bigint) =>
        Buffer.concat([Buffer.from(rv.toString(16).padStart(64, "0"), "hex"), good.subarray(32)]);
      const withS = (sv: bigint) =>
        Buffer.concat([good.subarray(0, 32), Buffer.from(sv.toString(16).padStart(64, "0"), "hex"), good.subarray(64)]);
      // An r that is no curve point's x: 5³ + 7 = 132 is not a square mod p.
      const noPoint = 5n;
      const bad: [string, Uint8Array][] = [
        ["empty", new Uint8Array(0)],
        ["64 bytes", good.subarray(0, 64)],
        ["66 bytes", Buffer.concat([good, Buffer.from([0])])],
        ["v = 2", withV(2)],
        ["v = 26", withV(26)],
        ["v = 29", withV(29)],
        ["v = 255", withV(255)],
        ["r = 0", withR(0n)],
        ["r = n", withR(N)],
        ["r = 2^256 - 1", withR((1n << 256n) - 1n)],
        ["r not on the curve", withR(noPoint)],
        ["s = 0", withS(0n)],
        ["s = n", withS(N)],
        ["s = n/2 + 1", withS(N / 2n + 1n)],
        ["all zero", new Uint8Array(65)],
      ];
      for (const [what, sig] of bad) {
        expect(recoverAll(digest, sig), what).to.deep.equal(BACKENDS.map(() => null));
      }
      expect(() => recoverSigner(new Uint8Array(31), good)).to.throw(TypeError, /32 bytes/);
    });

    it("test_recoverSigner_acceptsV0And1_asV27And28", async function () {
      const meter = wallets[4];
      const r = randomReading(meter.address);
      const good = Buffer.from(sigBytes(await signed(meter, r)));
      const v01 = Buffer.from(good);
      v01[64] -= 27;
      expect(recoverAll(digester.digest(r), v01)).to.deep.equal(BACKENDS.map(() => meter.address));
      expect(verifyTypedData(DOMAIN, METER_READING_TYPES, r, hex(v01))).to.equal(meter.address);
    });

    it("test_recoverSigner_rejectsHighS_likeEthersAndOz", async function () {
      const meter = wallets[5];
      for (let i = 0; i < 10; i++) {
        const r = randomReading(meter.address);
        const good = await signed(meter, r);
        const malleable = highS(good);
        expect(recoverAll(digester.digest(r), malleable)).to.deep.equal(BACKENDS.map(() => null));
        expect(() => verifyTypedData(DOMAIN, METER_READING_TYPES, r, hex(malleable))).to.throw(/non-canonical s/);
      }
    });

    it("test_recoverSigner_matchesMeterRegistryRecoverReadingSigner_onChain", async function () {
      const f = await networkHelpers.loadFixture(deployFixture);
      const registry = f.system.registry;
      const chainDigester = new ReadingDigester({
        chainId: f.chainId,
        verifyingContract: (await registry.getAddress()) as Hex,
      });
      const meter = f.meters[0].key;
      const r = { ...randomReading(meter.address), intervalId: 7n };
      const good = Buffer.from(sigBytes(await signed(meter, r, f.domain)));
      expect(hex(chainDigester.digest(r))).to.equal(await registry.hashReading(r));
      const cases: [string, Uint8Array, boolean][] = [
        ["valid", good, true],
        ["high s", highS(hex(good)), false],
        ["v = 29", Buffer.concat([good.subarray(0, 64), Buffer.from([29])]), false],
        ["r = 0", Buffer.concat([Buffer.alloc(32), good.subarray(32)]), false],
        ["64 bytes", good.subarray(0, 64), false],
      ];
      for (const [what, sig, valid] of cases) {
        const onChain = await registry.recoverReadingSigner(r, sig);
        const ours = recoverSigner(chainDigester.digest(r), sig);
        expect(ours ?? "0x0000000000000000000000000000000000000000", what).to.equal(onChain);
        expect(ours === meter.address, what).to.equal(valid);
      }
      // v = 0/1: ecrecover on chain takes only 27/28 (so parseReading stores 27/28); recoverSigner takes both.
      const v0 = Buffer.from(good);
      v0[64] -= 27;
      expect(await registry.recoverReadingSigner(r, v0)).to.equal("0x0000000000000000000000000000000000000000");
      expect(recoverSigner(chainDigester.digest(r), v0)).to.equal(meter.address);
    });
  });

  describe("VerifierPool", function () {
    const domain = BENCH_DOMAIN;
    let readings: SignedReading[];
    let expected: (Hex | null)[];

    before(function () {
      readings = generateSignedReadings(1000, 5);
      // Spoil some: a forged meter, a tampered register, a truncated signature, a high s, v = 0.
      readings[3] = { ...readings[3], meter: readings[4].meter };
      readings[10] = { ...readings[10], importWhTotal: readings[10].importWhTotal + 1n };
      readings[500] = { ...readings[500], signature: readings[500].signature.slice(0, 130) as Hex };
      readings[777] = { ...readings[777], signature: hex(highS(readings[777].signature)) as Hex };
      const v0 = Buffer.from(sigBytes(readings[999].signature));
      v0[64] -= 27;
      readings[999] = { ...readings[999], signature: hex(v0) as Hex };
      expected = readings.map((r) => recoverSigner(new ReadingDigester(domain).digest(r), sigBytes(r.signature)));
    });

    it("test_generatedReadings_verifyWithEthers", function () {
      const d = readingDomain(domain.chainId, domain.verifyingContract);
      for (const i of [0, 1, 2, 499, 998]) {
        const r = readings[i];
        expect(verifyTypedData(d, METER_READING_TYPES, r, r.signature)).to.equal(r.meter);
      }
    });

    it("test_inlineReference_hasTheSpoiledReadingsAsNonMeters", function () {
      const valid = expected.map((s, i) => s === readings[i].meter);
      expect(valid.filter((v) => !v).length).to.equal(4);
      expect([valid[3], valid[10], valid[500], valid[777], valid[999]]).to.deep.equal([
        false,
        false,
        false,
        false,
        true,
      ]);
      expect([expected[500], expected[777]]).to.deep.equal([null, null]);
    });

    for (const workers of [0, 2]) {
      it(`test_pool_${workers}Workers_equalsInline_for1000ReadingsInOrder`, async function () {
        const pool = new VerifierPool({ workers, domain });
        try {
          expect(await pool.verify(readings)).to.deep.equal(expected);
          // Concurrent calls of different sizes keep their own order.
          const [a, b, c] = await Promise.all([
            pool.verify(readings.slice(0, 1)),
            pool.verify(readings.slice(100, 900)),
            pool.verify([]),
          ]);
          expect(a).to.deep.equal(expected.slice(0, 1));
          expect(b).to.deep.equal(expected.slice(100, 900));
          expect(c).to.deep.equal([]);
        } finally {
          await pool.close();
        }
        await pool.close(); // idempotent
        let error: unknown;
        await pool.verify(readings.slice(0, 1)).catch((e) => (error = e));
        expect(String(error)).to.match(/closed/);
      });
    }

    it("test_pool_readingsThatAreNotWellFormed_haveNoSigner", async function () {
      const pool = new VerifierPool({ workers: 1, domain });
      try {
        const bad = [
          { ...readings[0], meter: "0x1234" as Hex },
          { ...readings[1], importWhTotal: UINT64_MAX + 1n },
          { ...readings[2], signature: `0x${"zz".repeat(65)}` as Hex },
          null as unknown as SignedReading,
          readings[5],
        ];
        const want = [null, null, null, null, readings[5].meter];
        expect(await pool.verify(bad)).to.deep.equal(want);
        expect(verifyInline(new ReadingDigester(domain), bad)).to.deep.equal(want);
      } finally {
        await pool.close();
      }
    });

    it("test_pool_workerDeath_failsItsCall_andTheWorkerIsReplaced", async function () {
      const pool = new VerifierPool({ workers: 1, domain });
      try {
        const slots = (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
        const dying = pool.verify(readings);
        void slots[0].worker.terminate();
        let error: unknown;
        await dying.catch((e) => (error = e));
        expect(String(error)).to.match(/exited/);
        expect(await pool.verify(readings.slice(0, 50))).to.deep.equal(expected.slice(0, 50));
      } finally {
        await pool.close();
      }
    });

    it("test_pool_startsUnderPlainTsx", function () {
      // The mocha runner loads this file through Hardhat; here the pool runs in a `node --import tsx` process.
      const url = new URL("../../oracle/src/ingest/verifierPool.ts", import.meta.url).href;
      const bench = new URL("../../oracle/src/ingest/benchVerify.ts", import.meta.url).href;
      const script = `
        const { VerifierPool } = await import(${JSON.stringify(url)});
        const { BENCH_DOMAIN, generateSignedReadings } = await import(${JSON.stringify(bench)});
        const rs = generateSignedReadings(300, 3);
        const pool = new VerifierPool({ workers: 2, domain: BENCH_DOMAIN });
        const got = await pool.verify(rs);
        await pool.close();
        console.log(got.every((s, i) => s === rs[i].meter) ? "ok" : "mismatch");`;
      const out = execFileSync(
        process.execPath,
        ["--import", import.meta.resolve("tsx"), "--input-type=module", "-e", script],
        {
          encoding: "utf8",
        },
      );
      expect(out.trim()).to.equal("ok");
    });
  });
});
