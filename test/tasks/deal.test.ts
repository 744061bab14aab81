import { expect } from "chai";
import { existsSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { certificateId, vintageOf } from "../../src/certificates.js";
import { attachSystem, readDeployment, type Deployment, type System } from "../../src/deploy.js";
import { ChainError, InputError } from "../../src/errors.js";
import { kwhTokenId } from "../../src/intervals.js";
import {
  cancelQuote,
  dealPayment,
  fillQuote,
  invalidateNonces,
  parseExpiry,
  quoteStatus,
  readQuoteFile,
  signQuote,
} from "../../src/ops/deals.js";
import { buildIntervalTree, proofFor } from "../../src/tree.js";
import {
  deployFixture,
  firstAccreditedInterval,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
} from "../helpers/fixture.js";
import { expectOneLineError, hardhat, rejection, startTaskNode, twoAtATime } from "./helpers.js";

const { loadFixture, time } = networkHelpers;

// Hardhat's default accounts: 0 deployer, 1–2 relayers, 4 a seller with a REC-eligible solar meter, 5 a buyer.
const SELLER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const BUYER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const PRICE = 123_457n;

describe("deal tasks (over JSON-RPC, as a maker and a taker run them)", function () {
  this.timeout(600_000);
  const LENGTH = 60n;
  let node: Awaited<ReturnType<typeof startTaskNode>>;
  let rpc: JsonRpcProvider;
  let system: System;
  let deployment: Deployment;
  let kwhId: bigint;
  let recId: bigint;
  const defaultFiles: string[] = [];
  const file = (name: string) => join(node.dir, name);

  const task = (...args: string[]) => hardhat(node.env, ...args, "--network", "localhost");

  before(async function () {
    node = await startTaskNode("microgrid-deal-tasks-");
    rpc = new JsonRpcProvider(node.url);
    const dep = await task("deploy", "--interval-length", LENGTH.toString());
    expect(dep.code, dep.stderr).to.equal(0);
    expect(dep.stdout).to.match(/DealDesk\s+0x[0-9a-fA-F]{40}/);
    deployment = readDeployment(node.dir, "localhost");
    system = attachSystem(deployment, await rpc.getSigner(0));
    // The seller's meter earns kWh tokens and certificates from one proven interval.
    const meter = Wallet.createRandom().address;
    const now = BigInt((await rpc.getBlock("latest"))!.timestamp);
    await (await system.registry.setZone(1, 600_000, 600_000)).wait();
    await (
      await system.registry.registerMeter(meter, {
        owner: SELLER,
        zone: 1,
        technology: 0,
        ratedCapacityW: 600_000n,
        recEligible: true,
        accreditationExpiry: now + 365n * 86_400n,
      })
    ).wait();
    const { accreditedFrom } = await system.registry.getMeter(meter);
    const intervalId = (accreditedFrom + LENGTH - 1n) / LENGTH;
    await rpc.send("evm_setNextBlockTimestamp", [Number((intervalId + 1n) * LENGTH + 1n)]);
    await rpc.send("evm_mine", []);
    const tree = buildIntervalTree(intervalId, [{ meter, importWh: 0n, exportWh: 5_000n }]);
    for (const i of [1, 2]) {
      const oracle = system.oracle.connect(await rpc.getSigner(i));
      await (await oracle.submitRoot(intervalId, tree.root, 1, 0, 5_000)).wait();
    }
    const p = proofFor(tree, meter);
    await (await system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
    kwhId = kwhTokenId(1, intervalId);
    recId = certificateId({ meter, vintage: vintageOf(intervalId * LENGTH), technology: "Solar", zone: 1 });
    const fund = await task("auction", "fund", "--account", BUYER, "--amount", "50000000");
    expect(fund.code, fund.stderr).to.equal(0);
  });

  after(async function () {
    for (const f of defaultFiles) {
      rmSync(f, { force: true });
      // The default folders, when this test made them and nothing else is in them.
      for (const dir of [dirname(f), dirname(dirname(f))]) {
        try {
          rmdirSync(dir);
        } catch {
          // not empty, or gone
        }
      }
    }
    rpc?.destroy();
    await node?.close();
  });

  it("test_quote_badInput_printsOneLineErrors", async function () {
    const base = ["deal", "quote", "--id", kwhId.toString(), "--from", SELLER, "--out", file("bad.json")];
    const ok = ["--amount", "1000", "--price", "1", "--expiry", "60"];
    const cases: [string[], RegExp, string][] = [
      [["--token", "gas", ...ok], /^Error: token "gas" must be kwh or rec$/, "bad token"],
      [["--token", "kwh", "--amount", "1000", "--expiry", "60"], /^Error: give --price </, "no price"],
      [["--token", "kwh", "--amount", "1000", "--price", "0", "--expiry", "60"], /must be positive$/, "zero price"],
      [
        ["--token", "kwh", "--amount", "1000", "--price", "1", "--expiry", "soon"],
        /^Error: --expiry .* "soon" is not a whole number$/,
        "bad expiry",
      ],
      [
        ["--token", "kwh", "--amount", "1000", "--price", "1", "--expiry", "1000000000"],
        /^Error: expiry 1000000000 is not after the chain's time \d+$/,
        "past expiry",
      ],
      [["--token", "rec", ...ok], /^Error: 0x[0-9a-f]+ is not a certificate class id$/, "kWh id as rec"],
      [
        ["--token", "kwh", "--amount", "5001", "--price", "1", "--expiry", "60"],
        /holds 5000 units of kwh \d+, less than the 5001 quoted$/,
        "above balance",
      ],
      [
        ["--token", "kwh", ...ok, "--payment-token", "usd"],
        /^Error: payment token "usd" is not an address$/,
        "bad payment token",
      ],
    ];
    const results = await twoAtATime(cases, ([extra]) => task(...base, ...extra));
    cases.forEach(([, pattern, what], i) => expectOneLineError(results[i], pattern, what));
    expect(existsSync(file("bad.json"))).to.equal(false);
    expect(await system.kwh.isApprovedForAll(SELLER, await system.desk.getAddress())).to.equal(false);
  });

  it("test_quoteStatusFillCancel_kwhPartialQuoteRoundTrip", async function () {
    const q = await task(
      "deal",
      "quote",
      "--token",
      "kwh",
      "--id",
      kwhId.toString(),
      "--amount",
      "1000",
      "--price",
      PRICE.toString(),
      "--expiry",
      "3600",
      "--partial",
      "--from",
      SELLER,
      "--out",
      file("kwh.json"),
    );
    expect(q.code, q.stderr).to.equal(0);
    expect(q.stdout).to.match(/^approved the DealDesk for 0x15d3.* kwh tokens \(tx 0x/);
    expect(q.stdout).to.match(
      /sells 1000 units of kwh \d+ at 123457 per 1000 units \(123457 base units for all\), partial fills allowed/,
    );
    expect(q.stdout).to.contain(`written to ${file("kwh.json")}`);
    const saved = readQuoteFile(file("kwh.json"));
    expect(saved.quote.maker).to.equal(SELLER);
    expect(saved.quote.nonce).to.equal(0n);
    expect(saved.file.chainId).to.equal("31337");
    expect(await system.desk.quoteHash(saved.quote)).to.equal(saved.file.quoteHash);

    const status = await task("deal", "status", "--quote", file("kwh.json"));
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.match(/: open\n/);
    expect(status.stdout).to.match(/remaining\s+1000/);

    expectOneLineError(
      await task("deal", "fill", "--quote", file("kwh.json"), "--amount", "400", "--from", SELLER),
      /^Error: 0x15d3.* made this quote: a maker cannot fill its own quote$/,
      "self fill",
    );
    const buyerUsd = await system.paymentToken.balanceOf(BUYER);
    const sellerUsd = await system.paymentToken.balanceOf(SELLER);
    const fill = await task("deal", "fill", "--quote", file("kwh.json"), "--amount", "400", "--from", BUYER);
    expect(fill.code, fill.stderr).to.equal(0);
    expect(fill.stdout).to.match(/^approved 49383 base units of 0x/);
    expect(fill.stdout).to.match(
      /filled 400 units of kwh \d+ from 0x15d3.* for 49383 base units; 600 left of quote 0x/,
    );
    expect(await system.kwh.balanceOf(BUYER, kwhId)).to.equal(400n);
    expect(await system.kwh.balanceOf(SELLER, kwhId)).to.equal(4_600n);
    expect(await system.paymentToken.balanceOf(BUYER)).to.equal(buyerUsd - 49_383n);
    expect(await system.paymentToken.balanceOf(SELLER)).to.equal(sellerUsd + 49_383n);

    expectOneLineError(
      await task("deal", "fill", "--quote", file("kwh.json"), "--amount", "601", "--from", BUYER),
      /^Error: only 600 of the quote's 1000 units remain, not 601$/,
      "above remaining",
    );
    expectOneLineError(
      await task("deal", "cancel", "--quote", file("kwh.json"), "--from", BUYER),
      new RegExp(`^Error: .*kwh\\.json was signed by ${SELLER}: cancel with --from ${SELLER}$`),
      "cancel by the taker",
    );
    expectOneLineError(
      await task("deal", "cancel", "--from", SELLER),
      /^Error: give either --quote <quote file> or --below-nonce <n>$/,
      "cancel without target",
    );
    const cancel = await task("deal", "cancel", "--quote", file("kwh.json"), "--from", SELLER);
    expect(cancel.code, cancel.stderr).to.equal(0);
    expect(cancel.stdout).to.match(/^cancelled quote 0x[0-9a-f]{64} \(400 units had been filled\)/);
    expectOneLineError(
      await task("deal", "fill", "--quote", file("kwh.json"), "--from", BUYER),
      /^Error: quote 0x[0-9a-f]{64} was cancelled by its maker$/,
      "fill after cancel",
    );
    expectOneLineError(
      await task("deal", "cancel", "--quote", file("kwh.json"), "--from", SELLER),
      /^Error: quote 0x[0-9a-f]{64} was cancelled already$/,
      "cancel twice",
    );
    const after = await task("deal", "status", "--quote", file("kwh.json"), "--json");
    const s = JSON.parse(after.stdout);
    expect([s.cancelled, s.filled, s.remaining]).to.deep.equal([true, "400", "0"]);
  });

  it("test_quoteAndFill_recAllOrNothingAtTheDefaultPath", async function () {
    const q = await task(
      "deal",
      "quote",
      "--token",
      "rec",
      "--id",
      "0x" + recId.toString(16),
      "--amount",
      "333",
      "--price",
      PRICE.toString(),
      "--expiry",
      "3600",
      "--from",
      SELLER,
    );
    expect(q.code, q.stderr).to.equal(0);
    const m = /written to (\S+) /.exec(q.stdout);
    expect(m, q.stdout).to.not.equal(null);
    const path = m![1];
    defaultFiles.push(path);
    expect(path).to.match(/^deals\/localhost\/0x[0-9a-f]{16}\.json$/);
    expect(q.stdout).to.match(/\(41112 base units for all\), all or nothing/);

    expectOneLineError(
      await task("deal", "fill", "--quote", path, "--amount", "100", "--from", BUYER),
      /^Error: the quote is all-or-nothing: fill its whole 333 units \(omit --amount\)$/,
      "partial of all-or-nothing",
    );
    const fill = await task("deal", "fill", "--quote", path, "--from", BUYER);
    expect(fill.code, fill.stderr).to.equal(0);
    expect(fill.stdout).to.match(/filled 333 units of rec 0x[0-9a-f]+ from .* for 41112 base units; 0 left/);
    expect(await system.rec.balanceOf(BUYER, recId)).to.equal(333n);
    expectOneLineError(
      await task("deal", "fill", "--quote", path, "--from", BUYER),
      /^Error: quote 0x[0-9a-f]{64} is filled: all 333 units were bought$/,
      "replayed fill",
    );
    const status = await task("deal", "status", "--quote", path);
    expect(status.stdout).to.match(/: filled\n/);
  });

  it("test_cancelBelowNonce_cancelsOlderQuotes", async function () {
    const base = ["deal", "quote", "--token", "kwh", "--id", kwhId.toString(), "--price", "1000", "--expiry", "3600"];
    const q = await task(...base, "--amount", "10", "--from", SELLER, "--out", file("old.json"));
    expect(q.code, q.stderr).to.equal(0);
    expectOneLineError(
      await task("deal", "cancel", "--below-nonce", "0", "--from", SELLER),
      /^Error: --below-nonce 0 must be positive$/,
      "zero floor",
    );
    const c = await task("deal", "cancel", "--below-nonce", "5", "--from", SELLER);
    expect(c.code, c.stderr).to.equal(0);
    expect(c.stdout).to.match(/^cancelled every quote of 0x15d3.* with a nonce below 5 \(the floor was 0\)/);
    expectOneLineError(
      await task("deal", "fill", "--quote", file("old.json"), "--from", BUYER),
      /^Error: quote 0x[0-9a-f]{64} was cancelled: its maker invalidated every nonce below 5 \(the quote's is 0\)$/,
      "fill below the floor",
    );
    expectOneLineError(
      await task("deal", "cancel", "--below-nonce", "5", "--from", SELLER),
      /^Error: --below-nonce 5 must be above .* current nonce floor 5/,
      "floor again",
    );
    expectOneLineError(
      await task(...base, "--amount", "10", "--nonce", "4", "--from", SELLER, "--out", file("low.json")),
      /^Error: nonce 4 is below .* nonce floor 5: the quote would be cancelled$/,
      "quote below the floor",
    );
    // New quotes default to the floor.
    const fresh = await task(...base, "--amount", "10", "--from", SELLER, "--out", file("new.json"));
    expect(fresh.code, fresh.stderr).to.equal(0);
    expect(fresh.stdout).to.match(/nonce 5\n/);
    expect(fresh.stdout).to.not.match(/approved the DealDesk/); // approved once already
  });

  it("test_fill_badFilesAndChainRefusals_printOneLineErrors", async function () {
    expectOneLineError(
      await task("deal", "fill", "--quote", file("missing.json"), "--from", BUYER),
      /^Error: quote file .*missing\.json does not exist$/,
      "missing file",
    );
    writeFileSync(file("corrupt.json"), "{ not json");
    expectOneLineError(
      await task("deal", "fill", "--quote", file("corrupt.json"), "--from", BUYER),
      /^Error: cannot read quote file/,
      "corrupt file",
    );
    writeFileSync(file("other.json"), JSON.stringify({ hello: "world" }));
    expectOneLineError(
      await task("deal", "status", "--quote", file("other.json")),
      /^Error: .*other\.json is not a quote file written by `deal quote`$/,
      "not a quote file",
    );
    const tampered = JSON.parse(readFileSync(file("new.json"), "utf8"));
    tampered.quote.price = "1";
    writeFileSync(file("tampered.json"), JSON.stringify(tampered));
    expectOneLineError(
      await task("deal", "fill", "--quote", file("tampered.json"), "--from", BUYER),
      /^Error: .*tampered\.json is inconsistent: its quote hashes to 0x[0-9a-f]{64}, not 0x[0-9a-f]{64}$/,
      "tampered file",
    );
    // The maker withdrew the desk's approval: the chain's refusal, decoded on one line.
    const seller = await rpc.getSigner(SELLER);
    await (await system.kwh.connect(seller).setApprovalForAll(await system.desk.getAddress(), false)).wait();
    expectOneLineError(
      await task("deal", "fill", "--quote", file("new.json"), "--from", BUYER),
      /^Error: ERC1155MissingApprovalForAll\(operator=0x[0-9a-fA-F]{40}, owner=0x15d3.*\): the holder has not approved this operator/,
      "no approval",
    );
  });
});

describe("deal ops (in process)", function () {
  /** {deployFixture} with alice holding zone 1's kWh (3,100 Wh) and meter 0's certificates; bob funded. */
  async function fixture() {
    const f = await deployFixture();
    const intervalId = await firstAccreditedInterval(f);
    const tree = await postRoot(f.system, f.relayers, intervalId, sampleLeaves(f));
    for (const m of f.meters.slice(0, 2)) {
      const p = proofFor(tree, m.address);
      await (await f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
    }
    await (await f.system.paymentToken.mint(f.bob.address, 1_000_000_000n)).wait();
    return { ...f, intervalId, kwhId: kwhTokenId(1, intervalId) };
  }

  const tmp = () => join(process.env.TMPDIR ?? "/tmp", `deal-quote-${Date.now()}-${Math.random()}.json`);

  it("test_parseExpiry_secondsFromNowOrUnixTime", function () {
    expect(parseExpiry("60", 1_800_000_000n)).to.equal(1_800_000_060n);
    expect(parseExpiry(999_999_999n, 1_800_000_000n)).to.equal(2_799_999_999n);
    expect(parseExpiry("1900000000", 1_800_000_000n)).to.equal(1_900_000_000n);
    expect(() => parseExpiry("1700000000", 1_800_000_000n)).to.throw(InputError, /not after the chain's time/);
    expect(() => parseExpiry("-5", 1_800_000_000n)).to.throw(InputError, /must be positive/);
    expect(dealPayment(333n, PRICE)).to.equal(41_112n);
    expect(dealPayment(1_000n, PRICE)).to.equal(123_457n);
  });

  it("test_signQuote_rejectsBadInputBeforeSigning", async function () {
    const f = await loadFixture(fixture);
    const sys = attachSystem(f.deployment, f.alice);
    const base = { token: "kwh", id: f.kwhId, amount: 100n, price: PRICE, expiry: 600n, out: tmp() };
    const closed = (f.intervalId + 1n) * INTERVAL + 3_600n;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ token: "eth" }, /token "eth" must be kwh or rec/],
      [{ id: 5n }, /5 is not a kWh token id/],
      [{ id: 1n << 100n }, /is not a kWh token id/],
      [{ amount: 0n }, /must be positive/],
      [{ amount: 3_101n }, /holds 3100 units of kwh .* less than the 3101 quoted/],
      [{ price: "x" }, /is not a whole number/],
      [{ nonce: -1n }, /must be at least 0/],
      [{ token: "rec" }, /is not a certificate class id/],
    ];
    for (const [extra, pattern] of cases) {
      const e = await rejection(signQuote(sys, f.deployment, f.alice, { ...base, ...extra } as never));
      expect(e, String(pattern)).to.be.instanceOf(InputError);
      expect(e.message).to.match(pattern);
    }
    const noDesk = { ...f.deployment, contracts: { ...f.deployment.contracts, DealDesk: undefined } };
    const e = await rejection(signQuote(sys, noDesk, f.alice, base));
    expect(e.message).to.match(/the hardhat deployment has no DealDesk: redeploy/);
    await time.increaseTo(closed);
    const late = await rejection(signQuote(sys, f.deployment, f.alice, base));
    expect(late.message).to.match(/stopped being transferable at .*: it can no longer be sold/);
  });

  it("test_signFillCancel_opsRoundTrip", async function () {
    const f = await loadFixture(fixture);
    const alice = attachSystem(f.deployment, f.alice);
    const bob = attachSystem(f.deployment, f.bob);
    const out = tmp();
    const q = await signQuote(alice, f.deployment, f.alice, {
      token: "kwh",
      id: f.kwhId,
      amount: 1_000n,
      price: PRICE,
      expiry: 3_600n,
      allowPartial: true,
      out,
    });
    expect(q.file).to.equal(out);
    expect(q.payment).to.equal(123_457n);
    expect(q.approvalTx).to.match(/^0x/);
    expect(q.transferableUntil).to.equal((f.intervalId + 1n) * INTERVAL + 3_600n);
    const again = await rejection(
      signQuote(alice, f.deployment, f.alice, {
        token: "kwh",
        id: f.kwhId,
        amount: 1n,
        price: 1n,
        expiry: 60n,
        out,
      }),
    );
    expect(again.message).to.match(/exists already$/);

    // A small allowance left over is reset first (USDT-style tokens refuse non-zero to non-zero).
    await (await f.system.paymentToken.connect(f.bob).approve(await f.system.desk.getAddress(), 5n)).wait();
    const r = await fillQuote(bob, f.deployment, f.bob, out, 333n);
    expect([r.amount, r.payment, r.remaining]).to.deep.equal([333n, 41_112n, 667n]);
    expect(r.approveTx).to.match(/^0x/);
    const s = await quoteStatus(bob, f.deployment, out);
    expect([s.filled, s.remaining, s.cancelled, s.expired]).to.deep.equal([333n, 667n, false, false]);
    // The rest, by default.
    const rest = await fillQuote(bob, f.deployment, f.bob, out);
    expect([rest.amount, rest.payment, rest.remaining]).to.deep.equal([667n, 82_346n, 0n]);
    expect(await f.system.kwh.balanceOf(f.bob.address, f.kwhId)).to.equal(1_000n);

    const wrong = await rejection(cancelQuote(bob, f.deployment, f.bob, out));
    expect(wrong).to.be.instanceOf(InputError);
    const c = await cancelQuote(alice, f.deployment, f.alice, out);
    expect(c.filled).to.equal(1_000n);
    const inv = await invalidateNonces(alice, f.deployment, f.alice, 3n);
    expect([inv.previous, inv.minNonce]).to.deep.equal([0n, 3n]);

    // Refusals found before sending are InputErrors; the chain's own are ChainErrors naming the custom error.
    const expired = await signQuote(alice, f.deployment, f.alice, {
      token: "kwh",
      id: f.kwhId,
      amount: 10n,
      price: 1n,
      expiry: 60n,
      out: tmp(),
    });
    await time.increase(120);
    const late = await rejection(fillQuote(bob, f.deployment, f.bob, expired.file));
    expect(late.message).to.match(/^quote 0x[0-9a-f]{64} expired at /);
    const pausedQuote = await signQuote(alice, f.deployment, f.alice, {
      token: "kwh",
      id: f.kwhId,
      amount: 10n,
      price: 1n,
      expiry: 600n,
      out: tmp(),
    });
    await (await f.system.desk.pause()).wait();
    const paused = await rejection(fillQuote(bob, f.deployment, f.bob, pausedQuote.file));
    expect(paused).to.be.instanceOf(ChainError);
    expect(paused.message).to.equal("EnforcedPause(): the contract is paused");
  });
});
