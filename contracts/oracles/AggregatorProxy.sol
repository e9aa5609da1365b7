// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

interface IAggregatorSource {
    function latestAnswer() external view returns (int256);
    function latestTimestamp() external view returns (uint256);
    function latestRound() external view returns (uint256);
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}

/// @title A Chainlink `EACAggregatorProxy`-style proxy.
/// @notice Answers are forwarded to the current aggregator, whose address the proxy stores; the
/// proxy itself emits nothing when a price moves (the aggregator does). Rounds are numbered as the
/// real proxy numbers them: the phase in the top 16 of 80 bits, the aggregator's round below.
contract AggregatorProxy {
    address public owner;
    IAggregatorSource public aggregator;
    uint16 public phaseId;
    uint8 public constant decimals = 8;

    event AggregatorConfirmed(address indexed previous, address indexed latest);

    constructor(address initialAggregator) {
        owner = msg.sender;
        _setAggregator(initialAggregator);
    }

    function confirmAggregator(address next) external {
        require(msg.sender == owner, "AggregatorProxy: caller is not the owner");
        _setAggregator(next);
    }

    function latestAnswer() external view returns (int256) {
        return aggregator.latestAnswer();
    }

    function latestTimestamp() external view returns (uint256) {
        return aggregator.latestTimestamp();
    }

    function latestRound() external view returns (uint256) {
        return (uint256(phaseId) << 64) | aggregator.latestRound();
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint80 round;
        (round, answer, startedAt, updatedAt, answeredInRound) = aggregator.latestRoundData();
        roundId = uint80((uint256(phaseId) << 64) | round);
        answeredInRound = roundId;
    }

    function _setAggregator(address next) internal {
        emit AggregatorConfirmed(address(aggregator), next);
        aggregator = IAggregatorSource(next);
        phaseId += 1;
    }
}
