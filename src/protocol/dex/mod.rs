//! Real AMMs in the what-if EVM: Uniswap V2 and Uniswap V3 deployed from their published npm
//! bytecode (pinned versions, sha512-checked, cached like every other artifact), a pool per
//! (sold asset, bought asset) seeded at the oracle price with the scenario's depth, quotes from the
//! DEX's own lens (`getAmountsOut`, `QuoterV2`) and swaps through its own router.
//!
//! Two modes. **On the chain** ([`RealDex::on_chain`]): the window's own chain holds the DEX and
//! its pools (a devnet window built with a real `[dex]`, see `source::pools`), and every what-if
//! sells through them at the hook's state: a pool lagging the oracle or drained by earlier
//! sellers is what the sale meets. **Seeded** (only where the chain has no such pool): the
//! factory, router, quoter and position manager are deployed once into an empty EVM; every
//! what-if copies those accounts into its throwaway overlay ([`RealDex::install`]), then creates
//! and seeds the pool it sells through ([`RealDex::seed`]) at the oracle price, as the formula
//! model assumes too.

pub mod arbitrage;
pub mod uniswap_v2;
pub mod uniswap_v3;

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{sol, SolCall};
use revm::context::TxEnv;
use revm::database::EmptyDB;
use revm::database_interface::DBErrorMarker;
use revm::state::AccountInfo;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evm::executor::{Evm, USER_TX_GAS_LIMIT};

sol! {
    /// The ERC-20 calls a sale makes.
    interface IDexToken {
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address account) external view returns (uint256);
    }
}

/// Which DEX seized collateral is sold through (`[dex] kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DexKind {
    /// The constant-product formula centred on the oracle (`math::cost::ConstantProductPool`).
    #[default]
    Formula,
    /// Uniswap V2 (factory, pair, Router02) in the EVM; fee fixed at 30 bps.
    UniswapV2,
    /// Uniswap V3 (factory, pool, SwapRouter, QuoterV2, NonfungiblePositionManager) in the EVM.
    UniswapV3,
}

impl DexKind {
    /// True for the default (serde skips it, so existing scenarios serialise as before).
    pub fn is_formula(&self) -> bool {
        matches!(self, DexKind::Formula)
    }
}

/// Fee tiers Uniswap V3's factory enables at deployment (hundredths of a bip).
pub const V3_FEE_TIERS: &[u32] = &[500, 3000, 10000];

/// The pool a sale goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Route {
    /// A Uniswap V2 pair (30 bps).
    UniswapV2,
    /// A Uniswap V3 pool of this fee tier (hundredths of a bip: 500, 3000, 10000).
    UniswapV3 {
        /// Fee tier.
        fee: u32,
    },
}

impl Route {
    /// Parses a route name (`uniswap-v2`, `uniswap-v3-500`, `uniswap-v3-3000`,
    /// `uniswap-v3-10000`); anything else is an error naming `field` and the routes there are.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        let route = match text {
            "uniswap-v2" => Some(Route::UniswapV2),
            _ => text
                .strip_prefix("uniswap-v3-")
                .and_then(|fee| fee.parse::<u32>().ok())
                .filter(|fee| V3_FEE_TIERS.contains(fee))
                .map(|fee| Route::UniswapV3 { fee }),
        };
        route.ok_or_else(|| {
            Error::config(
                field,
                text,
                "a route: uniswap-v2, uniswap-v3-500, uniswap-v3-3000 or uniswap-v3-10000",
            )
        })
    }

    /// Column value in outputs: `uniswap-v2`, `uniswap-v3-3000`.
    pub fn name(&self) -> String {
        match self {
            Route::UniswapV2 => "uniswap-v2".into(),
            Route::UniswapV3 { fee } => format!("uniswap-v3-{fee}"),
        }
    }
}

/// One asset of the market as the DEX sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DexAsset {
    /// Token address.
    pub token: Address,
    /// Token decimals.
    pub decimals: u8,
    /// USD value (8 decimals) of each side of a pool that sells this asset.
    pub depth_base: U256,
}

/// An account of the deployed DEX (code and storage), copied into every what-if overlay.
#[derive(Debug, Clone)]
struct Snapshot {
    address: Address,
    info: AccountInfo,
    storage: Vec<(U256, U256)>,
}

/// The DEX's contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DexContracts {
    /// The factory.
    pub factory: Address,
    /// The router swaps go through (Router02, SwapRouter).
    pub router: Address,
    /// QuoterV2 (V3 only).
    pub quoter: Option<Address>,
    /// NonfungiblePositionManager (V3 only).
    pub positions: Option<Address>,
}

/// One pool on a window's chain: the two tokens it trades and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPool {
    /// The token sold into it (the collateral).
    pub sell: Address,
    /// The token bought from it (the debt asset).
    pub buy: Address,
    /// The pair's or pool's address.
    pub pool: Address,
}

/// A DEX deployed on the window's chain itself (a window's manifest carries it in
/// `protocol.details.chain_dex`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDex {
    /// The pool kind.
    pub route: Route,
    /// Its contracts on the chain.
    pub contracts: DexContracts,
    /// The pools the window set up.
    pub pools: Vec<ChainPool>,
}

/// A real DEX: on the window's chain, or ready to be installed into what-if overlays.
#[derive(Debug, Clone)]
pub struct RealDex {
    route: Route,
    contracts: DexContracts,
    assets: Vec<DexAsset>,
    accounts: Vec<Snapshot>,
    /// True when the contracts and pools are on the chain (nothing installed, nothing seeded).
    on_chain: bool,
}

/// What a sale through the DEX did, from the EVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapOutcome {
    /// The pool used.
    pub route: Route,
    /// The pool's address.
    pub pool: Address,
    /// True when the swap succeeded.
    pub success: bool,
    /// Decoded revert reason when it failed.
    pub revert_reason: Option<String>,
    /// Amount sold, sold-asset units.
    pub amount_in: U256,
    /// Amount received (the seller's balance delta of the bought asset).
    pub amount_out: U256,
    /// Gas used by the approval and the swap transactions.
    pub gas_used: u64,
}

/// The account that deploys the DEX (its contracts' addresses follow from its nonces).
pub fn dex_deployer() -> Address {
    crate::evm::keys::actor("liqsim dex deployer")
}

/// The account that provides each pool's liquidity.
pub fn liquidity_provider() -> Address {
    crate::evm::keys::actor("liqsim dex liquidity provider")
}

/// Ether given to the DEX's own accounts for gas.
fn gas_money() -> U256 {
    U256::from(10u64).pow(U256::from(21u64))
}

/// Far-future deadline for router calls.
pub const DEADLINE: u64 = u64::MAX / 2;

impl RealDex {
    /// Deploys `route`'s DEX from its npm packages into an empty EVM, for a market whose assets
    /// are `assets` (`weth` is what the routers are told is the wrapped native token).
    pub fn deploy(route: Route, weth: Address, assets: Vec<DexAsset>) -> Result<Self> {
        let deployer = dex_deployer();
        let mut evm: Evm<EmptyDB> = Evm::new(EmptyDB::default(), 1);
        let mut block = evm.block().clone();
        block.gas_limit = 60_000_000;
        block.basefee = 0;
        evm.set_block(block);
        evm.set_balance(deployer, gas_money())?;
        let contracts = match route {
            Route::UniswapV2 => uniswap_v2::deploy(&mut evm, deployer, weth)?,
            Route::UniswapV3 { fee } => {
                if !V3_FEE_TIERS.contains(&fee) {
                    return Err(Error::config(
                        "dex.fee_tier",
                        fee,
                        "a Uniswap V3 fee tier: 500, 3000 or 10000",
                    ));
                }
                uniswap_v3::deploy(&mut evm, deployer, weth)?
            }
        };
        let db = evm.db();
        let mut accounts = Vec::new();
        for (address, account) in &db.cache.accounts {
            if *address == deployer {
                continue;
            }
            let mut info = account.info.clone();
            if info.code.is_none() {
                info.code = db.cache.contracts.get(&info.code_hash).cloned();
            }
            let mut storage: Vec<(U256, U256)> =
                account.storage.iter().map(|(k, v)| (*k, *v)).collect();
            storage.sort_unstable();
            accounts.push(Snapshot {
                address: *address,
                info,
                storage,
            });
        }
        accounts.sort_by_key(|a| a.address);
        Ok(Self {
            route,
            contracts,
            assets,
            accounts,
            on_chain: false,
        })
    }

    /// Deploys `route`'s DEX from its npm packages into `evm` itself (a devnet chain), from
    /// `deployer` (given ether for gas when it has none): a DEX [`RealDex::on_chain`].
    pub fn deploy_on<DB>(
        evm: &mut Evm<DB>,
        deployer: Address,
        route: Route,
        weth: Address,
        assets: Vec<DexAsset>,
    ) -> Result<Self>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if evm.account(deployer)?.balance.is_zero() {
            evm.set_balance(deployer, gas_money())?;
        }
        let contracts = match route {
            Route::UniswapV2 => uniswap_v2::deploy(evm, deployer, weth)?,
            Route::UniswapV3 { fee } => {
                if !V3_FEE_TIERS.contains(&fee) {
                    return Err(Error::config(
                        "dex.fee_tier",
                        fee,
                        "a Uniswap V3 fee tier: 500, 3000 or 10000",
                    ));
                }
                uniswap_v3::deploy(evm, deployer, weth)?
            }
        };
        Ok(Self {
            route,
            contracts,
            assets,
            accounts: Vec::new(),
            on_chain: true,
        })
    }

    /// The DEX a window's chain already holds (`chain`), for a market whose assets are `assets`:
    /// nothing is installed into what-ifs, and sales go through the chain's own pools at the
    /// state they meet.
    pub fn on_chain(chain: &ChainDex, assets: Vec<DexAsset>) -> Self {
        Self {
            route: chain.route,
            contracts: chain.contracts,
            assets,
            accounts: Vec::new(),
            on_chain: true,
        }
    }

    /// True when the DEX is the chain's own (no seeded overlay).
    pub fn is_on_chain(&self) -> bool {
        self.on_chain
    }

    /// The market's assets as the DEX sees them (index order).
    pub fn assets(&self) -> &[DexAsset] {
        &self.assets
    }

    /// The pool's swap fee, bps (V2: 30; V3: the tier).
    pub fn fee_bps(&self) -> u64 {
        match self.route {
            Route::UniswapV2 => 30,
            Route::UniswapV3 { fee } => u64::from(fee) / 100,
        }
    }

    /// The chain's pool selling asset `sell` for `buy`: an error naming the pair when the
    /// factory has none, or when it holds no liquidity.
    pub fn chain_pool<DB>(&self, evm: &mut Evm<DB>, sell: usize, buy: usize) -> Result<Address>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let (s, b) = (self.asset(sell)?, self.asset(buy)?);
        let pool = self.pool(evm, s.token, b.token)?;
        let what = format!("{} pool of {} / {}", self.route.name(), s.token, b.token);
        if pool.is_zero() {
            return Err(Error::config(
                "dex pool",
                what,
                format!(
                    "a pool the chain's factory {} knows (getPair / getPool returned 0)",
                    self.contracts.factory
                ),
            ));
        }
        let liquid = match self.route {
            Route::UniswapV2 => {
                let (r0, r1) = uniswap_v2::reserves(evm, pool, s.token)?;
                !r0.is_zero() && !r1.is_zero()
            }
            Route::UniswapV3 { .. } => uniswap_v3::liquidity(evm, pool)? > 0,
        };
        if !liquid {
            return Err(Error::config(
                "dex pool",
                format!("{what} at {pool}"),
                "a pool holding liquidity",
            ));
        }
        Ok(pool)
    }

    /// The pool kind sales go through.
    pub fn route(&self) -> Route {
        self.route
    }

    /// The deployed contracts.
    pub fn contracts(&self) -> DexContracts {
        self.contracts
    }

    /// Copies the DEX's contracts into `evm`'s write layer.
    pub fn install<DB>(&self, evm: &mut Evm<DB>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if self.on_chain {
            return Ok(());
        }
        for a in &self.accounts {
            let db = evm.db_mut();
            db.insert_account_info(a.address, a.info.clone());
            for (slot, value) in &a.storage {
                db.insert_account_storage(a.address, *slot, *value)
                    .map_err(|e| {
                        crate::evm::executor::state_error(
                            &e,
                            format_args!("installing the DEX account {}", a.address),
                        )
                    })?;
            }
        }
        Ok(())
    }

    /// Asset `i` as the DEX sees it.
    pub fn asset(&self, i: usize) -> Result<DexAsset> {
        self.assets.get(i).copied().ok_or_else(|| {
            Error::config(
                "dex asset",
                i,
                format!("an asset index below {}", self.assets.len()),
            )
        })
    }

    /// Creates the pool selling asset `sell` for asset `buy` in `evm` and gives it liquidity at
    /// the oracle price (`usd_sell`, `usd_buy`: USD prices, 8 decimals) worth the sold asset's
    /// depth on each side; returns the pool. On the chain, nothing is seeded: the chain's own
    /// pool as it is ([`RealDex::chain_pool`]).
    pub fn seed<DB>(
        &self,
        evm: &mut Evm<DB>,
        sell: usize,
        buy: usize,
        usd_sell: U256,
        usd_buy: U256,
    ) -> Result<Address>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if self.on_chain {
            return self.chain_pool(evm, sell, buy);
        }
        self.seed_pool(evm, sell, buy, usd_sell, usd_buy)
    }

    /// [`RealDex::seed`] whatever the mode: creates (when absent) and funds the pool at the
    /// oracle price (a devnet chain's set-up uses it on the chain itself).
    pub fn seed_pool<DB>(
        &self,
        evm: &mut Evm<DB>,
        sell: usize,
        buy: usize,
        usd_sell: U256,
        usd_buy: U256,
    ) -> Result<Address>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let (s, b) = (self.asset(sell)?, self.asset(buy)?);
        if s.token == b.token {
            return Err(Error::config(
                "dex pool",
                s.token,
                "two different assets to trade",
            ));
        }
        // Both sides worth the sold asset's depth: the pool sits at the oracle price.
        let amount_sell = side_amount(s, s.depth_base, usd_sell)?;
        let amount_buy = side_amount(b, s.depth_base, usd_buy)?;
        let lp = liquidity_provider();
        if evm.account(lp)?.balance.is_zero() {
            evm.set_balance(lp, gas_money())?;
        }
        match self.route {
            Route::UniswapV2 => uniswap_v2::seed(
                evm,
                &self.contracts,
                lp,
                (s.token, amount_sell),
                (b.token, amount_buy),
            ),
            Route::UniswapV3 { fee } => uniswap_v3::seed(
                evm,
                &self.contracts,
                lp,
                fee,
                (s.token, amount_sell),
                (b.token, amount_buy),
            ),
        }
    }

    /// The DEX's own quote for selling `amount_in` of `sell` for `buy` on `evm`'s state
    /// (Router02 `getAmountsOut`, QuoterV2 `quoteExactInputSingle`).
    pub fn quote<DB>(
        &self,
        evm: &mut Evm<DB>,
        sell: usize,
        buy: usize,
        amount_in: U256,
    ) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let (s, b) = (self.asset(sell)?, self.asset(buy)?);
        match self.route {
            Route::UniswapV2 => {
                uniswap_v2::quote(evm, &self.contracts, s.token, b.token, amount_in)
            }
            Route::UniswapV3 { fee } => {
                uniswap_v3::quote(evm, &self.contracts, fee, s.token, b.token, amount_in)
            }
        }
    }

    /// The router call selling `amount_in` of `sell` for at least `min_out` of `buy`, paid to
    /// `recipient` (the seller must have approved the router).
    pub fn swap_call(
        &self,
        sell: usize,
        buy: usize,
        amount_in: U256,
        min_out: U256,
        recipient: Address,
    ) -> Result<Bytes> {
        let (s, b) = (self.asset(sell)?, self.asset(buy)?);
        Ok(match self.route {
            Route::UniswapV2 => {
                uniswap_v2::swap_call(s.token, b.token, amount_in, min_out, recipient)
            }
            Route::UniswapV3 { fee } => {
                uniswap_v3::swap_call(fee, s.token, b.token, amount_in, min_out, recipient)
            }
        })
    }

    /// Sells `amount_in` of `sell` held by `seller` for at least `min_out` of `buy` through the
    /// router, as the seller's own two transactions (approve, swap) at `priority_fee` per gas.
    /// The pool must have been seeded ([`RealDex::seed`]); a failed swap is an outcome with its
    /// decoded reason, not an error.
    #[allow(clippy::too_many_arguments)]
    pub fn sell<DB>(
        &self,
        evm: &mut Evm<DB>,
        seller: Address,
        sell: usize,
        buy: usize,
        amount_in: U256,
        min_out: U256,
        priority_fee: u128,
    ) -> Result<SwapOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let (s, b) = (self.asset(sell)?, self.asset(buy)?);
        let pool = self.pool(evm, s.token, b.token)?;
        let approve = IDexToken::approveCall {
            spender: self.contracts.router,
            amount: amount_in,
        }
        .abi_encode();
        let approved = send_tx(evm, seller, s.token, approve.into(), priority_fee)?;
        let before = token_balance(evm, b.token, seller)?;
        let data = self.swap_call(sell, buy, amount_in, min_out, seller)?;
        let swapped = if approved.success {
            Some(send_tx(
                evm,
                seller,
                self.contracts.router,
                data,
                priority_fee,
            )?)
        } else {
            None
        };
        let after = token_balance(evm, b.token, seller)?;
        let failed = swapped.as_ref().filter(|o| o.success).is_none();
        let reason = if failed {
            let o = swapped.as_ref().unwrap_or(&approved);
            Some(
                o.halt
                    .clone()
                    .unwrap_or_else(|| crate::evm::executor::decode_revert_reason(&o.output)),
            )
        } else {
            None
        };
        Ok(SwapOutcome {
            route: self.route,
            pool,
            success: !failed,
            revert_reason: reason,
            amount_in,
            amount_out: after.saturating_sub(before),
            gas_used: approved.gas_used + swapped.map(|o| o.gas_used).unwrap_or(0),
        })
    }

    /// The pool of `a` and `b` on this DEX's route (zero when none).
    pub fn pool<DB>(&self, evm: &mut Evm<DB>, a: Address, b: Address) -> Result<Address>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        match self.route {
            Route::UniswapV2 => uniswap_v2::pair(evm, &self.contracts, a, b),
            Route::UniswapV3 { fee } => uniswap_v3::pool(evm, &self.contracts, fee, a, b),
        }
    }
}

/// Checks the pools `[dex] pools` names (`named`, in order) on `evm`'s state against the chain's
/// DEX `dex` ([`RealDex::on_chain`]): each must hold code, trade two of the market's assets, be
/// the factory's pool of them (`getPair`, or `getPool` at the route's fee tier) and hold
/// liquidity; anything else is an error naming `dex.pools[i]` and the address. Returns the pools
/// with their tokens.
pub fn check_named_pools<DB>(
    evm: &mut Evm<DB>,
    dex: &RealDex,
    named: &[Address],
) -> Result<Vec<ChainPool>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut out = Vec::new();
    for (i, &pool) in named.iter().enumerate() {
        let field = format!("dex.pools[{i}]");
        let bad = |why: String| Error::config(&field, pool, why);
        let has_code = evm
            .account(pool)?
            .code
            .as_ref()
            .is_some_and(|c| !c.is_empty());
        if !has_code {
            return Err(bad("a pool contract on the chain (no code there)".into()));
        }
        let (t0, t1) = match dex.route {
            Route::UniswapV2 => uniswap_v2::tokens(evm, pool),
            Route::UniswapV3 { fee } => match uniswap_v3::tokens_and_fee(evm, pool) {
                Ok((a, b, f)) if f == fee => Ok((a, b)),
                Ok((_, _, f)) => {
                    return Err(bad(format!(
                        "a pool of the fee tier dex.fee_tier names ({fee}); it charges {f}"
                    )))
                }
                Err(e) => Err(e),
            },
        }
        .map_err(|e| {
            bad(format!(
                "a {} pool (its token views failed: {e})",
                dex.route.name()
            ))
        })?;
        let index = |t: Address| dex.assets.iter().position(|a| a.token == t);
        let (Some(a), Some(b)) = (index(t0), index(t1)) else {
            return Err(bad(format!(
                "a pool of two of the market's assets (it trades {t0} and {t1})"
            )));
        };
        let listed = dex.pool(evm, t0, t1)?;
        if listed != pool {
            return Err(bad(format!(
                "the factory {}'s pool of {t0} and {t1} (it lists {listed})",
                dex.contracts.factory
            )));
        }
        dex.chain_pool(evm, a, b).map_err(|e| bad(e.to_string()))?;
        out.push(ChainPool {
            sell: t0,
            buy: t1,
            pool,
        });
    }
    Ok(out)
}

/// Token units of `asset` worth `depth_base` (USD, 8 decimals) at `usd_price` (8 decimals).
pub(crate) fn side_amount(asset: DexAsset, depth_base: U256, usd_price: U256) -> Result<U256> {
    if usd_price.is_zero() {
        return Err(Error::config(
            "dex pool price",
            format!("0 for token {}", asset.token),
            "an oracle price above 0 to seed the pool at",
        ));
    }
    let amount = depth_base * U256::from(10u64).pow(U256::from(asset.decimals)) / usd_price;
    if amount.is_zero() {
        return Err(Error::config(
            "dex depth",
            depth_base,
            format!("a depth worth at least one unit of token {}", asset.token),
        ));
    }
    Ok(amount)
}

/// `holder`'s balance of `token`.
pub fn token_balance<DB>(evm: &mut Evm<DB>, token: Address, holder: Address) -> Result<U256>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    evm.view(
        token,
        &IDexToken::balanceOfCall { account: holder },
        "balanceOf (DEX sale)",
    )
}

/// Sends a user transaction at the block's base fee plus `priority_fee`, committed to `evm`.
pub fn send_tx<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    to: Address,
    data: Bytes,
    priority_fee: u128,
) -> Result<crate::evm::executor::TxOutcome>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let nonce = evm.account(from)?.nonce;
    let base_fee = evm.block().basefee as u128;
    let tx = TxEnv {
        tx_type: 2,
        caller: from,
        gas_limit: USER_TX_GAS_LIMIT,
        gas_price: base_fee + priority_fee,
        gas_priority_fee: Some(priority_fee),
        kind: TxKind::Call(to),
        data,
        nonce,
        chain_id: Some(evm.chain_id()),
        ..TxEnv::default()
    };
    evm.execute(tx, true)
}

/// Loads the creation bytecode of a Waffle-format artifact (`build/<Name>.json`, as the
/// Uniswap V2 packages publish them: a top-level `bytecode` hex string).
fn waffle_bytecode(path: &std::path::Path) -> Result<Bytes> {
    #[derive(Deserialize)]
    struct Waffle {
        bytecode: String,
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let raw: Waffle = serde_json::from_str(&text).map_err(|e| Error::InvalidFile {
        path: path.to_path_buf(),
        message: format!("not a compiled-contract artifact (no `bytecode`): {e}"),
    })?;
    let code =
        hex::decode(raw.bytecode.trim_start_matches("0x")).map_err(|e| Error::InvalidFile {
            path: path.to_path_buf(),
            message: format!("bytecode is not hex: {e}"),
        })?;
    if code.is_empty() {
        return Err(Error::InvalidFile {
            path: path.to_path_buf(),
            message: "empty bytecode (an interface, not a contract)".into(),
        });
    }
    Ok(Bytes::from(code))
}

/// Deploys `code` with ABI-encoded constructor arguments `args` from `from`.
fn deploy_with<DB>(
    evm: &mut Evm<DB>,
    from: Address,
    code: Bytes,
    args: Vec<u8>,
    what: &str,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut init = code.to_vec();
    init.extend(args);
    evm.deploy(from, Bytes::from(init), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_amounts_follow_the_oracle() {
        let weth = DexAsset {
            token: Address::repeat_byte(1),
            decimals: 18,
            depth_base: U256::from(1_000_000u64) * U256::from(100_000_000u64),
        };
        // 1,000,000 USD of WETH at 2,000 USD = 500 WETH
        let amount = side_amount(
            weth,
            weth.depth_base,
            U256::from(2_000u64) * U256::from(100_000_000u64),
        )
        .unwrap();
        assert_eq!(
            amount,
            U256::from(500u64) * U256::from(10u64).pow(U256::from(18u64))
        );
        let err = side_amount(weth, weth.depth_base, U256::ZERO)
            .unwrap_err()
            .to_string();
        assert!(err.contains("oracle price above 0"), "{err}");
    }

    #[test]
    fn route_names() {
        assert_eq!(Route::UniswapV2.name(), "uniswap-v2");
        assert_eq!(Route::UniswapV3 { fee: 500 }.name(), "uniswap-v3-500");
        for r in [Route::UniswapV2, Route::UniswapV3 { fee: 10000 }] {
            assert_eq!(Route::parse("route", &r.name()).unwrap(), r);
        }
        let err = Route::parse("route", "uniswap-v3-100")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("route") && err.contains("uniswap-v3-100"),
            "{err}"
        );
    }
}
