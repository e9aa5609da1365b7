// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @title Background work for liqsim's devnet windows: "other contracts' calls" that make a block
/// use mainnet-like gas. Each call updates `n` slots of a ring of storage that set-up filled with
/// non-zero values, so every update costs the same (a cold read and a non-zero to non-zero write)
/// and the state does not grow over the window.
contract Busy {
    uint256 public constant RING = 8192;
    mapping(uint256 => uint256) public slots;

    event Worked(address indexed sender, uint256 start, uint256 n);

    /// Set-up: fills slots `from` to `to` (exclusive) with non-zero values.
    function fill(uint256 from, uint256 to) external {
        for (uint256 i = from; i < to; i++) {
            slots[i] = i + 1;
        }
    }

    /// Adds 1 to `n` consecutive slots of the ring from `start`.
    function work(uint256 start, uint256 n) external {
        for (uint256 i = 0; i < n; i++) {
            uint256 k = (start + i) % RING;
            slots[k] = slots[k] + 1;
        }
        emit Worked(msg.sender, start, n);
    }
}
