// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IKwhToken} from "../interfaces/IKwhToken.sol";

/// @notice Test double: an ERC-1155 receiver that either rejects tokens or re-enters `KwhToken.claim` with the
/// claim it is receiving, to prove claims are marked used before the receiver is called.
contract RejectingReceiver is IERC1155Receiver {
    /// @notice What the receiver does on `onERC1155Received`.
    enum Mode {
        Reject,
        Reenter
    }

    /// @notice Current behaviour.
    Mode public mode;
    /// @notice The re-entrant claim it replays.
    IKwhToken.Claim private _replay;
    /// @notice Revert data of the re-entrant call, recorded for the test.
    bytes public reentryError;

    /// @notice Sets the behaviour and the claim to replay.
    function configure(Mode mode_, IKwhToken.Claim calldata replay) external {
        mode = mode_;
        _replay = replay;
    }

    /// @inheritdoc IERC1155Receiver
    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        if (mode == Mode.Reject) return bytes4(0xdeadbeef);
        IKwhToken.Claim memory c = _replay;
        try IKwhToken(msg.sender).claim(c.meter, c.intervalId, c.importWh, c.exportWh, c.proof) {
            reentryError = "";
        } catch (bytes memory err) {
            reentryError = err;
        }
        return this.onERC1155Received.selector;
    }

    /// @inheritdoc IERC1155Receiver
    function onERC1155BatchReceived(
        address,
        address,
        uint256[] calldata,
        uint256[] calldata,
        bytes calldata
    ) external pure returns (bytes4) {
        return this.onERC1155BatchReceived.selector;
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }
}
