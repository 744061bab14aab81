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
import {IReadingOracle} from "../interfaces/IReadingOracle.sol";
import {ISettlementEscrow} from "../interfaces/ISettlementEscrow.sol";
import {TokenIds} from "../libraries/TokenIds.sol";
import {ZonalClearing} from "../libraries/ZonalClearing.sol";
import {BatchAuction} from "./BatchAuction.sol";

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
    BatchAuction public immutable auction;
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

    /// @param authority The system's AccessManager (pause).
    /// @param auction_ The BatchAuction, deployed naming this contract as its settlement.
    /// @param gridOperator_ Receives congestion rent.
    /// @param dustAccount_ Receives rounding dust.
    constructor(
        address authority,
        BatchAuction auction_,
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
        (bytes32 root, ) = oracle.finalRoot(intervalId);
        if (root == bytes32(0)) revert EscrowRootNotFinal(intervalId);
        uint64 deadline = auction.schedule(intervalId).settlementDeadline;
        if (block.timestamp >= deadline) revert EscrowDeadlinePassed(intervalId, deadline);
        _settleSeller(intervalId, seller, commitment, true);
    }

    /// @inheritdoc ISettlementEscrow
    function settleDefault(uint64 intervalId, address seller, bytes32 commitment) external nonReentrant {
        uint64 deadline = auction.schedule(intervalId).settlementDeadline;
        if (block.timestamp < deadline) revert EscrowDeadlineNotReached(intervalId, deadline);
        _settleSeller(intervalId, seller, commitment, false);
    }

    /// @inheritdoc ISettlementEscrow
    function collect(uint64 intervalId, address buyer, bytes32 commitment) external nonReentrant {
        // Pausing stops settlements before the deadline, never a buyer's money after it.
        if (paused() && block.timestamp < auction.schedule(intervalId).settlementDeadline) revert EnforcedPause();
        _requireSellersSettled(intervalId);
        IBatchAuction.FilledOrder memory o = auction.settleOrder(intervalId, buyer, commitment);
        if (o.side != IBatchAuction.Side.Buy) revert EscrowWrongSide(intervalId, commitment);
        BuyerShare memory share = buyerShare(intervalId, o.zone, o.filledWh);
        uint256 received;
        for (uint256 i = 0; i < share.amounts.length; ++i) received += share.amounts[i];
        uint256 refund = o.collateral - share.payment + share.compensation;

        _books[intervalId].collectedBoughtWh += o.filledWh;
        _residual[intervalId] += SafeCast.toInt256(share.payment) - SafeCast.toInt256(share.compensation);
        emit BuyerCollected(
            intervalId,
            buyer,
            commitment,
            o.zone,
            o.filledWh,
            uint64(received),
            o.price,
            share.payment,
            share.compensation,
            refund
        );

        if (share.ids.length == 1) {
            kwh.safeTransferFrom(address(this), buyer, share.ids[0], share.amounts[0], "");
        } else if (share.ids.length > 1) {
            kwh.safeBatchTransferFrom(address(this), buyer, share.ids, share.amounts, "");
        }
        if (refund != 0) paymentToken.safeTransferFrom(address(auction), buyer, refund);
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
    function auctionBook(uint64 intervalId) external view returns (AuctionBook memory) {
        return _books[intervalId];
    }

    /// @notice A zone's sellers' settlement so far.
    function zoneBook(uint64 intervalId, uint32 zone) external view returns (ZoneBook memory) {
        return _zones[intervalId][zone];
    }

    /// @notice Money held for the auction beyond its unsettled orders' collateral (the dust once all settled).
    function residualOf(uint64 intervalId) external view returns (int256) {
        return _residual[intervalId];
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @notice What a buyer of `zone` that filled `filledWh` receives, pays and is compensated, given the sellers'
    /// settlement so far (final once every seller settled).
    function buyerShare(uint64 intervalId, uint32 zone, uint64 filledWh) public view returns (BuyerShare memory s) {
        ZonalClearing.ZoneOutcome memory oz = auction.zoneOutcome(intervalId, zone);
        uint256 bought = oz.boughtWh;
        int256 sold = int256(bought) + oz.netExportWh;
        uint32[] memory zones;
        ZonalClearing.ZoneOutcome[] memory o;
        uint256 exportsTotal;
        uint256 sources = sold > 0 ? 1 : 0;
        if (oz.netExportWh < 0) {
            (zones, o, exportsTotal) = _allOutcomes(intervalId);
            for (uint256 i = 0; i < zones.length; ++i) {
                if (o[i].netExportWh > 0) ++sources;
            }
        }
        s.ids = new uint256[](sources);
        s.amounts = new uint256[](sources);
        uint256 k;
        if (sold > 0) {
            // Own zone's sellers: the share min(bought, sold) / sold of their delivery comes to this zone's buyers.
            _addSource(s, k++, intervalId, zone, filledWh, oz.price, Math.min(bought, uint256(sold)), uint256(sold));
        }
        for (uint256 i = 0; i < zones.length; ++i) {
            ZonalClearing.ZoneOutcome memory oe = o[i];
            if (oe.netExportWh <= 0) continue;
            // Exporter e sends X_e / S_e of its delivery out, this zone taking |X_z| / ΣX of it.
            uint256 x = uint256(int256(oe.netExportWh));
            uint256 soldE = oe.boughtWh + x;
            _addSource(
                s,
                k++,
                intervalId,
                zones[i],
                filledWh,
                oz.price,
                x * uint256(-int256(oz.netExportWh)),
                soldE * exportsTotal
            );
        }
        // Buyers share every source by their filled fraction of the zone's purchases.
        for (uint256 i = 0; i < sources; ++i) {
            s.amounts[i] /= bought;
        }
        s.payment = Math.ceilDiv(s.payment, bought);
        s.compensation /= bought;
    }

    /// @notice The congestion rent of an auction once every seller settled: for the energy delivered from each
    /// exporting zone to each importing zone, the difference of their prices (rounded down), base units.
    function congestionRent(uint64 intervalId) public view returns (uint256 rent) {
        (uint32[] memory zones, ZonalClearing.ZoneOutcome[] memory o, uint256 exportsTotal) = _allOutcomes(intervalId);
        for (uint256 e = 0; e < zones.length; ++e) {
            if (o[e].netExportWh <= 0) continue;
            uint256 x = uint256(int256(o[e].netExportWh));
            // delivered exports of e: D_e × X_e / S_e
            uint256 num = uint256(_zones[intervalId][zones[e]].deliveredWh) * x;
            uint256 den = (o[e].boughtWh + x) * exportsTotal * 1000;
            for (uint256 z = 0; z < zones.length; ++z) {
                if (o[z].netExportWh >= 0 || o[z].price <= o[e].price) continue;
                uint256 imported = uint256(-int256(o[z].netExportWh));
                rent += Math.mulDiv(num, imported * (o[z].price - o[e].price), den);
            }
        }
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
        if (delivering) delivered = uint64(Math.min(o.filledWh, kwh.balanceOf(seller, id)));
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

    /// @dev Adds source zone `src`'s delivery (and slashed bonds) times `num / den` times `filledWh` to the share,
    /// still to be divided by the buyer's zone's purchases.
    function _addSource(
        BuyerShare memory s,
        uint256 k,
        uint64 intervalId,
        uint32 src,
        uint64 filledWh,
        uint64 price,
        uint256 num,
        uint256 den
    ) private view {
        ZoneBook memory zb = _zones[intervalId][src];
        s.ids[k] = TokenIds.encode(src, intervalId);
        // amounts and money scaled by `bought` (divided in buyerShare): floor for energy and compensation, ceiling
        // for the payment.
        s.amounts[k] = Math.mulDiv(uint256(filledWh) * zb.deliveredWh, num, den);
        s.payment += Math.mulDiv(uint256(filledWh) * zb.deliveredWh, num * price, den * 1000, Math.Rounding.Ceil);
        s.compensation += Math.mulDiv(uint256(filledWh) * zb.slashed, num, den);
    }

    /// @dev Every zone's outcome and the total exported: the larger of Σ exports and Σ imports, so that never more
    /// goes out of the exporters than they export, whatever the rounding of the clearing.
    function _allOutcomes(
        uint64 intervalId
    ) private view returns (uint32[] memory zones, ZonalClearing.ZoneOutcome[] memory o, uint256 exportsTotal) {
        zones = auction.zonesOf(intervalId);
        o = new ZonalClearing.ZoneOutcome[](zones.length);
        uint256 importsTotal;
        for (uint256 i = 0; i < zones.length; ++i) {
            o[i] = auction.zoneOutcome(intervalId, zones[i]);
            if (o[i].netExportWh > 0) exportsTotal += uint256(int256(o[i].netExportWh));
            else importsTotal += uint256(-int256(o[i].netExportWh));
        }
        exportsTotal = Math.max(exportsTotal, importsTotal);
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
