import { expect } from "chai";
import { pino } from "pino";
import { Signature, ZeroAddress } from "ethers";
import { MeterRegistry__factory, DealDesk__factory } from "../../types/ethers-contracts/index.js";
import { dealDomain, hashQuote, QUOTE_TYPES } from "../../src/ops/deals.js";
import { readingDomain, signReading, type MeterReading } from "../../src/readings.js";
import { Ingestor } from "../../oracle/src/ingest/ingestor.js";
import { ReadingDigester } from "../../oracle/src/ingest/digest.js";
import { verifyInline } from "../../oracle/src/ingest/verifierPool.js";
import { Mutex } from "../../oracle/src/lock.js";
import { createMetrics } from "../../oracle/src/metrics.js";
import { SqliteStore } from "../../oracle/src/store/sqlite.js";
import { createMeters } from "../../oracle/simulator/keys.js";
import { ReadingSigner, toPayload } from "../../oracle/simulator/sign.js";
import type { Hex, MirroredMeter, SignedReading } from "../../oracle/src/types.js";
import { PHASE, USD, buy, deployAuctionFixture, futureInterval, salt, toPhase } from "../helpers/auction.js";
import { deployFixture, ethers, meterKey, networkHelpers, INTERVAL } from "../helpers/fixture.js";
import { dealFixture, signedQuote, twinChains, type Account } from "./helpers.js";

/*
 * Signature replay: meter readings (EIP-712 in the MeterRegistry's domain, checked on chain by `verifyReading` and
 * off chain by the relayer), deal quotes (EIP-712 in the DealDesk's domain) and ERC-2612 permits given to the auction.
 * A signature is bound to its chain, its verifying contract and every signed field; replaying the same message
 * yields one effect.
 */

const { loadFixture, time } = networkHelpers;
/** Order of the secp256k1 group. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** `sig` with s → n − s and v flipped: the same signer for raw ecrecover, refused by EIP-2 checks. */
function highS(sig: string): string {
  const s = Signature.from(sig);
  return ethers.concat([s.r, ethers.toBeHex(SECP256K1_N - BigInt(s.s), 32), s.v === 27 ? "0x1c" : "0x1b"]);
}

/** A reading of fixture meter 0 for an interval that ended, signed in the registry's domain. */
async function signedReading() {
  const f = await deployFixture();
  const intervalId = BigInt(await time.latest()) / INTERVAL - 1n;
  const reading: MeterReading = {
    meter: f.meters[0].address,
    intervalId,
    importWhTotal: 10n,
    exportWhTotal: 5_000n,
    timestamp: (intervalId + 1n) * INTERVAL,
  };
  return { ...f, reading, sig: await signReading(f.meters[0].key, f.domain, reading) };
}

describe("adversarial: signature replay", function () {
  describe("meter readings on chain (MeterRegistry.verifyReading)", function () {
    it("test_signatureReplay_readingVerifiesOnlyAsSignedAndNotForAnotherIntervalOrRegisters", async function () {
      const f = await loadFixture(signedReading);
      const { registry } = f.system;
      await registry.verifyReading(f.reading, f.sig);
      const altered: MeterReading[] = [
        { ...f.reading, intervalId: f.reading.intervalId + 1n },
        { ...f.reading, exportWhTotal: f.reading.exportWhTotal + 1n },
        { ...f.reading, importWhTotal: 0n },
        { ...f.reading, timestamp: f.reading.timestamp + 1n },
      ];
      for (const r of altered) {
        await expect(registry.verifyReading(r, f.sig))
          .to.be.revertedWithCustomError(registry, "MeterRegistryInvalidSignature")
          .withArgs(f.reading.meter, await registry.recoverReadingSigner(r, f.sig));
      }
      // The malleated twin of the signature recovers nothing (low-s only).
      await expect(registry.verifyReading(f.reading, highS(f.sig)))
        .to.be.revertedWithCustomError(registry, "MeterRegistryInvalidSignature")
        .withArgs(f.reading.meter, ZeroAddress);
    });

    it("test_signatureReplay_readingForOneRegistryFailsOnAnotherRegistryOfTheSameChain", async function () {
      const f = await loadFixture(signedReading);
      const other = await new MeterRegistry__factory(f.deployer).deploy(
        await f.system.governance.getAddress(),
        INTERVAL,
      );
      await expect(other.verifyReading(f.reading, f.sig))
        .to.be.revertedWithCustomError(other, "MeterRegistryInvalidSignature")
        .withArgs(f.reading.meter, await other.recoverReadingSigner(f.reading, f.sig));
    });

    it("test_signatureReplay_readingForOneChainFailsOnTheSameRegistryAddressOfAnotherChain", async function () {
      const [a, b] = await twinChains();
      const registry = await a.system.registry.getAddress();
      expect(await b.system.registry.getAddress()).to.equal(registry);
      const intervalId = BigInt(await a.time.latest()) / INTERVAL - 1n;
      const reading: MeterReading = {
        meter: a.meter,
        intervalId,
        importWhTotal: 0n,
        exportWhTotal: 900n,
        timestamp: (intervalId + 1n) * INTERVAL,
      };
      const sig = await signReading(meterKey(0), readingDomain(a.chainId, registry), reading);
      await a.system.registry.verifyReading(reading, sig);
      await expect(b.system.registry.verifyReading(reading, sig))
        .to.be.revertedWithCustomError(b.system.registry, "MeterRegistryInvalidSignature")
        .withArgs(a.meter, await b.system.registry.recoverReadingSigner(reading, sig));
    });
  });

  describe("meter readings at the relayer (ingest)", function () {
    const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Hex;
    const DOMAIN = { chainId: 31_337n, verifyingContract: REGISTRY };
    const NOW = 2_000_000n * 900n;
    const ID = 1_999_998n; // ended 900 s before NOW, sealed an hour after its end
    const meters = createMeters({
      count: 2,
      owners: ["0x90F79bf6EB2c4f870365E785982E1f101E93b906"],
      zones: 1,
      seed: 9,
      accreditationExpiry: 0,
    });

    /** An ingestor with the real signature check (inline) and an in-memory store, its clock at `clock.now`. */
    async function relayer() {
      const store = new SqliteStore(":memory:");
      await store.open();
      const digester = new ReadingDigester(DOMAIN);
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
      const clock = { now: NOW };
      const ing = new Ingestor({
        store,
        verifier: { verify: async (rs: SignedReading[]) => verifyInline(digester, rs) },
        meters: { get: (m) => mirror.get(m) },
        lock: new Mutex(),
        metrics: createMetrics("adversarial"),
        log: pino({ level: "silent" }),
        intervalLength: 900n,
        clockSkewSeconds: 120n,
        graceSeconds: 3_600n,
        batchSize: 8,
        batchDelayMs: 1,
        maxQueue: 1_000,
        now: () => clock.now,
      });
      return { ing, store, clock };
    }

    function reading(domain: typeof DOMAIN, intervalId: bigint, exportWhTotal: bigint): SignedReading {
      return new ReadingSigner(domain).sign(meters[0].privateKey, {
        meter: meters[0].meter as Hex,
        intervalId,
        importWhTotal: 0n,
        exportWhTotal,
        timestamp: (intervalId + 1n) * 900n,
      });
    }

    it("test_signatureReplay_relayerStoresAReplayedReadingOnceAndNeverAConflictingOne", async function () {
      const { ing, store, clock } = await relayer();
      const r = reading(DOMAIN, ID, 1_000n);
      const [first] = await ing.submit([toPayload(r)], "http");
      expect(first).to.deep.include({ status: "accepted" });
      const replays = await ing.submit([toPayload(r), toPayload(r)], "mqtt");
      expect(replays.map((o) => o.status)).to.deep.equal(["duplicate", "duplicate"]);
      // Another reading of the same meter and interval, genuinely signed: a conflict, kept apart, never stored.
      const [other] = await ing.submit([toPayload(reading(DOMAIN, ID, 2_000n))], "http");
      expect(other).to.deep.include({ status: "rejected", reason: "conflict" });
      expect(await store.countReadings()).to.equal(1);
      expect((await store.getReading(r.meter, ID))?.exportWhTotal).to.equal(1_000n);
      // After the interval is sealed the replay is still a duplicate, and anything new is refused.
      clock.now = (ID + 1n) * 900n + 3_600n;
      const [late] = await ing.submit([toPayload(r)], "http");
      expect(late).to.deep.include({ status: "duplicate" });
      const [sealed] = await ing.submit([toPayload(reading(DOMAIN, ID, 3_000n))], "http");
      expect(sealed).to.deep.include({ status: "rejected", reason: "sealed" });
      expect(await store.countReadings()).to.equal(1);
      await store.close();
    });

    it("test_signatureReplay_relayerRefusesReadingsOfAnotherChainRegistryOrInterval", async function () {
      const { ing, store } = await relayer();
      const otherChain = reading({ ...DOMAIN, chainId: 4_242n }, ID, 1_000n);
      const otherRegistry = reading({ ...DOMAIN, verifyingContract: meters[1].meter as Hex }, ID, 1_000n);
      const good = reading(DOMAIN, ID - 1n, 1_000n);
      const movedInterval = { ...good, intervalId: ID, timestamp: (ID + 1n) * 900n }; // signature copied over
      const outcomes = await ing.submit([otherChain, otherRegistry, movedInterval].map(toPayload), "http");
      for (const o of outcomes) expect(o).to.deep.include({ status: "rejected", reason: "bad_signature" });
      expect(await store.countReadings()).to.equal(0);
      await store.close();
    });
  });

  describe("deal quotes (DealDesk)", function () {
    it("test_signatureReplay_aFilledQuoteCannotBeFilledAgainWithAnySignature", async function () {
      const f = await loadFixture(dealFixture);
      const { desk } = f.system;
      const { q, sig, hash } = await signedQuote(f);
      await (await desk.connect(f.bob).fill(q, sig, 1_000n)).wait();
      for (const s of [sig, highS(sig), Signature.from(sig).compactSerialized]) {
        await expect(desk.connect(f.stranger).fill(q, s, 1_000n))
          .to.be.revertedWithCustomError(desk, "DealDeskQuoteFullyFilled")
          .withArgs(hash, 1_000n);
      }
      // A partial quote replays only up to what remains.
      const p = await signedQuote(f, { allowPartial: true, nonce: 1n });
      await (await desk.connect(f.bob).fill(p.q, p.sig, 600n)).wait();
      await expect(desk.connect(f.stranger).fill(p.q, p.sig, 600n))
        .to.be.revertedWithCustomError(desk, "DealDeskAmountExceedsRemaining")
        .withArgs(p.hash, 600n, 400n);
      await (await desk.connect(f.stranger).fill(p.q, p.sig, 400n)).wait();
      expect(await desk.filledOf(p.hash)).to.equal(1_000n);
      expect(await f.system.kwh.balanceOf(f.alice.address, f.kwhId)).to.equal(3_100n - 2_000n);
    });

    it("test_signatureReplay_malleatedOrCompactSignaturesOfAnOpenQuoteAreRefused", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signedQuote(f);
      for (const s of [highS(sig), Signature.from(sig).compactSerialized]) {
        await expect(f.system.desk.connect(f.bob).fill(q, s, 1_000n))
          .to.be.revertedWithCustomError(f.system.desk, "DealDeskInvalidSignature")
          .withArgs(hash, f.alice.address);
      }
      expect(await f.system.desk.filledOf(hash)).to.equal(0n);
    });

    it("test_signatureReplay_cancelledOrInvalidatedQuotesCannotBeReplayed", async function () {
      const f = await loadFixture(dealFixture);
      const { desk } = f.system;
      const a = await signedQuote(f, { nonce: 5n });
      await (await desk.connect(f.alice).cancel(a.q)).wait();
      await expect(desk.connect(f.bob).fill(a.q, a.sig, 1_000n))
        .to.be.revertedWithCustomError(desk, "DealDeskQuoteCancelled")
        .withArgs(a.hash);
      const b = await signedQuote(f, { nonce: 6n });
      await (await desk.connect(f.alice).invalidateNoncesBelow(7n)).wait();
      await expect(desk.connect(f.bob).fill(b.q, b.sig, 1_000n))
        .to.be.revertedWithCustomError(desk, "DealDeskNonceInvalidated")
        .withArgs(b.hash, f.alice.address, 6n, 7n);
    });

    it("test_signatureReplay_aQuoteForOneDeskFailsOnAnotherDeskOfTheSameChain", async function () {
      const f = await loadFixture(dealFixture);
      const other = await new DealDesk__factory(f.deployer).deploy(
        await f.system.governance.getAddress(),
        await f.system.kwh.getAddress(),
        await f.system.rec.getAddress(),
      );
      await (await f.system.kwh.connect(f.alice).setApprovalForAll(await other.getAddress(), true)).wait();
      await (await f.system.paymentToken.connect(f.bob).approve(await other.getAddress(), ethers.MaxUint256)).wait();
      const { q, sig } = await signedQuote(f);
      await expect(other.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(other, "DealDeskInvalidSignature")
        .withArgs(hashQuote(dealDomain(f.chainId, await other.getAddress()), q), f.alice.address);
    });

    it("test_signatureReplay_aQuoteForOneChainFailsOnTheSameDeskAddressOfAnotherChain", async function () {
      const [a, b] = await twinChains();
      const desk = await a.system.desk.getAddress();
      expect(await b.system.desk.getAddress()).to.equal(desk);
      const q = {
        maker: a.alice.address,
        token: await a.system.kwh.getAddress(),
        id: 1n,
        amount: 1_000n,
        paymentToken: await a.system.paymentToken.getAddress(),
        price: 100_000n,
        expiry: BigInt(await b.time.latest()) + 86_400n,
        nonce: 0n,
        allowPartial: false,
      };
      const sig = await a.alice.signTypedData(dealDomain(a.chainId, desk), QUOTE_TYPES, q);
      await expect(b.system.desk.connect(b.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(b.system.desk, "DealDeskInvalidSignature")
        .withArgs(hashQuote(dealDomain(b.chainId, desk), q), b.alice.address);
    });
  });

  describe("ERC-2612 permits (BatchAuction.commitWithPermit)", function () {
    async function permitFixture() {
      const f = await deployAuctionFixture();
      const id = await futureInterval();
      await toPhase(f, id, "commit");
      await (await f.token.connect(f.alice).approve(await f.auction.getAddress(), 0n)).wait();
      await (await f.token.connect(f.stranger).approve(await f.auction.getAddress(), 0n)).wait();
      return { ...f, id };
    }

    async function signPermit(f: Awaited<ReturnType<typeof permitFixture>>, owner: Account, value: bigint) {
      const d = await f.token.eip712Domain();
      const domain = { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract };
      const types = {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      };
      const deadline = BigInt(await time.latest()) + 3_600n;
      const message = {
        owner: owner.address,
        spender: await f.auction.getAddress(),
        value,
        nonce: await f.token.nonces(owner.address),
        deadline,
      };
      return { deadline, sig: Signature.from(await owner.signTypedData(domain, types, message)) };
    }

    it("test_signatureReplay_aPermitMovesOnlyItsOwnersCollateralOnceEvenWhenFrontRun", async function () {
      const f = await loadFixture(permitFixture);
      const auction = await f.auction.getAddress();
      const { deadline, sig } = await signPermit(f, f.alice, 2n * USD);
      const mine = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt("mine"));
      // Someone submits alice's permit to the token first: her commit still goes through on the allowance.
      await (
        await f.token.connect(f.stranger).permit(f.alice.address, auction, 2n * USD, deadline, sig.v, sig.r, sig.s)
      ).wait();
      await expect(f.auction.connect(f.alice).commitWithPermit(f.id, mine, 2n * USD, deadline, sig.v, sig.r, sig.s))
        .to.emit(f.auction, "OrderCommitted")
        .withArgs(f.id, f.alice.address, mine, 2n * USD);
      // The stranger replays her signature in its own commit: the permit names alice, so it lends the stranger
      // nothing, and the transfer from the stranger fails on its own (zero) allowance.
      const theirs = await f.auction.commitmentOf(f.id, f.stranger.address, buy(1, 1_000n, 200_000n), salt("x"));
      const aliceBefore = await f.token.balanceOf(f.alice.address);
      await expect(
        f.auction.connect(f.stranger).commitWithPermit(f.id, theirs, 2n * USD, deadline, sig.v, sig.r, sig.s),
      )
        .to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance")
        .withArgs(auction, 0n, 2n * USD);
      // alice replaying her used permit gets no second allowance either.
      const again = await f.auction.commitmentOf(f.id, f.alice.address, buy(1, 1_000n, 200_000n), salt("again"));
      await expect(f.auction.connect(f.alice).commitWithPermit(f.id, again, 2n * USD, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance")
        .withArgs(auction, 0n, 2n * USD);
      expect(await f.token.balanceOf(f.alice.address)).to.equal(aliceBefore);
      // Charged once: the auction holds alice's one collateral, and only her first commitment exists (withdraw looks
      // a commitment up before checking the phase: hers is merely locked until gate closure).
      expect(await f.token.balanceOf(auction)).to.equal(2n * USD);
      for (const [who, c] of [
        [f.stranger, theirs],
        [f.alice, again],
      ] as const) {
        await expect(f.auction.connect(who).withdraw(f.id, c))
          .to.be.revertedWithCustomError(f.auction, "BatchAuctionUnknownCommitment")
          .withArgs(f.id, c);
      }
      await expect(f.auction.connect(f.alice).withdraw(f.id, mine))
        .to.be.revertedWithCustomError(f.auction, "BatchAuctionWrongPhase")
        .withArgs(f.id, PHASE.Clearing, PHASE.Commit);
    });
  });
});
