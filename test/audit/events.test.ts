import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MaxUint256, ZeroAddress, keccak256, toUtf8Bytes, type EventFragment, type Interface } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { ROLES, attachSystem, type System } from "../../src/deploy.js";
import { DEMO_NETWORK_OVERRIDE, runDay, type DayRecord } from "../../src/demo/day.js";
import { kwhTokenId } from "../../src/intervals.js";
import { buildIntervalTree } from "../../src/tree.js";
import { claimKwh } from "../../src/ops/kwh.js";
import { dealDomain, signQuoteTypedData, type Quote } from "../../src/ops/deals.js";
import {
  CONTRACT_NAMES_BY_KEY,
  REPLAY_INTERFACES,
  compareWithChain,
  fetchSystemLogs,
  replayLogs,
  systemAddresses,
  type SystemKey,
  type SystemLog,
} from "../../src/audit/replay.js";
import { PriceFeedMock__factory } from "../../types/ethers-contracts/index.js";

/**
 * Event completeness (docs/auditing.md, "Events"): a simulated day of the microgrid, followed by everything the day
 * does not do (meter updates and revocations, accreditation windows, conflicting and re-voted roots, committee
 * changes, a non-revealed order, single claims, `collectTo`, kWh transfers and burns, batch and operator
 * retirements, partial deal fills, cancellations, nonce floors, role changes, pauses), then every log of the system's
 * contracts replayed from block 0 into a fresh in-memory model (`src/audit/replay.ts`) and compared with the
 * contracts' state through their views. And the indexing claim: every event field an auditor filters by (meter,
 * interval, zone, trader or account, certificate id) is a topic wherever the event has a topic left.
 */

type Signer = Awaited<ReturnType<NetworkConnection["ethers"]["getSigners"]>>[number];

/** The system's contracts whose ABIs this file checks (the payment token is external in production). */
const CONTRACTS: SystemKey[] = ["governance", "registry", "oracle", "kwh", "rec", "auction", "escrow", "desk"];

/** Events the contracts declare (inherited from OpenZeppelin) but never emit. */
const NEVER_EMITTED = [
  "MeterRegistry.EIP712DomainChanged",
  "DealDesk.EIP712DomainChanged",
  "KwhToken.URI",
  "RecToken.URI",
  "Governance.OperationScheduled",
  "Governance.OperationExecuted",
  "Governance.OperationCanceled",
  "Governance.RoleAdminChanged",
  "Governance.RoleGuardianChanged",
  "Governance.RoleGrantDelayChanged",
  "Governance.TargetClosed",
  "Governance.TargetAdminDelayUpdated",
];

const wait = async (p: Promise<{ wait(): Promise<unknown> }>) => {
  await (await p).wait();
};

/** What the day leaves undone, so that every event of the system is emitted at least once. */
async function beyondTheDay(conn: NetworkConnection, rec: DayRecord): Promise<void> {
  const { ethers, networkHelpers } = conn;
  const time = networkHelpers.time;
  const signers = await ethers.getSigners();
  const [keeper, r1, r2, r3] = signers;
  const spare = signers.slice(4 + rec.members.length);
  const s = attachSystem(rec.deployment, keeper);
  const L = rec.intervalLength;
  const member = (name: string) => {
    const i = rec.members.findIndex((m) => m.name === name);
    if (i < 0) throw new Error(`no ${name} in the run`);
    return { signer: signers[4 + i], meter: rec.members[i].meterKey.address };
  };
  const [uma, quinn, tom, ada, hal, ivy, rae, kai] = ["Uma", "Quinn", "Tom", "Ada", "Hal", "Ivy", "Rae", "Kai"].map(
    member,
  );
  const now = async () => BigInt(await time.latest());
  const paramsOf = async (meter: string, over: Record<string, unknown>) => {
    const m = await s.registry.getMeter(meter);
    return {
      owner: m.owner,
      zone: m.zone,
      technology: m.technology,
      ratedCapacityW: m.ratedCapacityW,
      recEligible: m.recEligible,
      accreditationExpiry: m.accreditationExpiry,
      ...over,
    };
  };

  // Registry: a new zone and a changed one; Ivy's accreditation withdrawn and renewed (a past window), Ada's
  // revoked in the past, Kai's battery sold to another owner, Tom's meter key revoked.
  await wait(s.registry.setZone(4, 5_000, 5_000));
  const z3 = await s.registry.getZone(3);
  await wait(s.registry.setZone(3, z3.exportCapacityW, z3.importCapacityW + 1_000n));
  await wait(
    s.registry.updateMeter(ivy.meter, await paramsOf(ivy.meter, { recEligible: false, accreditationExpiry: 0n })),
  );
  await time.increase(60);
  await wait(
    s.registry.updateMeter(
      ivy.meter,
      await paramsOf(ivy.meter, { recEligible: true, accreditationExpiry: (await now()) + 365n * 86_400n }),
    ),
  );
  await wait(s.registry.revokeAccreditation(ada.meter, (await now()) - 600n));
  await wait(s.registry.updateMeter(kai.meter, await paramsOf(kai.meter, { owner: spare[0].address })));
  await wait(s.registry.revokeMeter(tom.meter));

  // One more auction: Uma sells 1,000 Wh, Hal buys them, Ada bids below the price (no fill), Rae never reveals.
  const latest = await now();
  let t = latest / L + 1n;
  while ((await s.auction.schedule(t)).commitStart <= latest) t++;
  const sch = await s.auction.schedule(t);
  await time.increaseTo(sch.commitStart);
  for (const address of [rec.deployment.market!.floorFeed, rec.deployment.market!.ceilingFeed]) {
    const feed = PriceFeedMock__factory.connect(address, keeper);
    await wait(feed.updateAnswer(await feed.latestAnswer()));
  }
  await wait(s.auction.open(t));
  const [floor, ceiling] = await s.auction.bounds(t);
  const p = await s.auction.params();
  const orders = [
    { who: uma, side: 1, zone: 1, quantityWh: 1_000n, limitPrice: floor, meter: uma.meter, reveal: true },
    { who: hal, side: 0, zone: 1, quantityWh: 1_000n, limitPrice: ceiling, meter: ZeroAddress, reveal: true },
    { who: ada, side: 0, zone: 1, quantityWh: 500n, limitPrice: floor, meter: ZeroAddress, reveal: true },
    { who: rae, side: 0, zone: 3, quantityWh: 500n, limitPrice: ceiling, meter: ZeroAddress, reveal: false },
  ].map((o) => {
    const value = (o.quantityWh * o.limitPrice + 999n) / 1000n;
    const required = o.side === 0 ? value : (value * p.sellerBondBps + 9_999n) / 10_000n;
    const order = { side: o.side, zone: o.zone, quantityWh: o.quantityWh, limitPrice: o.limitPrice, meter: o.meter };
    const collateral = required > p.minDeposit ? required : p.minDeposit;
    return { ...o, order, salt: keccak256(toUtf8Bytes(`beyond the day ${o.who.signer.address}`)), collateral };
  });
  const commitments = await Promise.all(
    orders.map((o) => s.auction.commitmentOf(t, o.who.signer.address, o.order, o.salt)),
  );
  for (const [i, o] of orders.entries())
    await wait(s.auction.connect(o.who.signer).commit(t, commitments[i], o.collateral));
  await time.increaseTo(sch.revealStart);
  for (const o of orders.filter((x) => x.reveal))
    await wait(s.auction.connect(o.who.signer).reveal(t, o.order, o.salt));
  await time.increaseTo(sch.gateClosure);
  await wait(s.auction.clear(t));
  await wait(s.auction.connect(ada.signer).withdraw(t, commitments[2]));
  await wait(s.auction.connect(rae.signer).withdraw(t, commitments[3])); // the non-reveal penalty

  // The interval ends; two relayers anchor Uma's 1,200 Wh, which she claims alone (kWh and certificates), the
  // operator delivers her 1,000 Wh, Hal collects to another wallet, the rent is paid and the dust swept.
  await time.increaseTo((t + 1n) * L + 1n);
  const tree = buildIntervalTree(t, [{ meter: uma.meter, importWh: 0n, exportWh: 1_200n }]);
  for (const r of [r1, r2])
    await wait(s.oracle.connect(r).submitRoot(t, tree.root, tree.leafCount, tree.totalImportWh, tree.totalExportWh));
  await claimKwh(s.kwh, tree, uma.meter);
  await wait(s.escrow.deliver(t, uma.signer.address, commitments[0]));
  await wait(s.escrow.connect(hal.signer).collectTo(t, commitments[1], spare[1].address));
  await wait(s.escrow.payRent(t));
  await wait(s.escrow.sweepDust(t));

  // Uma's 200 Wh left: a partial deal (then cancelled, then every nonce below 3), transfers and a burn.
  const kwhId = kwhTokenId(1, t);
  const deskAddress = await s.desk.getAddress();
  const quote: Quote = {
    maker: uma.signer.address,
    token: await s.kwh.getAddress(),
    id: kwhId,
    amount: 150n,
    paymentToken: rec.deployment.market!.paymentToken,
    price: 100_000n,
    expiry: (await now()) + 3_600n,
    nonce: 1n,
    allowPartial: true,
  };
  await wait(s.kwh.connect(uma.signer).setApprovalForAll(deskAddress, true));
  const signature = await signQuoteTypedData(uma.signer, dealDomain(rec.chainId, deskAddress), quote);
  await wait(s.paymentToken.connect(ada.signer).approve(deskAddress, MaxUint256));
  await wait(s.desk.connect(ada.signer).fill(quote, signature, 50n));
  await wait(s.desk.connect(uma.signer).cancel(quote));
  await wait(s.desk.connect(uma.signer).invalidateNoncesBelow(3n));
  await wait(s.kwh.connect(uma.signer).safeTransferFrom(uma.signer.address, quinn.signer.address, kwhId, 50n, "0x"));
  await wait(
    s.kwh.connect(uma.signer).safeBatchTransferFrom(uma.signer.address, spare[0].address, [kwhId], [30n], "0x"),
  );
  await wait(s.kwh.connect(quinn.signer).burn(quinn.signer.address, kwhId, 20n));

  // Certificates: a batch retirement, one by an approved operator, a transfer and a retirement by its receiver.
  const vintage = await s.rec.vintageOfInterval(t);
  const recId = await s.rec.certificateId(uma.meter, vintage, 0, 1);
  // Another class for the batch: Ivy's wind certificates of the day (Ivy is the only wind meter), 10 Wh to Uma.
  const ivyId = await s.rec.certificateId(ivy.meter, vintage, 1, 2);
  await wait(s.rec.connect(ivy.signer).safeTransferFrom(ivy.signer.address, uma.signer.address, ivyId, 10n, "0x"));
  await wait(s.rec.connect(uma.signer).retireBatch([recId, ivyId], [100n, 10n], quinn.signer.address, "0x"));
  await wait(s.rec.connect(uma.signer).setApprovalForAll(spare[2].address, true));
  await wait(s.rec.connect(spare[2]).retireFrom(uma.signer.address, recId, 50n, spare[2].address, "0x"));
  await wait(s.rec.connect(uma.signer).safeTransferFrom(uma.signer.address, rae.signer.address, recId, 100n, "0x"));
  await wait(s.rec.connect(rae.signer).retire(recId, 10n, rae.signer.address, toUtf8Bytes('{"period":"x"}')));

  // Oracle: a diverging proposal that wins (A), a pending vote discarded by a committee change (B), votes of a
  // new committee (B, C) and a higher threshold.
  const d0 = rec.firstInterval;
  const values = (tag: string) => [keccak256(toUtf8Bytes(tag)), 2, 10n, 5n] as const;
  const vote = (r: Signer, id: bigint, tag: string) => wait(s.oracle.connect(r).submitRoot(id, ...values(tag)));
  await vote(r1, d0 - 20n, "x");
  await vote(r2, d0 - 20n, "y");
  await vote(r3, d0 - 20n, "y");
  await vote(r1, d0 - 21n, "z");
  await wait(s.oracle.addMember(spare[3].address));
  await wait(s.oracle.removeMember(r3.address));
  await wait(s.oracle.addMember(spare[4].address));
  await vote(r2, d0 - 21n, "w");
  await wait(s.oracle.setThreshold(3));
  await vote(spare[3], d0 - 22n, "v");
  await vote(spare[4], d0 - 22n, "u");

  // Governance, the kWh transfer window and every pause switch (the desk stays paused).
  await wait(s.governance.grantRole(ROLES.PAUSER, spare[5].address, 0));
  await wait(s.governance.revokeRole(ROLES.PAUSER, spare[5].address));
  await wait(s.governance.grantRole(ROLES.REGISTRAR, spare[6].address, 300));
  await wait(s.kwh.setSettlementWindow(2n * 86_400n));
  for (const c of [s.oracle, s.kwh, s.rec, s.escrow, s.desk]) {
    await wait(c.pause());
    await wait(c.unpause());
  }
  await wait(s.desk.pause());
}

/** An event's parameter as auditors filter by it, or null for the fields they do not (amounts, hashes, …). */
type Category = "meter" | "interval" | "zone" | "account" | "certificate id" | "kWh token id" | "token id";

const ACCOUNT_FIELDS = [
  "trader",
  "seller",
  "buyer",
  "maker",
  "taker",
  "owner",
  "holder",
  "beneficiary",
  "claimIssuer",
  "account",
  "from",
  "to",
  "operator",
  "member",
  "issuer",
  "caller",
  "gridOperator",
  "dustAccount",
];
const OTHER_FIELDS = [
  "authority",
  "previous",
  "escrow",
  "target",
  "token",
  "paymentToken",
  "roleId",
  "admin",
  "guardian",
  "selector",
  "label",
  "delay",
  "since",
  "newMember",
  "closed",
  "operationId",
  "nonce",
  "schedule",
  "data",
  "approved",
  "value",
  "values",
  "amount",
  "amounts",
  "whAmounts",
  "wh",
  "claimData",
  "receiptId",
  "commitment",
  "collateral",
  "refunded",
  "penalty",
  "side",
  "quantityWh",
  "limitPrice",
  "floor",
  "ceiling",
  "systemPrice",
  "tradedWh",
  "congestionRent",
  "price",
  "netExportWh",
  "congestion",
  "sellAtPriceWh",
  "sellAtPriceFilledWh",
  "buyAtPriceWh",
  "buyAtPriceFilledWh",
  "filledWh",
  "deliveredWh",
  "receivedWh",
  "payment",
  "slashed",
  "bondReturned",
  "compensation",
  "quoteHash",
  "filled",
  "previousMinNonce",
  "minNonce",
  "importWh",
  "exportWh",
  "oldWindow",
  "newWindow",
  "index",
  "technology",
  "ratedCapacityW",
  "recEligible",
  "accreditationExpiry",
  "effectiveAt",
  "previousExpiry",
  "revokedAt",
  "exportCapacityW",
  "importCapacityW",
  "root",
  "leadingRoot",
  "leafCount",
  "totalImportWh",
  "totalExportWh",
  "votes",
  "memberCount",
  "epoch",
  "oldThreshold",
  "newThreshold",
];

function categoryOf(contract: string, event: string, field: string): Category | null {
  if (field === "meter") return "meter";
  if (field === "intervalId") return "interval";
  if (field === "zone") return "zone";
  if (ACCOUNT_FIELDS.includes(field)) return "account";
  if (field === "id" || field === "ids") {
    if (contract === "RecToken") return "certificate id";
    if (contract === "KwhToken" || contract === "SettlementEscrow") return "kWh token id";
    if (contract === "DealDesk") return "token id";
  }
  if (OTHER_FIELDS.includes(field)) return null;
  throw new Error(`${contract}.${event}.${field}: classify this field (a filter field or not) in this test`);
}

/** Events whose layout OpenZeppelin fixes (Pausable, AccessManager); indexing them would break their decoders. */
const OPENZEPPELIN_EVENTS = ["Paused", "Unpaused", "OperationScheduled"];

/**
 * Filter fields that are not topics, each with its reason: the event's three topics are taken (`topics full`), the
 * field is an array (an indexed array is only the hash of its encoding), or OpenZeppelin declares the event.
 */
const UNINDEXED_FILTER_FIELDS = [
  "BatchAuction.OrderRevealed.zone (zone): topics full",
  "BatchAuction.OrderRevealed.meter (meter): topics full",
  "SettlementEscrow.SellerSettled.zone (zone): topics full",
  "SettlementEscrow.BuyerCollected.zone (zone): topics full",
  "SettlementEscrow.DustSwept.ids (kWh token id): array",
  "KwhToken.KwhClaimed.id (kWh token id): topics full",
  "KwhToken.TransferSingle.id (kWh token id): topics full",
  "KwhToken.TransferBatch.ids (kWh token id): topics full",
  "RecToken.CertificatesIssued.owner (account): topics full",
  "RecToken.ClaimSingle.id (certificate id): topics full",
  "RecToken.ClaimBatch.ids (certificate id): topics full",
  "RecToken.TransferSingle.id (certificate id): topics full",
  "RecToken.TransferBatch.ids (certificate id): topics full",
  "DealDesk.DealFilled.id (token id): topics full",
  "ReadingOracle.Paused.account (account): OpenZeppelin",
  "ReadingOracle.Unpaused.account (account): OpenZeppelin",
  "KwhToken.Paused.account (account): OpenZeppelin",
  "KwhToken.Unpaused.account (account): OpenZeppelin",
  "RecToken.Paused.account (account): OpenZeppelin",
  "RecToken.Unpaused.account (account): OpenZeppelin",
  "SettlementEscrow.Paused.account (account): OpenZeppelin",
  "SettlementEscrow.Unpaused.account (account): OpenZeppelin",
  "DealDesk.Paused.account (account): OpenZeppelin",
  "DealDesk.Unpaused.account (account): OpenZeppelin",
  "Governance.OperationScheduled.caller (account): OpenZeppelin",
];

function eventsOf(iface: Interface): EventFragment[] {
  const list: EventFragment[] = [];
  iface.forEachEvent((e) => list.push(e));
  return list.sort((a, b) => a.name.localeCompare(b.name));
}

describe("events: every state change is reconstructible from the logs alone", function () {
  this.timeout(300_000);
  let conn: NetworkConnection;
  let rec: DayRecord;
  let system: System;
  let logs: SystemLog[];
  let undecoded: number;
  let dir: string;

  before(async function () {
    conn = await network.create({ override: DEMO_NETWORK_OVERRIDE });
    dir = mkdtempSync(join(tmpdir(), "microgrid-events-"));
    // The demo's shortened day: congestion, partial deliveries, a default, deals and retirements.
    rec = await runDay(conn, { intervals: 6, prosumers: 8, startHour: 11.5, outDir: dir });
    await beyondTheDay(conn, rec);
    const [runner] = await conn.ethers.getSigners();
    system = attachSystem(rec.deployment, runner);
    const fetched = await fetchSystemLogs(conn.ethers.provider, systemAddresses(rec.deployment), 0);
    logs = fetched.logs;
    undecoded = fetched.undecoded.length;
  });

  after(async function () {
    rmSync(dir, { recursive: true, force: true });
    await conn?.close();
  });

  it("test_events_theRunEmitsEveryEventOfTheSystem", function () {
    expect(undecoded, "logs of the system's addresses that no ABI decodes").to.equal(0);
    const seen = new Set(logs.map((l) => `${CONTRACT_NAMES_BY_KEY[l.key]}.${l.name}`));
    const declared = CONTRACTS.flatMap((k) =>
      eventsOf(REPLAY_INTERFACES[k]).map((e) => `${CONTRACT_NAMES_BY_KEY[k]}.${e.name}`),
    );
    const missing = declared.filter((e) => !seen.has(e) && !NEVER_EMITTED.includes(e));
    expect(missing, "events the run never emitted: exercise them or list them as never emitted").to.deep.equal([]);
    expect(
      NEVER_EMITTED.filter((e) => seen.has(e)),
      "emitted after all",
    ).to.deep.equal([]);
    expect(seen.has("PaymentToken.Transfer")).to.equal(true);
  });

  it("test_events_replayIntoAFreshModelFollowsEveryRule", function () {
    const model = replayLogs(systemAddresses(rec.deployment), logs);
    expect(model.unhandled, "events the model has no replay rule for").to.deep.equal([]);
    expect(model.inconsistencies, "events contradicting each other").to.deep.equal([]);
  });

  it("test_events_modelRebuiltFromEventsEqualsEveryContractsState", async function () {
    const model = replayLogs(systemAddresses(rec.deployment), logs);
    const now = BigInt(await conn.networkHelpers.time.latest());
    const { mismatches, checked } = await compareWithChain(model, system, now);
    const report = mismatches.map((m) => `${m.state}: events say ${m.events}, the contract ${m.chain}`);
    expect(report, "state the events could not explain").to.deep.equal([]);
    // The comparison covered every kind of state (not vacuous).
    expect(checked).to.be.greaterThan(500);
    expect(model.kwh.book.balances.size).to.be.greaterThan(10);
    expect([...model.auction.entries.values()].filter((e) => e.closedBy === "SellerSettled").length).to.be.greaterThan(
      10,
    );
    expect(model.rec.receipts.length).to.be.greaterThan(4);
    expect(model.oracle.epoch).to.equal(1n);
  });

  it("test_events_aModelMissingAnyOneEventDisagreesWithTheChain", async function () {
    // Drop one log of each kind that moves state; the comparison must then name that state.
    const now = BigInt(await conn.networkHelpers.time.latest());
    const drops: [string, RegExp][] = [
      ["KwhToken.KwhClaimed", /^KwhToken\.(mintedWh|isClaimed)/],
      ["BatchAuction.OrderRevealed", /^BatchAuction\.(orderCount|fillOf|zoneOutcome)/],
      ["SettlementEscrow.SellerSettled", /^SettlementEscrow\.(auctionBook|zoneBook|residualOf)/],
      ["RecToken.ClaimSingle", /^RecToken\.(receiptCount|claimedBalanceOf)/],
      ["DealDesk.QuoteCancelled", /^DealDesk\.isCancelled/],
      ["MeterRegistry.AccreditationRevoked", /^MeterRegistry\.(getMeter|accreditationWindows)/],
      ["ReadingOracle.MemberRemoved", /^ReadingOracle\.(members|epoch)/],
    ];
    for (const [event, state] of drops) {
      const i = logs.findIndex((l) => `${CONTRACT_NAMES_BY_KEY[l.key]}.${l.name}` === event);
      expect(i, event).to.be.at.least(0);
      const model = replayLogs(systemAddresses(rec.deployment), [...logs.slice(0, i), ...logs.slice(i + 1)]);
      const { mismatches } = await compareWithChain(model, system, now);
      expect(
        mismatches.some((m) => state.test(m.state)),
        `without one ${event}: ${mismatches.map((m) => m.state).join("; ")}`,
      ).to.equal(true);
    }
  });

  it("test_events_filterFieldsAreIndexedWhereverTopicsAllow", function () {
    const unindexed: string[] = [];
    const lines: string[] = [];
    for (const key of CONTRACTS) {
      const contract = CONTRACT_NAMES_BY_KEY[key];
      for (const e of eventsOf(REPLAY_INTERFACES[key])) {
        const topics = e.inputs.filter((x) => x.indexed).length;
        expect(e.anonymous, `${contract}.${e.name} is anonymous`).to.equal(false);
        expect(topics, `${contract}.${e.name}`).to.be.at.most(3);
        for (const input of e.inputs) {
          const category = categoryOf(contract, e.name, input.name);
          if (category === null) continue;
          lines.push(`${contract}.${e.name}.${input.name} (${category}): ${input.indexed ? "topic" : "data"}`);
          if (input.indexed) continue;
          const reason =
            topics === 3
              ? "topics full"
              : input.baseType === "array"
                ? "array"
                : OPENZEPPELIN_EVENTS.includes(e.name)
                  ? "OpenZeppelin"
                  : "a free topic left unused";
          unindexed.push(`${contract}.${e.name}.${input.name} (${category}): ${reason}`);
        }
      }
    }
    if (process.env.EVENTS_REPORT) console.log(lines.join("\n"));
    expect(
      unindexed.filter((x) => x.endsWith("a free topic left unused")),
      "index these",
    ).to.deep.equal([]);
    expect(unindexed.sort()).to.deep.equal([...UNINDEXED_FILTER_FIELDS].sort());
  });

  it("test_events_docsTableListsEveryEventWithItsTopics", function () {
    const doc = readFileSync("docs/auditing.md", "utf8");
    const start = doc.indexOf("\n## Events\n");
    expect(start, "docs/auditing.md has an `## Events` section").to.be.greaterThan(0);
    const next = doc.indexOf("\n## ", start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    const documented = new Map<string, string>();
    for (const line of section.split("\n")) {
      const cells = line.split("|").map((c) => c.trim());
      if (cells.length < 6 || !/^`\w+`$/.test(cells[2])) continue;
      const topics = cells[4] === "—" ? "" : cells[4].replace(/`/g, "");
      for (const contract of cells[1].split(",").map((c) => c.trim()))
        documented.set(`${contract}.${cells[2].replace(/`/g, "")}`, topics);
    }
    const declared = new Map<string, string>();
    for (const key of CONTRACTS)
      for (const e of eventsOf(REPLAY_INTERFACES[key]))
        declared.set(
          `${CONTRACT_NAMES_BY_KEY[key]}.${e.name}`,
          e.inputs
            .filter((x) => x.indexed)
            .map((x) => x.name)
            .join(", "),
        );
    expect([...documented.keys()].sort(), "events in the table").to.deep.equal([...declared.keys()].sort());
    for (const [event, topics] of declared) expect(documented.get(event), `${event}'s topics`).to.equal(topics);
  });
});
