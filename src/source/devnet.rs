//! Devnet window builder: drives a real market (Aave V3, Aave V2 or Compound-style, through the
//! protocol abstraction) through a scenario (deployment, borrower
//! book, oracle price path, base-fee path, user activity, historical competitor liquidators and,
//! with a real `[dex]`, pools on the chain with their arbitrageur: `source::pools`) and records
//! the window as real signed EIP-1559 transactions with their receipts.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{keccak256, Address, U256};
use alloy_signer_local::PrivateKeySigner;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revm::context::BlockEnv;
use revm::database::EmptyDB;

use crate::data::records::{
    BlockRecord, LogRecord, Manifest, ProtocolInfo, Provenance, ReceiptRecord, TransactionRecord,
    Window, FORMAT_VERSION,
};
use crate::error::{Error, Result};
use crate::evm::executor::{Evm, TxOutcome};
use crate::evm::keys::{actor, actor_signer};
use crate::evm::replayed::ReplayedTx;
use crate::evm::state::{block_env, snapshot};
use crate::evm::tx::{sign_call_with_value, CallRequest, SignedTx};
use crate::math::fixed::WAD;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::devnet::{DevnetMarket, DevnetState};
use crate::protocol::market::{best_liquidation, BookUpdates, Call, LiquidationRequest};
use crate::protocol::window::WindowDetails;
use crate::protocol::{AnyBook, AnyMarket, LendingMarket, MarketState, PositionBook};
use crate::scenario::LoadedScenario;

/// Gas limit of an oracle update.
const ORACLE_GAS: u64 = 120_000;
/// Gas limit of a user transaction (supply, borrow, repay).
const USER_GAS: u64 = 600_000;
/// Gas limit of a competitor's liquidation.
const LIQUIDATION_GAS: u64 = 1_200_000;
/// Gas a competitor expects a liquidation to use when estimating profit.
const LIQUIDATION_GAS_ESTIMATE: u64 = 450_000;
/// Priority fee of oracle updates and users, wei.
const DEFAULT_PRIORITY_FEE: u128 = 1_000_000_000;

/// A built window and the market it runs on.
pub struct BuiltWindow {
    /// The recorded window.
    pub window: Window,
    /// The market (addresses and config).
    pub market: AnyMarket,
    /// Historical competitor liquidations that succeeded.
    pub competitor_liquidations: u64,
}

struct Intent {
    signer: String,
    request: CallRequest,
    oracle: bool,
    /// Wei sent with it (background ether transfers; 0 otherwise).
    value: U256,
    /// The arbitrage of this chain pool (`source::pools`): its call is made as it executes.
    arbitrage: Option<usize>,
}

fn usd(text: &crate::units::DecimalText) -> Result<U256> {
    text.to_units(8)
        .map_err(|e| Error::config("usd", &text.0, e))
}

/// A USD amount (8 decimals) of scenario field `field` as a float for sampling; an amount past
/// 128 bits is an error naming the field.
fn usd_f64(value: U256, field: &str) -> Result<f64> {
    u128::try_from(value)
        .map(|v| v as f64)
        .map_err(|_| Error::config(field, value, "at most 3.4e30 USD"))
}

fn amount_for_base(value_base: U256, price: U256, decimals: u8) -> U256 {
    value_base * U256::from(10u64).pow(U256::from(decimals)) / price
}

/// A borrower opened at set-up: its actor name, address, collateral assets and debt asset.
struct Borrower {
    name: String,
    user: Address,
    legs: Vec<usize>,
    debt: usize,
}

/// A market set up for a window: deployed, liquid, its borrowers opened and its competitors
/// funded.
struct SetUp {
    evm: Evm<EmptyDB>,
    market: AnyMarket,
    prices: Vec<U256>,
    decimals: Vec<u8>,
    borrowers: Vec<Borrower>,
    /// Pools on the chain (`[dex]` real), their arbitrageur and the competitors' contracts.
    pools: Option<crate::source::pools::ChainPools>,
}

/// The records of a window being built.
#[derive(Default)]
struct Records {
    blocks: Vec<BlockRecord>,
    transactions: Vec<TransactionRecord>,
    receipts: Vec<ReceiptRecord>,
    logs: Vec<LogRecord>,
}

/// Builds the window a scenario describes, on the protocol its `[market]` names; `artifacts` is
/// the store of that protocol's package. `progress` (if given) advances once per block.
pub fn build_window(
    loaded: &LoadedScenario,
    artifacts: &ArtifactStore,
    progress: Option<&ProgressBar>,
) -> Result<BuiltWindow> {
    let s = &loaded.scenario;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut setup = set_up(loaded, artifacts, &mut rng)?;
    let traffic =
        crate::source::traffic::Traffic::set_up(&s.traffic, &mut setup.evm, &setup.market, s.seed)?;
    // Pre-state: everything the window starts from.
    let (accounts, code, storage) = snapshot(setup.evm.db());
    let users_at_start: Vec<Address> = setup.borrowers.iter().map(|b| b.user).collect();
    let book = setup.market.book(&mut setup.evm, &users_at_start)?;
    let mut run = WindowRun::new(loaded, setup, book, rng)?;
    run.traffic = traffic;
    for offset in 0..s.window.blocks {
        run.block(offset).map_err(|e| {
            Error::config(
                "window",
                format!("block {}", s.window.first_block.saturating_add(offset)),
                format!("a block the devnet can build from the scenario's [market], [borrowers], [activity], [[competitors]] and prices; it failed: {e}"),
            )
        })?;
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    let manifest = manifest(loaded, &run.market, users_at_start, run.pools.as_ref())?;
    let records = run.records;
    tracing::info!(
        blocks = records.blocks.len(),
        transactions = records.transactions.len(),
        competitor_liquidations = run.competitor_liquidations,
        failed = records.receipts.iter().filter(|r| !r.success).count(),
        "window built"
    );
    Ok(BuiltWindow {
        window: Window {
            manifest,
            accounts,
            code,
            storage,
            blocks: records.blocks,
            transactions: records.transactions,
            receipts: records.receipts,
            logs: records.logs,
        },
        market: run.market,
        competitor_liquidations: run.competitor_liquidations,
    })
}

/// Deploys the market, supplies deep liquidity to every reserve, opens the borrower book and
/// funds the competitors.
fn set_up(
    loaded: &LoadedScenario,
    artifacts: &ArtifactStore,
    rng: &mut ChaCha8Rng,
) -> Result<SetUp> {
    let s = &loaded.scenario;
    let w = &s.window;
    let mut evm = Evm::new(EmptyDB::default(), s.market.chain_id());
    evm.set_block(BlockEnv {
        number: U256::from(w.first_block - 1),
        timestamp: U256::from(w.start_timestamp - w.block_time_seconds),
        gas_limit: 60_000_000,
        basefee: 0,
        ..BlockEnv::default()
    });
    let market = s.market.deploy(&mut evm, artifacts).map_err(|e| {
        Error::config(
            "market",
            s.market.kind().as_str(),
            format!("a market the protocol's bytecode accepts; deploying it failed: {e}"),
        )
    })?;
    let decimals = market.decimals();
    let prices: Vec<U256> = (0..decimals.len())
        .map(|i| s.market.usd_price(i))
        .collect::<Result<_>>()?;

    // Deep liquidity in every reserve.
    let whale = actor("whale-supplier");
    for (i, price) in prices.iter().enumerate() {
        let amount = amount_for_base(
            U256::from(2_000_000_000u64) * U256::from(100_000_000u64),
            *price,
            decimals[i],
        );
        market
            .fund(&mut evm, i, whale, amount)
            .and_then(|()| DevnetState::supply(&market, &mut evm, whale, i, amount))
            .map_err(|e| {
                Error::config(
                    format!("market.assets[{i}]"),
                    s.market.symbols().get(i).cloned().unwrap_or_default(),
                    format!("an asset whose decimals and price_usd allow the devnet's $2e9 of liquidity; supplying it failed: {e}"),
                )
            })?;
    }
    let mut setup = SetUp {
        evm,
        market,
        prices,
        decimals,
        borrowers: Vec::new(),
        pools: None,
    };
    open_borrowers(loaded, &mut setup, rng)?;
    fund_competitors(loaded, &mut setup)?;
    setup.pools = crate::source::pools::ChainPools::set_up(
        loaded,
        &mut setup.evm,
        &setup.market,
        &setup.prices,
    )?;
    Ok(setup)
}

/// Opens the scenario's borrowers: log-uniform position sizes, health factors skewed towards the
/// low end of the range, one or two collateral assets and one debt asset each.
fn open_borrowers(loaded: &LoadedScenario, setup: &mut SetUp, rng: &mut ChaCha8Rng) -> Result<()> {
    let s = &loaded.scenario;
    let b = &s.borrowers;
    let SetUp {
        evm,
        market,
        prices,
        decimals,
        borrowers,
        ..
    } = setup;
    let hf_min = b
        .health_factor_min
        .to_units(18)
        .map_err(|e| Error::config("borrowers.health_factor_min", &b.health_factor_min.0, e))?;
    let hf_max = b
        .health_factor_max
        .to_units(18)
        .map_err(|e| Error::config("borrowers.health_factor_max", &b.health_factor_max.0, e))?;
    let usd_min = usd(&b.position_usd_min)?;
    let usd_max = usd(&b.position_usd_max)?;
    let collateral_assets = asset_indexes(loaded, &b.collateral)?;
    let debt_assets = asset_indexes(loaded, &b.debt)?;
    let gas_money = U256::from(10u64).pow(U256::from(19u64));
    for k in 0..b.count {
        let mut open = || -> Result<()> {
            let name = format!("borrower-{k}");
            let user = actor(&name);
            evm.set_balance(user, gas_money)?;
            // log-uniform position size, health factor skewed towards the low end
            let u: f64 = rng.gen();
            let ratio = usd_f64(usd_max.max(usd_min + U256::from(1u64)), "position_usd_max")?
                / usd_f64(usd_min.max(U256::from(1u64)), "position_usd_min")?;
            let value_base =
                U256::from((usd_f64(usd_min, "position_usd_min")? * ratio.powf(u)) as u128);
            let hf_u: f64 = rng.gen::<f64>().powf(1.6);
            let hf_span = hf_max.saturating_sub(hf_min);
            let target_hf =
                hf_min + hf_span * U256::from((hf_u * 1e6) as u64) / U256::from(1_000_000u64);
            let first = collateral_assets[rng.gen_range(0..collateral_assets.len())];
            let mut legs = vec![(first, value_base)];
            if collateral_assets.len() > 1 && rng.gen_bool(0.3) {
                let second = collateral_assets[rng.gen_range(0..collateral_assets.len())];
                if second != first {
                    legs = vec![
                        (first, value_base * U256::from(6u64) / U256::from(10u64)),
                        (second, value_base * U256::from(4u64) / U256::from(10u64)),
                    ];
                }
            }
            for (asset, value) in &legs {
                let amount = amount_for_base(*value, prices[*asset], decimals[*asset]);
                // 20% extra held back for top-ups during the window
                market.fund(evm, *asset, user, amount + amount / U256::from(5u64))?;
                DevnetState::supply(market, evm, user, *asset, amount)?;
            }
            let debt = debt_assets[rng.gen_range(0..debt_assets.len())];
            let amount = market.borrow_for_hf(evm, user, debt, target_hf)?;
            if !amount.is_zero() {
                DevnetState::borrow(market, evm, user, debt, amount)?;
                // tokens for partial repays during the window
                market.fund(evm, debt, user, amount / U256::from(3u64))?;
            }
            borrowers.push(Borrower {
                name,
                user,
                legs: legs.iter().map(|l| l.0).collect(),
                debt,
            });
            Ok(())
        };
        open().map_err(|e| {
            Error::config(
                "borrowers",
                format!("borrower {k} of {}", b.count),
                format!("positions the market accepts (check borrowers.position_usd_min/max, health_factor_min/max and the assets' decimals and price_usd; all borrowers together can borrow at most the devnet's $2e9 of liquidity per reserve); opening it failed: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Ether a competitor starts with: 1,000 ETH, or, when more, one liquidation's gas per borrower
/// at the window's peak base fee. A fixed 1,000 ETH ran the fast competitor dry on a
/// 12,000-borrower crash (`lack of funds ... for max fee`: thousands of liquidations at 1,100 gwei).
pub fn competitor_gas_money(loaded: &LoadedScenario) -> U256 {
    let floor = U256::from(10u64).pow(U256::from(21u64));
    let peak = loaded
        .base_fee_path
        .iter()
        .map(|p| p.1)
        .max()
        .unwrap_or_default();
    let per_borrower = U256::from(LIQUIDATION_GAS_ESTIMATE).saturating_mul(peak);
    floor.max(per_borrower.saturating_mul(U256::from(loaded.scenario.borrowers.count)))
}

/// Competitors hold deep balances of every debt asset, and ether for their gas.
fn fund_competitors(loaded: &LoadedScenario, setup: &mut SetUp) -> Result<()> {
    let s = &loaded.scenario;
    let debt_assets = asset_indexes(loaded, &s.borrowers.debt)?;
    let gas_money = competitor_gas_money(loaded);
    for c in &s.competitors {
        let who = actor(&c.name);
        setup.evm.set_balance(who, gas_money)?;
        for &d in &debt_assets {
            let amount = amount_for_base(
                U256::from(200_000_000u64) * U256::from(100_000_000u64),
                setup.prices[d],
                setup.decimals[d],
            );
            setup
                .market
                .fund(&mut setup.evm, d, who, amount)
                .map_err(|e| {
                    Error::config(
                        "competitors",
                        &c.name,
                        format!("a competitor the devnet can fund; funding it failed: {e}"),
                    )
                })?;
        }
    }
    Ok(())
}

/// Market indexes of `symbols`.
fn asset_indexes(loaded: &LoadedScenario, symbols: &[String]) -> Result<Vec<usize>> {
    symbols
        .iter()
        .map(|c| loaded.scenario.market.asset_index(c))
        .collect()
}

/// The manifest of a built window.
fn manifest(
    loaded: &LoadedScenario,
    market: &AnyMarket,
    users_at_start: Vec<Address>,
    pools: Option<&crate::source::pools::ChainPools>,
) -> Result<Manifest> {
    let s = &loaded.scenario;
    let w = &s.window;
    let details = serde_json::to_value(WindowDetails {
        market: market.clone(),
        users_at_start,
        competitors: s
            .competitors
            .iter()
            .map(|c| (c.name.clone(), actor(&c.name)))
            .collect(),
        competitor_contracts: pools
            .map(|p| p.competitor_contracts().clone())
            .unwrap_or_default(),
        chain_dex: pools.map(|p| p.chain_dex()),
    })
    .map_err(|e| Error::Decode {
        what: "window details".into(),
        message: e.to_string(),
    })?;
    Ok(Manifest {
        format_version: FORMAT_VERSION,
        name: s.name.clone(),
        chain_id: s.market.chain_id(),
        first_block: w.first_block,
        last_block: w.first_block + w.blocks - 1,
        protocol: ProtocolInfo {
            kind: market.kind().as_str().into(),
            addresses: market.addresses(),
            details,
        },
        provenance: Provenance {
            kind: "devnet".into(),
            liqsim_version: env!("CARGO_PKG_VERSION").into(),
            scenario: Some(loaded.source.clone()),
            scenario_sha256: Some(loaded.sha256.clone()),
            scenario_canonical: Some(loaded.canonical.clone()),
        },
        files: BTreeMap::new(),
    })
}

/// The window being driven, block by block.
struct WindowRun<'a> {
    loaded: &'a LoadedScenario,
    evm: Evm<EmptyDB>,
    market: AnyMarket,
    book: AnyBook,
    rng: ChaCha8Rng,
    borrowers: Vec<Borrower>,
    decimals: Vec<u8>,
    symbols: Vec<String>,
    keeper: String,
    signers: HashMap<String, PrivateKeySigner>,
    nonces: HashMap<Address, u64>,
    records: Records,
    /// Last price sent to each feed, and when.
    feed_price: Vec<U256>,
    feed_time: Vec<u64>,
    /// Block at which each currently liquidatable user was first seen liquidatable.
    first_seen: BTreeMap<Address, u64>,
    /// Index of the asset that prices gas.
    eth: usize,
    competitor_liquidations: u64,
    beneficiary: Address,
    competitor_addresses: Vec<Address>,
    /// Background traffic (`[traffic]`), if any.
    traffic: Option<crate::source::traffic::Traffic>,
    /// Pools on the chain, their arbitrageur and the competitors' contracts, if any.
    pools: Option<crate::source::pools::ChainPools>,
}

impl<'a> WindowRun<'a> {
    fn new(
        loaded: &'a LoadedScenario,
        setup: SetUp,
        book: AnyBook,
        rng: ChaCha8Rng,
    ) -> Result<Self> {
        let s = &loaded.scenario;
        let n = setup.prices.len();
        let mut competitor_addresses: Vec<Address> =
            s.competitors.iter().map(|c| actor(&c.name)).collect();
        if let Some(p) = &setup.pools {
            competitor_addresses.extend(p.competitor_contracts().values().copied());
        }
        Ok(Self {
            loaded,
            keeper: setup.market.kind().oracle_keeper().to_string(),
            symbols: setup.market.symbols(),
            evm: setup.evm,
            market: setup.market,
            book,
            rng,
            borrowers: setup.borrowers,
            decimals: setup.decimals,
            signers: HashMap::new(),
            nonces: HashMap::new(),
            records: Records::default(),
            feed_price: setup.prices,
            feed_time: vec![s.window.start_timestamp; n],
            first_seen: BTreeMap::new(),
            eth: s.market.asset_index(&s.market.native_symbol())?,
            competitor_liquidations: 0,
            beneficiary: actor("block-builder"),
            competitor_addresses,
            traffic: None,
            pools: setup.pools,
        })
    }

    /// Builds and executes the block at `offset` from the window's start.
    fn block(&mut self, offset: u64) -> Result<()> {
        let header = self.header(offset)?;
        self.evm.set_block(block_env(&header));
        self.book.set_timestamp(header.timestamp)?;
        let mut intents = self.scheduled_oracle_intents(&header, offset)?;
        intents.extend(self.oracle_intents(&header)?);
        intents.extend(self.competitor_intents(&header)?);
        intents.extend(self.activity_intents(&header)?);
        if let Some(traffic) = &mut self.traffic {
            intents.extend(traffic.transactions(&header).into_iter().map(|t| {
                (
                    crate::source::traffic::TRAFFIC_PRIORITY_FEE,
                    Intent {
                        signer: t.signer,
                        request: t.request,
                        oracle: false,
                        value: t.value,
                        arbitrage: None,
                    },
                )
            }));
        }
        if let Some(pools) = &self.pools {
            for k in 0..pools.pool_count() {
                intents.push((
                    crate::source::pools::ARBITRAGE_PRIORITY_FEE,
                    Intent {
                        signer: crate::source::pools::ARBITRAGEUR.to_string(),
                        request: pools.arbitrage_placeholder(&header),
                        oracle: false,
                        value: U256::ZERO,
                        arbitrage: Some(k),
                    },
                ));
            }
        }
        // Oracle updates first, then by priority fee (stable).
        intents.sort_by_key(|i| std::cmp::Reverse(i.0));
        let prices_moved = self.execute(&header, intents)?;
        if self.pools.is_some() {
            let prices = self.oracle_prices();
            if let Some(pools) = &mut self.pools {
                pools.end_block(prices);
            }
        }
        if prices_moved || offset.is_multiple_of(25) {
            for user in self.book.users() {
                update_seen(&self.book, &mut self.first_seen, user, header.number)?;
            }
        }
        self.records.blocks.push(header);
        Ok(())
    }

    /// The book's oracle prices of every asset (USD, 8 decimals).
    fn oracle_prices(&self) -> Vec<U256> {
        (0..self.decimals.len())
            .map(|i| self.book.usd_price(i))
            .collect()
    }

    /// The header of the block at `offset`.
    fn header(&self, offset: u64) -> Result<BlockRecord> {
        let s = &self.loaded.scenario;
        let w = &s.window;
        let number = w.first_block + offset;
        let timestamp = w.start_timestamp + offset * w.block_time_seconds;
        let base_fee: u64 = self.loaded.base_fee_at(timestamp).try_into().map_err(|_| {
            Error::config(
                "base_fee",
                self.loaded.base_fee_at(timestamp),
                "a base fee below 2^64 wei",
            )
        })?;
        Ok(BlockRecord {
            number,
            timestamp,
            base_fee,
            gas_limit: w.gas_limit,
            beneficiary: self.beneficiary,
            prevrandao: keccak256([s.seed.to_be_bytes(), number.to_be_bytes()].concat()),
            difficulty: U256::ZERO,
        })
    }

    /// The oracle's own scheduled transactions in the block `offset` blocks into the window
    /// (`DevnetMarket::scheduled_oracle_calls`), sent by the keeper before the price updates.
    fn scheduled_oracle_intents(
        &self,
        header: &BlockRecord,
        offset: u64,
    ) -> Result<Vec<(u128, Intent)>> {
        Ok(self
            .market
            .scheduled_oracle_calls(offset)?
            .into_iter()
            .map(|call| self.keeper_intent(header, call))
            .collect())
    }

    /// The oracle keeper's transaction making `call` in the block of `header` (ordered first).
    fn keeper_intent(&self, header: &BlockRecord, call: Call) -> (u128, Intent) {
        (
            u128::MAX,
            Intent {
                signer: self.keeper.clone(),
                request: CallRequest {
                    to: call.to,
                    input: call.input,
                    gas_limit: self.market.price_call_gas().unwrap_or(ORACLE_GAS),
                    max_fee_per_gas: (header.base_fee as u128 * 2)
                        .saturating_add(DEFAULT_PRIORITY_FEE),
                    max_priority_fee_per_gas: DEFAULT_PRIORITY_FEE,
                },
                oracle: true,
                value: U256::ZERO,
                arbitrage: None,
            },
        )
    }

    /// Oracle updates (Chainlink-style deviation or heartbeat) due at `header`.
    fn oracle_intents(&mut self, header: &BlockRecord) -> Result<Vec<(u128, Intent)>> {
        let loaded = self.loaded;
        let timestamp = header.timestamp;
        let targets: Vec<U256> = self
            .symbols
            .iter()
            .enumerate()
            .map(|(i, symbol)| {
                loaded
                    .price_at(symbol, timestamp)
                    .unwrap_or(self.feed_price[i])
            })
            .collect();
        let mut intents = Vec::new();
        for i in 0..self.symbols.len() {
            if loaded.price_at(&self.symbols[i], timestamp).is_none() {
                continue;
            }
            let (target, last) = (targets[i], self.feed_price[i]);
            let moved_bps = if target > last {
                target - last
            } else {
                last - target
            } * U256::from(10_000u64)
                / last;
            let stale = timestamp - self.feed_time[i] >= loaded.scenario.prices.heartbeat_seconds;
            if target != last
                && (moved_bps >= U256::from(loaded.scenario.prices.deviation_bps) || stale)
            {
                for call in self.market.price_calls(i, &targets)? {
                    intents.push(self.keeper_intent(header, call));
                }
                self.feed_price[i] = target;
                self.feed_time[i] = timestamp;
            }
        }
        Ok(intents)
    }

    /// Competitors act on what they saw at the end of the previous block.
    fn competitor_intents(&mut self, header: &BlockRecord) -> Result<Vec<(u128, Intent)>> {
        let s = &self.loaded.scenario;
        let base_fee = header.base_fee;
        let eth_price = self.book.usd_price(self.eth);
        let mut intents: Vec<(u128, Intent)> = Vec::new();
        // (intent, competitor, collateral, debt, expected seizure) of each liquidation.
        let mut sales: Vec<(usize, String, usize, usize, U256)> = Vec::new();
        for (user, seen) in &self.first_seen {
            let Some(position) = self.book.position(user)? else {
                continue;
            };
            let Some(best) = best_liquidation(&*position)? else {
                continue;
            };
            for c in &s.competitors {
                if header.number < seen + c.reaction_delay_blocks {
                    continue;
                }
                let to_wei = |field: &str, v: &crate::units::DecimalText| -> Result<u128> {
                    u128::try_from(v.to_units(9).map_err(|e| Error::config(field, &v.0, e))?)
                        .map_err(|_| {
                            Error::config(field, &v.0, "at most 340282366920938463463 gwei")
                        })
                };
                let floor = to_wei("priority_fee_gwei", &c.priority_fee_gwei)?;
                let bonus = best.bonus_value_base.into_raw();
                // Bidding: a share of the expected profit at the base fee, per unit of gas.
                let priority = match c.bid_share_bps {
                    Some(share) if !best.bonus_value_base.is_negative() && !eth_price.is_zero() => {
                        let base_gas =
                            U256::from(LIQUIDATION_GAS_ESTIMATE) * U256::from(base_fee) * eth_price
                                / WAD;
                        let profit = bonus.saturating_sub(base_gas);
                        let bid_base = profit * U256::from(share) / U256::from(10_000u64);
                        let per_gas_wei =
                            bid_base * WAD / eth_price / U256::from(LIQUIDATION_GAS_ESTIMATE);
                        let mut bid = u128::try_from(per_gas_wei).unwrap_or(u128::MAX).max(floor);
                        if let Some(cap) = &c.max_priority_fee_gwei {
                            bid = bid.min(to_wei("max_priority_fee_gwei", cap)?.max(floor));
                        }
                        bid
                    }
                    _ => floor,
                };
                let gas_cost_base = U256::from(LIQUIDATION_GAS_ESTIMATE)
                    * (U256::from(base_fee) + U256::from(priority))
                    * eth_price
                    / WAD;
                if best.bonus_value_base.is_negative()
                    || bonus < gas_cost_base + usd(&c.min_profit_usd)?
                {
                    continue;
                }
                let call = self.market.liquidation_tx(
                    &*position,
                    *user,
                    &LiquidationRequest {
                        collateral: best.collateral,
                        debt: best.debt,
                        debt_to_cover: U256::MAX,
                        receive_shares: false,
                    },
                )?;
                sales.push((
                    intents.len(),
                    c.name.clone(),
                    best.collateral,
                    best.debt,
                    best.outcome.collateral_to_liquidator,
                ));
                intents.push((
                    priority,
                    Intent {
                        signer: c.name.clone(),
                        request: CallRequest {
                            to: call.to,
                            input: call.input,
                            gas_limit: LIQUIDATION_GAS,
                            max_fee_per_gas: (base_fee as u128 * 2).saturating_add(priority),
                            max_priority_fee_per_gas: priority,
                        },
                        oracle: false,
                        value: U256::ZERO,
                        arbitrage: None,
                    },
                ));
            }
        }
        // With pools on the chain: through the competitor's contract, selling into them, for at
        // least what the sale would get after the competitor's other sales of the block into the
        // same pool (so its own sales never push each other below their minimum).
        if let Some(pools) = &self.pools {
            let mut totals: BTreeMap<(String, usize, usize), U256> = BTreeMap::new();
            for (_, name, c, d, seized) in &sales {
                *totals.entry((name.clone(), *c, *d)).or_default() += *seized;
            }
            for (k, name, c, d, seized) in sales {
                let total = totals.get(&(name.clone(), c, d)).copied().unwrap_or(seized);
                let request = &mut intents[k].1.request;
                let call = pools.competitor_call(
                    &mut self.evm,
                    &name,
                    Call {
                        to: request.to,
                        input: std::mem::take(&mut request.input),
                    },
                    c,
                    d,
                    seized,
                    total.saturating_sub(seized),
                )?;
                request.to = call.to;
                request.input = call.input;
            }
        }
        Ok(intents)
    }

    /// User activity: partial repays, collateral top-ups and new borrows, at random.
    fn activity_intents(&mut self, header: &BlockRecord) -> Result<Vec<(u128, Intent)>> {
        let act = &self.loaded.scenario.activity;
        let mut intents = Vec::new();
        for (kind, p) in [
            (0u8, act.repay_per_block),
            (1, act.top_up_per_block),
            (2, act.new_borrow_per_block),
        ] {
            if p <= 0.0 || !self.rng.gen_bool(p) || self.borrowers.is_empty() {
                continue;
            }
            let borrower = &self.borrowers[self.rng.gen_range(0..self.borrowers.len())];
            let (user, debt) = (borrower.user, borrower.debt);
            let Some(position) = self.book.position(&user)? else {
                continue;
            };
            let holdings = position.holdings();
            let call = match kind {
                0 => {
                    let amount = holdings[debt].debt / U256::from(5u64);
                    if amount.is_zero() {
                        continue;
                    }
                    self.market.repay_call(user, debt, amount)?
                }
                1 => {
                    let asset = borrower.legs[0];
                    let amount = holdings[asset].collateral / U256::from(10u64);
                    if amount.is_zero() {
                        continue;
                    }
                    self.market.supply_call(user, asset, amount)?
                }
                _ => {
                    let available = position.available_borrows_usd()?;
                    let amount = amount_for_base(
                        available / U256::from(20u64),
                        self.book.usd_price(debt),
                        self.decimals[debt],
                    );
                    if amount.is_zero() {
                        continue;
                    }
                    self.market.borrow_call(user, debt, amount)?
                }
            };
            intents.push((
                DEFAULT_PRIORITY_FEE,
                Intent {
                    signer: borrower.name.clone(),
                    request: CallRequest {
                        to: call.to,
                        input: call.input,
                        gas_limit: USER_GAS,
                        max_fee_per_gas: (header.base_fee as u128 * 2)
                            .saturating_add(DEFAULT_PRIORITY_FEE),
                        max_priority_fee_per_gas: DEFAULT_PRIORITY_FEE,
                    },
                    oracle: false,
                    value: U256::ZERO,
                    arbitrage: None,
                },
            ));
        }
        Ok(intents)
    }

    /// Signs and executes `intents` in order while they fit the block's gas limit, recording
    /// each and keeping the book current; true when an oracle price moved.
    fn execute(&mut self, header: &BlockRecord, intents: Vec<(u128, Intent)>) -> Result<bool> {
        let chain_id = self.evm.chain_id();
        let mut cumulative = 0u64;
        let mut gas_reserved = 0u64;
        let mut tx_index = 0u32;
        let mut prices_moved = false;
        let offset = header
            .number
            .saturating_sub(self.loaded.scenario.window.first_block);
        for (_, mut intent) in intents {
            if gas_reserved + intent.request.gas_limit > header.gas_limit {
                continue;
            }
            if let Some(k) = intent.arbitrage {
                // The arbitrageur trades on the state as it finds it, after what came before.
                let current = self.oracle_prices();
                let Some(pools) = &self.pools else {
                    continue;
                };
                match pools.arbitrage_request(&mut self.evm, k, offset, &current, header)? {
                    Some(request) => intent.request = request,
                    None => continue,
                }
            }
            let signer = self
                .signers
                .entry(intent.signer.clone())
                .or_insert_with(|| actor_signer(&intent.signer));
            let sender = signer.address();
            let nonce = match self.nonces.get(&sender) {
                Some(n) => *n,
                None => self.evm.account(sender)?.nonce,
            };
            let tx = sign_call_with_value(signer, chain_id, nonce, &intent.request, intent.value)?;
            let outcome = self.evm.execute(tx.tx_env(), true)?;
            self.nonces.insert(sender, nonce + 1);
            gas_reserved += intent.request.gas_limit;
            cumulative += outcome.gas_used;
            record_tx(
                &tx,
                header.number,
                tx_index,
                &outcome,
                cumulative,
                &mut self.records,
            );
            let touched = self.book.apply_logs(&mut self.evm, &outcome.logs)?;
            if intent.oracle && outcome.success {
                let replayed = ReplayedTx::new(tx_index, &tx, &outcome);
                self.book.apply_price_update(&mut self.evm, &replayed)?;
                prices_moved = true;
            }
            if outcome.success {
                for e in self.market.liquidations(&mut self.evm, &outcome.logs)? {
                    if self.competitor_addresses.contains(&e.liquidator) {
                        self.competitor_liquidations += 1;
                    }
                }
            }
            for user in touched {
                update_seen(&self.book, &mut self.first_seen, user, header.number)?;
            }
            tx_index += 1;
        }
        Ok(prices_moved)
    }
}

fn update_seen(
    book: &AnyBook,
    first_seen: &mut BTreeMap<Address, u64>,
    user: Address,
    block: u64,
) -> Result<()> {
    let hf = match book.position(&user)? {
        Some(position) => position.health_factor()?,
        None => U256::MAX,
    };
    if crate::math::aave::is_liquidatable(hf) {
        first_seen.entry(user).or_insert(block);
    } else {
        first_seen.remove(&user);
    }
    Ok(())
}

fn record_tx(
    tx: &SignedTx,
    block: u64,
    index: u32,
    outcome: &TxOutcome,
    cumulative: u64,
    records: &mut Records,
) {
    records.transactions.push(TransactionRecord {
        block,
        index,
        hash: tx.hash,
        raw: tx.raw(),
    });
    records.receipts.push(ReceiptRecord {
        block,
        index,
        success: outcome.success,
        gas_used: outcome.gas_used,
        cumulative_gas_used: cumulative,
    });
    for (log_index, log) in outcome.logs.iter().enumerate() {
        records.logs.push(LogRecord {
            block,
            tx_index: index,
            log_index: log_index as u32,
            address: log.address,
            topics: log.topics().to_vec(),
            data: log.data.data.clone(),
        });
    }
}
