// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// liqsim's liquidator: one transaction per decision, as liquidation bots send them.
///
/// The liquidation itself is the protocol's own call (`liqTarget`, `liqData`: Aave's
/// `liquidationCall`, a Compound-style vToken's `liquidateBorrow`, built by liqsim from the
/// protocol's ABI), sent by this contract after it approved `liqTarget` for the debt asset.
/// Around it:
///  - funding: the contract's own debt-asset balance (`flashKind` 0: own funds, or a backstop
///    pool's balance held by the contract), an Aave V3
///    `flashLoanSimple` (1) or an Aave V2 `flashLoan` (2) of `flashAmount` from `flashPool`,
///    repaid with its premium at the end of the callback;
///  - when the protocol pays shares (`shares` set: a Compound-style collateral vToken), the
///    `redeem` of every share the liquidation paid for the underlying `collateral`;
///  - the sale of the seized collateral through a Uniswap V2 Router02 (`sale.kind` 1) or a
///    Uniswap V3 SwapRouter (2) for at least `sale.minOut`, or none (0).
/// Anything that fails (the liquidation, a sale below `minOut`, a loan it cannot repay) reverts
/// the whole transaction.
contract Liquidator {
    struct Sale {
        uint8 kind;
        address router;
        uint24 fee;
        uint256 minOut;
    }

    struct Job {
        address liqTarget;
        bytes liqData;
        address collateral;
        address shares;
        address debt;
        uint8 flashKind;
        address flashPool;
        uint256 flashAmount;
        Sale sale;
    }

    /// What one decision did, from the contract's own balance deltas; `premium` is what the
    /// lending pool asked for on top of the loan; `liquidationGas` the gas the liquidation call
    /// itself used; `sharesRedeemed` the protocol's shares the liquidation paid and the contract
    /// redeemed (0 when the collateral arrived as the underlying), `collateralSeized` then being
    /// the underlying the redeem paid.
    event Executed(
        uint256 debtRepaid,
        uint256 collateralSeized,
        uint256 amountOut,
        uint256 flashAmount,
        uint256 premium,
        uint256 liquidationGas,
        uint256 sharesRedeemed
    );

    struct Done {
        uint256 repaid;
        uint256 seized;
        uint256 out;
        uint256 gasUsed;
        uint256 shares;
    }

    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    /// Runs one decision.
    function execute(Job calldata job) external {
        require(msg.sender == owner, "Liquidator: not the owner");
        if (job.flashKind == 0) {
            Done memory d = _run(job);
            emit Executed(d.repaid, d.seized, d.out, 0, 0, d.gasUsed, d.shares);
        } else if (job.flashKind == 1) {
            IPoolV3(job.flashPool).flashLoanSimple(address(this), job.debt, job.flashAmount, abi.encode(job), 0);
        } else if (job.flashKind == 2) {
            address[] memory assets = new address[](1);
            assets[0] = job.debt;
            uint256[] memory amounts = new uint256[](1);
            amounts[0] = job.flashAmount;
            uint256[] memory modes = new uint256[](1);
            ILendingPoolV2(job.flashPool).flashLoan(address(this), assets, amounts, modes, address(this), abi.encode(job), 0);
        } else {
            revert("Liquidator: unknown flash-loan kind");
        }
    }

    /// Aave V3's `flashLoanSimple` callback.
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool) {
        _afterLoan(asset, amount, premium, initiator, params);
        return true;
    }

    /// Aave V2's `flashLoan` callback.
    function executeOperation(
        address[] calldata assets,
        uint256[] calldata amounts,
        uint256[] calldata premiums,
        address initiator,
        bytes calldata params
    ) external returns (bool) {
        require(assets.length == 1 && amounts.length == 1 && premiums.length == 1, "Liquidator: one asset");
        _afterLoan(assets[0], amounts[0], premiums[0], initiator, params);
        return true;
    }

    function _afterLoan(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        internal
    {
        Job memory job = abi.decode(params, (Job));
        require(msg.sender == job.flashPool && initiator == address(this), "Liquidator: not our loan");
        require(asset == job.debt && amount == job.flashAmount, "Liquidator: not the loan asked for");
        Done memory d = _run(job);
        uint256 owed = amount + premium;
        require(IERC20(asset).balanceOf(address(this)) >= owed, "Liquidator: cannot repay the flash loan");
        _approve(asset, job.flashPool, owed);
        emit Executed(d.repaid, d.seized, d.out, amount, premium, d.gasUsed, d.shares);
    }

    function _run(Job memory job) internal returns (Done memory d) {
        uint256 debtBefore = IERC20(job.debt).balanceOf(address(this));
        uint256 collBefore = IERC20(job.collateral).balanceOf(address(this));
        uint256 sharesBefore = job.shares == address(0) ? 0 : IERC20(job.shares).balanceOf(address(this));
        _approve(job.debt, job.liqTarget, debtBefore);
        uint256 g = gasleft();
        (bool ok, bytes memory reason) = job.liqTarget.call(job.liqData);
        d.gasUsed = g - gasleft();
        if (!ok) {
            assembly {
                revert(add(reason, 32), mload(reason))
            }
        }
        // Compound-style markets answer failures with an error code instead of reverting.
        if (job.shares != address(0) && reason.length == 32) {
            require(abi.decode(reason, (uint256)) == 0, "Liquidator: liquidateBorrow failed");
        }
        d.repaid = debtBefore - IERC20(job.debt).balanceOf(address(this));
        if (job.shares != address(0)) {
            d.shares = IERC20(job.shares).balanceOf(address(this)) - sharesBefore;
            require(d.shares > 0, "Liquidator: no shares seized");
            require(IVToken(job.shares).redeem(d.shares) == 0, "Liquidator: redeem failed");
        }
        d.seized = IERC20(job.collateral).balanceOf(address(this)) - collBefore;
        if (job.sale.kind != 0) {
            d.out = _sell(job.collateral, job.debt, d.seized, job.sale);
        }
    }

    function _sell(address sell, address buy, uint256 amountIn, Sale memory sale) internal returns (uint256 out) {
        uint256 before = IERC20(buy).balanceOf(address(this));
        _approve(sell, sale.router, amountIn);
        if (sale.kind == 1) {
            address[] memory path = new address[](2);
            path[0] = sell;
            path[1] = buy;
            IRouterV2(sale.router).swapExactTokensForTokens(amountIn, sale.minOut, path, address(this), block.timestamp);
        } else if (sale.kind == 2) {
            ISwapRouterV3(sale.router).exactInputSingle(
                ISwapRouterV3.ExactInputSingleParams({
                    tokenIn: sell,
                    tokenOut: buy,
                    fee: sale.fee,
                    recipient: address(this),
                    deadline: block.timestamp,
                    amountIn: amountIn,
                    amountOutMinimum: sale.minOut,
                    sqrtPriceLimitX96: 0
                })
            );
        } else {
            revert("Liquidator: unknown sale kind");
        }
        out = IERC20(buy).balanceOf(address(this)) - before;
        require(out >= sale.minOut, "Liquidator: sale below minOut");
    }

    function _approve(address token, address spender, uint256 amount) internal {
        (bool ok, bytes memory data) = token.call(abi.encodeWithSelector(IERC20.approve.selector, spender, amount));
        require(ok && (data.length == 0 || abi.decode(data, (bool))), "Liquidator: approve failed");
    }
}

interface IERC20 {
    function approve(address spender, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

interface IVToken {
    function redeem(uint256 redeemTokens) external returns (uint256);
}

interface IPoolV3 {
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 referralCode) external;
}

interface ILendingPoolV2 {
    function flashLoan(
        address receiver,
        address[] calldata assets,
        uint256[] calldata amounts,
        uint256[] calldata modes,
        address onBehalfOf,
        bytes calldata params,
        uint16 referralCode
    ) external;
}

interface IRouterV2 {
    function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] calldata path, address to, uint256 deadline)
        external
        returns (uint256[] memory amounts);
}

interface ISwapRouterV3 {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut);
}
