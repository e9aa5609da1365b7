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
