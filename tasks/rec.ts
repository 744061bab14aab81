import { action, connectSystem, printTable, toJson } from "./common.js";
import { InputError } from "../src/errors.js";
import { attachSystem } from "../src/deploy.js";
import { formatMWh, formatVintage } from "../src/certificates.js";
import { parseAddress } from "../src/ops/meters.js";
import {
  encodeClaimData,
  formatCertificateId,
  issuance as listIssuance,
  recHoldings,
  retireCertificates,
  retirementReceipts,
} from "../src/ops/rec.js";

/** `a,b , c` → `["a", "b", "c"]`; empty → `[]`. */
function splitList(value: string): string[] {
  return value === "" ? [] : value.split(",").map((v) => v.trim());
}

function isoTime(seconds: number | bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

export const list = action<{ account: string; json: boolean }>(async (args, hre) => {
  const { system, deployment, ethers } = await connectSystem(hre);
  const account = args.account === "" ? (await ethers.getSigners())[0].address : parseAddress(args.account, "account");
  const holdings = await recHoldings(system, account, deployment.block);
  if (args.json) {
    console.log(toJson(holdings));
    return;
  }
  const held = holdings.reduce((s, h) => s + h.heldWh, 0n);
  const retired = holdings.reduce((s, h) => s + h.retiredWh, 0n);
  console.log(
    `${account}: ${formatMWh(held)} MWh held, ${formatMWh(retired)} MWh retired for it, in ${holdings.length} certificate ${holdings.length === 1 ? "class" : "classes"}`,
  );
  printTable(
    holdings.map((h) => ({
      id: formatCertificateId(h.id),
      meter: h.meter,
      vintage: formatVintage(h.vintage),
      technology: h.technology,
      zone: h.zone,
      heldMWh: formatMWh(h.heldWh),
      retiredMWh: formatMWh(h.retiredWh),
    })),
  );
});

interface RetireArgs {
  id: string;
  amount: string;
  beneficiary: string;
  period: string;
  location: string;
  claimData: string;
  holder: string;
  from: string;
}

export const retire = action<RetireArgs>(async (args, hre) => {
  if (args.id === "") throw new InputError("give --id <certificate id>[,<id>…] (see `rec list`)");
  if (args.amount === "") throw new InputError("give --amount <Wh>[,<Wh>…], one per --id");
  if (args.beneficiary === "")
    throw new InputError("give --beneficiary <address> (the account the energy is claimed for)");
  const claimData = encodeClaimData({ claimData: args.claimData, period: args.period, location: args.location });
  const { deployment, networkName, ethers } = await connectSystem(hre);
  const signers = await ethers.getSigners();
  const signer = args.from === "" ? signers[0] : signers.find((s) => s.address === parseAddress(args.from, "from"));
  if (signer === undefined) throw new InputError(`account ${args.from || "0"} is not configured for ${networkName}`);
  const r = await retireCertificates(attachSystem(deployment, signer), signer, {
    ids: splitList(args.id),
    amounts: splitList(args.amount),
    beneficiary: args.beneficiary,
    claimData,
    holder: args.holder,
  });
  const total = r.amounts.reduce((s, a) => s + a, 0n);
  console.log(
    `receipt ${r.receiptId}: retired ${formatMWh(total)} MWh (${total} Wh) in ${r.ids.length} certificate ` +
      `${r.ids.length === 1 ? "class" : "classes"} held by ${r.holder} for ${r.beneficiary} (tx ${r.txHash})`,
  );
});

export const receipts = action<{ beneficiary: string; holder: string; json: boolean }>(async (args, hre) => {
  const { system, deployment } = await connectSystem(hre);
  const all = await retirementReceipts(system, {
    fromBlock: deployment.block,
    beneficiary: args.beneficiary === "" ? undefined : args.beneficiary,
    holder: args.holder === "" ? undefined : args.holder,
  });
  if (args.json) {
    console.log(toJson(all));
    return;
  }
  printTable(
    all.flatMap((r) =>
      r.lines.map((l) => ({
        receipt: r.receiptId,
        time: isoTime(r.timestamp),
        holder: r.holder,
        beneficiary: r.beneficiary,
        meter: l.meter,
        vintage: formatVintage(l.vintage),
        technology: l.technology,
        zone: l.zone,
        MWh: formatMWh(l.wh),
        claimData: r.claimData,
      })),
    ),
  );
});

export const issuance = action<{ meter: string; json: boolean }>(async (args, hre) => {
  const { system, deployment } = await connectSystem(hre);
  const result = await listIssuance(system, {
    meter: args.meter === "" ? undefined : args.meter,
    fromBlock: deployment.block,
  });
  if (args.json) {
    console.log(toJson(result));
    return;
  }
  for (const r of result.revocations) {
    console.log(
      `accreditation of ${r.meter} revoked by ${r.issuer} at block ${r.blockNumber}, effective ${isoTime(r.effectiveAt)} ` +
        `(was to expire ${isoTime(r.previousExpiry)})`,
    );
  }
  printTable(
    result.issuances.map((i) => ({
      block: i.blockNumber,
      issued: isoTime(i.timestamp),
      meter: i.meter,
      interval: i.intervalId,
      intervalEnd: isoTime(i.intervalEnd),
      vintage: formatVintage(i.vintage),
      owner: i.owner,
      MWh: formatMWh(i.wh),
      revocation: i.relativeToRevocation === "none" ? "-" : i.relativeToRevocation,
      afterEffectiveAt: i.revocation === null ? "-" : i.generatedAfterEffectiveAt ? "yes" : "no",
    })),
  );
});
