// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title BaselineMerkleMint
/// @notice Gas benchmark reference, not part of the system: a plain OpenZeppelin ERC-1155 whose `claim` verifies a
/// StandardMerkleTree leaf `[address account, uint256 id, uint256 amount]` against a stored root and mints.
/// @dev Deliberately minimal, to show what "an ERC-1155 mint plus a MerkleProof verify" costs: no claimed-leaf
/// bitmap (a leaf can be claimed twice), no supply cap, no pause, no registry or oracle lookups.
contract BaselineMerkleMint is ERC1155, Ownable {
    /// @notice Root of the StandardMerkleTree of `[address, uint256, uint256]` leaves that may be claimed.
    bytes32 public root;

    /// @notice The proof does not place the leaf under `root`.
    error BaselineMerkleMintInvalidProof(address account, uint256 id, uint256 amount);

    /// @param root_ Initial root.
    constructor(bytes32 root_) ERC1155("") Ownable(msg.sender) {
        root = root_;
    }

    /// @notice Replaces the root (one tree per delivery interval, say).
    /// @param root_ The new root.
    function setRoot(bytes32 root_) external onlyOwner {
        root = root_;
    }

    /// @notice Proves the leaf `[account, id, amount]` under `root` and mints `amount` of `id` to `account`.
    /// @param account Receiver named in the leaf.
    /// @param id Token id named in the leaf.
    /// @param amount Amount named in the leaf.
    /// @param proof Merkle proof of the leaf (StandardMerkleTree `getProof`).
    function claim(address account, uint256 id, uint256 amount, bytes32[] calldata proof) external {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, id, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert BaselineMerkleMintInvalidProof(account, id, amount);
        _mint(account, id, amount, "");
    }
}
