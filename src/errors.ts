import { type Interface, isError } from "ethers";

/** Base of the project's errors: a short message a user can act on, details and the cause. */
export class MicrogridError extends Error {
  readonly details?: string;
  constructor(message: string, options?: { cause?: unknown; details?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
}

/** Bad input from a user or a file (a wrong address, an unreadable JSON file, a missing option). */
export class InputError extends MicrogridError {}

/** Something the chain refused: a revert with a decoded custom error where one was found. */
export class ChainError extends MicrogridError {
  readonly errorName?: string;
  readonly errorArgs?: Record<string, unknown>;
  constructor(message: string, options?: { cause?: unknown; errorName?: string; errorArgs?: Record<string, unknown> }) {
    super(message, options);
    this.errorName = options?.errorName;
    this.errorArgs = options?.errorArgs;
  }
}

/** What to do about each custom error, in a few words. */
const HINTS: Record<string, string> = {
  MeterRegistryInvalidMeter: "the meter key address is zero",
  MeterRegistryInvalidOwner: "the owner address is zero",
  MeterRegistryMeterExists: "this meter key is registered already (keys are never reused)",
  MeterRegistryUnknownMeter: "no meter is registered under this key",
  MeterRegistryMeterRevoked: "the meter was revoked",
  MeterRegistryInvalidZone: "zone ids start at 1",
  MeterRegistryUnknownZone: "configure the zone first (`meter zone`)",
  MeterRegistryZeroCapacity: "the rated capacity must be positive",
  MeterRegistryTechnologyNotRenewable: "only solar and wind meters can be REC-eligible",
  MeterRegistryInvalidAccreditation: "an eligible meter needs a future accreditation expiry, a non-eligible one none",
  MeterRegistryInvalidSignature: "the signature was not made by this meter's key in this registry's domain",
  ReadingOracleNotMember: "the sender is not a member of the oracle committee",
  ReadingOracleAlreadyVoted: "this relayer already voted for this interval",
  ReadingOracleIntervalFinal: "the interval's root is final and cannot change",
  ReadingOracleIntervalNotEnded: "the interval has not ended yet",
  ReadingOracleZeroRoot: "the root is zero",
  ReadingOracleEmptyTree: "the tree has no leaves",
  ReadingOracleMemberExists: "already a committee member",
  ReadingOracleInvalidMember: "the member address is zero",
  ReadingOracleCommitteeFull: "the committee has no free seat",
  ReadingOracleInvalidThreshold: "the threshold must be between 1 and the number of members",
  KwhTokenRootNotFinal: "the interval's root is not final yet: wait for the oracle quorum",
  KwhTokenInvalidProof: "the proof does not match the interval's final root",
  KwhTokenAlreadyClaimed: "this reading was claimed already",
  KwhTokenUnknownMeter: "the meter is not registered",
  KwhTokenMeterRevoked: "the meter was revoked before the interval ended",
  KwhTokenExceedsProvenExport: "the root's leaves add up to more than its exported total",
  KwhTokenTransferWindowClosed: "the interval's settlement window has closed",
  KwhTokenInvalidId: "not a kWh token id",
  KwhTokenEmptyClaim: "nothing to claim",
  KwhTokenRecTokenMismatch: "the RecToken was deployed for another KwhToken address: redeploy both in order",
  MeterRegistryNotAccredited: "the meter has no REC accreditation",
  MeterRegistryInvalidRevocationTime: "the revocation must take effect no later than now and before the expiry",
  RecTokenUnauthorizedIssuer: "certificates are issued only by KwhToken claims",
  RecTokenInvalidId: "not a certificate class id",
  RecTokenInvalidVintage: "the vintage must be a month as YYYYMM",
  MeterRegistryTechnologyLocked:
    "a meter that was ever accredited keeps its technology: register the installation under a new meter key",
  RecTokenZeroAmount: "retire at least 1 Wh",
  RecTokenInvalidBeneficiary: "the beneficiary address is zero",
  RecTokenEmptyRetirement: "no certificate classes to retire",
  ERC1155InsufficientBalance: "the holder has fewer units of this id than asked",
  ERC1155MissingApprovalForAll: "the holder has not approved this operator (setApprovalForAll)",
  ERC1155InvalidArrayLength: "ids and amounts differ in length",
  ERC1155InvalidReceiver: "the receiving contract does not accept ERC-1155 tokens",
  BatchAuctionWrongPhase:
    "the auction is not in the phase this call needs (0 Scheduled, 1 Commit, 2 Reveal, 3 Clearing, 4 Cleared): see `auction status`",
  BatchAuctionInvalidParams: "the market parameters are inconsistent (see the reason)",
  BatchAuctionCollateralBelowMinimum: "a commitment must lock at least the minimum deposit",
  BatchAuctionCommitmentExists: "this order and salt were committed already",
  BatchAuctionUnknownCommitment:
    "no commitment of the sender matches this order and salt (wrong file, account or interval?)",
  BatchAuctionAlreadyRevealed: "this commitment was revealed already",
  BatchAuctionFull:
    "the auction's book holds its maximum number of orders: withdraw the commitment after gate closure, without penalty",
  BatchAuctionStaleFeed: "a tariff price feed is stale or not positive: the auction cannot open until it is updated",
  BatchAuctionInvertedBounds: "the floor tariff feed reads above the ceiling feed",
  BatchAuctionInvalidPrice: "the limit price must be a multiple of the tick within the day's bounds",
  BatchAuctionZeroQuantity: "the quantity must be positive",
  BatchAuctionUnknownZone: "the zone is not configured in the registry (`meter zone`)",
  BatchAuctionInvalidSellerMeter: "a seller needs an active generating meter of its own in the order's zone",
  BatchAuctionQuantityAboveCapacity: "the meter's rated capacity cannot deliver that much in one interval",
  BatchAuctionInsufficientCollateral:
    "the committed collateral does not cover the order (buyers: quantity × price; sellers: the bond)",
  BatchAuctionBuyerMeter: "a buy order names no meter",
  BatchAuctionTooManyZones: "the auction's revealed orders span more zones than clearing handles",
  BatchAuctionAlreadyWithdrawn: "this commitment's collateral was withdrawn already",
  BatchAuctionCollateralLocked: "a filled order's collateral stays locked for settlement",
  BatchAuctionIntervalTooEarly: "the interval id is too small: its auction would open before 1970",
  EscrowWrongSide: "deliver and default settle sell orders, collect settles buy orders",
  EscrowRootNotFinal: "the interval's root is not final yet: wait for the oracle quorum (`oracle status`)",
  EscrowDeadlinePassed: "delivery closed at the settlement deadline: the order settles as a default (`settle deliver`)",
  EscrowDeadlineNotReached: "defaults are settled only from the settlement deadline",
  EscrowSellersPending: "buyers collect once every seller delivered or defaulted (`settle status`)",
  EscrowShortDeliveryNotBySeller:
    "only the seller delivers less than its fill before the deadline (or it claims its export first)",
  EscrowRentAlreadyPaid: "the congestion rent of this auction was paid already",
  EscrowNotSweepable: "dust is swept once, after every buyer collected and the rent was paid",
  EscrowLengthMismatch: "give one commitment per trader",
  EscrowZeroAddress: "give a non-zero address",
  DealDeskInvalidTokens: "the DealDesk needs two distinct token contracts (the KwhToken and the RecToken)",
  DealDeskUnsupportedToken: "quotes sell only the deployment's KwhToken or RecToken",
  DealDeskZeroAmount: "fill at least 1 unit",
  DealDeskEmptyQuote: "the quote offers nothing",
  DealDeskQuoteExpired: "the quote expired: ask the maker for a new one",
  DealDeskNonceInvalidated: "the maker cancelled every quote below its nonce floor",
  DealDeskQuoteCancelled: "the maker cancelled this quote",
  DealDeskSelfFill: "a maker cannot fill its own quote",
  DealDeskQuoteFullyFilled: "nothing of this quote is left",
  DealDeskAmountExceedsRemaining: "ask for at most what remains of the quote (`deal status`)",
  DealDeskPartialFillNotAllowed: "this quote is all-or-nothing: fill its whole amount",
  DealDeskInvalidSignature: "the signature is not the maker's over this quote on this desk and chain",
  DealDeskInvalidPaymentToken: "the quote's payment token is not a contract",
  DealDeskPaymentMismatch: "the payment token took a fee or altered balances: such tokens are not supported",
  DealDeskNotMaker: "only the quote's maker can cancel it",
  DealDeskAlreadyCancelled: "the quote was cancelled already",
  DealDeskNonceNotIncreasing: "the nonce floor only rises: give a nonce above the current one",
  ReentrancyGuardReentrantCall: "a re-entrant call was refused",
  ERC20InsufficientAllowance: "approve the spender for at least this amount first",
  ERC20InsufficientBalance: "the sender holds less of the token than the transfer needs",
  EnforcedPause: "the contract is paused",
  AccessManagedUnauthorized: "the sender lacks the role for this function",
};

function revertData(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e !== null && typeof e === "object"; depth++) {
    const o = e as Record<string, unknown>;
    if (typeof o.data === "string" && o.data.startsWith("0x") && o.data.length >= 10) return o.data;
    if (o.data !== null && typeof o.data === "object") {
      const inner = (o.data as Record<string, unknown>).data;
      if (typeof inner === "string" && inner.startsWith("0x")) return inner;
    }
    e = o.error ?? o.info ?? o.cause;
  }
  return undefined;
}

function formatArg(v: unknown): string {
  return typeof v === "bigint" ? v.toString() : String(v);
}

/**
 * Turns anything a contract call can throw into one ChainError with a one-line message: the decoded custom
 * error with its arguments and a hint, or the reason ethers gives.
 */
export function toChainError(err: unknown, interfaces: Interface[]): ChainError {
  if (err instanceof ChainError) return err;
  const data = revertData(err);
  if (data !== undefined) {
    for (const iface of interfaces) {
      let parsed;
      try {
        parsed = iface.parseError(data);
      } catch {
        parsed = null;
      }
      if (parsed === null) continue;
      const args: Record<string, unknown> = {};
      parsed.fragment.inputs.forEach((input, i) => (args[input.name || `arg${i}`] = parsed.args[i]));
      const argText = Object.entries(args)
        .map(([k, v]) => `${k}=${formatArg(v)}`)
        .join(", ");
      const hint = HINTS[parsed.name];
      return new ChainError(`${parsed.name}(${argText})${hint ? `: ${hint}` : ""}`, {
        cause: err,
        errorName: parsed.name,
        errorArgs: args,
      });
    }
    return new ChainError(`transaction reverted with unknown error data ${data.slice(0, 74)}`, { cause: err });
  }
  const message = (err as { shortMessage?: string; message?: string })?.shortMessage ?? (err as Error)?.message;
  const firstLine = (message ?? String(err)).split("\n")[0];
  if (isError(err, "NETWORK_ERROR") || /ECONNREFUSED|fetch failed|Cannot connect to the network/.test(firstLine)) {
    return new ChainError(
      `${firstLine.replace(/\.$/, "")}: is the JSON-RPC node running (\`npx hardhat node\` for localhost)?`,
      {
        cause: err,
      },
    );
  }
  return new ChainError(firstLine, { cause: err });
}
