import { getAddress } from "ethers";
import { InputError } from "./errors.js";

/** Technologies as `IMeterRegistry.Technology` numbers them; only Solar and Wind earn certificates. */
export const TECHNOLOGIES = ["Solar", "Wind", "Battery", "LoadOnly"] as const;
export type TechnologyName = (typeof TECHNOLOGIES)[number];

/** A certificate class: whose generation, which month, what technology, which zone (see `RecIds.sol`). */
export interface CertificateClass {
  meter: string;
  /** Vintage month as `YYYYMM`, UTC. */
  vintage: number;
  technology: TechnologyName;
  zone: number;
}

const MASK_160 = (1n << 160n) - 1n;

/** Certificate class id: `zone << 192 | technology << 184 | vintage << 160 | meter`. */
export function certificateId(c: CertificateClass): bigint {
  const tech = TECHNOLOGIES.indexOf(c.technology);
  return (BigInt(c.zone) << 192n) | (BigInt(tech) << 184n) | (BigInt(c.vintage) << 160n) | BigInt(getAddress(c.meter));
}

/** Inverse of {@link certificateId}; throws an InputError for ids the contract would reject. */
export function decodeCertificateId(id: bigint): CertificateClass {
  const meter = getAddress("0x" + (id & MASK_160).toString(16).padStart(40, "0"));
  const vintage = Number((id >> 160n) & 0xffffffn);
  const tech = Number((id >> 184n) & 0xffn);
  const zone = Number((id >> 192n) & 0xffffffffn);
  const month = vintage % 100;
  if (id >> 224n !== 0n || BigInt(meter) === 0n || zone === 0 || tech > 1 || month < 1 || month > 12) {
    throw new InputError(`${id} is not a certificate class id`);
  }
  return { meter, vintage, technology: TECHNOLOGIES[tech], zone };
}

/** The UTC month of Unix time `timestamp` (seconds) as `YYYYMM`. */
export function vintageOf(timestamp: bigint): number {
  const d = new Date(Number(timestamp) * 1000);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

/** `YYYYMM` as `YYYY-MM`. */
export function formatVintage(vintage: number): string {
  return `${Math.floor(vintage / 100)}-${String(vintage % 100).padStart(2, "0")}`;
}

/** Wh as MWh with 6 decimals (certificates are displayed in MWh). */
export function formatMWh(wh: bigint): string {
  const whole = wh / 1_000_000n;
  const frac = (wh % 1_000_000n).toString().padStart(6, "0");
  return `${whole}.${frac}`;
}
