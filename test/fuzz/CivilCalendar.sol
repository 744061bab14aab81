// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Reference Gregorian calendar for tests, written differently from `RecIds.vintageOf` on purpose: it
/// skips whole 400-year cycles (146,097 days each) from 1970, then walks years and months with the leap-year rules.
/// At most 400 + 12 loop steps, so fine for fuzzing; slower than the closed form, which it checks.
library CivilCalendar {
    uint256 internal constant DAY = 86_400;
    /// @notice Days in 400 Gregorian years (97 leap years).
    uint256 internal constant DAYS_PER_400_YEARS = 146_097;

    /// @notice Whether `year` has a February 29th.
    function isLeap(uint256 year) internal pure returns (bool) {
        return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    }

    /// @notice Days in `year`.
    function daysInYear(uint256 year) internal pure returns (uint256) {
        return isLeap(year) ? 366 : 365;
    }

    /// @notice Days in `month` (1..12) of `year`.
    function daysInMonth(uint256 year, uint256 month) internal pure returns (uint256) {
        if (month == 2) return isLeap(year) ? 29 : 28;
        if (month == 4 || month == 6 || month == 9 || month == 11) return 30;
        return 31;
    }

    /// @notice UTC year and month (1..12) of Unix time `timestamp`.
    function yearMonthOf(uint256 timestamp) internal pure returns (uint256 year, uint256 month) {
        uint256 d = timestamp / DAY;
        year = 1970 + 400 * (d / DAYS_PER_400_YEARS);
        d %= DAYS_PER_400_YEARS;
        while (d >= daysInYear(year)) {
            d -= daysInYear(year);
            ++year;
        }
        month = 1;
        while (d >= daysInMonth(year, month)) {
            d -= daysInMonth(year, month);
            ++month;
        }
    }

    /// @notice The month of `timestamp` as `YYYYMM` (not truncated).
    function vintageOf(uint256 timestamp) internal pure returns (uint256) {
        (uint256 year, uint256 month) = yearMonthOf(timestamp);
        return year * 100 + month;
    }

    /// @notice Unix time of the first second of `month` (1..12) of `year` (>= 1970); loops over the years since
    /// 1970, so keep `year` small (the tests stay below 2200).
    function monthStart(uint256 year, uint256 month) internal pure returns (uint256) {
        uint256 d;
        for (uint256 y = 1970; y < year; ++y) d += daysInYear(y);
        for (uint256 m = 1; m < month; ++m) d += daysInMonth(year, m);
        return d * DAY;
    }
}
