// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IBatchAuction
/// @notice One sealed-bid call market per delivery interval: traders commit a hash of their order with
/// collateral, reveal the order before gate closure, and anyone clears the auction afterwards at one price per
/// zone that maximises welfare within every zone's export and import capacity (docs/auction.md).
interface IBatchAuction {
    /// @notice Which way an order trades.
    enum Side {
        Buy,
        Sell
    }

    /// @notice Where an auction stands, by time and by what happened. An auction nobody cleared before delivery
    /// started is `Void`: it can no longer clear, and every commitment's collateral can be withdrawn.
    enum Phase {
        Scheduled,
        Commit,
        Reveal,
        Clearing,
        Cleared,
        Void
    }

    /// @notice How a zone cleared.
    enum Congestion {
        None,
        Export,
        Import
    }

    /// @notice A sealed order. Prices are payment-token base units per kWh; quantities Wh.
    /// @param meter The seller's generating meter in `zone` (the zero address for buyers).
    struct Order {
        Side side;
        uint32 zone;
        uint64 quantityWh;
        uint64 limitPrice;
        address meter;
    }

    /// @notice An auction's times (Unix seconds): commits in [commitStart, revealStart), reveals in
    /// [revealStart, gateClosure), clearing from gateClosure; delivery starts at `deliveryStart`; undelivered
    /// obligations default after `settlementDeadline`.
    struct Schedule {
        uint64 commitStart;
        uint64 revealStart;
        uint64 gateClosure;
        uint64 deliveryStart;
        uint64 settlementDeadline;
    }

    /// @notice A filled order handed to the settlement escrow (its collateral included).
    struct FilledOrder {
        Side side;
        uint32 zone;
        uint64 quantityWh;
        uint64 limitPrice;
        uint64 filledWh;
        uint64 price;
        uint256 collateral;
    }

    /// @notice Construction parameters.
    /// @param commitWindow Seconds commits are open before the reveal window.
    /// @param revealWindow Seconds reveals are open before gate closure.
    /// @param gateLead Seconds between gate closure and the start of delivery (at least one interval).
    /// @param settlementWindow Seconds after the end of delivery until the settlement deadline.
    /// @param minDeposit Smallest collateral of a commitment, payment-token base units.
    /// @param tickSize Limit prices are multiples of it (base units per kWh).
    /// @param maxOrders Most commitments per auction.
    /// @param sellerBondBps A seller's bond as basis points of quantity × limit.
    /// @param nonRevealPenaltyBps Share of an unrevealed commitment's collateral that goes to the treasury.
    /// @param maxFeedAge Oldest acceptable price-feed answer, seconds.
    struct Params {
        uint64 commitWindow;
        uint64 revealWindow;
        uint64 gateLead;
        uint64 settlementWindow;
        uint128 minDeposit;
        uint64 tickSize;
        uint32 maxOrders;
        uint16 sellerBondBps;
        uint16 nonRevealPenaltyBps;
        uint64 maxFeedAge;
    }

    /// @notice Only the settlement escrow may take filled orders over.
    error BatchAuctionNotSettlement(address caller);
    /// @notice The order did not fill (or is not revealed, or the auction is not cleared): nothing to settle.
    error BatchAuctionNotFilled(uint64 intervalId, bytes32 commitment);
    /// @notice The payment token delivered `received` instead of `sent` (fee-on-transfer tokens are not supported).
    error BatchAuctionTransferMismatch(uint256 sent, uint256 received);
    /// @notice The call needs phase `expected`; the auction of `intervalId` is in `actual`.
    error BatchAuctionWrongPhase(uint64 intervalId, Phase expected, Phase actual);
    /// @notice The construction parameters are inconsistent (`reason` names the parameter).
    error BatchAuctionInvalidParams(string reason);
    /// @notice A commitment's collateral is below the minimum deposit.
    error BatchAuctionCollateralBelowMinimum(uint256 collateral, uint256 minDeposit);
    /// @notice The sender made the same commitment already.
    error BatchAuctionCommitmentExists(uint64 intervalId, bytes32 commitment);
    /// @notice No commitment of the sender matches the revealed order and salt.
    error BatchAuctionUnknownCommitment(uint64 intervalId, bytes32 commitment);
    /// @notice The commitment was revealed already.
    error BatchAuctionAlreadyRevealed(uint64 intervalId, bytes32 commitment);
    /// @notice The auction holds `maxOrders` commitments.
    error BatchAuctionFull(uint64 intervalId, uint32 maxOrders);
    /// @notice A price feed's answer is not positive or is older than `maxFeedAge`.
    error BatchAuctionStaleFeed(address feed, int256 answer, uint256 updatedAt);
    /// @notice The floor feed's price is above the ceiling feed's.
    error BatchAuctionInvertedBounds(uint256 floor, uint256 ceiling);
    /// @notice The limit price is outside the day's bounds or not a multiple of the tick.
    error BatchAuctionInvalidPrice(uint64 limitPrice, uint256 floor, uint256 ceiling, uint64 tickSize);
    /// @notice A zero quantity.
    error BatchAuctionZeroQuantity();
    /// @notice The zone is not configured in the registry.
    error BatchAuctionUnknownZone(uint32 zone);
    /// @notice The seller's meter is not an active generating meter of the sender in the order's zone.
    error BatchAuctionInvalidSellerMeter(address meter, address seller, uint32 zone);
    /// @notice The seller offers more than its meter's rated capacity delivers in one interval.
    error BatchAuctionQuantityAboveCapacity(uint64 quantityWh, uint64 maxWh);
    /// @notice A buyer's collateral does not cover quantity × limit, or a seller's its bond.
    error BatchAuctionInsufficientCollateral(uint256 collateral, uint256 required);
    /// @notice A buyer order named a meter.
    error BatchAuctionBuyerMeter(address meter);
    /// @notice The auction's revealed orders span more zones than clearing handles.
    error BatchAuctionTooManyZones(uint64 intervalId, uint256 maxZones);
    /// @notice The commitment's collateral was withdrawn already.
    error BatchAuctionAlreadyWithdrawn(uint64 intervalId, bytes32 commitment);
    /// @notice A filled order's collateral stays locked for settlement.
    error BatchAuctionCollateralLocked(uint64 intervalId, bytes32 commitment, uint64 filledWh);
    /// @notice The interval is so early that its auction would have opened before 1970.
    error BatchAuctionIntervalTooEarly(uint64 intervalId);

    /// @notice The day's price bounds were read from the feeds for the auction (at its first commitment).
    event BoundsSet(uint64 indexed intervalId, uint256 floor, uint256 ceiling);
    /// @notice `trader` committed `commitment` with `collateral`.
    event OrderCommitted(
        uint64 indexed intervalId,
        address indexed trader,
        bytes32 indexed commitment,
        uint256 collateral
    );
    /// @notice The commitment was opened: the order, and its place in its price level (for pro-rata fills).
    event OrderRevealed(
        uint64 indexed intervalId,
        address indexed trader,
        bytes32 indexed commitment,
        Side side,
        uint32 zone,
        uint64 quantityWh,
        uint64 limitPrice,
        address meter
    );
    /// @notice The auction cleared: the system price, the traded volume and the congestion rent.
    event AuctionCleared(uint64 indexed intervalId, uint64 systemPrice, uint64 tradedWh, uint256 congestionRent);
    /// @notice One zone's clearing: its price, net export, congestion and at-price fills.
    event ZoneCleared(
        uint64 indexed intervalId,
        uint32 indexed zone,
        uint64 price,
        int256 netExportWh,
        Congestion congestion,
        uint64 sellAtPriceWh,
        uint64 sellAtPriceFilledWh,
        uint64 buyAtPriceWh,
        uint64 buyAtPriceFilledWh
    );
    /// @notice Collateral went back to `trader`; `penalty` of it went to the treasury.
    event CollateralWithdrawn(
        uint64 indexed intervalId,
        address indexed trader,
        bytes32 indexed commitment,
        uint256 refunded,
        uint256 penalty
    );

    /// @notice Commits to an order for `intervalId`'s auction and locks `collateral` of the payment token.
    function commit(uint64 intervalId, bytes32 commitment, uint256 collateral) external;

    /// @notice {commit} with an ERC-2612 permit for the collateral.
    function commitWithPermit(
        uint64 intervalId,
        bytes32 commitment,
        uint256 collateral,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Opens the sender's commitment to `order` with `salt`.
    function reveal(uint64 intervalId, Order calldata order, bytes32 salt) external;

    /// @notice Clears the auction between gate closure and the start of delivery (permissionless, once).
    function clear(uint64 intervalId) external;

    /// @notice Returns the sender's collateral: all of it for a revealed order that did not fill (after clearing)
    /// or of a void auction, all but the penalty for an unrevealed commitment (from gate closure). A filled
    /// order's collateral stays locked for settlement.
    function withdraw(uint64 intervalId, bytes32 commitment) external;

    /// @notice Hands a filled order to the settlement escrow, once: marks it settled and returns it with its fill and
    /// collateral, which the escrow moves from this contract's balance (its allowance). Only the escrow calls it.
    function settleOrder(
        uint64 intervalId,
        address trader,
        bytes32 commitment
    ) external returns (FilledOrder memory order);

    /// @notice The commitment a trader makes for `order` with `salt` (chain and contract bound).
    function commitmentOf(
        uint64 intervalId,
        address trader,
        Order calldata order,
        bytes32 salt
    ) external view returns (bytes32);

    /// @notice The auction's phase now.
    function phase(uint64 intervalId) external view returns (Phase);

    /// @notice The auction's schedule.
    function schedule(uint64 intervalId) external view returns (Schedule memory);

    /// @notice `trader`'s revealed order's fill and its zone's price (zero before clearing).
    function fillOf(
        uint64 intervalId,
        address trader,
        bytes32 commitment
    ) external view returns (uint64 filledWh, uint64 price);
}
