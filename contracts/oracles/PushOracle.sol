// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title A Pyth-style push oracle.
/// @notice The keeper's transaction writes a price (int64 with exponent -8) under a feed id and
/// emits Pyth's `PriceFeedUpdate`, not a Chainlink event.
contract PushOracle {
    struct Price {
        int64 price;
        uint64 conf;
        int32 expo;
        uint256 publishTime;
    }

    address public immutable owner;
    mapping(bytes32 => Price) internal prices;

    event PriceFeedUpdate(bytes32 indexed id, uint64 publishTime, int64 price, uint64 conf);

    constructor() {
        owner = msg.sender;
    }

    function updatePrice(bytes32 id, int64 price) external {
        require(msg.sender == owner, "PushOracle: caller is not the owner");
        prices[id] = Price(price, 0, -8, block.timestamp);
        emit PriceFeedUpdate(id, uint64(block.timestamp), price, 0);
    }

    function getPriceUnsafe(bytes32 id) external view returns (Price memory) {
        return prices[id];
    }
}

/// @title A Chainlink-interface adapter over one feed of the push oracle (as Pyth's
/// `PythAggregatorV3`): the answer is read from the push oracle's storage and given with the
/// decimals its consumer expects (8 for a USD feed, 18 for Aave V2's ETH feeds).
contract PushFeedAdapter {
    PushOracle public immutable oracle;
    bytes32 public immutable priceId;
    uint8 public immutable decimals;

    constructor(address pushOracle, bytes32 id, uint8 answerDecimals) {
        require(answerDecimals >= 8, "PushFeedAdapter: fewer than 8 decimals");
        oracle = PushOracle(pushOracle);
        priceId = id;
        decimals = answerDecimals;
    }

    function latestAnswer() public view returns (int256) {
        PushOracle.Price memory p = oracle.getPriceUnsafe(priceId);
        require(p.expo == -8, "PushFeedAdapter: unexpected exponent");
        return int256(p.price) * int256(10 ** (decimals - 8));
    }

    function latestTimestamp() public view returns (uint256) {
        return oracle.getPriceUnsafe(priceId).publishTime;
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
