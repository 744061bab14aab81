// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IKwhToken} from "../../contracts/interfaces/IKwhToken.sol";
import {Intervals} from "../../contracts/libraries/Intervals.sol";
import {MeterReadings} from "../../contracts/libraries/MeterReadings.sol";
import {TokenIds} from "../../contracts/libraries/TokenIds.sol";
import {Assert} from "./Assert.sol";
import {MerkleTrees} from "./MerkleTrees.sol";
import {SystemFixture} from "./SystemFixture.sol";
import {vm} from "./Vm.sol";

/// @notice Fuzz tests of kWh claims against roots finalised by the committee.
contract KwhClaimFuzzTest is SystemFixture {
    using MerkleTrees for bytes32[];

    /// @dev One interval's leaves, their owners and zones at registration, and the tree over them.
    struct Tree {
        uint64 intervalId;
        uint64 totalImport;
        uint64 totalExport;
        address[] meters;
        address[] owners;
        uint32[] zones;
        uint64[] imports;
        uint64[] exports;
        bytes32[] nodes;
    }

    function setUp() public {
        _deploySystem(address(this));
    }

    /*//////////////////////////////////////////////////////////////
                                  TESTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Claiming a fuzzed leaf mints exactly its export to its owner under (zone, interval), nothing else,
    /// and the leaf cannot be claimed again.
    function testFuzz_claim_neverMintsMoreThanTheLeaf(
        address meter,
        uint256 ownerSeed,
        uint256 zoneSeed,
        uint64 intervalId,
        uint64 importWh,
        uint64 exportWh,
        uint256 othersSeed,
        uint256 size
    ) public {
        vm.assume(meter != address(0));
        size = Assert.bound(size, 1, 8);
        Tree memory t = _tree(
            intervalId,
            meter,
            _owner(ownerSeed),
            uint32(1 + (zoneSeed % ZONES)),
            importWh,
            exportWh,
            othersSeed,
            size
        );
        _finalise(t.intervalId, t.nodes[0], uint32(size), t.totalImport, t.totalExport);
        _claimOnceExactly(t, othersSeed % size);
    }

    /// @dev Claims leaf `pos` of a final tree: its owner gains exactly its export under (zone, interval) and
    /// nothing under other zones, the interval supply grows by exactly that, and a second claim reverts.
    function _claimOnceExactly(Tree memory t, uint256 pos) internal {
        (address meter, address owner, uint64 exportWh) = (t.meters[pos], t.owners[pos], t.exports[pos]);
        uint256 id = TokenIds.encode(t.zones[pos], t.intervalId);
        uint256 before = kwh.balanceOf(owner, id);
        kwh.claim(meter, t.intervalId, t.imports[pos], exportWh, t.nodes.proof(pos));

        Assert.eq(kwh.balanceOf(owner, id) - before, exportWh, "owner received exactly exportWh");
        Assert.eq(kwh.mintedWh(t.intervalId), exportWh, "interval supply is exactly exportWh");
        Assert.isTrue(kwh.isClaimed(meter, t.intervalId), "leaf recorded as claimed");
        for (uint32 z = 1; z <= ZONES; ++z) {
            // Only this leaf was claimed, so its owner holds nothing of the interval in other zones.
            if (z != t.zones[pos]) {
                Assert.eq(kwh.balanceOf(owner, TokenIds.encode(z, t.intervalId)), 0, "nothing under other zones");
            }
        }

        bytes32[] memory proof = t.nodes.proof(pos);
        vm.expectRevert(abi.encodeWithSelector(IKwhToken.KwhTokenAlreadyClaimed.selector, meter, t.intervalId));
        kwh.claim(meter, t.intervalId, t.imports[pos], exportWh, proof);
        Assert.eq(kwh.mintedWh(t.intervalId), exportWh, "second claim minted nothing");
    }

    /// @notice A leaf with any one field altered (meter, interval, import or export) does not prove.
    function testFuzz_claim_alteredLeafFailsProof(
        address meter,
        uint64 intervalId,
        uint64 importWh,
        uint64 exportWh,
        uint256 othersSeed,
        uint256 size,
        uint256 field,
        uint256 delta
    ) public {
        vm.assume(meter != address(0));
        size = Assert.bound(size, 1, 8);
        Tree memory t = _tree(intervalId, meter, _owner(1), 1, importWh, exportWh, othersSeed, size);
        uint256 pos = othersSeed % size;
        _finalise(t.intervalId, t.nodes[0], uint32(size), t.totalImport, t.totalExport);

        _expectAlteredLeafFails(t, pos, field % 4, delta);
        _expectCorruptedProofFails(t, pos, delta);

        // The genuine leaf still proves.
        kwh.claim(meter, t.intervalId, importWh, exportWh, t.nodes.proof(pos));
        Assert.eq(kwh.mintedWh(t.intervalId), exportWh, "the genuine leaf mints its export");
    }

    /// @notice A root whose exported total is below a proven leaf's export caps the interval: the claim reverts.
    function testFuzz_claim_cappedByRootTotal(
        address meter,
        uint64 intervalId,
        uint64 exportWh,
        uint64 totalExport,
        uint256 othersSeed,
        uint256 size
    ) public {
        vm.assume(meter != address(0) && exportWh > 0);
        size = Assert.bound(size, 1, 8);
        totalExport = uint64(Assert.bound(totalExport, 0, exportWh - 1));
        Tree memory t = _tree(intervalId, meter, _owner(2), 2, 0, exportWh, othersSeed, size);
        _finalise(t.intervalId, t.nodes[0], uint32(size), t.totalImport, totalExport);

        bytes32[] memory proof = t.nodes.proof(othersSeed % size);
        vm.expectRevert(
            abi.encodeWithSelector(
                IKwhToken.KwhTokenExceedsProvenExport.selector,
                t.intervalId,
                uint256(exportWh),
                uint256(totalExport)
            )
        );
        kwh.claim(meter, t.intervalId, 0, exportWh, proof);
        Assert.eq(kwh.mintedWh(t.intervalId), 0, "nothing minted");
        Assert.isTrue(!kwh.isClaimed(meter, t.intervalId), "leaf still unclaimed");
    }

    /// @notice A multi-proof claim of any subset of an interval's leaves mints each leaf's export to its owner,
    /// the subset's total to the interval, and none of the leaves can be claimed again.
    function testFuzz_claimInterval_multiProofMintsExactlyTheSubset(
        uint64 intervalId,
        uint256 seed,
        uint256 size,
        uint256 mask
    ) public {
        size = Assert.bound(size, 1, 8);
        mask = Assert.bound(mask, 1, (1 << size) - 1);
        address first = address(uint160(uint256(keccak256(abi.encode("first meter", seed)))));
        uint64 exportWh = uint64(uint256(keccak256(abi.encode("first export", seed))) >> 200);
        Tree memory t = _tree(intervalId, first, _owner(seed), 3, 7, exportWh, seed, size);
        _finalise(t.intervalId, t.nodes[0], uint32(size), t.totalImport, t.totalExport);

        (IKwhToken.Leaf[] memory leaves, uint256[] memory ks) = _subset(t, mask);
        (bytes32[] memory proof, bool[] memory flags) = t.nodes.multiProof(ks);
        uint256[] memory before = new uint256[](size);
        for (uint256 k = 0; k < size; ++k) before[k] = _balance(t, k);
        kwh.claimInterval(t.intervalId, leaves, proof, flags);

        uint256 sum;
        for (uint256 k = 0; k < size; ++k) {
            bool picked = (mask >> k) & 1 == 1;
            if (picked) sum += t.exports[k];
            Assert.isTrue(kwh.isClaimed(t.meters[k], t.intervalId) == picked, "claimed iff picked");
        }
        Assert.eq(kwh.mintedWh(t.intervalId), sum, "interval supply is the subset's export");
        _assertAccountsGained(t, mask, before);

        _assertReplaysFail(t, mask, leaves, proof, flags, sum);
    }

    /// @dev Each (owner, zone) account gained exactly the export of the picked leaves whose meter it owns in that
    /// zone (several meters may share an account).
    function _assertAccountsGained(Tree memory t, uint256 mask, uint256[] memory before) internal view {
        for (uint256 k = 0; k < t.meters.length; ++k) {
            if (!_firstOfAccount(t, k)) continue;
            uint256 expected;
            for (uint256 j = k; j < t.meters.length; ++j) {
                bool sameAccount = t.owners[j] == t.owners[k] && t.zones[j] == t.zones[k];
                if (sameAccount && (mask >> j) & 1 == 1) expected += t.exports[j];
            }
            Assert.eq(_balance(t, k) - before[k], expected, "account gained its picked leaves' export");
        }
    }

    /// @dev After a multi-proof claim of `mask`: replaying it, or claiming its leaves one by one, reverts with
    /// `KwhTokenAlreadyClaimed` (checked before the export cap) and mints nothing.
    function _assertReplaysFail(
        Tree memory t,
        uint256 mask,
        IKwhToken.Leaf[] memory leaves,
        bytes32[] memory proof,
        bool[] memory flags,
        uint256 sum
    ) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IKwhToken.KwhTokenAlreadyClaimed.selector, leaves[0].meter, t.intervalId)
        );
        kwh.claimInterval(t.intervalId, leaves, proof, flags);
        for (uint256 k = 0; k < t.meters.length; ++k) {
            if ((mask >> k) & 1 == 1) {
                bytes32[] memory single = t.nodes.proof(k);
                vm.expectRevert(
                    abi.encodeWithSelector(IKwhToken.KwhTokenAlreadyClaimed.selector, t.meters[k], t.intervalId)
                );
                kwh.claim(t.meters[k], t.intervalId, t.imports[k], t.exports[k], single);
            }
        }
        Assert.eq(kwh.mintedWh(t.intervalId), sum, "replays minted nothing");
    }

    /// @notice claimMany of every leaf, in a rotated order, mints the root's whole export and no more.
    function testFuzz_claimMany_allLeavesMintTheRootTotal(uint64 intervalId, uint256 seed, uint256 size) public {
        size = Assert.bound(size, 1, 8);
        address first = address(uint160(uint256(keccak256(abi.encode("first meter", seed)))));
        uint64 exportWh = uint64(uint256(keccak256(abi.encode("first export", seed))) >> 196);
        Tree memory t = _tree(intervalId, first, _owner(seed), 1, 0, exportWh, seed, size);
        _finalise(t.intervalId, t.nodes[0], uint32(size), t.totalImport, t.totalExport);

        IKwhToken.Claim[] memory claims = new IKwhToken.Claim[](size);
        uint256 offset = seed % size;
        for (uint256 j = 0; j < size; ++j) {
            uint256 k = (j + offset) % size;
            claims[j] = IKwhToken.Claim(t.meters[k], t.intervalId, t.imports[k], t.exports[k], t.nodes.proof(k));
        }
        kwh.claimMany(claims);
        Assert.eq(kwh.mintedWh(t.intervalId), t.totalExport, "whole export minted");
        uint256 supply;
        for (uint32 z = 1; z <= ZONES; ++z) {
            uint256 id = TokenIds.encode(z, t.intervalId);
            for (uint256 k = 0; k < size; ++k) {
                if (_firstOfAccount(t, k) && t.zones[k] == z) supply += kwh.balanceOf(t.owners[k], id);
            }
        }
        Assert.eq(supply, t.totalExport, "balances add up to the root total");

        // Replaying the batch: its first leaf is already claimed (reported before the export cap).
        vm.expectRevert(
            abi.encodeWithSelector(IKwhToken.KwhTokenAlreadyClaimed.selector, claims[0].meter, t.intervalId)
        );
        kwh.claimMany(claims);
    }

    /*//////////////////////////////////////////////////////////////
                                 HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev Leaf `pos` with field `field` (0 meter, 1 interval, 2 import, 3 export) changed by `delta` does not
    /// prove with leaf `pos`'s proof.
    function _expectAlteredLeafFails(Tree memory t, uint256 pos, uint256 field, uint256 delta) internal {
        address m = t.meters[pos];
        uint64 i = t.intervalId;
        uint64 imp = t.imports[pos];
        uint64 exp = t.exports[pos];
        if (field == 0) {
            m = address(uint160(m) ^ uint160(Assert.bound(delta, 1, type(uint160).max)));
        } else if (field == 1) {
            i = i ^ uint64(Assert.bound(delta, 1, 1 << 20));
            // The altered interval has a final root too, so the proof (not finality) is what fails.
            uint256 end = Intervals.endOf(i, INTERVAL);
            if (end > block.timestamp) vm.warp(end);
            _finalise(i, keccak256(abi.encode("another interval", delta)), 1, 0, type(uint64).max);
        } else if (field == 2) {
            imp = imp ^ uint64(Assert.bound(delta, 1, type(uint64).max));
        } else {
            exp = exp ^ uint64(Assert.bound(delta, 1, type(uint64).max));
        }
        bytes32[] memory proof = t.nodes.proof(pos);
        vm.expectRevert(abi.encodeWithSelector(IKwhToken.KwhTokenInvalidProof.selector, m, i));
        kwh.claim(m, i, imp, exp, proof);
    }

    /// @dev Leaf `pos` with one element of its proof corrupted does not prove.
    function _expectCorruptedProofFails(Tree memory t, uint256 pos, uint256 delta) internal {
        bytes32[] memory bad = t.nodes.proof(pos);
        if (bad.length == 0) return;
        uint256 k = delta % bad.length;
        bad[k] = bad[k] ^ bytes32(Assert.bound(uint256(keccak256(abi.encode(delta))), 1, type(uint256).max));
        vm.expectRevert(abi.encodeWithSelector(IKwhToken.KwhTokenInvalidProof.selector, t.meters[pos], t.intervalId));
        kwh.claim(t.meters[pos], t.intervalId, t.imports[pos], t.exports[pos], bad);
    }

    function _owner(uint256 seed) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("owner", seed)))));
    }

    /// @dev Registers `meter` (owner, zone) and `size - 1` other meters in pseudo-random zones, places the given
    /// leaf at position `seed % size` among random others, builds the tree and warps past the interval's end.
    function _tree(
        uint64 intervalId,
        address meter,
        address owner,
        uint32 zone,
        uint64 importWh,
        uint64 exportWh,
        uint256 seed,
        uint256 size
    ) internal returns (Tree memory t) {
        t.intervalId = intervalId;
        t.meters = new address[](size);
        t.owners = new address[](size);
        t.zones = new uint32[](size);
        t.imports = new uint64[](size);
        t.exports = new uint64[](size);
        bytes32[] memory hashes = new bytes32[](size);
        uint256 pos = seed % size;
        // Others share what is left below 2^64 so that the totals fit in uint64.
        uint256 importRoom = (type(uint64).max - importWh) / 8;
        uint256 exportRoom = (type(uint64).max - exportWh) / 8;
        for (uint256 k = 0; k < size; ++k) {
            if (k == pos) {
                (t.meters[k], t.owners[k], t.zones[k], t.imports[k], t.exports[k]) = (
                    meter,
                    owner,
                    zone,
                    importWh,
                    exportWh
                );
            } else {
                uint256 r = uint256(keccak256(abi.encode(seed, k)));
                t.meters[k] = address(uint160(r));
                vm.assume(t.meters[k] != meter);
                t.owners[k] = _owner(r % 3);
                t.zones[k] = uint32(1 + ((r >> 160) % ZONES));
                t.imports[k] = uint64((r >> 64) % (importRoom + 1));
                t.exports[k] = uint64((r >> 128) % (exportRoom + 1));
            }
            registry.registerMeter(t.meters[k], _params(t.owners[k], t.zones[k]));
            t.totalImport += t.imports[k];
            t.totalExport += t.exports[k];
            hashes[k] = MeterReadings.leaf(t.meters[k], intervalId, t.imports[k], t.exports[k]);
        }
        t.nodes = MerkleTrees.build(hashes);
        uint256 end = Intervals.endOf(intervalId, INTERVAL);
        if (end > block.timestamp) vm.warp(end);
    }

    function _subset(
        Tree memory t,
        uint256 mask
    ) internal pure returns (IKwhToken.Leaf[] memory leaves, uint256[] memory ks) {
        uint256 m;
        for (uint256 k = 0; k < t.meters.length; ++k) if ((mask >> k) & 1 == 1) ++m;
        leaves = new IKwhToken.Leaf[](m);
        ks = new uint256[](m);
        uint256 n;
        for (uint256 k = 0; k < t.meters.length; ++k) {
            if ((mask >> k) & 1 == 1) {
                leaves[n] = IKwhToken.Leaf(t.meters[k], t.imports[k], t.exports[k]);
                ks[n++] = k;
            }
        }
    }

    function _balance(Tree memory t, uint256 k) internal view returns (uint256) {
        return kwh.balanceOf(t.owners[k], TokenIds.encode(t.zones[k], t.intervalId));
    }

    /// @dev Whether leaf `k` is the first with its (owner, zone) account, so sums count each balance once.
    function _firstOfAccount(Tree memory t, uint256 k) internal pure returns (bool) {
        for (uint256 j = 0; j < k; ++j) {
            if (t.owners[j] == t.owners[k] && t.zones[j] == t.zones[k]) return false;
        }
        return true;
    }
}
