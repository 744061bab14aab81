/**
 * One simulated day of the microgrid on a chain, through the production code: `deploySystem`, the ops modules
 * behind the Hardhat tasks (meters, auction commit/reveal/clear, kWh claims, settlement, deals, certificate
 * retirement), the relayer service as a 2-of-3 quorum fed by the meter simulator over MQTT, and the contracts. The
 * escrow is called through the `settle` tasks' functions (`src/ops/settlement.ts`): the operator's `deliverAll`
 * (deliveries, and defaults from the deadline) and `collectAll` (collections, rent, dust), a short seller's own
 * `deliver`. Only the withdrawals of unfilled orders, which have no ops function, are sent directly.
 *
 * The day is a pipeline over delivery intervals. At step `n` (the chain clock inside interval `n`):
 *   1. `n·L + 1`: the meters publish their signed cumulative readings of interval `n−1` (one of them tampered with
 *      once); the demo waits until every relayer has processed them.
 *   2. `n·L + grace + 1`: the relayers seal interval `n−1` and vote; meanwhile the auction of `n+1` (gate closed at
 *      `n·L`) is cleared and the unfilled orders withdraw their collateral, and the agents commit their orders for
 *      `n+2`. Once the root of `n−1` is final, its exporting meters' kWh (and certificates) are claimed with one
 *      multi-proof and the operator delivers for every seller holding its whole fill (`deliverAll`: one batch);
 *      alongside, sellers holding less deliver what they have themselves (`deliver`: only a seller may accept a
 *      shortfall); sellers holding nothing are settled as defaults after the settlement deadline (4 intervals
 *      later, `deliverAll` again).
 *   3. `n·L + 2L/3 + 1` (the reveal window of `n+2`): the agents reveal; alongside, once every seller settled, the
 *      operator collects for the buyers, pays the congestion rent and sweeps the dust (`collectAll`). Every hour
 *      the green buyers then buy certificates from a seller over the DealDesk and retire them.
 * Time only moves through `evm_increaseTime`-style calls on the chain (`networkHelpers.time`), never wall-clock waits.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { HDNodeWallet, MaxUint256, getAddress, parseEther, type Signer, type TransactionReceipt } from "ethers";
import type { NetworkConnection } from "hardhat/types/network";
import { deploySystem, writeDeployment, type Deployment, type System } from "../deploy.js";
import { InputError, MicrogridError } from "../errors.js";
import { registerMeter, setZone } from "../ops/meters.js";
import { clearAuction, commitOrder, fundAccount, revealOrder, type ZoneOutcome } from "../ops/auction.js";
import { claimKwhBatch } from "../ops/kwh.js";
import { encodeClaimData, retireCertificates } from "../ops/rec.js";
import { fillQuote, signQuote } from "../ops/deals.js";
import { collectAll, deliver, deliverAll, type Delivered, type Skipped } from "../ops/settlement.js";
import { send } from "../ops/chain.js";
import { buildIntervalTree } from "../tree.js";
import { kwhTokenId } from "../intervals.js";
import { PriceFeedMock__factory } from "../../types/ethers-contracts/index.js";
import { ReadingSigner } from "../../oracle/simulator/sign.js";
import type { Hex, SignedReading } from "../../oracle/src/types.js";
import { community, meteredEnergy, zoneSpecs, ZONE_NAMES, type Member, type ZoneSpec } from "./community.js";
import { decideOrder, type Tariffs } from "./agents.js";
import { GRACE_SECONDS, startQuorum, type IngestFigures, type Quorum, type RelayerFigures } from "./quorum.js";
import { startRpcBridge, type RpcBridge } from "./rpcBridge.js";

/** Hardhat's default mnemonic: accounts 0–3 are the operator and the relayers, 4… the prosumers. */
export const DEMO_MNEMONIC = "test test test test test test test test test test test junk";
/** Accounts the demo's network connection needs (operator, 3 relayers, up to 24 prosumers). */
export const DEMO_ACCOUNTS = 28;
/**
 * The demo's network settings: its accounts, and a fixed gas limit and gas price for the wallets' transactions, which
 * spares each transaction a gas estimation (several executions of a heavy settlement) and a fee lookup. Blocks stay
 * far below their gas target, so the base fee only falls below the fixed price.
 */
export const DEMO_NETWORK_OVERRIDE = {
  accounts: { mnemonic: DEMO_MNEMONIC, count: DEMO_ACCOUNTS },
  gas: 12_000_000,
  gasPrice: 1_000_000_000,
};
/** The default weather of the simulated day. */
export const WEATHER_DATE = "2026-06-21";
/** What each prosumer is funded with: 1,000.00 of the stablecoin. */
export const FUNDING = 1_000_000_000n;
/** Certificates sell for 0.02 per kWh over the DealDesk. */
export const REC_PRICE = 20_000n;

export interface DayOptions {
  /** Delivery intervals to simulate (default 96: one day of 15-minute intervals). */
  intervals?: number;
  /** Prosumers (default 24); a shortened run takes the first N of the community. */
  prosumers?: number;
  /** UTC hour of the first interval's start (default 0), a multiple of the interval length. */
  startHour?: number;
  /**
   * The UTC date whose weather (the simulator's daily cloudiness, wind) the day replays, `YYYY-MM-DD` (default
   * {@link WEATHER_DATE}): the chain's date is whatever follows its clock, the energy stays the same from run to run.
   */
  weatherDate?: string;
  /** The tampered reading's interval, counted from the first (default: the middle interval). */
  tamperAt?: number;
  seed?: number;
  /** External MQTT broker (e.g. Mosquitto); default: an in-process one. */
  mqttUrl?: string;
  /** Where the relayers' stores, order and quote files go. */
  outDir: string;
  /** Called after every step. */
  onStep?: (s: StepInfo) => void;
  /** One-line notes of notable events (rejections, defaults, first retirement…). */
  onNote?: (line: string) => void;
}

export interface StepInfo {
  step: number;
  steps: number;
  /** Interval being settled at this step, if any, and its clock time. */
  label: string;
  tradedWh: bigint;
}

/** One order as the demo placed it and as it ended. */
export interface OrderRecord {
  intervalId: bigint;
  member: number;
  trader: string;
  side: "buy" | "sell";
  quantityWh: bigint;
  limitPrice: bigint;
  collateral: bigint;
  commitment: string;
  file: string;
  revealed: boolean;
  filledWh: bigint;
  price: bigint;
  /** Refund of an unfilled order's withdrawal, and the non-reveal penalty. */
  withdrawn: { refunded: bigint; penalty: bigint } | null;
  seller: { deliveredWh: bigint; payment: bigint; slashed: bigint; bondReturned: bigint; viaDefault: boolean } | null;
  buyer: { receivedWh: bigint; payment: bigint; compensation: bigint; refunded: bigint } | null;
}

export interface IntervalRecord {
  intervalId: bigint;
  bounds: { floor: bigint; ceiling: bigint } | null;
  cleared: { systemPrice: bigint; tradedWh: bigint; congestionRent: bigint; zones: ZoneOutcome[] } | null;
  /** The relayers' leaves (proven energy per meter) and the final root. */
  leaves: Map<string, { importWh: bigint; exportWh: bigint }>;
  root: string | null;
  mintedWh: bigint;
  recIssuedWh: bigint;
  rejected: { member: number; meter: string; reason: string; relayers: number }[];
  rentPaid: bigint;
  dust: bigint;
  settled: boolean;
}

export interface DealRecord {
  intervalId: bigint;
  seller: number;
  buyer: number;
  classId: bigint;
  amountWh: bigint;
  payment: bigint;
  receiptId: bigint;
}

/** Everything a run recorded; `report.ts` turns it into the report. */
export interface DayRecord {
  network: string;
  chainId: bigint;
  deployment: Deployment;
  rpcUrl: string;
  mqttUrl: string;
  embeddedBroker: boolean;
  members: Member[];
  owners: string[];
  zones: ZoneSpec[];
  tariffs: Tariffs;
  intervalLength: bigint;
  firstInterval: bigint;
  intervalCount: number;
  intervals: Map<bigint, IntervalRecord>;
  orders: OrderRecord[];
  deals: DealRecord[];
  tamper: { intervalId: bigint; member: number } | null;
  /** Transactions by operation name, gas used; relayers' votes included. */
  gas: { op: string; gasUsed: bigint }[];
  balances: { start: bigint[]; end: bigint[] };
  auctionBalanceEnd: bigint;
  relayers: RelayerFigures[];
  ingest: IngestFigures;
  timing: {
    setupSeconds: number;
    daySeconds: number;
    /** CPU time of this process (all its threads, EDR's included) during the day. */
    dayCpuSeconds: number;
    totalSeconds: number;
    steps: number;
    phases: Record<string, number>;
    stepSeconds: number[];
  };
}

type Account = Signer & { address: string };

/** The private key of the default mnemonic's account `i`. */
export function mnemonicKey(i: number): string {
  return HDNodeWallet.fromPhrase(DEMO_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey;
}

async function receiptOf(system: System, hash: string): Promise<TransactionReceipt> {
  const r = await system.registry.runner!.provider!.getTransactionReceipt(hash);
  if (r === null) throw new MicrogridError(`no receipt for ${hash}`);
  return r;
}

/** Runs the day on `conn` (whose accounts come from {@link DEMO_MNEMONIC}, at least {@link DEMO_ACCOUNTS}). */
export async function runDay(conn: NetworkConnection, o: DayOptions): Promise<DayRecord> {
  const started = performance.now();
  const { ethers, networkHelpers } = conn;
  const time = networkHelpers.time;
  const intervalCount = o.intervals ?? 96;
  const prosumerCount = o.prosumers ?? 24;
  const seed = o.seed ?? 1;
  if (!Number.isInteger(intervalCount) || intervalCount < 1 || intervalCount > 96 * 7)
    throw new InputError(`--intervals ${intervalCount} must be a whole number from 1 to 672`);
  const members = community(prosumerCount, seed);
  const signers = (await ethers.getSigners()) as unknown as Account[];
  if (signers.length < 4 + members.length)
    throw new InputError(`the network has ${signers.length} accounts; the demo needs ${4 + members.length}`);
  const [keeper, ...relayerSigners] = signers.slice(0, 4);
  const owners = signers.slice(4, 4 + members.length);
  if (existsSync(join(o.outDir, "relayer-1.sqlite")))
    throw new InputError(`${o.outDir} holds an earlier run (its relayers' stores): give a new --out folder`);
  mkdirSync(o.outDir, { recursive: true });
  const note = o.onNote ?? (() => {});
  const gasHashes: { op: string; hash: string }[] = [];
  const track = (op: string, hash: string | null | undefined) => {
    if (hash) gasHashes.push({ op, hash });
  };

  // ---------------------------------------------------------------- deploy, community, funding
  const { system, deployment } = await deploySystem(keeper, conn.networkName, {
    relayers: relayerSigners.map((s) => s.address),
    threshold: 2,
  });
  const deploymentPath = writeDeployment(o.outDir, deployment);
  const chainId = BigInt(deployment.chainId);
  const L = BigInt(deployment.params.intervalLength);
  const zones = zoneSpecs(members);
  for (const z of zones) track("setZone", await setZone(system.registry, z.zone, z.exportCapacityW, z.importCapacityW));
  const deployedAt = BigInt(await time.latest());
  for (const [i, m] of members.entries()) {
    track(
      "registerMeter",
      await registerMeter(system.registry, {
        meter: m.meterKey.address,
        owner: owners[i].address,
        zone: m.zone,
        technology: m.technology,
        ratedCapacityW: BigInt(m.ratedCapacityW),
        recEligible: m.recEligible,
        accreditationExpiry: m.recEligible ? deployedAt + 365n * 86_400n : 0n,
      }),
    );
  }
  const provider = ethers.provider;
  for (const owner of owners) {
    if ((await provider.getBalance(owner.address)) < parseEther("1"))
      track("fundEth", await send(() => keeper.sendTransaction({ to: owner.address, value: parseEther("10") })));
    track("fundStablecoin", await fundAccount(system, deployment, owner.address, FUNDING));
  }
  const auctionAddress = await system.auction.getAddress();
  const escrowAddress = await system.escrow.getAddress();
  const deskAddress = await system.desk.getAddress();
  await Promise.all(
    owners.map(async (owner, i) => {
      track("approve", await send(() => system.paymentToken.connect(owner).approve(auctionAddress, MaxUint256)));
      track("setApprovalForAll", await send(() => system.kwh.connect(owner).setApprovalForAll(escrowAddress, true)));
      if (members[i].green)
        track("approve", await send(() => system.paymentToken.connect(owner).approve(deskAddress, MaxUint256)));
    }),
  );
  const balanceStart = await Promise.all(owners.map((s) => system.paymentToken.balanceOf(s.address)));

  // ---------------------------------------------------------------- the day's schedule
  const startOffset = BigInt(Math.round((o.startHour ?? 0) * 3600));
  if (startOffset % L !== 0n || startOffset < 0n || startOffset >= 86_400n)
    throw new InputError(`--start-hour ${o.startHour} must be a multiple of ${L} s within the day`);
  const params = await system.auction.params();
  if (params.gateLead !== L || params.revealWindow !== L / 3n || params.commitWindow < 3n * L)
    throw new MicrogridError("the demo's schedule expects the default market parameters (gate lead = one interval)");
  let dayStart = ((BigInt(await time.latest()) + 3n * L) / 86_400n) * 86_400n + startOffset;
  while (dayStart - 2n * L <= BigInt(await time.latest()) + 10n) dayStart += 86_400n;
  const d0 = dayStart / L;
  const weather = Date.parse(`${o.weatherDate ?? WEATHER_DATE}T00:00:00Z`);
  if (!Number.isFinite(weather)) throw new InputError(`--weather-date "${o.weatherDate}" is not a date (YYYY-MM-DD)`);
  /** The simulator's interval whose energy chain interval `id` replays: same time of day, the weather date's day. */
  const profileId = (id: bigint) => id - d0 + (BigInt(weather / 1000) + startOffset) / L;
  const dEnd = d0 + BigInt(intervalCount); // exclusive
  const tamperIndex = o.tamperAt ?? Math.floor(intervalCount / 2);
  const tamperMember = members.findIndex((m) => m.quirk === "tampered");
  const tamper =
    tamperMember >= 0 && tamperIndex >= 0 && tamperIndex < intervalCount
      ? { intervalId: d0 + BigInt(tamperIndex), member: tamperMember }
      : null;

  // ---------------------------------------------------------------- chain endpoint for the relayers, the quorum
  let bridge: RpcBridge | undefined;
  let rpcUrl: string;
  const cfg = conn.networkConfig;
  if (cfg.type === "http") rpcUrl = await cfg.url.getUrl();
  else {
    bridge = await startRpcBridge(conn.provider);
    rpcUrl = bridge.url;
  }
  let quorum: Quorum | undefined;
  try {
    quorum = await startQuorum({
      rpcUrl,
      deploymentPath,
      keys: [1, 2, 3].map(mnemonicKey),
      dir: o.outDir,
      mqttUrl: o.mqttUrl,
    });
    const q = quorum;
    const readingSigner = new ReadingSigner({ chainId, verifyingContract: deployment.contracts.MeterRegistry.address });
    const registers = members.map(() => ({ imp: 0n, exp: 0n }));

    let clock = BigInt(await time.latest());
    const moveTo = async (ts: bigint) => {
      const latest = BigInt(await time.latest());
      if (latest < ts) await time.increaseTo(ts);
      clock = latest > ts ? latest : ts;
      q.setClock(clock);
    };

    // Tariffs: the mock feeds are refreshed every six simulated hours (the auction takes them up to a day old).
    const floorFeed = PriceFeedMock__factory.connect(deployment.market!.floorFeed, keeper);
    const ceilingFeed = PriceFeedMock__factory.connect(deployment.market!.ceilingFeed, keeper);
    let feedsAt = 0n;
    const refreshFeeds = async () => {
      if (clock - feedsAt < 6n * 3600n) return;
      for (const f of [floorFeed, ceilingFeed]) {
        const answer = await f.latestAnswer();
        track("updateFeed", await send(() => f.updateAnswer(answer)));
      }
      feedsAt = clock;
    };
    const tokenUnit = 10n ** (await system.paymentToken.decimals());
    const feedPrice = async (f: typeof floorFeed, up: boolean) => {
      const [answer, decimals] = await Promise.all([f.latestAnswer(), f.decimals()]);
      const scale = 10n ** decimals;
      return up ? (answer * tokenUnit + scale - 1n) / scale : (answer * tokenUnit) / scale;
    };
    const tick = params.tickSize;
    const rawFloor = await feedPrice(floorFeed, true);
    const rawCeiling = await feedPrice(ceilingFeed, false);
    const tariffs: Tariffs = {
      floor: ((rawFloor + tick - 1n) / tick) * tick,
      ceiling: (rawCeiling / tick) * tick,
      tick,
    };

    const intervals = new Map<bigint, IntervalRecord>();
    const recordOf = (id: bigint) => {
      let r = intervals.get(id);
      if (r === undefined) {
        r = {
          intervalId: id,
          bounds: null,
          cleared: null,
          leaves: new Map(),
          root: null,
          mintedWh: 0n,
          recIssuedWh: 0n,
          rejected: [],
          rentPaid: 0n,
          dust: 0n,
          settled: false,
        };
        intervals.set(id, r);
      }
      return r;
    };
    const orders: OrderRecord[] = [];
    const ordersOf = (id: bigint) => orders.filter((x) => x.intervalId === id);
    const deals: DealRecord[] = [];
    const receiptsNoted: bigint[] = [];
    /** Certificates each owner holds, by class (issued at claims, moved by deals, burnt at retirements). */
    const recHeld = members.map(() => new Map<bigint, bigint>());
    /** kWh each green buyer received since its last certificate purchase. */
    const boughtSinceRec = members.map(() => 0n);
    /** Auctions whose sellers without energy are settled as defaults at the deadline. */
    const awaitingDefault = new Set<bigint>();
    const memberByMeter = new Map(members.map((m, i) => [getAddress(m.meterKey.address), i]));
    /**
     * Where the settlement ops search an auction's events from: the block before its first commit (its bounds and
     * orders come after), rather than the deployment block the `settle` tasks use, so that each call reads the few
     * blocks of its auction and not the whole day's history.
     */
    const fromBlock = deployment.block;
    const sinceBlock = new Map<bigint, number>();

    // -------------------------------------------------------------- step pieces
    const publishReadings = async (id: bigint) => {
      const readings: SignedReading[] = [];
      let tampered: SignedReading | undefined;
      for (const [i, m] of members.entries()) {
        const e = id < d0 ? { importWh: 0n, exportWh: 0n } : meteredEnergy(m, profileId(id), Number(L));
        registers[i].imp += e.importWh;
        registers[i].exp += e.exportWh;
        const signed = readingSigner.sign(m.meterKey.privateKey, {
          meter: getAddress(m.meterKey.address) as Hex,
          intervalId: id,
          importWhTotal: registers[i].imp,
          exportWhTotal: registers[i].exp,
          timestamp: (id + 1n) * L,
        });
        if (tamper !== null && tamper.intervalId === id && tamper.member === i) {
          // Rewritten on the way: 4 kWh more export than the meter signed. The genuine reading never arrives; the
          // meter's next reading closes the gap (its delta covers both intervals).
          tampered = { ...signed, exportWhTotal: signed.exportWhTotal + 4_000n };
          readings.push(tampered);
        } else readings.push(signed);
      }
      // Rejections by reason, summed over the relayers (copied: the metric's values are live objects).
      const rejections = async () => {
        const counts = new Map<string, number>();
        for (const r of q.relayers)
          for (const v of (await r.metrics.rejected.get()).values)
            counts.set(String(v.labels.reason), (counts.get(String(v.labels.reason)) ?? 0) + v.value);
        return counts;
      };
      const rejectedBefore = await rejections();
      await q.publish(readings, tampered === undefined ? [] : [tampered]);
      if (tampered !== undefined) {
        const reasons = new Map<string, number>();
        for (const [reason, count] of await rejections()) {
          const d = count - (rejectedBefore.get(reason) ?? 0);
          if (d > 0) reasons.set(reason, d);
        }
        for (const [reason, relayers] of reasons) {
          recordOf(id).rejected.push({ member: tamper!.member, meter: tampered.meter, reason, relayers });
          note(
            `${members[tamper!.member].name}'s reading of ${label(id)} was tampered with (+4 kWh export after signing): ` +
              `rejected by ${relayers} of 3 relayers (${reason})`,
          );
        }
      }
    };

    const label = (id: bigint) => new Date(Number(id * L) * 1000).toISOString().slice(11, 16) + " UTC";

    const clear = async (id: bigint) => {
      const placed = ordersOf(id);
      if (placed.length === 0) return;
      const cleared = await clearAuction(system, id);
      track("clear", cleared.txHash);
      const receipt = await receiptOf(system, cleared.txHash);
      const zonesOut: ZoneOutcome[] = [];
      for (const log of receipt.logs) {
        const ev = system.auction.interface.parseLog(log);
        if (ev?.name !== "ZoneCleared") continue;
        zonesOut.push({
          zone: Number(ev.args.zone),
          price: ev.args.price,
          netExportWh: ev.args.netExportWh,
          congestion: (["none", "export", "import"] as const)[Number(ev.args.congestion)],
          atPrice: {
            sellWh: ev.args.sellAtPriceWh,
            sellFilledWh: ev.args.sellAtPriceFilledWh,
            buyWh: ev.args.buyAtPriceWh,
            buyFilledWh: ev.args.buyAtPriceFilledWh,
          },
        });
      }
      const rec = recordOf(id);
      const [floor, ceiling] = await system.auction.bounds(id);
      rec.bounds = { floor, ceiling };
      rec.cleared = {
        systemPrice: cleared.systemPrice,
        tradedWh: cleared.tradedWh,
        congestionRent: cleared.congestionRent,
        zones: zonesOut.sort((a, b) => a.zone - b.zone),
      };
      const fills = await Promise.all(placed.map((p) => system.auction.fillOf(id, p.trader, p.commitment)));
      placed.forEach((p, k) => {
        p.filledWh = fills[k][0];
        p.price = fills[k][1];
      });
    };

    /** Unfilled orders take their collateral back. */
    const withdrawUnfilled = async (id: bigint) => {
      await Promise.all(
        ordersOf(id)
          .filter((p) => p.filledWh === 0n && p.withdrawn === null)
          .map(async (p) => {
            track("withdraw", await send(() => system.auction.connect(owners[p.member]).withdraw(id, p.commitment)));
            // A revealed order that did not fill gets its whole collateral back (the tests check the events).
            p.withdrawn = { refunded: p.collateral, penalty: 0n };
          }),
      );
    };

    const commitAll = async (id: bigint) => {
      sinceBlock.set(id, await provider.getBlockNumber());
      const intents = members.map((m) => decideOrder(m, profileId(id), Number(L), tariffs));
      const commitOne = async (intent: (typeof intents)[number], i: number) => {
        if (intent === null) return;
        const m = members[i];
        const committed = await commitOrder(system, owners[i], {
          intervalId: id,
          side: intent.side,
          zone: m.zone,
          quantityWh: intent.quantityWh,
          limitPrice: intent.limitPrice,
          meter: intent.side === "sell" ? m.meterKey.address : undefined,
          saltFile: join(o.outDir, "orders", `${id}-${m.name}.json`),
        });
        track("approve", committed.approveTx);
        track("open", committed.openTx);
        track("commit", committed.txHash);
        orders.push({
          intervalId: id,
          member: i,
          trader: owners[i].address,
          side: intent.side,
          quantityWh: intent.quantityWh,
          limitPrice: intent.limitPrice,
          collateral: committed.collateral,
          commitment: committed.commitment,
          file: committed.file,
          revealed: false,
          filledWh: 0n,
          price: 0n,
          withdrawn: null,
          seller: null,
          buyer: null,
        });
      };
      // The first trader's commit opens the auction (fixes the day's bounds from the feeds); the others then find the
      // bounds set and commit concurrently without sending an `open` of their own.
      const first = intents.findIndex((intent) => intent !== null);
      if (first < 0) return;
      await commitOne(intents[first], first);
      await Promise.all(intents.map((intent, i) => (i === first ? undefined : commitOne(intent, i))));
    };

    const revealAll = async (id: bigint) => {
      await Promise.all(
        ordersOf(id).map(async (p) => {
          const r = await revealOrder(system, owners[p.member], p.file);
          track("reveal", r.txHash);
          p.revealed = true;
        }),
      );
    };

    const waitFinal = async (id: bigint): Promise<string> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const [root] = await system.oracle.finalRoot(id);
        if (BigInt(root) !== 0n) return root;
        if (Date.now() > deadline)
          throw new MicrogridError(`the root of interval ${id} did not become final within 60 s`);
        await new Promise((r) => setTimeout(r, 3));
      }
    };

    /** Claims an interval's exports from the relayers' batch and records what was minted and certified. */
    const claimInterval = async (id: bigint) => {
      const rec = recordOf(id);
      const root = await waitFinal(id);
      // The batch of a relayer that sealed the interval: the two whose votes finalised it did, the third (slower
      // under load) may not have yet.
      let batch;
      for (const r of q.relayers) {
        batch = await r.store.getBatch(id);
        if (batch !== undefined && batch.root.toLowerCase() === root.toLowerCase()) break;
        batch = undefined;
      }
      if (batch === undefined)
        throw new MicrogridError(`interval ${id} is final but no relayer has a batch with its root ${root}`);
      const tree = buildIntervalTree(
        id,
        batch.leaves.map((l) => ({ meter: l.meter, importWh: l.importWh, exportWh: l.exportWh })),
      );
      if (tree.root !== root)
        throw new MicrogridError(`interval ${id}: the relayer's tree ${tree.root} is not the final root ${root}`);
      rec.root = root;
      for (const l of batch.leaves) rec.leaves.set(getAddress(l.meter), { importWh: l.importWh, exportWh: l.exportWh });
      const exporters = batch.leaves.filter((l) => l.exportWh > 0n).map((l) => l.meter);
      if (exporters.length === 0) return;
      const hashes = await claimKwhBatch(system.kwh, tree, exporters, 24);
      for (const hash of hashes) {
        track("claimInterval", hash);
        for (const log of (await receiptOf(system, hash)).logs) {
          if (getAddress(log.address) === getAddress(deployment.contracts.KwhToken.address)) {
            const ev = system.kwh.interface.parseLog(log);
            if (ev?.name === "KwhClaimed") rec.mintedWh += ev.args.exportWh;
          } else if (getAddress(log.address) === getAddress(deployment.contracts.RecToken.address)) {
            const ev = system.rec.interface.parseLog(log);
            if (ev?.name !== "CertificatesIssued") continue;
            const i = memberByMeter.get(getAddress(ev.args.meter))!;
            rec.recIssuedWh += ev.args.wh;
            recHeld[i].set(ev.args.id, (recHeld[i].get(ev.args.id) ?? 0n) + ev.args.wh);
          }
        }
      }
    };

    /** The escrow's records of an order of interval `id` (commitments compared case-insensitively). */
    const orderOf = (id: bigint, trader: string, commitment: string) =>
      ordersOf(id).find(
        (x) => getAddress(x.trader) === getAddress(trader) && x.commitment.toLowerCase() === commitment.toLowerCase(),
      );

    /**
     * Records the gas of the transactions an ops call sent: a transaction that settled several orders is the batch
     * form (`deliverBatch`, `collectBatch`, `settleDefaultBatch`), one that settled a single order the single form
     * (the ops functions send a batch only for two orders or more).
     */
    const trackSettled = (batchOp: string, singleOp: string, settled: { txHash: string }[]) => {
      const count = new Map<string, number>();
      for (const s of settled) count.set(s.txHash, (count.get(s.txHash) ?? 0) + 1);
      for (const [hash, n] of count) track(n > 1 ? batchOp : singleOp, hash);
    };

    const recordSellers = (id: bigint, settled: Delivered[]) => {
      for (const d of settled) {
        const p = orderOf(id, d.seller, d.commitment);
        if (p === undefined)
          throw new MicrogridError(`interval ${id}: ${d.seller} settled an order the demo did not place`);
        p.seller = {
          deliveredWh: d.deliveredWh,
          payment: d.payment,
          slashed: d.slashed,
          bondReturned: d.bondReturned,
          viaDefault: d.defaulted,
        };
      }
    };

    /** An `--all` run the chain refused in part is a failure of the demo. */
    const requireNoFailures = (id: bigint, what: string, failed: Skipped[]) => {
      if (failed.length > 0)
        throw new MicrogridError(
          `interval ${id}: ${what} failed for ${failed.length} order(s): ` +
            failed.map((f) => `${f.trader} ${f.commitment}: ${f.reason}`).join("; "),
        );
    };

    /**
     * Buyers collect, the rent is paid and the dust swept (`collectAll`, as `settle collect --all` runs it), once
     * every seller of the auction settled.
     */
    const finishAuction = async (id: bigint) => {
      const r = await collectAll(system, keeper, id, sinceBlock.get(id) ?? fromBlock);
      requireNoFailures(id, "collectAll", r.failed);
      trackSettled("collectBatch", "collect", r.collections);
      for (const c of r.collections) {
        const p = orderOf(id, c.buyer, c.commitment);
        if (p === undefined)
          throw new MicrogridError(`interval ${id}: ${c.buyer} collected an order the demo did not place`);
        p.buyer = { receivedWh: c.receivedWh, payment: c.payment, compensation: c.compensation, refunded: c.refunded };
        boughtSinceRec[p.member] += c.receivedWh;
      }
      const rec = recordOf(id);
      if (r.rent.paidNow) track("payRent", r.rent.txHash);
      rec.rentPaid = r.rent.amount;
      if (r.dust === null) throw new MicrogridError(`interval ${id}: the dust was not swept`);
      if (r.dust.sweptNow) track("sweepDust", r.dust.txHash);
      rec.dust = r.dust.amount;
      rec.settled = true;
    };

    /**
     * The operator settles every seller it can (`deliverAll`, as `settle deliver --all` runs it): before the deadline
     * it delivers, in one batch, for every seller holding its whole fill (anyone may); from the deadline it settles
     * every seller still open as a default. Returns the sellers it left alone (short of their fill).
     */
    const operatorDelivers = async (id: bigint) => {
      const r = await deliverAll(system, keeper, id, sinceBlock.get(id) ?? fromBlock);
      requireNoFailures(id, "deliverAll", r.failed);
      if (r.afterDeadline) trackSettled("settleDefaultBatch", "settleDefault", r.settlements);
      else trackSettled("deliverBatch", "deliver (operator)", r.settlements);
      recordSellers(id, r.settlements);
      return r.skipped;
    };

    /** The operator delivers for every seller holding its whole fill. */
    const deliverFull = async (id: bigint) => {
      const rec = recordOf(id);
      if (rec.cleared === null || rec.cleared.tradedWh === 0n) return;
      await operatorDelivers(id);
    };

    /** The sellers of an auction holding part of their fill, once its kWh are claimed. */
    const shortSellersOf = async (id: bigint) => {
      const rec = recordOf(id);
      if (rec.cleared === null || rec.cleared.tradedWh === 0n) return [];
      const open = ordersOf(id).filter((p) => p.side === "sell" && p.filledWh > 0n && p.seller === null);
      const held = await Promise.all(
        open.map((p) => system.kwh.balanceOf(p.trader, kwhTokenId(members[p.member].zone, id))),
      );
      return open.filter((p, k) => held[k] > 0n && held[k] < p.filledWh);
    };

    /**
     * Sellers holding less than their fill deliver what they have themselves (`deliver`, as `settle deliver` runs
     * it for a seller: only a seller may accept its shortfall before the deadline), side by side with the
     * operator's `deliverAll`, which leaves them alone.
     */
    const deliverShort = async (id: bigint, short: OrderRecord[]) => {
      await Promise.all(
        short.map(async (p) => {
          const r = await deliver(system, owners[p.member], id, {
            commitment: p.commitment,
            fromBlock: sinceBlock.get(id) ?? fromBlock,
          });
          for (const d of r.settlements) track("deliver (short, by the seller)", d.txHash);
          recordSellers(id, r.settlements);
        }),
      );
      for (const p of short)
        note(
          `${members[p.member].name} delivered ${p.seller?.deliveredWh} of the ${p.filledWh} Wh sold for ${label(id)}: ` +
            `bond slashed ${fmtUsd(p.seller?.slashed ?? 0n)}, buyers compensated`,
        );
    };

    /**
     * Once every seller delivered, buyers collect (with the rent and the dust); sellers holding nothing wait for
     * the deadline's default (settled by {@link settleDefaults}).
     */
    const finishOrAwaitDefaults = async (id: bigint) => {
      const rec = recordOf(id);
      if (rec.cleared === null || rec.cleared.tradedWh === 0n) {
        rec.settled = true;
        return;
      }
      const empty = ordersOf(id).filter((p) => p.side === "sell" && p.filledWh > 0n && p.seller === null);
      if (empty.length > 0) {
        for (const p of empty)
          note(
            `${members[p.member].name} has no kWh of ${label(id)} to deliver (${p.filledWh} Wh sold): ` +
              `settled as a default after the deadline`,
          );
        awaitingDefault.add(id);
        return;
      }
      await finishAuction(id);
    };

    const settleDefaults = async () => {
      for (const id of [...awaitingDefault]) {
        const s = await system.auction.schedule(id);
        if (clock < s.settlementDeadline) continue;
        const skipped = await operatorDelivers(id);
        if (skipped.length > 0) throw new MicrogridError(`interval ${id}: sellers left open after the deadline`);
        await finishAuction(id);
        awaitingDefault.delete(id);
      }
    };

    /** Each green buyer buys certificates for what it received since its last purchase and retires them. */
    const retireCertificatesForGreenBuyers = async (id: bigint) => {
      for (const [b, buyer] of members.entries()) {
        if (!buyer.green || boughtSinceRec[b] < 100n) continue;
        let best: { seller: number; classId: bigint; held: bigint } | undefined;
        for (const [s, held] of recHeld.entries()) {
          if (s === b) continue;
          for (const [classId, wh] of held)
            if (best === undefined || wh > best.held) best = { seller: s, classId, held: wh };
        }
        if (best === undefined || best.held === 0n) continue;
        const amount = best.held < boughtSinceRec[b] ? best.held : boughtSinceRec[b];
        const quoted = await signQuote(system, deployment, owners[best.seller], {
          token: "rec",
          id: best.classId,
          amount,
          price: REC_PRICE,
          expiry: 3_600,
          out: join(o.outDir, "deals", `${id}-${deals.length}-${members[best.seller].name}-${buyer.name}.json`),
        });
        track("setApprovalForAll", quoted.approvalTx);
        const filled = await fillQuote(system, deployment, owners[b], quoted.file);
        track("approve", filled.approveTx);
        track("dealFill", filled.txHash);
        const retired = await retireCertificates(system, owners[b], {
          id: best.classId,
          amount,
          beneficiary: owners[b].address,
          claimData: encodeClaimData({
            period: new Date(Number(id * L) * 1000).toISOString().slice(0, 10),
            location: ZONE_NAMES[buyer.zone] ?? `Zone ${buyer.zone}`,
          }),
        });
        track("retire", retired.txHash);
        recHeld[best.seller].set(best.classId, best.held - amount);
        boughtSinceRec[b] = 0n;
        deals.push({
          intervalId: id,
          seller: best.seller,
          buyer: b,
          classId: best.classId,
          amountWh: amount,
          payment: filled.payment,
          receiptId: retired.receiptId,
        });
        if (receiptsNoted.length === 0)
          note(
            `${buyer.name} bought ${amount} Wh of ${members[best.seller].name}'s certificates over the DealDesk and ` +
              `retired them: receipt #${retired.receiptId}`,
          );
        receiptsNoted.push(retired.receiptId);
      }
    };

    // -------------------------------------------------------------- the steps
    const phases: Record<string, number> = {};
    const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await fn();
      } finally {
        phases[phase] = (phases[phase] ?? 0) + (performance.now() - t) / 1000;
      }
    };
    const setupSeconds = (performance.now() - started) / 1000;
    const dayStarted = performance.now();
    const cpuStarted = process.cpuUsage();
    const first = d0 - 2n;
    const plannedSteps = Number(dEnd - first) + 1;
    let step = 0;
    const stepSeconds: number[] = [];
    for (let n = first; n <= dEnd || awaitingDefault.size > 0; n++) {
      const stepStarted = performance.now();
      const S = n * L;
      await timed("time", () => moveTo(S + 1n));
      await timed("feeds", refreshFeeds);
      const ended = n - 1n;
      const publishes = ended >= d0 - 1n && ended < dEnd;
      if (publishes) {
        await timed("readings", () => publishReadings(ended));
        await timed("time", () => moveTo(S + GRACE_SECONDS + 1n)); // the relayers seal `ended` and vote
      }
      // The operator's work (clearing, claims, settlement) and the prosumers' (commits, withdrawals, short
      // deliveries) run side by side: they send from different accounts, and each account's transactions stay in
      // order.
      const settles = publishes && ended >= d0;
      const clearing = n + 1n >= d0 && n + 1n < dEnd ? timed("clear", () => clear(n + 1n)) : Promise.resolve();
      // Once the interval's kWh are claimed, the sellers short of their fill (read before anyone delivers).
      let claimed: (short: OrderRecord[]) => void = () => {};
      const claim = new Promise<OrderRecord[]>((resolve) => (claimed = resolve));
      const prosumers = (async () => {
        if (n + 2n >= d0 && n + 2n < dEnd) await timed("commit", () => commitAll(n + 2n));
        await clearing;
        if (n + 1n >= d0 && n + 1n < dEnd) await timed("withdraw", () => withdrawUnfilled(n + 1n));
        // Sellers short of their fill deliver themselves once their kWh are claimed (after their own commits).
        const short = await claim;
        if (short.length > 0) await timed("settle", () => deliverShort(ended, short));
      })();
      const operator = (async () => {
        try {
          await clearing;
          if (settles) await timed("root+claim", () => claimInterval(ended));
          claimed(settles ? await shortSellersOf(ended) : []);
        } catch (e) {
          claimed([]);
          throw e;
        }
        if (settles) await timed("settle", () => deliverFull(ended));
        await timed("settle", settleDefaults);
      })();
      await Promise.all([prosumers, operator]);
      // The buyers' collections, the rent and the dust (the operator's) go side by side with the reveals (the
      // prosumers'); the certificates wait for the collections (the green buyers buy for what they received).
      const finishing = settles ? timed("settle", () => finishOrAwaitDefaults(ended)) : Promise.resolve();
      finishing.catch(() => {}); // awaited below
      if (n + 2n >= d0 && n + 2n < dEnd) {
        await timed("time", () => moveTo(S + (2n * L) / 3n + 1n));
        await timed("reveal", () => revealAll(n + 2n));
      }
      await finishing;
      if (ended >= d0 && ended < dEnd && (ended - d0 + 1n) % 4n === 0n)
        await timed("certificates", () => retireCertificatesForGreenBuyers(ended));
      step++;
      stepSeconds.push((performance.now() - stepStarted) / 1000);
      o.onStep?.({
        step,
        steps: Math.max(plannedSteps, step),
        label:
          ended >= d0 && ended < dEnd
            ? label(ended)
            : n < d0
              ? "opening auctions"
              : n === d0
                ? "baseline readings"
                : "settling defaults",
        tradedWh: orders.reduce((s, p) => s + (p.side === "buy" ? p.filledWh : 0n), 0n),
      });
    }
    // Certificates bought in the day's last hour.
    await retireCertificatesForGreenBuyers(dEnd - 1n);
    const daySeconds = (performance.now() - dayStarted) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    const dayCpuSeconds = (cpu.user + cpu.system) / 1e6;

    // -------------------------------------------------------------- gas, balances, relayer figures
    // The relayers' votes, from their stores: each records the transaction of its own vote, if it sent one.
    const votes: string[] = [];
    for (const r of q.relayers)
      for (let id = d0; id < dEnd; id++) {
        const txHash = (await r.store.getBatch(id))?.txHash;
        if (txHash !== undefined) votes.push(txHash);
      }
    const gas: { op: string; gasUsed: bigint }[] = [];
    for (const hash of votes) {
      const r = await receiptOf(system, hash);
      // With three relayers racing for a 2-of-3 quorum, a third vote mined after the root became final reverts.
      gas.push({ op: r.status === 1 ? "submitRoot" : "submitRoot (late, reverted)", gasUsed: r.gasUsed });
    }
    for (let i = 0; i < gasHashes.length; i += 200) {
      const chunk = gasHashes.slice(i, i + 200);
      const receipts = await Promise.all(chunk.map((g) => receiptOf(system, g.hash)));
      receipts.forEach((r, k) => gas.push({ op: chunk[k].op, gasUsed: r.gasUsed }));
    }
    const balanceEnd = await Promise.all(owners.map((s) => system.paymentToken.balanceOf(s.address)));
    const auctionBalanceEnd = await system.paymentToken.balanceOf(auctionAddress);
    const relayers = await q.figures();
    return {
      network: conn.networkName,
      chainId,
      deployment,
      rpcUrl,
      mqttUrl: q.mqttUrl,
      embeddedBroker: q.embeddedBroker,
      members,
      owners: owners.map((s) => s.address),
      zones,
      tariffs,
      intervalLength: L,
      firstInterval: d0,
      intervalCount,
      intervals,
      orders,
      deals,
      tamper,
      gas,
      balances: { start: balanceStart, end: balanceEnd },
      auctionBalanceEnd,
      relayers,
      ingest: { ...q.ingest },
      timing: {
        setupSeconds,
        daySeconds,
        dayCpuSeconds,
        totalSeconds: (performance.now() - started) / 1000,
        steps: step,
        phases,
        stepSeconds,
      },
    };
  } finally {
    await quorum?.stop();
    await bridge?.close();
  }
}

/** Base units of the 6-decimal stablecoin as `1.234567`. */
export function fmtUsd(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? "-" : ""}${a / 1_000_000n}.${(a % 1_000_000n).toString().padStart(6, "0")}`;
}
