import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Wallet, getAddress, keccak256, toUtf8Bytes } from "ethers";
import { InputError } from "../../src/errors.js";
import type { MeterInput } from "../../src/ops/meters.js";
import type { Technology } from "./profiles.js";

/**
 * A simulated meter: the `meter register --file` fields plus the meter's own signing key. These keys stand in
 * for keys inside meter hardware; the file is for simulations only (it is written under `data/`, not committed).
 */
export interface SimulatedMeter {
  meter: string;
  privateKey: string;
  owner: string;
  zone: number;
  technology: Technology;
  ratedCapacityW: number;
  baseLoadW: number;
  recEligible: boolean;
  accreditationExpiry: number;
  seed: number;
}

const MIX: Technology[] = ["solar", "solar", "load-only", "battery", "solar", "wind", "load-only", "solar"];

/** Creates `count` meters spread over `zones` zones; keys derive from `seed` so a run is reproducible. */
export function createMeters(opts: {
  count: number;
  owners: string[];
  zones: number;
  seed: number;
  accreditationExpiry: number;
}): SimulatedMeter[] {
  if (opts.count < 1) throw new InputError(`--count ${opts.count} must be at least 1`);
  if (opts.owners.length === 0) throw new InputError("give at least one owner");
  return Array.from({ length: opts.count }, (_, i) => {
    const key = new Wallet(keccak256(toUtf8Bytes(`microgrid simulated meter ${opts.seed} ${i}`)));
    const technology = MIX[i % MIX.length];
    const renewable = technology === "solar" || technology === "wind";
    return {
      meter: key.address,
      privateKey: key.privateKey,
      owner: getAddress(opts.owners[i % opts.owners.length]),
      zone: (i % opts.zones) + 1,
      technology,
      ratedCapacityW:
        technology === "load-only" ? 12_000 : technology === "wind" ? 10_000 : 4_000 + ((i * 1_000) % 6_000),
      baseLoadW: 400 + ((i * 137) % 700),
      recEligible: renewable,
      accreditationExpiry: renewable ? opts.accreditationExpiry : 0,
      seed: opts.seed * 1_000_003 + i,
    };
  });
}

export function writeMeters(path: string, meters: SimulatedMeter[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(meters, null, 2) + "\n", { mode: 0o600 });
}

export function readMeters(path: string): SimulatedMeter[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read meters file ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!Array.isArray(raw)) throw new InputError(`meters file ${path} must hold an array`);
  return raw as SimulatedMeter[];
}

/** The registration (`registerMeter`) of a simulated meter. */
export function toMeterInput(m: SimulatedMeter): MeterInput {
  return {
    meter: m.meter,
    owner: m.owner,
    zone: m.zone,
    technology: m.technology,
    ratedCapacityW: BigInt(m.ratedCapacityW),
    recEligible: m.recEligible,
    accreditationExpiry: BigInt(m.accreditationExpiry),
  };
}
