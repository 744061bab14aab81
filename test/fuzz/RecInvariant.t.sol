// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Roles} from "../../contracts/governance/Roles.sol";
import {IKwhToken} from "../../contracts/interfaces/IKwhToken.sol";
import {IMeterRegistry} from "../../contracts/interfaces/IMeterRegistry.sol";
import {IRecToken} from "../../contracts/interfaces/IRecToken.sol";
import {Intervals} from "../../contracts/libraries/Intervals.sol";
import {MeterReadings} from "../../contracts/libraries/MeterReadings.sol";
import {RecIds} from "../../contracts/libraries/RecIds.sol";
import {ReentrantCertificateHolder} from "../../contracts/mocks/ReentrantCertificateHolder.sol";
import {ReadingOracle} from "../../contracts/oracle/ReadingOracle.sol";
import {MeterRegistry} from "../../contracts/registry/MeterRegistry.sol";
import {KwhToken} from "../../contracts/tokens/KwhToken.sol";
import {RecToken} from "../../contracts/tokens/RecToken.sol";
import {Assert} from "./Assert.sol";
import {CivilCalendar} from "./CivilCalendar.sol";
import {MerkleTrees} from "./MerkleTrees.sol";
import {SystemFixture} from "./SystemFixture.sol";
import {Vm, vm} from "./Vm.sol";

/// @notice Drives the whole system for the certificate invariants: committee roots over a fixed set of meters
/// (REC-eligible Solar and Wind ones with accreditation windows, plain ones, and one owned by a contract that
/// re-enters), kWh claims in every form (and double claims), certificate transfers, approvals, single and batch
/// retirements (own and by operators), accreditation revocations, renewals, withdrawals and technology changes
/// (also of a spare meter whose key gets revoked, and of an unknown one), pauses and time jumps.
/// @dev Keeps a model of each meter's accreditation windows built from the specification (not read from the
/// registry, only compared with it after every registry call) and a ghost ledger of certificates per class id.
/// Every call's outcome is predicted (success, or which error); a call that does otherwise is counted in
/// `count("unexpected")`. Certificates issued are observed from the RecToken's `CertificatesIssued` events, so
/// the ledger's "issued" is what the token did, checked against what the model allows.
///
/// The specification of accreditation windows the model implements: a meter has a list of windows
/// `[from, until]`, oldest first; an interval earns certificates iff it lies wholly inside one of them.
/// Registering an eligible meter opens `[now, expiry]`. Renewing (`updateMeter`, eligible) a meter that is not
/// eligible, or whose latest window has lapsed (`until <= now`), opens `[now, expiry]` after the latest window
/// (kept if non-empty, dropped if empty); renewing an eligible unexpired one moves its latest window's end to the
/// new expiry. Withdrawing (`updateMeter`, not eligible) an eligible unexpired meter ends its latest window now.
/// A meter that ever had a window keeps its technology. `revokeAccreditation(effectiveAt)` (also for a revoked
/// key; `effectiveAt <= now` and before the latest window's end) cuts the latest window at
/// `max(effectiveAt, from)`, then older windows, newest first, up to the first that ended by `effectiveAt`.
// A handler's ghost ledger and model need many state variables.
// solhint-disable-next-line max-states-count
contract RecHandler {
    using MerkleTrees for bytes32[];

    /// @dev The model of a meter: what decides whether its leaves earn certificates and under which class (its
    /// accreditation windows are in `_windows`).
    struct MeterModel {
        bool registered;
        address owner;
        uint32 zone;
        IMeterRegistry.Technology technology;
        /// @dev The registry's `recEligible` flag.
        bool eligible;
        /// @dev Whether the meter has an accreditation record (ever had a window): its technology is locked.
        bool accredited;
        /// @dev When its key was revoked (0 while active).
        uint64 keyRevokedAt;
    }

    /// @dev One accreditation window; `uncut` is its end before the first revocation cut it (0 if never cut),
    /// only to tell claims a revocation made uncertifiable.
    struct Window {
        uint64 from;
        uint64 until;
        uint64 uncut;
    }

    /// @dev One leaf of a posted interval.
    struct LeafRec {
        address meter;
        uint64 importWh;
        uint64 exportWh;
    }

    /// @dev One posted interval and the month it starts in (from the reference calendar).
    struct Posted {
        uint64 totalImport;
        uint64 totalExport;
        uint32 vintage;
        bool isFinal;
        LeafRec[] leaves;
        bytes32[] tree;
    }

    /// @dev A leaf by interval and position.
    struct LeafRef {
        uint64 intervalId;
        uint256 k;
    }

    /// @dev What a class id stands for, as the handler knows it.
    struct ClassInfo {
        address meter;
        uint32 vintage;
    }

    /// @dev A retirement to predict and book: `batch` selects retireBatch*, `from` the *From variants.
    struct Retirement {
        address holder;
        bool batch;
        bool from;
        address caller;
        address beneficiary;
        uint256[] ids;
        uint256[] amounts;
    }

    uint256 public constant METERS = 6;
    uint256 internal constant DAY = 86_400;
    bytes internal constant CLAIM_DATA = "invariant retirement";

    MeterRegistry public immutable registry;
    ReadingOracle public immutable oracle;
    KwhToken public immutable kwh;
    RecToken public immutable rec;
    ReentrantCertificateHolder public immutable holder;
    uint64 public immutable intervalLength;
    address[] internal _members;

    /// @notice Handler clock: every action warps here first, so time only moves forward whatever the runner does.
    uint256 public clock;
    uint64 public nextInterval;
    bool public paused;
    ReentrantCertificateHolder.Mode public holderMode;

    address[] public meters;
    /// @notice A meter that is in no leaf: accredited, renewed and revoked like the others until its key is
    /// revoked (`revokeMeterKey`), after which only accreditation revocations succeed.
    address public spareMeter;
    /// @notice A key never registered: every registry call on it is rejected.
    address public unknownMeter;
    mapping(address meter => MeterModel) public model;
    mapping(address meter => Window[]) internal _windows;
    /// @notice Every account that can ever hold certificates (meter owners, traders, the re-entrant holder).
    address[] public holders;
    address[] public operators;
    /// @notice Every account certificates can be retired for.
    address[] public beneficiaries;

    uint64[] public intervals;
    mapping(uint64 intervalId => Posted) internal _posted;
    LeafRef[] internal _claimedLeaves;

    uint256[] public classes;
    mapping(uint256 id => ClassInfo) public classInfo;

    // Ghost ledger.
    mapping(uint64 intervalId => mapping(address meter => bool)) public leafClaimed;
    /// @notice Whether the model said the leaf's interval lay inside the meter's accreditation when it was claimed.
    mapping(uint64 intervalId => mapping(address meter => bool)) public certifiableAtClaim;
    /// @notice `CertificatesIssued` events seen per leaf.
    mapping(uint64 intervalId => mapping(address meter => uint256)) public leafIssuances;
    mapping(uint64 intervalId => uint256) public ghostMinted;
    /// @notice Export of claimed leaves the model deems certifiable, per class.
    mapping(uint256 id => uint256) public certifiableExport;
    /// @notice Units issued per class, from the events.
    mapping(uint256 id => uint256) public issued;
    /// @notice Export of every leaf under a final root, per meter and month: the most that can ever be proven.
    mapping(address meter => mapping(uint32 vintage => uint256)) public provenMonth;
    /// @notice Units issued per meter and month, from the events.
    mapping(address meter => mapping(uint32 vintage => uint256)) public issuedMonth;
    mapping(uint256 id => uint256) public retired;
    mapping(address account => mapping(uint256 id => uint256)) public balance;
    mapping(address beneficiary => mapping(uint256 id => uint256)) public claimed;
    mapping(address account => mapping(address operator => bool)) public approved;
    /// @notice Successful retirements (receipts), including those made on receipt by the re-entrant holder.
    uint256 public receipts;

    mapping(bytes32 what => uint256) internal _counts;
    mapping(bytes4 selector => uint256) public outcomes;
    bytes public lastUnexpected;
    bytes public lastViolation;

    constructor(RecToken rec_, KwhToken kwh_, MeterRegistry registry_, ReadingOracle oracle_, address[] memory m) {
        rec = rec_;
        kwh = kwh_;
        registry = registry_;
        oracle = oracle_;
        intervalLength = registry_.intervalLength();
        _members = m;
        holder = new ReentrantCertificateHolder(kwh_, rec_);
        for (uint256 i = 0; i < 4; ++i) holders.push(_account("rec owner", i));
        holders.push(address(holder));
        holders.push(_account("rec trader", 0));
        holders.push(_account("rec trader", 1));
        operators.push(_account("rec operator", 0));
        operators.push(_account("rec operator", 1));
        operators.push(holders[1]);
        operators.push(holders[5]);
        for (uint256 i = 0; i < 3; ++i) beneficiaries.push(_account("rec beneficiary", i));
        beneficiaries.push(holders[0]);
        beneficiaries.push(address(holder));
    }

    modifier synced() {
        _bump("calls");
        vm.warp(clock);
        _;
    }

    /// @notice Registers the meters (once; the test calls it after granting the handler its roles): Solar and
    /// Wind meters accredited from now for 1 to 40 days, a Battery and a Solar meter without accreditation, and a
    /// Wind meter owned by the re-entrant holder contract; then the spare meter (Wind, 2 days), in no leaf. Some
    /// holders approve an operator.
    function init() external {
        if (meters.length != 0) return;
        clock = block.timestamp;
        nextInterval = Intervals.idAt(clock, intervalLength) - 2;
        _register(holders[0], 1, IMeterRegistry.Technology.Solar, 40 days);
        _register(holders[1], 2, IMeterRegistry.Technology.Wind, 1 days);
        _register(holders[2], 1, IMeterRegistry.Technology.Battery, 0);
        _register(holders[3], 3, IMeterRegistry.Technology.Solar, 0);
        _register(address(holder), 3, IMeterRegistry.Technology.Wind, 20 days);
        _register(holders[0], 2, IMeterRegistry.Technology.Solar, 10 days);
        spareMeter = _register(holders[3], 2, IMeterRegistry.Technology.Wind, 2 days);
        meters.pop();
        unknownMeter = _account("rec unknown meter", 0);
        _compareModel(spareMeter);
        _compareModel(unknownMeter);
        for (uint256 i = 0; i < METERS; ++i) _compareModel(meters[i]);
        // The owners of meters 0 and 1 and the re-entrant holder start with operator 0 approved.
        _setApproval(holders[0], operators[0], true);
        _setApproval(holders[1], operators[0], true);
        _setApproval(address(holder), operators[0], true);
    }

    /*//////////////////////////////////////////////////////////////
                          ACTIONS: ROOTS AND TIME
    //////////////////////////////////////////////////////////////*/

    /// @notice Posts a tree of random leaves for a new ended interval: after the last one posted (sometimes a
    /// day or two later), and at most two hours before now. The total export sometimes under-reports the leaves.
    /// Usually final at once, else pending.
    function postRoot(uint256 seed) public synced {
        uint64 recent = Intervals.idAt(clock, intervalLength) - 1 - uint64((seed >> 16) % 8);
        uint64 intervalId = nextInterval > recent ? nextInterval : recent;
        uint64 step = uint64(1 + (seed % 3));
        if ((seed >> 4) % 4 == 0) step += uint64((seed >> 8) % ((2 * DAY) / intervalLength));
        nextInterval = intervalId + step;
        uint256 end = Intervals.endOf(intervalId, intervalLength);
        clock = (end > clock ? end : clock) + ((seed >> 24) % (2 * intervalLength));
        vm.warp(clock);

        Posted storage p = _posted[intervalId];
        uint64 sumExport = _makeLeaves(intervalId, seed);
        if ((seed >> 40) % 8 == 0) p.totalExport = uint64((uint256(sumExport) * ((seed >> 48) % 100)) / 100);
        else p.totalExport = sumExport;
        p.vintage = uint32(CivilCalendar.vintageOf(Intervals.startOf(intervalId, intervalLength)));
        intervals.push(intervalId);
        _vote(0, intervalId);
        if ((seed >> 56) % 4 != 0) {
            _vote(1, intervalId);
            _markFinal(intervalId);
        }
    }

    /// @notice Gives a pending interval its second vote.
    function finalise(uint256 seed) public synced {
        uint256 n = intervals.length;
        for (uint256 j = 0; j < n; ++j) {
            uint64 intervalId = intervals[((seed % n) + j) % n];
            if (!_posted[intervalId].isFinal) {
                _vote(1 + ((seed >> 8) % 2), intervalId);
                _markFinal(intervalId);
                return;
            }
        }
    }

    /// @notice Moves the clock forward by up to half a day (accreditations lapse, months change).
    function warp(uint256 seed) public synced {
        clock += 1 + (seed % (DAY / 2));
    }

    /*//////////////////////////////////////////////////////////////
                             ACTIONS: CLAIMS
    //////////////////////////////////////////////////////////////*/

    /// @notice Claims one random leaf with `claim`.
    function claim(uint256 seed) public synced {
        if (intervals.length == 0) return;
        uint64 intervalId = _pickInterval(seed);
        _claimSingle(intervalId, (seed >> 8) % _posted[intervalId].leaves.length);
    }

    /// @notice Claims 1..4 random leaves (possibly repeated, across intervals) with one `claimMany`.
    function claimMany(uint256 seed) public synced {
        if (intervals.length == 0) return;
        uint256 size = 1 + (seed % 4);
        IKwhToken.Claim[] memory claims = new IKwhToken.Claim[](size);
        for (uint256 j = 0; j < size; ++j) {
            uint256 r = uint256(keccak256(abi.encode(seed, j)));
            uint64 intervalId = _pickInterval(r);
            claims[j] = _claimOf(intervalId, (r >> 8) % _posted[intervalId].leaves.length);
        }
        _runClaims(claims, abi.encodeCall(IKwhToken.claimMany, (claims)));
    }

    /// @notice Claims a random non-empty subset of one interval's leaves with a multi-proof.
    function claimInterval(uint256 seed) public synced {
        if (intervals.length == 0) return;
        uint64 intervalId = _pickInterval(seed);
        uint256 n = _posted[intervalId].leaves.length;
        _claimSubset(intervalId, 1 + ((seed >> 8) % ((1 << n) - 1)));
    }

    /// @notice Claims again a leaf that was claimed before, alone or in a multi-proof: must revert.
    function doubleClaim(uint256 seed) public synced {
        if (_claimedLeaves.length == 0) return;
        LeafRef memory c = _claimedLeaves[seed % _claimedLeaves.length];
        if ((seed >> 8) % 3 != 0) {
            _claimSingle(c.intervalId, c.k);
        } else {
            uint256 n = _posted[c.intervalId].leaves.length;
            _claimSubset(c.intervalId, (1 << c.k) | ((seed >> 16) % (1 << n)));
        }
    }

    /*//////////////////////////////////////////////////////////////
                     ACTIONS: CERTIFICATES AND HOLDERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Transfers units of a class between holders, by the holder or an operator; sometimes more than
    /// the balance. Transfers to the re-entrant holder trigger its mode.
    function transfer(uint256 seed) public synced {
        if (classes.length == 0) return;
        address from = _pickHolder(seed);
        address to = holders[(seed >> 8) % holders.length];
        (uint256 id, uint256 bal) = _pickClass(from, seed >> 16);
        uint256 amount = bal == 0 || (seed >> 32) % 8 == 0 ? bal + 1 : 1 + ((seed >> 40) % bal);
        address caller = (seed >> 56) % 2 == 0 ? _pickCaller(from, seed >> 60) : from;

        bytes memory expected;
        if (caller != from && !approved[from][caller]) {
            expected = abi.encodeWithSelector(IERC1155Errors.ERC1155MissingApprovalForAll.selector, caller, from);
        } else if (paused) {
            expected = abi.encodeWithSelector(Pausable.EnforcedPause.selector);
        } else if (bal < amount) {
            expected = abi.encodeWithSelector(
                IERC1155Errors.ERC1155InsufficientBalance.selector,
                from,
                bal,
                amount,
                id
            );
        } else if (to == address(holder) && holderMode == ReentrantCertificateHolder.Mode.RejectCertificates) {
            expected = abi.encodeWithSelector(IERC1155Errors.ERC1155InvalidReceiver.selector, to);
        }
        vm.prank(caller);
        (bool ok, bytes memory err) = _call(
            address(rec),
            abi.encodeCall(rec.safeTransferFrom, (from, to, id, amount, ""))
        );
        if (!_check(ok, err, expected)) return;
        _bump("transfers");
        balance[from][id] -= amount;
        balance[to][id] += amount;
        if (to == address(holder) && holderMode == ReentrantCertificateHolder.Mode.RetireOnReceipt) {
            _book(to, to, id, amount);
            _bump("retiredOnReceipt");
            if (holder.receiptId() != receipts) _unexpected(abi.encode("receipt on transfer", holder.receiptId()));
        }
    }

    /// @notice A holder approves or unapproves an operator for all its certificates.
    function approve(uint256 seed) public synced {
        address account = holders[seed % holders.length];
        address operator = operators[(seed >> 8) % operators.length];
        _setApproval(account, operator, (seed >> 16) % 3 != 0);
    }

    /// @notice Retires units of one class with `retire` or, by the holder or an operator, `retireFrom`;
    /// sometimes zero units, more than held, or no beneficiary.
    function retire(uint256 seed) public synced {
        if (classes.length == 0) return;
        Retirement memory r = _newRetirement(seed, 1, false);
        (uint256 id, uint256 bal) = _pickClass(r.holder, seed >> 16);
        uint256 mode = (seed >> 32) % 10;
        r.ids[0] = id;
        r.amounts[0] = mode == 0 ? 0 : (mode == 1 || bal == 0 ? bal + 1 : 1 + ((seed >> 40) % bal));
        _retire(r);
    }

    /// @notice Retires 1..3 entries (classes may repeat) under one receipt with `retireBatch` or
    /// `retireBatchFrom`; sometimes an entry of zero units or above the balance, no entries, or arrays of
    /// different lengths.
    function retireBatch(uint256 seed) public synced {
        if (classes.length == 0) return;
        uint256 mode = (seed >> 32) % 16;
        uint256 n = mode == 2 ? 0 : 1 + ((seed >> 36) % 3);
        Retirement memory r = _newRetirement(seed, n, true);
        if (mode == 3) r.amounts = new uint256[](n + 1);
        for (uint256 i = 0; i < n; ++i) {
            uint256 x = uint256(keccak256(abi.encode(seed, i)));
            (uint256 id, uint256 bal) = _pickClass(r.holder, x);
            r.ids[i] = id;
            r.amounts[i] = bal < 2 ? 1 : 1 + ((x >> 128) % (bal / 2));
        }
        if (n > 0 && mode == 0) r.amounts[(seed >> 40) % n] = 0;
        if (n > 0 && mode == 1) r.amounts[(seed >> 40) % n] += balance[r.holder][r.ids[(seed >> 40) % n]];
        _retire(r);
    }

    /// @notice Chooses what the re-entrant holder does when certificates arrive: accept, replay the claim that
    /// issued them, retire them on the spot, or reject them (which blocks its certifiable claims).
    function setHolderMode(uint256 seed) public synced {
        holderMode = ReentrantCertificateHolder.Mode(seed % 4);
        holder.configure(holderMode, _noClaim());
    }

    /// @notice Pauses the RecToken now and then, and lifts the pause on the next call.
    function togglePause(uint256 seed) public synced {
        if (paused) {
            rec.unpause();
            paused = false;
        } else if (seed % 5 == 0) {
            rec.pause();
            paused = true;
        }
    }

    /*//////////////////////////////////////////////////////////////
                          ACTIONS: ACCREDITATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Revokes a meter's accreditation from a fuzzed time up to four days back, or from a time inside one
    /// of its windows (so that earlier windows are cut too); sometimes with a time in the future or not before the
    /// latest window's end, for a meter never accredited, or for the unknown key (all rejected). The spare
    /// meter's revoked key is no obstacle.
    function revokeAccreditation(uint256 seed) public synced {
        address meter = _pickTarget(seed);
        MeterModel storage m = model[meter];
        Window[] storage ws = _windows[meter];
        uint64 latestUntil = ws.length == 0 ? 0 : ws[ws.length - 1].until;
        uint256 mode = (seed >> 8) % 6;
        uint64 effectiveAt;
        if (mode == 0) effectiveAt = uint64(clock + 1 + ((seed >> 16) % DAY));
        else if (mode == 1) effectiveAt = latestUntil;
        else if (mode < 4 || ws.length == 0) effectiveAt = uint64(clock - ((seed >> 16) % (4 * DAY)));
        else {
            Window storage w = ws[(seed >> 16) % ws.length];
            effectiveAt = w.from + uint64((seed >> 32) % (w.until - w.from + 1));
            if (effectiveAt > clock) effectiveAt = uint64(clock);
        }

        bytes memory expected;
        if (!m.registered) {
            expected = abi.encodeWithSelector(IMeterRegistry.MeterRegistryUnknownMeter.selector, meter);
        } else if (!m.accredited) {
            expected = abi.encodeWithSelector(IMeterRegistry.MeterRegistryNotAccredited.selector, meter);
        } else if (effectiveAt > clock || effectiveAt >= latestUntil) {
            expected = abi.encodeWithSelector(
                IMeterRegistry.MeterRegistryInvalidRevocationTime.selector,
                meter,
                effectiveAt,
                latestUntil
            );
        }
        vm.recordLogs();
        (bool ok, bytes memory err) = _call(
            address(registry),
            abi.encodeCall(registry.revokeAccreditation, (meter, effectiveAt))
        );
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (_check(ok, err, expected)) {
            _bump("revocations");
            if (m.keyRevokedAt != 0) _bump("revocationsOfRevokedKeys");
            _checkRevocationEvent(meter, effectiveAt, latestUntil, logs);
            // The specification: the latest window is cut at `effectiveAt` (not before its start), then the
            // earlier ones, newest first, up to the first that had ended by then.
            _cut(ws[ws.length - 1], effectiveAt);
            for (uint256 i = ws.length - 1; i > 0; --i) {
                Window storage w = ws[i - 1];
                if (w.until <= effectiveAt) break;
                _cut(w, effectiveAt);
                if (i == ws.length - 1) _bump("revocationsCuttingEarlierWindows");
            }
        }
        _compareModel(meter);
    }

    /// @notice Renews (for hours or weeks) or withdraws a meter's accreditation, or changes its technology (Solar
    /// <-> Wind, Battery <-> LoadOnly; eligible or not), with `updateMeter`. Rejected: eligibility for a Battery or
    /// LoadOnly meter, expiries not in the future, a technology change of a meter that was ever accredited, and
    /// any update of the spare meter once its key is revoked or of the unknown key.
    function reaccredit(uint256 seed) public synced {
        address meter = _pickTarget(seed);
        MeterModel storage m = model[meter];
        uint256 mode = (seed >> 8) % 10;
        bool eligible = mode != 0 && mode != 3;
        uint64 expiry;
        if (mode == 1) expiry = uint64(clock);
        else if (mode == 4 || mode == 5) expiry = uint64(clock + 1 hours + ((seed >> 16) % DAY));
        else if (eligible) expiry = uint64(clock + 2 * DAY + ((seed >> 16) % (30 * DAY)));
        IMeterRegistry.MeterParams memory params = IMeterRegistry.MeterParams({
            owner: m.owner,
            zone: m.zone,
            // Solar <-> Wind, Battery <-> LoadOnly.
            technology: mode == 2 || mode == 3 ? IMeterRegistry.Technology(uint8(m.technology) ^ 1) : m.technology,
            ratedCapacityW: 20_000,
            recEligible: eligible,
            accreditationExpiry: expiry
        });
        bytes memory expected = _predictUpdate(meter, params);
        (bool ok, bytes memory err) = _call(address(registry), abi.encodeCall(registry.updateMeter, (meter, params)));
        if (_check(ok, err, expected)) {
            _bump("reaccreditations");
            if (params.technology != m.technology) _bump("technologyChanges");
            _applyUpdate(meter, params);
        } else if (!ok && bytes4(expected) == IMeterRegistry.MeterRegistryTechnologyLocked.selector) {
            if (keccak256(err) == keccak256(expected)) _bump("technologyChangesRejected");
        }
        _compareModel(meter);
    }

    /// @notice Revokes the spare meter's key (once in three calls); again once revoked: rejected.
    function revokeMeterKey(uint256 seed) public synced {
        if (seed % 3 != 0) return;
        address meter = spareMeter;
        MeterModel storage m = model[meter];
        bytes memory expected;
        if (m.keyRevokedAt != 0) {
            expected = abi.encodeWithSelector(IMeterRegistry.MeterRegistryMeterRevoked.selector, meter, m.keyRevokedAt);
        }
        (bool ok, bytes memory err) = _call(address(registry), abi.encodeCall(registry.revokeMeter, (meter)));
        if (_check(ok, err, expected)) {
            _bump("keyRevocations");
            m.keyRevokedAt = uint64(clock);
        }
        _compareModel(meter);
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice A named counter (`calls`, `certifiedLeaves`, `retirements`, `unexpected`, ...).
    function count(string calldata what) external view returns (uint256) {
        return _counts[keccak256(bytes(what))];
    }

    function intervalCount() external view returns (uint256) {
        return intervals.length;
    }

    function classCount() external view returns (uint256) {
        return classes.length;
    }

    function holderCount() external view returns (uint256) {
        return holders.length;
    }

    function beneficiaryCount() external view returns (uint256) {
        return beneficiaries.length;
    }

    function leavesOf(uint64 intervalId) external view returns (LeafRec[] memory) {
        return _posted[intervalId].leaves;
    }

    /*//////////////////////////////////////////////////////////////
                             PRIVATE: CLAIMS
    //////////////////////////////////////////////////////////////*/

    function _claimSingle(uint64 intervalId, uint256 k) private {
        IKwhToken.Claim[] memory claims = new IKwhToken.Claim[](1);
        IKwhToken.Claim memory c = _claimOf(intervalId, k);
        claims[0] = c;
        _runClaims(claims, abi.encodeCall(IKwhToken.claim, (c.meter, c.intervalId, c.importWh, c.exportWh, c.proof)));
    }

    function _claimSubset(uint64 intervalId, uint256 mask) private {
        LeafRec[] storage all = _posted[intervalId].leaves;
        uint256 m;
        for (uint256 k = 0; k < all.length; ++k) if ((mask >> k) & 1 == 1) ++m;
        IKwhToken.Leaf[] memory leaves = new IKwhToken.Leaf[](m);
        IKwhToken.Claim[] memory claims = new IKwhToken.Claim[](m);
        uint256[] memory ks = new uint256[](m);
        uint256 n;
        for (uint256 k = 0; k < all.length; ++k) {
            if ((mask >> k) & 1 == 1) {
                leaves[n] = IKwhToken.Leaf(all[k].meter, all[k].importWh, all[k].exportWh);
                claims[n] = _claimOf(intervalId, k);
                ks[n++] = k;
            }
        }
        (bytes32[] memory proof, bool[] memory flags) = _posted[intervalId].tree.multiProof(ks);
        _runClaims(claims, abi.encodeCall(IKwhToken.claimInterval, (intervalId, leaves, proof, flags)));
    }

    /// @dev Predicts, makes and books one claim call. In ReplayClaim mode the holder replays the call's first
    /// claim when its certificates arrive (always after that claim was marked used): the replay must fail.
    function _runClaims(IKwhToken.Claim[] memory claims, bytes memory callData) private {
        bool replay = holderMode == ReentrantCertificateHolder.Mode.ReplayClaim;
        if (replay) holder.configure(holderMode, claims[0]);
        bytes memory expected = _predictClaims(claims);
        vm.recordLogs();
        (bool ok, bytes memory err) = _call(address(kwh), callData);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        // A stale replay must never claim a leaf behind the handler's back (e.g. on a later transfer).
        if (replay) holder.configure(holderMode, _noClaim());
        if (_check(ok, err, expected)) _bookClaims(claims, logs);
    }

    /// @dev Expected revert data of the claims made in order in one call (empty: success): root final, leaf not
    /// claimed, interval minted total within the root's exported total, and for a certifiable leaf of the
    /// re-entrant holder's meter, the holder taking the certificates (it rejects them, or retires them while the
    /// RecToken is paused).
    function _predictClaims(IKwhToken.Claim[] memory claims) private view returns (bytes memory) {
        uint256[] memory added = new uint256[](claims.length);
        for (uint256 j = 0; j < claims.length; ++j) {
            IKwhToken.Claim memory c = claims[j];
            Posted storage p = _posted[c.intervalId];
            if (!p.isFinal) return abi.encodeWithSelector(IKwhToken.KwhTokenRootNotFinal.selector, c.intervalId);
            uint256 minted = ghostMinted[c.intervalId] + c.exportWh;
            bool taken = leafClaimed[c.intervalId][c.meter];
            for (uint256 i = 0; i < j; ++i) {
                if (claims[i].intervalId == c.intervalId) {
                    minted += added[i];
                    if (claims[i].meter == c.meter) taken = true;
                }
            }
            if (taken) return abi.encodeWithSelector(IKwhToken.KwhTokenAlreadyClaimed.selector, c.meter, c.intervalId);
            if (minted > p.totalExport) {
                return
                    abi.encodeWithSelector(
                        IKwhToken.KwhTokenExceedsProvenExport.selector,
                        c.intervalId,
                        minted,
                        uint256(p.totalExport)
                    );
            }
            added[j] = c.exportWh;
            if (c.exportWh != 0 && _certifiable(c.meter, c.intervalId) && model[c.meter].owner == address(holder)) {
                if (holderMode == ReentrantCertificateHolder.Mode.RejectCertificates) {
                    return abi.encodeWithSelector(IERC1155Errors.ERC1155InvalidReceiver.selector, address(holder));
                }
                if (holderMode == ReentrantCertificateHolder.Mode.RetireOnReceipt && paused) {
                    return abi.encodeWithSelector(Pausable.EnforcedPause.selector);
                }
            }
        }
        return "";
    }

    /// @dev Books successful claims: the model decides which leaves earn certificates and under which class;
    /// the events say what the RecToken issued, and must match.
    function _bookClaims(IKwhToken.Claim[] memory claims, Vm.Log[] memory logs) private {
        uint256 expectedIssuances;
        bool holderCertified;
        for (uint256 j = 0; j < claims.length; ++j) {
            IKwhToken.Claim memory c = claims[j];
            MeterModel memory m = model[c.meter];
            uint256 window = _windowOf(c.meter, c.intervalId);
            bool certifiable = window != 0;
            leafClaimed[c.intervalId][c.meter] = true;
            certifiableAtClaim[c.intervalId][c.meter] = certifiable;
            ghostMinted[c.intervalId] += c.exportWh;
            _claimedLeaves.push(LeafRef(c.intervalId, _positionOf(c.intervalId, c.meter)));
            if (c.exportWh == 0) continue;
            if (!certifiable) {
                _bump(m.accredited ? "claimsOutsideWindow" : "claimsNotEligible");
                if (_insideBeforeRevocation(c.meter, c.intervalId)) _bump("claimsRevoked");
                continue;
            }
            ++expectedIssuances;
            _bump("certifiedLeaves");
            // In a window kept on record by a renewal (after a lapse, a withdrawal or a revocation).
            if (window < _windows[c.meter].length) _bump("certifiedInEarlierWindow");
            uint256 id = _expectedId(c.meter, c.intervalId);
            _noteClass(id, c.meter, _posted[c.intervalId].vintage);
            certifiableExport[id] += c.exportWh;
            balance[m.owner][id] += c.exportWh;
            if (m.owner == address(holder)) {
                holderCertified = true;
                if (holderMode == ReentrantCertificateHolder.Mode.RetireOnReceipt) {
                    _book(address(holder), address(holder), id, c.exportWh);
                    _bump("retiredOnReceipt");
                }
            }
        }
        uint256 seen = _observeIssuances(claims, logs);
        if (seen != expectedIssuances) _unexpected(abi.encode("issuance events", expectedIssuances, seen));
        if (holderCertified) _checkHolder(claims[0]);
    }

    /// @dev Reads the `CertificatesIssued` events of a successful claim call into the ledger; an event for a leaf
    /// that is not one of the call's claims, or that the model did not deem certifiable at claim time, is a
    /// violation. Returns the number of events.
    function _observeIssuances(IKwhToken.Claim[] memory claims, Vm.Log[] memory logs) private returns (uint256 seen) {
        for (uint256 i = 0; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(rec) || log.topics.length != 4) continue;
            if (log.topics[0] != IRecToken.CertificatesIssued.selector) continue;
            ++seen;
            address meter = address(uint160(uint256(log.topics[1])));
            uint256 id = uint256(log.topics[2]);
            uint64 intervalId = uint64(uint256(log.topics[3]));
            (address owner, uint256 wh) = abi.decode(log.data, (address, uint256));
            uint32 vintage = _posted[intervalId].vintage;
            _noteClass(id, meter, vintage);
            ++leafIssuances[intervalId][meter];
            issued[id] += wh;
            issuedMonth[meter][vintage] += wh;

            bool ofThisCall;
            for (uint256 j = 0; j < claims.length; ++j) {
                IKwhToken.Claim memory c = claims[j];
                if (c.meter == meter && c.intervalId == intervalId && c.exportWh == wh) ofThisCall = true;
            }
            if (!ofThisCall || !certifiableAtClaim[intervalId][meter]) {
                _violation(abi.encode("certificates outside accreditation", meter, intervalId, id, wh));
            }
            if (id != _expectedId(meter, intervalId) || owner != model[meter].owner) {
                _unexpected(abi.encode("issued class or owner", meter, intervalId, id, owner));
            }
        }
    }

    /// @dev After certificates reached the re-entrant holder: its replay failed as a double claim, or its
    /// retirement on receipt got the latest receipt id.
    function _checkHolder(IKwhToken.Claim memory first) private {
        if (holderMode == ReentrantCertificateHolder.Mode.ReplayClaim) {
            bytes memory want = abi.encodeWithSelector(
                IKwhToken.KwhTokenAlreadyClaimed.selector,
                first.meter,
                first.intervalId
            );
            if (keccak256(holder.replayError()) == keccak256(want)) _bump("replaysRejected");
            else _unexpected(abi.encode("replay", holder.replayError()));
        } else if (holderMode == ReentrantCertificateHolder.Mode.RetireOnReceipt) {
            if (holder.receiptId() != receipts) _unexpected(abi.encode("receipt on issuance", holder.receiptId()));
        }
    }

    /*//////////////////////////////////////////////////////////////
                           PRIVATE: RETIREMENTS
    //////////////////////////////////////////////////////////////*/

    function _newRetirement(uint256 seed, uint256 n, bool batch) private view returns (Retirement memory r) {
        r.holder = _pickHolder(seed);
        r.from = (seed >> 8) % 2 == 0;
        r.caller = r.from ? _pickCaller(r.holder, seed >> 12) : r.holder;
        r.beneficiary = (seed >> 44) % 10 == 0 ? address(0) : beneficiaries[(seed >> 48) % beneficiaries.length];
        r.ids = new uint256[](n);
        r.amounts = new uint256[](n);
        r.batch = batch;
    }

    /// @dev Predicts, makes and books one retirement, and checks its receipt id and event.
    function _retire(Retirement memory r) private {
        bytes memory expected = _predictRetirement(r);
        bytes memory callData;
        if (!r.batch) {
            callData =
                r.from
                    ? abi.encodeCall(rec.retireFrom, (r.holder, r.ids[0], r.amounts[0], r.beneficiary, CLAIM_DATA))
                    : abi.encodeCall(rec.retire, (r.ids[0], r.amounts[0], r.beneficiary, CLAIM_DATA));
        } else {
            callData =
                r.from
                    ? abi.encodeCall(rec.retireBatchFrom, (r.holder, r.ids, r.amounts, r.beneficiary, CLAIM_DATA))
                    : abi.encodeCall(rec.retireBatch, (r.ids, r.amounts, r.beneficiary, CLAIM_DATA));
        }
        vm.recordLogs();
        vm.prank(r.caller);
        (bool ok, bytes memory ret) = _call(address(rec), callData);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (!_check(ok, ret, expected)) return;
        for (uint256 i = 0; i < r.ids.length; ++i) {
            balance[r.holder][r.ids[i]] -= r.amounts[i];
            retired[r.ids[i]] += r.amounts[i];
            claimed[r.beneficiary][r.ids[i]] += r.amounts[i];
        }
        ++receipts;
        _bump(
            r.batch
                ? (r.from ? "batchRetirementsFrom" : "batchRetirements")
                : (r.from ? "retirementsFrom" : "retirements")
        );
        if (r.caller != r.holder) _bump("retirementsByOperator");
        uint256 receiptId = abi.decode(ret, (uint256));
        if (receiptId != receipts) _unexpected(abi.encode("receipt id", receiptId, receipts));
        _checkReceiptEvent(r, receiptId, logs);
    }

    /// @dev Expected revert data of a retirement (empty: success), in the order the RecToken checks: operator,
    /// pause, beneficiary, entries (batch: non-empty, equal lengths, no zero amount), then the burn in order.
    function _predictRetirement(Retirement memory r) private view returns (bytes memory) {
        if (r.from && r.caller != r.holder && !approved[r.holder][r.caller]) {
            return abi.encodeWithSelector(IERC1155Errors.ERC1155MissingApprovalForAll.selector, r.caller, r.holder);
        }
        if (paused) return abi.encodeWithSelector(Pausable.EnforcedPause.selector);
        if (r.beneficiary == address(0)) return abi.encodeWithSelector(IRecToken.RecTokenInvalidBeneficiary.selector);
        if (r.batch && r.ids.length == 0) return abi.encodeWithSelector(IRecToken.RecTokenEmptyRetirement.selector);
        if (r.ids.length != r.amounts.length) {
            return
                abi.encodeWithSelector(
                    IERC1155Errors.ERC1155InvalidArrayLength.selector,
                    r.ids.length,
                    r.amounts.length
                );
        }
        for (uint256 i = 0; i < r.ids.length; ++i) {
            if (r.amounts[i] == 0) return abi.encodeWithSelector(IRecToken.RecTokenZeroAmount.selector, r.ids[i]);
        }
        uint256[] memory taken = new uint256[](r.ids.length);
        for (uint256 i = 0; i < r.ids.length; ++i) {
            uint256 bal = balance[r.holder][r.ids[i]];
            for (uint256 j = 0; j < i; ++j) if (r.ids[j] == r.ids[i]) bal -= taken[j];
            if (bal < r.amounts[i]) {
                return
                    abi.encodeWithSelector(
                        IERC1155Errors.ERC1155InsufficientBalance.selector,
                        r.holder,
                        bal,
                        r.amounts[i],
                        r.ids[i]
                    );
            }
            taken[i] = r.amounts[i];
        }
        return "";
    }

    /// @dev The retirement emitted exactly one ClaimSingle or ClaimBatch with its caller, holder, beneficiary,
    /// receipt id, entries and claim data.
    function _checkReceiptEvent(Retirement memory r, uint256 receiptId, Vm.Log[] memory logs) private {
        bytes32 sig = r.batch ? IRecToken.ClaimBatch.selector : IRecToken.ClaimSingle.selector;
        bytes memory data =
            r.batch
                ? abi.encode(receiptId, r.ids, r.amounts, CLAIM_DATA)
                : abi.encode(receiptId, r.ids[0], r.amounts[0], CLAIM_DATA);
        uint256 matching;
        for (uint256 i = 0; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(rec) || log.topics.length != 4 || log.topics[0] != sig) continue;
            if (
                log.topics[1] == bytes32(uint256(uint160(r.caller))) &&
                log.topics[2] == bytes32(uint256(uint160(r.holder))) &&
                log.topics[3] == bytes32(uint256(uint160(r.beneficiary))) &&
                keccak256(log.data) == keccak256(data)
            ) ++matching;
        }
        if (matching != 1) _unexpected(abi.encode("receipt event", receiptId, matching));
    }

    /// @dev Books a retirement made by the re-entrant holder on receipt (beneficiary: itself).
    function _book(address account, address beneficiary, uint256 id, uint256 amount) private {
        balance[account][id] -= amount;
        retired[id] += amount;
        claimed[beneficiary][id] += amount;
        ++receipts;
    }

    /// @dev A random holder, or the next one after it that holds certificates.
    function _pickHolder(uint256 seed) private view returns (address) {
        uint256 n = holders.length;
        for (uint256 j = 0; j < n; ++j) {
            address account = holders[((seed % n) + j) % n];
            (, uint256 bal) = _pickClass(account, 0);
            if (bal != 0) return account;
        }
        return holders[seed % n];
    }

    /// @dev Who acts for `account` in a *From call or an operator transfer: itself, a random operator (maybe not
    /// approved), or an approved one when there is one.
    function _pickCaller(address account, uint256 seed) private view returns (address) {
        uint256 n = operators.length;
        if (seed % 4 == 0) return account;
        if (seed % 4 == 1) return operators[(seed >> 2) % n];
        for (uint256 j = 0; j < n; ++j) {
            address operator = operators[((seed >> 2) + j) % n];
            if (approved[account][operator]) return operator;
        }
        return operators[(seed >> 2) % n];
    }

    /// @dev A class `account` holds (searching from a random one), or a random class with its zero balance.
    function _pickClass(address account, uint256 seed) private view returns (uint256 id, uint256 bal) {
        uint256 n = classes.length;
        for (uint256 j = 0; j < n; ++j) {
            id = classes[(seed + j) % n];
            bal = balance[account][id];
            if (bal != 0) return (id, bal);
        }
        return (classes[seed % n], 0);
    }

    /*//////////////////////////////////////////////////////////////
                             PRIVATE: MODEL
    //////////////////////////////////////////////////////////////*/

    /// @dev Registers a meter (pushed to `meters`); eligible (`term != 0`) opens its first window, `[now, now +
    /// term]`.
    function _register(
        address owner,
        uint32 zone,
        IMeterRegistry.Technology technology,
        uint256 term
    ) private returns (address meter) {
        meter = _account("rec meter", meters.length);
        bool eligible = term != 0;
        registry.registerMeter(
            meter,
            IMeterRegistry.MeterParams({
                owner: owner,
                zone: zone,
                technology: technology,
                ratedCapacityW: 20_000,
                recEligible: eligible,
                accreditationExpiry: eligible ? uint64(clock + term) : 0
            })
        );
        meters.push(meter);
        model[meter] = MeterModel({
            registered: true,
            owner: owner,
            zone: zone,
            technology: technology,
            eligible: eligible,
            accredited: eligible,
            keyRevokedAt: 0
        });
        if (eligible) _windows[meter].push(Window(uint64(clock), uint64(clock + term), 0));
    }

    function _setApproval(address account, address operator, bool value) private {
        vm.prank(account);
        rec.setApprovalForAll(operator, value);
        approved[account][operator] = value;
    }

    /// @dev The meter an accreditation action targets: mostly one of the meters in the leaves, sometimes the
    /// spare meter, now and then the unknown key.
    function _pickTarget(uint256 seed) private view returns (address) {
        uint256 r = (seed >> 96) % 16;
        if (r == 0) return unknownMeter;
        if (r <= 3) return spareMeter;
        return meters[seed % METERS];
    }

    /// @dev Expected revert data of `updateMeter(meter, params)` (empty: success), in the specified order: the
    /// key (unknown, revoked), the parameters (owner, zone and capacity are always valid here; a renewable
    /// technology and a future expiry for an eligible meter, expiry 0 otherwise), then the technology lock.
    function _predictUpdate(
        address meter,
        IMeterRegistry.MeterParams memory params
    ) private view returns (bytes memory) {
        MeterModel storage m = model[meter];
        if (!m.registered) return abi.encodeWithSelector(IMeterRegistry.MeterRegistryUnknownMeter.selector, meter);
        if (m.keyRevokedAt != 0) {
            return abi.encodeWithSelector(IMeterRegistry.MeterRegistryMeterRevoked.selector, meter, m.keyRevokedAt);
        }
        if (
            params.recEligible &&
            params.technology != IMeterRegistry.Technology.Solar &&
            params.technology != IMeterRegistry.Technology.Wind
        ) {
            return
                abi.encodeWithSelector(
                    IMeterRegistry.MeterRegistryTechnologyNotRenewable.selector,
                    meter,
                    params.technology
                );
        }
        if (params.recEligible ? params.accreditationExpiry <= clock : params.accreditationExpiry != 0) {
            return
                abi.encodeWithSelector(
                    IMeterRegistry.MeterRegistryInvalidAccreditation.selector,
                    meter,
                    params.recEligible,
                    params.accreditationExpiry
                );
        }
        if (m.accredited && params.technology != m.technology) {
            return
                abi.encodeWithSelector(
                    IMeterRegistry.MeterRegistryTechnologyLocked.selector,
                    meter,
                    m.technology,
                    params.technology
                );
        }
        return "";
    }

    /// @dev Books a successful `updateMeter` in the model, by the specification.
    function _applyUpdate(address meter, IMeterRegistry.MeterParams memory params) private {
        MeterModel storage m = model[meter];
        Window[] storage ws = _windows[meter];
        if (params.recEligible) {
            if (!m.eligible || ws[ws.length - 1].until <= clock) {
                // A new accreditation, or one renewed after it lapsed or was withdrawn or revoked, opens a new
                // window now (never retroactive); the latest one stays on record unless it is empty.
                if (ws.length != 0) {
                    Window storage latest = ws[ws.length - 1];
                    if (latest.until > latest.from) _bump("renewalsKeepingEarlierWindow");
                    else ws.pop();
                }
                ws.push(Window(uint64(clock), params.accreditationExpiry, 0));
            } else {
                // Renewing an unexpired accreditation moves its window's end, for better or worse.
                ws[ws.length - 1].until = params.accreditationExpiry;
                _bump("extensions");
            }
            m.accredited = true;
        } else if (m.eligible && ws[ws.length - 1].until > clock) {
            // Withdrawn: the window ends now; generation up to now stays certifiable.
            ws[ws.length - 1].until = uint64(clock);
            _bump("withdrawals");
        }
        m.eligible = params.recEligible;
        m.technology = params.technology;
    }

    /// @dev Cuts a window at `at`, not before its start.
    function _cut(Window storage w, uint64 at) private {
        if (w.uncut == 0) w.uncut = w.until;
        w.until = at > w.from ? at : w.from;
    }

    /// @dev 1 + the index of the model's window that holds the whole interval, 0 if none: whether its export
    /// earns certificates.
    function _windowOf(address meter, uint64 intervalId) private view returns (uint256) {
        uint256 start = Intervals.startOf(intervalId, intervalLength);
        uint256 end = start + intervalLength;
        Window[] storage ws = _windows[meter];
        for (uint256 i = 0; i < ws.length; ++i) {
            if (ws[i].from <= start && end <= ws[i].until) return i + 1;
        }
        return 0;
    }

    /// @dev Whether the model puts the whole interval inside one of the meter's accreditation windows.
    function _certifiable(address meter, uint64 intervalId) private view returns (bool) {
        return _windowOf(meter, intervalId) != 0;
    }

    /// @dev Whether the interval lies inside a window as it was before a revocation cut it (so only the
    /// revocation keeps it from being certifiable).
    function _insideBeforeRevocation(address meter, uint64 intervalId) private view returns (bool) {
        uint256 start = Intervals.startOf(intervalId, intervalLength);
        uint256 end = start + intervalLength;
        Window[] storage ws = _windows[meter];
        for (uint256 i = 0; i < ws.length; ++i) {
            if (ws[i].uncut != 0 && ws[i].from <= start && end <= ws[i].uncut) return true;
        }
        return false;
    }

    /// @dev Class id the model expects for a leaf of `meter` in `intervalId` claimed now.
    function _expectedId(address meter, uint64 intervalId) private view returns (uint256) {
        MeterModel memory m = model[meter];
        return RecIds.encode(meter, _posted[intervalId].vintage, uint8(m.technology), m.zone);
    }

    /// @dev The registry agrees with the model: the meter's record (status, owner, zone, technology, eligibility,
    /// latest window) and `accreditationWindows` one by one; `claimInfo` certifiability at both edges of every
    /// window and for every posted interval. The model's windows are ordered and do not overlap (what both the
    /// revocation walk and the registry's lookup rely on).
    function _compareModel(address meter) private {
        IMeterRegistry.Meter memory actual = registry.getMeter(meter);
        IMeterRegistry.AccreditationWindow[] memory actualWindows = registry.accreditationWindows(meter);
        MeterModel memory m = model[meter];
        Window[] storage ws = _windows[meter];
        uint256 n = ws.length;
        IMeterRegistry.MeterStatus status =
            !m.registered
                ? IMeterRegistry.MeterStatus.None
                : (m.keyRevokedAt == 0 ? IMeterRegistry.MeterStatus.Active : IMeterRegistry.MeterStatus.Revoked);
        bool same =
            actual.status == status &&
                actual.revokedAt == m.keyRevokedAt &&
                actual.owner == m.owner &&
                actual.zone == m.zone &&
                actual.technology == m.technology &&
                actual.recEligible == m.eligible &&
                actual.accreditedFrom == (n == 0 ? 0 : ws[n - 1].from) &&
                actual.accreditationExpiry == (n == 0 ? 0 : ws[n - 1].until) &&
                actualWindows.length == n;
        for (uint256 i = 0; same && i < n; ++i) {
            same = actualWindows[i].from == ws[i].from && actualWindows[i].until == ws[i].until;
        }
        if (!same) _unexpected(abi.encode("accreditation model", meter, actual, actualWindows));
        for (uint256 i = 0; i < n; ++i) {
            if (ws[i].until < ws[i].from || (i != 0 && ws[i - 1].until > ws[i].from)) {
                _unexpected(abi.encode("model windows out of order", meter, i));
            }
            uint64 first = Intervals.idAt(ws[i].from, intervalLength);
            uint64 last = Intervals.idAt(ws[i].until, intervalLength);
            for (uint64 id = first - 1; id <= first + 1; ++id) _compareCertifiable(meter, id);
            for (uint64 id = last - 1; id <= last + 1; ++id) _compareCertifiable(meter, id);
        }
        for (uint256 i = 0; i < intervals.length; ++i) _compareCertifiable(meter, intervals[i]);
    }

    /// @dev The registry's `claimInfo` certifiability of the interval is the model's.
    function _compareCertifiable(address meter, uint64 intervalId) private {
        (, , , , , bool certifiable) = registry.claimInfo(meter, intervalId);
        if (certifiable != _certifiable(meter, intervalId)) {
            _unexpected(abi.encode("certifiable", meter, intervalId, certifiable));
        }
    }

    /// @dev The revocation emitted exactly one AccreditationRevoked naming the meter, the handler as issuer, the
    /// effective time and the latest window's end before it.
    function _checkRevocationEvent(address meter, uint64 effectiveAt, uint64 previous, Vm.Log[] memory logs) private {
        bytes memory data = abi.encode(effectiveAt, previous);
        uint256 matching;
        for (uint256 i = 0; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(registry) || log.topics.length != 3) continue;
            if (
                log.topics[0] == IMeterRegistry.AccreditationRevoked.selector &&
                log.topics[1] == bytes32(uint256(uint160(meter))) &&
                log.topics[2] == bytes32(uint256(uint160(address(this)))) &&
                keccak256(log.data) == keccak256(data)
            ) ++matching;
        }
        if (matching != 1) _unexpected(abi.encode("revocation event", meter, matching));
    }

    function _noteClass(uint256 id, address meter, uint32 vintage) private {
        if (classInfo[id].meter != address(0)) return;
        classInfo[id] = ClassInfo(meter, vintage);
        classes.push(id);
    }

    /*//////////////////////////////////////////////////////////////
                          PRIVATE: TREES AND VOTES
    //////////////////////////////////////////////////////////////*/

    /// @dev 1..6 leaves of distinct meters with random energies (a quarter export nothing); builds the tree.
    function _makeLeaves(uint64 intervalId, uint256 seed) private returns (uint64 sumExport) {
        uint256 n = 1 + ((seed >> 28) % METERS);
        uint256 start = (seed >> 32) % METERS;
        bytes32[] memory hashes = new bytes32[](n);
        Posted storage p = _posted[intervalId];
        for (uint256 k = 0; k < n; ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, k)));
            LeafRec memory leaf = LeafRec({
                meter: meters[(start + k) % METERS],
                importWh: uint64(r % 5_000_000),
                exportWh: (r >> 64) % 4 == 0 ? 0 : uint64(1 + ((r >> 128) % 5_000_000))
            });
            p.leaves.push(leaf);
            p.totalImport += leaf.importWh;
            sumExport += leaf.exportWh;
            hashes[k] = MeterReadings.leaf(leaf.meter, intervalId, leaf.importWh, leaf.exportWh);
        }
        p.tree = MerkleTrees.build(hashes);
    }

    function _vote(uint256 member, uint64 intervalId) private {
        Posted storage p = _posted[intervalId];
        vm.prank(_members[member]);
        oracle.submitRoot(intervalId, p.tree[0], uint32(p.leaves.length), p.totalImport, p.totalExport);
    }

    /// @dev The interval's root is final: its leaves' export is proven (per meter and month).
    function _markFinal(uint64 intervalId) private {
        Posted storage p = _posted[intervalId];
        p.isFinal = true;
        for (uint256 k = 0; k < p.leaves.length; ++k) provenMonth[p.leaves[k].meter][p.vintage] += p.leaves[k].exportWh;
        (bytes32 root, uint64 total) = oracle.finalRoot(intervalId);
        if (root != p.tree[0] || total != p.totalExport) _unexpected(abi.encode("root not final", intervalId));
    }

    /// @dev Mostly one of the last three intervals posted (claims tend to follow roots), else any (so that
    /// intervals of an earlier accreditation window are claimed after a renewal opened a new one).
    function _pickInterval(uint256 seed) private view returns (uint64) {
        uint256 n = intervals.length;
        if ((seed >> 192) % 4 == 0 || n <= 3) return intervals[seed % n];
        return intervals[n - 1 - (seed % 3)];
    }

    function _claimOf(uint64 intervalId, uint256 k) private view returns (IKwhToken.Claim memory) {
        LeafRec memory leaf = _posted[intervalId].leaves[k];
        bytes32[] memory nodes = _posted[intervalId].tree;
        return IKwhToken.Claim(leaf.meter, intervalId, leaf.importWh, leaf.exportWh, nodes.proof(k));
    }

    function _positionOf(uint64 intervalId, address meter) private view returns (uint256 k) {
        LeafRec[] storage leaves = _posted[intervalId].leaves;
        while (leaves[k].meter != meter) ++k;
    }

    /// @dev A claim that always fails (interval 0 has no root): what the holder replays outside claim calls.
    function _noClaim() private pure returns (IKwhToken.Claim memory) {
        return IKwhToken.Claim(address(0), 0, 0, 0, new bytes32[](0));
    }

    /*//////////////////////////////////////////////////////////////
                            PRIVATE: OUTCOMES
    //////////////////////////////////////////////////////////////*/

    /// @dev Makes a call the handler predicted, whichever function it is (the revert data is compared whole).
    function _call(address target, bytes memory data) private returns (bool ok, bytes memory ret) {
        // solhint-disable-next-line avoid-low-level-calls
        (ok, ret) = target.call(data);
    }

    /// @dev Compares an outcome with the prediction; returns whether the call succeeded as predicted.
    function _check(bool ok, bytes memory err, bytes memory expected) private returns (bool) {
        if (ok && expected.length == 0) return true;
        if (!ok && keccak256(err) == keccak256(expected)) {
            ++outcomes[bytes4(err)];
            return false;
        }
        _unexpected(abi.encode(ok, err, expected));
        return false;
    }

    function _bump(string memory what) private {
        ++_counts[keccak256(bytes(what))];
    }

    function _unexpected(bytes memory what) private {
        _bump("unexpected");
        lastUnexpected = what;
    }

    function _violation(bytes memory what) private {
        _bump("violations");
        lastViolation = what;
    }

    function _account(string memory label, uint256 i) private pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(label, i)))));
    }
}

/// @notice Invariants of renewable-energy certificates under random roots, claims, transfers, retirements,
/// accreditation revocations and renewals (see RecHandler).
contract RecInvariantTest is SystemFixture {
    /// @notice Calls that did not do what the handler predicted: how many, and the last one's
    /// `abi.encode(succeeded, revertData, expectedRevertData)` (or a description of another mismatch).
    error UnexpectedOutcome(uint256 count, bytes last);
    /// @notice Certificates the model did not allow: how many events, and the last one.
    error CertificatesOutsideAccreditation(uint256 count, bytes last);

    /// @dev 2023-12-31T18:07:30Z: a month and a year change are six hours away (so short sequences see two
    /// vintages), and the clock is not on an interval boundary, so the interval of the registrations is only
    /// partly accredited.
    uint256 internal constant START = 1_704_045_600 + 450;

    RecHandler internal handler;

    function setUp() public {
        _deploySystem(address(this));
        vm.warp(START);
        handler = new RecHandler(rec, kwh, registry, oracle, members);
        gov.grantRole(Roles.REGISTRAR, address(handler), 0);
        gov.grantRole(Roles.ISSUER, address(handler), 0);
        gov.grantRole(Roles.PAUSER, address(handler), 0);
        handler.init();
        // Start with a final interval from before the accreditations, then two inside them, one of them claimed,
        // so that early calls in a sequence already have certificates to move and retire, and leaves to claim.
        handler.postRoot(uint256(keccak256("root before accreditation")) | (uint256(1) << 56));
        handler.warp(3 hours);
        handler.postRoot(uint256(keccak256("first root")) | (uint256(1) << 56));
        for (uint256 k = 0; k < handler.METERS(); ++k) handler.claim((k << 8) | 1);
        Assert.isTrue(handler.count("certifiedLeaves") > 0, "setUp issues certificates");
        handler.postRoot(uint256(keccak256("second root")) | (uint256(1) << 56));
    }

    /// @notice Only the handler is called by the invariant runner (forge-std StdInvariant convention).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (a) No class has more units issued than the export of the claimed leaves the accreditation model
    /// deems certifiable, and no meter more in a month than the export of all its leaves under final roots.
    function invariant_issuedNeverExceedsProvenExport() public view {
        uint256 n = handler.classCount();
        for (uint256 c = 0; c < n; ++c) {
            uint256 id = handler.classes(c);
            (address meter, uint32 vintage) = handler.classInfo(id);
            Assert.le(handler.issued(id), handler.certifiableExport(id), "issued <= certifiable proven export");
            Assert.le(
                handler.issuedMonth(meter, vintage),
                handler.provenMonth(meter, vintage),
                "issued in a month <= export proven for that month"
            );
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (b) For every class, the balances of all possible holders plus the units retired add up to the
    /// units issued, and each balance is the ghost ledger's.
    function invariant_heldPlusRetiredEqualsIssued() public view {
        uint256 n = handler.classCount();
        uint256 h = handler.holderCount();
        for (uint256 c = 0; c < n; ++c) {
            uint256 id = handler.classes(c);
            uint256 held;
            for (uint256 i = 0; i < h; ++i) {
                address account = handler.holders(i);
                uint256 bal = rec.balanceOf(account, id);
                Assert.eq(bal, handler.balance(account, id), "balance = ghost balance");
                held += bal;
            }
            Assert.eq(held + handler.retired(id), handler.issued(id), "held + retired == issued");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (c) For every class, the claimed balances of all beneficiaries add up to the units retired, and
    /// each is the ghost ledger's (read one by one and in one batch).
    function invariant_claimedBalancesSumToRetired() public view {
        uint256 n = handler.classCount();
        uint256 b = handler.beneficiaryCount();
        address[] memory accounts = new address[](b);
        uint256[] memory ids = new uint256[](b);
        for (uint256 i = 0; i < b; ++i) accounts[i] = handler.beneficiaries(i);
        for (uint256 c = 0; c < n; ++c) {
            uint256 id = handler.classes(c);
            for (uint256 i = 0; i < b; ++i) ids[i] = id;
            uint256[] memory batch = rec.claimedBalanceOfBatch(accounts, ids);
            uint256 sum;
            for (uint256 i = 0; i < b; ++i) {
                uint256 claimed = rec.claimedBalanceOf(accounts[i], id);
                Assert.eq(claimed, handler.claimed(accounts[i], id), "claimed balance = ghost");
                Assert.eq(batch[i], claimed, "claimedBalanceOfBatch = claimedBalanceOf");
                sum += claimed;
            }
            Assert.eq(sum, handler.retired(id), "sum of claimed balances == retired");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (d) The receipt count is the number of successful retirements (single, batch, on receipt).
    function invariant_receiptCountMatchesRetirements() public view {
        Assert.eq(rec.receiptCount(), handler.receipts(), "receiptCount == successful retirements");
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (e) No leaf yields certificates twice, and only a claimed leaf yields any.
    function invariant_noLeafCertifiedTwice() public view {
        uint256 n = handler.intervalCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 intervalId = handler.intervals(i);
            RecHandler.LeafRec[] memory leaves = handler.leavesOf(intervalId);
            for (uint256 k = 0; k < leaves.length; ++k) {
                uint256 issuances = handler.leafIssuances(intervalId, leaves[k].meter);
                Assert.le(issuances, 1, "certificates at most once per leaf");
                if (issuances == 1) {
                    Assert.isTrue(kwh.isClaimed(leaves[k].meter, intervalId), "certified leaf is claimed");
                }
            }
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (f) Certificates only ever for a leaf whose interval lay inside one of its meter's accreditation
    /// windows at claim time (so never for a meter without accreditation), under a valid class of a meter that
    /// was accredited at some point, for the month the interval starts in.
    function invariant_noCertificatesOutsideAccreditation() public view {
        uint256 violations = handler.count("violations");
        if (violations != 0) revert CertificatesOutsideAccreditation(violations, handler.lastViolation());
        uint256 n = handler.intervalCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 intervalId = handler.intervals(i);
            RecHandler.LeafRec[] memory leaves = handler.leavesOf(intervalId);
            for (uint256 k = 0; k < leaves.length; ++k) {
                if (handler.leafIssuances(intervalId, leaves[k].meter) != 0) {
                    Assert.isTrue(handler.certifiableAtClaim(intervalId, leaves[k].meter), "certifiable at claim");
                }
            }
        }
        uint256 classCount = handler.classCount();
        for (uint256 c = 0; c < classCount; ++c) {
            uint256 id = handler.classes(c);
            (address meter, uint32 vintage, IMeterRegistry.Technology technology, ) = rec.decodeCertificateId(id);
            (address knownMeter, uint32 knownVintage) = handler.classInfo(id);
            Assert.eq(meter, knownMeter, "class meter");
            Assert.eq(vintage, knownVintage, "class vintage = month the interval starts in");
            Assert.isTrue(technology <= IMeterRegistry.Technology.Wind, "renewable technology");
            (, , , , , bool accredited, ) = handler.model(meter);
            Assert.isTrue(accredited, "meter was accredited");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (g) Every call did what the specification predicts (success or the predicted error), issued the
    /// certificates the model expects under the expected class, and the accreditation model matches the registry.
    function invariant_outcomesAsPredicted() public view {
        uint256 unexpected = handler.count("unexpected");
        if (unexpected != 0) revert UnexpectedOutcome(unexpected, handler.lastUnexpected());
    }

    /// @notice Sanity check of the handler itself: a long deterministic pseudo-random sequence reaches issuance
    /// (also for an interval of an earlier window after a renewal opened a new one), claims outside the windows,
    /// after a revocation and of meters without accreditation, transfers, every kind of retirement (own and by
    /// operators, single and batch, on receipt), revocations (also cutting earlier windows, and of a revoked
    /// key), renewals after a lapse and extensions, withdrawals, technology changes (and their rejection once a
    /// meter was accredited), every rejected registry call, rejected double claims and replays, rejected
    /// certificates and pauses; every prediction holds and the invariants hold at the end. Guards against a
    /// handler that silently does nothing.
    function test_handlerReachesEveryOutcome() public {
        for (uint256 i = 0; i < 1200; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("rec handler sequence", i)));
            _act(seed % 20, seed >> 8);
        }
        _assertReached("certifiedLeaves");
        _assertReached("claimsOutsideWindow");
        _assertReached("claimsRevoked");
        _assertReached("claimsNotEligible");
        _assertReached("transfers");
        _assertReached("retirements");
        _assertReached("retirementsFrom");
        _assertReached("batchRetirements");
        _assertReached("batchRetirementsFrom");
        _assertReached("retirementsByOperator");
        _assertReached("retiredOnReceipt");
        _assertReached("replaysRejected");
        _assertReached("revocations");
        _assertReached("revocationsCuttingEarlierWindows");
        _assertReached("revocationsOfRevokedKeys");
        _assertReached("reaccreditations");
        _assertReached("renewalsKeepingEarlierWindow");
        _assertReached("extensions");
        _assertReached("withdrawals");
        _assertReached("certifiedInEarlierWindow");
        _assertReached("technologyChanges");
        _assertReached("technologyChangesRejected");
        _assertReached("keyRevocations");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenAlreadyClaimed.selector) > 0, "double claims rejected");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenRootNotFinal.selector) > 0, "claims before finality");
        Assert.isTrue(handler.outcomes(IERC1155Errors.ERC1155InvalidReceiver.selector) > 0, "holder rejects");
        Assert.isTrue(handler.outcomes(Pausable.EnforcedPause.selector) > 0, "paused transfers and retirements");
        Assert.isTrue(handler.outcomes(IRecToken.RecTokenZeroAmount.selector) > 0, "zero retirements");
        Assert.isTrue(handler.outcomes(IERC1155Errors.ERC1155InsufficientBalance.selector) > 0, "over the balance");
        Assert.isTrue(
            handler.outcomes(IERC1155Errors.ERC1155MissingApprovalForAll.selector) > 0,
            "unapproved operators"
        );
        Assert.isTrue(
            handler.outcomes(IMeterRegistry.MeterRegistryInvalidRevocationTime.selector) > 0,
            "bad revocation times"
        );
        Assert.isTrue(
            handler.outcomes(IMeterRegistry.MeterRegistryNotAccredited.selector) > 0,
            "revocations without accreditation"
        );
        Assert.isTrue(
            handler.outcomes(IMeterRegistry.MeterRegistryTechnologyLocked.selector) > 0,
            "technology changes rejected"
        );
        Assert.isTrue(
            handler.outcomes(IMeterRegistry.MeterRegistryTechnologyNotRenewable.selector) > 0,
            "non-renewable accreditations"
        );
        Assert.isTrue(
            handler.outcomes(IMeterRegistry.MeterRegistryInvalidAccreditation.selector) > 0,
            "bad accreditation expiries"
        );
        Assert.isTrue(handler.outcomes(IMeterRegistry.MeterRegistryUnknownMeter.selector) > 0, "unknown meter");
        Assert.isTrue(handler.outcomes(IMeterRegistry.MeterRegistryMeterRevoked.selector) > 0, "revoked meter key");
        Assert.isTrue(rec.receiptCount() > 0, "receipts issued");
        _assertSeveralVintages();
        invariant_issuedNeverExceedsProvenExport();
        invariant_heldPlusRetiredEqualsIssued();
        invariant_claimedBalancesSumToRetired();
        invariant_receiptCountMatchesRetirements();
        invariant_noLeafCertifiedTwice();
        invariant_noCertificatesOutsideAccreditation();
        invariant_outcomesAsPredicted();
    }

    function _act(uint256 action, uint256 seed) private {
        if (action == 0) handler.postRoot(seed);
        else if (action == 1) handler.finalise(seed);
        else if (action == 2) handler.warp(seed);
        else if (action == 3 || action == 4) handler.claim(seed);
        else if (action == 5) handler.claimMany(seed);
        else if (action == 6) handler.claimInterval(seed);
        else if (action == 7) handler.doubleClaim(seed);
        else if (action == 8 || action == 9) handler.transfer(seed);
        else if (action == 10) handler.approve(seed);
        else if (action == 11) handler.retire(seed);
        else if (action == 12) handler.retireBatch(seed);
        else if (action == 13) handler.setHolderMode(seed);
        else if (action == 14) handler.togglePause(seed);
        else if (action == 15) handler.revokeAccreditation(seed);
        else if (action >= 16 && action <= 18) handler.reaccredit(seed);
        else handler.revokeMeterKey(seed);
    }

    function _assertReached(string memory what) private view {
        Assert.isTrue(handler.count(what) > 0, what);
    }

    /// @dev Certificates of at least two vintage months were issued (the run crosses a month boundary).
    function _assertSeveralVintages() private view {
        uint256 n = handler.classCount();
        Assert.isTrue(n > 0, "classes issued");
        (, uint32 first) = handler.classInfo(handler.classes(0));
        bool other;
        for (uint256 c = 1; c < n; ++c) {
            (, uint32 vintage) = handler.classInfo(handler.classes(c));
            if (vintage != first) other = true;
        }
        Assert.isTrue(other, "several vintages");
    }
}
