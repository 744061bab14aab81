// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Roles} from "../../contracts/governance/Roles.sol";
import {IKwhToken} from "../../contracts/interfaces/IKwhToken.sol";
import {IMeterRegistry} from "../../contracts/interfaces/IMeterRegistry.sol";
import {Intervals} from "../../contracts/libraries/Intervals.sol";
import {MeterReadings} from "../../contracts/libraries/MeterReadings.sol";
import {TokenIds} from "../../contracts/libraries/TokenIds.sol";
import {ReadingOracle} from "../../contracts/oracle/ReadingOracle.sol";
import {MeterRegistry} from "../../contracts/registry/MeterRegistry.sol";
import {KwhToken} from "../../contracts/tokens/KwhToken.sol";
import {Assert} from "./Assert.sol";
import {MerkleTrees} from "./MerkleTrees.sol";
import {SystemFixture} from "./SystemFixture.sol";
import {vm} from "./Vm.sol";

/// @notice Drives the registry, the oracle committee and kWh claims in random order for the invariant test, and
/// keeps a ghost ledger of what must have been minted. Every claim's outcome is predicted from the ghost state
/// (success, or which error); a claim that does otherwise is counted in `stats.unexpected`.
contract KwhHandler {
    using MerkleTrees for bytes32[];

    /// @dev One posted interval. `hijacked`: a conflicting root (not the handler's tree) became final.
    struct Posted {
        bytes32 root;
        bytes32 finalRoot;
        uint64 totalImport;
        uint64 totalExport;
        uint64 finalTotalExport;
        bool isFinal;
        bool hijacked;
        LeafRec[] leaves;
        bytes32[] tree;
    }

    /// @dev What the handler knows of a registered meter.
    struct MeterInfo {
        address owner;
        uint32 zone;
        bool revoked;
        uint64 revokedAt;
    }

    /// @dev Counters: handler calls, claims that succeeded as predicted, claims that did not do what was
    /// predicted, meters revoked.
    struct Stats {
        uint256 calls;
        uint256 successes;
        uint256 unexpected;
        uint256 revoked;
    }

    /// @dev One leaf of a posted interval.
    struct LeafRec {
        address meter;
        uint64 importWh;
        uint64 exportWh;
    }

    /// @dev A successful claim, for double-claim attempts.
    struct ClaimRef {
        uint64 intervalId;
        uint256 k;
    }

    /// @dev Per-batch prediction scratch: leaves already taken and export added, per interval of the batch.
    struct Batch {
        uint64[] intervals;
        address[] meters;
        uint256 n;
    }

    uint256 public constant MAX_METERS = 12;
    uint256 public constant MAX_LEAVES = 8;
    uint256 public constant OWNERS = 4;
    uint32 public constant ZONES = 3;

    MeterRegistry public immutable registry;
    ReadingOracle public immutable oracle;
    KwhToken public immutable kwh;
    uint64 public immutable intervalLength;
    address[] internal _members;

    /// @notice Handler clock: every action warps here first, so time only moves forward whatever the runner does.
    uint256 public clock;
    uint64 public nextInterval;

    address[] public meters;
    address[] public owners;
    mapping(address meter => MeterInfo) public meterInfo;

    uint64[] public intervals;
    mapping(uint64 intervalId => Posted) internal _posted;

    // Ghost ledger.
    mapping(uint64 intervalId => mapping(address meter => uint256)) public ghostClaims;
    mapping(uint64 intervalId => uint256) public ghostMinted;
    mapping(address owner => mapping(uint256 id => uint256)) public ghostBalance;
    ClaimRef[] internal _claimed;
    bytes public lastUnexpected;
    mapping(bytes4 selector => uint256) public outcomes;
    Stats public stats;

    constructor(MeterRegistry registry_, ReadingOracle oracle_, KwhToken kwh_, address[] memory members_) {
        registry = registry_;
        oracle = oracle_;
        kwh = kwh_;
        intervalLength = registry_.intervalLength();
        _members = members_;
        for (uint256 i = 0; i < OWNERS; ++i) {
            owners.push(address(uint160(uint256(keccak256(abi.encode("invariant owner", i))))));
        }
        clock = block.timestamp;
        nextInterval = Intervals.idAt(block.timestamp, intervalLength) - 4;
    }

    modifier synced() {
        ++stats.calls;
        vm.warp(clock);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Registers a new meter (at most MAX_METERS) in a random zone with a random owner.
    function registerMeter(uint256 seed) public synced {
        if (meters.length >= MAX_METERS) return;
        address meter = address(uint160(uint256(keccak256(abi.encode("invariant meter", meters.length)))));
        address owner = owners[seed % OWNERS];
        uint32 zone = uint32(1 + ((seed >> 8) % ZONES));
        registry.registerMeter(meter, _params(owner, zone));
        meters.push(meter);
        (meterInfo[meter].owner, meterInfo[meter].zone) = (owner, zone);
    }

    /// @notice Moves an active meter to another owner and zone: later claims mint there.
    function updateMeter(uint256 seed) public synced {
        if (meters.length == 0) return;
        address meter = meters[seed % meters.length];
        if (meterInfo[meter].revoked) return;
        address owner = owners[(seed >> 8) % OWNERS];
        uint32 zone = uint32(1 + ((seed >> 16) % ZONES));
        registry.updateMeter(meter, _params(owner, zone));
        (meterInfo[meter].owner, meterInfo[meter].zone) = (owner, zone);
    }

    /// @notice Occasionally revokes a meter: its leaves of intervals ending after now stop being claimable.
    function revokeMeter(uint256 seed) public synced {
        if (meters.length == 0 || seed % 2 != 0) return;
        address meter = meters[(seed >> 8) % meters.length];
        // Keep at least two active meters.
        if (meterInfo[meter].revoked || stats.revoked + 2 > meters.length) return;
        ++stats.revoked;
        registry.revokeMeter(meter);
        (meterInfo[meter].revoked, meterInfo[meter].revokedAt) = (true, uint64(block.timestamp));
    }

    /// @notice Posts (one vote) a tree of random leaves of registered meters for a new ended interval; the totals
    /// are sometimes inconsistent with the leaves (export below or above their sum). Sometimes finalises at once.
    function postRoot(uint256 seed) public synced {
        if (meters.length == 0) return;
        uint64 intervalId = nextInterval;
        nextInterval += uint64(1 + (seed % 3));
        // The interval has ended; sometimes well before now (so meters revoked since can still claim it).
        uint256 end = Intervals.endOf(intervalId, intervalLength);
        clock = (end > clock ? end : clock) + ((seed >> 8) % (3 * intervalLength));
        vm.warp(clock);

        (uint64 sumImport, uint64 sumExport) = _makeLeaves(intervalId, seed);
        Posted storage p = _posted[intervalId];
        p.totalImport = sumImport;
        uint256 mode = (seed >> 32) % 8;
        if (mode == 5 || mode == 6) {
            // Root under-reports export: the cap must stop claims before the leaves' sum.
            p.totalExport = uint64((uint256(sumExport) * ((seed >> 40) % 100)) / 100);
        } else if (mode == 7) {
            p.totalExport = sumExport + uint64((seed >> 40) % 1_000_000);
        } else {
            p.totalExport = sumExport;
        }
        p.root = _posted[intervalId].tree[0];
        intervals.push(intervalId);

        _vote(0, intervalId, p.root, p.totalImport, p.totalExport);
        if ((seed >> 48) % 2 == 0) {
            _vote(1, intervalId, p.root, p.totalImport, p.totalExport);
            _markFinal(intervalId);
        }
    }

    /// @notice Finalises a pending interval through the committee: a plain second vote, a conflicting vote then
    /// agreement, or (rarely) two conflicting votes that make another root final instead of the handler's tree.
    function finalise(uint256 seed) public synced {
        (bool found, uint64 intervalId) = _pickPending(seed);
        if (!found) return;
        Posted storage p = _posted[intervalId];
        uint256 scenario = (seed >> 8) % 7;
        bytes32 other = keccak256(abi.encode("conflicting root", seed));
        if (scenario < 3) {
            _vote(1 + (scenario % 2), intervalId, p.root, p.totalImport, p.totalExport);
        } else if (scenario < 6) {
            _vote(1, intervalId, other, 1, 0, p.totalExport);
            _vote(2, intervalId, p.root, p.totalImport, p.totalExport);
        } else {
            uint64 otherTotal = uint64((seed >> 16) % 1_000_000);
            _vote(1, intervalId, other, 1, 0, otherTotal);
            _vote(2, intervalId, other, 1, 0, otherTotal);
            p.hijacked = true;
            p.finalRoot = other;
            p.finalTotalExport = otherTotal;
            p.isFinal = true;
            (bytes32 root, uint64 total) = oracle.finalRoot(intervalId);
            if (root != other || total != otherTotal) _unexpected(abi.encode("hijack not final", intervalId));
            return;
        }
        _markFinal(intervalId);
    }

    /// @notice Claims one random leaf of a posted interval with `claim`.
    function claim(uint256 seed) public synced {
        if (intervals.length == 0) return;
        uint64 intervalId = intervals[seed % intervals.length];
        uint256 k = (seed >> 8) % _posted[intervalId].leaves.length;
        _claimOne(intervalId, k);
    }

    /// @notice Claims again a leaf that was claimed successfully before: must revert.
    function doubleClaim(uint256 seed) public synced {
        if (_claimed.length == 0) return;
        ClaimRef memory c = _claimed[seed % _claimed.length];
        _claimOne(c.intervalId, c.k);
    }

    /// @notice Claims 1..4 random leaves (possibly repeated, across intervals) with one `claimMany`.
    function claimMany(uint256 seed) public synced {
        if (intervals.length == 0) return;
        uint256 count = 1 + (seed % 4);
        IKwhToken.Claim[] memory claims = new IKwhToken.Claim[](count);
        uint256[] memory ks = new uint256[](count);
        for (uint256 j = 0; j < count; ++j) {
            uint256 r = uint256(keccak256(abi.encode(seed, j)));
            uint64 intervalId = intervals[r % intervals.length];
            ks[j] = (r >> 8) % _posted[intervalId].leaves.length;
            LeafRec memory leaf = _posted[intervalId].leaves[ks[j]];
            bytes32[] memory nodes = _posted[intervalId].tree;
            claims[j] = IKwhToken.Claim(leaf.meter, intervalId, leaf.importWh, leaf.exportWh, nodes.proof(ks[j]));
        }
        bytes memory expected = _predictBatch(claims);
        bool ok;
        bytes memory err;
        try kwh.claimMany(claims) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
        if (_check(ok, err, expected)) {
            for (uint256 j = 0; j < count; ++j) _record(claims[j].intervalId, ks[j]);
        }
    }

    /// @notice Claims a random non-empty subset of one interval's leaves with a multi-proof (`claimInterval`).
    function claimInterval(uint256 seed) public synced {
        if (intervals.length == 0) return;
        uint64 intervalId = intervals[seed % intervals.length];
        uint256 n = _posted[intervalId].leaves.length;
        uint256 mask = 1 + ((seed >> 8) % ((1 << n) - 1));
        (IKwhToken.Leaf[] memory leaves, uint256[] memory ks) = _subset(intervalId, mask);
        bytes32[] memory nodes = _posted[intervalId].tree;
        (bytes32[] memory proof, bool[] memory flags) = nodes.multiProof(ks);

        IKwhToken.Claim[] memory asClaims = new IKwhToken.Claim[](leaves.length);
        for (uint256 j = 0; j < leaves.length; ++j) {
            asClaims[j] = IKwhToken.Claim(
                leaves[j].meter,
                intervalId,
                leaves[j].importWh,
                leaves[j].exportWh,
                new bytes32[](0)
            );
        }
        bytes memory expected = _predictBatch(asClaims);
        bool ok;
        bytes memory err;
        try kwh.claimInterval(intervalId, leaves, proof, flags) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
        if (_check(ok, err, expected)) {
            for (uint256 j = 0; j < ks.length; ++j) _record(intervalId, ks[j]);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    function intervalCount() external view returns (uint256) {
        return intervals.length;
    }

    function meterCount() external view returns (uint256) {
        return meters.length;
    }

    function ownerCount() external view returns (uint256) {
        return owners.length;
    }

    function claimedCount() external view returns (uint256) {
        return _claimed.length;
    }

    function posted(uint64 intervalId) external view returns (Posted memory) {
        return _posted[intervalId];
    }

    function leavesOf(uint64 intervalId) external view returns (LeafRec[] memory) {
        return _posted[intervalId].leaves;
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _params(address owner, uint32 zone) private pure returns (IMeterRegistry.MeterParams memory) {
        return
            IMeterRegistry.MeterParams({
                owner: owner,
                zone: zone,
                technology: IMeterRegistry.Technology.Solar,
                ratedCapacityW: 20_000,
                recEligible: false,
                accreditationExpiry: 0
            });
    }

    /// @dev 1..8 leaves of distinct registered meters (revoked ones included) with random energies; builds and
    /// stores the tree. Returns the leaves' sums.
    function _makeLeaves(uint64 intervalId, uint256 seed) private returns (uint64 sumImport, uint64 sumExport) {
        uint256 m = meters.length;
        uint256 n = 1 + ((seed >> 16) % (m < MAX_LEAVES ? m : MAX_LEAVES));
        uint256 start = (seed >> 24) % m;
        bytes32[] memory hashes = new bytes32[](n);
        LeafRec[] storage leaves = _posted[intervalId].leaves;
        for (uint256 k = 0; k < n; ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, k)));
            LeafRec memory leaf = LeafRec({
                meter: meters[(start + k) % m],
                importWh: uint64(r % 5_000_000),
                exportWh: (r >> 64) % 4 == 0 ? 0 : uint64((r >> 128) % 5_000_000)
            });
            leaves.push(leaf);
            sumImport += leaf.importWh;
            sumExport += leaf.exportWh;
            hashes[k] = MeterReadings.leaf(leaf.meter, intervalId, leaf.importWh, leaf.exportWh);
        }
        _posted[intervalId].tree = MerkleTrees.build(hashes);
    }

    function _vote(uint256 member, uint64 intervalId, bytes32 root, uint64 totalImport, uint64 totalExport) private {
        _vote(member, intervalId, root, uint32(_posted[intervalId].leaves.length), totalImport, totalExport);
    }

    function _vote(
        uint256 member,
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImport,
        uint64 totalExport
    ) private {
        vm.prank(_members[member]);
        oracle.submitRoot(intervalId, root, leafCount, totalImport, totalExport);
    }

    function _markFinal(uint64 intervalId) private {
        Posted storage p = _posted[intervalId];
        p.isFinal = true;
        p.finalRoot = p.root;
        p.finalTotalExport = p.totalExport;
        (bytes32 root, uint64 total) = oracle.finalRoot(intervalId);
        if (root != p.root || total != p.totalExport) _unexpected(abi.encode("root not final", intervalId));
    }

    function _pickPending(uint256 seed) private view returns (bool, uint64) {
        uint256 n = intervals.length;
        for (uint256 j = 0; j < n; ++j) {
            uint64 intervalId = intervals[((seed % n) + j) % n];
            if (!_posted[intervalId].isFinal) return (true, intervalId);
        }
        return (false, 0);
    }

    function _claimOne(uint64 intervalId, uint256 k) private {
        LeafRec memory leaf = _posted[intervalId].leaves[k];
        bytes32[] memory nodes = _posted[intervalId].tree;
        IKwhToken.Claim[] memory one = new IKwhToken.Claim[](1);
        one[0] = IKwhToken.Claim(leaf.meter, intervalId, leaf.importWh, leaf.exportWh, nodes.proof(k));
        bytes memory expected = _predictBatch(one);
        bool ok;
        bytes memory err;
        try kwh.claim(leaf.meter, intervalId, leaf.importWh, leaf.exportWh, one[0].proof) {
            ok = true;
        } catch (bytes memory e) {
            err = e;
        }
        if (_check(ok, err, expected)) _record(intervalId, k);
    }

    /// @dev Expected revert data of claiming `claims` in order in one transaction (empty: success). Mirrors the
    /// specification: root final, proof valid, meter not revoked before the interval's end, leaf not claimed,
    /// and the interval's minted total within the root's exported total.
    function _predictBatch(IKwhToken.Claim[] memory claims) private view returns (bytes memory) {
        Batch memory b = Batch(new uint64[](claims.length), new address[](claims.length), 0);
        uint256[] memory added = new uint256[](claims.length);
        for (uint256 j = 0; j < claims.length; ++j) {
            IKwhToken.Claim memory c = claims[j];
            Posted storage p = _posted[c.intervalId];
            if (!p.isFinal) return abi.encodeWithSelector(IKwhToken.KwhTokenRootNotFinal.selector, c.intervalId);
            if (p.hijacked) {
                return abi.encodeWithSelector(IKwhToken.KwhTokenInvalidProof.selector, c.meter, c.intervalId);
            }
            MeterInfo memory info = meterInfo[c.meter];
            if (info.revoked && info.revokedAt < Intervals.endOf(c.intervalId, intervalLength)) {
                return
                    abi.encodeWithSelector(
                        IKwhToken.KwhTokenMeterRevoked.selector,
                        c.meter,
                        c.intervalId,
                        info.revokedAt
                    );
            }
            uint256 batchAdded;
            bool takenInBatch;
            for (uint256 i = 0; i < b.n; ++i) {
                if (b.intervals[i] == c.intervalId) {
                    batchAdded += added[i];
                    if (b.meters[i] == c.meter) takenInBatch = true;
                }
            }
            if (takenInBatch || ghostClaims[c.intervalId][c.meter] != 0) {
                return abi.encodeWithSelector(IKwhToken.KwhTokenAlreadyClaimed.selector, c.meter, c.intervalId);
            }
            uint256 minted = ghostMinted[c.intervalId] + batchAdded + c.exportWh;
            if (minted > p.finalTotalExport) {
                return
                    abi.encodeWithSelector(
                        IKwhToken.KwhTokenExceedsProvenExport.selector,
                        c.intervalId,
                        minted,
                        uint256(p.finalTotalExport)
                    );
            }
            (b.intervals[b.n], b.meters[b.n], added[b.n]) = (c.intervalId, c.meter, c.exportWh);
            ++b.n;
        }
        return "";
    }

    /// @dev Compares an outcome with the prediction; returns whether the call succeeded as predicted.
    function _check(bool ok, bytes memory err, bytes memory expected) private returns (bool) {
        if (ok && expected.length == 0) {
            ++stats.successes;
            return true;
        }
        if (!ok && keccak256(err) == keccak256(expected)) {
            ++outcomes[bytes4(err)];
            return false;
        }
        _unexpected(abi.encode(ok, err, expected));
        return false;
    }

    /// @dev Books a successful claim of leaf `k` of `intervalId` in the ghost ledger.
    function _record(uint64 intervalId, uint256 k) private {
        LeafRec memory leaf = _posted[intervalId].leaves[k];
        ++ghostClaims[intervalId][leaf.meter];
        ghostMinted[intervalId] += leaf.exportWh;
        MeterInfo memory info = meterInfo[leaf.meter];
        ghostBalance[info.owner][TokenIds.encode(info.zone, intervalId)] += leaf.exportWh;
        _claimed.push(ClaimRef(intervalId, k));
    }

    function _subset(
        uint64 intervalId,
        uint256 mask
    ) private view returns (IKwhToken.Leaf[] memory leaves, uint256[] memory ks) {
        LeafRec[] storage all = _posted[intervalId].leaves;
        uint256 m;
        for (uint256 k = 0; k < all.length; ++k) if ((mask >> k) & 1 == 1) ++m;
        leaves = new IKwhToken.Leaf[](m);
        ks = new uint256[](m);
        uint256 n;
        for (uint256 k = 0; k < all.length; ++k) {
            if ((mask >> k) & 1 == 1) {
                leaves[n] = IKwhToken.Leaf(all[k].meter, all[k].importWh, all[k].exportWh);
                ks[n++] = k;
            }
        }
    }

    function _unexpected(bytes memory what) private {
        ++stats.unexpected;
        lastUnexpected = what;
    }
}

/// @notice Invariants of kWh minting under random registrations, committee votes and claims (see KwhHandler).
contract KwhInvariantTest is SystemFixture {
    /// @notice Claims that did not do what the handler predicted: how many, and the last one's
    /// `abi.encode(succeeded, revertData, expectedRevertData)` (or a description of a finality mismatch).
    error UnexpectedOutcome(uint256 count, bytes last);

    KwhHandler internal handler;

    function setUp() public {
        _deploySystem(address(this));
        handler = new KwhHandler(registry, oracle, kwh, members);
        // The handler registers, updates and revokes meters; the committee members are pranked by it.
        gov.grantRole(Roles.REGISTRAR, address(handler), 0);
        // Start with two meters so that early calls in a sequence already have something to post and claim.
        handler.registerMeter(0);
        handler.registerMeter(0x0101);
    }

    /// @notice Only the handler is called by the invariant runner (forge-std StdInvariant convention).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (a) No interval ever has more minted than its final root's exported total; nothing is minted for
    /// an interval whose root is not final; the final root is the one the committee agreed on.
    function invariant_mintedNeverExceedsFinalTotal() public view {
        uint256 n = handler.intervalCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 intervalId = handler.intervals(i);
            KwhHandler.Posted memory p = handler.posted(intervalId);
            (bytes32 root, uint64 total) = oracle.finalRoot(intervalId);
            uint256 minted = kwh.mintedWh(intervalId);
            if (!p.isFinal) {
                Assert.eq(root, bytes32(0), "pending interval has no final root");
                Assert.eq(minted, 0, "nothing minted before finality");
                continue;
            }
            // A final root never changes: it is still the one the committee agreed on when it became final.
            Assert.eq(root, p.finalRoot, "final root unchanged");
            Assert.eq(total, p.finalTotalExport, "final total unchanged");
            Assert.le(minted, total, "minted <= final totalExportWh");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (b) No leaf is claimed twice, the token's claim bitmap agrees with the ghost ledger, and an
    /// interval's minted total is exactly the export of its successfully claimed leaves.
    function invariant_eachLeafClaimedAtMostOnce() public view {
        uint256 n = handler.intervalCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 intervalId = handler.intervals(i);
            KwhHandler.LeafRec[] memory leaves = handler.leavesOf(intervalId);
            uint256 sum;
            for (uint256 k = 0; k < leaves.length; ++k) {
                uint256 claims = handler.ghostClaims(intervalId, leaves[k].meter);
                Assert.le(claims, 1, "leaf claimed at most once");
                Assert.isTrue(kwh.isClaimed(leaves[k].meter, intervalId) == (claims == 1), "claim bitmap = ghost");
                if (claims == 1) sum += leaves[k].exportWh;
            }
            Assert.eq(handler.ghostMinted(intervalId), sum, "ghost minted = claimed leaves' export");
            Assert.eq(kwh.mintedWh(intervalId), sum, "mintedWh = claimed leaves' export");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (c) Balances: every (owner, zone, interval) balance is what the ghost ledger minted to it, and all
    /// balances of an interval's ids add up to its minted total (tokens only go to the handler's owners).
    function invariant_balancesMatchGhostLedger() public view {
        uint256 n = handler.intervalCount();
        uint256 owners = handler.ownerCount();
        for (uint256 i = 0; i < n; ++i) {
            uint64 intervalId = handler.intervals(i);
            uint256 supply;
            for (uint32 zone = 1; zone <= ZONES; ++zone) {
                uint256 id = TokenIds.encode(zone, intervalId);
                for (uint256 o = 0; o < owners; ++o) {
                    address owner = handler.owners(o);
                    uint256 balance = kwh.balanceOf(owner, id);
                    Assert.eq(balance, handler.ghostBalance(owner, id), "balance = ghost balance");
                    supply += balance;
                }
            }
            Assert.eq(supply, kwh.mintedWh(intervalId), "sum of balances = mintedWh");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    /// @notice (d) Every claim, batch claim and multi-proof claim did exactly what the specification predicts:
    /// succeeded, or reverted with the predicted error (not final, bad proof, revoked, claimed, over the cap).
    function invariant_claimOutcomesAsPredicted() public view {
        (, , uint256 unexpected, ) = handler.stats();
        if (unexpected != 0) {
            revert UnexpectedOutcome(unexpected, handler.lastUnexpected());
        }
    }

    /// @notice Sanity check of the handler itself: a long deterministic pseudo-random sequence of actions reaches
    /// every claim outcome (success, not final, bad proof, revoked meter, double claim, over the cap), every
    /// prediction holds and the invariants hold at the end. Guards against a handler that silently does nothing.
    function test_handlerReachesEveryOutcome() public {
        for (uint256 i = 0; i < 400; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("handler sequence", i)));
            uint256 action = seed % 9;
            if (action == 0) handler.registerMeter(seed >> 4);
            else if (action == 1) handler.updateMeter(seed >> 4);
            else if (action == 2) handler.revokeMeter(seed >> 4);
            else if (action == 3) handler.postRoot(seed >> 4);
            else if (action == 4) handler.finalise(seed >> 4);
            else if (action == 5) handler.claim(seed >> 4);
            else if (action == 6) handler.doubleClaim(seed >> 4);
            else if (action == 7) handler.claimMany(seed >> 4);
            else handler.claimInterval(seed >> 4);
        }
        (, uint256 successes, , uint256 revoked) = handler.stats();
        Assert.isTrue(successes > 0, "some claims succeed");
        Assert.isTrue(revoked > 0, "some meters revoked");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenRootNotFinal.selector) > 0, "claims before finality");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenInvalidProof.selector) > 0, "claims under a foreign root");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenMeterRevoked.selector) > 0, "claims of revoked meters");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenAlreadyClaimed.selector) > 0, "double claims");
        Assert.isTrue(handler.outcomes(IKwhToken.KwhTokenExceedsProvenExport.selector) > 0, "claims over the cap");
        invariant_mintedNeverExceedsFinalTotal();
        invariant_eachLeafClaimedAtMostOnce();
        invariant_balancesMatchGhostLedger();
        invariant_claimOutcomesAsPredicted();
    }
}
