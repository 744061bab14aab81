import { expect } from "chai";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { attachSystem, readDeployment, type System } from "../../src/deploy.js";
import { ChainError, InputError } from "../../src/errors.js";
import {
  auctionBook,
  auctionStatus,
  clearAuction,
  commitOrder,
  fundAccount,
  readOrderFile,
  revealOrder,
} from "../../src/ops/auction.js";
import { deployFixture, networkHelpers, INTERVAL } from "../helpers/fixture.js";
import { expectOneLineError, hardhat, rejection, startTaskNode } from "./helpers.js";

const { loadFixture } = networkHelpers;

// Hardhat's default accounts: 0 deployer (registrar), 4 a seller with a solar meter, 5 a buyer.
const SELLER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const BUYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";

describe("auction tasks (over JSON-RPC, as an operator runs them)", function () {
  this.timeout(600_000);
  // 900 s: a 300 s reveal window, so that tasks run as subprocesses on a loaded machine never outlast a phase
  // the test moved the clock into (the node's clock follows the wall clock between explicit moves).
  const LENGTH = 900n;
  let node: Awaited<ReturnType<typeof startTaskNode>>;
  let rpc: JsonRpcProvider;
  let system: System;
  const meter = Wallet.createRandom().address;
  let interval: bigint;
  let schedule: { commitStart: bigint; revealStart: bigint; gateClosure: bigint };
  const buyFile = () => join(node.dir, "buy.json");

  async function setTime(t: bigint) {
    await rpc.send("evm_setNextBlockTimestamp", [Number(t)]);
    await rpc.send("evm_mine", []);
  }

  const task = (...args: string[]) => hardhat(node.env, ...args, "--network", "localhost");

  before(async function () {
    node = await startTaskNode("microgrid-auction-tasks-");
    rpc = new JsonRpcProvider(node.url);
    const dep = await task("deploy", "--interval-length", LENGTH.toString());
    expect(dep.code, dep.stderr).to.equal(0);
    expect(dep.stdout).to.match(/MockStablecoin/);
    expect(
      (await task("meter", "zone", "--zone", "1", "--export-capacity", "600000", "--import-capacity", "600000")).code,
    ).to.equal(0);
    const reg = await task(
      "meter",
      "register",
      "--meter",
      meter,
      "--owner",
      SELLER,
      "--zone",
      "1",
      "--technology",
      "solar",
      "--capacity",
      "60000",
    );
    expect(reg.code, reg.stderr).to.equal(0);
    for (const account of [SELLER, BUYER]) {
      const r = await task("auction", "fund", "--account", account, "--amount", "50000000");
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/minted 50000000/);
    }
    const deployment = readDeployment(node.dir, "localhost");
    expect(deployment.params.intervalLength).to.equal(LENGTH.toString());
    system = attachSystem(deployment, await rpc.getSigner(0));
    const now = BigInt((await rpc.getBlock("latest"))!.timestamp);
    // Far enough ahead that the commit phase has not started (commit window 4 intervals + reveal + gate lead).
    interval = (now + 8n * LENGTH) / LENGTH + 1n;
    schedule = await system.auction.schedule(interval);
  });

  after(async function () {
    const sellPath = join(node?.dir ?? "", "sell-path");
    if (existsSync(sellPath)) rmSync(readFileSync(sellPath, "utf8"), { force: true });
    rpc?.destroy();
    await node?.close();
  });

  it("test_deploy_defaultMarketParams_followTheIntervalLength", async function () {
    const p = await system.auction.params();
    expect(p.commitWindow).to.equal(4n * LENGTH);
    expect(p.revealWindow).to.equal(LENGTH / 3n);
    expect(p.gateLead).to.equal(LENGTH);
    expect(schedule.gateClosure).to.equal(interval * LENGTH - LENGTH);
    expect(schedule.revealStart).to.equal(schedule.gateClosure - LENGTH / 3n);
    expect(schedule.commitStart).to.equal(schedule.revealStart - 4n * LENGTH);
  });

  it("test_status_beforeCommit_isScheduled", async function () {
    const r = await task("auction", "status", "--interval", interval.toString());
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/phase Scheduled/);
    expect(r.stdout).to.match(/not set/);
  });

  it("test_commit_badInput_printsOneLineErrors", async function () {
    await setTime(schedule.commitStart + 1n);
    const base = ["auction", "commit", "--interval", interval.toString(), "--zone", "1", "--from", BUYER];
    expectOneLineError(
      await task(...base, "--side", "hold", "--quantity", "500", "--price", "200000"),
      /^Error: side "hold" must be buy or sell$/,
      "bad side",
    );
    expectOneLineError(
      await task(...base, "--side", "buy", "--quantity", "0", "--price", "200000"),
      /^Error: --quantity \(Wh\) 0 must be positive$/,
      "zero quantity",
    );
    expectOneLineError(
      await task(...base, "--side", "buy", "--quantity", "500", "--price", "200050"),
      /^Error: price 200050 is not a multiple of the tick 100/,
      "price off tick",
    );
    // Nothing was sent: no collateral moved and the auction was not opened.
    expect(await system.paymentToken.balanceOf(await system.auction.getAddress())).to.equal(0n);
    expect(await system.auction.bounds(interval)).to.deep.equal([0n, 0n]);
  });

  it("test_commit_buyAndSell_writeOrderFilesAndStatusShowsCommit", async function () {
    const buy = await task(
      "auction",
      "commit",
      "--interval",
      interval.toString(),
      "--side",
      "buy",
      "--zone",
      "1",
      "--quantity",
      "500",
      "--price",
      "200000",
      "--from",
      BUYER,
      "--out",
      buyFile(),
    );
    expect(buy.code, buy.stderr).to.equal(0);
    expect(buy.stdout).to.contain(`written to ${buyFile()}`);
    expect(buy.stdout).to.match(/needed to reveal/);
    const saved = readOrderFile(buyFile());
    expect(saved.trader).to.equal(BUYER);
    expect(saved.intervalId).to.equal(interval.toString());
    expect(saved.chainId).to.equal("31337");
    expect(saved.collateral).to.equal("1000000"); // ⌈500 × 200000 / 1000⌉ = 100000, below the minimum deposit

    const sell = await task(
      "auction",
      "commit",
      "--interval",
      interval.toString(),
      "--side",
      "sell",
      "--zone",
      "1",
      "--quantity",
      "400",
      "--price",
      "100000",
      "--meter",
      meter,
      "--from",
      SELLER,
    );
    expect(sell.code, sell.stderr).to.equal(0);
    const m = /written to (\S+):/.exec(sell.stdout);
    expect(m, sell.stdout).to.not.equal(null);
    const sellPath = m![1];
    expect(sellPath).to.match(new RegExp(`^orders/localhost/${interval}-0x[0-9a-f]{16}\\.json$`));
    expect(existsSync(sellPath)).to.equal(true);
    writeFileSync(join(node.dir, "sell-path"), sellPath);

    // The same --out again: never overwritten.
    const again = await task(
      "auction",
      "commit",
      "--interval",
      interval.toString(),
      "--side",
      "buy",
      "--zone",
      "1",
      "--quantity",
      "500",
      "--price",
      "200000",
      "--from",
      BUYER,
      "--out",
      buyFile(),
    );
    expectOneLineError(again, /exists already/, "existing file");

    const status = await task("auction", "status", "--interval", interval.toString(), "--json");
    expect(status.code, status.stderr).to.equal(0);
    const s = JSON.parse(status.stdout);
    expect(s.phase).to.equal("commit");
    // The first commit opened the auction (its bounds are set); orders count from their reveal.
    expect(s.orderCount).to.equal(0);
    expect(s.maxOrders).to.be.greaterThan(0);
    expect(s.bounds).to.deep.equal({ floor: "50000", ceiling: "400000" });
    expect(s.schedule.revealStart.unix).to.equal(schedule.revealStart.toString());
  });

  it("test_commitAfterCommitPhase_printsWrongPhaseWithHint", async function () {
    await setTime(schedule.revealStart + 1n);
    const r = await task(
      "auction",
      "commit",
      "--interval",
      interval.toString(),
      "--side",
      "buy",
      "--zone",
      "1",
      "--quantity",
      "100",
      "--price",
      "200000",
      "--from",
      BUYER,
      "--out",
      join(node.dir, "late.json"),
    );
    expectOneLineError(
      r,
      /^Error: BatchAuctionWrongPhase\(intervalId=\d+, expected=1, actual=2\): .*auction status/,
      "late commit",
    );
    expect(existsSync(join(node.dir, "late.json"))).to.equal(false);
    const status = await task("auction", "status", "--interval", interval.toString());
    expect(status.stdout).to.match(/phase Reveal/);
  });

  it("test_reveal_badFileOrAccount_printsOneLineErrors", async function () {
    expectOneLineError(
      await task("auction", "reveal", "--file", join(node.dir, "missing.json"), "--from", BUYER),
      /^Error: order file .*missing\.json does not exist$/,
      "missing file",
    );
    const corrupt = join(node.dir, "corrupt.json");
    writeFileSync(corrupt, "{ not json");
    expectOneLineError(
      await task("auction", "reveal", "--file", corrupt, "--from", BUYER),
      /^Error: cannot read order file/,
      "corrupt file",
    );
    expectOneLineError(
      await task("auction", "reveal", "--file", buyFile(), "--from", SELLER),
      new RegExp(`^Error: .* was committed by ${BUYER}: reveal with --from ${BUYER}$`),
      "another account",
    );
  });

  it("test_revealClearBook_fillsAndMatchesTheReference", async function () {
    const sellPath = readFileSync(join(node.dir, "sell-path"), "utf8");
    const preview0 = await task("auction", "book", "--interval", interval.toString());
    expect(preview0.code, preview0.stderr).to.equal(0);
    expect(preview0.stdout).to.match(/0 revealed orders/);
    for (const [file, from] of [
      [buyFile(), BUYER],
      [sellPath, SELLER],
    ]) {
      const r = await task("auction", "reveal", "--file", file, "--from", from);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^revealed 0x/);
    }
    const preview = await task("auction", "book", "--interval", interval.toString(), "--json");
    const p = JSON.parse(preview.stdout);
    expect(p.onChain).to.equal(null);
    expect(p.matchesReference).to.equal(null);
    expect(p.orders.map((o: { filledWh: string }) => o.filledWh)).to.deep.equal(["400", "400"]);

    const early = await task("auction", "clear", "--interval", interval.toString());
    expectOneLineError(early, /^Error: BatchAuctionWrongPhase\(.*expected=3, actual=2\)/, "early clear");

    await setTime(schedule.gateClosure + 1n);
    const clear = await task("auction", "clear", "--interval", interval.toString());
    expect(clear.code, clear.stderr).to.equal(0);
    expect(clear.stdout).to.match(/system price 200000, traded 400 Wh/);

    const book = await task("auction", "book", "--interval", interval.toString());
    expect(book.code, book.stderr).to.equal(0);
    expect(book.stdout).to.match(/matches the reference clearing: yes/);
    const rows = book.stdout.split("\n");
    expect(rows.find((l) => l.startsWith(BUYER))).to.match(/buy\s+1\s+500\s+200000\s+400\s+200000/);
    expect(rows.find((l) => l.startsWith(SELLER))).to.match(/sell\s+1\s+400\s+100000\s+400\s+200000/);
    expect(book.stdout).to.match(/zone\s+price\s+netExportWh\s+congestion\n1\s+200000\s+0\s+none/);

    const status = await task("auction", "status", "--interval", interval.toString());
    expect(status.stdout).to.match(/phase Cleared/);
    expect(status.stdout).to.match(/system price\s+200000/);
  });

  it("test_fund_withoutMock_printsOneLineError", async function () {
    const r = await hardhat(
      { ...node.env, DEPLOYMENTS_DIR: join(node.dir, "real") },
      "deploy",
      "--network",
      "localhost",
      "--payment-token",
      await system.paymentToken.getAddress(),
      "--floor-feed",
      readDeployment(node.dir, "localhost").market!.floorFeed,
      "--ceiling-feed",
      readDeployment(node.dir, "localhost").market!.ceilingFeed,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.not.match(/MockStablecoin/);
    const fund = await hardhat(
      { ...node.env, DEPLOYMENTS_DIR: join(node.dir, "real") },
      "auction",
      "fund",
      "--network",
      "localhost",
      "--account",
      BUYER,
      "--amount",
      "1",
    );
    expectOneLineError(
      fund,
      /^Error: the localhost deployment uses the payment token 0x[0-9a-fA-F]{40}, not a MockStablecoin/,
      "fund",
    );
  });
});

describe("auction ops (in process)", function () {
  async function fixture() {
    const f = await deployFixture();
    for (const s of [f.alice, f.bob]) await fundAccount(f.system, f.deployment, s.address, 100_000_000n);
    const now = BigInt(await networkHelpers.time.latest());
    const interval = (now + 4n * INTERVAL + 3_600n) / INTERVAL + 1n;
    const schedule = await f.system.auction.schedule(interval);
    await networkHelpers.time.increaseTo(schedule.commitStart);
    return { ...f, interval, schedule };
  }

  const tmp = () => join(process.env.TMPDIR ?? "/tmp", `auction-order-${Date.now()}-${Math.random()}.json`);

  it("test_commitOrder_rejectsBadInputBeforeSending", async function () {
    const f = await loadFixture(fixture);
    const sys = attachSystem(f.deployment, f.alice);
    const base = { intervalId: f.interval, zone: 1, quantityWh: 100n, limitPrice: 200_000n, saltFile: tmp() };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ side: "short" }, /side "short" must be buy or sell/],
      [{ side: "buy", quantityWh: 0n }, /must be positive/],
      [{ side: "buy", quantityWh: "x" }, /is not a whole number/],
      [{ side: "buy", limitPrice: 123n }, /not a multiple of the tick 100/],
      [{ side: "buy", meter: f.meters[0].address }, /a buy order names no meter/],
      [{ side: "sell" }, /a sell order needs --meter/],
      [{ side: "sell", meter: f.meters[2].address }, /is not an active generating meter/],
      [{ side: "sell", meter: f.meters[0].address, quantityWh: 100_000n }, /exceeds the meter's 1250 Wh/],
      [{ side: "buy", zone: 9 }, /zone 9 is not configured/],
      [{ side: "buy", collateral: 5n }, /collateral 5 is below the 1000000/],
      [{ side: "buy", quantityWh: 2n ** 32n }, /quantity 4294967296 Wh is above the largest order, 4294967295 Wh/],
      // Checked against the bounds the auction would get, before opening it.
      [{ side: "buy", limitPrice: 500_000n }, /outside the auction's bounds \[50000, 400000\]/],
    ];
    for (const [extra, pattern] of cases) {
      const e = await rejection(commitOrder(sys, f.alice, { ...base, ...extra } as never));
      expect(e, String(pattern)).to.be.instanceOf(InputError);
      expect(e.message).to.match(pattern);
    }
    expect(await f.system.paymentToken.balanceOf(await f.system.auction.getAddress())).to.equal(0n);
    expect(await f.system.auction.bounds(f.interval)).to.deep.equal([0n, 0n]);
  });

  it("test_commitRevealClear_opsRoundTripAndBookMatchesReference", async function () {
    const f = await loadFixture(fixture);
    const aliceSys = attachSystem(f.deployment, f.alice);
    const bobSys = attachSystem(f.deployment, f.bob);
    const sellFile = tmp();
    const s = await commitOrder(aliceSys, f.alice, {
      intervalId: f.interval,
      side: "sell",
      zone: 1,
      quantityWh: 1_000n,
      limitPrice: 100_000n,
      meter: f.meters[0].address,
      saltFile: sellFile,
    });
    expect(s.file).to.equal(sellFile);
    expect(s.collateral).to.equal(1_000_000n);
    // The first commitment opened the auction (fixed its bounds) first; the second finds it open.
    expect(s.openTx).to.match(/^0x[0-9a-f]{64}$/);
    expect(await f.system.auction.bounds(f.interval)).to.deep.equal([50_000n, 400_000n]);
    const b = await commitOrder(bobSys, f.bob, {
      intervalId: f.interval,
      side: "buy",
      zone: 2,
      quantityWh: 600n,
      limitPrice: 300_000n,
      extraCollateral: 7n,
      network: "hardhat",
    });
    expect(b.file).to.match(new RegExp(`^orders/hardhat/${f.interval}-0x`));
    expect(b.collateral).to.equal(1_000_007n);
    expect(b.openTx).to.equal(null);
    const saved = JSON.parse(readFileSync(b.file, "utf8"));
    rmSync(b.file);
    writeFileSync(sellFile + ".buy.json", JSON.stringify(saved));
    b.file = sellFile + ".buy.json";
    expect(saved.commitment).to.equal(b.commitment);

    // Price bounds are now set: a price above the ceiling is refused before sending.
    const e = await rejection(
      commitOrder(bobSys, f.bob, {
        intervalId: f.interval,
        side: "buy",
        zone: 2,
        quantityWh: 1n,
        limitPrice: 500_000n,
      }),
    );
    expect(e.message).to.match(/outside the auction's bounds \[50000, 400000\]/);

    expect((await auctionStatus(f.system, f.interval)).phase).to.equal("commit");
    await networkHelpers.time.increaseTo(f.schedule.revealStart);
    const wrong = await rejection(revealOrder(aliceSys, f.alice, b.file));
    expect(wrong).to.be.instanceOf(InputError);
    await revealOrder(aliceSys, f.alice, sellFile);
    await revealOrder(bobSys, f.bob, b.file);
    const again = await rejection(revealOrder(bobSys, f.bob, b.file));
    expect(again).to.be.instanceOf(ChainError);
    expect(again.message).to.match(/^BatchAuctionAlreadyRevealed\(/);

    const preview = await auctionBook(f.system, f.interval, f.deployment.block);
    expect(preview.onChain).to.equal(null);
    expect(preview.orders.map((o) => o.filledWh)).to.deep.equal([600n, 600n]);

    await networkHelpers.time.increaseTo(f.schedule.gateClosure);
    const cleared = await clearAuction(f.system, f.interval);
    expect(cleared.tradedWh).to.equal(600n);
    const book = await auctionBook(f.system, f.interval, f.deployment.block);
    expect(book.matchesReference, book.differences.join("; ")).to.equal(true);
    expect(book.zones.map((z) => z.zone)).to.deep.equal([1, 2]);
    for (const o of book.orders) {
      const [filled, price] = await f.system.auction.fillOf(f.interval, o.trader, o.commitment);
      expect(o.filledWh).to.equal(filled);
      expect(o.price).to.equal(price);
    }
    const status = await auctionStatus(f.system, f.interval);
    expect(status.phase).to.equal("cleared");
    expect(status.result!.systemPrice).to.equal(cleared.systemPrice);
    expect(status.result!.zones.map((z) => z.zone)).to.deep.equal([1, 2]);
  });
});
