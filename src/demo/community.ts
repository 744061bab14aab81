/**
 * The demo's microgrid community: 24 prosumers on 3 feeders (zones), what their meters measure in each interval and
 * what they forecast a little ahead of it.
 *
 * Energy comes from the meter simulator's profiles (`oracle/simulator/profiles.ts`: rooftop PV, a wind turbine,
 * PV with a battery, household loads) plus two loads the simulator does not model: electric vehicles (a 7.4 kW
 * charger, at midday for "smart" chargers soaking up PV, in the evening otherwise) and small businesses on the high
 * street (a school, a café, a workshop, with daytime loads). Everything is deterministic for a seed.
 *
 * Feeder capacities are sized so that exports bind around midday: Hillside and Riverside have most of the PV, the
 * High Street most of the demand, so in the sunny hours they export up to their feeders' limits and their prices split
 * from the High Street's (export congestion).
 */
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import { intervalEnergy, prng, type Technology } from "../../oracle/simulator/profiles.js";
import { InputError } from "../errors.js";

/** How an agent behaves beyond the common strategy (see `agents.ts`). */
export type Quirk =
  /** Offers more than it forecasts (a fixed multiple of its forecast, within its meter's capacity): under-delivers. */
  | "oversells"
  /** One of its readings is tampered with on the way to the relayers (its export register rewritten after signing). */
  | "tampered";

export interface Prosumer {
  name: string;
  zone: number;
  technology: Technology;
  /** The meter's rated capacity, W (generation for PV/wind/battery; the connection for load-only meters). */
  ratedCapacityW: number;
  /** Average household load, W (the simulator's load shape scales it over the day). */
  baseLoadW: number;
  ev?: "midday" | "evening";
  /** A business: load while open (W), and opening hours (UTC). */
  business?: { loadW: number; opens: number; closes: number; kind: string };
  /** Ask: feed-in + askFactor × (retail − feed-in); bid: feed-in + bidFactor × (retail − feed-in). */
  askFactor: number;
  bidFactor: number;
  /** Buys renewable-energy certificates for what it bought in the market and retires them. */
  green?: boolean;
  quirk?: Quirk;
}

/** The feeders' names. */
export const ZONE_NAMES: Record<number, string> = { 1: "Hillside", 2: "Riverside", 3: "High Street" };

function who(
  name: string,
  zone: number,
  technology: Technology,
  ratedCapacityW: number,
  baseLoadW: number,
  askFactor: number,
  bidFactor: number,
  extras: Partial<Prosumer> = {},
): Prosumer {
  return { name, zone, technology, ratedCapacityW, baseLoadW, askFactor, bidFactor, ...extras };
}

function business(kind: string, loadW: number, opens: number, closes: number): Prosumer["business"] {
  return { kind, loadW, opens, closes };
}

/**
 * The full community, in the order a shortened run takes them (`--prosumers N` takes the first N): the first few
 * cover every role — the over-selling seller, the tampered meter, a business buyer, PV, wind, a battery, an EV —
 * in all three zones.
 */
export const COMMUNITY: Prosumer[] = [
  // who(name, zone, technology, rated capacity W, household base load W, askFactor, bidFactor, extras)
  who("Uma", 1, "solar", 7_000, 500, 0.08, 0.6, { quirk: "oversells" }),
  who("Quinn", 3, "load-only", 40_000, 900, 0.5, 0.92, { business: business("school", 26_000, 8, 16), green: true }),
  who("Tom", 2, "solar", 6_000, 550, 0.12, 0.7, { quirk: "tampered" }),
  who("Ada", 1, "solar", 8_000, 600, 0.1, 0.75),
  who("Hal", 1, "load-only", 12_000, 700, 0.5, 0.8, { ev: "midday", green: true }),
  who("Ivy", 2, "wind", 10_000, 300, 0.2, 0.7),
  who("Rae", 3, "load-only", 15_000, 500, 0.5, 0.85, { business: business("café", 8_000, 7, 19) }),
  who("Kai", 2, "battery", 8_000, 650, 0.45, 0.7),
  who("Ben", 1, "solar", 6_000, 800, 0.18, 0.72),
  who("Nia", 2, "load-only", 12_000, 750, 0.5, 0.88, { ev: "evening", green: true }),
  who("Sam", 3, "load-only", 20_000, 600, 0.5, 0.8, { business: business("workshop", 12_000, 8, 17) }),
  who("Cleo", 1, "solar", 9_000, 650, 0.14, 0.78, { ev: "midday" }),
  who("Lea", 2, "solar", 5_000, 500, 0.22, 0.7),
  who("Vic", 3, "load-only", 12_000, 800, 0.5, 0.9, { ev: "evening" }),
  who("Dev", 1, "solar", 7_000, 700, 0.06, 0.7),
  who("Max", 2, "load-only", 12_000, 900, 0.5, 0.66),
  who("Tia", 3, "solar", 4_000, 450, 0.25, 0.75),
  who("Eli", 1, "battery", 10_000, 600, 0.4, 0.7),
  who("Oli", 2, "solar", 4_000, 400, 0.16, 0.74),
  who("Wes", 3, "battery", 8_000, 700, 0.5, 0.8),
  who("Fay", 1, "solar", 5_000, 450, 0.2, 0.7),
  who("Pia", 2, "load-only", 12_000, 1_100, 0.5, 0.82),
  who("Xia", 3, "load-only", 12_000, 850, 0.5, 0.62),
  who("Gus", 1, "solar", 6_000, 550, 0.1, 0.7),
];

/** A prosumer of a run: its spec, its meter's signing key and its simulator seed. */
export interface Member extends Prosumer {
  index: number;
  meterKey: Wallet;
  seed: number;
  /** Solar and wind meters are accredited for certificates. */
  recEligible: boolean;
}

/** The first `count` prosumers of the community with meter keys derived from `seed`. */
export function community(count: number, seed: number): Member[] {
  if (!Number.isInteger(count) || count < 2 || count > COMMUNITY.length)
    throw new InputError(`--prosumers ${count} must be between 2 and ${COMMUNITY.length}`);
  return COMMUNITY.slice(0, count).map((p, index) => ({
    ...p,
    index,
    meterKey: new Wallet(keccak256(toUtf8Bytes(`microgrid demo meter ${seed} ${index}`))),
    seed: seed * 1_000_003 + index,
    recEligible: p.technology === "solar" || p.technology === "wind",
  }));
}

/** Feeder capacities, W: export and import. */
export interface ZoneSpec {
  zone: number;
  name: string;
  exportCapacityW: bigint;
  importCapacityW: bigint;
}

/**
 * Capacities of the zones of `members`: a feeder exports at most 25% of its members' rated generation and imports at
 * most 60% of its members' business and EV peak plus 1 kW per household (at least 3 kW each way). With the full
 * community Hillside's and Riverside's exports bind from about 08:00 to 16:00 UTC.
 */
export function zoneSpecs(members: Member[]): ZoneSpec[] {
  const zones = [...new Set(members.map((m) => m.zone))].sort((a, b) => a - b);
  return zones.map((zone) => {
    const inZone = members.filter((m) => m.zone === zone);
    const generation = inZone.filter((m) => m.technology !== "load-only").reduce((s, m) => s + m.ratedCapacityW, 0);
    const demand = inZone.reduce((s, m) => s + (m.business?.loadW ?? 0) + (m.ev ? EV_CHARGER_W : 0) + 1_000, 0);
    const w = (x: number) => BigInt(Math.max(3_000, Math.round(x / 100) * 100));
    return {
      zone,
      name: ZONE_NAMES[zone] ?? `Zone ${zone}`,
      exportCapacityW: w(0.25 * generation),
      importCapacityW: w(0.6 * demand),
    };
  });
}

const EV_CHARGER_W = 7_400;
const HOUR = 3600;

/** Extra load the simulator does not model: EV charging and a business's opening hours, W. */
function extraLoadW(p: Prosumer, secondsOfDay: number, rnd: () => number): number {
  const h = secondsOfDay / HOUR;
  let w = 0;
  if (p.ev === "midday" && h >= 11 && h < 14) w += EV_CHARGER_W * (0.7 + 0.3 * rnd());
  if (p.ev === "evening" && h >= 18 && h < 21) w += EV_CHARGER_W * (0.7 + 0.3 * rnd());
  if (p.business) {
    const open = h >= p.business.opens && h < p.business.closes;
    w += p.business.loadW * (open ? 0.8 + 0.2 * rnd() : 0.1);
  }
  return w;
}

/** What a meter measures in an interval, Wh: the simulator's net energy plus the extra loads, within its capacity. */
export function meteredEnergy(
  m: Member,
  intervalId: bigint,
  intervalLength: number,
): { importWh: bigint; exportWh: bigint } {
  const base = intervalEnergy(
    { technology: m.technology, ratedCapacityW: m.ratedCapacityW, baseLoadW: m.baseLoadW, seed: m.seed },
    intervalId,
    intervalLength,
  );
  const mid = (Number(intervalId) * intervalLength + intervalLength / 2) % 86_400;
  const rnd = prng((m.seed * 31) ^ Number(intervalId % 1_000_000_007n));
  const extraWh = Math.round((extraLoadW(m, mid, rnd) * intervalLength) / HOUR);
  const maxWh = Math.floor((m.ratedCapacityW * intervalLength) / HOUR);
  const net = Number(base.exportWh - base.importWh) - extraWh;
  const wh = BigInt(Math.min(Math.abs(net), maxWh));
  return net >= 0 ? { importWh: 0n, exportWh: wh } : { importWh: wh, exportWh: 0n };
}

/**
 * The prosumer's forecast of its net export for an interval (negative: import), Wh: what its meter will measure
 * within ±10% (a deterministic error per prosumer and interval).
 */
export function forecastNetWh(m: Member, intervalId: bigint, intervalLength: number): number {
  const e = meteredEnergy(m, intervalId, intervalLength);
  const error = 1 + 0.2 * (prng((m.seed * 7) ^ Number(intervalId % 1_000_000_007n))() - 0.5);
  return Math.round(Number(e.exportWh - e.importWh) * error);
}
