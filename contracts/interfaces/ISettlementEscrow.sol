// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ISettlementEscrow
/// @notice Delivery-versus-payment settlement of cleared BatchAuction orders (docs/settlement.md): sellers are paid
/// only for kWh tokens of their zone and interval that they hand over; buyers receive the delivered energy
/// pro-rata, pay only for it and are compensated from defaulting sellers' bonds; the congestion rent goes to the
/// grid operator and rounding dust to a named account.
interface ISettlementEscrow {
    /// @notice An auction's settlement so far.
    /// @param processedSoldWh Sold energy whose seller settled (delivered or defaulted).
    /// @param deliveredWh Energy handed over by sellers.
    /// @param collectedBoughtWh Bought energy whose buyer collected.
    /// @param rentPaid Whether the congestion rent went to the grid operator.
    /// @param swept Whether the rounding dust went to the dust account.
    struct AuctionBook {
        uint64 processedSoldWh;
        uint64 deliveredWh;
        uint64 collectedBoughtWh;
        bool rentPaid;
        bool swept;
    }

    /// @notice One zone's settlement in an auction.
    /// @param deliveredWh Energy its sellers handed over.
    /// @param processedWh Sold energy whose seller settled.
    /// @param slashed Its sellers' slashed bonds, base units.
    /// @param collectedWh Bought energy whose buyer collected: the next buyer's position in the zone's pools.
    struct ZoneBook {
        uint64 deliveredWh;
        uint64 processedWh;
        uint128 slashed;
        uint64 collectedWh;
    }

    /// @notice What a filled buyer receives on collecting.
    /// @param ids kWh token ids (its zone's and, for an importing zone, the exporting zones').
    /// @param amounts Wh of each id.
    /// @param payment What the buyer pays for the kWh tokens it receives, at its zone price (rounded up), base units.
    /// @param compensation Its share of the defaulting sellers' slashed bonds, base units.
    /// @param receivedWh The Wh of all `amounts` together (at most the buyer's fill).
    struct BuyerShare {
        uint256[] ids;
        uint256[] amounts;
        uint256 payment;
        uint256 compensation;
        uint256 receivedWh;
    }

    /// @notice The order is not a seller's (deliver, default) or not a buyer's (collect).
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The order's commitment.
    error EscrowWrongSide(uint64 intervalId, bytes32 commitment);
    /// @notice The interval's root is not final yet: no kWh tokens exist to deliver or collect.
    /// @param intervalId The delivery interval (its ReadingOracle root).
    error EscrowRootNotFinal(uint64 intervalId);
    /// @notice Delivery closed at the settlement deadline; undelivered obligations default.
    /// @param intervalId The auction's delivery interval.
    /// @param deadline Its settlement deadline, Unix seconds.
    error EscrowDeadlinePassed(uint64 intervalId, uint64 deadline);
    /// @notice Defaults are settled only from the settlement deadline.
    /// @param intervalId The auction's delivery interval.
    /// @param deadline Its settlement deadline, Unix seconds.
    error EscrowDeadlineNotReached(uint64 intervalId, uint64 deadline);
    /// @notice Buyers collect once every seller settled; `pendingWh` of sold energy has not.
    /// @param intervalId The auction's delivery interval.
    /// @param pendingWh Sold Wh whose sellers have neither delivered nor defaulted.
    error EscrowSellersPending(uint64 intervalId, uint64 pendingWh);
    /// @notice The congestion rent was already paid.
    /// @param intervalId The auction's delivery interval.
    error EscrowRentAlreadyPaid(uint64 intervalId);
    /// @notice Dust is swept once, after every buyer collected and the rent was paid.
    /// @param intervalId The auction's delivery interval.
    error EscrowNotSweepable(uint64 intervalId);
    /// @notice Only the seller itself delivers less than its fill before the deadline: `seller` holds `heldWh` of the
    /// order's kWh token, `filledWh` were sold (anyone may deliver a whole fill; a short seller claims its export or
    /// delivers itself, accepting the shortfall).
    /// @param intervalId The auction's delivery interval.
    /// @param seller The order's seller.
    /// @param heldWh The seller's balance of the order's kWh token (zone, interval).
    /// @param filledWh The order's fill.
    error EscrowShortDeliveryNotBySeller(uint64 intervalId, address seller, uint256 heldWh, uint256 filledWh);
    /// @notice A batch's lists of traders and commitments differ in length.
    /// @param traders Length of the sellers' or buyers' list.
    /// @param commitments Length of the commitments' list.
    error EscrowLengthMismatch(uint256 traders, uint256 commitments);
    /// @notice A constructor address (grid operator or dust account) is zero, or the recipient of {collectTo}.
    error EscrowZeroAddress();

    /// @notice A seller's filled order settled: `deliveredWh` of its `filledWh` handed over and paid `payment`;
    /// `slashed` of its bond compensates the buyers for the rest; `bondReturned` went back with the payment.
    /// @param intervalId The auction's delivery interval.
    /// @param seller Who committed the sell order; paid `payment + bondReturned`.
    /// @param commitment The order's commitment.
    /// @param zone The order's zone (its kWh tokens are the ones taken).
    /// @param filledWh Wh the order filled.
    /// @param deliveredWh kWh tokens handed over, Wh: min(filledWh, the seller's balance) on delivery, 0 on default.
    /// @param price The zone's price, payment-token base units per kWh.
    /// @param payment ⌊deliveredWh × price / 1000⌋, base units.
    /// @param slashed min(the bond the order needed, ⌊shortfall Wh × (ceiling − price) / 1000⌋), base units.
    /// @param bondReturned The order's collateral less `slashed`, base units.
    event SellerSettled(
        uint64 indexed intervalId,
        address indexed seller,
        bytes32 indexed commitment,
        uint32 zone,
        uint64 filledWh,
        uint64 deliveredWh,
        uint64 price,
        uint256 payment,
        uint256 slashed,
        uint256 bondReturned
    );
    /// @notice A buyer's filled order settled: it received `receivedWh`, paid `payment`, was compensated
    /// `compensation` and got `refunded` of its collateral back (at its own address, or where `collectTo` sent it:
    /// the token transfers name the recipient).
    /// @param intervalId The auction's delivery interval.
    /// @param buyer Who committed the buy order.
    /// @param commitment The order's commitment.
    /// @param zone The order's zone.
    /// @param filledWh Wh the order filled.
    /// @param receivedWh kWh tokens received, Wh: its slices of its zone's pools of delivered energy (pro rata).
    /// @param price The zone's price, payment-token base units per kWh.
    /// @param payment ⌈receivedWh × price / 1000⌉, base units.
    /// @param compensation Its slice of the slashed bonds of the sellers that would have served it, base units.
    /// @param refunded Collateral − payment + compensation, base units, sent with the kWh tokens.
    event BuyerCollected(
        uint64 indexed intervalId,
        address indexed buyer,
        bytes32 indexed commitment,
        uint32 zone,
        uint64 filledWh,
        uint64 receivedWh,
        uint64 price,
        uint256 payment,
        uint256 compensation,
        uint256 refunded
    );
    /// @notice The auction's congestion rent went to the grid operator.
    /// @param intervalId The auction's delivery interval.
    /// @param gridOperator The recipient.
    /// @param amount Payment-token base units ({SettlementEscrow-congestionRent}; may be zero).
    event CongestionRentPaid(uint64 indexed intervalId, address indexed gridOperator, uint256 amount);
    /// @notice The auction's rounding dust (payment token and kWh tokens) went to the dust account.
    /// @param intervalId The auction's delivery interval.
    /// @param dustAccount The recipient.
    /// @param amount Payment-token base units (the auction's residual).
    /// @param ids The kWh token ids of the auction's zones (in `zonesOf` order).
    /// @param whAmounts The escrow's balance of each id, Wh, all sent (zero unless sent outside a settlement).
    event DustSwept(
        uint64 indexed intervalId,
        address indexed dustAccount,
        uint256 amount,
        uint256[] ids,
        uint256[] whAmounts
    );

    /// @notice Settles a seller's filled order against its kWh tokens of the order's zone and interval (the seller
    /// approved this escrow for the tokens): takes `min(filled, balance)`, pays it at the zone price (rounded down)
    /// with the bond not slashed for the rest, once. Anyone may call it when the seller holds its whole fill; a short
    /// delivery only the seller itself (`EscrowShortDeliveryNotBySeller`). Needs the final root, before the deadline.
    /// Stops while paused.
    /// @param intervalId The auction's delivery interval.
    /// @param seller Who committed the sell order (the kWh tokens are taken from it, the money sent to it).
    /// @param commitment The order's commitment.
    function deliver(uint64 intervalId, address seller, bytes32 commitment) external;

    /// @notice `deliver` for several sellers of one auction in one transaction (`sellers[i]`'s `commitments[i]`).
    /// Reverts as a whole if any order cannot settle.
    /// @param intervalId The auction's delivery interval.
    /// @param sellers The sellers, one per order.
    /// @param commitments Their orders' commitments, as many as `sellers`.
    function deliverBatch(uint64 intervalId, address[] calldata sellers, bytes32[] calldata commitments) external;

    /// @notice After the settlement deadline, settles a seller that never delivered: its whole fill is shortfall.
    /// Anyone may call it from the deadline, also while paused; the seller gets its bond back less what is slashed.
    /// @param intervalId The auction's delivery interval.
    /// @param seller Who committed the sell order.
    /// @param commitment The order's commitment.
    function settleDefault(uint64 intervalId, address seller, bytes32 commitment) external;

    /// @notice `settleDefault` for several sellers of one auction in one transaction.
    /// @param intervalId The auction's delivery interval.
    /// @param sellers The sellers, one per order.
    /// @param commitments Their orders' commitments, as many as `sellers`.
    function settleDefaultBatch(uint64 intervalId, address[] calldata sellers, bytes32[] calldata commitments) external;

    /// @notice Settles a buyer's filled order once every seller settled: its slice of the delivered energy, what it
    /// pays for it, compensation and the rest of its collateral (anyone may call; everything goes to the buyer).
    /// Reverts until every seller settled, and while the escrow is paused before the settlement deadline.
    /// @param intervalId The auction's delivery interval.
    /// @param buyer Who committed the buy order; receives the kWh tokens and the refund.
    /// @param commitment The order's commitment.
    function collect(uint64 intervalId, address buyer, bytes32 commitment) external;

    /// @notice The sender's `collect` with everything sent to `recipient` instead (for a buyer contract that cannot
    /// receive ERC-1155 tokens, or a wallet that moved).
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The sender's buy order's commitment.
    /// @param recipient Receives the kWh tokens and the refund (not the zero address).
    function collectTo(uint64 intervalId, bytes32 commitment, address recipient) external;

    /// @notice `collect` for several buyers of one auction in one transaction.
    /// @param intervalId The auction's delivery interval.
    /// @param buyers The buyers, one per order; each receives its own share.
    /// @param commitments Their orders' commitments, as many as `buyers`.
    function collectBatch(uint64 intervalId, address[] calldata buyers, bytes32[] calldata commitments) external;

    /// @notice Pays the auction's congestion rent to the grid operator once every seller settled (anyone may call;
    /// once, also while paused).
    /// @param intervalId The auction's delivery interval.
    function payRent(uint64 intervalId) external;

    /// @notice Sends the auction's rounding dust to the dust account once every buyer collected and the rent was paid
    /// (anyone may call; once, also while paused).
    /// @param intervalId The auction's delivery interval.
    function sweepDust(uint64 intervalId) external;
}
