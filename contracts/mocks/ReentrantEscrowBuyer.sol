// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {IBatchAuction} from "../interfaces/IBatchAuction.sol";
import {ISettlementEscrow} from "../interfaces/ISettlementEscrow.sol";

/// @notice Test double: a buyer contract that bids in the auction and, when its kWh tokens arrive from the escrow in
/// `onERC1155Received`, re-enters `collect` with a commitment of its own (another order, or the one being
/// collected) — letting the escrow's error bubble up (the whole collection reverts) or catching and recording it
/// (the outer collection goes through alone) — or refuses ERC-1155 tokens altogether.
contract ReentrantEscrowBuyer is ERC1155Holder {
    using SafeERC20 for IERC20;

    /// @notice What the buyer does when tokens arrive.
    enum Mode {
        Accept,
        Reenter,
        ReenterAndCatch,
        Reject
    }

    /// @notice The auction it bids in.
    IBatchAuction public immutable auction;
    /// @notice The escrow it collects from.
    ISettlementEscrow public immutable escrow;
    /// @notice Current behaviour.
    Mode public mode;
    /// @notice Revert data of the caught re-entrant collection.
    bytes public reentryError;
    /// @notice Re-entrant collections attempted.
    uint256 public reentries;
    uint64 private _intervalId;
    bytes32 private _commitment;

    /// @notice Raised from `onERC1155Received` in the Reject mode.
    error ReentrantEscrowBuyerRejects();

    constructor(IBatchAuction auction_, ISettlementEscrow escrow_) {
        auction = auction_;
        escrow = escrow_;
    }

    /// @notice Lets the auction take this contract's payment tokens.
    function approve(IERC20 token) external {
        token.forceApprove(address(auction), type(uint256).max);
    }

    /// @notice Commits to an order of this contract.
    function commit(uint64 intervalId, bytes32 commitment, uint256 collateral) external {
        auction.commit(intervalId, commitment, collateral);
    }

    /// @notice Reveals an order of this contract.
    function reveal(uint64 intervalId, IBatchAuction.Order calldata order, bytes32 salt) external {
        auction.reveal(intervalId, order, salt);
    }

    /// @notice Collects this contract's order with everything sent to `recipient`.
    function collectTo(uint64 intervalId, bytes32 commitment, address recipient) external {
        escrow.collectTo(intervalId, commitment, recipient);
    }

    /// @notice On the next receipt, re-enters `collect(intervalId, this, commitment)` as `mode_` says.
    function arm(uint64 intervalId, bytes32 commitment, Mode mode_) external {
        _intervalId = intervalId;
        _commitment = commitment;
        mode = mode_;
    }

    /// @notice Re-enters `collect` as {mode} says.
    function onERC1155Received(
        address operator,
        address from,
        uint256 id,
        uint256 value,
        bytes memory data
    ) public override returns (bytes4) {
        Mode m = mode;
        if (m == Mode.Reject) revert ReentrantEscrowBuyerRejects();
        if (m != Mode.Accept) {
            ++reentries;
            if (m == Mode.Reenter) {
                escrow.collect(_intervalId, address(this), _commitment);
            } else {
                try escrow.collect(_intervalId, address(this), _commitment) {
                    reentryError = "";
                } catch (bytes memory err) {
                    reentryError = err;
                }
            }
        }
        return super.onERC1155Received(operator, from, id, value, data);
    }
}
