// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IBatchAuction} from "../../contracts/interfaces/IBatchAuction.sol";
import {IDealDesk} from "../../contracts/interfaces/IDealDesk.sol";
import {IKwhToken} from "../../contracts/interfaces/IKwhToken.sol";
import {IMeterRegistry} from "../../contracts/interfaces/IMeterRegistry.sol";
import {ISettlementEscrow} from "../../contracts/interfaces/ISettlementEscrow.sol";
import {Intervals} from "../../contracts/libraries/Intervals.sol";
import {MeterReadings} from "../../contracts/libraries/MeterReadings.sol";
import {TokenIds} from "../../contracts/libraries/TokenIds.sol";
import {ZonalClearing} from "../../contracts/libraries/ZonalClearing.sol";
import {DealDesk} from "../../contracts/market/DealDesk.sol";
import {MockStablecoin} from "../../contracts/mocks/MockStablecoin.sol";
import {PriceFeedMock} from "../../contracts/mocks/PriceFeedMock.sol";
import {ReadingOracle} from "../../contracts/oracle/ReadingOracle.sol";
import {KwhToken} from "../../contracts/tokens/KwhToken.sol";
import {RecToken} from "../../contracts/tokens/RecToken.sol";
import {Assert} from "./Assert.sol";
import {MerkleTrees} from "./MerkleTrees.sol";
import {SystemFixture} from "./SystemFixture.sol";
import {vm} from "./Vm.sol";

/// @notice BatchAuction's functions beyond {IBatchAuction} that the market tests read. The implementations are
/// deployed from their artifacts' creation code (`vm.getCode`; `deployCode` is not supported by Hardhat): importing
/// them would compile them without the IR pipeline their build profile overrides select, which SettlementEscrow
/// needs.
interface IAuction is IBatchAuction {
    function paymentToken() external view returns (address);
    function floorFeed() external view returns (address);
    function ceilingFeed() external view returns (address);
    function treasury() external view returns (address);
    function intervalLength() external view returns (uint64);
    function params() external view returns (Params memory);
    function bounds(uint64 intervalId) external view returns (uint64 floor, uint64 ceiling);
    function orderCount(uint64 intervalId) external view returns (uint32);
    function tradedWh(uint64 intervalId) external view returns (uint64);
    function zoneOutcome(uint64 intervalId, uint32 zone) external view returns (ZonalClearing.ZoneOutcome memory);
}

/// @notice SettlementEscrow's functions beyond {ISettlementEscrow} that the market tests read.
interface IEscrow is ISettlementEscrow {
    function gridOperator() external view returns (address);
    function dustAccount() external view returns (address);
    function auctionBook(uint64 intervalId) external view returns (AuctionBook memory);
    function residualOf(uint64 intervalId) external view returns (int256);
    function buyerShare(uint64 intervalId, uint32 zone, uint64 filledWh) external view returns (BuyerShare memory);
    function congestionRent(uint64 intervalId) external view returns (uint256);
}

/// @notice Drives BatchAuction, SettlementEscrow, DealDesk and RecToken for the market invariant test: a few buyers
/// and sellers commit, reveal (or not), the auction is opened, cleared or left void, collateral is withdrawn, the
/// oracle posts the delivery interval's readings, sellers claim kWh (and, for the two solar meters, certificates)
/// and deliver (or default), buyers collect; meanwhile any holder quotes its kWh or certificates on the desk
/// (EIP-712, signed with its key; now and then with another key), other actors fill (whole, partly, too much,
/// after expiry, cancellation or nonce invalidation, past the kWh transfer window), makers cancel and invalidate
/// nonces, and certificate holders retire for a beneficiary. Every payment-token movement out of the auction is
/// measured (balance differences) into a ghost ledger, and the amount each call moves is predicted from the
/// specification (docs/auction.md, docs/settlement.md, docs/deals.md); a refusal must be the exact custom error
/// predicted. A call that does otherwise is counted in `unexpected` with the last one's description in
/// `lastUnexpected`. The handler never reverts.
// A test handler keeps one ghost ledger per concern; its records favour readability over packing.
// solhint-disable-next-line max-states-count
contract MarketHandler {
    using MerkleTrees for bytes32[];

    /// @dev One commitment. `withdrawn` / `settled` count successful withdrawals / escrow take-overs (at most one
    /// of them, once, is the invariant).
    // solhint-disable-next-line gas-struct-packing
    struct Rec {
        uint64 intervalId;
        address trader;
        bytes32 commitment;
        IBatchAuction.Order order;
        bytes32 salt;
        uint256 collateral;
        bool revealed;
        uint8 withdrawn;
        uint8 settled;
    }

    /// @dev One signed quote. `forged`: signed with another key than the maker's (every fill must be refused).
    struct Deal {
        IDealDesk.Quote q;
        bytes signature;
        bytes32 hash;
        bool forged;
    }

    /// @dev A balance of `unit` (kWh or certificates) `id` held by `holder` (zero: none found).
    struct Holding {
        address holder;
        address unit;
        uint256 id;
        uint256 held;
    }

    /// @dev How the test wires the handler (one struct: too many for a constructor's stack otherwise).
    struct Wiring {
        IAuction auction;
        IEscrow escrow;
        KwhToken kwh;
        RecToken rec;
        DealDesk desk;
        ReadingOracle oracle;
        address[] members;
        address[] meters;
        uint32[] meterZones;
        bool[] meterEligible;
        uint256[] sellerKeys;
        uint256[] buyerKeys;
    }

    /// @dev One auction as the handler drove it.
    struct Auc {
        bool cleared;
        bool rootFinal;
        bool stale;
        uint256[] recs;
    }

    // Action ids (indices of `calls` / `done`).
    uint256 public constant COMMIT = 0;
    uint256 public constant OPEN = 1;
    uint256 public constant REVEAL = 2;
    uint256 public constant WARP = 3;
    uint256 public constant CLEAR = 4;
    uint256 public constant WITHDRAW = 5;
    uint256 public constant POST = 6;
    uint256 public constant DELIVER = 7;
    uint256 public constant DEFAULT = 8;
    uint256 public constant COLLECT = 9;
    uint256 public constant RENT = 10;
    uint256 public constant SWEEP = 11;
    uint256 public constant DOUBLE = 12;
    uint256 public constant QUOTE = 13;
    uint256 public constant FILL = 14;
    uint256 public constant CANCEL = 15;
    uint256 public constant NONCES = 16;
    uint256 public constant RETIRE = 17;
    uint256 public constant ACTIONS = 18;

    uint256 public constant BUYERS = 3;
    uint256 public constant SELLERS = 4;
    uint64 public constant PRICE_STEP = 10_000;
    /// @notice The key a forged quote is signed with (no actor's).
    uint256 public constant FORGER_KEY = 0xF0F0;

    IAuction public immutable auction;
    IEscrow public immutable escrow;
    MockStablecoin public immutable token;
    KwhToken public immutable kwh;
    RecToken public immutable certificates;
    DealDesk public immutable desk;
    ReadingOracle public immutable oracle;
    PriceFeedMock public immutable floorFeed;
    PriceFeedMock public immutable ceilingFeed;
    address public immutable treasury;
    address public immutable gridOperator;
    address public immutable dustAccount;
    uint64 public immutable intervalLength;
    IBatchAuction.Params internal _p;
    address[] internal _members;

    address[] public buyers;
    address[] public sellers;
    address[] public meters;
    uint32[] public meterZones;
    bool[] public meterEligible;
    /// @notice Sellers then buyers: the makers, takers and beneficiaries of deals and retirements.
    address[] public actors;
    mapping(address actor => uint256) internal _keyOf;

    /// @notice Handler clock: every action warps here first, so time only moves forward whatever the runner does.
    uint256 public clock;
    /// @notice The auction new commitments go to (0: none yet).
    uint64 public cur;
    uint64[] public auctions;
    mapping(uint64 intervalId => Auc) internal _aucs;
    Rec[] internal _recs;
    uint256 internal _saltNonce;

    // Ghost ledger of the payment token (measured balance differences).
    uint256 public ghostIn;
    uint256 public ghostRefunds;
    uint256 public ghostPenalties;
    uint256 public ghostSellerPaid;
    uint256 public ghostBuyerRefunds;
    uint256 public ghostRent;
    uint256 public ghostDust;
    /// @notice Penalties as predicted from the specification (collateral × bps, or 0 for a full book / no bounds).
    uint256 public ghostExpectedPenalties;
    /// @notice Per auction: what sellers were paid for delivered energy (without their bonds), what buyers paid.
    mapping(uint64 intervalId => uint256) public sellerPayments;
    mapping(uint64 intervalId => uint256) public buyerPayments;

    mapping(uint256 action => uint256) public calls;
    mapping(uint256 action => uint256) public done;
    uint256 public unexpected;
    bytes public lastUnexpected;
    uint256 public penalisedWithdrawals;
    uint256 public freeUnrevealedWithdrawals;
    uint256 public shortDeliveries;

    // Deals: the quotes signed, and per quote hash the units filled and whether the maker cancelled it.
    Deal[] internal _deals;
    mapping(bytes32 quoteHash => uint256) public ghostFilled;
    mapping(bytes32 quoteHash => bool) public ghostCancelled;
    mapping(address maker => uint256) public ghostMinNonce;
    /// @notice Σ ceil(amount × price / 1000) over the fills (predicted), what takers paid and makers received
    /// (measured).
    uint256 public ghostDealPayments;
    uint256 public ghostTakersPaid;
    uint256 public ghostMakersReceived;
    uint256 public kwhFills;
    uint256 public recFills;
    uint256 public partialFills;
    uint256 public refusedFills;
    /// @notice Refused fills by the error's selector.
    mapping(bytes4 selector => uint256) public refusedBy;

    // Energy: every kWh id and certificate class minted, with what was minted, issued, proven and retired.
    uint256[] public kwhIds;
    mapping(uint256 id => uint256) public kwhMinted;
    uint256[] public recIds;
    mapping(uint256 id => uint256) public recIssued;
    mapping(uint256 id => uint256) public recEligibleExport;
    mapping(uint256 id => uint256) public recRetired;
    /// @notice Intervals whose root the handler finalised (their kWh claimed).
    uint64[] public provenIntervals;

    constructor(Wiring memory w) {
        auction = w.auction;
        escrow = w.escrow;
        token = MockStablecoin(address(w.auction.paymentToken()));
        kwh = w.kwh;
        certificates = w.rec;
        desk = w.desk;
        oracle = w.oracle;
        floorFeed = PriceFeedMock(address(w.auction.floorFeed()));
        ceilingFeed = PriceFeedMock(address(w.auction.ceilingFeed()));
        treasury = w.auction.treasury();
        gridOperator = w.escrow.gridOperator();
        dustAccount = w.escrow.dustAccount();
        intervalLength = w.auction.intervalLength();
        _p = w.auction.params();
        _members = w.members;
        meters = w.meters;
        meterZones = w.meterZones;
        meterEligible = w.meterEligible;
        for (uint256 i = 0; i < w.sellerKeys.length; ++i) sellers.push(_addActor(w.sellerKeys[i]));
        for (uint256 i = 0; i < w.buyerKeys.length; ++i) buyers.push(_addActor(w.buyerKeys[i]));
        clock = block.timestamp;
    }

    function _addActor(uint256 key) private returns (address actor) {
        actor = vm.addr(key);
        actors.push(actor);
        _keyOf[actor] = key;
    }

    modifier synced(uint256 action) {
        ++calls[action];
        vm.warp(clock);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Commits one to three random buy or sell orders of random actors to the current auction (a new auction
    /// when the current one is cleared or void). Collateral: what the order needs (or the minimum deposit) plus some;
    /// now and then one base unit short (the reveal is then refused and the commitment stays unrevealed).
    function commit(uint256 actorSeed, uint256 qtySeed, uint256 priceSeed, uint256 extraSeed) public synced(COMMIT) {
        if (cur == 0) {
            _newAuction(extraSeed);
        } else {
            IBatchAuction.Phase ph = auction.phase(cur);
            if (ph == IBatchAuction.Phase.Cleared || ph == IBatchAuction.Phase.Void) _newAuction(extraSeed);
            else if (ph != IBatchAuction.Phase.Commit) return;
        }
        uint256 count = 1 + ((extraSeed >> 40) % 3);
        for (uint256 c = 0; c < count; ++c) {
            _commitOne(actorSeed, qtySeed, priceSeed, extraSeed);
            (actorSeed, qtySeed, priceSeed, extraSeed) = (
                uint256(keccak256(abi.encode(actorSeed, 1))),
                uint256(keccak256(abi.encode(qtySeed, 2))),
                uint256(keccak256(abi.encode(priceSeed, 3))),
                uint256(keccak256(abi.encode(extraSeed, 4)))
            );
        }
    }

    function _commitOne(uint256 actorSeed, uint256 qtySeed, uint256 priceSeed, uint256 extraSeed) private {
        bool sell = actorSeed % 2 == 1;
        IBatchAuction.Order memory o;
        address trader;
        if (sell) {
            uint256 i = (actorSeed >> 8) % SELLERS;
            trader = sellers[i];
            o.side = IBatchAuction.Side.Sell;
            o.zone = meterZones[i];
            o.meter = meters[i];
            o.quantityWh = uint64(Assert.bound(qtySeed, 100, 2500));
        } else {
            trader = buyers[(actorSeed >> 8) % BUYERS];
            o.side = IBatchAuction.Side.Buy;
            o.zone = uint32(1 + ((actorSeed >> 16) % 3));
            o.quantityWh = uint64(Assert.bound(qtySeed, 100, 3000));
        }
        // 36 levels from the floor (0.05) to the ceiling (0.40), buyers in the upper 26 and sellers in the lower 26:
        // most books cross, and several orders share a level (pro-rata fills).
        o.limitPrice = 50_000 + PRICE_STEP * uint64((priceSeed % 26) + (sell ? 0 : 10));
        uint256 required = _required(o);
        uint256 collateral = Math.max(required, _p.minDeposit);
        if (extraSeed % 16 == 1 && required > _p.minDeposit) collateral = required - 1;
        else if (extraSeed % 4 != 0) collateral += (extraSeed >> 8) % 1_000_000;
        bytes32 salt = keccak256(abi.encode("salt", ++_saltNonce));
        bytes32 commitment = auction.commitmentOf(cur, trader, o, salt);
        token.mint(trader, collateral);
        uint256 before = token.balanceOf(address(auction));
        vm.prank(trader);
        try auction.commit(cur, commitment, collateral) {
            ++done[COMMIT];
            _unless(token.balanceOf(address(auction)) - before == collateral, "commit: collateral not received");
            ghostIn += collateral;
            _recs.push(Rec(cur, trader, commitment, o, salt, collateral, false, 0, 0));
            _aucs[cur].recs.push(_recs.length - 1);
        } catch (bytes memory err) {
            _unexpected(abi.encode("commit reverted", err));
        }
    }

    /// @notice Opens the current auction (reads the feeds) in its commit or reveal phase.
    function open(uint256) public synced(OPEN) {
        if (cur == 0) return;
        IBatchAuction.Phase ph = auction.phase(cur);
        if (ph != IBatchAuction.Phase.Commit && ph != IBatchAuction.Phase.Reveal) return;
        (, uint64 ceiling) = auction.bounds(cur);
        try auction.open(cur) {
            ++done[OPEN];
            _unless(!_aucs[cur].stale || ceiling != 0, "open succeeded with stale feeds");
        } catch (bytes memory err) {
            _unless(_aucs[cur].stale && ceiling == 0, string(abi.encode("open reverted", err)));
        }
    }

    /// @notice Reveals the unrevealed commitments of the current auction, from a random one on, each skipped with
    /// probability 1/5 (left unrevealed: non-reveal penalty), moving from the commit to the reveal phase once the
    /// auction has a commitment. Predicts refusals: stale feeds, full book, short collateral.
    function reveal(uint256 seed) public synced(REVEAL) {
        if (cur == 0) return;
        Auc storage a = _aucs[cur];
        IBatchAuction.Phase ph = auction.phase(cur);
        if (ph == IBatchAuction.Phase.Commit) {
            if (a.recs.length == 0) return;
            _warpTo(auction.schedule(cur).revealStart);
        } else if (ph != IBatchAuction.Phase.Reveal) {
            return;
        }
        uint256 n = a.recs.length;
        for (uint256 j = 0; j < n; ++j) {
            Rec storage r = _recs[a.recs[((seed % n) + j) % n]];
            if (r.revealed || uint256(keccak256(abi.encode(seed, j))) % 5 == 0) continue;
            (, uint64 ceiling) = auction.bounds(cur);
            bool expectOk =
                (ceiling != 0 || !a.stale) &&
                    auction.orderCount(cur) < _p.maxOrders &&
                    r.collateral >= _required(r.order);
            vm.prank(r.trader);
            try auction.reveal(cur, r.order, r.salt) {
                ++done[REVEAL];
                r.revealed = true;
                _unless(expectOk, "reveal succeeded, predicted refused");
            } catch (bytes memory err) {
                _unless(!expectOk, string(abi.encode("reveal reverted", err)));
            }
        }
    }

    /// @notice Lets time pass (up to five minutes; one call in four up to half an hour).
    function warp(uint256 seed) public synced(WARP) {
        ++done[WARP];
        _warpTo(clock + Assert.bound(seed, 1, seed % 4 == 0 ? 1800 : 300));
    }

    /// @notice Clears the current auction, moving to gate closure from the reveal phase (or, now and then, from the
    /// commit phase: nobody revealed).
    function clear(uint256 seed) public synced(CLEAR) {
        if (cur == 0) return;
        IBatchAuction.Phase ph = auction.phase(cur);
        if (ph == IBatchAuction.Phase.Reveal || (ph == IBatchAuction.Phase.Commit && seed % 8 == 0)) {
            _warpTo(auction.schedule(cur).gateClosure);
        } else if (ph != IBatchAuction.Phase.Clearing) {
            return;
        }
        try auction.clear(cur) {
            ++done[CLEAR];
            _aucs[cur].cleared = true;
        } catch (bytes memory err) {
            _unexpected(abi.encode("clear reverted", err));
        }
    }

    /// @notice Withdraws a random commitment (of any auction) and checks the refund and penalty against the
    /// specification; withdrawals that must be refused (too early, filled, already withdrawn or settled) must revert.
    function withdraw(uint256 idxSeed) public synced(WITHDRAW) {
        if (_recs.length == 0) return;
        uint256 k = idxSeed % _recs.length;
        Rec storage r = _recs[k];
        (bool ok, uint256 penalty) = _predictWithdraw(r);
        uint256 tBefore = token.balanceOf(r.trader);
        uint256 trBefore = token.balanceOf(treasury);
        vm.prank(r.trader);
        try auction.withdraw(r.intervalId, r.commitment) {
            ++done[WITHDRAW];
            ++r.withdrawn;
            uint256 refund = token.balanceOf(r.trader) - tBefore;
            uint256 pen = token.balanceOf(treasury) - trBefore;
            ghostRefunds += refund;
            ghostPenalties += pen;
            ghostExpectedPenalties += penalty;
            if (!r.revealed) {
                if (penalty != 0) ++penalisedWithdrawals;
                else ++freeUnrevealedWithdrawals;
            }
            _unless(ok, "withdraw succeeded, predicted refused");
            _unless(pen == penalty, "withdraw: penalty != predicted");
            _unless(refund + pen == r.collateral, "withdraw: refund + penalty != collateral");
        } catch (bytes memory err) {
            _unless(!ok, string(abi.encode("withdraw reverted", k, err)));
        }
    }

    /// @notice For the oldest cleared auction without readings: waits for its interval's end, posts and finalises
    /// a root with one leaf per meter (export: the meter's fills, half of them, none, or more) and claims the kWh.
    function postReadings(uint256 seed) public synced(POST) {
        (bool found, uint64 t) = _oldest(seed);
        if (!found) return;
        uint256 end = Intervals.endOf(t, intervalLength);
        if (clock < end) _warpTo(end + (seed % 600));
        uint256 m = meters.length;
        bytes32[] memory hashes = new bytes32[](m);
        uint64[] memory exports = new uint64[](m);
        uint64 total;
        for (uint256 i = 0; i < m; ++i) {
            uint256 sold = _soldBy(t, meters[i]);
            uint256 mode = (seed >> (8 + 2 * i)) % 4;
            exports[i] = uint64(
                mode == 0
                    ? sold
                    : mode == 1
                        ? sold / 2
                        : mode == 2
                            ? 0
                            : sold + 100
            );
            total += exports[i];
            hashes[i] = MeterReadings.leaf(meters[i], t, 0, exports[i]);
        }
        bytes32[] memory tree = MerkleTrees.build(hashes);
        for (uint256 v = 0; v < 2; ++v) {
            vm.prank(_members[v]);
            try oracle.submitRoot(t, tree[0], uint32(m), 0, total) {} catch (bytes memory err) {
                _unexpected(abi.encode("submitRoot reverted", err));
                return;
            }
        }
        _aucs[t].rootFinal = true;
        provenIntervals.push(t);
        ++done[POST];
        for (uint256 i = 0; i < m; ++i) {
            if (exports[i] != 0) _claim(t, i, exports[i], tree.proof(i));
        }
    }

    /// @dev Claims meter `i`'s leaf of `t`: its owner must receive exactly the export in kWh and, for a solar meter
    /// (REC-eligible, accredited), as many certificates.
    function _claim(uint64 t, uint256 i, uint64 exportWh, bytes32[] memory proof) private {
        address owner = sellers[i];
        uint256 id = TokenIds.encode(meterZones[i], t);
        uint256 recId =
            meterEligible[i]
                ? certificates.certificateId(
                    meters[i],
                    certificates.vintageOfInterval(t),
                    IMeterRegistry.Technology.Solar,
                    meterZones[i]
                )
                : 0;
        uint256 kwhBefore = kwh.balanceOf(owner, id);
        uint256 recBefore = recId == 0 ? 0 : certificates.balanceOf(owner, recId);
        try kwh.claim(meters[i], t, 0, exportWh, proof) {
            uint256 minted = kwh.balanceOf(owner, id) - kwhBefore;
            _unless(minted == exportWh, "claim: kWh minted != export");
            if (kwhMinted[id] == 0) kwhIds.push(id);
            kwhMinted[id] += minted;
            if (recId == 0) return;
            uint256 issued = certificates.balanceOf(owner, recId) - recBefore;
            _unless(issued == exportWh, "claim: certificates issued != eligible export");
            if (recEligibleExport[recId] == 0) recIds.push(recId);
            recEligibleExport[recId] += exportWh;
            recIssued[recId] += issued;
        } catch (bytes memory err) {
            _unexpected(abi.encode("claim reverted", err));
        }
    }

    /// @notice The sellers of up to three random filled sell orders deliver (its whole kWh balance of the zone and
    /// interval up to its fill) before the deadline; checks payment and slashing against docs/settlement.md.
    function deliver(uint256 idxSeed) public synced(DELIVER) {
        // Up to three orders per call: delivery windows are short compared with the handler's moves in time.
        uint256 n0 = _recs.length + 1;
        for (uint256 i = 0; i < 3; ++i) {
            (bool found, uint256 k) = _pick((idxSeed % n0) + i, IBatchAuction.Side.Sell, true);
            if (!found) return;
            _deliverOne(k);
        }
    }

    function _deliverOne(uint256 k) private {
        Rec storage r = _recs[k];
        (uint64 filled, uint64 price) = auction.fillOf(r.intervalId, r.trader, r.commitment);
        uint256 held = kwh.balanceOf(r.trader, TokenIds.encode(r.order.zone, r.intervalId));
        uint256 delivered = Math.min(filled, held);
        uint256 payment = (delivered * price) / 1000;
        uint256 expected = payment + r.collateral - _slashed(r, filled, delivered, price);
        uint256 before = token.balanceOf(r.trader);
        vm.prank(r.trader);
        try escrow.deliver(r.intervalId, r.trader, r.commitment) {
            ++done[DELIVER];
            if (delivered < filled) ++shortDeliveries;
            ++r.settled;
            uint256 paid = token.balanceOf(r.trader) - before;
            ghostSellerPaid += paid;
            sellerPayments[r.intervalId] += payment;
            _unless(paid == expected, "deliver: seller paid != payment + bond - slashed");
            uint256 heldAfter = kwh.balanceOf(r.trader, TokenIds.encode(r.order.zone, r.intervalId));
            _unless(held - heldAfter == delivered, "deliver: kWh taken != min(fill, balance)");
        } catch (bytes memory err) {
            _unexpected(abi.encode("deliver reverted", k, err));
        }
    }

    /// @notice Settles a random filled, unsettled sell order as a default, moving to the deadline (one call in five
    /// when it has not come yet).
    function settleDefault(uint256 idxSeed, uint256 warpSeed) public synced(DEFAULT) {
        (bool found, uint256 k) = _pick(idxSeed, IBatchAuction.Side.Sell, false);
        if (!found) return;
        Rec storage r = _recs[k];
        uint64 deadline = auction.schedule(r.intervalId).settlementDeadline;
        if (clock < deadline) {
            if (warpSeed % 5 != 0) return;
            _warpTo(deadline);
        }
        (uint64 filled, uint64 price) = auction.fillOf(r.intervalId, r.trader, r.commitment);
        uint256 expected = r.collateral - _slashed(r, filled, 0, price);
        uint256 before = token.balanceOf(r.trader);
        try escrow.settleDefault(r.intervalId, r.trader, r.commitment) {
            ++done[DEFAULT];
            ++r.settled;
            uint256 paid = token.balanceOf(r.trader) - before;
            ghostSellerPaid += paid;
            _unless(paid == expected, "settleDefault: seller paid != bond - slashed");
        } catch (bytes memory err) {
            _unexpected(abi.encode("settleDefault reverted", k, err));
        }
    }

    /// @notice Collects a random filled buy order once every seller of its auction settled; checks the refund
    /// against `buyerShare` (collateral − payment + compensation) and that the buyer never receives more than it
    /// filled nor pays above its fill at its zone price.
    function collect(uint256 idxSeed) public synced(COLLECT) {
        (bool found, uint256 k) = _pick(idxSeed, IBatchAuction.Side.Buy, false);
        if (!found) return;
        Rec storage r = _recs[k];
        if (escrow.auctionBook(r.intervalId).processedSoldWh < auction.tradedWh(r.intervalId)) return;
        (uint64 filled, uint64 price) = auction.fillOf(r.intervalId, r.trader, r.commitment);
        ISettlementEscrow.BuyerShare memory s = escrow.buyerShare(r.intervalId, r.order.zone, filled);
        uint256 before = token.balanceOf(r.trader);
        try escrow.collect(r.intervalId, r.trader, r.commitment) {
            ++done[COLLECT];
            ++r.settled;
            uint256 refund = token.balanceOf(r.trader) - before;
            ghostBuyerRefunds += refund;
            buyerPayments[r.intervalId] += s.payment;
            _unless(refund == r.collateral - s.payment + s.compensation, "collect: refund != predicted share");
            _unless(s.receivedWh <= filled, "collect: received more than filled");
            _unless(s.payment <= Math.ceilDiv(uint256(filled) * price, 1000), "collect: paid above fill x price");
        } catch (bytes memory err) {
            _unexpected(abi.encode("collect reverted", k, err));
        }
    }

    /// @notice Pays the congestion rent of a random auction whose sellers all settled.
    function payRent(uint256 seed) public synced(RENT) {
        if (auctions.length == 0) return;
        uint64 t = auctions[seed % auctions.length];
        if (!_aucs[t].cleared) return;
        ISettlementEscrow.AuctionBook memory b = escrow.auctionBook(t);
        if (b.rentPaid || b.processedSoldWh < auction.tradedWh(t)) return;
        uint256 rent = escrow.congestionRent(t);
        uint256 before = token.balanceOf(gridOperator);
        try escrow.payRent(t) {
            ++done[RENT];
            uint256 paid = token.balanceOf(gridOperator) - before;
            ghostRent += paid;
            _unless(paid == rent, "payRent: paid != congestionRent");
        } catch (bytes memory err) {
            _unexpected(abi.encode("payRent reverted", t, err));
        }
    }

    /// @notice Sweeps the dust of a random auction whose buyers all collected and whose rent was paid.
    function sweepDust(uint256 seed) public synced(SWEEP) {
        if (auctions.length == 0) return;
        uint64 t = auctions[seed % auctions.length];
        if (!_aucs[t].cleared) return;
        ISettlementEscrow.AuctionBook memory b = escrow.auctionBook(t);
        if (b.swept || !b.rentPaid || b.collectedBoughtWh != auction.tradedWh(t)) return;
        int256 residual = escrow.residualOf(t);
        uint256 before = token.balanceOf(dustAccount);
        try escrow.sweepDust(t) {
            ++done[SWEEP];
            uint256 paid = token.balanceOf(dustAccount) - before;
            ghostDust += paid;
            _unless(residual >= 0 && paid == uint256(residual), "sweepDust: paid != residual");
        } catch (bytes memory err) {
            _unexpected(abi.encode("sweepDust reverted", t, err));
        }
    }

    /// @notice Tries to settle an already settled order again (deliver, default or collect) or to withdraw it:
    /// every attempt must revert.
    function doubleSettle(uint256 idxSeed) public synced(DOUBLE) {
        uint256 n = _recs.length;
        for (uint256 j = 0; j < n; ++j) {
            uint256 k = ((idxSeed % n) + j) % n;
            Rec storage r = _recs[k];
            if (r.settled == 0) continue;
            ++done[DOUBLE];
            uint256 how = (idxSeed >> 128) % 3;
            bool ok = true;
            if (how == 0) {
                vm.prank(r.trader);
                try auction.withdraw(r.intervalId, r.commitment) {} catch {
                    ok = false;
                }
            } else if (r.order.side == IBatchAuction.Side.Buy) {
                try escrow.collect(r.intervalId, r.trader, r.commitment) {} catch {
                    ok = false;
                }
            } else if (how == 1 && clock < auction.schedule(r.intervalId).settlementDeadline) {
                vm.prank(r.trader);
                try escrow.deliver(r.intervalId, r.trader, r.commitment) {} catch {
                    ok = false;
                }
            } else {
                try escrow.settleDefault(r.intervalId, r.trader, r.commitment) {} catch {
                    ok = false;
                }
            }
            if (ok) ++r.settled;
            _unless(!ok, "settled order settled or withdrawn again");
            return;
        }
    }

    /// @notice A random holder of kWh or certificates signs a quote for some of them (one in eight for more than it
    /// holds; one in eight free; one in eight signed with another key), expiring within a day (one in four within
    /// ten minutes), with a nonce at or a little above its current minimum, partial fills allowed in two of three.
    function quote(uint256 seed) public synced(QUOTE) {
        Holding memory hd = _pickHolding(seed, seed % 3 == 0);
        if (hd.holder == address(0)) return;
        IDealDesk.Quote memory q;
        q.maker = hd.holder;
        q.token = hd.unit;
        q.id = hd.id;
        q.amount = (seed >> 8) % 8 == 0 ? hd.held + 1 + ((seed >> 16) % 500) : Assert.bound(seed >> 16, 1, hd.held);
        q.paymentToken = address(token);
        // Up to 0.40 per kWh (6 decimals): most payments round up.
        q.price = (seed >> 40) % 8 == 0 ? 0 : Assert.bound(seed >> 48, 1, 400_000);
        q.expiry = uint64(clock + Assert.bound(seed >> 80, 60, (seed >> 72) % 4 == 0 ? 10 minutes : 1 days));
        q.nonce = ghostMinNonce[hd.holder] + ((seed >> 112) % 3);
        q.allowPartial = (seed >> 120) % 3 != 0;
        bytes32 h = desk.quoteHash(q);
        bool forged = (seed >> 128) % 8 == 0;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(forged ? FORGER_KEY : _keyOf[hd.holder], h);
        _deals.push(Deal(q, abi.encodePacked(r, s, v), h, forged));
        ++done[QUOTE];
    }

    /// @notice Three times: an actor (now and then the maker itself) fills a random quote (mostly one of the four
    /// newest): nothing, more than is left, the whole quote or part of what is left. The taker is given the payment
    /// first. A fill must pay the maker exactly ceil(amount × price / 1000) from the taker and move exactly `amount`
    /// units from maker to taker; a refusal must be the exact error predicted (the desk's checks in order, then the
    /// kWh transfer window and the maker's balance in the token).
    function fillQuote(uint256 seed, uint256 amountSeed) public synced(FILL) {
        for (uint256 i = 0; i < 3; ++i) {
            _fillOne(uint256(keccak256(abi.encode(seed, i))), uint256(keccak256(abi.encode(amountSeed, i))));
        }
    }

    function _fillOne(uint256 seed, uint256 amountSeed) private {
        uint256 n = _deals.length;
        if (n == 0) return;
        // Recent quotes more often: most older ones have expired.
        uint256 k = seed % 4 != 0 ? n - 1 - ((seed >> 2) % Math.min(n, 4)) : (seed >> 2) % n;
        Deal storage d = _deals[k];
        address taker = (seed >> 64) % 16 == 0 ? d.q.maker : actors[(seed >> 72) % actors.length];
        uint256 left = d.q.amount - Math.min(ghostFilled[d.hash], d.q.amount);
        uint256 mode = amountSeed % 8;
        uint256 amount =
            mode == 0
                ? 0
                : mode == 1
                    ? left + 1
                    : mode < 4
                        ? d.q.amount
                        : Assert.bound(amountSeed >> 8, 1, Math.max(left, 1));
        bytes memory expected = _predictFill(d, taker, amount);
        uint256 payment = Math.mulDiv(amount, d.q.price, 1000, Math.Rounding.Ceil);
        token.mint(taker, payment);
        uint256[4] memory before = _dealBalances(d.q, taker);
        vm.prank(taker);
        try desk.fill(d.q, d.signature, amount) returns (uint256 paid) {
            ++done[FILL];
            _unless(expected.length == 0, string(abi.encode("fill succeeded, predicted refused", expected)));
            _bookFill(d, taker, amount, payment, paid, before);
        } catch (bytes memory err) {
            ++refusedFills;
            ++refusedBy[bytes4(err)];
            _unless(
                expected.length != 0 && keccak256(err) == keccak256(expected),
                string(abi.encode("fill reverted", k, err))
            );
        }
    }

    /// @notice The maker (one call in six: another actor, refused) cancels a random quote; cancelling twice is
    /// refused.
    function cancelQuote(uint256 seed) public synced(CANCEL) {
        uint256 n = _deals.length;
        if (n == 0) return;
        Deal storage d = _deals[seed % n];
        address maker = d.q.maker;
        address caller = (seed >> 64) % 6 == 0 ? actors[(seed >> 72) % actors.length] : maker;
        bytes memory expected;
        if (caller != maker) {
            expected = abi.encodeWithSelector(IDealDesk.DealDeskNotMaker.selector, d.hash, maker, caller);
        } else if (ghostCancelled[d.hash]) {
            expected = abi.encodeWithSelector(IDealDesk.DealDeskAlreadyCancelled.selector, d.hash);
        }
        vm.prank(caller);
        try desk.cancel(d.q) {
            ++done[CANCEL];
            ghostCancelled[d.hash] = true;
            _unless(expected.length == 0, "cancel succeeded, predicted refused");
        } catch (bytes memory err) {
            _unless(expected.length != 0 && keccak256(err) == keccak256(expected), string(abi.encode("cancel", err)));
        }
    }

    /// @notice An actor invalidates its quotes' nonces below its minimum plus one or two (one call in five: its
    /// current minimum, refused).
    function invalidateNonces(uint256 seed) public synced(NONCES) {
        address maker = actors[seed % actors.length];
        uint256 current = ghostMinNonce[maker];
        uint256 next = (seed >> 8) % 5 == 0 ? current : current + 1 + ((seed >> 16) % 2);
        bytes memory expected =
            next <= current
                ? abi.encodeWithSelector(IDealDesk.DealDeskNonceNotIncreasing.selector, maker, next, current)
                : bytes("");
        vm.prank(maker);
        try desk.invalidateNoncesBelow(next) {
            ++done[NONCES];
            ghostMinNonce[maker] = next;
            _unless(expected.length == 0, "invalidateNoncesBelow succeeded, predicted refused");
        } catch (bytes memory err) {
            _unless(expected.length != 0 && keccak256(err) == keccak256(expected), string(abi.encode("nonces", err)));
        }
    }

    /// @notice A random certificate holder retires part or all of a class it holds for a random beneficiary: its
    /// balance falls and the beneficiary's claimed balance rises by exactly the amount, under the next receipt id.
    function retire(uint256 seed) public synced(RETIRE) {
        if (recIds.length == 0) return;
        Holding memory hd = _pickHolding(seed, true);
        if (hd.holder == address(0)) return;
        uint256 amount = (seed >> 8) % 4 == 0 ? hd.held : Assert.bound(seed >> 16, 1, hd.held);
        address beneficiary = actors[(seed >> 48) % actors.length];
        uint256 claimedBefore = certificates.claimedBalanceOf(beneficiary, hd.id);
        uint256 receipts = certificates.receiptCount();
        vm.prank(hd.holder);
        try certificates.retire(hd.id, amount, beneficiary, "market invariant") returns (uint256 receiptId) {
            ++done[RETIRE];
            recRetired[hd.id] += amount;
            _unless(hd.held - certificates.balanceOf(hd.holder, hd.id) == amount, "retire: burnt != amount");
            _unless(
                certificates.claimedBalanceOf(beneficiary, hd.id) - claimedBefore == amount,
                "retire: claimed != amount"
            );
            _unless(receiptId == receipts + 1, "retire: receipt id not the next");
        } catch (bytes memory err) {
            _unexpected(abi.encode("retire reverted", err));
        }
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    function recCount() external view returns (uint256) {
        return _recs.length;
    }

    function rec(uint256 k) external view returns (Rec memory) {
        return _recs[k];
    }

    function auctionCount() external view returns (uint256) {
        return auctions.length;
    }

    function recsOf(uint64 t) external view returns (uint256[] memory) {
        return _aucs[t].recs;
    }

    function dealCount() external view returns (uint256) {
        return _deals.length;
    }

    function deal(uint256 k) external view returns (IDealDesk.Quote memory, bytes32) {
        return (_deals[k].q, _deals[k].hash);
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function kwhIdCount() external view returns (uint256) {
        return kwhIds.length;
    }

    function recIdCount() external view returns (uint256) {
        return recIds.length;
    }

    function provenCount() external view returns (uint256) {
        return provenIntervals.length;
    }

    function cleared(uint64 t) external view returns (bool) {
        return _aucs[t].cleared;
    }

    /// @notice Collateral still locked in the auction for `t`: commitments neither withdrawn nor taken over.
    function lockedOf(uint64 t) public view returns (uint256 sum) {
        uint256[] storage ks = _aucs[t].recs;
        for (uint256 i = 0; i < ks.length; ++i) {
            Rec storage r = _recs[ks[i]];
            if (r.withdrawn == 0 && r.settled == 0) sum += r.collateral;
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 PRIVATE
    //////////////////////////////////////////////////////////////*/

    /// @dev Moves to the commit start of the first interval whose commit window has not begun; refreshes the
    /// tariff feeds, except one auction in eight, for which they are left stale (no bounds: no penalties).
    function _newAuction(uint256 seed) private {
        uint256 lead = _p.gateLead + _p.revealWindow + _p.commitWindow;
        uint64 t = uint64(Math.ceilDiv(clock + lead, intervalLength));
        _warpTo(uint256(t) * intervalLength - lead);
        cur = t;
        auctions.push(t);
        if ((seed >> 32) % 8 == 7) {
            _aucs[t].stale = true;
            uint256 old = clock - _p.maxFeedAge - 1;
            floorFeed.updateRoundData(uint80(t), 5_000_000, old, old);
            ceilingFeed.updateRoundData(uint80(t), 40_000_000, old, old);
        } else {
            floorFeed.updateAnswer(5_000_000);
            ceilingFeed.updateAnswer(40_000_000);
        }
    }

    function _warpTo(uint256 t) private {
        if (t > clock) clock = t;
        vm.warp(clock);
    }

    /// @dev Collateral an order needs at reveal (docs/auction.md).
    function _required(IBatchAuction.Order memory o) private view returns (uint256) {
        uint256 value = Math.ceilDiv(uint256(o.quantityWh) * o.limitPrice, 1000);
        return o.side == IBatchAuction.Side.Buy ? value : Math.ceilDiv(value * _p.sellerBondBps, 10_000);
    }

    /// @dev min(bond, shortfall × (ceiling − price) / 1000) (docs/settlement.md).
    function _slashed(Rec storage r, uint64 filled, uint256 delivered, uint64 price) private view returns (uint256) {
        if (delivered >= filled) return 0;
        (, uint64 ceiling) = auction.bounds(r.intervalId);
        uint256 bond = Math.ceilDiv(
            Math.ceilDiv(uint256(r.order.quantityWh) * r.order.limitPrice, 1000) * _p.sellerBondBps,
            10_000
        );
        return Math.min(bond, ((filled - delivered) * (ceiling - price)) / 1000);
    }

    /// @dev Whether a withdrawal must succeed and its penalty (docs/auction.md, "Withdrawals").
    function _predictWithdraw(Rec storage r) private view returns (bool ok, uint256 penalty) {
        if (r.withdrawn != 0 || r.settled != 0) return (false, 0);
        IBatchAuction.Phase ph = auction.phase(r.intervalId);
        if (r.revealed) {
            if (ph == IBatchAuction.Phase.Void) return (true, 0);
            if (ph != IBatchAuction.Phase.Cleared) return (false, 0);
            (uint64 filled, ) = auction.fillOf(r.intervalId, r.trader, r.commitment);
            return (filled == 0, 0);
        }
        if (ph != IBatchAuction.Phase.Clearing && ph != IBatchAuction.Phase.Cleared && ph != IBatchAuction.Phase.Void) {
            return (false, 0);
        }
        (, uint64 ceiling) = auction.bounds(r.intervalId);
        if (auction.orderCount(r.intervalId) < _p.maxOrders && ceiling != 0) {
            penalty = (r.collateral * _p.nonRevealPenaltyBps) / 10_000;
        }
        return (true, penalty);
    }

    /// @dev A random revealed, filled, unsettled, unwithdrawn order of `side` of a cleared auction (with a final
    /// root when `needRoot`).
    function _pick(uint256 seed, IBatchAuction.Side side, bool needRoot) private view returns (bool, uint256) {
        uint256 n = _recs.length;
        for (uint256 j = 0; j < n; ++j) {
            uint256 k = ((seed % n) + j) % n;
            Rec storage r = _recs[k];
            if (r.order.side != side || !r.revealed || r.settled != 0 || r.withdrawn != 0) continue;
            Auc storage a = _aucs[r.intervalId];
            if (!a.cleared) continue;
            // Deliveries need the final root, before the deadline.
            if (needRoot && (!a.rootFinal || clock >= auction.schedule(r.intervalId).settlementDeadline)) continue;
            (uint64 filled, ) = auction.fillOf(r.intervalId, r.trader, r.commitment);
            if (filled != 0) return (true, k);
        }
        return (false, 0);
    }

    /// @dev A cleared auction without readings, from a random start.
    function _oldest(uint256 seed) private view returns (bool, uint64) {
        uint256 n = auctions.length;
        for (uint256 j = 0; j < n; ++j) {
            uint64 t = auctions[((seed % n) + j) % n];
            if (_aucs[t].cleared && !_aucs[t].rootFinal) return (true, t);
        }
        return (false, 0);
    }

    /// @dev Wh the meter's sell orders filled in auction `t`.
    function _soldBy(uint64 t, address meter) private view returns (uint256 sold) {
        uint256[] storage ks = _aucs[t].recs;
        for (uint256 i = 0; i < ks.length; ++i) {
            Rec storage r = _recs[ks[i]];
            if (r.order.meter != meter || !r.revealed) continue;
            (uint64 filled, ) = auction.fillOf(t, r.trader, r.commitment);
            sold += filled;
        }
    }

    /// @dev The refusal a fill must meet, or empty when it must succeed: DealDesk's checks in their order
    /// (docs/deals.md), the signature, then the token's (the kWh transfer window, the maker's balance).
    function _predictFill(Deal storage d, address taker, uint256 amount) private view returns (bytes memory) {
        IDealDesk.Quote storage q = d.q;
        bytes32 h = d.hash;
        uint256 minNonce = ghostMinNonce[q.maker];
        uint256 filled = ghostFilled[h];
        if (amount == 0) return abi.encodeWithSelector(IDealDesk.DealDeskZeroAmount.selector, h);
        if (clock > q.expiry) {
            return abi.encodeWithSelector(IDealDesk.DealDeskQuoteExpired.selector, h, q.expiry, clock);
        }
        if (q.nonce < minNonce) {
            return abi.encodeWithSelector(IDealDesk.DealDeskNonceInvalidated.selector, h, q.maker, q.nonce, minNonce);
        }
        if (ghostCancelled[h]) return abi.encodeWithSelector(IDealDesk.DealDeskQuoteCancelled.selector, h);
        if (taker == q.maker) return abi.encodeWithSelector(IDealDesk.DealDeskSelfFill.selector, h, q.maker);
        if (filled >= q.amount) {
            return abi.encodeWithSelector(IDealDesk.DealDeskQuoteFullyFilled.selector, h, q.amount);
        }
        if (amount > q.amount - filled) {
            return
                abi.encodeWithSelector(IDealDesk.DealDeskAmountExceedsRemaining.selector, h, amount, q.amount - filled);
        }
        if (!q.allowPartial && amount != q.amount) {
            return abi.encodeWithSelector(IDealDesk.DealDeskPartialFillNotAllowed.selector, h, amount, q.amount);
        }
        if (d.forged) return abi.encodeWithSelector(IDealDesk.DealDeskInvalidSignature.selector, h, q.maker);
        if (q.token == address(kwh)) {
            uint256 closesAt = kwh.transferableUntil(q.id);
            if (clock >= closesAt) {
                return abi.encodeWithSelector(IKwhToken.KwhTokenTransferWindowClosed.selector, q.id, closesAt);
            }
        }
        uint256 held = IERC1155(q.token).balanceOf(q.maker, q.id);
        if (held < amount) {
            return
                abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, q.maker, held, amount, q.id);
        }
        return "";
    }

    /// @dev Taker's and maker's payment-token balances, then their balances of the quoted units.
    function _dealBalances(IDealDesk.Quote storage q, address taker) private view returns (uint256[4] memory b) {
        b[0] = token.balanceOf(taker);
        b[1] = token.balanceOf(q.maker);
        b[2] = IERC1155(q.token).balanceOf(taker, q.id);
        b[3] = IERC1155(q.token).balanceOf(q.maker, q.id);
    }

    /// @dev Checks a successful fill's movements against the quote and books them.
    function _bookFill(
        Deal storage d,
        address taker,
        uint256 amount,
        uint256 payment,
        uint256 paid,
        uint256[4] memory before
    ) private {
        uint256[4] memory afterwards = _dealBalances(d.q, taker);
        uint256 takerPaid = before[0] - afterwards[0];
        uint256 makerReceived = afterwards[1] - before[1];
        _unless(paid == payment, "fill: returned payment != ceil(amount x price / 1000)");
        _unless(takerPaid == payment, "fill: taker paid != ceil(amount x price / 1000)");
        _unless(makerReceived == payment, "fill: maker received != ceil(amount x price / 1000)");
        _unless(afterwards[2] - before[2] == amount, "fill: taker received != amount");
        _unless(before[3] - afterwards[3] == amount, "fill: maker gave != amount");
        ghostFilled[d.hash] += amount;
        ghostDealPayments += payment;
        ghostTakersPaid += takerPaid;
        ghostMakersReceived += makerReceived;
        if (amount != d.q.amount) ++partialFills;
        if (d.q.token == address(certificates)) ++recFills;
        else ++kwhFills;
        _unless(desk.filledOf(d.hash) == ghostFilled[d.hash], "fill: desk's filled != fills made");
    }

    /// @dev A random actor holding a positive balance of a certificate class from a random one on (when `certs` and
    /// any exist) or of the newest kWh id any actor holds (older ones are mostly past their transfer window).
    function _pickHolding(uint256 seed, bool certs) private view returns (Holding memory h) {
        bool useRec = (certs && recIds.length != 0) || kwhIds.length == 0;
        uint256[] storage ids = useRec ? recIds : kwhIds;
        h.unit = useRec ? address(certificates) : address(kwh);
        uint256 ni = ids.length;
        uint256 na = actors.length;
        for (uint256 j = 0; j < ni * na; ++j) {
            h.holder = actors[((seed >> 200) + j) % na];
            h.id = ids[useRec ? ((seed >> 160) + j / na) % ni : ni - 1 - j / na];
            h.held = IERC1155(h.unit).balanceOf(h.holder, h.id);
            if (h.held != 0) return h;
        }
        h.holder = address(0);
    }

    function _unless(bool condition, string memory what) private {
        if (!condition) _unexpected(bytes(what));
    }

    function _unexpected(bytes memory what) private {
        ++unexpected;
        lastUnexpected = what;
    }
}

/// @dev `getCode` (an artifact's creation code), not in the shared Vm.sol.
interface IVmDeploy {
    function getCode(string calldata artifactPath) external view returns (bytes memory creationBytecode);
}

/// @notice Cross-contract invariants of the call market, its settlement, the deal desk and certificate retirement
/// (BatchAuction, SettlementEscrow, DealDesk, KwhToken, RecToken) under the random actions of MarketHandler.
contract MarketInvariantTest is SystemFixture {
    /// @notice Calls that did not do what the handler predicted: how many, and the last one's description.
    error UnexpectedOutcome(uint256 count, bytes last);

    MockStablecoin internal usd;
    PriceFeedMock internal floorFeed;
    PriceFeedMock internal ceilingFeed;
    IAuction internal auction;
    IEscrow internal escrow;
    DealDesk internal desk;
    MarketHandler internal handler;

    address internal constant TREASURY = address(0x7EA5);
    address internal constant GRID_OPERATOR = address(0x6121D);
    address internal constant DUST = address(0xD057);
    uint256 internal constant SELLER_KEY = 0x5E11E5;
    uint256 internal constant BUYER_KEY = 0xB0BE55;

    function setUp() public {
        _deploySystem(address(this));
        // Zone 1 exports at most 1,000 Wh per interval and zone 2 imports at most 500 Wh: congestion happens.
        registry.setZone(1, 4_000, 100_000);
        registry.setZone(2, 100_000, 2_000);
        registry.setZone(3, 100_000, 100_000);

        usd = new MockStablecoin();
        floorFeed = new PriceFeedMock(8, 5_000_000); // 0.05 per kWh
        ceilingFeed = new PriceFeedMock(8, 40_000_000); // 0.40 per kWh
        IBatchAuction.Params memory p = IBatchAuction.Params({
            // Shorter than deploy.ts's (4 intervals) commit window, longer settlement window: more auctions per
            // sequence, each with time to settle before the next one's schedule moves the clock past its deadline.
            commitWindow: 2 * INTERVAL,
            revealWindow: INTERVAL / 3,
            gateLead: INTERVAL,
            settlementWindow: 8 * INTERVAL,
            minDeposit: 1_000_000,
            tickSize: 100,
            // A small book, so that full books (no non-reveal penalty) happen.
            maxOrders: 5,
            sellerBondBps: 2_000,
            nonRevealPenaltyBps: 5_000,
            maxFeedAge: 86_400
        });
        // As src/deploy.ts: the auction names the escrow deployed right after it.
        address escrowAddress = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        auction = IAuction(
            _create(
                "contracts/market/BatchAuction.sol:BatchAuction",
                abi.encode(
                    address(registry),
                    address(usd),
                    address(floorFeed),
                    address(ceilingFeed),
                    TREASURY,
                    p,
                    escrowAddress
                )
            )
        );
        escrow = IEscrow(
            _create(
                "contracts/market/SettlementEscrow.sol:SettlementEscrow",
                abi.encode(address(gov), address(auction), address(kwh), address(oracle), GRID_OPERATOR, DUST)
            )
        );
        Assert.eq(address(escrow), escrowAddress, "escrow at the predicted address");
        desk = new DealDesk(address(gov), IERC1155(address(kwh)), IERC1155(address(rec)));
        kwh.setSettlementEscrow(address(escrow));
        handler = new MarketHandler(_wireTraders());
    }

    /// @dev Registers the sellers' meters, has every trader approve the contracts it uses, and returns the wiring.
    /// Four sellers, each owning one 10 kW meter (2,500 Wh per interval): two in zone 1, one in 2 and 3; meters
    /// 0 and 2 are solar, accredited for certificates for ten years, the others batteries. Sellers and buyers are
    /// keys' addresses: they sign quotes.
    function _wireTraders() internal returns (MarketHandler.Wiring memory w) {
        w.sellerKeys = new uint256[](4);
        w.meters = new address[](4);
        w.meterZones = new uint32[](4);
        w.meterEligible = new bool[](4);
        w.meterZones[0] = 1;
        w.meterZones[1] = 1;
        w.meterZones[2] = 2;
        w.meterZones[3] = 3;
        for (uint256 i = 0; i < 4; ++i) {
            w.sellerKeys[i] = SELLER_KEY + i;
            w.meters[i] = address(uint160(uint256(keccak256(abi.encode("market meter", i)))));
            IMeterRegistry.MeterParams memory mp = _params(vm.addr(w.sellerKeys[i]), w.meterZones[i]);
            if (i % 2 == 0) {
                w.meterEligible[i] = true;
                mp.technology = IMeterRegistry.Technology.Solar;
                mp.recEligible = true;
                mp.accreditationExpiry = uint64(block.timestamp + 3650 days);
            }
            registry.registerMeter(w.meters[i], mp);
            _approveAll(vm.addr(w.sellerKeys[i]));
        }
        w.buyerKeys = new uint256[](3);
        for (uint256 i = 0; i < 3; ++i) {
            w.buyerKeys[i] = BUYER_KEY + i;
            _approveAll(vm.addr(w.buyerKeys[i]));
        }
        (w.auction, w.escrow, w.kwh, w.rec, w.desk, w.oracle, w.members) = (
            auction,
            escrow,
            kwh,
            rec,
            desk,
            oracle,
            members
        );
    }

    /// @dev A trader approves the auction and the desk for the payment token, the escrow (deliveries) and the desk
    /// (its quotes) for its kWh, and the desk for its certificates.
    function _approveAll(address trader) internal {
        vm.startPrank(trader);
        usd.approve(address(auction), type(uint256).max);
        usd.approve(address(desk), type(uint256).max);
        kwh.setApprovalForAll(address(escrow), true);
        kwh.setApprovalForAll(address(desk), true);
        rec.setApprovalForAll(address(desk), true);
        vm.stopPrank();
    }

    /// @dev Creates a contract from its artifact's creation code and ABI-encoded constructor arguments.
    function _create(string memory artifact, bytes memory args) internal returns (address deployed) {
        bytes memory code = abi.encodePacked(IVmDeploy(address(vm)).getCode(artifact), args);
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        Assert.isTrue(deployed != address(0), string.concat("deploying ", artifact));
    }

    /// @notice Only the handler is called by the invariant runner (forge-std StdInvariant convention).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (1) Solvency. No payment token is created or lost: what the auction, the escrow and the desk hold is
    /// Σ collateral committed − Σ refunds − penalties − seller payouts − buyer refunds − rent − dust. The escrow and
    /// the desk hold none (the auction is the one vault); the auction holds exactly the locked collateral plus every
    /// auction's settlement residual, and for each auction what it holds (locked + residual) is never negative.
    function invariant_solvency() public view {
        uint256 held = usd.balanceOf(address(auction)) + usd.balanceOf(address(escrow)) + usd.balanceOf(address(desk));
        uint256 out =
            handler.ghostRefunds() +
                handler.ghostPenalties() +
                handler.ghostSellerPaid() +
                handler.ghostBuyerRefunds() +
                handler.ghostRent() +
                handler.ghostDust();
        Assert.eq(held + out, handler.ghostIn(), "solvency: held + paid out = collateral committed");
        Assert.eq(usd.balanceOf(address(escrow)), 0, "solvency: escrow holds no payment token");
        Assert.eq(usd.balanceOf(address(desk)), 0, "solvency: desk holds no payment token");
        int256 owed;
        uint256 n = handler.auctionCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 t = handler.auctions(i);
            int256 forAuction = int256(handler.lockedOf(t)) + escrow.residualOf(t);
            Assert.isTrue(forAuction >= 0, "solvency: an auction's locked collateral + residual < 0");
            owed += forAuction;
        }
        Assert.eq(
            usd.balanceOf(address(auction)),
            uint256(owed),
            "solvency: auction balance = locked collateral + residuals"
        );
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (2) Limits. Every filled order fills at most its quantity, a buyer at a price at most its limit and
    /// a seller at a price at least its limit; an order that did not reveal or whose auction did not clear has no fill.
    function invariant_limitsRespected() public view {
        uint256 n = handler.recCount();
        for (uint256 k = 0; k < n; ++k) {
            MarketHandler.Rec memory r = handler.rec(k);
            (uint64 filled, uint64 price) = auction.fillOf(r.intervalId, r.trader, r.commitment);
            if (!r.revealed || !handler.cleared(r.intervalId)) {
                Assert.eq(filled, 0, "limits: unrevealed or uncleared order has a fill");
                continue;
            }
            if (filled == 0) continue;
            Assert.le(filled, r.order.quantityWh, "limits: fill above quantity");
            if (r.order.side == IBatchAuction.Side.Buy) {
                Assert.le(price, r.order.limitPrice, "limits: buyer pays above its limit");
            } else {
                Assert.le(r.order.limitPrice, price, "limits: seller receives below its limit");
            }
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (3) Zones. For every cleared auction, each zone's net export lies within its capacity in Wh per
    /// interval (export cap when exporting, import cap when importing), net exports sum to zero, and bought = sold:
    /// tradedWh = Σ buy fills = Σ sell fills = Σ zones' boughtWh; per zone, sold − bought = net export.
    function invariant_zoneCapacityAndBalance() public view {
        uint256 n = handler.auctionCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 t = handler.auctions(i);
            if (!handler.cleared(t)) continue;
            uint256[] memory ks = handler.recsOf(t);
            uint256[4] memory bought;
            uint256[4] memory sold;
            for (uint256 j = 0; j < ks.length; ++j) {
                MarketHandler.Rec memory r = handler.rec(ks[j]);
                (uint64 filled, ) = auction.fillOf(t, r.trader, r.commitment);
                if (r.order.side == IBatchAuction.Side.Buy) bought[r.order.zone] += filled;
                else sold[r.order.zone] += filled;
            }
            int256 net;
            uint256 boughtAll;
            uint256 soldAll;
            for (uint32 z = 1; z <= ZONES; ++z) {
                ZonalClearing.ZoneOutcome memory o = auction.zoneOutcome(t, z);
                IMeterRegistry.Zone memory cfg = registry.getZone(z);
                if (o.netExportWh > 0) {
                    Assert.le(
                        uint256(int256(o.netExportWh)),
                        (uint256(cfg.exportCapacityW) * INTERVAL) / 3600,
                        "zones: net export above export capacity"
                    );
                } else {
                    Assert.le(
                        uint256(-int256(o.netExportWh)),
                        (uint256(cfg.importCapacityW) * INTERVAL) / 3600,
                        "zones: net import above import capacity"
                    );
                }
                Assert.eq(bought[z], o.boughtWh, "zones: zone boughtWh = its buyers' fills");
                Assert.isTrue(
                    int256(sold[z]) - int256(bought[z]) == int256(o.netExportWh),
                    "zones: sold - bought = net export"
                );
                net += o.netExportWh;
                boughtAll += bought[z];
                soldAll += sold[z];
            }
            Assert.isTrue(net == 0, "zones: net exports sum to zero");
            Assert.eq(boughtAll, auction.tradedWh(t), "zones: tradedWh = sum of buy fills");
            Assert.eq(soldAll, auction.tradedWh(t), "zones: tradedWh = sum of sell fills");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (4) Collateral per commitment. Each commitment is withdrawn at most once and never both withdrawn
    /// and taken over by the escrow; the treasury received exactly the penalties, which are exactly those the
    /// specification predicts (collateral × nonRevealPenaltyBps for an unrevealed commitment, nothing when the book
    /// is full or the auction never got bounds); every withdrawal refunded what the handler predicted.
    function invariant_collateralConservation() public view {
        uint256 n = handler.recCount();
        for (uint256 k = 0; k < n; ++k) {
            MarketHandler.Rec memory r = handler.rec(k);
            Assert.le(r.withdrawn, 1, "collateral: commitment withdrawn twice");
            Assert.le(uint256(r.withdrawn) + r.settled, 1, "collateral: withdrawn and settled, or settled twice");
        }
        Assert.eq(usd.balanceOf(TREASURY), handler.ghostPenalties(), "collateral: treasury = penalties taken");
        Assert.eq(handler.ghostPenalties(), handler.ghostExpectedPenalties(), "collateral: penalties = predicted");
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (5) Escrow. Sellers are paid for delivered energy no more than the buyers' fills are worth at their
    /// zone prices; each order is settled at most once and the escrow's books agree with the orders settled (sold Wh
    /// processed = Σ fills of settled sells, collected bought Wh = Σ fills of collected buys); once everyone settled,
    /// buyers paid at least what sellers were paid (the residual, the dust, is not negative).
    function invariant_escrowPaysOnlyWhatBuyersFund() public view {
        uint256 n = handler.auctionCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 t = handler.auctions(i);
            if (!handler.cleared(t)) continue;
            uint256[] memory ks = handler.recsOf(t);
            uint256 buyersWorth;
            uint256 processed;
            uint256 collected;
            for (uint256 j = 0; j < ks.length; ++j) {
                MarketHandler.Rec memory r = handler.rec(ks[j]);
                (uint64 filled, uint64 price) = auction.fillOf(t, r.trader, r.commitment);
                if (r.order.side == IBatchAuction.Side.Buy) {
                    buyersWorth += (uint256(filled) * price + 999) / 1000;
                    if (r.settled != 0) collected += filled;
                } else if (r.settled != 0) {
                    processed += filled;
                }
            }
            Assert.le(handler.sellerPayments(t), buyersWorth, "escrow: sellers paid above buyers' fills' worth");
            ISettlementEscrow.AuctionBook memory b = escrow.auctionBook(t);
            Assert.eq(b.processedSoldWh, processed, "escrow: processed sold Wh = settled sells' fills");
            Assert.eq(b.collectedBoughtWh, collected, "escrow: collected bought Wh = collected buys' fills");
            uint256 traded = auction.tradedWh(t);
            if (b.processedSoldWh == traded && b.collectedBoughtWh == traded && !b.rentPaid) {
                Assert.le(handler.sellerPayments(t), handler.buyerPayments(t), "escrow: buyers paid < sellers paid");
                Assert.isTrue(escrow.residualOf(t) >= 0, "escrow: negative residual once all settled");
            }
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (6) Deals. Each quote's recorded fill is exactly the sum of the fills made, never above the quoted
    /// amount; cancellations and nonce minimums are exactly those the makers made; takers paid exactly
    /// Σ ceil(amount × price / 1000) and makers received exactly that; the desk holds no payment token, kWh or
    /// certificate.
    function invariant_dealsOnSignedTermsOnly() public view {
        uint256 n = handler.dealCount();
        for (uint256 k = 0; k < n; ++k) {
            (IDealDesk.Quote memory q, bytes32 h) = handler.deal(k);
            uint256 filled = desk.filledOf(h);
            Assert.eq(filled, handler.ghostFilled(h), "deals: desk's filled = fills made");
            Assert.le(filled, q.amount, "deals: filled above the quoted amount");
            Assert.isTrue(desk.isCancelled(h) == handler.ghostCancelled(h), "deals: cancelled as the maker did");
        }
        uint256 na = handler.actorCount();
        for (uint256 i = 0; i < na; ++i) {
            address a = handler.actors(i);
            Assert.eq(desk.minNonceOf(a), handler.ghostMinNonce(a), "deals: nonce minimum as the maker set it");
        }
        Assert.eq(handler.ghostTakersPaid(), handler.ghostDealPayments(), "deals: takers paid = quoted payments");
        Assert.eq(handler.ghostMakersReceived(), handler.ghostTakersPaid(), "deals: makers received = takers paid");
        Assert.eq(usd.balanceOf(address(desk)), 0, "deals: desk holds no payment token");
        uint256 nk = handler.kwhIdCount();
        for (uint256 j = 0; j < nk; ++j) {
            Assert.eq(kwh.balanceOf(address(desk), handler.kwhIds(j)), 0, "deals: desk holds no kWh");
        }
        uint256 nr = handler.recIdCount();
        for (uint256 j = 0; j < nr; ++j) {
            Assert.eq(rec.balanceOf(address(desk), handler.recIds(j)), 0, "deals: desk holds no certificate");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice (7) Energy. Deliveries, collections, sweeps and deals only move kWh: for every kWh id, the actors,
    /// the escrow and the dust account hold exactly what claims minted; per interval, kWh minted <= the final root's
    /// proven export. Certificates: for every class, held + retired == issued <= the class's proven eligible export,
    /// and the beneficiaries' claimed balances sum to what was retired.
    function invariant_energyConserved() public view {
        uint256 na = handler.actorCount();
        uint256 nk = handler.kwhIdCount();
        for (uint256 j = 0; j < nk; ++j) {
            uint256 id = handler.kwhIds(j);
            uint256 held = kwh.balanceOf(address(escrow), id) + kwh.balanceOf(DUST, id);
            for (uint256 i = 0; i < na; ++i) held += kwh.balanceOf(handler.actors(i), id);
            Assert.eq(held, handler.kwhMinted(id), "energy: kWh held = kWh minted");
        }
        uint256 np = handler.provenCount();
        for (uint256 j = 0; j < np; ++j) {
            uint64 t = handler.provenIntervals(j);
            uint256 minted;
            for (uint32 z = 1; z <= ZONES; ++z) minted += handler.kwhMinted(TokenIds.encode(z, t));
            (, uint64 proven) = oracle.finalRoot(t);
            Assert.eq(kwh.mintedWh(t), minted, "energy: interval's minted Wh = claims' kWh");
            Assert.le(minted, proven, "energy: kWh minted above the final root's export");
        }
        uint256 nr = handler.recIdCount();
        for (uint256 j = 0; j < nr; ++j) {
            uint256 id = handler.recIds(j);
            uint256 held;
            uint256 claimed;
            for (uint256 i = 0; i < na; ++i) {
                held += rec.balanceOf(handler.actors(i), id);
                claimed += rec.claimedBalanceOf(handler.actors(i), id);
            }
            Assert.eq(held + handler.recRetired(id), handler.recIssued(id), "energy: held + retired = issued");
            Assert.le(handler.recIssued(id), handler.recEligibleExport(id), "energy: issued above eligible export");
            Assert.eq(claimed, handler.recRetired(id), "energy: claimed balances = retired");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.invariant.depth = 96
    /// @notice Every handler call did what the specification predicts (amounts refunded, paid, slashed; refusals).
    function invariant_outcomesAsPredicted() public view {
        uint256 unexpected = handler.unexpected();
        if (unexpected != 0) revert UnexpectedOutcome(unexpected, handler.lastUnexpected());
    }

    /// @notice Sanity check of the handler itself: a long deterministic pseudo-random sequence of actions reaches
    /// reveals, clears, withdrawals with and without penalty, deliveries (also short), defaults, collections,
    /// rent and dust, kWh and certificate deals (also partial), every kind of refused fill, cancellations, nonce
    /// invalidations and retirements, and every invariant holds at the end. Guards against invariants that hold
    /// vacuously.
    function test_handlerExercisesEveryAction() public {
        _runSequence(900);
        _checkAll();
        Assert.isTrue(handler.done(handler.COMMIT()) > 0, "commits");
        Assert.isTrue(handler.done(handler.REVEAL()) > 0, "reveals");
        Assert.isTrue(handler.done(handler.CLEAR()) > 0, "clears");
        Assert.isTrue(handler.done(handler.WITHDRAW()) > 0, "withdrawals");
        Assert.isTrue(handler.penalisedWithdrawals() > 0, "penalised unrevealed withdrawals");
        Assert.isTrue(handler.freeUnrevealedWithdrawals() > 0, "penalty-free unrevealed withdrawals");
        Assert.isTrue(handler.done(handler.POST()) > 0, "readings posted");
        Assert.isTrue(handler.done(handler.DELIVER()) > 0, "deliveries");
        Assert.isTrue(handler.shortDeliveries() > 0, "short deliveries");
        Assert.isTrue(handler.done(handler.DEFAULT()) > 0, "defaults");
        Assert.isTrue(handler.done(handler.COLLECT()) > 0, "collections");
        Assert.isTrue(handler.done(handler.RENT()) > 0, "rent paid");
        Assert.isTrue(handler.done(handler.SWEEP()) > 0, "dust swept");
        Assert.isTrue(handler.done(handler.DOUBLE()) > 0, "double settlements attempted");
        Assert.isTrue(handler.done(handler.QUOTE()) > 0, "quotes signed");
        Assert.isTrue(handler.kwhFills() > 0, "kWh deals filled");
        Assert.isTrue(handler.recFills() > 0, "certificate deals filled");
        Assert.isTrue(handler.partialFills() > 0, "partial fills");
        _assertRefused(IDealDesk.DealDeskZeroAmount.selector, "fill of nothing");
        _assertRefused(IDealDesk.DealDeskQuoteExpired.selector, "fill after expiry");
        _assertRefused(IDealDesk.DealDeskNonceInvalidated.selector, "fill of an invalidated nonce");
        _assertRefused(IDealDesk.DealDeskQuoteCancelled.selector, "fill of a cancelled quote");
        _assertRefused(IDealDesk.DealDeskSelfFill.selector, "maker filling its own quote");
        _assertRefused(IDealDesk.DealDeskQuoteFullyFilled.selector, "fill of a filled quote");
        _assertRefused(IDealDesk.DealDeskAmountExceedsRemaining.selector, "fill above what is left");
        _assertRefused(IDealDesk.DealDeskPartialFillNotAllowed.selector, "partial fill of an all-or-nothing quote");
        _assertRefused(IDealDesk.DealDeskInvalidSignature.selector, "fill of a forged quote");
        _assertRefused(IKwhToken.KwhTokenTransferWindowClosed.selector, "kWh fill after the transfer window");
        _assertRefused(IERC1155Errors.ERC1155InsufficientBalance.selector, "fill above the maker's balance");
        Assert.isTrue(handler.done(handler.CANCEL()) > 0, "quotes cancelled");
        Assert.isTrue(handler.done(handler.NONCES()) > 0, "nonces invalidated");
        Assert.isTrue(handler.done(handler.RETIRE()) > 0, "certificates retired");
        _checkAll();
    }

    function _assertRefused(bytes4 selector, string memory what) internal view {
        Assert.isTrue(handler.refusedBy(selector) > 0, string.concat("refused: ", what));
    }

    function _runSequence(uint256 steps) internal {
        uint256 actions = handler.ACTIONS();
        for (uint256 i = 0; i < steps; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("market sequence", i)));
            uint256 s = seed >> 8;
            uint256 action = seed % actions;
            if (action == 0) handler.commit(s, s >> 16, s >> 32, s >> 48);
            else if (action == 1) handler.open(s);
            else if (action == 2) handler.reveal(s);
            else if (action == 3) handler.warp(s);
            else if (action == 4) handler.clear(s);
            else if (action == 5) handler.withdraw(s);
            else if (action == 6) handler.postReadings(s);
            else if (action == 7) handler.deliver(s);
            else if (action == 8) handler.settleDefault(s, s >> 64);
            else if (action == 9) handler.collect(s);
            else if (action == 10) handler.payRent(s);
            else if (action == 11) handler.sweepDust(s);
            else if (action == 12) handler.doubleSettle(s);
            else if (action == 13) handler.quote(s);
            else if (action == 14) handler.fillQuote(s, s >> 64);
            else if (action == 15) handler.cancelQuote(s);
            else if (action == 16) handler.invalidateNonces(s);
            else handler.retire(s);
            if (i % 50 == 49) _checkAll();
        }
    }

    function _checkAll() internal view {
        invariant_outcomesAsPredicted();
        invariant_solvency();
        invariant_limitsRespected();
        invariant_zoneCapacityAndBalance();
        invariant_collateralConservation();
        invariant_escrowPaysOnlyWhatBuyersFund();
        invariant_dealsOnSignedTermsOnly();
        invariant_energyConserved();
    }
}
