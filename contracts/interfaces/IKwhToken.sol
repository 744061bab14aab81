// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IKwhToken
/// @notice ERC-1155 kWh tokens: id = `zone << 64 | intervalId`, 1 unit = 1 Wh. Minted only by proving a meter's
/// leaf under the interval's final ReadingOracle root, at most once per (meter, interval), never more per
/// interval than the root's exported total. An interval's tokens stop being transferable `settlementWindow`
/// seconds after the interval ends; burning always works.
interface IKwhToken {
    /// @notice One reading to claim: the leaf fields and its Merkle proof.
    struct Claim {
        address meter;
        uint64 intervalId;
        uint64 importWh;
        uint64 exportWh;
        bytes32[] proof;
    }

    /// @notice One leaf of a multi-proof claim.
    struct Leaf {
        address meter;
        uint64 importWh;
        uint64 exportWh;
    }

    /// @notice The interval has no final root yet.
    /// @param intervalId Delivery interval of the claim.
    error KwhTokenRootNotFinal(uint64 intervalId);
    /// @notice The proof does not place this leaf under the interval's final root.
    /// @param meter The leaf's meter (the first leaf's, for a multi-proof).
    /// @param intervalId Delivery interval of the claim.
    error KwhTokenInvalidProof(address meter, uint64 intervalId);
    /// @notice This (meter, interval) leaf was claimed already.
    /// @param meter The leaf's meter.
    /// @param intervalId Delivery interval of the leaf.
    error KwhTokenAlreadyClaimed(address meter, uint64 intervalId);
    /// @notice The meter is not registered.
    /// @param meter The leaf's meter, unknown to the registry.
    error KwhTokenUnknownMeter(address meter);
    /// @notice The meter was revoked at `revokedAt`, before the interval ended.
    /// @param meter The leaf's meter.
    /// @param intervalId Delivery interval of the leaf.
    /// @param revokedAt Unix time the meter was revoked.
    error KwhTokenMeterRevoked(address meter, uint64 intervalId, uint64 revokedAt);
    /// @notice Minting would take the interval's supply above the root's exported total (inconsistent root).
    /// @param intervalId Delivery interval of the leaf.
    /// @param minted The interval's minted total with this leaf, Wh.
    /// @param totalExportWh The root's exported total, Wh.
    error KwhTokenExceedsProvenExport(uint64 intervalId, uint256 minted, uint256 totalExportWh);
    /// @notice The interval's tokens can no longer be transferred (settlement window closed at `closedAt`).
    /// @param id The token id transferred.
    /// @param closedAt Unix time its transfers ended ({transferableUntil}).
    error KwhTokenTransferWindowClosed(uint256 id, uint256 closedAt);
    /// @notice The id is not a kWh token id.
    /// @param id The id given: not `zone << 64 | intervalId` with a non-zero zone.
    error KwhTokenInvalidId(uint256 id);
    /// @notice A batch claim was empty.
    error KwhTokenEmptyClaim();
    /// @notice The RecToken given at deployment does not name this contract as its issuer.
    /// @param recToken The RecToken given, whose issuer is another address.
    error KwhTokenRecTokenMismatch(address recToken);

    /// @notice A meter's proven export for an interval was minted to its owner.
    /// @param importWh The leaf's import, Wh (recorded, not minted).
    /// @param exportWh The leaf's export, Wh = the amount minted.
    /// @param meter The leaf's meter.
    /// @param intervalId Delivery interval of the leaf.
    /// @param owner The meter's owner at claim time, who received the tokens.
    /// @param id Token id minted: `zone << 64 | intervalId`, the meter's zone at claim time.
    event KwhClaimed(
        address indexed meter,
        uint64 indexed intervalId,
        address indexed owner,
        uint256 id,
        uint64 importWh,
        uint64 exportWh
    );
    /// @notice The settlement escrow exempt from the transfer window changed.
    /// @param previous The escrow exempt before (zero if none).
    /// @param escrow The escrow exempt from now on (zero for none).
    event SettlementEscrowChanged(address indexed previous, address indexed escrow);
    /// @notice The transfer window after an interval's end changed.
    /// @param oldWindow Seconds after an interval's end its tokens stayed transferable (0 at deployment).
    /// @param newWindow Seconds from now on.
    event SettlementWindowChanged(uint64 oldWindow, uint64 newWindow);

    /// @notice Proves one reading and mints its export to the meter's owner. Callable by anyone.
    /// @param meter Meter key.
    /// @param intervalId Interval of the leaf; its root must be final.
    /// @param importWh The leaf's import, Wh.
    /// @param exportWh The leaf's export, Wh.
    /// @param proof Merkle proof of the leaf under the interval's final root.
    function claim(
        address meter,
        uint64 intervalId,
        uint64 importWh,
        uint64 exportWh,
        bytes32[] calldata proof
    ) external;

    /// @notice Claims several readings, each with its own proof (any meters, any intervals).
    /// @param claims The readings: meter, interval, import and export, Wh, and Merkle proof of each.
    function claimMany(Claim[] calldata claims) external;

    /// @notice Claims several meters of one interval with one OpenZeppelin multi-proof.
    /// @param intervalId Interval of the leaves; its root must be final.
    /// @param leaves Leaves in the order `StandardMerkleTree.getMultiProof` returns them.
    /// @param proof The multi-proof's sibling hashes.
    /// @param proofFlags The multi-proof's flags (OpenZeppelin `MerkleProof.multiProofVerify`).
    function claimInterval(
        uint64 intervalId,
        Leaf[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external;

    /// @notice Names the settlement escrow (admin): transfers to and from it ignore the transfer window, so that
    /// sellers can deliver and buyers collect until the escrow's own settlement deadlines.
    /// @param escrow The SettlementEscrow (zero to exempt none).
    function setSettlementEscrow(address escrow) external;

    /// @notice The settlement escrow (zero if none).
    /// @return The escrow's address.
    function settlementEscrow() external view returns (address);

    /// @notice Sets how long after an interval's end its tokens stay transferable.
    /// @param window Seconds after an interval's end its tokens stay transferable.
    function setSettlementWindow(uint64 window) external;

    /// @notice Pauses claims.
    function pause() external;

    /// @notice Resumes claims.
    function unpause() external;

    /// @notice Whether (meter, interval) was claimed.
    /// @param meter Meter key.
    /// @param intervalId Delivery interval.
    /// @return True once the leaf was claimed (whatever its export).
    function isClaimed(address meter, uint64 intervalId) external view returns (bool);

    /// @notice Wh minted for an interval across all zones (never above the root's exported total).
    /// @param intervalId Delivery interval.
    /// @return Wh minted so far for the interval.
    function mintedWh(uint64 intervalId) external view returns (uint256);

    /// @notice Seconds after an interval's end during which its tokens are transferable.
    /// @return The window, seconds.
    function settlementWindow() external view returns (uint64);

    /// @notice Unix time from which transfers of token `id` revert.
    /// @param id A kWh token id.
    /// @return The interval's end plus the settlement window, Unix time.
    function transferableUntil(uint256 id) external view returns (uint256);

    /// @notice Token id of `zone`'s energy in `intervalId`.
    /// @param zone Zone id.
    /// @param intervalId Delivery interval.
    /// @return `zone << 64 | intervalId`.
    function tokenId(uint32 zone, uint64 intervalId) external pure returns (uint256);

    /// @notice Zone and interval of token `id`.
    /// @param id A kWh token id (reverts with {KwhTokenInvalidId} otherwise).
    /// @return zone The zone, bits 64 to 95.
    /// @return intervalId The delivery interval, bits 0 to 63.
    function decodeTokenId(uint256 id) external pure returns (uint32 zone, uint64 intervalId);
}
