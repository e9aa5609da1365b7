//! Which storage a set of view calls read, and whether a transaction wrote any of it: how a book
//! notices every price move, whatever mechanism makes it (a feed's new answer, a source swap, a
//! proxy pointed at a new aggregator, a push oracle's write, an adapter's underlying rate).

use std::collections::HashSet;

use alloy_primitives::{Address, U256};

use crate::evm::executor::TxOutcome;

/// A set of watched storage slots, `(contract, slot)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotWatch {
    slots: HashSet<(Address, U256)>,
}

impl SlotWatch {
    /// An empty watch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every slot (before re-learning them).
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Watches the slots a view call read.
    pub fn extend(&mut self, reads: impl IntoIterator<Item = (Address, U256)>) {
        self.slots.extend(reads);
    }

    /// Number of slots watched.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// True when `slot` of `contract` is watched.
    pub fn contains(&self, contract: Address, slot: U256) -> bool {
        self.slots.contains(&(contract, slot))
    }

    /// True when a successful transaction changed a watched slot.
    pub fn written_by(&self, outcome: &TxOutcome) -> bool {
        outcome.success
            && outcome
                .storage_writes
                .iter()
                .any(|(contract, slot)| self.contains(*contract, *slot))
    }
}
