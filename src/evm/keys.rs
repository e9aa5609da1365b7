//! Deterministic devnet keys: every named role has a private key derived from its name, so a
//! scenario always produces the same signed transactions.

use alloy_primitives::{keccak256, Address, B256};
use alloy_signer_local::PrivateKeySigner;

/// The signer of a named role (`"aave-v3-admin"`, `"borrower-17"`, ...).
pub fn actor_signer(name: &str) -> PrivateKeySigner {
    let mut seed: B256 = keccak256(format!("liqsim actor {name}").as_bytes());
    loop {
        // A keccak output is a valid secp256k1 scalar except with negligible probability.
        if let Ok(signer) = PrivateKeySigner::from_bytes(&seed) {
            return signer;
        }
        seed = keccak256(seed.as_slice());
    }
}

/// The address of a named role.
pub fn actor(name: &str) -> Address {
    actor_signer(name).address()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_stable_and_distinct() {
        assert_eq!(actor("a"), actor("a"));
        assert_ne!(actor("a"), actor("b"));
        assert_eq!(actor_signer("a").address(), actor("a"));
    }
}
