import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { getAddress, hexlify, isAddress, randomBytes, ZeroAddress, type Signer } from "ethers";
import { InputError, MicrogridError } from "../errors.js";
import type { Deployment, System } from "../deploy.js";
import { clearBook } from "../market/clearing.js";
import type { Book, ClearingResult, Congestion, Side, ZoneCapacity } from "../market/types.js";
import { queryLogs } from "./rec.js";
import { send, call, providerOf } from "./chain.js";

/** `IBatchAuction.Phase` and `Congestion` by their ABI numbers. */
export const PHASES = ["scheduled", "commit", "reveal", "clearing", "cleared"] as const;
export type PhaseName = (typeof PHASES)[number];
export const CONGESTIONS: Congestion[] = ["none", "export", "import"];
export const SIDES: Side[] = ["buy", "sell"];

const MAX_U64 = (1n << 64n) - 1n;
/** BatchAuction.MAX_ORDER_WH: the largest order, Wh. */
export const MAX_ORDER_WH = (1n << 32n) - 1n;
const MAX_U32 = (1n << 32n) - 1n;

/** A Unix time and the same as ISO 8601. */
export interface Time {
  unix: bigint;
  iso: string;
}

function time(unix: bigint): Time {
  return { unix, iso: new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z") };
}

/** Parses a whole number ≥ `min` (default 1) and ≤ `max`, or throws a one-line InputError naming `what`. */
export function parseWhole(value: string | number | bigint, what: string, min = 1n, max = MAX_U64): bigint {
  let n: bigint;
  try {
    n = BigInt(typeof value === "string" ? value.trim() : value);
  } catch {
    throw new InputError(`${what} "${value}" is not a whole number`);
  }
  if (typeof value === "string" && value.trim() === "") throw new InputError(`give ${what}`);
  if (n < min) throw new InputError(`${what} ${n} must be ${min === 1n ? "positive" : `at least ${min}`}`);
  if (n > max) throw new InputError(`${what} ${n} is too large (at most ${max})`);
  return n;
}

export function parseSide(value: string): Side {
  const s = value.trim().toLowerCase();
  if (s !== "buy" && s !== "sell") throw new InputError(`side "${value}" must be buy or sell`);
  return s;
}

/** ⌈qty × limit / 1000⌉: what a buyer's collateral must cover, base units. */
export function orderValue(quantityWh: bigint, limitPrice: bigint): bigint {
  return (quantityWh * limitPrice + 999n) / 1000n;
}

/** ⌈value × bondBps / 10000⌉: a seller's bond, base units. */
export function sellerBond(quantityWh: bigint, limitPrice: bigint, bondBps: bigint): bigint {
  return (orderValue(quantityWh, limitPrice) * bondBps + 9_999n) / 10_000n;
}

/*//////////////////////////////////////////////////////////////
                              STATUS
//////////////////////////////////////////////////////////////*/

export interface ZoneOutcome {
  zone: number;
  price: bigint;
  netExportWh: bigint;
  congestion: Congestion;
  atPrice: { sellWh: bigint; sellFilledWh: bigint; buyWh: bigint; buyFilledWh: bigint };
}

export interface AuctionStatus {
  intervalId: bigint;
  phase: PhaseName;
  /** The chain's latest block time. */
  now: Time;
  schedule: { commitStart: Time; revealStart: Time; gateClosure: Time; deliveryStart: Time; settlementDeadline: Time };
  /** The day's bounds, base units per kWh; null until the auction is opened (by `auction commit`) or first revealed. */
  bounds: { floor: bigint; ceiling: bigint } | null;
  tickSize: bigint;
  minDeposit: bigint;
  /** Orders revealed so far (commitments are not counted on chain; `auction book` lists them from events). */
  orderCount: number;
  maxOrders: number;
  /** Zones with revealed orders, ascending. */
  zones: number[];
  /** After clearing: the system price and every zone's outcome. */
  result: { systemPrice: bigint; zones: ZoneOutcome[] } | null;
}

function outcomeOf(zone: number, o: { price: bigint; netExportWh: bigint; congestion: bigint } & AtPrice): ZoneOutcome {
  return {
    zone,
    price: o.price,
    netExportWh: o.netExportWh,
    congestion: CONGESTIONS[Number(o.congestion)] ?? "none",
    atPrice: {
      sellWh: o.sellAtPriceWh,
      sellFilledWh: o.sellAtPriceFilledWh,
      buyWh: o.buyAtPriceWh,
      buyFilledWh: o.buyAtPriceFilledWh,
    },
  };
}

interface AtPrice {
  sellAtPriceWh: bigint;
  sellAtPriceFilledWh: bigint;
  buyAtPriceWh: bigint;
  buyAtPriceFilledWh: bigint;
}

/** An auction's phase, schedule, bounds, revealed orders, zones and (after clearing) result. */
export async function auctionStatus(system: System, intervalId: bigint): Promise<AuctionStatus> {
  const a = system.auction;
  const [phase, s, [floor, ceiling], count, zones, params, block] = await call(() =>
    Promise.all([
      a.phase(intervalId),
      a.schedule(intervalId),
      a.bounds(intervalId),
      a.orderCount(intervalId),
      a.zonesOf(intervalId),
      a.params(),
      providerOf(system).getBlock("latest"),
    ]),
  );
  const zoneIds = zones.map(Number).sort((x, y) => x - y);
  const name = PHASES[Number(phase)];
  let result: AuctionStatus["result"] = null;
  if (name === "cleared") {
    const outcomes = await call(() => Promise.all(zoneIds.map((z) => a.zoneOutcome(intervalId, z))));
    result = {
      systemPrice: await a.systemPrice(intervalId),
      zones: outcomes.map((o, i) => outcomeOf(zoneIds[i], o)),
    };
  }
  return {
    intervalId,
    phase: name,
    now: time(BigInt(block?.timestamp ?? 0)),
    schedule: {
      commitStart: time(s.commitStart),
      revealStart: time(s.revealStart),
      gateClosure: time(s.gateClosure),
      deliveryStart: time(s.deliveryStart),
      settlementDeadline: time(s.settlementDeadline),
    },
    bounds: floor === 0n && ceiling === 0n ? null : { floor, ceiling },
    tickSize: params.tickSize,
    minDeposit: params.minDeposit,
    orderCount: Number(count),
    maxOrders: Number(params.maxOrders),
    zones: zoneIds,
    result,
  };
}

/*//////////////////////////////////////////////////////////////
                          COMMIT / REVEAL
//////////////////////////////////////////////////////////////*/

export interface CommitInput {
  intervalId: bigint | number | string;
  side: string;
  zone: bigint | number | string;
  quantityWh: bigint | number | string;
  /** Base units per kWh. */
  limitPrice: bigint | number | string;
  /** The seller's generating meter in `zone` (sellers only). */
  meter?: string;
  /** Collateral, base units (default: what the order needs, at least the minimum deposit). */
  collateral?: bigint | number | string;
  /** Added to the default collateral, to hide the order's size. */
  extraCollateral?: bigint | number | string;
  /** Where to write the order and salt (default: `orders/<network>/<interval>-<commitment prefix>.json`). */
  saltFile?: string;
  /** Names the default folder (default: the chain id). */
  network?: string;
}

/** What `commitOrder` writes and `revealOrder` reads: everything needed to reveal. */
export interface OrderFile {
  version: 1;
  chainId: string;
  auction: string;
  intervalId: string;
  trader: string;
  order: { side: Side; zone: number; quantityWh: string; limitPrice: string; meter: string };
  salt: string;
  commitment: string;
  collateral: string;
}

export interface Committed {
  file: string;
  commitment: string;
  collateral: bigint;
  approveTx: string | null;
  /** The `open` transaction that fixed the auction's bounds before this commitment, if it had to. */
  openTx: string | null;
  txHash: string;
}

/** The contract's `Order` tuple of a file's order. */
function orderTuple(o: OrderFile["order"]) {
  return {
    side: o.side === "buy" ? 0 : 1,
    zone: o.zone,
    quantityWh: BigInt(o.quantityWh),
    limitPrice: BigInt(o.limitPrice),
    meter: o.meter,
  };
}

/**
 * Validates an order, ensures the allowance, draws a random salt, writes the order and salt to a new file and
 * only then commits. Returns the file, which `revealOrder` needs.
 */
export async function commitOrder(system: System, signer: Signer, input: CommitInput): Promise<Committed> {
  const intervalId = parseWhole(input.intervalId, "--interval", 1n);
  const side = parseSide(input.side);
  const zone = Number(parseWhole(input.zone, "--zone", 1n, MAX_U32));
  const quantityWh = parseWhole(input.quantityWh, "--quantity (Wh)");
  const limitPrice = parseWhole(input.limitPrice, "--price (base units per kWh)");
  const trader = await signer.getAddress();
  let meter = ZeroAddress;
  if (side === "buy") {
    if (input.meter !== undefined && input.meter !== "" && input.meter !== ZeroAddress)
      throw new InputError("a buy order names no meter: drop --meter");
  } else {
    if (input.meter === undefined || input.meter === "")
      throw new InputError("a sell order needs --meter <address> (your generating meter in the zone)");
    if (!isAddress(input.meter)) throw new InputError(`meter "${input.meter}" is not an address`);
    meter = getAddress(input.meter);
  }
  const auction = system.auction.connect(signer);
  const auctionAddress = await auction.getAddress();
  const [params, [setFloor, setCeiling], phase, network] = await call(() =>
    Promise.all([
      auction.params(),
      auction.bounds(intervalId),
      auction.phase(intervalId),
      providerOf(system).getNetwork(),
    ]),
  );
  if (limitPrice % params.tickSize !== 0n)
    throw new InputError(`price ${limitPrice} is not a multiple of the tick ${params.tickSize} (base units per kWh)`);
  if (quantityWh > MAX_ORDER_WH)
    throw new InputError(`quantity ${quantityWh} Wh is above the largest order, ${MAX_ORDER_WH} Wh`);
  const checkBounds = (floor: bigint, ceiling: bigint) => {
    if (limitPrice < floor || limitPrice > ceiling)
      throw new InputError(
        `price ${limitPrice} is outside the auction's bounds [${floor}, ${ceiling}] (base units per kWh)`,
      );
  };
  if (setCeiling !== 0n) checkBounds(setFloor, setCeiling);
  if (side === "sell") {
    const info = await call(() => system.registry.claimInfo(meter, 0));
    if (info.status !== 1n || getAddress(info.owner) !== trader || Number(info.zone) !== zone || info.technology === 3n)
      throw new InputError(`meter ${meter} is not an active generating meter of ${trader} in zone ${zone}`);
    const maxWh = await call(() => system.registry.maxWhPerInterval(meter));
    if (quantityWh > maxWh)
      throw new InputError(`quantity ${quantityWh} Wh exceeds the meter's ${maxWh} Wh per interval`);
  } else {
    const z = await call(() => system.registry.getZone(zone));
    if (!z.configured) throw new InputError(`zone ${zone} is not configured`);
  }
  const required =
    side === "buy" ? orderValue(quantityWh, limitPrice) : sellerBond(quantityWh, limitPrice, params.sellerBondBps);
  const needed = required > params.minDeposit ? required : params.minDeposit;
  let collateral: bigint;
  if (input.collateral !== undefined && input.collateral !== "") {
    collateral = parseWhole(input.collateral, "--collateral (base units)");
    if (collateral < needed)
      throw new InputError(
        `collateral ${collateral} is below the ${needed} this order needs (${side === "buy" ? "⌈quantity × price / 1000⌉" : "the seller's bond"}, at least the minimum deposit ${params.minDeposit})`,
      );
  } else {
    const extra =
      input.extraCollateral === undefined || input.extraCollateral === ""
        ? 0n
        : parseWhole(input.extraCollateral, "extra collateral", 0n);
    collateral = needed + extra;
  }
  if (phase !== 1n) {
    // The chain's own refusal (BatchAuctionWrongPhase is checked first), decoded with its hint.
    await call(() => auction.commit.staticCall(intervalId, hexlify(randomBytes(32)), collateral));
    throw new InputError(`the auction of interval ${intervalId} is ${PHASES[Number(phase)]}, not open for commits`);
  }
  // Commit only against known bounds: the first trader fixes them from the feeds (`open`), so that a feed moving
  // before the reveal window cannot turn a committed order invalid.
  let openTx: string | null = null;
  if (setCeiling === 0n) {
    const [floor, ceiling] = await call(() => auction.open.staticCall(intervalId));
    checkBounds(floor, ceiling);
    openTx = await send(() => auction.open(intervalId));
  }
  const balance = await call(() => system.paymentToken.balanceOf(trader));
  if (balance < collateral)
    throw new InputError(
      `${trader} holds ${balance} base units of the payment token, less than the ${collateral} collateral`,
    );

  const order: OrderFile["order"] = {
    side,
    zone,
    quantityWh: quantityWh.toString(),
    limitPrice: limitPrice.toString(),
    meter,
  };
  const salt = hexlify(randomBytes(32));
  const commitment = await call(() => auction.commitmentOf(intervalId, trader, orderTuple(order), salt));
  const file =
    input.saltFile && input.saltFile !== ""
      ? input.saltFile
      : join("orders", input.network ?? network.chainId.toString(), `${intervalId}-${commitment.slice(0, 18)}.json`);
  if (existsSync(file))
    throw new InputError(`${file} exists already: it holds another order's salt, choose another --out`);

  const token = system.paymentToken.connect(signer);
  let approveTx: string | null = null;
  const allowance = await call(() => token.allowance(trader, auctionAddress));
  if (allowance < collateral) approveTx = await send(() => token.approve(auctionAddress, collateral));

  const record: OrderFile = {
    version: 1,
    chainId: network.chainId.toString(),
    auction: auctionAddress,
    intervalId: intervalId.toString(),
    trader,
    order,
    salt,
    commitment,
    collateral: collateral.toString(),
  };
  mkdirSync(dirname(file) || ".", { recursive: true });
  try {
    writeFileSync(file, JSON.stringify(record, null, 2) + "\n", { flag: "wx", mode: 0o600 });
  } catch (e) {
    throw new InputError(`cannot write ${file}: ${(e as Error).message}`);
  }
  const txHash = await send(() => auction.commit(intervalId, commitment, collateral));
  return { file, commitment, collateral, approveTx, openTx, txHash };
}

/** Reads and checks an order file written by `commitOrder`. */
export function readOrderFile(path: string): OrderFile {
  if (path === "") throw new InputError("give --file <order file written by `auction commit`>");
  if (!existsSync(path)) throw new InputError(`order file ${path} does not exist`);
  let raw: OrderFile;
  try {
    raw = JSON.parse(readFileSync(path, "utf8")) as OrderFile;
  } catch (e) {
    throw new InputError(`cannot read order file ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  const o = raw?.order;
  const ok =
    raw !== null &&
    typeof raw === "object" &&
    typeof raw.intervalId === "string" &&
    /^\d+$/.test(raw.intervalId) &&
    typeof raw.trader === "string" &&
    isAddress(raw.trader) &&
    typeof raw.salt === "string" &&
    /^0x[0-9a-fA-F]{64}$/.test(raw.salt) &&
    typeof raw.commitment === "string" &&
    /^0x[0-9a-fA-F]{64}$/.test(raw.commitment) &&
    o !== null &&
    typeof o === "object" &&
    (o.side === "buy" || o.side === "sell") &&
    Number.isInteger(o.zone) &&
    /^\d+$/.test(String(o.quantityWh)) &&
    /^\d+$/.test(String(o.limitPrice)) &&
    typeof o.meter === "string" &&
    isAddress(o.meter);
  if (!ok) throw new InputError(`order file ${path} is not an order written by \`auction commit\``);
  return raw;
}

export interface Revealed {
  intervalId: bigint;
  commitment: string;
  trader: string;
  order: OrderFile["order"];
  txHash: string;
}

/** Reveals the order of a file written by `commitOrder`, sent by its trader. */
export async function revealOrder(system: System, signer: Signer, file: string): Promise<Revealed> {
  const f = readOrderFile(file);
  const sender = await signer.getAddress();
  if (getAddress(f.trader) !== sender)
    throw new InputError(
      `${file} was committed by ${getAddress(f.trader)}: reveal with --from ${getAddress(f.trader)}`,
    );
  const auction = system.auction.connect(signer);
  const [network, address] = await Promise.all([providerOf(system).getNetwork(), auction.getAddress()]);
  if (f.chainId !== undefined && f.chainId !== network.chainId.toString())
    throw new InputError(`${file} is for chain ${f.chainId}, this network is chain ${network.chainId}`);
  if (f.auction !== undefined && getAddress(f.auction) !== address)
    throw new InputError(`${file} is for the auction at ${f.auction}, this deployment's is ${address}`);
  const intervalId = BigInt(f.intervalId);
  const order = orderTuple(f.order);
  const commitment = await call(() => auction.commitmentOf(intervalId, sender, order, f.salt));
  if (commitment !== f.commitment)
    throw new InputError(`${file} is inconsistent: its order and salt make ${commitment}, not ${f.commitment}`);
  const txHash = await send(() => auction.reveal(intervalId, order, f.salt));
  return { intervalId, commitment, trader: sender, order: f.order, txHash };
}

export interface Cleared {
  intervalId: bigint;
  txHash: string;
  systemPrice: bigint;
  tradedWh: bigint;
  congestionRent: bigint;
}

/** Clears an auction after gate closure (anyone may). */
export async function clearAuction(system: System, intervalId: bigint): Promise<Cleared> {
  const txHash = await send(() => system.auction.clear(intervalId));
  const receipt = await providerOf(system).getTransactionReceipt(txHash);
  for (const log of receipt?.logs ?? []) {
    const parsed = system.auction.interface.parseLog(log);
    if (parsed?.name === "AuctionCleared")
      return {
        intervalId,
        txHash,
        systemPrice: parsed.args.systemPrice as bigint,
        tradedWh: parsed.args.tradedWh as bigint,
        congestionRent: parsed.args.congestionRent as bigint,
      };
  }
  throw new MicrogridError(`clear ${txHash} emitted no AuctionCleared event`);
}

/** Mints the deployment's MockStablecoin to `account` (local networks only). */
export async function fundAccount(
  system: System,
  deployment: Deployment,
  account: string,
  amount: bigint | string,
): Promise<string> {
  if (deployment.contracts.MockStablecoin === undefined)
    throw new InputError(
      `the ${deployment.network} deployment uses the payment token ${deployment.market?.paymentToken ?? "?"}, not a MockStablecoin: fund accounts with it`,
    );
  if (!isAddress(account)) throw new InputError(`account "${account}" is not an address`);
  const wh = parseWhole(amount, "--amount (base units)");
  return send(() => system.paymentToken.mint(getAddress(account), wh));
}

/*//////////////////////////////////////////////////////////////
                               BOOK
//////////////////////////////////////////////////////////////*/

export interface BookOrder {
  /** Reveal order (0-based), the book's order id. */
  index: number;
  trader: string;
  commitment: string;
  side: Side;
  zone: number;
  quantityWh: bigint;
  limitPrice: bigint;
  meter: string;
  blockNumber: number;
  txHash: string;
  /** On chain after clearing, else the reference clearing's preview; null without bounds. */
  filledWh: bigint | null;
  price: bigint | null;
}

export interface OnChainResult {
  blockNumber: number;
  txHash: string;
  systemPrice: bigint;
  tradedWh: bigint;
  congestionRent: bigint;
  zones: ZoneOutcome[];
}

export interface AuctionBook {
  intervalId: bigint;
  phase: PhaseName;
  bounds: { floor: bigint; ceiling: bigint } | null;
  /** The zones with revealed orders and their capacities, Wh per interval (at clearing, or now before it). */
  zones: ZoneCapacity[];
  orders: BookOrder[];
  /** From AuctionCleared/ZoneCleared events; null before clearing. */
  onChain: OnChainResult | null;
  /** `clearBook` of the rebuilt book; null before the bounds are set. */
  reference: ClearingResult | null;
  /** Whether the on-chain result equals the reference; null before clearing. */
  matchesReference: boolean | null;
  /** What differs, when something does. */
  differences: string[];
}

/** An order's fill from its zone's outcome and the quantity revealed before it at its level (the contract's rule). */
function fillFrom(o: BookOrder, z: ZoneOutcome | undefined, cumBefore: bigint): bigint {
  if (z === undefined) return 0n;
  const sell = o.side === "sell";
  if (sell ? o.limitPrice < z.price : o.limitPrice > z.price) return o.quantityWh;
  if (o.limitPrice !== z.price) return 0n;
  const total = sell ? z.atPrice.sellWh : z.atPrice.buyWh;
  const filled = sell ? z.atPrice.sellFilledWh : z.atPrice.buyFilledWh;
  if (total === 0n) return 0n;
  return ((cumBefore + o.quantityWh) * filled) / total - (cumBefore * filled) / total;
}

/**
 * Rebuilds an auction's revealed book and its result from events alone (since `fromBlock`, the deployment block),
 * recomputes the result with `clearBook` and compares the two. Before clearing, the fills are the reference's
 * preview.
 */
export async function auctionBook(system: System, intervalId: bigint, fromBlock = 0): Promise<AuctionBook> {
  const a = system.auction;
  const provider = providerOf(system);
  const toBlock = await provider.getBlockNumber();
  const byPosition = (x: { blockNumber: number; index: number }, y: { blockNumber: number; index: number }) =>
    x.blockNumber - y.blockNumber || x.index - y.index;
  const [revealedLogs, boundsLogs, clearedLogs, zoneLogs, phase, intervalLength] = await call(() =>
    Promise.all([
      queryLogs(a, a.filters.OrderRevealed(intervalId), fromBlock, toBlock),
      queryLogs(a, a.filters.BoundsSet(intervalId), fromBlock, toBlock),
      queryLogs(a, a.filters.AuctionCleared(intervalId), fromBlock, toBlock),
      queryLogs(a, a.filters.ZoneCleared(intervalId), fromBlock, toBlock),
      a.phase(intervalId),
      a.intervalLength(),
    ]),
  );
  revealedLogs.sort(byPosition);
  const orders: BookOrder[] = revealedLogs.map((ev, index) => ({
    index,
    trader: ev.args.trader,
    commitment: ev.args.commitment,
    side: SIDES[Number(ev.args.side)],
    zone: Number(ev.args.zone),
    quantityWh: ev.args.quantityWh,
    limitPrice: ev.args.limitPrice,
    meter: ev.args.meter,
    blockNumber: ev.blockNumber,
    txHash: ev.transactionHash,
    filledWh: null,
    price: null,
  }));
  const bounds =
    boundsLogs.length === 0 ? null : { floor: boundsLogs[0].args.floor, ceiling: boundsLogs[0].args.ceiling };
  const clearedLog = clearedLogs[0];
  const zoneIds = [...new Set(orders.map((o) => o.zone))].sort((x, y) => x - y);
  // Capacities as the contract read them when it cleared (or now, for a preview).
  const blockTag = clearedLog?.blockNumber ?? toBlock;
  const zones: ZoneCapacity[] = await call(() =>
    Promise.all(
      zoneIds.map(async (zone) => {
        const z = await system.registry.getZone(zone, { blockTag });
        return {
          zone,
          exportCapWh: (z.exportCapacityW * intervalLength) / 3600n,
          importCapWh: (z.importCapacityW * intervalLength) / 3600n,
        };
      }),
    ),
  );

  let reference: ClearingResult | null = null;
  if (bounds !== null) {
    const book: Book = {
      floor: bounds.floor,
      ceiling: bounds.ceiling,
      zones,
      orders: orders.map((o) => ({
        id: o.index,
        side: o.side,
        zone: o.zone,
        quantityWh: o.quantityWh,
        limitPrice: o.limitPrice,
      })),
    };
    reference = clearBook(book);
  }

  let onChain: OnChainResult | null = null;
  if (clearedLog !== undefined) {
    onChain = {
      blockNumber: clearedLog.blockNumber,
      txHash: clearedLog.transactionHash,
      systemPrice: clearedLog.args.systemPrice,
      tradedWh: clearedLog.args.tradedWh,
      congestionRent: clearedLog.args.congestionRent,
      zones: zoneLogs
        .sort(byPosition)
        .map((ev) =>
          outcomeOf(Number(ev.args.zone), {
            price: ev.args.price,
            netExportWh: ev.args.netExportWh,
            congestion: ev.args.congestion,
            sellAtPriceWh: ev.args.sellAtPriceWh,
            sellAtPriceFilledWh: ev.args.sellAtPriceFilledWh,
            buyAtPriceWh: ev.args.buyAtPriceWh,
            buyAtPriceFilledWh: ev.args.buyAtPriceFilledWh,
          }),
        )
        .sort((x, y) => x.zone - y.zone),
    };
    const outcome = new Map(onChain.zones.map((z) => [z.zone, z]));
    const levels = new Map<string, bigint>();
    for (const o of orders) {
      const key = `${o.zone}/${o.side}/${o.limitPrice}`;
      const cum = levels.get(key) ?? 0n;
      levels.set(key, cum + o.quantityWh);
      o.filledWh = fillFrom(o, outcome.get(o.zone), cum);
      o.price = outcome.get(o.zone)?.price ?? 0n;
    }
  } else if (reference !== null) {
    for (const o of orders) {
      const f = reference.fills[o.index];
      o.filledWh = f.filledWh;
      o.price = f.price;
    }
  }

  const differences: string[] = [];
  if (onChain !== null && reference !== null) {
    const cmp = (what: string, chain: unknown, ref: unknown) => {
      if (chain !== ref) differences.push(`${what}: chain ${String(chain)}, reference ${String(ref)}`);
    };
    cmp("system price", onChain.systemPrice, reference.systemPrice);
    cmp("traded Wh", onChain.tradedWh, reference.tradedWh);
    cmp("congestion rent", onChain.congestionRent, reference.congestionRent);
    const refZones = new Map(reference.zones.map((z) => [z.zone, z]));
    cmp("zones", onChain.zones.map((z) => z.zone).join(","), reference.zones.map((z) => z.zone).join(","));
    for (const z of onChain.zones) {
      const r = refZones.get(z.zone);
      if (r === undefined) continue;
      cmp(`zone ${z.zone} price`, z.price, r.price);
      cmp(`zone ${z.zone} net export`, z.netExportWh, r.netExportWh);
      cmp(`zone ${z.zone} congestion`, z.congestion, r.congestion);
      cmp(`zone ${z.zone} sell at price`, z.atPrice.sellWh, r.atPrice.sellWh);
      cmp(`zone ${z.zone} sell at price filled`, z.atPrice.sellFilledWh, r.atPrice.sellFilledWh);
      cmp(`zone ${z.zone} buy at price`, z.atPrice.buyWh, r.atPrice.buyWh);
      cmp(`zone ${z.zone} buy at price filled`, z.atPrice.buyFilledWh, r.atPrice.buyFilledWh);
    }
    for (const o of orders) cmp(`order ${o.index} fill`, o.filledWh, reference.fills[o.index]?.filledWh);
  }
  return {
    intervalId,
    phase: PHASES[Number(phase)],
    bounds,
    zones,
    orders,
    onChain,
    reference,
    matchesReference: onChain === null || reference === null ? null : differences.length === 0,
    differences,
  };
}
