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

    /// @notice One zone's sellers' settlement in an auction.
    struct ZoneBook {
        uint64 deliveredWh;
        uint64 processedWh;
        uint128 slashed;
    }

    /// @notice What a filled buyer receives on collecting.
    /// @param ids kWh token ids (its zone's and, for an importing zone, the exporting zones').
    /// @param amounts Wh of each id.
    /// @param payment What the buyer pays for the energy it receives (rounded up), base units.
    /// @param compensation Its share of the defaulting sellers' slashed bonds, base units.
    struct BuyerShare {
        uint256[] ids;
        uint256[] amounts;
        uint256 payment;
        uint256 compensation;
    }

    /// @notice The order is not a seller's (deliver, default) or not a buyer's (collect).
    error EscrowWrongSide(uint64 intervalId, bytes32 commitment);
    /// @notice The interval's root is not final yet: no kWh tokens exist to deliver or collect.
    error EscrowRootNotFinal(uint64 intervalId);
    /// @notice Delivery closed at the settlement deadline; undelivered obligations default.
    error EscrowDeadlinePassed(uint64 intervalId, uint64 deadline);
    /// @notice Defaults are settled only from the settlement deadline.
    error EscrowDeadlineNotReached(uint64 intervalId, uint64 deadline);
    /// @notice Buyers collect once every seller settled; `pendingWh` of sold energy has not.
    error EscrowSellersPending(uint64 intervalId, uint64 pendingWh);
    /// @notice The congestion rent was already paid.
    error EscrowRentAlreadyPaid(uint64 intervalId);
    /// @notice Dust is swept once, after every buyer collected and the rent was paid.
    error EscrowNotSweepable(uint64 intervalId);
    /// @notice A constructor address is zero.
    error EscrowZeroAddress();

    /// @notice A seller's filled order settled: `deliveredWh` of its `filledWh` handed over and paid `payment`;
    /// `slashed` of its bond compensates the buyers for the rest; `bondReturned` went back with the payment.
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
    /// `compensation` and got `refunded` of its collateral back.
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
    event CongestionRentPaid(uint64 indexed intervalId, address indexed gridOperator, uint256 amount);
    /// @notice The auction's rounding dust (payment token and kWh tokens) went to the dust account.
    event DustSwept(
        uint64 indexed intervalId,
        address indexed dustAccount,
        uint256 amount,
        uint256[] ids,
        uint256[] whAmounts
    );

    /// @notice Settles a seller's filled order against its kWh tokens of the order's zone and interval (anyone may
    /// call; the seller approved this escrow for the tokens): takes `min(filled, balance)`, pays it at the zone
    /// price (rounded down) with the bond not slashed for the rest, once. Needs the final root, before the deadline.
    function deliver(uint64 intervalId, address seller, bytes32 commitment) external;

    /// @notice After the settlement deadline, settles a seller that never delivered: its whole fill is shortfall.
    function settleDefault(uint64 intervalId, address seller, bytes32 commitment) external;

    /// @notice Settles a buyer's filled order once every seller settled: its energy, what it pays, compensation
    /// and the rest of its collateral (anyone may call; everything goes to the buyer).
    function collect(uint64 intervalId, address buyer, bytes32 commitment) external;

    /// @notice Pays the auction's congestion rent to the grid operator once every seller settled.
    function payRent(uint64 intervalId) external;

    /// @notice Sends the auction's rounding dust to the dust account once every buyer collected.
    function sweepDust(uint64 intervalId) external;
}
