//! What the devnet window builder needs of a market, apart from what the engine needs: the calls
//! users and the oracle keeper send, and direct set-up on a state.

use alloy_primitives::{Address, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::Result;
use crate::evm::executor::Evm;
use crate::protocol::market::Call;

/// The transactions a devnet window sends to a market.
pub trait DevnetMarket {
    /// Devnet activity: `user` supplies `amount` of asset `i`.
    fn supply_call(&self, user: Address, i: usize, amount: U256) -> Result<Call>;
    /// Devnet activity: `user` borrows `amount` of asset `i` (variable rate).
    fn borrow_call(&self, user: Address, i: usize, amount: U256) -> Result<Call>;
    /// Devnet activity: `user` repays `amount` of asset `i`.
    fn repay_call(&self, user: Address, i: usize, amount: U256) -> Result<Call>;
    /// The oracle transactions that move asset `i` to its USD price in `usd_prices` (8 decimals;
    /// every asset's current USD price is given, for oracles quoting in another unit).
    fn price_calls(&self, i: usize, usd_prices: &[U256]) -> Result<Vec<Call>>;
    /// Gas limit of the oracle keeper's transactions, when the builder's default does not fit
    /// (an oracle mechanism that deploys a contract or calls through several).
    fn price_call_gas(&self) -> Option<u64> {
        None
    }
    /// The oracle's own transactions due in the block `offset` blocks into the window, whatever
    /// the prices do (e.g. an exchange rate accruing); sent by the oracle keeper.
    fn scheduled_oracle_calls(&self, _offset: u64) -> Result<Vec<Call>> {
        Ok(Vec::new())
    }
}

/// Direct set-up of a market's state by the devnet builder (generic over the database).
pub trait DevnetState<DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    /// Gives `who` `amount` of asset `i` and approves the contract that pulls it.
    fn fund(&self, evm: &mut Evm<DB>, i: usize, who: Address, amount: U256) -> Result<()>;
    /// Devnet set-up: `user` supplies `amount` of asset `i` as collateral (executed directly).
    fn supply(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()>;
    /// Devnet set-up: `user` borrows `amount` of asset `i` (executed directly).
    fn borrow(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()>;
    /// How much of asset `d` `user` can borrow now so that its health factor lands near
    /// `hf` (WAD), staying inside its borrowing power.
    fn borrow_for_hf(&self, evm: &mut Evm<DB>, user: Address, d: usize, hf: U256) -> Result<U256>;
}
