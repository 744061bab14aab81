import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { getAddress } from "viem";
import { InputError } from "../../src/errors.js";
import type { Deployment } from "../../src/deploy.js";
import { ReadingOracle__factory } from "../../types/ethers-contracts/index.js";
import type { RelayerConfig } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { Mutex } from "./lock.js";
import { openStore } from "./store/index.js";
import type { ReadingStore } from "./store/store.js";
import { VerifierPool } from "./ingest/verifierPool.js";
import { Ingestor } from "./ingest/ingestor.js";
import { MqttIngest } from "./ingest/mqtt.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "./ingest/broker.js";
import { Batcher } from "./batch/batcher.js";
import { buildFastTree } from "./batch/fastTree.js";
import { createChainClients, assertChainId, loadRelayerKey, type ChainLogger } from "./chain/clients.js";
import { RegistryMirror } from "./chain/registryMirror.js";
import { RootPoster } from "./chain/postRoot.js";
import { claimBatch } from "./chain/claimer.js";
import { createApi, type ChainIntervalView } from "./api/server.js";
import type { Hex } from "./types.js";

/** A running relayer. */
export interface Relayer {
  /** `http://host:port` of the API. */
  httpUrl: string;
  /** The MQTT broker the relayer ingests from, if any. */
  mqttUrl?: string;
  /** Resolves when MQTT ingest is subscribed (at once without MQTT). */
  mqttReady: Promise<void>;
  address: Hex;
  store: ReadingStore;
  ingestor: Ingestor;
  batcher: Batcher;
  metrics: Metrics;
  log: Logger;
  stop(): Promise<void>;
}

function readDeploymentFile(path: string): Deployment {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Deployment;
  } catch (e) {
    throw new InputError(`cannot read deployment ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/**
 * Starts a relayer: store (migrated), registry mirror, signature workers, ingest (HTTP, and MQTT when configured),
 * the batcher that seals intervals and votes on chain, and the API. `stop()` shuts everything down in reverse order,
 * letting queued readings finish first.
 */
export async function startRelayer(
  config: RelayerConfig,
  opts: {
    log?: Logger;
    now?: () => bigint;
    /** Called after each vote attempt with its result, before the result is recorded (observability, fault tests). */
    afterPost?: (intervalId: bigint, status: string) => void;
  } = {},
): Promise<Relayer> {
  const log = opts.log ?? createLogger(config.relayerId, config.log.level);
  const metrics = createMetrics(config.relayerId);
  const deployment = readDeploymentFile(config.chain.deployment);
  const intervalLength = BigInt(deployment.params.intervalLength);
  const chainId = Number(deployment.chainId);
  const privateKey = await loadRelayerKey({
    env: config.chain.privateKeyEnv,
    keystorePath: config.chain.keystorePath,
    passwordEnv: config.chain.passwordEnv,
  });
  const clients = createChainClients({
    rpcUrl: config.chain.rpcUrl,
    chainId,
    privateKey,
    pollingIntervalMs: config.chain.pollMs,
  });
  await assertChainId(clients.publicClient, chainId);
  const clog: ChainLogger = log;
  const oracleAddress = getAddress(deployment.contracts.ReadingOracle.address);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e: Error) => log.warn({ err: e.message }, "stop step failed"));
  };

  try {
    const store = await openStore({
      databaseUrl: config.store.databaseUrl,
      sqlitePath: config.store.sqlitePath,
      postgresSchema: config.store.postgresSchema,
    });
    stops.push(() => store.close());

    const mirror = new RegistryMirror({
      publicClient: clients.publicClient,
      registry: getAddress(deployment.contracts.MeterRegistry.address),
      fromBlock: BigInt(deployment.contracts.MeterRegistry.block),
      pollIntervalMs: config.chain.pollMs,
      logger: clog,
    });
    await mirror.start();
    stops.push(() => mirror.stop());

    const verifier = new VerifierPool({
      workers: config.ingest.workers,
      domain: { chainId: BigInt(chainId), verifyingContract: getAddress(deployment.contracts.MeterRegistry.address) },
    });
    stops.push(() => verifier.close());

    const lock = new Mutex();
    const ingestor = new Ingestor({
      store,
      verifier,
      meters: mirror,
      lock,
      metrics,
      log,
      intervalLength,
      clockSkewSeconds: BigInt(config.ingest.clockSkewSeconds),
      graceSeconds: BigInt(config.batch.graceSeconds),
      batchSize: config.ingest.batchSize,
      batchDelayMs: config.ingest.batchDelayMs,
      maxQueue: config.ingest.maxQueue,
      now: opts.now,
    });
    stops.push(() => ingestor.drain());

    const poster = new RootPoster({
      publicClient: clients.publicClient,
      account: clients.account,
      oracle: oracleAddress,
      confirmations: config.chain.confirmations,
      pollIntervalMs: config.chain.pollMs,
      replaceAfterMs: config.chain.replaceAfterMs,
      onSent: (intervalId, txHash) => store.updateBatchStatus(intervalId, "sent", txHash, Date.now()),
      logger: clog,
    });
    stops.push(async () => poster.stop());

    const batcher = new Batcher({
      store,
      lock,
      poster: {
        post: async (batch) => {
          try {
            const result = await poster.post(batch);
            opts.afterPost?.(batch.intervalId, result.status);
            return result;
          } catch (e) {
            metrics.rpcErrors.inc({ operation: "submitRoot" });
            throw e;
          }
        },
      },
      metrics,
      log,
      intervalLength,
      graceSeconds: BigInt(config.batch.graceSeconds),
      pollMs: config.batch.pollMs,
      onFinal: config.batch.claimOnBehalf
        ? async (batch) => {
            const result = await claimBatch(
              {
                publicClient: clients.publicClient,
                walletClient: clients.walletClient,
                kwh: getAddress(deployment.contracts.KwhToken.address),
                confirmations: config.chain.confirmations,
                logger: clog,
              },
              batch.intervalId,
              buildFastTree(batch.intervalId, batch.leaves),
              batch.leaves.map((l) => l.meter),
            );
            log.info(
              { intervalId: batch.intervalId.toString(), claimed: result.claimed.length, failed: result.failed.length },
              "claimed kWh on behalf of meters",
            );
          }
        : undefined,
      now: opts.now,
    });
    batcher.start();
    stops.push(() => batcher.stop());

    let broker: EmbeddedBroker | undefined;
    let mqtt: MqttIngest | undefined;
    if (config.mqtt) {
      let url = config.mqtt.url;
      if (url === undefined) {
        broker = await startEmbeddedBroker(config.mqtt.embeddedPort ?? 0);
        stops.push(() => broker!.close());
        url = broker.url;
      }
      mqtt = new MqttIngest({
        url,
        clientId: config.mqtt.clientId ?? `relayer-${config.relayerId}`,
        topic: config.mqtt.topic,
        ingestor,
        log,
        maxPayloadBytes: config.http.bodyLimitBytes,
        protocolVersion: config.mqtt.protocolVersion,
        engine: config.mqtt.engine,
      });
      mqtt.start();
      stops.push(() => mqtt!.stop());
    }

    const oracle = ReadingOracle__factory.abi;
    const chainInterval = async (intervalId: bigint): Promise<ChainIntervalView> => {
      const read = <T>(functionName: "getInterval" | "threshold" | "hasVoted", args: readonly unknown[]) =>
        clients.publicClient.readContract({
          address: oracleAddress,
          abi: oracle,
          functionName,
          args,
        } as never) as Promise<T>;
      const [info, threshold, voted] = await Promise.all([
        read<{ status: number; root: Hex; votes: bigint }>("getInterval", [intervalId]),
        read<bigint>("threshold", []),
        read<boolean>("hasVoted", [intervalId, clients.account.address]),
      ]);
      return {
        status: (["none", "pending", "final"] as const)[info.status],
        root: info.root,
        votes: Number(info.votes),
        threshold: Number(threshold),
        hasVoted: voted,
      };
    };

    const api = createApi({
      ingestor,
      store,
      metrics,
      bodyLimitBytes: config.http.bodyLimitBytes,
      chainInterval,
      health: async () => {
        const [readings, block] = await Promise.all([
          store.countReadings(),
          clients.publicClient.getBlockNumber().catch(() => undefined),
        ]);
        const mqttOk = mqtt === undefined || mqtt.connected;
        return {
          ok: block !== undefined && mqttOk,
          relayer: clients.account.address,
          readings,
          queue: ingestor.depth,
          meters: mirror.size,
          chain: { reachable: block !== undefined, block: block ?? null },
          mqtt: mqtt === undefined ? "off" : mqtt.connected ? "connected" : "disconnected",
        };
      },
    });
    await api.listen({ host: config.http.host, port: config.http.port });
    stops.push(() => api.close());
    const { address, port } = api.server.address() as AddressInfo;
    const httpUrl = `http://${address}:${port}`;
    log.info(
      { http: httpUrl, mqtt: broker?.url ?? config.mqtt?.url, relayer: clients.account.address },
      "relayer started",
    );

    return {
      httpUrl,
      mqttUrl: broker?.url ?? config.mqtt?.url,
      mqttReady: mqtt?.ready ?? Promise.resolve(),
      address: clients.account.address,
      store,
      ingestor,
      batcher,
      metrics,
      log,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
