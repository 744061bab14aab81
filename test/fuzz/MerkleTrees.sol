// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @notice Small Merkle trees with OpenZeppelin's sorted-pair hashing, in the array layout of
/// OpenZeppelin merkle-tree (`tree[0]` is the root, node `i` has children `2i+1` and `2i+2`, leaf `k` of `n` sits
/// at `2n-2-k`). Leaves are kept in the given order (the JS library sorts them first; verification does not care).
library MerkleTrees {
    error MerkleTreesEmpty();
    error MerkleTreesBadIndices();

    /// @notice The whole tree of `leaves` (at least one).
    function build(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        uint256 n = leaves.length;
        if (n == 0) revert MerkleTreesEmpty();
        tree = new bytes32[](2 * n - 1);
        for (uint256 k = 0; k < n; ++k) {
            tree[2 * n - 2 - k] = leaves[k];
        }
        for (uint256 i = n - 1; i > 0; --i) {
            uint256 j = i - 1;
            tree[j] = Hashes.commutativeKeccak256(tree[2 * j + 1], tree[2 * j + 2]);
        }
    }

    /// @notice Tree index of leaf `k`.
    function nodeOf(bytes32[] memory tree, uint256 k) internal pure returns (uint256) {
        return tree.length - 1 - k;
    }

    /// @notice Proof of leaf `k` for `MerkleProof.verify`.
    function proof(bytes32[] memory tree, uint256 k) internal pure returns (bytes32[] memory p) {
        uint256 idx = nodeOf(tree, k);
        uint256 depth;
        for (uint256 i = idx; i > 0; i = (i - 1) / 2) ++depth;
        p = new bytes32[](depth);
        uint256 n;
        while (idx > 0) {
            p[n++] = tree[_sibling(idx)];
            idx = (idx - 1) / 2;
        }
    }

    /// @notice Multi-proof of leaves `ks` (strictly ascending leaf positions) for `MerkleProof.multiProofVerify`;
    /// the leaves must be passed to the verifier in the same (ascending) order.
    function multiProof(
        bytes32[] memory tree,
        uint256[] memory ks
    ) internal pure returns (bytes32[] memory p, bool[] memory flags) {
        uint256 m = ks.length;
        if (m == 0) revert MerkleTreesBadIndices();
        // Queue of tree indices, descending at first (ascending leaf positions have descending node indices).
        uint256[] memory queue = new uint256[](m + tree.length);
        for (uint256 i = 0; i < m; ++i) {
            if (i > 0 && ks[i] <= ks[i - 1]) revert MerkleTreesBadIndices();
            queue[i] = nodeOf(tree, ks[i]);
        }
        uint256 head;
        uint256 tail = m;
        p = new bytes32[](tree.length);
        flags = new bool[](tree.length);
        uint256 np;
        uint256 nf;
        while (head < tail && queue[head] > 0) {
            uint256 j = queue[head++];
            uint256 s = _sibling(j);
            if (head < tail && queue[head] == s) {
                flags[nf++] = true;
                ++head;
            } else {
                flags[nf++] = false;
                p[np++] = tree[s];
            }
            queue[tail++] = (j - 1) / 2;
        }
        assembly ("memory-safe") {
            mstore(p, np)
            mstore(flags, nf)
        }
    }

    function _sibling(uint256 i) private pure returns (uint256) {
        return i % 2 == 1 ? i + 1 : i - 1;
    }
}
