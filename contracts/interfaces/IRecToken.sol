// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IMeterRegistry} from "./IMeterRegistry.sol";

/// @title IRecToken
/// @notice Renewable-energy certificates (RECs) as ERC-1155 units in the spirit of ERC-1888: 1 unit = 1 Wh of
/// renewable generation (shown in MWh). A class id encodes (meter, vintage month, technology, zone). Units are
/// issued only by the KwhToken, in the same transaction and from the same proven meter leaf as the kWh tokens;
/// retirement burns units for a beneficiary and leaves a numbered receipt.
interface IRecToken {
    /// @notice `caller` is not the KwhToken, the only issuer.
    /// @param caller The account that called {issue}.
    error RecTokenUnauthorizedIssuer(address caller);
    /// @notice `id` is not a certificate class id.
    /// @param id The id given or encoded.
    error RecTokenInvalidId(uint256 id);
    /// @notice `vintage` does not fit the id's 24-bit vintage field.
    /// @param vintage The vintage given, `YYYYMM`.
    error RecTokenInvalidVintage(uint32 vintage);
    /// @notice A retirement of zero units of `id`.
    /// @param id The class retired with amount 0.
    error RecTokenZeroAmount(uint256 id);
    /// @notice A retirement needs a beneficiary (the account the renewable energy is claimed for).
    error RecTokenInvalidBeneficiary();
    /// @notice A batch retirement without ids.
    error RecTokenEmptyRetirement();

    /// @notice `wh` certificate units of class `id` were issued to `owner` for `meter`'s proven export in
    /// `intervalId`.
    /// @param meter The accredited meter whose export was proven.
    /// @param id Certificate class id: meter, vintage month, technology and zone.
    /// @param intervalId Delivery interval of the proven leaf.
    /// @param owner The meter's owner at claim time, who received the units.
    /// @param wh Units issued: the leaf's export, Wh.
    event CertificatesIssued(
        address indexed meter,
        uint256 indexed id,
        uint64 indexed intervalId,
        address owner,
        uint256 wh
    );

    /// @notice Receipt `receiptId`: `claimIssuer` retired `amount` units of `id` held by `holder` on behalf of
    /// `beneficiary`, with `claimData` (e.g. consumption period and location). Shaped after ERC-1888's ClaimSingle.
    /// @param claimIssuer The account that retired (the holder or its approved operator).
    /// @param holder Whose units were burnt.
    /// @param beneficiary The account the renewable energy is claimed for.
    /// @param receiptId Sequential receipt number, from 1.
    /// @param id Certificate class id.
    /// @param amount Units retired, Wh.
    /// @param claimData What the claim is for (e.g. consumption period and location), as given.
    event ClaimSingle(
        address indexed claimIssuer,
        address indexed holder,
        address indexed beneficiary,
        uint256 receiptId,
        uint256 id,
        uint256 amount,
        bytes claimData
    );

    /// @notice Receipt `receiptId` covering several classes at once; shaped after ERC-1888's ClaimBatch.
    /// @param claimIssuer The account that retired (the holder or its approved operator).
    /// @param holder Whose units were burnt.
    /// @param beneficiary The account the renewable energy is claimed for.
    /// @param receiptId Sequential receipt number, from 1.
    /// @param ids Certificate class ids.
    /// @param amounts Units retired of each id, Wh.
    /// @param claimData What the claim is for (e.g. consumption period and location), as given.
    event ClaimBatch(
        address indexed claimIssuer,
        address indexed holder,
        address indexed beneficiary,
        uint256 receiptId,
        uint256[] ids,
        uint256[] amounts,
        bytes claimData
    );

    /// @notice Issues `wh` units for `meter`'s proven export in `intervalId` to `owner`. Only the KwhToken calls
    /// this, after marking the (meter, interval) leaf used and checking the meter's accreditation.
    /// @param owner The meter's owner, who receives the units.
    /// @param meter The accredited meter whose export was proven.
    /// @param intervalId Delivery interval of the leaf; its start gives the vintage month.
    /// @param zone The meter's zone.
    /// @param technology The meter's technology (Solar or Wind).
    /// @param wh Units to issue: the leaf's export, Wh.
    /// @return id The certificate class id.
    function issue(
        address owner,
        address meter,
        uint64 intervalId,
        uint32 zone,
        IMeterRegistry.Technology technology,
        uint256 wh
    ) external returns (uint256 id);

    /// @notice Retires `amount` units of `id` held by the caller for `beneficiary`.
    /// @param id Certificate class id.
    /// @param amount Units to retire, Wh; positive.
    /// @param beneficiary The account the renewable energy is claimed for (not zero).
    /// @param claimData What the claim is for, e.g. UTF-8 JSON `{"period", "location"}`; recorded in the event only.
    /// @return receiptId The new receipt's sequential number (from 1).
    function retire(
        uint256 id,
        uint256 amount,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId);

    /// @notice Retires `amount` units of `id` held by `holder`; the caller is `holder` or its approved operator.
    /// @param holder Whose units are burnt.
    /// @param id Certificate class id.
    /// @param amount Units to retire, Wh; positive.
    /// @param beneficiary The account the renewable energy is claimed for (not zero).
    /// @param claimData What the claim is for, e.g. UTF-8 JSON `{"period", "location"}`; recorded in the event only.
    /// @return receiptId The new receipt's sequential number.
    function retireFrom(
        address holder,
        uint256 id,
        uint256 amount,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId);

    /// @notice Retires several classes held by the caller under one receipt.
    /// @param ids Certificate class ids; at least one.
    /// @param amounts Units to retire of each id, Wh; each positive.
    /// @param beneficiary The account the renewable energy is claimed for (not zero).
    /// @param claimData What the claim is for, e.g. UTF-8 JSON `{"period", "location"}`; recorded in the event only.
    /// @return receiptId The new receipt's sequential number.
    function retireBatch(
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId);

    /// @notice Retires several classes held by `holder` under one receipt; the caller is `holder` or approved.
    /// @param holder Whose units are burnt.
    /// @param ids Certificate class ids; at least one.
    /// @param amounts Units to retire of each id, Wh; each positive.
    /// @param beneficiary The account the renewable energy is claimed for (not zero).
    /// @param claimData What the claim is for, e.g. UTF-8 JSON `{"period", "location"}`; recorded in the event only.
    /// @return receiptId The new receipt's sequential number.
    function retireBatchFrom(
        address holder,
        uint256[] calldata ids,
        uint256[] calldata amounts,
        address beneficiary,
        bytes calldata claimData
    ) external returns (uint256 receiptId);

    /// @notice Stops transfers and retirements (issuance goes on, so kWh claims are never blocked).
    function pause() external;

    /// @notice Lifts {pause}.
    function unpause() external;

    /// @notice The only issuer: the KwhToken.
    /// @return The KwhToken's address.
    function issuer() external view returns (address);

    /// @notice Units of `id` retired for `account` as beneficiary, ever.
    /// @param account The beneficiary.
    /// @param id Certificate class id.
    /// @return Units, Wh, retired for it.
    function claimedBalanceOf(address account, uint256 id) external view returns (uint256);

    /// @notice {claimedBalanceOf} for several pairs.
    /// @param accounts Beneficiaries.
    /// @param ids Certificate class ids, one per account.
    /// @return Units, Wh, retired for each pair.
    function claimedBalanceOfBatch(
        address[] calldata accounts,
        uint256[] calldata ids
    ) external view returns (uint256[] memory);

    /// @notice Number of receipts so far (the last receipt id).
    /// @return The number of retirements.
    function receiptCount() external view returns (uint256);

    /// @notice Class id of `meter`'s `technology` generation in `zone` during month `vintage` (`YYYYMM`).
    /// @param meter Meter key.
    /// @param vintage Month of generation, `YYYYMM` (UTC).
    /// @param technology Solar or Wind.
    /// @param zone Zone id, at least 1.
    /// @return `zone << 192 | technology << 184 | vintage << 160 | meter`.
    function certificateId(
        address meter,
        uint32 vintage,
        IMeterRegistry.Technology technology,
        uint32 zone
    ) external pure returns (uint256);

    /// @notice Inverse of {certificateId}; reverts {RecTokenInvalidId} for other ids.
    /// @param id A certificate class id.
    /// @return meter Meter key.
    /// @return vintage Month of generation, `YYYYMM` (UTC).
    /// @return technology Solar or Wind.
    /// @return zone Zone id.
    function decodeCertificateId(
        uint256 id
    ) external pure returns (address meter, uint32 vintage, IMeterRegistry.Technology technology, uint32 zone);

    /// @notice The vintage month (`YYYYMM`, UTC) of delivery interval `intervalId`: the month it starts in.
    /// @param intervalId Delivery interval.
    /// @return The month as `YYYYMM`.
    function vintageOfInterval(uint64 intervalId) external view returns (uint32);
}
