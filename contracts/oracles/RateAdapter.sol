// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title An exchange rate (18 decimals) that grows by its own transactions, as a liquid-staking
/// token's rate does.
contract ExchangeRate {
    uint256 public rate;
    uint256 public immutable step;
    address public immutable owner;

    event RateUpdated(uint256 rate);

    constructor(uint256 initialRate, uint256 stepPerAccrual) {
        owner = msg.sender;
        rate = initialRate;
        step = stepPerAccrual;
    }

    /// Grows the rate by `step` (18 decimals) of itself.
    function accrue() external {
        require(msg.sender == owner, "ExchangeRate: caller is not the owner");
        rate = (rate * (1e18 + step)) / 1e18;
        emit RateUpdated(rate);
    }
}

interface IBaseFeed {
    function latestAnswer() external view returns (int256);
    function latestTimestamp() external view returns (uint256);
}

/// @title An exchange-rate price adapter (wstETH/USD-style):
/// `latestAnswer = base.latestAnswer() * rate / 1e18`, the rate read from another contract.
contract RateAdapter {
    IBaseFeed public immutable base;
    ExchangeRate public immutable rateSource;
    uint8 public constant decimals = 8;

    constructor(address baseFeed, address rateContract) {
        base = IBaseFeed(baseFeed);
        rateSource = ExchangeRate(rateContract);
    }

    function latestAnswer() public view returns (int256) {
        return (base.latestAnswer() * int256(rateSource.rate())) / 1e18;
    }

    function latestTimestamp() public view returns (uint256) {
        return base.latestTimestamp();
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint256 at = latestTimestamp();
        return (1, latestAnswer(), at, at, 1);
    }
}
