/**
 * Gas benchmark of the DealDesk (bilateral RFQ deals): `fill` of a kWh-token quote, whole and in parts, beside
 * what the same trade costs as two plain transfers on the same tokens — a stablecoin `transfer` (and
 * `transferFrom`) from the taker to the maker and a KwhToken `safeTransferFrom` from the maker to the taker —
 * measured in the same run, from transaction receipts (`gasUsed`: 21,000 base + calldata + execution) on the
 * in-process network.
 *
 *   npm run bench      (gas.ts, auction.ts, then this script; figures in bench/deals.json)
 *   npx hardhat run scripts/bench/deals.ts
 *
 * Every sample uses a fresh taker, so the storage each transaction touches starts in the same state for the fill
 * and its baseline: the maker holds stablecoin and kWh tokens already; the taker holds stablecoin and (steady
 * state) some of the kWh id, or (first purchase) none of it. Quotes and takers come from fixed labels; ECDSA
 * signatures are deterministic (RFC 6979), so the figures only change when gas does.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { network } from "hardhat";
import { compilerOfReport, fmt, table } from "./report.js";
import { type ContractTransactionResponse, Wallet, keccak256, toUtf8Bytes } from "ethers";
import { deploySystem } from "../../src/deploy.js";
import { kwhTokenId } from "../../src/intervals.js";
import { dealDomain, QUOTE_TYPES, type Quote } from "../../src/ops/deals.js";
import { buildIntervalTree, proofFor } from "../../src/tree.js";

/*//////////////////////////////////////////////////////////////
                              SETUP
//////////////////////////////////////////////////////////////*/

const SAMPLES = 10;
const INTERVAL = 900n;
const UNITS = 1_000n; // 1 kWh per fill
const PRICE = 123_457n; // 0.123457 per kWh (6-decimal stablecoin)
const EXPORT_WH = 1_000_000n;
const OUT = "bench/deals.json";

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const { ethers, networkHelpers } = await network.create();
const [deployer, r1, r2, r3, maker] = await ethers.getSigners();

const { system } = await deploySystem(deployer, "hardhat", {
  intervalLength: INTERVAL,
  relayers: [r1.address, r2.address, r3.address],
  threshold: 2,
  settlementWindow: 365n * 86_400n, // the benchmark never runs into the transfer window
});
const { kwh, desk, paymentToken: usd, registry, oracle } = system;
const deskAddress = await desk.getAddress();
const kwhAddress = await kwh.getAddress();
const usdAddress = await usd.getAddress();
const chainId = (await ethers.provider.getNetwork()).chainId;
const domain = dealDomain(chainId, deskAddress);

// The maker's meter, and one interval of proven export minted to the maker.
const meter = new Wallet(keccak256(toUtf8Bytes("bench deal meter"))).address;
await (await registry.setZone(1, 10_000_000n, 10_000_000n)).wait();
await (
  await registry.registerMeter(meter, {
    owner: maker.address,
    zone: 1,
    technology: 0,
    ratedCapacityW: 5_000_000n,
    recEligible: false,
    accreditationExpiry: 0n,
  })
).wait();
const intervalId = BigInt(await networkHelpers.time.latest()) / INTERVAL + 1n;
await networkHelpers.time.increaseTo((intervalId + 1n) * INTERVAL);
const tree = buildIntervalTree(intervalId, [{ meter, importWh: 0n, exportWh: EXPORT_WH }]);
for (const r of [r1, r2]) {
  await (await oracle.connect(r).submitRoot(intervalId, tree.root, 1, 0, EXPORT_WH)).wait();
}
const p = proofFor(tree, meter);
await (await kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
const id = kwhTokenId(1, intervalId);
await (await kwh.connect(maker).setApprovalForAll(deskAddress, true)).wait();
await (await usd.mint(maker.address, 1_000_000n)).wait(); // the maker's stablecoin slot is not empty

/** Fresh takers: ETH for gas, stablecoin approved for the desk, and (when `holdsId`) 1 unit of the kWh id. */
async function takers(label: string, n: number, holdsId: boolean) {
  const out: Wallet[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Wallet(keccak256(toUtf8Bytes(`bench deal ${label} ${i}`)), ethers.provider);
    await networkHelpers.setBalance(t.address, 10n ** 20n);
    await (await usd.mint(t.address, 100_000_000n)).wait();
    await (await usd.connect(t).approve(deskAddress, ethers.MaxUint256)).wait();
    if (holdsId) await (await kwh.connect(maker).safeTransferFrom(maker.address, t.address, id, 1n, "0x")).wait();
    out.push(t);
  }
  return out;
}

let nonce = 0n;
async function quote(over: Partial<Quote> = {}): Promise<{ q: Quote; sig: string }> {
  const q: Quote = {
    maker: maker.address,
    token: kwhAddress,
    id,
    amount: UNITS,
    paymentToken: usdAddress,
    price: PRICE,
    expiry: BigInt(await networkHelpers.time.latest()) + 30n * 86_400n,
    nonce: nonce++,
    allowPartial: false,
    ...over,
  };
  return { q, sig: await maker.signTypedData(domain, QUOTE_TYPES, q) };
}

async function gasOf(p: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await p).wait();
  if (receipt === null || receipt.status !== 1) throw new Error("transaction failed");
  return Number(receipt.gasUsed);
}

interface Row {
  id: string;
  label: string;
  n: number;
  min: number;
  avg: number;
  max: number;
}
const rows: Row[] = [];
function record(idKey: string, label: string, samples: number[]): Row {
  const row = {
    id: idKey,
    label,
    n: samples.length,
    min: Math.min(...samples),
    avg: Math.round(samples.reduce((s, g) => s + g, 0) / samples.length),
    max: Math.max(...samples),
  };
  rows.push(row);
  return row;
}

const payment = await desk.paymentFor(UNITS, PRICE);
log(`system deployed, ${EXPORT_WH} Wh minted to the maker; ${UNITS} units pay ${payment} base units`);

/*//////////////////////////////////////////////////////////////
                            BASELINES
//////////////////////////////////////////////////////////////*/

{
  const steady = await takers("baseline", SAMPLES, true);
  const fresh = await takers("baseline fresh", SAMPLES, false);
  const erc20: number[] = [];
  const erc20From: number[] = [];
  const erc1155: number[] = [];
  const erc1155First: number[] = [];
  for (const t of steady) {
    erc20.push(await gasOf(usd.connect(t).transfer(maker.address, payment)));
    erc1155.push(await gasOf(kwh.connect(maker).safeTransferFrom(maker.address, t.address, id, UNITS, "0x")));
  }
  for (const t of fresh) {
    // transferFrom by a spender with an unlimited allowance, as the desk pays (the desk's own allowance is used).
    await (await usd.connect(t).approve(deployer.address, ethers.MaxUint256)).wait();
    erc20From.push(await gasOf(usd.connect(deployer).transferFrom(t.address, maker.address, payment)));
    erc1155First.push(await gasOf(kwh.connect(maker).safeTransferFrom(maker.address, t.address, id, UNITS, "0x")));
  }
  record("erc20Transfer", "ERC-20 transfer, taker → maker", erc20);
  record("erc20TransferFrom", "ERC-20 transferFrom (unlimited allowance), taker → maker", erc20From);
  record("erc1155Transfer", "ERC-1155 safeTransferFrom, maker → taker holding the id", erc1155);
  record("erc1155TransferFirst", "ERC-1155 safeTransferFrom, maker → taker's first units of the id", erc1155First);
  log("baselines measured");
}

/*//////////////////////////////////////////////////////////////
                              FILLS
//////////////////////////////////////////////////////////////*/

{
  const steady = await takers("full", SAMPLES, true);
  const fresh = await takers("full fresh", SAMPLES, false);
  const full: number[] = [];
  const fullFirst: number[] = [];
  for (const t of steady) {
    const { q, sig } = await quote();
    full.push(await gasOf(desk.connect(t).fill(q, sig, UNITS)));
  }
  for (const t of fresh) {
    const { q, sig } = await quote();
    fullFirst.push(await gasOf(desk.connect(t).fill(q, sig, UNITS)));
  }
  record("fillFull", "fill, whole quote, taker holding the id", full);
  record("fillFullFirst", "fill, whole quote, taker's first units of the id", fullFirst);

  const partialTakers = await takers("partial", 2 * SAMPLES, true);
  const firstPart: number[] = [];
  const laterPart: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    // A 2-kWh quote filled in two 1-kWh parts by two takers: the first part creates the quote's fill record.
    const { q, sig } = await quote({ amount: 2n * UNITS, allowPartial: true });
    firstPart.push(await gasOf(desk.connect(partialTakers[2 * i]).fill(q, sig, UNITS)));
    laterPart.push(await gasOf(desk.connect(partialTakers[2 * i + 1]).fill(q, sig, UNITS)));
  }
  record("fillPartialFirst", "fill, first part of a partial quote, taker holding the id", firstPart);
  record("fillPartialLater", "fill, later part of a partial quote, taker holding the id", laterPart);

  const cancels: number[] = [];
  const floors: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const { q } = await quote();
    cancels.push(await gasOf(desk.connect(maker).cancel(q)));
  }
  for (let i = 0; i < SAMPLES; i++) floors.push(await gasOf(desk.connect(maker).invalidateNoncesBelow(nonce++)));
  record("cancel", "cancel one quote", cancels);
  record("invalidateNoncesBelow", "invalidateNoncesBelow (floor already set)", floors.slice(1));
  log("fills measured");
}

/*//////////////////////////////////////////////////////////////
                              REPORT
//////////////////////////////////////////////////////////////*/

const by = (k: string) => rows.find((r) => r.id === k)!.avg;
/** Two plain transfers in two transactions pay the 21,000 base twice; one transaction would pay it once. */
const baselineSteady = by("erc20Transfer") + by("erc1155Transfer") - 21_000;
const baselineFirst = by("erc20Transfer") + by("erc1155TransferFirst") - 21_000;
const comparisons = [
  {
    id: "fillFull",
    label: "whole fill vs the two transfers (taker holding the id)",
    fill: by("fillFull"),
    baseline: baselineSteady,
  },
  {
    id: "fillFullFirst",
    label: "whole fill vs the two transfers (taker's first units)",
    fill: by("fillFullFirst"),
    baseline: baselineFirst,
  },
  {
    id: "fillPartialFirst",
    label: "first partial fill vs the two transfers",
    fill: by("fillPartialFirst"),
    baseline: baselineSteady,
  },
  {
    id: "fillPartialLater",
    label: "later partial fill vs the two transfers",
    fill: by("fillPartialLater"),
    baseline: baselineSteady,
  },
].map((c) => ({ ...c, overhead: c.fill - c.baseline }));

console.log();
table(
  ["operation", "n", "min", "avg", "max"],
  rows.map((r) => [r.label, String(r.n), fmt(r.min), fmt(r.avg), fmt(r.max)]),
);
console.log();
table(
  ["comparison", "fill", "transfers (one tx)", "overhead"],
  comparisons.map((c) => [c.label, fmt(c.fill), fmt(c.baseline), fmt(c.overhead)]),
);
console.log();
console.log(
  "Gas = receipt gasUsed. 'transfers (one tx)' = ERC-20 transfer + ERC-1155 transfer − 21,000 (the base cost paid once).",
);

const report = {
  compiler: compilerOfReport(),
  setup: {
    network: "in-process EDR (hardhat network.create())",
    gas: "receipt gasUsed (21,000 base + calldata + execution)",
    token: "KwhToken, one id (zone 1, one interval); 1,000 units (1 kWh) per fill",
    paymentToken: "MockStablecoin (OpenZeppelin ERC20, 6 decimals); the taker's allowance for the desk is unlimited",
    price: PRICE.toString(),
    payment: payment.toString(),
    samples: SAMPLES,
    state: "fresh taker per sample; the maker holds stablecoin and the id; 'holding the id' = taker has 1 unit of it",
    baseline: "ERC-20 transfer (taker → maker) + ERC-1155 safeTransferFrom (maker → taker) − 21,000",
  },
  results: rows,
  comparisons,
};
mkdirSync("bench", { recursive: true });
writeFileSync(OUT, JSON.stringify(report, null, 2) + "\n");
log(`wrote ${OUT}`);
