/**
 * The demo's own cross-checks against chain state: kWh minted against the oracle's proven export, certificates
 * held and retired against renewable proven export, and what is left in the auction (the escrow's vault).
 */
import { certificateId, vintageOf } from "../certificates.js";
import type { DayRecord } from "./day.js";
import { attachSystem } from "../deploy.js";
import type { Signer } from "ethers";

export interface Ledgers {
  /** Σ `KwhToken.mintedWh` over the day's intervals. */
  mintedWh: bigint;
  /** Σ the final roots' `totalExportWh`. */
  provenExportWh: bigint;
  /** Σ over every certificate class of the day's meters and every owner: balance + claimed (retired) balance. */
  certificatesWh: bigint;
  /** Proven export of accredited (solar, wind) meters, from the relayers' leaves. */
  renewableProvenWh: bigint;
  /** The payment token held by the auction contract (collateral not yet settled or withdrawn). */
  auctionBalance: bigint;
}

export async function readLedgers(rec: DayRecord, runner: Signer): Promise<Ledgers> {
  const system = attachSystem(rec.deployment, runner);
  const ids: bigint[] = [];
  for (let k = 0; k < rec.intervalCount; k++) ids.push(rec.firstInterval + BigInt(k));
  let mintedWh = 0n;
  let provenExportWh = 0n;
  const infos = await Promise.all(
    ids.map((id) => Promise.all([system.kwh.mintedWh(id), system.oracle.getInterval(id)])),
  );
  for (const [minted, info] of infos) {
    mintedWh += minted;
    provenExportWh += info.totalExportWh;
  }
  const vintages = new Set(ids.map((id) => vintageOf(id * rec.intervalLength)));
  const classes: bigint[] = [];
  let renewableProvenWh = 0n;
  for (const m of rec.members) {
    if (!m.recEligible) continue;
    for (const vintage of vintages)
      classes.push(
        certificateId({
          meter: m.meterKey.address,
          vintage,
          technology: m.technology === "wind" ? "Wind" : "Solar",
          zone: m.zone,
        }),
      );
    for (const id of ids) renewableProvenWh += rec.intervals.get(id)?.leaves.get(m.meterKey.address)?.exportWh ?? 0n;
  }
  let certificatesWh = 0n;
  for (const owner of rec.owners) {
    const held = await system.rec.balanceOfBatch(
      classes.map(() => owner),
      classes,
    );
    const retired = await system.rec.claimedBalanceOfBatch(
      classes.map(() => owner),
      classes,
    );
    for (const v of [...held, ...retired]) certificatesWh += v;
  }
  const auctionBalance = await system.paymentToken.balanceOf(await system.auction.getAddress());
  return { mintedWh, provenExportWh, certificatesWh, renewableProvenWh, auctionBalance };
}
