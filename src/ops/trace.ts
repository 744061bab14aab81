/**
 * The auditor's trace: one meter reading followed through every ledger entry it caused, from the signed reading the
 * relayer stored to the root the committee voted, the kWh and certificate mints, the auction order and its fill, the
 * escrow's delivery and collections with their payments, deals and certificate retirements.
 *
 * Everything on chain is rebuilt from events (and a few views) through the JSON-RPC endpoint of the system's
 * provider; the relayer's HTTP API (`GET /readings/:intervalId/:meter`, `GET /proofs/:intervalId/:meter`) supplies
 * the off-chain part, whose signatures and figures are checked again here. A relayer that cannot be reached is not an
 * error: the reading stage says why it is unavailable and the chain stages are complete without it.
 */
import {
  AbiCoder,
  getAddress,
  getBytes,
  isAddress,
  keccak256,
  type Interface,
  type TransactionResponse,
  type TypedDataDomain,
} from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { recoverSigner } from "../../oracle/src/ingest/recover.js";
import { decodeCertificateId, type TechnologyName } from "../certificates.js";
import type { System } from "../deploy.js";
import { InputError, MicrogridError } from "../errors.js";
import { decodeKwhTokenId, intervalEnd, intervalStart, kwhTokenId } from "../intervals.js";
import { readingDigest, readingDomain } from "../readings.js";
import { LEAF_ENCODING, type LeafValue } from "../tree.js";
import { auctionBook, parseWhole, type AuctionBook, type BookOrder } from "./auction.js";
import { call, providerOf } from "./chain.js";
import { parseAddress, STATUSES, TECHNOLOGIES } from "./meters.js";
import { parseCertificateId, queryLogs, retirementReceipts, type RetirementReceipt } from "./rec.js";
import { settlementStatus, type SettlementStatus } from "./settlement.js";

/*//////////////////////////////////////////////////////////////
                                 SHAPES
//////////////////////////////////////////////////////////////*/

/** A transaction and the block it was mined in. */
export interface TxRef {
  txHash: string;
  block: number;
}

/** A signed cumulative reading as the relayer stored it, with its signature checked again here. */
export interface CheckedReading {
  meter: string;
  intervalId: bigint;
  importWhTotal: bigint;
  exportWhTotal: bigint;
  timestamp: bigint;
  signature: string;
  /** EIP-712 digest in the registry's domain (what `MeterRegistry.hashReading` returns). */
  digest: string;
  /** Who signed the digest (null: a signature the registry would refuse, e.g. high s or a bad length). */
  recoveredSigner: string | null;
  /** The signer is the traced meter's key. */
  signatureValid: boolean;
}

/** The relayer's stored signed reading of the traced (meter, interval), re-checked. */
export interface ReadingFound extends CheckedReading {
  /** The relayer API it came from. */
  source: string;
  /** The meter's latest stored reading before the interval: the leaf is the difference of the two. */
  baseline: CheckedReading | null;
  /** reading − baseline, Wh (null without a baseline: a meter's first reading gives no leaf). */
  delta: { importWh: bigint; exportWh: bigint } | null;
  /** The delta equals the leaf's import and export (null when there is no leaf to compare with). */
  matchesLeaf: boolean | null;
  /** Different signed readings of the same (meter, interval) the relayer refused and kept for audit. */
  conflicts: (CheckedReading & { via: string; receivedAt: number })[];
}

export type ReadingStage = ReadingFound | { source: string | null; unavailable: string };

/** The (meter, interval) Merkle leaf, its hash and a proof verified against the on-chain root. */
export interface LeafFound {
  meter: string;
  intervalId: bigint;
  importWh: bigint;
  exportWh: bigint;
  /** Where the Wh come from: the claim's KwhClaimed event on chain, else the relayer's proof (not claimed yet). */
  source: "claim" | "relayer";
  /** StandardMerkleTree leaf hash: keccak256(keccak256(abi.encode(meter, intervalId, importWh, exportWh))). */
  leafHash: string;
  /** The proof verified: the relayer's (`GET /proofs`), else the one the claim transaction carried. */
  proof: string[];
  proofSource: "relayer" | "claim transaction" | null;
  /** A multi-proof (`claimInterval`): its flags and every leaf it proves, in order. */
  multiProof: { leaves: { meter: string; importWh: bigint; exportWh: bigint }[]; proofFlags: boolean[] } | null;
  /** The proof places the leaf under the interval's root on chain (null: no proof or no root to check). */
  verifiesAgainstRoot: boolean | null;
  /** A KwhClaimed event exists for the leaf (the contract verified a proof when it minted). */
  claimed: boolean;
  /** The relayer's leaf equals the claimed one (null unless both exist). */
  relayerMatchesClaim: boolean | null;
}

export type LeafStage = LeafFound | { unavailable: string };

/** The interval's root on chain and the committee's votes for it. */
export interface RootStage {
  intervalId: bigint;
  status: "none" | "pending" | "final";
  /** The final root, or the leading proposal while pending (zero when nobody voted). */
  root: string;
  leafCount: number;
  totalImportWh: bigint;
  totalExportWh: bigint;
  /** Identical votes that finalise a root, now. */
  threshold: number;
  /** RootSubmitted events for `root`, in chain order. */
  votes: { relayer: string; txHash: string; block: number }[];
  /** The RootFinalized event. */
  finalized: (TxRef & { votes: number }) | null;
  /** RootConflicted events: members that submitted other values. */
  conflicts: { relayer: string; root: string; txHash: string; block: number }[];
  /** The root of the relayer's batch, when its proof API answered. */
  relayerRoot: string | null;
}

/** A KwhClaimed event: the leaf's export minted as kWh tokens. */
export interface Mint extends TxRef {
  tokenId: bigint;
  zone: number;
  intervalId: bigint;
  /** Wh minted: the leaf's export (0: nothing minted). */
  amount: bigint;
  importWh: bigint;
  to: string;
}

/** A CertificatesIssued event. */
export interface CertificateIssue extends TxRef {
  certificateId: bigint;
  meter: string;
  technology: TechnologyName;
  vintage: number;
  zone: number;
  intervalId: bigint;
  amount: bigint;
  to: string;
}

/** An auction order rebuilt from OrderCommitted/OrderRevealed, its fill from the clearing's events. */
export interface OrderTrace {
  intervalId: bigint;
  commitment: string;
  trader: string;
  side: "buy" | "sell";
  zone: number;
  quantityWh: bigint;
  limitPrice: bigint;
  meter: string;
  collateral: bigint | null;
  /** On chain after clearing; null before. */
  filledWh: bigint | null;
  price: bigint | null;
  txs: { commit: TxRef | null; reveal: TxRef; clear: TxRef | null; withdraw: TxRef | null };
}

/** The escrow's settlement of an order of the trace (SellerSettled, BuyerCollected). */
export type EscrowEntry =
  | ({
      kind: "deliver" | "default";
      trader: string;
      commitment: string;
      zone: number;
      filledWh: bigint;
      /** kWh tokens handed over. */
      Wh: bigint;
      price: bigint;
      /** Payment to the seller, base units. */
      paid: bigint;
      bondReturned: bigint;
      slashed: bigint;
    } & TxRef)
  | ({
      kind: "collect";
      trader: string;
      commitment: string;
      zone: number;
      filledWh: bigint;
      /** Wh of the traced kWh token id the buyer received (from its zone's pool of delivered energy). */
      Wh: bigint;
      tokenId: bigint;
      /** Everything the buyer received, of every id. */
      receivedWh: bigint;
      price: bigint;
      /** What the buyer paid for all it received, base units. */
      paid: bigint;
      compensation: bigint;
      refunded: bigint;
    } & TxRef);

/** A DealDesk fill (DealFilled) of a traced kWh token id or certificate class. */
export interface DealTrace extends TxRef {
  token: "kwh" | "rec";
  id: bigint;
  amount: bigint;
  maker: string;
  taker: string;
  paymentToken: string;
  payment: bigint;
  quoteHash: string;
}

/** One certificate class line of a retirement receipt (ClaimSingle/ClaimBatch). */
export interface RetirementTrace extends TxRef {
  receiptId: bigint;
  certificateId: bigint;
  amount: bigint;
  holder: string;
  beneficiary: string;
  claimIssuer: string;
  claimData: string;
}

/** The registry's record of the meter now. */
export interface MeterInfo {
  owner: string;
  zone: number;
  technology: string;
  status: string;
  recEligible: boolean;
}

/** One reading followed through every ledger. */
export interface ReadingTrace {
  kind: "reading";
  meter: string;
  intervalId: bigint;
  interval: { start: string; end: string };
  /** The chain was read up to this block. */
  asOfBlock: number;
  registration: MeterInfo | null;
  reading: ReadingStage;
  leaf: LeafStage;
  root: RootStage;
  mints: Mint[];
  certificates: CertificateIssue[];
  orders: OrderTrace[];
  escrow: EscrowEntry[];
  deals: DealTrace[];
  retirements: RetirementTrace[];
  /** Everything that does not add up, one sentence each (empty: the trace is consistent). */
  problems: string[];
}

/** A certificate class traced back to the claims that issued it and forward to its retirements. */
export interface RecTrace {
  kind: "rec";
  asOfBlock: number;
  certificate: { id: bigint; meter: string; vintage: number; technology: TechnologyName; zone: number };
  issued: CertificateIssue[];
  retirements: RetirementTrace[];
  deals: DealTrace[];
  totals: { issuedWh: bigint; retiredWh: bigint; outstandingWh: bigint };
  /** The readings behind the issuances, traced (the first `maxReadings`). */
  readings: ReadingTrace[];
  readingsOmitted: number;
}

/** A decoded event of the system. */
export interface TxEvent {
  index: number;
  contract: string;
  name: string;
  args: Record<string, unknown>;
}

/** A transaction, what it touched, and the traces of those. */
export interface TxTrace {
  kind: "tx";
  asOfBlock: number;
  tx: {
    hash: string;
    block: number;
    from: string;
    to: string | null;
    /** `Contract.function` when it called the system directly. */
    call: string | null;
    status: "success" | "reverted";
    events: TxEvent[];
  };
  touched: {
    readings: { meter: string; intervalId: bigint }[];
    orders: { intervalId: bigint; trader: string; commitment: string }[];
    certificates: bigint[];
    intervals: bigint[];
  };
  orders: OrderTrace[];
  readings: ReadingTrace[];
  readingsOmitted: number;
  certificates: RecTrace[];
}

export interface TraceOptions {
  /** Relayer API base URL for the signed reading and its proof; chain-only without it. */
  relayerUrl?: string;
  /** Where events are searched from (the deployment block). */
  fromBlock: number;
  /** How many readings a transaction or certificate trace follows fully (default 20). */
  maxReadings?: number;
  /** Milliseconds to wait for the relayer (default 10,000). */
  relayerTimeoutMs?: number;
}

/*//////////////////////////////////////////////////////////////
                                 INPUT
//////////////////////////////////////////////////////////////*/

/** A relayer API base URL (http or https), without a trailing slash; undefined for none. */
export function parseRelayerUrl(value: string | undefined): string | undefined {
  const v = (value ?? "").trim();
  if (v === "") return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new InputError(`relayer URL "${value}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new InputError(`relayer URL "${value}" must be http:// or https://`);
  return v.replace(/\/+$/, "");
}

/** A transaction hash: 32 bytes of 0x hex. */
export function parseTxHash(value: string): string {
  const v = value.trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(v)) throw new InputError(`transaction hash "${value}" is not 32 bytes of 0x hex`);
  return v.toLowerCase();
}

const UINT64_MAX = (1n << 64n) - 1n;

/*//////////////////////////////////////////////////////////////
                                CONTEXT
//////////////////////////////////////////////////////////////*/

const ZERO_ROOT = `0x${"0".repeat(64)}`;
const ORACLE_STATUSES = ["none", "pending", "final"] as const;
const SIDES = ["buy", "sell"] as const;

const ref = (ev: { transactionHash: string; blockNumber: number }): TxRef => ({
  txHash: ev.transactionHash,
  block: ev.blockNumber,
});
const byPosition = (a: { blockNumber: number; index: number }, b: { blockNumber: number; index: number }) =>
  a.blockNumber - b.blockNumber || a.index - b.index;
const iso = (unix: bigint) => new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z");
const sum = <T>(xs: T[], f: (x: T) => bigint) => xs.reduce((s, x) => s + f(x), 0n);

/** What one trace command reads, each thing once: the chain up to `toBlock` and the relayer. */
class Context {
  private readonly memo = new Map<string, Promise<unknown>>();
  /** Why the relayer could not be reached, once it could not. */
  private relayerDown: string | undefined;
  readonly maxReadings: number;
  readonly relayerTimeoutMs: number;

  private constructor(
    readonly system: System,
    readonly fromBlock: number,
    readonly toBlock: number,
    readonly relayerUrl: string | undefined,
    opts: TraceOptions,
  ) {
    this.maxReadings = opts.maxReadings ?? 20;
    this.relayerTimeoutMs = opts.relayerTimeoutMs ?? 10_000;
  }

  static async open(system: System, opts: TraceOptions): Promise<Context> {
    const relayerUrl = parseRelayerUrl(opts.relayerUrl);
    if (!Number.isInteger(opts.fromBlock) || opts.fromBlock < 0)
      throw new InputError(`fromBlock ${opts.fromBlock} must be a block number`);
    // The latest block itself, not `getBlockNumber`, which a provider may answer from a short-lived cache.
    const latest = await call(() => providerOf(system).getBlock("latest"));
    if (latest === null) throw new MicrogridError("the node returned no latest block");
    const toBlock = latest.number;
    return new Context(system, opts.fromBlock, toBlock, relayerUrl, opts);
  }

  once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (p === undefined) {
      p = call(fn);
      this.memo.set(key, p);
    }
    return p;
  }

  domain(): Promise<TypedDataDomain> {
    return this.once("domain", async () => {
      const [network, registry] = await Promise.all([
        providerOf(this.system).getNetwork(),
        this.system.registry.getAddress(),
      ]);
      return readingDomain(network.chainId, registry);
    });
  }

  intervalLength(): Promise<bigint> {
    return this.once("intervalLength", () => this.system.registry.intervalLength());
  }

  /** Contract name and interface by lowercase address. */
  contracts(): Promise<Map<string, { name: string; iface: Interface }>> {
    return this.once("contracts", async () => {
      const s = this.system;
      const entries: [string, { target: unknown; interface: Interface }][] = [
        ["MeterRegistry", s.registry],
        ["ReadingOracle", s.oracle],
        ["KwhToken", s.kwh],
        ["RecToken", s.rec],
        ["BatchAuction", s.auction],
        ["SettlementEscrow", s.escrow],
        ["DealDesk", s.desk],
        ["PaymentToken", s.paymentToken],
        ["Governance", s.governance],
      ];
      const map = new Map<string, { name: string; iface: Interface }>();
      for (const [name, c] of entries) {
        if (typeof c.target === "string" && isAddress(c.target))
          map.set(c.target.toLowerCase(), { name, iface: c.interface });
      }
      return map;
    });
  }

  hasDesk(): boolean {
    const t = this.system.desk.target;
    return typeof t === "string" && isAddress(t);
  }

  claimsOf(meter: string | undefined, intervalId: bigint) {
    const k = this.system.kwh;
    return this.once(`claims/${meter ?? "*"}/${intervalId}`, async () =>
      (await queryLogs(k, k.filters.KwhClaimed(meter, intervalId), this.fromBlock, this.toBlock)).sort(byPosition),
    );
  }

  book(intervalId: bigint): Promise<AuctionBook> {
    return this.once(`book/${intervalId}`, () => auctionBook(this.system, intervalId, this.fromBlock));
  }

  settlement(intervalId: bigint): Promise<SettlementStatus> {
    return this.once(`settlement/${intervalId}`, () => settlementStatus(this.system, intervalId, this.fromBlock));
  }

  receipts(): Promise<RetirementReceipt[]> {
    return this.once("receipts", () =>
      retirementReceipts(this.system, { fromBlock: this.fromBlock, toBlock: this.toBlock }),
    );
  }

  deals() {
    const d = this.system.desk;
    return this.once("deals", async () =>
      this.hasDesk() ? (await queryLogs(d, d.filters.DealFilled(), this.fromBlock, this.toBlock)).sort(byPosition) : [],
    );
  }

  transaction(hash: string): Promise<TransactionResponse | null> {
    return this.once(`tx/${hash}`, () => providerOf(this.system).getTransaction(hash));
  }

  /** GET `path` of the relayer API: the JSON body, or why there is none. */
  relayer(path: string): Promise<{ ok: true; body: unknown } | { ok: false; reason: string; reachable: boolean }> {
    return this.once(`relayer${path}`, async () => {
      // A relayer that could not be reached is not asked again by the same command (each would wait the timeout).
      if (this.relayerDown !== undefined) return { ok: false, reachable: false, reason: this.relayerDown };
      const url = `${this.relayerUrl}${path}`;
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(this.relayerTimeoutMs) });
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = err.cause?.code ?? err.cause?.message ?? err.message;
        this.relayerDown = `relayer ${this.relayerUrl} unreachable: ${why}`;
        return { ok: false, reachable: false, reason: this.relayerDown };
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        return { ok: false, reachable: true, reason: `relayer answered ${res.status} without JSON to GET ${path}` };
      }
      if (!res.ok) {
        const detail = (body as { detail?: unknown })?.detail;
        return {
          ok: false,
          reachable: true,
          reason: `relayer answered ${res.status} to GET ${path}${typeof detail === "string" ? `: ${detail}` : ""}`,
        };
      }
      return { ok: true, body };
    });
  }
}

/*//////////////////////////////////////////////////////////////
                             SIGNED READING
//////////////////////////////////////////////////////////////*/

type StoredReading = Omit<CheckedReading, "digest" | "recoveredSigner" | "signatureValid">;

function parseStoredReading(raw: unknown, what: string): StoredReading {
  const r = raw as Record<string, unknown> | null;
  if (r === null || typeof r !== "object") throw new Error(`${what} is not an object`);
  const whole = (name: string) => {
    const v = r[name];
    if ((typeof v !== "string" && typeof v !== "number") || !/^\d+$/.test(String(v)))
      throw new Error(`${what}.${name} is not a whole number`);
    const n = BigInt(v);
    if (n > UINT64_MAX) throw new Error(`${what}.${name} is not a uint64`);
    return n;
  };
  if (typeof r.meter !== "string" || !isAddress(r.meter)) throw new Error(`${what}.meter is not an address`);
  if (typeof r.signature !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(r.signature))
    throw new Error(`${what}.signature is not hex bytes`);
  return {
    meter: getAddress(r.meter),
    intervalId: whole("intervalId"),
    importWhTotal: whole("importWhTotal"),
    exportWhTotal: whole("exportWhTotal"),
    timestamp: whole("timestamp"),
    signature: r.signature,
  };
}

/**
 * Checks a stored reading's signature again: its EIP-712 digest in the registry's domain (`src/readings.ts`), the
 * signer recovered under the registry's own rules (`oracle/src/ingest/recover.ts`: low s, v 27/28 or 0/1), compared
 * with the traced meter.
 */
export function checkReading(domain: TypedDataDomain, r: StoredReading, meter: string): CheckedReading {
  const digest = readingDigest(domain, {
    meter: r.meter,
    intervalId: r.intervalId,
    importWhTotal: r.importWhTotal,
    exportWhTotal: r.exportWhTotal,
    timestamp: r.timestamp,
  });
  let recovered: string | null;
  try {
    recovered = recoverSigner(getBytes(digest), getBytes(r.signature));
  } catch {
    recovered = null;
  }
  return { ...r, digest, recoveredSigner: recovered, signatureValid: recovered !== null && recovered === meter };
}

interface RelayerProof {
  importWh: bigint;
  exportWh: bigint;
  proof: string[];
  root: string;
}

function parseRelayerProof(raw: unknown): RelayerProof {
  const r = raw as Record<string, unknown> | null;
  if (r === null || typeof r !== "object") throw new Error("the proof is not an object");
  const proof = r.proof;
  if (!Array.isArray(proof) || !proof.every((p) => typeof p === "string" && /^0x[0-9a-fA-F]{64}$/.test(p)))
    throw new Error("proof is not a list of 32-byte hashes");
  if (typeof r.root !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(r.root)) throw new Error("root is not a hash");
  const wh = (name: string) => {
    const v = r[name];
    if ((typeof v !== "string" && typeof v !== "number") || !/^\d+$/.test(String(v)))
      throw new Error(`${name} is not a whole number`);
    return BigInt(v);
  };
  return { importWh: wh("importWh"), exportWh: wh("exportWh"), proof: proof as string[], root: r.root.toLowerCase() };
}

/** The stored readings and the proof of a (meter, interval) from the relayer API, each or why not. */
async function fromRelayer(ctx: Context, meter: string, intervalId: bigint) {
  if (ctx.relayerUrl === undefined) {
    const reason = "no relayer API given (--relayer or RELAYER_URL): the chain part only";
    return { reading: { unavailable: reason }, proof: { unavailable: reason } } as const;
  }
  const domain = await ctx.domain();
  const res = await ctx.relayer(`/readings/${intervalId}/${meter}`);
  let reading:
    | { unavailable: string }
    | {
        found: StoredReading;
        baseline: StoredReading | null;
        conflicts: (StoredReading & { via: string; receivedAt: number })[];
      };
  if (!res.ok) reading = { unavailable: res.reason };
  else {
    try {
      const b = res.body as { reading?: unknown; baseline?: unknown; conflicts?: unknown };
      const conflicts = Array.isArray(b.conflicts) ? b.conflicts : [];
      reading = {
        found: parseStoredReading(b.reading, "reading"),
        baseline: b.baseline == null ? null : parseStoredReading(b.baseline, "baseline"),
        conflicts: conflicts.map((c: { reading?: unknown; source?: unknown; receivedAt?: unknown }, i: number) => ({
          ...parseStoredReading(c?.reading, `conflicts[${i}]`),
          via: String(c?.source ?? ""),
          receivedAt: Number(c?.receivedAt ?? 0),
        })),
      };
    } catch (e) {
      reading = { unavailable: `relayer answered a malformed reading: ${(e as Error).message}` };
    }
  }
  let proof: { unavailable: string } | { found: RelayerProof };
  if (!res.ok && !res.reachable) proof = { unavailable: res.reason };
  else {
    const p = await ctx.relayer(`/proofs/${intervalId}/${meter}`);
    if (!p.ok) proof = { unavailable: p.reason };
    else {
      try {
        proof = { found: parseRelayerProof(p.body) };
      } catch (e) {
        proof = { unavailable: `relayer answered a malformed proof: ${(e as Error).message}` };
      }
    }
  }
  return { reading, proof, domain };
}

/*//////////////////////////////////////////////////////////////
                              LEAF AND ROOT
//////////////////////////////////////////////////////////////*/

/** StandardMerkleTree leaf hash of `[meter, intervalId, importWh, exportWh]`. */
export function leafHash(meter: string, intervalId: bigint, importWh: bigint, exportWh: bigint): string {
  return keccak256(
    keccak256(AbiCoder.defaultAbiCoder().encode([...LEAF_ENCODING], [meter, intervalId, importWh, exportWh])),
  );
}

/** The proof a claim transaction carried for `meter`, when it called the KwhToken directly. */
async function proofFromClaim(ctx: Context, txHash: string, meter: string, intervalId: bigint) {
  const tx = await ctx.transaction(txHash);
  if (tx === null || tx.to === null) return null;
  if (tx.to.toLowerCase() !== String(ctx.system.kwh.target).toLowerCase()) return null;
  const parsed = ctx.system.kwh.interface.parseTransaction({ data: tx.data, value: tx.value });
  if (parsed === null) return null;
  if (parsed.name === "claim" && getAddress(parsed.args[0] as string) === meter)
    return { proof: [...(parsed.args[4] as string[])], multiProof: null };
  if (parsed.name === "claimMany") {
    for (const c of parsed.args[0] as { meter: string; intervalId: bigint; proof: string[] }[])
      if (getAddress(c.meter) === meter && c.intervalId === intervalId)
        return { proof: [...c.proof], multiProof: null };
    return null;
  }
  if (parsed.name === "claimInterval" && (parsed.args[0] as bigint) === intervalId) {
    const leaves = (parsed.args[1] as { meter: string; importWh: bigint; exportWh: bigint }[]).map((l) => ({
      meter: getAddress(l.meter),
      importWh: l.importWh,
      exportWh: l.exportWh,
    }));
    return {
      proof: [...(parsed.args[2] as string[])],
      multiProof: { leaves, proofFlags: [...(parsed.args[3] as boolean[])] },
    };
  }
  return null;
}

async function rootStage(ctx: Context, intervalId: bigint): Promise<RootStage> {
  return ctx.once(`root/${intervalId}`, async () => {
    const o = ctx.system.oracle;
    const [info, threshold, submitted, finalized, conflicted] = await Promise.all([
      o.getInterval(intervalId),
      o.threshold(),
      queryLogs(o, o.filters.RootSubmitted(intervalId), ctx.fromBlock, ctx.toBlock),
      queryLogs(o, o.filters.RootFinalized(intervalId), ctx.fromBlock, ctx.toBlock),
      queryLogs(o, o.filters.RootConflicted(intervalId), ctx.fromBlock, ctx.toBlock),
    ]);
    const root = info.root.toLowerCase();
    const fin = finalized[0];
    return {
      intervalId,
      status: ORACLE_STATUSES[Number(info.status)] ?? "none",
      root,
      leafCount: Number(info.leafCount),
      totalImportWh: info.totalImportWh,
      totalExportWh: info.totalExportWh,
      threshold: Number(threshold),
      votes: submitted
        .filter((ev) => ev.args.root.toLowerCase() === root)
        .sort(byPosition)
        .map((ev) => ({ relayer: ev.args.member, ...ref(ev) })),
      finalized: fin === undefined ? null : { ...ref(fin), votes: Number(fin.args.votes) },
      conflicts: conflicted
        .sort(byPosition)
        .map((ev) => ({ relayer: ev.args.member, root: ev.args.root.toLowerCase(), ...ref(ev) })),
      relayerRoot: null,
    };
  });
}

/*//////////////////////////////////////////////////////////////
                            ORDERS AND ESCROW
//////////////////////////////////////////////////////////////*/

function orderOf(ctx: Context, book: AuctionBook, o: BookOrder) {
  const a = ctx.system.auction;
  const key = `order/${book.intervalId}/${o.trader}/${o.commitment}`;
  return ctx.once(key, async (): Promise<OrderTrace> => {
    const [committed, withdrawn] = await Promise.all([
      queryLogs(a, a.filters.OrderCommitted(book.intervalId, o.trader, o.commitment), ctx.fromBlock, ctx.toBlock),
      queryLogs(a, a.filters.CollateralWithdrawn(book.intervalId, o.trader, o.commitment), ctx.fromBlock, ctx.toBlock),
    ]);
    const c = committed.sort(byPosition)[0];
    const w = withdrawn.sort(byPosition)[0];
    const cleared = book.onChain;
    return {
      intervalId: book.intervalId,
      commitment: o.commitment,
      trader: o.trader,
      side: o.side,
      zone: o.zone,
      quantityWh: o.quantityWh,
      limitPrice: o.limitPrice,
      meter: o.meter,
      collateral: c === undefined ? null : c.args.collateral,
      filledWh: cleared === null ? null : o.filledWh,
      price: cleared === null ? null : o.price,
      txs: {
        commit: c === undefined ? null : ref(c),
        reveal: { txHash: o.txHash, block: o.blockNumber },
        clear: cleared === null ? null : { txHash: cleared.txHash, block: cleared.blockNumber },
        withdraw: w === undefined ? null : ref(w),
      },
    };
  });
}

/** The sell orders that named `meter` in the auction of `intervalId` (none without an auction). */
async function sellOrdersOf(ctx: Context, meter: string, intervalId: bigint): Promise<OrderTrace[]> {
  const a = ctx.system.auction;
  const revealed = await ctx.once(`revealed/${intervalId}`, () =>
    queryLogs(a, a.filters.OrderRevealed(intervalId), ctx.fromBlock, ctx.toBlock),
  );
  if (!revealed.some((ev) => Number(ev.args.side) === 1 && ev.args.meter === meter)) return [];
  const book = await ctx.book(intervalId);
  const mine = book.orders.filter((o) => o.side === "sell" && o.meter === meter);
  return Promise.all(mine.map((o) => orderOf(ctx, book, o)));
}

/**
 * The escrow's settlement of `orders` (sell orders of the traced meter) and, when they delivered, the buyers'
 * collections that received the zone's kWh token of the interval (the pool the deliveries went into).
 */
async function escrowOf(ctx: Context, intervalId: bigint, orders: OrderTrace[]): Promise<EscrowEntry[]> {
  if (!orders.some((o) => o.filledWh !== null && o.filledWh > 0n)) return [];
  const s = await ctx.settlement(intervalId);
  const out: EscrowEntry[] = [];
  const deliveredIds = new Set<bigint>();
  for (const o of orders) {
    const ob = s.obligations.find((x) => x.trader === o.trader && x.commitment === o.commitment);
    const d = ob?.delivery;
    if (d == null) continue;
    if (d.deliveredWh > 0n) deliveredIds.add(kwhTokenId(d.zone, intervalId));
    out.push({
      kind: d.defaulted ? "default" : "deliver",
      trader: d.seller,
      commitment: d.commitment,
      zone: d.zone,
      filledWh: d.filledWh,
      Wh: d.deliveredWh,
      price: d.price,
      paid: d.payment,
      bondReturned: d.bondReturned,
      slashed: d.slashed,
      txHash: d.txHash,
      block: d.blockNumber,
    });
  }
  const collections = s.obligations
    .flatMap((o) => (o.collection === null ? [] : [o.collection]))
    .sort((x, y) => x.blockNumber - y.blockNumber);
  for (const c of collections) {
    for (const r of c.received) {
      if (!deliveredIds.has(r.id)) continue;
      out.push({
        kind: "collect",
        trader: c.buyer,
        commitment: c.commitment,
        zone: c.zone,
        filledWh: c.filledWh,
        Wh: r.wh,
        tokenId: r.id,
        receivedWh: c.receivedWh,
        price: c.price,
        paid: c.payment,
        compensation: c.compensation,
        refunded: c.refunded,
        txHash: c.txHash,
        block: c.blockNumber,
      });
    }
  }
  return out;
}

/*//////////////////////////////////////////////////////////////
                        DEALS AND RETIREMENTS
//////////////////////////////////////////////////////////////*/

async function dealsOf(ctx: Context, token: "kwh" | "rec", ids: Set<bigint>, makers?: Set<string>) {
  if (ids.size === 0) return [];
  const address = String((token === "kwh" ? ctx.system.kwh : ctx.system.rec).target).toLowerCase();
  return (await ctx.deals())
    .filter(
      (ev) =>
        ev.args.token.toLowerCase() === address &&
        ids.has(ev.args.id) &&
        (makers === undefined || makers.has(ev.args.maker)),
    )
    .map((ev): DealTrace => ({
      token,
      id: ev.args.id,
      amount: ev.args.amount,
      maker: ev.args.maker,
      taker: ev.args.taker,
      paymentToken: ev.args.paymentToken,
      payment: ev.args.payment,
      quoteHash: ev.args.quoteHash,
      ...ref(ev),
    }));
}

async function retirementsOf(ctx: Context, ids: Set<bigint>): Promise<RetirementTrace[]> {
  if (ids.size === 0) return [];
  const out: RetirementTrace[] = [];
  for (const r of await ctx.receipts()) {
    for (const line of r.lines) {
      if (!ids.has(line.id)) continue;
      out.push({
        receiptId: r.receiptId,
        certificateId: line.id,
        amount: line.wh,
        holder: r.holder,
        beneficiary: r.beneficiary,
        claimIssuer: r.claimIssuer,
        claimData: r.claimData,
        txHash: r.txHash,
        block: r.blockNumber,
      });
    }
  }
  return out;
}

function issueOf(ev: {
  args: { meter: string; id: bigint; intervalId: bigint; owner: string; wh: bigint };
  transactionHash: string;
  blockNumber: number;
}): CertificateIssue {
  const c = decodeCertificateId(ev.args.id);
  return {
    certificateId: ev.args.id,
    meter: c.meter,
    technology: c.technology,
    vintage: c.vintage,
    zone: c.zone,
    intervalId: ev.args.intervalId,
    amount: ev.args.wh,
    to: ev.args.owner,
    ...ref(ev),
  };
}

/*//////////////////////////////////////////////////////////////
                              ONE READING
//////////////////////////////////////////////////////////////*/

async function traceReadingIn(ctx: Context, meter: string, intervalId: bigint): Promise<ReadingTrace> {
  return ctx.once(`trace/${meter}/${intervalId}`, async () => {
    const { system } = ctx;
    const problems: string[] = [];
    const length = await ctx.intervalLength();
    const [m, root, claims, issued, relayer] = await Promise.all([
      system.registry.getMeter(meter),
      rootStage(ctx, intervalId),
      ctx.claimsOf(meter, intervalId),
      queryLogs(
        system.rec,
        system.rec.filters.CertificatesIssued(meter, undefined, intervalId),
        ctx.fromBlock,
        ctx.toBlock,
      ),
      fromRelayer(ctx, meter, intervalId),
    ]);
    const registration: MeterInfo | null =
      Number(m.status) === 0
        ? null
        : {
            owner: m.owner,
            zone: Number(m.zone),
            technology: TECHNOLOGIES[Number(m.technology)] ?? String(m.technology),
            status: STATUSES[Number(m.status)] ?? String(m.status),
            recEligible: m.recEligible,
          };
    if (registration === null) problems.push(`meter ${meter} is not registered in the MeterRegistry`);

    // Mints: the claim's KwhClaimed event (one at most: a leaf is used once).
    const mints: Mint[] = claims.map((ev) => ({
      tokenId: ev.args.id,
      zone: Number(decodeKwhTokenId(ev.args.id).zone),
      intervalId,
      amount: ev.args.exportWh,
      importWh: ev.args.importWh,
      to: ev.args.owner,
      ...ref(ev),
    }));
    const certificates = issued.sort(byPosition).map(issueOf);
    const claim = claims[0];

    // The leaf: the claimed Wh on chain, else the relayer's; its proof from the relayer, else the claim's calldata.
    const rp = "found" in relayer.proof ? relayer.proof.found : null;
    const rootStageView: RootStage = { ...root, relayerRoot: rp?.root ?? null };
    if (rp !== null && root.status !== "none" && rp.root !== root.root)
      problems.push(`the relayer's root ${rp.root} is not the root on chain ${root.root}`);
    let leaf: LeafStage;
    if (claim === undefined && rp === null) {
      leaf = {
        unavailable:
          ctx.relayerUrl === undefined
            ? "the leaf was not claimed on chain and no relayer API was given"
            : `the leaf was not claimed on chain and the relayer gives no proof (${"unavailable" in relayer.proof ? relayer.proof.unavailable : ""})`,
      };
    } else {
      const importWh = claim?.args.importWh ?? rp!.importWh;
      const exportWh = claim?.args.exportWh ?? rp!.exportWh;
      const relayerMatchesClaim =
        claim === undefined || rp === null
          ? null
          : rp.importWh === claim.args.importWh && rp.exportWh === claim.args.exportWh;
      if (relayerMatchesClaim === false)
        problems.push(
          `the relayer's leaf (import ${rp!.importWh} Wh, export ${rp!.exportWh} Wh) is not the claimed one (import ${importWh} Wh, export ${exportWh} Wh)`,
        );
      const hash = leafHash(meter, intervalId, importWh, exportWh);
      let proof: string[] = [];
      let proofSource: LeafFound["proofSource"] = null;
      let multiProof: LeafFound["multiProof"] = null;
      if (rp !== null && relayerMatchesClaim !== false) {
        proof = rp.proof;
        proofSource = "relayer";
      } else if (claim !== undefined) {
        const fromTx = await proofFromClaim(ctx, claim.transactionHash, meter, intervalId);
        if (fromTx !== null) {
          proof = fromTx.proof;
          multiProof = fromTx.multiProof;
          proofSource = "claim transaction";
        }
      }
      let verifies: boolean | null = null;
      if (proofSource !== null && root.status !== "none") {
        const value: LeafValue = [meter, intervalId, importWh, exportWh];
        verifies =
          multiProof === null
            ? StandardMerkleTree.verify(root.root, [...LEAF_ENCODING], value, proof)
            : multiProof.leaves.some((l) => l.meter === meter && l.importWh === importWh && l.exportWh === exportWh) &&
              StandardMerkleTree.verifyMultiProof(root.root, [...LEAF_ENCODING], {
                leaves: multiProof.leaves.map((l): LeafValue => [l.meter, intervalId, l.importWh, l.exportWh]),
                proof,
                proofFlags: multiProof.proofFlags,
              });
        if (!verifies) problems.push(`the ${proofSource}'s proof does not place the leaf under the root ${root.root}`);
      }
      leaf = {
        meter,
        intervalId,
        importWh,
        exportWh,
        source: claim !== undefined ? "claim" : "relayer",
        leafHash: hash,
        proof,
        proofSource,
        multiProof,
        verifiesAgainstRoot: verifies,
        claimed: claim !== undefined,
        relayerMatchesClaim,
      };
    }

    // The signed reading, checked again, and its delta against the leaf.
    let reading: ReadingStage;
    if ("unavailable" in relayer.reading) {
      reading = { source: ctx.relayerUrl ?? null, unavailable: relayer.reading.unavailable };
    } else {
      const domain = relayer.domain!;
      const { found, baseline, conflicts } = relayer.reading;
      const checked = checkReading(domain, found, meter);
      const base = baseline === null ? null : checkReading(domain, baseline, meter);
      const delta =
        base === null
          ? null
          : { importWh: found.importWhTotal - base.importWhTotal, exportWh: found.exportWhTotal - base.exportWhTotal };
      const leafWh = "unavailable" in leaf ? null : leaf;
      const matchesLeaf =
        leafWh === null
          ? null
          : delta !== null && delta.importWh === leafWh.importWh && delta.exportWh === leafWh.exportWh;
      if (!checked.signatureValid)
        problems.push(
          `the stored reading's signature recovers to ${checked.recoveredSigner ?? "nobody (malformed)"}, not the meter ${meter}`,
        );
      if (found.meter !== meter || found.intervalId !== intervalId)
        problems.push(`the relayer returned the reading of ${found.meter} in interval ${found.intervalId}`);
      if (base !== null && !base.signatureValid)
        problems.push(
          `the baseline reading's signature recovers to ${base.recoveredSigner ?? "nobody (malformed)"}, not the meter ${meter}`,
        );
      if (base !== null && (base.meter !== meter || base.intervalId >= intervalId))
        problems.push(`the relayer's baseline is ${base.meter}'s reading of interval ${base.intervalId}`);
      if (matchesLeaf === false)
        problems.push(
          delta === null
            ? "the relayer has no earlier reading of the meter: its store gives no delta for the leaf"
            : `the signed readings give import ${delta.importWh} Wh, export ${delta.exportWh} Wh; the leaf has import ${leafWh!.importWh} Wh, export ${leafWh!.exportWh} Wh`,
        );
      if (conflicts.length > 0)
        problems.push(`the relayer kept ${conflicts.length} conflicting signed reading(s) of this meter and interval`);
      reading = {
        source: ctx.relayerUrl!,
        ...checked,
        baseline: base,
        delta,
        matchesLeaf,
        conflicts: conflicts.map(({ via, receivedAt, ...r }) => ({
          ...checkReading(domain, r, meter),
          via,
          receivedAt,
        })),
      };
    }

    if (root.status !== "final" && claim !== undefined)
      problems.push(`the leaf was claimed but the root of interval ${intervalId} is ${root.status}`);
    for (const c of root.conflicts)
      problems.push(`relayer ${c.relayer} submitted a conflicting root ${c.root} (tx ${c.txHash})`);

    const orders = await sellOrdersOf(ctx, meter, intervalId);
    const escrow = await escrowOf(ctx, intervalId, orders);
    const owners = new Set([...mints.map((x) => x.to), ...certificates.map((x) => x.to)]);
    const deals = [
      ...(await dealsOf(ctx, "kwh", new Set(mints.filter((x) => x.amount > 0n).map((x) => x.tokenId)), owners)),
      ...(await dealsOf(ctx, "rec", new Set(certificates.map((x) => x.certificateId)), owners)),
    ].sort((x, y) => x.block - y.block);
    const retirements = await retirementsOf(ctx, new Set(certificates.map((x) => x.certificateId)));

    return {
      kind: "reading",
      meter,
      intervalId,
      interval: { start: iso(intervalStart(intervalId, length)), end: iso(intervalEnd(intervalId, length)) },
      asOfBlock: ctx.toBlock,
      registration,
      reading,
      leaf,
      root: rootStageView,
      mints,
      certificates,
      orders,
      escrow,
      deals,
      retirements,
      problems,
    };
  });
}

function parseIntervalId(value: bigint | number | string): bigint {
  return parseWhole(value, "--interval", 0n, UINT64_MAX);
}

/**
 * Traces one (meter, interval) reading through every stage: the relayer's signed reading (checked again), the leaf
 * and its proof against the root on chain, the committee's votes, the kWh and certificate mints, the meter's sell
 * orders and their settlement, deals and retirements of what it minted.
 */
export async function traceReading(
  system: System,
  q: { meter: string; intervalId: bigint | number | string } & TraceOptions,
): Promise<ReadingTrace> {
  const meter = parseAddress(q.meter, "--meter");
  const intervalId = parseIntervalId(q.intervalId);
  const ctx = await Context.open(system, q);
  return traceReadingIn(ctx, meter, intervalId);
}

/*//////////////////////////////////////////////////////////////
                              CERTIFICATES
//////////////////////////////////////////////////////////////*/

async function traceRecIn(ctx: Context, id: bigint, withReadings: boolean): Promise<RecTrace> {
  return ctx.once(`rec/${id}/${withReadings}`, async () => {
    const c = decodeCertificateId(id);
    const rec = ctx.system.rec;
    const issuedLogs = await queryLogs(rec, rec.filters.CertificatesIssued(c.meter, id), ctx.fromBlock, ctx.toBlock);
    const issued = issuedLogs.sort(byPosition).map(issueOf);
    const ids = new Set([id]);
    const retirements = await retirementsOf(ctx, ids);
    const deals = await dealsOf(ctx, "rec", ids);
    const issuedWh = sum(issued, (x) => x.amount);
    const retiredWh = sum(retirements, (x) => x.amount);
    const intervals = [...new Set(issued.map((x) => x.intervalId))];
    const traced = withReadings ? intervals.slice(0, ctx.maxReadings) : [];
    const readings: ReadingTrace[] = [];
    for (const i of traced) readings.push(await traceReadingIn(ctx, c.meter, i));
    return {
      kind: "rec",
      asOfBlock: ctx.toBlock,
      certificate: { id, ...c },
      issued,
      retirements,
      deals,
      totals: { issuedWh, retiredWh, outstandingWh: issuedWh - retiredWh },
      readings,
      readingsOmitted: intervals.length - traced.length,
    };
  });
}

/**
 * Traces a certificate class back to the claims that issued it (and their readings) and forward to its deals and
 * retirements. A class is a meter's generation of one vintage month: its retirements are of the class, not of one
 * interval.
 */
export async function traceRec(system: System, recId: string | bigint, opts: TraceOptions): Promise<RecTrace> {
  const id = parseCertificateId(recId);
  const ctx = await Context.open(system, opts);
  return traceRecIn(ctx, id, true);
}

/*//////////////////////////////////////////////////////////////
                              TRANSACTIONS
//////////////////////////////////////////////////////////////*/

function plain(v: unknown): unknown {
  return Array.isArray(v) ? Array.from(v, plain) : v;
}

/**
 * Traces what a transaction touched: its system events decoded with the contracts' interfaces (by emitting
 * address), the (meter, interval) readings, orders and certificate classes they name, and the traces of those.
 */
export async function traceTx(system: System, hash: string, opts: TraceOptions): Promise<TxTrace> {
  const txHash = parseTxHash(hash);
  const ctx = await Context.open(system, opts);
  const provider = providerOf(system);
  const [tx, receipt] = await call(() =>
    Promise.all([provider.getTransaction(txHash), provider.getTransactionReceipt(txHash)]),
  );
  if (tx === null && receipt === null)
    throw new InputError(`unknown transaction ${txHash}: the network has no transaction with this hash`);
  if (receipt === null) throw new InputError(`transaction ${txHash} is not mined yet`);
  const contracts = await ctx.contracts();

  let callName: string | null = null;
  const target = receipt.to === null ? undefined : contracts.get(receipt.to.toLowerCase());
  if (target !== undefined && tx !== null) {
    try {
      const parsed = target.iface.parseTransaction({ data: tx.data, value: tx.value });
      if (parsed !== null) callName = `${target.name}.${parsed.name}`;
    } catch {
      // not one of the contract's functions
    }
  }

  const events: TxEvent[] = [];
  for (const log of receipt.logs) {
    const c = contracts.get(log.address.toLowerCase());
    if (c === undefined) continue;
    let parsed;
    try {
      parsed = c.iface.parseLog(log);
    } catch {
      parsed = null;
    }
    if (parsed == null) continue;
    const args: Record<string, unknown> = {};
    parsed.fragment.inputs.forEach((input, i) => (args[input.name || `arg${i}`] = plain(parsed.args[i])));
    events.push({ index: log.index, contract: c.name, name: parsed.name, args });
  }

  // What the events name.
  const readingKeys = new Map<string, { meter: string; intervalId: bigint }>();
  const addReading = (meter: string, intervalId: bigint) =>
    readingKeys.set(`${getAddress(meter)}/${intervalId}`, { meter: getAddress(meter), intervalId });
  const orderKeys = new Map<string, { intervalId: bigint; trader: string; commitment: string }>();
  const certs = new Set<bigint>();
  const intervals = new Set<bigint>();
  const kwhIds = new Set<bigint>();
  const hasEscrowEvent = events.some((e) => e.contract === "SettlementEscrow");
  for (const e of events) {
    const a = e.args as Record<string, never>;
    const key = `${e.contract}.${e.name}`;
    switch (key) {
      case "KwhToken.KwhClaimed":
      case "RecToken.CertificatesIssued":
        addReading(a.meter, a.intervalId);
        intervals.add(a.intervalId);
        break;
      case "ReadingOracle.RootSubmitted":
      case "ReadingOracle.RootFinalized":
      case "ReadingOracle.RootConflicted":
        intervals.add(a.intervalId);
        for (const ev of await ctx.claimsOf(undefined, a.intervalId)) addReading(ev.args.meter, a.intervalId);
        break;
      case "BatchAuction.OrderCommitted":
      case "BatchAuction.OrderRevealed":
      case "BatchAuction.CollateralWithdrawn":
      case "SettlementEscrow.SellerSettled":
      case "SettlementEscrow.BuyerCollected": {
        const trader = e.name === "SellerSettled" ? a.seller : e.name === "BuyerCollected" ? a.buyer : a.trader;
        intervals.add(a.intervalId);
        orderKeys.set(`${a.intervalId}/${trader}/${String(a.commitment).toLowerCase()}`, {
          intervalId: a.intervalId,
          trader: getAddress(trader),
          commitment: String(a.commitment).toLowerCase(),
        });
        break;
      }
      case "BatchAuction.AuctionCleared":
      case "BatchAuction.ZoneCleared":
      case "BatchAuction.BoundsSet":
      case "SettlementEscrow.CongestionRentPaid":
      case "SettlementEscrow.DustSwept":
        intervals.add(a.intervalId);
        break;
      case "RecToken.ClaimSingle":
        certs.add(a.id);
        break;
      case "RecToken.ClaimBatch":
        for (const id of a.ids as bigint[]) certs.add(id);
        break;
      case "DealDesk.DealFilled":
        if (String(a.token).toLowerCase() === String(system.rec.target).toLowerCase()) certs.add(a.id);
        else kwhIds.add(a.id);
        break;
      case "RecToken.TransferSingle":
      case "RecToken.TransferBatch":
      case "KwhToken.TransferSingle":
      case "KwhToken.TransferBatch": {
        // Mints and burns are the claims' and retirements' own events; escrow transfers are its settlements'.
        if (BigInt(a.from) === 0n || BigInt(a.to) === 0n) break;
        if (e.contract === "KwhToken" && hasEscrowEvent) break;
        const ids = e.name === "TransferSingle" ? [a.id as bigint] : (a.ids as bigint[]);
        for (const id of ids) (e.contract === "RecToken" ? certs : kwhIds).add(id);
        break;
      }
    }
  }

  // Orders: a seller's names its meter; a buyer's collection drew on its zones' sellers that delivered.
  const orders: OrderTrace[] = [];
  for (const k of orderKeys.values()) {
    const book = await ctx.book(k.intervalId);
    const o = book.orders.find((x) => x.trader === k.trader && x.commitment.toLowerCase() === k.commitment);
    if (o === undefined) continue; // committed, never revealed: nothing names a meter
    orders.push(await orderOf(ctx, book, o));
    if (o.side === "sell") addReading(o.meter, k.intervalId);
    else if (book.onChain !== null) {
      const s = await ctx.settlement(k.intervalId);
      const mine = s.obligations.find((x) => x.trader === o.trader && x.commitment === o.commitment);
      const zones = new Set((mine?.collection?.received ?? []).map((r) => r.zone));
      for (const seller of s.obligations) {
        if (seller.side !== "sell" || !zones.has(seller.zone) || (seller.delivery?.deliveredWh ?? 0n) === 0n) continue;
        const so = book.orders.find((x) => x.trader === seller.trader && x.commitment === seller.commitment);
        if (so !== undefined) addReading(so.meter, k.intervalId);
      }
    }
  }
  // kWh token ids moved outside a settlement: the claims that minted them.
  for (const id of kwhIds) {
    const { intervalId } = decodeKwhTokenId(id);
    intervals.add(intervalId);
    for (const ev of await ctx.claimsOf(undefined, intervalId))
      if (ev.args.id === id) addReading(ev.args.meter, intervalId);
  }

  const pairs = [...readingKeys.values()];
  const traced = pairs.slice(0, ctx.maxReadings);
  const readings: ReadingTrace[] = [];
  for (const p of traced) readings.push(await traceReadingIn(ctx, p.meter, p.intervalId));
  const certificates: RecTrace[] = [];
  for (const id of certs) {
    try {
      decodeCertificateId(id);
    } catch {
      continue;
    }
    certificates.push(await traceRecIn(ctx, id, true));
  }
  return {
    kind: "tx",
    asOfBlock: ctx.toBlock,
    tx: {
      hash: receipt.hash,
      block: receipt.blockNumber,
      from: receipt.from,
      to: receipt.to,
      call: callName,
      status: receipt.status === 1 ? "success" : "reverted",
      events,
    },
    touched: {
      readings: pairs,
      orders: [...orderKeys.values()],
      certificates: [...certs],
      intervals: [...intervals].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
    },
    orders,
    readings,
    readingsOmitted: pairs.length - traced.length,
    certificates,
  };
}
