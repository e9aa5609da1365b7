//! Uniswap V2 from its published npm builds: `UniswapV2Factory` and `UniswapV2Pair`
//! (`@uniswap/v2-core`), `UniswapV2Router02` (`@uniswap/v2-periphery`); pairs created through the
//! factory, liquidity by `mint`, quotes by `getAmountsOut`, sales by `swapExactTokensForTokens`.

use std::path::PathBuf;

use alloy_primitives::{b256, keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::{deploy_with, waffle_bytecode, DexContracts, DEADLINE};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::artifacts::{fetch_npm_package, NpmPackage};

/// Uniswap V2 core (factory, pair).
pub const UNISWAP_V2_CORE: NpmPackage = NpmPackage {
    name: "@uniswap/v2-core",
    version: "1.0.1",
    integrity: "sha512-MtybtkUPSyysqLY2U210NBDeCHX+ltHt3oADGdjqoThZaFRDKwM6k1Nb3F0A3hk5hwuQvytFWhrWHOEq6nVJ8Q==",
    env_override: "LIQSIM_UNISWAP_V2_CORE",
    extra_artifact_dirs: &[],
};

/// Uniswap V2 periphery (Router02).
pub const UNISWAP_V2_PERIPHERY: NpmPackage = NpmPackage {
    name: "@uniswap/v2-periphery",
    version: "1.1.0-beta.0",
    integrity: "sha512-6dkwAMKza8nzqYiXEr2D86dgW3TTavUvCR0w2Tu33bAbM8Ah43LKAzH7oKKPRT5VJQaMi1jtkGs1E8JPor1n5g==",
    env_override: "LIQSIM_UNISWAP_V2_PERIPHERY",
    extra_artifact_dirs: &[],
};

/// The pair init-code hash Router02's `UniswapV2Library.pairFor` has compiled in: the published
/// pair bytecode must hash to it, or the router would look for pairs where the factory did not
/// put them.
pub const PAIR_INIT_CODE_HASH: B256 =
    b256!("96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f");

sol! {
    /// The factory calls liqsim makes.
    interface IUniswapV2Factory {
        function createPair(address tokenA, address tokenB) external returns (address pair);
        function getPair(address tokenA, address tokenB) external view returns (address pair);
    }
    /// The pair calls liqsim makes.
    interface IUniswapV2Pair {
        function mint(address to) external returns (uint256 liquidity);
        function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
        function token0() external view returns (address);
        function token1() external view returns (address);
    }
    /// The Router02 calls liqsim makes.
    interface IUniswapV2Router02 {
        function getAmountsOut(uint256 amountIn, address[] path) external view returns (uint256[] amounts);
        function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline) external returns (uint256[] amounts);
    }
}

fn package_build(package: &NpmPackage, names: &'static [&'static str]) -> Result<PathBuf> {
    let dir = match std::env::var_os(package.env_override) {
        Some(path) => PathBuf::from(path),
        None => fetch_npm_package(
            package,
            &|p: &str| {
                p == "package/package.json"
                    || p.starts_with("package/LICENSE")
                    || names.iter().any(|n| p == format!("package/build/{n}.json"))
            },
            "build",
        )?,
    };
    Ok(dir.join("build"))
}

/// Creation bytecode of `name` from `package`'s `build/` folder.
pub fn bytecode(package: &NpmPackage, names: &'static [&'static str], name: &str) -> Result<Bytes> {
    let path = package_build(package, names)?.join(format!("{name}.json"));
    if !path.is_file() {
        return Err(Error::Artifacts(format!(
            "{} is missing; expected {}@{} (or set {} to an unpacked copy)",
            path.display(),
            package.name,
            package.version,
            package.env_override
        )));
    }
    waffle_bytecode(&path)
}

const CORE: &[&str] = &["UniswapV2Factory", "UniswapV2Pair"];
const PERIPHERY: &[&str] = &["UniswapV2Router02"];

/// Deploys the factory (fee switch off) and Router02 from `from`.
pub fn deploy<DB>(evm: &mut Evm<DB>, from: Address, weth: Address) -> Result<DexContracts>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let pair = bytecode(&UNISWAP_V2_CORE, CORE, "UniswapV2Pair")?;
    let hash = keccak256(&pair);
    if hash != PAIR_INIT_CODE_HASH {
        return Err(Error::Artifacts(format!(
            "{}@{}'s UniswapV2Pair hashes to {hash}, not the {PAIR_INIT_CODE_HASH} Router02 expects",
            UNISWAP_V2_CORE.name, UNISWAP_V2_CORE.version
        )));
    }
    let factory = deploy_with(
        evm,
        from,
        bytecode(&UNISWAP_V2_CORE, CORE, "UniswapV2Factory")?,
        from.abi_encode(),
        "UniswapV2Factory",
    )?;
    let router = deploy_with(
        evm,
        from,
        bytecode(&UNISWAP_V2_PERIPHERY, PERIPHERY, "UniswapV2Router02")?,
        (factory, weth).abi_encode_params(),
        "UniswapV2Router02",
    )?;
    Ok(DexContracts {
        factory,
        router,
        quoter: None,
        positions: None,
    })
}

/// The pair of `a` and `b` (zero when none).
pub fn pair<DB>(evm: &mut Evm<DB>, dex: &DexContracts, a: Address, b: Address) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    evm.view(
        dex.factory,
        &IUniswapV2Factory::getPairCall {
            tokenA: a,
            tokenB: b,
        },
        "UniswapV2Factory.getPair",
    )
}

/// Creates the pair of `sell` and `buy` (when absent) and adds the two amounts as liquidity from
/// `lp` (tokens dealt by storage, then `mint`); returns the pair.
pub fn seed<DB>(
    evm: &mut Evm<DB>,
    dex: &DexContracts,
    lp: Address,
    sell: (Address, U256),
    buy: (Address, U256),
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut pool = pair(evm, dex, sell.0, buy.0)?;
    if pool.is_zero() {
        evm.send_call(
            lp,
            dex.factory,
            &IUniswapV2Factory::createPairCall {
                tokenA: sell.0,
                tokenB: buy.0,
            },
            "UniswapV2Factory.createPair",
        )?;
        pool = pair(evm, dex, sell.0, buy.0)?;
    }
    crate::evm::deal::deal_add(evm, sell.0, pool, sell.1)?;
    crate::evm::deal::deal_add(evm, buy.0, pool, buy.1)?;
    evm.send_call(
        lp,
        pool,
        &IUniswapV2Pair::mintCall { to: lp },
        "UniswapV2Pair.mint (seeding the pool)",
    )?;
    Ok(pool)
}

/// Router02 `getAmountsOut(amount_in, [sell, buy])[1]`.
pub fn quote<DB>(
    evm: &mut Evm<DB>,
    dex: &DexContracts,
    sell: Address,
    buy: Address,
    amount_in: U256,
) -> Result<U256>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let amounts = evm.view(
        dex.router,
        &IUniswapV2Router02::getAmountsOutCall {
            amountIn: amount_in,
            path: vec![sell, buy],
        },
        "UniswapV2Router02.getAmountsOut",
    )?;
    amounts.get(1).copied().ok_or_else(|| Error::Decode {
        what: "UniswapV2Router02.getAmountsOut".into(),
        message: format!("{} amounts for a two-token path", amounts.len()),
    })
}

/// Router02 `swapExactTokensForTokens(amount_in, min_out, [sell, buy], recipient, deadline)`.
pub fn swap_call(
    sell: Address,
    buy: Address,
    amount_in: U256,
    min_out: U256,
    recipient: Address,
) -> Bytes {
    IUniswapV2Router02::swapExactTokensForTokensCall {
        amountIn: amount_in,
        amountOutMin: min_out,
        path: vec![sell, buy],
        to: recipient,
        deadline: U256::from(DEADLINE),
    }
    .abi_encode()
    .into()
}

/// The pair's reserves of `(sell, buy)` (`getReserves`, ordered by `token0`).
pub fn reserves<DB>(evm: &mut Evm<DB>, pool: Address, sell: Address) -> Result<(U256, U256)>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let r = evm.view(
        pool,
        &IUniswapV2Pair::getReservesCall {},
        "UniswapV2Pair.getReserves",
    )?;
    let token0 = evm.view(pool, &IUniswapV2Pair::token0Call {}, "UniswapV2Pair.token0")?;
    let (r0, r1) = (U256::from(r.reserve0), U256::from(r.reserve1));
    Ok(if token0 == sell { (r0, r1) } else { (r1, r0) })
}

/// The pair's two tokens (`token0`, `token1`).
pub fn tokens<DB>(evm: &mut Evm<DB>, pool: Address) -> Result<(Address, Address)>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    Ok((
        evm.view(pool, &IUniswapV2Pair::token0Call {}, "UniswapV2Pair.token0")?,
        evm.view(pool, &IUniswapV2Pair::token1Call {}, "UniswapV2Pair.token1")?,
    ))
}

/// The published V2 output formula (`UniswapV2Library.getAmountOut`): `in·997·R_out /
/// (R_in·1000 + in·997)`, rounded down.
pub fn amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256) -> U256 {
    let with_fee = amount_in * U256::from(997u64);
    let denominator = reserve_in * U256::from(1000u64) + with_fee;
    if denominator.is_zero() {
        return U256::ZERO;
    }
    with_fee * reserve_out / denominator
}
