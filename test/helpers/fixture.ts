import { network } from "hardhat";
import { Wallet, type Signer } from "ethers";
import { deploySystem, type System } from "../../src/deploy.js";
import { buildIntervalTree, type IntervalLeaf, type IntervalTree } from "../../src/tree.js";
import { readingDomain } from "../../src/readings.js";

export const { ethers, networkHelpers } = await network.create();

export const INTERVAL = 900n;
export const SETTLEMENT_WINDOW = 3_600n;
export const TECH = { Solar: 0, Wind: 1, Battery: 2, LoadOnly: 3 } as const;

/** A registered meter: its signing key and registration data. */
export interface TestMeter {
  key: Wallet;
  address: string;
  owner: Signer & { address: string };
  zone: number;
  technology: number;
  ratedCapacityW: bigint;
}

/** Deterministic meter keys, so that tests and fuzz runs are reproducible. */
export function meterKey(i: number): Wallet {
  return new Wallet(ethers.keccak256(ethers.toUtf8Bytes(`microgrid test meter ${i}`)));
}

/**
 * The whole system on the in-process network: 3 relayers with threshold 2, zones 1 and 2, four meters (two
 * solar in zone 1 owned by alice, one battery in zone 2 owned by bob, one load-only in zone 2 owned by bob).
 */
export async function deployFixture() {
  const [deployer, r1, r2, r3, alice, bob, stranger] = await ethers.getSigners();
  const { system, deployment } = await deploySystem(deployer, "hardhat", {
    intervalLength: INTERVAL,
    relayers: [r1.address, r2.address, r3.address],
    threshold: 2,
    settlementWindow: SETTLEMENT_WINDOW,
  });
  await (await system.registry.setZone(1, 200_000, 150_000)).wait();
  await (await system.registry.setZone(2, 100_000, 100_000)).wait();
  const now = BigInt(await networkHelpers.time.latest());
  const expiry = now + 365n * 86_400n;
  const specs: [number, Signer & { address: string }, number, number, bigint, boolean][] = [
    [0, alice, 1, TECH.Solar, 5_000n, true],
    [1, alice, 1, TECH.Solar, 8_000n, false],
    [2, bob, 2, TECH.Battery, 10_000n, false],
    [3, bob, 2, TECH.LoadOnly, 12_000n, false],
  ];
  const meters: TestMeter[] = [];
  for (const [i, owner, zone, technology, ratedCapacityW, rec] of specs) {
    const key = meterKey(i);
    await (
      await system.registry.registerMeter(key.address, {
        owner: owner.address,
        zone,
        technology,
        ratedCapacityW,
        recEligible: rec,
        accreditationExpiry: rec ? expiry : 0n,
      })
    ).wait();
    meters.push({ key, address: key.address, owner, zone, technology, ratedCapacityW });
  }
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const domain = readingDomain(chainId, await system.registry.getAddress());
  return { system, deployment, deployer, relayers: [r1, r2, r3], alice, bob, stranger, meters, domain, chainId };
}

export type Fixture = Awaited<ReturnType<typeof deployFixture>>;

/** The interval that ended most recently at the chain's current time. */
export async function lastEndedInterval(): Promise<bigint> {
  return BigInt(await networkHelpers.time.latest()) / INTERVAL - 1n;
}

/** Builds a tree for `intervalId` and has the first `votes` relayers submit it. */
export async function postRoot(
  system: System,
  relayers: (Signer & { address: string })[],
  intervalId: bigint,
  leaves: IntervalLeaf[],
  votes = 2,
): Promise<IntervalTree> {
  const tree = buildIntervalTree(intervalId, leaves);
  for (const r of relayers.slice(0, votes)) {
    await (
      await system.oracle
        .connect(r)
        .submitRoot(intervalId, tree.root, tree.leafCount, tree.totalImportWh, tree.totalExportWh)
    ).wait();
  }
  return tree;
}

/** A typical interval: every fixture meter with some import and export. */
export function sampleLeaves(f: Fixture): IntervalLeaf[] {
  return [
    { meter: f.meters[0].address, importWh: 0n, exportWh: 1_200n },
    { meter: f.meters[1].address, importWh: 10n, exportWh: 1_900n },
    { meter: f.meters[2].address, importWh: 300n, exportWh: 2_000n },
    { meter: f.meters[3].address, importWh: 2_500n, exportWh: 0n },
  ];
}

/**
 * The first interval that starts after the fixture's meters were accredited (their registration), with the chain
 * clock moved past its end so it can be posted and claimed. Earlier intervals earn no certificates.
 */
export async function firstAccreditedInterval(f: Fixture): Promise<bigint> {
  const { accreditedFrom } = await f.system.registry.getMeter(f.meters[0].address);
  const intervalId = (accreditedFrom + INTERVAL - 1n) / INTERVAL;
  const end = (intervalId + 1n) * INTERVAL;
  if (BigInt(await networkHelpers.time.latest()) < end) await networkHelpers.time.increaseTo(end);
  return intervalId;
}
