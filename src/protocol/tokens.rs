//! Real token bytecode (no public `mint`), fetched from npm at first use like the protocols'
//! artifacts (pinned version, sha512 integrity, git-ignored cache): the canonical WETH9, an
//! OpenZeppelin fixed-supply ERC-20, and the upgradeable OpenZeppelin ERC-20 behind an ERC-1967
//! proxy. A token of other decimals than 18 (a USDC's 6, a WBTC's 8) is OpenZeppelin's ERC20
//! compiled from the package's own source with a `decimals()` override (`contracts/tokens/`,
//! solc from npm). Devnet markets of every protocol (Aave V3, Aave V2, Compound-style) deploy
//! them with `[market] tokens = "real"` through [`deploy_real_market_token`]; funding then goes by
//! storage ([`fund_by_storage`], `evm::deal`).

use std::path::PathBuf;

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::artifacts::{fetch_npm_package, Artifact, NpmPackage};
use crate::protocol::solc::{compile_with_imports, Compiled};

/// The canonical WETH9 (solc 0.5.0 build of the mainnet contract).
pub const CANONICAL_WETH: NpmPackage = NpmPackage {
    name: "canonical-weth",
    version: "1.4.0",
    integrity: "sha512-9rkLfAFndWALLhxd5lpyTX4RkV36WmVBZ92NYtYr1kWdAUmclRp7I5KkK4wvogzDcCI++yw53TLwx/GCPcocMg==",
    env_override: "LIQSIM_CANONICAL_WETH",
    extra_artifact_dirs: &[],
};

/// OpenZeppelin Contracts 4.x: `ERC20PresetFixedSupply` (no mint) and `ERC1967Proxy`.
pub const OPENZEPPELIN_CONTRACTS: NpmPackage = NpmPackage {
    name: "@openzeppelin/contracts",
    version: "4.9.6",
    integrity: "sha512-xSmezSupL+y9VkHZJGDoCBpmnB2ogM13ccaYDWqJTfS3dbuHkgjuwDFUmaFauBCboQMGB/S5UqUl2y54X99BmA==",
    env_override: "LIQSIM_OPENZEPPELIN_CONTRACTS",
    extra_artifact_dirs: &[],
};

/// OpenZeppelin Contracts Upgradeable 4.x: `ERC20PresetFixedSupplyUpgradeable`.
pub const OPENZEPPELIN_UPGRADEABLE: NpmPackage = NpmPackage {
    name: "@openzeppelin/contracts-upgradeable",
    version: "4.9.6",
    integrity: "sha512-m4iHazOsOCv1DgM7eD7GupTJ+NFVujRZt1wzddDPSVGpWdKq1SKkla5htKG7+IS4d2XOCtzkUNwRZ7Vq5aEUMA==",
    env_override: "LIQSIM_OPENZEPPELIN_UPGRADEABLE",
    extra_artifact_dirs: &[],
};

/// Contracts liqsim reads from the token packages (`build/contracts/<name>.json`).
const WANTED: &[&str] = &[
    "WETH9",
    "ERC20PresetFixedSupply",
    "ERC1967Proxy",
    "ERC20PresetFixedSupplyUpgradeable",
];

sol! {
    /// The initializer of `ERC20PresetFixedSupplyUpgradeable`.
    interface IFixedSupplyUpgradeable {
        function initialize(string name, string symbol, uint256 initialSupply, address owner) external;
    }

    /// The initializer of liqsim's `FixedSupplyTokenUpgradeable` (`contracts/tokens/`).
    interface IFixedSupplyDecimalsUpgradeable {
        function initialize(string name, string symbol, uint8 decimals, uint256 supply, address owner) external;
    }
}

/// Which token bytecode a devnet market deploys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenBytecode {
    /// The protocol package's own mintable test tokens (funding by `mint`).
    #[default]
    Mintable,
    /// Real token bytecode with no public mint: WETH9 for the native asset's wrapped token, an
    /// OpenZeppelin fixed-supply ERC-20 and an OpenZeppelin upgradeable ERC-20 behind an
    /// ERC-1967 proxy (alternately) for the others; funding by storage.
    Real,
}

impl TokenBytecode {
    /// True for the default (serde skips it, so existing scenarios hash as before).
    pub fn is_mintable(&self) -> bool {
        matches!(self, TokenBytecode::Mintable)
    }
}

/// Which real token an asset becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealToken {
    /// The canonical WETH9 (18 decimals; supply by `deposit`).
    Weth9,
    /// OpenZeppelin `ERC20PresetFixedSupply` (18 decimals, no mint); of other decimals,
    /// OpenZeppelin's `ERC20` compiled with a `decimals()` override (`FixedSupplyToken`).
    FixedSupply,
    /// OpenZeppelin `ERC20PresetFixedSupplyUpgradeable` behind an `ERC1967Proxy`; of other
    /// decimals, OpenZeppelin's `ERC20Upgradeable` compiled with a `decimals()` override
    /// (`FixedSupplyTokenUpgradeable`) behind the same proxy.
    ProxiedFixedSupply,
}

impl RealToken {
    /// The real token listed asset `index` (symbol `symbol`) becomes: WETH9 for `WETH`, else
    /// alternately the fixed-supply ERC-20 and the proxied one.
    pub fn for_asset(index: usize, symbol: &str) -> Self {
        if symbol.eq_ignore_ascii_case("WETH") {
            RealToken::Weth9
        } else if index.is_multiple_of(2) {
            RealToken::ProxiedFixedSupply
        } else {
            RealToken::FixedSupply
        }
    }

    /// [`RealToken::for_asset`], and WETH9 for the market's native asset `native` too: the
    /// chain's wrapped gas token (WETH on Ethereum, WHT on HECO, WBNB on BNB Chain: WETH9's code).
    pub fn for_market_asset(index: usize, symbol: &str, native: &str) -> Self {
        if symbol.eq_ignore_ascii_case(native) {
            RealToken::Weth9
        } else {
            RealToken::for_asset(index, symbol)
        }
    }
}

/// WETH9's decimals (fixed in its code), and those of OpenZeppelin's published presets.
pub const REAL_TOKEN_DECIMALS: u8 = 18;

/// Checks that asset `index` (`symbol`, in a market whose native asset is `native`) can be
/// deployed as `tokens` with `decimals`: any with the mintable tokens and the OpenZeppelin
/// ERC-20s, [`REAL_TOKEN_DECIMALS`] for the one that becomes WETH9; the error names
/// `assets[index].decimals`.
pub fn check_decimals(
    tokens: TokenBytecode,
    index: usize,
    symbol: &str,
    native: &str,
    decimals: u8,
) -> Result<()> {
    if tokens == TokenBytecode::Real
        && RealToken::for_market_asset(index, symbol, native) == RealToken::Weth9
        && decimals != REAL_TOKEN_DECIMALS
    {
        return Err(Error::config(
            format!("assets[{index}].decimals"),
            decimals,
            format!(
                "{REAL_TOKEN_DECIMALS} for {symbol} with tokens = \"real\": it becomes WETH9, whose decimals are {REAL_TOKEN_DECIMALS}"
            ),
        ));
    }
    Ok(())
}

/// With [`TokenBytecode::Real`], deploys listed asset `index`'s real token (the one
/// [`RealToken::for_market_asset`] chooses, named `symbol`, of `decimals`, no supply: every
/// holder is funded by storage) from `from` and returns it; with [`TokenBytecode::Mintable`] deploys nothing and
/// returns `None`: the caller deploys its protocol package's own test token.
pub fn deploy_real_market_token<DB>(
    evm: &mut Evm<DB>,
    tokens: TokenBytecode,
    index: usize,
    symbol: &str,
    decimals: u8,
    native: &str,
    from: Address,
) -> Result<Option<Address>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    match tokens {
        TokenBytecode::Mintable => Ok(None),
        TokenBytecode::Real => deploy_real_token(
            evm,
            RealToken::for_market_asset(index, symbol, native),
            from,
            symbol,
            decimals,
            U256::ZERO,
            from,
        )
        .map(Some),
    }
}

/// Ether an account funded with tokens is given for its gas when it has none.
fn gas_money() -> U256 {
    U256::from(10u64).pow(U256::from(21u64))
}

/// Adds `amount` of `token` to `to`'s balance by writing the token's balance slot (`evm::deal`,
/// no `mint`: works on any token with a balance in storage), and gives `to` 1,000 ether for gas
/// when it has none. `totalSupply` is left as it is.
pub fn fund_by_storage<DB>(
    evm: &mut Evm<DB>,
    token: Address,
    to: Address,
    amount: U256,
) -> Result<()>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    if evm.account(to)?.balance.is_zero() {
        evm.set_balance(to, gas_money())?;
    }
    crate::evm::deal::deal_add(evm, token, to, amount)
}

/// A file whose presence means `package` is unpacked with everything liqsim reads from it: the
/// OpenZeppelin packages' ERC-20 source (compiled for tokens of other decimals than 18), else
/// the artifacts.
fn ready_marker(package: &NpmPackage) -> &'static str {
    if package.name == OPENZEPPELIN_CONTRACTS.name {
        "token/ERC20/ERC20.sol"
    } else if package.name == OPENZEPPELIN_UPGRADEABLE.name {
        "token/ERC20/ERC20Upgradeable.sol"
    } else {
        "build/contracts"
    }
}

fn package_dir(package: &NpmPackage) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(package.env_override) {
        return Ok(PathBuf::from(path));
    }
    fetch_npm_package(
        package,
        &|p: &str| {
            p == "package/package.json"
                || p.starts_with("package/LICENSE")
                || (p.ends_with(".sol") && !p.starts_with("package/mocks/"))
                || WANTED
                    .iter()
                    .any(|n| p == format!("package/build/contracts/{n}.json"))
        },
        ready_marker(package),
    )
}

/// liqsim's two ERC-20s of chosen decimals (`contracts/tokens/`), compiled once per process
/// (and cached on disk by input) from OpenZeppelin's own sources.
fn decimals_tokens() -> Result<&'static Compiled> {
    static COMPILED: std::sync::OnceLock<Compiled> = std::sync::OnceLock::new();
    if let Some(c) = COMPILED.get() {
        return Ok(c);
    }
    let compiled = compile_with_imports(
        &[
            (
                "contracts/tokens/FixedSupplyToken.sol",
                include_str!("../../contracts/tokens/FixedSupplyToken.sol"),
            ),
            (
                "contracts/tokens/FixedSupplyTokenUpgradeable.sol",
                include_str!("../../contracts/tokens/FixedSupplyTokenUpgradeable.sol"),
            ),
        ],
        &[
            (
                "@openzeppelin/contracts/",
                package_dir(&OPENZEPPELIN_CONTRACTS)?,
            ),
            (
                "@openzeppelin/contracts-upgradeable/",
                package_dir(&OPENZEPPELIN_UPGRADEABLE)?,
            ),
        ],
    )?;
    Ok(COMPILED.get_or_init(|| compiled))
}

/// Loads contract `name` from `package`'s `build/contracts/` (fetching the package on first use).
pub fn token_artifact(package: &NpmPackage, name: &str) -> Result<Artifact> {
    let path = package_dir(package)?
        .join("build")
        .join("contracts")
        .join(format!("{name}.json"));
    if !path.is_file() {
        return Err(Error::Artifacts(format!(
            "{} has no {name} artifact; expected {}@{} (or set {} to an unpacked copy)",
            path.display(),
            package.name,
            package.version,
            package.env_override
        )));
    }
    Artifact::from_file(&path)
}

/// Deploys the canonical WETH9 from `from`.
pub fn deploy_weth9<DB>(evm: &mut Evm<DB>, from: Address) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let code = token_artifact(&CANONICAL_WETH, "WETH9")?.unlinked_bytecode()?;
    evm.deploy(from, code, "WETH9")
}

/// Deploys OpenZeppelin's `ERC20PresetFixedSupply(name, symbol, supply, owner)` from `from`.
pub fn deploy_fixed_supply<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    name: &str,
    symbol: &str,
    supply: U256,
    owner: Address,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let artifact = token_artifact(&OPENZEPPELIN_CONTRACTS, "ERC20PresetFixedSupply")?;
    let mut code = artifact.unlinked_bytecode()?.to_vec();
    code.extend((name.to_string(), symbol.to_string(), supply, owner).abi_encode_params());
    evm.deploy(from, Bytes::from(code), "ERC20PresetFixedSupply")
}

/// Deploys OpenZeppelin's `ERC20PresetFixedSupplyUpgradeable` and an `ERC1967Proxy` to it,
/// initialised through the proxy with `(name, symbol, supply, owner)`; returns the proxy.
pub fn deploy_proxied_fixed_supply<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    name: &str,
    symbol: &str,
    supply: U256,
    owner: Address,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let implementation = token_artifact(
        &OPENZEPPELIN_UPGRADEABLE,
        "ERC20PresetFixedSupplyUpgradeable",
    )?
    .unlinked_bytecode()?;
    let implementation = evm.deploy(from, implementation, "ERC20PresetFixedSupplyUpgradeable")?;
    let init = IFixedSupplyUpgradeable::initializeCall {
        name: name.to_string(),
        symbol: symbol.to_string(),
        initialSupply: supply,
        owner,
    }
    .abi_encode();
    deploy_erc1967_proxy(evm, from, implementation, init)
}

/// Deploys an `ERC1967Proxy` (OpenZeppelin's published bytecode) to `implementation`, calling
/// `init` through it.
fn deploy_erc1967_proxy<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    implementation: Address,
    init: Vec<u8>,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut code = token_artifact(&OPENZEPPELIN_CONTRACTS, "ERC1967Proxy")?
        .unlinked_bytecode()?
        .to_vec();
    code.extend((implementation, Bytes::from(init)).abi_encode_params());
    evm.deploy(from, Bytes::from(code), "ERC1967Proxy")
}

/// Deploys `FixedSupplyToken(name, symbol, decimals, supply, owner)`: OpenZeppelin's `ERC20`
/// with a `decimals()` override, compiled from the package's source.
pub fn deploy_fixed_supply_decimals<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    symbol: &str,
    decimals: u8,
    supply: U256,
    owner: Address,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut code = decimals_tokens()?
        .contract("FixedSupplyToken")?
        .bytecode
        .to_vec();
    code.extend(
        (
            symbol.to_string(),
            symbol.to_string(),
            U256::from(decimals),
            supply,
            owner,
        )
            .abi_encode_params(),
    );
    evm.deploy(from, Bytes::from(code), "FixedSupplyToken")
}

/// Deploys `FixedSupplyTokenUpgradeable` (OpenZeppelin's `ERC20Upgradeable` with a
/// `decimals()` override, compiled from the package's source) and an `ERC1967Proxy` to it,
/// initialised through the proxy; returns the proxy.
pub fn deploy_proxied_fixed_supply_decimals<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    symbol: &str,
    decimals: u8,
    supply: U256,
    owner: Address,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let code = decimals_tokens()?
        .contract("FixedSupplyTokenUpgradeable")?
        .bytecode
        .clone();
    let implementation = evm.deploy(from, code, "FixedSupplyTokenUpgradeable")?;
    let init = IFixedSupplyDecimalsUpgradeable::initializeCall {
        name: symbol.to_string(),
        symbol: symbol.to_string(),
        decimals,
        supply,
        owner,
    }
    .abi_encode();
    deploy_erc1967_proxy(evm, from, implementation, init)
}

/// Deploys `kind` named `symbol` with `decimals`, its whole supply (`supply`, ignored by WETH9,
/// whose supply is its ether) held by `owner`: OpenZeppelin's published presets at 18 decimals,
/// its ERC-20 source compiled with a `decimals()` override otherwise. WETH9 of other decimals
/// than 18 is an error naming the symbol.
pub fn deploy_real_token<DB>(
    evm: &mut Evm<DB>,
    kind: RealToken,
    from: Address,
    symbol: &str,
    decimals: u8,
    supply: U256,
    owner: Address,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let standard = decimals == REAL_TOKEN_DECIMALS;
    match kind {
        RealToken::Weth9 if standard => deploy_weth9(evm, from),
        RealToken::Weth9 => Err(Error::config(
            format!("{symbol}.decimals"),
            decimals,
            format!("{REAL_TOKEN_DECIMALS}: {symbol} is WETH9, whose decimals are {REAL_TOKEN_DECIMALS}"),
        )),
        RealToken::FixedSupply if standard => {
            deploy_fixed_supply(evm, from, symbol, symbol, supply, owner)
        }
        RealToken::FixedSupply => {
            deploy_fixed_supply_decimals(evm, from, symbol, decimals, supply, owner)
        }
        RealToken::ProxiedFixedSupply if standard => {
            deploy_proxied_fixed_supply(evm, from, symbol, symbol, supply, owner)
        }
        RealToken::ProxiedFixedSupply => {
            deploy_proxied_fixed_supply_decimals(evm, from, symbol, decimals, supply, owner)
        }
    }
}
