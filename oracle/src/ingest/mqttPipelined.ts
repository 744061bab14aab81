import { connect as netConnect, type Socket } from "node:net";
import mqttPacket, { type Packet } from "mqtt-packet";
import type { Logger } from "../log.js";

/**
 * A minimal MQTT 3.1.1 subscriber that keeps many QoS 1 messages in flight. mqtt.js hands over a connection's next
 * message only after the previous one was acknowledged, so acknowledging after storage makes it one message per
 * storage round trip. Here every PUBLISH goes to `onMessage` at once (the relayer batches them for signature
 * checks and one database transaction) and its PUBACK is sent when its promise resolves (those finishing together in one write) — in arrival order, as
 * MQTT requires of QoS 1 acknowledgements. Persistent session (clean session off, fixed client id), keep-alive
 * pings, reconnects with exponential backoff, and back-pressure (the socket is paused while `maxInFlight`
 * messages await their ack). mqtt.js stays the reference in tests (`test/relayer/mqtt.test.ts`).
 */
export interface PipelinedSubscriberOptions {
  url: string;
  clientId: string;
  topic: string;
  /** Processes one message; resolve = acknowledge, reject = drop the connection unacknowledged (redelivery). */
  onMessage(topic: string, payload: Buffer): Promise<void>;
  log: Logger;
  maxInFlight?: number;
  keepaliveSeconds?: number;
  reconnectMs?: number;
  maxReconnectMs?: number;
}

interface InFlight {
  messageId: number | undefined;
  done: boolean;
}

/**
 * The PUBACKs of `acked` messages (QoS 1; QoS 0 ones have no message id) as one buffer of 4-byte packets
 * (`0x40 0x02 id_hi id_lo`, what `mqtt-packet` generates for a 3.1.1 PUBACK), or undefined if there are none.
 */
function pubackPackets(acked: readonly InFlight[]): Buffer | undefined {
  let count = 0;
  for (const m of acked) if (m.messageId !== undefined) count++;
  if (count === 0) return undefined;
  const out = Buffer.allocUnsafe(count * 4);
  let o = 0;
  for (const m of acked) {
    if (m.messageId === undefined) continue;
    out[o] = 0x40;
    out[o + 1] = 0x02;
    out.writeUInt16BE(m.messageId, o + 2);
    o += 4;
  }
  return out;
}

export class PipelinedSubscriber {
  private socket: Socket | undefined;
  private stopped = false;
  private delay: number;
  private inFlight: InFlight[] = [];
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private subscribed!: () => void;
  private isConnected = false;
  /** The in-flight list whose acknowledgements are scheduled to be written (see `onPublish`). */
  private ackScheduledFor: InFlight[] | undefined;
  /** Resolves once the first subscription is active. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.subscribed = resolve));

  constructor(private readonly o: PipelinedSubscriberOptions) {
    this.delay = o.reconnectMs ?? 250;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return;
    // Let acknowledgements of messages being processed go out first (bounded wait).
    const deadline = Date.now() + 5_000;
    while (this.inFlight.length > 0 && Date.now() < deadline && !socket.destroyed)
      await new Promise((r) => setTimeout(r, 10));
    if (!socket.destroyed) socket.write(mqttPacket.generate({ cmd: "disconnect" }));
    socket.end();
    this.teardown(socket);
  }

  private open(): void {
    const url = new URL(this.o.url);
    if (url.protocol !== "mqtt:" && url.protocol !== "tcp:")
      throw new Error(`unsupported MQTT URL ${this.o.url} (mqtt://host:port)`);
    const socket = netConnect({ host: url.hostname, port: Number(url.port || 1883) });
    this.socket = socket;
    socket.setNoDelay(true);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    this.inFlight = [];
    parser.on("packet", (packet: Packet) => this.onPacket(socket, packet));
    parser.on("error", (e: Error) => {
      this.o.log.warn({ err: e.message }, "mqtt protocol error; reconnecting");
      socket.destroy();
    });
    socket.on("connect", () => {
      socket.write(
        mqttPacket.generate({
          cmd: "connect",
          protocolId: "MQTT",
          protocolVersion: 4,
          clean: false,
          clientId: this.o.clientId,
          keepalive: this.o.keepaliveSeconds ?? 30,
        }),
      );
    });
    socket.on("data", (chunk) => parser.parse(chunk));
    socket.on("error", (e) => this.o.log.warn({ err: e.message, url: this.o.url }, "mqtt connection error"));
    socket.on("close", () => {
      this.teardown(socket);
      if (this.stopped) return;
      this.o.log.warn({ url: this.o.url, retryInMs: this.delay }, "mqtt broker unreachable; reconnecting");
      this.reconnectTimer = setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.o.maxReconnectMs ?? 30_000, this.delay * 2);
    });
  }

  private teardown(socket: Socket): void {
    if (this.socket !== socket) return;
    this.isConnected = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    // Messages not yet acknowledged are redelivered by the broker to the persistent session.
    this.inFlight = [];
  }

  private onPacket(socket: Socket, packet: Packet): void {
    switch (packet.cmd) {
      case "connack":
        if (packet.returnCode !== 0) {
          this.o.log.error({ returnCode: packet.returnCode }, "mqtt broker refused the connection");
          socket.destroy();
          return;
        }
        this.isConnected = true;
        this.delay = this.o.reconnectMs ?? 250;
        this.startPings(socket);
        this.o.log.info({ url: this.o.url, sessionPresent: packet.sessionPresent }, "mqtt connected");
        if (packet.sessionPresent) this.subscribed();
        else
          socket.write(
            mqttPacket.generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: this.o.topic, qos: 1 }] }),
          );
        return;
      case "suback":
        if ((packet.granted as number[]).some((g) => g === 128)) {
          this.o.log.error({ topic: this.o.topic }, "mqtt subscription refused");
          return;
        }
        this.subscribed();
        return;
      case "pingresp":
        this.awaitingPong = false;
        return;
      case "publish":
        this.onPublish(socket, packet.topic, packet.payload as Buffer, packet.qos, packet.messageId);
        return;
      default:
        return;
    }
  }

  private onPublish(socket: Socket, topic: string, payload: Buffer, qos: number, messageId: number | undefined): void {
    const entry: InFlight = { messageId: qos > 0 ? messageId : undefined, done: false };
    const list = this.inFlight;
    list.push(entry);
    if (list.length >= (this.o.maxInFlight ?? 5_000)) socket.pause();
    this.o.onMessage(topic, Buffer.from(payload)).then(
      () => {
        entry.done = true;
        if (this.inFlight !== list) return; // the connection this message came on is gone: no ack
        // A batch of readings finishes together: acknowledge once the promise callbacks of this turn have run,
        // so that one write carries all of their PUBACKs.
        if (this.ackScheduledFor !== list) {
          this.ackScheduledFor = list;
          process.nextTick(() => {
            if (this.ackScheduledFor === list) this.ackScheduledFor = undefined;
            this.flushAcks(socket, list);
          });
        }
      },
      (e: Error) => {
        this.o.log.error({ err: e.message, topic }, "mqtt message not processed; reconnecting without ack");
        socket.destroy();
      },
    );
  }

  /** Acknowledges, in arrival order, every finished message at the head of the queue (one write). */
  private flushAcks(socket: Socket, list: InFlight[]): void {
    if (this.inFlight !== list) return; // the connection these messages came on is gone: no ack
    let n = 0;
    while (n < list.length && list[n].done) n++;
    const pubacks = n === 0 ? undefined : pubackPackets(list.splice(0, n));
    if (pubacks !== undefined && !socket.destroyed) socket.write(pubacks);
    if (socket.isPaused() && list.length < (this.o.maxInFlight ?? 5_000) / 2) socket.resume();
  }

  private startPings(socket: Socket): void {
    const period = (this.o.keepaliveSeconds ?? 30) * 500;
    this.pingTimer = setInterval(() => {
      if (this.awaitingPong) {
        this.o.log.warn({ url: this.o.url }, "mqtt keep-alive timed out; reconnecting");
        socket.destroy();
        return;
      }
      this.awaitingPong = true;
      socket.write(mqttPacket.generate({ cmd: "pingreq" }));
    }, period);
    this.pingTimer.unref();
  }
}
