// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Burnable} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Burnable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IKwhToken} from "../interfaces/IKwhToken.sol";
import {IMeterRegistry} from "../interfaces/IMeterRegistry.sol";
import {IReadingOracle} from "../interfaces/IReadingOracle.sol";
import {IRecToken} from "../interfaces/IRecToken.sol";
import {Intervals} from "../libraries/Intervals.sol";
import {MeterReadings} from "../libraries/MeterReadings.sol";
import {TokenIds} from "../libraries/TokenIds.sol";

/// @title KwhToken
/// @notice ERC-1155 kWh tokens minted from meter export proven under a final ReadingOracle root; the same claim
/// issues the leaf's renewable-energy certificates when the meter was accredited for the interval.
/// @dev One used-leaf record serves both tokens: a leaf yields its kWh and its certificates in one transaction,
/// or neither, and never again. Claimed leaves are recorded in bitmaps keyed by interval and the meter's
/// registry index, so claims of several meters of one interval share storage words. Transfer expiry lives in one
/// `_update` override.
contract KwhToken is IKwhToken, ERC1155Burnable, AccessManaged, Pausable {
    /*//////////////////////////////////////////////////////////////
                          CONSTANTS AND IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    /// @notice Collection name shown by wallets and explorers.
    string public constant name = "Microgrid kWh";
    /// @notice Collection symbol.
    string public constant symbol = "kWh";

    /// @notice Where meters and their owners and zones are registered.
    IMeterRegistry public immutable registry;
    /// @notice Where final roots come from.
    IReadingOracle public immutable oracle;
    /// @notice The certificates this contract issues.
    IRecToken public immutable recToken;
    /// @notice Delivery interval length, seconds (the registry's).
    uint64 public immutable intervalLength;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint64 private _settlementWindow;
    /// @inheritdoc IKwhToken
    address public settlementEscrow;
    mapping(uint64 intervalId => uint256 wh) private _minted;
    mapping(uint64 intervalId => mapping(uint256 word => uint256 bits)) private _claimed;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param authority The system's AccessManager.
    /// @param registry_ The MeterRegistry.
    /// @param oracle_ The ReadingOracle.
    /// @param recToken_ The RecToken, deployed just before with this contract as its issuer.
    /// @param settlementWindow_ Seconds after an interval's end during which its tokens are transferable.
    constructor(
        address authority,
        IMeterRegistry registry_,
        IReadingOracle oracle_,
        IRecToken recToken_,
        uint64 settlementWindow_
    ) ERC1155("") AccessManaged(authority) {
        if (recToken_.issuer() != address(this)) revert KwhTokenRecTokenMismatch(address(recToken_));
        registry = registry_;
        oracle = oracle_;
        recToken = recToken_;
        intervalLength = registry_.intervalLength();
        _settlementWindow = settlementWindow_;
        emit SettlementWindowChanged(0, settlementWindow_);
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IKwhToken
    function claim(
        address meter,
        uint64 intervalId,
        uint64 importWh,
        uint64 exportWh,
        bytes32[] calldata proof
    ) external whenNotPaused {
        (bytes32 root, uint64 totalExportWh) = _finalRoot(intervalId);
        if (!MerkleProof.verifyCalldata(proof, root, MeterReadings.leaf(meter, intervalId, importWh, exportWh))) {
            revert KwhTokenInvalidProof(meter, intervalId);
        }
        _claimLeaf(meter, intervalId, importWh, exportWh, totalExportWh);
    }

    /// @inheritdoc IKwhToken
    function claimMany(Claim[] calldata claims) external whenNotPaused {
        if (claims.length == 0) revert KwhTokenEmptyClaim();
        uint64 cachedInterval;
        bytes32 root;
        uint64 totalExportWh;
        for (uint256 i = 0; i < claims.length; ++i) {
            Claim calldata c = claims[i];
            if (i == 0 || c.intervalId != cachedInterval) {
                cachedInterval = c.intervalId;
                (root, totalExportWh) = _finalRoot(c.intervalId);
            }
            bytes32 leafHash = MeterReadings.leaf(c.meter, c.intervalId, c.importWh, c.exportWh);
            if (!MerkleProof.verifyCalldata(c.proof, root, leafHash))
                revert KwhTokenInvalidProof(c.meter, c.intervalId);
            _claimLeaf(c.meter, c.intervalId, c.importWh, c.exportWh, totalExportWh);
        }
    }

    /// @inheritdoc IKwhToken
    function claimInterval(
        uint64 intervalId,
        Leaf[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external whenNotPaused {
        if (leaves.length == 0) revert KwhTokenEmptyClaim();
        (bytes32 root, uint64 totalExportWh) = _finalRoot(intervalId);
        bytes32[] memory hashes = new bytes32[](leaves.length);
        for (uint256 i = 0; i < leaves.length; ++i) {
            Leaf calldata leaf = leaves[i];
            hashes[i] = MeterReadings.leaf(leaf.meter, intervalId, leaf.importWh, leaf.exportWh);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, hashes)) {
            revert KwhTokenInvalidProof(leaves[0].meter, intervalId);
        }
        for (uint256 i = 0; i < leaves.length; ++i) {
            Leaf calldata leaf = leaves[i];
            _claimLeaf(leaf.meter, intervalId, leaf.importWh, leaf.exportWh, totalExportWh);
        }
    }

    /// @inheritdoc IKwhToken
    function setSettlementWindow(uint64 window) external restricted {
        uint64 old = _settlementWindow;
        _settlementWindow = window;
        emit SettlementWindowChanged(old, window);
    }

    /// @inheritdoc IKwhToken
    function setSettlementEscrow(address escrow) external restricted {
        emit SettlementEscrowChanged(settlementEscrow, escrow);
        settlementEscrow = escrow;
    }

    /// @inheritdoc IKwhToken
    function pause() external restricted {
        _pause();
    }

    /// @inheritdoc IKwhToken
    function unpause() external restricted {
        _unpause();
    }

    /// @inheritdoc IKwhToken
    function isClaimed(address meter, uint64 intervalId) external view returns (bool) {
        (, , uint32 index, IMeterRegistry.MeterStatus status, , ) = registry.claimInfo(meter, intervalId);
        if (status == IMeterRegistry.MeterStatus.None) return false;
        return _claimed[intervalId][index >> 8] & (1 << (index & 0xff)) != 0;
    }

    /// @inheritdoc IKwhToken
    function mintedWh(uint64 intervalId) external view returns (uint256) {
        return _minted[intervalId];
    }

    /// @inheritdoc IKwhToken
    function settlementWindow() external view returns (uint64) {
        return _settlementWindow;
    }

    /// @inheritdoc IKwhToken
    function transferableUntil(uint256 id) public view returns (uint256) {
        if (!TokenIds.isValid(id)) revert KwhTokenInvalidId(id);
        (, uint64 intervalId) = TokenIds.decode(id);
        return Intervals.endOf(intervalId, intervalLength) + _settlementWindow;
    }

    /// @inheritdoc IKwhToken
    function tokenId(uint32 zone, uint64 intervalId) external pure returns (uint256) {
        return TokenIds.encode(zone, intervalId);
    }

    /// @inheritdoc IKwhToken
    function decodeTokenId(uint256 id) external pure returns (uint32 zone, uint64 intervalId) {
        if (!TokenIds.isValid(id)) revert KwhTokenInvalidId(id);
        return TokenIds.decode(id);
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @notice ERC-1155 metadata of token `id`, as an on-chain JSON data URI: zone, interval, its start and end
    /// (Unix seconds), the unit (1 unit = 1 Wh, shown in kWh with 3 decimals) and the transfer deadline.
    /// @param id A kWh token id.
    /// @return The metadata as `data:application/json;utf8,{...}`.
    function uri(uint256 id) public view override returns (string memory) {
        if (!TokenIds.isValid(id)) revert KwhTokenInvalidId(id);
        (uint32 zone, uint64 intervalId) = TokenIds.decode(id);
        string memory z = Strings.toString(zone);
        string memory i = Strings.toString(intervalId);
        return
            string.concat(
                'data:application/json;utf8,{"name":"kWh zone ',
                z,
                " interval ",
                i,
                '","description":"Energy exported in zone ',
                z,
                " during delivery interval ",
                i,
                ', proven by signed meter readings. 1 unit = 1 Wh.","decimals":3,"properties":{"zone":',
                z,
                ',"intervalId":',
                i,
                ',"intervalStart":',
                Strings.toString(Intervals.startOf(intervalId, intervalLength)),
                ',"intervalEnd":',
                Strings.toString(Intervals.endOf(intervalId, intervalLength)),
                ',"transferableUntil":',
                Strings.toString(transferableUntil(id)),
                ',"unit":"Wh"}}'
            );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Token policy: transfers (not mints, not burns) of an interval's tokens stop when its window closes,
    /// except deliveries to and collections from the settlement escrow.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values) internal override {
        if (from != address(0) && to != address(0)) {
            for (uint256 i = 0; i < ids.length; ++i) {
                uint256 closesAt = transferableUntil(ids[i]);
                if (block.timestamp >= closesAt && !_isEscrow(from, to)) {
                    revert KwhTokenTransferWindowClosed(ids[i], closesAt);
                }
            }
        }
        super._update(from, to, ids, values);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _isEscrow(address from, address to) private view returns (bool) {
        address escrow = settlementEscrow;
        return escrow != address(0) && (from == escrow || to == escrow);
    }

    function _finalRoot(uint64 intervalId) private view returns (bytes32 root, uint64 totalExportWh) {
        (root, totalExportWh) = oracle.finalRoot(intervalId);
        if (root == bytes32(0)) revert KwhTokenRootNotFinal(intervalId);
    }

    /// @dev Marks the (meter, interval) leaf used, adds its export to the interval's minted total (capped by the
    /// root's exported total), mints it and, for an interval inside the meter's accreditation, has the RecToken
    /// issue as many certificate units; the caller checked the proof. State changes precede the receiver calls.
    function _claimLeaf(
        address meter,
        uint64 intervalId,
        uint64 importWh,
        uint64 exportWh,
        uint64 totalExportWh
    ) private {
        (
            address owner,
            uint32 zone,
            uint32 index,
            IMeterRegistry.MeterStatus status,
            IMeterRegistry.Technology technology,
            bool certifiable
        ) = registry.claimInfo(meter, intervalId);
        if (status != IMeterRegistry.MeterStatus.Active) _requireClaimable(meter, intervalId, status);
        _markUsed(meter, intervalId, index, exportWh, totalExportWh);
        uint256 id = TokenIds.encode(zone, intervalId);
        emit KwhClaimed(meter, intervalId, owner, id, importWh, exportWh);
        if (exportWh != 0) {
            _mint(owner, id, exportWh, "");
            if (certifiable) recToken.issue(owner, meter, intervalId, zone, technology, exportWh);
        }
    }

    /// @dev Sets the leaf's bit in the interval's bitmap (reverting if set) and adds its export to the interval's
    /// minted total, which the root's exported total caps.
    function _markUsed(address meter, uint64 intervalId, uint32 index, uint64 exportWh, uint64 totalExportWh) private {
        uint256 bit = 1 << (index & 0xff);
        uint256 bits = _claimed[intervalId][index >> 8];
        if (bits & bit != 0) revert KwhTokenAlreadyClaimed(meter, intervalId);
        _claimed[intervalId][index >> 8] = bits | bit;
        uint256 minted = _minted[intervalId] + exportWh;
        if (minted > totalExportWh) revert KwhTokenExceedsProvenExport(intervalId, minted, totalExportWh);
        _minted[intervalId] = minted;
    }

    function _requireClaimable(address meter, uint64 intervalId, IMeterRegistry.MeterStatus status) private view {
        if (status == IMeterRegistry.MeterStatus.None) revert KwhTokenUnknownMeter(meter);
        uint64 revokedAt = registry.getMeter(meter).revokedAt;
        if (revokedAt < Intervals.endOf(intervalId, intervalLength)) {
            revert KwhTokenMeterRevoked(meter, intervalId, revokedAt);
        }
    }
}
