// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IReadingOracle
/// @notice A committee of relayers anchors each ended delivery interval as one Merkle root of meter leaves
/// `[meter, intervalId, importWh, exportWh]` with the interval's totals. A root is final once `threshold`
/// distinct members submitted identical values; diverging submissions are tallied and raised, never silently
/// replaced; a final root never changes.
interface IReadingOracle {
    /// @notice Where an interval stands.
    enum Status {
        None,
        Pending,
        Final
    }

    /// @notice What the oracle knows of an interval. While `Pending` the values are those of the first
    /// proposal of the current committee and `votes` counts its supporters.
    struct IntervalInfo {
        Status status;
        bytes32 root;
        uint32 leafCount;
        uint64 totalImportWh;
        uint64 totalExportWh;
        uint256 votes;
    }

    /// @notice The caller is not a committee member.
    error ReadingOracleNotMember(address account);
    /// @notice The member already voted for this interval under the current committee.
    error ReadingOracleAlreadyVoted(uint64 intervalId, address member);
    /// @notice The interval's root is final and never changes.
    error ReadingOracleIntervalFinal(uint64 intervalId, bytes32 finalRoot);
    /// @notice The interval has not ended yet.
    error ReadingOracleIntervalNotEnded(uint64 intervalId, uint256 endsAt, uint256 now_);
    /// @notice A root of zero was submitted.
    error ReadingOracleZeroRoot(uint64 intervalId);
    /// @notice A tree must hold at least one leaf.
    error ReadingOracleEmptyTree(uint64 intervalId);
    /// @notice The account is already a member.
    error ReadingOracleMemberExists(address account);
    /// @notice The zero address cannot be a member.
    error ReadingOracleInvalidMember(address account);
    /// @notice The committee is full.
    error ReadingOracleCommitteeFull(uint256 maxMembers);
    /// @notice The threshold must be at least 1 and at most the number of members.
    error ReadingOracleInvalidThreshold(uint256 threshold, uint256 memberCount);
    /// @notice The interval length must be positive.
    error ReadingOracleInvalidIntervalLength();

    /// @notice A member voted for a root of an interval.
    /// @param votes Supporters of these exact values after this vote.
    event RootSubmitted(
        uint64 indexed intervalId,
        address indexed member,
        bytes32 indexed root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh,
        uint256 votes
    );
    /// @notice A member's submission differs from the interval's first proposal (`leadingRoot`).
    event RootConflicted(
        uint64 indexed intervalId,
        address indexed member,
        bytes32 indexed root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh,
        bytes32 leadingRoot
    );
    /// @notice An interval's root became final with `votes` supporters.
    event RootFinalized(
        uint64 indexed intervalId,
        bytes32 indexed root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh,
        uint256 votes
    );
    /// @notice A member joined the committee.
    event MemberAdded(address indexed member, uint256 memberCount);
    /// @notice A member left the committee; pending votes of the old committee no longer count (`epoch`).
    event MemberRemoved(address indexed member, uint256 memberCount, uint16 epoch);
    /// @notice The number of identical votes that finalises a root changed.
    event ThresholdChanged(uint256 oldThreshold, uint256 newThreshold);

    /// @notice Votes for `root` and the totals as the record of ended interval `intervalId`.
    /// @param intervalId Delivery interval; it must have ended.
    /// @param root Merkle root of the interval's leaves (StandardMerkleTree encoding).
    /// @param leafCount Number of leaves in the tree.
    /// @param totalImportWh Sum of the leaves' import, Wh.
    /// @param totalExportWh Sum of the leaves' export, Wh; caps the kWh that can be minted for the interval.
    function submitRoot(
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh
    ) external;

    /// @notice Adds a committee member.
    function addMember(address member) external;

    /// @notice Removes a committee member; pending (non-final) votes of the old committee are discarded.
    function removeMember(address member) external;

    /// @notice Sets how many identical votes finalise a root.
    function setThreshold(uint8 threshold) external;

    /// @notice Pauses root submission.
    function pause() external;

    /// @notice Resumes root submission.
    function unpause() external;

    /// @notice The final root and exported total of an interval, or zeros while not final.
    function finalRoot(uint64 intervalId) external view returns (bytes32 root, uint64 totalExportWh);

    /// @notice Status, values and support of an interval.
    function getInterval(uint64 intervalId) external view returns (IntervalInfo memory);

    /// @notice Whether `member` voted for `intervalId` under the current committee.
    function hasVoted(uint64 intervalId, address member) external view returns (bool);

    /// @notice Current-committee supporters of exactly these values for `intervalId`.
    function votesFor(
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh
    ) external view returns (uint256);

    /// @notice The committee members.
    function members() external view returns (address[] memory);

    /// @notice Whether `account` is a committee member.
    function isMember(address account) external view returns (bool);

    /// @notice Identical votes needed to finalise a root.
    function threshold() external view returns (uint256);

    /// @notice Committee generation; it increases when a member is removed.
    function epoch() external view returns (uint16);

    /// @notice Length of a delivery interval, seconds.
    function intervalLength() external view returns (uint64);
}
