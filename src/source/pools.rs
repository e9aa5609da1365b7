//! Pools on a devnet window's chain (`[dex] kind = "uniswap-v2" | "uniswap-v3"`): the DEX
//! deployed from its npm bytecode into the pre-state with a pool per (collateral, debt asset) pair
//! at the scenario's depth, an arbitrageur that trades each pool back to the oracle price as it was
//! `[dex] arbitrage_lag_blocks` blocks before, and the competitors' own liquidator contracts
//! (`contracts/liquidator/Liquidator.sol`), through which their liquidations sell the seized
//! collateral into the same pools.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{sol, SolValue};
use revm::database::EmptyDB;

use crate::data::records::BlockRecord;
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::evm::tx::CallRequest;
use crate::protocol::dex::arbitrage::arbitrage_trade;
use crate::protocol::dex::{side_amount, token_balance, ChainDex, ChainPool, DexAsset, RealDex};
use crate::protocol::market::Call;
use crate::protocol::{AnyMarket, LendingMarket};
use crate::scenario::LoadedScenario;

sol! {
    interface IPoolToken {
        function approve(address spender, uint256 amount) external returns (bool);
        function transfer(address to, uint256 amount) external returns (bool);
    }
}

/// The arbitrageur's signer name (`evm::keys::actor_signer`).
pub const ARBITRAGEUR: &str = "liqsim arbitrageur";
/// The account that deploys the chain's DEX (not the what-if DEX's deployer: a seeded route in a
/// what-if must not land on the chain's addresses).
pub const CHAIN_DEX_DEPLOYER: &str = "liqsim chain dex deployer";
pub use crate::protocol::dex::arbitrage::ARBITRAGE_PRIORITY_FEE;
/// Gas limit of an arbitrage swap.
pub const ARBITRAGE_GAS: u64 = 400_000;
/// Multiple of a pool's depth the arbitrageur holds of each of its tokens.
const ARBITRAGEUR_DEPTHS: u64 = 5;

/// A devnet chain's pools, its arbitrageur and the competitors' liquidator contracts.
pub struct ChainPools {
    dex: RealDex,
    pools: Vec<ChainPool>,
    /// (collateral, debt) asset indexes of each pool.
    pairs: Vec<(usize, usize)>,
    lag: u64,
    slippage_bps: u16,
    bots: BTreeMap<String, Address>,
    /// Oracle prices when the window starts, and at the end of each block built so far.
    initial: Vec<U256>,
    history: Vec<Vec<U256>>,
}

impl ChainPools {
    /// Sets the pools up in `evm`'s pre-state when the scenario's `[dex]` is a real DEX (`None`
    /// for the formula model): the DEX, a pool per pair of `[borrowers]` collateral and debt
    /// assets seeded at the oracle `prices` with the collateral's depth on each side, the
    /// arbitrageur's balances and approvals, a liquidator contract per competitor holding the
    /// competitor's debt-asset balances. Call after the competitors are funded.
    pub fn set_up(
        loaded: &LoadedScenario,
        evm: &mut Evm<EmptyDB>,
        market: &AnyMarket,
        prices: &[U256],
    ) -> Result<Option<Self>> {
        let s = &loaded.scenario;
        let Some(route) = s.dex.route()? else {
            return Ok(None);
        };
        if let Some(factory) = s.dex.factory {
            return Err(Error::config(
                "dex.factory",
                factory,
                "no factory in a devnet scenario (the builder deploys the DEX and its pools on \
                 the chain itself; dex.factory, router, quoter and pools name a recorded \
                 window's own DEX)",
            ));
        }
        let lag = s
            .dex
            .arbitrage_lag()?
            .unwrap_or(crate::scenario::DexConfig::DEFAULT_ARBITRAGE_LAG_BLOCKS);
        if !matches!(market, AnyMarket::AaveV3(_) | AnyMarket::AaveV2(_)) {
            // Compound-style liquidations pay vTokens; the chain's competitors do not redeem
            // them yet, so these windows keep what-if pools seeded at the oracle (README).
            tracing::warn!(
                "dex.kind = {}: a {} market gets no pools on the chain (its competitors keep \
                 the vTokens they seize); what-ifs sell through pools seeded at the oracle",
                route.name(),
                market.kind().as_str()
            );
            return Ok(None);
        }
        let model = s.dex.model(&market.symbols())?;
        let tokens = market.asset_addresses();
        let assets: Vec<DexAsset> = tokens
            .iter()
            .zip(market.decimals())
            .zip(&model.pools)
            .map(|((token, decimals), pool)| DexAsset {
                token: *token,
                decimals,
                depth_base: pool.map(|p| p.depth_base).unwrap_or_default(),
            })
            .collect();
        let weth = tokens
            .get(market.native_asset()?)
            .copied()
            .unwrap_or_default();
        let dex = RealDex::deploy_on(evm, actor(CHAIN_DEX_DEPLOYER), route, weth, assets)?;
        let index = |symbols: &[String]| -> Result<Vec<usize>> {
            symbols.iter().map(|c| s.market.asset_index(c)).collect()
        };
        let (collateral, debt) = (index(&s.borrowers.collateral)?, index(&s.borrowers.debt)?);
        let price = |i: usize| {
            prices
                .get(i)
                .copied()
                .ok_or_else(|| Error::config("market.assets", i, "an asset with an oracle price"))
        };
        let arb = actor(ARBITRAGEUR);
        evm.set_balance(arb, U256::from(10u64).pow(U256::from(24u64)))?;
        let mut pools = Vec::new();
        let mut pairs = Vec::new();
        let mut approved = Vec::new();
        for &c in &collateral {
            for &d in &debt {
                if c == d || pairs.contains(&(c, d)) {
                    continue;
                }
                let (pc, pd) = (price(c)?, price(d)?);
                let pool = dex.seed_pool(evm, c, d, pc, pd).map_err(|e| {
                    Error::config(
                        "dex",
                        format!("the {} pool of assets {c} and {d}", route.name()),
                        format!("a pool the devnet can seed at the scenario's depth: {e}"),
                    )
                })?;
                let (ac, ad) = (dex.asset(c)?, dex.asset(d)?);
                let arb_depth = ac.depth_base * U256::from(ARBITRAGEUR_DEPTHS);
                for (asset, usd) in [(ac, pc), (ad, pd)] {
                    let amount = side_amount(asset, arb_depth, usd)?;
                    crate::evm::deal::deal_add(evm, asset.token, arb, amount)?;
                    if !approved.contains(&asset.token) {
                        evm.send_call(
                            arb,
                            asset.token,
                            &IPoolToken::approveCall {
                                spender: dex.contracts().router,
                                amount: U256::MAX,
                            },
                            "approve (the arbitrageur's router allowance)",
                        )?;
                        approved.push(asset.token);
                    }
                }
                pools.push(ChainPool {
                    sell: ac.token,
                    buy: ad.token,
                    pool,
                });
                pairs.push((c, d));
            }
        }
        let bots = competitor_contracts(loaded, evm, &tokens, &debt)?;
        Ok(Some(Self {
            dex,
            pools,
            pairs,
            lag,
            slippage_bps: s.dex.slippage_bps()?,
            bots,
            initial: prices.to_vec(),
            history: Vec::new(),
        }))
    }

    /// The DEX as the manifest records it.
    pub fn chain_dex(&self) -> ChainDex {
        ChainDex {
            route: self.dex.route(),
            contracts: self.dex.contracts(),
            pools: self.pools.clone(),
        }
    }

    /// Each competitor's liquidator contract, by name.
    pub fn competitor_contracts(&self) -> &BTreeMap<String, Address> {
        &self.bots
    }

    /// How many pools there are (one arbitrage intent each per block).
    pub fn pool_count(&self) -> usize {
        self.pairs.len()
    }

    /// Records the oracle prices at the end of a block (call once per block, in order).
    pub fn end_block(&mut self, prices: Vec<U256>) {
        self.history.push(prices);
    }

    /// The prices the arbitrageur trades towards in the block `offset` blocks into the window:
    /// the oracle's `lag` blocks before (`current` with no lag; the starting prices before
    /// the window is `lag` blocks old).
    fn target<'a>(&'a self, offset: u64, current: &'a [U256]) -> &'a [U256] {
        if self.lag == 0 {
            return current;
        }
        match offset.checked_sub(self.lag) {
            Some(k) => usize::try_from(k)
                .ok()
                .and_then(|k| self.history.get(k))
                .map(|v| v.as_slice())
                .unwrap_or(current),
            None => &self.initial,
        }
    }

    /// A placeholder for pool `k`'s arbitrage in a block (its call is made when it executes:
    /// [`ChainPools::arbitrage_request`]).
    pub fn arbitrage_placeholder(&self, header: &BlockRecord) -> CallRequest {
        request(
            self.dex.contracts().router,
            Bytes::new(),
            ARBITRAGE_GAS,
            header,
            ARBITRAGE_PRIORITY_FEE,
        )
    }

    /// The arbitrageur's swap on pool `k` on `evm`'s state (as it executes: after what came
    /// before it in the block), `offset` blocks into the window with the oracle at `current`;
    /// `None` when the pool is within its fee of the target.
    pub fn arbitrage_request(
        &self,
        evm: &mut Evm<EmptyDB>,
        k: usize,
        offset: u64,
        current: &[U256],
        header: &BlockRecord,
    ) -> Result<Option<CallRequest>> {
        let Some(&(c, d)) = self.pairs.get(k) else {
            return Ok(None);
        };
        let target = self.target(offset, current);
        let (Some(&pc), Some(&pd)) = (target.get(c), target.get(d)) else {
            return Ok(None);
        };
        let trade = arbitrage_trade(
            evm,
            &self.dex,
            c,
            d,
            pc,
            pd,
            self.dex.fee_bps(),
            actor(ARBITRAGEUR),
        )?;
        Ok(trade.map(|t| {
            request(
                self.dex.contracts().router,
                t.call,
                ARBITRAGE_GAS,
                header,
                ARBITRAGE_PRIORITY_FEE,
            )
        }))
    }

    /// Competitor `name`'s liquidation `liq` (of collateral `c` for debt `d`, expected to seize
    /// `expected_seized`) as one call to its liquidator contract, selling the seizure through the
    /// chain's pool of the pair for at least what the pool's quotes on `evm`'s state give it
    /// after `sold_before` (the competitor's other sales of the block into that pool), less
    /// `[dex] max_slippage_bps`; kept, not sold, when the pair has no pool.
    #[allow(clippy::too_many_arguments)]
    pub fn competitor_call(
        &self,
        evm: &mut Evm<EmptyDB>,
        name: &str,
        liq: Call,
        c: usize,
        d: usize,
        expected_seized: U256,
        sold_before: U256,
    ) -> Result<Call> {
        use crate::protocol::liquidator as contract;
        let bot = *self.bots.get(name).ok_or_else(|| {
            Error::config(
                "competitors",
                name,
                "a competitor with a liquidator contract",
            )
        })?;
        let (collateral, debt) = (self.dex.asset(c)?.token, self.dex.asset(d)?.token);
        let sells = self.pairs.contains(&(c, d)) && !expected_seized.is_zero();
        let min_out = if sells {
            let after = self.dex.quote(evm, c, d, sold_before + expected_seized)?;
            let before = match sold_before.is_zero() {
                true => U256::ZERO,
                false => self.dex.quote(evm, c, d, sold_before)?,
            };
            let q = after.saturating_sub(before);
            q * U256::from(10_000u64 - u64::from(self.slippage_bps.min(10_000)))
                / U256::from(10_000u64)
        } else {
            U256::ZERO
        };
        let job = contract::ILiquidator::Job {
            liqTarget: liq.to,
            liqData: liq.input,
            collateral,
            debt,
            flashKind: 0,
            flashPool: Address::ZERO,
            flashAmount: U256::ZERO,
            // Aave liquidations pay the underlying itself: nothing to redeem.
            shares: Address::ZERO,
            sale: contract::sale(sells.then_some(&self.dex), min_out),
        };
        Ok(Call {
            to: bot,
            input: contract::execute_call(job),
        })
    }
}

fn request(
    to: Address,
    input: Bytes,
    gas_limit: u64,
    header: &BlockRecord,
    priority: u128,
) -> CallRequest {
    CallRequest {
        to,
        input,
        gas_limit,
        max_fee_per_gas: (header.base_fee as u128 * 2).saturating_add(priority),
        max_priority_fee_per_gas: priority,
    }
}

/// Deploys a liquidator contract per competitor, owned and deployed by the competitor, and moves
/// the competitor's balance of each debt asset into it.
fn competitor_contracts(
    loaded: &LoadedScenario,
    evm: &mut Evm<EmptyDB>,
    tokens: &[Address],
    debt: &[usize],
) -> Result<BTreeMap<String, Address>> {
    let compiled = crate::protocol::liquidator::compiled()?;
    let code = compiled.contract("Liquidator")?.bytecode.clone();
    let mut bots = BTreeMap::new();
    for c in &loaded.scenario.competitors {
        let who = actor(&c.name);
        let mut init = code.to_vec();
        init.extend_from_slice(&who.abi_encode());
        let bot = evm
            .deploy(who, Bytes::from(init), "a competitor's Liquidator")
            .map_err(|e| {
                Error::config(
                    "competitors",
                    &c.name,
                    format!("a competitor whose liquidator contract deploys: {e}"),
                )
            })?;
        for &d in debt {
            let Some(&token) = tokens.get(d) else {
                continue;
            };
            let amount = token_balance(evm, token, who)?;
            if amount.is_zero() {
                continue;
            }
            evm.send_call(
                who,
                token,
                &IPoolToken::transferCall { to: bot, amount },
                "transfer (a competitor funding its liquidator contract)",
            )?;
        }
        bots.insert(c.name.clone(), bot);
    }
    Ok(bots)
}
