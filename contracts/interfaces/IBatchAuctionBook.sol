// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ZonalClearing} from "../libraries/ZonalClearing.sol";
import {IBatchAuction} from "./IBatchAuction.sol";

/// @title IBatchAuctionBook
/// @notice The BatchAuction as the SettlementEscrow reads it: {IBatchAuction} and the views of its configuration and
/// clearing outcome that settlement needs.
/// @dev The escrow names the auction through this interface instead of importing the contract, so that compiling the
/// escrow does not compile the auction with the escrow's settings (the auction's own build optimises it for size to
/// stay under the code-size limit; at the escrow's 10,000 runs it would not).
interface IBatchAuctionBook is IBatchAuction {
    /// @notice The payment token (a 6-decimal stablecoin with ERC-2612 permit).
    /// @return The token contract.
    function paymentToken() external view returns (IERC20);

    /// @notice The construction parameters.
    /// @return Windows and lead (seconds), minimum deposit (payment-token base units), tick (base units per kWh),
    /// most commitments, seller bond and non-reveal penalty (basis points) and oldest feed answer (seconds).
    function params() external view returns (Params memory);

    /// @notice The day's bounds fixed for the auction (zero until {open} or the first reveal).
    /// @param intervalId The auction's delivery interval.
    /// @return floor Lowest limit price: the feed-in tariff, payment-token base units per kWh, rounded up to the tick.
    /// @return ceiling Highest limit price: the retail tariff, base units per kWh, rounded down to the tick.
    function bounds(uint64 intervalId) external view returns (uint64 floor, uint64 ceiling);

    /// @notice Energy traded (bought = sold) by each cleared auction.
    /// @param intervalId The auction's delivery interval.
    /// @return Wh bought (= sold); zero before clearing.
    function tradedWh(uint64 intervalId) external view returns (uint64);

    /// @notice The zones with revealed orders, in order of their first reveal.
    /// @param intervalId The auction's delivery interval.
    /// @return The zone ids (at most 16).
    function zonesOf(uint64 intervalId) external view returns (uint32[] memory);

    /// @notice A zone's clearing outcome (zero before clearing, but `listed` from its first reveal).
    /// @param intervalId The auction's delivery interval.
    /// @param zone The zone.
    /// @return The zone's price (payment-token base units per kWh), at-price totals and fills, bought Wh, net export
    /// (Wh, negative for imports) and congestion; all zero for a zone without revealed orders.
    function zoneOutcome(uint64 intervalId, uint32 zone) external view returns (ZonalClearing.ZoneOutcome memory);
}
