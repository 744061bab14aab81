// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Roles
/// @notice Role ids used in the system's one AccessManager ({Governance}). Role 0 is OpenZeppelin's ADMIN_ROLE,
/// held with an execution delay in production so that admin powers are announced before they act.
library Roles {
    /// @notice Registers, updates and revokes meters and zones in the MeterRegistry.
    uint64 internal constant REGISTRAR = 1;
    /// @notice Manages the ReadingOracle committee and its threshold.
    uint64 internal constant ORACLE_ADMIN = 2;
    /// @notice Pauses and unpauses root submission, kWh claims, certificate transfers and retirements, settlement
    /// and DealDesk fills.
    uint64 internal constant PAUSER = 3;
    /// @notice The certificate issuer's authority (the registry operator): revokes meters' REC accreditation.
    uint64 internal constant ISSUER = 4;
}
