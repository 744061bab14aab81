import { getAddress, type LogDescription, type Result, type Signer } from "ethers";
import type { System } from "../deploy.js";
import { InputError, MicrogridError } from "../errors.js";
import { kwhTokenId } from "../intervals.js";
import type { Side } from "../market/types.js";
import { auctionBook, parseWhole, readOrderFile, type AuctionBook, type BookOrder, type Time } from "./auction.js";
import { call, providerOf, send } from "./chain.js";
import { parseAddress } from "./meters.js";
import { queryLogs } from "./rec.js";

/*//////////////////////////////////////////////////////////////
                        WHAT THE ESCROW RECORDED
//////////////////////////////////////////////////////////////*/

/** A seller's filled order settled (`SellerSettled`): delivered and paid, or defaulted after the deadline. */
export interface SellerSettlement {
  seller: string;
  commitment: string;
  zone: number;
  filledWh: bigint;
  deliveredWh: bigint;
  /** Its zone's price, base units per kWh. */
  price: bigint;
  /** `deliveredWh × price / 1000`, rounded down. */
  payment: bigint;
  /** Bond kept for the shortfall (it compensates the buyers). */
  slashed: bigint;
  /** Collateral returned with the payment. */
  bondReturned: bigint;
  /** Settled by `settleDefault` after the settlement deadline (nothing delivered). */
  defaulted: boolean;
  txHash: string;
  blockNumber: number;
}

/** Wh of one kWh token id a buyer received. */
export interface Received {
  id: bigint;
  /** The zone the energy came from (its own, or an exporting zone). */
  zone: number;
  wh: bigint;
}

/** A buyer's filled order settled (`BuyerCollected`). */
export interface BuyerCollection {
  buyer: string;
  commitment: string;
  zone: number;
  filledWh: bigint;
  receivedWh: bigint;
  /** The kWh tokens the buyer received, per id. */
  received: Received[];
  price: bigint;
  /** For the energy received, rounded up. */
  payment: bigint;
  /** Its share of defaulting sellers' slashed bonds. */
  compensation: bigint;
  /** `collateral − payment + compensation`. */
  refunded: bigint;
  txHash: string;
  blockNumber: number;
}

/** A filled order of the auction and its settlement, if any. */
export interface Obligation extends Pick<
  BookOrder,
  "trader" | "commitment" | "side" | "zone" | "quantityWh" | "limitPrice"
> {
  filledWh: bigint;
  /** Its zone's price, base units per kWh. */
  price: bigint;
  settled: boolean;
  /** Sellers: how the order settled. */
  delivery: SellerSettlement | null;
  /** Buyers: what the order collected. */
  collection: BuyerCollection | null;
}

/** Everything a settlement operation checks before it sends: the cleared book, the escrow's events, the times. */
interface Context {
  intervalId: bigint;
  book: AuctionBook & { onChain: NonNullable<AuctionBook["onChain"]> };
  obligations: Obligation[];
  now: bigint;
  deadline: bigint;
  rootFinal: boolean;
  paused: boolean;
  escrow: string;
  rent: { amount: bigint; to: string; txHash: string } | null;
  dust: { amount: bigint; to: string; kwh: Received[]; txHash: string } | null;
}

const keyOf = (trader: string, commitment: string) => `${getAddress(trader)}/${commitment.toLowerCase()}`;

/** A Unix time and the same as ISO 8601. */
function at(unix: bigint): Time {
  return { unix, iso: new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z") };
}

const sum = <T>(xs: T[], f: (x: T) => bigint) => xs.reduce((s, x) => s + f(x), 0n);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Where a log stands in the chain. */
interface Positioned {
  transactionHash: string;
  index: number;
}

/** A kWh transfer out of the escrow. */
interface TransferOut extends Positioned {
  ids: bigint[];
  values: bigint[];
}

/** A `TransferSingle` or `TransferBatch` log's ids and values (a batch's values are its argument 4). */
function transferOut(at: Positioned, name: string, args: { id?: bigint; value?: bigint; ids?: bigint[] } & unknown[]) {
  return name === "TransferSingle"
    ? { ...at, ids: [args.id as bigint], values: [args.value as bigint] }
    : { ...at, ids: [...(args.ids as bigint[])], values: [...(args[4] as bigint[])] };
}

const positionOf = (p: Positioned) => `${p.transactionHash}/${p.index}`;

/**
 * The kWh tokens each collection received: the escrow emits `BuyerCollected` right before the order's transfers, so
 * each transfer out of the escrow belongs to the last collection before it in its transaction (whoever received it:
 * the buyer, or the recipient of `collectTo`). Keyed by the collection's position.
 */
function receivedBy(collections: Positioned[], transfers: TransferOut[]): Map<string, Received[]> {
  const byTx = new Map<string, number[]>();
  for (const c of collections) byTx.set(c.transactionHash, [...(byTx.get(c.transactionHash) ?? []), c.index]);
  const out = new Map<string, Received[]>();
  for (const t of transfers) {
    const before = (byTx.get(t.transactionHash) ?? []).filter((i) => i < t.index);
    if (before.length === 0) continue; // not a collection's (the dust sweep)
    const key = positionOf({ transactionHash: t.transactionHash, index: Math.max(...before) });
    const list = out.get(key) ?? [];
    t.ids.forEach((id, i) => list.push({ id, zone: Number(id >> 64n), wh: t.values[i] }));
    out.set(key, list);
  }
  return out;
}

/**
 * The cleared auction of `intervalId` with its filled orders and what the escrow recorded of them, rebuilt from the
 * auction's and the escrow's events since `fromBlock`; refuses an auction that did not clear.
 */
async function loadContext(system: System, intervalId: bigint, fromBlock: number): Promise<Context> {
  const e = system.escrow;
  const provider = providerOf(system);
  // The escrow's side is read while the auction's book is rebuilt (the two are independent): each call of an
  // operator's run waits for one round of reads less.
  const reads = (async () => {
    const escrow = await e.getAddress();
    const toBlock = await call(() => provider.getBlockNumber());
    const [s, block, [root], paused, sellerLogs, buyerLogs, rentLogs, dustLogs] = await call(() =>
      Promise.all([
        system.auction.schedule(intervalId),
        provider.getBlock("latest"),
        system.oracle.finalRoot(intervalId),
        e.paused(),
        queryLogs(e, e.filters.SellerSettled(intervalId), fromBlock, toBlock),
        queryLogs(e, e.filters.BuyerCollected(intervalId), fromBlock, toBlock),
        queryLogs(e, e.filters.CongestionRentPaid(intervalId), fromBlock, toBlock),
        queryLogs(e, e.filters.DustSwept(intervalId), fromBlock, toBlock),
      ]),
    );
    // A collection's kWh leave the escrow in its own transaction: the transfers out of the escrow are read over the
    // blocks of this interval's collections only (none before anyone collected), not over every interval's.
    const blocks = buyerLogs.map((ev) => ev.blockNumber);
    const [first, last] = [Math.min(...blocks), Math.max(...blocks)];
    const [singles, batches] = await call(() =>
      Promise.all([
        blocks.length === 0
          ? Promise.resolve([])
          : queryLogs(system.kwh, system.kwh.filters.TransferSingle(undefined, escrow), first, last),
        blocks.length === 0
          ? Promise.resolve([])
          : queryLogs(system.kwh, system.kwh.filters.TransferBatch(undefined, escrow), first, last),
      ]),
    );
    return { escrow, s, block, root, paused, sellerLogs, buyerLogs, rentLogs, dustLogs, singles, batches };
  })();
  reads.catch(() => {}); // awaited below, once the book says the auction cleared
  const book = await auctionBook(system, intervalId, fromBlock);
  if (book.onChain === null) {
    // PHASES stops at "cleared": a void auction (nobody cleared it before delivery) has no name there.
    const phase: string = book.phase ?? "void";
    const hint =
      phase === "clearing"
        ? `: clear it first (\`auction clear --interval ${intervalId}\`)`
        : phase === "void"
          ? " (nobody cleared it before delivery: every order withdraws its collateral in full)"
          : "";
    throw new InputError(`the auction of interval ${intervalId} is ${phase}, not cleared: nothing to settle${hint}`);
  }
  const { escrow, s, block, root, paused, sellerLogs, buyerLogs, rentLogs, dustLogs, singles, batches } = await reads;
  const deadline = s.settlementDeadline;
  // deliver reverts from the deadline on and settleDefault before it: the block's time tells which one settled an
  // order that handed nothing over (a delivery of tokens is never a default).
  const blockTimes = new Map<number, bigint>();
  await call(() =>
    Promise.all(
      [...new Set(sellerLogs.filter((ev) => ev.args.deliveredWh === 0n).map((ev) => ev.blockNumber))].map(async (n) =>
        blockTimes.set(n, BigInt((await provider.getBlock(n))?.timestamp ?? 0)),
      ),
    ),
  );
  const sold = new Map<string, SellerSettlement>();
  for (const ev of sellerLogs) {
    const a = ev.args;
    sold.set(keyOf(a.seller, a.commitment), {
      seller: a.seller,
      commitment: a.commitment,
      zone: Number(a.zone),
      filledWh: a.filledWh,
      deliveredWh: a.deliveredWh,
      price: a.price,
      payment: a.payment,
      slashed: a.slashed,
      bondReturned: a.bondReturned,
      defaulted: (blockTimes.get(ev.blockNumber) ?? 0n) >= deadline,
      txHash: ev.transactionHash,
      blockNumber: ev.blockNumber,
    });
  }
  const out = receivedBy(buyerLogs, [
    ...singles.map((ev) => transferOut(ev, "TransferSingle", ev.args)),
    ...batches.map((ev) => transferOut(ev, "TransferBatch", ev.args)),
  ]);
  const bought = new Map<string, BuyerCollection>();
  for (const ev of buyerLogs) {
    const a = ev.args;
    bought.set(keyOf(a.buyer, a.commitment), collectionOf(a, ev, ev.blockNumber, out));
  }
  const rentLog = rentLogs[0];
  const dustLog = dustLogs[0];
  const obligations = book.orders
    .filter((o): o is BookOrder & { filledWh: bigint; price: bigint } => (o.filledWh ?? 0n) > 0n)
    .map((o) => {
      const k = keyOf(o.trader, o.commitment);
      const delivery = o.side === "sell" ? (sold.get(k) ?? null) : null;
      const collection = o.side === "buy" ? (bought.get(k) ?? null) : null;
      return {
        trader: o.trader,
        commitment: o.commitment,
        side: o.side,
        zone: o.zone,
        quantityWh: o.quantityWh,
        limitPrice: o.limitPrice,
        filledWh: o.filledWh,
        price: o.price,
        settled: delivery !== null || collection !== null,
        delivery,
        collection,
      };
    });
  return {
    intervalId,
    book: book as Context["book"],
    obligations,
    now: BigInt(block?.timestamp ?? 0),
    deadline,
    rootFinal: root !== `0x${"0".repeat(64)}`,
    paused,
    escrow,
    rent:
      rentLog === undefined
        ? null
        : { amount: rentLog.args.amount, to: rentLog.args.gridOperator, txHash: rentLog.transactionHash },
    dust:
      dustLog === undefined
        ? null
        : {
            amount: dustLog.args.amount,
            to: dustLog.args.dustAccount,
            kwh: dustLog.args.ids.map((id, i) => ({ id, zone: Number(id >> 64n), wh: dustLog.args.whAmounts[i] })),
            txHash: dustLog.transactionHash,
          },
  };
}

interface CollectedArgs {
  buyer: string;
  commitment: string;
  zone: bigint;
  filledWh: bigint;
  receivedWh: bigint;
  price: bigint;
  payment: bigint;
  compensation: bigint;
  refunded: bigint;
}

function collectionOf(
  a: CollectedArgs,
  at: Positioned,
  blockNumber: number,
  out: Map<string, Received[]>,
): BuyerCollection {
  return {
    buyer: a.buyer,
    commitment: a.commitment,
    zone: Number(a.zone),
    filledWh: a.filledWh,
    receivedWh: a.receivedWh,
    received: out.get(positionOf(at)) ?? [],
    price: a.price,
    payment: a.payment,
    compensation: a.compensation,
    refunded: a.refunded,
    txHash: at.transactionHash,
    blockNumber,
  };
}

/*//////////////////////////////////////////////////////////////
                         CHOOSING THE ORDERS
//////////////////////////////////////////////////////////////*/

/** How an operation names its orders: a trader (default: the signer), one commitment, or an order file. */
export interface OrderSelection {
  /** The seller (deliver) or buyer (collect); default: the signer, or the order file's trader. */
  trader?: string;
  /** One order; default: every filled order of the trader on this side not settled yet. */
  commitment?: string;
  /** An order file written by `auction commit` (gives the interval, the trader and the commitment). */
  file?: string;
  /** Where the events are searched from (the deployment block). */
  fromBlock?: number;
}

function parseCommitment(value: string): string {
  const c = value.trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(c)) throw new InputError(`--commitment "${value}" is not a 32-byte hex commitment`);
  return c.toLowerCase();
}

/** The interval, trader (null: not named) and commitment an operation is about, from its arguments and order file. */
async function resolveSelection(
  system: System,
  interval: bigint | number | string | undefined,
  sel: OrderSelection,
): Promise<{ intervalId: bigint; trader: string | null; commitment: string | null }> {
  const given = interval === undefined || interval === "" ? null : parseWhole(interval, "--interval");
  let trader = sel.trader === undefined || sel.trader === "" ? null : parseAddress(sel.trader, "trader");
  let commitment = sel.commitment === undefined || sel.commitment === "" ? null : parseCommitment(sel.commitment);
  let intervalId = given;
  if (sel.file !== undefined && sel.file !== "") {
    const f = readOrderFile(sel.file);
    const [network, auction] = await Promise.all([
      call(() => providerOf(system).getNetwork()),
      system.auction.getAddress(),
    ]);
    if (f.chainId !== undefined && f.chainId !== network.chainId.toString())
      throw new InputError(`${sel.file} is for chain ${f.chainId}, this network is chain ${network.chainId}`);
    if (f.auction !== undefined && getAddress(f.auction) !== auction)
      throw new InputError(`${sel.file} is for the auction at ${f.auction}, this deployment's is ${auction}`);
    const fromFile = BigInt(f.intervalId);
    if (given !== null && given !== fromFile)
      throw new InputError(`${sel.file} is an order of interval ${fromFile}, not ${given}`);
    if (trader !== null && trader !== getAddress(f.trader))
      throw new InputError(`${sel.file} is an order of ${getAddress(f.trader)}, not ${trader}`);
    if (commitment !== null && commitment !== f.commitment.toLowerCase())
      throw new InputError(`${sel.file} holds commitment ${f.commitment}, not ${commitment}`);
    intervalId = fromFile;
    trader = getAddress(f.trader);
    commitment = f.commitment.toLowerCase();
  }
  if (intervalId === null) throw new InputError("give --interval <delivery interval id> (or --file <order file>)");
  return { intervalId, trader, commitment };
}

/**
 * The trader's filled orders on `side` not settled yet, or the one committed as `commitment` (by `trader`, or by
 * whoever made it when no trader is named), with a clear refusal otherwise. `trader` defaults to `sender`.
 */
function pick(
  ctx: Context,
  side: Side,
  trader: string | null,
  sender: string,
  commitment: string | null,
): Obligation[] {
  const N = ctx.intervalId;
  const option = side === "sell" ? "--seller" : "--buyer";
  if (commitment !== null) {
    const same = ctx.book.orders.filter((o) => o.commitment.toLowerCase() === commitment);
    const order =
      trader !== null
        ? same.find((o) => o.trader === trader)
        : same.length === 1
          ? same[0]
          : same.find((o) => o.trader === sender);
    if (order === undefined) {
      const others = same.map((o) => o.trader).join(", ");
      throw new InputError(
        same.length === 0
          ? `no revealed order ${commitment} in the auction of interval ${N}`
          : `order ${commitment} of interval ${N} is ${others}'s${trader === null ? "" : `, not ${trader}'s`}: give ${option} <trader>`,
      );
    }
    if (order.side !== side)
      throw new InputError(
        `order ${commitment} is a ${order.side} order, not a ${side} order: ${order.side === "buy" ? "buyers collect (`settle collect`)" : "sellers deliver (`settle deliver`)"}`,
      );
    const o = ctx.obligations.find((x) => x.trader === order.trader && x.commitment === order.commitment);
    if (o === undefined)
      throw new InputError(
        `order ${commitment} did not fill: nothing to settle (its trader withdraws its collateral from the auction)`,
      );
    if (o.delivery !== null)
      throw new InputError(
        `order ${commitment} of ${o.trader} settled already: ${o.delivery.defaulted ? "defaulted" : "delivered"} ${o.delivery.deliveredWh} of ${o.filledWh} Wh (tx ${o.delivery.txHash})`,
      );
    if (o.collection !== null)
      throw new InputError(
        `order ${commitment} of ${o.trader} was collected already: received ${o.collection.receivedWh} of ${o.filledWh} Wh (tx ${o.collection.txHash})`,
      );
    return [o];
  }
  trader ??= sender;
  const mine = ctx.obligations.filter((o) => o.side === side && o.trader === trader);
  if (mine.length === 0) throw new InputError(`${trader} has no filled ${side} order in the auction of interval ${N}`);
  const open = mine.filter((o) => !o.settled);
  if (open.length === 0)
    throw new InputError(
      `every filled ${side} order of ${trader} in interval ${N} ${side === "sell" ? "settled" : "was collected"} already (\`settle status --interval ${N}\`)`,
    );
  return open;
}

/*//////////////////////////////////////////////////////////////
                          RECEIPTS
//////////////////////////////////////////////////////////////*/

/** The escrow's events (with their positions), the kWh each collection sent out and the block of a transaction. */
async function receiptOf(system: System, txHash: string) {
  const receipt = await call(() => providerOf(system).getTransactionReceipt(txHash));
  const [escrowAddress, kwhAddress] = await Promise.all([system.escrow.getAddress(), system.kwh.getAddress()]);
  const escrow: (Positioned & { event: LogDescription })[] = [];
  const transfers: TransferOut[] = [];
  for (const log of receipt?.logs ?? []) {
    const at = { transactionHash: txHash, index: log.index };
    if (getAddress(log.address) === escrowAddress) {
      const event = system.escrow.interface.parseLog(log);
      if (event !== null) escrow.push({ ...at, event });
    } else if (getAddress(log.address) === kwhAddress) {
      const k = system.kwh.interface.parseLog(log);
      if (k !== null && k.name.startsWith("Transfer") && getAddress(k.args.from as string) === escrowAddress)
        transfers.push(transferOut(at, k.name, k.args));
    }
  }
  const collections = escrow.filter((e) => e.event.name === "BuyerCollected");
  return { escrow, out: receivedBy(collections, transfers), blockNumber: receipt?.blockNumber ?? 0 };
}

/** The escrow's `name` event of a mined transaction, with its position, the kWh it sent out and its block. */
async function eventIn(system: System, txHash: string, name: string) {
  const r = await receiptOf(system, txHash);
  const ev = r.escrow.find((e) => e.event.name === name);
  if (ev === undefined) throw new MicrogridError(`transaction ${txHash} emitted no ${name} event`);
  return { args: ev.event.args, at: ev as Positioned, out: r.out, blockNumber: r.blockNumber };
}

/*//////////////////////////////////////////////////////////////
                               SELLERS
//////////////////////////////////////////////////////////////*/

/** One seller's order settled by `deliver`/`deliverAll`, with what was noticed before sending. */
export interface Delivered extends SellerSettlement {
  /** Before sending: the seller held fewer kWh tokens of the zone and interval than it sold. */
  warning: string | null;
}

export interface DeliverResult {
  intervalId: bigint;
  seller: string;
  /** The settlement deadline passed: the orders were settled as defaults (`settleDefault`). */
  afterDeadline: boolean;
  deadline: Time;
  /** `setApprovalForAll(escrow, true)` sent for the seller first, when it had not approved the escrow. */
  approvalTx: string | null;
  settlements: Delivered[];
}

/** The reasons delivery cannot happen at all now (root, pause); none after the deadline. */
function requireDeliverable(ctx: Context): void {
  if (ctx.now >= ctx.deadline) return;
  const N = ctx.intervalId;
  if (!ctx.rootFinal)
    throw new InputError(
      `the root of interval ${N} is not final yet: sellers deliver once the oracle quorum finalised it (\`oracle status --interval ${N}\`), before the settlement deadline ${at(ctx.deadline).iso}`,
    );
  if (ctx.paused)
    throw new InputError(
      `the escrow is paused: deliveries resume when governance unpauses it; from the settlement deadline ${at(ctx.deadline).iso} undelivered orders default`,
    );
}

/** kWh of (zone, interval) each seller holds, read once and used up order by order. */
class Holdings {
  private readonly left = new Map<string, bigint>();
  constructor(
    private readonly system: System,
    private readonly intervalId: bigint,
  ) {}

  async held(seller: string, zone: number): Promise<bigint> {
    const k = `${seller}/${zone}`;
    const known = this.left.get(k);
    if (known !== undefined) return known;
    const wh = await call(() => this.system.kwh.balanceOf(seller, kwhTokenId(zone, this.intervalId)));
    this.left.set(k, wh);
    return wh;
  }

  /** What delivering `wh` takes (the escrow takes `min(fill, balance)`). */
  async take(seller: string, zone: number, wh: bigint): Promise<bigint> {
    const held = await this.held(seller, zone);
    this.left.set(`${seller}/${zone}`, held < wh ? 0n : held - wh);
    return held;
  }
}

function shortfallWarning(o: Obligation, held: bigint): string {
  return (
    `${o.trader} holds ${held} of the ${o.filledWh} Wh it sold in zone ${o.zone}: the ${o.filledWh - held} Wh ` +
    `shortfall is slashed from its bond (claim all of its export first: \`kwh claim\`)`
  );
}

/**
 * Settles a seller's filled sell orders of an interval (all not settled yet, or the one named by commitment or order
 * file). Before the settlement deadline it delivers: it checks the root is final, the orders filled and are not
 * settled, and the seller approved the escrow for its kWh tokens (approving it when the signer is the seller,
 * refusing otherwise), and warns when the seller holds less than it sold. From the deadline it settles the orders as
 * defaults (`settleDefault`): the whole fill is shortfall.
 */
export async function deliver(
  system: System,
  signer: Signer,
  interval: bigint | number | string | undefined,
  sel: OrderSelection = {},
): Promise<DeliverResult> {
  const { intervalId, trader, commitment } = await resolveSelection(system, interval, sel);
  const ctx = await loadContext(system, intervalId, sel.fromBlock ?? 0);
  const sender = await signer.getAddress();
  const orders = pick(ctx, "sell", trader, sender, commitment);
  const seller = orders[0].trader;
  requireDeliverable(ctx);
  const afterDeadline = ctx.now >= ctx.deadline;
  let approvalTx: string | null = null;
  const warnings: (string | null)[] = [];
  if (!afterDeadline) {
    const holdings = new Holdings(system, intervalId);
    for (const o of orders) {
      const held = await holdings.take(seller, o.zone, o.filledWh);
      warnings.push(held < o.filledWh ? shortfallWarning(o, held) : null);
    }
    if (!(await call(() => system.kwh.isApprovedForAll(seller, ctx.escrow)))) {
      if (sender !== seller)
        throw new InputError(
          `${seller} has not approved the escrow ${ctx.escrow} for its kWh tokens: the seller delivers itself (\`settle deliver --from ${seller}\`) or approves the escrow first (setApprovalForAll)`,
        );
      approvalTx = await send(() => system.kwh.connect(signer).setApprovalForAll(ctx.escrow, true));
    }
    // The escrow lets only the seller deliver short before the deadline (EscrowShortDeliveryNotBySeller).
    const short = warnings.findIndex((w) => w !== null);
    if (short >= 0 && sender !== seller)
      throw new InputError(
        `${warnings[short]}; only the seller delivers short before the settlement deadline ${at(ctx.deadline).iso} (\`settle deliver --from ${seller}\`)`,
      );
  }
  const settlements: Delivered[] = [];
  for (const [i, o] of orders.entries()) settlements.push(await settleSeller(system, signer, ctx, o, warnings[i]));
  return { intervalId, seller, afterDeadline, deadline: at(ctx.deadline), approvalTx, settlements };
}

/** An order an `--all` run left alone, and why. */
export interface Skipped {
  trader: string;
  commitment: string;
  side: Side;
  filledWh: bigint;
  reason: string;
}

export interface DeliverAllResult {
  intervalId: bigint;
  afterDeadline: boolean;
  deadline: Time;
  /** `setApprovalForAll` sent for the signer's own orders. */
  approvalTx: string | null;
  settlements: Delivered[];
  /** Not delivered by this run (no approval, short of the fill before the deadline). */
  skipped: Skipped[];
  /** Refused by the chain. */
  failed: Skipped[];
}

/** An interval's settlement context and its filled orders on `side` not settled yet (for the `--all` runs). */
async function openOrders(system: System, interval: bigint | number | string, fromBlock: number, side: Side) {
  const intervalId = parseWhole(interval, "--interval");
  const ctx = await loadContext(system, intervalId, fromBlock);
  return { intervalId, ctx, open: ctx.obligations.filter((o) => o.side === side && !o.settled) };
}

/** Runs `settle` for each order; a chain refusal of one is recorded and the others go on. */
async function each<T>(orders: Obligation[], failed: Skipped[], settle: (o: Obligation) => Promise<T>): Promise<T[]> {
  const done: T[] = [];
  for (const o of orders) {
    try {
      done.push(await settle(o));
    } catch (e) {
      if (!(e instanceof MicrogridError)) throw e;
      failed.push({
        trader: o.trader,
        commitment: o.commitment,
        side: o.side,
        filledWh: o.filledWh,
        reason: e.message,
      });
    }
  }
  return done;
}

/** Orders per transaction of `deliverAll` and `collectAll` (`deliverBatch`, `settleDefaultBatch`, `collectBatch`). */
export const SETTLE_BATCH = 40;

/**
 * Settles `orders` in batches of {SETTLE_BATCH} through `batch`; a batch the chain refuses (it reverts as a whole)
 * is settled again order by order through `single`, so that one bad order does not hold up the others.
 */
async function inBatches<T>(
  orders: Obligation[],
  failed: Skipped[],
  batch: (chunk: Obligation[]) => Promise<T[]>,
  single: (o: Obligation) => Promise<T>,
): Promise<T[]> {
  const done: T[] = [];
  for (let i = 0; i < orders.length; i += SETTLE_BATCH) {
    const chunk = orders.slice(i, i + SETTLE_BATCH);
    if (chunk.length > 1) {
      try {
        done.push(...(await batch(chunk)));
        continue;
      } catch (e) {
        if (!(e instanceof MicrogridError)) throw e;
      }
    }
    done.push(...(await each(chunk, failed, single)));
  }
  return done;
}

/**
 * Settles every seller of an interval that can be settled now. Before the settlement deadline it delivers for each
 * seller that approved the escrow and holds all it sold (the signer's own orders are approved as needed); a seller
 * short of its fill is left to deliver itself, accepting the shortfall, or to default. From the deadline it settles
 * every seller still open as a default.
 */
export async function deliverAll(
  system: System,
  signer: Signer,
  interval: bigint | number | string,
  fromBlock = 0,
): Promise<DeliverAllResult> {
  const { intervalId, ctx, open } = await openOrders(system, interval, fromBlock, "sell");
  const afterDeadline = ctx.now >= ctx.deadline;
  const result: DeliverAllResult = {
    intervalId,
    afterDeadline,
    deadline: at(ctx.deadline),
    approvalTx: null,
    settlements: [],
    skipped: [],
    failed: [],
  };
  if (open.length === 0) return result;
  requireDeliverable(ctx);
  let ready = open;
  if (!afterDeadline) {
    const sender = await signer.getAddress();
    const holdings = new Holdings(system, intervalId);
    const approved = new Map<string, boolean>();
    // The sellers' holdings, then the approvals of those holding enough, read side by side rather than one order
    // at a time (the loop below finds them read).
    const enough = await Promise.all(open.map(async (o) => (await holdings.held(o.trader, o.zone)) >= o.filledWh));
    const traders = [...new Set(open.filter((_, i) => enough[i]).map((o) => o.trader))];
    await call(() =>
      Promise.all(traders.map(async (t) => approved.set(t, await system.kwh.isApprovedForAll(t, ctx.escrow)))),
    );
    ready = [];
    const by = at(ctx.deadline).iso;
    for (const o of open) {
      const skip = (reason: string) =>
        result.skipped.push({ trader: o.trader, commitment: o.commitment, side: o.side, filledWh: o.filledWh, reason });
      const held = await holdings.held(o.trader, o.zone);
      if (held < o.filledWh) {
        skip(
          `holds ${held} of the ${o.filledWh} Wh it sold in zone ${o.zone}: it delivers itself (accepting the shortfall) or defaults from ${by}`,
        );
        continue;
      }
      if (!approved.has(o.trader))
        approved.set(o.trader, await call(() => system.kwh.isApprovedForAll(o.trader, ctx.escrow)));
      if (!approved.get(o.trader)) {
        if (o.trader !== sender) {
          skip(`has not approved the escrow for its kWh tokens: it delivers itself or defaults from ${by}`);
          continue;
        }
        result.approvalTx = await send(() => system.kwh.connect(signer).setApprovalForAll(ctx.escrow, true));
        approved.set(o.trader, true);
      }
      await holdings.take(o.trader, o.zone, o.filledWh);
      ready.push(o);
    }
  }
  result.settlements = await inBatches(
    ready,
    result.failed,
    (chunk) => settleSellers(system, signer, ctx, chunk),
    (o) => settleSeller(system, signer, ctx, o, null),
  );
  return result;
}

/** Settles several sellers in one `deliverBatch` (or, from the deadline, `settleDefaultBatch`) transaction. */
async function settleSellers(system: System, signer: Signer, ctx: Context, os: Obligation[]): Promise<Delivered[]> {
  const escrow = system.escrow.connect(signer);
  const defaulted = ctx.now >= ctx.deadline;
  const traders = os.map((o) => o.trader);
  const commitments = os.map((o) => o.commitment);
  const txHash = await send(() =>
    defaulted
      ? escrow.settleDefaultBatch(ctx.intervalId, traders, commitments)
      : escrow.deliverBatch(ctx.intervalId, traders, commitments),
  );
  const r = await receiptOf(system, txHash);
  return r.escrow
    .filter((e) => e.event.name === "SellerSettled")
    .map((e) => deliveredOf(e.event.args, defaulted, txHash, r.blockNumber, null));
}

async function settleSeller(
  system: System,
  signer: Signer,
  ctx: Context,
  o: Obligation,
  warning: string | null,
): Promise<Delivered> {
  const escrow = system.escrow.connect(signer);
  const defaulted = ctx.now >= ctx.deadline;
  const txHash = await send(() =>
    defaulted
      ? escrow.settleDefault(ctx.intervalId, o.trader, o.commitment)
      : escrow.deliver(ctx.intervalId, o.trader, o.commitment),
  );
  const { args, blockNumber } = await eventIn(system, txHash, "SellerSettled");
  return deliveredOf(args, defaulted, txHash, blockNumber, warning);
}

function deliveredOf(
  a: Result,
  defaulted: boolean,
  txHash: string,
  blockNumber: number,
  warning: string | null,
): Delivered {
  return {
    seller: a.seller as string,
    commitment: a.commitment as string,
    zone: Number(a.zone),
    filledWh: a.filledWh as bigint,
    deliveredWh: a.deliveredWh as bigint,
    price: a.price as bigint,
    payment: a.payment as bigint,
    slashed: a.slashed as bigint,
    bondReturned: a.bondReturned as bigint,
    defaulted,
    txHash,
    blockNumber,
    warning,
  };
}

/*//////////////////////////////////////////////////////////////
                               BUYERS
//////////////////////////////////////////////////////////////*/

export interface CollectResult {
  intervalId: bigint;
  buyer: string;
  collections: BuyerCollection[];
}

/** Buyers collect, and the rent is paid, once every seller settled; collections also wait while paused. */
function requireCollectable(ctx: Context, collecting = true): void {
  const N = ctx.intervalId;
  const pending = ctx.obligations.filter((o) => o.side === "sell" && !o.settled);
  if (pending.length > 0) {
    const wh = sum(pending, (o) => o.filledWh);
    const what = `${wh} Wh sold in interval ${N} ${wh === 1n ? "is" : "are"} not settled yet (${plural(pending.length, "sell order")})`;
    const deadline = at(ctx.deadline).iso;
    if (ctx.now >= ctx.deadline)
      throw new InputError(
        `${what} and the settlement deadline passed at ${deadline}: settle the defaults with \`settle deliver --interval ${N} --all\` (anyone may), then collect`,
      );
    throw new InputError(
      `${what}: buyers collect once every seller delivered (\`settle deliver\`${ctx.rootFinal ? "" : ", after the interval's root is final"}) or defaulted (\`settle deliver --all\` from the settlement deadline ${deadline})`,
    );
  }
  if (collecting && ctx.paused && ctx.now < ctx.deadline)
    throw new InputError(
      `the escrow is paused: collections resume when governance unpauses it, or from the settlement deadline ${at(ctx.deadline).iso}`,
    );
}

async function collectOne(system: System, signer: Signer, ctx: Context, o: Obligation): Promise<BuyerCollection> {
  const txHash = await send(() => system.escrow.connect(signer).collect(ctx.intervalId, o.trader, o.commitment));
  const { args, at, out, blockNumber } = await eventIn(system, txHash, "BuyerCollected");
  return collectionOf(args as unknown as CollectedArgs, at, blockNumber, out);
}

/**
 * Collects a buyer's filled buy orders of an interval (all not collected yet, or the one named): once every seller
 * settled, the buyer receives its share of the delivered energy, pays for it only and gets the rest of its
 * collateral back with compensation from defaulting sellers' bonds. Anyone may send it; everything goes to the buyer.
 */
export async function collect(
  system: System,
  signer: Signer,
  interval: bigint | number | string | undefined,
  sel: OrderSelection = {},
): Promise<CollectResult> {
  const { intervalId, trader, commitment } = await resolveSelection(system, interval, sel);
  const ctx = await loadContext(system, intervalId, sel.fromBlock ?? 0);
  const orders = pick(ctx, "buy", trader, await signer.getAddress(), commitment);
  const buyer = orders[0].trader;
  requireCollectable(ctx);
  const collections: BuyerCollection[] = [];
  for (const o of orders) collections.push(await collectOne(system, signer, ctx, o));
  return { intervalId, buyer, collections };
}

export interface CollectAllResult {
  intervalId: bigint;
  collections: BuyerCollection[];
  failed: Skipped[];
  /** The congestion rent paid by this run, or earlier (`paidNow` false). */
  rent: { amount: bigint; to: string; txHash: string; paidNow: boolean };
  /** The dust swept by this run or earlier; null while a buyer has not collected. */
  dust: { amount: bigint; to: string; kwh: Received[]; txHash: string; sweptNow: boolean } | null;
}

/**
 * Finishes an interval's settlement once every seller settled: collects for every buyer still open, pays the
 * congestion rent to the grid operator and sweeps the rounding dust (each only once; a run after a partial one
 * does what is left).
 */
export async function collectAll(
  system: System,
  signer: Signer,
  interval: bigint | number | string,
  fromBlock = 0,
): Promise<CollectAllResult> {
  const { intervalId, ctx, open } = await openOrders(system, interval, fromBlock, "buy");
  requireCollectable(ctx, open.length > 0);
  const failed: Skipped[] = [];
  const collections = await inBatches(
    open,
    failed,
    async (chunk) => {
      const txHash = await send(() =>
        system.escrow.connect(signer).collectBatch(
          intervalId,
          chunk.map((o) => o.trader),
          chunk.map((o) => o.commitment),
        ),
      );
      const r = await receiptOf(system, txHash);
      return r.escrow
        .filter((e) => e.event.name === "BuyerCollected")
        .map((e) => collectionOf(e.event.args as unknown as CollectedArgs, e, r.blockNumber, r.out));
    },
    (o) => collectOne(system, signer, ctx, o),
  );
  const escrow = system.escrow.connect(signer);
  let rent: CollectAllResult["rent"];
  if (ctx.rent === null) {
    const txHash = await send(() => escrow.payRent(intervalId));
    const { args } = await eventIn(system, txHash, "CongestionRentPaid");
    rent = { amount: args.amount as bigint, to: args.gridOperator as string, txHash, paidNow: true };
  } else rent = { ...ctx.rent, paidNow: false };
  let dust: CollectAllResult["dust"] = ctx.dust === null ? null : { ...ctx.dust, sweptNow: false };
  if (dust === null && failed.length === 0) {
    const txHash = await send(() => escrow.sweepDust(intervalId));
    const { args } = await eventIn(system, txHash, "DustSwept");
    const ids = args.ids as bigint[];
    const whs = args.whAmounts as bigint[];
    dust = {
      amount: args.amount as bigint,
      to: args.dustAccount as string,
      kwh: ids.map((id, i) => ({ id, zone: Number(id >> 64n), wh: whs[i] })),
      txHash,
      sweptNow: true,
    };
  }
  return { intervalId, collections, failed, rent, dust };
}

/*//////////////////////////////////////////////////////////////
                               STATUS
//////////////////////////////////////////////////////////////*/

/** One zone's clearing and its sellers' settlement. */
export interface ZoneSettlement {
  zone: number;
  price: bigint;
  netExportWh: bigint;
  congestion: string;
  soldWh: bigint;
  boughtWh: bigint;
  /** Sellers' energy handed over, settled (delivered or defaulted) and bonds slashed, from SellerSettled. */
  deliveredWh: bigint;
  processedWh: bigint;
  slashed: bigint;
}

export interface SettlementStatus {
  intervalId: bigint;
  /** The chain's latest block time. */
  now: Time;
  settlementDeadline: Time;
  deadlinePassed: boolean;
  rootFinal: boolean;
  paused: boolean;
  systemPrice: bigint;
  tradedWh: bigint;
  zones: ZoneSettlement[];
  /** Every filled order and its settlement. */
  obligations: Obligation[];
  sellers: {
    orders: number;
    settled: number;
    filledWh: bigint;
    settledWh: bigint;
    deliveredWh: bigint;
    shortfallWh: bigint;
    /** Payments for delivered energy. */
    paid: bigint;
    bondsReturned: bigint;
    slashed: bigint;
    pendingWh: bigint;
  };
  buyers: {
    orders: number;
    collected: number;
    filledWh: bigint;
    collectedWh: bigint;
    receivedWh: bigint;
    paid: bigint;
    compensation: bigint;
    refunded: bigint;
    pendingWh: bigint;
  };
  /** Paid (from CongestionRentPaid) or what it is now (the view, final once every seller settled). */
  rent: { amount: bigint; paid: boolean; to: string; txHash: string | null };
  /** Swept (from DustSwept), or not yet. */
  dust: { swept: boolean; amount: bigint | null; kwh: Received[]; to: string; txHash: string | null };
  /** Money held beyond what unsettled orders take: rebuilt from the events and the escrow's `residualOf`. */
  residual: { rebuilt: bigint; onChain: bigint };
  /** Whether the figures rebuilt from events equal the escrow's books (`auctionBook`, `zoneBook`, `residualOf`). */
  matchesChain: boolean;
  differences: string[];
}

/**
 * An auction's settlement rebuilt from the escrow's events (SellerSettled, BuyerCollected, CongestionRentPaid,
 * DustSwept) and the auction's, checked against the escrow's own books.
 */
export async function settlementStatus(
  system: System,
  interval: bigint | number | string,
  fromBlock = 0,
): Promise<SettlementStatus> {
  const intervalId = parseWhole(interval, "--interval");
  const ctx = await loadContext(system, intervalId, fromBlock);
  const e = system.escrow;
  const zoneIds = ctx.book.onChain.zones.map((z) => z.zone);
  const [books, zoneBooks, onChainResidual, rentNow, gridOperator, dustAccount] = await call(() =>
    Promise.all([
      e.auctionBook(intervalId),
      Promise.all(zoneIds.map((z) => e.zoneBook(intervalId, z))),
      e.residualOf(intervalId),
      e.congestionRent(intervalId),
      e.gridOperator(),
      e.dustAccount(),
    ]),
  );
  const sells = ctx.obligations.filter((o) => o.side === "sell");
  const buys = ctx.obligations.filter((o) => o.side === "buy");
  const delivered = sells.flatMap((o) => (o.delivery === null ? [] : [o.delivery]));
  const collected = buys.flatMap((o) => (o.collection === null ? [] : [o.collection]));
  const zones: ZoneSettlement[] = ctx.book.onChain.zones.map((z) => {
    const own = delivered.filter((d) => d.zone === z.zone);
    return {
      zone: z.zone,
      price: z.price,
      netExportWh: z.netExportWh,
      congestion: z.congestion,
      soldWh: sum(
        sells.filter((o) => o.zone === z.zone),
        (o) => o.filledWh,
      ),
      boughtWh: sum(
        buys.filter((o) => o.zone === z.zone),
        (o) => o.filledWh,
      ),
      deliveredWh: sum(own, (d) => d.deliveredWh),
      processedWh: sum(own, (d) => d.filledWh),
      slashed: sum(own, (d) => d.slashed),
    };
  });
  const sellers: SettlementStatus["sellers"] = {
    orders: sells.length,
    settled: delivered.length,
    filledWh: sum(sells, (o) => o.filledWh),
    settledWh: sum(delivered, (d) => d.filledWh),
    deliveredWh: sum(delivered, (d) => d.deliveredWh),
    shortfallWh: sum(delivered, (d) => d.filledWh - d.deliveredWh),
    paid: sum(delivered, (d) => d.payment),
    bondsReturned: sum(delivered, (d) => d.bondReturned),
    slashed: sum(delivered, (d) => d.slashed),
    pendingWh: 0n,
  };
  sellers.pendingWh = sellers.filledWh - sellers.settledWh;
  const buyers: SettlementStatus["buyers"] = {
    orders: buys.length,
    collected: collected.length,
    filledWh: sum(buys, (o) => o.filledWh),
    collectedWh: sum(collected, (c) => c.filledWh),
    receivedWh: sum(collected, (c) => c.receivedWh),
    paid: sum(collected, (c) => c.payment),
    compensation: sum(collected, (c) => c.compensation),
    refunded: sum(collected, (c) => c.refunded),
    pendingWh: 0n,
  };
  buyers.pendingWh = buyers.filledWh - buyers.collectedWh;
  const rentPaid = ctx.rent?.amount ?? 0n;
  const swept = ctx.dust?.amount ?? 0n;
  const rebuilt = sellers.slashed + buyers.paid - sellers.paid - buyers.compensation - rentPaid - swept;

  const differences: string[] = [];
  const cmp = (what: string, events: unknown, chain: unknown) => {
    if (events !== chain) differences.push(`${what}: events ${String(events)}, escrow ${String(chain)}`);
  };
  cmp("sold Wh settled", sellers.settledWh, books.processedSoldWh);
  cmp("delivered Wh", sellers.deliveredWh, books.deliveredWh);
  cmp("bought Wh collected", buyers.collectedWh, books.collectedBoughtWh);
  cmp("rent paid", ctx.rent !== null, books.rentPaid);
  cmp("dust swept", ctx.dust !== null, books.swept);
  cmp("residual", rebuilt, onChainResidual);
  cmp("sold Wh", sellers.filledWh, ctx.book.onChain.tradedWh);
  cmp("bought Wh", buyers.filledWh, ctx.book.onChain.tradedWh);
  zones.forEach((z, i) => {
    cmp(`zone ${z.zone} delivered Wh`, z.deliveredWh, zoneBooks[i].deliveredWh);
    cmp(`zone ${z.zone} settled Wh`, z.processedWh, zoneBooks[i].processedWh);
    cmp(`zone ${z.zone} slashed`, z.slashed, zoneBooks[i].slashed);
  });
  for (const c of collected)
    cmp(
      `received Wh of ${c.commitment}`,
      sum(c.received, (r) => r.wh),
      c.receivedWh,
    );

  return {
    intervalId,
    now: at(ctx.now),
    settlementDeadline: at(ctx.deadline),
    deadlinePassed: ctx.now >= ctx.deadline,
    rootFinal: ctx.rootFinal,
    paused: ctx.paused,
    systemPrice: ctx.book.onChain.systemPrice,
    tradedWh: ctx.book.onChain.tradedWh,
    zones,
    obligations: ctx.obligations,
    sellers,
    buyers,
    rent:
      ctx.rent === null
        ? { amount: rentNow, paid: false, to: gridOperator, txHash: null }
        : { amount: ctx.rent.amount, paid: true, to: ctx.rent.to, txHash: ctx.rent.txHash },
    dust:
      ctx.dust === null
        ? { swept: false, amount: null, kwh: [], to: dustAccount, txHash: null }
        : { swept: true, amount: ctx.dust.amount, kwh: ctx.dust.kwh, to: ctx.dust.to, txHash: ctx.dust.txHash },
    residual: { rebuilt, onChain: onChainResidual },
    matchesChain: differences.length === 0,
    differences,
  };
}
