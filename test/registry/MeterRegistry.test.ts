import { expect } from "chai";
import { Wallet } from "ethers";
import { MeterRegistry__factory } from "../../types/ethers-contracts/index.js";
import { readingDigest, readingDomain, signReading, type MeterReading } from "../../src/readings.js";
import { deployFixture, ethers, INTERVAL, meterKey, networkHelpers, TECH, type Fixture } from "../helpers/fixture.js";

const { loadFixture } = networkHelpers;

function params(owner: string, overrides: Partial<Record<string, unknown>> = {}) {
  return {
    owner,
    zone: 1,
    technology: TECH.Solar,
    ratedCapacityW: 4_000n,
    recEligible: false,
    accreditationExpiry: 0n,
    ...overrides,
  };
}

async function reading(f: Fixture, i = 0): Promise<MeterReading> {
  const now = BigInt(await networkHelpers.time.latest());
  return {
    meter: f.meters[i].address,
    intervalId: now / 900n,
    importWhTotal: 10n,
    exportWhTotal: 2_000n,
    timestamp: now,
  };
}

describe("MeterRegistry", function () {
  describe("zones", function () {
    it("test_setZone_storesCapacitiesAndEmits", async function () {
      const { system } = await loadFixture(deployFixture);
      await expect(system.registry.setZone(7, 30_000, 20_000))
        .to.emit(system.registry, "ZoneConfigured")
        .withArgs(7, 30_000, 20_000);
      const z = await system.registry.getZone(7);
      expect([z.configured, z.exportCapacityW, z.importCapacityW]).to.deep.equal([true, 30_000n, 20_000n]);
    });

    it("test_setZone_revertsForZoneZero", async function () {
      const { system } = await loadFixture(deployFixture);
      await expect(system.registry.setZone(0, 1, 1))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryInvalidZone")
        .withArgs(0);
    });

    it("test_setZone_revertsForNonRegistrar", async function () {
      const { system, stranger } = await loadFixture(deployFixture);
      await expect(system.registry.connect(stranger).setZone(3, 1, 1))
        .to.be.revertedWithCustomError(system.registry, "AccessManagedUnauthorized")
        .withArgs(stranger.address);
    });
  });

  describe("registerMeter", function () {
    it("test_register_storesEveryFieldAndEmits", async function () {
      const { system, alice } = await loadFixture(deployFixture);
      const key = meterKey(100);
      const expiry = BigInt(await networkHelpers.time.latest()) + 10_000n;
      await expect(
        system.registry.registerMeter(
          key.address,
          params(alice.address, { technology: TECH.Wind, recEligible: true, accreditationExpiry: expiry }),
        ),
      )
        .to.emit(system.registry, "MeterRegistered")
        .withArgs(key.address, alice.address, 1, 4, TECH.Wind, 4_000n, true, expiry);
      const m = await system.registry.getMeter(key.address);
      expect(m.owner).to.equal(alice.address);
      expect(m.zone).to.equal(1n);
      expect(m.index).to.equal(4n);
      expect(m.technology).to.equal(BigInt(TECH.Wind));
      expect(m.status).to.equal(1n);
      expect(m.ratedCapacityW).to.equal(4_000n);
      expect(m.recEligible).to.equal(true);
      expect(m.accreditationExpiry).to.equal(expiry);
      expect(m.registeredAt).to.equal(BigInt(await networkHelpers.time.latest()));
      expect(m.accreditedFrom).to.equal(m.registeredAt);
      expect(m.revokedAt).to.equal(0n);
      expect(await system.registry.meterCount()).to.equal(5n);
      expect(await system.registry.meterAt(4)).to.equal(key.address);
      expect(await system.registry.isActive(key.address)).to.equal(true);
      const interval = m.registeredAt / INTERVAL + 1n;
      expect([...(await system.registry.claimInfo(key.address, interval))]).to.deep.equal([
        alice.address,
        1n,
        4n,
        1n,
        BigInt(TECH.Wind),
        true,
      ]);
    });

    it("test_register_revertsForZeroMeter", async function () {
      const { system, alice } = await loadFixture(deployFixture);
      await expect(system.registry.registerMeter(ethers.ZeroAddress, params(alice.address)))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryInvalidMeter")
        .withArgs(ethers.ZeroAddress);
    });

    it("test_register_revertsForExistingMeter", async function () {
      const { system, alice, meters } = await loadFixture(deployFixture);
      await expect(system.registry.registerMeter(meters[0].address, params(alice.address)))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryMeterExists")
        .withArgs(meters[0].address);
    });

    it("test_register_revertsForRevokedKey", async function () {
      const { system, alice, meters } = await loadFixture(deployFixture);
      await system.registry.revokeMeter(meters[0].address);
      await expect(system.registry.registerMeter(meters[0].address, params(alice.address)))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryMeterExists")
        .withArgs(meters[0].address);
    });

    it("test_register_revertsForZeroOwner", async function () {
      const { system } = await loadFixture(deployFixture);
      const key = meterKey(101).address;
      await expect(system.registry.registerMeter(key, params(ethers.ZeroAddress)))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryInvalidOwner")
        .withArgs(key, ethers.ZeroAddress);
    });

    it("test_register_revertsForZoneZeroAndUnknownZone", async function () {
      const { system, alice } = await loadFixture(deployFixture);
      const key = meterKey(102).address;
      await expect(system.registry.registerMeter(key, params(alice.address, { zone: 0 })))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryInvalidZone")
        .withArgs(0);
      await expect(system.registry.registerMeter(key, params(alice.address, { zone: 9 })))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryUnknownZone")
        .withArgs(9);
    });

    it("test_register_revertsForZeroCapacity", async function () {
      const { system, alice } = await loadFixture(deployFixture);
      const key = meterKey(103).address;
      await expect(system.registry.registerMeter(key, params(alice.address, { ratedCapacityW: 0n })))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryZeroCapacity")
        .withArgs(key);
    });

    it("test_register_revertsForRecEligibleBatteryOrLoad", async function () {
      const { system, alice } = await loadFixture(deployFixture);
      const key = meterKey(104).address;
      const expiry = BigInt(await networkHelpers.time.latest()) + 1_000n;
      for (const technology of [TECH.Battery, TECH.LoadOnly]) {
        await expect(
          system.registry.registerMeter(
            key,
            params(alice.address, { technology, recEligible: true, accreditationExpiry: expiry }),
          ),
        )
          .to.be.revertedWithCustomError(system.registry, "MeterRegistryTechnologyNotRenewable")
          .withArgs(key, technology);
      }
    });

    it("test_register_revertsForExpiredOrSpuriousAccreditation", async function () {
      const { system, alice } = await loadFixture(deployFixture);
      const key = meterKey(105).address;
      const now = BigInt(await networkHelpers.time.latest());
      await expect(
        system.registry.registerMeter(key, params(alice.address, { recEligible: true, accreditationExpiry: now })),
      )
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryInvalidAccreditation")
        .withArgs(key, true, now);
      await expect(system.registry.registerMeter(key, params(alice.address, { accreditationExpiry: now + 5n })))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryInvalidAccreditation")
        .withArgs(key, false, now + 5n);
    });

    it("test_register_revertsForNonRegistrar", async function () {
      const { system, stranger } = await loadFixture(deployFixture);
      await expect(system.registry.connect(stranger).registerMeter(meterKey(106).address, params(stranger.address)))
        .to.be.revertedWithCustomError(system.registry, "AccessManagedUnauthorized")
        .withArgs(stranger.address);
    });
  });

  describe("updateMeter and revokeMeter", function () {
    it("test_update_changesDataKeepsIndexAndEmits", async function () {
      const { system, bob, meters } = await loadFixture(deployFixture);
      await expect(
        system.registry.updateMeter(meters[0].address, params(bob.address, { zone: 2, ratedCapacityW: 6_000n })),
      )
        .to.emit(system.registry, "MeterUpdated")
        .withArgs(meters[0].address, bob.address, 2, TECH.Solar, 6_000n, false, 0n);
      const m = await system.registry.getMeter(meters[0].address);
      expect([m.owner, m.zone, m.index, m.ratedCapacityW, m.recEligible]).to.deep.equal([
        bob.address,
        2n,
        0n,
        6_000n,
        false,
      ]);
    });

    it("test_update_revertsForUnknownAndRevokedMeter", async function () {
      const { system, alice, meters } = await loadFixture(deployFixture);
      const unknown = meterKey(107).address;
      await expect(system.registry.updateMeter(unknown, params(alice.address)))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryUnknownMeter")
        .withArgs(unknown);
      await system.registry.revokeMeter(meters[1].address);
      const revokedAt = BigInt(await networkHelpers.time.latest());
      await expect(system.registry.updateMeter(meters[1].address, params(alice.address)))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryMeterRevoked")
        .withArgs(meters[1].address, revokedAt);
    });

    it("test_update_validatesLikeRegister", async function () {
      const { system, alice, meters } = await loadFixture(deployFixture);
      await expect(system.registry.updateMeter(meters[0].address, params(alice.address, { zone: 8 })))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryUnknownZone")
        .withArgs(8);
    });

    it("test_revoke_marksRevokedForGoodAndEmits", async function () {
      const { system, alice, meters } = await loadFixture(deployFixture);
      const tx = await system.registry.revokeMeter(meters[0].address);
      const revokedAt = BigInt(await networkHelpers.time.latest());
      await expect(tx).to.emit(system.registry, "MeterRevoked").withArgs(meters[0].address, alice.address, revokedAt);
      const m = await system.registry.getMeter(meters[0].address);
      expect(m.status).to.equal(2n);
      expect(m.revokedAt).to.equal(revokedAt);
      expect(await system.registry.isActive(meters[0].address)).to.equal(false);
      await expect(system.registry.revokeMeter(meters[0].address))
        .to.be.revertedWithCustomError(system.registry, "MeterRegistryMeterRevoked")
        .withArgs(meters[0].address, revokedAt);
    });

    it("test_revoke_revertsForNonRegistrar", async function () {
      const { system, stranger, meters } = await loadFixture(deployFixture);
      await expect(system.registry.connect(stranger).revokeMeter(meters[0].address))
        .to.be.revertedWithCustomError(system.registry, "AccessManagedUnauthorized")
        .withArgs(stranger.address);
      await expect(system.registry.connect(stranger).updateMeter(meters[0].address, params(stranger.address)))
        .to.be.revertedWithCustomError(system.registry, "AccessManagedUnauthorized")
        .withArgs(stranger.address);
    });
  });

  describe("capacity per interval", function () {
    it("test_maxWhPerInterval_isRatedPowerTimesIntervalLength", async function () {
      const { system, meters } = await loadFixture(deployFixture);
      // 5,000 W for 900 s = 1,250 Wh.
      expect(await system.registry.maxWhPerInterval(meters[0].address)).to.equal(1_250n);
      expect(await system.registry.intervalLength()).to.equal(900n);
    });
  });

  describe("signed readings (EIP-712)", function () {
    it("test_hashReading_matchesOffChainTypedDataHash", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      expect(await f.system.registry.hashReading(r)).to.equal(readingDigest(f.domain, r));
    });

    it("test_verifyReading_acceptsTheMetersSignature", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      const sig = await signReading(f.meters[0].key, f.domain, r);
      await f.system.registry.verifyReading(r, sig);
      expect(await f.system.registry.recoverReadingSigner(r, sig)).to.equal(f.meters[0].address);
    });

    it("test_verifyReading_rejectsAForgedSignature", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      const forger = Wallet.createRandom();
      const sig = await signReading(forger, f.domain, r);
      await expect(f.system.registry.verifyReading(r, sig))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryInvalidSignature")
        .withArgs(r.meter, forger.address);
    });

    it("test_verifyReading_rejectsATamperedReading", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      const sig = await signReading(f.meters[0].key, f.domain, r);
      const tampered = { ...r, exportWhTotal: r.exportWhTotal + 1_000n };
      await expect(f.system.registry.verifyReading(tampered, sig)).to.be.revertedWithCustomError(
        f.system.registry,
        "MeterRegistryInvalidSignature",
      );
    });

    it("test_verifyReading_rejectsASignatureReplayedFromAnotherChainId", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      const otherChain = readingDomain(f.chainId + 1n, await f.system.registry.getAddress());
      const sig = await signReading(f.meters[0].key, otherChain, r);
      await expect(f.system.registry.verifyReading(r, sig)).to.be.revertedWithCustomError(
        f.system.registry,
        "MeterRegistryInvalidSignature",
      );
    });

    it("test_verifyReading_rejectsASignatureReplayedFromAnotherRegistry", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      const other = await new MeterRegistry__factory(f.deployer).deploy(await f.system.governance.getAddress(), 900);
      const sigForOther = await signReading(f.meters[0].key, readingDomain(f.chainId, await other.getAddress()), r);
      await expect(f.system.registry.verifyReading(r, sigForOther)).to.be.revertedWithCustomError(
        f.system.registry,
        "MeterRegistryInvalidSignature",
      );
    });

    it("test_verifyReading_rejectsMalformedSignatureWithZeroRecovered", async function () {
      const f = await loadFixture(deployFixture);
      const r = await reading(f);
      await expect(f.system.registry.verifyReading(r, "0x1234"))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryInvalidSignature")
        .withArgs(r.meter, ethers.ZeroAddress);
    });

    it("test_verifyReading_rejectsUnknownAndRevokedMeters", async function () {
      const f = await loadFixture(deployFixture);
      const stray = meterKey(200);
      const r = { ...(await reading(f)), meter: stray.address };
      await expect(f.system.registry.verifyReading(r, await signReading(stray, f.domain, r)))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryUnknownMeter")
        .withArgs(stray.address);
      await f.system.registry.revokeMeter(f.meters[0].address);
      const revokedAt = BigInt(await networkHelpers.time.latest());
      const r0 = await reading(f);
      await expect(f.system.registry.verifyReading(r0, await signReading(f.meters[0].key, f.domain, r0)))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryMeterRevoked")
        .withArgs(f.meters[0].address, revokedAt);
    });
  });
});
