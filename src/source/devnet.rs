//! Devnet window builder: drives a real market (Aave V3, Aave V2 or Compound-style, through the
//! protocol abstraction) through a scenario (deployment, borrower
//! book, oracle price path, base-fee path, user activity, historical competitor liquidators) and
//! records the window as real signed EIP-1559 transactions with their receipts.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revm::context::BlockEnv;
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, Bytecode};

use crate::engine::evm::Evm;
use crate::engine::tx::{sign_call, CallRequest, SignedTx};
use crate::error::{Error, Result};
use crate::math::fixed::WAD;
use crate::protocol::aave_v3::abi::IERC20Mintable;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::market::{best_liquidation, BookUpdates};
use crate::protocol::{AnyBook, AnyMarket, LendingMarket, MarketState, PositionBook, ProtocolKind};
use crate::scenario::LoadedScenario;
use crate::source::keys::{actor, actor_signer};
use crate::source::records::{
    AccountRecord, BlockRecord, CodeRecord, LogRecord, Manifest, ProtocolInfo, Provenance,
    ReceiptRecord, StorageRecord, TransactionRecord, Window, FORMAT_VERSION,
};

/// In-memory devnet state.
pub type MemDb = CacheDB<EmptyDB>;

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

/// The protocol specifics a window's manifest carries (`protocol.details`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowDetails {
    /// The market: config and addresses (of the manifest's `protocol.kind`).
    pub market: AnyMarket,
    /// Users holding positions when the window starts.
    pub users_at_start: Vec<Address>,
    /// Historical competitor liquidators by name (devnet windows).
    #[serde(default)]
    pub competitors: BTreeMap<String, Address>,
}

impl WindowDetails {
    /// Reads the details of a manifest (the market as its `protocol.kind` describes it).
    pub fn from_manifest(manifest: &Manifest) -> Result<Self> {
        let decode = |e: serde_json::Error| Error::Decode {
            what: "manifest protocol.details".into(),
            message: e.to_string(),
        };
        let mut details = manifest.protocol.details.clone();
        let market = details
            .as_object_mut()
            .and_then(|o| o.remove("market"))
            .ok_or_else(|| Error::Decode {
                what: "manifest protocol.details".into(),
                message: "no `market`".into(),
            })?;
        #[derive(serde::Deserialize)]
        struct Rest {
            users_at_start: Vec<Address>,
            #[serde(default)]
            competitors: BTreeMap<String, Address>,
        }
        let rest: Rest = serde_json::from_value(details).map_err(decode)?;
        Ok(Self {
            market: AnyMarket::from_json(&manifest.protocol.kind, market)?,
            users_at_start: rest.users_at_start,
            competitors: rest.competitors,
        })
    }
}

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
}

fn usd(text: &crate::units::DecimalText) -> Result<U256> {
    text.to_units(8)
        .map_err(|e| Error::config("usd", &text.0, e))
}

fn amount_for_base(value_base: U256, price: U256, decimals: u8) -> U256 {
    value_base * U256::from(10u64).pow(U256::from(decimals)) / price
}

/// The account that owns the oracle of a devnet market of `kind` (it signs the price updates).
fn oracle_keeper(kind: ProtocolKind) -> &'static str {
    match kind {
        ProtocolKind::AaveV3 => "aave-v3-admin",
        ProtocolKind::AaveV2 => "aave-v2-admin",
        ProtocolKind::Compound => "venus-admin",
    }
}

/// Builds the window a scenario describes, on the protocol its `[market]` names; `artifacts` is
/// the store of that protocol's package. `progress` (if given) advances once per block.
pub fn build_window(
    loaded: &LoadedScenario,
    artifacts: &ArtifactStore,
    progress: Option<&ProgressBar>,
) -> Result<BuiltWindow> {
    let s = &loaded.scenario;
    let w = &s.window;
    let chain_id = s.market.chain_id();
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut evm = Evm::new(EmptyDB::default(), chain_id);
    evm.set_block(BlockEnv {
        number: U256::from(w.first_block - 1),
        timestamp: U256::from(w.start_timestamp - w.block_time_seconds),
        gas_limit: 60_000_000,
        basefee: 0,
        ..BlockEnv::default()
    });
    let market = s.market.deploy(&mut evm, artifacts)?;
    let symbols = market.symbols();
    let decimals = market.decimals();
    let n = symbols.len();
    let prices: Vec<U256> = (0..n)
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
        market.fund(&mut evm, i, whale, amount)?;
        MarketState::supply(&market, &mut evm, whale, i, amount)?;
    }

    // The borrower book.
    let b = &s.borrowers;
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
    let collateral_assets: Vec<usize> = b
        .collateral
        .iter()
        .map(|c| s.market.asset_index(c))
        .collect::<Result<_>>()?;
    let debt_assets: Vec<usize> = b
        .debt
        .iter()
        .map(|c| s.market.asset_index(c))
        .collect::<Result<_>>()?;
    let gas_money = U256::from(10u64).pow(U256::from(19u64));
    let mut borrowers = Vec::new();
    for k in 0..b.count {
        let name = format!("borrower-{k}");
        let user = actor(&name);
        evm.set_balance(user, gas_money)?;
        // log-uniform position size, health factor skewed towards the low end
        let u: f64 = rng.gen();
        let ratio = (usd_max.max(usd_min + U256::from(1u64)).to::<u128>() as f64)
            / (usd_min.max(U256::from(1u64)).to::<u128>() as f64);
        let value_base = U256::from((usd_min.to::<u128>() as f64 * ratio.powf(u)) as u128);
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
            market.fund(&mut evm, *asset, user, amount + amount / U256::from(5u64))?;
            MarketState::supply(&market, &mut evm, user, *asset, amount)?;
        }
        let debt = debt_assets[rng.gen_range(0..debt_assets.len())];
        let amount = market.borrow_for_health(&mut evm, user, debt, target_hf)?;
        if !amount.is_zero() {
            MarketState::borrow(&market, &mut evm, user, debt, amount)?;
            // tokens for partial repays during the window
            market.fund(&mut evm, debt, user, amount / U256::from(3u64))?;
        }
        borrowers.push((
            name,
            user,
            legs.iter().map(|l| l.0).collect::<Vec<_>>(),
            debt,
        ));
    }

    // Competitors hold deep balances of every debt asset.
    for c in &s.competitors {
        let who = actor(&c.name);
        evm.set_balance(who, U256::from(10u64).pow(U256::from(21u64)))?;
        for &d in &debt_assets {
            let amount = amount_for_base(
                U256::from(200_000_000u64) * U256::from(100_000_000u64),
                prices[d],
                decimals[d],
            );
            market.fund(&mut evm, d, who, amount)?;
        }
    }
    let keeper = oracle_keeper(market.kind()).to_string();

    // Pre-state: everything the window starts from.
    let (accounts, code, storage) = snapshot(evm.db());
    let users_at_start: Vec<Address> = borrowers.iter().map(|b| b.1).collect();
    let mut book = market.book(&mut evm, &users_at_start)?;

    let mut signers: HashMap<String, PrivateKeySigner> = HashMap::new();
    let mut nonces: HashMap<Address, u64> = HashMap::new();
    let mut blocks = Vec::new();
    let mut transactions = Vec::new();
    let mut receipts = Vec::new();
    let mut logs = Vec::new();
    let mut feed_price: Vec<U256> = prices.clone();
    let mut feed_time: Vec<u64> = vec![w.start_timestamp; n];
    let mut first_seen: BTreeMap<Address, u64> = BTreeMap::new();
    let eth = s.market.asset_index(&s.market.native_symbol())?;
    let mut competitor_liquidations = 0u64;
    let beneficiary = actor("block-builder");
    let competitor_addresses: Vec<Address> = s.competitors.iter().map(|c| actor(&c.name)).collect();

    for offset in 0..w.blocks {
        let number = w.first_block + offset;
        let timestamp = w.start_timestamp + offset * w.block_time_seconds;
        let base_fee: u64 = loaded.base_fee_at(timestamp).try_into().map_err(|_| {
            Error::config(
                "base_fee",
                loaded.base_fee_at(timestamp),
                "a base fee below 2^64 wei",
            )
        })?;
        let prevrandao = keccak256([s.seed.to_be_bytes(), number.to_be_bytes()].concat());
        let header = BlockRecord {
            number,
            timestamp,
            base_fee,
            gas_limit: w.gas_limit,
            beneficiary,
            prevrandao,
            difficulty: U256::ZERO,
        };
        evm.set_block(block_env(&header));
        book.set_timestamp(timestamp)?;

        let mut intents: Vec<(u128, Intent)> = Vec::new();
        // Oracle updates (Chainlink-style deviation or heartbeat).
        let targets: Vec<U256> = symbols
            .iter()
            .enumerate()
            .map(|(i, symbol)| loaded.price_at(symbol, timestamp).unwrap_or(feed_price[i]))
            .collect();
        for i in 0..n {
            if loaded.price_at(&symbols[i], timestamp).is_none() {
                continue;
            }
            let (target, last) = (targets[i], feed_price[i]);
            let moved_bps = if target > last {
                target - last
            } else {
                last - target
            } * U256::from(10_000u64)
                / last;
            let stale = timestamp - feed_time[i] >= s.prices.heartbeat_seconds;
            if target != last && (moved_bps >= U256::from(s.prices.deviation_bps) || stale) {
                for call in market.price_calls(i, &targets)? {
                    intents.push((
                        u128::MAX,
                        Intent {
                            signer: keeper.clone(),
                            request: CallRequest {
                                to: call.to,
                                input: call.input,
                                gas_limit: ORACLE_GAS,
                                max_fee_per_gas: base_fee as u128 * 2 + DEFAULT_PRIORITY_FEE,
                                max_priority_fee_per_gas: DEFAULT_PRIORITY_FEE,
                            },
                            oracle: true,
                        },
                    ));
                }
                feed_price[i] = target;
                feed_time[i] = timestamp;
            }
        }
        // Competitors act on what they saw at the end of the previous block.
        let eth_price = book.usd_price(eth);
        for (user, seen) in &first_seen {
            let Some(position) = book.position(user)? else {
                continue;
            };
            let Some(best) = best_liquidation(&*position)? else {
                continue;
            };
            for c in &s.competitors {
                if number < seen + c.reaction_delay_blocks {
                    continue;
                }
                let priority: u128 = c
                    .priority_fee_gwei
                    .to_units(9)
                    .map_err(|e| Error::config("priority_fee_gwei", &c.priority_fee_gwei.0, e))?
                    .to();
                let gas_cost_base = U256::from(LIQUIDATION_GAS_ESTIMATE)
                    * (U256::from(base_fee) + U256::from(priority))
                    * eth_price
                    / WAD;
                let bonus = best.bonus_value_base.into_raw();
                if best.bonus_value_base.is_negative()
                    || bonus < gas_cost_base + usd(&c.min_profit_usd)?
                {
                    continue;
                }
                let call = market.liquidation_call(
                    &*position,
                    *user,
                    best.collateral,
                    best.debt,
                    U256::MAX,
                    false,
                )?;
                intents.push((
                    priority,
                    Intent {
                        signer: c.name.clone(),
                        request: CallRequest {
                            to: call.to,
                            input: call.input,
                            gas_limit: LIQUIDATION_GAS,
                            max_fee_per_gas: base_fee as u128 * 2 + priority,
                            max_priority_fee_per_gas: priority,
                        },
                        oracle: false,
                    },
                ));
            }
        }
        // User activity.
        let act = &s.activity;
        for (kind, p) in [
            (0u8, act.repay_per_block),
            (1, act.top_up_per_block),
            (2, act.new_borrow_per_block),
        ] {
            if p <= 0.0 || !rng.gen_bool(p) || borrowers.is_empty() {
                continue;
            }
            let (name, user, legs, debt) = &borrowers[rng.gen_range(0..borrowers.len())];
            let Some(position) = book.position(user)? else {
                continue;
            };
            let holdings = position.holdings();
            let call = match kind {
                0 => {
                    let amount = holdings[*debt].debt / U256::from(5u64);
                    if amount.is_zero() {
                        continue;
                    }
                    market.repay_call(*user, *debt, amount)?
                }
                1 => {
                    let asset = legs[0];
                    let amount = holdings[asset].collateral / U256::from(10u64);
                    if amount.is_zero() {
                        continue;
                    }
                    market.supply_call(*user, asset, amount)?
                }
                _ => {
                    let available = position.available_borrows_usd()?;
                    let amount = amount_for_base(
                        available / U256::from(20u64),
                        book.usd_price(*debt),
                        decimals[*debt],
                    );
                    if amount.is_zero() {
                        continue;
                    }
                    market.borrow_call(*user, *debt, amount)?
                }
            };
            intents.push((
                DEFAULT_PRIORITY_FEE,
                Intent {
                    signer: name.clone(),
                    request: CallRequest {
                        to: call.to,
                        input: call.input,
                        gas_limit: USER_GAS,
                        max_fee_per_gas: base_fee as u128 * 2 + DEFAULT_PRIORITY_FEE,
                        max_priority_fee_per_gas: DEFAULT_PRIORITY_FEE,
                    },
                    oracle: false,
                },
            ));
        }
        // Oracle updates first, then by priority fee (stable).
        intents.sort_by_key(|i| std::cmp::Reverse(i.0));

        let mut cumulative = 0u64;
        let mut gas_reserved = 0u64;
        let mut tx_index = 0u32;
        let mut prices_moved = false;
        for (_, intent) in intents {
            if gas_reserved + intent.request.gas_limit > w.gas_limit {
                continue;
            }
            let signer = signers
                .entry(intent.signer.clone())
                .or_insert_with(|| actor_signer(&intent.signer));
            let sender = signer.address();
            let nonce = match nonces.get(&sender) {
                Some(n) => *n,
                None => evm.account(sender)?.nonce,
            };
            let tx = sign_call(signer, chain_id, nonce, &intent.request)?;
            let outcome = evm.execute(tx.tx_env(), true)?;
            nonces.insert(sender, nonce + 1);
            gas_reserved += intent.request.gas_limit;
            cumulative += outcome.gas_used;
            record_tx(
                &tx,
                number,
                tx_index,
                &outcome,
                cumulative,
                &mut transactions,
                &mut receipts,
                &mut logs,
            );
            let touched = book.apply_logs(&mut evm, &outcome.logs)?;
            if intent.oracle && outcome.success {
                let replayed = crate::engine::replay::ReplayedTx::new(tx_index, &tx, &outcome);
                book.apply_price_update(&mut evm, &replayed)?;
                prices_moved = true;
            }
            if outcome.success {
                for e in market.liquidations(&mut evm, &outcome.logs)? {
                    if competitor_addresses.contains(&e.liquidator) {
                        competitor_liquidations += 1;
                    }
                }
            }
            for user in touched {
                update_seen(&book, &mut first_seen, user, number)?;
            }
            tx_index += 1;
        }
        if prices_moved || offset % 25 == 0 {
            for user in book.users() {
                update_seen(&book, &mut first_seen, user, number)?;
            }
        }
        blocks.push(header);
        if let Some(p) = progress {
            p.inc(1);
        }
    }

    let details = serde_json::to_value(WindowDetails {
        market: market.clone(),
        users_at_start,
        competitors: s
            .competitors
            .iter()
            .map(|c| (c.name.clone(), actor(&c.name)))
            .collect(),
    })
    .map_err(|e| Error::Decode {
        what: "window details".into(),
        message: e.to_string(),
    })?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        name: s.name.clone(),
        chain_id,
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
        },
        files: BTreeMap::new(),
    };
    tracing::info!(
        blocks = blocks.len(),
        transactions = transactions.len(),
        competitor_liquidations,
        failed = receipts.iter().filter(|r| !r.success).count(),
        "window built"
    );
    Ok(BuiltWindow {
        window: Window {
            manifest,
            accounts,
            code,
            storage,
            blocks,
            transactions,
            receipts,
            logs,
        },
        market,
        competitor_liquidations,
    })
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

#[allow(clippy::too_many_arguments)]
fn record_tx(
    tx: &SignedTx,
    block: u64,
    index: u32,
    outcome: &crate::engine::evm::TxOutcome,
    cumulative: u64,
    transactions: &mut Vec<TransactionRecord>,
    receipts: &mut Vec<ReceiptRecord>,
    logs: &mut Vec<LogRecord>,
) {
    transactions.push(TransactionRecord {
        block,
        index,
        hash: tx.hash,
        raw: tx.raw(),
    });
    receipts.push(ReceiptRecord {
        block,
        index,
        success: outcome.success,
        gas_used: outcome.gas_used,
        cumulative_gas_used: cumulative,
    });
    for (log_index, log) in outcome.logs.iter().enumerate() {
        logs.push(LogRecord {
            block,
            tx_index: index,
            log_index: log_index as u32,
            address: log.address,
            topics: log.topics().to_vec(),
            data: log.data.data.clone(),
        });
    }
}

/// The EVM block environment of a recorded header.
pub fn block_env(header: &BlockRecord) -> BlockEnv {
    BlockEnv {
        number: U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee,
        difficulty: header.difficulty,
        prevrandao: Some(header.prevrandao),
        ..BlockEnv::default()
    }
}

/// Every account, code and non-zero storage slot of an in-memory state, in a stable order.
pub fn snapshot(db: &MemDb) -> (Vec<AccountRecord>, Vec<CodeRecord>, Vec<StorageRecord>) {
    let mut accounts = Vec::new();
    let mut storage = Vec::new();
    let mut code: BTreeMap<B256, CodeRecord> = BTreeMap::new();
    let mut addresses: Vec<&Address> = db.cache.accounts.keys().collect();
    addresses.sort();
    for address in addresses {
        let account = &db.cache.accounts[address];
        let Some(info) = account.info() else { continue };
        accounts.push(AccountRecord {
            address: *address,
            balance: info.balance,
            nonce: info.nonce,
            code_hash: info.code_hash,
        });
        if info.code_hash != KECCAK_EMPTY {
            let bytes = info
                .code
                .as_ref()
                .map(|c| c.original_bytes())
                .or_else(|| {
                    db.cache
                        .contracts
                        .get(&info.code_hash)
                        .map(|c| c.original_bytes())
                })
                .unwrap_or_default();
            code.entry(info.code_hash).or_insert(CodeRecord {
                code_hash: info.code_hash,
                code: bytes,
            });
        }
        let mut slots: Vec<(&U256, &U256)> = account
            .storage
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .collect();
        slots.sort();
        for (slot, value) in slots {
            storage.push(StorageRecord {
                address: *address,
                slot: *slot,
                value: *value,
            });
        }
    }
    (accounts, code.into_values().collect(), storage)
}

/// Loads a recorded pre-state into an in-memory state.
pub fn load_prestate(
    accounts: &[AccountRecord],
    code: &[CodeRecord],
    storage: &[StorageRecord],
) -> Result<MemDb> {
    let codes: HashMap<B256, &CodeRecord> = code.iter().map(|c| (c.code_hash, c)).collect();
    let mut db = MemDb::new(EmptyDB::default());
    for a in accounts {
        let code = if a.code_hash == KECCAK_EMPTY {
            None
        } else {
            let record = codes.get(&a.code_hash).ok_or_else(|| {
                Error::Database(format!(
                    "pre-state account {} names code {} that the dataset does not hold",
                    a.address, a.code_hash
                ))
            })?;
            if keccak256(&record.code) != a.code_hash {
                return Err(Error::Database(format!(
                    "code {} does not hash to its key",
                    a.code_hash
                )));
            }
            Some(Bytecode::new_raw(record.code.clone()))
        };
        db.insert_account_info(
            a.address,
            AccountInfo {
                balance: a.balance,
                nonce: a.nonce,
                code_hash: a.code_hash,
                code,
                ..AccountInfo::default()
            },
        );
    }
    for s in storage {
        db.insert_account_storage(s.address, s.slot, s.value)
            .map_err(|e| Error::Database(e.to_string()))?;
    }
    Ok(db)
}

/// Token balance helper for tests and inspection.
pub fn token_balance(evm: &mut Evm<EmptyDB>, token: Address, who: Address) -> Result<U256> {
    evm.view(
        token,
        &IERC20Mintable::balanceOfCall { account: who },
        "balanceOf",
    )
}
