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
/// @dev A meter's hot fields (owner, zone, index, technology, status, whether it has an accreditation record)
/// share one slot so that a kWh claim reads one slot; the rest, with the latest accreditation window, sits in a
/// second slot that a claim reads only for meters with an accreditation record. Older windows (after a lapse or
/// a revocation and a renewal) are kept in a list read only for intervals before the latest window.
contract MeterRegistry is IMeterRegistry, AccessManaged, EIP712 {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    // 160 + 32 + 32 + 8 + 8 + 8 = 248 bits: one slot (the rule counts enums as full words).
    // solhint-disable-next-line gas-struct-packing
    struct MeterHot {
        address owner;
        uint32 zone;
        uint32 index;
        Technology technology;
        MeterStatus status;
        bool accreditationRecord;
    }

    struct MeterCold {
        uint64 ratedCapacityW;
        uint40 registeredAt;
        uint40 revokedAt;
        uint40 accreditedFrom;
        uint40 accreditationExpiry;
        bool recEligible;
    }

    struct Window {
        uint40 from;
        uint40 until;
    }

    /// @inheritdoc IMeterRegistry
    uint64 public immutable intervalLength;

    mapping(address meter => MeterHot) private _hot;
    mapping(address meter => MeterCold) private _cold;
    mapping(address meter => Window[]) private _pastWindows;
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
            status: MeterStatus.Active,
            accreditationRecord: params.recEligible
        });
        _cold[meter] = MeterCold({
            ratedCapacityW: params.ratedCapacityW,
            registeredAt: uint40(block.timestamp),
            revokedAt: 0,
            accreditedFrom: params.recEligible ? uint40(block.timestamp) : 0,
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
        if (hot.accreditationRecord && params.technology != hot.technology) {
            revert MeterRegistryTechnologyLocked(meter, hot.technology, params.technology);
        }
        MeterCold storage cold = _cold[meter];
        uint40 now_ = uint40(block.timestamp);
        if (params.recEligible) {
            if (!cold.recEligible || cold.accreditationExpiry <= now_) {
                // A new accreditation, or one renewed after it lapsed or was revoked, is not retroactive: it opens
                // a new window; the previous one stays on record.
                if (hot.accreditationRecord && cold.accreditationExpiry > cold.accreditedFrom) {
                    _pastWindows[meter].push(Window(cold.accreditedFrom, cold.accreditationExpiry));
                }
                cold.accreditedFrom = now_;
            }
            cold.accreditationExpiry = uint40(params.accreditationExpiry);
            hot.accreditationRecord = true;
        } else if (cold.recEligible && cold.accreditationExpiry > now_) {
            // Withdrawn now: generation up to now stays certifiable.
            cold.accreditationExpiry = now_;
        }
        cold.recEligible = params.recEligible;
        hot.owner = params.owner;
        hot.zone = params.zone;
        hot.technology = params.technology;
        cold.ratedCapacityW = params.ratedCapacityW;
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
    function revokeAccreditation(address meter, uint64 effectiveAt) external restricted {
        // Revoked meters included: readings from before a key's revocation stay claimable, so may their RECs.
        MeterHot storage hot = _hot[meter];
        if (hot.status == MeterStatus.None) revert MeterRegistryUnknownMeter(meter);
        if (!hot.accreditationRecord) revert MeterRegistryNotAccredited(meter);
        MeterCold storage cold = _cold[meter];
        uint64 expiry = cold.accreditationExpiry;
        if (effectiveAt > block.timestamp || effectiveAt >= expiry) {
            revert MeterRegistryInvalidRevocationTime(meter, effectiveAt, expiry);
        }
        // Every window is cut at `effectiveAt`; one that began later becomes empty (`until == from`). Windows are
        // ordered and disjoint, so the walk stops at the first one that ended by then.
        cold.accreditationExpiry = uint40(effectiveAt > cold.accreditedFrom ? effectiveAt : cold.accreditedFrom);
        Window[] storage past = _pastWindows[meter];
        for (uint256 i = past.length; i > 0; --i) {
            Window storage w = past[i - 1];
            if (w.until <= effectiveAt) break;
            w.until = uint40(effectiveAt > w.from ? effectiveAt : w.from);
        }
        emit AccreditationRevoked(meter, msg.sender, effectiveAt, expiry);
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
                accreditedFrom: cold.accreditedFrom,
                accreditationExpiry: cold.accreditationExpiry
            });
    }

    /// @inheritdoc IMeterRegistry
    function claimInfo(
        address meter,
        uint64 intervalId
    )
        external
        view
        returns (address owner, uint32 zone, uint32 index, MeterStatus status, Technology technology, bool certifiable)
    {
        MeterHot memory hot = _hot[meter];
        if (hot.accreditationRecord) certifiable = _certifiable(meter, intervalId);
        return (hot.owner, hot.zone, hot.index, hot.status, hot.technology, certifiable);
    }

    /// @inheritdoc IMeterRegistry
    function accreditationWindows(address meter) external view returns (AccreditationWindow[] memory windows) {
        if (!_hot[meter].accreditationRecord) return windows;
        Window[] storage past = _pastWindows[meter];
        windows = new AccreditationWindow[](past.length + 1);
        for (uint256 i = 0; i < past.length; ++i) {
            windows[i] = AccreditationWindow(past[i].from, past[i].until);
        }
        MeterCold storage cold = _cold[meter];
        windows[past.length] = AccreditationWindow(cold.accreditedFrom, cold.accreditationExpiry);
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

    /// @dev Whether `intervalId` lies wholly inside one of the meter's windows. The latest window answers for
    /// every interval from its start on; older intervals look through the earlier windows, newest first.
    function _certifiable(address meter, uint64 intervalId) private view returns (bool) {
        MeterCold storage cold = _cold[meter];
        uint256 start = uint256(intervalId) * intervalLength;
        uint256 end = start + intervalLength;
        if (start >= cold.accreditedFrom) return end <= cold.accreditationExpiry;
        Window[] storage past = _pastWindows[meter];
        for (uint256 i = past.length; i > 0; --i) {
            Window memory w = past[i - 1];
            if (start >= w.from) return end <= w.until;
        }
        return false;
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
