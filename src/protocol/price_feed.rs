//! liqsim's own settable Chainlink-style price feed, assembled here from its source below.
//!
//! Aave's `MockAggregator` has no setter, and a price move must be a real transaction that emits an
//! event (the replay and the strategies react to it). This contract is that feed. Its whole source:
//!
//! ```text
//! storage: 0 answer (int256), 1 owner, 2 roundId, 3 updatedAt
//! constructor(int256 initialAnswer): owner = msg.sender; answer = initialAnswer; updatedAt = now
//! latestAnswer()    -> answer          latestRound()     -> roundId
//! latestTimestamp() -> updatedAt       decimals()        -> 8
//! owner()           -> owner
//! setAnswer(int256 a): require(msg.sender == owner); answer = a; roundId += 1; updatedAt = now;
//!                      emit AnswerUpdated(a, roundId, now)   // Chainlink's event
//! anything else: revert
//! ```

use alloy_primitives::{keccak256, Bytes, B256, I256};
use alloy_sol_types::sol;

sol! {
    #![sol(all_derives)]
    /// The surface of liqsim's settable feed (Chainlink `AggregatorInterface` subset plus a setter).
    interface SettablePriceFeed {
        function latestAnswer() external view returns (int256);
        function latestRound() external view returns (uint256);
        function latestTimestamp() external view returns (uint256);
        function decimals() external view returns (uint8);
        function owner() external view returns (address);
        function setAnswer(int256 answer) external;
        event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    }
}

/// Decimals every feed reports (Chainlink USD feeds use 8).
pub const FEED_DECIMALS: u8 = 8;

#[derive(Clone, Copy)]
enum Op {
    Byte(u8),
    Push4([u8; 4]),
    Push32([u8; 32]),
    PushLabel(&'static str),
    Label(&'static str),
}

/// A tiny two-pass assembler: `PUSH2 label` for jumps, everything else literal bytes.
fn assemble(ops: &[Op]) -> Vec<u8> {
    let mut labels = std::collections::HashMap::new();
    let mut pc = 0usize;
    for op in ops {
        match op {
            Op::Byte(_) => pc += 1,
            Op::Push4(_) => pc += 5,
            Op::Push32(_) => pc += 33,
            Op::PushLabel(_) => pc += 3,
            Op::Label(name) => {
                labels.insert(*name, pc);
                pc += 1;
            }
        }
    }
    let mut code = Vec::with_capacity(pc);
    for op in ops {
        match op {
            Op::Byte(b) => code.push(*b),
            Op::Push4(v) => {
                code.push(PUSH4);
                code.extend_from_slice(v);
            }
            Op::Push32(v) => {
                code.push(PUSH32);
                code.extend_from_slice(v);
            }
            Op::PushLabel(name) => {
                let target = labels.get(name).copied().unwrap_or(usize::MAX) as u16;
                code.push(PUSH2);
                code.extend_from_slice(&target.to_be_bytes());
            }
            Op::Label(_) => code.push(JUMPDEST),
        }
    }
    code
}

const STOP: u8 = 0x00;
const ADD: u8 = 0x01;
const EQ: u8 = 0x14;
const SHR: u8 = 0x1c;
const CALLER: u8 = 0x33;
const CALLVALUE: u8 = 0x34;
const CALLDATALOAD: u8 = 0x35;
const CODECOPY: u8 = 0x39;
const TIMESTAMP: u8 = 0x42;
const MLOAD: u8 = 0x51;
const MSTORE: u8 = 0x52;
const SLOAD: u8 = 0x54;
const SSTORE: u8 = 0x55;
const JUMP: u8 = 0x56;
const JUMPI: u8 = 0x57;
const JUMPDEST: u8 = 0x5b;
const PUSH1: u8 = 0x60;
const PUSH2: u8 = 0x61;
const PUSH4: u8 = 0x63;
const PUSH32: u8 = 0x7f;
const DUP1: u8 = 0x80;
const SWAP1: u8 = 0x90;
const LOG3: u8 = 0xa3;
const RETURN: u8 = 0xf3;
const REVERT: u8 = 0xfd;

fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

fn push1(v: u8) -> [Op; 2] {
    [Op::Byte(PUSH1), Op::Byte(v)]
}

/// Runtime bytecode of the feed.
pub fn runtime_code() -> Vec<u8> {
    use Op::*;
    let mut ops: Vec<Op> = Vec::new();
    // reject ether
    ops.extend([Byte(CALLVALUE), PushLabel("fail"), Byte(JUMPI)]);
    ops.extend(push1(0));
    ops.extend([Byte(CALLDATALOAD)]);
    ops.extend(push1(0xe0));
    ops.push(Byte(SHR));
    for (sig, label) in [
        ("latestAnswer()", "answer"),
        ("setAnswer(int256)", "set"),
        ("decimals()", "decimals"),
        ("latestRound()", "round"),
        ("latestTimestamp()", "timestamp"),
        ("owner()", "owner"),
    ] {
        ops.extend([
            Byte(DUP1),
            Push4(selector(sig)),
            Byte(EQ),
            PushLabel(label),
            Byte(JUMPI),
        ]);
    }
    ops.push(Label("fail"));
    ops.extend(push1(0));
    ops.extend([Byte(DUP1), Byte(REVERT)]);
    for (label, slot) in [
        ("answer", 0u8),
        ("owner", 1),
        ("round", 2),
        ("timestamp", 3),
    ] {
        ops.push(Label(label));
        ops.extend(push1(slot));
        ops.extend([Byte(SLOAD), PushLabel("return"), Byte(JUMP)]);
    }
    ops.push(Label("decimals"));
    ops.extend(push1(FEED_DECIMALS));
    ops.extend([PushLabel("return"), Byte(JUMP)]);
    ops.push(Label("return"));
    ops.extend(push1(0));
    ops.push(Byte(MSTORE));
    ops.extend(push1(0x20));
    ops.extend(push1(0));
    ops.push(Byte(RETURN));
    ops.push(Label("set"));
    ops.extend(push1(1));
    ops.extend([
        Byte(SLOAD),
        Byte(CALLER),
        Byte(EQ),
        PushLabel("authorized"),
        Byte(JUMPI),
    ]);
    ops.extend(push1(0));
    ops.extend([Byte(DUP1), Byte(REVERT)]);
    ops.push(Label("authorized"));
    ops.extend(push1(4));
    ops.extend([Byte(CALLDATALOAD), Byte(DUP1)]); // [sel, a, a]
    ops.extend(push1(0));
    ops.push(Byte(SSTORE)); // answer = a          [sel, a]
    ops.extend(push1(2));
    ops.push(Byte(SLOAD));
    ops.extend(push1(1));
    ops.extend([Byte(ADD), Byte(DUP1)]); // [sel, a, r, r]
    ops.extend(push1(2));
    ops.push(Byte(SSTORE)); // roundId = r       [sel, a, r]
    ops.extend([Byte(TIMESTAMP), Byte(DUP1)]);
    ops.extend(push1(3));
    ops.push(Byte(SSTORE)); // updatedAt = now   [sel, a, r, now]
    ops.extend(push1(0));
    ops.push(Byte(MSTORE)); // mem[0] = now      [sel, a, r]
    ops.push(Byte(SWAP1)); //                    [sel, r, a]
    let topic: B256 = keccak256("AnswerUpdated(int256,uint256,uint256)".as_bytes());
    ops.push(Push32(topic.0));
    ops.extend(push1(0x20));
    ops.extend(push1(0));
    ops.extend([Byte(LOG3), Byte(STOP)]);
    assemble(&ops)
}

/// Creation bytecode for a feed starting at `initial_answer` (the constructor argument appended).
pub fn creation_code(initial_answer: I256) -> Bytes {
    use Op::*;
    let runtime = runtime_code();
    // The constructor has a fixed size; assemble once with placeholders to learn it.
    let constructor = |runtime_offset: u16| -> Vec<u8> {
        let mut ops: Vec<Op> = vec![Byte(CALLER)];
        ops.extend(push1(1));
        ops.push(Byte(SSTORE));
        // CODECOPY(0, runtime_offset + runtime_len, 32): the constructor argument
        let arg_offset = runtime_offset as usize + runtime.len();
        ops.extend(push1(0x20));
        ops.extend([
            Byte(PUSH2),
            Byte((arg_offset >> 8) as u8),
            Byte(arg_offset as u8),
        ]);
        ops.extend(push1(0));
        ops.push(Byte(CODECOPY));
        ops.extend(push1(0));
        ops.push(Byte(MLOAD));
        ops.extend(push1(0));
        ops.push(Byte(SSTORE));
        ops.push(Byte(TIMESTAMP));
        ops.extend(push1(3));
        ops.push(Byte(SSTORE));
        let len = runtime.len() as u16;
        ops.extend([
            Byte(PUSH2),
            Byte((len >> 8) as u8),
            Byte(len as u8),
            Byte(DUP1),
        ]);
        ops.extend([
            Byte(PUSH2),
            Byte((runtime_offset >> 8) as u8),
            Byte(runtime_offset as u8),
        ]);
        ops.extend(push1(0));
        ops.push(Byte(CODECOPY));
        ops.extend(push1(0));
        ops.push(Byte(RETURN));
        assemble(&ops)
    };
    let size = constructor(0).len() as u16;
    let mut code = constructor(size);
    code.extend_from_slice(&runtime);
    code.extend_from_slice(&initial_answer.to_be_bytes::<32>());
    Bytes::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_target_is_a_jumpdest() {
        let code = runtime_code();
        let mut i = 0;
        while i < code.len() {
            let op = code[i];
            if op == PUSH2 {
                let target = u16::from_be_bytes([code[i + 1], code[i + 2]]) as usize;
                if i + 3 < code.len() && (code[i + 3] == JUMP || code[i + 3] == JUMPI) {
                    assert_eq!(code[target], JUMPDEST, "jump at {i} to {target}");
                }
            }
            i += match op {
                0x60..=0x7f => 1 + (op - 0x5f) as usize,
                _ => 1,
            };
        }
    }
}
