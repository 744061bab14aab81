import { network } from "hardhat";
import { type Signer } from "ethers";
import { deploySystem, type System } from "../../src/deploy.js";
import { certificateId, vintageOf } from "../../src/certificates.js";
import { kwhTokenId } from "../../src/intervals.js";
import { dealDomain, hashQuote, QUOTE_TYPES, type Quote } from "../../src/ops/deals.js";
import { proofFor } from "../../src/tree.js";
import {
  deployFixture,
  ethers,
  firstAccreditedInterval,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  TECH,
  meterKey,
} from "../helpers/fixture.js";
import { USD, collateralFor, salt, type Order } from "../helpers/auction.js";

/** A signer with its address at hand. */
export type Account = Signer & { address: string };

/** An order committed to the system's auction. */
export interface Placed {
  trader: Account;
  order: Order;
  commitment: string;
  collateral: bigint;
  salt: string;
}

/**
 * {deployFixture} plus money: alice, bob, stranger and the deployer hold 10,000 USD of the system's stablecoin,
 * approved for the system's auction, and have approved the settlement escrow for their kWh tokens.
 */
export async function systemFixture() {
  const f = await deployFixture();
  const { paymentToken: token, auction, escrow, kwh } = f.system;
  for (const s of [f.alice, f.bob, f.stranger, f.deployer as Account]) {
    await (await token.mint(s.address, 10_000n * USD)).wait();
    await (await token.connect(s).approve(await auction.getAddress(), ethers.MaxUint256)).wait();
    await (await kwh.connect(s).setApprovalForAll(await escrow.getAddress(), true)).wait();
  }
  return f;
}

export type SystemFixture = Awaited<ReturnType<typeof systemFixture>>;

/** A delivery interval whose auction (the system's default schedule) has not opened yet. */
export async function nextAuctionInterval(): Promise<bigint> {
  const now = BigInt(await networkHelpers.time.latest());
  return (now + 3_600n + 300n + 900n + 1_800n) / INTERVAL + 1n;
}

/**
 * Runs the system auction of a future interval through clearing with `orders` (each with the collateral it needs),
 * and returns the interval, the placed orders and the schedule.
 */
export async function clearedAuction(system: System, orders: [Account, Order][], label = "adversarial") {
  const { auction } = system;
  const intervalId = await nextAuctionInterval();
  const schedule = await auction.schedule(intervalId);
  await networkHelpers.time.increaseTo(schedule.commitStart);
  const placed: Placed[] = [];
  for (const [i, [trader, order]] of orders.entries()) {
    const s = salt(`${label} ${i}`);
    const commitment = await auction.commitmentOf(intervalId, trader.address, order, s);
    const collateral = collateralFor(order);
    await (await auction.connect(trader).commit(intervalId, commitment, collateral)).wait();
    placed.push({ trader, order, commitment, collateral, salt: s });
  }
  await networkHelpers.time.increaseTo(schedule.revealStart);
  for (const p of placed) await (await auction.connect(p.trader).reveal(intervalId, p.order, p.salt)).wait();
  await networkHelpers.time.increaseTo(schedule.gateClosure);
  await (await auction.clear(intervalId)).wait();
  return { intervalId, placed, schedule };
}

/** Ends the interval, has two relayers finalise a root of the meters' exports, and claims each of them. */
export async function proveAndClaim(
  f: Awaited<ReturnType<typeof deployFixture>>,
  intervalId: bigint,
  exports: [number, bigint][],
) {
  const end = (intervalId + 1n) * INTERVAL;
  if (BigInt(await networkHelpers.time.latest()) < end) await networkHelpers.time.increaseTo(end);
  const leaves = exports.map(([m, exportWh]) => ({ meter: f.meters[m].address, importWh: 0n, exportWh }));
  const tree = await postRoot(f.system, f.relayers, intervalId, leaves);
  for (const [m] of exports) {
    const p = proofFor(tree, f.meters[m].address);
    await (await f.system.kwh.claim(p.meter, intervalId, p.importWh, p.exportWh, p.proof)).wait();
  }
  return tree;
}

/** One of two chains that run the same deployment at the same addresses. */
export interface Twin {
  chainId: bigint;
  ethers: typeof ethers;
  time: typeof networkHelpers.time;
  system: System;
  deployer: Account;
  relayers: Account[];
  alice: Account;
  bob: Account;
  stranger: Account;
  /** meterKey(0), a solar meter of alice's in zone 1. */
  meter: string;
}

/**
 * The same system deployed by the same deployer from nonce 0 on two fresh in-process chains (chain ids 31337 and
 * 4242), so every contract has the same address on both: the setting of a cross-chain replay. Each chain has zone 1,
 * alice's solar meter 0, and 1,000 USD for alice and bob approved for the auction.
 */
export async function twinChains(): Promise<[Twin, Twin]> {
  const twins: Twin[] = [];
  for (const chainId of [31_337n, 4_242n]) {
    const conn = await network.create({ override: { chainId: Number(chainId) } });
    const [deployer, r1, r2, r3, alice, bob, stranger] = await conn.ethers.getSigners();
    const { system } = await deploySystem(deployer, `twin-${chainId}`, {
      intervalLength: INTERVAL,
      relayers: [r1.address, r2.address, r3.address],
      threshold: 2,
    });
    await (await system.registry.setZone(1, 200_000, 150_000)).wait();
    const meter = meterKey(0).address;
    await (
      await system.registry.registerMeter(meter, {
        owner: alice.address,
        zone: 1,
        technology: TECH.Solar,
        ratedCapacityW: 5_000n,
        recEligible: false,
        accreditationExpiry: 0n,
      })
    ).wait();
    for (const s of [alice, bob]) {
      await (await system.paymentToken.mint(s.address, 1_000n * USD)).wait();
      await (await system.paymentToken.connect(s).approve(await system.auction.getAddress(), ethers.MaxUint256)).wait();
    }
    twins.push({
      chainId,
      ethers: conn.ethers,
      time: conn.networkHelpers.time,
      system,
      deployer,
      relayers: [r1, r2, r3],
      alice,
      bob,
      stranger,
      meter,
    });
  }
  return [twins[0], twins[1]];
}

/**
 * Deals with real units (as in test/market/DealDesk.test.ts): alice holds 3,100 Wh of zone 1's kWh token of the first
 * accredited interval (meters 0 and 1) and 1,200 Wh of meter 0's certificates, approved for the desk; bob and stranger
 * hold 1,000 USD approved for the desk.
 */
export async function dealFixture() {
  const f = await deployFixture();
  const { kwh, rec, desk, paymentToken } = f.system;
  const intervalId = await firstAccreditedInterval(f);
  const tree = await postRoot(f.system, f.relayers, intervalId, sampleLeaves(f));
  for (const m of f.meters.slice(0, 2)) {
    const p = proofFor(tree, m.address);
    await (await kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
  }
  const deskAddress = await desk.getAddress();
  await (await kwh.connect(f.alice).setApprovalForAll(deskAddress, true)).wait();
  await (await rec.connect(f.alice).setApprovalForAll(deskAddress, true)).wait();
  for (const s of [f.bob, f.stranger]) {
    await (await paymentToken.mint(s.address, 1_000n * USD)).wait();
    await (await paymentToken.connect(s).approve(deskAddress, ethers.MaxUint256)).wait();
  }
  return {
    ...f,
    intervalId,
    tree,
    deskAddress,
    domain: dealDomain(f.chainId, deskAddress),
    kwhId: kwhTokenId(1, intervalId),
    recId: certificateId({
      meter: f.meters[0].address,
      vintage: vintageOf(intervalId * INTERVAL),
      technology: "Solar",
      zone: 1,
    }),
  };
}

export type DealFixture = Awaited<ReturnType<typeof dealFixture>>;

/** What a quote of alice's needs: her, the system, the kWh id she sells and the desk's domain. */
export type QuoteContext = Pick<DealFixture, "alice" | "system" | "kwhId" | "domain">;

/** A quote of alice's (1,000 Wh of the kWh token at 0.123457 per kWh, all or nothing, a day), signed by her. */
export async function signedQuote(f: QuoteContext, over: Partial<Quote> = {}, signer: Account = f.alice) {
  const q: Quote = {
    maker: f.alice.address,
    token: await f.system.kwh.getAddress(),
    id: f.kwhId,
    amount: 1_000n,
    paymentToken: await f.system.paymentToken.getAddress(),
    price: 123_457n,
    expiry: BigInt(await networkHelpers.time.latest()) + 86_400n,
    nonce: 0n,
    allowPartial: false,
    ...over,
  };
  return { q, sig: await signer.signTypedData(f.domain, QUOTE_TYPES, q), hash: hashQuote(f.domain, q) };
}
