import { expect } from "chai";
import { join } from "node:path";
import { JsonRpcProvider, Wallet, ZeroHash } from "ethers";
import { attachSystem, readDeployment, type Deployment, type System } from "../../src/deploy.js";
import { InputError } from "../../src/errors.js";
import { kwhTokenId } from "../../src/intervals.js";
import { clearAuction, commitOrder, fundAccount, revealOrder, type Committed } from "../../src/ops/auction.js";
import { collect, collectAll, deliver } from "../../src/ops/settlement.js";
import { proofFor } from "../../src/tree.js";
import { postRoot } from "../helpers/fixture.js";
import { errorLines, expectOneLineError, hardhat, rejection, startTaskNode, twoAtATime } from "./helpers.js";

// Hardhat's default accounts: 0 deployer (registrar, treasury: grid operator and dust account), 1–2 relayers.
const SELLER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"; // 4: zone 1, delivers all it sold
const BUYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"; // 5: zone 1
const SHORT = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"; // 6: zone 2, delivers less than it sold
const LATE = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"; // 7: zone 1, never delivers
const IMPORTER = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"; // 8: zone 2, buys zone 1's exports too

describe("settle tasks (over JSON-RPC, as sellers, buyers and a grid operator run them)", function () {
  this.timeout(600_000);
  // Long enough that the settlement window (4 intervals after delivery) outlasts the test's wall-clock time.
  const LENGTH = 300n;
  let node: Awaited<ReturnType<typeof startTaskNode>>;
  let rpc: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let interval: bigint;
  let deadline: bigint;
  const orders: Record<string, Committed> = {};
  const meters: Record<string, string> = {};
  const iso = (unix: bigint) => new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z");

  const task = (...args: string[]) => hardhat(node.env, ...args, "--network", "localhost");

  async function setTime(t: bigint) {
    await rpc.send("evm_setNextBlockTimestamp", [Number(t)]);
    await rpc.send("evm_mine", []);
  }

  /** The escrow's events of the interval, as the chain has them. */
  async function escrowEvents() {
    const e = system.escrow;
    return {
      sellers: await e.queryFilter(e.filters.SellerSettled(interval), deployment.block),
      buyers: await e.queryFilter(e.filters.BuyerCollected(interval), deployment.block),
      rent: await e.queryFilter(e.filters.CongestionRentPaid(interval), deployment.block),
      dust: await e.queryFilter(e.filters.DustSwept(interval), deployment.block),
    };
  }

  before(async function () {
    node = await startTaskNode("microgrid-settle-tasks-");
    rpc = new JsonRpcProvider(node.url);
    const dep = await task("deploy", "--interval-length", LENGTH.toString());
    expect(dep.code, dep.stderr).to.equal(0);
    deployment = readDeployment(node.dir, "localhost");
    system = attachSystem(deployment, await rpc.getSigner(0));
    // Zone 1 exports at most 400 Wh an interval: it congests, and zone 2 pays more.
    await (await system.registry.setZone(1, (400n * 3_600n) / LENGTH, 600_000)).wait();
    await (await system.registry.setZone(2, 600_000, 600_000)).wait();
    for (const [owner, zone] of [
      [SELLER, 1],
      [SHORT, 2],
      [LATE, 1],
    ] as const) {
      meters[owner] = Wallet.createRandom().address;
      await (
        await system.registry.registerMeter(meters[owner], {
          owner,
          zone,
          technology: 0,
          ratedCapacityW: 600_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        })
      ).wait();
    }
    for (const account of [SELLER, BUYER, SHORT, LATE, IMPORTER])
      await fundAccount(system, deployment, account, 50_000_000n);

    const now = BigInt((await rpc.getBlock("latest"))!.timestamp);
    interval = (now + 8n * LENGTH) / LENGTH + 1n;
    const s = await system.auction.schedule(interval);
    deadline = s.settlementDeadline;
    await setTime(s.commitStart + 1n);
    const book: [string, string, number, bigint, bigint][] = [
      [SELLER, "sell", 1, 1_000n, 100_000n],
      [LATE, "sell", 1, 300n, 80_000n],
      [SHORT, "sell", 2, 600n, 250_000n],
      [BUYER, "buy", 1, 500n, 300_000n],
      [IMPORTER, "buy", 2, 1_200n, 350_000n],
    ];
    for (const [trader, side, zone, quantityWh, limitPrice] of book) {
      const signer = await rpc.getSigner(trader);
      orders[trader] = await commitOrder(attachSystem(deployment, signer), signer, {
        intervalId: interval,
        side,
        zone,
        quantityWh,
        limitPrice,
        meter: side === "sell" ? meters[trader] : undefined,
        saltFile: join(node.dir, `${trader}.json`),
      });
    }
    await setTime(s.revealStart + 1n);
    for (const [trader] of book) {
      const signer = await rpc.getSigner(trader);
      await revealOrder(attachSystem(deployment, signer), signer, orders[trader].file);
    }
    await setTime(s.gateClosure + 1n);
    await clearAuction(system, interval);
  });

  after(async function () {
    rpc?.destroy();
    await node?.close();
  });

  it("test_auction_clearsWithACongestedExport", async function () {
    // zone 1 sells 900 Wh (LATE's 300 in the money, SELLER's 600 of 1,000 at the price), 500 to BUYER, 400 exported;
    // zone 2 buys 1,000 of IMPORTER's 1,200 Wh (SHORT's 600 and the import) at a higher price.
    const fills = await Promise.all(
      [SELLER, LATE, SHORT, BUYER, IMPORTER].map((t) => system.auction.fillOf(interval, t, orders[t].commitment)),
    );
    expect(fills.map(([wh]) => wh)).to.deep.equal([600n, 300n, 600n, 500n, 1_000n]);
    expect(fills[0][1]).to.be.lessThan(fills[2][1]);
    expect(await system.auction.tradedWh(interval)).to.equal(1_500n);
  });

  it("test_settle_badInputBeforeTheRoot_printsOneLineErrors", async function () {
    const I = interval.toString();
    const cases: [string[], RegExp, string][] = [
      [
        ["settle", "deliver", "--interval", I, "--from", SELLER],
        new RegExp(
          `^Error: the root of interval ${I} is not final yet: sellers deliver once the oracle quorum finalised it \\(\`oracle status --interval ${I}\`\\), before the settlement deadline ${iso(deadline)}$`,
        ),
        "root not final",
      ],
      [
        ["settle", "deliver", "--interval", (interval + 1_000n).toString(), "--from", SELLER],
        new RegExp(
          `^Error: the auction of interval ${interval + 1_000n} is scheduled, not cleared: nothing to settle$`,
        ),
        "unknown interval",
      ],
      [
        ["settle", "deliver", "--interval", I, "--commitment", ZeroHash, "--from", SELLER],
        new RegExp(`^Error: no revealed order ${ZeroHash} in the auction of interval ${I}$`),
        "unknown commitment",
      ],
      [
        ["settle", "deliver", "--file", orders[BUYER].file],
        new RegExp(
          `^Error: order ${orders[BUYER].commitment} is a buy order, not a sell order: buyers collect \\(\`settle collect\`\\)$`,
        ),
        "deliver a buy order",
      ],
      [
        ["settle", "collect", "--interval", I, "--commitment", orders[SHORT].commitment],
        new RegExp(
          `^Error: order ${orders[SHORT].commitment} is a sell order, not a buy order: sellers deliver \\(\`settle deliver\`\\)$`,
        ),
        "collect a sell order",
      ],
      [
        ["settle", "deliver", "--interval", I, "--all", "--seller", SELLER],
        /^Error: --all settles the whole interval: drop --seller, --commitment and --file$/,
        "--all with a seller",
      ],
    ];
    const results = await twoAtATime(cases, ([args]) => task(...args));
    cases.forEach(([, pattern, what], i) => expectOneLineError(results[i], pattern, what));
    // The same checks in process, as a demo or script calls the operations.
    const seller = await rpc.getSigner(SELLER);
    const sys = attachSystem(deployment, seller);
    const calls: [() => Promise<unknown>, RegExp][] = [
      [() => deliver(sys, seller, interval, { commitment: "0x1234" }), /^--commitment "0x1234" is not a 32-byte hex/],
      [() => collect(sys, seller, interval), new RegExp(`^${SELLER} has no filled buy order in the auction of`)],
      [() => deliver(sys, seller, undefined), /^give --interval <delivery interval id> \(or --file <order file>\)$/],
      [
        () => deliver(sys, seller, interval, { file: orders[BUYER].file, trader: SELLER }),
        new RegExp(`^.*${BUYER}\\.json is an order of ${BUYER}, not ${SELLER}$`),
      ],
      [
        () => deliver(sys, seller, interval + 1n, { file: orders[SELLER].file }),
        new RegExp(`is an order of interval ${interval}, not ${interval + 1n}$`),
      ],
      [() => collectAll(sys, seller, interval), /^1500 Wh sold in interval \d+ are not settled yet \(3 sell orders\)/],
    ];
    for (const [run, pattern] of calls) {
      const e = await rejection(run());
      expect(e, String(pattern)).to.be.instanceOf(InputError);
      expect(e.message).to.match(pattern);
    }

    const status = await task("settle", "status", "--interval", I, "--json");
    expect(status.code, status.stderr).to.equal(0);
    const s = JSON.parse(status.stdout);
    expect([s.rootFinal, s.deadlinePassed, s.tradedWh, s.matchesChain]).to.deep.equal([false, false, "1500", true]);
    expect(s.obligations).to.have.length(5);
    expect(s.obligations.every((o: { settled: boolean }) => !o.settled)).to.equal(true);
    expect([s.sellers.pendingWh, s.buyers.pendingWh, s.rent.paid, s.dust.swept]).to.deep.equal([
      "1500",
      "1500",
      false,
      false,
    ]);
  });

  it("test_deliver_withTheOrderFile_approvesDeliversAndPaysTheSeller", async function () {
    // The interval ends; the quorum posts its root; SELLER proves 1,000 Wh (600 sold), SHORT 250 Wh (600 sold).
    await setTime((interval + 1n) * LENGTH + 1n);
    const relayers = [await rpc.getSigner(1), await rpc.getSigner(2)];
    const tree = await postRoot(system, relayers, interval, [
      { meter: meters[SELLER], importWh: 0n, exportWh: 1_000n },
      { meter: meters[SHORT], importWh: 0n, exportWh: 250n },
    ]);
    for (const owner of [SELLER, SHORT]) {
      const p = proofFor(tree, meters[owner]);
      await (await system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
    }
    const id1 = kwhTokenId(1, interval);
    const escrow = await system.escrow.getAddress();
    const usdBefore = await system.paymentToken.balanceOf(SELLER);

    const r = await task("settle", "deliver", "--file", orders[SELLER].file, "--from", SELLER);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).to.match(new RegExp(`^approved the escrow for ${SELLER}'s kWh tokens \\(tx 0x[0-9a-f]{64}\\)$`));
    const [ev] = (await escrowEvents()).sellers;
    const a = ev.args;
    expect([a.seller, a.commitment, a.filledWh, a.deliveredWh, a.slashed]).to.deep.equal([
      SELLER,
      orders[SELLER].commitment,
      600n,
      600n,
      0n,
    ]);
    expect(lines[1]).to.equal(
      `delivered order ${a.commitment} of ${SELLER} (zone 1, 600 Wh at ${a.price}): 600 of 600 Wh; ` +
        `paid ${a.payment}, bond returned ${a.bondReturned}, slashed 0 (tx ${ev.transactionHash})`,
    );
    expect(a.payment).to.equal((600n * a.price) / 1000n);
    expect(await system.kwh.balanceOf(SELLER, id1)).to.equal(400n);
    expect(await system.kwh.balanceOf(escrow, id1)).to.equal(600n);
    expect(await system.paymentToken.balanceOf(SELLER)).to.equal(usdBefore + a.payment + a.bondReturned);

    expectOneLineError(
      await task("settle", "deliver", "--file", orders[SELLER].file, "--from", SELLER),
      new RegExp(
        `^Error: order ${a.commitment} of ${SELLER} settled already: delivered 600 of 600 Wh \\(tx ${ev.transactionHash}\\)$`,
      ),
      "deliver twice",
    );
    expectOneLineError(
      await task("settle", "deliver", "--interval", interval.toString(), "--seller", SHORT),
      new RegExp(
        `^Error: ${SHORT} has not approved the escrow ${escrow} for its kWh tokens: the seller delivers itself \\(\`settle deliver --from ${SHORT}\`\\) or approves the escrow first \\(setApprovalForAll\\)$`,
      ),
      "another seller without approval",
    );
    // Before the deadline the operator's --all delivers only for sellers that approved and hold their whole fill.
    const all = await task("settle", "deliver", "--interval", interval.toString(), "--all");
    expect(all.code, all.stderr).to.equal(0);
    expect(all.stdout).to.match(/settled 0 sell orders\n/);
    expect(all.stdout).to.contain(
      `skipped order ${orders[SHORT].commitment} of ${SHORT}: holds 250 of the 600 Wh it sold in zone 2: it delivers ` +
        `itself (accepting the shortfall) or defaults from ${iso(deadline)}`,
    );
    expect(all.stdout).to.contain(`skipped order ${orders[LATE].commitment} of ${LATE}: holds 0 of the 300 Wh`);
    expect((await escrowEvents()).sellers).to.have.length(1);

    // Buyers wait for every seller: the exact message.
    const collect = await task("settle", "collect", "--interval", interval.toString(), "--from", BUYER);
    expectOneLineError(collect, /^Error: /, "collect before the sellers");
    expect(errorLines(collect.stderr)[0]).to.equal(
      `Error: 900 Wh sold in interval ${interval} are not settled yet (2 sell orders): buyers collect once every ` +
        `seller delivered (\`settle deliver\`) or defaulted (\`settle deliver --all\` from the settlement deadline ${iso(deadline)})`,
    );
  });

  it("test_deliver_shortSeller_isWarnedPaidForWhatItHandsOverAndSlashed", async function () {
    const id2 = kwhTokenId(2, interval);
    const r = await task("settle", "deliver", "--interval", interval.toString(), "--from", SHORT);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(
      `warning: ${SHORT} holds 250 of the 600 Wh it sold in zone 2: the 350 Wh shortfall is slashed from its bond`,
    );
    const ev = (await escrowEvents()).sellers.find((e) => e.args.seller === SHORT)!;
    const a = ev.args;
    expect([a.filledWh, a.deliveredWh]).to.deep.equal([600n, 250n]);
    // Each undelivered Wh costs (ceiling − price) / 1000, capped by the bond (20% of 600 Wh × 250,000 / 1000).
    const bond = (((600n * 250_000n) / 1000n) * 2_000n) / 10_000n;
    const cost = (350n * (400_000n - a.price)) / 1000n;
    expect(a.slashed).to.equal(cost < bond ? cost : bond);
    expect(r.stdout).to.contain(
      `delivered order ${a.commitment} of ${SHORT} (zone 2, 600 Wh at ${a.price}): 250 of 600 Wh; ` +
        `paid ${a.payment}, bond returned ${a.bondReturned}, slashed ${a.slashed} (tx ${ev.transactionHash})`,
    );
    expect(await system.kwh.balanceOf(SHORT, id2)).to.equal(0n);
    expect(await system.kwh.balanceOf(await system.escrow.getAddress(), id2)).to.equal(250n);
  });

  it("test_deliverAll_afterTheDeadline_settlesTheDefault", async function () {
    await setTime(deadline);
    const I = interval.toString();
    const collect = await task("settle", "collect", "--interval", I, "--from", BUYER);
    expectOneLineError(collect, /^Error: /, "collect with a seller in default");
    expect(errorLines(collect.stderr)[0]).to.equal(
      `Error: 300 Wh sold in interval ${I} are not settled yet (1 sell order) and the settlement deadline passed at ` +
        `${iso(deadline)}: settle the defaults with \`settle deliver --interval ${I} --all\` (anyone may), then collect`,
    );
    const r = await task("settle", "deliver", "--interval", I, "--all");
    expect(r.code, r.stderr).to.equal(0);
    const ev = (await escrowEvents()).sellers.find((e) => e.args.seller === LATE)!;
    const a = ev.args;
    expect([a.filledWh, a.deliveredWh, a.payment]).to.deep.equal([300n, 0n, 0n]);
    expect(r.stdout).to.equal(
      `the settlement deadline passed at ${iso(deadline)}: open sell orders settle as defaults\n` +
        `defaulted order ${a.commitment} of ${LATE} (zone 1, 300 Wh at ${a.price}): nothing delivered; ` +
        `paid 0, bond returned ${a.bondReturned}, slashed ${a.slashed} (tx ${ev.transactionHash})\n` +
        `interval ${I}: settled 1 sell order; every seller has settled\n`,
    );
    expect(a.slashed).to.be.greaterThan(0n);
  });

  it("test_collect_buyerThenAll_deliversTheEnergyAndPaysRentAndDust", async function () {
    const I = interval.toString();
    const [id1, id2] = [kwhTokenId(1, interval), kwhTokenId(2, interval)];
    const usdBefore = await system.paymentToken.balanceOf(BUYER);
    const r = await task("settle", "collect", "--interval", I, "--from", BUYER);
    expect(r.code, r.stderr).to.equal(0);
    const mine = (await escrowEvents()).buyers;
    expect(mine).to.have.length(1);
    const a = mine[0].args;
    expect(r.stdout.trim()).to.equal(
      `collected order ${a.commitment} of ${BUYER} (zone 1, 500 Wh at ${a.price}): received ${a.receivedWh} of 500 Wh ` +
        `(${a.receivedWh} Wh of zone 1 (id ${id1})); paid ${a.payment}, compensation ${a.compensation}, ` +
        `refunded ${a.refunded} (tx ${mine[0].transactionHash})`,
    );
    expect(await system.kwh.balanceOf(BUYER, id1)).to.equal(a.receivedWh);
    expect(a.receivedWh).to.be.lessThan(500n); // LATE defaulted on part of zone 1's energy
    expect(a.compensation).to.be.greaterThan(0n);
    expect(await system.paymentToken.balanceOf(BUYER)).to.equal(usdBefore + a.refunded);
    const twice = await rejection(collect(system, await rpc.getSigner(0), interval, { trader: BUYER }));
    expect(twice.message).to.match(
      new RegExp(`^every filled buy order of ${BUYER} in interval ${I} was collected already`),
    );

    const treasury = deployment.market!.treasury;
    const treasuryBefore = await system.paymentToken.balanceOf(treasury);
    const all = await task("settle", "collect", "--interval", I, "--all");
    expect(all.code, all.stderr).to.equal(0);
    const ev = await escrowEvents();
    const imp = ev.buyers.find((e) => e.args.buyer === IMPORTER)!;
    const [rent] = ev.rent;
    const [dust] = ev.dust;
    const got1 = await system.kwh.balanceOf(IMPORTER, id1);
    const got2 = await system.kwh.balanceOf(IMPORTER, id2);
    expect(got1 + got2).to.equal(imp.args.receivedWh);
    expect(got1).to.be.greaterThan(0n); // zone 1's exports
    const lines = all.stdout.trim().split("\n");
    // Its own zone's energy and zone 1's exports, in one transfer.
    expect(lines[0]).to.match(
      new RegExp(
        `^collected order ${imp.args.commitment} of ${IMPORTER} \\(zone 2, 1000 Wh at ${imp.args.price}\\): received ` +
          `${imp.args.receivedWh} of 1000 Wh \\(.*\\); paid ${imp.args.payment}, compensation ${imp.args.compensation}, ` +
          `refunded ${imp.args.refunded} \\(tx ${imp.transactionHash}\\)$`,
      ),
    );
    expect(lines[0]).to.contain(`${got2} Wh of zone 2 (id ${id2})`);
    expect(lines[0]).to.contain(`${got1} Wh of zone 1 (id ${id1})`);
    expect(rent.args.amount).to.be.greaterThan(0n);
    expect(lines[1]).to.equal(`congestion rent ${rent.args.amount} paid to ${treasury} (tx ${rent.transactionHash})`);
    expect(lines[2]).to.match(new RegExp(`^dust ${dust.args.amount} base units( and .*)? swept to ${treasury} \\(tx `));
    expect(await system.paymentToken.balanceOf(treasury)).to.equal(
      treasuryBefore + rent.args.amount + dust.args.amount,
    );
    // The auction's vault held only this interval's money: nothing is left.
    expect(await system.paymentToken.balanceOf(await system.auction.getAddress())).to.equal(0n);
    expect(await system.escrow.residualOf(interval)).to.equal(0n);

    const again = await task("settle", "collect", "--interval", I, "--all");
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/congestion rent \d+ was paid already/);
    expect(again.stdout).to.match(/dust \d+ base units.* was swept already/);
  });

  it("test_status_rebuildsTheSettlementFromEventsAndMatchesTheChain", async function () {
    const I = interval.toString();
    const r = await task("settle", "status", "--interval", I, "--json");
    expect(r.code, r.stderr).to.equal(0);
    const s = JSON.parse(r.stdout);
    const ev = await escrowEvents();
    const total = <T>(xs: T[], f: (x: T) => bigint) => xs.reduce((sum, x) => sum + f(x), 0n).toString();
    expect(s.matchesChain, s.differences.join("; ")).to.equal(true);
    expect([s.rootFinal, s.deadlinePassed]).to.deep.equal([true, true]);
    expect(s.sellers).to.deep.equal({
      orders: 3,
      settled: 3,
      filledWh: "1500",
      settledWh: "1500",
      deliveredWh: total(ev.sellers, (e) => e.args.deliveredWh),
      shortfallWh: "650",
      paid: total(ev.sellers, (e) => e.args.payment),
      bondsReturned: total(ev.sellers, (e) => e.args.bondReturned),
      slashed: total(ev.sellers, (e) => e.args.slashed),
      pendingWh: "0",
    });
    expect(s.sellers.deliveredWh).to.equal("850");
    expect(s.buyers).to.deep.equal({
      orders: 2,
      collected: 2,
      filledWh: "1500",
      collectedWh: "1500",
      receivedWh: total(ev.buyers, (e) => e.args.receivedWh),
      paid: total(ev.buyers, (e) => e.args.payment),
      compensation: total(ev.buyers, (e) => e.args.compensation),
      refunded: total(ev.buyers, (e) => e.args.refunded),
      pendingWh: "0",
    });
    expect(s.rent).to.deep.include({ amount: ev.rent[0].args.amount.toString(), paid: true });
    expect(s.dust).to.deep.include({ swept: true, amount: ev.dust[0].args.amount.toString() });
    expect(s.residual).to.deep.equal({ rebuilt: "0", onChain: "0" });
    // Every obligation as the chain recorded it, and the kWh the buyers hold.
    for (const o of s.obligations) {
      const [filled, price] = await system.auction.fillOf(interval, o.trader, o.commitment);
      expect([o.filledWh, o.price, o.settled]).to.deep.equal([filled.toString(), price.toString(), true]);
      if (o.side === "sell") {
        const e = ev.sellers.find((x) => x.args.commitment === o.commitment)!;
        expect([o.delivery.deliveredWh, o.delivery.payment, o.delivery.slashed]).to.deep.equal(
          [e.args.deliveredWh, e.args.payment, e.args.slashed].map(String),
        );
        expect(o.delivery.defaulted).to.equal(o.trader === LATE);
      } else {
        for (const got of o.collection.received)
          expect(await system.kwh.balanceOf(o.trader, BigInt(got.id))).to.equal(BigInt(got.wh));
      }
    }
    const zone1 = s.zones.find((z: { zone: number }) => z.zone === 1);
    expect([zone1.soldWh, zone1.boughtWh, zone1.deliveredWh, zone1.netExportWh]).to.deep.equal([
      "900",
      "500",
      "600",
      "400",
    ]);

    const text = await task("settle", "status", "--interval", I);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.match(/root final, deadline .* \(passed\)/);
    expect(text.stdout).to.contain(`congestion rent: ${ev.rent[0].args.amount} paid to`);
    expect(text.stdout).to.contain("sellers: 3 of 3 orders settled; delivered 850 of 1500 Wh (shortfall 650)");
    expect(text.stdout).to.match(new RegExp(`${LATE}\\s+0x[0-9a-f]{8}\\s+sell\\s+1\\s+300\\s+\\d+\\s+defaulted`));
    expect(text.stdout).to.contain("matches the escrow's books: yes");
  });
});
