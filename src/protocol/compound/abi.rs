//! Exactly the Venus isolated-pools (v4.4.0) contract surface liqsim calls, declared with alloy's `sol!`.

#![allow(missing_docs)]

use alloy_sol_types::sol;

sol! {
    #![sol(all_derives)]
    interface IAccessControlManager {
        function giveCallPermission(address contractAddress, string calldata functionSig, address accountToPermit) external;
    }

    interface IUpgradeableBeacon {
        function implementation() external view returns (address);
    }

    interface IMockPriceOracle {
        function setPrice(address asset, uint256 price) external;
        function getUnderlyingPrice(address vToken) external view returns (uint256);
    }

    interface IMockToken {
        function faucet(uint256 amount) external;
        function approve(address spender, uint256 amount) external returns (bool);
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
    }

    interface IComptroller {
        function initialize(uint256 loopLimit, address accessControlManager) external;
        function setPriceOracle(address newOracle) external;
        function setCloseFactor(uint256 newCloseFactorMantissa) external;
        function setLiquidationIncentive(uint256 newLiquidationIncentiveMantissa) external;
        function setMinLiquidatableCollateral(uint256 newMinLiquidatableCollateral) external;
        function supportMarket(address vToken) external;
        function setCollateralFactor(address vToken, uint256 newCollateralFactorMantissa, uint256 newLiquidationThresholdMantissa) external;
        function setMarketSupplyCaps(address[] calldata vTokens, uint256[] calldata newSupplyCaps) external;
        function setMarketBorrowCaps(address[] calldata vTokens, uint256[] calldata newBorrowCaps) external;
        function enterMarkets(address[] memory vTokens) external returns (uint256[] memory);
        function getAccountLiquidity(address account) external view returns (uint256 error, uint256 liquidity, uint256 shortfall);
        function getBorrowingPower(address account) external view returns (uint256 error, uint256 liquidity, uint256 shortfall);
        function liquidateCalculateSeizeTokens(address vTokenBorrowed, address vTokenCollateral, uint256 actualRepayAmount) external view returns (uint256 error, uint256 tokensToSeize);
        function getAssetsIn(address account) external view returns (address[] memory);
        function closeFactorMantissa() external view returns (uint256);
        function liquidationIncentiveMantissa() external view returns (uint256);
        function minLiquidatableCollateral() external view returns (uint256);
        function markets(address vToken) external view returns (bool isListed, uint256 collateralFactorMantissa, uint256 liquidationThresholdMantissa);

        event MarketEntered(address indexed vToken, address indexed account);
        event MarketExited(address indexed vToken, address indexed account);
    }

    struct RiskManagementInit {
        address shortfall;
        address payable protocolShareReserve;
    }

    interface IVToken {
        function initialize(
            address underlying_,
            address comptroller_,
            address interestRateModel_,
            uint256 initialExchangeRateMantissa_,
            string memory name_,
            string memory symbol_,
            uint8 decimals_,
            address admin_,
            address accessControlManager_,
            RiskManagementInit memory riskManagement,
            uint256 reserveFactorMantissa_
        ) external;
        function mint(uint256 mintAmount) external returns (uint256);
        function borrow(uint256 borrowAmount) external returns (uint256);
        function repayBorrow(uint256 repayAmount) external returns (uint256);
        function liquidateBorrow(address borrower, uint256 repayAmount, address vTokenCollateral) external returns (uint256);
        function accrueInterest() external returns (uint256);
        function setProtocolSeizeShare(uint256 newProtocolSeizeShareMantissa_) external;
        function balanceOf(address owner) external view returns (uint256);
        function borrowBalanceStored(address account) external view returns (uint256);
        function exchangeRateStored() external view returns (uint256);
        function getAccountSnapshot(address account) external view returns (uint256 error, uint256 vTokenBalance, uint256 borrowBalance, uint256 exchangeRate);
        function protocolSeizeShareMantissa() external view returns (uint256);
        function totalSupply() external view returns (uint256);
        function underlying() external view returns (address);

        function borrowIndex() external view returns (uint256);

        event AccrueInterest(uint256 cashPrior, uint256 interestAccumulated, uint256 borrowIndex, uint256 totalBorrows);
        event Mint(address indexed minter, uint256 mintAmount, uint256 mintTokens, uint256 accountBalance);
        event Redeem(address indexed redeemer, uint256 redeemAmount, uint256 redeemTokens, uint256 accountBalance);
        event Borrow(address indexed borrower, uint256 borrowAmount, uint256 accountBorrows, uint256 totalBorrows);
        event RepayBorrow(address indexed payer, address indexed borrower, uint256 repayAmount, uint256 accountBorrows, uint256 totalBorrows);
        event Transfer(address indexed from, address indexed to, uint256 amount);
        event LiquidateBorrow(address indexed liquidator, address indexed borrower, uint256 repayAmount, address indexed vTokenCollateral, uint256 seizeTokens);
        event ProtocolSeize(address indexed from, address indexed to, uint256 amount);
    }

    /// Custom errors of the Comptroller and VToken a liquidation can revert with.
    interface VenusErrors {
        error PriceError(address vToken);
        error SnapshotError(address vToken, address user);
        error MarketNotListed(address market);
        error ComptrollerMismatch();
        error MarketNotCollateral(address vToken, address user);
        error MinimalCollateralViolated(uint256 expectedGreaterThan, uint256 actual);
        error CollateralExceedsThreshold(uint256 expectedLessThanOrEqualTo, uint256 actual);
        error InsufficientCollateral(uint256 collateralToSeize, uint256 availableCollateral);
        error InsufficientLiquidity();
        error InsufficientShortfall();
        error TooMuchRepay();
        error ActionPaused(address market, uint8 action);
        error SupplyCapExceeded(address market, uint256 cap);
        error BorrowCapExceeded(address market, uint256 cap);
        error LiquidateAccrueCollateralInterestFailed(uint256 errorCode);
        error LiquidateFreshnessCheck();
        error LiquidateCollateralFreshnessCheck();
        error LiquidateLiquidatorIsBorrower();
        error LiquidateCloseAmountIsZero();
        error LiquidateCloseAmountIsUintMax();
        error LiquidateSeizeLiquidatorIsBorrower();
        error BorrowCashNotAvailable();
        error ProtocolSeizeShareTooBig();
        error Unauthorized(address sender, address calledContract, string methodSignature);
        error ZeroAddressNotAllowed();
    }
}
