// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IDealDesk
/// @notice Bilateral deals (RFQ) of kWh tokens and renewable-energy certificates against an ERC-20 payment token
/// (docs/deals.md). A seller (the maker) signs an EIP-712 quote off chain; any taker fills it, wholly or (when the
/// quote allows) in parts, and in the same transaction pays the maker and receives the units. Makers cancel one
/// quote, or every quote below a nonce. Nothing is ever held by the desk.
interface IDealDesk {
    /// @notice A maker's signed offer to sell `amount` units of ERC-1155 `token` id `id` for `price` base units of
    /// `paymentToken` per 1000 units (per kWh for the 1-Wh units of both tokens), until `expiry` (inclusive).
    /// @param maker The seller; signs the quote (an EOA, or a contract wallet through ERC-1271).
    /// @param token The KwhToken or the RecToken.
    /// @param id The token id (a kWh token id or a certificate class id).
    /// @param amount Units offered in all (1 unit = 1 Wh).
    /// @param paymentToken The ERC-20 the taker pays in (no fee-on-transfer tokens).
    /// @param price Payment-token base units per 1000 units; a fill of `a` units pays ⌈a × price / 1000⌉.
    /// @param expiry Last Unix second at which the quote can be filled.
    /// @param nonce Any number; `invalidateNoncesBelow(n)` cancels every quote of the maker with a smaller nonce.
    /// @param allowPartial Whether takers may fill part of `amount`.
    /// @dev Never stored: it is calldata and an EIP-712 type, whose member order is the signed encoding.
    // solhint-disable-next-line gas-struct-packing
    struct Quote {
        address maker;
        address token;
        uint256 id;
        uint256 amount;
        address paymentToken;
        uint256 price;
        uint64 expiry;
        uint256 nonce;
        bool allowPartial;
    }

    /// @notice The two ERC-1155 tokens given at construction are zero or the same contract.
    /// @param kwh The KwhToken given.
    /// @param rec The RecToken given.
    error DealDeskInvalidTokens(address kwh, address rec);
    /// @notice The quote's token is neither the KwhToken nor the RecToken.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param token The quote's token.
    error DealDeskUnsupportedToken(bytes32 quoteHash, address token);
    /// @notice A fill of zero units.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    error DealDeskZeroAmount(bytes32 quoteHash);
    /// @notice The quote offers zero units.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    error DealDeskEmptyQuote(bytes32 quoteHash);
    /// @notice The quote expired: `expiry` is before the block time `timestamp`.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param expiry The quote's last Unix second.
    /// @param timestamp The block's timestamp.
    error DealDeskQuoteExpired(bytes32 quoteHash, uint64 expiry, uint256 timestamp);
    /// @notice The maker invalidated every nonce below `minNonce`, this quote's `nonce` among them.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param maker The quote's maker.
    /// @param nonce The quote's nonce.
    /// @param minNonce The maker's nonce floor.
    error DealDeskNonceInvalidated(bytes32 quoteHash, address maker, uint256 nonce, uint256 minNonce);
    /// @notice The maker cancelled the quote.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    error DealDeskQuoteCancelled(bytes32 quoteHash);
    /// @notice The maker cannot fill its own quote.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param maker The quote's maker, also the sender.
    error DealDeskSelfFill(bytes32 quoteHash, address maker);
    /// @notice The quote's `amount` units were all filled already.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param amount The quote's units, all filled.
    error DealDeskQuoteFullyFilled(bytes32 quoteHash, uint256 amount);
    /// @notice The fill asks for `amount` units; only `remaining` are left.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param amount Units the fill asked for.
    /// @param remaining Units left to fill.
    error DealDeskAmountExceedsRemaining(bytes32 quoteHash, uint256 amount, uint256 remaining);
    /// @notice The quote must be filled whole (`quoteAmount` units) at once; the fill asked for `amount`.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param amount Units the fill asked for.
    /// @param quoteAmount The quote's units.
    error DealDeskPartialFillNotAllowed(bytes32 quoteHash, uint256 amount, uint256 quoteAmount);
    /// @notice The signature was not made by `maker` over this quote in this desk's domain (nor accepted by the
    /// maker's ERC-1271 wallet).
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param maker The quote's maker.
    error DealDeskInvalidSignature(bytes32 quoteHash, address maker);
    /// @notice The payment token has no code.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param paymentToken The quote's payment token.
    error DealDeskInvalidPaymentToken(bytes32 quoteHash, address paymentToken);
    /// @notice The maker's payment-token balance grew by `received`, not the `sent` payment (fee-on-transfer and
    /// other balance-altering tokens are not supported).
    /// @param paymentToken The quote's payment token.
    /// @param sent Base units the taker paid.
    /// @param received Base units the maker's balance grew by.
    error DealDeskPaymentMismatch(address paymentToken, uint256 sent, uint256 received);
    /// @notice Only the quote's maker cancels it.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param maker The quote's maker.
    /// @param caller The sender.
    error DealDeskNotMaker(bytes32 quoteHash, address maker, address caller);
    /// @notice The quote was cancelled already.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    error DealDeskAlreadyCancelled(bytes32 quoteHash);
    /// @notice A nonce floor only rises: `nonce` is not above the maker's current `minNonce`.
    /// @param maker The sender.
    /// @param nonce The floor asked for.
    /// @param minNonce The current floor.
    error DealDeskNonceNotIncreasing(address maker, uint256 nonce, uint256 minNonce);

    /// @notice `taker` bought `amount` units of `token` id `id` from `maker` under quote `quoteHash` and paid
    /// `payment` base units of `paymentToken` (⌈amount × price / 1000⌉).
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param maker The seller.
    /// @param taker The buyer, the sender of the fill.
    /// @param token The KwhToken or the RecToken.
    /// @param id Token id sold.
    /// @param amount Units sold (1 unit = 1 Wh).
    /// @param paymentToken The ERC-20 paid in.
    /// @param payment Base units paid to the maker.
    event DealFilled(
        bytes32 indexed quoteHash,
        address indexed maker,
        address indexed taker,
        address token,
        uint256 id,
        uint256 amount,
        address paymentToken,
        uint256 payment
    );
    /// @notice The maker cancelled quote `quoteHash` (nonce `nonce`) after `filled` of its units were filled.
    /// @param quoteHash The quote's EIP-712 digest ({quoteHash}).
    /// @param maker The quote's maker.
    /// @param nonce The quote's nonce.
    /// @param filled Units filled before the cancellation.
    event QuoteCancelled(bytes32 indexed quoteHash, address indexed maker, uint256 nonce, uint256 filled);
    /// @notice Every quote of `maker` with a nonce below `minNonce` is cancelled (it was `previousMinNonce`).
    /// @param maker The maker.
    /// @param previousMinNonce The floor before.
    /// @param minNonce The new floor.
    event NoncesInvalidated(address indexed maker, uint256 previousMinNonce, uint256 minNonce);

    /// @notice Fills `amount` units of a signed quote: records the fill, then moves ⌈amount × price / 1000⌉ of the
    /// payment token from the sender to the maker (SafeERC20; the sender approved the desk) and the units from the
    /// maker to the sender (`safeTransferFrom`; the maker approved the desk with `setApprovalForAll`). Stops while
    /// the desk is paused. Token policies apply: a kWh token past its transfer window, or certificates while the
    /// RecToken is paused, cannot be sold.
    /// @param q The quote as signed.
    /// @param signature The maker's EIP-712 signature of `q` (65 bytes for an EOA; anything its ERC-1271 wallet
    /// accepts for a contract).
    /// @param amount Units to buy: at most what remains; the whole quote unless `q.allowPartial`.
    /// @return payment What the sender paid, payment-token base units.
    function fill(Quote calldata q, bytes calldata signature, uint256 amount) external returns (uint256 payment);

    /// @notice Cancels one quote of the sender's for good (also while the desk is paused).
    /// @param q The quote as signed.
    function cancel(Quote calldata q) external;

    /// @notice Cancels every quote of the sender's whose nonce is below `nonce` (also while the desk is paused).
    /// @param nonce The new floor, above the current one.
    function invalidateNoncesBelow(uint256 nonce) external;

    /// @notice Stops fills (governance; cancelling always works).
    function pause() external;

    /// @notice Resumes fills (governance).
    function unpause() external;

    /// @notice The EIP-712 digest of `q` in this desk's domain: what the maker signs and the key of its fills.
    /// @param q The quote.
    /// @return The digest.
    function quoteHash(Quote calldata q) external view returns (bytes32);

    /// @notice Units of quote `quoteHash_` filled so far.
    /// @param quoteHash_ The quote's EIP-712 digest.
    /// @return Units filled.
    function filledOf(bytes32 quoteHash_) external view returns (uint256);

    /// @notice Units of `q` a taker can still buy now: zero when the quote's token is not supported, the quote is
    /// cancelled, below its maker's nonce floor or expired; otherwise its amount minus what was filled. The
    /// signature, the maker's balance and approval and the token's own policies are not checked.
    /// @param q The quote.
    /// @return Units a taker can buy now.
    function remaining(Quote calldata q) external view returns (uint256);

    /// @notice Whether the maker cancelled quote `quoteHash_`.
    /// @param quoteHash_ The quote's EIP-712 digest.
    /// @return True once cancelled.
    function isCancelled(bytes32 quoteHash_) external view returns (bool);

    /// @notice The nonce below which every quote of `maker` is cancelled (zero at first).
    /// @param maker The maker.
    /// @return The nonce floor.
    function minNonceOf(address maker) external view returns (uint256);

    /// @notice ⌈amount × price / 1000⌉: what a fill of `amount` units at `price` per 1000 units pays.
    /// @param amount Units (1 unit = 1 Wh).
    /// @param price Payment-token base units per 1000 units.
    /// @return Payment-token base units, rounded up.
    function paymentFor(uint256 amount, uint256 price) external pure returns (uint256);
}
