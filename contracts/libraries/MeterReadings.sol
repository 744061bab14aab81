// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MeterReadings
/// @notice The shapes and hashes that meters, the relayer and the contracts share: the EIP-712 typed data a
/// meter signs, and the Merkle leaf a relayer commits to for one (meter, interval).
/// @dev Leaves use the OpenZeppelin merkle-tree library's StandardMerkleTree encoding
/// `keccak256(bytes.concat(keccak256(abi.encode(meter, intervalId, importWh, exportWh))))`: the inner encoding
/// is 128 bytes and the outer hash is taken again, so no 64-byte internal node can pass for a leaf.
library MeterReadings {
    /// @notice A smart meter's signed cumulative register reading.
    /// @param meter Address of the meter's secp256k1 signing key (its identity in the registry).
    /// @param intervalId Delivery interval the reading closes (`start / intervalLength`).
    /// @param importWhTotal Cumulative import register, Wh.
    /// @param exportWhTotal Cumulative export register, Wh.
    /// @param timestamp Unix time the meter took the reading, seconds.
    struct MeterReading {
        address meter;
        uint64 intervalId;
        uint64 importWhTotal;
        uint64 exportWhTotal;
        uint64 timestamp;
    }

    /// @notice EIP-712 type hash of {MeterReading}.
    bytes32 internal constant METER_READING_TYPEHASH = keccak256(
        "MeterReading(address meter,uint64 intervalId,uint64 importWhTotal,uint64 exportWhTotal,uint64 timestamp)"
    );

    /// @notice EIP-712 struct hash of a reading (to be wrapped in the registry's domain).
    function structHash(MeterReading memory reading) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    METER_READING_TYPEHASH,
                    reading.meter,
                    reading.intervalId,
                    reading.importWhTotal,
                    reading.exportWhTotal,
                    reading.timestamp
                )
            );
    }

    /// @notice StandardMerkleTree leaf of one meter's energy in one interval: `[address, uint64, uint64, uint64]`.
    function leaf(address meter, uint64 intervalId, uint64 importWh, uint64 exportWh) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(meter, intervalId, importWh, exportWh))));
    }
}
