// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBatchAuction} from "../interfaces/IBatchAuction.sol";
import {ISettlementEscrow} from "../interfaces/ISettlementEscrow.sol";
import {ReentrantEscrowBuyer} from "./ReentrantEscrowBuyer.sol";

/// @notice Test double: a {ReentrantEscrowBuyer} that also re-enters from `onERC1155BatchReceived`, the hook an
/// importing buyer's collection calls (its kWh tokens of several zones arrive in one batch transfer).
contract ReentrantBatchEscrowBuyer is ReentrantEscrowBuyer {
    /// @notice Batch receipts seen.
    uint256 public batches;

    constructor(IBatchAuction auction_, ISettlementEscrow escrow_) ReentrantEscrowBuyer(auction_, escrow_) {}

    /// @notice Acts as {mode} says, like a single receipt, then accepts the batch.
    function onERC1155BatchReceived(
        address operator,
        address from,
        uint256[] memory ids,
        uint256[] memory values,
        bytes memory data
    ) public override returns (bytes4) {
        ++batches;
        onERC1155Received(operator, from, ids[0], values[0], data);
        return this.onERC1155BatchReceived.selector;
    }
}
