//! The EVM's view of a recorded window: block environments from headers, the in-memory state, and
//! pre-state snapshots in and out.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{keccak256, Address, B256, U256};
use revm::context::BlockEnv;
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, Bytecode};

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
