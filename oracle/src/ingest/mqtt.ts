import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import type { Ingestor } from "./ingestor.js";
import { parsePayload } from "./parseReading.js";

export interface MqttIngestOptions {
  url: string;
  clientId: string;
  /** Subscription filter; the second level is the meter's address: `meters/<meter>/readings`. */
  topic: string;
  ingestor: Ingestor;
  log: Logger;
  maxPayloadBytes: number;
  /** First reconnect delay; it doubles up to `maxReconnectMs` and resets on connect. */
  reconnectMs?: number;
  maxReconnectMs?: number;
}

/**
 * Meter readings over MQTT: QoS 1, persistent session (clean: false, fixed client id) so the broker keeps
 * readings while the relayer is away, PUBACK sent only after the reading is stored (or rejected for good), and
 * reconnects with exponential backoff.
 */
export class MqttIngest {
  private client: MqttClient | undefined;
  private delay: number;

  constructor(private readonly o: MqttIngestOptions) {
    this.delay = o.reconnectMs ?? 250;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects and subscribes; resolves on the first successful subscription (reconnects continue after). */
  start(): Promise<void> {
    const base = this.o.reconnectMs ?? 250;
    const max = this.o.maxReconnectMs ?? 30_000;
    const options: IClientOptions = {
      clientId: this.o.clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 7 * 24 * 3600, receiveMaximum: 65_535 },
      reconnectPeriod: base,
      connectTimeout: 10_000,
      customHandleAcks: (topic, message, _packet, done) => {
        void this.handle(topic, message).then(
          () => done(0),
          (e: Error) => {
            this.o.log.error({ err: e.message, topic }, "mqtt reading not processed; withholding the ack");
          },
        );
      },
    };
    const client = connect(this.o.url, options);
    this.client = client;
    client.on("reconnect", () => {
      this.delay = Math.min(max, this.delay * 2);
      client.options.reconnectPeriod = this.delay;
    });
    client.on("offline", () => this.o.log.warn({ url: this.o.url }, "mqtt broker unreachable; reconnecting"));
    client.on("error", (e) => this.o.log.warn({ err: e.message }, "mqtt error"));
    return new Promise((resolve) => {
      client.on("connect", (ack) => {
        this.delay = base;
        client.options.reconnectPeriod = base;
        this.o.log.info({ url: this.o.url, sessionPresent: ack.sessionPresent }, "mqtt connected");
        if (ack.sessionPresent) return resolve();
        client.subscribe(this.o.topic, { qos: 1 }, (err) => {
          if (err) this.o.log.error({ err: err.message }, "mqtt subscribe failed");
          else resolve();
        });
      });
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync();
  }

  private async handle(topic: string, message: Buffer): Promise<void> {
    const meter = topic.split("/")[1];
    const parsed = parsePayload(message, this.o.maxPayloadBytes);
    const items = parsed.ok ? parsed.items : [{ malformed: parsed.detail }];
    const outcomes = await this.o.ingestor.submit(items, "mqtt", { expectedMeter: meter, wait: true });
    for (const o of outcomes) {
      if (o.status === "rejected") this.o.log.debug({ topic, reason: o.reason, detail: o.detail }, "reading rejected");
    }
  }
}
