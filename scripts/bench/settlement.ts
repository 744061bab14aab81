/**
 * Gas benchmark of the SettlementEscrow (delivery versus payment of cleared auctions): `deliver`, `settleDefault`
 * and `collect`, one order per transaction and in batches (`deliverBatch`, `settleDefaultBatch`, `collectBatch`),
 * beside what the same movements cost as plain transfers measured in the same run — a stablecoin `transfer` plus
 * a KwhToken `safeTransferFrom` — from transaction receipts (`gasUsed`: 21,000 base + calldata + execution) on the
 * in-process network.
 *
 *   npm run bench      (gas.ts, auction.ts, deals.ts, then this script; figures in bench/settlement.json)
 *   npx hardhat run scripts/bench/settlement.ts
 *
 * Three auctions of one interval each, every order 1,000 Wh: (A) one zone, sellers at 0.10 and buyers at 0.30,
 * every seller proves and claims its export and delivers; (B) the same book, nobody delivers, the sellers default
 * after the deadline; (C) two zones where zone 2's import capacity binds, so its buyers receive kWh tokens of both
 * zones (a batch transfer) and pay the congestion rent. In each auction the first settlement of a kind pays for
 * the auction's bookkeeping slots (zero to non-zero); the figures separate it from the steady state.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { network } from "hardhat";
import { compilerOfReport, fmt, table } from "./report.js";
import { type ContractTransactionResponse, Wallet, keccak256, toUtf8Bytes } from "ethers";
import { deploySystem } from "../../src/deploy.js";
import { buildIntervalTree, proofFor } from "../../src/tree.js";

/*//////////////////////////////////////////////////////////////
                              SETUP
//////////////////////////////////////////////////////////////*/

const PAIRS = 24; // sellers and buyers per auction
const SINGLES = 8; // settled one per transaction; the rest in one batch
const WH = 1_000n;
const SELL_LIMIT = 100_000n; // 0.10 per kWh
const BUY_LIMIT = 300_000n;
const INTERVAL = 900n;
const TARGETS = { deliver: 65_000, collect: 65_000 } as const;
const OUT = "bench/settlement.json";

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const { ethers, networkHelpers } = await network.create();
const [deployer, r1, r2, r3] = await ethers.getSigners();

const { system } = await deploySystem(deployer, "hardhat", {
  intervalLength: INTERVAL,
  relayers: [r1.address, r2.address, r3.address],
  threshold: 2,
  settlementWindow: 365n * 86_400n,
});
const { registry, oracle, kwh, auction, escrow, paymentToken: usd } = system;
const auctionAddress = await auction.getAddress();
const escrowAddress = await escrow.getAddress();
await (await registry.setZone(1, 10_000_000n, 10_000_000n)).wait();
await (await registry.setZone(2, 10_000_000n, 8_000n)).wait(); // zone 2 imports at most 2,000 Wh per interval

async function gasOf(p: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await p).wait();
  if (receipt === null || receipt.status !== 1) throw new Error("transaction failed");
  return Number(receipt.gasUsed);
}

/** Funded wallets with stablecoin approved for the auction and kWh tokens approved for the escrow. */
async function wallets(label: string, n: number): Promise<Wallet[]> {
  const out = Array.from({ length: n }, (_, i) =>
    new Wallet(keccak256(toUtf8Bytes(`bench settlement ${label} ${i}`)), ethers.provider),
  );
  let last: ContractTransactionResponse | undefined;
  for (const w of out) {
    await networkHelpers.setBalance(w.address, 10n ** 20n);
    last = await usd.mint(w.address, 1_000_000_000n);
  }
  await last!.wait();
  for (const w of out) {
    last = await usd.connect(w).approve(auctionAddress, ethers.MaxUint256);
    last = await kwh.connect(w).setApprovalForAll(escrowAddress, true);
  }
  await last!.wait();
  return out;
}

const meterOf = (label: string, i: number) => new Wallet(keccak256(toUtf8Bytes(`bench settlement meter ${label} ${i}`)));

interface Placed {
  trader: Wallet;
  commitment: string;
  meter: string;
}

/** Commits, reveals and clears one auction of `sellers` (zone of each) and `buyers` (zone of each). */
async function clearedAuction(label: string, sellerZones: number[], buyerZones: number[]) {
  const sellers = await wallets(`${label} seller`, sellerZones.length);
  const buyers = await wallets(`${label} buyer`, buyerZones.length);
  let last: ContractTransactionResponse | undefined;
  for (const [i, s] of sellers.entries()) {
    last = await registry.registerMeter(meterOf(label, i).address, {
      owner: s.address,
      zone: sellerZones[i],
      technology: 0,
      ratedCapacityW: 100_000n,
      recEligible: false,
      accreditationExpiry: 0n,
    });
  }
  await last!.wait();
  const now = BigInt(await networkHelpers.time.latest());
  const p = await auction.params();
  const intervalId = (now + p.commitWindow + p.revealWindow + p.gateLead + 60n) / INTERVAL + 1n;
  const s = await auction.schedule(intervalId);
  await networkHelpers.time.increaseTo(s.commitStart);
  const orders = [
    ...sellers.map((t, i) => ({
      trader: t,
      order: { side: 1, zone: sellerZones[i], quantityWh: WH, limitPrice: SELL_LIMIT, meter: meterOf(label, i).address },
    })),
    ...buyers.map((t, i) => ({
      trader: t,
      order: { side: 0, zone: buyerZones[i], quantityWh: WH, limitPrice: BUY_LIMIT, meter: ethers.ZeroAddress },
    })),
  ];
  const salt = (i: number) => keccak256(toUtf8Bytes(`${label} salt ${i}`));
  const placed: Placed[] = [];
  for (const [i, { trader, order }] of orders.entries()) {
    const commitment = await auction.commitmentOf(intervalId, trader.address, order, salt(i));
    last = await auction.connect(trader).commit(intervalId, commitment, 1_000_000n);
    placed.push({ trader, commitment, meter: order.meter });
  }
  await last!.wait();
  await networkHelpers.time.increaseTo(s.revealStart);
  for (const [i, { trader, order }] of orders.entries()) last = await auction.connect(trader).reveal(intervalId, order, salt(i));
  await last!.wait();
  await networkHelpers.time.increaseTo(s.gateClosure);
  await (await auction.clear(intervalId)).wait();
  return { intervalId, schedule: s, sellers: placed.slice(0, sellers.length), buyers: placed.slice(sellers.length) };
}

/** Ends the interval, posts its root with every seller meter's export of `exportWh` and claims it. */
async function proveAndClaim(intervalId: bigint, sellers: Placed[], exportWh: bigint) {
  await networkHelpers.time.increaseTo((intervalId + 1n) * INTERVAL);
  const tree = buildIntervalTree(
    intervalId,
    sellers.map((s) => ({ meter: s.meter, importWh: 0n, exportWh })),
  );
  for (const r of [r1, r2]) {
    await (await oracle.connect(r).submitRoot(intervalId, tree.root, tree.leafCount, 0, tree.totalExportWh)).wait();
  }
  let last: ContractTransactionResponse | undefined;
  for (const s of sellers) {
    const pr = proofFor(tree, s.meter);
    last = await kwh.claim(pr.meter, intervalId, pr.importWh, pr.exportWh, pr.proof);
  }
  await last!.wait();
}

interface Row {
  id: string;
  label: string;
  orders: number;
  transactions: number;
  perOrder: { min: number; avg: number; max: number };
}
const rows: Row[] = [];
function record(id: string, label: string, perTx: number[], ordersPerTx = 1): Row {
  const per = perTx.map((g) => g / ordersPerTx);
  const row = {
    id,
    label,
    orders: perTx.length * ordersPerTx,
    transactions: perTx.length,
    perOrder: {
      min: Math.round(Math.min(...per)),
      avg: Math.round(per.reduce((s, g) => s + g, 0) / per.length),
      max: Math.round(Math.max(...per)),
    },
  };
  rows.push(row);
  return row;
}

/** Settles `placed` one per transaction (the first apart: it initialises the auction's slots), then the rest as one batch. */
async function measure(
  id: string,
  what: string,
  placed: Placed[],
  single: (p: Placed) => Promise<ContractTransactionResponse>,
  batch: (ps: Placed[]) => Promise<ContractTransactionResponse>,
) {
  const singles: number[] = [];
  for (const p of placed.slice(0, SINGLES)) singles.push(await gasOf(single(p)));
  record(`${id}First`, `${what}, first of the auction`, singles.slice(0, 1));
  record(id, `${what}, one per transaction`, singles.slice(1));
  const rest = placed.slice(SINGLES);
  record(`${id}Batch`, `${what}, batch of ${rest.length}`, [await gasOf(batch(rest))], rest.length);
}

/*//////////////////////////////////////////////////////////////
                            BASELINES
//////////////////////////////////////////////////////////////*/

// Plain transfers between accounts in the same state as the settlements': the recipient of the stablecoin holds
// some already; the kWh recipient holds the id (the escrow after the first delivery) or not (a buyer collecting).
{
  const [from, to] = await wallets("baseline", 2);
  const fresh = await wallets("baseline fresh", SINGLES);
  const fresh2 = await wallets("baseline fresh batch", SINGLES);
  const meters = [meterOf("baseline", 0), meterOf("baseline", 1)];
  for (const [i, meter] of meters.entries()) {
    await (
      await registry.registerMeter(meter.address, {
        owner: from.address,
        zone: i + 1,
        technology: 0,
        ratedCapacityW: 100_000_000n,
        recEligible: false,
        accreditationExpiry: 0n,
      })
    ).wait();
  }
  const intervalId = BigInt(await networkHelpers.time.latest()) / INTERVAL + 1n;
  await networkHelpers.time.increaseTo((intervalId + 1n) * INTERVAL);
  const tree = buildIntervalTree(
    intervalId,
    meters.map((m) => ({ meter: m.address, importWh: 0n, exportWh: 1_000_000n })),
  );
  for (const r of [r1, r2]) {
    await (await oracle.connect(r).submitRoot(intervalId, tree.root, 2, 0, tree.totalExportWh)).wait();
  }
  for (const m of meters) {
    const pr = proofFor(tree, m.address);
    await (await kwh.claim(pr.meter, intervalId, pr.importWh, pr.exportWh, pr.proof)).wait();
  }
  const id = await kwh.tokenId(1, intervalId);
  const id2 = await kwh.tokenId(2, intervalId);
  await (await kwh.connect(from).safeTransferFrom(from.address, to.address, id, 1n, "0x")).wait();
  const erc20: number[] = [];
  const erc1155: number[] = [];
  const erc1155First: number[] = [];
  const erc1155BatchFirst: number[] = [];
  for (let i = 0; i < SINGLES; i++) {
    erc20.push(await gasOf(usd.connect(from).transfer(to.address, 1_000n)));
    erc1155.push(await gasOf(kwh.connect(from).safeTransferFrom(from.address, to.address, id, WH, "0x")));
    erc1155First.push(await gasOf(kwh.connect(from).safeTransferFrom(from.address, fresh[i].address, id, WH, "0x")));
    erc1155BatchFirst.push(
      await gasOf(kwh.connect(from).safeBatchTransferFrom(from.address, fresh2[i].address, [id, id2], [WH, WH], "0x")),
    );
  }
  record("erc20Transfer", "ERC-20 transfer (recipient holds some)", erc20);
  record("erc1155Transfer", "ERC-1155 safeTransferFrom (recipient holds the id)", erc1155);
  record("erc1155TransferFirst", "ERC-1155 safeTransferFrom (recipient's first units)", erc1155First);
  record("erc1155BatchFirst", "ERC-1155 safeBatchTransferFrom of 2 ids (recipient's first units)", erc1155BatchFirst);
  log("baselines measured");
}

/*//////////////////////////////////////////////////////////////
                           SETTLEMENTS
//////////////////////////////////////////////////////////////*/

const ones = (n: number, z: number) => Array.from({ length: n }, () => z);
const ids = (ps: Placed[]) => [ps.map((p) => p.trader.address), ps.map((p) => p.commitment)] as const;

// (A) Everyone delivers in full.
const a = await clearedAuction("A", ones(PAIRS, 1), ones(PAIRS, 1));
await proveAndClaim(a.intervalId, a.sellers, WH);
await measure(
  "deliver",
  "deliver",
  a.sellers,
  (p) => escrow.deliver(a.intervalId, p.trader.address, p.commitment),
  (ps) => escrow.deliverBatch(a.intervalId, ...ids(ps)),
);
await measure(
  "collect",
  "collect (one zone, full delivery)",
  a.buyers,
  (p) => escrow.collect(a.intervalId, p.trader.address, p.commitment),
  (ps) => escrow.collectBatch(a.intervalId, ...ids(ps)),
);
log("auction A settled (deliveries)");

// (B) Nobody delivers: defaults after the deadline, buyers collect compensation and refunds.
const b = await clearedAuction("B", ones(PAIRS, 1), ones(PAIRS, 1));
await networkHelpers.time.increaseTo(b.schedule.settlementDeadline);
await measure(
  "settleDefault",
  "settleDefault",
  b.sellers,
  (p) => escrow.settleDefault(b.intervalId, p.trader.address, p.commitment),
  (ps) => escrow.settleDefaultBatch(b.intervalId, ...ids(ps)),
);
await measure(
  "collectAfterDefault",
  "collect (after defaults: compensation, no energy)",
  b.buyers,
  (p) => escrow.collect(b.intervalId, p.trader.address, p.commitment),
  (ps) => escrow.collectBatch(b.intervalId, ...ids(ps)),
);
log("auction B settled (defaults)");

// (C) Zone 1 exports into zone 2 up to its import capacity: zone 2's buyers receive tokens of both zones.
const c = await clearedAuction("C", [...ones((2 * PAIRS) / 3, 1), ...ones(PAIRS / 3, 2)], [
  ...ones(PAIRS / 3, 1),
  ...ones((2 * PAIRS) / 3, 2),
]);
await proveAndClaim(c.intervalId, c.sellers, WH);
await (await escrow.deliverBatch(c.intervalId, ...ids(c.sellers))).wait();
const importers = c.buyers.slice(PAIRS / 3);
const z2 = await auction.zoneOutcome(c.intervalId, 2);
if (z2.netExportWh >= 0n) throw new Error("auction C: zone 2 should import");
await measure(
  "collectImporter",
  "collect (importing zone: own and imported tokens)",
  importers,
  (p) => escrow.collect(c.intervalId, p.trader.address, p.commitment),
  (ps) => escrow.collectBatch(c.intervalId, ...ids(ps)),
);
record("payRent", "payRent", [await gasOf(escrow.payRent(c.intervalId))]);
log("auction C settled (congestion)");

/*//////////////////////////////////////////////////////////////
                              REPORT
//////////////////////////////////////////////////////////////*/

const by = (k: string) => rows.find((r) => r.id === k)!.perOrder.avg;
/** Two plain transfers in two transactions pay the 21,000 base twice; one transaction would pay it once. */
const deliverBaseline = by("erc20Transfer") + by("erc1155Transfer") - 21_000;
const collectBaseline = by("erc20Transfer") + by("erc1155TransferFirst") - 21_000;
const importerBaseline = by("erc20Transfer") + by("erc1155BatchFirst") - 21_000;
const comparisons = [
  ["deliver", "deliver, one per transaction", deliverBaseline, TARGETS.deliver],
  ["deliverBatch", `deliver in a batch of ${PAIRS - SINGLES}, per order`, deliverBaseline, TARGETS.deliver],
  ["collect", "collect, one per transaction", collectBaseline, TARGETS.collect],
  ["collectBatch", `collect in a batch of ${PAIRS - SINGLES}, per order`, collectBaseline, TARGETS.collect],
  ["collectImporter", "importing collect, one per transaction", importerBaseline, TARGETS.collect],
  ["collectImporterBatch", "importing collect in a batch, per order", importerBaseline, TARGETS.collect],
  ["settleDefault", "settleDefault, one per transaction", by("erc20Transfer"), null],
  ["settleDefaultBatch", `settleDefault in a batch of ${PAIRS - SINGLES}, per order`, by("erc20Transfer"), null],
].map(([id, label, baseline, target]) => {
  const gas = by(id as string);
  return {
    id: id as string,
    label: label as string,
    gas,
    baseline: baseline as number,
    overhead: gas - (baseline as number),
    target: target as number | null,
    meetsTarget: target === null ? null : gas <= (target as number),
  };
});

console.log();
table(
  ["operation", "orders", "txs", "min/order", "avg/order", "max/order"],
  rows.map((r) => [
    r.label,
    String(r.orders),
    String(r.transactions),
    fmt(r.perOrder.min),
    fmt(r.perOrder.avg),
    fmt(r.perOrder.max),
  ]),
);
console.log();
table(
  ["comparison", "gas/order", "transfers (one tx)", "overhead", "target"],
  comparisons.map((c) => [
    c.label,
    fmt(c.gas),
    fmt(c.baseline),
    fmt(c.overhead),
    c.target === null ? "-" : `<= ${fmt(c.target)} ${c.meetsTarget ? "yes" : "NO"}`,
  ]),
);
console.log();
console.log(
  "Gas = receipt gasUsed. 'transfers (one tx)' = ERC-20 transfer + ERC-1155 transfer − 21,000 (the base cost paid once);" +
    " defaults move only the stablecoin.",
);

const report = {
  compiler: compilerOfReport(),
  setup: {
    network: "in-process EDR (hardhat network.create())",
    gas: "receipt gasUsed (21,000 base + calldata + execution); batches divided by their orders",
    auctions: `${PAIRS} sellers and ${PAIRS} buyers of ${WH} Wh each; the first ${SINGLES} settled one per transaction, the rest in one batch`,
    baseline:
      "ERC-20 transfer + ERC-1155 safeTransferFrom − 21,000 (recipient holding the id for deliver; first units for collect; a batch transfer of 2 ids for importing buyers)",
  },
  targets: TARGETS,
  results: rows,
  comparisons,
};
mkdirSync("bench", { recursive: true });
writeFileSync(OUT, JSON.stringify(report, null, 2) + "\n");
log(`wrote ${OUT}`);
