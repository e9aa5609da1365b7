//! A replayed transaction as the layers above see it: the signed transaction, what the EVM did,
//! and the protocol-neutral price events among its logs (Chainlink's `AnswerUpdated`, emitted by
//! the aggregator whatever proxy or oracle reads it).

use alloy_primitives::{Address, I256};
use alloy_sol_types::{sol, SolEvent};

use crate::evm::executor::TxOutcome;
use crate::evm::tx::SignedTx;

sol! {
    /// Chainlink's aggregator event: a new answer for round `roundId`.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
}

/// One replayed transaction, as hooks see it.
#[derive(Debug)]
pub struct ReplayedTx<'a> {
    /// Position in its block.
    pub index: u32,
    /// The signed transaction (sender recovered).
    pub tx: &'a SignedTx,
    /// What the EVM did.
    pub outcome: &'a TxOutcome,
    /// Oracle feeds this transaction moved, with their new answers.
    pub price_updates: Vec<(Address, I256)>,
}

impl<'a> ReplayedTx<'a> {
    /// A replayed transaction, with the Chainlink-style `AnswerUpdated` events of its logs.
    pub fn new(index: u32, tx: &'a SignedTx, outcome: &'a TxOutcome) -> Self {
        let price_updates = outcome
            .logs
            .iter()
            .filter(|log| log.topics().first() == Some(&AnswerUpdated::SIGNATURE_HASH))
            .filter_map(|log| {
                AnswerUpdated::decode_log(log)
                    .ok()
                    .map(|e| (log.address, e.data.current))
            })
            .collect();
        Self {
            index,
            tx,
            outcome,
            price_updates,
        }
    }
}
