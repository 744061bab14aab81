// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Governance} from "../../contracts/governance/Governance.sol";
import {Roles} from "../../contracts/governance/Roles.sol";
import {IMeterRegistry} from "../../contracts/interfaces/IMeterRegistry.sol";
import {IReadingOracle} from "../../contracts/interfaces/IReadingOracle.sol";
import {MeterRegistry} from "../../contracts/registry/MeterRegistry.sol";
import {ReadingOracle} from "../../contracts/oracle/ReadingOracle.sol";
import {KwhToken} from "../../contracts/tokens/KwhToken.sol";
import {RecToken} from "../../contracts/tokens/RecToken.sol";
import {vm} from "./Vm.sol";

/// @notice The whole system wired as `src/deploy.ts` wires it: one AccessManager (this contract is its admin),
/// restricted functions mapped to roles, a committee of three relayers with threshold 2 and zones 1..3.
abstract contract SystemFixture {
    uint64 internal constant INTERVAL = 900;
    uint64 internal constant SETTLEMENT_WINDOW = 3600;
    uint8 internal constant THRESHOLD = 2;
    uint32 internal constant ZONES = 3;
    /// @dev Start the clock at a realistic time (Nov 2023) so interval ids look like production ones.
    uint256 internal constant GENESIS = 1_700_000_000;

    Governance internal gov;
    MeterRegistry internal registry;
    ReadingOracle internal oracle;
    KwhToken internal kwh;
    RecToken internal rec;
    address[] internal members;

    function _deploySystem(address registrar) internal {
        vm.warp(GENESIS);
        members.push(vm.addr(0xA1));
        members.push(vm.addr(0xA2));
        members.push(vm.addr(0xA3));

        gov = new Governance(address(this));
        registry = new MeterRegistry(address(gov), INTERVAL);
        oracle = new ReadingOracle(address(gov), INTERVAL, members, THRESHOLD);
        // The RecToken names the KwhToken, deployed right after it, as its issuer.
        address kwhAddress = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        rec = new RecToken(address(gov), IMeterRegistry(address(registry)), kwhAddress);
        kwh = new KwhToken(
            address(gov),
            IMeterRegistry(address(registry)),
            IReadingOracle(address(oracle)),
            rec,
            SETTLEMENT_WINDOW
        );

        bytes4[] memory registrarFns = new bytes4[](4);
        registrarFns[0] = registry.setZone.selector;
        registrarFns[1] = registry.registerMeter.selector;
        registrarFns[2] = registry.updateMeter.selector;
        registrarFns[3] = registry.revokeMeter.selector;
        gov.setTargetFunctionRole(address(registry), registrarFns, Roles.REGISTRAR);

        bytes4[] memory oracleAdminFns = new bytes4[](3);
        oracleAdminFns[0] = oracle.addMember.selector;
        oracleAdminFns[1] = oracle.removeMember.selector;
        oracleAdminFns[2] = oracle.setThreshold.selector;
        gov.setTargetFunctionRole(address(oracle), oracleAdminFns, Roles.ORACLE_ADMIN);

        bytes4[] memory pauseFns = new bytes4[](2);
        pauseFns[0] = oracle.pause.selector;
        pauseFns[1] = oracle.unpause.selector;
        gov.setTargetFunctionRole(address(oracle), pauseFns, Roles.PAUSER);
        gov.setTargetFunctionRole(address(kwh), pauseFns, Roles.PAUSER);
        gov.setTargetFunctionRole(address(rec), pauseFns, Roles.PAUSER);

        bytes4[] memory issuerFns = new bytes4[](1);
        issuerFns[0] = registry.revokeAccreditation.selector;
        gov.setTargetFunctionRole(address(registry), issuerFns, Roles.ISSUER);

        gov.grantRole(Roles.REGISTRAR, address(this), 0);
        if (registrar != address(this)) gov.grantRole(Roles.REGISTRAR, registrar, 0);
        gov.grantRole(Roles.ORACLE_ADMIN, address(this), 0);
        gov.grantRole(Roles.PAUSER, address(this), 0);
        gov.grantRole(Roles.ISSUER, address(this), 0);

        for (uint32 zone = 1; zone <= ZONES; ++zone) {
            registry.setZone(zone, 100_000, 100_000);
        }
    }

    /// @notice Registrar parameters of a plain (not REC-eligible) battery meter.
    function _params(address owner, uint32 zone) internal pure returns (IMeterRegistry.MeterParams memory) {
        return
            IMeterRegistry.MeterParams({
                owner: owner,
                zone: zone,
                technology: IMeterRegistry.Technology.Battery,
                ratedCapacityW: 10_000,
                recEligible: false,
                accreditationExpiry: 0
            });
    }

    /// @notice Committee members 0 and 1 vote identical values: the root is final.
    function _finalise(uint64 intervalId, bytes32 root, uint32 leafCount, uint64 importWh, uint64 exportWh) internal {
        vm.prank(members[0]);
        oracle.submitRoot(intervalId, root, leafCount, importWh, exportWh);
        vm.prank(members[1]);
        oracle.submitRoot(intervalId, root, leafCount, importWh, exportWh);
    }
}
