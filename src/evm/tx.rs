//! Signed transactions: building and signing EIP-1559 transactions, decoding recorded ones, and
//! turning them into the EVM's transaction environment.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{SignableTransaction, Transaction as _, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718, Typed2718};
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use revm::context::TxEnv;

use crate::error::{Error, Result};

/// A signed transaction with its sender recovered.
#[derive(Debug, Clone)]
pub struct SignedTx {
    /// The transaction.
    pub envelope: TxEnvelope,
    /// Recovered sender.
    pub sender: Address,
    /// Transaction hash.
    pub hash: B256,
}

impl SignedTx {
    /// Decodes an EIP-2718 encoded transaction and recovers its sender.
    pub fn decode(raw: &[u8]) -> Result<Self> {
        let envelope = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| Error::Decode {
            what: "signed transaction".into(),
            message: e.to_string(),
        })?;
        let sender = envelope.recover_signer().map_err(|e| Error::Decode {
            what: "transaction signature".into(),
            message: e.to_string(),
        })?;
        let hash = *envelope.tx_hash();
        Ok(Self {
            envelope,
            sender,
            hash,
        })
    }

    /// EIP-2718 encoding.
    pub fn raw(&self) -> Bytes {
        self.envelope.encoded_2718().into()
    }

    /// The EVM transaction environment for executing it.
    pub fn tx_env(&self) -> TxEnv {
        let e = &self.envelope;
        TxEnv {
            tx_type: e.ty(),
            caller: self.sender,
            gas_limit: e.gas_limit(),
            gas_price: e.max_fee_per_gas(),
            gas_priority_fee: e.max_priority_fee_per_gas(),
            kind: e.kind(),
            value: e.value(),
            data: e.input().clone(),
            nonce: e.nonce(),
            chain_id: e.chain_id(),
            access_list: e.access_list().cloned().unwrap_or_default(),
            ..TxEnv::default()
        }
    }

    /// The called contract (`None` for a contract creation).
    pub fn to(&self) -> Option<Address> {
        self.envelope.to()
    }

    /// Priority fee per gas it offers.
    pub fn priority_fee(&self) -> u128 {
        self.envelope.max_priority_fee_per_gas().unwrap_or(0)
    }

    /// Effective gas price at `base_fee`.
    pub fn effective_gas_price(&self, base_fee: u64) -> u128 {
        self.envelope.effective_gas_price(Some(base_fee))
    }
}

/// The fields of an EIP-1559 call transaction liqsim signs.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// Contract called.
    pub to: Address,
    /// Calldata.
    pub input: Bytes,
    /// Gas limit (always explicit, as a real node needs).
    pub gas_limit: u64,
    /// Max fee per gas.
    pub max_fee_per_gas: u128,
    /// Priority fee per gas.
    pub max_priority_fee_per_gas: u128,
}

/// Signs an EIP-1559 call transaction.
pub fn sign_call(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    req: &CallRequest,
) -> Result<SignedTx> {
    sign_call_with_value(signer, chain_id, nonce, req, U256::ZERO)
}

/// Signs an EIP-1559 call transaction sending `value` wei with it (a plain ether transfer when
/// the input is empty).
pub fn sign_call_with_value(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    req: &CallRequest,
    value: U256,
) -> Result<SignedTx> {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: req.gas_limit,
        max_fee_per_gas: req.max_fee_per_gas,
        max_priority_fee_per_gas: req.max_priority_fee_per_gas,
        to: TxKind::Call(req.to),
        value,
        access_list: Default::default(),
        input: req.input.clone(),
    };
    let signature = signer
        .sign_hash_sync(&tx.signature_hash())
        .map_err(|e| Error::Decode {
            what: "signing".into(),
            message: e.to_string(),
        })?;
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    let hash = *envelope.tx_hash();
    Ok(SignedTx {
        envelope,
        sender: signer.address(),
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_encode_decode_recovers_the_sender() {
        let signer = crate::evm::keys::actor_signer("tx-test");
        let req = CallRequest {
            to: Address::repeat_byte(7),
            input: Bytes::from(vec![1, 2, 3]),
            gas_limit: 100_000,
            max_fee_per_gas: 50_000_000_000,
            max_priority_fee_per_gas: 2_000_000_000,
        };
        let tx = sign_call(&signer, 31337, 5, &req).unwrap();
        let decoded = SignedTx::decode(&tx.raw()).unwrap();
        assert_eq!(decoded.sender, signer.address());
        assert_eq!(decoded.hash, tx.hash);
        let env = decoded.tx_env();
        assert_eq!(env.nonce, 5);
        assert_eq!(env.gas_priority_fee, Some(2_000_000_000));
        assert!(SignedTx::decode(&[0x02, 0xff]).is_err());
    }
}
