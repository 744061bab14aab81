/**
 * `npm run relayer -- --config <file>`: starts one relayer (ingest over MQTT and HTTP, batching, root posting,
 * proof API) and runs until SIGINT/SIGTERM. Bad configuration stops it with a one-line message.
 */
import { parseArgs } from "node:util";
import { MicrogridError } from "../../src/errors.js";
import { loadConfig } from "./config.js";
import { startRelayer } from "./service.js";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string" } }, strict: true });
  if (values.config === undefined) throw new MicrogridError("usage: npm run relayer -- --config <relayer.json>");
  const config = loadConfig(values.config);
  const relayer = await startRelayer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    relayer.log.info({ signal }, "stopping");
    relayer.stop().then(
      () => process.exit(0),
      (e: Error) => {
        console.error(`Error: ${e.message.split("\n")[0]}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((e: unknown) => {
  console.error(
    `Error: ${e instanceof MicrogridError ? e.message : ((e as Error).message ?? String(e)).split("\n")[0]}`,
  );
  process.exit(1);
});
