// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Intervals
/// @notice Fixed-length delivery intervals aligned to the Unix epoch: `intervalId = start / length`.
library Intervals {
    /// @notice Interval containing `timestamp`.
    function idAt(uint256 timestamp, uint256 length) internal pure returns (uint64) {
        return uint64(timestamp / length);
    }

    /// @notice First second of interval `intervalId`.
    function startOf(uint64 intervalId, uint256 length) internal pure returns (uint256) {
        return uint256(intervalId) * length;
    }

    /// @notice First second after interval `intervalId` (its exclusive end).
    function endOf(uint64 intervalId, uint256 length) internal pure returns (uint256) {
        return (uint256(intervalId) + 1) * length;
    }
}
