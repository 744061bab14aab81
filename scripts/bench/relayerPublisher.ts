/**
 * Child process of `npm run bench:relayer`: creates `meters` deterministic meter keys, signs `intervals`
 * consecutive cumulative readings for each (before timing starts), writes the meter addresses to `addressesFile`,
 * prints "ready", then on "go" (stdin) publishes everything over MQTT (QoS 1) and prints "published <ms> <cpu ms>"
 * (wall time until every PUBACK arrived, and this process's CPU time meanwhile).
 */
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import secp256k1 from "secp256k1";
import { connect as netConnect } from "node:net";
import { connectAsync } from "mqtt";
import mqttPacket, { type Packet } from "mqtt-packet";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { checksumAddressBytes } from "../../oracle/src/ingest/digest.js";
import { ReadingSigner, toPayload } from "../../oracle/simulator/sign.js";
import type { Hex } from "../../oracle/src/types.js";

const [url, metersArg, intervalsArg, addressesFile, chainId, registry, firstInterval] = process.argv.slice(2);
const meters = Number(metersArg);
const intervals = Number(intervalsArg);
const signer = new ReadingSigner({ chainId: BigInt(chainId), verifyingContract: registry });
const keys: { key: string; address: Hex }[] = [];
for (let i = 0; i < meters; i++) {
  const priv = keccak_256(new TextEncoder().encode(`bench meter ${i}`));
  const pub = secp256k1.publicKeyCreate(priv, false);
  const address = checksumAddressBytes(keccak_256(pub.subarray(1)), 12);
  keys.push({ key: `0x${Buffer.from(priv).toString("hex")}`, address });
}
writeFileSync(addressesFile, JSON.stringify(keys.map((k) => k.address)));
const messages: { topic: string; body: string }[] = [];
for (let k = 0; k < intervals; k++) {
  const intervalId = BigInt(firstInterval) + BigInt(k);
  for (const [i, m] of keys.entries()) {
    const r = signer.sign(m.key, {
      meter: m.address,
      intervalId,
      importWhTotal: BigInt(k * (i % 7)),
      exportWhTotal: BigInt(k * 150 + (i % 11)),
      timestamp: (intervalId + 1n) * 900n,
    });
    messages.push({ topic: `meters/${m.address}/readings`, body: JSON.stringify(toPayload(r)) });
  }
}
/**
 * `BENCH_PUBLISHER=mqttjs`: mqtt.js `publishAsync` (QoS 1), 2,000 awaited at a time. Default `raw`: the same QoS 1
 * PUBLISH packets (what a meter sends), serialized before timing starts and written to the socket with up to
 * `WINDOW` unacknowledged, PUBACKs counted as they arrive: the meters' side costs less CPU on this shared machine,
 * the relayer's side (QoS 1, acknowledged after storage) is unchanged.
 */
const WINDOW = 20_000;
const kind = process.env.BENCH_PUBLISHER ?? "raw";
if (kind === "mqttjs") {
  const client = await connectAsync(url, { clientId: `bench-publisher-${process.pid}`, clean: true });
  console.log("ready");
  await onGo(async () => {
    const window = 2_000;
    for (let i = 0; i < messages.length; i += window) {
      await Promise.all(messages.slice(i, i + window).map((m) => client.publishAsync(m.topic, m.body, { qos: 1 })));
    }
  });
  await client.endAsync();
} else {
  // Message ids 1…65535, reused only after WINDOW (< 65535) later messages were acknowledged.
  const packets = messages.map((m, i) =>
    mqttPacket.generate({ cmd: "publish", topic: m.topic, payload: m.body, qos: 1, messageId: (i % 65_535) + 1, retain: false, dup: false }),
  );
  const { hostname: host, port } = new URL(url);
  const socket = netConnect({ host, port: Number(port) });
  socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let acked = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  const connected = new Promise<void>((resolve, reject) => {
    parser.on("packet", (p: Packet) => {
      if (p.cmd === "connack") return p.returnCode === 0 ? resolve() : reject(new Error(`connack ${p.returnCode}`));
      if (p.cmd !== "puback") return;
      if (p.messageId !== (acked % 65_535) + 1) throw new Error(`PUBACK ${p.messageId} out of order (expected ${(acked % 65_535) + 1})`);
      acked++;
      if (wake !== undefined && (sent - acked <= WINDOW / 2 || acked === packets.length)) {
        const w = wake;
        wake = undefined;
        w();
      }
    });
    socket.on("error", reject);
  });
  socket.on("data", (chunk) => parser.parse(chunk));
  socket.write(mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId: `bench-publisher-${process.pid}`, keepalive: 60 }));
  await connected;
  console.log("ready");
  await onGo(async () => {
    while (acked < packets.length) {
      const burst: Buffer[] = [];
      while (sent < packets.length && sent - acked < WINDOW) burst.push(packets[sent++]);
      if (burst.length > 0) socket.write(Buffer.concat(burst));
      await new Promise<void>((resolve) => (wake = resolve));
    }
  });
  socket.end(mqttPacket.generate({ cmd: "disconnect" }));
}

/** Waits for "go" on stdin, runs `publish`, prints "published <wall ms> <cpu ms>". */
async function onGo(publish: () => Promise<void>): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  if (process.env.BENCH_DEBUG) console.error(`publisher: go, ${messages.length} messages`);
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await publish();
  const cpu = process.cpuUsage(cpu0);
  console.log(`published ${Math.round(performance.now() - start)} ${Math.round((cpu.user + cpu.system) / 1000)}`);
  rl.close();
}
