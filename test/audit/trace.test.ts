import { expect } from "chai";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { JsonRpcProvider, Wallet, keccak256, toUtf8Bytes, type JsonRpcSigner, type TypedDataDomain } from "ethers";
import type { FastifyInstance } from "fastify";
import { attachSystem, deploySystem, writeDeployment, type Deployment, type System } from "../../src/deploy.js";
import { InputError } from "../../src/errors.js";
import { certificateId, formatVintage, vintageOf } from "../../src/certificates.js";
import { kwhTokenId } from "../../src/intervals.js";
import { readingDigest, readingDomain, signReading, type MeterReading } from "../../src/readings.js";
import { buildIntervalTree, proofFor, type IntervalTree } from "../../src/tree.js";
import { clearAuction, commitOrder, fundAccount, revealOrder, type Committed } from "../../src/ops/auction.js";
import { claimKwh, claimKwhBatch } from "../../src/ops/kwh.js";
import { submitTree } from "../../src/ops/oracle.js";
import { encodeClaimData, formatCertificateId, retireCertificates } from "../../src/ops/rec.js";
import { collect, deliver } from "../../src/ops/settlement.js";
import { traceReading, traceRec, traceTx, type ReadingTrace } from "../../src/ops/trace.js";
import { toJson } from "../../tasks/common.js";
import { recTree, renderTree, traceForm, txTree } from "../../tasks/auditTrace.js";
import { createApi } from "../../oracle/src/api/server.js";
import { createMetrics } from "../../oracle/src/metrics.js";
import { SqliteStore } from "../../oracle/src/store/sqlite.js";
import type { Ingestor } from "../../oracle/src/ingest/ingestor.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";
import { expectOneLineError, hardhat, rejection, startTaskNode } from "../tasks/helpers.js";

// Hardhat's default accounts: 0 deployer (registrar, treasury), 1–3 the oracle committee (threshold 2).
const SELLER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"; // 4: owns the traced solar meter, sells in zone 1
const BUYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"; // 5: buys in zone 1
const OTHER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"; // 6: owns a battery meter in the same tree
const BENEFICIARY = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"; // 7: the certificates are retired for it

const LENGTH = 300n;
const meterKey = (i: number) => new Wallet(keccak256(toUtf8Bytes(`trace test meter ${i}`)));
const METER = meterKey(1); // solar, REC-eligible, owned by SELLER
const BATTERY = meterKey(2); // battery, owned by OTHER

const iso = (unix: bigint) => new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z");

/** A relayer API over its own in-memory SQLite store, on a free port. */
async function startRelayerApi(readings: SignedReading[], batch?: IntervalTree) {
  const store = new SqliteStore(":memory:");
  await store.open();
  for (const r of readings) await store.insertReadings([r], "http", 1_700_000_000);
  if (batch !== undefined)
    await store.saveBatch(
      {
        intervalId: batch.intervalId,
        root: batch.root as Hex,
        leafCount: batch.leafCount,
        totalImportWh: batch.totalImportWh,
        totalExportWh: batch.totalExportWh,
        leaves: [...batch.tree.entries()].map(([, v]) => ({ meter: v[0] as Hex, importWh: v[2], exportWh: v[3] })),
      },
      1_700_000_000,
    );
  const app: FastifyInstance = createApi({
    ingestor: { full: false } as unknown as Ingestor,
    store,
    metrics: createMetrics(`trace-test-${Math.random()}`),
    bodyLimitBytes: 65_536,
    chainInterval: async () => {
      throw new Error("no chain in this test");
    },
    health: async () => ({ ok: true }),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe("audit trace: one reading from meter to money, rebuilt from events and the relayer API", function () {
  this.timeout(120_000);
  let node: Awaited<ReturnType<typeof startTaskNode>>;
  let rpc: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let domain: TypedDataDomain;
  let interval: bigint;
  let tree: IntervalTree;
  let relayer: Awaited<ReturnType<typeof startRelayerApi>>;
  const closers: (() => Promise<void>)[] = [];
  const orders: Record<string, Committed> = {};
  const signed: Record<string, SignedReading> = {};
  const tx: Record<string, string> = {};
  let clearTx: string;
  let revealTx: Record<string, string>;
  let certId: bigint;
  let full: ReadingTrace;
  let committee: string[];

  const signer = (address: string): Promise<JsonRpcSigner> => rpc.getSigner(address);
  const sys = async (address: string) => attachSystem(deployment, await signer(address));
  const at = async (hash: string) => ({ txHash: hash, block: (await rpc.getTransactionReceipt(hash))!.blockNumber });
  const opts = (relayerUrl?: string) => ({ relayerUrl, fromBlock: deployment.block });
  const task = (env: NodeJS.ProcessEnv, ...args: string[]) => hardhat(env, ...args, "--network", "localhost");

  async function setTime(t: bigint) {
    await rpc.send("evm_setNextBlockTimestamp", [Number(t)]);
    await rpc.send("evm_mine", []);
  }

  async function sign(key: Wallet, r: MeterReading): Promise<SignedReading> {
    return { ...r, meter: r.meter as Hex, signature: (await signReading(key, domain, r)) as Hex };
  }

  before(async function () {
    node = await startTaskNode("microgrid-trace-");
    // No cached block number: each trace reads the chain as it is after the previous transaction.
    rpc = new JsonRpcProvider(node.url, undefined, { cacheTimeout: -1, pollingInterval: 50 });
    committee = await Promise.all([1, 2, 3].map(async (i) => (await rpc.getSigner(i)).address));
    ({ system, deployment } = await deploySystem(await rpc.getSigner(0), "localhost", {
      intervalLength: LENGTH,
      relayers: committee,
      threshold: 2,
    }));
    writeDeployment(node.dir, deployment);
    domain = readingDomain((await rpc.getNetwork()).chainId, await system.registry.getAddress());
    await (await system.registry.setZone(1, 600_000, 600_000)).wait();
    const now = BigInt((await rpc.getBlock("latest"))!.timestamp);
    for (const [key, owner, technology, rec] of [
      [METER, SELLER, 0, true],
      [BATTERY, OTHER, 2, false],
    ] as const) {
      await (
        await system.registry.registerMeter(key.address, {
          owner,
          zone: 1,
          technology,
          ratedCapacityW: 600_000n,
          recEligible: rec,
          accreditationExpiry: rec ? now + 365n * 86_400n : 0n,
        })
      ).wait();
    }
    for (const account of [SELLER, BUYER]) await fundAccount(system, deployment, account, 50_000_000n);

    // The auction of the interval: SELLER sells 800 Wh from the solar meter, BUYER buys 600 Wh.
    interval = (now + 8n * LENGTH) / LENGTH + 1n;
    const s = await system.auction.schedule(interval);
    await setTime(s.commitStart + 1n);
    const book: [string, string, bigint, bigint][] = [
      [SELLER, "sell", 800n, 100_000n],
      [BUYER, "buy", 600n, 300_000n],
    ];
    for (const [trader, side, quantityWh, limitPrice] of book)
      orders[trader] = await commitOrder(await sys(trader), await signer(trader), {
        intervalId: interval,
        side,
        zone: 1,
        quantityWh,
        limitPrice,
        meter: side === "sell" ? METER.address : undefined,
        saltFile: join(node.dir, `${trader}.json`),
      });
    await setTime(s.revealStart + 1n);
    revealTx = {};
    for (const [trader] of book)
      revealTx[trader] = (await revealOrder(await sys(trader), await signer(trader), orders[trader].file)).txHash;
    await setTime(s.gateClosure + 1n);
    clearTx = (await clearAuction(system, interval)).txHash;

    // The interval ends. The meters signed cumulative readings; the relayer stored them and built the tree.
    await setTime((interval + 1n) * LENGTH + 1n);
    signed.base = await sign(METER, {
      meter: METER.address,
      intervalId: interval - 1n,
      importWhTotal: 5_000n,
      exportWhTotal: 20_000n,
      timestamp: interval * LENGTH,
    });
    signed.reading = await sign(METER, {
      meter: METER.address,
      intervalId: interval,
      importWhTotal: 5_010n,
      exportWhTotal: 21_000n,
      timestamp: (interval + 1n) * LENGTH,
    });
    signed.batteryBase = await sign(BATTERY, {
      ...signed.base,
      meter: BATTERY.address,
      importWhTotal: 100n,
      exportWhTotal: 0n,
    });
    signed.battery = await sign(BATTERY, {
      ...signed.reading,
      meter: BATTERY.address,
      importWhTotal: 400n,
      exportWhTotal: 0n,
    });
    tree = buildIntervalTree(interval, [
      { meter: METER.address, importWh: 10n, exportWh: 1_000n },
      { meter: BATTERY.address, importWh: 300n, exportWh: 0n },
    ]);
    relayer = await startRelayerApi([signed.base, signed.reading, signed.batteryBase, signed.battery], tree);
    closers.push(relayer.close);

    // Two of the committee vote; anyone claims the solar meter's leaf: 1,000 Wh of kWh and certificates.
    tx.vote1 = await submitTree(system.oracle.connect(await rpc.getSigner(1)), tree);
    tx.vote2 = await submitTree(system.oracle.connect(await rpc.getSigner(2)), tree);
    tx.claim = await claimKwh(system.kwh, tree, METER.address);
    // The battery's leaf is claimed with a multi-proof (as the relayer's claimer does): nothing to mint.
    [tx.batteryClaim] = await claimKwhBatch(system.kwh, tree, [BATTERY.address]);
    // The seller delivers its 600 Wh fill; the buyer collects; 400 Wh of certificates are retired.
    tx.deliver = (
      await deliver(await sys(SELLER), await signer(SELLER), interval, { fromBlock: deployment.block })
    ).settlements[0].txHash;
    tx.collect = (
      await collect(await sys(BUYER), await signer(BUYER), interval, { fromBlock: deployment.block })
    ).collections[0].txHash;
    certId = certificateId({
      meter: METER.address,
      vintage: vintageOf(interval * LENGTH),
      technology: "Solar",
      zone: 1,
    });
    tx.retire = (
      await retireCertificates(await sys(SELLER), await signer(SELLER), {
        id: certId,
        amount: 400n,
        beneficiary: BENEFICIARY,
        claimData: encodeClaimData({ period: "2026-01", location: "Feeder 1" }),
      })
    ).txHash;
  });

  after(async function () {
    for (const close of closers) await close();
    rpc?.destroy();
    await node?.close();
  });

  /** The expected signed-reading stage: the stored reading with its signature recovered to `signer`. */
  function checked(r: SignedReading, signerAddress: string) {
    return {
      meter: r.meter,
      intervalId: r.intervalId,
      importWhTotal: r.importWhTotal,
      exportWhTotal: r.exportWhTotal,
      timestamp: r.timestamp,
      signature: r.signature,
      digest: readingDigest(domain, r),
      recoveredSigner: signerAddress,
      signatureValid: signerAddress === METER.address,
    };
  }

  it("test_traceReading_rebuildsEveryStageExactly", async function () {
    full = await traceReading(system, { meter: METER.address, intervalId: interval, ...opts(relayer.url) });
    const e = system.escrow;
    const [sold] = await e.queryFilter(e.filters.SellerSettled(interval), deployment.block);
    const [bought] = await e.queryFilter(e.filters.BuyerCollected(interval), deployment.block);
    const [fill, price] = await system.auction.fillOf(interval, SELLER, orders[SELLER].commitment);
    expect([fill, sold.args.deliveredWh, bought.args.receivedWh]).to.deep.equal([600n, 600n, 600n]);
    const claimAt = await at(tx.claim);
    const vote2At = await at(tx.vote2);
    const id = kwhTokenId(1, interval);
    expect(full).to.deep.equal({
      kind: "reading",
      meter: METER.address,
      intervalId: interval,
      interval: { start: iso(interval * LENGTH), end: iso((interval + 1n) * LENGTH) },
      asOfBlock: await rpc.getBlockNumber(),
      registration: { owner: SELLER, zone: 1, technology: "solar", status: "active", recEligible: true },
      reading: {
        source: relayer.url,
        ...checked(signed.reading, METER.address),
        baseline: checked(signed.base, METER.address),
        delta: { importWh: 10n, exportWh: 1_000n },
        matchesLeaf: true,
        conflicts: [],
      },
      leaf: {
        meter: METER.address,
        intervalId: interval,
        importWh: 10n,
        exportWh: 1_000n,
        source: "claim",
        leafHash: tree.tree.leafHash([METER.address, interval, 10n, 1_000n]),
        proof: proofFor(tree, METER.address).proof,
        proofSource: "relayer",
        multiProof: null,
        verifiesAgainstRoot: true,
        claimed: true,
        relayerMatchesClaim: true,
      },
      root: {
        intervalId: interval,
        status: "final",
        root: tree.root,
        leafCount: 2,
        totalImportWh: 310n,
        totalExportWh: 1_000n,
        threshold: 2,
        votes: [
          { relayer: committee[0], ...(await at(tx.vote1)) },
          { relayer: committee[1], ...vote2At },
        ],
        finalized: { ...vote2At, votes: 2 },
        conflicts: [],
        relayerRoot: tree.root,
      },
      mints: [{ tokenId: id, zone: 1, intervalId: interval, amount: 1_000n, importWh: 10n, to: SELLER, ...claimAt }],
      certificates: [
        {
          certificateId: certId,
          meter: METER.address,
          technology: "Solar",
          vintage: vintageOf(interval * LENGTH),
          zone: 1,
          intervalId: interval,
          amount: 1_000n,
          to: SELLER,
          ...claimAt,
        },
      ],
      orders: [
        {
          intervalId: interval,
          commitment: orders[SELLER].commitment,
          trader: SELLER,
          side: "sell",
          zone: 1,
          quantityWh: 800n,
          limitPrice: 100_000n,
          meter: METER.address,
          collateral: orders[SELLER].collateral,
          filledWh: 600n,
          price,
          txs: {
            commit: await at(orders[SELLER].txHash),
            reveal: await at(revealTx[SELLER]),
            clear: await at(clearTx),
            withdraw: null,
          },
        },
      ],
      escrow: [
        {
          kind: "deliver",
          trader: SELLER,
          commitment: orders[SELLER].commitment,
          zone: 1,
          filledWh: 600n,
          Wh: 600n,
          price,
          paid: (600n * price) / 1000n,
          bondReturned: sold.args.bondReturned,
          slashed: 0n,
          ...(await at(tx.deliver)),
        },
        {
          kind: "collect",
          trader: BUYER,
          commitment: orders[BUYER].commitment,
          zone: 1,
          filledWh: 600n,
          Wh: 600n,
          tokenId: id,
          receivedWh: 600n,
          price,
          paid: bought.args.payment,
          compensation: 0n,
          refunded: bought.args.refunded,
          ...(await at(tx.collect)),
        },
      ],
      deals: [],
      retirements: [
        {
          receiptId: 1n,
          certificateId: certId,
          amount: 400n,
          holder: SELLER,
          beneficiary: BENEFICIARY,
          claimIssuer: SELLER,
          claimData: '{"period":"2026-01","location":"Feeder 1"}',
          ...(await at(tx.retire)),
        },
      ],
      problems: [],
    });
    expect(sold.transactionHash).to.equal(tx.deliver);
    expect(bought.args.payment).to.equal((600n * price + 999n) / 1000n);
  });

  it("test_traceReading_relayerDown_readingUnavailableButTheChainPartComplete", async function () {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const t = await traceReading(system, { meter: METER.address, intervalId: interval, ...opts(url) });
    expect(t.reading).to.have.property("source", url);
    expect((t.reading as { unavailable: string }).unavailable).to.match(
      new RegExp(`^relayer ${url} unreachable: ECONNREFUSED$`),
    );
    // The proof comes from the claim transaction's calldata and still verifies against the root on chain.
    expect(t.leaf).to.deep.equal({
      ...full.leaf,
      proofSource: "claim transaction",
      relayerMatchesClaim: null,
    });
    expect(t.root).to.deep.equal({ ...full.root, relayerRoot: null });
    const same = ["registration", "mints", "certificates", "orders", "escrow", "deals", "retirements", "problems"];
    for (const k of same) expect(t[k as keyof ReadingTrace], k).to.deep.equal(full[k as keyof ReadingTrace]);
    // Without any relayer the chain part is the same.
    const none = await traceReading(system, { meter: METER.address, intervalId: interval, ...opts() });
    expect(none.reading).to.deep.equal({
      source: null,
      unavailable: "no relayer API given (--relayer or RELAYER_URL): the chain part only",
    });
    expect(none.leaf).to.deep.equal(t.leaf);
  });

  it("test_traceReading_tamperedStoredReadings_areFlagged", async function () {
    // A reading signed by another key, stored as if it were the meter's.
    const forged = await sign(BATTERY, { ...signed.reading, meter: METER.address });
    const wrongKey = await startRelayerApi([signed.base, forged]);
    closers.push(wrongKey.close);
    const a = await traceReading(system, { meter: METER.address, intervalId: interval, ...opts(wrongKey.url) });
    expect(a.reading).to.deep.include({
      signature: forged.signature,
      recoveredSigner: BATTERY.address,
      signatureValid: false,
      matchesLeaf: true,
    });
    expect(a.problems).to.deep.equal([
      `the stored reading's signature recovers to ${BATTERY.address}, not the meter ${METER.address}`,
    ]);
    // No batch on this relayer: the proof is the claim's.
    expect(a.leaf).to.deep.include({ proofSource: "claim transaction", verifiesAgainstRoot: true });

    // A genuinely signed reading whose Wh are not the leaf's, and the honest one kept as a conflict.
    const inflated = await sign(METER, { ...signed.reading, exportWhTotal: 21_500n });
    const wrongWh = await startRelayerApi([signed.base, inflated, signed.reading]);
    closers.push(wrongWh.close);
    const b = await traceReading(system, { meter: METER.address, intervalId: interval, ...opts(wrongWh.url) });
    expect(b.reading).to.deep.include({
      exportWhTotal: 21_500n,
      signatureValid: true,
      delta: { importWh: 10n, exportWh: 1_500n },
      matchesLeaf: false,
    });
    expect((b.reading as { conflicts: unknown[] }).conflicts).to.deep.equal([
      { ...checked(signed.reading, METER.address), via: "http", receivedAt: 1_700_000_000 },
    ]);
    expect(b.problems).to.deep.equal([
      "the signed readings give import 10 Wh, export 1500 Wh; the leaf has import 10 Wh, export 1000 Wh",
      "the relayer kept 1 conflicting signed reading(s) of this meter and interval",
    ]);
    // The chain's figures are not moved by the relayer's.
    expect(b.mints).to.deep.equal(full.mints);
  });

  it("test_traceReading_multiProofClaim_verifiesFromTheCalldata", async function () {
    const t = await traceReading(system, { meter: BATTERY.address, intervalId: interval, ...opts() });
    const p = tree.tree.getMultiProof([[...tree.tree.entries()].find(([, v]) => v[0] === BATTERY.address)![0]]);
    expect(t.leaf).to.deep.equal({
      meter: BATTERY.address,
      intervalId: interval,
      importWh: 300n,
      exportWh: 0n,
      source: "claim",
      leafHash: tree.tree.leafHash([BATTERY.address, interval, 300n, 0n]),
      proof: p.proof,
      proofSource: "claim transaction",
      multiProof: { leaves: [{ meter: BATTERY.address, importWh: 300n, exportWh: 0n }], proofFlags: p.proofFlags },
      verifiesAgainstRoot: true,
      claimed: true,
      relayerMatchesClaim: null,
    });
    expect(t.mints).to.deep.equal([
      {
        tokenId: kwhTokenId(1, interval),
        zone: 1,
        intervalId: interval,
        amount: 0n,
        importWh: 300n,
        to: OTHER,
        ...(await at(tx.batteryClaim)),
      },
    ]);
    expect([t.certificates, t.orders, t.escrow, t.deals, t.retirements, t.problems]).to.deep.equal([
      [],
      [],
      [],
      [],
      [],
      [],
    ]);
    const withRelayer = await traceReading(system, {
      meter: BATTERY.address,
      intervalId: interval,
      ...opts(relayer.url),
    });
    expect(withRelayer.reading).to.deep.include({ delta: { importWh: 300n, exportWh: 0n }, matchesLeaf: true });
    expect(withRelayer.reading).to.deep.include({ signatureValid: true, recoveredSigner: BATTERY.address });
  });

  it("test_traceTx_claimTransaction_tracesTheReadingItMinted", async function () {
    const t = await traceTx(system, tx.claim, opts(relayer.url));
    const receipt = (await rpc.getTransactionReceipt(tx.claim))!;
    expect(t.tx).to.deep.include({
      hash: tx.claim,
      block: receipt.blockNumber,
      from: receipt.from,
      to: await system.kwh.getAddress(),
      call: "KwhToken.claim",
      status: "success",
    });
    expect(t.tx.events.map((e) => `${e.contract}.${e.name}`)).to.deep.equal([
      "KwhToken.KwhClaimed",
      "KwhToken.TransferSingle",
      "RecToken.CertificatesIssued",
      "RecToken.TransferSingle",
    ]);
    expect(t.tx.events[0].args).to.deep.equal({
      meter: METER.address,
      intervalId: interval,
      owner: SELLER,
      id: kwhTokenId(1, interval),
      importWh: 10n,
      exportWh: 1_000n,
    });
    expect(t.touched).to.deep.equal({
      readings: [{ meter: METER.address, intervalId: interval }],
      orders: [],
      certificates: [],
      intervals: [interval],
    });
    expect(t.readings).to.deep.equal([{ ...full, asOfBlock: t.asOfBlock }]);
    expect([t.readingsOmitted, t.orders, t.certificates]).to.deep.equal([0, [], []]);

    // A collection traces back to the seller whose delivery it drew on; a retirement to its certificate class.
    const c = await traceTx(system, tx.collect, opts(relayer.url));
    expect(c.touched.orders).to.deep.equal([
      { intervalId: interval, trader: BUYER, commitment: orders[BUYER].commitment.toLowerCase() },
    ]);
    expect(c.orders.map((o) => [o.side, o.trader, o.filledWh])).to.deep.equal([["buy", BUYER, 600n]]);
    expect(c.readings.map((r) => [r.meter, r.intervalId])).to.deep.equal([[METER.address, interval]]);
    const r = await traceTx(system, tx.retire, opts());
    expect(r.touched.certificates).to.deep.equal([certId]);
    expect(r.certificates.map((x) => x.totals)).to.deep.equal([
      { issuedWh: 1_000n, retiredWh: 400n, outstandingWh: 600n },
    ]);
  });

  it("test_traceRec_findsTheIssuingClaimAndTheRetirement", async function () {
    const t = await traceRec(system, formatCertificateId(certId), opts(relayer.url));
    expect(t).to.deep.equal({
      kind: "rec",
      asOfBlock: full.asOfBlock,
      certificate: {
        id: certId,
        meter: METER.address,
        vintage: vintageOf(interval * LENGTH),
        technology: "Solar",
        zone: 1,
      },
      issued: full.certificates,
      retirements: full.retirements,
      deals: [],
      totals: { issuedWh: 1_000n, retiredWh: 400n, outstandingWh: 600n },
      readings: [full],
      readingsOmitted: 0,
    });
    // The same id in decimal.
    expect((await traceRec(system, certId.toString(), opts())).issued).to.deep.equal(full.certificates);
  });

  it("test_trace_badInput_failsWithOneLineInputErrors", async function () {
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => traceReading(system, { meter: "0x1234", intervalId: interval, ...opts() }),
        /^--meter "0x1234" is not an address$/,
      ],
      [
        () => traceReading(system, { meter: METER.address, intervalId: "x", ...opts() }),
        /^--interval "x" is not a whole number$/,
      ],
      [
        () => traceReading(system, { meter: METER.address, intervalId: interval, ...opts("ftp://x") }),
        /^relayer URL "ftp:\/\/x" must be http/,
      ],
      [() => traceTx(system, "0x1234", opts()), /^transaction hash "0x1234" is not 32 bytes of 0x hex$/],
      [
        () => traceTx(system, keccak256(toUtf8Bytes("no such transaction")), opts()),
        /^unknown transaction 0x[0-9a-f]{64}: the network has no transaction with this hash$/,
      ],
      [() => traceRec(system, "12", opts()), /^certificate id "12" is not a certificate class id$/],
      [() => traceRec(system, "zz", opts()), /^certificate id "zz" is not a number/],
    ];
    for (const [run, pattern] of cases) {
      const e = await rejection(run());
      expect(e, String(pattern)).to.be.instanceOf(InputError);
      expect(e.message).to.match(pattern);
      expect(e.message).to.not.contain("\n");
    }
    // An interval nothing happened in is not an error: every stage is empty.
    const empty = await traceReading(system, { meter: METER.address, intervalId: interval + 50n, ...opts() });
    expect([empty.root.status, empty.leaf, empty.mints, empty.orders, empty.escrow]).to.deep.equal([
      "none",
      { unavailable: "the leaf was not claimed on chain and no relayer API was given" },
      [],
      [],
      [],
    ]);
  });

  it("test_task_overJsonRpc_printsTheTreeAndJson", async function () {
    const env: NodeJS.ProcessEnv = { ...node.env };
    delete env.RELAYER_URL;
    const I = interval.toString();
    const text = await task(env, "audit", "trace", "--meter", METER.address, "--interval", I, "--relayer", relayer.url);
    expect(text.code, text.stderr).to.equal(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).to.equal(
      `reading of meter ${METER.address} in interval ${I} (${full.interval.start} – ${full.interval.end}), chain read to block ${full.asOfBlock}`,
    );
    const vote1 = await at(tx.vote1);
    const claimAt = await at(tx.claim);
    for (const line of [
      `├─ meter: owner ${SELLER}, zone 1, solar, active, REC-eligible`,
      `├─ signed reading (relayer ${relayer.url})`,
      `│  ├─ signature ${signed.reading.signature}: signed by ${METER.address} — valid`,
      "│  ├─ delta: import 10 Wh, export 1000 Wh — matches the leaf",
      "│  └─ conflicting readings kept by the relayer: none",
      `├─ leaf [${METER.address}, ${I}, import 10 Wh, export 1000 Wh] from the claim on chain`,
      "│  ├─ verifies against the root on chain: yes",
      "│  └─ the relayer's leaf matches the claim: yes",
      `├─ root ${tree.root} final: 2 leaves, import 310 Wh, export 1000 Wh (threshold 2)`,
      `│  ├─ vote by ${committee[0]} (tx ${vote1.txHash}, block ${vote1.block})`,
      `├─ kWh mints`,
      `│  └─ 1000 Wh of id ${kwhTokenId(1, interval)} (zone 1, interval ${I}) to ${SELLER} (tx ${claimAt.txHash}, block ${claimAt.block})`,
      `│  └─ 1000 Wh of class ${formatCertificateId(certId)} (Solar, ${formatVintage(vintageOf(interval * LENGTH))}, zone 1) to ${SELLER} (tx ${claimAt.txHash}, block ${claimAt.block})`,
      "├─ deals: none",
      "└─ problems: none",
    ])
      expect(lines, line).to.include(line);
    expect(text.stdout).to.match(
      /│  └─ sell 0x[0-9a-f]{64} by .*: zone 1, 800 Wh at limit 100000; filled 600 Wh at \d+/,
    );
    expect(text.stdout).to.contain(`│  ├─ deliver by ${SELLER} (order ${orders[SELLER].commitment}): 600 of 600 Wh at`);
    expect(text.stdout).to.contain(`│  └─ collect by ${BUYER} (order ${orders[BUYER].commitment}): 600 Wh of id`);
    expect(text.stdout).to.contain(
      `│  └─ receipt #1: 400 Wh of class ${formatCertificateId(certId)} held by ${SELLER} for ${BENEFICIARY}`,
    );

    // --json is the Trace itself (bigints as strings); the claim transaction traces the same reading.
    const json = await task(env, "audit", "trace", "--tx", tx.claim, "--relayer", relayer.url, "--json");
    expect(json.code, json.stderr).to.equal(0);
    const inProcess = await traceTx(system, tx.claim, opts(relayer.url));
    expect(JSON.parse(json.stdout)).to.deep.equal(JSON.parse(toJson(inProcess)));

    // Bad input: one line, no stack trace.
    const bad: [string[], RegExp][] = [
      [[], /^Error: give --meter <address> with --interval <id>, or --tx <hash>, or --rec <certificate id>$/],
      [["--tx", keccak256(toUtf8Bytes("nothing"))], /^Error: unknown transaction 0x[0-9a-f]{64}: the network has/],
    ];
    for (const [args, pattern] of bad)
      expectOneLineError(await task(env, "audit", "trace", ...args), pattern, args.join(" ") || "no options");
  });

  it("test_tree_certificateAndTransactionForms_andOptionErrors", async function () {
    // The certificate form, chain only: the reading stage says why it is unavailable.
    const I = interval.toString();
    const claimAt = await at(tx.claim);
    const rec = renderTree(recTree(await traceRec(system, certId, opts())));
    expect(rec.split("\n")[0]).to.equal(
      `certificate class ${formatCertificateId(certId)} (meter ${METER.address}, Solar, vintage ${formatVintage(vintageOf(interval * LENGTH))}, zone 1), chain read to block ${full.asOfBlock}`,
    );
    expect(rec).to.contain(
      `├─ issued 1000 Wh\n│  └─ interval ${I}: 1000 Wh to ${SELLER} (tx ${claimAt.txHash}, block ${claimAt.block})\n`,
    );
    expect(rec).to.contain(`├─ retired 400 Wh\n│  └─ receipt #1: 400 Wh of class`);
    expect(rec).to.contain("├─ deals: none\n├─ outstanding 600 Wh\n└─ reading of meter");
    expect(rec).to.contain(
      "   ├─ signed reading: unavailable — no relayer API given (--relayer or RELAYER_URL): the chain part only",
    );
    const txt = renderTree(txTree(await traceTx(system, tx.claim, opts())));
    expect(txt.split("\n").slice(0, 3)).to.deep.equal([
      `transaction ${tx.claim} (block ${claimAt.block}, success) from ${(await rpc.getSigner(0)).address} calling KwhToken.claim`,
      "├─ system events",
      `│  ├─ KwhToken.KwhClaimed(meter=${METER.address}, intervalId=${I}, owner=${SELLER}, id=${kwhTokenId(1, interval)}, importWh=10, exportWh=1000)`,
    ]);
    expect(txt).to.contain(
      `├─ touched 1 reading(s), 0 order(s), 0 certificate class(es); intervals ${I}\n└─ reading of meter`,
    );

    const base = { meter: "", interval: -1n, tx: "", rec: "", relayer: "", json: false };
    const cases: [Partial<typeof base>, RegExp][] = [
      [{}, /^give --meter <address> with --interval <id>, or --tx <hash>, or --rec <certificate id>$/],
      [{ meter: METER.address }, /^--meter needs --interval <id>$/],
      [{ interval: 5n }, /^--interval needs --meter <address>$/],
      [{ tx: tx.claim, rec: "1" }, /^give only one of --meter\/--interval, --tx and --rec$/],
      [{ meter: METER.address, interval: 1n, tx: tx.claim }, /^give only one of/],
    ];
    for (const [args, pattern] of cases) {
      const e = await rejection(Promise.resolve().then(() => traceForm({ ...base, ...args })));
      expect(e).to.be.instanceOf(InputError);
      expect(e.message).to.match(pattern);
    }
    expect(traceForm({ ...base, rec: "1" })).to.equal("rec");
  });
});
