//! A thin, typed wrapper over revm: one EVM over a `CacheDB` layered on any state source.

use alloy_primitives::{Address, Bytes, Log, TxKind, U256};
use alloy_sol_types::{Revert, SolCall, SolError};
use revm::context::result::{EVMError, ExecutionResult, HaltReason};
use revm::context::{BlockEnv, Context, TxEnv};
use revm::database::CacheDB;
use revm::database_interface::DBErrorMarker;
use revm::handler::{MainBuilder, MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::state::{AccountInfo, EvmState};
use revm::{DatabaseRef, ExecuteCommitEvm, ExecuteEvm};

use crate::error::{Error, Result};

/// Gas limit liqsim gives user transactions (supply, borrow, liquidation...).
pub const USER_TX_GAS_LIMIT: u64 = 3_000_000;

/// Gas limit given to read-only calls.
pub const CALL_GAS_LIMIT: u64 = 100_000_000;

/// Hardfork liqsim executes with (Aave V3 is compiled for Paris; Cancun runs it unchanged).
pub const DEFAULT_SPEC: SpecId = SpecId::CANCUN;

/// What one executed transaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// True when the transaction did not revert or halt.
    pub success: bool,
    /// Gas used by the transaction (after refunds), as a receipt would report it.
    pub gas_used: u64,
    /// Return data (or revert data).
    pub output: Bytes,
    /// Logs emitted (empty on failure).
    pub logs: Vec<Log>,
    /// Address of the created contract, for creations.
    pub created: Option<Address>,
    /// Halt reason, when the transaction halted.
    pub halt: Option<String>,
    /// Storage slots whose value the transaction changed, `(contract, slot)`, sorted.
    pub storage_writes: Vec<StorageKey>,
    /// Every storage slot the transaction read or wrote, `(contract, slot)`, sorted (collected for
    /// calls that are not committed: the view calls whose dependencies are watched).
    pub storage_reads: Vec<StorageKey>,
}

/// A storage slot of a contract: `(contract, slot)`.
pub type StorageKey = (Address, U256);

impl TxOutcome {
    fn from_result(result: ExecutionResult<HaltReason>) -> Self {
        let gas_used = result.tx_gas_used();
        let created = result.created_address();
        match result {
            ExecutionResult::Success { logs, output, .. } => Self {
                success: true,
                gas_used,
                output: output.into_data(),
                logs,
                created,
                halt: None,
                storage_writes: Vec::new(),
                storage_reads: Vec::new(),
            },
            ExecutionResult::Revert { output, .. } => Self {
                success: false,
                gas_used,
                output,
                logs: Vec::new(),
                created: None,
                halt: None,
                storage_writes: Vec::new(),
                storage_reads: Vec::new(),
            },
            ExecutionResult::Halt { reason, .. } => Self {
                success: false,
                gas_used,
                output: Bytes::new(),
                logs: Vec::new(),
                created: None,
                halt: Some(format!("{reason:?}")),
                storage_writes: Vec::new(),
                storage_reads: Vec::new(),
            },
        }
    }

    /// Turns a failed outcome into an error naming `call`; successful outcomes pass through.
    pub fn into_result(self, call: impl Into<String>) -> Result<Self> {
        if self.success {
            return Ok(self);
        }
        let call = call.into();
        match &self.halt {
            Some(reason) => Err(Error::Halted {
                call,
                reason: reason.clone(),
            }),
            None => Err(Error::Reverted {
                call,
                reason: decode_revert_reason(&self.output),
                data: self.output.clone(),
                gas_used: self.gas_used,
            }),
        }
    }
}

/// Human-readable revert reason: `Error(string)` text, a `Panic(uint256)` code, or the raw selector.
pub fn decode_revert_reason(data: &[u8]) -> String {
    if data.is_empty() {
        return "empty revert data".to_string();
    }
    if let Ok(revert) = Revert::abi_decode(data) {
        return revert.reason;
    }
    if let Ok(panic) = alloy_sol_types::Panic::abi_decode(data) {
        return format!("panic {}", panic.code);
    }
    format!("0x{}", hex::encode(data))
}

/// The error of a state read that failed (inside the EVM or through `DatabaseRef`): liqsim's own
/// [`Error::MissingState`] (the account and slot a recorded pre-state lacks) keeps its variant;
/// any other database's error is an [`Error::Database`] saying what was being read.
pub fn state_error<E>(e: &E, reading: impl std::fmt::Display) -> Error
where
    E: std::error::Error + 'static,
{
    match (e as &dyn std::any::Any).downcast_ref::<Error>() {
        Some(Error::MissingState {
            address,
            slot,
            reading,
        }) => Error::MissingState {
            address: *address,
            slot: slot.clone(),
            reading: reading.clone(),
        },
        _ => Error::Database(format!("{reading}: {e}")),
    }
}

/// One EVM over a local write layer (`CacheDB`) on top of a read-only state source `DB`.
///
/// Writes never reach `DB`; `snapshot`/`restore` give throwaway what-if layers.
pub struct Evm<DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker,
{
    inner: MainnetEvm<MainnetContext<CacheDB<DB>>>,
    /// Every committed state change since the last [`Evm::take_commits`], when recording
    /// ([`Evm::record_commits`]): what a mirror of this state applies to stay equal to it.
    commits: Option<Vec<EvmState>>,
}

impl<DB> Evm<DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    /// A new EVM on `db` for `chain_id`, executing with [`DEFAULT_SPEC`].
    pub fn new(db: DB, chain_id: u64) -> Self {
        Self::from_cache_db(CacheDB::new(db), chain_id)
    }

    /// A new EVM on an existing write layer (e.g. a cloned market state).
    pub fn from_cache_db(db: CacheDB<DB>, chain_id: u64) -> Self {
        let ctx = Context::new(db, DEFAULT_SPEC).modify_cfg_chained(|cfg| {
            cfg.chain_id = chain_id;
            // Devnet deployments carry contracts close to the EIP-170 limit; keep the real limit.
            cfg.limit_contract_code_size = None;
        });
        Self {
            inner: ctx.build_mainnet(),
            commits: None,
        }
    }

    /// Starts (or stops) recording every committed state change, for a mirror of this state
    /// kept elsewhere (the sweep's evaluators): applying [`Evm::take_commits`] in order to a
    /// clone of [`Evm::db`] taken when recording started gives a write layer equal to this one.
    /// Writes made through [`Evm::db_mut`] or [`Evm::set_balance`] are not recorded.
    pub fn record_commits(&mut self, on: bool) {
        self.commits = on.then(Vec::new);
    }

    /// The state changes committed since the last call (empty when not recording).
    pub fn take_commits(&mut self) -> Vec<EvmState> {
        self.commits
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The write layer with everything executed so far.
    pub fn db(&self) -> &CacheDB<DB> {
        &self.inner.ctx.journaled_state.database
    }

    /// Mutable access to the write layer (seeding balances, code, storage).
    pub fn db_mut(&mut self) -> &mut CacheDB<DB> {
        &mut self.inner.ctx.journaled_state.database
    }

    /// Consumes the EVM, returning its write layer.
    pub fn into_db(self) -> CacheDB<DB> {
        self.inner.ctx.journaled_state.database
    }

    /// The block environment transactions execute in.
    pub fn block(&self) -> &BlockEnv {
        &self.inner.ctx.block
    }

    /// Sets the block environment (number, timestamp, base fee, ...).
    pub fn set_block(&mut self, block: BlockEnv) {
        self.inner.set_block(block);
    }

    /// Chain id transactions must carry.
    pub fn chain_id(&self) -> u64 {
        self.inner.ctx.cfg.chain_id
    }

    /// Account nonce and balance as the EVM sees them.
    pub fn account(&self, address: Address) -> Result<AccountInfo> {
        Ok(self
            .db()
            .basic_ref(address)
            .map_err(|e| state_error(&e, format_args!("reading account {address}")))?
            .unwrap_or_default())
    }

    /// Sets the largest deployable runtime code (`None` = EIP-170's 24,576 bytes, the default).
    /// Devnets that deploy published artifacts above the limit (Venus' `Comptroller` in
    /// `@venusprotocol/isolated-pools` 4.4.0 is 24,929 bytes) raise it for those deployments.
    pub fn set_code_size_limit(&mut self, limit: Option<usize>) {
        self.inner.ctx.cfg.limit_contract_code_size = limit;
    }

    /// Sets an account's ether balance (devnet funding).
    pub fn set_balance(&mut self, address: Address, balance: U256) -> Result<()> {
        let mut info = self.account(address)?;
        info.balance = balance;
        self.db_mut().insert_account_info(address, info);
        Ok(())
    }

    /// Executes a fully specified transaction; commits its state changes when `commit`.
    pub fn execute(&mut self, tx: TxEnv, commit: bool) -> Result<TxOutcome> {
        let to = match tx.kind {
            TxKind::Call(a) => Some(a),
            TxKind::Create => None,
        };
        let executed = self.inner.transact(tx).map_err(|e| match e {
            EVMError::Database(e) => state_error(
                &e,
                format_args!(
                    "reading state for the transaction to {}",
                    to.map(|a| a.to_string())
                        .unwrap_or_else(|| "a new contract".into())
                ),
            ),
            e => Error::EvmInvalid {
                to,
                message: e.to_string(),
            },
        })?;
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        for (address, account) in &executed.state {
            for (slot, value) in &account.storage {
                if value.is_changed() {
                    writes.push((*address, *slot));
                }
                if !commit {
                    reads.push((*address, *slot));
                }
            }
        }
        writes.sort_unstable();
        reads.sort_unstable();
        if commit {
            if let Some(log) = self.commits.as_mut() {
                log.push(
                    executed
                        .state
                        .iter()
                        .filter(|(_, account)| account.is_touched())
                        .map(|(address, account)| (*address, account.clone()))
                        .collect(),
                );
            }
            self.inner.commit(executed.state);
        }
        let mut outcome = TxOutcome::from_result(executed.result);
        outcome.storage_writes = writes;
        outcome.storage_reads = reads;
        Ok(outcome)
    }

    /// Sends a transaction from `from` at the block's base fee, with the sender's current nonce,
    /// and commits it. The outcome may be a revert; use [`TxOutcome::into_result`] to require success.
    pub fn send(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        gas_limit: u64,
    ) -> Result<TxOutcome> {
        let nonce = self.account(from)?.nonce;
        let basefee = self.block().basefee as u128;
        let tx = TxEnv {
            tx_type: 2,
            caller: from,
            gas_limit,
            gas_price: basefee,
            gas_priority_fee: Some(0),
            kind,
            value,
            data,
            nonce,
            chain_id: Some(self.chain_id()),
            ..TxEnv::default()
        };
        self.execute(tx, true)
    }

    /// Deploys `initcode` from `from`; returns the new contract's address.
    pub fn deploy(&mut self, from: Address, initcode: Bytes, what: &str) -> Result<Address> {
        let gas = self.block().gas_limit.max(30_000_000);
        let outcome = self
            .send(from, TxKind::Create, initcode, U256::ZERO, gas)?
            .into_result(format!("deploying {what}"))?;
        outcome.created.ok_or_else(|| Error::Halted {
            call: format!("deploying {what}"),
            reason: "no contract created".into(),
        })
    }

    /// Sends an ABI call and requires success.
    pub fn send_call<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: &C,
        what: &str,
    ) -> Result<TxOutcome> {
        let gas = self.block().gas_limit.max(30_000_000);
        self.send(
            from,
            TxKind::Call(to),
            call.abi_encode().into(),
            U256::ZERO,
            gas,
        )?
        .into_result(what)
    }

    /// Read-only call (like `eth_call`): no fee, no nonce check, nothing committed.
    pub fn call_raw(&mut self, from: Address, to: Address, data: Bytes) -> Result<TxOutcome> {
        let cfg = &mut self.inner.ctx.cfg;
        cfg.disable_nonce_check = true;
        cfg.disable_base_fee = true;
        cfg.disable_balance_check = true;
        cfg.disable_block_gas_limit = true;
        let tx = TxEnv {
            tx_type: 0,
            caller: from,
            gas_limit: CALL_GAS_LIMIT,
            gas_price: 0,
            kind: TxKind::Call(to),
            data,
            chain_id: None,
            ..TxEnv::default()
        };
        let result = self.execute(tx, false);
        let cfg = &mut self.inner.ctx.cfg;
        cfg.disable_nonce_check = false;
        cfg.disable_base_fee = false;
        cfg.disable_balance_check = false;
        cfg.disable_block_gas_limit = false;
        result
    }

    /// Read-only typed call; decodes the return value and lists every storage slot it read
    /// (through proxies and adapters alike: the slots of whichever contracts the call reached).
    pub fn view_with_reads<C: SolCall>(
        &mut self,
        to: Address,
        call: &C,
        what: &str,
    ) -> Result<(C::Return, Vec<StorageKey>)> {
        let outcome = self
            .call_raw(Address::ZERO, to, call.abi_encode().into())?
            .into_result(what)?;
        let value = C::abi_decode_returns(&outcome.output).map_err(|e| Error::Decode {
            what: what.to_string(),
            message: e.to_string(),
        })?;
        Ok((value, outcome.storage_reads))
    }

    /// Read-only typed call; decodes the return value.
    pub fn view<C: SolCall>(&mut self, to: Address, call: &C, what: &str) -> Result<C::Return> {
        let outcome = self
            .call_raw(Address::ZERO, to, call.abi_encode().into())?
            .into_result(what)?;
        C::abi_decode_returns(&outcome.output).map_err(|e| Error::Decode {
            what: what.to_string(),
            message: e.to_string(),
        })
    }
}

impl<DB> Evm<DB>
where
    DB: DatabaseRef + Clone,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    /// A copy of the current state to run what-ifs on; the original is untouched.
    pub fn fork(&self) -> Self {
        let mut forked = Self::from_cache_db(self.db().clone(), self.chain_id());
        forked.set_block(self.block().clone());
        forked
    }
}
