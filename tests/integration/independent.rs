//! An independent chain: an Aave V3 market deployed on anvil over plain JSON-RPC
//! (`eth_sendTransaction` from anvil's dev accounts, none of liqsim's builder or feed), prices
//! moved by source swaps (a new `MockAggregator` per move, then `AaveOracle.setAssetSources`: no
//! watched feed emits `AnswerUpdated`), liquidations sent by a liquidator right after the price
//! update in the same block, in later blocks, or never. The truth is read from anvil with
//! `eth_call getUserAccountData` at the top of every block, after every transaction (the
//! `pending` block while automine is off) and at every block's end; `liqsim record` must record
//! a window whose ledger (library replay and `liqsim run`'s `opportunities.parquet`) equals the
//! opportunities derived from that truth, and `liqsim check-window` must find 0 mismatches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use alloy_primitives::{Address, Bytes, B256, I256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use liqsim::app::anvil::{Anvil, AnvilOptions};
use liqsim::node::rpc::{RetryPolicy, RpcClient};
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::protocol::ProtocolKind;
use serde_json::{json, Value};

use crate::common::{artifacts, temp_dir};

sol! {
    interface Provider {
        function setACLAdmin(address admin) external;
        function setACLManager(address manager) external;
        function setPoolImpl(address implementation) external;
        function setPoolConfiguratorImpl(address implementation) external;
        function setPriceOracle(address oracle) external;
        function setPoolDataProvider(address provider) external;
        function getPool() external view returns (address);
        function getPoolConfigurator() external view returns (address);
    }

    interface Acl {
        function addPoolAdmin(address admin) external;
        function addAssetListingAdmin(address admin) external;
    }

    struct ReserveInput {
        address aTokenImpl;
        address stableDebtTokenImpl;
        address variableDebtTokenImpl;
        uint8 underlyingAssetDecimals;
        address interestRateStrategyAddress;
        address underlyingAsset;
        address treasury;
        address incentivesController;
        string aTokenName;
        string aTokenSymbol;
        string variableDebtTokenName;
        string variableDebtTokenSymbol;
        string stableDebtTokenName;
        string stableDebtTokenSymbol;
        bytes params;
    }

    interface Configurator {
        function initReserves(ReserveInput[] calldata input) external;
        function configureReserveAsCollateral(address asset, uint256 ltv, uint256 threshold, uint256 bonus) external;
        function setReserveBorrowing(address asset, bool enabled) external;
        function setReserveFactor(address asset, uint256 factor) external;
        function setLiquidationProtocolFee(address asset, uint256 fee) external;
    }

    interface LendingPool {
        function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external;
        function borrow(address asset, uint256 amount, uint256 rateMode, uint16 referralCode, address onBehalfOf) external;
        function liquidationCall(address collateral, address debt, address user, uint256 debtToCover, bool receiveAToken) external;
        function getUserAccountData(address user) external view returns (uint256, uint256, uint256, uint256, uint256, uint256);
    }

    interface Oracle {
        function setAssetSources(address[] calldata assets, address[] calldata sources) external;
        function getAssetPrice(address asset) external view returns (uint256);
    }

    interface TestToken {
        function mint(uint256 value) external returns (bool);
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address account) external view returns (uint256);
    }

    interface DataProvider {
        function getReserveTokensAddresses(address asset) external view returns (address, address, address);
    }
}

const GWEI: u64 = 1_000_000_000;
const CHAIN_ID: u64 = 31_337;
const GENESIS: u64 = 1_700_000_000;
const BLOCK_SECONDS: u64 = 12;
/// Blocks of the recorded window.
const WINDOW_BLOCKS: u64 = 90;
/// Health factor 1 (WAD).
const ONE: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

fn q(v: impl std::fmt::LowerHex) -> String {
    format!("0x{v:x}")
}

/// anvil over JSON-RPC: sends transactions from its unlocked dev accounts (nonces kept here) and
/// mines blocks 12 s apart.
struct Node {
    rpc: RpcClient,
    nonces: RefCell<HashMap<Address, u64>>,
    next_timestamp: RefCell<u64>,
}

impl Node {
    fn call(&self, method: &str, params: Value) -> Value {
        self.rpc
            .raw::<Value, Value>(method, params)
            .unwrap_or_else(|e| panic!("anvil {method}: {e}"))
    }

    /// Sends a transaction (automine is off: it waits in the pool until [`Node::mine`]).
    fn send(&self, from: Address, to: Option<Address>, data: Bytes, gas: u64, tip: u64) -> B256 {
        let nonce = {
            let mut nonces = self.nonces.borrow_mut();
            let n = nonces.entry(from).or_insert(0);
            *n += 1;
            *n - 1
        };
        let mut tx = json!({
            "from": from,
            "data": data,
            "nonce": q(nonce),
            "gas": q(gas),
            "maxFeePerGas": q(200 * GWEI),
            "maxPriorityFeePerGas": q(tip),
            "value": "0x0",
        });
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        serde_json::from_value(self.call("eth_sendTransaction", json!([tx]))).unwrap()
    }

    fn send_call<C: SolCall>(&self, from: Address, to: Address, call: C, tip: u64) -> B256 {
        self.send(from, Some(to), call.abi_encode().into(), 2_000_000, tip)
    }

    /// Sets the next block's timestamp (pending `eth_call`s see it) without mining.
    fn prepare_block(&self) {
        let ts = *self.next_timestamp.borrow();
        self.call("evm_setNextBlockTimestamp", json!([ts]));
    }

    /// Mines the pending transactions into one block; returns its number and receipts.
    fn mine(&self) -> (u64, Vec<Value>) {
        self.prepare_block();
        self.call("evm_mine", json!([]));
        *self.next_timestamp.borrow_mut() += BLOCK_SECONDS;
        let number = u64::from_str_radix(
            self.call("eth_blockNumber", json!([])).as_str().unwrap()[2..].as_ref(),
            16,
        )
        .unwrap();
        let receipts = self.call("eth_getBlockReceipts", json!([q(number)]));
        (number, receipts.as_array().cloned().unwrap_or_default())
    }

    /// Sends one set-up transaction in its own block and checks it succeeded.
    fn exec(&self, from: Address, to: Option<Address>, data: Bytes, what: &str) -> Value {
        let hash = self.send(from, to, data, 25_000_000, GWEI);
        let (number, receipts) = self.mine();
        let receipt = receipts
            .into_iter()
            .find(|r| r["transactionHash"] == json!(hash))
            .unwrap_or_else(|| panic!("{what}: not mined in block {number}"));
        assert_eq!(
            receipt["status"],
            json!("0x1"),
            "{what} reverted: {receipt}"
        );
        receipt
    }

    fn exec_call<C: SolCall>(&self, from: Address, to: Address, call: C, what: &str) {
        self.exec(from, Some(to), call.abi_encode().into(), what);
    }

    /// `eth_call` at `tag` (`pending`, `latest` or a block number).
    fn view<C: SolCall>(&self, to: Address, call: &C, tag: &str) -> C::Return {
        let out = self.call(
            "eth_call",
            json!([{"to": to, "data": Bytes::from(call.abi_encode())}, tag]),
        );
        let bytes: Bytes = serde_json::from_value(out).unwrap();
        C::abi_decode_returns(&bytes).unwrap_or_else(|e| panic!("decoding {to} at {tag}: {e}"))
    }
}

/// Deploys contracts from the published artifacts, linking (and first deploying) their libraries.
struct Deployer<'a> {
    node: &'a Node,
    store: &'a ArtifactStore,
    from: Address,
    libraries: HashMap<String, Address>,
}

impl Deployer<'_> {
    fn deploy(&mut self, name: &str, args: Vec<u8>) -> Address {
        let artifact = self.store.artifact(name).unwrap();
        for lib in artifact.libraries() {
            if !self.libraries.contains_key(&lib) {
                let address = self.deploy(&lib, Vec::new());
                self.libraries.insert(lib, address);
            }
        }
        let mut code = artifact.linked_bytecode(&self.libraries).unwrap().to_vec();
        code.extend_from_slice(&args);
        let receipt = self.node.exec(self.from, None, code.into(), name);
        serde_json::from_value(receipt["contractAddress"].clone()).unwrap()
    }
}

/// What the liquidator does with a borrower once it is liquidatable.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Policy {
    /// In the same block, right after the price update that made it liquidatable, close factor.
    SameBlock,
    /// `n` blocks later (if still liquidatable), a quarter of the debt.
    Later(u64),
    /// Never.
    Never,
}

struct Borrower {
    address: Address,
    collateral: usize,
    debt: usize,
    policy: Policy,
    /// Block from which a liquidation is due (while liquidatable).
    due: Option<u64>,
}

/// A checked point: block, after which transaction (`None`: top of the block), every borrower's
/// health factor there.
type Point = (u64, Option<u32>, Vec<U256>);

/// An opportunity as the README's ledger semantics define it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    user: Address,
    first_block: u64,
    first_tx_index: Option<u32>,
    last_block: u64,
    min_health_factor: U256,
    ending: &'static str,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:#x} first {}{} last {} min HF {} {}",
            self.user,
            self.first_block,
            self.first_tx_index
                .map(|i| format!(" after tx {i}"))
                .unwrap_or_else(|| " (top)".into()),
            self.last_block,
            self.min_health_factor,
            self.ending
        )
    }
}

/// The opportunities the truth implies: one row per stretch of points with HF < 1, opening at
/// the first such point; `last_block` is the block of the closing transaction, or the block
/// before when it closed at the top of a block, or the window's last block when still open.
fn truth_rows(
    borrowers: &[Address],
    points: &[Point],
    liquidations: &[(u64, u32, Address)],
    last: u64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (u, &user) in borrowers.iter().enumerate() {
        let mut open: Option<Row> = None;
        for (block, tx, hfs) in points {
            let hf = hfs[u];
            let liquidated_here = tx.is_some_and(|i| liquidations.contains(&(*block, i, user)));
            if let Some(o) = open.as_mut() {
                if liquidated_here {
                    o.ending = "liquidated";
                }
                if hf < ONE {
                    o.last_block = *block;
                    o.min_health_factor = o.min_health_factor.min(hf);
                } else {
                    let until = if tx.is_some() { *block } else { block - 1 };
                    o.last_block = o.last_block.max(until);
                    rows.extend(open.take());
                }
            } else if hf < ONE {
                open = Some(Row {
                    user,
                    first_block: *block,
                    first_tx_index: *tx,
                    last_block: *block,
                    min_health_factor: hf,
                    ending: "recovered",
                });
            }
        }
        if let Some(mut o) = open {
            o.last_block = last;
            o.ending = "open_at_end";
            rows.push(o);
        }
    }
    rows.sort();
    rows
}

/// Linear interpolation through `(block offset, price)` points.
fn path(points: &[(u64, f64)], k: u64) -> f64 {
    for w in points.windows(2) {
        let ((k0, p0), (k1, p1)) = (w[0], w[1]);
        if k <= k1 {
            return p0 + (p1 - p0) * (k.saturating_sub(k0)) as f64 / (k1 - k0) as f64;
        }
    }
    points.last().map(|p| p.1).unwrap_or(0.0)
}

fn units(amount: f64, decimals: u8) -> U256 {
    // amounts are chosen with at most 6 significant decimals
    U256::from((amount * 1e6).round() as u128) * U256::from(10u64).pow(U256::from(decimals))
        / U256::from(1_000_000u64)
}

fn price_8(usd: f64) -> I256 {
    I256::try_from((usd * 1e8).round() as i128).unwrap()
}

/// The chain built, and what the driver saw on it.
struct Chain {
    anvil: Anvil,
    pool: Address,
    from: u64,
    to: u64,
    borrowers: Vec<Address>,
    points: Vec<Point>,
    liquidations: Vec<(u64, u32, Address)>,
    /// Price-update transactions (block, index).
    price_txs: Vec<(u64, u32)>,
    /// Liquidations in the same block as a price update, right after it.
    same_block: usize,
}

struct Asset {
    symbol: &'static str,
    decimals: u8,
    price: f64,
    ltv: u64,
    threshold: u64,
    bonus: u64,
}

const ASSETS: [Asset; 3] = [
    Asset {
        symbol: "WETH",
        decimals: 18,
        price: 3000.0,
        ltv: 8000,
        threshold: 8250,
        bonus: 10500,
    },
    Asset {
        symbol: "WBTC",
        decimals: 8,
        price: 60_000.0,
        ltv: 7300,
        threshold: 7500,
        bonus: 11000,
    },
    Asset {
        symbol: "USDC",
        decimals: 6,
        price: 1.0,
        ltv: 7700,
        threshold: 7800,
        bonus: 10450,
    },
];
const WETH: usize = 0;
const WBTC: usize = 1;
const USDC: usize = 2;

fn weth_path(k: u64) -> f64 {
    path(
        &[
            (0, 3000.0),
            (12, 3200.0),
            (45, 2000.0),
            (65, 2100.0),
            (89, 2250.0),
        ],
        k,
    )
}

fn wbtc_path(k: u64) -> f64 {
    path(
        &[
            (0, 60_000.0),
            (15, 56_000.0),
            (45, 50_000.0),
            (89, 53_000.0),
        ],
        k,
    )
}

/// Builds the market and the window on a fresh anvil.
fn build_chain() -> Chain {
    let store = artifacts(ProtocolKind::AaveV3);
    let anvil = Anvil::spawn(&AnvilOptions {
        chain_id: CHAIN_ID,
        genesis_timestamp: GENESIS,
        gas_limit: 60_000_000,
        base_fee: GWEI,
        accounts: 40,
    })
    .unwrap();
    let node = Node {
        rpc: RpcClient::connect(&anvil.url(), RetryPolicy::default()).unwrap(),
        nonces: RefCell::new(HashMap::new()),
        next_timestamp: RefCell::new(GENESIS + BLOCK_SECONDS),
    };
    let accounts: Vec<Address> =
        serde_json::from_value(node.call("eth_accounts", json!([]))).unwrap();
    assert_eq!(accounts.len(), 40, "anvil's dev accounts");
    let (admin, keeper, liquidator, lp, noise, noise_to) = (
        accounts[0],
        accounts[1],
        accounts[2],
        accounts[3],
        accounts[4],
        accounts[5],
    );
    let treasury = Address::repeat_byte(0x7e);

    // The market, from the published artifacts, one transaction per block.
    let mut d = Deployer {
        node: &node,
        store,
        from: admin,
        libraries: HashMap::new(),
    };
    let tokens: Vec<Address> = ASSETS
        .iter()
        .map(|a| {
            let args = (
                a.symbol.to_string(),
                a.symbol.to_string(),
                U256::from(a.decimals),
            );
            d.deploy("mocks/tokens/MintableERC20", args.abi_encode_params())
        })
        .collect();
    let sources: Vec<Address> = ASSETS
        .iter()
        .map(|a| {
            d.deploy(
                "CLAggregators/MockAggregator",
                price_8(a.price).abi_encode(),
            )
        })
        .collect();
    let provider = d.deploy(
        "PoolAddressesProvider",
        ("Independent".to_string(), admin).abi_encode_params(),
    );
    node.exec_call(
        admin,
        provider,
        Provider::setACLAdminCall { admin },
        "setACLAdmin",
    );
    let acl = d.deploy("ACLManager", provider.abi_encode());
    node.exec_call(
        admin,
        provider,
        Provider::setACLManagerCall { manager: acl },
        "setACLManager",
    );
    node.exec_call(admin, acl, Acl::addPoolAdminCall { admin }, "addPoolAdmin");
    node.exec_call(
        admin,
        acl,
        Acl::addAssetListingAdminCall { admin: keeper },
        "addAssetListingAdmin",
    );
    let pool_impl = d.deploy("protocol/pool/Pool", provider.abi_encode());
    node.exec_call(
        admin,
        provider,
        Provider::setPoolImplCall {
            implementation: pool_impl,
        },
        "setPoolImpl",
    );
    let pool = node.view(provider, &Provider::getPoolCall {}, "latest");
    let configurator_impl = d.deploy("protocol/pool/PoolConfigurator", Vec::new());
    node.exec_call(
        admin,
        provider,
        Provider::setPoolConfiguratorImplCall {
            implementation: configurator_impl,
        },
        "setPoolConfiguratorImpl",
    );
    let configurator = node.view(provider, &Provider::getPoolConfiguratorCall {}, "latest");
    let oracle = d.deploy(
        "misc/AaveOracle",
        (
            provider,
            tokens.clone(),
            sources.clone(),
            Address::ZERO,
            Address::ZERO,
            U256::from(100_000_000u64),
        )
            .abi_encode_params(),
    );
    node.exec_call(
        admin,
        provider,
        Provider::setPriceOracleCall { oracle },
        "setPriceOracle",
    );
    let data_provider = d.deploy("AaveProtocolDataProvider", provider.abi_encode());
    node.exec_call(
        admin,
        provider,
        Provider::setPoolDataProviderCall {
            provider: data_provider,
        },
        "setPoolDataProvider",
    );
    let a_token = d.deploy("protocol/tokenization/AToken", pool.abi_encode());
    let stable = d.deploy("protocol/tokenization/StableDebtToken", pool.abi_encode());
    let variable = d.deploy("protocol/tokenization/VariableDebtToken", pool.abi_encode());
    let ray =
        |x: f64| U256::from((x * 1e9).round() as u128) * U256::from(10u64).pow(U256::from(18u64));
    let mut inputs = Vec::new();
    for (i, a) in ASSETS.iter().enumerate() {
        let strategy = d.deploy(
            "DefaultReserveInterestRateStrategy",
            (
                provider,
                ray(0.8),
                ray(0.0),
                ray(0.04),
                ray(0.75),
                U256::ZERO,
                U256::ZERO,
                U256::ZERO,
                U256::ZERO,
                U256::ZERO,
            )
                .abi_encode_params(),
        );
        let s = a.symbol;
        inputs.push(ReserveInput {
            aTokenImpl: a_token,
            stableDebtTokenImpl: stable,
            variableDebtTokenImpl: variable,
            underlyingAssetDecimals: a.decimals,
            interestRateStrategyAddress: strategy,
            underlyingAsset: tokens[i],
            treasury,
            incentivesController: Address::ZERO,
            aTokenName: format!("Aave {s}"),
            aTokenSymbol: format!("a{s}"),
            variableDebtTokenName: format!("Aave Variable Debt {s}"),
            variableDebtTokenSymbol: format!("variableDebt{s}"),
            stableDebtTokenName: format!("Aave Stable Debt {s}"),
            stableDebtTokenSymbol: format!("stableDebt{s}"),
            params: Bytes::new(),
        });
    }
    node.exec_call(
        admin,
        configurator,
        Configurator::initReservesCall { input: inputs },
        "initReserves",
    );
    for (i, a) in ASSETS.iter().enumerate() {
        let asset = tokens[i];
        node.exec_call(
            admin,
            configurator,
            Configurator::configureReserveAsCollateralCall {
                asset,
                ltv: U256::from(a.ltv),
                threshold: U256::from(a.threshold),
                bonus: U256::from(a.bonus),
            },
            "configureReserveAsCollateral",
        );
        node.exec_call(
            admin,
            configurator,
            Configurator::setReserveBorrowingCall {
                asset,
                enabled: true,
            },
            "setReserveBorrowing",
        );
        node.exec_call(
            admin,
            configurator,
            Configurator::setReserveFactorCall {
                asset,
                factor: U256::from(1000u64),
            },
            "setReserveFactor",
        );
        node.exec_call(
            admin,
            configurator,
            Configurator::setLiquidationProtocolFeeCall {
                asset,
                fee: U256::from(1000u64),
            },
            "setLiquidationProtocolFee",
        );
    }

    // Liquidity, the liquidator's funds, then the borrowers (one block each).
    let big = [1_000_000.0, 10_000.0, 1_000_000_000.0];
    for who in [lp, liquidator] {
        for (i, a) in ASSETS.iter().enumerate() {
            let amount = units(big[i], a.decimals);
            node.send_call(who, tokens[i], TestToken::mintCall { value: amount }, GWEI);
            node.send_call(
                who,
                tokens[i],
                TestToken::approveCall {
                    spender: pool,
                    amount: U256::MAX,
                },
                GWEI,
            );
            if who == lp {
                node.send_call(
                    who,
                    pool,
                    LendingPool::supplyCall {
                        asset: tokens[i],
                        amount,
                        onBehalfOf: who,
                        referralCode: 0,
                    },
                    GWEI,
                );
            }
        }
        let (_, receipts) = node.mine();
        assert!(receipts.iter().all(|r| r["status"] == json!("0x1")));
    }
    let mut borrowers = Vec::new();
    // (collateral, debt, initial health factors, collateral amount of the first)
    let groups: [(usize, usize, Vec<f64>, f64); 3] = [
        (
            WETH,
            USDC,
            (0..18).map(|j| 1.06 + 0.05 * j as f64).collect(),
            2.0,
        ),
        (
            WBTC,
            WETH,
            (0..6).map(|j| 1.04 + 0.03 * j as f64).collect(),
            0.5,
        ),
        (
            USDC,
            WETH,
            (0..6).map(|j| 1.02 + 0.01 * j as f64).collect(),
            10_000.0,
        ),
    ];
    for (collateral, debt, hfs, first_amount) in &groups {
        for (j, hf) in hfs.iter().enumerate() {
            let i = borrowers.len();
            let who = accounts[6 + i];
            let (c, dbt) = (&ASSETS[*collateral], &ASSETS[*debt]);
            let amount = first_amount * (1.0 + (j % 5) as f64 * 0.5);
            let debt_amount = amount * c.price * c.threshold as f64 / 10_000.0 / hf / dbt.price;
            let amount = units(amount, c.decimals);
            node.send_call(
                who,
                tokens[*collateral],
                TestToken::mintCall { value: amount },
                GWEI,
            );
            node.send_call(
                who,
                tokens[*collateral],
                TestToken::approveCall {
                    spender: pool,
                    amount: U256::MAX,
                },
                GWEI,
            );
            node.send_call(
                who,
                pool,
                LendingPool::supplyCall {
                    asset: tokens[*collateral],
                    amount,
                    onBehalfOf: who,
                    referralCode: 0,
                },
                GWEI,
            );
            node.send_call(
                who,
                pool,
                LendingPool::borrowCall {
                    asset: tokens[*debt],
                    amount: units((debt_amount * 1e4).floor() / 1e4, dbt.decimals),
                    rateMode: U256::from(2u64),
                    referralCode: 0,
                    onBehalfOf: who,
                },
                GWEI,
            );
            let (block, receipts) = node.mine();
            assert!(
                receipts.len() == 4 && receipts.iter().all(|r| r["status"] == json!("0x1")),
                "borrower {i} set-up in block {block}: {receipts:?}"
            );
            let policy = match i % 3 {
                0 => Policy::SameBlock,
                1 => Policy::Later(1 + (i as u64 / 3) % 3),
                _ => Policy::Never,
            };
            borrowers.push(Borrower {
                address: who,
                collateral: *collateral,
                debt: *debt,
                policy,
                due: None,
            });
        }
    }
    let debt_tokens: Vec<Address> = tokens
        .iter()
        .map(|t| {
            node.view(
                data_provider,
                &DataProvider::getReserveTokensAddressesCall { asset: *t },
                "latest",
            )
            ._2
        })
        .collect();

    // The window: price moves by source swaps, liquidations, unrelated transfers.
    let users: Vec<Address> = borrowers.iter().map(|b| b.address).collect();
    let hf_all = |tag: &str| -> Vec<U256> {
        users
            .iter()
            .map(|u| {
                node.view(pool, &LendingPool::getUserAccountDataCall { user: *u }, tag)
                    ._5
            })
            .collect()
    };
    let from: u64 = u64::from_str_radix(
        &node.call("eth_blockNumber", json!([])).as_str().unwrap()[2..],
        16,
    )
    .unwrap()
        + 1;
    let to = from + WINDOW_BLOCKS - 1;
    let mut points: Vec<Point> = Vec::new();
    let mut liquidations = Vec::new();
    let mut price_txs = Vec::new();
    let mut same_block = 0;
    let t0 = Instant::now();
    for k in 0..WINDOW_BLOCKS {
        let block = from + k;
        node.prepare_block();
        let mut sent: Vec<B256> = Vec::new();
        // schedules liquidations for the borrowers liquidatable at this point
        let note = |hfs: &[U256], borrowers: &mut [Borrower]| {
            for (b, hf) in borrowers.iter_mut().zip(hfs) {
                if *hf >= ONE {
                    b.due = None;
                } else if b.due.is_none() {
                    b.due = match b.policy {
                        Policy::SameBlock => Some(block),
                        Policy::Later(n) => Some(block + n),
                        Policy::Never => None,
                    };
                }
            }
        };
        let top = hf_all("pending");
        note(&top, borrowers.as_mut_slice());
        points.push((block, None, top));
        let after = |hash: B256, points: &mut Vec<Point>, sent: &mut Vec<B256>| {
            sent.push(hash);
            let hfs = hf_all("pending");
            points.push((block, Some(sent.len() as u32 - 1), hfs));
        };
        if k % 4 == 1 {
            let h = node.send(noise, Some(noise_to), Bytes::new(), 21_000, GWEI);
            after(h, &mut points, &mut sent);
        }
        // a source swap: a new MockAggregator per moved asset, then setAssetSources
        let mut moved = Vec::new();
        if k % 3 == 1 {
            moved.push((WETH, weth_path(k)));
        }
        if k % 5 == 2 {
            moved.push((WBTC, wbtc_path(k)));
        }
        if !moved.is_empty() {
            let mut assets = Vec::new();
            let mut aggregators = Vec::new();
            for (asset, price) in &moved {
                let nonce = node.nonces.borrow().get(&keeper).copied().unwrap_or(0);
                let mut code = store
                    .artifact("CLAggregators/MockAggregator")
                    .unwrap()
                    .unlinked_bytecode()
                    .unwrap()
                    .to_vec();
                code.extend_from_slice(&price_8(*price).abi_encode());
                let h = node.send(keeper, None, code.into(), 500_000, 3 * GWEI);
                after(h, &mut points, &mut sent);
                assets.push(tokens[*asset]);
                aggregators.push(keeper.create(nonce));
            }
            let h = node.send_call(
                keeper,
                oracle,
                Oracle::setAssetSourcesCall {
                    assets,
                    sources: aggregators,
                },
                3 * GWEI,
            );
            after(h, &mut points, &mut sent);
            price_txs.push((block, sent.len() as u32 - 1));
            let hfs = points.last().unwrap().2.clone();
            note(&hfs, borrowers.as_mut_slice());
        }
        // the liquidator: every borrower whose liquidation is due and that is liquidatable now
        for u in 0..borrowers.len() {
            let now = points.last().unwrap().2[u];
            let b = &borrowers[u];
            if now >= ONE || b.due.is_none_or(|due| due > block) {
                continue;
            }
            let debt_to_cover = match b.policy {
                Policy::Later(_) => {
                    node.view(
                        debt_tokens[b.debt],
                        &TestToken::balanceOfCall { account: b.address },
                        "pending",
                    ) / U256::from(4u64)
                }
                _ => U256::MAX,
            };
            let h = node.send_call(
                liquidator,
                pool,
                LendingPool::liquidationCallCall {
                    collateral: tokens[b.collateral],
                    debt: tokens[b.debt],
                    user: b.address,
                    debtToCover: debt_to_cover,
                    receiveAToken: false,
                },
                2 * GWEI,
            );
            after(h, &mut points, &mut sent);
            let index = sent.len() as u32 - 1;
            liquidations.push((block, index, b.address));
            if price_txs.last().is_some_and(|p| p.0 == block) {
                same_block += 1;
            }
            let hfs = points.last().unwrap().2.clone();
            let still = hfs[u] < ONE;
            let b = &mut borrowers[u];
            b.due = still.then(|| match b.policy {
                Policy::Later(n) => block + n,
                _ => block + 1,
            });
        }
        if k % 4 == 3 {
            let h = node.send(noise, Some(noise_to), Bytes::new(), 21_000, GWEI);
            after(h, &mut points, &mut sent);
        }
        let (number, receipts) = node.mine();
        assert_eq!(number, block);
        let hashes: Vec<Value> = receipts
            .iter()
            .map(|r| r["transactionHash"].clone())
            .collect();
        assert_eq!(
            hashes,
            sent.iter().map(|h| json!(h)).collect::<Vec<_>>(),
            "block {block}: anvil mined the transactions in another order"
        );
        for r in &receipts {
            assert_eq!(r["status"], json!("0x1"), "block {block}: {r}");
        }
        // the block's end, read at the mined block, is the last pending point
        let end = hf_all(&q(block));
        assert_eq!(
            &end,
            &points.last().unwrap().2,
            "block {block}: the state at the block's end differs from the pending state"
        );
    }
    eprintln!(
        "anvil window built: blocks {from}..={to}, {} points read ({} eth_calls) in {:.1} s",
        points.len(),
        points.len() * users.len(),
        t0.elapsed().as_secs_f64()
    );
    Chain {
        anvil,
        pool,
        from,
        to,
        borrowers: users,
        points,
        liquidations,
        price_txs,
        same_block,
    }
}

fn run_cli(args: &[&std::ffi::OsStr], envs: &[(&str, &std::ffi::OsStr)]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_liqsim"));
    cmd.env("CI", "1").args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(
        out.status.success(),
        "liqsim {args:?} failed:\n{stdout}{stderr}"
    );
    stdout
}

/// Row-for-row comparison with a readable diff.
fn assert_rows(what: &str, liqsim: &[Row], truth: &[Row]) {
    if liqsim == truth {
        return;
    }
    let only = |a: &[Row], b: &[Row]| -> Vec<String> {
        a.iter()
            .filter(|r| !b.contains(r))
            .map(|r| format!("  {r}"))
            .collect()
    };
    panic!(
        "{what}: {} rows, the truth {} rows\nonly in liqsim:\n{}\nonly in the truth:\n{}",
        liqsim.len(),
        truth.len(),
        only(liqsim, truth).join("\n"),
        only(truth, liqsim).join("\n")
    );
}

fn parquet_rows(path: &Path) -> Vec<Row> {
    use polars::prelude::{ParquetReader, SerReader};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let frame = ParquetReader::new(file).finish().unwrap();
    let col = |name: &str| frame.column(name).unwrap().as_materialized_series().clone();
    let (user, first, tx, last, min, ending) = (
        col("user"),
        col("first_block"),
        col("first_tx_index"),
        col("last_block"),
        col("min_health_factor_wad"),
        col("ending"),
    );
    let (user, first, tx, last, min, ending) = (
        user.str().unwrap(),
        first.u64().unwrap(),
        tx.u32().unwrap(),
        last.u64().unwrap(),
        min.str().unwrap(),
        ending.str().unwrap(),
    );
    let mut rows: Vec<Row> = (0..frame.height())
        .map(|i| Row {
            user: user.get(i).unwrap().parse().unwrap(),
            first_block: first.get(i).unwrap(),
            first_tx_index: tx.get(i),
            last_block: last.get(i).unwrap(),
            min_health_factor: min.get(i).unwrap().parse().unwrap(),
            ending: match ending.get(i).unwrap() {
                "liquidated" => "liquidated",
                "recovered" => "recovered",
                "open_at_end" => "open_at_end",
                other => panic!("ending {other}"),
            },
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn independent_anvil_chain_ledger_equals_the_truth() {
    if !crate::common::npm_available() {
        eprintln!("SKIPPED: npm is not installed; this test fetches anvil and Aave with npm");
        return;
    }
    let t = Instant::now();
    let chain = build_chain();
    let truth = truth_rows(
        &chain.borrowers,
        &chain.points,
        &chain.liquidations,
        chain.to,
    );
    let built = t.elapsed().as_secs_f64();
    eprintln!("the truth: {} opportunities", truth.len());
    for r in &truth {
        eprintln!("  {r}");
    }
    // the window exercises what it is meant to
    let by = |e: &str| truth.iter().filter(|r| r.ending == e).count();
    assert!(truth.len() >= 15, "{} opportunities", truth.len());
    assert!(
        by("liquidated") >= 6 && by("recovered") >= 2 && by("open_at_end") >= 2,
        "endings: {} liquidated, {} recovered, {} open at the end",
        by("liquidated"),
        by("recovered"),
        by("open_at_end")
    );
    let back_runs = truth
        .iter()
        .filter(|r| {
            r.first_block == r.last_block
                && r.ending == "liquidated"
                && chain
                    .price_txs
                    .contains(&(r.first_block, r.first_tx_index.unwrap_or(u32::MAX)))
        })
        .count();
    assert!(
        back_runs >= 3 && chain.same_block >= 3,
        "{back_runs} opportunities open only between a price update and a liquidation in its block"
    );
    let opened_by_swaps = truth
        .iter()
        .filter(|r| {
            r.first_tx_index
                .is_some_and(|i| chain.price_txs.contains(&(r.first_block, i)))
        })
        .count();
    assert!(
        opened_by_swaps >= 10,
        "{opened_by_swaps} opened by source swaps"
    );

    // `liqsim record` over RPC, with the users of the Pool's events from block 1
    let cache = temp_dir("independent", "cache");
    let dataset = temp_dir("independent", "recorded");
    let stdout = run_cli(
        &[
            "record".as_ref(),
            "--rpc-url".as_ref(),
            chain.anvil.url().as_ref(),
            "--pool".as_ref(),
            chain.pool.to_string().as_ref(),
            "--from".as_ref(),
            chain.from.to_string().as_ref(),
            "--to".as_ref(),
            chain.to.to_string().as_ref(),
            "--users-from-block".as_ref(),
            "1".as_ref(),
            "--chain-id".as_ref(),
            CHAIN_ID.to_string().as_ref(),
            "--out".as_ref(),
            dataset.as_os_str(),
        ],
        &[("LIQSIM_CACHE_DIR", cache.as_os_str())],
    );
    eprintln!("{}", stdout.trim());
    let window = liqsim::data::dataset::read_dataset(&dataset).unwrap();
    let details = liqsim::protocol::window::WindowDetails::from_manifest(&window.manifest).unwrap();
    let mut tracked = details.users_at_start.clone();
    tracked.sort();
    let mut expected = chain.borrowers.clone();
    expected.sort();
    assert!(
        expected.iter().all(|u| tracked.contains(u)),
        "the recording misses borrowers: tracked {tracked:?}"
    );

    // the ledger, replayed offline from the dataset
    let replayed = liqsim::app::run::replay_window(&window, true, false).unwrap();
    assert_eq!(
        replayed.fidelity.receipts_matched, replayed.fidelity.transactions,
        "{:?}",
        replayed.fidelity.first_divergence
    );
    let ending = |e: liqsim::engine::opportunities::Ending| match e.as_str() {
        "liquidated" => "liquidated",
        "recovered" => "recovered",
        _ => "open_at_end",
    };
    let mut ledger: Vec<Row> = replayed
        .opportunities
        .iter()
        .map(|o| Row {
            user: o.user,
            first_block: o.first_block,
            first_tx_index: o.first_tx_index,
            last_block: o.last_block,
            min_health_factor: o.min_health_factor,
            ending: ending(o.ending),
        })
        .collect();
    ledger.sort();
    assert_rows("the replayed ledger", &ledger, &truth);

    // the referee: every borrower's health factor and opportunity against getUserAccountData
    let referee = run_cli(&["check-window".as_ref(), dataset.as_os_str()], &[]);
    assert!(referee.contains(": 0 mismatches"), "{referee}");
    eprintln!("{}", referee.trim());

    // `liqsim run` on a scenario naming the node: opportunities.parquet
    let root = temp_dir("independent", "run");
    std::fs::create_dir_all(&root).unwrap();
    let scenario = root.join("independent.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"independent\"\n\n[source]\nkind = \"rpc\"\nrpc_url_env = \"LIQSIM_INDEPENDENT_NODE\"\npool = \"{}\"\nfrom_block = {}\nto_block = {}\nusers_from_block = 1\nchain_id = {CHAIN_ID}\n\n[[strategies]]\nkind = \"greedy\"\nlatency_blocks = 0\npriority_fee_gwei = 5\n",
            chain.pool, chain.from, chain.to
        ),
    )
    .unwrap();
    let url = chain.anvil.url();
    run_cli(
        &[
            "run".as_ref(),
            scenario.as_os_str(),
            "--datasets".as_ref(),
            root.join("datasets").as_os_str(),
            "--out".as_ref(),
            root.join("out").as_os_str(),
        ],
        &[
            ("LIQSIM_INDEPENDENT_NODE", url.as_ref()),
            ("LIQSIM_CACHE_DIR", cache.as_os_str()),
        ],
    );
    let table = parquet_rows(&root.join("out/opportunities.parquet"));
    assert_rows("liqsim run's opportunities.parquet", &table, &truth);
    // the scenario's recording (through the cache) holds the same files as `liqsim record`'s
    let files = |dir: &Path| liqsim::data::dataset::read_manifest(dir).unwrap().files;
    assert_eq!(files(&root.join("datasets/independent")), files(&dataset));
    for dir in [&cache, &dataset, &root] {
        let _ = std::fs::remove_dir_all(dir);
    }
    eprintln!(
        "independent chain: {} opportunities equal to the truth ({} liquidations, {back_runs} back-runs in the price update's block); chain built and read in {built:.1} s, all in {:.1} s",
        truth.len(),
        chain.liquidations.len(),
        t.elapsed().as_secs_f64()
    );
}
