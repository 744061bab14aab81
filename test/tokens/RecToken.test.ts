import { expect } from "chai";
import {
  KwhToken__factory,
  RecToken__factory,
  ReentrantCertificateHolder__factory,
} from "../../types/ethers-contracts/index.js";
import { certificateId, decodeCertificateId, vintageOf } from "../../src/certificates.js";
import { kwhTokenId } from "../../src/intervals.js";
import { multiProofFor, proofFor, type IntervalTree } from "../../src/tree.js";
import {
  deployFixture,
  ethers,
  firstAccreditedInterval,
  lastEndedInterval,
  meterKey,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  TECH,
  type Fixture,
} from "../helpers/fixture.js";

const { loadFixture } = networkHelpers;

/** Fixture meter 0 is alice's REC-eligible solar meter in zone 1; its first accredited interval has a root. */
async function accreditedRoot(f: Fixture, leaves = sampleLeaves(f)) {
  const id = await firstAccreditedInterval(f);
  const tree = await postRoot(f.system, f.relayers, id, leaves);
  const recId = certificateId({
    meter: f.meters[0].address,
    vintage: vintageOf(id * INTERVAL),
    technology: "Solar",
    zone: 1,
  });
  return { id, tree, recId };
}

function claim(f: Fixture, tree: IntervalTree, meter: string) {
  const p = proofFor(tree, meter);
  return f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof);
}

/** Alice holds 1,200 units of meter 0's certificates. */
async function issued(f: Fixture) {
  const r = await accreditedRoot(f);
  await (await claim(f, r.tree, f.meters[0].address)).wait();
  return r;
}

describe("RecToken", function () {
  describe("issuance through KwhToken claims", function () {
    it("test_claim_issuesCertificatesForAccreditedExport", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree, recId } = await accreditedRoot(f);
      const meter = f.meters[0].address;
      await expect(claim(f, tree, meter))
        .to.emit(f.system.rec, "CertificatesIssued")
        .withArgs(meter, recId, id, f.alice.address, 1_200n)
        .and.to.emit(f.system.rec, "TransferSingle")
        .withArgs(await f.system.kwh.getAddress(), ethers.ZeroAddress, f.alice.address, recId, 1_200n)
        .and.to.emit(f.system.kwh, "KwhClaimed");
      expect(await f.system.rec.balanceOf(f.alice.address, recId)).to.equal(1_200n);
      expect(await f.system.kwh.balanceOf(f.alice.address, kwhTokenId(1, id))).to.equal(1_200n);
    });

    it("test_claim_issuesNothingForNonEligibleMeters", async function () {
      const f = await loadFixture(deployFixture);
      const { tree } = await accreditedRoot(f);
      for (const m of f.meters.slice(1)) {
        await expect(claim(f, tree, m.address)).not.to.emit(f.system.rec, "CertificatesIssued");
      }
    });

    it("test_claim_issuesNothingForZeroExport", async function () {
      const f = await loadFixture(deployFixture);
      const leaves = sampleLeaves(f);
      leaves[0].exportWh = 0n;
      const { tree } = await accreditedRoot(f, leaves);
      await expect(claim(f, tree, f.meters[0].address)).not.to.emit(f.system.rec, "CertificatesIssued");
    });

    it("test_claim_issuesNothingBeforeTheAccreditationBegan", async function () {
      const f = await loadFixture(deployFixture);
      // The interval in which the fixture registered (and accredited) the meters started before accreditation.
      const id = await lastEndedInterval();
      const { accreditedFrom } = await f.system.registry.getMeter(f.meters[0].address);
      expect(id * INTERVAL).to.be.lessThan(accreditedFrom);
      const tree = await postRoot(f.system, f.relayers, id, sampleLeaves(f));
      await expect(claim(f, tree, f.meters[0].address))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
    });

    it("test_claim_issuesNothingAfterTheAccreditationExpired", async function () {
      const f = await loadFixture(deployFixture);
      const { accreditationExpiry } = await f.system.registry.getMeter(f.meters[0].address);
      // The interval containing the expiry ends after it: not wholly accredited.
      const straddling = accreditationExpiry / INTERVAL;
      await networkHelpers.time.increaseTo((straddling + 2n) * INTERVAL);
      for (const [interval, certified] of [
        [straddling - 1n, true],
        [straddling, false],
        [straddling + 1n, false],
      ] as const) {
        const tree = await postRoot(f.system, f.relayers, interval, sampleLeaves(f));
        const tx = claim(f, tree, f.meters[0].address);
        if (certified) await expect(tx).to.emit(f.system.rec, "CertificatesIssued");
        else await expect(tx).to.emit(f.system.kwh, "KwhClaimed").and.not.to.emit(f.system.rec, "CertificatesIssued");
      }
    });

    it("test_claimMany_and_claimInterval_issueLikeClaim", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree, recId } = await accreditedRoot(f);
      const p = proofFor(tree, f.meters[0].address);
      await expect(f.system.kwh.claimMany([{ ...p }]))
        .to.emit(f.system.rec, "CertificatesIssued")
        .withArgs(f.meters[0].address, recId, id, f.alice.address, 1_200n);
      const next = id + 1n;
      await networkHelpers.time.increaseTo((next + 1n) * INTERVAL);
      const tree2 = await postRoot(f.system, f.relayers, next, sampleLeaves(f));
      const mp = multiProofFor(tree2, [f.meters[0].address, f.meters[2].address]);
      await expect(f.system.kwh.claimInterval(next, mp.leaves, mp.proof, mp.proofFlags))
        .to.emit(f.system.rec, "CertificatesIssued")
        .withArgs(f.meters[0].address, recId, next, f.alice.address, 1_200n);
      expect(await f.system.rec.balanceOf(f.alice.address, recId)).to.equal(2_400n);
    });

    it("test_claim_certificatesTwiceThroughAnyEntryPointReverts", async function () {
      const f = await loadFixture(deployFixture);
      const { id, tree, recId } = await issued(f);
      const meter = f.meters[0].address;
      const p = proofFor(tree, meter);
      const mp = multiProofFor(tree, [meter]);
      const attempts = [
        f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof),
        f.system.kwh.claimMany([{ ...p }]),
        f.system.kwh.claimInterval(id, mp.leaves, mp.proof, mp.proofFlags),
      ];
      for (const attempt of attempts) {
        await expect(attempt).to.be.revertedWithCustomError(f.system.kwh, "KwhTokenAlreadyClaimed").withArgs(meter, id);
      }
      await expect(f.system.rec.issue(f.alice.address, meter, id, 1, TECH.Solar, 1_200n))
        .to.be.revertedWithCustomError(f.system.rec, "RecTokenUnauthorizedIssuer")
        .withArgs(f.deployer.address);
      expect(await f.system.rec.balanceOf(f.alice.address, recId)).to.equal(1_200n);
    });

    it("test_claim_vintageIsTheMonthTheIntervalStartsIn", async function () {
      const f = await loadFixture(deployFixture);
      // 2027-01-01T00:00:00Z: the interval before it is December's, the one starting at it January's.
      const newYear = 1_798_761_600n;
      expect(await f.system.rec.vintageOfInterval(newYear / INTERVAL - 1n)).to.equal(202612n);
      expect(await f.system.rec.vintageOfInterval(newYear / INTERVAL)).to.equal(202701n);
      expect(await f.system.rec.vintageOfInterval(0n)).to.equal(197001n);
      // 2028-02-29 (leap day) and 2100-03-01 (not a leap year before it).
      expect(await f.system.rec.vintageOfInterval(1_835_395_200n / INTERVAL)).to.equal(202802n);
      expect(await f.system.rec.vintageOfInterval(4_107_542_400n / INTERVAL)).to.equal(210003n);
      for (const t of [0n, 951_782_400n, 1_709_251_199n, 1_709_251_200n, 4_107_542_399n]) {
        expect(await f.system.rec.vintageOfInterval(t / INTERVAL)).to.equal(
          BigInt(vintageOf((t / INTERVAL) * INTERVAL)),
        );
      }
    });

    it("test_pausedRecToken_doesNotBlockClaims_butStopsTransfersAndRetirements", async function () {
      const f = await loadFixture(deployFixture);
      const { tree, recId } = await accreditedRoot(f);
      await (await f.system.rec.pause()).wait();
      await expect(claim(f, tree, f.meters[0].address)).to.emit(f.system.rec, "CertificatesIssued");
      await expect(
        f.system.rec.connect(f.alice).safeTransferFrom(f.alice.address, f.bob.address, recId, 1n, "0x"),
      ).to.be.revertedWithCustomError(f.system.rec, "EnforcedPause");
      await expect(
        f.system.rec.connect(f.alice).retire(recId, 1n, f.alice.address, "0x"),
      ).to.be.revertedWithCustomError(f.system.rec, "EnforcedPause");
      await expect(
        f.system.rec.connect(f.alice).retireBatch([recId], [1n], f.alice.address, "0x"),
      ).to.be.revertedWithCustomError(f.system.rec, "EnforcedPause");
      await (await f.system.rec.unpause()).wait();
      await expect(f.system.rec.connect(f.alice).retire(recId, 1n, f.alice.address, "0x")).to.emit(
        f.system.rec,
        "ClaimSingle",
      );
    });

    it("test_pause_isRestrictedToPausers", async function () {
      const f = await loadFixture(deployFixture);
      await expect(f.system.rec.connect(f.stranger).pause())
        .to.be.revertedWithCustomError(f.system.rec, "AccessManagedUnauthorized")
        .withArgs(f.stranger.address);
    });
  });

  describe("accreditation windows", function () {
    /** A solar meter of alice's accredited for three hours from now; returns the windows' helpers. */
    async function shortAccreditation(f: Fixture) {
      const meter = meterKey(60).address;
      // Mine first: after a snapshot revert the next block's time may lie well past the latest block's.
      await networkHelpers.mine();
      const start = BigInt(await networkHelpers.time.latest());
      const params = {
        owner: f.alice.address,
        zone: 1,
        technology: TECH.Solar,
        ratedCapacityW: 10_000n,
        recEligible: true,
        accreditationExpiry: start + 3n * 3_600n,
      };
      await (await f.system.registry.registerMeter(meter, params)).wait();
      const leaves = [...sampleLeaves(f), { meter, importWh: 0n, exportWh: 900n }];
      /** Posts a root for `interval` (moving the clock past its end if needed) and claims the meter's leaf. */
      const claimAt = async (interval: bigint) => {
        const end = (interval + 1n) * INTERVAL;
        if (BigInt(await networkHelpers.time.latest()) < end) await networkHelpers.time.increaseTo(end);
        const tree = await postRoot(f.system, f.relayers, interval, leaves);
        return claim(f, tree, meter);
      };
      const renew = async (expiry: bigint, recEligible = true) =>
        (
          await f.system.registry.updateMeter(meter, {
            ...params,
            recEligible,
            accreditationExpiry: recEligible ? expiry : 0n,
          })
        ).wait();
      // The first interval wholly inside the window (registration may land in a later second than `start`).
      const { accreditedFrom } = await f.system.registry.getMeter(meter);
      return { meter, start, params, claimAt, renew, first: (accreditedFrom + INTERVAL - 1n) / INTERVAL };
    }

    it("test_renewalAfterLapse_keepsGenerationOfTheEarlierWindowCertifiable", async function () {
      const f = await loadFixture(deployFixture);
      const { meter, params, claimAt, renew, first } = await shortAccreditation(f);
      // The window lapses with `first` unclaimed; a renewal a day later opens a second window.
      await networkHelpers.time.increase(86_400n);
      const newExpiry = BigInt(await networkHelpers.time.latest()) + 2n * 86_400n;
      await renew(newExpiry);
      const m = await f.system.registry.getMeter(meter);
      const renewedAt = m.accreditedFrom;
      expect(renewedAt).to.be.greaterThan(params.accreditationExpiry);
      const windows = await f.system.registry.accreditationWindows(meter);
      expect(windows.map((w) => [w.from, w.until])).to.deep.equal([
        [m.registeredAt, params.accreditationExpiry],
        [renewedAt, newExpiry],
      ]);
      // Generation in the first window still earns certificates, the lapse earns none, the second window does.
      await expect(claimAt(first)).to.emit(f.system.rec, "CertificatesIssued");
      const lapse = params.accreditationExpiry / INTERVAL + 2n;
      await expect(claimAt(lapse))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
      await expect(claimAt(renewedAt / INTERVAL + 1n)).to.emit(f.system.rec, "CertificatesIssued");
    });

    it("test_withdrawingEligibility_endsTheWindowNow_earnedIntervalsStayCertifiable", async function () {
      const f = await loadFixture(deployFixture);
      const { meter, claimAt, renew, first } = await shortAccreditation(f);
      await networkHelpers.time.increaseTo((first + 2n) * INTERVAL);
      await renew(0n, false);
      const withdrawnAt = BigInt(await networkHelpers.time.latest());
      const m = await f.system.registry.getMeter(meter);
      expect([m.recEligible, m.accreditationExpiry]).to.deep.equal([false, withdrawnAt]);
      await expect(claimAt(first)).to.emit(f.system.rec, "CertificatesIssued");
      await expect(claimAt(withdrawnAt / INTERVAL + 1n))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
    });

    it("test_revokeAccreditation_cutsEarlierWindowsToo", async function () {
      const f = await loadFixture(deployFixture);
      const { meter, start, claimAt, renew, first } = await shortAccreditation(f);
      await networkHelpers.time.increase(86_400n);
      await renew(BigInt(await networkHelpers.time.latest()) + 86_400n);
      // Fraud found: everything after the end of `first` is revoked, reaching back into the first window.
      const effectiveAt = (first + 1n) * INTERVAL;
      await (await f.system.registry.revokeAccreditation(meter, effectiveAt)).wait();
      const windows = await f.system.registry.accreditationWindows(meter);
      expect(windows[0].until).to.equal(effectiveAt);
      expect(windows[1].until).to.equal(windows[1].from); // began after the cut: empty
      expect(start).to.be.lessThan(effectiveAt);
      await expect(claimAt(first)).to.emit(f.system.rec, "CertificatesIssued");
      await expect(claimAt(first + 1n))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
      await expect(claimAt(windows[1].from / INTERVAL + 1n))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
    });

    it("test_updateMeter_keepsTheTechnologyOfAnAccreditedMeter", async function () {
      const f = await loadFixture(deployFixture);
      const { meter, params, renew } = await shortAccreditation(f);
      await expect(f.system.registry.updateMeter(meter, { ...params, technology: TECH.Wind }))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryTechnologyLocked")
        .withArgs(meter, TECH.Solar, TECH.Wind);
      // Withdrawn eligibility does not unlock it: its certificates so far carry the technology.
      await renew(0n, false);
      await expect(
        f.system.registry.updateMeter(meter, {
          ...params,
          technology: TECH.Battery,
          recEligible: false,
          accreditationExpiry: 0n,
        }),
      )
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryTechnologyLocked")
        .withArgs(meter, TECH.Solar, TECH.Battery);
      // A meter never accredited may change technology.
      const battery = f.meters[2];
      await expect(
        f.system.registry.updateMeter(battery.address, {
          owner: f.bob.address,
          zone: 2,
          technology: TECH.LoadOnly,
          ratedCapacityW: 10_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        }),
      ).to.emit(f.system.registry, "MeterUpdated");
      expect(await f.system.registry.accreditationWindows(battery.address)).to.deep.equal([]);
    });
  });

  describe("accreditation revocation", function () {
    it("test_revokeAccreditation_stopsLaterIssuance_keepsEarlierCertificates", async function () {
      const f = await loadFixture(deployFixture);
      const { id, recId } = await issued(f);
      const meter = f.meters[0].address;
      const now = BigInt(await networkHelpers.time.latest());
      const { accreditationExpiry } = await f.system.registry.getMeter(meter);
      // Retroactive to the end of `id`: the following interval, not yet claimed, earns nothing.
      const effectiveAt = (id + 1n) * INTERVAL;
      await expect(f.system.registry.revokeAccreditation(meter, effectiveAt))
        .to.emit(f.system.registry, "AccreditationRevoked")
        .withArgs(meter, f.deployer.address, effectiveAt, accreditationExpiry);
      expect(now).to.be.greaterThanOrEqual(effectiveAt);
      const next = id + 1n;
      await networkHelpers.time.increaseTo((next + 1n) * INTERVAL);
      const tree = await postRoot(f.system, f.relayers, next, sampleLeaves(f));
      await expect(claim(f, tree, meter))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
      expect(await f.system.rec.balanceOf(f.alice.address, recId)).to.equal(1_200n);
      await expect(
        f.system.rec.connect(f.alice).safeTransferFrom(f.alice.address, f.bob.address, recId, 200n, "0x"),
      ).to.emit(f.system.rec, "TransferSingle");
    });

    it("test_reaccreditationAfterRevocation_isNotRetroactive", async function () {
      const f = await loadFixture(deployFixture);
      const id = await firstAccreditedInterval(f);
      const meter = f.meters[0].address;
      const revokedAt = BigInt(await networkHelpers.time.latest());
      await (await f.system.registry.revokeAccreditation(meter, revokedAt)).wait();
      await networkHelpers.time.increase(3n * INTERVAL);
      const m = await f.system.registry.getMeter(meter);
      await (
        await f.system.registry.updateMeter(meter, {
          owner: m.owner,
          zone: m.zone,
          technology: m.technology,
          ratedCapacityW: m.ratedCapacityW,
          recEligible: true,
          accreditationExpiry: revokedAt + 365n * 86_400n,
        })
      ).wait();
      const renewed = await f.system.registry.getMeter(meter);
      expect(renewed.accreditedFrom).to.equal(BigInt(await networkHelpers.time.latest()));
      // An interval in the gap between revocation and renewal earns nothing, even claimed after the renewal.
      const gap = revokedAt / INTERVAL + 1n;
      expect((gap + 1n) * INTERVAL).to.be.lessThanOrEqual(renewed.accreditedFrom);
      const tree = await postRoot(f.system, f.relayers, gap, sampleLeaves(f));
      await expect(claim(f, tree, meter)).not.to.emit(f.system.rec, "CertificatesIssued");
      expect(id).to.be.lessThan(gap);
    });

    it("test_renewalBeforeExpiry_keepsTheAccreditationStart", async function () {
      const f = await loadFixture(deployFixture);
      const meter = f.meters[0].address;
      const before = await f.system.registry.getMeter(meter);
      await networkHelpers.time.increase(10n * INTERVAL);
      await (
        await f.system.registry.updateMeter(meter, {
          owner: before.owner,
          zone: before.zone,
          technology: before.technology,
          ratedCapacityW: before.ratedCapacityW,
          recEligible: true,
          accreditationExpiry: before.accreditationExpiry + 86_400n,
        })
      ).wait();
      const after = await f.system.registry.getMeter(meter);
      expect(after.accreditedFrom).to.equal(before.accreditedFrom);
      expect(after.accreditationExpiry).to.equal(before.accreditationExpiry + 86_400n);
    });

    it("test_revokeAccreditation_revertsForBadInput", async function () {
      const f = await loadFixture(deployFixture);
      const meter = f.meters[0].address;
      const now = BigInt(await networkHelpers.time.latest());
      const { accreditationExpiry } = await f.system.registry.getMeter(meter);
      await expect(f.system.registry.revokeAccreditation(f.meters[1].address, now))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryNotAccredited")
        .withArgs(f.meters[1].address);
      await expect(f.system.registry.revokeAccreditation(meterKey(99).address, now))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryUnknownMeter")
        .withArgs(meterKey(99).address);
      const future = accreditationExpiry - 1n; // after now, before the expiry
      await expect(f.system.registry.revokeAccreditation(meter, future))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryInvalidRevocationTime")
        .withArgs(meter, future, accreditationExpiry);
      await expect(f.system.registry.connect(f.stranger).revokeAccreditation(meter, now))
        .to.be.revertedWithCustomError(f.system.registry, "AccessManagedUnauthorized")
        .withArgs(f.stranger.address);
      await (await f.system.registry.revokeAccreditation(meter, now)).wait();
      // Already ended: a second revocation must not move the end later.
      await expect(f.system.registry.revokeAccreditation(meter, now))
        .to.be.revertedWithCustomError(f.system.registry, "MeterRegistryInvalidRevocationTime")
        .withArgs(meter, now, now);
    });

    it("test_revokeAccreditation_worksForARevokedMeterKey", async function () {
      const f = await loadFixture(deployFixture);
      const id = await firstAccreditedInterval(f);
      const meter = f.meters[0].address;
      await (await f.system.registry.revokeMeter(meter)).wait();
      await (await f.system.registry.revokeAccreditation(meter, id * INTERVAL)).wait();
      const tree = await postRoot(f.system, f.relayers, id, sampleLeaves(f));
      await expect(claim(f, tree, meter))
        .to.emit(f.system.kwh, "KwhClaimed")
        .and.not.to.emit(f.system.rec, "CertificatesIssued");
    });
  });

  describe("retirement", function () {
    it("test_retire_burnsRecordsClaimAndNumbersReceipts", async function () {
      const f = await loadFixture(deployFixture);
      const { recId } = await issued(f);
      const data = ethers.toUtf8Bytes('{"period":"2026-11","location":"Zone 1"}');
      await expect(f.system.rec.connect(f.alice).retire(recId, 500n, f.bob.address, data))
        .to.emit(f.system.rec, "ClaimSingle")
        .withArgs(f.alice.address, f.alice.address, f.bob.address, 1n, recId, 500n, ethers.hexlify(data))
        .and.to.emit(f.system.rec, "TransferSingle")
        .withArgs(f.alice.address, f.alice.address, ethers.ZeroAddress, recId, 500n);
      await expect(f.system.rec.connect(f.alice).retire(recId, 100n, f.alice.address, "0x"))
        .to.emit(f.system.rec, "ClaimSingle")
        .withArgs(f.alice.address, f.alice.address, f.alice.address, 2n, recId, 100n, "0x");
      expect(await f.system.rec.balanceOf(f.alice.address, recId)).to.equal(600n);
      expect(await f.system.rec.claimedBalanceOf(f.bob.address, recId)).to.equal(500n);
      expect(await f.system.rec.claimedBalanceOf(f.alice.address, recId)).to.equal(100n);
      expect(
        await f.system.rec.claimedBalanceOfBatch(
          [f.bob.address, f.alice.address, f.stranger.address],
          [recId, recId, recId],
        ),
      ).to.deep.equal([500n, 100n, 0n]);
      expect(await f.system.rec.receiptCount()).to.equal(2n);
      await expect(f.system.rec.claimedBalanceOfBatch([f.bob.address], [recId, recId]))
        .to.be.revertedWithCustomError(f.system.rec, "ERC1155InvalidArrayLength")
        .withArgs(2n, 1n);
    });

    it("test_retire_revertsForMoreThanHeldZeroAmountOrNoBeneficiary", async function () {
      const f = await loadFixture(deployFixture);
      const { recId } = await issued(f);
      const rec = f.system.rec.connect(f.alice);
      await expect(rec.retire(recId, 1_201n, f.alice.address, "0x"))
        .to.be.revertedWithCustomError(rec, "ERC1155InsufficientBalance")
        .withArgs(f.alice.address, 1_200n, 1_201n, recId);
      await expect(rec.retire(recId, 0n, f.alice.address, "0x"))
        .to.be.revertedWithCustomError(rec, "RecTokenZeroAmount")
        .withArgs(recId);
      await expect(rec.retire(recId, 1n, ethers.ZeroAddress, "0x")).to.be.revertedWithCustomError(
        rec,
        "RecTokenInvalidBeneficiary",
      );
      await expect(f.system.rec.connect(f.bob).retire(recId, 1n, f.bob.address, "0x"))
        .to.be.revertedWithCustomError(rec, "ERC1155InsufficientBalance")
        .withArgs(f.bob.address, 0n, 1n, recId);
      expect(await f.system.rec.receiptCount()).to.equal(0n);
    });

    it("test_retireFrom_needsTheHoldersApproval", async function () {
      const f = await loadFixture(deployFixture);
      const { recId } = await issued(f);
      const broker = f.system.rec.connect(f.bob);
      await expect(broker.retireFrom(f.alice.address, recId, 100n, f.stranger.address, "0x"))
        .to.be.revertedWithCustomError(broker, "ERC1155MissingApprovalForAll")
        .withArgs(f.bob.address, f.alice.address);
      await expect(broker.retireBatchFrom(f.alice.address, [recId], [100n], f.stranger.address, "0x"))
        .to.be.revertedWithCustomError(broker, "ERC1155MissingApprovalForAll")
        .withArgs(f.bob.address, f.alice.address);
      await (await f.system.rec.connect(f.alice).setApprovalForAll(f.bob.address, true)).wait();
      await expect(broker.retireFrom(f.alice.address, recId, 100n, f.stranger.address, "0x01"))
        .to.emit(broker, "ClaimSingle")
        .withArgs(f.bob.address, f.alice.address, f.stranger.address, 1n, recId, 100n, "0x01");
      expect(await f.system.rec.claimedBalanceOf(f.stranger.address, recId)).to.equal(100n);
      expect(await f.system.rec.balanceOf(f.alice.address, recId)).to.equal(1_100n);
    });

    it("test_retireBatch_oneReceiptForSeveralClasses", async function () {
      const f = await loadFixture(deployFixture);
      const { id, recId } = await issued(f);
      // A second class: the same meter's certificates in the month after (a different vintage).
      const nextMonth =
        vintageOf(id * INTERVAL) % 100 === 12 ? vintageOf(id * INTERVAL) + 89 : vintageOf(id * INTERVAL) + 1;
      const monthStart = BigInt(Date.UTC(Math.floor(nextMonth / 100), (nextMonth % 100) - 1, 1) / 1000);
      const later = monthStart / INTERVAL;
      await networkHelpers.time.increaseTo((later + 1n) * INTERVAL);
      const tree = await postRoot(f.system, f.relayers, later, sampleLeaves(f));
      await (await claim(f, tree, f.meters[0].address)).wait();
      const recId2 = certificateId({ meter: f.meters[0].address, vintage: nextMonth, technology: "Solar", zone: 1 });
      expect(recId2).to.not.equal(recId);
      expect(await f.system.rec.balanceOf(f.alice.address, recId2)).to.equal(1_200n);

      const rec = f.system.rec.connect(f.alice);
      await expect(rec.retireBatch([recId, recId2], [200n, 1_200n], f.bob.address, "0xabcd"))
        .to.emit(rec, "ClaimBatch")
        .withArgs(f.alice.address, f.alice.address, f.bob.address, 1n, [recId, recId2], [200n, 1_200n], "0xabcd")
        .and.to.emit(rec, "TransferBatch");
      expect(await f.system.rec.balanceOfBatch([f.alice.address, f.alice.address], [recId, recId2])).to.deep.equal([
        1_000n,
        0n,
      ]);
      expect(await f.system.rec.claimedBalanceOfBatch([f.bob.address, f.bob.address], [recId, recId2])).to.deep.equal([
        200n,
        1_200n,
      ]);
      expect(await f.system.rec.receiptCount()).to.equal(1n);
    });

    it("test_retireBatch_revertsForEmptyMismatchedZeroOrExcess", async function () {
      const f = await loadFixture(deployFixture);
      const { recId } = await issued(f);
      const rec = f.system.rec.connect(f.alice);
      await expect(rec.retireBatch([], [], f.alice.address, "0x")).to.be.revertedWithCustomError(
        rec,
        "RecTokenEmptyRetirement",
      );
      await expect(rec.retireBatch([recId], [1n, 2n], f.alice.address, "0x"))
        .to.be.revertedWithCustomError(rec, "ERC1155InvalidArrayLength")
        .withArgs(1n, 2n);
      await expect(rec.retireBatch([recId, recId], [1n, 0n], f.alice.address, "0x"))
        .to.be.revertedWithCustomError(rec, "RecTokenZeroAmount")
        .withArgs(recId);
      // The same class twice: the sum is what must be held.
      await expect(rec.retireBatch([recId, recId], [700n, 501n], f.alice.address, "0x"))
        .to.be.revertedWithCustomError(rec, "ERC1155InsufficientBalance")
        .withArgs(f.alice.address, 500n, 501n, recId);
      await expect(rec.retireBatch([recId], [1n], ethers.ZeroAddress, "0x")).to.be.revertedWithCustomError(
        rec,
        "RecTokenInvalidBeneficiary",
      );
      expect(await f.system.rec.claimedBalanceOf(f.alice.address, recId)).to.equal(0n);
    });

    it("test_noPlainBurn_unitsLeaveOnlyThroughRetirement", async function () {
      const f = await loadFixture(deployFixture);
      const names: string[] = [];
      f.system.rec.interface.forEachFunction((fn) => names.push(fn.name));
      expect(names).to.include("retire");
      expect(names.filter((n) => /burn/i.test(n))).to.deep.equal([]);
    });
  });

  describe("re-entrancy through onERC1155Received", function () {
    async function holderMeter(f: Fixture) {
      const holder = await new ReentrantCertificateHolder__factory(f.deployer).deploy(
        await f.system.kwh.getAddress(),
        await f.system.rec.getAddress(),
      );
      const key = meterKey(50).address;
      const expiry = BigInt(await networkHelpers.time.latest()) + 86_400n * 30n;
      await (
        await f.system.registry.registerMeter(key, {
          owner: await holder.getAddress(),
          zone: 1,
          technology: TECH.Wind,
          ratedCapacityW: 10_000n,
          recEligible: true,
          accreditationExpiry: expiry,
        })
      ).wait();
      const start = BigInt(await networkHelpers.time.latest()) / INTERVAL + 1n;
      await networkHelpers.time.increaseTo((start + 1n) * INTERVAL);
      const tree = await postRoot(f.system, f.relayers, start, [
        ...sampleLeaves(f),
        { meter: key, importWh: 0n, exportWh: 2_000n },
      ]);
      const p = proofFor(tree, key);
      const recId = certificateId({ meter: key, vintage: vintageOf(start * INTERVAL), technology: "Wind", zone: 1 });
      return { holder, key, tree, p, recId, start };
    }

    it("test_issuance_replayedClaimFromTheCallbackFindsTheLeafUsed", async function () {
      const f = await loadFixture(deployFixture);
      const { holder, key, p, recId, start } = await holderMeter(f);
      await (await holder.configure(1, { ...p })).wait();
      await (await f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
      const expected = f.system.kwh.interface.encodeErrorResult("KwhTokenAlreadyClaimed", [key, start]);
      expect(await holder.replayError()).to.equal(expected);
      expect(await f.system.rec.balanceOf(await holder.getAddress(), recId)).to.equal(2_000n);
      expect(await f.system.kwh.balanceOf(await holder.getAddress(), kwhTokenId(1, start))).to.equal(2_000n);
    });

    it("test_issuance_retiringFromTheCallbackKeepsTheLedgerWhole", async function () {
      const f = await loadFixture(deployFixture);
      const { holder, p, recId } = await holderMeter(f);
      const addr = await holder.getAddress();
      await (await holder.configure(2, { ...p })).wait();
      await expect(f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof))
        .to.emit(f.system.rec, "ClaimSingle")
        .withArgs(addr, addr, addr, 1n, recId, 2_000n, ethers.hexlify(ethers.toUtf8Bytes("retired on receipt")));
      expect(await holder.receiptId()).to.equal(1n);
      expect(await f.system.rec.balanceOf(addr, recId)).to.equal(0n);
      expect(await f.system.rec.claimedBalanceOf(addr, recId)).to.equal(2_000n);
    });

    it("test_issuance_aHolderRejectingCertificatesCannotTakeTheKwhAlone", async function () {
      const f = await loadFixture(deployFixture);
      const { holder, key, p, start } = await holderMeter(f);
      await (await holder.configure(3, { ...p })).wait();
      await expect(f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof))
        .to.be.revertedWithCustomError(f.system.rec, "ERC1155InvalidReceiver")
        .withArgs(await holder.getAddress());
      // Nothing was used: once the holder accepts, the same leaf yields both.
      expect(await f.system.kwh.isClaimed(key, start)).to.equal(false);
      await (await holder.configure(0, { ...p })).wait();
      await expect(f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).to.emit(
        f.system.rec,
        "CertificatesIssued",
      );
    });
  });

  describe("ids, metadata and deployment", function () {
    it("test_certificateId_roundTripsAndMatchesTheTypeScriptEncoding", async function () {
      const f = await loadFixture(deployFixture);
      const meter = f.meters[0].address;
      const id = await f.system.rec.certificateId(meter, 202611, TECH.Wind, 7);
      expect(id).to.equal(certificateId({ meter, vintage: 202611, technology: "Wind", zone: 7 }));
      expect([...(await f.system.rec.decodeCertificateId(id))]).to.deep.equal([meter, 202611n, 1n, 7n]);
      expect(decodeCertificateId(id)).to.deep.equal({ meter, vintage: 202611, technology: "Wind", zone: 7 });
    });

    it("test_certificateId_rejectsWhatIsNotAClass", async function () {
      const f = await loadFixture(deployFixture);
      const meter = f.meters[0].address;
      const bad: [string, number, number, number][] = [
        [ethers.ZeroAddress, 202611, TECH.Solar, 1],
        [meter, 202613, TECH.Solar, 1],
        [meter, 202600, TECH.Solar, 1],
        [meter, 196912, TECH.Solar, 1],
        [meter, 202611, TECH.Battery, 1],
        [meter, 202611, TECH.Solar, 0],
      ];
      for (const [m, v, t, z] of bad) {
        const raw = (BigInt(z) << 192n) | (BigInt(t) << 184n) | (BigInt(v) << 160n) | BigInt(m);
        await expect(f.system.rec.certificateId(m, v, t, z))
          .to.be.revertedWithCustomError(f.system.rec, "RecTokenInvalidId")
          .withArgs(raw);
        await expect(f.system.rec.uri(raw)).to.be.revertedWithCustomError(f.system.rec, "RecTokenInvalidId");
      }
      // A vintage wider than its 24 bits would alias another technology's class.
      await expect(f.system.rec.certificateId(meter, (1n << 24n) + 202601n, TECH.Solar, 1))
        .to.be.revertedWithCustomError(f.system.rec, "RecTokenInvalidVintage")
        .withArgs((1n << 24n) + 202601n);
      const tooWide = (1n << 224n) | certificateId({ meter, vintage: 202611, technology: "Solar", zone: 1 });
      await expect(f.system.rec.decodeCertificateId(tooWide))
        .to.be.revertedWithCustomError(f.system.rec, "RecTokenInvalidId")
        .withArgs(tooWide);
    });

    it("test_uri_listsTheClassAttributes", async function () {
      const f = await loadFixture(deployFixture);
      const meter = f.meters[0].address;
      const id = certificateId({ meter, vintage: 202603, technology: "Solar", zone: 2 });
      const uri = await f.system.rec.uri(id);
      const prefix = "data:application/json;utf8,";
      expect(uri.startsWith(prefix)).to.equal(true);
      const json = JSON.parse(uri.slice(prefix.length));
      expect(json.decimals).to.equal(6);
      expect(json.properties).to.deep.equal({
        meter: meter.toLowerCase(),
        vintage: "2026-03",
        technology: "Solar",
        zone: 2,
        unit: "Wh",
      });
      expect(json.name).to.contain("Solar").and.to.contain("2026-03");
      expect(await f.system.rec.name()).to.equal("Microgrid REC");
      expect(await f.system.rec.symbol()).to.equal("REC");
    });

    it("test_kwhToken_refusesARecTokenThatNamesAnotherIssuer", async function () {
      const f = await loadFixture(deployFixture);
      const authority = await f.system.governance.getAddress();
      const registry = await f.system.registry.getAddress();
      const rec = await new RecToken__factory(f.deployer).deploy(authority, registry, f.stranger.address);
      await expect(
        new KwhToken__factory(f.deployer).deploy(
          authority,
          registry,
          await f.system.oracle.getAddress(),
          await rec.getAddress(),
          3_600n,
        ),
      )
        .to.be.revertedWithCustomError(f.system.kwh, "KwhTokenRecTokenMismatch")
        .withArgs(await rec.getAddress());
    });
  });
});
