// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice Test double: a smart-contract wallet owned by one key. It accepts ERC-1271 signatures made by the key,
/// runs calls its owner sends (approvals, cancellations) and holds ERC-1155 tokens.
contract ERC1271WalletMock is IERC1271, ERC1155Holder {
    /// @notice The key whose signatures the wallet accepts.
    address public immutable owner;

    /// @notice Only the owner sends calls through the wallet.
    error ERC1271WalletMockNotOwner(address caller);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Calls `target` with `data` from the wallet (owner only), bubbling up a revert.
    function execute(address target, bytes calldata data) external returns (bytes memory result) {
        if (msg.sender != owner) revert ERC1271WalletMockNotOwner(msg.sender);
        bool ok;
        // solhint-disable-next-line avoid-low-level-calls
        (ok, result) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == owner ? this.isValidSignature.selector : bytes4(0);
    }
}
