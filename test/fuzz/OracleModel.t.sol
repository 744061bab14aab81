// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IReadingOracle} from "../../contracts/interfaces/IReadingOracle.sol";
import {Intervals} from "../../contracts/libraries/Intervals.sol";
import {Assert} from "./Assert.sol";
import {SystemFixture} from "./SystemFixture.sol";
import {vm} from "./Vm.sol";

/// @notice Model-based fuzz test of the ReadingOracle committee: random votes for three candidate values, member
/// removals (which discard pending votes), additions and threshold changes, checked after every step against a
/// plain model: a value becomes final when its own identical votes of the current committee epoch reach the
/// threshold, and a final value never changes.
contract OracleModelFuzzTest is SystemFixture {
    uint256 internal constant CANDIDATES = 3;
    uint256 internal constant MAX_COMMITTEE = 8;

    uint64 internal intervalId;
    address[] internal committee;
    uint256 internal threshold;
    uint256 internal nextMember;

    // Model.
    uint16 internal epoch;
    mapping(address member => uint256 epochPlusOne) internal votedIn;
    mapping(uint16 epoch => mapping(uint256 candidate => uint256 votes)) internal tally;
    mapping(uint16 epoch => uint256 candidatePlusOne) internal leadOf;
    bool internal isFinal;
    uint256 internal finalCandidate;
    uint16 internal finalEpoch;

    function setUp() public {
        _deploySystem(address(this));
        oracle.addMember(vm.addr(0xA4));
        oracle.addMember(vm.addr(0xA5));
        committee = oracle.members();
        threshold = THRESHOLD;
        intervalId = Intervals.idAt(block.timestamp, INTERVAL) - 1;
    }

    function testFuzz_oracle_matchesVotingModel(uint256 seed, uint256 steps) public {
        steps = Assert.bound(steps, 1, 40);
        for (uint256 s = 0; s < steps; ++s) {
            uint256 r = uint256(keccak256(abi.encode(seed, s)));
            uint256 action = r % 12;
            if (action == 0) _remove(r >> 8);
            else if (action == 1) _add();
            else if (action == 2) _setThreshold(r >> 8);
            else _vote(committee[(r >> 8) % committee.length], (r >> 16) % CANDIDATES);
            _check();
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    function _remove(uint256 r) internal {
        uint256 idx = r % committee.length;
        address member = committee[idx];
        if (committee.length - 1 < threshold) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IReadingOracle.ReadingOracleInvalidThreshold.selector,
                    threshold,
                    committee.length - 1
                )
            );
            oracle.removeMember(member);
            return;
        }
        oracle.removeMember(member);
        committee[idx] = committee[committee.length - 1];
        committee.pop();
        ++epoch;
    }

    function _add() internal {
        if (committee.length >= MAX_COMMITTEE) return;
        address member = vm.addr(0x1000 + nextMember++);
        oracle.addMember(member);
        committee.push(member);
    }

    function _setThreshold(uint256 r) internal {
        threshold = 1 + (r % committee.length);
        oracle.setThreshold(uint8(threshold));
    }

    function _vote(address member, uint256 c) internal {
        if (isFinal) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IReadingOracle.ReadingOracleIntervalFinal.selector,
                    intervalId,
                    _root(finalCandidate)
                )
            );
        } else if (votedIn[member] == uint256(epoch) + 1) {
            vm.expectRevert(
                abi.encodeWithSelector(IReadingOracle.ReadingOracleAlreadyVoted.selector, intervalId, member)
            );
        } else {
            votedIn[member] = uint256(epoch) + 1;
            if (leadOf[epoch] == 0) leadOf[epoch] = c + 1;
            if (++tally[epoch][c] >= threshold) {
                (isFinal, finalCandidate, finalEpoch) = (true, c, epoch);
            }
        }
        vm.prank(member);
        oracle.submitRoot(intervalId, _root(c), uint32(c + 1), uint64(c), _export(c));
    }

    /*//////////////////////////////////////////////////////////////
                                 CHECKS
    //////////////////////////////////////////////////////////////*/

    function _check() internal view {
        (bytes32 root, uint64 total) = oracle.finalRoot(intervalId);
        IReadingOracle.IntervalInfo memory info = oracle.getInterval(intervalId);
        Assert.eq(oracle.epoch(), epoch, "epoch");
        Assert.eq(oracle.threshold(), threshold, "threshold");
        if (isFinal) {
            Assert.eq(root, _root(finalCandidate), "final root");
            Assert.eq(total, _export(finalCandidate), "final total");
            Assert.eq(uint256(info.status), uint256(IReadingOracle.Status.Final), "status final");
            Assert.eq(info.root, _root(finalCandidate), "info root");
            Assert.eq(info.votes, tally[finalEpoch][finalCandidate], "final votes");
        } else {
            Assert.eq(root, bytes32(0), "no final root");
            Assert.eq(total, 0, "no final total");
            uint256 lead = leadOf[epoch];
            if (lead == 0) {
                Assert.eq(uint256(info.status), uint256(IReadingOracle.Status.None), "status none");
            } else {
                Assert.eq(uint256(info.status), uint256(IReadingOracle.Status.Pending), "status pending");
                Assert.eq(info.root, _root(lead - 1), "pending root is the epoch's first proposal");
                Assert.eq(info.votes, tally[epoch][lead - 1], "pending votes");
            }
            for (uint256 c = 0; c < CANDIDATES; ++c) {
                Assert.eq(
                    oracle.votesFor(intervalId, _root(c), uint32(c + 1), uint64(c), _export(c)),
                    tally[epoch][c],
                    "votesFor a pending candidate"
                );
            }
        }
        for (uint256 i = 0; i < committee.length; ++i) {
            Assert.isTrue(
                oracle.hasVoted(intervalId, committee[i]) == (votedIn[committee[i]] == uint256(epoch) + 1),
                "hasVoted"
            );
        }
    }

    function _root(uint256 c) internal pure returns (bytes32) {
        return keccak256(abi.encode("candidate", c));
    }

    function _export(uint256 c) internal pure returns (uint64) {
        return uint64(100 * (c + 1));
    }
}
