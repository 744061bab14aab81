// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title TokenIds
/// @notice kWh token ids: `id = zone << 64 | intervalId`, so one id is one zone's energy in one interval.
library TokenIds {
    /// @notice Token id of `zone`'s energy in `intervalId`.
    function encode(uint32 zone, uint64 intervalId) internal pure returns (uint256) {
        return (uint256(zone) << 64) | intervalId;
    }

    /// @notice Inverse of {encode}. Ids above 96 bits are not kWh ids; callers reject them with {isValid}.
    function decode(uint256 id) internal pure returns (uint32 zone, uint64 intervalId) {
        zone = uint32(id >> 64);
        intervalId = uint64(id);
    }

    /// @notice Whether `id` is one that {encode} can produce with a non-zero zone.
    function isValid(uint256 id) internal pure returns (bool) {
        return id >> 96 == 0 && id >> 64 != 0;
    }
}
