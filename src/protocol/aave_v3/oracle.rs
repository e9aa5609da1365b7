//! The Aave V3 devnet's oracle under each mechanism of `[market] oracle` (`protocol::oracles`):
//! the sources deployed for `AaveOracle` (USD, 8 decimals), the source swapper made an
//! asset-listing admin, and the keeper's transactions that move a reserve's price.

use alloy_primitives::{Address, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::IACLManager;
use super::AaveV3Market;
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::market::Call;
use crate::protocol::oracles::{
    deploy_sources as deploy_mechanism_sources, price_move_call, scheduled_calls, OracleMechanism,
    OracleWiring, SourcePlan,
};
use crate::protocol::price_feed::FEED_DECIMALS;

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
    let plan = SourcePlan {
        mechanism,
        admin,
        tokens,
        symbols,
        prices,
        price_field: "price_usd",
        answer_decimals: FEED_DECIMALS,
        fallback: None,
    };
    deploy_mechanism_sources(evm, artifacts, &plan, feeds)
}

/// Under `source-swap`, deploys the `SourceSwapper` over `oracle` and makes it an asset-listing
/// admin (so it may call `setAssetSources`).
pub(super) fn finish<DB>(
    wiring: &mut OracleWiring,
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
    wiring.finish(
        evm,
        mechanism,
        admin,
        "SourceSwapper",
        oracle,
        |evm, swapper| {
            evm.send_call(
                admin,
                acl,
                &IACLManager::addAssetListingAdminCall { admin: swapper },
                "addAssetListingAdmin(SourceSwapper)",
            )?;
            Ok(())
        },
    )
}

impl AaveV3Market {
    /// The keeper's transactions that move reserve `i` to `price` (8 decimals) under the
    /// market's oracle mechanism (all sent by the admin, who owns every oracle contract).
    pub fn oracle_calls(&self, i: usize, price: U256) -> Result<Vec<Call>> {
        let reserve = self.reserve(i)?;
        Ok(vec![price_move_call(
            self.config.oracle,
            reserve.price_feed,
            reserve.underlying,
            &reserve.symbol,
            price,
            FEED_DECIMALS,
        )?])
    }

    /// The oracle's own scheduled transactions in the block `offset` blocks into a window: under
    /// `adapter`, every reserve's exchange rate accrues every
    /// [`RATE_ACCRUAL_BLOCKS`](crate::protocol::oracles::RATE_ACCRUAL_BLOCKS) blocks.
    pub fn scheduled_oracle_calls(&self, offset: u64) -> Vec<Call> {
        scheduled_calls(
            self.config.oracle,
            offset,
            self.reserves.iter().filter_map(|r| r.rate_source),
        )
    }
}
