/**
 * Gas snapshot: the receipt `gasUsed` of the system's key operations, measured on the in-process network in a few
 * seconds, compared with the committed `gas-snapshot.json` so that a gas regression fails CI.
 *
 *   npm run gas:snapshot           compare with gas-snapshot.json; exit 1 on any difference beyond the tolerance
 *   npm run gas:snapshot:update    measure and rewrite gas-snapshot.json (commit it with the change that moved gas)
 *
 * Environment: `GAS_SNAPSHOT=update` rewrites the file (what `gas:snapshot:update` sets: `hardhat run` passes no
 * arguments to scripts); `GAS_SNAPSHOT_TOLERANCE` is the tolerance in percent (default 2). An operation more than the
 * tolerance above its snapshot fails; so does one more than the tolerance below it (an improvement: update the
 * snapshot, so that a later regression is measured from the new figure), and one missing from either side.
 *
 * One number per operation: the mean of a handful of samples in the steady state (the first transaction of a kind,
 * which writes zero-to-non-zero bookkeeping slots, is left out unless the key says `first`); batch keys are whole
 * transactions (`escrow.deliverBatch.5`: 5 orders). Every input is fixed: the chain starts at 2030-01-01T00:00:00Z,
 * interval ids and expiries are constants, keys and salts come from labels, ECDSA signatures are deterministic
 * (RFC 6979). The clock only matters for which phase a call falls in, with minutes of margin. The heavy, documented
 * figures stay in `npm run bench` (scripts/bench/).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { network } from "hardhat";
import { type ContractTransactionResponse, Wallet, ZeroAddress, keccak256, toUtf8Bytes } from "ethers";
import { deploySystem } from "../src/deploy.js";
import { buildIntervalTree, multiProofFor, proofFor, type IntervalLeaf, type IntervalTree } from "../src/tree.js";
import { kwhTokenId } from "../src/intervals.js";
import { certificateId, vintageOf } from "../src/certificates.js";
import { send } from "../src/ops/chain.js";
import { submitTree } from "../src/ops/oracle.js";
import { orderValue, sellerBond } from "../src/ops/auction.js";
import { dealDomain, QUOTE_TYPES, type Quote } from "../src/ops/deals.js";
import { encodeClaimData } from "../src/ops/rec.js";

const FILE = "gas-snapshot.json";
const UPDATE = process.env.GAS_SNAPSHOT === "update";
const TOLERANCE_SET = process.env.GAS_SNAPSHOT_TOLERANCE ?? "2";
const TOLERANCE = Number(TOLERANCE_SET);
if (TOLERANCE_SET.trim() === "" || !Number.isFinite(TOLERANCE) || TOLERANCE < 0)
  throw new Error(`GAS_SNAPSHOT_TOLERANCE "${TOLERANCE_SET}" is not a percentage`);

/** 2030-01-01T00:00:00Z: the chain's start; interval ids count from it. */
const T0 = 1_893_456_000n;
const INTERVAL = 900n;
const IV0 = T0 / INTERVAL;
const PLAIN_METERS = 32;
const REC_METERS = 8;
const PAIRS = 10; // sellers and buyers per auction: 20 orders
const SINGLES = 5; // settled one per transaction (the first not counted); the rest in one batch
const WH = 1_000n;
const SELL_LIMIT = 100_000n; // 0.10 per kWh; seller i at SELL_LIMIT + i ticks: a new price level each
const BUY_LIMIT = 300_000n;
const DEAL_PRICE = 123_457n;
const DEAL_EXPIRY = T0 + 30n * 86_400n;
const MAKER_EXPORT = 1_000_000n;

const started = Date.now();
const { ethers, networkHelpers } = await network.create({
  override: { initialDate: new Date(Number(T0) * 1000) },
});
const [deployer, r1, r2, r3, maker, stranger] = await ethers.getSigners();

/*//////////////////////////////////////////////////////////////
                           MEASUREMENT
//////////////////////////////////////////////////////////////*/

const samples = new Map<string, number[]>();

/** Sends a transaction (a refusal becomes one decoded error) and returns its receipt's gasUsed. */
async function gasOf(tx: () => Promise<ContractTransactionResponse>): Promise<number> {
  const hash = await send(tx);
  const receipt = await ethers.provider.getTransactionReceipt(hash);
  if (receipt === null || receipt.status !== 1) throw new Error(`transaction ${hash} failed`);
  return Number(receipt.gasUsed);
}

/** Sends a transaction and records its gas under `key`. */
async function measure(key: string, tx: () => Promise<ContractTransactionResponse>): Promise<void> {
  const gas = await gasOf(tx);
  samples.set(key, [...(samples.get(key) ?? []), gas]);
}

/** Moves the chain clock forward to `t` (never backwards: the schedule below keeps minutes of margin). */
async function at(t: bigint): Promise<void> {
  const now = BigInt(await networkHelpers.time.latest());
  if (now >= t) throw new Error(`the clock is at ${now}, past ${t}: the schedule needs more margin`);
  await networkHelpers.time.increaseTo(t);
}

const label = (s: string) => keccak256(toUtf8Bytes(`gas snapshot ${s}`));
const addressOf = (s: string) => new Wallet(label(s)).address;

/** Wallets with ETH for gas. */
async function wallets(name: string, n: number): Promise<Wallet[]> {
  const out = Array.from({ length: n }, (_, i) => new Wallet(label(`${name} ${i}`), ethers.provider));
  for (const w of out) await networkHelpers.setBalance(w.address, 10n ** 20n);
  return out;
}

/*//////////////////////////////////////////////////////////////
                     SYSTEM, ZONE, METERS
//////////////////////////////////////////////////////////////*/

const { system } = await deploySystem(deployer, "hardhat", {
  intervalLength: INTERVAL,
  relayers: [r1.address, r2.address, r3.address],
  threshold: 2,
  settlementWindow: 365n * 86_400n, // kWh tokens stay transferable for the deals below
});
const { registry, oracle, kwh, rec, auction, escrow, desk, paymentToken: usd } = system;
const [auctionAddress, escrowAddress, deskAddress] = await Promise.all(
  [auction, escrow, desk].map((c) => c.getAddress()),
);
await send(() => registry.setZone(1, 10_000_000n, 10_000_000n));

const meter = (kind: "plain" | "rec", i: number) => addressOf(`${kind} meter ${i}`);
const plainMeters = Array.from({ length: PLAIN_METERS }, (_, i) => meter("plain", i));
const recMeters = Array.from({ length: REC_METERS }, (_, i) => meter("rec", i));
const recOwners = await wallets("rec owner", REC_METERS);
const makerMeter = addressOf("deal maker meter");
const registration = (owner: string, rec: boolean, capacityW = 10_000n) => ({
  owner,
  zone: 1,
  technology: 0, // Solar
  ratedCapacityW: capacityW,
  recEligible: rec,
  accreditationExpiry: rec ? T0 + 365n * 86_400n : 0n,
});
// The first registration initialises the registry's counters: not counted.
for (const [i, m] of plainMeters.entries()) {
  const tx = () => registry.registerMeter(m, registration(addressOf(`plain owner ${i}`), false));
  if (i === 0) await gasOf(tx);
  else await measure("registry.registerMeter", tx);
}
for (const [i, m] of recMeters.entries()) {
  await measure("registry.registerMeter.recEligible", () =>
    registry.registerMeter(m, registration(recOwners[i].address, true)),
  );
}
await send(() => registry.registerMeter(makerMeter, registration(maker.address, false, 100_000_000n)));

/*//////////////////////////////////////////////////////////////
                 ORACLE, kWh CLAIMS, CERTIFICATES
//////////////////////////////////////////////////////////////*/

// Four intervals of January 2030 that start after the registrations (accreditation is never retroactive).
const K = [IV0 + 2n, IV0 + 3n, IV0 + 4n, IV0 + 5n];
const leaves = (k: number): IntervalLeaf[] => [
  ...[...plainMeters, ...recMeters].map((m, i) => ({
    meter: m,
    importWh: BigInt(13 * i + k),
    exportWh: BigInt(1_000 + 37 * i + 5 * k),
  })),
  { meter: makerMeter, importWh: 0n, exportWh: MAKER_EXPORT },
];
const trees: IntervalTree[] = K.map((iv, k) => buildIntervalTree(iv, leaves(k)));
const rootArgs = (t: IntervalTree) => [t.intervalId, t.root, t.leafCount, t.totalImportWh, t.totalExportWh] as const;
await at((K[3] + 1n) * INTERVAL);
for (const tree of trees) {
  await measure("oracle.submitRoot.first", () => oracle.connect(r1).submitRoot(...rootArgs(tree)));
  await measure("oracle.submitRoot.final", () => oracle.connect(r2).submitRoot(...rootArgs(tree)));
}
const claim = (tree: IntervalTree, m: string) => {
  const p = proofFor(tree, m);
  return () => kwh.connect(stranger).claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof);
};

// K1: the interval's first claim, then single claims of unrelated senders; the accredited meters' first
// certificates of the month (a new class balance each) and the deal maker's kWh.
await measure("kwh.claim.first", claim(trees[0], plainMeters[0]));
for (const m of plainMeters.slice(1, 9)) await measure("kwh.claim", claim(trees[0], m));
for (const m of recMeters) await measure("kwh.claim.certified.newClass", claim(trees[0], m));
await gasOf(claim(trees[0], makerMeter));
// K2: certificates of a class already held, then multi-proof batches of 16 readings.
for (const m of recMeters) await measure("kwh.claim.certified", claim(trees[1], m));
for (const batch of [plainMeters.slice(0, 16), plainMeters.slice(16, 32)]) {
  const mp = multiProofFor(trees[1], batch);
  await measure("kwh.claimInterval.16", () =>
    kwh.connect(stranger).claimInterval(mp.intervalId, mp.leaves, mp.proof, mp.proofFlags),
  );
}
// K3: claimMany of 8 single proofs, after the interval's first claim.
await gasOf(claim(trees[2], plainMeters[0]));
for (const batch of [plainMeters.slice(1, 9), plainMeters.slice(9, 17)]) {
  const claims = batch.map((m) => proofFor(trees[2], m));
  await measure("kwh.claimMany.8", () => kwh.connect(stranger).claimMany(claims));
}

// Retirements: each accredited meter's owner retires twice for itself (the first creates the claimed balance);
// four owners hand their class to one desk, which retires the four classes in one batch, twice.
const vintage = vintageOf(K[0] * INTERVAL);
const recId = (i: number) => certificateId({ meter: recMeters[i], vintage, technology: "Solar", zone: 1 });
const claimData = encodeClaimData({ period: "2030-01", location: "Zone 1" });
for (const key of ["rec.retire.first", "rec.retire"]) {
  for (const [i, o] of recOwners.slice(0, 4).entries()) {
    await measure(key, () => rec.connect(o).retire(recId(i), 100n, o.address, claimData));
  }
}
const [retirementDesk] = await wallets("retirement desk", 1);
const deskIds = [4, 5, 6, 7].map(recId);
for (const i of [4, 5, 6, 7]) {
  const o = recOwners[i];
  await gasOf(() => rec.connect(o).safeTransferFrom(o.address, retirementDesk.address, recId(i), 500n, "0x"));
}
const amounts = deskIds.map(() => 100n);
await gasOf(() => rec.connect(retirementDesk).retireBatch(deskIds, amounts, retirementDesk.address, claimData));
await measure("rec.retireBatch.4", () =>
  rec.connect(retirementDesk).retireBatch(deskIds, amounts, retirementDesk.address, claimData),
);

/*//////////////////////////////////////////////////////////////
                      CALL MARKET, SETTLEMENT
//////////////////////////////////////////////////////////////*/

const params = await auction.params();
const sellers = await wallets("seller", PAIRS);
const buyers = await wallets("buyer", PAIRS);
for (const w of [...sellers, ...buyers]) {
  await send(() => usd.mint(w.address, 1_000_000_000n));
  await send(() => usd.connect(w).approve(auctionAddress, ethers.MaxUint256));
}
for (const w of sellers) await send(() => kwh.connect(w).setApprovalForAll(escrowAddress, true));
const sellerMeter = (i: number) => addressOf(`seller meter ${i}`);
for (const [i, w] of sellers.entries()) {
  await send(() => registry.registerMeter(sellerMeter(i), registration(w.address, false, 100_000n)));
}
const orders = [
  ...sellers.map((trader, i) => ({
    trader,
    order: {
      side: 1,
      zone: 1,
      quantityWh: WH,
      limitPrice: SELL_LIMIT + BigInt(i) * params.tickSize,
      meter: sellerMeter(i),
    },
  })),
  ...buyers.map((trader) => ({
    trader,
    order: { side: 0, zone: 1, quantityWh: WH, limitPrice: BUY_LIMIT, meter: ZeroAddress },
  })),
];
const collateral = (o: (typeof orders)[number]["order"]) => {
  const needed =
    o.side === 0
      ? orderValue(o.quantityWh, o.limitPrice)
      : sellerBond(o.quantityWh, o.limitPrice, params.sellerBondBps);
  return needed > params.minDeposit ? needed : params.minDeposit;
};

interface Placed {
  trader: Wallet;
  commitment: string;
}

/**
 * Opens (reads the feeds, as `auction commit` does first), commits, reveals and clears one auction of the 20 orders
 * above; when `measured`, records the gas of each step: the auction's first commit apart, reveals that open a new
 * price level (sellers) apart from those joining one (buyers), the first reveal of each side (it lists the zone or
 * opens the buyers' level) not counted.
 */
async function clearedAuction(intervalId: bigint, measured: boolean) {
  const s = await auction.schedule(intervalId);
  await at(s.commitStart + 60n);
  const open = () => auction.open(intervalId);
  if (measured) await measure("auction.open", open);
  else await gasOf(open);
  const salt = (i: number) => label(`salt ${intervalId} ${i}`);
  const placed: Placed[] = [];
  for (const [i, { trader, order }] of orders.entries()) {
    const commitment = await auction.commitmentOf(intervalId, trader.address, order, salt(i));
    const tx = () => auction.connect(trader).commit(intervalId, commitment, collateral(order));
    if (measured) await measure(i === 0 ? "auction.commit.first" : "auction.commit", tx);
    else await gasOf(tx);
    placed.push({ trader, commitment });
  }
  await at(s.revealStart + 60n);
  for (const [i, { trader, order }] of orders.entries()) {
    const tx = () => auction.connect(trader).reveal(intervalId, order, salt(i));
    if (measured && i !== 0 && i !== PAIRS)
      await measure(i < PAIRS ? "auction.reveal" : "auction.reveal.sameLevel", tx);
    else await gasOf(tx);
  }
  await at(s.gateClosure + 60n);
  const clear = () => auction.clear(intervalId);
  if (measured) await measure(`auction.clear.${orders.length}orders`, clear);
  else await gasOf(clear);
  return { schedule: s, sellers: placed.slice(0, PAIRS), buyers: placed.slice(PAIRS) };
}

/** Settles `placed` one per transaction (the first not counted: it initialises the auction's slots), the rest in a batch. */
async function settle(
  key: string,
  placed: Placed[],
  single: (p: Placed) => Promise<ContractTransactionResponse>,
  batch: (traders: string[], commitments: string[]) => Promise<ContractTransactionResponse>,
) {
  await gasOf(() => single(placed[0]));
  for (const p of placed.slice(1, SINGLES)) await measure(key, () => single(p));
  const rest = placed.slice(SINGLES);
  await measure(`${key}Batch.${rest.length}`, () =>
    batch(
      rest.map((p) => p.trader.address),
      rest.map((p) => p.commitment),
    ),
  );
}

// Auction A: every order fills; the interval's root proves each seller's 1 kWh, the sellers claim and deliver it,
// the buyers collect.
const IA = IV0 + 12n;
const a = await clearedAuction(IA, true);
await at((IA + 1n) * INTERVAL + 60n);
const treeA = buildIntervalTree(
  IA,
  sellers.map((_, i) => ({ meter: sellerMeter(i), importWh: 0n, exportWh: WH })),
);
await submitTree(oracle.connect(r1), treeA);
await submitTree(oracle.connect(r2), treeA);
for (const [i, w] of sellers.entries()) {
  const p = proofFor(treeA, sellerMeter(i));
  await gasOf(() => kwh.connect(w).claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof));
}
await settle(
  "escrow.deliver",
  a.sellers,
  (p) => escrow.deliver(IA, p.trader.address, p.commitment),
  (t, c) => escrow.deliverBatch(IA, t, c),
);
await settle(
  "escrow.collect",
  a.buyers,
  (p) => escrow.collect(IA, p.trader.address, p.commitment),
  (t, c) => escrow.collectBatch(IA, t, c),
);

// Auction B: the same book; nobody delivers, the sellers default after the settlement deadline.
const IB = IV0 + 20n;
const b = await clearedAuction(IB, false);
await at(b.schedule.settlementDeadline + 60n);
await settle(
  "escrow.settleDefault",
  b.sellers,
  (p) => escrow.settleDefault(IB, p.trader.address, p.commitment),
  (t, c) => escrow.settleDefaultBatch(IB, t, c),
);

/*//////////////////////////////////////////////////////////////
                          BILATERAL DEALS
//////////////////////////////////////////////////////////////*/

// The maker sells 1 kWh of its K1 tokens per quote; every fill has a fresh taker holding stablecoin.
const domain = dealDomain((await ethers.provider.getNetwork()).chainId, deskAddress);
const dealId = kwhTokenId(1, K[0]);
await send(() => kwh.connect(maker).setApprovalForAll(deskAddress, true));
let nonce = 0n;
async function quote(over: Partial<Quote> = {}): Promise<{ q: Quote; sig: string }> {
  const q: Quote = {
    maker: maker.address,
    token: await kwh.getAddress(),
    id: dealId,
    amount: WH,
    paymentToken: await usd.getAddress(),
    price: DEAL_PRICE,
    expiry: DEAL_EXPIRY,
    nonce: nonce++,
    allowPartial: false,
    ...over,
  };
  return { q, sig: await maker.signTypedData(domain, QUOTE_TYPES, q) };
}
const takers = await wallets("taker", 2 * SINGLES);
for (const t of takers) {
  await send(() => usd.mint(t.address, 100_000_000n));
  await send(() => usd.connect(t).approve(deskAddress, ethers.MaxUint256));
}
for (const [i, t] of takers.slice(0, SINGLES).entries()) {
  const { q, sig } = await quote();
  const tx = () => desk.connect(t).fill(q, sig, WH);
  if (i === 0) await gasOf(tx);
  else await measure("desk.fill", tx);
}
for (const t of takers.slice(SINGLES)) {
  const { q, sig } = await quote({ amount: 2n * WH, allowPartial: true });
  await measure("desk.fill.partialFirst", () => desk.connect(t).fill(q, sig, WH));
}
for (let i = 0; i < SINGLES; i++) {
  const { q } = await quote();
  await measure("desk.cancel", () => desk.connect(maker).cancel(q));
}
await gasOf(() => desk.connect(maker).invalidateNoncesBelow(100n));
for (const below of [200n, 300n, 400n]) {
  await measure("desk.invalidateNoncesBelow", () => desk.connect(maker).invalidateNoncesBelow(below));
}

/*//////////////////////////////////////////////////////////////
                        SNAPSHOT, COMPARISON
//////////////////////////////////////////////////////////////*/

const current: Record<string, number> = {};
for (const key of [...samples.keys()].sort()) {
  const xs = samples.get(key)!;
  current[key] = Math.round(xs.reduce((sum, g) => sum + g, 0) / xs.length);
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
const fmt = (n: number) => n.toLocaleString("en-US");

if (UPDATE) {
  writeFileSync(FILE, JSON.stringify(current, null, 2) + "\n");
  console.log(`gas snapshot: wrote ${Object.keys(current).length} operations to ${FILE} (${seconds}s)`);
} else {
  if (!existsSync(FILE)) {
    console.error(`gas snapshot: ${FILE} is missing: run npm run gas:snapshot:update and commit it`);
    process.exit(1);
  }
  const committed = JSON.parse(readFileSync(FILE, "utf8")) as Record<string, number>;
  const failures: string[] = [];
  let improved = false;
  for (const key of [...new Set([...Object.keys(committed), ...Object.keys(current)])].sort()) {
    const was = committed[key];
    const now = current[key];
    if (now === undefined) {
      failures.push(`${key}: in ${FILE} (${fmt(was)}) but no longer measured`);
    } else if (was === undefined) {
      failures.push(`${key}: new operation (${fmt(now)} gas), not in ${FILE}`);
    } else {
      const change = ((now - was) / was) * 100;
      const pct = `${change > 0 ? "+" : ""}${change.toFixed(2)}%`;
      if (change > TOLERANCE) {
        failures.push(`${key}: ${fmt(now)} gas, ${pct} above the snapshot's ${fmt(was)} (tolerance ${TOLERANCE}%)`);
      } else if (change < -TOLERANCE) {
        improved = true;
        failures.push(
          `${key}: ${fmt(now)} gas, ${pct} below the snapshot's ${fmt(was)}: an improvement, update the snapshot`,
        );
      } else if (now !== was) {
        console.log(`gas snapshot: ${key}: ${fmt(now)} gas (${pct}, within ${TOLERANCE}%)`);
      }
    }
  }
  for (const f of failures) console.error(`gas snapshot: ${f}`);
  if (failures.length > 0) {
    const what = improved ? "if the change is intended (or an improvement), " : "if the change is intended, ";
    console.error(
      `gas snapshot: FAILED (${failures.length} of ${Object.keys(current).length}): ${what}run npm run gas:snapshot:update and commit ${FILE}`,
    );
    process.exit(1);
  }
  console.log(`gas snapshot: ${Object.keys(current).length} operations within ${TOLERANCE}% of ${FILE} (${seconds}s)`);
}
