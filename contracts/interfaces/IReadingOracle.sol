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
    /// @param account The caller, or the account to remove, that holds no seat.
    error ReadingOracleNotMember(address account);
    /// @notice The member already voted for this interval under the current committee.
    /// @param intervalId Delivery interval voted on.
    /// @param member The member that voted before.
    error ReadingOracleAlreadyVoted(uint64 intervalId, address member);
    /// @notice The interval's root is final and never changes.
    /// @param intervalId Delivery interval voted on.
    /// @param finalRoot Its final root.
    error ReadingOracleIntervalFinal(uint64 intervalId, bytes32 finalRoot);
    /// @notice The interval has not ended yet.
    /// @param intervalId Delivery interval voted on.
    /// @param endsAt Unix time the interval ends.
    /// @param now_ The block's timestamp.
    error ReadingOracleIntervalNotEnded(uint64 intervalId, uint256 endsAt, uint256 now_);
    /// @notice A root of zero was submitted.
    /// @param intervalId Delivery interval voted on.
    error ReadingOracleZeroRoot(uint64 intervalId);
    /// @notice A tree must hold at least one leaf.
    /// @param intervalId Delivery interval voted on.
    error ReadingOracleEmptyTree(uint64 intervalId);
    /// @notice The account is already a member.
    /// @param account The account to add, already seated.
    error ReadingOracleMemberExists(address account);
    /// @notice The zero address cannot be a member.
    /// @param account The account to add (zero).
    error ReadingOracleInvalidMember(address account);
    /// @notice The committee is full.
    /// @param maxMembers Seats of the committee.
    error ReadingOracleCommitteeFull(uint256 maxMembers);
    /// @notice The threshold must be at least 1 and at most the number of members.
    /// @param threshold The threshold asked for, or the current one when a removal would leave fewer members.
    /// @param memberCount Members there are, or would be after the removal.
    error ReadingOracleInvalidThreshold(uint256 threshold, uint256 memberCount);
    /// @notice The interval length must be positive.
    error ReadingOracleInvalidIntervalLength();

    /// @notice A member voted for a root of an interval.
    /// @param votes Supporters of these exact values after this vote.
    /// @param intervalId Delivery interval voted on.
    /// @param member The voting committee member.
    /// @param root Merkle root of the interval's leaves.
    /// @param leafCount Number of leaves in the submitted tree.
    /// @param totalImportWh Sum of the leaves' import, Wh.
    /// @param totalExportWh Sum of the leaves' export, Wh.
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
    /// @param intervalId Delivery interval voted on.
    /// @param member The member whose submission differs.
    /// @param root The root it submitted.
    /// @param leafCount Number of leaves in the submitted tree.
    /// @param totalImportWh Sum of the leaves' import, Wh.
    /// @param totalExportWh Sum of the leaves' export, Wh.
    /// @param leadingRoot The root of the interval's first proposal under the current committee.
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
    /// @param intervalId Delivery interval now final.
    /// @param root Its final Merkle root.
    /// @param leafCount Number of leaves in the tree.
    /// @param totalImportWh Sum of the leaves' import, Wh.
    /// @param totalExportWh Sum of the leaves' export, Wh; caps the kWh mintable for the interval.
    /// @param votes Members that submitted exactly these values.
    event RootFinalized(
        uint64 indexed intervalId,
        bytes32 indexed root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh,
        uint256 votes
    );
    /// @notice A member joined the committee.
    /// @param member The new member.
    /// @param memberCount Members after the change.
    event MemberAdded(address indexed member, uint256 memberCount);
    /// @notice A member left the committee; pending votes of the old committee no longer count (`epoch`).
    /// @param member The removed member.
    /// @param memberCount Members after the change.
    /// @param epoch The new committee generation.
    event MemberRemoved(address indexed member, uint256 memberCount, uint16 epoch);
    /// @notice The number of identical votes that finalises a root changed.
    /// @param oldThreshold Identical votes that finalised a root before.
    /// @param newThreshold Identical votes that finalise a root from now on.
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
    /// @param member The account to seat; not zero, not a member, and a seat must be free.
    function addMember(address member) external;

    /// @notice Removes a committee member; pending (non-final) votes of the old committee are discarded.
    /// @param member The member to remove; the threshold must stay reachable without it.
    function removeMember(address member) external;

    /// @notice Sets how many identical votes finalise a root.
    /// @param newThreshold Identical votes needed, from 1 to the number of members.
    function setThreshold(uint8 newThreshold) external;

    /// @notice Pauses root submission.
    function pause() external;

    /// @notice Resumes root submission.
    function unpause() external;

    /// @notice The final root and exported total of an interval, or zeros while not final.
    /// @param intervalId Delivery interval.
    /// @return root The final Merkle root (zero while not final).
    /// @return totalExportWh Sum of the leaves' export, Wh (zero while not final).
    function finalRoot(uint64 intervalId) external view returns (bytes32 root, uint64 totalExportWh);

    /// @notice Status, values and support of an interval.
    /// @param intervalId Delivery interval.
    /// @return Status, the leading (or final) values and their supporters.
    function getInterval(uint64 intervalId) external view returns (IntervalInfo memory);

    /// @notice Whether `member` voted for `intervalId` under the current committee.
    /// @param intervalId Delivery interval.
    /// @param member Committee member.
    /// @return True if it voted (false for a non-member and for votes of an older committee).
    function hasVoted(uint64 intervalId, address member) external view returns (bool);

    /// @notice Current-committee supporters of exactly these values for `intervalId`.
    /// @param intervalId Delivery interval.
    /// @param root Merkle root.
    /// @param leafCount Number of leaves.
    /// @param totalImportWh Sum of the leaves' import, Wh.
    /// @param totalExportWh Sum of the leaves' export, Wh.
    /// @return Members that submitted exactly these values (for a final interval: under the committee that finalised
    /// it).
    function votesFor(
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh
    ) external view returns (uint256);

    /// @notice The committee members.
    /// @return The members' addresses, in seat order.
    function members() external view returns (address[] memory);

    /// @notice Whether `account` is a committee member.
    /// @param account Any address.
    /// @return True if it holds a seat.
    function isMember(address account) external view returns (bool);

    /// @notice Identical votes needed to finalise a root.
    /// @return Identical votes that finalise a root.
    function threshold() external view returns (uint256);

    /// @notice Committee generation; it increases when a member is removed.
    /// @return The committee generation: votes of earlier generations on pending intervals do not count.
    function epoch() external view returns (uint16);

    /// @notice Length of a delivery interval, seconds.
    /// @return Seconds per delivery interval.
    function intervalLength() external view returns (uint64);
}
