// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

import "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title OpenZeppelin's ERC20 with a fixed supply and the decimals of the token it stands for.
/// @notice Compiled from OpenZeppelin Contracts' own source (fetched from npm at first use); the
/// only addition is `decimals()` (6 for a USDC, 8 for a WBTC). Nothing can mint after construction.
contract FixedSupplyToken is ERC20 {
    uint8 private immutable _tokenDecimals;

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        uint256 supply,
        address owner
    ) ERC20(name_, symbol_) {
        _tokenDecimals = decimals_;
        _mint(owner, supply);
    }

    function decimals() public view override returns (uint8) {
        return _tokenDecimals;
    }
}
