// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IBatchAuction} from "../interfaces/IBatchAuction.sol";
import {IBatchAuctionBook} from "../interfaces/IBatchAuctionBook.sol";
import {IReadingOracle} from "../interfaces/IReadingOracle.sol";
import {ISettlementEscrow} from "../interfaces/ISettlementEscrow.sol";
import {TokenIds} from "../libraries/TokenIds.sol";
import {ZonalClearing} from "../libraries/ZonalClearing.sol";

/// @title SettlementEscrow
/// @notice Delivery versus payment for cleared auctions (docs/settlement.md). The money stays in the BatchAuction,
/// the one vault, which lets this contract alone move it; each filled order is taken over exactly once.
/// @dev Energy flows as the clearing scheduled it: a zone's delivered energy goes first to its own buyers in the
/// ratio min(bought, sold) / sold, and an exporting zone's rest to the importing zones in proportion to their
/// imports. Slashed bonds follow the same paths, so buyers are compensated by the sellers who failed them. Buyers
/// pay their zone's price, never below what the delivering sellers receive (energy flows from cheaper zones to
/// dearer ones), so the escrow always holds what it owes; the difference is the congestion rent.
contract SettlementEscrow is ISettlementEscrow, AccessManaged, Pausable, ReentrancyGuardTransient, ERC1155Holder {
    using SafeERC20 for IERC20;

    /// @notice The auction whose filled orders this contract settles (and whose balance holds the money).
    IBatchAuctionBook public immutable auction;
    /// @notice The kWh tokens delivered.
    IERC1155 public immutable kwh;
    /// @notice Where final roots come from.
    IReadingOracle public immutable oracle;
    /// @notice The auction's payment token.
    IERC20 public immutable paymentToken;
    /// @notice Receives the congestion rent.
    address public immutable gridOperator;
    /// @notice Receives rounding dust (payment token and kWh tokens).
    address public immutable dustAccount;
    uint16 private immutable _sellerBondBps;

    mapping(uint64 intervalId => AuctionBook) private _books;
    mapping(uint64 intervalId => mapping(uint32 zone => ZoneBook)) private _zones;
    /// @dev Money the auction's settlement holds beyond what its unsettled orders will take: slashed bonds and
    /// buyers' payments in, sellers' payments, compensation and rent out. Dust when everyone settled.
    mapping(uint64 intervalId => int256) private _residual;

    /// @dev The exported pool of an auction, loaded once per transaction for importing buyers; and the outcome of
    /// the zone last collected from (a batch's buyers of one zone read it once).
    struct Pool {
        uint32 cachedZone;
        ZonalClearing.ZoneOutcome cached;
        uint32[] zones;
        ZonalClearing.ZoneOutcome[] outcomes;
        uint256[] exported;
        uint256 energy;
        uint256 compensation;
        uint256 total;
    }

    /// @param authority The system's AccessManager (pause).
    /// @param auction_ The BatchAuction, deployed naming this contract as its settlement.
    /// @param kwh_ The KwhToken whose tokens are delivered (its admin names this contract `setSettlementEscrow`).
    /// @param oracle_ The ReadingOracle whose final roots gate delivery.
    /// @param gridOperator_ Receives congestion rent.
    /// @param dustAccount_ Receives rounding dust.
    constructor(
        address authority,
        IBatchAuctionBook auction_,
        IERC1155 kwh_,
        IReadingOracle oracle_,
        address gridOperator_,
        address dustAccount_
    ) AccessManaged(authority) {
        if (gridOperator_ == address(0) || dustAccount_ == address(0)) revert EscrowZeroAddress();
        auction = auction_;
        kwh = kwh_;
        oracle = oracle_;
        paymentToken = auction_.paymentToken();
        gridOperator = gridOperator_;
        dustAccount = dustAccount_;
        _sellerBondBps = auction_.params().sellerBondBps;
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ISettlementEscrow
    function deliver(uint64 intervalId, address seller, bytes32 commitment) external nonReentrant whenNotPaused {
        _requireDeliverable(intervalId);
        _settleSeller(intervalId, seller, commitment, true);
    }

    /// @inheritdoc ISettlementEscrow
    function deliverBatch(
        uint64 intervalId,
        address[] calldata sellers,
        bytes32[] calldata commitments
    ) external nonReentrant whenNotPaused {
        _requireSameLength(sellers.length, commitments.length);
        _requireDeliverable(intervalId);
        for (uint256 i = 0; i < sellers.length; ++i) _settleSeller(intervalId, sellers[i], commitments[i], true);
    }

    /// @inheritdoc ISettlementEscrow
    function settleDefault(uint64 intervalId, address seller, bytes32 commitment) external nonReentrant {
        _requireDeadlineReached(intervalId);
        _settleSeller(intervalId, seller, commitment, false);
    }

    /// @inheritdoc ISettlementEscrow
    function settleDefaultBatch(
        uint64 intervalId,
        address[] calldata sellers,
        bytes32[] calldata commitments
    ) external nonReentrant {
        _requireSameLength(sellers.length, commitments.length);
        _requireDeadlineReached(intervalId);
        for (uint256 i = 0; i < sellers.length; ++i) _settleSeller(intervalId, sellers[i], commitments[i], false);
    }

    /// @inheritdoc ISettlementEscrow
    function collect(uint64 intervalId, address buyer, bytes32 commitment) external nonReentrant {
        _requireCollectable(intervalId);
        Pool memory pool;
        _collect(intervalId, buyer, commitment, buyer, pool);
    }

    /// @inheritdoc ISettlementEscrow
    function collectTo(uint64 intervalId, bytes32 commitment, address recipient) external nonReentrant {
        if (recipient == address(0)) revert EscrowZeroAddress();
        _requireCollectable(intervalId);
        Pool memory pool;
        _collect(intervalId, msg.sender, commitment, recipient, pool);
    }

    /// @inheritdoc ISettlementEscrow
    function collectBatch(
        uint64 intervalId,
        address[] calldata buyers,
        bytes32[] calldata commitments
    ) external nonReentrant {
        _requireSameLength(buyers.length, commitments.length);
        _requireCollectable(intervalId);
        Pool memory pool;
        for (uint256 i = 0; i < buyers.length; ++i) _collect(intervalId, buyers[i], commitments[i], buyers[i], pool);
    }

    /// @inheritdoc ISettlementEscrow
    function payRent(uint64 intervalId) external nonReentrant {
        _requireSellersSettled(intervalId);
        AuctionBook storage book = _books[intervalId];
        if (book.rentPaid) revert EscrowRentAlreadyPaid(intervalId);
        book.rentPaid = true;
        uint256 rent = congestionRent(intervalId);
        _residual[intervalId] -= SafeCast.toInt256(rent);
        emit CongestionRentPaid(intervalId, gridOperator, rent);
        if (rent != 0) paymentToken.safeTransferFrom(address(auction), gridOperator, rent);
    }

    /// @inheritdoc ISettlementEscrow
    function sweepDust(uint64 intervalId) external nonReentrant {
        AuctionBook storage book = _books[intervalId];
        uint256 traded = auction.tradedWh(intervalId);
        if (book.swept || !book.rentPaid || book.collectedBoughtWh != traded) revert EscrowNotSweepable(intervalId);
        book.swept = true;
        uint256 amount = SafeCast.toUint256(_residual[intervalId]);
        _residual[intervalId] = 0;
        uint32[] memory zones = auction.zonesOf(intervalId);
        uint256[] memory ids = new uint256[](zones.length);
        uint256[] memory whs = new uint256[](zones.length);
        for (uint256 i = 0; i < zones.length; ++i) {
            ids[i] = TokenIds.encode(zones[i], intervalId);
            whs[i] = kwh.balanceOf(address(this), ids[i]);
        }
        emit DustSwept(intervalId, dustAccount, amount, ids, whs);
        if (zones.length != 0) kwh.safeBatchTransferFrom(address(this), dustAccount, ids, whs, "");
        if (amount != 0) paymentToken.safeTransferFrom(address(auction), dustAccount, amount);
    }

    /// @notice Stops deliveries, and collections before the deadline (governance).
    function pause() external restricted {
        _pause();
    }

    /// @notice Resumes settlement (governance).
    function unpause() external restricted {
        _unpause();
    }

    /// @notice An auction's settlement so far.
    /// @param intervalId The auction's delivery interval.
    /// @return Sold Wh settled, delivered Wh, collected bought Wh, and whether the rent was paid and the dust swept.
    function auctionBook(uint64 intervalId) external view returns (AuctionBook memory) {
        return _books[intervalId];
    }

    /// @notice A zone's sellers' settlement so far.
    /// @param intervalId The auction's delivery interval.
    /// @param zone The zone.
    /// @return Delivered Wh, settled sold Wh, slashed bonds (payment-token base units) and collected bought Wh.
    function zoneBook(uint64 intervalId, uint32 zone) external view returns (ZoneBook memory) {
        return _zones[intervalId][zone];
    }

    /// @notice Money held for the auction beyond its unsettled orders' collateral (the dust once all settled).
    /// @param intervalId The auction's delivery interval.
    /// @return Payment-token base units: slashed bonds and buyers' payments less sellers' payments, compensation and
    /// rent; negative while buyers still have to pay for delivered energy, never once every order settled.
    function residualOf(uint64 intervalId) external view returns (int256) {
        return _residual[intervalId];
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @notice What the next buyer of `zone` to collect receives, pays and is compensated for a fill of `filledWh`,
    /// given the settlement so far (the energy is final once every seller settled; see docs/settlement.md).
    /// @param intervalId The auction's delivery interval.
    /// @param zone The buyer's zone.
    /// @param filledWh The buyer's fill, Wh.
    /// @return kWh token ids and Wh of each, the payment (rounded up) and the compensation, payment-token base units
    /// (empty when nobody bought in the zone).
    function buyerShare(uint64 intervalId, uint32 zone, uint64 filledWh) external view returns (BuyerShare memory) {
        Pool memory pool;
        return
            _share(intervalId, zone, auction.zoneOutcome(intervalId, zone), _zones[intervalId][zone], filledWh, pool);
    }

    /// @notice The congestion rent of an auction once every seller settled: what the importing zones' buyers pay
    /// for the imported energy at their prices less what the exporting zones' sellers receive for it at theirs
    /// (rounded down), base units.
    /// @param intervalId The auction's delivery interval.
    /// @return Payment-token base units (zero when the importers pay no more than the exporters receive); before
    /// every seller settled, the value for the energy delivered so far.
    function congestionRent(uint64 intervalId) public view returns (uint256) {
        Pool memory pool;
        _loadPool(intervalId, pool);
        uint256 revenue;
        uint256 cost;
        uint256 before;
        for (uint256 i = 0; i < pool.zones.length; ++i) {
            int96 x = pool.outcomes[i].netExportWh;
            if (x > 0) cost += pool.exported[i] * pool.outcomes[i].price;
            if (x >= 0) continue;
            uint256 imported = uint256(-int256(x));
            uint256 received = (pool.energy * (before + imported)) / pool.total - (pool.energy * before) / pool.total;
            revenue += received * pool.outcomes[i].price;
            before += imported;
        }
        return revenue > cost ? (revenue - cost) / 1000 : 0;
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    /// @dev Takes the seller's order over, hands over `min(filled, balance)` of its zone's tokens when delivering
    /// (none on default), pays them and returns the bond less the shortfall's compensation.
    function _settleSeller(uint64 intervalId, address seller, bytes32 commitment, bool delivering) private {
        IBatchAuction.FilledOrder memory o = auction.settleOrder(intervalId, seller, commitment);
        if (o.side != IBatchAuction.Side.Sell) revert EscrowWrongSide(intervalId, commitment);
        uint256 id = TokenIds.encode(o.zone, intervalId);
        uint64 delivered;
        if (delivering) {
            uint256 held = kwh.balanceOf(seller, id);
            // Anyone may complete a seller's delivery, only the seller accept a shortfall before the deadline (or
            // another caller could settle it short before it claimed its proven export).
            if (held < o.filledWh && msg.sender != seller) {
                revert EscrowShortDeliveryNotBySeller(intervalId, seller, held, o.filledWh);
            }
            delivered = uint64(Math.min(o.filledWh, held));
        }
        uint256 payment = (uint256(delivered) * o.price) / 1000;
        uint256 slashed;
        if (delivered < o.filledWh) {
            (, uint64 ceiling) = auction.bounds(intervalId);
            // The bond the order needed (docs/auction.md), the most a shortfall costs.
            uint256 bond = Math.ceilDiv(
                Math.ceilDiv(uint256(o.quantityWh) * o.limitPrice, 1000) * _sellerBondBps,
                10_000
            );
            slashed = Math.min(bond, (uint256(o.filledWh - delivered) * (ceiling - o.price)) / 1000);
        }
        uint256 bondReturned = o.collateral - slashed;

        ZoneBook storage zb = _zones[intervalId][o.zone];
        zb.deliveredWh += delivered;
        zb.processedWh += o.filledWh;
        zb.slashed += uint128(slashed);
        AuctionBook storage book = _books[intervalId];
        book.processedSoldWh += o.filledWh;
        book.deliveredWh += delivered;
        _residual[intervalId] += SafeCast.toInt256(slashed) - SafeCast.toInt256(payment);
        emit SellerSettled(
            intervalId,
            seller,
            commitment,
            o.zone,
            o.filledWh,
            delivered,
            o.price,
            payment,
            slashed,
            bondReturned
        );

        if (delivered != 0) kwh.safeTransferFrom(seller, address(this), id, delivered, "");
        paymentToken.safeTransferFrom(address(auction), seller, payment + bondReturned);
    }

    /// @dev Takes a buyer's order over and hands its share to `recipient`: energy, the rest of its collateral and
    /// compensation.
    function _collect(
        uint64 intervalId,
        address buyer,
        bytes32 commitment,
        address recipient,
        Pool memory pool
    ) private {
        IBatchAuction.FilledOrder memory o = auction.settleOrder(intervalId, buyer, commitment);
        if (o.side != IBatchAuction.Side.Buy) revert EscrowWrongSide(intervalId, commitment);
        ZoneBook storage zb = _zones[intervalId][o.zone];
        if (pool.cachedZone != o.zone) {
            pool.cached = auction.zoneOutcome(intervalId, o.zone);
            pool.cachedZone = o.zone;
        }
        BuyerShare memory share = _share(intervalId, o.zone, pool.cached, zb, o.filledWh, pool);
        uint256 refund = o.collateral - share.payment + share.compensation;

        zb.collectedWh += o.filledWh;
        _books[intervalId].collectedBoughtWh += o.filledWh;
        _residual[intervalId] += SafeCast.toInt256(share.payment) - SafeCast.toInt256(share.compensation);
        emit BuyerCollected(
            intervalId,
            buyer,
            commitment,
            o.zone,
            o.filledWh,
            uint64(share.receivedWh),
            o.price,
            share.payment,
            share.compensation,
            refund
        );

        if (share.ids.length == 1) {
            kwh.safeTransferFrom(address(this), recipient, share.ids[0], share.amounts[0], "");
        } else if (share.ids.length > 1) {
            kwh.safeBatchTransferFrom(address(this), recipient, share.ids, share.amounts, "");
        }
        if (refund != 0) paymentToken.safeTransferFrom(address(auction), recipient, refund);
    }

    /// @dev The share of the buyer whose fill `filledWh` comes next in `zone` (positions `collectedWh` to
    /// `collectedWh + filledWh` of the zone's `boughtWh`): a slice of the zone's own pool of energy and
    /// compensation and, for an importing zone, a slice of the zone's range of the exported pool.
    function _share(
        uint64 intervalId,
        uint32 zone,
        ZonalClearing.ZoneOutcome memory oz,
        ZoneBook memory zb,
        uint64 filledWh,
        Pool memory pool
    ) private view returns (BuyerShare memory s) {
        uint256 bought = oz.boughtWh;
        if (bought == 0) return s; // nobody bought in the zone: nothing to share
        uint256 c0 = zb.collectedWh;
        uint256 c1 = c0 + filledWh;
        uint256 ownEnergy = zb.deliveredWh;
        uint256 ownCompensation = zb.slashed;
        if (oz.netExportWh > 0) {
            // An exporting zone keeps for its buyers what does not leave it.
            ownEnergy -= _exported(ownEnergy, oz);
            ownCompensation -= _exported(ownCompensation, oz);
        }
        s.compensation = _slice(ownCompensation, c0, c1, bought);
        // The zone's energy as one list: its own pool, then (importing) its range [start, start + g) of the exported
        // pool; the buyer takes the slice [lo, hi) of it, so that it never receives more than it filled.
        uint256 start;
        uint256 g;
        if (oz.netExportWh < 0) {
            if (pool.zones.length == 0) _loadPool(intervalId, pool);
            uint256 compensation;
            (start, g, compensation) = _importRange(pool, zone, c0, c1, bought);
            s.compensation += compensation;
        }
        uint256 lo = ((ownEnergy + g) * c0) / bought;
        uint256 hi = ((ownEnergy + g) * c1) / bought;
        uint256 own = Math.min(hi, ownEnergy) - Math.min(lo, ownEnergy);
        uint256 received = own;
        uint256 n;
        if (hi <= ownEnergy) {
            s.ids = new uint256[](own == 0 ? 0 : 1);
            s.amounts = new uint256[](s.ids.length);
        } else {
            s.ids = new uint256[](pool.zones.length + 1);
            s.amounts = new uint256[](pool.zones.length + 1);
        }
        if (own != 0) {
            s.ids[0] = TokenIds.encode(zone, intervalId);
            s.amounts[0] = own;
            n = 1;
        }
        if (hi > ownEnergy) {
            // Pool positions of the imported part; the pool lists the exporting zones' energy one after the other.
            uint256 poolLo = start + Math.saturatingSub(lo, ownEnergy);
            uint256 poolHi = start + hi - ownEnergy;
            uint256 end;
            for (uint256 e = 0; e < pool.zones.length && end < poolHi; ++e) {
                uint256 begin = end;
                end += pool.exported[e];
                uint256 amount = Math.saturatingSub(Math.min(poolHi, end), Math.max(poolLo, begin));
                if (amount == 0) continue;
                s.ids[n] = TokenIds.encode(pool.zones[e], intervalId);
                s.amounts[n++] = amount;
                received += amount;
            }
            uint256[] memory ids = s.ids;
            uint256[] memory amounts = s.amounts;
            assembly ("memory-safe") {
                mstore(ids, n)
                mstore(amounts, n)
            }
        }
        s.receivedWh = received;
        s.payment = Math.ceilDiv(received * oz.price, 1000);
    }

    /// @dev Importing `zone`'s range `[start, start + g)` of the exported pool, where its imports sit among all
    /// imports; and the buyer's slice (positions `[c0, c1)` of `bought`) of the pooled compensation the range gets.
    function _importRange(
        Pool memory pool,
        uint32 zone,
        uint256 c0,
        uint256 c1,
        uint256 bought
    ) private pure returns (uint256 start, uint256 g, uint256 compensation) {
        uint256 before;
        uint256 imported;
        for (uint256 i = 0; i < pool.zones.length; ++i) {
            int96 x = pool.outcomes[i].netExportWh;
            if (pool.zones[i] == zone) {
                imported = uint256(-int256(x));
                break;
            }
            if (x < 0) before += uint256(-int256(x));
        }
        start = (pool.energy * before) / pool.total;
        g = (pool.energy * (before + imported)) / pool.total - start;
        uint256 cg = (pool.compensation * (before + imported)) / pool.total - (pool.compensation * before) / pool.total;
        compensation = _slice(cg, c0, c1, bought);
    }

    /// @dev Every zone's outcome, the delivered energy and slashed bonds each exporting zone sends out, and the
    /// totals: the exported pool the importing zones share in proportion to their imports.
    function _loadPool(uint64 intervalId, Pool memory pool) private view {
        pool.zones = auction.zonesOf(intervalId);
        uint256 n = pool.zones.length;
        pool.outcomes = new ZonalClearing.ZoneOutcome[](n);
        pool.exported = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            ZonalClearing.ZoneOutcome memory o = auction.zoneOutcome(intervalId, pool.zones[i]);
            pool.outcomes[i] = o;
            if (o.netExportWh <= 0) continue;
            ZoneBook storage zb = _zones[intervalId][pool.zones[i]];
            pool.exported[i] = _exported(zb.deliveredWh, o);
            pool.energy += pool.exported[i];
            pool.compensation += _exported(zb.slashed, o);
            pool.total += uint256(int256(o.netExportWh));
        }
    }

    /// @dev The part of an exporting zone's `amount` (delivered Wh or slashed bonds) that leaves it: X / S, rounded
    /// down (the zone's own buyers keep the rounding).
    function _exported(uint256 amount, ZonalClearing.ZoneOutcome memory o) private pure returns (uint256) {
        uint256 x = uint256(int256(o.netExportWh));
        return (amount * x) / (o.boughtWh + x);
    }

    /// @dev The slice `[c0, c1)` of `total` spread over `bought` positions: slices of consecutive positions add up to
    /// `total` exactly.
    function _slice(uint256 total, uint256 c0, uint256 c1, uint256 bought) private pure returns (uint256) {
        return (total * c1) / bought - (total * c0) / bought;
    }

    function _requireDeliverable(uint64 intervalId) private view {
        (bytes32 root, ) = oracle.finalRoot(intervalId);
        if (root == bytes32(0)) revert EscrowRootNotFinal(intervalId);
        uint64 deadline = auction.schedule(intervalId).settlementDeadline;
        if (block.timestamp >= deadline) revert EscrowDeadlinePassed(intervalId, deadline);
    }

    function _requireDeadlineReached(uint64 intervalId) private view {
        uint64 deadline = auction.schedule(intervalId).settlementDeadline;
        if (block.timestamp < deadline) revert EscrowDeadlineNotReached(intervalId, deadline);
    }

    function _requireCollectable(uint64 intervalId) private view {
        // Pausing stops settlements before the deadline, never a buyer's money after it.
        if (paused() && block.timestamp < auction.schedule(intervalId).settlementDeadline) revert EnforcedPause();
        _requireSellersSettled(intervalId);
    }

    function _requireSameLength(uint256 a, uint256 b) private pure {
        if (a != b) revert EscrowLengthMismatch(a, b);
    }

    function _requireSellersSettled(uint64 intervalId) private view {
        uint64 traded = auction.tradedWh(intervalId);
        uint64 processed = _books[intervalId].processedSoldWh;
        if (processed >= traded) return;
        (bytes32 root, ) = oracle.finalRoot(intervalId);
        if (root == bytes32(0) && block.timestamp < auction.schedule(intervalId).settlementDeadline) {
            revert EscrowRootNotFinal(intervalId);
        }
        revert EscrowSellersPending(intervalId, traded - processed);
    }
}
