import { connectAsync, type MqttClient } from "mqtt";
import type { SignedReading } from "../src/types.js";
import { toPayload } from "./sign.js";

/** Sends readings to a relayer: over MQTT (`meters/<meter>/readings`, QoS 1) or HTTP (`POST /readings`). */
export interface Publisher {
  publish(readings: SignedReading[]): Promise<void>;
  close(): Promise<void>;
}

export async function mqttPublisher(url: string, clientId = `meter-sim-${process.pid}`): Promise<Publisher> {
  const client: MqttClient = await connectAsync(url, { clientId, clean: true, reconnectPeriod: 500 });
  return {
    async publish(readings) {
      await Promise.all(
        readings.map((r) =>
          client.publishAsync(`meters/${r.meter}/readings`, JSON.stringify(toPayload(r)), { qos: 1 }),
        ),
      );
    },
    close: () => client.endAsync(),
  };
}

export function httpPublisher(baseUrl: string, batch = 500): Publisher {
  return {
    async publish(readings) {
      for (let i = 0; i < readings.length; i += batch) {
        const body = JSON.stringify(readings.slice(i, i + batch).map(toPayload));
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${baseUrl}/readings`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          });
          if (res.status !== 503 || attempt >= 50) {
            if (!res.ok) throw new Error(`relayer answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    close: async () => {},
  };
}

/** Runs `fn` at most `perSecond` items per second (0 = unthrottled), in chunks. */
export async function paced<T>(
  items: T[],
  perSecond: number,
  chunk: number,
  fn: (slice: T[]) => Promise<void>,
): Promise<void> {
  const start = Date.now();
  for (let i = 0; i < items.length; i += chunk) {
    await fn(items.slice(i, i + chunk));
    if (perSecond > 0) {
      const due = start + ((i + chunk) / perSecond) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}
