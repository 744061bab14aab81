// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Burnable} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Burnable.sol";

/// @title BaselineBurnable
/// @notice Gas benchmark reference, not part of the system: a plain OpenZeppelin ERC1155Burnable with an open
/// mint, so that `burn` and `burnBatch` can be measured beside RecToken's retirements in the same run.
contract BaselineBurnable is ERC1155Burnable {
    constructor() ERC1155("") {}

    /// @notice Mints `amount` of `id` to `to` (anyone may call: benchmark only).
    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }
}
