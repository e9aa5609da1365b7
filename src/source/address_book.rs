//! Real deployments by name: an Aave market of BGD's `@aave-dao/aave-address-book` (npm, pinned,
//! sha512-checked, fetched at first use) resolved to its chain id, Pool and PoolAddressesProvider,
//! so no deployment address lives in liqsim's code or has to be copied into a scenario.
//!
//! The package publishes every market twice: as JavaScript constants (`dist/<Market>.js`,
//! `var POOL = "0x…";`) and as Solidity libraries (`src/<Market>.sol`, `IPool internal constant
//! POOL = IPool(0x…);`). liqsim reads the JavaScript; the tests read both and require them to agree.

use std::path::{Path, PathBuf};

use alloy_primitives::Address;

use crate::error::{Error, Result};
use crate::protocol::artifacts::{fetch_npm_package, NpmPackage};

/// The address book, at the version liqsim was checked against.
pub const AAVE_ADDRESS_BOOK: NpmPackage = NpmPackage {
    name: "@aave-dao/aave-address-book",
    version: "4.68.1",
    integrity: "sha512-Tw1j/0OGN90m6cpaiNwpizxkBq4XzVgJqhz/fWdq9wF7yc2MAghVrsRWrCICBUiG+P7GKYd84mwULH0XVW3QTA==",
    env_override: "LIQSIM_AAVE_ADDRESS_BOOK",
    extra_artifact_dirs: &[],
};

/// Which Aave generation a market of the book is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookVersion {
    /// Aave V2 (a `LendingPool`).
    V2,
    /// Aave V3 (a `Pool`).
    V3,
}

/// One market of the address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookMarket {
    /// Its name in the book, e.g. `AaveV3Ethereum`.
    pub name: String,
    /// Aave V2 or V3.
    pub version: BookVersion,
    /// Chain id the book gives.
    pub chain_id: u64,
    /// The Pool (V3 `POOL`, V2 `POOL` of the `LendingPool`).
    pub pool: Address,
    /// The PoolAddressesProvider (V2: the LendingPoolAddressesProvider).
    pub provider: Address,
    /// The oracle the book lists (`ORACLE`), if any.
    pub oracle: Option<Address>,
}

/// The unpacked address book: `LIQSIM_AAVE_ADDRESS_BOOK` if set (a folder holding `dist/`), else
/// fetched with npm into the cache at first use.
pub fn address_book_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(AAVE_ADDRESS_BOOK.env_override) {
        return Ok(PathBuf::from(dir));
    }
    fetch_npm_package(
        &AAVE_ADDRESS_BOOK,
        &|p| {
            p == "package/package.json"
                || (p.starts_with("package/dist/Aave") && p.ends_with(".js"))
                || (p.starts_with("package/src/Aave") && p.ends_with(".sol"))
        },
        "package.json",
    )
}

/// Resolves market `name` (e.g. `AaveV3Ethereum`) from the address book in `dir`.
pub fn resolve_in(dir: &Path, name: &str) -> Result<BookMarket> {
    let field = "source.market";
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::config(
            field,
            name,
            "a market name of the Aave address book, letters and digits only (e.g. AaveV3Ethereum)",
        ));
    }
    let path = dir.join("dist").join(format!("{name}.js"));
    if !path.is_file() {
        return Err(Error::config(
            field,
            name,
            format!(
                "a market of {}@{}: {}",
                AAVE_ADDRESS_BOOK.name,
                AAVE_ADDRESS_BOOK.version,
                suggest(&market_names(dir)?, name)
            ),
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    parse_market(name, &text).map_err(|message| Error::InvalidFile {
        path: path.clone(),
        message,
    })
}

/// Resolves market `name` from the address book (fetched at first use).
pub fn resolve(name: &str) -> Result<BookMarket> {
    resolve_in(&address_book_dir()?, name)
}

/// Resolves `name` to an Aave V3 market (what `liqsim record` discovers over RPC), checking the
/// chain id the scenario or command line gives, if any, against the book's.
pub fn resolve_aave_v3(name: &str, chain_id: Option<u64>) -> Result<BookMarket> {
    let market = resolve(name)?;
    check_aave_v3(&market, chain_id)?;
    Ok(market)
}

/// Refuses a V2 market (liqsim records Aave V3 over RPC) and a chain id that disagrees with the
/// book's.
fn check_aave_v3(market: &BookMarket, chain_id: Option<u64>) -> Result<()> {
    if market.version != BookVersion::V3 {
        return Err(Error::config(
            "source.market",
            &market.name,
            "an Aave V3 market of the address book (liqsim records Aave V3 Pools over RPC; this one is an Aave V2 LendingPool)",
        ));
    }
    match chain_id {
        Some(id) if id != market.chain_id => Err(Error::config(
            "source.chain_id",
            id,
            format!(
                "the chain of {} in the Aave address book ({}); drop chain_id or fix it",
                market.name, market.chain_id
            ),
        )),
        _ => Ok(()),
    }
}

/// Names of the Aave V2 and V3 markets in the book in `dir` (files `dist/AaveV2*.js` and
/// `dist/AaveV3*.js` that define a Pool), sorted.
pub fn market_names(dir: &Path) -> Result<Vec<String>> {
    let dist = dir.join("dist");
    let entries = std::fs::read_dir(&dist).map_err(|e| Error::io("listing", &dist, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io("listing", &dist, e))?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".js"))
        else {
            continue;
        };
        if !(stem.starts_with("AaveV2") || stem.starts_with("AaveV3")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        if js_constant(&text, "POOL").is_some() {
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The markets closest to `name` (same prefix, then same chain suffix), for an error message.
fn suggest(names: &[String], name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let close: Vec<&str> = names
        .iter()
        .filter(|n| {
            let n = n.to_ascii_lowercase();
            n.contains(&lower) || lower.contains(&n) || n.ends_with(&lower[lower.len().min(6)..])
        })
        .map(String::as_str)
        .take(8)
        .collect();
    let v3: Vec<&str> = names
        .iter()
        .filter(|n| n.starts_with("AaveV3"))
        .map(String::as_str)
        .collect();
    if close.is_empty() {
        format!("its V3 markets are {}", v3.join(", "))
    } else {
        format!("did you mean {}?", close.join(", "))
    }
}

/// Reads a market from the text of `dist/<name>.js`.
fn parse_market(name: &str, text: &str) -> std::result::Result<BookMarket, String> {
    let address = |constant: &str| -> std::result::Result<Option<Address>, String> {
        match js_constant(text, constant) {
            None => Ok(None),
            Some(value) => value
                .trim_matches('"')
                .parse::<Address>()
                .map(Some)
                .map_err(|e| format!("constant {constant} = {value} of {name}: {e}")),
        }
    };
    let missing = |constant: &str| format!("{name} defines no {constant}: not a lending market");
    let pool = address("POOL")?.ok_or_else(|| missing("POOL"))?;
    let provider =
        address("POOL_ADDRESSES_PROVIDER")?.ok_or_else(|| missing("POOL_ADDRESSES_PROVIDER"))?;
    let chain_id = js_integer(js_constant(text, "CHAIN_ID").ok_or_else(|| missing("CHAIN_ID"))?)
        .map_err(|e| format!("constant CHAIN_ID of {name}: {e}"))?;
    let version = if name.starts_with("AaveV3") {
        BookVersion::V3
    } else if name.starts_with("AaveV2") {
        BookVersion::V2
    } else {
        return Err(format!(
            "{name} is neither an Aave V2 nor an Aave V3 market"
        ));
    };
    Ok(BookMarket {
        name: name.to_string(),
        version,
        chain_id,
        pool,
        provider,
        oracle: address("ORACLE")?,
    })
}

/// The value of `var NAME = value;` in a bundled JavaScript module (the first definition).
fn js_constant<'a>(text: &'a str, constant: &str) -> Option<&'a str> {
    let prefix = format!("var {constant} = ");
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(prefix.as_str())?;
        let value = value.strip_suffix(';').unwrap_or(value).trim();
        // `var POOL = POOL;` re-exports; only literal values count.
        let number = value.starts_with(|c: char| c.is_ascii_digit())
            && value.chars().all(|c| c.is_ascii_digit() || c == 'e');
        (value.starts_with('"') || number).then_some(value)
    })
}

/// A JavaScript integer literal as the bundler writes it: `1`, `8453`, or `16666e5`
/// (1,666,600,000, Harmony's chain id).
fn js_integer(literal: &str) -> std::result::Result<u64, String> {
    let (mantissa, exponent) = literal.split_once('e').unwrap_or((literal, "0"));
    let mantissa: u64 = mantissa.parse().map_err(|e| format!("`{literal}`: {e}"))?;
    let exponent: u32 = exponent.parse().map_err(|e| format!("`{literal}`: {e}"))?;
    10u64
        .checked_pow(exponent)
        .and_then(|p| mantissa.checked_mul(p))
        .ok_or_else(|| format!("`{literal}` does not fit a chain id"))
}

/// The address of `NAME` in the Solidity library `src/<market>.sol` (`… constant NAME = T(0x…);`
/// or `address internal constant NAME = 0x…;`): the book's second listing, which the tests hold
/// against the JavaScript one.
pub fn solidity_constant(text: &str, constant: &str) -> Option<Address> {
    // Statements, not lines: long declarations wrap after the `=`.
    text.split(';').find_map(|statement| {
        let (head, value) = statement.split_once('=')?;
        if head.split_whitespace().last()? != constant || !head.contains("constant") {
            return None;
        }
        let start = value.find("0x")?;
        let hex: String = value[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        hex.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "'use strict';\nvar POOL_ADDRESSES_PROVIDER = \"0x2f39d218133AFaB8F2B819B1066c7E434Ad94E9e\";\nvar POOL = \"0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2\";\nvar CHAIN_ID = 1;\nvar POOL = POOL;\n";

    #[test]
    fn reads_literal_constants_and_skips_reexports() {
        let m = parse_market("AaveV3Ethereum", SAMPLE).unwrap();
        assert_eq!(m.chain_id, 1);
        assert_eq!(m.version, BookVersion::V3);
        assert_eq!(
            m.pool,
            "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"
                .parse::<Address>()
                .unwrap()
        );
        assert_eq!(m.oracle, None);
    }

    #[test]
    fn bundled_integer_literals_are_read() {
        assert_eq!(js_integer("8453"), Ok(8453));
        assert_eq!(js_integer("16666e5"), Ok(1_666_600_000));
        assert!(js_integer("1e30").is_err());
        assert!(js_integer("0x1").is_err());
    }

    #[test]
    fn a_module_without_a_pool_is_not_a_market() {
        let err = parse_market("AaveV3Ethereum", "var CHAIN_ID = 1;\n").unwrap_err();
        assert!(err.contains("no POOL"), "{err}");
    }

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        let err = resolve_in(Path::new("/nonexistent"), "../etc").unwrap_err();
        assert!(err.to_string().contains("source.market"), "{err}");
    }

    #[test]
    fn v2_markets_and_other_chains_are_refused_for_recording() {
        let mut m = parse_market("AaveV3Ethereum", SAMPLE).unwrap();
        assert!(check_aave_v3(&m, Some(1)).is_ok());
        let err = check_aave_v3(&m, Some(8453)).unwrap_err().to_string();
        assert!(err.contains("8453") && err.contains("(1)"), "{err}");
        m.version = BookVersion::V2;
        let err = check_aave_v3(&m, None).unwrap_err().to_string();
        assert!(err.contains("Aave V2"), "{err}");
    }

    #[test]
    fn solidity_constants_are_read() {
        let sol = "  IPool internal constant POOL = IPool(0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2);\n  address internal constant POOL_IMPL = 0x728a138A4823392C2EFA55e028d434F526fE03CF;";
        assert_eq!(
            solidity_constant(sol, "POOL"),
            "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2".parse().ok()
        );
        assert_eq!(solidity_constant(sol, "ORACLE"), None);
    }
}
