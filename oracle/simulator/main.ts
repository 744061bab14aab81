/**
 * The meter simulator: `npm run meters -- keys …` creates meter keys (and the registration file), `npm run meters
 * -- run …` publishes signed cumulative readings over MQTT or HTTP. See README, "Relayer".
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { MicrogridError, InputError } from "../../src/errors.js";
import type { Hex, SignedReading } from "../src/types.js";
import { createMeters, readMeters, writeMeters } from "./keys.js";
import { intervalEnergy } from "./profiles.js";
import { ReadingSigner } from "./sign.js";
import { httpPublisher, mqttPublisher, paced } from "./publish.js";

const USAGE = `usage:
  npm run meters -- keys --count N --owners 0xA,0xB [--zones 3] [--seed 1] [--out data/meters.json]
  npm run meters -- run --meters data/meters.json --deployment deployments/localhost.json
                       (--mqtt-url mqtt://127.0.0.1:1883 | --http-url http://127.0.0.1:8080)
                       [--intervals 1] [--rate 0] [--from-interval ID: backfill past intervals instead of live]`;

/** Cumulative registers of every meter, advanced interval by interval. */
export function* readingsFor(
  meters: ReturnType<typeof readMeters>,
  signer: ReadingSigner,
  fromInterval: bigint,
  intervals: number,
  intervalLength: number,
): Generator<SignedReading[]> {
  const registers = meters.map(() => ({ imp: 0n, exp: 0n }));
  for (let k = 0; k <= intervals; k++) {
    // Interval fromInterval-1 sets each meter's baseline; the next `intervals` carry energy.
    const intervalId = fromInterval - 1n + BigInt(k);
    yield meters.map((m, i) => {
      const e = k === 0 ? { importWh: 0n, exportWh: 0n } : intervalEnergy(m, intervalId, intervalLength);
      registers[i].imp += e.importWh;
      registers[i].exp += e.exportWh;
      return signer.sign(m.privateKey, {
        meter: m.meter as Hex,
        intervalId,
        importWhTotal: registers[i].imp,
        exportWhTotal: registers[i].exp,
        timestamp: (intervalId + 1n) * BigInt(intervalLength),
      });
    });
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      count: { type: "string" },
      owners: { type: "string" },
      zones: { type: "string", default: "3" },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: "data/meters.json" },
      meters: { type: "string", default: "data/meters.json" },
      deployment: { type: "string" },
      "mqtt-url": { type: "string" },
      "http-url": { type: "string" },
      "from-interval": { type: "string" },
      intervals: { type: "string", default: "1" },
      rate: { type: "string", default: "0" },
      "interval-length": { type: "string" },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined) => {
    if (v === undefined || !/^\d+$/.test(v)) throw new InputError(`--${name} needs a whole number`);
    return Number(v);
  };
  if (command === "keys") {
    const meters = createMeters({
      count: int("count", values.count),
      owners: (values.owners ?? "").split(",").filter((s) => s !== ""),
      zones: int("zones", values.zones),
      seed: int("seed", values.seed),
      accreditationExpiry: Math.floor(Date.now() / 1000) + 365 * 86_400,
    });
    writeMeters(values.out!, meters);
    console.log(
      `wrote ${meters.length} meters to ${values.out} (register them with: npx hardhat meter register --file ${values.out})`,
    );
    return;
  }
  if (command !== "run") throw new InputError(USAGE);
  if (values.deployment === undefined) throw new InputError("give --deployment deployments/<network>.json");
  let deployment: {
    chainId: string;
    params: { intervalLength: string };
    contracts: { MeterRegistry: { address: string } };
  };
  try {
    deployment = JSON.parse(readFileSync(values.deployment, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read deployment ${values.deployment}: ${(e as Error).message.split("\n")[0]}`);
  }
  const intervalLength = values["interval-length"]
    ? int("interval-length", values["interval-length"])
    : Number(deployment.params.intervalLength);
  const meters = readMeters(values.meters!);
  const signer = new ReadingSigner({
    chainId: BigInt(deployment.chainId),
    verifyingContract: deployment.contracts.MeterRegistry.address,
  });
  const now = Math.floor(Date.now() / 1000);
  // Live (default): the current interval's reading is the baseline, sent when it ends; each next interval's when it
  // ends. With --from-interval: a backfill of past intervals, sent at once (a relayer takes only those whose grace
  // period has not passed).
  const live = values["from-interval"] === undefined;
  const fromInterval = live
    ? BigInt(Math.floor(now / intervalLength)) + 1n
    : BigInt(int("from-interval", values["from-interval"]));
  const publisher = values["mqtt-url"]
    ? await mqttPublisher(values["mqtt-url"])
    : values["http-url"]
      ? httpPublisher(values["http-url"])
      : (() => {
          throw new InputError("give --mqtt-url or --http-url");
        })();
  let sent = 0;
  const started = Date.now();
  try {
    for (const readings of readingsFor(
      meters,
      signer,
      fromInterval,
      int("intervals", values.intervals),
      intervalLength,
    )) {
      if (live) {
        const endsAt = (Number(readings[0].intervalId) + 1) * intervalLength * 1000;
        console.log(
          `interval ${readings[0].intervalId}: ${readings.length} readings, sent when it ends (${new Date(endsAt).toISOString()})`,
        );
        while (Date.now() < endsAt) await new Promise((r) => setTimeout(r, Math.min(1_000, endsAt - Date.now())));
      }
      await paced(readings, int("rate", values.rate), 500, (slice) => publisher.publish(slice));
      sent += readings.length;
    }
  } finally {
    await publisher.close();
  }
  const s = (Date.now() - started) / 1000;
  console.log(
    `published ${sent} signed readings of ${meters.length} meters (intervals ${fromInterval - 1n}..${fromInterval - 1n + BigInt(values.intervals)}) in ${s.toFixed(1)} s`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`Error: ${e instanceof MicrogridError ? e.message : (e as Error).message.split("\n")[0]}`);
    process.exitCode = 1;
  });
}
