import { readFileSync } from "node:fs";
import { z } from "zod";
import { InputError } from "../../src/errors.js";

const schema = z
  .object({
    /** Name in logs and metrics; one per relayer identity (key). */
    relayerId: z.string().min(1).default("relayer"),
    chain: z
      .object({
        rpcUrl: z.string().url(),
        /** `deployments/<network>.json` written by `npx hardhat deploy`. */
        deployment: z.string().min(1),
        /** Environment variable holding the relayer's 0x private key … */
        privateKeyEnv: z.string().min(1).optional(),
        /** … or an encrypted JSON keystore whose password is in `passwordEnv`. */
        keystorePath: z.string().min(1).optional(),
        passwordEnv: z.string().min(1).optional(),
        confirmations: z.number().int().min(0).max(64).default(1),
        pollMs: z.number().int().min(10).default(2_000),
        /** Resend a pending vote with higher fees after this long. */
        replaceAfterMs: z.number().int().min(100).default(60_000),
      })
      .strict()
      .refine((c) => c.privateKeyEnv !== undefined || c.keystorePath !== undefined, {
        message: "set privateKeyEnv or keystorePath (keys never live in the config file)",
      }),
    store: z
      .object({
        /** SQLite file (embedded default). `DATABASE_URL` in the environment selects PostgreSQL instead. */
        sqlitePath: z.string().min(1).default("data/relayer.sqlite"),
        databaseUrl: z.string().min(1).optional(),
        /** PostgreSQL schema of this relayer's tables (one per relayer identity sharing a database). */
        postgresSchema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, "lowercase letters, digits and _ (a PostgreSQL identifier)")
          .default("public"),
      })
      .strict()
      .default({}),
    mqtt: z
      .object({
        /** Broker URL (`mqtt://127.0.0.1:1883`); `MQTT_URL` overrides. Omit, with `embedded`, for an in-process broker. */
        url: z.string().min(1).optional(),
        /** Start an in-process MQTT broker (aedes) on this port (0 = any free port). */
        embeddedPort: z.number().int().min(0).max(65_535).optional(),
        clientId: z.string().min(1).optional(),
        topic: z.string().min(1).default("meters/+/readings"),
        /** 4 = MQTT 3.1.1 (every broker), 5 = MQTT 5 (Mosquitto, EMQX). */
        protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
        /** `pipelined`: many readings in flight, acked in order after storage; `mqtt.js`: one at a time (MQTT 5, TLS). */
        engine: z.enum(["pipelined", "mqtt.js"]).default("pipelined"),
      })
      .strict()
      .optional(),
    http: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        port: z.number().int().min(0).max(65_535).default(8_080),
        bodyLimitBytes: z
          .number()
          .int()
          .min(1_024)
          .max(64 * 1024 * 1024)
          .default(1_048_576),
      })
      .strict()
      .default({}),
    ingest: z
      .object({
        clockSkewSeconds: z.number().int().min(0).max(3_600).default(120),
        /** Signature-verification worker threads (0 = on the main thread). */
        workers: z.number().int().min(0).max(64).default(2),
        /** Readings verified and stored together. */
        batchSize: z.number().int().min(1).max(10_000).default(500),
        /** Longest wait before a partial batch is processed. */
        batchDelayMs: z.number().int().min(0).max(10_000).default(5),
        /** Readings waiting at most; beyond it HTTP answers 503 and MQTT stops reading (back-pressure). */
        maxQueue: z.number().int().min(1).max(10_000_000).default(50_000),
      })
      .strict()
      .default({}),
    batch: z
      .object({
        /** Seconds after an interval ends before its tree is built; later readings are `sealed`. */
        graceSeconds: z.number().int().min(0).max(86_400).default(60),
        pollMs: z.number().int().min(10).default(1_000),
        /** Claim kWh on behalf of meters after the root is final. */
        claimOnBehalf: z.boolean().default(false),
      })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
      .strict()
      .default({}),
  })
  .strict();

/** The relayer's validated configuration. */
export type RelayerConfig = z.infer<typeof schema>;
export type RelayerConfigInput = z.input<typeof schema>;

function describe(issue: z.ZodIssue): string {
  const path = issue.path.join(".") || "(config)";
  if (issue.code === "unrecognized_keys")
    return `${path}: unknown setting ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  return `${path}: ${issue.message}`;
}

/** Validates a configuration object (environment overrides applied); one-line InputError naming the bad value. */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): RelayerConfig {
  const withEnv = structuredClone(input ?? {}) as Record<string, Record<string, unknown> | undefined>;
  if (env.DATABASE_URL) withEnv.store = { ...(withEnv.store ?? {}), databaseUrl: env.DATABASE_URL };
  if (env.MQTT_URL) withEnv.mqtt = { ...(withEnv.mqtt ?? {}), url: env.MQTT_URL, embeddedPort: undefined };
  if (env.RELAYER_RPC_URL && withEnv.chain) withEnv.chain = { ...withEnv.chain, rpcUrl: env.RELAYER_RPC_URL };
  const result = schema.safeParse(withEnv);
  if (!result.success) throw new InputError(`invalid relayer config: ${describe(result.error.issues[0])}`);
  const config = result.data;
  if (config.mqtt && config.mqtt.url === undefined && config.mqtt.embeddedPort === undefined) {
    throw new InputError("invalid relayer config: mqtt: set url (or MQTT_URL) or embeddedPort");
  }
  return config;
}

/** Reads and validates a JSON config file. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): RelayerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read relayer config ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  return parseConfig(raw, env);
}
