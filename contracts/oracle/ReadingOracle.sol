// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IReadingOracle} from "../interfaces/IReadingOracle.sol";
import {Intervals} from "../libraries/Intervals.sol";

/// @title ReadingOracle
/// @notice A committee of relayers posts one Merkle root per ended delivery interval; the root is final when
/// `threshold` distinct members posted identical values.
/// @dev Members hold one of 32 seats; votes are bitmasks over seats. An interval's first proposal and the bitmask
/// of who voted share its record (two slots), so a vote that agrees with the first proposal writes one slot.
/// Diverging proposals are tallied by digest in `_alternates`. Removing a member frees its seat and bumps `epoch`:
/// pending tallies of older epochs are discarded, so a seat's new holder never inherits its predecessor's vote.
contract ReadingOracle is IReadingOracle, AccessManaged, Pausable {
    /*//////////////////////////////////////////////////////////////
                          CONSTANTS AND IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    /// @notice Committee seats.
    uint256 public constant MAX_MEMBERS = 32;

    /// @inheritdoc IReadingOracle
    uint64 public immutable intervalLength;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    struct Committee {
        uint8 threshold;
        uint8 memberCount;
        uint16 epoch;
    }

    struct IntervalRecord {
        bytes32 root;
        uint32 leafCount;
        uint64 totalImportWh;
        uint64 totalExportWh;
        uint32 votedMask;
        uint32 leadMask;
        uint16 epoch;
        bool isFinal;
    }

    struct Tally {
        uint16 epoch;
        uint32 mask;
    }

    Committee private _committee;
    mapping(address account => uint8 seatPlusOne) private _seatOf;
    address[MAX_MEMBERS] private _seats;
    mapping(uint64 intervalId => IntervalRecord) private _intervals;
    mapping(uint64 intervalId => mapping(bytes32 digest => Tally)) private _alternates;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param authority The system's AccessManager.
    /// @param intervalLength_ Delivery interval length, seconds (the registry's).
    /// @param initialMembers The first committee.
    /// @param initialThreshold Identical votes that finalise a root (1 ..= members).
    constructor(
        address authority,
        uint64 intervalLength_,
        address[] memory initialMembers,
        uint8 initialThreshold
    ) AccessManaged(authority) {
        if (intervalLength_ == 0) revert ReadingOracleInvalidIntervalLength();
        intervalLength = intervalLength_;
        for (uint256 i = 0; i < initialMembers.length; ++i) {
            _addMember(initialMembers[i]);
        }
        _setThreshold(initialThreshold);
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IReadingOracle
    function submitRoot(
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh
    ) external whenNotPaused {
        uint256 seat = _seatOf[msg.sender];
        if (seat == 0) revert ReadingOracleNotMember(msg.sender);
        if (root == bytes32(0)) revert ReadingOracleZeroRoot(intervalId);
        if (leafCount == 0) revert ReadingOracleEmptyTree(intervalId);
        uint256 endsAt = Intervals.endOf(intervalId, intervalLength);
        if (endsAt > block.timestamp) revert ReadingOracleIntervalNotEnded(intervalId, endsAt, block.timestamp);

        IntervalRecord memory rec = _intervals[intervalId];
        if (rec.isFinal) revert ReadingOracleIntervalFinal(intervalId, rec.root);
        Committee memory committee = _committee;
        if (rec.epoch != committee.epoch) {
            // Votes of an older committee no longer count: start the interval afresh.
            rec = IntervalRecord(0, 0, 0, 0, 0, 0, committee.epoch, false);
        }
        uint32 bit = uint32(1 << (seat - 1));
        if (rec.votedMask & bit != 0) revert ReadingOracleAlreadyVoted(intervalId, msg.sender);
        rec.votedMask |= bit;

        uint256 votes;
        if (rec.root == bytes32(0)) {
            (rec.root, rec.leafCount, rec.totalImportWh, rec.totalExportWh) = (
                root,
                leafCount,
                totalImportWh,
                totalExportWh
            );
            rec.leadMask = bit;
            votes = 1;
        } else if (
            rec.root == root &&
            rec.leafCount == leafCount &&
            rec.totalImportWh == totalImportWh &&
            rec.totalExportWh == totalExportWh
        ) {
            rec.leadMask |= bit;
            votes = _popcount(rec.leadMask);
        } else {
            bytes32 leadingRoot = rec.root;
            uint32 mask = _tallyAlternate(
                intervalId,
                root,
                leafCount,
                totalImportWh,
                totalExportWh,
                bit,
                committee.epoch
            );
            votes = _popcount(mask);
            if (votes >= committee.threshold) {
                // A diverging proposal reached the threshold first: it, not the first proposal, becomes final,
                // and the record's supporters become its supporters. The losing first proposal keeps its tally.
                _alternates[intervalId][_digest(rec.root, rec.leafCount, rec.totalImportWh, rec.totalExportWh)] = Tally(
                    committee.epoch,
                    rec.leadMask
                );
                (rec.root, rec.leafCount, rec.totalImportWh, rec.totalExportWh, rec.leadMask) = (
                    root,
                    leafCount,
                    totalImportWh,
                    totalExportWh,
                    mask
                );
            }
            emit RootConflicted(intervalId, msg.sender, root, leafCount, totalImportWh, totalExportWh, leadingRoot);
        }
        rec.isFinal = votes >= committee.threshold;
        _intervals[intervalId] = rec;

        emit RootSubmitted(intervalId, msg.sender, root, leafCount, totalImportWh, totalExportWh, votes);
        if (rec.isFinal) {
            emit RootFinalized(intervalId, root, leafCount, totalImportWh, totalExportWh, votes);
        }
    }

    /// @inheritdoc IReadingOracle
    function addMember(address member) external restricted {
        _addMember(member);
    }

    /// @inheritdoc IReadingOracle
    function removeMember(address member) external restricted {
        uint256 seat = _seatOf[member];
        if (seat == 0) revert ReadingOracleNotMember(member);
        Committee memory committee = _committee;
        if (committee.threshold > committee.memberCount - 1) {
            revert ReadingOracleInvalidThreshold(committee.threshold, committee.memberCount - 1);
        }
        delete _seatOf[member];
        delete _seats[seat - 1];
        committee.memberCount -= 1;
        committee.epoch += 1;
        _committee = committee;
        emit MemberRemoved(member, committee.memberCount, committee.epoch);
    }

    /// @inheritdoc IReadingOracle
    function setThreshold(uint8 newThreshold) external restricted {
        _setThreshold(newThreshold);
    }

    /// @inheritdoc IReadingOracle
    function pause() external restricted {
        _pause();
    }

    /// @inheritdoc IReadingOracle
    function unpause() external restricted {
        _unpause();
    }

    /// @inheritdoc IReadingOracle
    function finalRoot(uint64 intervalId) external view returns (bytes32 root, uint64 totalExportWh) {
        IntervalRecord storage rec = _intervals[intervalId];
        if (rec.isFinal) return (rec.root, rec.totalExportWh);
        return (bytes32(0), 0);
    }

    /// @inheritdoc IReadingOracle
    function getInterval(uint64 intervalId) external view returns (IntervalInfo memory info) {
        IntervalRecord memory rec = _intervals[intervalId];
        if (rec.isFinal) {
            info.status = Status.Final;
        } else if (rec.root == bytes32(0) || rec.epoch != _committee.epoch) {
            return info;
        } else {
            info.status = Status.Pending;
        }
        info.root = rec.root;
        info.leafCount = rec.leafCount;
        info.totalImportWh = rec.totalImportWh;
        info.totalExportWh = rec.totalExportWh;
        info.votes =
            rec.isFinal
                ? votesFor(intervalId, rec.root, rec.leafCount, rec.totalImportWh, rec.totalExportWh)
                : _popcount(rec.leadMask);
    }

    /// @inheritdoc IReadingOracle
    function hasVoted(uint64 intervalId, address member) external view returns (bool) {
        uint256 seat = _seatOf[member];
        IntervalRecord storage rec = _intervals[intervalId];
        if (seat == 0 || rec.epoch != _committee.epoch) return false;
        return rec.votedMask & (1 << (seat - 1)) != 0;
    }

    /// @inheritdoc IReadingOracle
    function members() external view returns (address[] memory list) {
        list = new address[](_committee.memberCount);
        uint256 n;
        for (uint256 i = 0; i < MAX_MEMBERS; ++i) {
            if (_seats[i] != address(0)) list[n++] = _seats[i];
        }
    }

    /// @inheritdoc IReadingOracle
    function isMember(address account) external view returns (bool) {
        return _seatOf[account] != 0;
    }

    /// @inheritdoc IReadingOracle
    function threshold() external view returns (uint256) {
        return _committee.threshold;
    }

    /// @inheritdoc IReadingOracle
    function epoch() external view returns (uint16) {
        return _committee.epoch;
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IReadingOracle
    function votesFor(
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh
    ) public view returns (uint256) {
        IntervalRecord storage rec = _intervals[intervalId];
        uint16 currentEpoch = rec.isFinal ? rec.epoch : _committee.epoch;
        if (rec.epoch != currentEpoch) return 0;
        Tally storage alt = _alternates[intervalId][_digest(root, leafCount, totalImportWh, totalExportWh)];
        uint32 mask = alt.epoch == currentEpoch ? alt.mask : 0;
        bool isLead =
            rec.root == root &&
                rec.leafCount == leafCount &&
                rec.totalImportWh == totalImportWh &&
                rec.totalExportWh == totalExportWh;
        if (isLead) mask |= rec.leadMask;
        return _popcount(mask);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _tallyAlternate(
        uint64 intervalId,
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh,
        uint32 bit,
        uint16 currentEpoch
    ) private returns (uint32 mask) {
        Tally storage tally = _alternates[intervalId][_digest(root, leafCount, totalImportWh, totalExportWh)];
        mask = (tally.epoch == currentEpoch ? tally.mask : 0) | bit;
        tally.epoch = currentEpoch;
        tally.mask = mask;
    }

    function _addMember(address member) private {
        if (member == address(0)) revert ReadingOracleInvalidMember(member);
        if (_seatOf[member] != 0) revert ReadingOracleMemberExists(member);
        uint256 seat;
        while (seat < MAX_MEMBERS && _seats[seat] != address(0)) ++seat;
        if (seat == MAX_MEMBERS) revert ReadingOracleCommitteeFull(MAX_MEMBERS);
        _seats[seat] = member;
        _seatOf[member] = uint8(seat + 1);
        _committee.memberCount += 1;
        emit MemberAdded(member, _committee.memberCount);
    }

    function _setThreshold(uint8 newThreshold) private {
        Committee storage committee = _committee;
        if (newThreshold == 0 || newThreshold > committee.memberCount) {
            revert ReadingOracleInvalidThreshold(newThreshold, committee.memberCount);
        }
        uint8 oldThreshold = committee.threshold;
        committee.threshold = newThreshold;
        emit ThresholdChanged(oldThreshold, newThreshold);
    }

    function _digest(
        bytes32 root,
        uint32 leafCount,
        uint64 totalImportWh,
        uint64 totalExportWh
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(root, leafCount, totalImportWh, totalExportWh));
    }

    function _popcount(uint32 mask) private pure returns (uint256 count) {
        while (mask != 0) {
            mask &= mask - 1;
            ++count;
        }
    }
}
