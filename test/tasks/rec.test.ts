import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, Wallet, hexlify, toUtf8Bytes } from "ethers";
import { attachSystem, readDeployment, type System } from "../../src/deploy.js";
import { certificateId, formatMWh, formatVintage, vintageOf } from "../../src/certificates.js";
import { ChainError, InputError } from "../../src/errors.js";
import { claimKwh, claimKwhBatch } from "../../src/ops/kwh.js";
import { submitTree } from "../../src/ops/oracle.js";
import {
  decodeClaimData,
  encodeClaimData,
  formatCertificateId,
  issuance,
  parseCertificateId,
  queryLogs,
  recHoldings,
  retireCertificates,
  retirementReceipts,
  revokeAccreditation,
} from "../../src/ops/rec.js";
import { buildIntervalTree, type IntervalLeaf, type IntervalTree } from "../../src/tree.js";
import { deployFixture, networkHelpers, postRoot, sampleLeaves, INTERVAL } from "../helpers/fixture.js";
import { expectOneLineError, hardhat, rejection, startTaskNode, twoAtATime } from "./helpers.js";

const { loadFixture } = networkHelpers;

// Hardhat's default accounts 0..3: deployer (registrar, issuer), relayers 1 and 2, the meters' owner.
const DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const RELAYERS = ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"];
const OWNER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

describe("rec tasks (over JSON-RPC, as an operator runs them)", function () {
  this.timeout(300_000);
  let node: Awaited<ReturnType<typeof startTaskNode>>;
  let rpc: JsonRpcProvider;
  let system: System;
  const solar = Wallet.createRandom().address;
  const wind = Wallet.createRandom().address;
  const beneficiary = Wallet.createRandom().address;
  const beneficiary2 = Wallet.createRandom().address;
  let i1: bigint;
  let tree2: IntervalTree;
  let solarId: bigint;
  let windId: bigint;
  const retireTx: string[] = [];

  async function setTime(t: bigint) {
    await rpc.send("evm_setNextBlockTimestamp", [Number(t)]);
    await rpc.send("evm_mine", []);
  }

  /** Posts an interval's root with relayers 1 and 2 (the ops functions, over JSON-RPC). */
  async function post(intervalId: bigint, leaves: IntervalLeaf[]): Promise<IntervalTree> {
    const tree = buildIntervalTree(intervalId, leaves);
    for (const r of RELAYERS) await submitTree(system.oracle.connect(await rpc.getSigner(r)), tree);
    return tree;
  }

  const task = (...args: string[]) => hardhat(node.env, ...args, "--network", "localhost");

  before(async function () {
    node = await startTaskNode("microgrid-rec-tasks-");
    rpc = new JsonRpcProvider(node.url);
    expect((await task("deploy")).code).to.equal(0);
    expect(
      (await task("meter", "zone", "--zone", "1", "--export-capacity", "50000", "--import-capacity", "40000")).code,
    ).to.equal(0);
    const now = BigInt((await rpc.getBlock("latest"))!.timestamp);
    const file = join(node.dir, "meters.json");
    const expiry = (now + 365n * 86_400n).toString();
    writeFileSync(
      file,
      JSON.stringify([
        {
          meter: solar,
          owner: OWNER,
          zone: 1,
          technology: "solar",
          ratedCapacityW: 6000,
          recEligible: true,
          accreditationExpiry: expiry,
        },
        {
          meter: wind,
          owner: OWNER,
          zone: 1,
          technology: "wind",
          ratedCapacityW: 6000,
          recEligible: true,
          accreditationExpiry: expiry,
        },
      ]),
    );
    const reg = await task("meter", "register", "--file", file);
    expect(reg.code, reg.stderr).to.equal(0);

    system = attachSystem(readDeployment(node.dir, "localhost"), await rpc.getSigner(DEPLOYER));
    // The first interval starting after both meters were accredited, and the next; the clock past both.
    const from = (await system.registry.getMeter(wind)).accreditedFrom;
    i1 = (from + INTERVAL - 1n) / INTERVAL;
    await setTime((i1 + 2n) * INTERVAL);
    const tree1 = await post(i1, [
      { meter: solar, importWh: 0n, exportWh: 1500n },
      { meter: wind, importWh: 0n, exportWh: 800n },
    ]);
    tree2 = await post(i1 + 1n, [
      { meter: solar, importWh: 0n, exportWh: 700n },
      { meter: wind, importWh: 0n, exportWh: 300n },
    ]);
    await claimKwhBatch(system.kwh, tree1, [solar, wind]);
    const vintage = vintageOf(i1 * INTERVAL);
    solarId = certificateId({ meter: solar, vintage, technology: "Solar", zone: 1 });
    windId = certificateId({ meter: wind, vintage, technology: "Wind", zone: 1 });
  });

  after(async function () {
    rpc?.destroy();
    await node?.close();
  });

  it("test_recList_showsEachClassWithItsAttributesAndAmounts", async function () {
    const json = await task("rec", "list", "--account", OWNER, "--json");
    expect(json.code, json.stderr).to.equal(0);
    const rows = JSON.parse(json.stdout);
    const vintage = vintageOf(i1 * INTERVAL);
    expect(rows).to.deep.equal([
      { id: solarId.toString(), meter: solar, vintage, technology: "Solar", zone: 1, heldWh: "1500", retiredWh: "0" },
      { id: windId.toString(), meter: wind, vintage, technology: "Wind", zone: 1, heldWh: "800", retiredWh: "0" },
    ]);
    const text = await task("rec", "list", "--account", OWNER);
    expect(text.code, text.stderr).to.equal(0);
    const lines = text.stdout.trim().split("\n");
    expect(lines[0]).to.equal(`${OWNER}: 0.002300 MWh held, 0.000000 MWh retired for it, in 2 certificate classes`);
    expect(lines[1].trim().split(/\s+/)).to.deep.equal([
      "id",
      "meter",
      "vintage",
      "technology",
      "zone",
      "heldMWh",
      "retiredMWh",
    ]);
    expect(lines[2].trim().split(/\s+/)).to.deep.equal([
      formatCertificateId(solarId),
      solar,
      formatVintage(vintage),
      "Solar",
      "1",
      "0.001500",
      "0.000000",
    ]);
    // Account 0 holds nothing.
    expect((await task("rec", "list")).stdout).to.contain("(none)");
  });

  it("test_recRetire_singleBatchAndForAHolder_printReceiptIds", async function () {
    const single = await task(
      "rec",
      "retire",
      "--from",
      OWNER,
      "--id",
      formatCertificateId(solarId),
      "--amount",
      "400",
      "--beneficiary",
      beneficiary,
      "--period",
      "2026-11",
      "--location",
      "Zone 1, Feeder 3",
    );
    expect(single.code, single.stderr).to.equal(0);
    expect(single.stdout).to.match(
      new RegExp(
        `^receipt 1: retired 0\\.000400 MWh \\(400 Wh\\) in 1 certificate class held by ${OWNER} for ${beneficiary} \\(tx (0x[0-9a-f]{64})\\)`,
      ),
    );
    // A batch, ids given in decimal and hex.
    const batch = await task(
      "rec",
      "retire",
      "--from",
      OWNER,
      "--id",
      `${solarId},${formatCertificateId(windId)}`,
      "--amount",
      "100, 200",
      "--beneficiary",
      beneficiary,
      "--claim-data",
      "0xDEADBEEF",
    );
    expect(batch.code, batch.stderr).to.equal(0);
    expect(batch.stdout).to.match(/^receipt 2: retired 0\.000300 MWh \(300 Wh\) in 2 certificate classes/);
    // Account 0 retires for the owner once approved (retireFrom).
    await (await system.rec.connect(await rpc.getSigner(OWNER)).setApprovalForAll(DEPLOYER, true)).wait();
    const from = await task(
      "rec",
      "retire",
      "--holder",
      OWNER,
      "--id",
      formatCertificateId(windId),
      "--amount",
      "50",
      "--beneficiary",
      beneficiary2,
      "--claim-data",
      "green tariff",
    );
    expect(from.code, from.stderr).to.equal(0);
    expect(from.stdout).to.match(new RegExp(`^receipt 3: .* held by ${OWNER} for ${beneficiary2}`));
    for (const r of [single, batch, from]) retireTx.push(/\(tx (0x[0-9a-f]{64})\)/.exec(r.stdout)![1]);
    expect(await system.rec.receiptCount()).to.equal(3n);
  });

  it("test_recReceipts_rebuiltFromEventsMatchTheRetirements", async function () {
    const r = await task("rec", "receipts", "--json");
    expect(r.code, r.stderr).to.equal(0);
    const receipts = JSON.parse(r.stdout);
    const vintage = vintageOf(i1 * INTERVAL);
    const line = (id: bigint, meter: string, technology: string, wh: string) => ({
      id: id.toString(),
      meter,
      vintage,
      technology,
      zone: 1,
      wh,
    });
    expect(
      receipts.map((x: Record<string, unknown>) => ({
        receiptId: x.receiptId,
        txHash: x.txHash,
        claimIssuer: x.claimIssuer,
        holder: x.holder,
        beneficiary: x.beneficiary,
        lines: x.lines,
        totalWh: x.totalWh,
        claimData: x.claimData,
      })),
    ).to.deep.equal([
      {
        receiptId: "1",
        txHash: retireTx[0],
        claimIssuer: OWNER,
        holder: OWNER,
        beneficiary,
        lines: [line(solarId, solar, "Solar", "400")],
        totalWh: "400",
        claimData: '{"period":"2026-11","location":"Zone 1, Feeder 3"}',
      },
      {
        receiptId: "2",
        txHash: retireTx[1],
        claimIssuer: OWNER,
        holder: OWNER,
        beneficiary,
        lines: [line(solarId, solar, "Solar", "100"), line(windId, wind, "Wind", "200")],
        totalWh: "300",
        claimData: "0xdeadbeef",
      },
      {
        receiptId: "3",
        txHash: retireTx[2],
        claimIssuer: DEPLOYER,
        holder: OWNER,
        beneficiary: beneficiary2,
        lines: [line(windId, wind, "Wind", "50")],
        totalWh: "50",
        claimData: "green tariff",
      },
    ]);
    for (const x of receipts) {
      const block = await rpc.getBlock(x.blockNumber);
      expect(x.timestamp).to.equal(block!.timestamp);
      expect((await rpc.getTransactionReceipt(x.txHash))!.blockNumber).to.equal(x.blockNumber);
    }
    // The claimed balances agree with the receipts, and the holdings with what is left.
    const forBeneficiary = JSON.parse((await task("rec", "list", "--account", beneficiary, "--json")).stdout);
    expect(forBeneficiary.map((h: Record<string, string>) => [h.id, h.heldWh, h.retiredWh])).to.deep.equal([
      [solarId.toString(), "0", "500"],
      [windId.toString(), "0", "200"],
    ]);
    const owner = JSON.parse((await task("rec", "list", "--account", OWNER, "--json")).stdout);
    expect(owner.map((h: Record<string, string>) => h.heldWh)).to.deep.equal(["1000", "550"]);
    // Filters.
    const only3 = JSON.parse((await task("rec", "receipts", "--beneficiary", beneficiary2, "--json")).stdout);
    expect(only3.map((x: { receiptId: string }) => x.receiptId)).to.deep.equal(["3"]);
    const byHolder = JSON.parse((await task("rec", "receipts", "--holder", OWNER, "--json")).stdout);
    expect(byHolder).to.have.length(3);
    expect(JSON.parse((await task("rec", "receipts", "--holder", DEPLOYER, "--json")).stdout)).to.deep.equal([]);
    // The table: one row per line.
    const text = await task("rec", "receipts", "--beneficiary", beneficiary);
    const rows = text.stdout.trim().split("\n");
    expect(rows).to.have.length(4);
    expect(rows[0].split(/\s+/).slice(0, 3)).to.deep.equal(["receipt", "time", "holder"]);
    expect(rows[1]).to.contain("Zone 1, Feeder 3").and.to.contain("0.000400");
    expect(rows[3]).to.match(/^2 .*Wind.*0\.000200\s+0xdeadbeef$/);
  });

  it("test_recRetire_printsOneLineErrorsForBadInput", async function () {
    const retire = (...more: string[]) => ["rec", "retire", "--from", OWNER, ...more];
    const hex = formatCertificateId(solarId);
    const cases: [string[], RegExp][] = [
      [
        retire("--id", hex, "--amount", "999999", "--beneficiary", beneficiary),
        new RegExp(`^Error: cannot retire 999999 Wh of certificate ${hex}: holder ${OWNER} holds 1000 Wh$`),
      ],
      [
        retire("--id", hex, "--amount", "0", "--beneficiary", beneficiary),
        new RegExp(`^Error: amount 0 Wh for certificate ${hex} must be positive$`),
      ],
      [
        retire("--id", hex, "--amount", "-5", "--beneficiary", beneficiary),
        /^Error: amount -5 Wh for certificate 0x[0-9a-f]+ must be positive$/,
      ],
      [
        retire("--id", hex, "--amount", "1.5", "--beneficiary", beneficiary),
        /^Error: amount "1.5" for certificate 0x[0-9a-f]+ is not a whole number of Wh$/,
      ],
      [
        retire("--id", "0x1234", "--amount", "1", "--beneficiary", beneficiary),
        /^Error: certificate id "0x1234" is not a certificate class id$/,
      ],
      [
        retire("--id", "solar-2026", "--amount", "1", "--beneficiary", beneficiary),
        /^Error: certificate id "solar-2026" is not a number \(decimal or 0x hex\)$/,
      ],
      [retire("--id", hex, "--amount", "1"), /^Error: give --beneficiary <address>/],
      [retire("--amount", "1", "--beneficiary", beneficiary), /^Error: give --id <certificate id>/],
      [retire("--id", hex, "--amount", "1", "--beneficiary", "0x12"), /^Error: beneficiary "0x12" is not an address$/],
      [
        retire("--id", `${hex},${windId}`, "--amount", "1", "--beneficiary", beneficiary),
        /^Error: give one amount per certificate id \(ids: 2, amounts: 1\)$/,
      ],
      [
        retire("--id", `${hex},${solarId}`, "--amount", "1,1", "--beneficiary", beneficiary),
        new RegExp(`^Error: certificate ${hex} is given twice$`),
      ],
      [
        retire("--id", hex, "--amount", "1", "--beneficiary", beneficiary, "--claim-data", "x", "--period", "2026-11"),
        /^Error: give either --claim-data or --period\/--location, not both$/,
      ],
      [
        retire("--id", hex, "--amount", "1", "--beneficiary", beneficiary, "--period", "November"),
        /^Error: period "November" must be YYYY-MM/,
      ],
      [
        ["rec", "retire", "--holder", beneficiary, "--id", hex, "--amount", "1", "--beneficiary", beneficiary],
        new RegExp(`^Error: cannot retire 1 Wh of certificate ${hex}: holder ${beneficiary} holds 0 Wh$`),
      ],
      [["rec", "receipts", "--beneficiary", "0x12"], /^Error: beneficiary "0x12" is not an address$/],
      [["rec", "list", "--account", "bob"], /^Error: account "bob" is not an address$/],
      [["meter", "revoke-accreditation"], /^Error: give --meter <address>$/],
    ];
    const results = await twoAtATime(cases, ([args]) => task(...args));
    cases.forEach(([args, pattern], i) => expectOneLineError(results[i], pattern, args.join(" ")));
    expect(await system.rec.receiptCount()).to.equal(3n);
  });

  it("test_revokeAccreditation_then_issuanceShowsBeforeAndAfter", async function () {
    const r = await task("meter", "revoke-accreditation", "--meter", solar);
    expect(r.code, r.stderr).to.equal(0);
    const m = /^revoked the REC accreditation of (0x[0-9a-fA-F]{40}) effective (\d+) .*was to expire (\d+)/.exec(
      r.stdout,
    );
    expect(m, r.stdout).to.not.equal(null);
    expect(m![1]).to.equal(solar);
    const effectiveAt = BigInt(m![2]);
    // Interval 2 ended before the revocation took effect: still certified when claimed after it.
    expect((i1 + 2n) * INTERVAL <= effectiveAt).to.equal(true);
    await claimKwhBatch(system.kwh, tree2, [solar, wind]);
    // Interval 3 ends after it: the solar meter earns nothing, the wind meter does.
    const i3 = i1 + 2n;
    await setTime((i3 + 1n) * INTERVAL + 1n);
    const tree3 = await post(i3, [
      { meter: solar, importWh: 0n, exportWh: 900n },
      { meter: wind, importWh: 0n, exportWh: 600n },
    ]);
    await claimKwh(system.kwh, tree3, solar);
    await claimKwh(system.kwh, tree3, wind);

    const json = await task("rec", "issuance", "--meter", solar, "--json");
    expect(json.code, json.stderr).to.equal(0);
    const out = JSON.parse(json.stdout);
    expect(out.revocations).to.have.length(1);
    expect(out.revocations[0]).to.include({ meter: solar, issuer: DEPLOYER, effectiveAt: effectiveAt.toString() });
    expect(
      out.issuances.map((i: Record<string, unknown>) => [
        i.intervalId,
        i.wh,
        i.relativeToRevocation,
        i.generatedAfterEffectiveAt,
      ]),
    ).to.deep.equal([
      [i1.toString(), "1500", "before", false],
      [(i1 + 1n).toString(), "700", "after", false],
    ]);
    const all = JSON.parse((await task("rec", "issuance", "--json")).stdout);
    expect(
      all.issuances
        .filter((i: { meter: string }) => i.meter === wind)
        .map((i: Record<string, unknown>) => [i.wh, i.relativeToRevocation, i.revocation]),
    ).to.deep.equal([
      ["800", "none", null],
      ["300", "none", null],
      ["600", "none", null],
    ]);
    const text = await task("rec", "issuance", "--meter", solar);
    const lines = text.stdout.trim().split("\n");
    expect(lines[0]).to.match(
      new RegExp(`^accreditation of ${solar} revoked by ${DEPLOYER} at block \\d+, effective `),
    );
    expect(lines[1].trim().split(/\s+/).slice(-2)).to.deep.equal(["revocation", "afterEffectiveAt"]);
    expect(lines[2].trim().split(/\s+/).slice(-2)).to.deep.equal(["before", "no"]);
    expect(lines[3].trim().split(/\s+/).slice(-2)).to.deep.equal(["after", "no"]);
    expect(lines).to.have.length(4);
    // Revoking again names the problem in one line.
    expectOneLineError(
      await task("meter", "revoke-accreditation", "--meter", solar),
      /^Error: MeterRegistryInvalidRevocationTime\(meter=0x[0-9a-fA-F]{40}, effectiveAt=\d+, accreditationExpiry=\d+\): the revocation must take effect/,
      "revoke twice",
    );
    expectOneLineError(
      await task("meter", "revoke-accreditation", "--meter", wind, "--effective-at", "99999999999"),
      /^Error: MeterRegistryInvalidRevocationTime\(/,
      "revoke in the future",
    );
  });
});

/*//////////////////////////////////////////////////////////////
                    src/ops/rec.ts, in-process
//////////////////////////////////////////////////////////////*/

/**
 * Alice's two solar meters (fixture meters 0 and 1, the second made REC-eligible here) claimed for the first
 * interval both are accredited for: alice holds 1,200 units of meter 0's class and 1,900 of meter 1's.
 */
async function certified() {
  const f = await deployFixture();
  const m1 = f.meters[1];
  const { accreditationExpiry } = await f.system.registry.getMeter(f.meters[0].address);
  await (
    await f.system.registry.updateMeter(m1.address, {
      owner: m1.owner.address,
      zone: m1.zone,
      technology: m1.technology,
      ratedCapacityW: m1.ratedCapacityW,
      recEligible: true,
      accreditationExpiry,
    })
  ).wait();
  const { accreditedFrom } = await f.system.registry.getMeter(m1.address);
  const intervalId = (accreditedFrom + INTERVAL - 1n) / INTERVAL;
  await networkHelpers.time.increaseTo((intervalId + 1n) * INTERVAL);
  const tree = await postRoot(f.system, f.relayers, intervalId, sampleLeaves(f));
  await claimKwhBatch(f.system.kwh, tree, [f.meters[0].address, f.meters[1].address]);
  const vintage = vintageOf(intervalId * INTERVAL);
  const ids = [0, 1].map((i) => certificateId({ meter: f.meters[i].address, vintage, technology: "Solar", zone: 1 }));
  return { ...f, intervalId, vintage, ids, asAlice: attachSystem(f.deployment, f.alice) };
}

describe("src/ops/rec (in-process)", function () {
  it("test_recHoldings_decodesEachClassAndReadsBalances", async function () {
    const f = await loadFixture(certified);
    const holdings = await recHoldings(f.system, f.alice.address, f.deployment.block);
    expect(holdings).to.deep.equal(
      [
        {
          id: f.ids[0],
          meter: f.meters[0].address,
          vintage: f.vintage,
          technology: "Solar",
          zone: 1,
          heldWh: 1_200n,
          retiredWh: 0n,
        },
        {
          id: f.ids[1],
          meter: f.meters[1].address,
          vintage: f.vintage,
          technology: "Solar",
          zone: 1,
          heldWh: 1_900n,
          retiredWh: 0n,
        },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    expect(await recHoldings(f.system, f.bob.address, f.deployment.block)).to.deep.equal([]);
  });

  it("test_retireCertificates_singleAndBatch_returnReceiptIds", async function () {
    const f = await loadFixture(certified);
    const one = await retireCertificates(f.asAlice, f.alice, {
      id: formatCertificateId(f.ids[0]),
      amount: "200",
      beneficiary: f.bob.address,
      claimData: encodeClaimData({ period: "2026-11" }),
    });
    expect([one.receiptId, one.holder, one.beneficiary, one.ids, one.amounts]).to.deep.equal([
      1n,
      f.alice.address,
      f.bob.address,
      [f.ids[0]],
      [200n],
    ]);
    const two = await retireCertificates(f.asAlice, f.alice, {
      ids: f.ids,
      amounts: [1n, 900],
      beneficiary: f.bob.address,
    });
    expect(two.receiptId).to.equal(2n);
    const bob = await recHoldings(f.system, f.bob.address, f.deployment.block);
    expect(bob.map((h) => [h.id, h.heldWh, h.retiredWh])).to.deep.equal(
      [
        [f.ids[0], 0n, 201n],
        [f.ids[1], 0n, 900n],
      ].sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1)),
    );
    expect(await f.system.rec.balanceOf(f.alice.address, f.ids[0])).to.equal(999n);
  });

  it("test_retireCertificates_forAHolder_usesTheFromVariantsOnceApproved", async function () {
    const f = await loadFixture(certified);
    const asStranger = attachSystem(f.deployment, f.stranger);
    const input = { id: f.ids[0], amount: 5n, beneficiary: f.bob.address, holder: f.alice.address };
    const denied = await rejection(retireCertificates(asStranger, f.stranger, input));
    expect(denied).to.be.instanceOf(InputError);
    expect(denied.message).to.equal(
      `${f.stranger.address} may not retire certificates of ${f.alice.address}: the holder has not approved it (setApprovalForAll)`,
    );
    await (await f.asAlice.rec.setApprovalForAll(f.stranger.address, true)).wait();
    expect((await retireCertificates(asStranger, f.stranger, input)).receiptId).to.equal(1n);
    const batch = await retireCertificates(asStranger, f.stranger, {
      ids: f.ids,
      amounts: [1n, 2n],
      beneficiary: f.bob.address,
      holder: f.alice.address,
      claimData: "0xff00",
    });
    expect(batch.receiptId).to.equal(2n);
    const receipts = await retirementReceipts(f.system, { fromBlock: f.deployment.block });
    expect(receipts.map((r) => [r.receiptId, r.claimIssuer, r.holder, r.totalWh, r.claimData])).to.deep.equal([
      [1n, f.stranger.address, f.alice.address, 5n, ""],
      [2n, f.stranger.address, f.alice.address, 3n, "0xff00"],
    ]);
  });

  it("test_retireCertificates_rejectsBadInputBeforeSending", async function () {
    const f = await loadFixture(certified);
    const base = { id: f.ids[0], amount: 1n, beneficiary: f.bob.address };
    const hex = formatCertificateId(f.ids[0]);
    const cases: [Parameters<typeof retireCertificates>[2], string][] = [
      [
        { ...base, amount: 1_201n },
        `cannot retire 1201 Wh of certificate ${hex}: holder ${f.alice.address} holds 1200 Wh`,
      ],
      [{ ...base, amount: 0n }, `amount 0 Wh for certificate ${hex} must be positive`],
      [{ ...base, amount: "ten" }, `amount "ten" for certificate ${hex} is not a whole number of Wh`],
      [{ ...base, id: "12x" }, 'certificate id "12x" is not a number (decimal or 0x hex)'],
      [{ ...base, id: 1n }, "certificate id 0x1 is not a certificate class id"],
      [{ ...base, beneficiary: "" }, "give a beneficiary (the account the renewable energy is claimed for)"],
      [
        { ...base, beneficiary: "0x0000000000000000000000000000000000000000" },
        "the beneficiary must not be the zero address",
      ],
      [{ ids: [], amounts: [], beneficiary: f.bob.address }, "give at least one certificate id to retire"],
      [
        { ids: f.ids, amounts: [1n], beneficiary: f.bob.address },
        "give one amount per certificate id (ids: 2, amounts: 1)",
      ],
      [
        { ids: [f.ids[0], f.ids[0]], amounts: [1n, 1n], beneficiary: f.bob.address },
        `certificate ${hex} is given twice`,
      ],
    ];
    for (const [input, message] of cases) {
      let err: unknown;
      try {
        await retireCertificates(f.asAlice, f.alice, input);
      } catch (e) {
        err = e;
      }
      expect(err, message).to.be.instanceOf(InputError);
      expect((err as Error).message).to.equal(message);
    }
    expect(await f.system.rec.receiptCount()).to.equal(0n);
  });

  it("test_retirementReceipts_rebuildEveryReceiptFromEvents", async function () {
    const f = await loadFixture(certified);
    await retireCertificates(f.asAlice, f.alice, {
      id: f.ids[1],
      amount: 10n,
      beneficiary: f.bob.address,
      claimData: encodeClaimData({ period: "2026-11", location: "Feeder 3" }),
    });
    await retireCertificates(f.asAlice, f.alice, {
      ids: f.ids,
      amounts: [20n, 30n],
      beneficiary: f.stranger.address,
      claimData: encodeClaimData({ claimData: "PPA 7" }),
    });
    const all = await retirementReceipts(f.system, { fromBlock: f.deployment.block });
    expect(all.map((r) => r.receiptId)).to.deep.equal([1n, 2n]);
    expect(all[0].lines).to.deep.equal([
      { id: f.ids[1], meter: f.meters[1].address, vintage: f.vintage, technology: "Solar", zone: 1, wh: 10n },
    ]);
    expect(all[0].claimData).to.equal('{"period":"2026-11","location":"Feeder 3"}');
    expect(all[1].lines.map((l) => [l.id, l.wh])).to.deep.equal([
      [f.ids[0], 20n],
      [f.ids[1], 30n],
    ]);
    expect([all[1].claimData, all[1].claimDataHex]).to.deep.equal(["PPA 7", hexlify(toUtf8Bytes("PPA 7"))]);
    // The receipts add up to the claimed balances.
    for (const r of all) {
      for (const l of r.lines) {
        const sum = all
          .filter((x) => x.beneficiary === r.beneficiary)
          .flatMap((x) => x.lines)
          .filter((x) => x.id === l.id)
          .reduce((s, x) => s + x.wh, 0n);
        expect(await f.system.rec.claimedBalanceOf(r.beneficiary, l.id)).to.equal(sum);
      }
    }
    const forBob = await retirementReceipts(f.system, { fromBlock: f.deployment.block, beneficiary: f.bob.address });
    expect(forBob.map((r) => r.receiptId)).to.deep.equal([1n]);
    const ofBob = await retirementReceipts(f.system, { fromBlock: f.deployment.block, holder: f.bob.address });
    expect(ofBob).to.deep.equal([]);
    // One block per query gives the same receipts.
    const latest = await f.system.rec.runner!.provider!.getBlockNumber();
    const filter = f.system.rec.filters.ClaimBatch();
    const wide = await queryLogs(f.system.rec, filter, f.deployment.block, latest);
    const narrow = await queryLogs(f.system.rec, filter, f.deployment.block, latest, 1);
    expect(narrow.map((e) => e.transactionHash)).to.deep.equal(wide.map((e) => e.transactionHash));
  });

  it("test_queryLogs_splitsARangeTheNodeRefuses", async function () {
    const calls: [number, number][] = [];
    const source = {
      async queryFilter(_f: unknown, from?: number, to?: number) {
        calls.push([from!, to!]);
        if (to! - from! > 3) throw new Error("query returned more than 10000 results; block range too large");
        return Array.from({ length: to! - from! + 1 }, (_, i) => ({ blockNumber: from! + i }));
      },
    };
    const logs = await queryLogs(source as never, {} as never, 10, 29, 20);
    expect(logs.map((l) => (l as unknown as { blockNumber: number }).blockNumber)).to.deep.equal(
      Array.from({ length: 20 }, (_, i) => 10 + i),
    );
    expect(calls[0]).to.deep.equal([10, 29]);
    const failing = {
      async queryFilter() {
        throw new Error("connection refused");
      },
    };
    expect((await rejection(queryLogs(failing as never, {} as never, 0, 100))).message).to.equal("connection refused");
  });

  it("test_revokeAccreditation_retroactive_marksEarlierIssuanceAsAfterEffectiveAt", async function () {
    const f = await loadFixture(certified);
    const meter = f.meters[0].address;
    // Alice cannot revoke: the ISSUER role is the deployer's.
    const unauthorized = await rejection(revokeAccreditation(f.asAlice, meter));
    expect(unauthorized).to.be.instanceOf(ChainError);
    expect(unauthorized.message).to.match(/^AccessManagedUnauthorized\(/);
    const notAccredited = await rejection(revokeAccreditation(f.system, f.meters[2].address));
    expect(notAccredited).to.be.instanceOf(ChainError);
    expect(notAccredited.message).to.match(
      /^MeterRegistryNotAccredited\(meter=0x[0-9a-fA-F]{40}\): the meter has no REC accreditation$/,
    );
    const { accreditationExpiry } = await f.system.registry.getMeter(meter);
    const start = f.intervalId * INTERVAL;
    const r = await revokeAccreditation(f.system, meter, start);
    expect([r.meter, r.issuer, r.effectiveAt, r.previousExpiry]).to.deep.equal([
      meter,
      f.deployer.address,
      start,
      accreditationExpiry,
    ]);
    // The next interval earns meter 0 nothing; meter 1 still earns certificates.
    await networkHelpers.time.increaseTo((f.intervalId + 2n) * INTERVAL);
    const tree = await postRoot(f.system, f.relayers, f.intervalId + 1n, sampleLeaves(f));
    await claimKwhBatch(f.system.kwh, tree, [meter, f.meters[1].address]);

    const { revocations, issuances } = await issuance(f.system, { meter, fromBlock: f.deployment.block });
    expect(revocations).to.have.length(1);
    expect(revocations[0]).to.include({ meter, effectiveAt: start, txHash: r.txHash });
    expect(
      issuances.map((i) => [i.intervalId, i.wh, i.relativeToRevocation, i.generatedAfterEffectiveAt]),
    ).to.deep.equal([[f.intervalId, 1_200n, "before", true]]);
    const everyMeter = await issuance(f.system, { fromBlock: f.deployment.block });
    // (The multi-proof claims in tree order.)
    expect(everyMeter.issuances.map((i) => [i.meter, i.intervalId, i.relativeToRevocation])).to.have.deep.members([
      [meter, f.intervalId, "before"],
      [f.meters[1].address, f.intervalId, "none"],
      [f.meters[1].address, f.intervalId + 1n, "none"],
    ]);
    for (const i of everyMeter.issuances) expect(i.intervalEnd).to.equal((i.intervalId + 1n) * INTERVAL);

    // Without effectiveAt: the latest block's time.
    const before = BigInt((await f.system.rec.runner!.provider!.getBlock("latest"))!.timestamp);
    const now = await revokeAccreditation(f.system, f.meters[1].address);
    expect(now.effectiveAt).to.equal(before);
  });

  it("test_claimData_encodeAndDecode", function () {
    expect(encodeClaimData({})).to.equal("0x");
    expect(encodeClaimData({ claimData: "0xABcd" })).to.equal("0xabcd");
    expect(decodeClaimData(encodeClaimData({ claimData: "hello" }))).to.equal("hello");
    expect(decodeClaimData(encodeClaimData({ location: "Zone 1" }))).to.equal('{"location":"Zone 1"}');
    expect(decodeClaimData(encodeClaimData({ period: "2026-11-01/2026-11-30" }))).to.equal(
      '{"period":"2026-11-01/2026-11-30"}',
    );
    expect(decodeClaimData("0xff00")).to.equal("0xff00"); // not UTF-8
    expect(decodeClaimData("0x0102")).to.equal("0x0102"); // control characters
    expect(decodeClaimData(hexlify(toUtf8Bytes("0x12")))).to.equal(hexlify(toUtf8Bytes("0x12"))); // text that looks like hex
    expect(decodeClaimData("0x")).to.equal("");
    expect(() => encodeClaimData({ claimData: "0x123" })).to.throw(InputError, "not whole hex bytes");
    expect(() => encodeClaimData({ period: "2026-13" })).to.throw(InputError, 'period "2026-13" must be');
    expect(parseCertificateId(" 0x" + ((1n << 192n) | (202611n << 160n) | 1n).toString(16))).to.equal(
      (1n << 192n) | (202611n << 160n) | 1n,
    );
    expect(formatMWh(1_234_567n)).to.equal("1.234567");
  });
});
