// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

import "@openzeppelin/contracts-upgradeable/token/ERC20/ERC20Upgradeable.sol";

/// @title OpenZeppelin's upgradeable ERC20 with a fixed supply and chosen decimals, meant to sit
/// behind an ERC-1967 proxy (as USDC sits behind its proxy).
/// @notice Compiled from OpenZeppelin Contracts Upgradeable's own source (fetched from npm at first
/// use); the balances live in the proxy's storage at the upgradeable layout's slot. No mint after
/// `initialize`.
contract FixedSupplyTokenUpgradeable is ERC20Upgradeable {
    uint8 private _tokenDecimals;

    constructor() {
        _disableInitializers();
    }

    function initialize(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        uint256 supply,
        address owner
    ) external initializer {
        __ERC20_init(name_, symbol_);
        _tokenDecimals = decimals_;
        _mint(owner, supply);
    }

    function decimals() public view override returns (uint8) {
        return _tokenDecimals;
    }
}
