// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title A fixed-answer source: the answer lives in the code (an immutable), not in storage.
contract StaticAggregator {
    int256 public immutable latestAnswer;
    uint256 public immutable latestTimestamp;
    uint8 public constant decimals = 8;

    constructor(int256 answer) {
        latestAnswer = answer;
        latestTimestamp = block.timestamp;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (1, latestAnswer, latestTimestamp, latestTimestamp, 1);
    }
}

interface IOracleSources {
    function setAssetSources(address[] calldata assets, address[] calldata sources) external;
}

/// @title Moves a price by replacing the asset's source.
/// @notice Each `swap` deploys a new `StaticAggregator` and points the oracle at it
/// (`setAssetSources`, which emits `AssetSourceUpdated`); no `AnswerUpdated` is ever emitted. The
/// swapper must be an asset-listing (or pool) admin of the oracle.
contract SourceSwapper {
    address public immutable owner;
    IOracleSources public immutable oracle;

    constructor(address priceOracle) {
        owner = msg.sender;
        oracle = IOracleSources(priceOracle);
    }

    function swap(address asset, int256 answer) external returns (address source) {
        require(msg.sender == owner, "SourceSwapper: caller is not the owner");
        source = address(new StaticAggregator(answer));
        address[] memory assets = new address[](1);
        address[] memory sources = new address[](1);
        assets[0] = asset;
        sources[0] = source;
        oracle.setAssetSources(assets, sources);
    }
}

interface IChainlinkTokenConfigs {
    struct TokenConfig {
        address asset;
        address feed;
        uint256 maxStalePeriod;
    }

    function setTokenConfig(TokenConfig calldata tokenConfig) external;
}

/// @title Moves a price by replacing the asset's feed in a Venus `ChainlinkOracle`.
/// @notice Each `swap` deploys a new `StaticAggregator` and installs it with `setTokenConfig`
/// (which emits `TokenConfigAdded`); the swapper must be allowed to call it by the oracle's
/// access-control manager.
contract TokenConfigSwapper {
    address public immutable owner;
    IChainlinkTokenConfigs public immutable oracle;
    /// The installed feeds' stale period: a fixed answer never goes stale.
    uint256 public constant MAX_STALE_PERIOD = 100 * 365 days;

    constructor(address chainlinkOracle) {
        owner = msg.sender;
        oracle = IChainlinkTokenConfigs(chainlinkOracle);
    }

    function swap(address asset, int256 answer) external returns (address source) {
        require(msg.sender == owner, "TokenConfigSwapper: caller is not the owner");
        source = address(new StaticAggregator(answer));
        oracle.setTokenConfig(IChainlinkTokenConfigs.TokenConfig(asset, source, MAX_STALE_PERIOD));
    }
}
