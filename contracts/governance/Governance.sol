// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManager} from "@openzeppelin/contracts/access/manager/AccessManager.sol";

/// @title Governance
/// @notice The system's single OpenZeppelin AccessManager: every restricted function of every contract is
/// mapped to a role here (see `Roles`), admin powers can carry an execution delay, and roles are granted and
/// revoked with events an auditor can follow.
contract Governance is AccessManager {
    /// @param initialAdmin Account that receives ADMIN_ROLE without delay (the deployer, who hands it over).
    constructor(address initialAdmin) AccessManager(initialAdmin) {}
}
