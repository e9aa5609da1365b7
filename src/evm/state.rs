//! The EVM's view of a recorded window: block environments from headers, the in-memory state, and
//! pre-state snapshots in and out. [`PrestateDb`] answers from a window's pre-state and, for a
//! recorded window (whose pre-state holds only what the recording read), refuses to answer for
//! an account or slot the recording does not hold instead of reading it as zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use alloy_primitives::{keccak256, Address, B256, U256};
use revm::context::BlockEnv;
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, Bytecode};
use revm::DatabaseRef;

use crate::data::records::{AccountRecord, BlockRecord, CodeRecord, StorageRecord};
use crate::error::{Error, Result};

/// In-memory state (devnet builds, replays of recorded windows).
pub type MemDb = CacheDB<EmptyDB>;

/// The EVM block environment of a recorded header.
pub fn block_env(header: &BlockRecord) -> BlockEnv {
    BlockEnv {
        number: U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee,
        difficulty: header.difficulty,
        prevrandao: Some(header.prevrandao),
        ..BlockEnv::default()
    }
}

/// Every account, code and non-zero storage slot of an in-memory state, in a stable order.
pub fn snapshot(db: &MemDb) -> (Vec<AccountRecord>, Vec<CodeRecord>, Vec<StorageRecord>) {
    let mut accounts = Vec::new();
    let mut storage = Vec::new();
    let mut code: BTreeMap<B256, CodeRecord> = BTreeMap::new();
    let mut addresses: Vec<&Address> = db.cache.accounts.keys().collect();
    addresses.sort();
    for address in addresses {
        let account = &db.cache.accounts[address];
        let Some(info) = account.info() else { continue };
        accounts.push(AccountRecord {
            address: *address,
            balance: info.balance,
            nonce: info.nonce,
            code_hash: info.code_hash,
        });
        if info.code_hash != KECCAK_EMPTY {
            let bytes = info
                .code
                .as_ref()
                .map(|c| c.original_bytes())
                .or_else(|| {
                    db.cache
                        .contracts
                        .get(&info.code_hash)
                        .map(|c| c.original_bytes())
                })
                .unwrap_or_default();
            code.entry(info.code_hash).or_insert(CodeRecord {
                code_hash: info.code_hash,
                code: bytes,
            });
        }
        let mut slots: Vec<(&U256, &U256)> = account
            .storage
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .collect();
        slots.sort();
        for (slot, value) in slots {
            storage.push(StorageRecord {
                address: *address,
                slot: *slot,
                value: *value,
            });
        }
    }
    (accounts, code.into_values().collect(), storage)
}

/// Loads a recorded pre-state into an in-memory state.
pub fn load_prestate(
    accounts: &[AccountRecord],
    code: &[CodeRecord],
    storage: &[StorageRecord],
) -> Result<MemDb> {
    let codes: HashMap<B256, &CodeRecord> = code.iter().map(|c| (c.code_hash, c)).collect();
    let mut db = MemDb::new(EmptyDB::default());
    for a in accounts {
        let code = if a.code_hash == KECCAK_EMPTY {
            None
        } else {
            let record = codes.get(&a.code_hash).ok_or_else(|| {
                Error::Database(format!(
                    "pre-state account {} names code {} that the dataset does not hold",
                    a.address, a.code_hash
                ))
            })?;
            if keccak256(&record.code) != a.code_hash {
                return Err(Error::Database(format!(
                    "code {} does not hash to its key",
                    a.code_hash
                )));
            }
            Some(Bytecode::new_raw(record.code.clone()))
        };
        db.insert_account_info(
            a.address,
            AccountInfo {
                balance: a.balance,
                nonce: a.nonce,
                code_hash: a.code_hash,
                code,
                ..AccountInfo::default()
            },
        );
    }
    for s in storage {
        db.insert_account_storage(s.address, s.slot, s.value)
            .map_err(|e| Error::Database(e.to_string()))?;
    }
    Ok(db)
}

/// Whether a window's pre-state holds every account and slot of the chain, or only what a
/// recording read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Every account and non-zero slot (a devnet window: the builder snapshots its whole state);
    /// anything absent is legitimately empty or zero.
    Complete,
    /// Only what the recording read (`provenance.kind` other than `devnet`), zero slots and empty
    /// accounts included; reading anything else is an error naming it.
    Recorded,
}

impl Completeness {
    /// The completeness of a dataset whose manifest says `provenance_kind` (`devnet` is complete).
    pub fn of_provenance(provenance_kind: &str) -> Self {
        if provenance_kind == "devnet" {
            Self::Complete
        } else {
            Self::Recorded
        }
    }
}

/// A window's pre-state as a revm [`DatabaseRef`]: what the dataset holds, and for the rest
/// either empty (a [`Completeness::Complete`] devnet pre-state) or an [`Error::MissingState`]
/// naming the account (and slot) the recording lacks. Writes of a replay live in the `CacheDB`
/// above it, so accounts and slots written during the replay never reach it.
/// Given a [`LazyState`] ([`PrestateDb::with_lazy`]), a recorded pre-state reads what it lacks
/// there instead. Cheap to clone (the explorer's checkpoints): the maps are shared.
#[derive(Clone)]
pub struct PrestateDb {
    completeness: Completeness,
    maps: Arc<PrestateMaps>,
    lazy: Option<LazyState>,
    lazy_reads: Arc<AtomicU64>,
}

/// Where a recorded pre-state reads the accounts and slots it lacks instead of failing (`liqsim
/// run --rpc`: a node's state at the window's state block, through the persistent RPC cache).
pub type LazyState = Arc<dyn DatabaseRef<Error = Error> + Send + Sync>;

impl std::fmt::Debug for PrestateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrestateDb")
            .field("completeness", &self.completeness)
            .field("accounts", &self.maps.accounts.len())
            .field("slots", &self.maps.storage.len())
            .field("lazy", &self.lazy.is_some())
            .finish()
    }
}

/// What a [`PrestateDb`] holds.
#[derive(Debug, Default)]
struct PrestateMaps {
    accounts: HashMap<Address, Option<AccountInfo>>,
    storage: HashMap<(Address, U256), U256>,
    code: HashMap<B256, Bytecode>,
}

impl PrestateDb {
    /// An empty, complete state (a devnet being built).
    pub fn empty() -> Self {
        Self {
            completeness: Completeness::Complete,
            maps: Arc::new(PrestateMaps::default()),
            lazy: None,
            lazy_reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The pre-state of a dataset. In a recorded pre-state, an account record with no balance,
    /// nonce or code is an account the recording read and found empty; a slot record of value
    /// zero, a slot it read and found zero.
    pub fn new(
        accounts: &[AccountRecord],
        code: &[CodeRecord],
        storage: &[StorageRecord],
        completeness: Completeness,
    ) -> Result<Self> {
        let mut codes = HashMap::new();
        for c in code {
            if keccak256(&c.code) != c.code_hash {
                return Err(Error::Database(format!(
                    "code {} does not hash to its key",
                    c.code_hash
                )));
            }
            codes.insert(c.code_hash, Bytecode::new_raw(c.code.clone()));
        }
        let mut map = HashMap::with_capacity(accounts.len());
        for a in accounts {
            let code = if a.code_hash == KECCAK_EMPTY {
                None
            } else {
                Some(codes.get(&a.code_hash).cloned().ok_or_else(|| {
                    Error::Database(format!(
                        "pre-state account {} names code {} that the dataset does not hold",
                        a.address, a.code_hash
                    ))
                })?)
            };
            let empty = a.balance.is_zero() && a.nonce == 0 && code.is_none();
            let info = (!(empty && completeness == Completeness::Recorded)).then(|| AccountInfo {
                balance: a.balance,
                nonce: a.nonce,
                code_hash: a.code_hash,
                code,
                ..AccountInfo::default()
            });
            map.insert(a.address, info);
        }
        Ok(Self {
            completeness,
            maps: Arc::new(PrestateMaps {
                accounts: map,
                storage: storage
                    .iter()
                    .map(|s| ((s.address, s.slot), s.value))
                    .collect(),
                code: codes,
            }),
            lazy: None,
            lazy_reads: Arc::new(AtomicU64::new(0)),
        })
    }

    /// This pre-state reading what it lacks from `lazy` (a recorded one; a complete pre-state
    /// lacks nothing and never asks).
    pub fn with_lazy(mut self, lazy: LazyState) -> Self {
        self.lazy = Some(lazy);
        self
    }

    /// Reads answered by the [`LazyState`] so far (this pre-state and its clones).
    pub fn lazy_reads(&self) -> u64 {
        self.lazy_reads.load(Ordering::Relaxed)
    }

    /// The lazy state, counting a read of it.
    fn lazy(&self) -> Option<&LazyState> {
        let lazy = self.lazy.as_ref()?;
        self.lazy_reads.fetch_add(1, Ordering::Relaxed);
        Some(lazy)
    }

    /// Whether absent state is empty (complete) or an error (recorded).
    pub fn completeness(&self) -> Completeness {
        self.completeness
    }

    fn missing(&self, address: Address, slot: Option<U256>) -> Error {
        Error::MissingState {
            address,
            slot: slot.map(|s| format!(" slot {s:#x}")).unwrap_or_default(),
            reading: "this replay (or a what-if on it)".into(),
        }
    }
}

impl DatabaseRef for PrestateDb {
    type Error = Error;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>> {
        match self.maps.accounts.get(&address) {
            Some(info) => Ok(info.clone()),
            None if self.completeness == Completeness::Complete => Ok(None),
            None => match self.lazy() {
                Some(lazy) => lazy.basic_ref(address),
                None => Err(self.missing(address, None)),
            },
        }
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        match (self.maps.code.get(&code_hash), &self.lazy) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some(lazy)) => lazy.code_by_hash_ref(code_hash),
            (None, None) => Err(Error::Database(format!(
                "the pre-state holds no code {code_hash}"
            ))),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256> {
        if let Some(v) = self.maps.storage.get(&(address, index)) {
            return Ok(*v);
        }
        match (self.completeness, self.maps.accounts.get(&address)) {
            (Completeness::Complete, _) => Ok(U256::ZERO),
            // an account the recording found empty has no storage
            (Completeness::Recorded, Some(None)) => Ok(U256::ZERO),
            (Completeness::Recorded, _) => match self.lazy() {
                Some(lazy) => lazy.storage_ref(address, index),
                None => Err(self.missing(address, Some(index))),
            },
        }
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256> {
        // as revm's EmptyDB: datasets hold no block hashes
        Ok(keccak256(number.to_string().as_bytes()))
    }
}

/// A dataset's pre-state under an in-memory write layer: a replay's state.
pub type ReplayDb = CacheDB<PrestateDb>;

/// Loads a dataset's pre-state for a replay: complete or recorded (see [`PrestateDb`]).
pub fn load_replay_state(
    accounts: &[AccountRecord],
    code: &[CodeRecord],
    storage: &[StorageRecord],
    completeness: Completeness,
) -> Result<ReplayDb> {
    Ok(CacheDB::new(PrestateDb::new(
        accounts,
        code,
        storage,
        completeness,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_prestate_refuses_absent_state_and_complete_reads_it_empty() {
        let (known, empty, unknown) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        );
        let account = |address, balance: u64| AccountRecord {
            address,
            balance: U256::from(balance),
            nonce: 0,
            code_hash: KECCAK_EMPTY,
        };
        let accounts = [account(known, 5), account(empty, 0)];
        let storage = [
            StorageRecord {
                address: known,
                slot: U256::from(1u64),
                value: U256::from(9u64),
            },
            StorageRecord {
                address: known,
                slot: U256::from(2u64),
                value: U256::ZERO,
            },
        ];
        let db = PrestateDb::new(&accounts, &[], &storage, Completeness::Recorded).unwrap();
        assert_eq!(
            db.basic_ref(known).unwrap().unwrap().balance,
            U256::from(5u64)
        );
        assert_eq!(db.basic_ref(empty).unwrap(), None);
        assert_eq!(
            db.storage_ref(known, U256::from(1u64)).unwrap(),
            U256::from(9u64)
        );
        assert_eq!(db.storage_ref(known, U256::from(2u64)).unwrap(), U256::ZERO);
        assert_eq!(db.storage_ref(empty, U256::from(7u64)).unwrap(), U256::ZERO);
        let err = db.basic_ref(unknown).unwrap_err().to_string();
        assert!(err.contains(&unknown.to_string()), "{err}");
        let err = db
            .storage_ref(known, U256::from(3u64))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&known.to_string()) && err.contains("slot 0x3"),
            "{err}"
        );
        assert!(matches!(
            db.storage_ref(unknown, U256::from(1u64)),
            Err(Error::MissingState { .. })
        ));

        let db = PrestateDb::new(&accounts, &[], &storage, Completeness::Complete).unwrap();
        assert_eq!(db.basic_ref(unknown).unwrap(), None);
        assert!(db.basic_ref(empty).unwrap().is_some());
        assert_eq!(db.storage_ref(known, U256::from(3u64)).unwrap(), U256::ZERO);
        assert_eq!(
            Completeness::of_provenance("devnet"),
            Completeness::Complete
        );
        assert_eq!(Completeness::of_provenance("rpc"), Completeness::Recorded);
    }
}
