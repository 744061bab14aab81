// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol";

/// @title PriceFeedMock
/// @notice Chainlink's own mock aggregator under a project name, so tests and the demo get its artifact and types:
/// `updateAnswer` and `updateRoundData` set the answer and its timestamp.
contract PriceFeedMock is MockV3Aggregator {
    /// @param decimals_ The feed's decimals (8 for currency feeds).
    /// @param initialAnswer The first answer.
    constructor(uint8 decimals_, int256 initialAnswer) MockV3Aggregator(decimals_, initialAnswer) {}
}
