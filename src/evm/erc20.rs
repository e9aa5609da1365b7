//! The ERC-20 surface every layer calls (balances, approvals, and `mint` on devnet tokens).

use alloy_primitives::{Address, U256};
use alloy_sol_types::sol;
use revm::database::EmptyDB;

use crate::error::Result;
use crate::evm::Evm;

sol! {
    /// The ERC-20 calls liqsim makes on any token.
    interface IERC20 {
        function approve(address spender, uint256 amount) external returns (bool);
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address account) external view returns (uint256);
        function decimals() external view returns (uint8);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}

/// `who`'s balance of `token` (tests and inspection).
pub fn token_balance(evm: &mut Evm<EmptyDB>, token: Address, who: Address) -> Result<U256> {
    evm.view(token, &IERC20::balanceOfCall { account: who }, "balanceOf")
}
