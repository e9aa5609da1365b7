//! The Aave V3 devnet's oracle under each mechanism of `[market] oracle`: the sources deployed
//! for `AaveOracle`, and the keeper's transactions that move a reserve's price.

use alloy_primitives::{Address, I256, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::IACLManager;
use super::AaveV3Market;
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::market::Call;
use crate::protocol::oracles::{
    adapter_base_answer, deploy_compiled, oracle_contracts, push_feed_id, IExchangeRate,
    IPriceOracleMock, IPushOracle, ISettableAggregator, ISourceSwapper, OracleMechanism,
    RATE_ACCRUAL_BLOCKS, RATE_INITIAL, RATE_STEP,
};
use crate::protocol::price_feed;
use crate::protocol::solc::Compiled;

/// What the deployment needs before `AaveOracle`: each reserve's source, the contract its price
/// transactions call, its rate contract (adapter only), and the fallback oracle.
pub(super) struct OracleWiring {
    /// `AaveOracle` source per reserve.
    pub sources: Vec<Address>,
    /// Contract the keeper's price transactions call, per reserve.
    pub movers: Vec<Address>,
    /// Exchange-rate contract per reserve (`adapter`).
    pub rate_sources: Vec<Option<Address>>,
    /// `AaveOracle`'s fallback oracle (`fallback`; else zero).
    pub fallback: Address,
    compiled: Option<Compiled>,
}

fn answer_of(field: String, price: U256) -> Result<I256> {
    I256::try_from(price).map_err(|_| Error::config(field, price, "a price below 2^255"))
}

fn int64_of(field: String, price: U256) -> Result<i64> {
    u64::try_from(price)
        .ok()
        .and_then(|p| i64::try_from(p).ok())
        .ok_or_else(|| {
            Error::config(
                field,
                price,
                "a price below 9.2e10 USD (the push oracle stores int64 prices with 8 decimals)",
            )
        })
}

/// Deploys the sources of `mechanism` for `tokens` (priced at `prices`, 8 decimals) from `admin`;
/// under the default mechanism, `feeds` are the settable feeds already deployed beside the tokens.
#[allow(clippy::too_many_arguments)]
pub(super) fn deploy_sources<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    mechanism: OracleMechanism,
    admin: Address,
    tokens: &[Address],
    symbols: &[String],
    prices: &[U256],
    feeds: Vec<Address>,
) -> Result<OracleWiring>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let n = tokens.len();
    let field = |i: usize| format!("assets[{i}].price_usd");
    let mut wiring = OracleWiring {
        sources: Vec::with_capacity(n),
        movers: Vec::with_capacity(n),
        rate_sources: vec![None; n],
        fallback: Address::ZERO,
        compiled: None,
    };
    if mechanism == OracleMechanism::Settable {
        wiring.sources = feeds.clone();
        wiring.movers = feeds;
        return Ok(wiring);
    }
    if mechanism == OracleMechanism::Fallback {
        let code = artifacts
            .artifact("mocks/oracle/PriceOracle")?
            .unlinked_bytecode()?;
        let fallback = evm.deploy(admin, code, "PriceOracle")?;
        let compiled = oracle_contracts()?;
        for (i, (token, price)) in tokens.iter().zip(prices).enumerate() {
            evm.send_call(
                admin,
                fallback,
                &IPriceOracleMock::setAssetPriceCall {
                    asset: *token,
                    price: *price,
                },
                "PriceOracle.setAssetPrice",
            )?;
            // Even reserves have no source; odd ones a source answering 0: AaveOracle asks
            // its fallback either way.
            let source = if i % 2 == 0 {
                Address::ZERO
            } else {
                deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "StaticAggregator",
                    &I256::ZERO.abi_encode(),
                )?
            };
            wiring.sources.push(source);
            wiring.movers.push(fallback);
        }
        wiring.fallback = fallback;
        return Ok(wiring);
    }
    let compiled = oracle_contracts()?;
    let push = match mechanism {
        OracleMechanism::Push => Some(deploy_compiled(evm, &compiled, admin, "PushOracle", &[])?),
        _ => None,
    };
    for (i, price) in prices.iter().enumerate() {
        let answer = answer_of(field(i), *price)?;
        match mechanism {
            OracleMechanism::ChainlinkProxy => {
                let aggregator = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "SettableAggregator",
                    &answer.abi_encode(),
                )?;
                let proxy = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "AggregatorProxy",
                    &aggregator.abi_encode(),
                )?;
                wiring.sources.push(proxy);
                wiring.movers.push(aggregator);
            }
            OracleMechanism::SourceSwap => {
                let source = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "StaticAggregator",
                    &answer.abi_encode(),
                )?;
                wiring.sources.push(source);
                // the swapper is deployed once AaveOracle exists (`finish`)
                wiring.movers.push(Address::ZERO);
            }
            OracleMechanism::Push => {
                let push = push.unwrap_or_default();
                let id = push_feed_id(&symbols[i]);
                evm.send_call(
                    admin,
                    push,
                    &IPushOracle::updatePriceCall {
                        id,
                        price: int64_of(field(i), *price)?,
                    },
                    "PushOracle.updatePrice",
                )?;
                let adapter = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "PushFeedAdapter",
                    &(push, id).abi_encode_params(),
                )?;
                wiring.sources.push(adapter);
                wiring.movers.push(push);
            }
            OracleMechanism::Adapter => {
                let rate = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "ExchangeRate",
                    &(U256::from(RATE_INITIAL), U256::from(RATE_STEP)).abi_encode_params(),
                )?;
                let base_answer = answer_of(field(i), adapter_base_answer(*price))?;
                let base = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "SettableAggregator",
                    &base_answer.abi_encode(),
                )?;
                let adapter = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "RateAdapter",
                    &(base, rate).abi_encode_params(),
                )?;
                wiring.sources.push(adapter);
                wiring.movers.push(base);
                wiring.rate_sources[i] = Some(rate);
            }
            OracleMechanism::Settable | OracleMechanism::Fallback => {}
        }
    }
    wiring.compiled = Some(compiled);
    Ok(wiring)
}

impl OracleWiring {
    /// What needs `AaveOracle` deployed: the source swapper (an asset-listing admin, so it may
    /// call `setAssetSources`) becomes every reserve's price mover.
    pub(super) fn finish<DB>(
        &mut self,
        evm: &mut Evm<DB>,
        mechanism: OracleMechanism,
        admin: Address,
        oracle: Address,
        acl: Address,
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if mechanism != OracleMechanism::SourceSwap {
            return Ok(());
        }
        let compiled = match self.compiled.take() {
            Some(c) => c,
            None => oracle_contracts()?,
        };
        let swapper =
            deploy_compiled(evm, &compiled, admin, "SourceSwapper", &oracle.abi_encode())?;
        evm.send_call(
            admin,
            acl,
            &IACLManager::addAssetListingAdminCall { admin: swapper },
            "addAssetListingAdmin(SourceSwapper)",
        )?;
        for mover in &mut self.movers {
            *mover = swapper;
        }
        Ok(())
    }
}

impl AaveV3Market {
    /// The keeper's transactions that move reserve `i` to `price` (8 decimals) under the
    /// market's oracle mechanism (all sent by the admin, who owns every oracle contract).
    pub fn oracle_calls(&self, i: usize, price: U256) -> Result<Vec<Call>> {
        let reserve = self.reserve(i)?;
        let field = || format!("price of {}", reserve.symbol);
        let input = match self.config.oracle {
            OracleMechanism::Settable => price_feed::SettablePriceFeed::setAnswerCall {
                answer: answer_of(field(), price)?,
            }
            .abi_encode(),
            OracleMechanism::ChainlinkProxy => ISettableAggregator::setAnswerCall {
                answer: answer_of(field(), price)?,
            }
            .abi_encode(),
            OracleMechanism::Adapter => ISettableAggregator::setAnswerCall {
                answer: answer_of(field(), adapter_base_answer(price))?,
            }
            .abi_encode(),
            OracleMechanism::SourceSwap => ISourceSwapper::swapCall {
                asset: reserve.underlying,
                answer: answer_of(field(), price)?,
            }
            .abi_encode(),
            OracleMechanism::Fallback => IPriceOracleMock::setAssetPriceCall {
                asset: reserve.underlying,
                price,
            }
            .abi_encode(),
            OracleMechanism::Push => IPushOracle::updatePriceCall {
                id: push_feed_id(&reserve.symbol),
                price: int64_of(field(), price)?,
            }
            .abi_encode(),
        };
        Ok(vec![Call {
            to: reserve.price_feed,
            input: input.into(),
        }])
    }

    /// The oracle's own scheduled transactions in the block `offset` blocks into a window: under
    /// `adapter`, every reserve's exchange rate accrues every [`RATE_ACCRUAL_BLOCKS`] blocks.
    pub fn scheduled_oracle_calls(&self, offset: u64) -> Vec<Call> {
        if self.config.oracle != OracleMechanism::Adapter
            || offset == 0
            || !offset.is_multiple_of(RATE_ACCRUAL_BLOCKS)
        {
            return Vec::new();
        }
        self.reserves
            .iter()
            .filter_map(|r| r.rate_source)
            .map(|rate| Call {
                to: rate,
                input: IExchangeRate::accrueCall {}.abi_encode().into(),
            })
            .collect()
    }
}
