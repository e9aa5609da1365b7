//! Background traffic for devnet windows (`[traffic]`): ether transfers, ERC-20 transfers of the
//! market's own tokens and calls to a storage-heavy contract (`contracts/traffic/Busy.sol`,
//! compiled with solc from npm), sent by accounts that never touch the market, so blocks carry
//! mainnet-like transaction counts and gas while positions, prices and liquidations stay exactly
//! as they are without it (its transactions tip least, so they come after the market's).

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{sol, SolCall};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use revm::database::EmptyDB;

use crate::data::records::BlockRecord;
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::evm::tx::CallRequest;
use crate::protocol::devnet::DevnetState;
use crate::protocol::solc::compile_sources;
use crate::protocol::{AnyMarket, LendingMarket};
use crate::scenario::TrafficConfig;

sol! {
    interface IBusy {
        function fill(uint256 from, uint256 to) external;
        function work(uint256 start, uint256 n) external;
    }
    interface IErc20Transfer {
        function transfer(address to, uint256 amount) external returns (bool);
    }
}

/// Slots in the busy contract's ring (`Busy.RING`).
const RING: u64 = 8192;
/// Slots `fill` writes per set-up call.
const FILL_CHUNK: u64 = 1024;
/// Priority fee of background transactions (0.1 gwei): below the market's, so they come last.
pub const TRAFFIC_PRIORITY_FEE: u128 = 100_000_000;
/// Gas limit of an ERC-20 transfer.
const TOKEN_TRANSFER_GAS: u64 = 100_000;
/// Gas a token transfer is expected to use when sizing the busy calls.
const TOKEN_TRANSFER_ESTIMATE: u64 = 45_000;
/// An ether transfer's gas.
const ETHER_TRANSFER_GAS: u64 = 21_000;

/// One background transaction: who sends it, the call and the ether it carries.
pub struct TrafficTx {
    /// Signer name (`evm::keys::actor_signer`).
    pub signer: String,
    /// The call.
    pub request: CallRequest,
    /// Wei sent with it.
    pub value: U256,
}

/// The window's background traffic: its accounts, the market's tokens they hold, the busy
/// contract and their own random stream (the market's draws stay as they are without it).
pub struct Traffic {
    config: TrafficConfig,
    rng: ChaCha8Rng,
    accounts: Vec<String>,
    addresses: Vec<Address>,
    tokens: Vec<(Address, u8)>,
    busy: Address,
    /// Gas of `work(start, n)`: `base + n × per_slot` (measured at set-up).
    busy_base: u64,
    busy_per_slot: u64,
    next_slot: u64,
}

impl Traffic {
    /// Sets the traffic up in the pre-state (accounts with ether and every market token, the busy
    /// contract with its ring filled); `None` when the scenario has none.
    pub fn set_up(
        config: &TrafficConfig,
        evm: &mut Evm<EmptyDB>,
        market: &AnyMarket,
        seed: u64,
    ) -> Result<Option<Self>> {
        if config.is_off() {
            return Ok(None);
        }
        let deployer = actor("traffic-deployer");
        evm.set_balance(deployer, U256::from(10u64).pow(U256::from(24u64)))?;
        let compiled = compile_sources(&[(
            "contracts/traffic/Busy.sol",
            include_str!("../../contracts/traffic/Busy.sol"),
        )])?;
        let busy = evm.deploy(
            deployer,
            compiled.contract("Busy")?.bytecode.clone(),
            "the background traffic's Busy contract",
        )?;
        let mut from = 0;
        while from < RING {
            let to = (from + FILL_CHUNK).min(RING);
            evm.send_call(
                deployer,
                busy,
                &IBusy::fillCall {
                    from: U256::from(from),
                    to: U256::from(to),
                },
                "filling the Busy contract's ring",
            )?;
            from = to;
        }
        // Every update costs the same: measure two sizes on a copy.
        let gas_of = |n: u64| -> Result<u64> {
            let mut fork = evm.fork();
            let call = IBusy::workCall {
                start: U256::ZERO,
                n: U256::from(n),
            };
            Ok(fork
                .send(
                    deployer,
                    TxKind::Call(busy),
                    call.abi_encode().into(),
                    U256::ZERO,
                    10_000_000,
                )?
                .into_result("measuring the Busy contract's gas")?
                .gas_used)
        };
        let (g10, g20) = (gas_of(10)?, gas_of(20)?);
        let busy_per_slot = g20.saturating_sub(g10) / 10;
        let busy_base = g10.saturating_sub(10 * busy_per_slot);

        let decimals = market.decimals();
        let tokens: Vec<(Address, u8)> = market
            .asset_addresses()
            .into_iter()
            .zip(decimals.iter().copied())
            .collect();
        let accounts: Vec<String> = (0..config.accounts)
            .map(|i| format!("traffic-{i}"))
            .collect();
        let addresses: Vec<Address> = accounts.iter().map(|a| actor(a)).collect();
        let ether = U256::from(10u64).pow(U256::from(24u64));
        for who in &addresses {
            evm.set_balance(*who, ether)?;
            for (i, (_, d)) in tokens.iter().enumerate() {
                let amount = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(*d));
                market.fund(evm, i, *who, amount).map_err(|e| {
                    Error::config(
                        format!("market.assets[{i}]"),
                        market.symbols().get(i).cloned().unwrap_or_default(),
                        format!("a token the background traffic's accounts can be given (traffic.accounts); funding failed: {e}"),
                    )
                })?;
            }
        }
        Ok(Some(Self {
            config: config.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7472_6166_6669_6321),
            accounts,
            addresses,
            tokens,
            busy,
            busy_base,
            busy_per_slot,
            next_slot: 0,
        }))
    }

    /// The background transactions of the block `header`: `transactions_per_block` of them,
    /// about 30% ether transfers, 50% token transfers and 20% busy calls sized so the block's
    /// traffic uses about `gas_per_block`.
    pub fn transactions(&mut self, header: &BlockRecord) -> Vec<TrafficTx> {
        let count = self.config.transactions_per_block as usize;
        let kinds: Vec<u8> = (0..count)
            .map(|_| match self.rng.gen_range(0..10u8) {
                0..=2 => 0,
                3..=7 => 1,
                _ => 2,
            })
            .collect();
        let ether_n = kinds.iter().filter(|k| **k == 0).count() as u64;
        let token_n = kinds.iter().filter(|k| **k == 1).count() as u64;
        let busy_n = kinds.iter().filter(|k| **k == 2).count() as u64;
        let left = self
            .config
            .gas_per_block
            .saturating_sub(ether_n * ETHER_TRANSFER_GAS + token_n * TOKEN_TRANSFER_ESTIMATE);
        let slots = if busy_n == 0 || self.busy_per_slot == 0 {
            1
        } else {
            ((left / busy_n).saturating_sub(self.busy_base) / self.busy_per_slot).clamp(1, RING)
        };
        let max_fee = (header.base_fee as u128 * 2).saturating_add(TRAFFIC_PRIORITY_FEE);
        let request = |to: Address, input: Bytes, gas_limit: u64| CallRequest {
            to,
            input,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: TRAFFIC_PRIORITY_FEE,
        };
        let n = self.accounts.len();
        let mut out = Vec::with_capacity(count);
        for kind in kinds {
            let from = self.rng.gen_range(0..n);
            let mut to = self.rng.gen_range(0..n);
            if to == from {
                to = (to + 1) % n;
            }
            let signer = self.accounts[from].clone();
            match kind {
                0 => {
                    let value = U256::from(self.rng.gen_range(1..=1000u64))
                        * U256::from(10u64).pow(U256::from(15u64));
                    out.push(TrafficTx {
                        signer,
                        request: request(self.addresses[to], Bytes::new(), ETHER_TRANSFER_GAS),
                        value,
                    });
                }
                1 => {
                    let (token, decimals) = self.tokens[self.rng.gen_range(0..self.tokens.len())];
                    let amount = U256::from(self.rng.gen_range(1..=1000u64))
                        * U256::from(10u64).pow(U256::from(decimals))
                        / U256::from(1000u64);
                    let input = IErc20Transfer::transferCall {
                        to: self.addresses[to],
                        amount,
                    }
                    .abi_encode();
                    out.push(TrafficTx {
                        signer,
                        request: request(token, input.into(), TOKEN_TRANSFER_GAS),
                        value: U256::ZERO,
                    });
                }
                _ => {
                    let start = self.next_slot;
                    self.next_slot = (self.next_slot + slots) % RING;
                    let input = IBusy::workCall {
                        start: U256::from(start),
                        n: U256::from(slots),
                    }
                    .abi_encode();
                    let estimate = self.busy_base + slots * self.busy_per_slot;
                    out.push(TrafficTx {
                        signer,
                        request: request(self.busy, input.into(), estimate + estimate / 10 + 5_000),
                        value: U256::ZERO,
                    });
                }
            }
        }
        out
    }
}
