import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { JsonRpcProvider, Wallet, id, type Signer } from "ethers";
import pg from "pg";
import { PostgresStore, SqliteStore, type ReadingStore } from "../../oracle/src/store/index.js";
import type { Hex, IntervalBatch, PostStatus, SignedReading } from "../../oracle/src/types.js";
import { attachSystem, deploySystem, writeDeployment, type Deployment, type System } from "../../src/deploy.js";
import { InputError } from "../../src/errors.js";
import { clearAuction, commitOrder, fundAccount, revealOrder, type Committed } from "../../src/ops/auction.js";
import { claimKwh } from "../../src/ops/kwh.js";
import { submitTree } from "../../src/ops/oracle.js";
import {
  ZERO_ROOT,
  compareInterval,
  compareSettlement,
  loadChainIntervals,
  reconcile,
  type Mismatch,
  type ReconcileReport,
} from "../../src/ops/reconcile.js";
import { collectAll, deliver, settlementStatus } from "../../src/ops/settlement.js";
import { buildIntervalTree, type IntervalTree } from "../../src/tree.js";
import { errorLines, expectOneLineError, hardhat, rejection, startTaskNode } from "../tasks/helpers.js";

// Hardhat's default accounts: 0 deployer (registrar, treasury), 1–3 relayers (threshold 2).
const SELLER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"; // 4: meter A, sells in interval t and delivers
const BUYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"; // 5: meter C (load only), buys in t and u
const LATE = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"; // 7: meter B, sells in u and never delivers

/** A store's content: readings, and batches with their vote status. */
interface StoreContent {
  readings: SignedReading[];
  batches: { batch: IntervalBatch; status: PostStatus; txHash?: Hex }[];
}

/** A reading with a well-formed signature unique to its values (stores do not verify signatures). */
function reading(meter: string, intervalId: bigint, importWhTotal: bigint, exportWhTotal: bigint): SignedReading {
  const seed = `${meter}/${intervalId}/${importWhTotal}/${exportWhTotal}`;
  return {
    meter: meter as Hex,
    intervalId,
    importWhTotal,
    exportWhTotal,
    timestamp: (intervalId + 1n) * 300n,
    signature: `0x${id(seed).slice(2)}${id(`${seed}:s`).slice(2)}1b` as Hex,
  };
}

function batchOf(tree: IntervalTree): IntervalBatch {
  const leaves = [...tree.tree.entries()].map(([, v]) => ({ meter: v[0] as Hex, importWh: v[2], exportWh: v[3] }));
  return {
    intervalId: tree.intervalId,
    root: tree.root as Hex,
    leafCount: tree.leafCount,
    totalImportWh: tree.totalImportWh,
    totalExportWh: tree.totalExportWh,
    leaves,
  };
}

const kinds = (ms: Mismatch[]) => ms.map((m) => m.kind).sort();

describe("audit reconcile (relayer stores vs the chain, over JSON-RPC)", function () {
  this.timeout(120_000);
  const LENGTH = 300n;
  let node: Awaited<ReturnType<typeof startTaskNode>>;
  let rpc: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let relayers: Signer[];
  /** The interval with a final root, claims and a settled auction; t−1 holds the meters' first readings. */
  let t: bigint;
  /** An interval whose auction cleared and nobody settled. */
  let u: bigint;
  let tree: IntervalTree;
  const meters: Record<string, string> = {};
  const orders: Record<string, Committed> = {};
  let storeDir: string;
  let content: StoreContent;
  let good: string;
  let voteTx: Hex;

  /** The task over JSON-RPC, without stores unless given (whatever $RELAYER_STORES the test runs with). */
  const task = (...args: string[]) => hardhat({ ...node.env, RELAYER_STORES: "" }, ...args, "--network", "localhost");
  const storePath = (name: string) => join(storeDir, `${name}.sqlite`);

  async function setTime(at: bigint) {
    await rpc.send("evm_setNextBlockTimestamp", [Number(at)]);
    await rpc.send("evm_mine", []);
  }

  /** Fills `store` with `c` through the store's own API. */
  async function fill(store: ReadingStore, c: StoreContent): Promise<void> {
    await store.open();
    try {
      await store.insertReadings(c.readings, "mqtt", 1_700_000_000_000);
      for (const b of c.batches) {
        expect(await store.saveBatch(b.batch, 1_700_000_000_000)).to.equal(true);
        if (b.status !== "built") await store.updateBatchStatus(b.batch.intervalId, b.status, b.txHash);
      }
    } finally {
      await store.close();
    }
  }

  /** Writes a SQLite relayer store holding `c`; returns its path. */
  async function writeStore(name: string, c: StoreContent): Promise<string> {
    await fill(new SqliteStore(storePath(name)), c);
    return storePath(name);
  }

  /** The consistent store's content with one meter's reading of `intervalId` replaced (or removed: null). */
  function withReading(meter: string, intervalId: bigint, replace: SignedReading | null): StoreContent {
    return {
      readings: content.readings.flatMap((r) =>
        r.meter === meter && r.intervalId === intervalId ? (replace === null ? [] : [replace]) : [r],
      ),
      batches: content.batches,
    };
  }

  const run = (
    stores: string[],
    opts: { toleranceWh?: bigint; toleranceUnits?: bigint; from?: bigint; to?: bigint } = {},
  ) =>
    reconcile(system, {
      from: opts.from ?? t - 1n,
      to: opts.to ?? t,
      stores,
      toleranceWh: opts.toleranceWh,
      toleranceUnits: opts.toleranceUnits,
      fromBlock: deployment.block,
    });

  before(async function () {
    node = await startTaskNode("microgrid-reconcile-");
    storeDir = mkdtempSync(join(tmpdir(), "microgrid-reconcile-stores-"));
    // No cache of the block number: each check must see the transactions mined just before it.
    rpc = new JsonRpcProvider(node.url, undefined, { cacheTimeout: -1 });
    const deployer = await rpc.getSigner(0);
    relayers = [await rpc.getSigner(1), await rpc.getSigner(2), await rpc.getSigner(3)];
    ({ system, deployment } = await deploySystem(deployer, "localhost", {
      intervalLength: LENGTH,
      relayers: await Promise.all(relayers.map((r) => r.getAddress())),
      threshold: 2,
      settlementWindow: 86_400n,
    }));
    writeDeployment(node.dir, deployment);
    await (await system.registry.setZone(1, 600_000, 600_000)).wait();
    for (const [owner, technology] of [
      [SELLER, 0],
      [LATE, 0],
      [BUYER, 3],
    ] as const) {
      meters[owner] = Wallet.createRandom().address;
      await (
        await system.registry.registerMeter(meters[owner], {
          owner,
          zone: 1,
          technology,
          ratedCapacityW: 600_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        })
      ).wait();
    }
    for (const account of [SELLER, BUYER, LATE]) await fundAccount(system, deployment, account, 50_000_000n);

    // Two auctions: t settles completely, u clears and is never settled.
    const now = BigInt((await rpc.getBlock("latest"))!.timestamp);
    t = (now + 8n * LENGTH) / LENGTH + 1n;
    u = t + 1n;
    const [st, su] = [await system.auction.schedule(t), await system.auction.schedule(u)];
    await setTime(su.commitStart + 1n);
    const book: [string, string, bigint, string, bigint, bigint][] = [
      ["t-sell", SELLER, t, "sell", 800n, 100_000n],
      ["t-buy", BUYER, t, "buy", 800n, 300_000n],
      ["u-sell", LATE, u, "sell", 300n, 80_000n],
      ["u-buy", BUYER, u, "buy", 300n, 300_000n],
    ];
    for (const [key, trader, intervalId, side, quantityWh, limitPrice] of book) {
      const signer = await rpc.getSigner(trader);
      orders[key] = await commitOrder(attachSystem(deployment, signer), signer, {
        intervalId,
        side,
        zone: 1,
        quantityWh,
        limitPrice,
        meter: side === "sell" ? meters[trader] : undefined,
        saltFile: join(node.dir, `${key}.json`),
      });
    }
    const reveal = async (key: string, trader: string) => {
      const signer = await rpc.getSigner(trader);
      await revealOrder(attachSystem(deployment, signer), signer, orders[key].file);
    };
    await setTime(st.revealStart + 1n);
    await reveal("t-sell", SELLER);
    await reveal("t-buy", BUYER);
    await setTime(st.gateClosure + 1n);
    await clearAuction(system, t);
    await setTime(su.revealStart + 1n);
    await reveal("u-sell", LATE);
    await reveal("u-buy", BUYER);
    await setTime(su.gateClosure + 1n);
    await clearAuction(system, u);

    // Interval t ends: the meters' cumulative registers moved by A 800 Wh out, B 300 Wh out, C 500 Wh in.
    await setTime((t + 1n) * LENGTH + 1n);
    const [A, B, C] = [meters[SELLER], meters[LATE], meters[BUYER]];
    tree = buildIntervalTree(t, [
      { meter: A, importWh: 0n, exportWh: 800n },
      { meter: B, importWh: 0n, exportWh: 300n },
      { meter: C, importWh: 500n, exportWh: 0n },
    ]);
    voteTx = (await submitTree(system.oracle.connect(relayers[0]), tree)) as Hex;
    await submitTree(system.oracle.connect(relayers[1]), tree);
    await claimKwh(system.kwh, tree, A);
    await claimKwh(system.kwh, tree, B);
    const seller = await rpc.getSigner(SELLER);
    await deliver(attachSystem(deployment, seller), seller, t, { fromBlock: deployment.block });
    await collectAll(system, deployer, t, deployment.block);

    // What relayer 1's store holds: the first readings (t−1, sealed empty) and the readings of t with its batch.
    content = {
      readings: [
        reading(A, t - 1n, 10n, 1_000n),
        reading(B, t - 1n, 0n, 2_000n),
        reading(C, t - 1n, 5_000n, 0n),
        reading(A, t, 10n, 1_800n),
        reading(B, t, 0n, 2_300n),
        reading(C, t, 5_500n, 0n),
      ],
      batches: [
        {
          batch: {
            intervalId: t - 1n,
            root: ZERO_ROOT as Hex,
            leafCount: 0,
            totalImportWh: 0n,
            totalExportWh: 0n,
            leaves: [],
          },
          status: "final",
        },
        { batch: batchOf(tree), status: "final", txHash: voteTx },
      ],
    };
    good = await writeStore("relayer-1", content);
    await writeStore("relayer-2", content);
  });

  after(async function () {
    rpc?.destroy();
    await node?.close();
    if (storeDir !== undefined) rmSync(storeDir, { recursive: true, force: true });
  });

  it("test_reconcile_consistentStoresAndChain_reportsNoMismatch", async function () {
    const r = await run([good, storePath("relayer-2")], { to: u });
    expect(r.mismatches, JSON.stringify(r.mismatches.map((m) => m.cause))).to.deep.equal([]);
    expect(r.storeChecksSkipped).to.equal(false);
    expect(r.stores).to.deep.equal([good, storePath("relayer-2")]);
    expect(r.checked).to.deep.include({
      intervals: 3,
      finalRoots: 1,
      votes: 2,
      stores: 2,
      storeBatches: 4,
      storedReadings: 12,
      storeLeaves: 6,
      storeComparisons: 2,
      claims: 2,
      mintedIntervals: 1,
      auctions: 2,
      filledOrders: 4,
      settledOrders: 2,
      tokenAccounts: 2,
    });
    // Interval u's fills are open but its settlement deadline is still ahead: not a mismatch.
    const chainOnly = await run([], { to: u });
    expect(chainOnly.mismatches).to.deep.equal([]);
    expect(chainOnly.storeChecksSkipped).to.equal(true);
    expect(chainOnly.checked.storeBatches).to.equal(0);
  });

  it("test_reconcile_postgresStore_agreesWithTheSqliteStore (DATABASE_URL)", async function () {
    const url = process.env.DATABASE_URL;
    if (url === undefined || url === "") this.skip();
    const schema = `reconcile_test_${process.pid}`;
    await fill(new PostgresStore(url, { schema }), content);
    try {
      const spec = new URL(url);
      spec.searchParams.set("schema", schema);
      const r = await run([good, spec.toString()]);
      expect(r.mismatches).to.deep.equal([]);
      expect([r.checked.storeBatches, r.checked.storeComparisons]).to.deep.equal([4, 2]);
      const missing = new URL(url);
      missing.searchParams.set("schema", `${schema}_none`);
      const e = await rejection(run([missing.toString()]));
      expect(e.message).to.match(
        /: not a relayer store \(no readings and batches tables in schema reconcile_test_\d+_none\)$/,
      );
    } finally {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });

  it("test_reconcile_storedReadingChanged_reportsReadingNotInRoot", async function () {
    const A = meters[SELLER];
    const path = await writeStore("reading-changed", withReading(A, t, reading(A, t, 10n, 1_850n)));
    const r = await run([path]);
    expect(r.mismatches).to.have.length(1);
    expect(r.mismatches[0]).to.deep.include({
      kind: "reading-not-in-root",
      intervalId: t,
      meter: A,
      relayer: path,
      field: "exportWh",
      expected: 800n,
      actual: 850n,
    });
    expect(r.mismatches[0].cause).to.match(/changed after sealing/);
  });

  it("test_reconcile_toleranceWh_hidesSmallDifferencesOnly", async function () {
    const A = meters[SELLER];
    const path = storePath("reading-changed");
    expect((await run([path], { toleranceWh: 50n })).mismatches).to.deep.equal([]);
    const above = await run([path], { toleranceWh: 49n });
    expect(above.mismatches.map((m) => [m.kind, m.meter, m.expected, m.actual])).to.deep.equal([
      ["reading-not-in-root", A, 800n, 850n],
    ]);
  });

  it("test_reconcile_readingDeleted_reportsLeafMissingFromStore", async function () {
    const A = meters[SELLER];
    const path = await writeStore("reading-deleted", withReading(A, t, null));
    const r = await run([path]);
    expect(r.mismatches).to.have.length(1);
    expect(r.mismatches[0]).to.deep.include({
      kind: "leaf-missing-from-store",
      intervalId: t,
      meter: A,
      relayer: path,
      field: "exportWh",
      expected: 800n,
      actual: null,
    });
    expect(r.mismatches[0].cause).to.match(/no stored reading behind it/);
  });

  it("test_reconcile_secondRelayerSealedWithoutAReading_reportsRelayerRootsDiffer", async function () {
    // Relayer 3 missed meter C's reading of t: it seals A and B only (a tree of its own, never voted).
    const [A, B, C] = [meters[SELLER], meters[LATE], meters[BUYER]];
    const partial = buildIntervalTree(t, [
      { meter: A, importWh: 0n, exportWh: 800n },
      { meter: B, importWh: 0n, exportWh: 300n },
    ]);
    const path = await writeStore("relayer-3", {
      readings: content.readings.filter((r) => !(r.meter === C && r.intervalId === t)),
      batches: [content.batches[0], { batch: batchOf(partial), status: "built" }],
    });
    const r = await run([good, path]);
    expect(kinds(r.mismatches)).to.deep.equal(["reading-not-in-root", "relayer-roots-differ"]);
    const differ = r.mismatches.find((m) => m.kind === "relayer-roots-differ")!;
    expect(differ).to.deep.include({
      intervalId: t,
      relayer: `${good} vs ${path}`,
      field: "root",
      expected: tree.root,
      actual: partial.root,
    });
    expect(differ.cause).to.contain(`relayers ${good} and ${path} sealed interval ${t} differently (3 vs 2 leaves`);
    expect(differ.cause).to.contain(`the quorum finalised ${good}'s`);
    const notInRoot = r.mismatches.find((m) => m.kind === "reading-not-in-root")!;
    expect(notInRoot).to.deep.include({ relayer: path, field: "root", expected: tree.root, actual: partial.root });
  });

  it("test_reconcile_storeLeafBelowTheClaim_reportsMintedVsTotals", async function () {
    // A store whose reading of B gives 250 Wh where the chain proved (and minted) 300 Wh; its batch follows its readings.
    const [A, B, C] = [meters[SELLER], meters[LATE], meters[BUYER]];
    const short = buildIntervalTree(t, [
      { meter: A, importWh: 0n, exportWh: 800n },
      { meter: B, importWh: 0n, exportWh: 250n },
      { meter: C, importWh: 500n, exportWh: 0n },
    ]);
    const path = await writeStore("short-leaf", {
      readings: withReading(B, t, reading(B, t, 0n, 2_250n)).readings,
      batches: [content.batches[0], { batch: batchOf(short), status: "final" }],
    });
    const r = await run([path]);
    expect(kinds(r.mismatches)).to.deep.equal(["minted-vs-totals", "minted-vs-totals", "reading-not-in-root"]);
    const minted = r.mismatches.filter((m) => m.kind === "minted-vs-totals");
    expect(minted.map((m) => [m.intervalId, m.meter, m.field, m.expected, m.actual])).to.deep.equal([
      [t, B, "exportWh", 250n, 300n],
      [t, undefined, "mintedWh", 1_050n, 1_100n],
    ]);
    expect(minted[1].cause).to.contain("1100 Wh of kWh tokens were minted");
  });

  it("test_compareInterval_mintAboveTheFinalTotalAndADivergingVote_areReported", async function () {
    const block = await rpc.getBlockNumber();
    const ci = (await loadChainIntervals(system, t, t, deployment.block, block)).get(t)!;
    expect([ci.status, ci.root, ci.totalExportWh, ci.mintedWh, ci.mintedSupplyWh]).to.deep.equal([
      "final",
      tree.root,
      1_100n,
      1_100n,
      1_100n,
    ]);
    expect(compareInterval(ci, [], { wh: 0n, units: 0n })).to.deep.equal([]);
    // What the chain refuses: 40 Wh claimed and minted beyond the root's exported total.
    const C = meters[BUYER];
    const over = {
      ...ci,
      claims: [...ci.claims, { ...ci.claims[0], meter: C, exportWh: 40n }],
      mintedWh: 1_140n,
      mintedSupplyWh: 1_140n,
    };
    const found = compareInterval(over, [], { wh: 0n, units: 0n });
    expect(found.map((m) => [m.kind, m.intervalId, m.field, m.expected, m.actual])).to.deep.equal([
      ["minted-exceeds-final", t, "mintedWh", 1_100n, 1_140n],
    ]);
    expect(compareInterval(over, [], { wh: 40n, units: 0n })).to.deep.equal([]);
    // A member that voted another root for the interval.
    const other = id("another root");
    const member = await relayers[2].getAddress();
    const vote = { ...ci.votes[0], member, root: other };
    const votes = compareInterval({ ...ci, votes: [...ci.votes, vote] }, [], { wh: 0n, units: 0n });
    expect(votes.map((m) => [m.kind, m.relayer, m.field, m.expected, m.actual])).to.deep.equal([
      ["relayer-roots-differ", member, "root", tree.root, other],
    ]);
  });

  it("test_compareSettlement_escrowFillDiffersFromTheAuction_isReported", async function () {
    const s = await settlementStatus(system, t, deployment.block);
    expect(compareSettlement(s, { wh: 0n, units: 0n })).to.deep.equal([]);
    // What the escrow never records: a settlement of 790 Wh for the seller's 800 Wh fill.
    const obligations = s.obligations.map((o) =>
      o.side === "sell" ? { ...o, delivery: { ...o.delivery!, filledWh: 790n } } : o,
    );
    const found = compareSettlement({ ...s, obligations }, { wh: 0n, units: 0n });
    expect(
      found.map((m) => [m.kind, m.intervalId, m.trader, m.commitment, m.field, m.expected, m.actual]),
    ).to.deep.equal([["settlement-differs-from-fill", t, SELLER, orders["t-sell"].commitment, "filledWh", 800n, 790n]]);
    expect(compareSettlement({ ...s, obligations }, { wh: 10n, units: 0n })).to.deep.equal([]);
  });

  it("test_reconcile_afterTheDeadline_reportsFillsNotSettled", async function () {
    const s = await system.auction.schedule(u);
    await setTime(s.settlementDeadline + 1n);
    const r = await run([], { from: u, to: u });
    expect(r.mismatches.map((m) => [m.kind, m.intervalId, m.trader, m.commitment, m.expected, m.actual])).to.deep.equal(
      [
        ["fill-not-settled", u, LATE, orders["u-sell"].commitment, 300n, 0n],
        ["fill-not-settled", u, BUYER, orders["u-buy"].commitment, 300n, 0n],
      ],
    );
    expect(r.mismatches[0].cause).to.contain("the interval's root is not final, so nobody could deliver");
    expect(r.mismatches[1].cause).to.contain("300 Wh sold are still open");
    // Interval t settled completely: still clean.
    expect((await run([good])).mismatches).to.deep.equal([]);
  });

  it("test_reconcile_badInput_failsWithOneLineInputErrors", async function () {
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => run([], { from: t, to: t - 1n }), new RegExp(`^--to ${t - 1n} is before --from ${t}$`)],
      [
        () => run([storePath("nowhere")]),
        new RegExp(`^cannot open relayer store ${storePath("nowhere")}: no such file$`),
      ],
      [
        () => run([join(node.dir, "localhost.json")]),
        /^cannot open relayer store .*localhost\.json: file is not a database$/,
      ],
      [() => run([good, good]), /^a relayer store is given twice$/],
    ];
    for (const [call, pattern] of cases) {
      const e = await rejection(call());
      expect(e, String(pattern)).to.be.instanceOf(InputError);
      expect(e.message).to.match(pattern);
    }
  });

  it("test_task_overJsonRpc_exitsZeroWhenCleanOneOnMismatchesWithOneLineErrors", async function () {
    // After the deadline of u: t is still clean, u's unsettled fills are mismatches.
    const [from, to] = [(t - 1n).toString(), t.toString()];
    const [clean, reversed] = await Promise.all([
      hardhat(
        { ...node.env, RELAYER_STORES: `${good},${storePath("relayer-2")}` },
        ...["audit", "reconcile", "--from", from, "--to", to, "--network", "localhost"],
      ),
      task("audit", "reconcile", "--from", to, "--to", from),
    ]);
    expect(clean.code, clean.stderr).to.equal(0);
    expect(clean.stdout).to.contain(`relayer stores: ${good}, ${storePath("relayer-2")}`);
    expect(clean.stdout).to.match(
      /readings vs roots +12 stored readings, 6 leaves in 4 store batches; 1 final root +0 +reading-not-in-root/,
    );
    expect(clean.stdout.trim().split("\n").at(-1)).to.equal("reconcile: OK");
    expectOneLineError(reversed, new RegExp(`^Error: --to ${from} is before --from ${to}$`), "--to before --from");

    const chainOnly = await task("audit", "reconcile", "--from", from, "--to", u.toString());
    expect(chainOnly.code, chainOnly.stderr).to.equal(1);
    expect(errorLines(chainOnly.stderr)).to.deep.equal([]);
    expect(chainOnly.stdout).to.contain(
      "relayer stores: none given (--store or $RELAYER_STORES): store checks skipped, chain-only checks ran",
    );
    expect(chainOnly.stdout).to.match(/fills vs settlements +4 filled orders \(2 settled\) in 2 cleared auctions +2 /);
    for (const trader of [LATE, BUYER])
      expect(chainOnly.stdout).to.match(new RegExp(`fill-not-settled +${u} +trader ${trader}, order 0x`));
    expect(chainOnly.stdout.trim().split("\n").at(-1)).to.equal("reconcile: 2 mismatches");
  });

  it("test_reconcile_directTransferIntoTheEscrow_reportsTokenFlowsUnbalanced", async function () {
    const deployer = await rpc.getSigner(0);
    await fundAccount(system, deployment, await deployer.getAddress(), 7n);
    await (await system.paymentToken.transfer(await system.escrow.getAddress(), 7n)).wait();
    expect((await run([good], { toleranceUnits: 7n })).mismatches).to.deep.equal([]);
    const r = await run([good], { toleranceUnits: 6n });
    expect(r.mismatches).to.have.length(1);
    expect(r.mismatches[0]).to.deep.include({
      kind: "token-flows-unbalanced",
      intervalId: null,
      contract: "SettlementEscrow",
      field: "balance",
      expected: 0n,
      actual: 7n,
    });
    expect(r.mismatches[0].cause).to.contain("plain transfers, outside any commitment");
  });
});
