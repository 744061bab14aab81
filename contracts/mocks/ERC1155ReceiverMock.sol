// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/// @title ERC1155ReceiverMock
/// @notice Test double for the ERC-1155 conformance tests of the system's tokens: a receiver that accepts, answers
/// with a wrong selector, reverts with a custom error, reverts without data or panics, as configured. It records
/// and emits what an accepted call passed it.
/// @dev A wrong answer is the other callback's selector, so a token that accepts either selector is caught.
contract ERC1155ReceiverMock is IERC1155Receiver {
    /// @notice What the receiver does on either callback.
    enum Mode {
        Accept,
        WrongSelector,
        RevertWithError,
        RevertWithoutData,
        Panic
    }

    /// @notice The receiver refuses the tokens (mode `RevertWithError`).
    /// @param callback Selector of the callback that refused.
    /// @param operator The operator the token passed.
    /// @param from The previous owner the token passed.
    error ERC1155ReceiverMockRejected(bytes4 callback, address operator, address from);

    /// @notice A single transfer was accepted.
    /// @param operator The operator the token passed.
    /// @param from The previous owner the token passed.
    /// @param id The token id.
    /// @param value The amount.
    /// @param data The data the token passed.
    event Received(address operator, address from, uint256 id, uint256 value, bytes data);

    /// @notice A batch transfer was accepted.
    /// @param operator The operator the token passed.
    /// @param from The previous owner the token passed.
    /// @param ids The token ids.
    /// @param values The amounts.
    /// @param data The data the token passed.
    event BatchReceived(address operator, address from, uint256[] ids, uint256[] values, bytes data);

    /// @notice Current behaviour.
    Mode public mode;
    /// @notice Number of accepted callbacks.
    uint256 public calls;
    /// @notice Selector of the last accepted callback.
    bytes4 public lastCallback;
    /// @notice Operator of the last accepted callback.
    address public lastOperator;
    /// @notice Previous owner of the last accepted callback.
    address public lastFrom;
    /// @notice Data of the last accepted callback.
    bytes public lastData;
    uint256[] private _lastIds;
    uint256[] private _lastValues;

    /// @param mode_ Initial behaviour.
    constructor(Mode mode_) {
        mode = mode_;
    }

    /// @notice Sets the behaviour.
    /// @param mode_ The new behaviour.
    function setMode(Mode mode_) external {
        mode = mode_;
    }

    /// @inheritdoc IERC1155Receiver
    function onERC1155Received(
        address operator,
        address from,
        uint256 id,
        uint256 value,
        bytes calldata data
    ) external returns (bytes4) {
        bytes4 answer = _respond(this.onERC1155Received.selector, this.onERC1155BatchReceived.selector, operator, from);
        uint256[] memory ids = new uint256[](1);
        uint256[] memory values = new uint256[](1);
        ids[0] = id;
        values[0] = value;
        _record(this.onERC1155Received.selector, operator, from, ids, values, data);
        emit Received(operator, from, id, value, data);
        return answer;
    }

    /// @inheritdoc IERC1155Receiver
    function onERC1155BatchReceived(
        address operator,
        address from,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external returns (bytes4) {
        bytes4 answer = _respond(this.onERC1155BatchReceived.selector, this.onERC1155Received.selector, operator, from);
        _record(this.onERC1155BatchReceived.selector, operator, from, ids, values, data);
        emit BatchReceived(operator, from, ids, values, data);
        return answer;
    }

    /// @notice Ids of the last accepted callback (one for a single transfer).
    /// @return The ids.
    function lastIds() external view returns (uint256[] memory) {
        return _lastIds;
    }

    /// @notice Amounts of the last accepted callback (one for a single transfer).
    /// @return The amounts.
    function lastValues() external view returns (uint256[] memory) {
        return _lastValues;
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC1155Receiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }

    /// @dev Reverts or panics as the mode says; otherwise returns the selector to answer with.
    function _respond(bytes4 selector, bytes4 wrong, address operator, address from) private view returns (bytes4) {
        Mode m = mode;
        if (m == Mode.RevertWithError) revert ERC1155ReceiverMockRejected(selector, operator, from);
        if (m == Mode.RevertWithoutData) {
            assembly ("memory-safe") {
                revert(0, 0)
            }
        }
        assert(m != Mode.Panic);
        return m == Mode.WrongSelector ? wrong : selector;
    }

    function _record(
        bytes4 callback,
        address operator,
        address from,
        uint256[] memory ids,
        uint256[] memory values,
        bytes calldata data
    ) private {
        ++calls;
        lastCallback = callback;
        lastOperator = operator;
        lastFrom = from;
        lastData = data;
        _lastIds = ids;
        _lastValues = values;
    }
}
