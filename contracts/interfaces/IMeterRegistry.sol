// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MeterReadings} from "../libraries/MeterReadings.sol";

/// @title IMeterRegistry
/// @notice Who the meters are: each meter's signing key, owner wallet, zone (feeder), technology, rated
/// capacity and renewable-certificate accreditation; the zones with their export and import capacity; and the
/// EIP-712 domain that meter readings are signed under.
interface IMeterRegistry {
    /// @notice What is behind a meter.
    enum Technology {
        Solar,
        Wind,
        Battery,
        LoadOnly
    }

    /// @notice Lifecycle of a meter key: registered keys are `Active` until revoked; revocation is final.
    enum MeterStatus {
        None,
        Active,
        Revoked
    }

    /// @notice Registration data supplied by the registrar.
    /// @param owner Wallet that receives the meter's kWh tokens and certificates.
    /// @param zone Zone (feeder) the meter is connected to; must be configured.
    /// @param technology What the meter measures.
    /// @param ratedCapacityW Rated power of the installation, W (bounds a reading's delta and a seller's order).
    /// @param recEligible Whether the meter's export earns renewable-energy certificates (Solar or Wind only).
    /// @param accreditationExpiry Unix time the REC accreditation lapses; 0 when not eligible.
    struct MeterParams {
        address owner;
        uint32 zone;
        Technology technology;
        uint64 ratedCapacityW;
        bool recEligible;
        uint64 accreditationExpiry;
    }

    /// @notice A meter as stored.
    /// @param index Sequential registration number, 0-based; stable for the meter's lifetime.
    /// @param registeredAt Unix time of registration.
    /// @param revokedAt Unix time of revocation; 0 while active.
    /// @param recEligible Whether the meter is accredited now (its latest window may still have lapsed).
    /// @param accreditedFrom Start of the meter's latest accreditation window; 0 if it never had one.
    /// @param accreditationExpiry End of the latest window (cut short by a revocation or by withdrawing
    /// eligibility); 0 if it never had one. Earlier windows: {accreditationWindows}.
    struct Meter {
        address owner;
        uint32 zone;
        uint32 index;
        Technology technology;
        MeterStatus status;
        uint64 ratedCapacityW;
        uint64 registeredAt;
        uint64 revokedAt;
        bool recEligible;
        uint64 accreditedFrom;
        uint64 accreditationExpiry;
    }

    /// @notice A period in which a meter's generation earned certificates: intervals wholly inside
    /// `[from, until]` are certifiable.
    struct AccreditationWindow {
        uint64 from;
        uint64 until;
    }

    /// @notice A zone (feeder) and the net power it may export to, or import from, the rest of the microgrid.
    struct Zone {
        bool configured;
        uint64 exportCapacityW;
        uint64 importCapacityW;
    }

    /// @notice The zero address was given as a meter key.
    /// @param meter The meter key given (zero).
    error MeterRegistryInvalidMeter(address meter);
    /// @notice The zero address was given as a meter owner.
    /// @param meter The meter being registered or updated.
    /// @param owner The owner given (zero).
    error MeterRegistryInvalidOwner(address meter, address owner);
    /// @notice The meter key is already registered (possibly revoked: keys are never reused).
    /// @param meter The meter key, registered before.
    error MeterRegistryMeterExists(address meter);
    /// @notice No meter is registered under this key.
    /// @param meter The unregistered meter key.
    error MeterRegistryUnknownMeter(address meter);
    /// @notice The meter was revoked at `revokedAt` and can no longer be changed or sign readings.
    /// @param meter The revoked meter key.
    /// @param revokedAt Unix time the key was revoked.
    error MeterRegistryMeterRevoked(address meter, uint64 revokedAt);
    /// @notice Zone 0 is reserved: zone ids start at 1.
    /// @param zone The zone id given (0).
    error MeterRegistryInvalidZone(uint32 zone);
    /// @notice The zone has not been configured.
    /// @param zone The zone id that no {setZone} configured.
    error MeterRegistryUnknownZone(uint32 zone);
    /// @notice A meter's rated capacity must be positive.
    /// @param meter The meter being registered or updated.
    error MeterRegistryZeroCapacity(address meter);
    /// @notice Only Solar and Wind meters may be REC-eligible.
    /// @param meter The meter being registered or updated.
    /// @param technology Its technology (Battery or LoadOnly).
    error MeterRegistryTechnologyNotRenewable(address meter, Technology technology);
    /// @notice An eligible meter needs an accreditation expiry in the future; a non-eligible one needs 0.
    /// @param meter The meter being registered or updated.
    /// @param recEligible Whether it was to be REC-eligible.
    /// @param accreditationExpiry The accreditation expiry given, Unix time.
    error MeterRegistryInvalidAccreditation(address meter, bool recEligible, uint64 accreditationExpiry);
    /// @notice The meter has no REC accreditation to revoke.
    /// @param meter The meter that never had an accreditation.
    error MeterRegistryNotAccredited(address meter);
    /// @notice A meter with an accreditation record keeps its technology (an attribute of its certificates).
    /// @param meter The meter being updated.
    /// @param current Its technology, kept.
    /// @param requested The technology asked for.
    error MeterRegistryTechnologyLocked(address meter, Technology current, Technology requested);
    /// @notice A revocation must take effect no later than now and before the accreditation's expiry.
    /// @param meter The accredited meter.
    /// @param effectiveAt The revocation time given, Unix time.
    /// @param accreditationExpiry End of the meter's latest accreditation window, Unix time.
    error MeterRegistryInvalidRevocationTime(address meter, uint64 effectiveAt, uint64 accreditationExpiry);
    /// @notice The signature over a reading does not recover to the reading's meter.
    /// @param meter The meter the reading names.
    /// @param recovered The address the signature recovers to (zero for a malformed signature).
    error MeterRegistryInvalidSignature(address meter, address recovered);

    /// @notice A zone was created or its capacities changed.
    /// @param zone Zone id (at least 1).
    /// @param exportCapacityW Net power the zone may export to the rest of the microgrid, W.
    /// @param importCapacityW Net power the zone may import, W.
    event ZoneConfigured(uint32 indexed zone, uint64 exportCapacityW, uint64 importCapacityW);
    /// @notice A meter key was registered.
    /// @param meter Address of the meter's signing key.
    /// @param owner Wallet that receives the meter's kWh tokens and certificates.
    /// @param zone Zone (feeder) the meter is connected to.
    /// @param index Sequential registration number, 0-based ({meterAt}).
    /// @param technology What the meter measures (0 Solar, 1 Wind, 2 Battery, 3 LoadOnly).
    /// @param ratedCapacityW Rated power of the installation, W.
    /// @param recEligible Whether its export earns renewable-energy certificates.
    /// @param accreditationExpiry Unix time the REC accreditation lapses; 0 when not eligible.
    event MeterRegistered(
        address indexed meter,
        address indexed owner,
        uint32 indexed zone,
        uint32 index,
        Technology technology,
        uint64 ratedCapacityW,
        bool recEligible,
        uint64 accreditationExpiry
    );
    /// @notice A meter's registration data changed (owner, zone, technology, capacity or accreditation).
    /// @param meter Address of the meter's signing key.
    /// @param owner New owner wallet.
    /// @param zone New zone.
    /// @param technology New technology (0 Solar, 1 Wind, 2 Battery, 3 LoadOnly).
    /// @param ratedCapacityW New rated power, W.
    /// @param recEligible Whether its export earns certificates from now on.
    /// @param accreditationExpiry Unix time the accreditation lapses; 0 when not eligible.
    event MeterUpdated(
        address indexed meter,
        address indexed owner,
        uint32 indexed zone,
        Technology technology,
        uint64 ratedCapacityW,
        bool recEligible,
        uint64 accreditationExpiry
    );
    /// @notice The issuer ended `meter`'s REC accreditation at `effectiveAt` (possibly in the past): generation in
    /// intervals ending after it earns no certificates; certificates already issued stay valid.
    /// @param meter The meter whose accreditation ended.
    /// @param issuer The account that revoked it (ISSUER role).
    /// @param effectiveAt Unix time the accreditation ended; may be in the past.
    /// @param previousExpiry End of the latest accreditation window before the revocation, Unix time.
    event AccreditationRevoked(
        address indexed meter,
        address indexed issuer,
        uint64 effectiveAt,
        uint64 previousExpiry
    );
    /// @notice A meter key was revoked for good.
    /// @param meter The revoked meter key.
    /// @param owner Its owner at revocation.
    /// @param revokedAt Unix time of the revocation.
    event MeterRevoked(address indexed meter, address indexed owner, uint64 revokedAt);

    /// @notice Creates zone `zone` or changes its capacities.
    /// @param zone Zone id, at least 1.
    /// @param exportCapacityW Net power the zone may export to the rest of the microgrid, W.
    /// @param importCapacityW Net power the zone may import, W.
    function setZone(uint32 zone, uint64 exportCapacityW, uint64 importCapacityW) external;

    /// @notice Registers a meter's signing key.
    /// @param meter Address of the meter's secp256k1 signing key.
    /// @param params Owner, zone, technology, capacity and accreditation.
    function registerMeter(address meter, MeterParams calldata params) external;

    /// @notice Changes an active meter's registration data; its index and key stay.
    /// @dev kWh tokens and certificates are minted to the owner and zone recorded at claim time. An
    /// accreditation granted, or renewed after it lapsed or was revoked, opens a new window at the update (never
    /// retroactive; earlier windows stay on record, so generation in them still earns certificates); renewing an
    /// unexpired one extends its window. `recEligible = false` ends the window now; {revokeAccreditation} ends it
    /// at a chosen, possibly past, time. A meter that ever had an accreditation keeps its technology.
    /// @param meter Address of the meter's signing key; active.
    /// @param params New owner, zone, technology, capacity and accreditation.
    function updateMeter(address meter, MeterParams calldata params) external;

    /// @notice Revokes a meter key for good (compromised key, decommissioned meter).
    /// @dev Readings of intervals that ended before revocation stay claimable; later ones are not.
    /// @param meter Address of the meter's signing key.
    function revokeMeter(address meter) external;

    /// @notice Ends `meter`'s REC accreditation at `effectiveAt` (<= now; in the past for a retroactive
    /// revocation): every accreditation window, current or earlier, is cut at `effectiveAt`. A later
    /// accreditation through {updateMeter} opens a new window at its own time.
    /// @param meter An accredited meter.
    /// @param effectiveAt Unix time the accreditation ends: no later than now and before its expiry.
    function revokeAccreditation(address meter, uint64 effectiveAt) external;

    /// @notice Length of a delivery interval, seconds; shared by every contract of the system.
    /// @return Seconds per delivery interval.
    function intervalLength() external view returns (uint64);

    /// @notice A meter's full record (status `None` for an unknown key).
    /// @param meter Address of the meter's signing key.
    /// @return The meter's registration, status and latest accreditation window.
    function getMeter(address meter) external view returns (Meter memory);

    /// @notice The fields a kWh claim of `meter`'s leaf in `intervalId` needs: one storage slot, and a second one
    /// only for REC-eligible meters.
    /// @param meter Address of the meter's signing key.
    /// @param intervalId The delivery interval of the leaf (`start / intervalLength`).
    /// @return owner Current owner wallet.
    /// @return zone Current zone.
    /// @return index Registration index (used to key claim bitmaps).
    /// @return status Lifecycle status.
    /// @return technology Current technology.
    /// @return certifiable Whether the interval lies wholly inside one of the meter's REC accreditation windows,
    /// so its export earns certificates.
    function claimInfo(
        address meter,
        uint64 intervalId
    )
        external
        view
        returns (address owner, uint32 zone, uint32 index, MeterStatus status, Technology technology, bool certifiable);

    /// @notice Every accreditation window of `meter`, oldest first (the last is the latest, as {getMeter} shows).
    /// @param meter Address of the meter's signing key.
    /// @return windows The windows `[from, until]`, Unix times; empty if the meter was never accredited.
    function accreditationWindows(address meter) external view returns (AccreditationWindow[] memory);

    /// @notice Whether `meter` is registered and not revoked.
    /// @param meter Address of the meter's signing key.
    /// @return True for a registered, unrevoked meter.
    function isActive(address meter) external view returns (bool);

    /// @notice Largest energy, Wh, the meter's rated capacity can move in one interval.
    /// @param meter Address of the meter's signing key.
    /// @return Rated capacity, W, times the interval length in hours, rounded down; 0 for an unknown meter.
    function maxWhPerInterval(address meter) external view returns (uint64);

    /// @notice A zone's configuration.
    /// @param zone Zone id.
    /// @return Whether it is configured and its export and import capacities, W.
    function getZone(uint32 zone) external view returns (Zone memory);

    /// @notice Number of meters ever registered (revoked included).
    /// @return Meters registered so far; indexes run from 0 to this minus 1.
    function meterCount() external view returns (uint256);

    /// @notice The meter registered with index `index`.
    /// @param index Registration index, below {meterCount}.
    /// @return The meter's signing-key address.
    function meterAt(uint256 index) external view returns (address);

    /// @notice EIP-712 digest of a reading in this registry's domain (chain id and address bound).
    /// @param reading The meter, interval id, cumulative import and export, Wh, and timestamp.
    /// @return The EIP-712 typed-data digest the meter signs.
    function hashReading(MeterReadings.MeterReading calldata reading) external view returns (bytes32);

    /// @notice Signer of `signature` over `reading` in this registry's domain (zero for a malformed signature).
    /// @param reading The meter, interval id, cumulative import and export, Wh, and timestamp.
    /// @param signature The meter's 65-byte secp256k1 signature over {hashReading}.
    /// @return The recovered signer.
    function recoverReadingSigner(
        MeterReadings.MeterReading calldata reading,
        bytes calldata signature
    ) external view returns (address);

    /// @notice Reverts unless `signature` is the reading meter's and the meter is active.
    /// @param reading The meter, interval id, cumulative import and export, Wh, and timestamp.
    /// @param signature The meter's 65-byte secp256k1 signature over {hashReading}.
    function verifyReading(MeterReadings.MeterReading calldata reading, bytes calldata signature) external view;
}
