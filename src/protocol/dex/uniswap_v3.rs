//! Uniswap V3 from its published npm artifacts: `UniswapV3Factory` and `UniswapV3Pool`
//! (`@uniswap/v3-core`), `SwapRouter`, `QuoterV2` and `NonfungiblePositionManager`
//! (`@uniswap/v3-periphery`); pools created and initialised at the oracle price through the
//! position manager, full-range liquidity by its `mint`, quotes by `quoteExactInputSingle`, sales
//! by `exactInputSingle`.

use alloy_primitives::aliases::{I24, U160, U24};
use alloy_primitives::{b256, keccak256, Address, Bytes, B256, U256, U512};
use alloy_sol_types::{sol, SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::{deploy_with, DexContracts, IDexToken, DEADLINE};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::artifacts::{ArtifactStore, NpmPackage};

/// Uniswap V3 core (factory, pool).
pub const UNISWAP_V3_CORE: NpmPackage = NpmPackage {
    name: "@uniswap/v3-core",
    version: "1.0.1",
    integrity: "sha512-7pVk4hEm00j9tc71Y9+ssYpO6ytkeI0y7WE9P6UcmNzhxPePwyAxImuhVsTqWK9YFvzgtvzJHi64pBl4jUzKMQ==",
    env_override: "LIQSIM_UNISWAP_V3_CORE",
    extra_artifact_dirs: &[],
};

/// Uniswap V3 periphery (SwapRouter, QuoterV2, NonfungiblePositionManager).
pub const UNISWAP_V3_PERIPHERY: NpmPackage = NpmPackage {
    name: "@uniswap/v3-periphery",
    version: "1.4.4",
    integrity: "sha512-S4+m+wh8HbWSO3DKk4LwUCPZJTpCugIsHrWR86m/OrUyvSqGDTXKFfc2sMuGXCZrD1ZqO3rhQsKgdWg3Hbb2Kw==",
    env_override: "LIQSIM_UNISWAP_V3_PERIPHERY",
    extra_artifact_dirs: &[],
};

/// The pool init-code hash the periphery's `PoolAddress` has compiled in: the published pool
/// bytecode must hash to it, or the router, quoter and position manager would look for pools
/// where the factory did not put them.
pub const POOL_INIT_CODE_HASH: B256 =
    b256!("e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54");

/// The lowest tick a V3 pool knows (`TickMath.MIN_TICK`; the highest is its negation).
pub const MAX_TICK: i32 = 887_272;

sol! {
    /// The factory calls liqsim makes.
    interface IUniswapV3Factory {
        function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address pool);
        function feeAmountTickSpacing(uint24 fee) external view returns (int24);
    }
    /// The pool views liqsim reads.
    interface IUniswapV3PoolState {
        function slot0() external view returns (uint160 sqrtPriceX96, int24 tick, uint16 observationIndex, uint16 observationCardinality, uint16 observationCardinalityNext, uint8 feeProtocol, bool unlocked);
        function liquidity() external view returns (uint128);
        function token0() external view returns (address);
        function token1() external view returns (address);
        function fee() external view returns (uint24);
    }
    /// The position manager calls liqsim makes.
    interface INonfungiblePositionManager {
        struct MintParams {
            address token0;
            address token1;
            uint24 fee;
            int24 tickLower;
            int24 tickUpper;
            uint256 amount0Desired;
            uint256 amount1Desired;
            uint256 amount0Min;
            uint256 amount1Min;
            address recipient;
            uint256 deadline;
        }
        function createAndInitializePoolIfNecessary(address token0, address token1, uint24 fee, uint160 sqrtPriceX96) external payable returns (address pool);
        function mint(MintParams params) external payable returns (uint256 tokenId, uint128 liquidity, uint256 amount0, uint256 amount1);
    }
    /// QuoterV2.
    interface IQuoterV2 {
        struct QuoteExactInputSingleParams {
            address tokenIn;
            address tokenOut;
            uint256 amountIn;
            uint24 fee;
            uint160 sqrtPriceLimitX96;
        }
        function quoteExactInputSingle(QuoteExactInputSingleParams params) external returns (uint256 amountOut, uint160 sqrtPriceX96After, uint32 initializedTicksCrossed, uint256 gasEstimate);
    }
    /// SwapRouter.
    interface ISwapRouter {
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
        function exactInputSingle(ExactInputSingleParams params) external payable returns (uint256 amountOut);
    }
}

fn creation_code(store: &ArtifactStore, name: &str) -> Result<Bytes> {
    store.artifact(name)?.unlinked_bytecode()
}

/// Deploys the factory, SwapRouter, QuoterV2 and NonfungiblePositionManager from `from`.
pub fn deploy<DB>(evm: &mut Evm<DB>, from: Address, weth: Address) -> Result<DexContracts>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let core = ArtifactStore::open(&UNISWAP_V3_CORE, None)?;
    let periphery = ArtifactStore::open(&UNISWAP_V3_PERIPHERY, None)?;
    let pool = creation_code(&core, "UniswapV3Pool")?;
    let hash = keccak256(&pool);
    if hash != POOL_INIT_CODE_HASH {
        return Err(Error::Artifacts(format!(
            "{}@{}'s UniswapV3Pool hashes to {hash}, not the {POOL_INIT_CODE_HASH} the periphery expects",
            UNISWAP_V3_CORE.name, UNISWAP_V3_CORE.version
        )));
    }
    let factory = deploy_with(
        evm,
        from,
        creation_code(&core, "UniswapV3Factory")?,
        Vec::new(),
        "UniswapV3Factory",
    )?;
    let args = (factory, weth).abi_encode_params();
    let router = deploy_with(
        evm,
        from,
        creation_code(&periphery, "SwapRouter")?,
        args.clone(),
        "SwapRouter",
    )?;
    let quoter = deploy_with(
        evm,
        from,
        creation_code(&periphery, "QuoterV2")?,
        args,
        "QuoterV2",
    )?;
    // No token descriptor: `tokenURI` is never called.
    let positions = deploy_with(
        evm,
        from,
        creation_code(&periphery, "NonfungiblePositionManager")?,
        (factory, weth, Address::ZERO).abi_encode_params(),
        "NonfungiblePositionManager",
    )?;
    Ok(DexContracts {
        factory,
        router,
        quoter: Some(quoter),
        positions: Some(positions),
    })
}

fn need(what: Option<Address>, name: &str) -> Result<Address> {
    what.ok_or_else(|| Error::Artifacts(format!("the Uniswap V3 deployment has no {name}")))
}

/// The pool of `a` and `b` at fee tier `fee` (zero when none).
pub fn pool<DB>(
    evm: &mut Evm<DB>,
    dex: &DexContracts,
    fee: u32,
    a: Address,
    b: Address,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    evm.view(
        dex.factory,
        &IUniswapV3Factory::getPoolCall {
            tokenA: a,
            tokenB: b,
            fee: U24::from(fee),
        },
        "UniswapV3Factory.getPool",
    )
}

/// `sqrt(amount1 / amount0) · 2^96` (rounded down): the price at which `amount0` of token0 is
/// worth `amount1` of token1, as `slot0.sqrtPriceX96` holds it.
pub fn sqrt_price_x96(amount0: U256, amount1: U256) -> Result<U160> {
    if amount0.is_zero() || amount1.is_zero() {
        return Err(Error::config(
            "dex pool amounts",
            format!("{amount0} and {amount1}"),
            "two amounts above 0",
        ));
    }
    let ratio: U512 = (U512::from(amount1) << 192) / U512::from(amount0);
    let root = ratio.root(2);
    let root = U160::checked_from_limbs_slice(root.as_limbs()).ok_or_else(|| {
        Error::config(
            "dex pool price",
            format!("{amount1}/{amount0}"),
            "a price a Uniswap V3 pool can hold",
        )
    })?;
    Ok(root)
}

/// Creates and initialises the pool of `sell` and `buy` at fee tier `fee` at the price the two
/// amounts define (when absent), and adds them as a full-range position from `lp` (tokens dealt
/// by storage, approved to and minted through the position manager); returns the pool.
pub fn seed<DB>(
    evm: &mut Evm<DB>,
    dex: &DexContracts,
    lp: Address,
    fee: u32,
    sell: (Address, U256),
    buy: (Address, U256),
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let positions = need(dex.positions, "NonfungiblePositionManager")?;
    let ((token0, amount0), (token1, amount1)) = if sell.0 < buy.0 {
        (sell, buy)
    } else {
        (buy, sell)
    };
    let sqrt_price = sqrt_price_x96(amount0, amount1)?;
    evm.send_call(
        lp,
        positions,
        &INonfungiblePositionManager::createAndInitializePoolIfNecessaryCall {
            token0,
            token1,
            fee: U24::from(fee),
            sqrtPriceX96: sqrt_price,
        },
        "NonfungiblePositionManager.createAndInitializePoolIfNecessary",
    )?;
    let spacing = evm.view(
        dex.factory,
        &IUniswapV3Factory::feeAmountTickSpacingCall {
            fee: U24::from(fee),
        },
        "UniswapV3Factory.feeAmountTickSpacing",
    )?;
    let spacing = i32::try_from(spacing.as_i64()).unwrap_or(0);
    if spacing <= 0 {
        return Err(Error::config(
            "dex.fee_tier",
            fee,
            "a fee tier the Uniswap V3 factory has enabled (500, 3000, 10000)",
        ));
    }
    let upper = MAX_TICK / spacing * spacing;
    let tick = |t: i32| {
        I24::try_from(t).map_err(|_| Error::config("dex pool tick", t, "a tick within int24"))
    };
    let (tick_lower, tick_upper) = (tick(-upper)?, tick(upper)?);
    for (token, amount) in [(token0, amount0), (token1, amount1)] {
        crate::evm::deal::deal_add(evm, token, lp, amount)?;
        evm.send_call(
            lp,
            token,
            &IDexToken::approveCall {
                spender: positions,
                amount,
            },
            "approve (seeding the pool)",
        )?;
    }
    evm.send_call(
        lp,
        positions,
        &INonfungiblePositionManager::mintCall {
            params: INonfungiblePositionManager::MintParams {
                token0,
                token1,
                fee: U24::from(fee),
                tickLower: tick_lower,
                tickUpper: tick_upper,
                amount0Desired: amount0,
                amount1Desired: amount1,
                amount0Min: U256::ZERO,
                amount1Min: U256::ZERO,
                recipient: lp,
                deadline: U256::from(DEADLINE),
            },
        },
        "NonfungiblePositionManager.mint (seeding the pool)",
    )?;
    pool(evm, dex, fee, sell.0, buy.0)
}

/// QuoterV2 `quoteExactInputSingle(sell, buy, amount_in, fee, 0).amountOut`.
pub fn quote<DB>(
    evm: &mut Evm<DB>,
    dex: &DexContracts,
    fee: u32,
    sell: Address,
    buy: Address,
    amount_in: U256,
) -> Result<U256>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let quoter = need(dex.quoter, "QuoterV2")?;
    let r = evm.view(
        quoter,
        &IQuoterV2::quoteExactInputSingleCall {
            params: IQuoterV2::QuoteExactInputSingleParams {
                tokenIn: sell,
                tokenOut: buy,
                amountIn: amount_in,
                fee: U24::from(fee),
                sqrtPriceLimitX96: U160::ZERO,
            },
        },
        "QuoterV2.quoteExactInputSingle",
    )?;
    Ok(r.amountOut)
}

/// The pool's `slot0().sqrtPriceX96`.
pub fn sqrt_price<DB>(evm: &mut Evm<DB>, pool: Address) -> Result<U256>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let s = evm.view(
        pool,
        &IUniswapV3PoolState::slot0Call {},
        "UniswapV3Pool.slot0",
    )?;
    Ok(U256::from(s.sqrtPriceX96))
}

/// The pool's two tokens and fee tier (`token0`, `token1`, `fee`).
pub fn tokens_and_fee<DB>(evm: &mut Evm<DB>, pool: Address) -> Result<(Address, Address, u32)>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let t0 = evm.view(
        pool,
        &IUniswapV3PoolState::token0Call {},
        "UniswapV3Pool.token0",
    )?;
    let t1 = evm.view(
        pool,
        &IUniswapV3PoolState::token1Call {},
        "UniswapV3Pool.token1",
    )?;
    let fee = evm.view(pool, &IUniswapV3PoolState::feeCall {}, "UniswapV3Pool.fee")?;
    Ok((t0, t1, fee.to::<u32>()))
}

/// The pool's in-range liquidity (`liquidity()`).
pub fn liquidity<DB>(evm: &mut Evm<DB>, pool: Address) -> Result<u128>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    evm.view(
        pool,
        &IUniswapV3PoolState::liquidityCall {},
        "UniswapV3Pool.liquidity",
    )
}

/// SwapRouter `exactInputSingle` selling up to `amount_in` of `sell` until the pool's price
/// reaches `limit` (`sqrtPriceLimitX96`): the router takes only what the swap used.
pub fn swap_to_price_call(
    fee: u32,
    sell: Address,
    buy: Address,
    amount_in: U256,
    limit: U160,
    recipient: Address,
) -> Bytes {
    ISwapRouter::exactInputSingleCall {
        params: ISwapRouter::ExactInputSingleParams {
            tokenIn: sell,
            tokenOut: buy,
            fee: U24::from(fee),
            recipient,
            deadline: U256::from(DEADLINE),
            amountIn: amount_in,
            amountOutMinimum: U256::ZERO,
            sqrtPriceLimitX96: limit,
        },
    }
    .abi_encode()
    .into()
}

/// SwapRouter `exactInputSingle(sell, buy, fee, recipient, deadline, amount_in, min_out, 0)`.
pub fn swap_call(
    fee: u32,
    sell: Address,
    buy: Address,
    amount_in: U256,
    min_out: U256,
    recipient: Address,
) -> Bytes {
    ISwapRouter::exactInputSingleCall {
        params: ISwapRouter::ExactInputSingleParams {
            tokenIn: sell,
            tokenOut: buy,
            fee: U24::from(fee),
            recipient,
            deadline: U256::from(DEADLINE),
            amountIn: amount_in,
            amountOutMinimum: min_out,
            sqrtPriceLimitX96: U160::ZERO,
        },
    }
    .abi_encode()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqrt_price_of_equal_amounts_is_one() {
        let one = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(
            U256::from(sqrt_price_x96(one, one).unwrap()),
            U256::from(1u64) << 96
        );
        // 4 token1 per token0: sqrt = 2
        assert_eq!(
            U256::from(sqrt_price_x96(one, one * U256::from(4u64)).unwrap()),
            U256::from(2u64) << 96
        );
    }
}
