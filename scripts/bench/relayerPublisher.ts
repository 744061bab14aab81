/**
 * Child process of `npm run bench:relayer`: creates `meters` deterministic meter keys, signs `intervals`
 * consecutive cumulative readings for each (before timing starts), writes the meter addresses to `addressesFile`,
 * prints "ready", then on "go" (stdin) publishes everything over MQTT (QoS 1) and prints "published <ms>".
 */
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import secp256k1 from "secp256k1";
import { connectAsync } from "mqtt";
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
const client = await connectAsync(url, { clientId: `bench-publisher-${process.pid}`, clean: true });
console.log("ready");
const rl = createInterface({ input: process.stdin });
rl.once("line", async () => {
  if (process.env.BENCH_DEBUG) console.error(`publisher: go, ${messages.length} messages`);
  const start = performance.now();
  const window = 2_000;
  for (let i = 0; i < messages.length; i += window) {
    await Promise.all(messages.slice(i, i + window).map((m) => client.publishAsync(m.topic, m.body, { qos: 1 })));
  }
  console.log(`published ${Math.round(performance.now() - start)}`);
  await client.endAsync();
  rl.close();
});
