// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title NoReturnStablecoin
/// @notice Test token in the style of USDT: 6 decimals, open minting, and `transfer`, `transferFrom` and `approve`
/// that return nothing (not the boolean ERC-20 specifies), reverting on failure.
contract NoReturnStablecoin {
    /// @notice Token name.
    string public constant name = "No-return USD";
    /// @notice Token symbol.
    string public constant symbol = "nUSD";
    /// @notice Decimals of the base unit.
    uint8 public constant decimals = 6;

    /// @notice Total supply, base units.
    uint256 public totalSupply;
    /// @notice Balances, base units.
    mapping(address account => uint256 amount) public balanceOf;
    /// @notice Allowances, base units.
    mapping(address owner => mapping(address spender => uint256 amount)) public allowance;

    /// @notice The sender's balance or allowance does not cover the transfer.
    error NoReturnStablecoinInsufficient(address account, uint256 available, uint256 needed);

    /// @notice ERC-20 transfer event.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice ERC-20 approval event.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice Mints `amount` base units to `to` (anyone may call: tests only).
    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Moves `value` from the sender to `to`; returns nothing.
    function transfer(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    /// @notice Moves `value` from `from` to `to` within the sender's allowance; returns nothing.
    function transferFrom(address from, address to, uint256 value) external {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < value) revert NoReturnStablecoinInsufficient(msg.sender, allowed, value);
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
    }

    /// @notice Sets the spender's allowance; returns nothing.
    function approve(address spender, uint256 value) external {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function _move(address from, address to, uint256 value) private {
        uint256 balance = balanceOf[from];
        if (balance < value) revert NoReturnStablecoinInsufficient(from, balance, value);
        balanceOf[from] = balance - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
