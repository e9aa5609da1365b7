// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title A Chainlink-style aggregator whose owner (the devnet's oracle keeper) reports answers.
/// @notice Each report is a new round and emits Chainlink's `NewRound` and `AnswerUpdated`, from
/// this contract: behind an `AggregatorProxy` the event comes from the aggregator, not from the
/// address a protocol reads.
contract SettableAggregator {
    int256 public latestAnswer;
    uint256 public latestRound;
    uint256 public latestTimestamp;
    address public owner;
    uint8 public constant decimals = 8;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    constructor(int256 initialAnswer) {
        owner = msg.sender;
        latestAnswer = initialAnswer;
        latestTimestamp = block.timestamp;
    }

    function setAnswer(int256 answer) external {
        require(msg.sender == owner, "SettableAggregator: caller is not the owner");
        latestAnswer = answer;
        latestRound += 1;
        latestTimestamp = block.timestamp;
        emit NewRound(latestRound, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, latestRound, block.timestamp);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        roundId = uint80(latestRound);
        return (roundId, latestAnswer, latestTimestamp, latestTimestamp, roundId);
    }
}
