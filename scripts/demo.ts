/**
 * `npm run demo`: deploys the system on the in-process network (or `--network localhost`), registers a small
 * community of prosumers, lets their meters sign cumulative readings for a few intervals, anchors each interval
 * through a 2-of-3 relayer quorum, claims the kWh (and, for accredited solar and wind meters, the renewable-energy
 * certificates), retires some certificates for a neighbour and prints what happened. Later issues grow this into
 * the full microgrid day (auction, escrow, report).
 */
import { network } from "hardhat";
import { Wallet, toUtf8Bytes } from "ethers";
import { certificateId, formatMWh, formatVintage, vintageOf } from "../src/certificates.js";
import { deploySystem } from "../src/deploy.js";
import { readingDomain, recoverReadingSigner, signReading, type MeterReading } from "../src/readings.js";
import { buildIntervalTree, type IntervalLeaf } from "../src/tree.js";
import { intervalEnd, kwhTokenId } from "../src/intervals.js";
import { registerMeter, setZone, type TechnologyName } from "../src/ops/meters.js";
import { submitTree } from "../src/ops/oracle.js";
import { claimKwhBatch } from "../src/ops/kwh.js";
import { toChainError } from "../src/errors.js";
import { SYSTEM_INTERFACES } from "../src/deploy.js";

const INTERVALS = 4;
const { ethers, networkHelpers, networkName } = await network.create();
const [deployer, r1, r2, r3, ...people] = await ethers.getSigners();

console.log(`Microgrid Exchange demo on ${networkName}\n`);
const { system, deployment } = await deploySystem(deployer, networkName, {
  relayers: [r1.address, r2.address, r3.address],
  threshold: 2,
});
const intervalLength = BigInt(deployment.params.intervalLength);
for (const [name, c] of Object.entries(deployment.contracts)) console.log(`  ${name.padEnd(14)} ${c.address}`);

// A community: 3 feeders, 8 prosumers with PV, a battery, household loads.
await setZone(system.registry, 1, 60_000n, 40_000n);
await setZone(system.registry, 2, 40_000n, 40_000n);
await setZone(system.registry, 3, 30_000n, 50_000n);
const latest = await ethers.provider.getBlock("latest");
const now = BigInt(latest!.timestamp);
const community: {
  name: string;
  zone: number;
  technology: TechnologyName;
  kw: number;
  pvPeakWh: number;
  loadWh: number;
}[] = [
  { name: "Ada", zone: 1, technology: "solar", kw: 6, pvPeakWh: 1_400, loadWh: 300 },
  { name: "Ben", zone: 1, technology: "solar", kw: 4, pvPeakWh: 900, loadWh: 500 },
  { name: "Cleo", zone: 1, technology: "load-only", kw: 12, pvPeakWh: 0, loadWh: 700 },
  { name: "Dev", zone: 2, technology: "solar", kw: 8, pvPeakWh: 1_800, loadWh: 400 },
  { name: "Eli", zone: 2, technology: "battery", kw: 5, pvPeakWh: 1_000, loadWh: 200 },
  { name: "Fay", zone: 2, technology: "load-only", kw: 10, pvPeakWh: 0, loadWh: 900 },
  { name: "Gus", zone: 3, technology: "wind", kw: 10, pvPeakWh: 2_000, loadWh: 250 },
  { name: "Hal", zone: 3, technology: "load-only", kw: 15, pvPeakWh: 0, loadWh: 1_100 },
];
const meters = community.map((p, i) => ({ ...p, key: Wallet.createRandom(), owner: people[i] }));
for (const m of meters) {
  const renewable = m.technology === "solar" || m.technology === "wind";
  await registerMeter(system.registry, {
    meter: m.key.address,
    owner: m.owner.address,
    zone: m.zone,
    technology: m.technology,
    ratedCapacityW: BigInt(m.kw * 1000),
    recEligible: renewable,
    accreditationExpiry: renewable ? now + 365n * 86_400n : 0n,
  });
}
console.log(`\nRegistered ${meters.length} meters in 3 zones (solar and wind accredited for certificates).`);
// Accreditation starts at registration: begin with the next whole interval so that every one earns certificates.
const registeredAt = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
await networkHelpers.time.increaseTo(intervalEnd(registeredAt / intervalLength, intervalLength));

const domain = readingDomain((await ethers.provider.getNetwork()).chainId, deployment.contracts.MeterRegistry.address);
const registers = new Map<string, { imp: bigint; exp: bigint }>(
  meters.map((m) => [m.key.address, { imp: 0n, exp: 0n }]),
);
const totals = { signed: 0, rejected: 0, roots: 0, mintedWh: 0n, renewableWh: 0n };
const isRenewable = (m: (typeof meters)[number]) => m.technology === "solar" || m.technology === "wind";
/** Every certificate class issued to a meter during the demo (one per vintage month touched). */
const recClasses = new Map<string, Set<bigint>>(meters.map((m) => [m.key.address, new Set<bigint>()]));
let firstInterval = 0n;

for (let k = 0; k < INTERVALS; k++) {
  // Let the interval end, then every meter signs its cumulative registers for it.
  const t = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
  const intervalId = t / intervalLength;
  if (k === 0) firstInterval = intervalId;
  await networkHelpers.time.increaseTo(intervalEnd(intervalId, intervalLength));
  const leaves: IntervalLeaf[] = [];
  for (const [i, m] of meters.entries()) {
    const sun = Math.sin(((k + 1) / (INTERVALS + 1)) * Math.PI);
    const exportWh = BigInt(Math.max(0, Math.round(m.pvPeakWh * sun - m.loadWh * 0.3)));
    const importWh = BigInt(m.pvPeakWh === 0 ? m.loadWh + 37 * i : 0);
    const reg = registers.get(m.key.address)!;
    const reading: MeterReading = {
      meter: m.key.address,
      intervalId,
      importWhTotal: reg.imp + importWh,
      exportWhTotal: reg.exp + exportWh,
      timestamp: intervalEnd(intervalId, intervalLength),
    };
    const signature = await signReading(m.key, domain, reading);
    if (k === 1 && i === 0) {
      // A tampered reading: someone rewrites Ada's export after the meter signed it.
      const forged = { ...reading, exportWhTotal: reading.exportWhTotal + 5_000n };
      try {
        await system.registry.verifyReading(forged, signature);
      } catch (e) {
        console.log(
          `  interval ${intervalId}: rejected tampered reading of ${m.name}: ${toChainError(e, SYSTEM_INTERFACES).message}`,
        );
        totals.rejected++;
      }
    }
    if (recoverReadingSigner(domain, reading, signature) !== m.key.address) throw new Error("signature check failed");
    totals.signed++;
    // The interval's energy is the difference of consecutive signed cumulative registers.
    leaves.push({
      meter: m.key.address,
      importWh: reading.importWhTotal - reg.imp,
      exportWh: reading.exportWhTotal - reg.exp,
    });
    registers.set(m.key.address, { imp: reading.importWhTotal, exp: reading.exportWhTotal });
    if (isRenewable(m)) {
      totals.renewableWh += exportWh;
      const technology = m.technology === "solar" ? "Solar" : "Wind";
      const vintage = vintageOf(intervalId * intervalLength);
      recClasses.get(m.key.address)!.add(certificateId({ meter: m.key.address, vintage, technology, zone: m.zone }));
    }
  }
  const tree = buildIntervalTree(intervalId, leaves);
  for (const relayer of [r1, r2]) await submitTree(system.oracle.connect(relayer), tree);
  totals.roots++;
  await claimKwhBatch(
    system.kwh,
    tree,
    leaves.map((l) => l.meter),
  );
  totals.mintedWh += tree.totalExportWh;
  console.log(
    `  interval ${intervalId}: ${tree.leafCount} readings, export ${tree.totalExportWh} Wh, import ${tree.totalImportWh} Wh, ` +
      `root ${tree.root.slice(0, 10)}… final with 2/3 votes, kWh and certificates claimed`,
  );
}

// Ada sells the green attribute of 1 kWh to her neighbour Cleo, who retires it for her own consumption.
const ada = meters[0];
const cleo = meters[2];
const [adaClass] = recClasses.get(ada.key.address)!;
const claimData = toUtf8Bytes(
  JSON.stringify({ period: formatVintage(vintageOf(firstInterval * intervalLength)), location: "Zone 1" }),
);
await (
  await system.rec.connect(ada.owner).safeTransferFrom(ada.owner.address, cleo.owner.address, adaClass, 1_000n, "0x")
).wait();
const retirement = await (
  await system.rec.connect(cleo.owner).retire(adaClass, 1_000n, cleo.owner.address, claimData)
).wait();
const receipt = system.rec.interface.parseLog(
  retirement!.logs.find(
    (l) =>
      l.address === deployment.contracts.RecToken.address && system.rec.interface.parseLog(l)?.name === "ClaimSingle",
  )!,
)!;
console.log(
  `\n${cleo.name} bought 1 kWh of ${ada.name}'s certificates and retired them: receipt #${receipt.args.receiptId}, ` +
    `claimed ${await system.rec.claimedBalanceOf(cleo.owner.address, adaClass)} Wh, data ${new TextDecoder().decode(claimData)}`,
);

console.log(`\nBalances (kWh tokens and certificates minted from proven export):`);
console.log(
  `  ${"prosumer".padEnd(9)}${"zone".padEnd(6)}${"technology".padEnd(11)}${"kWh".padStart(8)}${"REC MWh".padStart(11)}${"retired".padStart(11)}`,
);
let issuedWh = 0n;
for (const m of meters) {
  let wh = 0n;
  for (let k = 0n; k < BigInt(INTERVALS); k++)
    wh += await system.kwh.balanceOf(m.owner.address, kwhTokenId(m.zone, firstInterval + k));
  let recWh = 0n;
  let retiredWh = 0n;
  for (const source of meters) {
    for (const id of recClasses.get(source.key.address)!) {
      recWh += await system.rec.balanceOf(m.owner.address, id);
      retiredWh += await system.rec.claimedBalanceOf(m.owner.address, id);
    }
  }
  issuedWh += recWh + retiredWh;
  console.log(
    `  ${m.name.padEnd(9)}${String(m.zone).padEnd(6)}${m.technology.padEnd(11)}${(Number(wh) / 1000).toFixed(3).padStart(8)}` +
      `${formatMWh(recWh).padStart(11)}${formatMWh(retiredWh).padStart(11)}`,
  );
}
let onChainMinted = 0n;
for (let k = 0n; k < BigInt(INTERVALS); k++) onChainMinted += await system.kwh.mintedWh(firstInterval + k);
console.log(
  `\n${totals.signed} signed readings, ${totals.rejected} tampered reading rejected, ${totals.roots} roots final, ` +
    `${onChainMinted} Wh minted on chain (proven export ${totals.mintedWh} Wh), ` +
    `${issuedWh} Wh of certificates (renewable proven export ${totals.renewableWh} Wh).`,
);
if (onChainMinted !== totals.mintedWh) {
  console.error("Minted supply differs from proven export");
  process.exitCode = 1;
}
if (issuedWh !== totals.renewableWh) {
  console.error("Certificates held and retired differ from renewable proven export");
  process.exitCode = 1;
}
