//! liqsim's liquidator contract (`contracts/liquidator/Liquidator.sol`, compiled at first use by
//! `protocol::solc`): one transaction per decision, funding it from its own balance (own funds,
//! or a backstop pool's) or an Aave flash loan, sending the protocol's own liquidation call
//! (Aave's `liquidationCall`, a Compound-style vToken's `liquidateBorrow`), redeeming the seized
//! vTokens for the underlying where the protocol pays shares, selling the seized collateral
//! through a real DEX router for a minimum output, repaying the loan with its premium.

use std::sync::OnceLock;

use alloy_primitives::aliases::U24;
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{sol, SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::dex::{RealDex, Route};
use crate::protocol::market::Call;
use crate::protocol::solc::{compile_sources, Compiled};
use crate::protocol::AnyMarket;

/// The contract's source: (path, text).
pub const SOURCES: [(&str, &str); 1] = [(
    "liquidator/Liquidator.sol",
    include_str!("../../contracts/liquidator/Liquidator.sol"),
)];

sol! {
    #![sol(all_derives)]
    /// `Liquidator` (contracts/liquidator).
    interface ILiquidator {
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
        event Executed(uint256 debtRepaid, uint256 collateralSeized, uint256 amountOut, uint256 flashAmount, uint256 premium, uint256 liquidationGas, uint256 sharesRedeemed);
        function execute(Job job) external;
    }
}

/// The compiled contract (once per process; the compiler's output is cached on disk).
pub fn compiled() -> Result<&'static Compiled> {
    static COMPILED: OnceLock<std::result::Result<Compiled, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| compile_sources(&SOURCES).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Compile {
            what: "contracts/liquidator/Liquidator.sol".into(),
            message: e.clone(),
        })
}

/// The account that deploys a what-if's liquidator contract.
pub fn liquidator_deployer() -> Address {
    crate::evm::keys::actor("liqsim liquidator contract deployer")
}

/// Deploys a `Liquidator` owned by `owner` (only it may call `execute`).
pub fn deploy<DB>(evm: &mut Evm<DB>, owner: Address) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let from = liquidator_deployer();
    if evm.account(from)?.balance.is_zero() {
        evm.set_balance(from, U256::from(10u64).pow(U256::from(21u64)))?;
    }
    let compiled = compiled()?;
    let mut code = compiled.contract("Liquidator")?.bytecode.to_vec();
    code.extend_from_slice(&alloy_sol_types::SolValue::abi_encode(&owner));
    evm.deploy(from, Bytes::from(code), "Liquidator")
}

/// How a market's liquidations can be flash-funded through the contract: `(kind, pool)` with the
/// liquidation call `liq` (Aave V3 `flashLoanSimple`: 1, Aave V2 `flashLoan`: 2, both at the pool
/// the liquidation goes to); `None` on markets without flash loans.
pub fn flash_source(market: &AnyMarket, liq: &Call) -> Option<(u8, Address)> {
    match market {
        AnyMarket::AaveV3(_) => Some((1, liq.to)),
        AnyMarket::AaveV2(_) => Some((2, liq.to)),
        _ => None,
    }
}

/// Whether the contract can run `market`'s liquidations: Aave V3 and V2 (the seized collateral
/// arrives as the underlying token) and Compound-style markets (it arrives as vTokens, which
/// the contract redeems: [`seized_shares`]).
pub fn supports(market: &AnyMarket) -> bool {
    matches!(
        market,
        AnyMarket::AaveV3(_) | AnyMarket::AaveV2(_) | AnyMarket::Compound(_)
    )
}

/// The share token a liquidation of collateral `c` pays and the contract redeems for the
/// underlying: the collateral's vToken on Compound-style markets; `Address::ZERO` (none) on Aave,
/// whose liquidations pay the underlying itself.
pub fn seized_shares(market: &AnyMarket, c: usize) -> Result<Address> {
    match market {
        AnyMarket::Compound(m) => Ok(m.market(c)?.vtoken),
        _ => Ok(Address::ZERO),
    }
}

/// The sale part of a job: through `dex` for at least `min_out`, or none.
pub fn sale(dex: Option<&RealDex>, min_out: U256) -> ILiquidator::Sale {
    match dex {
        None => ILiquidator::Sale {
            kind: 0,
            router: Address::ZERO,
            fee: U24::ZERO,
            minOut: U256::ZERO,
        },
        Some(dex) => {
            let (kind, fee) = match dex.route() {
                Route::UniswapV2 => (1, 0),
                Route::UniswapV3 { fee } => (2, fee),
            };
            ILiquidator::Sale {
                kind,
                router: dex.contracts().router,
                fee: U24::from(fee),
                minOut: min_out,
            }
        }
    }
}

/// `execute(job)` calldata.
pub fn execute_call(job: ILiquidator::Job) -> Bytes {
    ILiquidator::executeCall { job }.abi_encode().into()
}

/// The contract's `Executed` event among `logs`.
pub fn executed(
    contract: Address,
    logs: &[revm::primitives::Log],
) -> Option<ILiquidator::Executed> {
    logs.iter()
        .filter(|l| l.address == contract)
        .find_map(|l| ILiquidator::Executed::decode_log_data(&l.data).ok())
}
