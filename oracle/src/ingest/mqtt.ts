import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import type { Ingestor } from "./ingestor.js";
import { parsePayload } from "./parseReading.js";
import { PipelinedSubscriber } from "./mqttPipelined.js";

export interface MqttIngestOptions {
  url: string;
  clientId: string;
  /** Subscription filter; the second level is the meter's address: `meters/<meter>/readings`. */
  topic: string;
  ingestor: Ingestor;
  log: Logger;
  maxPayloadBytes: number;
  /** 4 = MQTT 3.1.1 (any broker, aedes included), 5 = MQTT 5 (mqtt.js engine only). Default 4. */
  protocolVersion?: 4 | 5;
  /**
   * `pipelined` (default): many messages in flight, acknowledged in order after storage (`mqttPipelined.ts`);
   * `mqtt.js`: one message at a time (for MQTT 5 or TLS brokers).
   */
  engine?: "pipelined" | "mqtt.js";
  /** First reconnect delay; it doubles up to `maxReconnectMs` and resets on connect. */
  reconnectMs?: number;
  maxReconnectMs?: number;
}

/**
 * Meter readings over MQTT: QoS 1, persistent session (clean: false, fixed client id) so the broker keeps
 * readings while the relayer is away, PUBACK sent only after the reading is stored (or rejected for good), and
 * reconnects with exponential backoff. mqtt.js hands over the next message only after the previous one was
 * acknowledged, so one connection ingests one message at a time: a message may carry an array of readings.
 */
export class MqttIngest {
  private client: MqttClient | undefined;
  private pipelined: PipelinedSubscriber | undefined;
  private delay: number;
  private subscribed!: () => void;
  /** Resolves once the subscription is active (first connection); reconnects resubscribe by themselves. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.subscribed = resolve));

  constructor(private readonly o: MqttIngestOptions) {
    this.delay = o.reconnectMs ?? 250;
  }

  get connected(): boolean {
    return this.pipelined?.connected ?? this.client?.connected ?? false;
  }

  /**
   * Starts connecting and returns at once: an unreachable broker is retried with backoff (and reported by
   * `connected` and the logs) instead of blocking the relayer's start. `ready` tells when readings flow.
   */
  start(): void {
    if ((this.o.engine ?? "pipelined") === "pipelined" && this.o.protocolVersion !== 5) {
      this.pipelined = new PipelinedSubscriber({
        url: this.o.url,
        clientId: this.o.clientId,
        topic: this.o.topic,
        log: this.o.log,
        reconnectMs: this.o.reconnectMs,
        maxReconnectMs: this.o.maxReconnectMs,
        onMessage: (topic, payload) => this.handle(topic, payload),
      });
      void this.pipelined.ready.then(() => this.subscribed());
      this.pipelined.start();
      return;
    }
    const base = this.o.reconnectMs ?? 250;
    const max = this.o.maxReconnectMs ?? 30_000;
    const options: IClientOptions = {
      clientId: this.o.clientId,
      clean: false,
      protocolVersion: this.o.protocolVersion ?? 4,
      ...(this.o.protocolVersion === 5
        ? { properties: { sessionExpiryInterval: 7 * 24 * 3600, receiveMaximum: 65_535 } }
        : {}),
      reconnectPeriod: base,
      connectTimeout: 10_000,
    };
    const client = connect(this.o.url, options);
    this.client = client;
    // mqtt.js sends the PUBACK of a QoS 1 message when handleMessage calls back: only after the reading is stored
    // (or rejected for good). If processing fails, the connection is dropped without an ack, so that the broker
    // redelivers the message to the persistent session after the reconnect.
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== "publish") return callback();
      this.handle(packet.topic, packet.payload as Buffer).then(
        () => callback(),
        (e: Error) => {
          this.o.log.error(
            { err: e.message, topic: packet.topic },
            "mqtt reading not processed; reconnecting without ack",
          );
          client.stream.destroy();
        },
      );
    };
    client.on("reconnect", () => {
      this.delay = Math.min(max, this.delay * 2);
      client.options.reconnectPeriod = this.delay;
    });
    client.on("offline", () => this.o.log.warn({ url: this.o.url }, "mqtt broker unreachable; reconnecting"));
    client.on("error", (e) => this.o.log.warn({ err: e.message }, "mqtt error"));
    client.on("connect", (ack) => {
      this.delay = base;
      client.options.reconnectPeriod = base;
      this.o.log.info({ url: this.o.url, sessionPresent: ack.sessionPresent }, "mqtt connected");
      if (ack.sessionPresent) return this.subscribed();
      client.subscribe(this.o.topic, { qos: 1 }, (err) => {
        if (err) this.o.log.error({ err: err.message }, "mqtt subscribe failed");
        else this.subscribed();
      });
    });
  }

  async stop(): Promise<void> {
    await this.pipelined?.stop();
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
