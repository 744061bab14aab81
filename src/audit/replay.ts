/**
 * Event completeness: a fresh in-memory model of the whole system rebuilt from its logs alone, and its comparison
 * with the contracts' state (docs/auditing.md, "Events").
 *
 * `fetchSystemLogs` reads every log of the system's contracts (and of the payment token) with `eth_getLogs` and
 * decodes it with the contracts' ABIs; `replayLogs` applies them in chain order to a {@link SystemModel}: ERC-1155
 * balances and approvals of both tokens, kWh claims and minted totals, certificate issuance, retirements and
 * receipts, the registry's zones and meters (accreditation windows included), the oracle's committee, votes and
 * roots, the auctions' books, every order's fill (the pro-rata rule of docs/auction.md, from the reveal order), the
 * escrow's books and residuals, the deal desk's fills, cancellations and nonce floors, the governance roles and the
 * payment token's balances. `compareWithChain` then reads every one of those figures through the contracts' views
 * and lists each difference, naming the state that the events could not explain.
 *
 * Besides the logs, the model reads one thing: each log's block timestamp (`eth_getBlockByNumber`), which the
 * registry stores as a meter's `registeredAt`, `accreditedFrom` and, when eligibility is withdrawn, its
 * `accreditationExpiry`, and the governance as a role's effect time. No event field carries them.
 */
import { ZeroHash, getAddress, type Interface, type Log, type LogDescription, type Provider } from "ethers";
import {
  BatchAuction__factory,
  DealDesk__factory,
  Governance__factory,
  KwhToken__factory,
  MeterRegistry__factory,
  MockStablecoin__factory,
  ReadingOracle__factory,
  RecToken__factory,
  SettlementEscrow__factory,
} from "../../types/ethers-contracts/index.js";
import type { Deployment, System } from "../deploy.js";

/** The system's contracts as the model names them (the keys of {@link System}). */
export type SystemKey =
  "governance" | "registry" | "oracle" | "kwh" | "rec" | "auction" | "escrow" | "desk" | "paymentToken";

/** Contract names, for messages (the keys of `deployments/<network>.json`). */
export const CONTRACT_NAMES_BY_KEY: Record<SystemKey, string> = {
  governance: "Governance",
  registry: "MeterRegistry",
  oracle: "ReadingOracle",
  kwh: "KwhToken",
  rec: "RecToken",
  auction: "BatchAuction",
  escrow: "SettlementEscrow",
  desk: "DealDesk",
  paymentToken: "PaymentToken",
};

/** The ABI each contract's logs are decoded with (the payment token as an OpenZeppelin ERC-20). */
export const REPLAY_INTERFACES: Record<SystemKey, Interface> = {
  governance: Governance__factory.createInterface(),
  registry: MeterRegistry__factory.createInterface(),
  oracle: ReadingOracle__factory.createInterface(),
  kwh: KwhToken__factory.createInterface(),
  rec: RecToken__factory.createInterface(),
  auction: BatchAuction__factory.createInterface(),
  escrow: SettlementEscrow__factory.createInterface(),
  desk: DealDesk__factory.createInterface(),
  paymentToken: MockStablecoin__factory.createInterface(),
};

/** Addresses of a deployment's contracts, checksummed. */
export function systemAddresses(deployment: Deployment): Record<SystemKey, string> {
  const c = deployment.contracts;
  const token = deployment.market?.paymentToken ?? c.MockStablecoin?.address;
  if (c.DealDesk === undefined || token === undefined)
    throw new Error("the deployment records no DealDesk or payment token: nothing to replay them from");
  return {
    governance: getAddress(c.Governance.address),
    registry: getAddress(c.MeterRegistry.address),
    oracle: getAddress(c.ReadingOracle.address),
    kwh: getAddress(c.KwhToken.address),
    rec: getAddress(c.RecToken.address),
    auction: getAddress(c.BatchAuction.address),
    escrow: getAddress(c.SettlementEscrow.address),
    desk: getAddress(c.DealDesk.address),
    paymentToken: getAddress(token),
  };
}

/** One decoded log of a system contract, with its block's timestamp. */
export interface SystemLog {
  key: SystemKey;
  name: string;
  args: LogDescription["args"];
  blockNumber: number;
  index: number;
  transactionHash: string;
  timestamp: bigint;
}

/**
 * Every log of the system's contracts from `fromBlock` (default 0) to `toBlock` (default latest), decoded and in
 * chain order; logs of those addresses that no ABI decodes are returned apart (a complete system has none).
 */
export async function fetchSystemLogs(
  provider: Provider,
  addresses: Record<SystemKey, string>,
  fromBlock = 0,
  toBlock?: number,
): Promise<{ logs: SystemLog[]; undecoded: Log[]; toBlock: number }> {
  const to = toBlock ?? (await provider.getBlockNumber());
  const byAddress = new Map(Object.entries(addresses).map(([k, a]) => [a, k as SystemKey]));
  const raw = await provider.getLogs({ address: [...byAddress.keys()], fromBlock, toBlock: to });
  raw.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const blocks = [...new Set(raw.map((l) => l.blockNumber))];
  const timestamps = new Map<number, bigint>();
  for (let i = 0; i < blocks.length; i += 50) {
    const chunk = blocks.slice(i, i + 50);
    const got = await Promise.all(chunk.map((b) => provider.getBlock(b)));
    got.forEach((b, k) => {
      if (b === null) throw new Error(`block ${chunk[k]} of a log is missing`);
      timestamps.set(chunk[k], BigInt(b.timestamp));
    });
  }
  const logs: SystemLog[] = [];
  const undecoded: Log[] = [];
  for (const log of raw) {
    const key = byAddress.get(getAddress(log.address));
    const ev = key === undefined ? null : REPLAY_INTERFACES[key].parseLog(log);
    if (key === undefined || ev === null) {
      undecoded.push(log);
      continue;
    }
    logs.push({
      key,
      name: ev.name,
      args: ev.args,
      blockNumber: log.blockNumber,
      index: log.index,
      transactionHash: log.transactionHash,
      timestamp: timestamps.get(log.blockNumber)!,
    });
  }
  return { logs, undecoded, toBlock: to };
}

/*//////////////////////////////////////////////////////////////
                              SUB-MODELS
//////////////////////////////////////////////////////////////*/

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
const addr = (v: string) => getAddress(v);
const popcount = (mask: bigint) => {
  let n = 0n;
  for (let m = mask; m !== 0n; m &= m - 1n) n++;
  return n;
};
const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** ERC-1155 balances and operator approvals, from TransferSingle, TransferBatch and ApprovalForAll. */
export class Erc1155Book {
  readonly balances = new Map<string, Map<bigint, bigint>>();
  readonly approvals = new Map<string, Map<string, boolean>>();
  /** Units minted and burnt per id. */
  readonly minted = new Map<bigint, bigint>();
  readonly burned = new Map<bigint, bigint>();

  balanceOf(account: string, id: bigint): bigint {
    return this.balances.get(addr(account))?.get(id) ?? 0n;
  }

  move(from: string, to: string, id: bigint, value: bigint, fail: (m: string) => void): void {
    if (from === ZERO_ADDRESS) this.minted.set(id, (this.minted.get(id) ?? 0n) + value);
    else {
      const held = this.balanceOf(from, id);
      if (held < value) fail(`${from} sent ${value} of id ${id} holding ${held}`);
      this.#set(from, id, held - value);
    }
    if (to === ZERO_ADDRESS) this.burned.set(id, (this.burned.get(id) ?? 0n) + value);
    else this.#set(to, id, this.balanceOf(to, id) + value);
  }

  #set(account: string, id: bigint, value: bigint) {
    const a = addr(account);
    let m = this.balances.get(a);
    if (m === undefined) this.balances.set(a, (m = new Map()));
    m.set(id, value);
  }

  approve(account: string, operator: string, approved: boolean): void {
    const a = addr(account);
    let m = this.approvals.get(a);
    if (m === undefined) this.approvals.set(a, (m = new Map()));
    m.set(addr(operator), approved);
  }

  /** Units of `id` held by anyone. */
  held(id: bigint): bigint {
    let s = 0n;
    for (const m of this.balances.values()) s += m.get(id) ?? 0n;
    return s;
  }
}

export interface MeterModel {
  owner: string;
  zone: bigint;
  index: bigint;
  technology: bigint;
  /** 1 Active, 2 Revoked. */
  status: bigint;
  ratedCapacityW: bigint;
  registeredAt: bigint;
  revokedAt: bigint;
  recEligible: boolean;
  accreditedFrom: bigint;
  accreditationExpiry: bigint;
  accreditationRecord: boolean;
  pastWindows: { from: bigint; until: bigint }[];
}

export interface OracleIntervalModel {
  root: string;
  leafCount: bigint;
  totalImportWh: bigint;
  totalExportWh: bigint;
  votedMask: bigint;
  leadMask: bigint;
  epoch: bigint;
  isFinal: boolean;
}

/** A root submission's values (what `votesFor` is asked about). */
export interface RootValues {
  root: string;
  leafCount: bigint;
  totalImportWh: bigint;
  totalExportWh: bigint;
}

export interface AuctionModel {
  floor: bigint;
  ceiling: bigint;
  /** Revealed orders. */
  orders: bigint;
  /** Zones in order of their first reveal (`zonesOf`). */
  zones: bigint[];
  cleared: boolean;
  systemPrice: bigint;
  tradedWh: bigint;
  congestionRent: bigint;
  outcomes: Map<bigint, ZoneClearedModel>;
}

export interface ZoneClearedModel {
  price: bigint;
  netExportWh: bigint;
  congestion: bigint;
  sellAtPriceWh: bigint;
  sellAtPriceFilledWh: bigint;
  buyAtPriceWh: bigint;
  buyAtPriceFilledWh: bigint;
}

export type EntryState = "committed" | "revealed" | "forfeited" | "released";

export interface EntryModel {
  intervalId: bigint;
  trader: string;
  commitment: string;
  collateral: bigint;
  state: EntryState;
  /** From OrderRevealed: 0 buy, 1 sell. */
  side?: bigint;
  zone?: bigint;
  quantityWh?: bigint;
  limitPrice?: bigint;
  meter?: string;
  /** Wh of its (zone, side, price) level revealed before it. */
  cumBefore?: bigint;
  /** CollateralWithdrawn, or the escrow's SellerSettled / BuyerCollected that took it over. */
  closedBy?: "withdraw" | "SellerSettled" | "BuyerCollected";
}

export interface AuctionBookModel {
  processedSoldWh: bigint;
  deliveredWh: bigint;
  collectedBoughtWh: bigint;
  rentPaid: boolean;
  swept: boolean;
}

export interface ZoneBookModel {
  deliveredWh: bigint;
  processedWh: bigint;
  slashed: bigint;
  collectedWh: bigint;
}

export interface RoleMemberModel {
  since: bigint;
  delay: bigint;
  previousDelay: bigint;
  effect: bigint;
}

/*//////////////////////////////////////////////////////////////
                                 MODEL
//////////////////////////////////////////////////////////////*/

/** The system as its events tell it. Apply logs in chain order with {@link SystemModel.apply}. */
export class SystemModel {
  /** Events that contradict the model (a balance going negative, a vote count the rules do not give, …). */
  readonly inconsistencies: string[] = [];
  /** Events the model has no rule for (a complete model has none). */
  readonly unhandled: string[] = [];
  /** Logs applied, per `Contract.Event`. */
  readonly counts = new Map<string, number>();

  /** `authority()` of every AccessManaged contract, from AuthorityUpdated. */
  readonly authority = new Map<SystemKey, string>();
  /** `paused()` of every Pausable contract, from Paused / Unpaused. */
  readonly paused = new Map<SystemKey, boolean>();

  readonly governance = {
    members: new Map<bigint, Map<string, RoleMemberModel>>(),
    targetRoles: new Map<string, Map<string, bigint>>(),
    labels: new Map<bigint, string>(),
    roleAdmins: new Map<bigint, bigint>(),
    guardians: new Map<bigint, bigint>(),
    closed: new Map<string, boolean>(),
  };

  readonly registry = {
    zones: new Map<bigint, { exportCapacityW: bigint; importCapacityW: bigint }>(),
    meters: new Map<string, MeterModel>(),
    meterList: [] as string[],
  };

  readonly oracle = {
    seats: new Array<string | null>(32).fill(null),
    threshold: 0n,
    epoch: 0n,
    intervals: new Map<bigint, OracleIntervalModel>(),
    /** Tallies of values diverging from an interval's first proposal, by values. */
    alternates: new Map<bigint, Map<string, { epoch: bigint; mask: bigint }>>(),
    /** Every distinct submission per interval (for `votesFor`). */
    submitted: new Map<bigint, Map<string, RootValues>>(),
    /** Everyone who ever held a seat (for `hasVoted`, `isMember`). */
    everMembers: new Set<string>(),
  };

  readonly kwh = {
    book: new Erc1155Book(),
    claimed: new Map<bigint, Set<string>>(),
    mintedWh: new Map<bigint, bigint>(),
    settlementWindow: 0n,
    settlementEscrow: ZERO_ADDRESS,
  };

  readonly rec = {
    book: new Erc1155Book(),
    issued: new Map<bigint, bigint>(),
    retired: new Map<bigint, bigint>(),
    /** Retired units per beneficiary and class (`claimedBalanceOf`). */
    claimed: new Map<string, Map<bigint, bigint>>(),
    receipts: [] as { receiptId: bigint; holder: string; beneficiary: string; ids: bigint[]; amounts: bigint[] }[],
  };

  readonly auction = {
    auctions: new Map<bigint, AuctionModel>(),
    entries: new Map<string, EntryModel>(),
    levels: new Map<string, bigint>(),
    /** Payment-token units the auction holds as its events tell (collateral in; withdrawals and settlements out). */
    vault: 0n,
  };

  readonly escrow = {
    books: new Map<bigint, AuctionBookModel>(),
    zoneBooks: new Map<bigint, Map<bigint, ZoneBookModel>>(),
    residual: new Map<bigint, bigint>(),
  };

  readonly desk = {
    filled: new Map<string, bigint>(),
    cancelled: new Set<string>(),
    minNonce: new Map<string, bigint>(),
    deals: [] as { quoteHash: string; maker: string; taker: string; token: string; id: bigint; amount: bigint }[],
  };

  readonly paymentToken = {
    balances: new Map<string, bigint>(),
    totalSupply: 0n,
  };

  /** Root-conflict events waiting for their RootSubmitted (same transaction). */
  #conflicts = new Set<string>();
  /** The current log, for messages. */
  #at = "";

  constructor(readonly addresses: Record<SystemKey, string>) {}

  #fail(message: string) {
    this.inconsistencies.push(`${this.#at}: ${message}`);
  }

  /** Applies one log; logs must come in chain order. */
  apply(log: SystemLog): void {
    const tag = `${CONTRACT_NAMES_BY_KEY[log.key]}.${log.name}`;
    this.counts.set(tag, (this.counts.get(tag) ?? 0) + 1);
    this.#at = `${tag} (block ${log.blockNumber}, log ${log.index})`;
    const a = log.args;
    // Events every AccessManaged / Pausable / ERC-1155 contract shares.
    if (log.name === "AuthorityUpdated") return void this.authority.set(log.key, addr(a.authority));
    if (log.name === "Paused" || log.name === "Unpaused") return void this.paused.set(log.key, log.name === "Paused");
    if (log.key === "kwh" || log.key === "rec") {
      const book = this[log.key].book;
      const fail = (m: string) => this.#fail(m);
      if (log.name === "TransferSingle") return book.move(addr(a.from), addr(a.to), a.id, a.value, fail);
      if (log.name === "TransferBatch") {
        (a.ids as bigint[]).forEach((id, i) => book.move(addr(a.from), addr(a.to), id, a[4][i], fail));
        return;
      }
      if (log.name === "ApprovalForAll") return book.approve(a.account, a.operator, a.approved);
    }
    const handler = this.#handlers[log.key][log.name];
    if (handler === undefined) this.unhandled.push(this.#at);
    else handler(a, log);
  }

  #handlers: Record<SystemKey, Record<string, (a: SystemLog["args"], log: SystemLog) => void>> = {
    governance: {
      RoleGranted: (a, log) => this.#roleGranted(a.roleId, addr(a.account), a.delay, a.since, a.newMember, log),
      RoleRevoked: (a) => this.governance.members.get(a.roleId)?.delete(addr(a.account)),
      RoleLabel: (a) => this.governance.labels.set(a.roleId, a.label),
      RoleAdminChanged: (a) => this.governance.roleAdmins.set(a.roleId, a.admin),
      RoleGuardianChanged: (a) => this.governance.guardians.set(a.roleId, a.guardian),
      TargetClosed: (a) => this.governance.closed.set(addr(a.target), a.closed),
      TargetFunctionRoleUpdated: (a) => {
        const t = addr(a.target);
        let m = this.governance.targetRoles.get(t);
        if (m === undefined) this.governance.targetRoles.set(t, (m = new Map()));
        m.set(a.selector, a.roleId);
      },
    },
    registry: {
      ZoneConfigured: (a) =>
        this.registry.zones.set(a.zone, { exportCapacityW: a.exportCapacityW, importCapacityW: a.importCapacityW }),
      MeterRegistered: (a, log) => this.#meterRegistered(a, log.timestamp),
      MeterUpdated: (a, log) => this.#meterUpdated(a, log.timestamp),
      AccreditationRevoked: (a) => this.#accreditationRevoked(addr(a.meter), a.effectiveAt, a.previousExpiry),
      MeterRevoked: (a) => {
        const m = this.registry.meters.get(addr(a.meter));
        if (m === undefined || m.status !== 1n) return this.#fail(`meter ${a.meter} revoked while not active`);
        if (m.owner !== addr(a.owner)) this.#fail(`revoked meter's owner ${a.owner}, the model's ${m.owner}`);
        m.status = 2n;
        m.revokedAt = a.revokedAt;
      },
    },
    oracle: {
      MemberAdded: (a) => {
        const seat = this.oracle.seats.indexOf(null);
        if (seat < 0) return this.#fail("a member joined a full committee");
        this.oracle.seats[seat] = addr(a.member);
        this.oracle.everMembers.add(addr(a.member));
        if (BigInt(this.#memberCount()) !== a.memberCount) this.#fail(`memberCount ${a.memberCount}`);
      },
      MemberRemoved: (a) => {
        const seat = this.oracle.seats.indexOf(addr(a.member));
        if (seat < 0) return this.#fail(`${a.member} removed without a seat`);
        this.oracle.seats[seat] = null;
        if (a.epoch !== this.oracle.epoch + 1n) this.#fail(`epoch ${a.epoch} after ${this.oracle.epoch}`);
        this.oracle.epoch = a.epoch;
        if (BigInt(this.#memberCount()) !== a.memberCount) this.#fail(`memberCount ${a.memberCount}`);
      },
      ThresholdChanged: (a) => {
        if (a.oldThreshold !== this.oracle.threshold) this.#fail(`old threshold ${a.oldThreshold}`);
        this.oracle.threshold = a.newThreshold;
      },
      RootConflicted: (a, log) => {
        this.#conflicts.add(`${log.transactionHash}|${a.intervalId}|${addr(a.member)}`);
        const rec = this.oracle.intervals.get(a.intervalId);
        const lead = rec === undefined || rec.epoch !== this.oracle.epoch ? ZeroHash : rec.root;
        if (a.leadingRoot !== lead) this.#fail(`leadingRoot ${a.leadingRoot}, the model's ${lead}`);
      },
      RootSubmitted: (a, log) => this.#rootSubmitted(a, log),
      RootFinalized: (a) => {
        const rec = this.oracle.intervals.get(a.intervalId);
        if (rec === undefined || !rec.isFinal || rec.root !== a.root)
          return this.#fail(`interval ${a.intervalId} final with ${a.root}, not the model's`);
        const votes = this.#votesFor(a.intervalId, {
          root: a.root,
          leafCount: a.leafCount,
          totalImportWh: a.totalImportWh,
          totalExportWh: a.totalExportWh,
        });
        if (votes !== a.votes) this.#fail(`finalised with ${a.votes} votes, the model counts ${votes}`);
      },
    },
    kwh: {
      KwhClaimed: (a) => {
        const meter = addr(a.meter);
        let set = this.kwh.claimed.get(a.intervalId);
        if (set === undefined) this.kwh.claimed.set(a.intervalId, (set = new Set()));
        if (set.has(meter)) this.#fail(`leaf (${meter}, ${a.intervalId}) claimed twice`);
        set.add(meter);
        this.kwh.mintedWh.set(a.intervalId, (this.kwh.mintedWh.get(a.intervalId) ?? 0n) + a.exportWh);
        const m = this.registry.meters.get(meter);
        if (m === undefined) return this.#fail(`claim of unregistered meter ${meter}`);
        if (m.owner !== addr(a.owner)) this.#fail(`claim minted to ${a.owner}, the meter's owner is ${m.owner}`);
        if (a.id !== ((m.zone << 64n) | a.intervalId)) this.#fail(`claim id ${a.id} is not the meter's zone's`);
      },
      SettlementWindowChanged: (a) => {
        if (a.oldWindow !== this.kwh.settlementWindow) this.#fail(`old window ${a.oldWindow}`);
        this.kwh.settlementWindow = a.newWindow;
      },
      SettlementEscrowChanged: (a) => {
        if (addr(a.previous) !== this.kwh.settlementEscrow) this.#fail(`previous escrow ${a.previous}`);
        this.kwh.settlementEscrow = addr(a.escrow);
      },
    },
    rec: {
      CertificatesIssued: (a) => {
        this.rec.issued.set(a.id, (this.rec.issued.get(a.id) ?? 0n) + a.wh);
        const m = this.registry.meters.get(addr(a.meter));
        if (m === undefined || m.owner !== addr(a.owner)) this.#fail(`certificates issued to ${a.owner}`);
        if (BigInt.asUintN(160, a.id) !== BigInt(addr(a.meter))) this.#fail(`class ${a.id} is not meter ${a.meter}'s`);
      },
      ClaimSingle: (a) => this.#retired(addr(a.holder), addr(a.beneficiary), a.receiptId, [a.id], [a.amount]),
      ClaimBatch: (a) => this.#retired(addr(a.holder), addr(a.beneficiary), a.receiptId, [...a.ids], [...a.amounts]),
    },
    auction: {
      BoundsSet: (a) => {
        const x = this.#auction(a.intervalId);
        if (x.ceiling !== 0n) this.#fail(`bounds of ${a.intervalId} set twice`);
        x.floor = a.floor;
        x.ceiling = a.ceiling;
      },
      OrderCommitted: (a) => {
        const key = entryKey(a.intervalId, a.trader, a.commitment);
        if (this.auction.entries.has(key)) this.#fail(`commitment ${a.commitment} made twice`);
        this.auction.entries.set(key, {
          intervalId: a.intervalId,
          trader: addr(a.trader),
          commitment: a.commitment,
          collateral: a.collateral,
          state: "committed",
        });
        this.auction.vault += a.collateral;
      },
      OrderRevealed: (a) => {
        const e = this.auction.entries.get(entryKey(a.intervalId, a.trader, a.commitment));
        if (e === undefined || e.state !== "committed") return this.#fail(`reveal of ${a.commitment} not committed`);
        const x = this.#auction(a.intervalId);
        if (x.ceiling === 0n) this.#fail(`reveal before the bounds of ${a.intervalId} were set`);
        x.orders += 1n;
        if (!x.zones.includes(a.zone)) x.zones.push(a.zone);
        const level = levelKey(a.intervalId, a.zone, a.side, a.limitPrice);
        const before = this.auction.levels.get(level) ?? 0n;
        this.auction.levels.set(level, before + a.quantityWh);
        Object.assign(e, {
          state: "revealed",
          side: a.side,
          zone: a.zone,
          quantityWh: a.quantityWh,
          limitPrice: a.limitPrice,
          meter: addr(a.meter),
          cumBefore: before,
        });
      },
      ZoneCleared: (a) => {
        const x = this.#auction(a.intervalId);
        x.outcomes.set(a.zone, {
          price: a.price,
          netExportWh: a.netExportWh,
          congestion: a.congestion,
          sellAtPriceWh: a.sellAtPriceWh,
          sellAtPriceFilledWh: a.sellAtPriceFilledWh,
          buyAtPriceWh: a.buyAtPriceWh,
          buyAtPriceFilledWh: a.buyAtPriceFilledWh,
        });
      },
      AuctionCleared: (a) => {
        const x = this.#auction(a.intervalId);
        if (x.cleared) this.#fail(`auction ${a.intervalId} cleared twice`);
        Object.assign(x, {
          cleared: true,
          systemPrice: a.systemPrice,
          tradedWh: a.tradedWh,
          congestionRent: a.congestionRent,
        });
        this.#checkClearing(a.intervalId, x);
      },
      CollateralWithdrawn: (a) => {
        const e = this.auction.entries.get(entryKey(a.intervalId, a.trader, a.commitment));
        if (e === undefined || (e.state !== "committed" && e.state !== "revealed"))
          return this.#fail(`withdrawal of ${a.commitment}, not open`);
        if (a.refunded + a.penalty !== e.collateral) this.#fail(`withdrawal of ${a.refunded}+${a.penalty}`);
        if (e.state === "revealed" && (this.fillOf(e).filledWh !== 0n || a.penalty !== 0n))
          this.#fail(`a revealed order withdrew with a fill or a penalty`);
        e.state = e.state === "revealed" ? "released" : "forfeited";
        e.closedBy = "withdraw";
        this.auction.vault -= a.refunded + a.penalty;
      },
    },
    escrow: {
      SellerSettled: (a) => {
        const e = this.#settled(a, "SellerSettled", 1n);
        const book = this.#book(a.intervalId);
        const zb = this.#zoneBook(a.intervalId, a.zone);
        book.processedSoldWh += a.filledWh;
        book.deliveredWh += a.deliveredWh;
        zb.deliveredWh += a.deliveredWh;
        zb.processedWh += a.filledWh;
        zb.slashed += a.slashed;
        this.#addResidual(a.intervalId, (a.slashed as bigint) - (a.payment as bigint));
        if (a.payment !== ((a.deliveredWh as bigint) * (a.price as bigint)) / 1000n)
          this.#fail(`seller payment ${a.payment}`);
        if (e !== undefined && a.slashed + a.bondReturned !== e.collateral) this.#fail(`bond of ${a.commitment}`);
        this.auction.vault -= a.payment + a.bondReturned;
      },
      BuyerCollected: (a) => {
        const e = this.#settled(a, "BuyerCollected", 0n);
        const book = this.#book(a.intervalId);
        const zb = this.#zoneBook(a.intervalId, a.zone);
        book.collectedBoughtWh += a.filledWh;
        zb.collectedWh += a.filledWh;
        this.#addResidual(a.intervalId, (a.payment as bigint) - (a.compensation as bigint));
        if (a.payment !== ((a.receivedWh as bigint) * (a.price as bigint) + 999n) / 1000n)
          this.#fail(`buyer payment ${a.payment}`);
        if (e !== undefined && a.refunded !== e.collateral - a.payment + a.compensation)
          this.#fail(`refund of ${a.commitment}`);
        this.auction.vault -= a.refunded;
      },
      CongestionRentPaid: (a) => {
        const book = this.#book(a.intervalId);
        if (book.rentPaid) this.#fail(`rent of ${a.intervalId} paid twice`);
        book.rentPaid = true;
        this.#addResidual(a.intervalId, -(a.amount as bigint));
        this.auction.vault -= a.amount;
      },
      DustSwept: (a) => {
        const book = this.#book(a.intervalId);
        if (book.swept || !book.rentPaid) this.#fail(`dust of ${a.intervalId} swept out of turn`);
        book.swept = true;
        if (a.amount !== (this.escrow.residual.get(a.intervalId) ?? 0n)) this.#fail(`dust ${a.amount}`);
        this.escrow.residual.set(a.intervalId, 0n);
        this.auction.vault -= a.amount;
      },
    },
    desk: {
      DealFilled: (a) => {
        const h = a.quoteHash as string;
        if (this.desk.cancelled.has(h)) this.#fail(`fill of cancelled quote ${h}`);
        this.desk.filled.set(h, (this.desk.filled.get(h) ?? 0n) + a.amount);
        this.desk.deals.push({
          quoteHash: h,
          maker: addr(a.maker),
          taker: addr(a.taker),
          token: addr(a.token),
          id: a.id,
          amount: a.amount,
        });
      },
      QuoteCancelled: (a) => {
        if (this.desk.cancelled.has(a.quoteHash)) this.#fail(`quote ${a.quoteHash} cancelled twice`);
        this.desk.cancelled.add(a.quoteHash);
        if (a.filled !== (this.desk.filled.get(a.quoteHash) ?? 0n)) this.#fail(`cancelled after ${a.filled}`);
      },
      NoncesInvalidated: (a) => {
        const m = addr(a.maker);
        if (a.previousMinNonce !== (this.desk.minNonce.get(m) ?? 0n)) this.#fail(`nonce floor ${a.previousMinNonce}`);
        this.desk.minNonce.set(m, a.minNonce);
      },
    },
    paymentToken: {
      Transfer: (a) => {
        const [from, to, value] = [addr(a.from), addr(a.to), a.value as bigint];
        const b = this.paymentToken.balances;
        if (from === ZERO_ADDRESS) this.paymentToken.totalSupply += value;
        else {
          const held = b.get(from) ?? 0n;
          if (held < value) this.#fail(`${from} sent ${value} holding ${held}`);
          b.set(from, held - value);
        }
        if (to === ZERO_ADDRESS) this.paymentToken.totalSupply -= value;
        else b.set(to, (b.get(to) ?? 0n) + value);
      },
      // Allowances are not replayed: an ERC-20 `transferFrom` spends one without an event (OpenZeppelin 5).
      Approval: () => {},
    },
  };

  // ------------------------------------------------------------------ replay rules

  #roleGranted(roleId: bigint, account: string, delay: bigint, since: bigint, newMember: boolean, log: SystemLog) {
    let m = this.governance.members.get(roleId);
    if (m === undefined) this.governance.members.set(roleId, (m = new Map()));
    const old = m.get(account);
    if (newMember || old === undefined) {
      if (!newMember) this.#fail(`role ${roleId} updated for non-member ${account}`);
      m.set(account, { since, delay, previousDelay: delay, effect: 0n });
    } else {
      const current = old.effect <= log.timestamp ? old.delay : old.previousDelay;
      m.set(account, { since: old.since, delay, previousDelay: current, effect: since });
    }
  }

  #meterRegistered(a: SystemLog["args"], now: bigint) {
    const meter = addr(a.meter);
    if (this.registry.meters.has(meter)) return this.#fail(`meter ${meter} registered twice`);
    if (a.index !== BigInt(this.registry.meterList.length)) this.#fail(`meter index ${a.index}`);
    if (!this.registry.zones.has(a.zone)) this.#fail(`meter in unconfigured zone ${a.zone}`);
    this.registry.meterList.push(meter);
    this.registry.meters.set(meter, {
      owner: addr(a.owner),
      zone: a.zone,
      index: a.index,
      technology: a.technology,
      status: 1n,
      ratedCapacityW: a.ratedCapacityW,
      registeredAt: now,
      revokedAt: 0n,
      recEligible: a.recEligible,
      accreditedFrom: a.recEligible ? now : 0n,
      accreditationExpiry: a.accreditationExpiry,
      accreditationRecord: a.recEligible,
      pastWindows: [],
    });
  }

  /** `MeterRegistry.updateMeter`'s rules for the accreditation window, at the block's time. */
  #meterUpdated(a: SystemLog["args"], now: bigint) {
    const m = this.registry.meters.get(addr(a.meter));
    if (m === undefined || m.status !== 1n) return this.#fail(`update of meter ${a.meter}, not active`);
    if (a.recEligible) {
      if (!m.recEligible || m.accreditationExpiry <= now) {
        if (m.accreditationRecord && m.accreditationExpiry > m.accreditedFrom)
          m.pastWindows.push({ from: m.accreditedFrom, until: m.accreditationExpiry });
        m.accreditedFrom = now;
      }
      m.accreditationExpiry = a.accreditationExpiry;
      m.accreditationRecord = true;
    } else if (m.recEligible && m.accreditationExpiry > now) m.accreditationExpiry = now;
    m.recEligible = a.recEligible;
    m.owner = addr(a.owner);
    m.zone = a.zone;
    m.technology = a.technology;
    m.ratedCapacityW = a.ratedCapacityW;
  }

  #accreditationRevoked(meter: string, effectiveAt: bigint, previousExpiry: bigint) {
    const m = this.registry.meters.get(meter);
    if (m === undefined || !m.accreditationRecord) return this.#fail(`revocation of ${meter}, never accredited`);
    if (previousExpiry !== m.accreditationExpiry) this.#fail(`previous expiry ${previousExpiry}`);
    m.accreditationExpiry = max(effectiveAt, m.accreditedFrom);
    for (let i = m.pastWindows.length - 1; i >= 0; i--) {
      const w = m.pastWindows[i];
      if (w.until <= effectiveAt) break;
      w.until = max(effectiveAt, w.from);
    }
  }

  #memberCount() {
    return this.oracle.seats.filter((s) => s !== null).length;
  }

  /** `ReadingOracle.submitRoot`'s tally, from the vote's values; checks the event's count and conflict flag. */
  #rootSubmitted(a: SystemLog["args"], log: SystemLog) {
    const o = this.oracle;
    const id: bigint = a.intervalId;
    const member = addr(a.member);
    const v: RootValues = {
      root: a.root,
      leafCount: a.leafCount,
      totalImportWh: a.totalImportWh,
      totalExportWh: a.totalExportWh,
    };
    let subs = o.submitted.get(id);
    if (subs === undefined) o.submitted.set(id, (subs = new Map()));
    subs.set(valuesKey(v), v);
    const seat = o.seats.indexOf(member);
    if (seat < 0) return this.#fail(`vote of non-member ${member}`);
    let rec = o.intervals.get(id) ?? emptyInterval(0n);
    if (rec.isFinal) return this.#fail(`vote on final interval ${id}`);
    if (rec.epoch !== o.epoch) rec = emptyInterval(o.epoch);
    const bit = 1n << BigInt(seat);
    if ((rec.votedMask & bit) !== 0n) this.#fail(`${member} voted twice on ${id}`);
    rec.votedMask |= bit;
    let votes: bigint;
    let conflict = false;
    if (rec.root === ZeroHash) {
      Object.assign(rec, v);
      rec.leadMask = bit;
      votes = 1n;
    } else if (valuesKey(rec) === valuesKey(v)) {
      rec.leadMask |= bit;
      votes = popcount(rec.leadMask);
    } else {
      conflict = true;
      let alts = o.alternates.get(id);
      if (alts === undefined) o.alternates.set(id, (alts = new Map()));
      const tally = alts.get(valuesKey(v));
      const mask = (tally !== undefined && tally.epoch === o.epoch ? tally.mask : 0n) | bit;
      alts.set(valuesKey(v), { epoch: o.epoch, mask });
      votes = popcount(mask);
      if (votes >= o.threshold) {
        alts.set(valuesKey(rec), { epoch: o.epoch, mask: rec.leadMask });
        Object.assign(rec, v);
        rec.leadMask = mask;
      }
    }
    rec.isFinal = votes >= o.threshold;
    o.intervals.set(id, rec);
    if (votes !== a.votes) this.#fail(`${a.votes} votes, the model counts ${votes}`);
    const k = `${log.transactionHash}|${id}|${member}`;
    if (conflict !== this.#conflicts.has(k)) this.#fail(`conflict ${conflict} without its RootConflicted`);
    this.#conflicts.delete(k);
  }

  #votesFor(id: bigint, v: RootValues): bigint {
    const rec = this.oracle.intervals.get(id) ?? emptyInterval(0n);
    const epoch = rec.isFinal ? rec.epoch : this.oracle.epoch;
    if (rec.epoch !== epoch) return 0n;
    const alt = this.oracle.alternates.get(id)?.get(valuesKey(v));
    let mask = alt !== undefined && alt.epoch === epoch ? alt.mask : 0n;
    if (valuesKey(rec) === valuesKey(v)) mask |= rec.leadMask;
    return popcount(mask);
  }

  #retired(holder: string, beneficiary: string, receiptId: bigint, ids: bigint[], amounts: bigint[]) {
    if (receiptId !== BigInt(this.rec.receipts.length + 1)) this.#fail(`receipt ${receiptId} out of sequence`);
    this.rec.receipts.push({ receiptId, holder, beneficiary, ids, amounts });
    let m = this.rec.claimed.get(beneficiary);
    if (m === undefined) this.rec.claimed.set(beneficiary, (m = new Map()));
    ids.forEach((id, i) => {
      m.set(id, (m.get(id) ?? 0n) + amounts[i]);
      this.rec.retired.set(id, (this.rec.retired.get(id) ?? 0n) + amounts[i]);
    });
  }

  #auction(id: bigint): AuctionModel {
    let x = this.auction.auctions.get(id);
    if (x === undefined) {
      x = {
        floor: 0n,
        ceiling: 0n,
        orders: 0n,
        zones: [],
        cleared: false,
        systemPrice: 0n,
        tradedWh: 0n,
        congestionRent: 0n,
        outcomes: new Map(),
      };
      this.auction.auctions.set(id, x);
    }
    return x;
  }

  /** The at-price totals the clearing reported equal the revealed levels; bought = sold = traded. */
  #checkClearing(id: bigint, x: AuctionModel) {
    let bought = 0n;
    let sold = 0n;
    for (const [zone, z] of x.outcomes) {
      const sellAt = this.auction.levels.get(levelKey(id, zone, 1n, z.price)) ?? 0n;
      const buyAt = this.auction.levels.get(levelKey(id, zone, 0n, z.price)) ?? 0n;
      if (sellAt !== z.sellAtPriceWh || buyAt !== z.buyAtPriceWh) this.#fail(`zone ${zone}'s at-price totals`);
      const zb = this.zoneBought(id, zone);
      const zs = this.zoneSold(id, zone);
      if (zs - zb !== z.netExportWh) this.#fail(`zone ${zone}'s net export ${z.netExportWh}, fills give ${zs - zb}`);
      bought += zb;
      sold += zs;
    }
    if (bought !== x.tradedWh || sold !== x.tradedWh) this.#fail(`traded ${x.tradedWh}, fills ${bought}/${sold}`);
  }

  #settled(a: SystemLog["args"], event: "SellerSettled" | "BuyerCollected", side: bigint): EntryModel | undefined {
    const e = this.auction.entries.get(
      entryKey(a.intervalId, event === "SellerSettled" ? a.seller : a.buyer, a.commitment),
    );
    if (e === undefined || e.state !== "revealed" || e.side !== side) {
      this.#fail(`${a.commitment} settled while not an open ${side === 1n ? "sell" : "buy"} order`);
      return undefined;
    }
    const fill = this.fillOf(e);
    if (fill.filledWh === 0n || fill.filledWh !== a.filledWh || fill.price !== a.price || e.zone !== a.zone)
      this.#fail(`settled fill ${a.filledWh} at ${a.price}, the model's ${fill.filledWh} at ${fill.price}`);
    e.state = "released";
    e.closedBy = event;
    return e;
  }

  #book(id: bigint): AuctionBookModel {
    let b = this.escrow.books.get(id);
    if (b === undefined) {
      b = { processedSoldWh: 0n, deliveredWh: 0n, collectedBoughtWh: 0n, rentPaid: false, swept: false };
      this.escrow.books.set(id, b);
    }
    return b;
  }

  #zoneBook(id: bigint, zone: bigint): ZoneBookModel {
    let m = this.escrow.zoneBooks.get(id);
    if (m === undefined) this.escrow.zoneBooks.set(id, (m = new Map()));
    let z = m.get(zone);
    if (z === undefined) m.set(zone, (z = { deliveredWh: 0n, processedWh: 0n, slashed: 0n, collectedWh: 0n }));
    return z;
  }

  #addResidual(id: bigint, delta: bigint) {
    this.escrow.residual.set(id, (this.escrow.residual.get(id) ?? 0n) + delta);
  }

  // ------------------------------------------------------------------ derived figures

  /**
   * An order's fill from the events: the zone's price and at-price fills (ZoneCleared) and the Wh of its level
   * revealed before it (OrderRevealed order): all of an order strictly in the money, none out of it, and at the
   * price `⌊(cum + q)·F/T⌋ − ⌊cum·F/T⌋` (docs/auction.md). `fillOf`'s rules: zero unless revealed and cleared.
   */
  fillOf(e: EntryModel): { filledWh: bigint; price: bigint } {
    const x = this.auction.auctions.get(e.intervalId);
    if ((e.state !== "revealed" && e.state !== "released") || x === undefined || !x.cleared || e.side === undefined)
      return { filledWh: 0n, price: 0n };
    const z = x.outcomes.get(e.zone!);
    const price = z?.price ?? 0n;
    const sell = e.side === 1n;
    const limit = e.limitPrice!;
    if (sell ? limit < price : limit > price) return { filledWh: e.quantityWh!, price };
    if (limit !== price || z === undefined) return { filledWh: 0n, price };
    const total = sell ? z.sellAtPriceWh : z.buyAtPriceWh;
    const filled = sell ? z.sellAtPriceFilledWh : z.buyAtPriceFilledWh;
    const cum = e.cumBefore!;
    return { filledWh: ((cum + e.quantityWh!) * filled) / total - (cum * filled) / total, price };
  }

  /** Σ fills of a zone's revealed buy orders: what the zone bought (`ZoneOutcome.boughtWh`, not in any event). */
  zoneBought(id: bigint, zone: bigint): bigint {
    return this.#zoneFills(id, zone, 0n);
  }

  zoneSold(id: bigint, zone: bigint): bigint {
    return this.#zoneFills(id, zone, 1n);
  }

  #zoneFills(id: bigint, zone: bigint, side: bigint): bigint {
    let s = 0n;
    for (const e of this.auction.entries.values())
      if (e.intervalId === id && e.zone === zone && e.side === side) s += this.fillOf(e).filledWh;
    return s;
  }

  /** `getInterval`'s answer as the events tell it. */
  intervalInfo(id: bigint): {
    status: bigint;
    root: string;
    leafCount: bigint;
    totalImportWh: bigint;
    totalExportWh: bigint;
    votes: bigint;
  } {
    const rec = this.oracle.intervals.get(id);
    const none = { status: 0n, root: ZeroHash, leafCount: 0n, totalImportWh: 0n, totalExportWh: 0n, votes: 0n };
    if (rec === undefined) return none;
    if (!rec.isFinal && (rec.root === ZeroHash || rec.epoch !== this.oracle.epoch)) return none;
    return {
      status: rec.isFinal ? 2n : 1n,
      root: rec.root,
      leafCount: rec.leafCount,
      totalImportWh: rec.totalImportWh,
      totalExportWh: rec.totalExportWh,
      votes: rec.isFinal ? this.#votesFor(id, rec) : popcount(rec.leadMask),
    };
  }

  votesFor(id: bigint, v: RootValues): bigint {
    return this.#votesFor(id, v);
  }

  hasVoted(id: bigint, member: string): boolean {
    const seat = this.oracle.seats.indexOf(addr(member));
    const rec = this.oracle.intervals.get(id) ?? emptyInterval(0n);
    if (seat < 0 || rec.epoch !== this.oracle.epoch) return false;
    return (rec.votedMask & (1n << BigInt(seat))) !== 0n;
  }

  /** The committee in seat order. */
  members(): string[] {
    return this.oracle.seats.filter((s): s is string => s !== null);
  }

  /** `MeterRegistry.accreditationWindows`. */
  accreditationWindows(m: MeterModel): { from: bigint; until: bigint }[] {
    if (!m.accreditationRecord) return [];
    return [...m.pastWindows, { from: m.accreditedFrom, until: m.accreditationExpiry }];
  }

  /** `AccessManager.hasRole` at time `now`. */
  hasRole(roleId: bigint, account: string, now: bigint): [boolean, bigint] {
    const m = this.governance.members.get(roleId)?.get(addr(account));
    if (m === undefined) return [false, 0n];
    return [m.since !== 0n && m.since <= now, m.effect <= now ? m.delay : m.previousDelay];
  }
}

function emptyInterval(epoch: bigint): OracleIntervalModel {
  return {
    root: ZeroHash,
    leafCount: 0n,
    totalImportWh: 0n,
    totalExportWh: 0n,
    votedMask: 0n,
    leadMask: 0n,
    epoch,
    isFinal: false,
  };
}

const valuesKey = (v: RootValues) => `${v.root}|${v.leafCount}|${v.totalImportWh}|${v.totalExportWh}`;
export const entryKey = (id: bigint, trader: string, commitment: string) => `${id}|${addr(trader)}|${commitment}`;
const levelKey = (id: bigint, zone: bigint, side: bigint, price: bigint) => `${id}|${zone}|${side}|${price}`;

/** A fresh model with `logs` applied in order. */
export function replayLogs(addresses: Record<SystemKey, string>, logs: SystemLog[]): SystemModel {
  const model = new SystemModel(addresses);
  for (const log of logs) model.apply(log);
  return model;
}

/*//////////////////////////////////////////////////////////////
                          COMPARISON WITH STATE
//////////////////////////////////////////////////////////////*/

/** One figure the events and the contract disagree on. */
export interface Mismatch {
  /** The state, as the view that reads it: `KwhToken.balanceOf(0x…, 1844…)`. */
  state: string;
  events: string;
  chain: string;
}

const show = (v: unknown): string =>
  JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);

/**
 * Reads every figure the model holds through the contracts' views (at the latest block, whose timestamp is `now`)
 * and returns each one that differs; `checked` counts the comparisons.
 */
export async function compareWithChain(
  model: SystemModel,
  system: System,
  now: bigint,
): Promise<{ mismatches: Mismatch[]; checked: number }> {
  const mismatches: Mismatch[] = [];
  const pending: Promise<void>[] = [];
  let checked = 0;
  const expectEq = (state: string, events: unknown, read: () => Promise<unknown>) => {
    checked++;
    pending.push(
      read().then(
        (chain) => {
          if (show(chain) !== show(events)) mismatches.push({ state, events: show(events), chain: show(chain) });
        },
        (e: Error) => {
          mismatches.push({ state, events: show(events), chain: `reverted: ${e.message.split("\n")[0]}` });
        },
      ),
    );
  };
  const flush = async () => {
    await Promise.all(pending.splice(0));
  };
  const A = model.addresses;

  // Shared: authority and pause flags.
  const managed = {
    registry: system.registry,
    oracle: system.oracle,
    kwh: system.kwh,
    rec: system.rec,
    escrow: system.escrow,
    desk: system.desk,
  } as const;
  for (const [key, c] of Object.entries(managed) as [keyof typeof managed, (typeof managed)[keyof typeof managed]][]) {
    expectEq(`${CONTRACT_NAMES_BY_KEY[key]}.authority()`, model.authority.get(key) ?? ZERO_ADDRESS, () =>
      c.authority(),
    );
    if (key !== "registry")
      expectEq(`${CONTRACT_NAMES_BY_KEY[key]}.paused()`, model.paused.get(key) ?? false, () =>
        (c as typeof system.oracle).paused(),
      );
  }

  // Governance: role members and delays, function roles, admins, guardians, closed targets.
  const g = system.governance;
  for (const [roleId, members] of model.governance.members)
    for (const account of members.keys())
      expectEq(`Governance.hasRole(${roleId}, ${account})`, model.hasRole(roleId, account, now), async () => {
        const [isMember, delay] = await g.hasRole(roleId, account);
        return [isMember, delay];
      });
  for (const [target, roles] of model.governance.targetRoles)
    for (const [selector, roleId] of roles)
      expectEq(`Governance.getTargetFunctionRole(${target}, ${selector})`, roleId, () =>
        g.getTargetFunctionRole(target, selector),
      );
  for (const [roleId, admin] of model.governance.roleAdmins)
    expectEq(`Governance.getRoleAdmin(${roleId})`, admin, () => g.getRoleAdmin(roleId));
  for (const [roleId, guardian] of model.governance.guardians)
    expectEq(`Governance.getRoleGuardian(${roleId})`, guardian, () => g.getRoleGuardian(roleId));
  for (const [target, closed] of model.governance.closed)
    expectEq(`Governance.isTargetClosed(${target})`, closed, () => g.isTargetClosed(target));
  await flush();

  // MeterRegistry: zones, meters, their windows and order.
  const r = system.registry;
  for (const [zone, z] of model.registry.zones)
    expectEq(`MeterRegistry.getZone(${zone})`, [true, z.exportCapacityW, z.importCapacityW], async () => {
      const got = await r.getZone(zone);
      return [got.configured, got.exportCapacityW, got.importCapacityW];
    });
  expectEq("MeterRegistry.meterCount()", BigInt(model.registry.meterList.length), () => r.meterCount());
  for (const [i, meter] of model.registry.meterList.entries()) {
    const m = model.registry.meters.get(meter)!;
    expectEq(`MeterRegistry.meterAt(${i})`, meter, () => r.meterAt(i));
    expectEq(
      `MeterRegistry.getMeter(${meter})`,
      [
        m.owner,
        m.zone,
        m.index,
        m.technology,
        m.status,
        m.ratedCapacityW,
        m.registeredAt,
        m.revokedAt,
        m.recEligible,
        m.accreditedFrom,
        m.accreditationExpiry,
      ],
      async () => [...(await r.getMeter(meter))],
    );
    expectEq(
      `MeterRegistry.accreditationWindows(${meter})`,
      model.accreditationWindows(m).map((w) => [w.from, w.until]),
      async () => (await r.accreditationWindows(meter)).map((w) => [w.from, w.until]),
    );
    expectEq(`MeterRegistry.isActive(${meter})`, m.status === 1n, () => r.isActive(meter));
  }
  await flush();

  // ReadingOracle: committee, every interval voted on, every member's vote, every submission's support.
  const o = system.oracle;
  expectEq("ReadingOracle.members()", model.members(), async () => [...(await o.members())]);
  expectEq("ReadingOracle.threshold()", model.oracle.threshold, () => o.threshold());
  expectEq("ReadingOracle.epoch()", model.oracle.epoch, () => o.epoch());
  for (const account of model.oracle.everMembers)
    expectEq(`ReadingOracle.isMember(${account})`, model.members().includes(account), () => o.isMember(account));
  for (const [id, subs] of model.oracle.submitted) {
    const info = model.intervalInfo(id);
    expectEq(
      `ReadingOracle.getInterval(${id})`,
      [info.status, info.root, info.leafCount, info.totalImportWh, info.totalExportWh, info.votes],
      async () => [...(await o.getInterval(id))],
    );
    expectEq(
      `ReadingOracle.finalRoot(${id})`,
      info.status === 2n ? [info.root, info.totalExportWh] : [ZeroHash, 0n],
      async () => [...(await o.finalRoot(id))],
    );
    for (const account of model.oracle.everMembers)
      expectEq(`ReadingOracle.hasVoted(${id}, ${account})`, model.hasVoted(id, account), () => o.hasVoted(id, account));
    for (const v of subs.values())
      expectEq(
        `ReadingOracle.votesFor(${id}, ${v.root}, ${v.leafCount}, ${v.totalImportWh}, ${v.totalExportWh})`,
        model.votesFor(id, v),
        () => o.votesFor(id, v.root, v.leafCount, v.totalImportWh, v.totalExportWh),
      );
  }
  await flush();

  // Both ERC-1155 tokens: every (account, id) ever moved, every approval ever given.
  for (const [key, token] of [
    ["kwh", system.kwh],
    ["rec", system.rec],
  ] as const) {
    const book = model[key].book;
    const name = CONTRACT_NAMES_BY_KEY[key];
    for (const [account, ids] of book.balances) {
      const list = [...ids.keys()];
      for (let i = 0; i < list.length; i += 100) {
        const chunk = list.slice(i, i + 100);
        checked += chunk.length - 1;
        expectEq(
          `${name}.balanceOfBatch(${account}, [${chunk.join(", ")}])`,
          chunk.map((id) => ids.get(id)!),
          async () => [
            ...(await token.balanceOfBatch(
              chunk.map(() => account),
              chunk,
            )),
          ],
        );
      }
    }
    for (const [account, ops] of book.approvals)
      for (const [operator, approved] of ops)
        expectEq(`${name}.isApprovedForAll(${account}, ${operator})`, approved, () =>
          token.isApprovedForAll(account, operator),
        );
  }

  // KwhToken: claimed leaves (and, for every registered meter, unclaimed ones of intervals with claims), minted Wh.
  const k = system.kwh;
  expectEq("KwhToken.settlementWindow()", model.kwh.settlementWindow, () => k.settlementWindow());
  expectEq("KwhToken.settlementEscrow()", model.kwh.settlementEscrow, () => k.settlementEscrow());
  const intervalsWithRoots = new Set([...model.kwh.claimed.keys(), ...model.oracle.intervals.keys()]);
  for (const id of intervalsWithRoots) {
    expectEq(`KwhToken.mintedWh(${id})`, model.kwh.mintedWh.get(id) ?? 0n, () => k.mintedWh(id));
    const claimed = model.kwh.claimed.get(id) ?? new Set();
    for (const meter of model.registry.meterList)
      expectEq(`KwhToken.isClaimed(${meter}, ${id})`, claimed.has(meter), () => k.isClaimed(meter, id));
  }
  // The kWh minted per interval are the claims' exports (no other mint exists).
  const mintedByInterval = new Map<bigint, bigint>();
  for (const [id, wh] of model.kwh.book.minted) {
    const intervalId = BigInt.asUintN(64, id);
    mintedByInterval.set(intervalId, (mintedByInterval.get(intervalId) ?? 0n) + wh);
  }
  for (const id of new Set([...mintedByInterval.keys(), ...model.kwh.mintedWh.keys()])) {
    checked++;
    const [mints, claims] = [mintedByInterval.get(id) ?? 0n, model.kwh.mintedWh.get(id) ?? 0n];
    if (mints !== claims)
      mismatches.push({
        state: `KwhToken mints of interval ${id} = KwhClaimed exports`,
        events: show(claims),
        chain: show(mints),
      });
  }
  await flush();

  // RecToken: receipts, retired balances, issued = held + retired per class.
  const rc = system.rec;
  expectEq("RecToken.receiptCount()", BigInt(model.rec.receipts.length), () => rc.receiptCount());
  for (const [beneficiary, ids] of model.rec.claimed)
    for (const [id, wh] of ids)
      expectEq(`RecToken.claimedBalanceOf(${beneficiary}, ${id})`, wh, () => rc.claimedBalanceOf(beneficiary, id));
  for (const [id, issued] of model.rec.issued) {
    checked++;
    const held = model.rec.book.held(id);
    const retired = model.rec.retired.get(id) ?? 0n;
    if (issued !== held + retired || (model.rec.book.minted.get(id) ?? 0n) !== issued)
      mismatches.push({
        state: `RecToken class ${id}: issued = held + retired`,
        events: show({ issued, minted: model.rec.book.minted.get(id) }),
        chain: show({ held, retired }),
      });
  }
  await flush();

  // BatchAuction: bounds, books, outcomes (bought Wh from the fills), every commitment's fill.
  const au = system.auction;
  for (const [id, x] of model.auction.auctions) {
    expectEq(`BatchAuction.bounds(${id})`, [x.floor, x.ceiling], async () => [...(await au.bounds(id))]);
    expectEq(`BatchAuction.orderCount(${id})`, x.orders, () => au.orderCount(id));
    expectEq(`BatchAuction.zonesOf(${id})`, x.zones, async () => [...(await au.zonesOf(id))]);
    expectEq(`BatchAuction.systemPrice(${id})`, x.systemPrice, () => au.systemPrice(id));
    expectEq(`BatchAuction.tradedWh(${id})`, x.tradedWh, () => au.tradedWh(id));
    if (x.cleared) expectEq(`BatchAuction.phase(${id})`, 4n, () => au.phase(id));
    for (const zone of x.zones) {
      const z = x.outcomes.get(zone);
      expectEq(
        `BatchAuction.zoneOutcome(${id}, ${zone})`,
        [
          z?.price ?? 0n,
          z?.sellAtPriceWh ?? 0n,
          z?.sellAtPriceFilledWh ?? 0n,
          z?.buyAtPriceWh ?? 0n,
          z?.buyAtPriceFilledWh ?? 0n,
          x.cleared ? model.zoneBought(id, zone) : 0n,
          z?.netExportWh ?? 0n,
          z?.congestion ?? 0n,
          true,
        ],
        async () => [...(await au.zoneOutcome(id, zone))],
      );
    }
  }
  for (const e of model.auction.entries.values()) {
    const f = model.fillOf(e);
    expectEq(`BatchAuction.fillOf(${e.intervalId}, ${e.trader}, ${e.commitment})`, [f.filledWh, f.price], async () => [
      ...(await au.fillOf(e.intervalId, e.trader, e.commitment)),
    ]);
  }
  expectEq(`PaymentToken.balanceOf(BatchAuction) from the market's events`, model.auction.vault, () =>
    system.paymentToken.balanceOf(A.auction),
  );
  await flush();

  // SettlementEscrow: every auction's book, zone books and residual (zero for auctions nobody settled).
  const es = system.escrow;
  for (const [id, x] of model.auction.auctions) {
    const b = model.escrow.books.get(id);
    expectEq(
      `SettlementEscrow.auctionBook(${id})`,
      [
        b?.processedSoldWh ?? 0n,
        b?.deliveredWh ?? 0n,
        b?.collectedBoughtWh ?? 0n,
        b?.rentPaid ?? false,
        b?.swept ?? false,
      ],
      async () => [...(await es.auctionBook(id))],
    );
    expectEq(`SettlementEscrow.residualOf(${id})`, model.escrow.residual.get(id) ?? 0n, () => es.residualOf(id));
    for (const zone of x.zones) {
      const z = model.escrow.zoneBooks.get(id)?.get(zone);
      expectEq(
        `SettlementEscrow.zoneBook(${id}, ${zone})`,
        [z?.deliveredWh ?? 0n, z?.processedWh ?? 0n, z?.slashed ?? 0n, z?.collectedWh ?? 0n],
        async () => [...(await es.zoneBook(id, zone))],
      );
    }
  }
  await flush();

  // DealDesk: fills and cancellations of every quote seen, nonce floors of every maker.
  const d = system.desk;
  for (const h of new Set([...model.desk.filled.keys(), ...model.desk.cancelled])) {
    expectEq(`DealDesk.filledOf(${h})`, model.desk.filled.get(h) ?? 0n, () => d.filledOf(h));
    expectEq(`DealDesk.isCancelled(${h})`, model.desk.cancelled.has(h), () => d.isCancelled(h));
  }
  for (const maker of new Set([...model.desk.minNonce.keys(), ...model.desk.deals.map((x) => x.maker)]))
    expectEq(`DealDesk.minNonceOf(${maker})`, model.desk.minNonce.get(maker) ?? 0n, () => d.minNonceOf(maker));

  // The payment token: every account's balance, the supply.
  const t = system.paymentToken;
  expectEq("PaymentToken.totalSupply()", model.paymentToken.totalSupply, () => t.totalSupply());
  for (const [account, balance] of model.paymentToken.balances)
    expectEq(`PaymentToken.balanceOf(${account})`, balance, () => t.balanceOf(account));
  await flush();

  return { mismatches, checked };
}
