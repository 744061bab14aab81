import {
  type BytesLike,
  type Provider,
  type Signer,
  getBytes,
  hexlify,
  isHexString,
  toUtf8Bytes,
  toUtf8String,
} from "ethers";
import type {
  TypedContractEvent,
  TypedDeferredTopicFilter,
  TypedEventLog,
} from "../../types/ethers-contracts/common.js";
import { decodeCertificateId, type CertificateClass } from "../certificates.js";
import { SYSTEM_INTERFACES, type System } from "../deploy.js";
import { InputError, MicrogridError, toChainError } from "../errors.js";
import { intervalEnd } from "../intervals.js";
import { parseAddress } from "./meters.js";
import { providerOf } from "./chain.js";

/*//////////////////////////////////////////////////////////////
                         PARSING AND FORMATTING
//////////////////////////////////////////////////////////////*/

/** A certificate class id as `0x…` hex (the tables print ids so; decimal is accepted as well). */
export function formatCertificateId(id: bigint): string {
  return "0x" + id.toString(16);
}

/** A certificate class id from decimal or `0x` hex; an InputError names ids the RecToken would reject. */
export function parseCertificateId(value: string | bigint): bigint {
  let id: bigint;
  if (typeof value === "bigint") id = value;
  else {
    const v = value.trim();
    if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) {
      throw new InputError(`certificate id "${value}" is not a number (decimal or 0x hex)`);
    }
    id = BigInt(v);
  }
  try {
    decodeCertificateId(id);
  } catch {
    throw new InputError(
      `certificate id ${typeof value === "bigint" ? formatCertificateId(value) : `"${value}"`} is not a certificate class id`,
    );
  }
  return id;
}

function parseWh(value: string | number | bigint, id: bigint): bigint {
  let n: bigint;
  try {
    n = BigInt(typeof value === "string" ? value.trim() : value);
  } catch {
    throw new InputError(`amount "${value}" for certificate ${formatCertificateId(id)} is not a whole number of Wh`);
  }
  if (n <= 0n) throw new InputError(`amount ${n} Wh for certificate ${formatCertificateId(id)} must be positive`);
  return n;
}

/** A consumption period: a month `YYYY-MM`, a day `YYYY-MM-DD`, or an ISO 8601 range `start/end` of those. */
const PERIOD = /^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$/;

/**
 * Claim data of a retirement: `claimData` as given (`0x…` hex bytes, or text as UTF-8), or the UTF-8 JSON
 * `{"period", "location"}` of whichever of the two is given; empty when nothing is.
 */
export function encodeClaimData(input: { claimData?: string; period?: string; location?: string }): string {
  const { claimData = "", period = "", location = "" } = input;
  if (claimData !== "" && (period !== "" || location !== "")) {
    throw new InputError("give either --claim-data or --period/--location, not both");
  }
  if (claimData !== "") {
    if (/^0x/i.test(claimData)) {
      if (!isHexString(claimData) || claimData.length % 2 !== 0) {
        throw new InputError(`claim data "${claimData}" starts with 0x but is not whole hex bytes`);
      }
      return claimData.toLowerCase();
    }
    return hexlify(toUtf8Bytes(claimData));
  }
  if (period === "" && location === "") return "0x";
  if (period !== "" && !period.split("/").every((p) => PERIOD.test(p))) {
    throw new InputError(`period "${period}" must be YYYY-MM, YYYY-MM-DD or a range start/end of those`);
  }
  const json: { period?: string; location?: string } = {};
  if (period !== "") json.period = period;
  if (location !== "") json.location = location;
  return hexlify(toUtf8Bytes(JSON.stringify(json)));
}

/** Claim data as text when it is printable UTF-8, else as `0x…` hex. */
export function decodeClaimData(data: BytesLike): string {
  const bytes = getBytes(data);
  if (bytes.length === 0) return "";
  try {
    const text = toUtf8String(bytes);
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(text) && !/^0x/i.test(text)) return text;
  } catch {
    // not UTF-8
  }
  return hexlify(bytes);
}

/*//////////////////////////////////////////////////////////////
                                 LOGS
//////////////////////////////////////////////////////////////*/

/** Blocks per `eth_getLogs` call: public RPC endpoints cap the range (a refused range is halved). */
export const LOG_RANGE = 5_000;

interface LogSource<E extends TypedContractEvent> {
  queryFilter(filter: TypedDeferredTopicFilter<E>, fromBlock?: number, toBlock?: number): Promise<TypedEventLog<E>[]>;
}

/**
 * Every log of `filter` from `fromBlock` to `toBlock` (default: the latest block), `step` blocks per query; a range
 * the node refuses as too large is split in two, down to one block.
 */
export async function queryLogs<E extends TypedContractEvent>(
  contract: LogSource<E>,
  filter: TypedDeferredTopicFilter<E>,
  fromBlock: number,
  toBlock: number,
  step = LOG_RANGE,
): Promise<TypedEventLog<E>[]> {
  const out: TypedEventLog<E>[] = [];
  const query = async (from: number, to: number): Promise<void> => {
    try {
      out.push(...(await contract.queryFilter(filter, from, to)));
    } catch (e) {
      const message = String((e as { shortMessage?: string })?.shortMessage ?? (e as Error)?.message ?? e);
      if (to <= from || !/range|limit|too (many|large)|exceed|10000|block/i.test(message)) throw e;
      const mid = from + Math.floor((to - from) / 2);
      await query(from, mid);
      await query(mid + 1, to);
    }
  };
  for (let from = fromBlock; from <= toBlock; from += step) await query(from, Math.min(toBlock, from + step - 1));
  return out;
}

/** Chain order of two logs. */
function byPosition(a: { blockNumber: number; index: number }, b: { blockNumber: number; index: number }): number {
  return a.blockNumber - b.blockNumber || a.index - b.index;
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function onChain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof MicrogridError ? e : toChainError(e, SYSTEM_INTERFACES);
  }
}

/** Block timestamps, each block fetched once. */
function timestamps(provider: Provider): (block: number) => Promise<number> {
  const cache = new Map<number, Promise<number>>();
  return (block) => {
    let t = cache.get(block);
    if (t === undefined) {
      t = provider.getBlock(block).then((b) => b?.timestamp ?? 0);
      cache.set(block, t);
    }
    return t;
  };
}

/*//////////////////////////////////////////////////////////////
                               HOLDINGS
//////////////////////////////////////////////////////////////*/

/** One certificate class an account holds or had retired for it. */
export interface RecHolding extends CertificateClass {
  id: bigint;
  /** Units (Wh) the account holds. */
  heldWh: bigint;
  /** Units (Wh) of this class retired with the account as beneficiary, ever (`claimedBalanceOf`). */
  retiredWh: bigint;
}

/**
 * Every certificate class `account` holds, or has had retired for it as beneficiary: ids found from the transfers
 * to it and the claims for it since `fromBlock`, then balances read from the chain. Sorted by id.
 */
export async function recHoldings(system: System, account: string, fromBlock = 0): Promise<RecHolding[]> {
  const who = parseAddress(account, "account");
  return onChain(async () => {
    const rec = system.rec;
    const toBlock = await providerOf(system).getBlockNumber();
    const ids = new Set<bigint>();
    for (const ev of await queryLogs(rec, rec.filters.TransferSingle(undefined, undefined, who), fromBlock, toBlock))
      ids.add(ev.args.id);
    for (const ev of await queryLogs(rec, rec.filters.TransferBatch(undefined, undefined, who), fromBlock, toBlock))
      for (const id of ev.args.ids) ids.add(id);
    for (const ev of await queryLogs(rec, rec.filters.ClaimSingle(undefined, undefined, who), fromBlock, toBlock))
      ids.add(ev.args.id);
    for (const ev of await queryLogs(rec, rec.filters.ClaimBatch(undefined, undefined, who), fromBlock, toBlock))
      for (const id of ev.args.ids) ids.add(id);
    const sorted = [...ids].sort(compareBigint);
    if (sorted.length === 0) return [];
    const held = await rec.balanceOfBatch(
      sorted.map(() => who),
      sorted,
    );
    const retired = await rec.claimedBalanceOfBatch(
      sorted.map(() => who),
      sorted,
    );
    const holdings: RecHolding[] = [];
    sorted.forEach((id, i) => {
      if (held[i] === 0n && retired[i] === 0n) return;
      holdings.push({ id, ...decodeCertificateId(id), heldWh: held[i], retiredWh: retired[i] });
    });
    return holdings;
  });
}

/*//////////////////////////////////////////////////////////////
                              RETIREMENT
//////////////////////////////////////////////////////////////*/

/** What {@link retireCertificates} retires: one class (`id`, `amount`) or several (`ids`, `amounts`). */
export type RetireInput = (
  | { id: bigint | string; amount: bigint | string | number; ids?: undefined; amounts?: undefined }
  | {
      ids: readonly (bigint | string)[];
      amounts: readonly (bigint | string | number)[];
      id?: undefined;
      amount?: undefined;
    }
) & {
  /** The account the renewable energy is claimed for. */
  beneficiary: string;
  /** Claim data bytes (see {@link encodeClaimData}); default empty. */
  claimData?: BytesLike;
  /** Whose certificates; default the signer. When it is another account the signer must be its approved operator. */
  holder?: string;
};

/** A retirement sent. */
export interface Retirement {
  receiptId: bigint;
  txHash: string;
  holder: string;
  beneficiary: string;
  ids: bigint[];
  amounts: bigint[];
}

/**
 * Retires certificates for a beneficiary: `retire` for one class, `retireBatch` for several (the `…From` variants
 * when `holder` is not the signer). Checks the input and the holder's balances first, so mistakes fail with a
 * one-line InputError before anything is sent. Returns the receipt id from the claim event.
 */
export async function retireCertificates(system: System, signer: Signer, input: RetireInput): Promise<Retirement> {
  const rawIds = input.ids ?? (input.id === undefined ? [] : [input.id]);
  const rawAmounts = input.amounts ?? (input.amount === undefined ? [] : [input.amount]);
  if (rawIds.length === 0) throw new InputError("give at least one certificate id to retire");
  if (rawIds.length !== rawAmounts.length) {
    throw new InputError(`give one amount per certificate id (ids: ${rawIds.length}, amounts: ${rawAmounts.length})`);
  }
  const ids = rawIds.map((v) => parseCertificateId(v));
  const amounts = rawAmounts.map((v, i) => parseWh(v, ids[i]));
  const seen = new Set<bigint>();
  for (const id of ids) {
    if (seen.has(id)) throw new InputError(`certificate ${formatCertificateId(id)} is given twice`);
    seen.add(id);
  }
  if (input.beneficiary === undefined || input.beneficiary === "") {
    throw new InputError("give a beneficiary (the account the renewable energy is claimed for)");
  }
  const beneficiary = parseAddress(input.beneficiary, "beneficiary");
  if (BigInt(beneficiary) === 0n) throw new InputError("the beneficiary must not be the zero address");
  const claimData = hexlify(input.claimData ?? "0x");
  const sender = await signer.getAddress();
  const holder = input.holder === undefined || input.holder === "" ? sender : parseAddress(input.holder, "holder");
  const rec = system.rec.connect(signer);

  return onChain(async () => {
    const balances = await rec.balanceOfBatch(
      ids.map(() => holder),
      ids,
    );
    ids.forEach((id, i) => {
      if (amounts[i] > balances[i]) {
        throw new InputError(
          `cannot retire ${amounts[i]} Wh of certificate ${formatCertificateId(id)}: holder ${holder} holds ${balances[i]} Wh`,
        );
      }
    });
    if (holder !== sender && !(await rec.isApprovedForAll(holder, sender))) {
      throw new InputError(
        `${sender} may not retire certificates of ${holder}: the holder has not approved it (setApprovalForAll)`,
      );
    }
    const tx =
      ids.length === 1
        ? holder === sender
          ? await rec.retire(ids[0], amounts[0], beneficiary, claimData)
          : await rec.retireFrom(holder, ids[0], amounts[0], beneficiary, claimData)
        : holder === sender
          ? await rec.retireBatch(ids, amounts, beneficiary, claimData)
          : await rec.retireBatchFrom(holder, ids, amounts, beneficiary, claimData);
    const receipt = await tx.wait();
    let receiptId: bigint | undefined;
    for (const log of receipt?.logs ?? []) {
      const parsed = rec.interface.parseLog(log);
      if (parsed?.name === "ClaimSingle" || parsed?.name === "ClaimBatch") receiptId = parsed.args.receiptId as bigint;
    }
    if (receiptId === undefined) throw new MicrogridError(`transaction ${tx.hash} emitted no claim event`);
    return { receiptId, txHash: tx.hash, holder, beneficiary, ids, amounts };
  });
}

/** One certificate class of a receipt. */
export interface ReceiptLine extends CertificateClass {
  id: bigint;
  wh: bigint;
}

/** A retirement receipt, rebuilt from its ClaimSingle or ClaimBatch event alone. */
export interface RetirementReceipt {
  receiptId: bigint;
  blockNumber: number;
  txHash: string;
  /** Block time, Unix seconds. */
  timestamp: number;
  claimIssuer: string;
  holder: string;
  beneficiary: string;
  lines: ReceiptLine[];
  totalWh: bigint;
  /** Printable UTF-8 text, else `0x…` hex (see {@link decodeClaimData}). */
  claimData: string;
  claimDataHex: string;
}

/** Every retirement receipt since `fromBlock` (optionally of one beneficiary and/or holder), by receipt id. */
export async function retirementReceipts(
  system: System,
  query: { fromBlock: number; toBlock?: number; beneficiary?: string; holder?: string },
): Promise<RetirementReceipt[]> {
  const beneficiary = query.beneficiary ? parseAddress(query.beneficiary, "beneficiary") : undefined;
  const holder = query.holder ? parseAddress(query.holder, "holder") : undefined;
  return onChain(async () => {
    const rec = system.rec;
    const provider = providerOf(system);
    const toBlock = query.toBlock ?? (await provider.getBlockNumber());
    const timeOf = timestamps(provider);
    const receipts: RetirementReceipt[] = [];
    const common = async (
      ev: { blockNumber: number; transactionHash: string },
      a: { claimIssuer: string; holder: string; beneficiary: string; receiptId: bigint; claimData: string },
      lines: ReceiptLine[],
    ) => {
      receipts.push({
        receiptId: a.receiptId,
        blockNumber: ev.blockNumber,
        txHash: ev.transactionHash,
        timestamp: await timeOf(ev.blockNumber),
        claimIssuer: a.claimIssuer,
        holder: a.holder,
        beneficiary: a.beneficiary,
        lines,
        totalWh: lines.reduce((s, l) => s + l.wh, 0n),
        claimData: decodeClaimData(a.claimData),
        claimDataHex: hexlify(a.claimData),
      });
    };
    const single = rec.filters.ClaimSingle(undefined, holder, beneficiary);
    for (const ev of await queryLogs(rec, single, query.fromBlock, toBlock)) {
      await common(ev, ev.args, [{ id: ev.args.id, ...decodeCertificateId(ev.args.id), wh: ev.args.amount }]);
    }
    const batch = rec.filters.ClaimBatch(undefined, holder, beneficiary);
    for (const ev of await queryLogs(rec, batch, query.fromBlock, toBlock)) {
      const amounts = ev.args.amounts;
      const lines = ev.args.ids.map((id, i) => ({ id, ...decodeCertificateId(id), wh: amounts[i] }));
      await common(ev, ev.args, lines);
    }
    return receipts.sort((x, y) => compareBigint(x.receiptId, y.receiptId));
  });
}

/*//////////////////////////////////////////////////////////////
                     ACCREDITATION AND ISSUANCE
//////////////////////////////////////////////////////////////*/

/** A revocation of a meter's REC accreditation. */
export interface Revocation {
  meter: string;
  issuer: string;
  /** Unix time the accreditation ended (intervals ending after it earn no certificates). */
  effectiveAt: bigint;
  /** The accreditation expiry the revocation replaced. */
  previousExpiry: bigint;
  blockNumber: number;
  txHash: string;
  timestamp: number;
}

/**
 * Ends `meter`'s REC accreditation at `effectiveAt` (Unix seconds, default: the latest block's time; may lie in the
 * past). Needs the ISSUER role. Certificates already issued stay valid.
 */
export async function revokeAccreditation(system: System, meter: string, effectiveAt?: bigint): Promise<Revocation> {
  const m = parseAddress(meter, "meter");
  if (effectiveAt !== undefined && effectiveAt < 0n)
    throw new InputError(`effective time ${effectiveAt} must not be negative`);
  return onChain(async () => {
    const provider = providerOf(system);
    const at = effectiveAt ?? BigInt((await provider.getBlock("latest"))?.timestamp ?? 0);
    const tx = await system.registry.revokeAccreditation(m, at);
    const receipt = await tx.wait();
    for (const log of receipt?.logs ?? []) {
      const parsed = system.registry.interface.parseLog(log);
      if (parsed?.name !== "AccreditationRevoked") continue;
      return {
        meter: parsed.args.meter as string,
        issuer: parsed.args.issuer as string,
        effectiveAt: parsed.args.effectiveAt as bigint,
        previousExpiry: parsed.args.previousExpiry as bigint,
        blockNumber: receipt!.blockNumber,
        txHash: tx.hash,
        timestamp: (await provider.getBlock(receipt!.blockNumber))?.timestamp ?? 0,
      };
    }
    throw new MicrogridError(`transaction ${tx.hash} emitted no AccreditationRevoked event`);
  });
}

/** One CertificatesIssued event, placed against the meter's accreditation revocations. */
export interface Issuance extends CertificateClass {
  id: bigint;
  intervalId: bigint;
  /** Unix time the interval ended. */
  intervalEnd: bigint;
  owner: string;
  wh: bigint;
  blockNumber: number;
  txHash: string;
  timestamp: number;
  /**
   * `after`: issued after a revocation of this meter (the latest such is `revocation`); `before`: issued before the
   * meter's first revocation; `none`: the meter has no revocation.
   */
  relativeToRevocation: "none" | "before" | "after";
  revocation: Revocation | null;
  /**
   * The interval ended after `revocation.effectiveAt`: for a `before` issuance, generation a retroactive revocation
   * has since excluded; for an `after` one, generation under a renewed accreditation.
   */
  generatedAfterEffectiveAt: boolean;
}

/**
 * Every certificate issuance since `fromBlock` (optionally of one meter) in chain order, each marked as before or
 * after its meter's AccreditationRevoked events, with those revocations.
 */
export async function issuance(
  system: System,
  query: { meter?: string; fromBlock: number; toBlock?: number },
): Promise<{ revocations: Revocation[]; issuances: Issuance[] }> {
  const meter = query.meter ? parseAddress(query.meter, "meter") : undefined;
  return onChain(async () => {
    const { rec, registry } = system;
    const provider = providerOf(system);
    const toBlock = query.toBlock ?? (await provider.getBlockNumber());
    const timeOf = timestamps(provider);
    const length = await registry.intervalLength();

    const revEvents = await queryLogs(registry, registry.filters.AccreditationRevoked(meter), query.fromBlock, toBlock);
    revEvents.sort(byPosition);
    const revocations: (Revocation & { index: number })[] = [];
    for (const ev of revEvents) {
      revocations.push({
        meter: ev.args.meter,
        issuer: ev.args.issuer,
        effectiveAt: ev.args.effectiveAt,
        previousExpiry: ev.args.previousExpiry,
        blockNumber: ev.blockNumber,
        txHash: ev.transactionHash,
        timestamp: await timeOf(ev.blockNumber),
        index: ev.index,
      });
    }
    const strip = ({ index: _index, ...r }: Revocation & { index: number }): Revocation => r;

    const issued = await queryLogs(rec, rec.filters.CertificatesIssued(meter), query.fromBlock, toBlock);
    issued.sort(byPosition);
    const issuances: Issuance[] = [];
    for (const ev of issued) {
      const own = revocations.filter((r) => r.meter === ev.args.meter);
      const preceding = own.filter((r) => byPosition(r, ev) < 0);
      const revocation = preceding.length > 0 ? preceding[preceding.length - 1] : own[0];
      const end = intervalEnd(ev.args.intervalId, length);
      issuances.push({
        id: ev.args.id,
        ...decodeCertificateId(ev.args.id),
        intervalId: ev.args.intervalId,
        intervalEnd: end,
        owner: ev.args.owner,
        wh: ev.args.wh,
        blockNumber: ev.blockNumber,
        txHash: ev.transactionHash,
        timestamp: await timeOf(ev.blockNumber),
        relativeToRevocation: revocation === undefined ? "none" : preceding.length > 0 ? "after" : "before",
        revocation: revocation === undefined ? null : strip(revocation),
        generatedAfterEffectiveAt: revocation !== undefined && end > revocation.effectiveAt,
      });
    }
    return { revocations: revocations.map(strip), issuances };
  });
}
