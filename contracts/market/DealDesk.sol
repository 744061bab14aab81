// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDealDesk} from "../interfaces/IDealDesk.sol";

/// @title DealDesk
/// @notice Bilateral deals (RFQ) of kWh tokens and certificates against an ERC-20 (docs/deals.md): makers sign
/// EIP-712 quotes off chain (domain "Microgrid DealDesk", version 1), takers fill them on chain, paying the maker
/// and receiving the units in one transaction. The desk never holds tokens and has no function that moves anyone's
/// funds but `fill`, which only the taker calls, on terms the maker signed.
/// @dev A quote's fills and cancellation share one storage slot keyed by its EIP-712 digest, which binds the chain
/// and this contract. The fill is recorded before any token moves (checks-effects-interactions) and `fill` is
/// guarded against re-entry from the payment token or the taker's ERC-1155 receiver hook.
contract DealDesk is IDealDesk, AccessManaged, Pausable, ReentrancyGuardTransient, EIP712 {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                          CONSTANTS AND IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    /// @notice EIP-712 type hash of {IDealDesk.Quote}.
    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address maker,address token,uint256 id,uint256 amount,address paymentToken,uint256 price,"
        "uint64 expiry,uint256 nonce,bool allowPartial)"
    );
    /// @notice Units a quote's price is given for (1000 Wh: the price is per kWh).
    uint256 public constant PRICE_UNIT = 1000;

    /// @notice The KwhToken.
    IERC1155 public immutable kwh;
    /// @notice The RecToken.
    IERC1155 public immutable rec;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev One slot per quote. `filled` never exceeds the quote's amount; 248 bits hold any real supply (a larger
    /// fill reverts in SafeCast).
    struct QuoteState {
        uint248 filled;
        bool cancelled;
    }

    mapping(bytes32 quoteHash => QuoteState) private _quotes;
    mapping(address maker => uint256 minNonce) private _minNonces;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param authority The system's AccessManager (pause).
    /// @param kwh_ The KwhToken.
    /// @param rec_ The RecToken.
    constructor(
        address authority,
        IERC1155 kwh_,
        IERC1155 rec_
    ) AccessManaged(authority) EIP712("Microgrid DealDesk", "1") {
        if (address(kwh_) == address(0) || address(rec_) == address(0) || kwh_ == rec_) {
            revert DealDeskInvalidTokens(address(kwh_), address(rec_));
        }
        kwh = kwh_;
        rec = rec_;
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IDealDesk
    function fill(
        Quote calldata q,
        bytes calldata signature,
        uint256 amount
    ) external nonReentrant whenNotPaused returns (uint256 payment) {
        bytes32 hash = quoteHash(q);
        uint256 filled = _checkFill(q, hash, amount);
        if (!SignatureChecker.isValidSignatureNowCalldata(q.maker, hash, signature)) {
            revert DealDeskInvalidSignature(hash, q.maker);
        }

        // Cannot overflow: `_checkFill` ensured filled + amount <= q.amount.
        unchecked {
            _quotes[hash].filled = SafeCast.toUint248(filled + amount);
        }
        payment = Math.mulDiv(amount, q.price, PRICE_UNIT, Math.Rounding.Ceil);
        emit DealFilled(hash, q.maker, msg.sender, q.token, q.id, amount, q.paymentToken, payment);

        if (payment != 0) _pay(hash, IERC20(q.paymentToken), q.maker, payment);
        IERC1155(q.token).safeTransferFrom(q.maker, msg.sender, q.id, amount, "");
    }

    /// @inheritdoc IDealDesk
    function cancel(Quote calldata q) external {
        bytes32 hash = quoteHash(q);
        if (msg.sender != q.maker) revert DealDeskNotMaker(hash, q.maker, msg.sender);
        QuoteState storage s = _quotes[hash];
        if (s.cancelled) revert DealDeskAlreadyCancelled(hash);
        s.cancelled = true;
        emit QuoteCancelled(hash, q.maker, q.nonce, s.filled);
    }

    /// @inheritdoc IDealDesk
    function invalidateNoncesBelow(uint256 nonce) external {
        uint256 current = _minNonces[msg.sender];
        if (nonce <= current) revert DealDeskNonceNotIncreasing(msg.sender, nonce, current);
        _minNonces[msg.sender] = nonce;
        emit NoncesInvalidated(msg.sender, current, nonce);
    }

    /// @inheritdoc IDealDesk
    function pause() external restricted {
        _pause();
    }

    /// @inheritdoc IDealDesk
    function unpause() external restricted {
        _unpause();
    }

    /// @inheritdoc IDealDesk
    function filledOf(bytes32 quoteHash_) external view returns (uint256) {
        return _quotes[quoteHash_].filled;
    }

    /// @inheritdoc IDealDesk
    function remaining(Quote calldata q) external view returns (uint256) {
        QuoteState memory s = _quotes[quoteHash(q)];
        if (
            !_isSupported(q.token) ||
            s.cancelled ||
            q.nonce < _minNonces[q.maker] ||
            block.timestamp > q.expiry ||
            s.filled >= q.amount
        ) return 0;
        return q.amount - s.filled;
    }

    /// @inheritdoc IDealDesk
    function isCancelled(bytes32 quoteHash_) external view returns (bool) {
        return _quotes[quoteHash_].cancelled;
    }

    /// @inheritdoc IDealDesk
    function minNonceOf(address maker) external view returns (uint256) {
        return _minNonces[maker];
    }

    /// @notice The EIP-712 domain separator of this desk (chain id and address bound).
    /// @return The separator of the domain ("Microgrid DealDesk", "1", chain id, this desk).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IDealDesk
    function paymentFor(uint256 amount, uint256 price) external pure returns (uint256) {
        return Math.mulDiv(amount, price, PRICE_UNIT, Math.Rounding.Ceil);
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IDealDesk
    function quoteHash(Quote calldata q) public view returns (bytes32) {
        // Every member of Quote is static, so abi.encode lays the struct out word by word: the EIP-712 encoding.
        return _hashTypedDataV4(keccak256(abi.encode(QUOTE_TYPEHASH, q)));
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    /// @dev Every check of a fill but the signature; returns the units filled before.
    function _checkFill(Quote calldata q, bytes32 hash, uint256 amount) private view returns (uint256 filled) {
        if (!_isSupported(q.token)) revert DealDeskUnsupportedToken(hash, q.token);
        if (amount == 0) revert DealDeskZeroAmount(hash);
        if (block.timestamp > q.expiry) revert DealDeskQuoteExpired(hash, q.expiry, block.timestamp);
        uint256 minNonce = _minNonces[q.maker];
        if (q.nonce < minNonce) revert DealDeskNonceInvalidated(hash, q.maker, q.nonce, minNonce);
        QuoteState memory s = _quotes[hash];
        if (s.cancelled) revert DealDeskQuoteCancelled(hash);
        if (msg.sender == q.maker) revert DealDeskSelfFill(hash, q.maker);
        if (q.amount == 0) revert DealDeskEmptyQuote(hash);
        filled = s.filled;
        uint256 left = q.amount - filled;
        if (left == 0) revert DealDeskQuoteFullyFilled(hash, q.amount);
        if (amount > left) revert DealDeskAmountExceedsRemaining(hash, amount, left);
        if (!q.allowPartial && amount != q.amount) revert DealDeskPartialFillNotAllowed(hash, amount, q.amount);
    }

    /// @dev Moves `payment` from the sender to `maker` and checks that the maker received exactly that.
    function _pay(bytes32 hash, IERC20 token, address maker, uint256 payment) private {
        if (address(token).code.length == 0) revert DealDeskInvalidPaymentToken(hash, address(token));
        uint256 before = token.balanceOf(maker);
        token.safeTransferFrom(msg.sender, maker, payment);
        uint256 afterwards = token.balanceOf(maker);
        uint256 received = afterwards > before ? afterwards - before : 0;
        if (received != payment) revert DealDeskPaymentMismatch(address(token), payment, received);
    }

    function _isSupported(address token) private view returns (bool) {
        return token == address(kwh) || token == address(rec);
    }
}
