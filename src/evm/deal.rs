//! Funding by storage, as foundry's `deal` does: find the slot a token's `balanceOf(holder)` reads
//! (by executing it over a database that records every storage read, proxies included), confirm it
//! by writing a marker and reading it back through `balanceOf`, and write the new balance there.
//!
//! Works on any token that keeps balances in storage (WETH9, OpenZeppelin ERC-20s, tokens behind
//! upgradeable proxies, Vyper tokens), with no `mint`. State is read only through revm's
//! `DatabaseRef`; the learnt slot is cached per token (and code hash) and re-checked at every use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::sol;
use revm::database_interface::DBErrorMarker;
use revm::primitives::{StorageKey, StorageValue};
use revm::state::{AccountInfo, Bytecode};
use revm::DatabaseRef;

use crate::error::{Error, Result};
use crate::evm::executor::{state_error, Evm};

sol! {
    /// The two reads `deal` makes on a token.
    interface IDealToken {
        function balanceOf(address account) external view returns (uint256);
        function symbol() external view returns (string);
    }
}

/// Value written into a candidate slot to confirm it: distinctive, and below 2^96 so that tokens
/// storing balances as `uint96`/`uint128` still return it unchanged.
const MARKER: u128 = 0x1337_dea1_0000_0000_0000_0001;

/// Highest Solidity mapping slot index tried when recognising a balance slot as `mapping(address
/// => uint)` at a fixed base (so other holders of the token need no new trace).
const MAX_MAPPING_BASE: u64 = 1024;

/// Where a token keeps balances, as learnt from one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceSlot {
    /// `mapping(address => uint)` at slot `base` of `storage`'s storage (Solidity:
    /// `keccak(holder . base)`; Vyper: `keccak(base . holder)`).
    Mapping {
        /// Account whose storage holds the mapping (the proxy, for a token behind one).
        storage: Address,
        /// The mapping's base slot.
        base: U256,
        /// Vyper's key order.
        vyper: bool,
    },
    /// One slot for one holder (a layout `deal` could not generalise).
    Exact {
        /// Account whose storage holds the slot.
        storage: Address,
        /// The slot.
        slot: U256,
        /// The holder it belongs to.
        holder: Address,
    },
}

impl BalanceSlot {
    /// The `(storage account, slot)` of `holder`'s balance, when this layout covers `holder`.
    pub fn slot_for(&self, holder: Address) -> Option<(Address, U256)> {
        match *self {
            BalanceSlot::Mapping {
                storage,
                base,
                vyper,
            } => Some((storage, mapping_slot(holder, base, vyper))),
            BalanceSlot::Exact {
                storage,
                slot,
                holder: h,
            } => (h == holder).then_some((storage, slot)),
        }
    }

    /// Recognises `slot` as `holder`'s entry of a mapping at a small base slot.
    fn recognise(storage: Address, slot: U256, holder: Address) -> Self {
        for base in 0..=MAX_MAPPING_BASE {
            let base = U256::from(base);
            for vyper in [false, true] {
                if mapping_slot(holder, base, vyper) == slot {
                    return BalanceSlot::Mapping {
                        storage,
                        base,
                        vyper,
                    };
                }
            }
        }
        BalanceSlot::Exact {
            storage,
            slot,
            holder,
        }
    }
}

/// Slot of `holder`'s entry in a `mapping(address => ...)` at `base`.
pub fn mapping_slot(holder: Address, base: U256, vyper: bool) -> U256 {
    let mut buf = [0u8; 64];
    let (key_at, base_at) = if vyper { (32, 0) } else { (0, 32) };
    buf[key_at + 12..key_at + 32].copy_from_slice(holder.as_slice());
    buf[base_at..base_at + 32].copy_from_slice(&base.to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(buf).0)
}

type Learnt = HashMap<(Address, B256), BalanceSlot>;

fn learnt() -> &'static RwLock<Learnt> {
    static LEARNT: OnceLock<RwLock<Learnt>> = OnceLock::new();
    LEARNT.get_or_init(|| RwLock::new(HashMap::new()))
}

fn cached(token: Address, code_hash: B256) -> Option<BalanceSlot> {
    learnt()
        .read()
        .ok()
        .and_then(|m| m.get(&(token, code_hash)).copied())
}

fn remember(token: Address, code_hash: B256, slot: BalanceSlot) {
    if let Ok(mut m) = learnt().write() {
        m.insert((token, code_hash), slot);
    }
}

/// A `DatabaseRef` that records every storage slot read through it, in first-read order, keyed
/// by the account whose storage is read (for a delegate call, the proxy's: revm reads storage of
/// the executing context's target address).
#[derive(Debug)]
pub struct RecordingDb<D> {
    inner: D,
    reads: RefCell<Vec<(Address, U256)>>,
}

impl<D> RecordingDb<D> {
    /// Records reads made through `inner`.
    pub fn new(inner: D) -> Self {
        Self {
            inner,
            reads: RefCell::new(Vec::new()),
        }
    }

    /// The storage reads seen so far, without repeats, in first-read order.
    pub fn reads(&self) -> Vec<(Address, U256)> {
        self.reads.borrow().clone()
    }
}

impl<D: DatabaseRef> DatabaseRef for RecordingDb<D> {
    type Error = D::Error;

    fn basic_ref(&self, address: Address) -> std::result::Result<Option<AccountInfo>, D::Error> {
        self.inner.basic_ref(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> std::result::Result<Bytecode, D::Error> {
        self.inner.code_by_hash_ref(code_hash)
    }

    fn storage_ref(
        &self,
        address: Address,
        index: StorageKey,
    ) -> std::result::Result<StorageValue, D::Error> {
        let mut reads = self.reads.borrow_mut();
        if !reads.contains(&(address, index)) {
            reads.push((address, index));
        }
        drop(reads);
        self.inner.storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> std::result::Result<B256, D::Error> {
        self.inner.block_hash_ref(number)
    }
}

/// `holder`'s balance of `token`, as the token answers it.
pub fn balance_of<DB>(evm: &mut Evm<DB>, token: Address, holder: Address) -> Result<U256>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    evm.view(
        token,
        &IDealToken::balanceOfCall { account: holder },
        &format!("balanceOf({holder}) on token {token}"),
    )
}

/// ` (SYMBOL)` when `token` answers `symbol()` with a string, else empty (for error messages).
fn symbol_suffix<DB>(evm: &mut Evm<DB>, token: Address) -> String
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    evm.view(token, &IDealToken::symbolCall {}, "symbol")
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 32)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

/// Finds where `token` keeps `holder`'s balance: executes `balanceOf(holder)` recording every
/// storage read, then, from the last read back, writes a marker into each candidate slot on a
/// throwaway layer and keeps the first one `balanceOf` then returns. `evm` is not changed.
pub fn find_balance_slot<DB>(evm: &Evm<DB>, token: Address, holder: Address) -> Result<BalanceSlot>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let state = evm.db();
    let fail = |reason: String| {
        let mut probe = Evm::new(state, evm.chain_id());
        probe.set_block(evm.block().clone());
        Error::Deal {
            token,
            symbol: symbol_suffix(&mut probe, token),
            holder,
            reason,
        }
    };
    let code = state
        .basic_ref(token)
        .map_err(|e| state_error(&e, format_args!("reading account {token}")))?
        .and_then(|a| (!a.is_empty_code_hash()).then_some(a));
    if code.is_none() {
        return Err(fail("no contract at that address".into()));
    }
    let recorder = RecordingDb::new(state);
    let original = {
        let mut traced = Evm::new(&recorder, evm.chain_id());
        traced.set_block(evm.block().clone());
        match balance_of(&mut traced, token, holder) {
            Ok(balance) => balance,
            Err(e) if is_state_error(&e) => return Err(e),
            Err(e) => return Err(fail(format!("{e}"))),
        }
    };
    let reads = recorder.reads();
    if reads.is_empty() {
        return Err(fail("balanceOf reads no storage".into()));
    }
    let marker = if original == U256::from(MARKER) {
        U256::from(MARKER + 1)
    } else {
        U256::from(MARKER)
    };
    for &(storage, slot) in reads.iter().rev() {
        let mut trial = Evm::new(state, evm.chain_id());
        trial.set_block(evm.block().clone());
        trial
            .db_mut()
            .insert_account_storage(storage, slot, marker)
            .map_err(|e| state_error(&e, format_args!("reading account {storage}")))?;
        if answers(balance_of(&mut trial, token, holder), marker)? {
            return Ok(BalanceSlot::recognise(storage, slot, holder));
        }
    }
    Err(fail(format!(
        "none of the {} storage slots balanceOf reads holds the balance",
        reads.len()
    )))
}

/// Sets `holder`'s balance of `token` to `amount` by writing the token's balance slot (foundry's
/// `deal`; `totalSupply` is left as it is). The slot is learnt once per token and code, and every
/// write is checked by reading `balanceOf` back; a stale cached slot is restored and re-learnt.
pub fn deal<DB>(evm: &mut Evm<DB>, token: Address, holder: Address, amount: U256) -> Result<()>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let code_hash = evm.account(token)?.code_hash;
    if let Some((storage, slot)) = cached(token, code_hash).and_then(|s| s.slot_for(holder)) {
        if write_checked(evm, token, holder, amount, storage, slot)? {
            return Ok(());
        }
    }
    let layout = find_balance_slot(evm, token, holder)?;
    let Some((storage, slot)) = layout.slot_for(holder) else {
        return Err(Error::Deal {
            token,
            symbol: symbol_suffix(evm, token),
            holder,
            reason: "the learnt slot does not cover this holder".into(),
        });
    };
    if !write_checked(evm, token, holder, amount, storage, slot)? {
        let got = balance_of(evm, token, holder)?;
        return Err(Error::Deal {
            token,
            symbol: symbol_suffix(evm, token),
            holder,
            reason: format!(
                "after writing {amount} into slot {slot:#x} of {storage}, balanceOf returns {got}"
            ),
        });
    }
    remember(token, code_hash, layout);
    Ok(())
}

/// Adds `amount` to `holder`'s balance of `token` by storage (what a `mint` to `holder` would
/// leave in its balance, without the transaction).
pub fn deal_add<DB>(evm: &mut Evm<DB>, token: Address, holder: Address, amount: U256) -> Result<()>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let now = balance_of(evm, token, holder)?;
    let total = now.checked_add(amount).ok_or_else(|| Error::Deal {
        token,
        symbol: String::new(),
        holder,
        reason: format!("its balance {now} plus {amount} overflows uint256"),
    })?;
    deal(evm, token, holder, total)
}

/// A state read that failed (a recorded pre-state missing a slot, a node's error): never a
/// "this slot is not the balance" answer, always passed on.
fn is_state_error(e: &Error) -> bool {
    matches!(e, Error::MissingState { .. } | Error::Database(_))
}

/// Whether a `balanceOf` call returned `expected`: a revert or a wrong value is `false`, a state
/// read that failed is the error.
fn answers(balance: Result<U256>, expected: U256) -> Result<bool> {
    match balance {
        Ok(v) => Ok(v == expected),
        Err(e) if is_state_error(&e) => Err(e),
        Err(_) => Ok(false),
    }
}

/// Writes `amount` at `(storage, slot)` and reads `balanceOf` back; on a mismatch restores the
/// slot and returns false.
fn write_checked<DB>(
    evm: &mut Evm<DB>,
    token: Address,
    holder: Address,
    amount: U256,
    storage: Address,
    slot: U256,
) -> Result<bool>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let db_error = |e: DB::Error| state_error(&e, format_args!("storage {slot:#x} of {storage}"));
    let before = evm.db().storage_ref(storage, slot).map_err(db_error)?;
    evm.db_mut()
        .insert_account_storage(storage, slot, amount)
        .map_err(db_error)?;
    if answers(balance_of(evm, token, holder), amount)? {
        return Ok(true);
    }
    evm.db_mut()
        .insert_account_storage(storage, slot, before)
        .map_err(db_error)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solidity_mapping_slot_matches_known_value() {
        // keccak256(abi.encode(address(1), uint256(0)))
        let slot = mapping_slot(Address::with_last_byte(1), U256::ZERO, false);
        assert_eq!(
            format!("{slot:#x}"),
            "0xada5013122d395ba3c54772283fb069b10426056ef8ca54750cb9bb552a59e7d"
        );
        assert_ne!(
            slot,
            mapping_slot(Address::with_last_byte(1), U256::ZERO, true)
        );
    }

    #[test]
    fn recognise_finds_the_base() {
        let holder = Address::with_last_byte(7);
        let slot = mapping_slot(holder, U256::from(51u64), false);
        assert_eq!(
            BalanceSlot::recognise(Address::ZERO, slot, holder),
            BalanceSlot::Mapping {
                storage: Address::ZERO,
                base: U256::from(51u64),
                vyper: false
            }
        );
        let other = BalanceSlot::recognise(Address::ZERO, U256::from(3u64), holder);
        assert_eq!(other.slot_for(Address::with_last_byte(8)), None);
    }
}
