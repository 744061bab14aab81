// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {IKwhToken} from "../interfaces/IKwhToken.sol";
import {IRecToken} from "../interfaces/IRecToken.sol";

/// @notice Test double: a meter owner contract that, when certificates arrive, re-enters the system: it replays
/// the claim that issued them, retires them on the spot, or rejects certificates while accepting kWh.
contract ReentrantCertificateHolder is ERC1155Holder {
    /// @notice What the holder does when certificate units arrive.
    enum Mode {
        Accept,
        ReplayClaim,
        RetireOnReceipt,
        RejectCertificates
    }

    /// @notice The KwhToken whose claims it replays.
    IKwhToken public immutable kwh;
    /// @notice The RecToken it retires on.
    IRecToken public immutable rec;
    /// @notice Current behaviour.
    Mode public mode;
    /// @notice Revert data of the replayed claim.
    bytes public replayError;
    /// @notice Receipt id of the retirement made on receipt.
    uint256 public receiptId;
    IKwhToken.Claim private _replay;

    constructor(IKwhToken kwh_, IRecToken rec_) {
        kwh = kwh_;
        rec = rec_;
    }

    /// @notice Sets the behaviour and the claim to replay.
    function configure(Mode mode_, IKwhToken.Claim calldata replay) external {
        mode = mode_;
        _replay = replay;
    }

    /// @notice Acts as {mode} says when certificate units arrive; accepts kWh tokens.
    function onERC1155Received(
        address,
        address,
        uint256 id,
        uint256 value,
        bytes memory
    ) public override returns (bytes4) {
        if (msg.sender == address(rec)) {
            if (mode == Mode.RejectCertificates) return bytes4(0);
            if (mode == Mode.ReplayClaim) {
                IKwhToken.Claim memory c = _replay;
                try kwh.claim(c.meter, c.intervalId, c.importWh, c.exportWh, c.proof) {
                    replayError = "";
                } catch (bytes memory err) {
                    replayError = err;
                }
            } else if (mode == Mode.RetireOnReceipt) {
                receiptId = rec.retire(id, value, address(this), "retired on receipt");
            }
        }
        return this.onERC1155Received.selector;
    }
}
