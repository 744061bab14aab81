// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ZonalClearing} from "../libraries/ZonalClearing.sol";

/// @title ZonalClearingHarness
/// @notice Test harness: exposes the clearing library so that tests can clear thousands of books with `eth_call`
/// and compare each result with the TypeScript reference, and measure its gas apart from storage reads.
contract ZonalClearingHarness {
    /// @notice {ZonalClearing.clear} on price levels given directly.
    function clear(
        ZonalClearing.Book calldata book,
        uint256 floor,
        uint256 ceiling
    )
        external
        pure
        returns (
            uint64 systemPrice,
            ZonalClearing.ZoneOutcome[] memory outcomes,
            uint64 tradedWh,
            uint256 congestionRent
        )
    {
        return ZonalClearing.clear(book, floor, ceiling);
    }
}
