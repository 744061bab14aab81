import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { getAddress, isAddress, TypedDataEncoder, type Signer, type TypedDataDomain } from "ethers";
import { MockStablecoin__factory } from "../../types/ethers-contracts/index.js";
import { decodeCertificateId } from "../certificates.js";
import type { Deployment, System } from "../deploy.js";
import { InputError, MicrogridError } from "../errors.js";
import { decodeKwhTokenId } from "../intervals.js";
import { parseWhole } from "./auction.js";
import { formatCertificateId } from "./rec.js";
import { send, call, providerOf } from "./chain.js";

/*//////////////////////////////////////////////////////////////
                          QUOTES AND THEIR FILES
//////////////////////////////////////////////////////////////*/

/** The DealDesk's EIP-712 domain name and version (see `DealDesk.sol`). */
export const DEAL_DOMAIN = { name: "Microgrid DealDesk", version: "1" } as const;

/** The EIP-712 type of a quote, as the desk hashes it. */
export const QUOTE_TYPES = {
  Quote: [
    { name: "maker", type: "address" },
    { name: "token", type: "address" },
    { name: "id", type: "uint256" },
    { name: "amount", type: "uint256" },
    { name: "paymentToken", type: "address" },
    { name: "price", type: "uint256" },
    { name: "expiry", type: "uint64" },
    { name: "nonce", type: "uint256" },
    { name: "allowPartial", type: "bool" },
  ],
};

/** The two tokens a quote may sell. */
export const DEAL_TOKENS = ["kwh", "rec"] as const;
export type DealTokenName = (typeof DEAL_TOKENS)[number];

/** A quote as the desk takes it. */
export interface Quote {
  maker: string;
  token: string;
  id: bigint;
  amount: bigint;
  paymentToken: string;
  price: bigint;
  expiry: bigint;
  nonce: bigint;
  allowPartial: boolean;
}

/** What `signQuote` writes and the other operations read: the quote, its signature and where it is valid. */
export interface QuoteFile {
  version: 1;
  chainId: string;
  desk: string;
  tokenName: DealTokenName;
  quote: {
    maker: string;
    token: string;
    id: string;
    amount: string;
    paymentToken: string;
    price: string;
    expiry: string;
    nonce: string;
    allowPartial: boolean;
  };
  signature: string;
  quoteHash: string;
}

const MAX_U256 = (1n << 256n) - 1n;
const MAX_U64 = (1n << 64n) - 1n;
/** `--expiry` values below this are seconds from now; larger ones are Unix times (this is 2001-09-09). */
export const EXPIRY_TIMESTAMP_FROM = 1_000_000_000n;

/** ⌈amount × price / 1000⌉: what a fill of `amount` units pays at `price` per 1000 units (the desk's rounding). */
export function dealPayment(amount: bigint, price: bigint): bigint {
  return (amount * price + 999n) / 1000n;
}

/** The EIP-712 domain of the desk at `desk` on `chainId`. */
export function dealDomain(chainId: bigint | string, desk: string): TypedDataDomain {
  return { ...DEAL_DOMAIN, chainId: BigInt(chainId), verifyingContract: getAddress(desk) };
}

/** The quote hash (EIP-712 digest) the desk computes, off chain. */
export function hashQuote(domain: TypedDataDomain, q: Quote): string {
  return TypedDataEncoder.hash(domain, QUOTE_TYPES, q);
}

/** Signs a quote with the maker's key (EIP-712 `eth_signTypedData_v4`). */
export async function signQuoteTypedData(signer: Signer, domain: TypedDataDomain, q: Quote): Promise<string> {
  return signer.signTypedData(domain, QUOTE_TYPES, q);
}

export function parseDealToken(value: string): DealTokenName {
  const t = value.trim().toLowerCase();
  if (t !== "kwh" && t !== "rec") throw new InputError(`token "${value}" must be kwh or rec`);
  return t;
}

/**
 * `--expiry`: below 1,000,000,000 a number of seconds from `now`, otherwise a Unix time; either way after `now`.
 */
export function parseExpiry(value: string | number | bigint, now: bigint): bigint {
  const n = parseWhole(value, "--expiry (seconds from now, or a Unix time)", 1n, MAX_U64);
  const expiry = n < EXPIRY_TIMESTAMP_FROM ? now + n : n;
  if (expiry <= now) throw new InputError(`expiry ${expiry} is not after the chain's time ${now}`);
  if (expiry > MAX_U64) throw new InputError(`expiry ${expiry} is too large (at most ${MAX_U64})`);
  return expiry;
}

function quoteOfFile(f: QuoteFile): Quote {
  const q = f.quote;
  return {
    maker: getAddress(q.maker),
    token: getAddress(q.token),
    id: BigInt(q.id),
    amount: BigInt(q.amount),
    paymentToken: getAddress(q.paymentToken),
    price: BigInt(q.price),
    expiry: BigInt(q.expiry),
    nonce: BigInt(q.nonce),
    allowPartial: q.allowPartial,
  };
}

const isWhole = (v: unknown) => typeof v === "string" && /^\d+$/.test(v) && BigInt(v) <= MAX_U256;
const isAddr = (v: unknown) => typeof v === "string" && isAddress(v);

/** Reads and checks a quote file written by `signQuote`; returns it and its quote. */
export function readQuoteFile(path: string): { file: QuoteFile; quote: Quote } {
  if (path === "") throw new InputError("give --quote <quote file written by `deal quote`>");
  if (!existsSync(path)) throw new InputError(`quote file ${path} does not exist`);
  let raw: QuoteFile;
  try {
    raw = JSON.parse(readFileSync(path, "utf8")) as QuoteFile;
  } catch (e) {
    throw new InputError(`cannot read quote file ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  const q = raw?.quote;
  const ok =
    raw !== null &&
    typeof raw === "object" &&
    raw.version === 1 &&
    isWhole(raw.chainId) &&
    isAddr(raw.desk) &&
    (raw.tokenName === "kwh" || raw.tokenName === "rec") &&
    q !== null &&
    typeof q === "object" &&
    isAddr(q.maker) &&
    isAddr(q.token) &&
    isAddr(q.paymentToken) &&
    [q.id, q.amount, q.price, q.expiry, q.nonce].every(isWhole) &&
    BigInt(q.expiry) <= MAX_U64 &&
    typeof q.allowPartial === "boolean" &&
    typeof raw.signature === "string" &&
    /^0x([0-9a-fA-F]{2})+$/.test(raw.signature) &&
    typeof raw.quoteHash === "string" &&
    /^0x[0-9a-fA-F]{64}$/.test(raw.quoteHash);
  if (!ok) throw new InputError(`${path} is not a quote file written by \`deal quote\``);
  const quote = quoteOfFile(raw);
  const hash = hashQuote(dealDomain(raw.chainId, raw.desk), quote);
  if (hash !== raw.quoteHash.toLowerCase())
    throw new InputError(`${path} is inconsistent: its quote hashes to ${hash}, not ${raw.quoteHash}`);
  return { file: raw, quote };
}

/*//////////////////////////////////////////////////////////////
                                HELPERS
//////////////////////////////////////////////////////////////*/

/** Throws an InputError when the deployment predates the DealDesk. */
export function requireDesk(deployment: Deployment): string {
  const desk = deployment.contracts.DealDesk;
  if (desk === undefined)
    throw new InputError(
      `the ${deployment.network} deployment has no DealDesk: redeploy (\`npx hardhat deploy --network ${deployment.network}\`)`,
    );
  return desk.address;
}

async function chainTime(system: System): Promise<bigint> {
  const block = await call(() => providerOf(system).getBlock("latest"));
  return BigInt(block?.timestamp ?? 0);
}

function iso(unix: bigint): string {
  return new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z");
}

/** A token id as the tasks print it: decimal for kWh tokens, 0x hex for certificate classes. */
export function formatDealId(tokenName: DealTokenName, id: bigint): string {
  return tokenName === "kwh" ? id.toString() : formatCertificateId(id);
}

/** Checks the file is for this chain and this deployment's desk. */
async function checkFileTarget(system: System, deployment: Deployment, path: string, f: QuoteFile): Promise<void> {
  const desk = requireDesk(deployment);
  const network = await call(() => providerOf(system).getNetwork());
  if (f.chainId !== network.chainId.toString())
    throw new InputError(`${path} is for chain ${f.chainId}, this network is chain ${network.chainId}`);
  if (getAddress(f.desk) !== getAddress(desk))
    throw new InputError(`${path} is for the DealDesk at ${getAddress(f.desk)}, this deployment's is ${desk}`);
}

/*//////////////////////////////////////////////////////////////
                                 QUOTE
//////////////////////////////////////////////////////////////*/

export interface QuoteInput {
  token: string;
  id: bigint | number | string;
  /** Units (Wh) offered. */
  amount: bigint | number | string;
  /** Payment-token base units per 1000 units (per kWh). */
  price: bigint | number | string;
  /** Seconds from now (below 1,000,000,000) or a Unix time. */
  expiry: bigint | number | string;
  allowPartial?: boolean;
  /** Default: the maker's nonce floor (so `deal cancel --below-nonce <floor + 1>` cancels every open quote). */
  nonce?: bigint | number | string;
  /** Default: the deployment's payment token. */
  paymentToken?: string;
  /** Where to write the quote (default: `deals/<network>/<quote hash prefix>.json`). */
  out?: string;
  /** Names the default folder (default: the chain id). */
  network?: string;
}

export interface Quoted {
  file: string;
  quoteHash: string;
  quote: Quote;
  tokenName: DealTokenName;
  signature: string;
  /** Payment for the whole amount, base units. */
  payment: bigint;
  /** The `setApprovalForAll(desk, true)` sent first, if the maker had not approved the desk. */
  approvalTx: string | null;
  /** kWh tokens only: when the interval's tokens stop being transferable (fills fail from then on). */
  transferableUntil: bigint | null;
}

/**
 * Checks a quote (token and id, the maker's balance, the kWh transfer window, expiry, nonce), approves the desk
 * for the maker's tokens if needed, signs the quote and writes it with its signature to a new file.
 */
export async function signQuote(
  system: System,
  deployment: Deployment,
  signer: Signer,
  input: QuoteInput,
): Promise<Quoted> {
  const deskAddress = requireDesk(deployment);
  const tokenName = parseDealToken(input.token);
  const id = parseWhole(input.id, "--id", 0n, MAX_U256);
  const amount = parseWhole(input.amount, "--amount (units, Wh)", 1n, MAX_U256);
  const price = parseWhole(input.price, "--price (base units per 1000 units)", 1n, MAX_U256);
  const maker = await signer.getAddress();
  const now = await chainTime(system);
  const expiry = parseExpiry(input.expiry, now);
  const token = tokenName === "kwh" ? system.kwh : system.rec;
  const tokenAddress = await token.getAddress();

  let transferableUntil: bigint | null = null;
  if (tokenName === "kwh") {
    const { zone } = decodeKwhTokenId(id);
    if (zone === 0n || id >> 96n !== 0n) throw new InputError(`${id} is not a kWh token id (zone << 64 | interval)`);
    transferableUntil = await call(() => system.kwh.transferableUntil(id));
    if (transferableUntil <= now)
      throw new InputError(
        `kWh token ${id} stopped being transferable at ${iso(transferableUntil)}: it can no longer be sold`,
      );
  } else {
    try {
      decodeCertificateId(id);
    } catch {
      throw new InputError(`${formatCertificateId(id)} is not a certificate class id`);
    }
  }
  const paymentToken =
    input.paymentToken === undefined || input.paymentToken === ""
      ? deployment.market?.paymentToken
      : input.paymentToken;
  if (paymentToken === undefined || !isAddress(paymentToken))
    throw new InputError(`payment token "${paymentToken ?? ""}" is not an address`);
  const floor = await call(() => system.desk.minNonceOf(maker));
  const nonce =
    input.nonce === undefined || input.nonce === "" ? floor : parseWhole(input.nonce, "--nonce", 0n, MAX_U256);
  if (nonce < floor)
    throw new InputError(`nonce ${nonce} is below ${maker}'s nonce floor ${floor}: the quote would be cancelled`);
  const balance = await call(() => token.balanceOf(maker, id));
  if (balance < amount)
    throw new InputError(
      `${maker} holds ${balance} units of ${tokenName} ${formatDealId(tokenName, id)}, less than the ${amount} quoted`,
    );

  const quote: Quote = {
    maker,
    token: tokenAddress,
    id,
    amount,
    paymentToken: getAddress(paymentToken),
    price,
    expiry,
    nonce,
    allowPartial: input.allowPartial ?? false,
  };
  const network = await call(() => providerOf(system).getNetwork());
  const domain = dealDomain(network.chainId, deskAddress);
  const quoteHash = hashQuote(domain, quote);
  const onChainHash = await call(() => system.desk.quoteHash(quote));
  if (onChainHash !== quoteHash)
    throw new MicrogridError(`the desk hashes the quote to ${onChainHash}, not ${quoteHash}: wrong domain?`);
  const file =
    input.out !== undefined && input.out !== ""
      ? input.out
      : join("deals", input.network ?? network.chainId.toString(), `${quoteHash.slice(0, 18)}.json`);
  if (existsSync(file))
    throw new InputError(
      `${file} exists already${input.out ? "" : ": an identical quote was signed before, give another --nonce"}`,
    );

  let approvalTx: string | null = null;
  if (!(await call(() => token.isApprovedForAll(maker, deskAddress))))
    approvalTx = await send(() => token.connect(signer).setApprovalForAll(deskAddress, true));

  const signature = await call(() => signQuoteTypedData(signer, domain, quote));
  const record: QuoteFile = {
    version: 1,
    chainId: network.chainId.toString(),
    desk: deskAddress,
    tokenName,
    quote: {
      maker,
      token: tokenAddress,
      id: id.toString(),
      amount: amount.toString(),
      paymentToken: quote.paymentToken,
      price: price.toString(),
      expiry: expiry.toString(),
      nonce: nonce.toString(),
      allowPartial: quote.allowPartial,
    },
    signature,
    quoteHash,
  };
  mkdirSync(dirname(file) || ".", { recursive: true });
  try {
    writeFileSync(file, JSON.stringify(record, null, 2) + "\n", { flag: "wx" });
  } catch (e) {
    throw new InputError(`cannot write ${file}: ${(e as Error).message}`);
  }
  return {
    file,
    quoteHash,
    quote,
    tokenName,
    signature,
    payment: dealPayment(amount, price),
    approvalTx,
    transferableUntil,
  };
}

/*//////////////////////////////////////////////////////////////
                                 STATUS
//////////////////////////////////////////////////////////////*/

export interface QuoteStatus {
  quoteHash: string;
  tokenName: DealTokenName;
  quote: Quote;
  filled: bigint;
  /** Units a taker can buy now (zero when cancelled, below the nonce floor or expired). */
  remaining: bigint;
  cancelled: boolean;
  expired: boolean;
  nonceInvalidated: boolean;
  minNonce: bigint;
  /** The chain's latest block time. */
  now: bigint;
}

/** A quote file's state on chain. */
export async function quoteStatus(system: System, deployment: Deployment, path: string): Promise<QuoteStatus> {
  const { file, quote } = readQuoteFile(path);
  await checkFileTarget(system, deployment, path, file);
  return statusOf(system, file, quote);
}

async function statusOf(system: System, file: QuoteFile, quote: Quote): Promise<QuoteStatus> {
  const [filled, remaining, cancelled, minNonce, now] = await Promise.all([
    call(() => system.desk.filledOf(file.quoteHash)),
    call(() => system.desk.remaining(quote)),
    call(() => system.desk.isCancelled(file.quoteHash)),
    call(() => system.desk.minNonceOf(quote.maker)),
    chainTime(system),
  ]);
  return {
    quoteHash: file.quoteHash,
    tokenName: file.tokenName,
    quote,
    filled,
    remaining,
    cancelled,
    expired: now > quote.expiry,
    nonceInvalidated: quote.nonce < minNonce,
    minNonce,
    now,
  };
}

/*//////////////////////////////////////////////////////////////
                                  FILL
//////////////////////////////////////////////////////////////*/

export interface Filled {
  quoteHash: string;
  tokenName: DealTokenName;
  quote: Quote;
  taker: string;
  amount: bigint;
  payment: bigint;
  /** Units left after this fill. */
  remaining: bigint;
  approveTx: string | null;
  txHash: string;
}

/**
 * Fills a quote file's quote as the signer: `amount` units (default: all that remains), after checking that it is
 * still open and the taker can pay; approves the payment for the desk first when the allowance falls short.
 */
export async function fillQuote(
  system: System,
  deployment: Deployment,
  signer: Signer,
  path: string,
  amountInput?: bigint | number | string,
): Promise<Filled> {
  const { file, quote } = readQuoteFile(path);
  await checkFileTarget(system, deployment, path, file);
  const s = await statusOf(system, file, quote);
  const { quoteHash } = s;
  const taker = await signer.getAddress();
  if (taker === quote.maker) throw new InputError(`${taker} made this quote: a maker cannot fill its own quote`);
  if (s.cancelled) throw new InputError(`quote ${quoteHash} was cancelled by its maker`);
  if (s.nonceInvalidated)
    throw new InputError(
      `quote ${quoteHash} was cancelled: its maker invalidated every nonce below ${s.minNonce} (the quote's is ${quote.nonce})`,
    );
  if (s.expired) throw new InputError(`quote ${quoteHash} expired at ${iso(quote.expiry)}`);
  if (s.remaining === 0n) throw new InputError(`quote ${quoteHash} is filled: all ${quote.amount} units were bought`);
  const amount =
    amountInput === undefined || amountInput === ""
      ? s.remaining
      : parseWhole(amountInput, "--amount (units, Wh)", 1n, MAX_U256);
  if (amount > s.remaining)
    throw new InputError(`only ${s.remaining} of the quote's ${quote.amount} units remain, not ${amount}`);
  if (!quote.allowPartial && amount !== quote.amount)
    throw new InputError(`the quote is all-or-nothing: fill its whole ${quote.amount} units (omit --amount)`);
  const payment = dealPayment(amount, quote.price);
  const deskAddress = await system.desk.getAddress();
  const token = MockStablecoin__factory.connect(quote.paymentToken, signer);
  const balance = await call(() => token.balanceOf(taker));
  if (balance < payment)
    throw new InputError(
      `${taker} holds ${balance} base units of the payment token ${quote.paymentToken}, less than the ${payment} to pay`,
    );
  let approveTx: string | null = null;
  const allowance = await call(() => token.allowance(taker, deskAddress));
  if (allowance < payment) {
    // Tokens like USDT refuse to change one non-zero allowance into another: reset it first.
    if (allowance !== 0n) await send(() => token.approve(deskAddress, 0n));
    approveTx = await send(() => token.approve(deskAddress, payment));
  }
  const txHash = await send(() => system.desk.connect(signer).fill(quote, file.signature, amount));
  return {
    quoteHash,
    tokenName: s.tokenName,
    quote,
    taker,
    amount,
    payment,
    remaining: s.remaining - amount,
    approveTx,
    txHash,
  };
}

/*//////////////////////////////////////////////////////////////
                                CANCEL
//////////////////////////////////////////////////////////////*/

/** Cancels a quote file's quote; only its maker may. */
export async function cancelQuote(
  system: System,
  deployment: Deployment,
  signer: Signer,
  path: string,
): Promise<{ quoteHash: string; filled: bigint; txHash: string }> {
  const { file, quote } = readQuoteFile(path);
  await checkFileTarget(system, deployment, path, file);
  const sender = await signer.getAddress();
  if (sender !== quote.maker)
    throw new InputError(`${path} was signed by ${quote.maker}: cancel with --from ${quote.maker}`);
  if (await call(() => system.desk.isCancelled(file.quoteHash)))
    throw new InputError(`quote ${file.quoteHash} was cancelled already`);
  const filled = await call(() => system.desk.filledOf(file.quoteHash));
  const txHash = await send(() => system.desk.connect(signer).cancel(quote));
  return { quoteHash: file.quoteHash, filled, txHash };
}

/** Cancels every quote of the signer's with a nonce below `below`. */
export async function invalidateNonces(
  system: System,
  deployment: Deployment,
  signer: Signer,
  below: bigint | number | string,
): Promise<{ maker: string; previous: bigint; minNonce: bigint; txHash: string }> {
  requireDesk(deployment);
  const minNonce = parseWhole(below, "--below-nonce", 1n, MAX_U256);
  const maker = await signer.getAddress();
  const previous = await call(() => system.desk.minNonceOf(maker));
  if (minNonce <= previous)
    throw new InputError(
      `--below-nonce ${minNonce} must be above ${maker}'s current nonce floor ${previous} (quotes below it are cancelled already)`,
    );
  const txHash = await send(() => system.desk.connect(signer).invalidateNoncesBelow(minNonce));
  return { maker, previous, minNonce, txHash };
}
