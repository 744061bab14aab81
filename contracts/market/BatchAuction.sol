// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IBatchAuction} from "../interfaces/IBatchAuction.sol";
import {IBatchAuctionBook} from "../interfaces/IBatchAuctionBook.sol";
import {IMeterRegistry} from "../interfaces/IMeterRegistry.sol";
import {ZonalClearing} from "../libraries/ZonalClearing.sol";

/// @title BatchAuction
/// @notice Sealed-bid call markets, one per delivery interval, cleared at one price per zone within the zones'
/// capacities (docs/auction.md). Revealed orders are aggregated per (zone, price tick) as they arrive, so clearing
/// reads price levels, not orders, and each order's fill is computed on demand from its zone's result.
contract BatchAuction is IBatchAuctionBook {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                          CONSTANTS AND IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    /// @notice Most zones one auction clears.
    uint256 public constant MAX_ZONES = 16;
    /// @notice Largest order, Wh (4.29 GWh: a 1 GW plant over an hour fits); with at most 65,535 orders an auction's
    /// price level holds below 2^48 Wh, so an order's place in its level packs into its commitment's slot.
    uint64 public constant MAX_ORDER_WH = type(uint32).max;
    /// @notice Highest limit price, payment-token base units per kWh (281 million per kWh at 6 decimals): the ceiling
    /// read from the feed is capped here.
    uint64 public constant MAX_PRICE = type(uint48).max;

    /// @notice Meters, their owners, zones and capacities; the interval length.
    IMeterRegistry public immutable registry;
    /// @inheritdoc IBatchAuctionBook
    IERC20 public immutable paymentToken;
    /// @notice Feed-in tariff: the lowest limit price of the day.
    AggregatorV3Interface public immutable floorFeed;
    /// @notice Retail tariff: the highest limit price of the day.
    AggregatorV3Interface public immutable ceilingFeed;
    /// @notice Receives the penalties of unrevealed commitments.
    address public immutable treasury;
    /// @notice The settlement escrow: takes filled orders over and moves their collateral (a standing allowance).
    address public immutable settlement;
    /// @notice Delivery interval length, seconds.
    uint64 public immutable intervalLength;

    uint64 private immutable _commitWindow;
    uint64 private immutable _revealWindow;
    uint64 private immutable _gateLead;
    uint64 private immutable _settlementWindow;
    uint128 private immutable _minDeposit;
    uint64 private immutable _tickSize;
    uint32 private immutable _maxOrders;
    uint16 private immutable _sellerBondBps;
    uint16 private immutable _nonRevealPenaltyBps;
    uint64 private immutable _maxFeedAge;
    /// @dev 10^(token decimals): a price per kWh times Wh divided by 1000 is a payment in base units.
    uint256 private immutable _tokenUnit;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    struct AuctionState {
        uint32 orders;
        uint64 floor;
        uint64 ceiling;
        bool cleared;
        uint64 systemPrice;
    }

    /// @dev Committed: collateral locked; Revealed: the order is in the book; Forfeited: withdrawn unrevealed;
    /// Released: revealed and its collateral withdrawn or taken over by the escrow.
    enum EntryState {
        None,
        Committed,
        Revealed,
        Forfeited,
        Released
    }

    /// @dev One slot per commitment: written at commit, filled in at reveal (so a reveal rewrites a warm slot instead
    /// of creating one), with the quantity of its price level revealed before it.
    // 80 + 8 + 8 + 32 + 32 + 48 + 48 = 256 bits, exactly one slot (solhint counts the enums as full words).
    // solhint-disable-next-line gas-struct-packing
    struct Entry {
        uint80 collateral;
        EntryState state;
        Side side;
        uint32 zone;
        uint32 quantityWh;
        uint48 limitPrice;
        uint48 cumBefore;
    }

    mapping(uint64 intervalId => AuctionState) private _auctions;
    /// @dev Keyed by trader too: a copied commitment hash is the copier's own record and blocks no one.
    mapping(uint64 intervalId => mapping(address trader => mapping(bytes32 commitment => Entry))) private _entries;
    mapping(uint64 intervalId => uint32[] zones) private _zonesOf;
    /// @dev Sell Wh in the low 128 bits, buy Wh in the high 128 bits, per (zone, price tick).
    mapping(uint64 intervalId => mapping(uint32 zone => mapping(uint256 tick => uint256 sellAndBuy))) private _levels;
    mapping(uint64 intervalId => mapping(uint32 zone => mapping(uint256 word => uint256 bits))) private _ticks;
    /// @dev Which words of `_ticks` are non-empty, and which words of `_words` are: clearing walks down from the top
    /// level to the non-empty tick words only (one top word covers 2^24 ticks), whatever the price range and tick.
    mapping(uint64 intervalId => mapping(uint32 zone => mapping(uint256 summary => uint256 bits))) private _words;
    mapping(uint64 intervalId => mapping(uint32 zone => mapping(uint256 top => uint256 bits))) private _tops;
    /// @dev `listed` is set at a zone's first reveal; the rest at clearing.
    mapping(uint64 intervalId => mapping(uint32 zone => ZonalClearing.ZoneOutcome)) private _outcomes;
    /// @inheritdoc IBatchAuctionBook
    mapping(uint64 intervalId => uint64 wh) public tradedWh;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param registry_ The MeterRegistry.
    /// @param paymentToken_ The payment token (6 decimals in production).
    /// @param floorFeed_ Chainlink feed of the feed-in tariff, in currency units per kWh.
    /// @param ceilingFeed_ Chainlink feed of the retail tariff, in currency units per kWh.
    /// @param treasury_ Receives non-reveal penalties.
    /// @param p Windows, deposit, tick, caps, bond and penalty (see {IBatchAuction.Params}); inconsistent ones revert
    /// with {BatchAuctionInvalidParams}, as do a zero treasury or settlement.
    /// @param settlement_ The settlement escrow (may be deployed after this contract, at a predicted address).
    constructor(
        IMeterRegistry registry_,
        IERC20 paymentToken_,
        AggregatorV3Interface floorFeed_,
        AggregatorV3Interface ceilingFeed_,
        address treasury_,
        Params memory p,
        address settlement_
    ) {
        intervalLength = registry_.intervalLength();
        if (p.gateLead < intervalLength) revert BatchAuctionInvalidParams("gateLead below one interval");
        if (p.commitWindow == 0 || p.revealWindow == 0) revert BatchAuctionInvalidParams("empty window");
        if (p.tickSize == 0) revert BatchAuctionInvalidParams("tickSize");
        if (p.maxOrders == 0 || p.maxOrders > type(uint16).max) revert BatchAuctionInvalidParams("maxOrders");
        if (p.sellerBondBps > 10_000 || p.nonRevealPenaltyBps > 10_000) {
            revert BatchAuctionInvalidParams("basis points above 10000");
        }
        if (treasury_ == address(0)) revert BatchAuctionInvalidParams("treasury");
        if (settlement_ == address(0)) revert BatchAuctionInvalidParams("settlement");
        registry = registry_;
        paymentToken = paymentToken_;
        floorFeed = floorFeed_;
        ceilingFeed = ceilingFeed_;
        treasury = treasury_;
        _commitWindow = p.commitWindow;
        _revealWindow = p.revealWindow;
        _gateLead = p.gateLead;
        _settlementWindow = p.settlementWindow;
        _minDeposit = p.minDeposit;
        _tickSize = p.tickSize;
        _maxOrders = p.maxOrders;
        _sellerBondBps = p.sellerBondBps;
        _nonRevealPenaltyBps = p.nonRevealPenaltyBps;
        _maxFeedAge = p.maxFeedAge;
        _tokenUnit = 10 ** IERC20Metadata(address(paymentToken_)).decimals();
        settlement = settlement_;
        paymentToken_.forceApprove(settlement_, type(uint256).max);
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IBatchAuction
    function commit(uint64 intervalId, bytes32 commitment, uint256 collateral) external {
        _commit(intervalId, commitment, collateral);
    }

    /// @inheritdoc IBatchAuction
    function commitWithPermit(
        uint64 intervalId,
        bytes32 commitment,
        uint256 collateral,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        // An allowance that suffices already (a larger approval, or this permit front-run) is kept as it is.
        if (paymentToken.allowance(msg.sender, address(this)) < collateral) {
            try IERC20Permit(address(paymentToken)).permit(msg.sender, address(this), collateral, deadline, v, r, s) {
                // permitted
            } catch {
                // transferFrom below fails with the token's own error when there is no allowance
            }
        }
        _commit(intervalId, commitment, collateral);
    }

    /// @inheritdoc IBatchAuction
    function open(uint64 intervalId) external returns (uint64 floor, uint64 ceiling) {
        Phase p = phase(intervalId);
        if (p != Phase.Commit && p != Phase.Reveal) revert BatchAuctionWrongPhase(intervalId, Phase.Commit, p);
        AuctionState storage a = _auctions[intervalId];
        if (a.ceiling == 0) _setBounds(intervalId, a);
        return (a.floor, a.ceiling);
    }

    /// @inheritdoc IBatchAuction
    function reveal(uint64 intervalId, Order calldata order, bytes32 salt) external {
        _requirePhase(intervalId, Phase.Reveal);
        bytes32 commitment = commitmentOf(intervalId, msg.sender, order, salt);
        Entry storage entry = _entries[intervalId][msg.sender][commitment];
        // The entry is read and written as one word (its layout: {Entry}, first member in the low bits).
        uint256 word;
        assembly ("memory-safe") {
            word := sload(entry.slot)
        }
        uint80 collateral = uint80(word);
        EntryState state = EntryState(uint8(word >> 80));
        if (state == EntryState.None) revert BatchAuctionUnknownCommitment(intervalId, commitment);
        if (state != EntryState.Committed) revert BatchAuctionAlreadyRevealed(intervalId, commitment);
        AuctionState storage a = _auctions[intervalId];
        // One read: the bounds (set here if nobody opened the auction) and the count of revealed orders.
        AuctionState memory state_ = a;
        if (state_.ceiling == 0) (state_.floor, state_.ceiling) = _setBounds(intervalId, a);
        if (state_.orders >= _maxOrders) revert BatchAuctionFull(intervalId, _maxOrders);
        a.orders = state_.orders + 1;
        _validate(order, collateral, state_.floor, state_.ceiling);

        // _validate bounds the quantity by MAX_ORDER_WH and the limit by the ceiling (at most MAX_PRICE); the level
        // before the order holds at most 65,534 orders of at most 2^32 − 1 Wh each: every cast below fits.
        uint48 cumBefore = _addToLevel(intervalId, order);
        word =
            uint256(collateral) |
            (uint256(uint8(EntryState.Revealed)) << 80) |
            (uint256(uint8(order.side)) << 88) |
            (uint256(order.zone) << 96) |
            (uint256(uint32(order.quantityWh)) << 128) |
            (uint256(uint48(order.limitPrice)) << 160) |
            (uint256(cumBefore) << 208);
        assembly ("memory-safe") {
            sstore(entry.slot, word)
        }
        _emitRevealed(intervalId, commitment, order);
    }

    /// @inheritdoc IBatchAuction
    function clear(uint64 intervalId) external {
        _requirePhase(intervalId, Phase.Clearing);
        AuctionState storage a = _auctions[intervalId];
        uint32[] memory zoneIds = _sortedZones(intervalId);
        ZonalClearing.Book memory book = _loadBook(intervalId, zoneIds, a.floor, a.ceiling);
        (uint64 price, ZonalClearing.ZoneOutcome[] memory outcomes, uint64 traded, uint256 rent) = ZonalClearing.clear(
            book,
            a.floor,
            a.ceiling
        );
        a.cleared = true;
        a.systemPrice = price;
        tradedWh[intervalId] = traded;
        for (uint256 i = 0; i < zoneIds.length; ++i) {
            ZonalClearing.ZoneOutcome memory o = outcomes[i];
            _outcomes[intervalId][zoneIds[i]] = o;
            emit ZoneCleared(
                intervalId,
                zoneIds[i],
                o.price,
                o.netExportWh,
                o.congestion,
                o.sellAtPriceWh,
                o.sellAtPriceFilledWh,
                o.buyAtPriceWh,
                o.buyAtPriceFilledWh
            );
        }
        emit AuctionCleared(intervalId, price, traded, rent);
    }

    /// @inheritdoc IBatchAuction
    function withdraw(uint64 intervalId, bytes32 commitment) external {
        Entry storage entry = _entries[intervalId][msg.sender][commitment];
        Entry memory o = entry;
        if (o.state == EntryState.None) revert BatchAuctionUnknownCommitment(intervalId, commitment);
        if (o.state > EntryState.Revealed) revert BatchAuctionAlreadyWithdrawn(intervalId, commitment);
        uint256 penalty;
        Phase p = phase(intervalId);
        if (o.state == EntryState.Revealed) {
            // A void auction (not cleared before delivery) returns everything; otherwise wait for the clearing.
            if (p != Phase.Void) {
                if (p != Phase.Cleared) revert BatchAuctionWrongPhase(intervalId, Phase.Cleared, p);
                (uint64 filled, ) = _fill(intervalId, o);
                if (filled != 0) revert BatchAuctionCollateralLocked(intervalId, commitment, filled);
            }
        } else {
            if (p != Phase.Clearing && p != Phase.Cleared && p != Phase.Void) {
                revert BatchAuctionWrongPhase(intervalId, Phase.Clearing, p);
            }
            // No penalty where a reveal could have been refused for want of room or of bounds: a full book, or no
            // bounds ever set (the feeds stale all through the reveal window, or nobody revealed).
            AuctionState storage a = _auctions[intervalId];
            if (a.orders < _maxOrders && a.ceiling != 0) {
                penalty = (uint256(o.collateral) * _nonRevealPenaltyBps) / 10_000;
            }
        }
        entry.state = o.state == EntryState.Revealed ? EntryState.Released : EntryState.Forfeited;
        uint256 refund = o.collateral - penalty;
        emit CollateralWithdrawn(intervalId, msg.sender, commitment, refund, penalty);
        if (penalty != 0) paymentToken.safeTransfer(treasury, penalty);
        if (refund != 0) paymentToken.safeTransfer(msg.sender, refund);
    }

    /// @inheritdoc IBatchAuction
    function settleOrder(
        uint64 intervalId,
        address trader,
        bytes32 commitment
    ) external returns (FilledOrder memory order) {
        if (msg.sender != settlement) revert BatchAuctionNotSettlement(msg.sender);
        Entry storage entry = _entries[intervalId][trader][commitment];
        Entry memory o = entry;
        if (o.state > EntryState.Revealed) revert BatchAuctionAlreadyWithdrawn(intervalId, commitment);
        if (o.state != EntryState.Revealed || !_auctions[intervalId].cleared) {
            revert BatchAuctionNotFilled(intervalId, commitment);
        }
        (order.filledWh, order.price) = _fill(intervalId, o);
        if (order.filledWh == 0) revert BatchAuctionNotFilled(intervalId, commitment);
        entry.state = EntryState.Released;
        order.side = o.side;
        order.zone = o.zone;
        order.quantityWh = o.quantityWh;
        order.limitPrice = o.limitPrice;
        order.collateral = o.collateral;
    }

    /// @inheritdoc IBatchAuction
    function fillOf(
        uint64 intervalId,
        address trader,
        bytes32 commitment
    ) external view returns (uint64 filledWh, uint64 price) {
        Entry memory o = _entries[intervalId][trader][commitment];
        if ((o.state != EntryState.Revealed && o.state != EntryState.Released) || !_auctions[intervalId].cleared) {
            return (0, 0);
        }
        return _fill(intervalId, o);
    }

    /// @inheritdoc IBatchAuctionBook
    function bounds(uint64 intervalId) external view returns (uint64 floor, uint64 ceiling) {
        AuctionState storage a = _auctions[intervalId];
        return (a.floor, a.ceiling);
    }

    /// @notice Orders revealed so far (commitments are not counted: committing touches no auction-wide storage).
    /// @param intervalId The auction's delivery interval.
    /// @return Revealed orders in the auction's book (at most `maxOrders`).
    function orderCount(uint64 intervalId) external view returns (uint32) {
        return _auctions[intervalId].orders;
    }

    /// @notice The system price after clearing (zero before).
    /// @param intervalId The auction's delivery interval.
    /// @return The uncongested zones' price, payment-token base units per kWh.
    function systemPrice(uint64 intervalId) external view returns (uint64) {
        return _auctions[intervalId].systemPrice;
    }

    /// @inheritdoc IBatchAuctionBook
    function zoneOutcome(uint64 intervalId, uint32 zone) external view returns (ZonalClearing.ZoneOutcome memory) {
        return _outcomes[intervalId][zone];
    }

    /// @inheritdoc IBatchAuctionBook
    function zonesOf(uint64 intervalId) external view returns (uint32[] memory) {
        return _zonesOf[intervalId];
    }

    /// @inheritdoc IBatchAuctionBook
    function params() external view returns (Params memory) {
        return
            Params({
                commitWindow: _commitWindow,
                revealWindow: _revealWindow,
                gateLead: _gateLead,
                settlementWindow: _settlementWindow,
                minDeposit: _minDeposit,
                tickSize: _tickSize,
                maxOrders: _maxOrders,
                sellerBondBps: _sellerBondBps,
                nonRevealPenaltyBps: _nonRevealPenaltyBps,
                maxFeedAge: _maxFeedAge
            });
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IBatchAuction
    function commitmentOf(
        uint64 intervalId,
        address trader,
        Order calldata order,
        bytes32 salt
    ) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), intervalId, trader, order, salt));
    }

    /// @inheritdoc IBatchAuction
    function schedule(uint64 intervalId) public view returns (Schedule memory s) {
        s.deliveryStart = intervalId * intervalLength;
        if (s.deliveryStart < _gateLead + _revealWindow + _commitWindow)
            revert BatchAuctionIntervalTooEarly(intervalId);
        s.gateClosure = s.deliveryStart - _gateLead;
        s.revealStart = s.gateClosure - _revealWindow;
        s.commitStart = s.revealStart - _commitWindow;
        s.settlementDeadline = s.deliveryStart + intervalLength + _settlementWindow;
    }

    /// @inheritdoc IBatchAuction
    function phase(uint64 intervalId) public view returns (Phase) {
        if (_auctions[intervalId].cleared) return Phase.Cleared;
        Schedule memory s = schedule(intervalId);
        if (block.timestamp < s.commitStart) return Phase.Scheduled;
        if (block.timestamp < s.revealStart) return Phase.Commit;
        if (block.timestamp < s.gateClosure) return Phase.Reveal;
        if (block.timestamp < s.deliveryStart) return Phase.Clearing;
        return Phase.Void;
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    /// @dev Touches the sender's entry and the token only: the phase follows from the clock alone (an auction in its
    /// commit window cannot have cleared), and the bounds and the order cap wait for {open} and {reveal}.
    function _commit(uint64 intervalId, bytes32 commitment, uint256 collateral) private {
        Schedule memory s = schedule(intervalId);
        if (block.timestamp < s.commitStart || block.timestamp >= s.revealStart) {
            revert BatchAuctionWrongPhase(intervalId, Phase.Commit, phase(intervalId));
        }
        if (collateral < _minDeposit) revert BatchAuctionCollateralBelowMinimum(collateral, _minDeposit);
        Entry storage entry = _entries[intervalId][msg.sender][commitment];
        if (entry.state != EntryState.None) revert BatchAuctionCommitmentExists(intervalId, commitment);
        entry.collateral = SafeCast.toUint80(collateral);
        entry.state = EntryState.Committed;
        emit OrderCommitted(intervalId, msg.sender, commitment, collateral);
        uint256 before = paymentToken.balanceOf(address(this));
        paymentToken.safeTransferFrom(msg.sender, address(this), collateral);
        uint256 received = paymentToken.balanceOf(address(this)) - before;
        if (received != collateral) revert BatchAuctionTransferMismatch(collateral, received);
    }

    /// @dev Reads both feeds once per auction, converted to payment-token base units per kWh: the floor rounded
    /// up and the ceiling down to the tick, so every accepted limit lies within both tariffs.
    function _setBounds(uint64 intervalId, AuctionState storage a) private returns (uint64, uint64) {
        uint256 floor = _readFeed(floorFeed, Math.Rounding.Ceil);
        uint256 ceiling = _readFeed(ceilingFeed, Math.Rounding.Floor);
        floor = Math.ceilDiv(floor, _tickSize) * _tickSize;
        ceiling = (Math.min(ceiling, MAX_PRICE) / _tickSize) * _tickSize;
        if (floor > ceiling) revert BatchAuctionInvertedBounds(floor, ceiling);

        // ceiling ≤ MAX_PRICE and floor ≤ ceiling: both fit.
        a.floor = uint64(floor);
        a.ceiling = uint64(ceiling);
        emit BoundsSet(intervalId, floor, ceiling);
        return (uint64(floor), uint64(ceiling));
    }

    function _readFeed(AggregatorV3Interface feed, Math.Rounding rounding) private view returns (uint256) {
        (, int256 answer, , uint256 updatedAt, ) = feed.latestRoundData();
        if (answer <= 0 || updatedAt + _maxFeedAge < block.timestamp) {
            revert BatchAuctionStaleFeed(address(feed), answer, updatedAt);
        }
        return Math.mulDiv(uint256(answer), _tokenUnit, 10 ** feed.decimals(), rounding);
    }

    function _validate(Order calldata order, uint256 collateral, uint64 floor, uint64 ceiling) private view {
        if (order.quantityWh == 0) revert BatchAuctionZeroQuantity();
        if (order.quantityWh > MAX_ORDER_WH) revert BatchAuctionQuantityAboveCapacity(order.quantityWh, MAX_ORDER_WH);
        if (order.limitPrice < floor || order.limitPrice > ceiling || order.limitPrice % _tickSize != 0) {
            revert BatchAuctionInvalidPrice(order.limitPrice, floor, ceiling, _tickSize);
        }
        // quantity × limit, Wh × base units per kWh / 1000 = base units; rounded up for what must be covered.
        uint256 value = Math.ceilDiv(uint256(order.quantityWh) * order.limitPrice, 1000);
        uint256 required;
        if (order.side == Side.Buy) {
            if (order.meter != address(0)) revert BatchAuctionBuyerMeter(order.meter);
            // The zone is checked when its first level is opened ({_firstInLevel}): zones cannot be removed.
            required = value;
        } else {
            // A meter's zone is always configured: registering or moving a meter requires it.
            (
                address owner,
                uint32 zone,
                ,
                IMeterRegistry.MeterStatus status,
                IMeterRegistry.Technology tech,

            ) = registry.claimInfo(order.meter, 0);
            if (
                status != IMeterRegistry.MeterStatus.Active ||
                owner != msg.sender ||
                zone != order.zone ||
                tech == IMeterRegistry.Technology.LoadOnly
            ) revert BatchAuctionInvalidSellerMeter(order.meter, msg.sender, order.zone);
            uint64 maxWh = registry.maxWhPerInterval(order.meter);
            if (order.quantityWh > maxWh) revert BatchAuctionQuantityAboveCapacity(order.quantityWh, maxWh);
            required = Math.ceilDiv(value * _sellerBondBps, 10_000);
        }
        if (collateral < required) revert BatchAuctionInsufficientCollateral(collateral, required);
    }

    /// @dev Adds the order to its (zone, tick) level; returns the level's quantity on the order's side before it.
    function _addToLevel(uint64 intervalId, Order calldata order) private returns (uint48 cumBefore) {
        uint256 tick = order.limitPrice / _tickSize;
        uint256 level = _levels[intervalId][order.zone][tick];
        if (level == 0) _firstInLevel(intervalId, order.zone, tick);
        if (order.side == Side.Sell) {
            cumBefore = SafeCast.toUint48(uint128(level));
            level += order.quantityWh;
        } else {
            cumBefore = SafeCast.toUint48(level >> 128);
            level += uint256(order.quantityWh) << 128;
        }
        _levels[intervalId][order.zone][tick] = level;
    }

    function _emitRevealed(uint64 intervalId, bytes32 commitment, Order calldata order) private {
        emit OrderRevealed(
            intervalId,
            msg.sender,
            commitment,
            order.side,
            order.zone,
            order.quantityWh,
            order.limitPrice,
            order.meter
        );
    }

    /// @dev A new (zone, tick) level: mark the tick; for a new bitmap word mark it in the summary and, for a new
    /// zone, list the zone once the registry confirms it is configured (a seller's meter zone always is; a listed
    /// zone stays configured, since zones cannot be removed, so later buyers skip the registry call).
    function _firstInLevel(uint64 intervalId, uint32 zone, uint256 tick) private {
        mapping(uint256 => uint256) storage words = _ticks[intervalId][zone];
        uint256 w = tick >> 8;
        uint256 word = words[w];
        if (word == 0) {
            ZonalClearing.ZoneOutcome storage outcome = _outcomes[intervalId][zone];
            if (!outcome.listed) {
                if (!registry.getZone(zone).configured) revert BatchAuctionUnknownZone(zone);
                if (_zonesOf[intervalId].length >= MAX_ZONES) revert BatchAuctionTooManyZones(intervalId, MAX_ZONES);
                _zonesOf[intervalId].push(zone);
                outcome.listed = true;
            }
            uint256 summary = _words[intervalId][zone][w >> 8];
            if (summary == 0) _tops[intervalId][zone][w >> 16] |= 1 << ((w >> 8) & 0xff);
            _words[intervalId][zone][w >> 8] = summary | (1 << (w & 0xff));
        }
        words[w] = word | (1 << (tick & 0xff));
    }

    /// @dev The auction's zones in ascending id (the order the clearing shares slack in).
    function _sortedZones(uint64 intervalId) private view returns (uint32[] memory zones) {
        zones = _zonesOf[intervalId];
        for (uint256 i = 1; i < zones.length; ++i) {
            uint32 z = zones[i];
            uint256 j = i;
            while (j > 0 && zones[j - 1] > z) {
                zones[j] = zones[j - 1];
                --j;
            }
            zones[j] = z;
        }
    }

    /// @dev Every zone's non-empty price levels, merged in ascending price: walks the summary bitmaps to the
    /// non-empty tick words (in ascending order, the union over zones), and each word's ticks likewise.
    function _loadBook(
        uint64 intervalId,
        uint32[] memory zoneIds,
        uint64 floor,
        uint64 ceiling
    ) private view returns (ZonalClearing.Book memory book) {
        uint256 n = zoneIds.length;
        book.exportCapWh = new uint256[](n);
        book.importCapWh = new uint256[](n);
        book.totalSell = new uint256[](n);
        book.totalBuy = new uint256[](n);
        for (uint256 z = 0; z < n; ++z) {
            IMeterRegistry.Zone memory cfg = registry.getZone(zoneIds[z]);
            book.exportCapWh[z] = (uint256(cfg.exportCapacityW) * intervalLength) / 3600;
            book.importCapWh[z] = (uint256(cfg.importCapacityW) * intervalLength) / 3600;
        }
        uint256 count;
        for (uint256 z = 0; z < n; ++z) count += _countLevels(intervalId, zoneIds[z], floor, ceiling);
        book.prices = new uint256[](count);
        book.zoneOf = new uint256[](count);
        book.sells = new uint256[](count);
        book.buys = new uint256[](count);
        uint256 k;
        uint256[] memory tops = new uint256[](n);
        // Each zone's level mapping, located once: a level is then one hash of its tick away.
        uint256[] memory bases = new uint256[](n);
        for (uint256 z = 0; z < n; ++z) {
            mapping(uint256 => uint256) storage levels = _levels[intervalId][zoneIds[z]];
            uint256 base;
            assembly ("memory-safe") {
                base := levels.slot
            }
            bases[z] = base;
        }
        for (uint256 t = (floor / _tickSize) >> 24; t <= (ceiling / _tickSize) >> 24; ++t) {
            uint256 union;
            for (uint256 z = 0; z < n; ++z) {
                tops[z] = _tops[intervalId][zoneIds[z]][t];
                union |= tops[z];
            }
            while (union != 0) {
                uint256 si = (t << 8) | _lowestBit(union);
                union &= union - 1;
                k = _appendSummary(intervalId, zoneIds, tops, bases, si, book, k);
            }
        }
    }

    /// @dev Appends the levels under summary word `si` of every zone whose top word marks it; returns the next index.
    function _appendSummary(
        uint64 intervalId,
        uint32[] memory zoneIds,
        uint256[] memory tops,
        uint256[] memory bases,
        uint256 si,
        ZonalClearing.Book memory book,
        uint256 k
    ) private view returns (uint256) {
        // Scratch rows reused for every tick word below (memory is never freed): [0] summaries, [1] tick words.
        uint256[][2] memory scratch = [new uint256[](zoneIds.length), new uint256[](zoneIds.length)];
        uint256 union;
        for (uint256 z = 0; z < zoneIds.length; ++z) {
            if (tops[z] & (1 << (si & 0xff)) == 0) continue;
            scratch[0][z] = _words[intervalId][zoneIds[z]][si];
            union |= scratch[0][z];
        }
        while (union != 0) {
            uint256 bit = _lowestBit(union);
            union &= union - 1;
            k = _appendWord(intervalId, zoneIds, scratch, bases, (si << 8) | bit, book, k);
        }
        return k;
    }

    /// @dev The number of the zone's non-empty levels, walking down from its top-level words.
    function _countLevels(
        uint64 intervalId,
        uint32 zone,
        uint64 floor,
        uint64 ceiling
    ) private view returns (uint256 n) {
        for (uint256 t = (floor / _tickSize) >> 24; t <= (ceiling / _tickSize) >> 24; ++t) {
            uint256 top = _tops[intervalId][zone][t];
            while (top != 0) {
                uint256 si = (t << 8) | _lowestBit(top);
                top &= top - 1;
                uint256 summary = _words[intervalId][zone][si];
                while (summary != 0) {
                    n += _popCount(_ticks[intervalId][zone][(si << 8) | _lowestBit(summary)]);
                    summary &= summary - 1;
                }
            }
        }
    }

    /// @dev Appends the levels of tick word `w` of every zone whose summary marks it, in ascending tick; returns
    /// the next index.
    function _appendWord(
        uint64 intervalId,
        uint32[] memory zoneIds,
        uint256[][2] memory scratch,
        uint256[] memory bases,
        uint256 w,
        ZonalClearing.Book memory book,
        uint256 k
    ) private view returns (uint256) {
        uint256[] memory words = scratch[1];
        uint256 union;
        for (uint256 z = 0; z < zoneIds.length; ++z) {
            words[z] = scratch[0][z] & (1 << (w & 0xff)) == 0 ? 0 : _ticks[intervalId][zoneIds[z]][w];
            union |= words[z];
        }
        while (union != 0) {
            uint256 tick = (w << 8) | _lowestBit(union);
            union &= union - 1;
            k = _appendTick(words, bases, tick, book, k);
        }
        return k;
    }

    /// @dev Appends the levels of every zone with orders at `tick` to `book` from index `k`; returns the next index.
    /// `bases[z]` is the storage slot of zone z's `_levels` mapping.
    function _appendTick(
        uint256[] memory words,
        uint256[] memory bases,
        uint256 tick,
        ZonalClearing.Book memory book,
        uint256 k
    ) private view returns (uint256) {
        for (uint256 z = 0; z < words.length; ++z) {
            if (words[z] & (1 << (tick & 0xff)) == 0) continue;
            uint256 base = bases[z];
            uint256 level;
            assembly ("memory-safe") {
                mstore(0, tick)
                mstore(32, base)
                level := sload(keccak256(0, 64))
            }
            book.prices[k] = tick * _tickSize;
            book.zoneOf[k] = z;
            book.sells[k] = uint128(level);
            book.buys[k] = level >> 128;
            book.totalSell[z] += uint128(level);
            book.totalBuy[z] += level >> 128;
            ++k;
        }
        return k;
    }

    function _fill(uint64 intervalId, Entry memory o) private view returns (uint64 filledWh, uint64 price) {
        ZonalClearing.ZoneOutcome storage z = _outcomes[intervalId][o.zone];
        price = z.price;
        bool sell = o.side == Side.Sell;
        if (sell ? o.limitPrice < price : o.limitPrice > price) return (o.quantityWh, price);
        if (o.limitPrice != price) return (0, price);
        uint256 total = sell ? z.sellAtPriceWh : z.buyAtPriceWh;
        uint256 filled = sell ? z.sellAtPriceFilledWh : z.buyAtPriceFilledWh;
        uint256 cum = o.cumBefore;
        filledWh = uint64(((cum + o.quantityWh) * filled) / total - (cum * filled) / total);
    }

    function _requirePhase(uint64 intervalId, Phase expected) private view {
        Phase actual = phase(intervalId);
        if (actual != expected) revert BatchAuctionWrongPhase(intervalId, expected, actual);
    }

    /// @dev The number of set bits of `x` (SWAR: bit pairs, nibbles, then the bytes summed by one multiplication).
    function _popCount(uint256 x) private pure returns (uint256) {
        if (x == type(uint256).max) return 256; // the byte sum below would wrap
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x =
                (x & 0x3333333333333333333333333333333333333333333333333333333333333333) +
                ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            return (x * 0x0101010101010101010101010101010101010101010101010101010101010101) >> 248;
        }
    }

    function _lowestBit(uint256 x) private pure returns (uint256) {
        return Math.log2(x & (~x + 1));
    }
}
