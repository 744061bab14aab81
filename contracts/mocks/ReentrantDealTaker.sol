// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {IDealDesk} from "../interfaces/IDealDesk.sol";

/// @notice Test double: a taker contract that fills a quote and, when the units arrive in `onERC1155Received`,
/// tries to fill the same quote again from inside the callback — letting the desk's error bubble up (the whole fill
/// reverts) or catching and recording it (the outer fill goes through alone).
contract ReentrantDealTaker is ERC1155Holder {
    using SafeERC20 for IERC20;

    /// @notice What the taker does when units arrive.
    enum Mode {
        Accept,
        Reenter,
        ReenterAndCatch
    }

    /// @notice The desk it fills on.
    IDealDesk public immutable desk;
    /// @notice Current behaviour.
    Mode public mode;
    /// @notice Revert data of the caught re-entrant fill.
    bytes public reentryError;
    /// @notice Re-entrant fills attempted.
    uint256 public reentries;
    IDealDesk.Quote private _quote;
    bytes private _signature;
    uint256 private _amount;

    constructor(IDealDesk desk_) {
        desk = desk_;
    }

    /// @notice Lets the desk take `token` from this contract.
    function approve(IERC20 token) external {
        token.forceApprove(address(desk), type(uint256).max);
    }

    /// @notice Fills `amount` of `q` as the taker, re-entering on receipt as `mode_` says.
    function take(
        IDealDesk.Quote calldata q,
        bytes calldata signature,
        uint256 amount,
        Mode mode_
    ) external returns (uint256) {
        mode = mode_;
        _quote = q;
        _signature = signature;
        _amount = amount;
        return desk.fill(q, signature, amount);
    }

    /// @notice Re-enters `fill` with the quote being filled, as {mode} says.
    function onERC1155Received(
        address operator,
        address from,
        uint256 id,
        uint256 value,
        bytes memory data
    ) public override returns (bytes4) {
        Mode m = mode;
        if (m != Mode.Accept) {
            ++reentries;
            if (m == Mode.Reenter) {
                desk.fill(_quote, _signature, _amount);
            } else {
                try desk.fill(_quote, _signature, _amount) {
                    reentryError = "";
                } catch (bytes memory err) {
                    reentryError = err;
                }
            }
        }
        return super.onERC1155Received(operator, from, id, value, data);
    }
}
