// SPDX-License-Identifier: MIT OR Apache-2.0
// The ERC-20 token peregrine-loadtest deploys for its `erc20` workload.
//
// Compiled ahead of time; the creation bytecode is committed beside this file as
// LoadToken.bin (see loadtest/contracts/README.md for the exact command). The harness
// deploys it from the funder, mints to every load account with `mintBatch`, then sends
// `transfer(address,uint256)` calls from the load accounts.
pragma solidity ^0.8.20;

contract LoadToken {
    string public constant name = "Peregrine Load Token";
    string public constant symbol = "PLT";
    uint8 public constant decimals = 18;

    address public immutable owner;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error NotOwner();
    error InsufficientBalance(uint256 available, uint256 needed);
    error InsufficientAllowance(uint256 available, uint256 needed);

    constructor() {
        owner = msg.sender;
    }

    /// Mints `amount` to each of `to` (owner only): one transaction funds every load account.
    function mintBatch(address[] calldata to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner();
        for (uint256 i = 0; i < to.length; i++) {
            balanceOf[to[i]] += amount;
            emit Transfer(address(0), to[i], amount);
        }
        totalSupply += amount * to.length;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(allowed, value);
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        uint256 have = balanceOf[from];
        if (have < value) revert InsufficientBalance(have, value);
        unchecked {
            balanceOf[from] = have - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
