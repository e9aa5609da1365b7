//! The protocol referee: replays a window with the book and the opportunity ledger and, after every
//! price-update hook point and at the end of every block, compares every tracked borrower's health
//! with the protocol's own view executed in the EVM (`getUserAccountData`, `getAccountLiquidity`),
//! and the ledger's open opportunities with that truth. Each disagreement is a [`Mismatch`].

use alloy_primitives::{Address, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::data::records::BlockRecord;
use crate::engine::opportunities::OpportunityTracker;
use crate::engine::replay::ReplayHooks;
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::protocol::market::HEALTH_FACTOR_ONE;
use crate::protocol::{MarketState, PositionBook};

/// Where the referee looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckPoint {
    /// Right after the price-moving transaction at this index.
    AfterTx(u32),
    /// After the block's last transaction.
    BlockEnd,
}

impl std::fmt::Display for CheckPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckPoint::AfterTx(i) => write!(f, "after tx {i}"),
            CheckPoint::BlockEnd => write!(f, "block end"),
        }
    }
}

/// One disagreement between liqsim and the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Block.
    pub block: u64,
    /// Where in the block.
    pub point: CheckPoint,
    /// The borrower.
    pub user: Address,
    /// What differs (`health factor`, `liquidatable`, `ledger`).
    pub what: &'static str,
    /// liqsim's value.
    pub liqsim: String,
    /// The protocol's value.
    pub protocol: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "block {} {}: user {} {}: liqsim {}, protocol {}",
            self.block, self.point, self.user, self.what, self.liqsim, self.protocol
        )
    }
}

/// Replay hooks that run the opportunity tracker and referee it.
pub struct Referee {
    /// The tracker being refereed.
    pub tracker: OpportunityTracker,
    /// Every mismatch, in replay order.
    pub mismatches: Vec<Mismatch>,
    /// Points checked.
    pub points: u64,
    /// Borrower comparisons made.
    pub comparisons: u64,
}

impl Referee {
    /// A referee over `tracker`.
    pub fn new(tracker: OpportunityTracker) -> Self {
        Self {
            tracker,
            mismatches: Vec::new(),
            points: 0,
            comparisons: 0,
        }
    }

    /// Compares every tracked borrower with the protocol's view in `evm`'s current state.
    pub fn check<DB>(&mut self, evm: &mut Evm<DB>, block: u64, point: CheckPoint) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.points += 1;
        for user in self.tracker.book.users() {
            self.comparisons += 1;
            let ours = match self.tracker.book.position(&user)? {
                Some(p) => p.health_factor()?,
                None => U256::MAX,
            };
            let truth = self.tracker.market.protocol_health(evm, user)?;
            let mut mismatch = |what: &'static str, liqsim: String, protocol: String| {
                self.mismatches.push(Mismatch {
                    block,
                    point,
                    user,
                    what,
                    liqsim,
                    protocol,
                })
            };
            match truth.health_factor {
                Some(hf) if hf != ours => {
                    mismatch("health factor", ours.to_string(), hf.to_string())
                }
                None if (ours < HEALTH_FACTOR_ONE) != truth.liquidatable => mismatch(
                    "liquidatable",
                    format!("health factor {ours}"),
                    format!("liquidatable = {}", truth.liquidatable),
                ),
                _ => {}
            }
            let open = self.tracker.ledger.open_for(&user).is_some();
            if open != truth.liquidatable {
                mismatch(
                    "ledger",
                    format!("opportunity open = {open}"),
                    format!("liquidatable = {}", truth.liquidatable),
                );
            }
        }
        Ok(())
    }
}

impl<DB> ReplayHooks<DB> for Referee
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn on_block_start(&mut self, evm: &mut Evm<DB>, block: &BlockRecord) -> Result<()> {
        self.tracker.on_block_start(evm, block)
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tracker.on_transaction(evm, block, tx)
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        ReplayHooks::<DB>::moves_prices(&self.tracker, tx)
    }

    fn on_price_update(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tracker.on_price_update(evm, block, tx)?;
        self.check(evm, block.number, CheckPoint::AfterTx(tx.index))
    }

    fn on_block_end(&mut self, evm: &mut Evm<DB>, block: &BlockRecord) -> Result<()> {
        self.tracker.on_block_end(evm, block)?;
        self.check(evm, block.number, CheckPoint::BlockEnd)
    }
}
