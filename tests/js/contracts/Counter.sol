// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Small contract used by Peregrine's end-to-end tests.
/// Storage layout (asserted by the tests with `cast storage`):
///   slot 0: count
///   slot 1: lastCaller
///   slot 2: perCaller mapping (entry for `a` at keccak256(abi.encode(a, 2)))
contract Counter {
    uint256 public count;
    address public lastCaller;
    mapping(address => uint256) public perCaller;

    event Incremented(address indexed by, uint256 newCount);

    error TooLow(uint256 have, uint256 want);

    constructor(uint256 initial) {
        count = initial;
    }

    function increment() external {
        count += 1;
        lastCaller = msg.sender;
        perCaller[msg.sender] += 1;
        emit Incremented(msg.sender, count);
    }

    /// Reverts with the custom error `TooLow(count, want)` when `count < want`.
    function requireAtLeast(uint256 want) external view returns (uint256) {
        if (count < want) revert TooLow(count, want);
        return count;
    }

    /// Always reverts with a string reason (`Error(string)`).
    function fail() external pure {
        revert("Counter: always fails");
    }
}
