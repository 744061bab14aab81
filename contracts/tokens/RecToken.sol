// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IMeterRegistry} from "../interfaces/IMeterRegistry.sol";
import {IRecToken} from "../interfaces/IRecToken.sol";
import {RecIds} from "../libraries/RecIds.sol";

/// @title RecToken
/// @notice Renewable-energy certificates: ERC-1155 units (1 unit = 1 Wh) of accredited renewable generation,
/// issued by the KwhToken from the same proven meter leaf as the kWh, transferable on their own, and retired
/// with ERC-1888-style claim events, sequential receipt ids and claimed balances kept forever.
/// @dev There is no plain burn: units leave circulation only through a retirement, so for every class
/// `issued == held + retired` holds and the events alone rebuild every figure.
contract RecToken is IRecToken, ERC1155, AccessManaged, Pausable {
    /*//////////////////////////////////////////////////////////////
                          CONSTANTS AND IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    /// @notice Collection name shown by wallets and explorers.
    string public constant name = "Microgrid REC";
    /// @notice Collection symbol.
    string public constant symbol = "REC";

    /// @inheritdoc IRecToken
    address public immutable issuer;
    /// @notice Delivery interval length, seconds (the registry's).
    uint64 public immutable intervalLength;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev Declared first and 64 bits wide so that it shares a slot with AccessManaged's authority and Pausable's
    /// flag (storage packs across inherited contracts): a retirement's pause check warms the counter's slot.
    uint64 private _receiptCount;
    mapping(address beneficiary => mapping(uint256 id => uint256 wh)) private _claimed;

    /*//////////////////////////////////////////////////////////////
                                MODIFIERS
    //////////////////////////////////////////////////////////////*/

    modifier onlyIssuer() {
        if (msg.sender != issuer) revert RecTokenUnauthorizedIssuer(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param authority The system's AccessManager.
    /// @param registry The MeterRegistry (for the interval length).
    /// @param issuer_ The KwhToken, the only account that issues; it is deployed next and checks this link.
    constructor(address authority, IMeterRegistry registry, address issuer_) ERC1155("") AccessManaged(authority) {
        issuer = issuer_;
        intervalLength = registry.intervalLength();
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IRecToken
    function issue(
        address owner,
        address meter,
        uint64 intervalId,
        uint32 zone,
        IMeterRegistry.Technology technology,
        uint256 wh
    ) external onlyIssuer returns (uint256 id) {
        id = RecIds.encode(meter, vintageOfInterval(intervalId), uint8(technology), zone);
        emit CertificatesIssued(meter, id, intervalId, owner, wh);
        _mint(owner, id, wh, "");
    }

    /// @inheritdoc IRecToken
    function retire(
        uint256 id,
        uint256 amount,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId) {
        return _retire(msg.sender, id, amount, beneficiary, claimData);
    }

    /// @inheritdoc IRecToken
    function retireFrom(
        address holder,
        uint256 id,
        uint256 amount,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId) {
        _requireOperator(holder);
        return _retire(holder, id, amount, beneficiary, claimData);
    }

    /// @inheritdoc IRecToken
    function retireBatch(
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId) {
        return _retireBatch(msg.sender, ids, amounts, beneficiary, claimData);
    }

    /// @inheritdoc IRecToken
    function retireBatchFrom(
        address holder,
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId) {
        _requireOperator(holder);
        return _retireBatch(holder, ids, amounts, beneficiary, claimData);
    }

    /// @inheritdoc IRecToken
    function pause() external restricted {
        _pause();
    }

    /// @inheritdoc IRecToken
    function unpause() external restricted {
        _unpause();
    }

    /// @inheritdoc IRecToken
    function claimedBalanceOf(address account, uint256 id) external view returns (uint256) {
        return _claimed[account][id];
    }

    /// @inheritdoc IRecToken
    function claimedBalanceOfBatch(
        address[] calldata accounts,
        uint256[] calldata ids
    ) external view returns (uint256[] memory balances) {
        if (accounts.length != ids.length) revert ERC1155InvalidArrayLength(ids.length, accounts.length);
        balances = new uint256[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            balances[i] = _claimed[accounts[i]][ids[i]];
        }
    }

    /// @inheritdoc IRecToken
    function receiptCount() external view returns (uint256) {
        return _receiptCount;
    }

    /// @inheritdoc IRecToken
    function certificateId(
        address meter,
        uint32 vintage,
        IMeterRegistry.Technology technology,
        uint32 zone
    ) external pure returns (uint256 id) {
        if (vintage > type(uint24).max) revert RecTokenInvalidVintage(vintage);
        id = RecIds.encode(meter, vintage, uint8(technology), zone);
        if (!RecIds.isValid(id, uint8(IMeterRegistry.Technology.Wind))) revert RecTokenInvalidId(id);
    }

    /// @inheritdoc IRecToken
    function decodeCertificateId(
        uint256 id
    ) public pure returns (address meter, uint32 vintage, IMeterRegistry.Technology technology, uint32 zone) {
        if (!RecIds.isValid(id, uint8(IMeterRegistry.Technology.Wind))) revert RecTokenInvalidId(id);
        uint8 tech;
        (meter, vintage, tech, zone) = RecIds.decode(id);
        technology = IMeterRegistry.Technology(tech);
    }

    /*//////////////////////////////////////////////////////////////
                                 PUBLIC
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IRecToken
    function vintageOfInterval(uint64 intervalId) public view returns (uint32) {
        return RecIds.vintageOf(uint256(intervalId) * intervalLength);
    }

    /// @notice ERC-1155 metadata of class `id`, as an on-chain JSON data URI: meter, vintage month, technology,
    /// zone and the unit (1 unit = 1 Wh, shown in MWh with 6 decimals).
    /// @param id A certificate class id.
    /// @return The metadata as `data:application/json;utf8,{...}`.
    function uri(uint256 id) public pure override returns (string memory) {
        (address meter, uint32 vintage, IMeterRegistry.Technology technology, uint32 zone) = decodeCertificateId(id);
        string memory m = Strings.toHexString(meter);
        string memory v = _vintageString(vintage);
        string memory t = technology == IMeterRegistry.Technology.Solar ? "Solar" : "Wind";
        string memory z = Strings.toString(zone);
        return
            string.concat(
                'data:application/json;utf8,{"name":"REC ',
                t,
                " ",
                v,
                " meter ",
                m,
                '","description":"Renewable energy certificates for ',
                t,
                " generation exported by meter ",
                m,
                " in zone ",
                z,
                " during ",
                v,
                ', proven by signed meter readings. 1 unit = 1 Wh.","decimals":6,"properties":{"meter":"',
                m,
                '","vintage":"',
                v,
                '","technology":"',
                t,
                '","zone":',
                z,
                ',"unit":"Wh"}}'
            );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Token policy: transfers stop while paused; issuance never does (a kWh claim must not be blocked) and
    /// retirements check the pause themselves.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values) internal override {
        if (from != address(0) && to != address(0)) _requireNotPaused();
        super._update(from, to, ids, values);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _retire(
        address holder,
        uint256 id,
        uint256 amount,
        address beneficiary,
        bytes calldata claimData
    ) private whenNotPaused returns (uint256 receiptId) {
        if (beneficiary == address(0)) revert RecTokenInvalidBeneficiary();
        if (amount == 0) revert RecTokenZeroAmount(id);
        _burn(holder, id, amount);
        // Cannot overflow: a class is one meter's generation, issued at most once per interval leaf of at most
        // 2^64 - 1 Wh, so even 2^64 leaves stay below 2^128 units ever issued, let alone claimed.
        unchecked {
            _claimed[beneficiary][id] += amount;
        }
        receiptId = ++_receiptCount;
        emit ClaimSingle(msg.sender, holder, beneficiary, receiptId, id, amount, claimData);
    }

    function _retireBatch(
        address holder,
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address beneficiary,
        bytes calldata claimData
    ) private whenNotPaused returns (uint256 receiptId) {
        if (beneficiary == address(0)) revert RecTokenInvalidBeneficiary();
        if (ids.length == 0) revert RecTokenEmptyRetirement();
        if (ids.length != amounts.length) revert ERC1155InvalidArrayLength(ids.length, amounts.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            if (amounts[i] == 0) revert RecTokenZeroAmount(ids[i]);
            _claimed[beneficiary][ids[i]] += amounts[i];
        }
        _burnBatch(holder, ids, amounts);
        receiptId = ++_receiptCount;
        emit ClaimBatch(msg.sender, holder, beneficiary, receiptId, ids, amounts, claimData);
    }

    function _requireOperator(address holder) private view {
        if (holder != msg.sender && !isApprovedForAll(holder, msg.sender)) {
            revert ERC1155MissingApprovalForAll(msg.sender, holder);
        }
    }

    function _vintageString(uint32 vintage) private pure returns (string memory) {
        uint32 month = vintage % 100;
        return string.concat(Strings.toString(vintage / 100), month < 10 ? "-0" : "-", Strings.toString(month));
    }
}
