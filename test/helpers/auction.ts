import { AbiCoder, keccak256, Wallet, ZeroAddress, type Signer } from "ethers";
import {
  BatchAuction__factory,
  MockStablecoin__factory,
  PriceFeedMock__factory,
  type BatchAuction,
  type MockStablecoin,
  type PriceFeedMock,
} from "../../types/ethers-contracts/index.js";
import { deployFixture, ethers, INTERVAL, networkHelpers, type Fixture } from "./fixture.js";

/** `IBatchAuction.Side`, `Phase` and `Congestion` as the ABI numbers them. */
export const SIDE = { Buy: 0, Sell: 1 } as const;
export const PHASE = { Scheduled: 0, Commit: 1, Reveal: 2, Clearing: 3, Cleared: 4, Void: 5 } as const;
export const CONGESTION = { None: 0, Export: 1, Import: 2 } as const;

/** One US dollar in the mock stablecoin's base units (6 decimals). */
export const USD = 1_000_000n;
/** The feeds' decimals and answers: 0.05 and 0.40 per kWh. */
export const FEED_DECIMALS = 8;
export const FLOOR_ANSWER = 5_000_000n;
export const CEILING_ANSWER = 40_000_000n;
/** The same bounds in payment-token base units per kWh. */
export const FLOOR = 50_000n;
export const CEILING = 400_000n;
/** What the fixture mints to alice, bob and stranger. */
export const INITIAL_BALANCE = 10_000n * USD;

/** `IBatchAuction.Params` with plain numbers. */
export interface AuctionParams {
  commitWindow: bigint;
  revealWindow: bigint;
  gateLead: bigint;
  settlementWindow: bigint;
  minDeposit: bigint;
  tickSize: bigint;
  maxOrders: bigint;
  sellerBondBps: bigint;
  nonRevealPenaltyBps: bigint;
  maxFeedAge: bigint;
}

export const PARAMS: AuctionParams = {
  commitWindow: 3_600n,
  revealWindow: 600n,
  gateLead: 900n,
  settlementWindow: 3_600n,
  minDeposit: 1_000_000n,
  tickSize: 100n,
  maxOrders: 64n,
  sellerBondBps: 2_000n,
  nonRevealPenaltyBps: 5_000n,
  maxFeedAge: 86_400n,
};

/** `IBatchAuction.Order`: side, zone, Wh, base units per kWh, the seller's meter (zero for buyers). */
export interface Order {
  side: number;
  zone: number;
  quantityWh: bigint;
  limitPrice: bigint;
  meter: string;
}

export function buy(zone: number, quantityWh: bigint, limitPrice: bigint): Order {
  return { side: SIDE.Buy, zone, quantityWh, limitPrice, meter: ZeroAddress };
}

export function sell(zone: number, quantityWh: bigint, limitPrice: bigint, meter: string): Order {
  return { side: SIDE.Sell, zone, quantityWh, limitPrice, meter };
}

/** Deploys a BatchAuction on `f`'s registry with `params` (the defaults above unless overridden). */
export async function deployAuction(
  f: Fixture,
  token: MockStablecoin,
  floorFeed: PriceFeedMock,
  ceilingFeed: PriceFeedMock,
  treasury: string,
  overrides: Partial<AuctionParams> = {},
  settlement: string = treasury,
): Promise<BatchAuction> {
  const auction = await new BatchAuction__factory(f.deployer).deploy(
    await f.system.registry.getAddress(),
    await token.getAddress(),
    await floorFeed.getAddress(),
    await ceilingFeed.getAddress(),
    treasury,
    { ...PARAMS, ...overrides },
    settlement,
  );
  await auction.waitForDeployment();
  return auction;
}

/** Deploys a PriceFeedMock with `decimals` and `answer` (its timestamp: now). */
export async function deployFeed(f: Fixture, decimals: number, answer: bigint): Promise<PriceFeedMock> {
  const feed = await new PriceFeedMock__factory(f.deployer).deploy(decimals, answer);
  await feed.waitForDeployment();
  return feed;
}

/**
 * The system of {deployFixture} plus a 6-decimal stablecoin, the floor (0.05/kWh) and ceiling (0.40/kWh) feeds with
 * 8 decimals, and a BatchAuction with {PARAMS} whose treasury is a fresh address; alice, bob and stranger hold
 * 10,000 USD each and have approved the auction for all of it.
 */
export async function deployAuctionFixture() {
  const f = await deployFixture();
  const token = await new MockStablecoin__factory(f.deployer).deploy();
  await token.waitForDeployment();
  const floorFeed = await deployFeed(f, FEED_DECIMALS, FLOOR_ANSWER);
  const ceilingFeed = await deployFeed(f, FEED_DECIMALS, CEILING_ANSWER);
  const treasury = Wallet.createRandom().address;
  const auction = await deployAuction(f, token, floorFeed, ceilingFeed, treasury);
  for (const s of [f.alice, f.bob, f.stranger]) {
    await (await token.mint(s.address, INITIAL_BALANCE)).wait();
    await (await token.connect(s).approve(await auction.getAddress(), INITIAL_BALANCE)).wait();
  }
  return { ...f, token, floorFeed, ceilingFeed, treasury, auction };
}

export type AuctionFixture = Awaited<ReturnType<typeof deployAuctionFixture>>;

/**
 * An interval whose auction has not opened yet (its commit phase starts more than an hour from now), with room for
 * other auctions' phases to be visited first.
 */
export async function futureInterval(): Promise<bigint> {
  const now = BigInt(await networkHelpers.time.latest());
  const leadTime = PARAMS.commitWindow + PARAMS.revealWindow + PARAMS.gateLead;
  return (now + leadTime + 3_600n) / INTERVAL + 1n;
}

export type PhaseName = "commit" | "reveal" | "clearing";

/** The start of an auction's phase (Unix seconds), by its schedule. */
export async function phaseStart(f: AuctionFixture, intervalId: bigint, phase: PhaseName): Promise<bigint> {
  const s = await f.auction.schedule(intervalId);
  return phase === "commit" ? s.commitStart : phase === "reveal" ? s.revealStart : s.gateClosure;
}

/** Sets both feeds' answers again, so their timestamps are now (maxFeedAge is one day). */
export async function refreshFeeds(f: AuctionFixture): Promise<void> {
  await (await f.floorFeed.updateAnswer(await f.floorFeed.latestAnswer())).wait();
  await (await f.ceilingFeed.updateAnswer(await f.ceilingFeed.latestAnswer())).wait();
}

/**
 * Moves the chain clock to the start of `intervalId`'s `phase` (never backwards) and refreshes the feeds; the two
 * feed updates take the clock 2 s past the start (every window is far longer).
 */
export async function toPhase(f: AuctionFixture, intervalId: bigint, phase: PhaseName): Promise<void> {
  const start = await phaseStart(f, intervalId, phase);
  const now = BigInt(await networkHelpers.time.latest());
  if (now >= start) throw new Error(`toPhase: already at ${now}, past the ${phase} start ${start}`);
  await networkHelpers.time.increaseTo(start);
  await refreshFeeds(f);
}

const ORDER_TUPLE = "tuple(uint8 side, uint32 zone, uint64 quantityWh, uint64 limitPrice, address meter)";

/** keccak256(abi.encode(chainid, auction, intervalId, trader, order, salt)), computed off-chain. */
export function commitmentOffChain(
  chainId: bigint,
  auction: string,
  intervalId: bigint,
  trader: string,
  order: Order,
  salt: string,
): string {
  const encoded = AbiCoder.defaultAbiCoder().encode(
    ["uint256", "address", "uint64", "address", ORDER_TUPLE, "bytes32"],
    [
      chainId,
      auction,
      intervalId,
      trader,
      [order.side, order.zone, order.quantityWh, order.limitPrice, order.meter],
      salt,
    ],
  );
  return keccak256(encoded);
}

/** A deterministic salt. */
export function salt(label: string | number): string {
  return ethers.id(`microgrid auction salt ${label}`);
}

/**
 * Commits `signer` to `order` with `collateral` in `intervalId`'s auction and returns the commitment (the contract's
 * `commitmentOf`, checked against the off-chain encoding).
 */
export async function commitOrder(
  f: AuctionFixture,
  signer: Signer & { address: string },
  intervalId: bigint,
  order: Order,
  collateral: bigint,
  saltValue: string,
): Promise<string> {
  const commitment = await f.auction.commitmentOf(intervalId, signer.address, order, saltValue);
  const expected = commitmentOffChain(
    f.chainId,
    await f.auction.getAddress(),
    intervalId,
    signer.address,
    order,
    saltValue,
  );
  if (commitment !== expected) throw new Error(`commitmentOf ${commitment} differs from the off-chain ${expected}`);
  await (await f.auction.connect(signer).commit(intervalId, commitment, collateral)).wait();
  return commitment;
}

/** ⌈qty × limit / 1000⌉: what a buyer's collateral must cover, base units. */
export function orderValue(quantityWh: bigint, limitPrice: bigint): bigint {
  return (quantityWh * limitPrice + 999n) / 1000n;
}

/** ⌈value × sellerBondBps / 10000⌉: a seller's bond, base units. */
export function sellerBond(quantityWh: bigint, limitPrice: bigint, bondBps = PARAMS.sellerBondBps): bigint {
  return (orderValue(quantityWh, limitPrice) * bondBps + 9_999n) / 10_000n;
}

/** The collateral an order needs, but at least the minimum deposit. */
export function collateralFor(order: Order): bigint {
  const required =
    order.side === SIDE.Buy
      ? orderValue(order.quantityWh, order.limitPrice)
      : sellerBond(order.quantityWh, order.limitPrice);
  return required > PARAMS.minDeposit ? required : PARAMS.minDeposit;
}
