import { getAddress, isAddress } from "ethers";
import type { MeterRegistry } from "../../types/ethers-contracts/index.js";
import { InputError, toChainError } from "../errors.js";
import { SYSTEM_INTERFACES } from "../deploy.js";
import { send } from "./chain.js";

export const TECHNOLOGIES = ["solar", "wind", "battery", "load-only"] as const;
export type TechnologyName = (typeof TECHNOLOGIES)[number];
export const STATUSES = ["none", "active", "revoked"] as const;

/** A meter as a task takes it. */
export interface MeterInput {
  meter: string;
  owner: string;
  zone: number;
  technology: TechnologyName;
  ratedCapacityW: bigint;
  recEligible: boolean;
  accreditationExpiry: bigint;
}

export function parseAddress(value: string, what: string): string {
  if (!isAddress(value)) throw new InputError(`${what} "${value}" is not an address`);
  return getAddress(value);
}

export function parseTechnology(value: string): TechnologyName {
  const t = value.toLowerCase() as TechnologyName;
  if (!TECHNOLOGIES.includes(t))
    throw new InputError(`technology "${value}" must be one of ${TECHNOLOGIES.join(", ")}`);
  return t;
}

export function parsePositiveInt(value: string | number | bigint, what: string): bigint {
  let n: bigint;
  try {
    n = BigInt(value);
  } catch {
    throw new InputError(`${what} "${value}" is not a whole number`);
  }
  if (n < 0n) throw new InputError(`${what} ${n} must not be negative`);
  return n;
}

/** Creates a zone or changes its export and import capacity (W). */
export async function setZone(
  registry: MeterRegistry,
  zone: number,
  exportCapacityW: bigint,
  importCapacityW: bigint,
): Promise<string> {
  return send(() => registry.setZone(zone, exportCapacityW, importCapacityW));
}

/** Registers a meter key. */
export async function registerMeter(registry: MeterRegistry, m: MeterInput): Promise<string> {
  return send(() =>
    registry.registerMeter(parseAddress(m.meter, "meter"), {
      owner: parseAddress(m.owner, "owner"),
      zone: m.zone,
      technology: TECHNOLOGIES.indexOf(m.technology),
      ratedCapacityW: m.ratedCapacityW,
      recEligible: m.recEligible,
      accreditationExpiry: m.accreditationExpiry,
    }),
  );
}

/** Revokes a meter key for good. */
export async function revokeMeter(registry: MeterRegistry, meter: string): Promise<string> {
  return send(() => registry.revokeMeter(parseAddress(meter, "meter")));
}

/** A registered meter as `meter list` prints it. */
export interface MeterRow {
  index: number;
  meter: string;
  owner: string;
  zone: number;
  technology: TechnologyName;
  status: (typeof STATUSES)[number];
  ratedCapacityW: bigint;
  recEligible: boolean;
  accreditationExpiry: bigint;
}

/** Every meter ever registered, in registration order. */
export async function listMeters(registry: MeterRegistry): Promise<MeterRow[]> {
  try {
    const count = Number(await registry.meterCount());
    const rows: MeterRow[] = [];
    for (let i = 0; i < count; i++) {
      const meter = await registry.meterAt(i);
      const m = await registry.getMeter(meter);
      rows.push({
        index: Number(m.index),
        meter,
        owner: m.owner,
        zone: Number(m.zone),
        technology: TECHNOLOGIES[Number(m.technology)],
        status: STATUSES[Number(m.status)],
        ratedCapacityW: m.ratedCapacityW,
        recEligible: m.recEligible,
        accreditationExpiry: m.accreditationExpiry,
      });
    }
    return rows;
  } catch (e) {
    throw toChainError(e, SYSTEM_INTERFACES);
  }
}
