//! Exactly the Aave V2 (`@aave/protocol-v2` 1.0.1) contract surface liqsim calls, declared with alloy's `sol!`.

#![allow(missing_docs)]

use alloy_sol_types::sol;

sol! {
    #![sol(all_derives)]
    interface ILendingPoolAddressesProvider {
        function setPoolAdmin(address admin) external;
        function setEmergencyAdmin(address emergencyAdmin) external;
        function setLendingPoolImpl(address pool) external;
        function setLendingPoolConfiguratorImpl(address configurator) external;
        function setLendingPoolCollateralManager(address manager) external;
        function setPriceOracle(address priceOracle) external;
        function setLendingRateOracle(address lendingRateOracle) external;
        function getLendingPool() external view returns (address);
        function getLendingPoolConfigurator() external view returns (address);
    }

    interface ILendingPoolConfigurator {
        function initReserve(address aTokenImpl, address stableDebtTokenImpl, address variableDebtTokenImpl, uint8 underlyingAssetDecimals, address interestRateStrategyAddress) external;
        function configureReserveAsCollateral(address asset, uint256 ltv, uint256 liquidationThreshold, uint256 liquidationBonus) external;
        function enableBorrowingOnReserve(address asset, bool stableBorrowRateEnabled) external;
        function setReserveFactor(address asset, uint256 reserveFactor) external;
    }

    interface IPriceOracle {
        function setAssetPrice(address asset, uint256 price) external;
        function getAssetPrice(address asset) external view returns (uint256);
        function setEthUsdPrice(uint256 price) external;
        function getEthUsdPrice() external view returns (uint256);

        event AssetPriceUpdated(address _asset, uint256 _price, uint256 timestamp);
        event EthPriceUpdated(uint256 _price, uint256 timestamp);
    }

    interface IAaveOracleV2 {
        function getAssetPrice(address asset) external view returns (uint256);
        function getSourceOfAsset(address asset) external view returns (address);
        function getFallbackOracle() external view returns (address);
        function WETH() external view returns (address);
        function owner() external view returns (address);
        function transferOwnership(address newOwner) external;
    }

    interface ILendingRateOracle {
        function setMarketBorrowRate(address asset, uint256 rate) external;
    }

    interface IMintableERC20 {
        function mint(uint256 value) external returns (bool);
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
    }

    interface IScaledBalanceToken {
        function balanceOf(address owner) external view returns (uint256);
        function scaledBalanceOf(address owner) external view returns (uint256);
    }

    struct ReserveConfigurationMap { uint256 data; }

    struct ReserveDataV2 {
        ReserveConfigurationMap configuration;
        uint128 liquidityIndex;
        uint128 variableBorrowIndex;
        uint128 currentLiquidityRate;
        uint128 currentVariableBorrowRate;
        uint128 currentStableBorrowRate;
        uint40 lastUpdateTimestamp;
        address aTokenAddress;
        address stableDebtTokenAddress;
        address variableDebtTokenAddress;
        address interestRateStrategyAddress;
        uint8 id;
    }

    interface ILendingPool {
        function deposit(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external;
        function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf) external;
        function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken) external;
        function getUserAccountData(address user) external view returns (uint256 totalCollateralETH, uint256 totalDebtETH, uint256 availableBorrowsETH, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor);
        function getReserveData(address asset) external view returns (ReserveDataV2 memory);
        function getReserveNormalizedIncome(address asset) external view returns (uint256);
        function getReserveNormalizedVariableDebt(address asset) external view returns (uint256);
        function getUserConfiguration(address user) external view returns (ReserveConfigurationMap memory);

        function repay(address asset, uint256 amount, uint256 rateMode, address onBehalfOf) external returns (uint256);

        event Deposit(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referral);
        event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount);
        event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint256 borrowRateMode, uint256 borrowRate, uint16 indexed referral);
        event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount);
        event ReserveUsedAsCollateralEnabled(address indexed reserve, address indexed user);
        event ReserveUsedAsCollateralDisabled(address indexed reserve, address indexed user);
        event ReserveDataUpdated(address indexed reserve, uint256 liquidityRate, uint256 stableBorrowRate, uint256 variableBorrowRate, uint256 liquidityIndex, uint256 variableBorrowIndex);
        event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken);
    }
}
