//! Deploys a Venus isolated pool (Comptroller, vTokens and their dependencies) from the published
//! `@venusprotocol/isolated-pools` artifacts, in the order the protocol requires.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::{
    IAccessControlManager, IComptroller, IMockPriceOracle, IVToken, RiskManagementInit,
};
use super::config::{bps_mantissa, MarketConfig};
use super::{CompoundMarket, VMarket};
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::tokens::deploy_real_market_token;

/// Blocks per year the interest-rate model and vTokens count in (BNB Chain's 3-second blocks).
pub const BLOCKS_PER_YEAR: u64 = 10_512_000;

/// Creation code of a contract whose runtime is a single `STOP`: it accepts any call (with empty
/// return data) and holds tokens. It stands in for the protocol share reserve, whose
/// `updateAssetsState` hook `VToken._seize` calls; the seized protocol share arrives there as
/// underlying, so its token balance is what the protocol kept.
const SINK_INITCODE: [u8; 10] = [0x60, 0x00, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3];

/// Functions the AccessControlManager must let the admin call.
const ADMIN_FUNCTIONS: [&str; 8] = [
    "setCloseFactor(uint256)",
    "setLiquidationIncentive(uint256)",
    "setMinLiquidatableCollateral(uint256)",
    "setCollateralFactor(address,uint256,uint256)",
    "setMarketSupplyCaps(address[],uint256[])",
    "setMarketBorrowCaps(address[],uint256[])",
    "setProtocolSeizeShare(uint256)",
    "setReserveFactor(uint256)",
];

pub(super) fn deploy<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    from: Address,
    name: &str,
    args: Vec<u8>,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut code = artifacts.artifact(name)?.unlinked_bytecode()?.to_vec();
    code.extend_from_slice(&args);
    evm.deploy(from, code.into(), name)
}

/// Deploys `implementation` behind the package's `UpgradeableBeacon` and a `BeaconProxy` that
/// runs `init` (the implementations' constructors call `_disableInitializers()`).
fn beacon_proxy<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    from: Address,
    beacon: Address,
    init: Bytes,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    deploy(
        evm,
        artifacts,
        from,
        "BeaconProxy",
        (beacon, init).abi_encode_params(),
    )
}

/// Deploys the pool described by `config` into `evm` and returns its addresses.
///
/// The admin account also plays the PoolRegistry (the only caller `supportMarket` accepts), so
/// markets are listed without deploying the registry.
pub fn deploy_market<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    config: &MarketConfig,
) -> Result<CompoundMarket>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    config.validate()?;
    let admin = actor("venus-admin");
    evm.set_balance(admin, U256::from(10u64).pow(U256::from(24u64)))?;

    let acm = deploy(evm, artifacts, admin, "AccessControlManager", Vec::new())?;
    for sig in ADMIN_FUNCTIONS {
        let call = IAccessControlManager::giveCallPermissionCall {
            contractAddress: Address::ZERO,
            functionSig: sig.to_string(),
            accountToPermit: admin,
        };
        evm.send_call(admin, acm, &call, "AccessControlManager.giveCallPermission")?;
    }
    let oracle = deploy(evm, artifacts, admin, "MockPriceOracle", Vec::new())?;
    let protocol_share_reserve = evm.deploy(admin, Bytes::from(SINK_INITCODE.to_vec()), "sink")?;
    let shortfall = actor("venus-shortfall");

    // Comptroller behind its beacon. The published Comptroller is 24,929 bytes, 353 above
    // EIP-170, so its deployment alone runs with a raised code-size limit.
    evm.set_code_size_limit(Some(2 * 24_576));
    let comptroller_impl = deploy(evm, artifacts, admin, "Comptroller", admin.abi_encode());
    evm.set_code_size_limit(None);
    let comptroller_impl = comptroller_impl?;
    let comptroller_beacon = deploy(
        evm,
        artifacts,
        admin,
        "UpgradeableBeacon",
        comptroller_impl.abi_encode(),
    )?;
    let init = IComptroller::initializeCall {
        loopLimit: U256::from(100u64),
        accessControlManager: acm,
    };
    let comptroller = beacon_proxy(
        evm,
        artifacts,
        admin,
        comptroller_beacon,
        init.abi_encode().into(),
    )?;
    evm.send_call(
        admin,
        comptroller,
        &IComptroller::setPriceOracleCall { newOracle: oracle },
        "Comptroller.setPriceOracle",
    )?;
    evm.send_call(
        admin,
        comptroller,
        &IComptroller::setCloseFactorCall {
            newCloseFactorMantissa: bps_mantissa(config.close_factor_bps),
        },
        "Comptroller.setCloseFactor",
    )?;
    evm.send_call(
        admin,
        comptroller,
        &IComptroller::setLiquidationIncentiveCall {
            newLiquidationIncentiveMantissa: bps_mantissa(config.liquidation_incentive_bps),
        },
        "Comptroller.setLiquidationIncentive",
    )?;
    evm.send_call(
        admin,
        comptroller,
        &IComptroller::setMinLiquidatableCollateralCall {
            newMinLiquidatableCollateral: config.min_liquidatable_collateral()?,
        },
        "Comptroller.setMinLiquidatableCollateral",
    )?;

    // One interest-rate model, one vToken implementation and beacon for every market.
    let rate_model = deploy(
        evm,
        artifacts,
        admin,
        "WhitePaperInterestRateModel",
        (
            U256::from(20_000_000_000_000_000u64), // 2 % a year at 0 utilisation
            U256::from(200_000_000_000_000_000u64), // +20 % a year at full utilisation
            false,
            U256::from(BLOCKS_PER_YEAR),
        )
            .abi_encode_params(),
    )?;
    let vtoken_impl = deploy(
        evm,
        artifacts,
        admin,
        "VToken",
        (
            false,
            U256::from(BLOCKS_PER_YEAR),
            U256::from(500_000_000_000_000u64),
        )
            .abi_encode_params(),
    )?;
    let vtoken_beacon = deploy(
        evm,
        artifacts,
        admin,
        "UpgradeableBeacon",
        vtoken_impl.abi_encode(),
    )?;

    let mut markets = Vec::new();
    let native = config.native_symbol();
    for (i, asset) in config.assets.iter().enumerate() {
        let real = deploy_real_market_token(
            evm,
            config.tokens,
            i,
            &asset.symbol,
            asset.decimals,
            &native,
            admin,
        )?;
        let underlying = match real {
            Some(token) => token,
            None => deploy(
                evm,
                artifacts,
                admin,
                "MockToken",
                (
                    asset.symbol.clone(),
                    asset.symbol.clone(),
                    U256::from(asset.decimals),
                )
                    .abi_encode_params(),
            )?,
        };
        let init = IVToken::initializeCall {
            underlying_: underlying,
            comptroller_: comptroller,
            interestRateModel_: rate_model,
            initialExchangeRateMantissa_: config.initial_exchange_rate(i)?,
            name_: format!("Venus {}", asset.symbol),
            symbol_: format!("v{}", asset.symbol),
            decimals_: 8,
            admin_: admin,
            accessControlManager_: acm,
            riskManagement: RiskManagementInit {
                shortfall,
                protocolShareReserve: protocol_share_reserve,
            },
            reserveFactorMantissa_: bps_mantissa(asset.reserve_factor_bps),
        };
        let vtoken = beacon_proxy(
            evm,
            artifacts,
            admin,
            vtoken_beacon,
            init.abi_encode().into(),
        )?;
        evm.send_call(
            admin,
            comptroller,
            &IComptroller::supportMarketCall { vToken: vtoken },
            "Comptroller.supportMarket",
        )?;
        evm.send_call(
            admin,
            oracle,
            &IMockPriceOracle::setPriceCall {
                asset: underlying,
                price: config.price(i)?,
            },
            "MockPriceOracle.setPrice",
        )?;
        evm.send_call(
            admin,
            comptroller,
            &IComptroller::setCollateralFactorCall {
                vToken: vtoken,
                newCollateralFactorMantissa: bps_mantissa(asset.collateral_factor_bps),
                newLiquidationThresholdMantissa: bps_mantissa(asset.liquidation_threshold_bps),
            },
            "Comptroller.setCollateralFactor",
        )?;
        evm.send_call(
            admin,
            comptroller,
            &IComptroller::setMarketSupplyCapsCall {
                vTokens: vec![vtoken],
                newSupplyCaps: vec![U256::MAX],
            },
            "Comptroller.setMarketSupplyCaps",
        )?;
        evm.send_call(
            admin,
            comptroller,
            &IComptroller::setMarketBorrowCapsCall {
                vTokens: vec![vtoken],
                newBorrowCaps: vec![U256::MAX],
            },
            "Comptroller.setMarketBorrowCaps",
        )?;
        evm.send_call(
            admin,
            vtoken,
            &IVToken::setProtocolSeizeShareCall {
                newProtocolSeizeShareMantissa_: bps_mantissa(asset.protocol_seize_share_bps),
            },
            "VToken.setProtocolSeizeShare",
        )?;
        markets.push(VMarket {
            symbol: asset.symbol.clone(),
            decimals: asset.decimals,
            underlying,
            vtoken,
        });
    }
    let mut market = CompoundMarket {
        native_asset: native,
        tokens: config.tokens,
        comptroller,
        oracle,
        access_control_manager: acm,
        protocol_share_reserve,
        admin,
        markets,
        oracle_mechanism: config.oracle,
        venus_oracles: None,
    };
    // Any mechanism but `settable`: the pool is listed with the mock's prices (the comptroller
    // reads a price when a collateral factor is set), then Venus' oracles take over.
    if let Some((resilient, stack)) = super::oracle::install(evm, artifacts, config, &market)? {
        market.oracle = resilient;
        market.venus_oracles = Some(stack);
    }
    Ok(market)
}
