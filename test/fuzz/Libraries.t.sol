// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Intervals} from "../../contracts/libraries/Intervals.sol";
import {TokenIds} from "../../contracts/libraries/TokenIds.sol";
import {Assert} from "./Assert.sol";
import {vm} from "./Vm.sol";

/// @notice Fuzz tests of the pure libraries: kWh token ids and delivery intervals.
contract LibrariesFuzzTest {
    function setUp() public {}

    /*//////////////////////////////////////////////////////////////
                                TOKEN IDS
    //////////////////////////////////////////////////////////////*/

    function testFuzz_tokenId_roundTrip(uint32 zone, uint64 intervalId) public pure {
        vm.assume(zone != 0);
        uint256 id = TokenIds.encode(zone, intervalId);
        (uint32 z, uint64 i) = TokenIds.decode(id);
        Assert.eq(z, zone, "decoded zone");
        Assert.eq(i, intervalId, "decoded interval");
        Assert.isTrue(TokenIds.isValid(id), "encoded id is valid");
        Assert.isTrue(id < 1 << 96, "id fits in 96 bits");
    }

    function testFuzz_tokenId_isValidRejectsIdsAbove96Bits(uint256 id) public pure {
        id = Assert.bound(id, 1 << 96, type(uint256).max);
        Assert.isTrue(!TokenIds.isValid(id), "id >= 2^96 rejected");
    }

    function testFuzz_tokenId_isValidRejectsZoneZero(uint64 intervalId) public pure {
        Assert.isTrue(!TokenIds.isValid(TokenIds.encode(0, intervalId)), "zone 0 rejected");
        Assert.eq(TokenIds.encode(0, intervalId), intervalId, "zone 0 id is the bare interval");
    }

    /// @notice isValid accepts exactly the ids encode produces with a non-zero zone, and decode inverts them.
    function testFuzz_tokenId_isValidIffEncodable(uint256 id) public pure {
        bool expected = id >> 96 == 0 && id >> 64 != 0;
        Assert.isTrue(TokenIds.isValid(id) == expected, "isValid matches the id space");
        if (expected) {
            (uint32 zone, uint64 intervalId) = TokenIds.decode(id);
            Assert.eq(TokenIds.encode(zone, intervalId), id, "encode(decode(id)) == id");
        }
    }

    function testFuzz_tokenId_injective(uint32 zoneA, uint64 intervalA, uint32 zoneB, uint64 intervalB) public pure {
        bool same = zoneA == zoneB && intervalA == intervalB;
        Assert.isTrue(
            (TokenIds.encode(zoneA, intervalA) == TokenIds.encode(zoneB, intervalB)) == same,
            "distinct (zone, interval) pairs have distinct ids"
        );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERVALS
    //////////////////////////////////////////////////////////////*/

    /// @notice Every timestamp lies in [startOf, endOf) of the interval idAt returns, which is `length` long.
    function testFuzz_intervals_idAtStartEndConsistent(uint256 timestamp, uint256 length) public pure {
        length = Assert.bound(length, 1, type(uint32).max);
        // idAt returns uint64: stay where the interval id fits (it truncates silently above).
        timestamp = Assert.bound(timestamp, 0, (uint256(type(uint64).max) + 1) * length - 1);
        uint64 id = Intervals.idAt(timestamp, length);
        uint256 start = Intervals.startOf(id, length);
        uint256 end = Intervals.endOf(id, length);
        Assert.le(start, timestamp, "start <= timestamp");
        Assert.isTrue(timestamp < end, "timestamp < end");
        Assert.eq(end - start, length, "interval is length long");
        Assert.eq(start % length, 0, "start aligned to the epoch");
        Assert.eq(Intervals.idAt(start, length), id, "idAt(startOf(id)) == id");
        Assert.eq(Intervals.idAt(end - 1, length), id, "idAt(endOf(id) - 1) == id");
    }

    /// @notice Consecutive intervals tile time: one ends where the next starts.
    function testFuzz_intervals_adjacentIntervalsTile(uint64 id, uint256 length) public pure {
        length = Assert.bound(length, 1, type(uint64).max);
        vm.assume(id < type(uint64).max);
        Assert.eq(Intervals.endOf(id, length), Intervals.startOf(id + 1, length), "endOf(id) == startOf(id + 1)");
        Assert.eq(Intervals.idAt(Intervals.endOf(id, length), length), id + 1, "idAt(endOf(id)) == id + 1");
    }
}
