// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Assertion helpers for tests without forge-std: each failure reverts with the values that differed.
library Assert {
    error AssertEqUint(string what, uint256 actual, uint256 expected);
    error AssertEqAddress(string what, address actual, address expected);
    error AssertEqBytes32(string what, bytes32 actual, bytes32 expected);
    error AssertLe(string what, uint256 actual, uint256 bound);
    error AssertTrue(string what);

    function eq(uint256 actual, uint256 expected, string memory what) internal pure {
        if (actual != expected) revert AssertEqUint(what, actual, expected);
    }

    function eq(address actual, address expected, string memory what) internal pure {
        if (actual != expected) revert AssertEqAddress(what, actual, expected);
    }

    function eq(bytes32 actual, bytes32 expected, string memory what) internal pure {
        if (actual != expected) revert AssertEqBytes32(what, actual, expected);
    }

    function le(uint256 actual, uint256 limit, string memory what) internal pure {
        if (actual > limit) revert AssertLe(what, actual, limit);
    }

    function isTrue(bool condition, string memory what) internal pure {
        if (!condition) revert AssertTrue(what);
    }

    /// @notice `x` mapped into `[min, max]` (inclusive), uniformly enough for fuzzing.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert AssertLe("bound: min > max", min, max);
        if (min == 0 && max == type(uint256).max) return x;
        return min + (x % (max - min + 1));
    }
}
