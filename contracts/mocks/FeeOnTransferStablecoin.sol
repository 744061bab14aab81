// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferStablecoin
/// @notice Test token: 6 decimals, open minting, and 1% of every transfer burnt (the recipient gets 99%).
contract FeeOnTransferStablecoin is ERC20 {
    constructor() ERC20("Fee USD", "fUSD") {}

    /// @notice Mints `amount` base units to `to` (anyone may call: tests only).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @dev Burns 1% of transfers between accounts.
    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 fee = value / 100;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
