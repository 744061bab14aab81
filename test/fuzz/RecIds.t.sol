// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {RecIds} from "../../contracts/libraries/RecIds.sol";
import {Assert} from "./Assert.sol";
import {CivilCalendar} from "./CivilCalendar.sol";
import {vm} from "./Vm.sol";

/// @notice Fuzz tests of the certificate id library: the id layout, which ids are valid, and the vintage month of
/// a timestamp against an independent calendar (CivilCalendar).
contract RecIdsFuzzTest {
    /// @dev The highest renewable technology value (`IMeterRegistry.Technology.Wind`).
    uint8 internal constant WIND = 1;
    /// @dev First second of 2200-01-01 UTC: the bound of the year-walking checks.
    uint256 internal constant YEAR_2200 = 7_258_118_400;
    /// @dev Vintages are stored in 24 bits of the id.
    uint256 internal constant VINTAGE_BITS = 24;

    function setUp() public {}

    /*//////////////////////////////////////////////////////////////
                                  IDS
    //////////////////////////////////////////////////////////////*/

    /// @notice encode lays the fields out as documented (computed here with multiplications, not shifts) and
    /// decode inverts it for every vintage that fits its 24-bit field and every technology byte.
    function testFuzz_recId_roundTrip(address meter, uint32 vintage, uint8 technology, uint32 zone) public pure {
        vintage = uint32(Assert.bound(vintage, 0, (1 << VINTAGE_BITS) - 1));
        uint256 id = RecIds.encode(meter, vintage, technology, zone);
        uint256 expected =
            uint256(zone) * 2 ** 192 +
                uint256(technology) * 2 ** 184 +
                uint256(vintage) * 2 ** 160 +
                uint256(uint160(meter));
        Assert.eq(id, expected, "id layout");
        Assert.isTrue(id < 2 ** 224, "id fits in 224 bits");
        (address m, uint32 v, uint8 t, uint32 z) = RecIds.decode(id);
        Assert.eq(m, meter, "decoded meter");
        Assert.eq(v, vintage, "decoded vintage");
        Assert.eq(t, technology, "decoded technology");
        Assert.eq(z, zone, "decoded zone");
    }

    /// @notice Every valid input (real meter, YYYYMM from 197001 with month 1..12, Solar or Wind, non-zero zone)
    /// encodes to a valid id that decodes back to it.
    function testFuzz_recId_validInputsAreValid(
        address meter,
        uint256 yearSeed,
        uint256 monthSeed,
        bool wind,
        uint32 zone
    ) public pure {
        vm.assume(meter != address(0) && zone != 0);
        // The largest year whose December still fits the 24-bit vintage field.
        uint256 year = Assert.bound(yearSeed, 1970, ((1 << VINTAGE_BITS) - 1 - 12) / 100);
        uint32 vintage = uint32(year * 100 + Assert.bound(monthSeed, 1, 12));
        uint8 technology = wind ? WIND : 0;
        uint256 id = RecIds.encode(meter, vintage, technology, zone);
        Assert.isTrue(RecIds.isValid(id, WIND), "valid inputs give a valid id");
        (address m, uint32 v, uint8 t, uint32 z) = RecIds.decode(id);
        Assert.isTrue(m == meter && v == vintage && t == technology && z == zone, "round trip");
    }

    /// @notice isValid accepts exactly the ids whose fields (read here with divisions) are a real meter, a
    /// YYYYMM vintage from 197001 with month 1..12, a technology up to `maxTechnology` and a non-zero zone, with
    /// nothing above 224 bits; encode(decode(id)) == id for them.
    function testFuzz_recId_isValidIffFieldsValid(uint256 id, uint8 maxTechnology) public pure {
        // Half of the runs use ids below 2^224 so that the field checks are exercised, not only the size check.
        if (maxTechnology % 2 == 0) id %= 2 ** 224;
        uint256 meter = id % 2 ** 160;
        uint256 vintage = (id / 2 ** 160) % 2 ** 24;
        uint256 technology = (id / 2 ** 184) % 2 ** 8;
        uint256 zone = (id / 2 ** 192) % 2 ** 32;
        uint256 month = vintage % 100;
        bool expected =
            id < 2 ** 224 &&
                meter != 0 &&
                zone != 0 &&
                technology <= maxTechnology &&
                month >= 1 &&
                month <= 12 &&
                vintage >= 197_001;
        Assert.isTrue(RecIds.isValid(id, maxTechnology) == expected, "isValid matches the field rules");
        if (expected) {
            (address m, uint32 v, uint8 t, uint32 z) = RecIds.decode(id);
            Assert.eq(RecIds.encode(m, v, t, z), id, "encode(decode(id)) == id");
        }
    }

    /// @notice Setting any bit above 224 in an otherwise valid id makes it invalid.
    function testFuzz_recId_rejectsIdsAbove224Bits(address meter, uint256 high, uint32 zone) public pure {
        vm.assume(meter != address(0) && zone != 0);
        high = Assert.bound(high, 1, 2 ** 32 - 1);
        uint256 id = RecIds.encode(meter, 202_611, WIND, zone);
        Assert.isTrue(RecIds.isValid(id, WIND), "base id valid");
        Assert.isTrue(!RecIds.isValid(id | (high << 224), WIND), "bits above 224 rejected");
    }

    function testFuzz_recId_rejectsZeroMeter(uint256 vintageSeed, bool wind, uint32 zone) public pure {
        vm.assume(zone != 0);
        uint32 vintage = _validVintage(vintageSeed);
        Assert.isTrue(!RecIds.isValid(RecIds.encode(address(0), vintage, wind ? WIND : 0, zone), WIND), "meter 0");
    }

    function testFuzz_recId_rejectsZeroZone(address meter, uint256 vintageSeed, bool wind) public pure {
        vm.assume(meter != address(0));
        uint32 vintage = _validVintage(vintageSeed);
        Assert.isTrue(!RecIds.isValid(RecIds.encode(meter, vintage, wind ? WIND : 0, 0), WIND), "zone 0");
    }

    /// @notice Battery (2), LoadOnly (3) and every other technology byte above Wind are rejected.
    function testFuzz_recId_rejectsTechnologyAboveWind(
        address meter,
        uint256 vintageSeed,
        uint8 technology,
        uint32 zone
    ) public pure {
        vm.assume(meter != address(0) && zone != 0);
        technology = uint8(Assert.bound(technology, WIND + 1, type(uint8).max));
        uint32 vintage = _validVintage(vintageSeed);
        Assert.isTrue(!RecIds.isValid(RecIds.encode(meter, vintage, technology, zone), WIND), "technology > Wind");
        Assert.isTrue(RecIds.isValid(RecIds.encode(meter, vintage, WIND, zone), WIND), "Wind itself is valid");
    }

    /// @notice Month 00 and months 13..99 of any year are rejected.
    function testFuzz_recId_rejectsMonthOutOfRange(
        address meter,
        uint256 yearSeed,
        uint256 monthSeed,
        uint32 zone
    ) public pure {
        vm.assume(meter != address(0) && zone != 0);
        uint256 year = Assert.bound(yearSeed, 1970, 9999);
        uint256 month = monthSeed % 2 == 0 ? 0 : Assert.bound(monthSeed >> 1, 13, 99);
        uint32 vintage = uint32(year * 100 + month);
        Assert.isTrue(!RecIds.isValid(RecIds.encode(meter, vintage, 0, zone), WIND), "month 0 or 13+");
    }

    /// @notice Well-formed months before January 1970 (and anything below 197001) are rejected.
    function testFuzz_recId_rejectsVintageBefore1970(address meter, uint256 vintageSeed, uint32 zone) public pure {
        vm.assume(meter != address(0) && zone != 0);
        uint32 vintage = uint32(Assert.bound(vintageSeed, 0, 197_000));
        Assert.isTrue(!RecIds.isValid(RecIds.encode(meter, vintage, 0, zone), WIND), "vintage < 197001");
        Assert.isTrue(RecIds.isValid(RecIds.encode(meter, 197_001, 0, zone), WIND), "197001 itself is valid");
    }

    /// @notice Distinct (meter, vintage, technology, zone) tuples with in-range fields have distinct ids.
    function testFuzz_recId_injective(
        address meterA,
        uint32 vintageA,
        uint8 technologyA,
        uint32 zoneA,
        address meterB,
        uint32 vintageB,
        uint8 technologyB,
        uint32 zoneB
    ) public pure {
        vintageA = uint32(vintageA % (1 << VINTAGE_BITS));
        // Half of the runs differ in one field only.
        if (vintageB % 2 == 0) (meterB, technologyB, zoneB) = (meterA, technologyA, zoneA);
        vintageB = uint32(vintageB % (1 << VINTAGE_BITS));
        bool same = meterA == meterB && vintageA == vintageB && technologyA == technologyB && zoneA == zoneB;
        Assert.isTrue(
            (RecIds.encode(meterA, vintageA, technologyA, zoneA) ==
                RecIds.encode(meterB, vintageB, technologyB, zoneB)) == same,
            "distinct tuples have distinct ids"
        );
    }

    /*//////////////////////////////////////////////////////////////
                                VINTAGES
    //////////////////////////////////////////////////////////////*/

    /// @notice Hand-checked dates: epoch, month and year ends, leap days of 2000 and 2024, 2100 (not leap), 9999.
    function test_vintageOf_knownDates() public pure {
        Assert.eq(RecIds.vintageOf(0), 197_001, "1970-01-01");
        Assert.eq(RecIds.vintageOf(2_678_399), 197_001, "1970-01-31 23:59:59");
        Assert.eq(RecIds.vintageOf(2_678_400), 197_002, "1970-02-01");
        Assert.eq(RecIds.vintageOf(951_868_799), 200_002, "2000-02-29 23:59:59");
        Assert.eq(RecIds.vintageOf(951_868_800), 200_003, "2000-03-01");
        Assert.eq(RecIds.vintageOf(1_700_000_000), 202_311, "2023-11-14");
        Assert.eq(RecIds.vintageOf(1_704_067_199), 202_312, "2023-12-31 23:59:59");
        Assert.eq(RecIds.vintageOf(1_704_067_200), 202_401, "2024-01-01");
        Assert.eq(RecIds.vintageOf(1_709_208_000), 202_402, "2024-02-29 12:00");
        Assert.eq(RecIds.vintageOf(4_107_542_399), 210_002, "2100-02-28 23:59:59");
        Assert.eq(RecIds.vintageOf(4_107_542_400), 210_003, "2100-03-01 (2100 has no Feb 29)");
        Assert.eq(RecIds.vintageOf(YEAR_2200 - 1), 219_912, "2199-12-31 23:59:59");
        Assert.eq(RecIds.vintageOf(253_402_300_799), 999_912, "9999-12-31 23:59:59");
    }

    /// @notice vintageOf equals the year-walking reference for every timestamp before 2200.
    function testFuzz_vintageOf_matchesReference(uint256 timestamp) public pure {
        timestamp = Assert.bound(timestamp, 0, YEAR_2200 - 1);
        Assert.eq(RecIds.vintageOf(timestamp), CivilCalendar.vintageOf(timestamp), "vintageOf = reference");
    }

    /// @notice ... and far beyond (the reference skips 400-year cycles), up to where YYYYMM fits in uint32.
    function testFuzz_vintageOf_matchesReferenceFarFuture(uint256 timestamp) public pure {
        timestamp = Assert.bound(timestamp, YEAR_2200, 1e15);
        Assert.eq(RecIds.vintageOf(timestamp), CivilCalendar.vintageOf(timestamp), "vintageOf = reference");
    }

    /// @notice The month starts exactly where the reference says: its first second has the month's vintage, the
    /// second before it the previous month's, and its last second still the month's.
    function testFuzz_vintageOf_changesExactlyAtMonthStart(uint256 yearSeed, uint256 monthSeed) public pure {
        uint256 year = Assert.bound(yearSeed, 1970, 2199);
        uint256 month = Assert.bound(monthSeed, 1, 12);
        uint256 start = CivilCalendar.monthStart(year, month);
        uint256 end = start + CivilCalendar.daysInMonth(year, month) * CivilCalendar.DAY;
        Assert.eq(RecIds.vintageOf(start), year * 100 + month, "first second of the month");
        Assert.eq(RecIds.vintageOf(end - 1), year * 100 + month, "last second of the month");
        if (start > 0) {
            uint256 previous = month == 1 ? (year - 1) * 100 + 12 : year * 100 + month - 1;
            Assert.eq(RecIds.vintageOf(start - 1), previous, "second before: previous month");
            Assert.isTrue(RecIds.vintageOf(start - 1) != RecIds.vintageOf(start), "vintage changes at the start");
        }
    }

    /// @notice vintageOf never decreases as time goes on, and two timestamps of one day share their vintage.
    function testFuzz_vintageOf_monotone(uint256 a, uint256 b) public pure {
        a = Assert.bound(a, 0, 1e15);
        b = Assert.bound(b, 0, 1e15);
        if (a > b) (a, b) = (b, a);
        Assert.le(RecIds.vintageOf(a), RecIds.vintageOf(b), "vintageOf(a) <= vintageOf(b) for a <= b");
        uint256 dayStart = a - (a % CivilCalendar.DAY);
        Assert.eq(RecIds.vintageOf(dayStart + CivilCalendar.DAY - 1), RecIds.vintageOf(a), "same day, same month");
    }

    /// @notice The Gregorian calendar repeats every 400 years: shifting a time by k cycles adds 400k years.
    function testFuzz_vintageOf_repeatsEvery400Years(uint256 timestamp, uint256 cycles) public pure {
        timestamp = Assert.bound(timestamp, 0, YEAR_2200 - 1);
        cycles = Assert.bound(cycles, 1, 100_000);
        uint256 shifted = timestamp + cycles * CivilCalendar.DAYS_PER_400_YEARS * CivilCalendar.DAY;
        Assert.eq(RecIds.vintageOf(shifted), RecIds.vintageOf(timestamp) + cycles * 40_000, "+400 years per cycle");
    }

    /// @notice Every vintage up to the year 167,772 is a valid id's vintage (month 1..12, from 197001, 24 bits).
    function testFuzz_vintageOf_givesValidIds(uint256 timestamp, address meter, uint32 zone) public pure {
        vm.assume(meter != address(0) && zone != 0);
        // 167772-12-31T23:59:59Z: the last second whose YYYYMM fits the 24-bit vintage field.
        timestamp = Assert.bound(timestamp, 0, 5_232_237_379_199);
        uint32 vintage = RecIds.vintageOf(timestamp);
        Assert.isTrue(vintage < 1 << VINTAGE_BITS, "vintage fits 24 bits");
        Assert.isTrue(RecIds.isValid(RecIds.encode(meter, vintage, WIND, zone), WIND), "issued ids are valid");
    }

    function _validVintage(uint256 seed) private pure returns (uint32) {
        return uint32(Assert.bound(seed, 1970, 9999) * 100 + 1 + ((seed >> 128) % 12));
    }
}
