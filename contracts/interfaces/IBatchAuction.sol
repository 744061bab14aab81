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
    /// @param side Buy or sell.
    /// @param zone The grid zone the order trades in (a zone configured in the MeterRegistry).
    /// @param quantityWh Energy to buy or sell, Wh (not zero; a seller's at most its meter's capacity over one
    /// interval).
    /// @param limitPrice Highest price a buyer pays, lowest a seller accepts: payment-token base units per kWh, a
    /// multiple of the tick within the auction's bounds.
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
    /// @param side Buy or sell.
    /// @param zone The order's zone.
    /// @param quantityWh The order's quantity, Wh.
    /// @param limitPrice The order's limit, payment-token base units per kWh.
    /// @param filledWh Wh the clearing filled (not zero).
    /// @param price The zone's clearing price, payment-token base units per kWh.
    /// @param collateral The commitment's whole collateral, payment-token base units.
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
    /// @param caller The sender, not the escrow.
    error BatchAuctionNotSettlement(address caller);
    /// @notice The order did not fill (or is not revealed, or the auction is not cleared): nothing to settle.
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The order's commitment.
    error BatchAuctionNotFilled(uint64 intervalId, bytes32 commitment);
    /// @notice The payment token delivered `received` instead of `sent` (fee-on-transfer tokens are not supported).
    /// @param sent The collateral transferred, payment-token base units.
    /// @param received What the auction's balance grew by, base units.
    error BatchAuctionTransferMismatch(uint256 sent, uint256 received);
    /// @notice The call needs phase `expected`; the auction of `intervalId` is in `actual`.
    /// @param intervalId The auction's delivery interval.
    /// @param expected The phase the call needs (for {withdraw}: `Cleared` for a revealed order, `Clearing` or later
    /// for an unrevealed one).
    /// @param actual The auction's phase now.
    error BatchAuctionWrongPhase(uint64 intervalId, Phase expected, Phase actual);
    /// @notice The construction parameters are inconsistent (`reason` names the parameter).
    /// @param reason What is wrong: "gateLead below one interval", "empty window", "tickSize", "maxOrders",
    /// "basis points above 10000", "treasury" or "settlement" (a zero address).
    error BatchAuctionInvalidParams(string reason);
    /// @notice A commitment's collateral is below the minimum deposit.
    /// @param collateral The collateral offered, payment-token base units.
    /// @param minDeposit The minimum deposit, base units.
    error BatchAuctionCollateralBelowMinimum(uint256 collateral, uint256 minDeposit);
    /// @notice The sender made the same commitment already.
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The repeated commitment.
    error BatchAuctionCommitmentExists(uint64 intervalId, bytes32 commitment);
    /// @notice No commitment of the sender matches the revealed order and salt (or, for {withdraw}, the given
    /// commitment).
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The commitment looked for ({commitmentOf} of the order and salt, for {reveal}).
    error BatchAuctionUnknownCommitment(uint64 intervalId, bytes32 commitment);
    /// @notice The commitment was revealed already.
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The commitment.
    error BatchAuctionAlreadyRevealed(uint64 intervalId, bytes32 commitment);
    /// @notice The auction's book holds `maxOrders` revealed orders.
    /// @param intervalId The auction's delivery interval.
    /// @param maxOrders Most revealed orders per auction.
    error BatchAuctionFull(uint64 intervalId, uint32 maxOrders);
    /// @notice A price feed's answer is not positive or is older than `maxFeedAge`.
    /// @param feed The floor or ceiling feed.
    /// @param answer Its latest answer, in the feed's decimals (currency units per kWh).
    /// @param updatedAt When it was updated, Unix seconds.
    error BatchAuctionStaleFeed(address feed, int256 answer, uint256 updatedAt);
    /// @notice The floor feed's price is above the ceiling feed's.
    /// @param floor The floor, payment-token base units per kWh, rounded up to the tick.
    /// @param ceiling The ceiling, base units per kWh, rounded down to the tick.
    error BatchAuctionInvertedBounds(uint256 floor, uint256 ceiling);
    /// @notice The limit price is outside the day's bounds or not a multiple of the tick.
    /// @param limitPrice The order's limit, payment-token base units per kWh.
    /// @param floor The auction's floor, base units per kWh.
    /// @param ceiling The auction's ceiling, base units per kWh.
    /// @param tickSize The tick, base units per kWh.
    error BatchAuctionInvalidPrice(uint64 limitPrice, uint256 floor, uint256 ceiling, uint64 tickSize);
    /// @notice A zero quantity.
    error BatchAuctionZeroQuantity();
    /// @notice The zone is not configured in the registry.
    /// @param zone The buy order's zone.
    error BatchAuctionUnknownZone(uint32 zone);
    /// @notice The seller's meter is not an active generating meter of the sender in the order's zone.
    /// @param meter The order's meter.
    /// @param seller The sender.
    /// @param zone The order's zone.
    error BatchAuctionInvalidSellerMeter(address meter, address seller, uint32 zone);
    /// @notice The seller offers more than its meter's rated capacity delivers in one interval.
    /// @param quantityWh The order's quantity, Wh.
    /// @param maxWh The meter's rated capacity over one interval, Wh (MeterRegistry `maxWhPerInterval`).
    error BatchAuctionQuantityAboveCapacity(uint64 quantityWh, uint64 maxWh);
    /// @notice A buyer's collateral does not cover quantity × limit, or a seller's its bond.
    /// @param collateral The commitment's collateral, payment-token base units.
    /// @param required ⌈quantity × limit / 1000⌉ for a buyer; for a seller that × sellerBondBps / 10000, rounded
    /// up; base units.
    error BatchAuctionInsufficientCollateral(uint256 collateral, uint256 required);
    /// @notice A buyer order named a meter.
    /// @param meter The meter named (buyers give the zero address).
    error BatchAuctionBuyerMeter(address meter);
    /// @notice The auction's revealed orders span more zones than clearing handles.
    /// @param intervalId The auction's delivery interval.
    /// @param maxZones Most zones one auction clears (16).
    error BatchAuctionTooManyZones(uint64 intervalId, uint256 maxZones);
    /// @notice The commitment's collateral was withdrawn already, or its filled order was already handed to the
    /// settlement escrow.
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The commitment.
    error BatchAuctionAlreadyWithdrawn(uint64 intervalId, bytes32 commitment);
    /// @notice A filled order's collateral stays locked for settlement.
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The order's commitment.
    /// @param filledWh Wh the order filled.
    error BatchAuctionCollateralLocked(uint64 intervalId, bytes32 commitment, uint64 filledWh);
    /// @notice The interval is so early that its auction would have opened before 1970.
    /// @param intervalId The delivery interval.
    error BatchAuctionIntervalTooEarly(uint64 intervalId);

    /// @notice The day's price bounds were read from the feeds for the auction ({open}, or its first reveal).
    /// @param intervalId The auction's delivery interval.
    /// @param floor Lowest limit price: the feed-in tariff in payment-token base units per kWh, rounded up to the tick.
    /// @param ceiling Highest limit price: the retail tariff in base units per kWh, rounded down to the tick.
    event BoundsSet(uint64 indexed intervalId, uint256 floor, uint256 ceiling);
    /// @notice `trader` committed `commitment` with `collateral`.
    /// @param intervalId The auction's delivery interval.
    /// @param trader The sender.
    /// @param commitment The hash of the sealed order ({commitmentOf}).
    /// @param collateral Collateral locked, payment-token base units.
    event OrderCommitted(
        uint64 indexed intervalId,
        address indexed trader,
        bytes32 indexed commitment,
        uint256 collateral
    );
    /// @notice The commitment was opened: the order. Its place among the reveals of its (zone, price) level, the
    /// order of these events, decides its pro-rata fill at that price.
    /// @param intervalId The auction's delivery interval.
    /// @param trader The sender, who committed.
    /// @param commitment The commitment opened.
    /// @param side Buy or sell.
    /// @param zone The order's zone.
    /// @param quantityWh Energy to buy or sell, Wh.
    /// @param limitPrice The limit, payment-token base units per kWh.
    /// @param meter The seller's meter (the zero address for buyers).
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
    /// @param intervalId The auction's delivery interval.
    /// @param systemPrice The uncongested zones' price, payment-token base units per kWh (the midpoint of the
    /// clearing interval, not necessarily on the tick; 0 for an auction without commitments).
    /// @param tradedWh Energy traded, Wh (bought = sold).
    /// @param congestionRent Σ over zones of −net export × zone price as cleared, in Wh × base units per kWh
    /// (÷ 1000: base units). What the escrow pays out depends on delivery ({ISettlementEscrow-payRent}).
    event AuctionCleared(uint64 indexed intervalId, uint64 systemPrice, uint64 tradedWh, uint256 congestionRent);
    /// @notice One zone's clearing: its price, net export, congestion and at-price fills.
    /// @param intervalId The auction's delivery interval.
    /// @param zone The zone.
    /// @param price Its price, payment-token base units per kWh (the system price unless congested).
    /// @param netExportWh Sold less bought in the zone, Wh: positive exports, negative imports.
    /// @param congestion Whether its export or import capacity binds.
    /// @param sellAtPriceWh Sell Wh with a limit exactly at its price.
    /// @param sellAtPriceFilledWh How much of them filled (pro rata in reveal order).
    /// @param buyAtPriceWh Buy Wh with a limit exactly at its price.
    /// @param buyAtPriceFilledWh How much of them filled (pro rata in reveal order).
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
    /// @param intervalId The auction's delivery interval.
    /// @param trader The sender, who committed.
    /// @param commitment The commitment.
    /// @param refunded Base units returned to the trader (the collateral less the penalty).
    /// @param penalty Base units sent to the treasury: ⌊collateral × nonRevealPenaltyBps / 10000⌋ for an unrevealed
    /// commitment, else zero.
    event CollateralWithdrawn(
        uint64 indexed intervalId,
        address indexed trader,
        bytes32 indexed commitment,
        uint256 refunded,
        uint256 penalty
    );

    /// @notice Fixes the auction's price bounds from the feeds (anyone, in the Commit or Reveal phase), so that traders
    /// know them before they commit; the first reveal does it otherwise. Once set they never move; a later call
    /// returns them. Reverts on a stale or non-positive feed answer or a floor above the ceiling.
    /// @param intervalId The delivery interval whose auction to open.
    /// @return floor Lowest limit price, payment-token base units per kWh (the feed-in tariff rounded up to the tick).
    /// @return ceiling Highest limit price (the retail tariff, at most `MAX_PRICE`, rounded down to the tick).
    function open(uint64 intervalId) external returns (uint64 floor, uint64 ceiling);

    /// @notice Commits to an order for `intervalId`'s auction and locks `collateral` of the payment token.
    /// The sender approved the auction for it. Committing touches no auction-wide state: the bounds are fixed by
    /// {open} (or the first reveal) and `maxOrders` caps revealed orders. Reverts outside the Commit phase, below the
    /// minimum deposit, for a repeated commitment or a short transfer.
    /// @param intervalId The delivery interval whose auction to commit to.
    /// @param commitment {commitmentOf} the order, the sender and a secret salt.
    /// @param collateral Payment-token base units to lock: at least `minDeposit`, enough for the order at reveal
    /// (more hides its size), at most 2^80 − 1.
    function commit(uint64 intervalId, bytes32 commitment, uint256 collateral) external;

    /// @notice {commit} with an ERC-2612 permit for the collateral. The permit is used only while the allowance is
    /// below `collateral`, and one that fails is ignored: a front-run permit has granted the allowance already;
    /// otherwise the transfer reverts with the token's own error.
    /// @param intervalId The delivery interval whose auction to commit to.
    /// @param commitment {commitmentOf} the order, the sender and a secret salt.
    /// @param collateral Payment-token base units to lock, and the permit's value (the auction is the spender).
    /// @param deadline The permit's deadline, Unix seconds.
    /// @param v The permit signature's recovery id.
    /// @param r The permit signature's r.
    /// @param s The permit signature's s.
    function commitWithPermit(
        uint64 intervalId,
        bytes32 commitment,
        uint256 collateral,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Opens the sender's commitment to `order` with `salt`; the first reveal fixes the bounds if {open} did
    /// not. Reverts outside the Reveal phase, for an unknown or revealed commitment, on a stale or inverted feed
    /// (while the bounds are unset), when the book holds `maxOrders` orders, or when the order is invalid: zero
    /// quantity or above `MAX_ORDER_WH`, a limit off the tick or outside the bounds, collateral short of
    /// ⌈quantity × limit / 1000⌉ (buyer) or of the bond (seller), an unconfigured zone or a meter named (buyer), a
    /// meter that is not the sender's active generating meter in the zone or a quantity above its capacity (seller),
    /// a 17th zone.
    /// @param intervalId The auction's delivery interval.
    /// @param order The order committed to.
    /// @param salt The secret salt committed with it.
    function reveal(uint64 intervalId, Order calldata order, bytes32 salt) external;

    /// @notice Clears the auction between gate closure and the start of delivery (permissionless, once): one price
    /// per zone (docs/auction.md), emitting {ZoneCleared} for each zone and {AuctionCleared}. Reverts outside the
    /// Clearing phase.
    /// @param intervalId The auction's delivery interval.
    function clear(uint64 intervalId) external;

    /// @notice Returns the sender's collateral: all of it for a revealed order that did not fill (after clearing)
    /// or of a void auction, all but the penalty for an unrevealed commitment (from gate closure) — all of it when
    /// a reveal could have been refused regardless of the trader: the book holds `maxOrders` orders, or the bounds
    /// were never set. A filled order's collateral stays locked for settlement. Once per commitment.
    /// @param intervalId The auction's delivery interval.
    /// @param commitment The sender's commitment.
    function withdraw(uint64 intervalId, bytes32 commitment) external;

    /// @notice Hands a filled order to the settlement escrow, once: marks it settled and returns it with its fill and
    /// collateral, which the escrow moves from this contract's balance (its allowance). Only the escrow calls it.
    /// Reverts for an order settled already, unrevealed, of an uncleared auction or that did not fill.
    /// @param intervalId The auction's delivery interval.
    /// @param trader Who committed the order.
    /// @param commitment The order's commitment.
    /// @return order The order, its fill and zone price, and its whole collateral (payment-token base units).
    function settleOrder(
        uint64 intervalId,
        address trader,
        bytes32 commitment
    ) external returns (FilledOrder memory order);

    /// @notice The commitment a trader makes for `order` with `salt` (chain and contract bound).
    /// @param intervalId The auction's delivery interval.
    /// @param trader Who commits (and must reveal).
    /// @param order The order.
    /// @param salt A secret salt.
    /// @return keccak256(abi.encode(chainid, this auction, intervalId, trader, order, salt)).
    function commitmentOf(
        uint64 intervalId,
        address trader,
        Order calldata order,
        bytes32 salt
    ) external view returns (bytes32);

    /// @notice The auction's phase now (reverts like {schedule} for an interval too early).
    /// @param intervalId The auction's delivery interval.
    /// @return `Cleared` once cleared; otherwise by the schedule: Scheduled, Commit, Reveal, Clearing, or Void from
    /// the start of delivery.
    function phase(uint64 intervalId) external view returns (Phase);

    /// @notice The auction's schedule. Reverts for an interval so early that its auction would open before 1970.
    /// @param intervalId The auction's delivery interval; delivery starts at intervalId × intervalLength.
    /// @return The auction's times, Unix seconds.
    function schedule(uint64 intervalId) external view returns (Schedule memory);

    /// @notice `trader`'s revealed order's fill and its zone's price (zero before clearing).
    /// @param intervalId The auction's delivery interval.
    /// @param trader Who committed the order.
    /// @param commitment The order's commitment.
    /// @return filledWh Wh filled: all of an order strictly in the money, none out of it, and a pro-rata share of its
    /// level at the price, rounded by cumulative quantity in reveal order (zero when unrevealed or not cleared).
    /// @return price The zone's price, payment-token base units per kWh (zero when unrevealed or not cleared).
    function fillOf(
        uint64 intervalId,
        address trader,
        bytes32 commitment
    ) external view returns (uint64 filledWh, uint64 price);
}
