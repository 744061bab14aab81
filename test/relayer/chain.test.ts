import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { JsonRpcProvider, Wallet, encryptKeystoreJson } from "ethers";
import type { Hex, IntervalBatch } from "../../oracle/src/types.js";
import {
  ChainOperationError,
  assertChainId,
  createChainClients,
  loadRelayerKey,
  type ChainClients,
} from "../../oracle/src/chain/clients.js";
import { RegistryMirror, type MeterChange } from "../../oracle/src/chain/registryMirror.js";
import { RootPoster, type RootPosterOptions } from "../../oracle/src/chain/postRoot.js";
import { claimBatch } from "../../oracle/src/chain/claimer.js";
import { deploySystem, type Deployment, type System } from "../../src/deploy.js";
import { buildIntervalTree, multiProofFor, type IntervalLeaf } from "../../src/tree.js";
import {
  KwhToken__factory,
  ReadingOracle__factory,
  RejectingReceiver__factory,
} from "../../types/ethers-contracts/index.js";
import { HARDHAT_KEYS } from "./helpers.js";

/** Hardhat's default accounts 0-3: deployer and the three committee relayers. */
const KEYS = { deployer: HARDHAT_KEYS[0], r1: HARDHAT_KEYS[1], r2: HARDHAT_KEYS[2], r3: HARDHAT_KEYS[3] };
const INTERVAL = 900n;
const CHAIN_ID = 31337;
/** Fast retries for tests: 8 retries, 40 ms doubling up to 400 ms. */
const FAST_RETRY = { retries: 8, baseMs: 40, maxMs: 400 };

/** Polls `cond` every 10 ms until it holds or `timeoutMs` passes. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A JSON-RPC proxy in front of the node that misbehaves on demand: answers 503 to the next `failNext` requests,
 * forwards the first `eth_sendRawTransaction` but answers it 502 (a lost response), strips `baseFeePerGas` from
 * blocks (a chain without EIP-1559). Records every raw transaction it sees.
 */
class RpcProxy {
  readonly sentRaw: string[] = [];
  failNext = 0;
  failed = 0;
  dropFirstSendResponse = false;
  stripBaseFee = false;
  readonly #server: http.Server;

  constructor(readonly target: string) {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => void this.#handle(Buffer.concat(chunks).toString("utf8"), res));
    });
  }

  async #handle(body: string, res: http.ServerResponse): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      this.failed += 1;
      res.writeHead(503).end("unavailable");
      return;
    }
    const request = JSON.parse(body) as { method: string; params: unknown[] };
    const upstream = await fetch(this.target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    let text = await upstream.text();
    if (request.method === "eth_sendRawTransaction") {
      this.sentRaw.push(String(request.params[0]));
      if (this.dropFirstSendResponse && this.sentRaw.length === 1) {
        res.writeHead(502).end("bad gateway");
        return;
      }
    }
    if (this.stripBaseFee && request.method.startsWith("eth_getBlockBy")) {
      const reply = JSON.parse(text) as { result?: Record<string, unknown> | null };
      if (reply.result) delete reply.result.baseFeePerGas;
      text = JSON.stringify(reply);
    }
    res.writeHead(upstream.status, { "content-type": "application/json" }).end(text);
  }

  listen(port = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => {
        resolve(`http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`);
      });
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** A free local port: listen on 0, note the port, close. */
async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("relayer chain modules (viem over JSON-RPC)", function () {
  this.timeout(60_000);
  let server: Awaited<ReturnType<typeof network.createServer>>;
  let url: string;
  let provider: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let r1: ChainClients;
  const meters = [0, 1, 2, 3].map(() => Wallet.createRandom().address as Hex);
  const owners = [0, 1].map(() => Wallet.createRandom().address as Hex);

  const rpc = (method: string, params: unknown[] = []) => provider.send(method, params);
  const oracleAddress = () => deployment.contracts.ReadingOracle.address as Hex;
  const nonceOf = (address: string) => r1.publicClient.getTransactionCount({ address: address as Hex });

  /** Moves the chain's clock to the end of the current interval and returns that (now ended) interval. */
  async function endedInterval(): Promise<bigint> {
    const latest = await provider.getBlock("latest");
    const id = BigInt(latest!.timestamp) / INTERVAL;
    await rpc("evm_setNextBlockTimestamp", [Number((id + 1n) * INTERVAL)]);
    await rpc("evm_mine");
    return id;
  }

  function batchOf(intervalId: bigint, salt = 0n): IntervalBatch & { leaves: IntervalLeaf[] } {
    const leaves = meters.map((meter, i) => ({
      meter,
      importWh: 10n * BigInt(i),
      exportWh: 1_000n + BigInt(i) + salt,
    }));
    const tree = buildIntervalTree(intervalId, leaves);
    return {
      intervalId,
      root: tree.root as Hex,
      leafCount: tree.leafCount,
      totalImportWh: tree.totalImportWh,
      totalExportWh: tree.totalExportWh,
      leaves: leaves.map((l) => ({ ...l, meter: l.meter })),
    };
  }

  /** A vote cast directly with ethers (another relayer's node). */
  async function voteWith(key: string, b: IntervalBatch): Promise<void> {
    const oracle = ReadingOracle__factory.connect(oracleAddress(), new Wallet(key, provider));
    await (await oracle.submitRoot(b.intervalId, b.root, b.leafCount, b.totalImportWh, b.totalExportWh)).wait();
  }

  function poster(opts: Partial<RootPosterOptions> = {}, clients = r1): RootPoster {
    return new RootPoster({
      publicClient: clients.publicClient,
      account: clients.account,
      oracle: oracleAddress(),
      pollIntervalMs: 20,
      replaceAfterMs: 60_000,
      retry: FAST_RETRY,
      ...opts,
    });
  }

  /** RootSubmitted events of relayer 1 for an interval: how many of its votes landed. */
  async function votesOfR1(intervalId: bigint): Promise<number> {
    const logs = await r1.publicClient.getContractEvents({
      address: oracleAddress(),
      abi: ReadingOracle__factory.abi,
      eventName: "RootSubmitted",
      args: { intervalId, member: r1.account.address },
      fromBlock: 0n,
    });
    return logs.length;
  }

  async function withoutAutomine<T>(fn: () => Promise<T>): Promise<T> {
    await rpc("evm_setAutomine", [false]);
    try {
      return await fn();
    } finally {
      await rpc("evm_setAutomine", [true]);
      await rpc("evm_mine");
    }
  }

  before(async function () {
    server = await network.createServer("default", "127.0.0.1", 0);
    const { address, port } = await server.listen();
    url = `http://${address}:${port}`;
    provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 20 });
    const deployer = new Wallet(KEYS.deployer, provider);
    ({ system, deployment } = await deploySystem(deployer, "test", {
      intervalLength: INTERVAL,
      relayers: [KEYS.r1, KEYS.r2, KEYS.r3].map((k) => new Wallet(k).address),
      threshold: 2,
      settlementWindow: 3_600n,
    }));
    await (await system.registry.setZone(1, 100_000, 100_000)).wait();
    await (await system.registry.setZone(2, 100_000, 100_000)).wait();
    for (const [i, meter] of meters.entries()) {
      await (
        await system.registry.registerMeter(meter, {
          owner: owners[i % 2],
          zone: 1 + (i % 2),
          technology: i % 4,
          ratedCapacityW: 10_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        })
      ).wait();
    }
    r1 = createChainClients({
      rpcUrl: url,
      chainId: CHAIN_ID,
      privateKey: KEYS.r1,
      pollingIntervalMs: 20,
      transportRetries: 0,
    });
  });

  after(async function () {
    provider?.destroy();
    await server?.close();
  });

  describe("clients", function () {
    it("test_loadRelayerKey_fromEnvOrEncryptedKeystore_neverAPlainKeyFile", async function () {
      const dir = mkdtempSync(join(tmpdir(), "relayer-key-"));
      const wallet = new Wallet(KEYS.r2);
      const keystore = join(dir, "relayer.json");
      writeFileSync(
        keystore,
        await encryptKeystoreJson({ address: wallet.address, privateKey: wallet.privateKey }, "s3cret", {
          scrypt: { N: 1 << 10 },
        }),
      );
      const plain = join(dir, "plain.key");
      writeFileSync(plain, KEYS.r2);
      const environment = { RELAYER_KEY: KEYS.r1, KS_PASSWORD: "s3cret", BAD_PASSWORD: "nope", BAD_KEY: "0x1234" };

      expect(await loadRelayerKey({ env: "RELAYER_KEY", environment })).to.equal(KEYS.r1);
      expect(await loadRelayerKey({ keystorePath: keystore, passwordEnv: "KS_PASSWORD", environment })).to.equal(
        KEYS.r2,
      );
      // An unset variable falls through to the keystore.
      expect(
        await loadRelayerKey({ env: "UNSET", keystorePath: keystore, passwordEnv: "KS_PASSWORD", environment }),
      ).to.equal(KEYS.r2);
      const refusals: [Parameters<typeof loadRelayerKey>[0], RegExp][] = [
        [{ keystorePath: keystore, passwordEnv: "BAD_PASSWORD", environment }, /wrong password/],
        [{ keystorePath: plain, passwordEnv: "KS_PASSWORD", environment }, /not an encrypted JSON keystore/],
        [{ env: "RELAYER_KEY", keystorePath: keystore, passwordEnv: "KS_PASSWORD", environment }, /keep one/],
        [{ env: "BAD_KEY", environment }, /not a private key/],
        [{ env: "UNSET", environment }, /is not set/],
        [{ keystorePath: keystore, passwordEnv: "UNSET", environment }, /password\) is not set/],
      ];
      for (const [source, message] of refusals) {
        const err = await loadRelayerKey(source).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err?.message, JSON.stringify(source)).to.match(message);
        expect(err!.message).not.to.contain(KEYS.r2.slice(2));
      }
    });

    it("test_createChainClients_checksTheChainId", async function () {
      await assertChainId(r1.publicClient, CHAIN_ID);
      expect(r1.walletClient.account.address).to.equal(new Wallet(KEYS.r1).address);
      const err = await assertChainId(r1.publicClient, 1).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.match(/serves chain 31337.*configured for chain 1/);
    });
  });

  describe("RegistryMirror", function () {
    it("test_mirror_loadsExistingMeters_andFollowsRegisterUpdateRevoke", async function () {
      const changes: MeterChange[] = [];
      const mirror = new RegistryMirror({
        publicClient: r1.publicClient,
        registry: deployment.contracts.MeterRegistry.address as Hex,
        fromBlock: BigInt(deployment.contracts.MeterRegistry.block),
        pollIntervalMs: 25,
        chunkSize: 3n, // several getLogs windows even on a short chain
      });
      mirror.onChange((c) => changes.push(c));
      await mirror.start();
      try {
        expect(mirror.size).to.equal(4);
        expect(mirror.lastBlock).to.equal(await r1.publicClient.getBlockNumber());
        const first = mirror.get(meters[1].toLowerCase())!;
        expect(first).to.deep.include({ meter: meters[1], owner: owners[1], zone: 2, index: 1, technology: 1 });
        expect(first.ratedCapacityW).to.equal(10_000n);
        expect(first.revokedAt).to.equal(0n);
        changes.length = 0;

        const fresh = Wallet.createRandom().address as Hex;
        const params = {
          owner: owners[0],
          zone: 1,
          technology: 0,
          ratedCapacityW: 5_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        };
        await (await system.registry.registerMeter(fresh, params)).wait();
        await until(() => mirror.get(fresh) !== undefined, "registration in the mirror");
        expect(mirror.get(fresh)).to.deep.include({ owner: owners[0], zone: 1, index: 4, ratedCapacityW: 5_000n });

        await (
          await system.registry.updateMeter(fresh, { ...params, owner: owners[1], zone: 2, ratedCapacityW: 7_000n })
        ).wait();
        await until(() => mirror.get(fresh)!.zone === 2, "update in the mirror");
        expect(mirror.get(fresh)).to.deep.include({
          owner: owners[1],
          zone: 2,
          index: 4,
          ratedCapacityW: 7_000n,
          revokedAt: 0n,
        });

        const revoke = await (await system.registry.revokeMeter(fresh)).wait();
        await until(() => mirror.get(fresh)!.revokedAt !== 0n, "revocation in the mirror");
        const block = await provider.getBlock(revoke!.blockNumber);
        expect(mirror.get(fresh)!.revokedAt).to.equal(BigInt(block!.timestamp));
        expect(changes.map((c) => c.kind)).to.deep.equal(["registered", "updated", "revoked"]);
        expect(changes[1].previous?.zone).to.equal(1);
        expect(mirror.size).to.equal(5);
      } finally {
        await mirror.stop();
      }
    });

    it("test_mirror_catchesUpAfterRpcErrors", async function () {
      const proxy = new RpcProxy(url);
      const proxied = createChainClients({
        rpcUrl: await proxy.listen(),
        chainId: CHAIN_ID,
        privateKey: KEYS.r1,
        pollingIntervalMs: 20,
        transportRetries: 0,
      });
      const mirror = new RegistryMirror({
        publicClient: proxied.publicClient,
        registry: deployment.contracts.MeterRegistry.address as Hex,
        fromBlock: BigInt(deployment.contracts.MeterRegistry.block),
        pollIntervalMs: 25,
        maxBackoffMs: 150,
      });
      try {
        proxy.failNext = 3; // the initial load fails too, and is retried
        await mirror.start();
        const before = mirror.size;
        proxy.failNext = 6;
        const fresh = Wallet.createRandom().address as Hex;
        await (
          await system.registry.registerMeter(fresh, {
            owner: owners[0],
            zone: 1,
            technology: 3,
            ratedCapacityW: 1_000n,
            recEligible: false,
            accreditationExpiry: 0n,
          })
        ).wait();
        await until(() => mirror.get(fresh) !== undefined, "registration after RPC errors");
        expect(proxy.failed).to.equal(9);
        expect(mirror.size).to.equal(before + 1);
      } finally {
        await mirror.stop();
        await proxy.close();
      }
    });

    it("test_mirror_refusesAFromBlockThatMissesMeters", async function () {
      const mirror = new RegistryMirror({
        publicClient: r1.publicClient,
        registry: deployment.contracts.MeterRegistry.address as Hex,
        fromBlock: (await r1.publicClient.getBlockNumber()) - 2n,
        pollIntervalMs: 25,
      });
      const err = await mirror.start().then(
        () => undefined,
        (e: Error) => e,
      );
      await mirror.stop();
      expect(err).to.be.instanceOf(ChainOperationError);
      expect((err as ChainOperationError).code).to.equal("count_mismatch");
    });
  });

  describe("RootPoster", function () {
    it("test_post_sendsOnce_thenReportsVotedWithoutSending", async function () {
      const intervalId = await endedInterval();
      const batch = batchOf(intervalId);
      const sent: Hex[] = [];
      const p = poster({ onSent: (_id, hash) => void sent.push(hash) });
      const nonce = await nonceOf(p.address);

      const [a, b] = await Promise.all([p.post(batch), p.post(batch)]); // the second call joins the first
      expect(a).to.deep.equal(b);
      expect(a.status).to.equal("voted");
      expect(a.txHash).to.equal(sent[0]);
      expect(sent).to.have.length(1);
      expect(await nonceOf(p.address)).to.equal(nonce + 1);

      const again = await p.post(batch);
      expect(again.status).to.equal("voted");
      expect(again.txHash).to.equal(undefined);
      expect(sent).to.have.length(1);
      expect(await nonceOf(p.address)).to.equal(nonce + 1);
      expect(await votesOfR1(intervalId)).to.equal(1);

      // A second relayer's identical vote finalises the root; posting again reports final, still sending nothing.
      await voteWith(KEYS.r2, batch);
      expect((await p.post(batch)).status).to.equal("final");
      expect(await nonceOf(p.address)).to.equal(nonce + 1);
    });

    it("test_post_waitsForConfirmations", async function () {
      const batch = batchOf(await endedInterval());
      let done = false;
      const posting = poster({ confirmations: 3 })
        .post(batch)
        .then((r) => ((done = true), r));
      await until(async () => (await votesOfR1(batch.intervalId)) === 1, "the vote mined");
      await rpc("evm_mine");
      await new Promise((r) => setTimeout(r, 100));
      expect(done, "2 blocks deep is not 3 confirmations").to.equal(false);
      await rpc("evm_mine");
      const result = await posting;
      expect(result.status).to.equal("voted");
      const receipt = await r1.publicClient.getTransactionReceipt({ hash: result.txHash! });
      expect(await r1.publicClient.getBlockNumber()).to.equal(receipt.blockNumber + 2n);
    });

    it("test_post_newInstanceAfterTheVoteLanded_doesNotResend", async function () {
      const batch = batchOf(await endedInterval());
      const nonce = await nonceOf(r1.account.address);
      expect((await poster().post(batch)).status).to.equal("voted");
      // The process "crashed" before recording the vote: a new poster with no memory finds it on chain.
      const restarted = await poster().post(batch);
      expect(restarted.status).to.equal("voted");
      expect(restarted.txHash, "nothing was sent").to.equal(undefined);
      expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
    });

    it("test_post_restartWhileTheVoteIsPending_waitsInsteadOfResending", async function () {
      const batch = batchOf(await endedInterval());
      const nonce = await nonceOf(r1.account.address);
      const result = await withoutAutomine(async () => {
        const sent: Hex[] = [];
        const first = poster({ onSent: (_id, hash) => void sent.push(hash) });
        const crashed = first.post(batch).catch((e: unknown) => e);
        await until(
          async () =>
            (await r1.publicClient.getTransactionCount({ address: first.address, blockTag: "pending" })) === nonce + 1,
          "the first vote in the mempool",
        );
        first.stop(); // crash: the vote is pending, its hash unrecorded
        expect(((await crashed) as ChainOperationError).code).to.equal("stopped");

        const second = poster({ foreignPendingWaitMs: 10_000 });
        const pending = second.post(batch);
        await new Promise((r) => setTimeout(r, 200));
        expect(await r1.publicClient.getTransactionCount({ address: second.address, blockTag: "pending" })).to.equal(
          nonce + 1,
        );
        await rpc("evm_mine");
        const r = await pending;
        expect(sent).to.have.length(1);
        return r;
      });
      expect(result.status).to.equal("voted");
      expect(result.txHash, "the second poster sent nothing").to.equal(undefined);
      expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
      expect(await votesOfR1(batch.intervalId)).to.equal(1);
    });

    it("test_post_restartWithTheRecordedHash_adoptsThePendingVote", async function () {
      const batch = batchOf(await endedInterval());
      const nonce = await nonceOf(r1.account.address);
      const sent: Hex[] = [];
      const result = await withoutAutomine(async () => {
        const first = poster({ onSent: (_id, hash) => void sent.push(hash) });
        const crashed = first.post(batch).catch((e: unknown) => e);
        await until(
          async () =>
            (await r1.publicClient.getTransactionCount({ address: first.address, blockTag: "pending" })) === nonce + 1,
          "the first vote in the mempool",
        );
        first.stop();
        await crashed;
        const pending = poster().post({ ...batch, txHash: sent[0] });
        await new Promise((r) => setTimeout(r, 100));
        await rpc("evm_mine");
        return pending;
      });
      expect(result).to.deep.equal({ status: "voted", txHash: sent[0] });
      expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
    });

    it("test_post_alreadyVotedRevert_isReportedAsVoted", async function () {
      const batch = batchOf(await endedInterval());
      expect((await poster().post(batch)).status).to.equal("voted");
      const nonce = await nonceOf(r1.account.address);
      // A stale read (another process's vote landing between our read and our send) modelled by a client that
      // always answers hasVoted = false.
      const stale = new Proxy(r1.publicClient, {
        get(target, prop, receiver) {
          if (prop === "readContract") {
            return (args: { functionName: string }) =>
              args.functionName === "hasVoted" ? Promise.resolve(false) : target.readContract(args as never);
          }
          return Reflect.get(target, prop, receiver);
        },
      });
      const staleClients = { ...r1, publicClient: stale };

      // Simulated first: the revert costs nothing.
      const simulated = await poster({}, staleClients).post(batch);
      expect(simulated.status).to.equal("voted");
      expect(simulated.detail).to.match(/ReadingOracleAlreadyVoted/);
      expect(await nonceOf(r1.account.address)).to.equal(nonce);

      // Sent blind (fixed gas, no simulation): mined, reverted, still "voted".
      const mined = await poster({ gasLimit: 300_000n, simulate: false }, staleClients).post(batch);
      expect(mined.status).to.equal("voted");
      expect(mined.detail).to.match(/ReadingOracleAlreadyVoted/);
      const receipt = await r1.publicClient.getTransactionReceipt({ hash: mined.txHash! });
      expect(receipt.status).to.equal("reverted");
      expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
      expect(await votesOfR1(batch.intervalId)).to.equal(1);
    });

    it("test_post_lateVoteMinedAfterTheRootWentFinal_logsTheDecodedError", async function () {
      const batch = batchOf(await endedInterval());
      // The other two relayers' identical votes finalise the root while our reads still show it open (a race
      // between our read and our send), modelled by a client that reports the interval pending and our vote
      // missing until the vote is broadcast.
      let stale = true;
      const staleClient = new Proxy(r1.publicClient, {
        get(target, prop, receiver) {
          if (prop === "readContract") {
            return async (args: { functionName: string }) => {
              const real = await target.readContract(args as never);
              if (!stale) return real;
              if (args.functionName === "hasVoted") return false;
              if (args.functionName === "getInterval") return { ...(real as object), status: 1 };
              return real;
            };
          }
          return Reflect.get(target, prop, receiver);
        },
      });
      await voteWith(KEYS.r2, batch);
      await voteWith(KEYS.r3, batch);
      const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
      const record = (level: string) => (obj: object, msg?: string) =>
        void lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? "" });
      const logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
      const nonce = await nonceOf(r1.account.address);
      const sent: Hex[] = [];
      const onSent = (_id: bigint, hash: Hex) => {
        sent.push(hash);
        stale = false;
      };
      const result = await poster(
        { gasLimit: 300_000n, simulate: false, logger, onSent },
        { ...r1, publicClient: staleClient },
      ).post(batch);

      expect(sent).to.have.length(1);
      const receipt = await r1.publicClient.getTransactionReceipt({ hash: sent[0] });
      expect(receipt.status, "the late vote was mined and reverted").to.equal("reverted");
      expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
      expect(await votesOfR1(batch.intervalId)).to.equal(0);
      // The log line names the decoded custom error with its arguments, and why it is harmless.
      const reverted = lines.filter((l) => l.msg.startsWith("vote reverted"));
      expect(reverted, JSON.stringify(lines.map((l) => l.msg))).to.have.length(1);
      const [line] = reverted;
      expect(line.level).to.equal("warn");
      expect(line.msg).to.not.contain("undefined");
      expect(line.msg).to.contain(
        `vote reverted: ReadingOracleIntervalFinal(intervalId=${batch.intervalId}, finalRoot=${batch.root})`,
      );
      expect(line.msg).to.contain("already final with our root");
      expect(line.obj).to.include({ intervalId: batch.intervalId, txHash: sent[0], status: "final" });
      expect(line.obj.error).to.equal("ReadingOracleIntervalFinal");
      // The result: final (with our values), the reverted vote's hash and the same reason.
      expect(result.status).to.equal("final");
      expect(result.txHash).to.equal(sent[0]);
      expect(result.detail).to.equal(line.msg.slice("vote reverted: ".length));
    });

    it("test_post_finalWithADifferentRoot_isAConflict_andNothingIsSent", async function () {
      const intervalId = await endedInterval();
      const theirs = batchOf(intervalId);
      const ours = batchOf(intervalId, 7n);
      await voteWith(KEYS.r2, theirs);
      await voteWith(KEYS.r3, theirs);
      const nonce = await nonceOf(r1.account.address);
      const sent: Hex[] = [];
      const result = await poster({ onSent: (_id, h) => void sent.push(h) }).post(ours);
      expect(result.status).to.equal("conflict");
      expect(result.detail).to.contain(theirs.root).and.contain(ours.root);
      expect(sent).to.have.length(0);
      expect(await nonceOf(r1.account.address)).to.equal(nonce);
      expect((await poster().post(theirs)).status).to.equal("final");
      expect(await nonceOf(r1.account.address)).to.equal(nonce);
    });

    it("test_post_intervalNotEnded_sendsNothing", async function () {
      const latest = await provider.getBlock("latest");
      const future = BigInt(latest!.timestamp) / INTERVAL + 2n;
      const nonce = await nonceOf(r1.account.address);
      const result = await poster().post(batchOf(future));
      expect(result.status).to.equal("not_ended");
      expect(result.detail).to.match(/ReadingOracleIntervalNotEnded/);
      expect(await nonceOf(r1.account.address)).to.equal(nonce);
    });

    it("test_post_stuckVote_isReplacedWithHigherFeesAndTheSameNonce", async function () {
      const batch = batchOf(await endedInterval());
      const nonce = await nonceOf(r1.account.address);
      const sent: Hex[] = [];
      const { result, first, second } = await withoutAutomine(async () => {
        const p = poster({
          replaceAfterMs: 250,
          maxReplacements: 3,
          stuckAfterMs: 20_000,
          onSent: (_id, hash) => void sent.push(hash),
        });
        const posting = p.post(batch);
        await until(() => sent.length >= 1, "the first vote");
        await until(
          async () =>
            (await r1.publicClient.getTransactionCount({ address: p.address, blockTag: "pending" })) === nonce + 1,
          "the first vote in the mempool",
        );
        const first = await r1.publicClient.getTransaction({ hash: sent[0] });
        await until(() => sent.length >= 2, "the replacement", 3_000);
        await until(
          async () => (await r1.publicClient.getTransaction({ hash: sent[1] }).catch(() => null)) !== null,
          "the replacement in the mempool",
        );
        const second = await r1.publicClient.getTransaction({ hash: sent[1] });
        await rpc("evm_mine");
        return { result: await posting, first, second };
      });
      expect(second.nonce).to.equal(first.nonce).and.to.equal(nonce);
      expect(second.maxFeePerGas! * 1000n >= first.maxFeePerGas! * 1125n, "maxFeePerGas bumped >= 12.5%").to.equal(
        true,
      );
      expect(
        second.maxPriorityFeePerGas! * 1000n >= first.maxPriorityFeePerGas! * 1125n,
        "maxPriorityFeePerGas bumped >= 12.5%",
      ).to.equal(true);
      expect(result.status).to.equal("voted");
      expect(result.txHash).to.equal(sent.at(-1));
      const landed = await r1.publicClient.getTransactionReceipt({ hash: result.txHash! });
      expect(landed.status).to.equal("success");
      const replaced = await r1.publicClient.getTransactionReceipt({ hash: sent[0] }).catch(() => null);
      expect(replaced).to.equal(null);
      expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
      expect(await votesOfR1(batch.intervalId)).to.equal(1);
    });

    it("test_post_rpcDown_retriesWithBackoff_andVotesExactlyOnce", async function () {
      const batch = batchOf(await endedInterval());
      const nonce = await nonceOf(r1.account.address);
      const port = await freePort();
      const proxy = new RpcProxy(url);
      const clients = createChainClients({
        rpcUrl: `http://127.0.0.1:${port}`,
        chainId: CHAIN_ID,
        privateKey: KEYS.r1,
        pollingIntervalMs: 20,
        transportRetries: 0,
      });
      try {
        const posting = poster({}, clients).post(batch); // nothing listens: connection refused
        await new Promise((r) => setTimeout(r, 250));
        proxy.failNext = 3; // then three 503s
        proxy.dropFirstSendResponse = true; // then the node takes the vote but its answer is lost
        await proxy.listen(port);
        const result = await posting;
        expect(result.status).to.equal("voted");
        expect(proxy.failed).to.equal(3);
        expect(proxy.sentRaw.length).to.be.gte(2);
        expect(new Set(proxy.sentRaw).size, "every broadcast carries the same signed vote").to.equal(1);
        expect(await nonceOf(r1.account.address)).to.equal(nonce + 1);
        expect(await votesOfR1(batch.intervalId)).to.equal(1);
      } finally {
        await proxy.close();
      }
    });

    it("test_post_legacyGasPrice_whenBlocksHaveNoBaseFee", async function () {
      const batch = batchOf(await endedInterval());
      const proxy = new RpcProxy(url);
      proxy.stripBaseFee = true;
      try {
        const clients = createChainClients({
          rpcUrl: await proxy.listen(),
          chainId: CHAIN_ID,
          privateKey: KEYS.r1,
          pollingIntervalMs: 20,
          transportRetries: 0,
        });
        const result = await poster({}, clients).post(batch);
        expect(result.status).to.equal("voted");
        const tx = await r1.publicClient.getTransaction({ hash: result.txHash! });
        expect(tx.type).to.equal("legacy");
        expect(tx.gasPrice! > 0n).to.equal(true);
      } finally {
        await proxy.close();
      }
    });
  });

  describe("claimBatch", function () {
    it("test_claimBatch_claimsEveryMeterOnce", async function () {
      const batch = batchOf(await endedInterval());
      const tree = buildIntervalTree(batch.intervalId, batch.leaves);
      await voteWith(KEYS.r2, batch);
      await voteWith(KEYS.r3, batch);
      const source = { multiProof: (ms: Hex[]) => multiProofFor(tree, ms) };
      const ctx = {
        publicClient: r1.publicClient,
        walletClient: r1.walletClient,
        kwh: deployment.contracts.KwhToken.address as Hex,
      };

      const one = await claimBatch(ctx, batch.intervalId, source, [meters[2]]);
      expect(one.claimed).to.deep.equal([meters[2]]);

      const all = await claimBatch(ctx, batch.intervalId, source, meters, 2);
      expect(all.alreadyClaimed).to.deep.equal([meters[2]]);
      expect([...all.claimed].sort()).to.deep.equal([meters[0], meters[1], meters[3]].sort());
      expect(all.txHashes).to.have.length(2);
      expect(all.failed).to.deep.equal([]);

      const kwh = KwhToken__factory.connect(ctx.kwh, provider);
      expect(await kwh.mintedWh(batch.intervalId)).to.equal(batch.totalExportWh);
      for (const m of meters) expect(await kwh.isClaimed(m, batch.intervalId)).to.equal(true);
      const id1 = await kwh.tokenId(1, batch.intervalId);
      expect(await kwh.balanceOf(owners[0], id1)).to.equal(batch.leaves[0].exportWh + batch.leaves[2].exportWh);

      const again = await claimBatch(ctx, batch.intervalId, source, meters);
      expect(again.claimed).to.deep.equal([]);
      expect(again.alreadyClaimed).to.have.length(4);
      expect(again.txHashes).to.deep.equal([]);
    });

    it("test_claimBatch_anOwnerRefusingTokensDoesNotBlockTheOthers", async function () {
      // Registers a fifth meter after the other tests: its owner is a contract that refuses ERC-1155 tokens.
      const receiver = await new RejectingReceiver__factory(new Wallet(KEYS.deployer, provider)).deploy();
      await receiver.waitForDeployment();
      const refusing = Wallet.createRandom().address as Hex;
      await (
        await system.registry.registerMeter(refusing, {
          owner: await receiver.getAddress(),
          zone: 1,
          technology: 0,
          ratedCapacityW: 10_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        })
      ).wait();
      const intervalId = await endedInterval();
      const all = [...meters, refusing];
      const leaves = all.map((meter, i) => ({ meter, importWh: 0n, exportWh: 500n + BigInt(i) }));
      const tree = buildIntervalTree(intervalId, leaves);
      const b: IntervalBatch = {
        intervalId,
        root: tree.root as Hex,
        leafCount: tree.leafCount,
        totalImportWh: tree.totalImportWh,
        totalExportWh: tree.totalExportWh,
        leaves,
      };
      await voteWith(KEYS.r2, b);
      await voteWith(KEYS.r3, b);
      const ctx = {
        publicClient: r1.publicClient,
        walletClient: r1.walletClient,
        kwh: deployment.contracts.KwhToken.address as Hex,
      };
      const result = await claimBatch(ctx, intervalId, { multiProof: (ms: Hex[]) => multiProofFor(tree, ms) }, all);
      expect([...result.claimed].sort()).to.deep.equal([...meters].sort());
      expect(result.failed.map((f) => f.meter)).to.deep.equal([refusing]);
      expect(result.failed[0].reason).to.contain("ERC1155InvalidReceiver");
      const kwh = KwhToken__factory.connect(ctx.kwh, provider);
      expect(await kwh.isClaimed(refusing, intervalId)).to.equal(false);
      for (const m of meters) expect(await kwh.isClaimed(m, intervalId)).to.equal(true);
    });
  });
});
