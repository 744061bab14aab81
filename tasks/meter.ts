import { readFileSync } from "node:fs";
import { action, connectSystem, printTable, toJson } from "./common.js";
import { InputError } from "../src/errors.js";
import {
  listMeters,
  parseAddress,
  parsePositiveInt,
  parseTechnology,
  registerMeter,
  revokeMeter,
  setZone,
  type MeterInput,
} from "../src/ops/meters.js";
import { revokeAccreditation as revokeRecAccreditation } from "../src/ops/rec.js";

export const zone = action<{ zone: number; exportCapacity: bigint; importCapacity: bigint }>(async (args, hre) => {
  const { system } = await connectSystem(hre);
  const tx = await setZone(system.registry, args.zone, args.exportCapacity, args.importCapacity);
  console.log(`zone ${args.zone}: export ${args.exportCapacity} W, import ${args.importCapacity} W (tx ${tx})`);
});

interface RegisterArgs {
  meter: string;
  owner: string;
  zone: number;
  technology: string;
  capacity: bigint;
  recEligible: boolean;
  accreditationExpiry: bigint;
  file: string;
}

function readMeterFile(path: string): MeterInput[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read meter file ${path}: ${(e as Error).message}`);
  }
  const list = Array.isArray(raw) ? raw : (raw as { meters?: unknown[] })?.meters;
  if (!Array.isArray(list)) throw new InputError(`meter file ${path} must hold an array of meters`);
  return list.map((m: Record<string, unknown>, i) => ({
    meter: parseAddress(String(m.meter ?? m.address), `meters[${i}].meter`),
    owner: parseAddress(String(m.owner), `meters[${i}].owner`),
    zone: Number(parsePositiveInt(String(m.zone), `meters[${i}].zone`)),
    technology: parseTechnology(String(m.technology)),
    ratedCapacityW: parsePositiveInt(String(m.ratedCapacityW), `meters[${i}].ratedCapacityW`),
    recEligible: m.recEligible === true,
    accreditationExpiry: parsePositiveInt(String(m.accreditationExpiry ?? 0), `meters[${i}].accreditationExpiry`),
  }));
}

export const register = action<RegisterArgs>(async (args, hre) => {
  const { system } = await connectSystem(hre);
  let meters: MeterInput[];
  if (args.file !== "") {
    meters = readMeterFile(args.file);
  } else {
    if (args.meter === "") throw new InputError("give --meter <address> (or --file <meters.json>)");
    meters = [
      {
        meter: parseAddress(args.meter, "meter"),
        owner: parseAddress(args.owner, "owner"),
        zone: args.zone,
        technology: parseTechnology(args.technology),
        ratedCapacityW: args.capacity,
        recEligible: args.recEligible,
        accreditationExpiry: args.accreditationExpiry,
      },
    ];
  }
  for (const m of meters) {
    const tx = await registerMeter(system.registry, m);
    console.log(
      `registered ${m.meter}: owner ${m.owner}, zone ${m.zone}, ${m.technology}, ${m.ratedCapacityW} W (tx ${tx})`,
    );
  }
});

export const list = action<{ json: boolean }>(async (args, hre) => {
  const { system } = await connectSystem(hre);
  const rows = await listMeters(system.registry);
  if (args.json) console.log(toJson(rows));
  else printTable(rows as unknown as Record<string, unknown>[]);
});

export const revoke = action<{ meter: string }>(async (args, hre) => {
  const { system } = await connectSystem(hre);
  const tx = await revokeMeter(system.registry, args.meter);
  console.log(`revoked ${args.meter} (tx ${tx})`);
});

export const revokeAccreditation = action<{ meter: string; effectiveAt: bigint }>(async (args, hre) => {
  if (args.meter === "") throw new InputError("give --meter <address>");
  const { system } = await connectSystem(hre);
  const r = await revokeRecAccreditation(
    system,
    parseAddress(args.meter, "meter"),
    args.effectiveAt < 0n ? undefined : args.effectiveAt,
  );
  const iso = (t: bigint) => new Date(Number(t) * 1000).toISOString().replace(".000Z", "Z");
  console.log(
    `revoked the REC accreditation of ${r.meter} effective ${r.effectiveAt} (${iso(r.effectiveAt)}), ` +
      `was to expire ${r.previousExpiry} (${iso(r.previousExpiry)}); intervals ending later earn no certificates (tx ${r.txHash})`,
  );
});
