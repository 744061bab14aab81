// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IMeterRegistry} from "../interfaces/IMeterRegistry.sol";
import {MeterReadings} from "../libraries/MeterReadings.sol";

/// @title MeterRegistry
/// @notice The meters of the microgrid, their zones, and the EIP-712 domain meter readings are signed under.
/// @dev A meter's hot fields (owner, zone, index, technology, status) share one slot so that a kWh claim reads
/// one slot; the rest sits in a second slot.
contract MeterRegistry is IMeterRegistry, AccessManaged, EIP712 {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    struct MeterHot {
        address owner;
        uint32 zone;
        uint32 index;
        Technology technology;
        MeterStatus status;
    }

    struct MeterCold {
        uint64 ratedCapacityW;
        uint40 registeredAt;
        uint40 revokedAt;
        uint40 accreditationExpiry;
        bool recEligible;
    }

    /// @inheritdoc IMeterRegistry
    uint64 public immutable intervalLength;

    mapping(address meter => MeterHot) private _hot;
    mapping(address meter => MeterCold) private _cold;
    mapping(uint32 zone => Zone) private _zones;
    address[] private _meters;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param authority The system's AccessManager.
    /// @param intervalLength_ Delivery interval length, seconds (default deployments use 900).
    constructor(
        address authority,
        uint64 intervalLength_
    ) AccessManaged(authority) EIP712("Microgrid MeterRegistry", "1") {
        intervalLength = intervalLength_;
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IMeterRegistry
    function setZone(uint32 zone, uint64 exportCapacityW, uint64 importCapacityW) external restricted {
        if (zone == 0) revert MeterRegistryInvalidZone(zone);
        _zones[zone] = Zone({configured: true, exportCapacityW: exportCapacityW, importCapacityW: importCapacityW});
        emit ZoneConfigured(zone, exportCapacityW, importCapacityW);
    }

    /// @inheritdoc IMeterRegistry
    function registerMeter(address meter, MeterParams calldata params) external restricted {
        if (meter == address(0)) revert MeterRegistryInvalidMeter(meter);
        if (_hot[meter].status != MeterStatus.None) revert MeterRegistryMeterExists(meter);
        _validate(meter, params);
        uint32 index = uint32(_meters.length);
        _meters.push(meter);
        _hot[meter] = MeterHot({
            owner: params.owner,
            zone: params.zone,
            index: index,
            technology: params.technology,
            status: MeterStatus.Active
        });
        _cold[meter] = MeterCold({
            ratedCapacityW: params.ratedCapacityW,
            registeredAt: uint40(block.timestamp),
            revokedAt: 0,
            accreditationExpiry: uint40(params.accreditationExpiry),
            recEligible: params.recEligible
        });
        emit MeterRegistered(
            meter,
            params.owner,
            params.zone,
            index,
            params.technology,
            params.ratedCapacityW,
            params.recEligible,
            params.accreditationExpiry
        );
    }

    /// @inheritdoc IMeterRegistry
    function updateMeter(address meter, MeterParams calldata params) external restricted {
        MeterHot storage hot = _requireActive(meter);
        _validate(meter, params);
        hot.owner = params.owner;
        hot.zone = params.zone;
        hot.technology = params.technology;
        MeterCold storage cold = _cold[meter];
        cold.ratedCapacityW = params.ratedCapacityW;
        cold.accreditationExpiry = uint40(params.accreditationExpiry);
        cold.recEligible = params.recEligible;
        emit MeterUpdated(
            meter,
            params.owner,
            params.zone,
            params.technology,
            params.ratedCapacityW,
            params.recEligible,
            params.accreditationExpiry
        );
    }

    /// @inheritdoc IMeterRegistry
    function revokeMeter(address meter) external restricted {
        MeterHot storage hot = _requireActive(meter);
        hot.status = MeterStatus.Revoked;
        _cold[meter].revokedAt = uint40(block.timestamp);
        emit MeterRevoked(meter, hot.owner, uint64(block.timestamp));
    }

    /// @inheritdoc IMeterRegistry
    function getMeter(address meter) external view returns (Meter memory) {
        MeterHot memory hot = _hot[meter];
        MeterCold memory cold = _cold[meter];
        return
            Meter({
                owner: hot.owner,
                zone: hot.zone,
                index: hot.index,
                technology: hot.technology,
                status: hot.status,
                ratedCapacityW: cold.ratedCapacityW,
                registeredAt: cold.registeredAt,
                revokedAt: cold.revokedAt,
                recEligible: cold.recEligible,
                accreditationExpiry: cold.accreditationExpiry
            });
    }

    /// @inheritdoc IMeterRegistry
    function claimInfo(
        address meter
    ) external view returns (address owner, uint32 zone, uint32 index, MeterStatus status) {
        MeterHot storage hot = _hot[meter];
        return (hot.owner, hot.zone, hot.index, hot.status);
    }

    /// @inheritdoc IMeterRegistry
    function isActive(address meter) external view returns (bool) {
        return _hot[meter].status == MeterStatus.Active;
    }

    /// @inheritdoc IMeterRegistry
    function maxWhPerInterval(address meter) external view returns (uint64) {
        // Both factors are below 2^64, so the product fits in uint256; SafeCast rejects a quotient above uint64.
        return SafeCast.toUint64((uint256(_cold[meter].ratedCapacityW) * intervalLength) / 3600);
    }

    /// @inheritdoc IMeterRegistry
    function getZone(uint32 zone) external view returns (Zone memory) {
        return _zones[zone];
    }

    /// @inheritdoc IMeterRegistry
    function meterCount() external view returns (uint256) {
        return _meters.length;
    }

    /// @inheritdoc IMeterRegistry
    function meterAt(uint256 index) external view returns (address) {
        return _meters[index];
    }

    /// @inheritdoc IMeterRegistry
    function hashReading(MeterReadings.MeterReading calldata reading) external view returns (bytes32) {
        return _hashTypedDataV4(MeterReadings.structHash(reading));
    }

    /// @inheritdoc IMeterRegistry
    function recoverReadingSigner(
        MeterReadings.MeterReading calldata reading,
        bytes calldata signature
    ) public view returns (address) {
        (address recovered, , ) = ECDSA.tryRecover(_hashTypedDataV4(MeterReadings.structHash(reading)), signature);
        return recovered;
    }

    /// @inheritdoc IMeterRegistry
    function verifyReading(MeterReadings.MeterReading calldata reading, bytes calldata signature) external view {
        address recovered = recoverReadingSigner(reading, signature);
        if (recovered != reading.meter || recovered == address(0)) {
            revert MeterRegistryInvalidSignature(reading.meter, recovered);
        }
        _requireActive(reading.meter);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _requireActive(address meter) private view returns (MeterHot storage hot) {
        hot = _hot[meter];
        if (hot.status == MeterStatus.None) revert MeterRegistryUnknownMeter(meter);
        if (hot.status == MeterStatus.Revoked) revert MeterRegistryMeterRevoked(meter, _cold[meter].revokedAt);
    }

    function _validate(address meter, MeterParams calldata params) private view {
        if (params.owner == address(0)) revert MeterRegistryInvalidOwner(meter, params.owner);
        if (params.zone == 0) revert MeterRegistryInvalidZone(params.zone);
        if (!_zones[params.zone].configured) revert MeterRegistryUnknownZone(params.zone);
        if (params.ratedCapacityW == 0) revert MeterRegistryZeroCapacity(meter);
        if (params.recEligible) {
            if (params.technology != Technology.Solar && params.technology != Technology.Wind) {
                revert MeterRegistryTechnologyNotRenewable(meter, params.technology);
            }
            if (params.accreditationExpiry <= block.timestamp || params.accreditationExpiry > type(uint40).max) {
                revert MeterRegistryInvalidAccreditation(meter, true, params.accreditationExpiry);
            }
        } else if (params.accreditationExpiry != 0) {
            revert MeterRegistryInvalidAccreditation(meter, false, params.accreditationExpiry);
        }
    }
}
