import { expect } from "chai";
import {
  Interface,
  type AddressLike,
  type BaseContract,
  type BigNumberish,
  type BytesLike,
  type ContractRunner,
  type Signer,
} from "ethers";
import type { TypedContractMethod } from "../../types/ethers-contracts/common.js";
import { ERC1155ReceiverMock__factory } from "../../types/ethers-contracts/index.js";
import { ethers } from "../helpers/fixture.js";

/** The ERC-1155 surface (IERC1155, IERC1155MetadataURI, IERC165) that both system tokens expose. */
export interface ERC1155Like extends BaseContract {
  connect(runner?: ContractRunner | null): ERC1155Like;
  balanceOf: TypedContractMethod<[account: AddressLike, id: BigNumberish], [bigint], "view">;
  balanceOfBatch: TypedContractMethod<[accounts: AddressLike[], ids: BigNumberish[]], [bigint[]], "view">;
  setApprovalForAll: TypedContractMethod<[operator: AddressLike, approved: boolean], [void], "nonpayable">;
  isApprovedForAll: TypedContractMethod<[account: AddressLike, operator: AddressLike], [boolean], "view">;
  safeTransferFrom: TypedContractMethod<
    [from: AddressLike, to: AddressLike, id: BigNumberish, value: BigNumberish, data: BytesLike],
    [void],
    "nonpayable"
  >;
  safeBatchTransferFrom: TypedContractMethod<
    [from: AddressLike, to: AddressLike, ids: BigNumberish[], values: BigNumberish[], data: BytesLike],
    [void],
    "nonpayable"
  >;
  supportsInterface: TypedContractMethod<[interfaceId: BytesLike], [boolean], "view">;
  uri: TypedContractMethod<[id: BigNumberish], [string], "view">;
}

export type Account = Signer & { address: string };

/** What a token under test provides: `holder` owns `amounts[i]` of `ids[i]`; `other` and `operator` own none. */
export interface ERC1155Setup {
  token: ERC1155Like;
  holder: Account;
  other: Account;
  operator: Account;
  ids: [bigint, bigint];
  amounts: [bigint, bigint];
}

/** ERC1155ReceiverMock.Mode */
const Mode = { Accept: 0, WrongSelector: 1, RevertWithError: 2, RevertWithoutData: 3, Panic: 4 } as const;

const ASSERTION_ERROR = 0x01;
const DATA = "0x42cafe";

/** ERC-165 id of an interface: the XOR of its functions' selectors. */
function interfaceId(signatures: string[]): string {
  const iface = new Interface(signatures.map((s) => `function ${s}`));
  let id = 0n;
  iface.forEachFunction((f) => (id ^= BigInt(f.selector)));
  return ethers.toBeHex(id, 4);
}

const IDS = {
  IERC165: "0x01ffc9a7",
  IERC1155: "0xd9b67a26",
  IERC1155MetadataURI: "0x0e89341c",
} as const;

const SINGLE_SELECTOR = ethers.id("onERC1155Received(address,address,uint256,uint256,bytes)").slice(0, 10);
const BATCH_SELECTOR = ethers.id("onERC1155BatchReceived(address,address,uint256[],uint256[],bytes)").slice(0, 10);

/**
 * ERC-1155 conformance, modelled on OpenZeppelin's `test/token/ERC1155/ERC1155.behavior.js`: balances, approvals,
 * single and batch transfers by the holder and by operators, the receiver acceptance checks and ERC-165.
 * `setup` must return a fresh state each time (a `loadFixture` of a named fixture).
 */
export function shouldBehaveLikeERC1155(name: string, setup: () => Promise<ERC1155Setup>) {
  async function load() {
    const s = await setup();
    const { token, holder, ids, amounts } = s;
    expect(ids[0]).to.not.equal(ids[1], "setup: ids must differ");
    expect(await token.balanceOfBatch([holder.address, holder.address], ids)).to.deep.equal(
      amounts,
      "setup: holder balances",
    );
    const unknownId = [0n, 1n, ethers.MaxUint256].find((id) => !ids.includes(id))!;
    return {
      ...s,
      unknownId,
      as: (signer: Account) => token.connect(signer),
      receiver: async (mode: number) => new ERC1155ReceiverMock__factory(holder).deploy(mode),
    };
  }

  describe(`${name} behaves like ERC-1155`, function () {
    describe("balanceOf", function () {
      it("test_balanceOf_returnsTheHoldersAmountOfEachId", async function () {
        const { token, holder, ids, amounts } = await load();
        expect(await token.balanceOf(holder.address, ids[0])).to.equal(amounts[0]);
        expect(await token.balanceOf(holder.address, ids[1])).to.equal(amounts[1]);
      });

      it("test_balanceOf_isZeroForAccountsWithoutTokens", async function () {
        const { token, other, operator, ids } = await load();
        for (const account of [other.address, operator.address, ethers.ZeroAddress]) {
          for (const id of ids) expect(await token.balanceOf(account, id)).to.equal(0n);
        }
      });

      it("test_balanceOf_isZeroForUnknownIds", async function () {
        const { token, holder, ids } = await load();
        for (const id of [0n, 1n, ethers.MaxUint256].filter((i) => !ids.includes(i))) {
          expect(await token.balanceOf(holder.address, id)).to.equal(0n);
        }
      });
    });

    describe("balanceOfBatch", function () {
      it("test_balanceOfBatch_returnsTheBalanceOfEachPair", async function () {
        const { token, holder, other, ids, amounts, unknownId } = await load();
        const accounts = [holder.address, other.address, holder.address, holder.address, other.address];
        const batchIds = [ids[0], ids[0], ids[1], unknownId, ids[1]];
        expect(await token.balanceOfBatch(accounts, batchIds)).to.deep.equal([amounts[0], 0n, amounts[1], 0n, 0n]);
      });

      it("test_balanceOfBatch_answersRepeatedPairsEachTime", async function () {
        const { token, holder, ids, amounts } = await load();
        expect(
          await token.balanceOfBatch([holder.address, holder.address, holder.address], [ids[1], ids[0], ids[1]]),
        ).to.deep.equal([amounts[1], amounts[0], amounts[1]]);
      });

      it("test_balanceOfBatch_returnsEmptyForEmptyArrays", async function () {
        const { token } = await load();
        expect(await token.balanceOfBatch([], [])).to.deep.equal([]);
      });

      it("test_balanceOfBatch_revertsForMismatchedArrayLengths", async function () {
        const { token, holder, other, ids } = await load();
        await expect(token.balanceOfBatch([holder.address, other.address], [ids[0]]))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidArrayLength")
          .withArgs(1n, 2n);
        await expect(token.balanceOfBatch([holder.address], ids))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidArrayLength")
          .withArgs(2n, 1n);
      });
    });

    describe("setApprovalForAll", function () {
      it("test_setApprovalForAll_setsTheApprovalIsApprovedForAllReports", async function () {
        const { token, holder, operator, as } = await load();
        expect(await token.isApprovedForAll(holder.address, operator.address)).to.equal(false);
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        expect(await token.isApprovedForAll(holder.address, operator.address)).to.equal(true);
        // Approval is directed: the operator did not approve the holder.
        expect(await token.isApprovedForAll(operator.address, holder.address)).to.equal(false);
      });

      it("test_setApprovalForAll_emitsApprovalForAll", async function () {
        const { token, holder, operator, as } = await load();
        await expect(as(holder).setApprovalForAll(operator.address, true))
          .to.emit(token, "ApprovalForAll")
          .withArgs(holder.address, operator.address, true);
      });

      it("test_setApprovalForAll_canBeRevoked", async function () {
        const { token, holder, operator, as } = await load();
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        await expect(as(holder).setApprovalForAll(operator.address, false))
          .to.emit(token, "ApprovalForAll")
          .withArgs(holder.address, operator.address, false);
        expect(await token.isApprovedForAll(holder.address, operator.address)).to.equal(false);
      });

      it("test_setApprovalForAll_revertsForZeroOperator", async function () {
        const { token, holder, as } = await load();
        await expect(as(holder).setApprovalForAll(ethers.ZeroAddress, true))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidOperator")
          .withArgs(ethers.ZeroAddress);
      });
    });

    describe("safeTransferFrom", function () {
      it("test_safeTransferFrom_byHolderMovesBalanceAndEmitsTransferSingle", async function () {
        const { token, holder, other, ids, amounts, as } = await load();
        const value = amounts[0] / 3n;
        await expect(as(holder).safeTransferFrom(holder.address, other.address, ids[0], value, "0x"))
          .to.emit(token, "TransferSingle")
          .withArgs(holder.address, holder.address, other.address, ids[0], value);
        expect(await token.balanceOfBatch([holder.address, other.address], [ids[0], ids[0]])).to.deep.equal([
          amounts[0] - value,
          value,
        ]);
        expect(await token.balanceOf(holder.address, ids[1])).to.equal(amounts[1]);
        expect(await token.balanceOf(other.address, ids[1])).to.equal(0n);
      });

      it("test_safeTransferFrom_ofTheWholeBalance", async function () {
        const { token, holder, other, ids, amounts, as } = await load();
        await (await as(holder).safeTransferFrom(holder.address, other.address, ids[1], amounts[1], "0x")).wait();
        expect(await token.balanceOf(holder.address, ids[1])).to.equal(0n);
        expect(await token.balanceOf(other.address, ids[1])).to.equal(amounts[1]);
      });

      it("test_safeTransferFrom_ofZeroValueByAnAccountWithoutTokens", async function () {
        const { token, holder, other, ids, amounts, as } = await load();
        await expect(as(other).safeTransferFrom(other.address, holder.address, ids[0], 0n, "0x"))
          .to.emit(token, "TransferSingle")
          .withArgs(other.address, other.address, holder.address, ids[0], 0n);
        expect(await token.balanceOf(holder.address, ids[0])).to.equal(amounts[0]);
        expect(await token.balanceOf(other.address, ids[0])).to.equal(0n);
      });

      it("test_safeTransferFrom_toSelfKeepsTheBalance", async function () {
        const { token, holder, ids, amounts, as } = await load();
        await expect(as(holder).safeTransferFrom(holder.address, holder.address, ids[0], amounts[0], "0x"))
          .to.emit(token, "TransferSingle")
          .withArgs(holder.address, holder.address, holder.address, ids[0], amounts[0]);
        expect(await token.balanceOf(holder.address, ids[0])).to.equal(amounts[0]);
      });

      it("test_safeTransferFrom_byApprovedOperatorMovesTheHoldersBalance", async function () {
        const { token, holder, other, operator, ids, amounts, as } = await load();
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        await expect(as(operator).safeTransferFrom(holder.address, other.address, ids[1], amounts[1] - 1n, "0x"))
          .to.emit(token, "TransferSingle")
          .withArgs(operator.address, holder.address, other.address, ids[1], amounts[1] - 1n);
        expect(
          await token.balanceOfBatch([holder.address, other.address, operator.address], [ids[1], ids[1], ids[1]]),
        ).to.deep.equal([1n, amounts[1] - 1n, 0n]);
      });

      it("test_safeTransferFrom_revertsForUnapprovedOperator", async function () {
        const { token, holder, other, operator, ids, as } = await load();
        await expect(as(operator).safeTransferFrom(holder.address, other.address, ids[0], 1n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
          .withArgs(operator.address, holder.address);
        // An approval given to someone else does not count.
        await (await as(holder).setApprovalForAll(other.address, true)).wait();
        await expect(as(operator).safeTransferFrom(holder.address, operator.address, ids[0], 1n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
          .withArgs(operator.address, holder.address);
      });

      it("test_safeTransferFrom_revertsAfterApprovalIsRevoked", async function () {
        const { token, holder, other, operator, ids, as } = await load();
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        await (await as(holder).setApprovalForAll(operator.address, false)).wait();
        await expect(as(operator).safeTransferFrom(holder.address, other.address, ids[0], 1n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
          .withArgs(operator.address, holder.address);
      });

      it("test_safeTransferFrom_revertsForInsufficientBalance", async function () {
        const { token, holder, other, operator, ids, amounts, as } = await load();
        await expect(as(holder).safeTransferFrom(holder.address, other.address, ids[0], amounts[0] + 1n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155InsufficientBalance")
          .withArgs(holder.address, amounts[0], amounts[0] + 1n, ids[0]);
        // The same through an operator: the holder's balance is what counts.
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        await expect(as(operator).safeTransferFrom(holder.address, other.address, ids[1], amounts[1] + 1n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155InsufficientBalance")
          .withArgs(holder.address, amounts[1], amounts[1] + 1n, ids[1]);
      });

      it("test_safeTransferFrom_revertsForZeroReceiver", async function () {
        const { token, holder, ids, as } = await load();
        await expect(as(holder).safeTransferFrom(holder.address, ethers.ZeroAddress, ids[0], 1n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(ethers.ZeroAddress);
      });

      it("test_safeTransferFrom_revertsFromZeroAddress", async function () {
        const { token, holder, other, ids, as } = await load();
        await expect(as(holder).safeTransferFrom(ethers.ZeroAddress, other.address, ids[0], 0n, "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
          .withArgs(holder.address, ethers.ZeroAddress);
      });
    });

    describe("safeBatchTransferFrom", function () {
      it("test_safeBatchTransferFrom_byHolderMovesBalancesAndEmitsTransferBatch", async function () {
        const { token, holder, other, ids, amounts, as } = await load();
        const values = [amounts[0] - 1n, amounts[1]];
        await expect(as(holder).safeBatchTransferFrom(holder.address, other.address, ids, values, "0x"))
          .to.emit(token, "TransferBatch")
          .withArgs(holder.address, holder.address, other.address, ids, values);
        expect(
          await token.balanceOfBatch(
            [holder.address, holder.address, other.address, other.address],
            [ids[0], ids[1], ids[0], ids[1]],
          ),
        ).to.deep.equal([1n, 0n, values[0], values[1]]);
      });

      it("test_safeBatchTransferFrom_byApprovedOperatorMovesTheHoldersBalances", async function () {
        const { token, holder, other, operator, ids, amounts, as } = await load();
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        const values = [1n, amounts[1] - 2n];
        await expect(as(operator).safeBatchTransferFrom(holder.address, other.address, ids, values, "0x"))
          .to.emit(token, "TransferBatch")
          .withArgs(operator.address, holder.address, other.address, ids, values);
        expect(
          await token.balanceOfBatch(
            [holder.address, holder.address, other.address, other.address, operator.address, operator.address],
            [ids[0], ids[1], ids[0], ids[1], ids[0], ids[1]],
          ),
        ).to.deep.equal([amounts[0] - 1n, 2n, 1n, amounts[1] - 2n, 0n, 0n]);
      });

      it("test_safeBatchTransferFrom_ofEmptyArraysEmitsAnEmptyTransferBatch", async function () {
        const { token, holder, other, as } = await load();
        await expect(as(holder).safeBatchTransferFrom(holder.address, other.address, [], [], "0x"))
          .to.emit(token, "TransferBatch")
          .withArgs(holder.address, holder.address, other.address, [], []);
      });

      it("test_safeBatchTransferFrom_revertsForUnapprovedOperator", async function () {
        const { token, holder, other, operator, ids, as } = await load();
        await expect(as(operator).safeBatchTransferFrom(holder.address, other.address, ids, [1n, 1n], "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
          .withArgs(operator.address, holder.address);
      });

      it("test_safeBatchTransferFrom_revertsForInsufficientBalanceOfAnyId", async function () {
        const { token, holder, other, ids, amounts, as } = await load();
        await expect(
          as(holder).safeBatchTransferFrom(holder.address, other.address, ids, [amounts[0], amounts[1] + 1n], "0x"),
        )
          .to.be.revertedWithCustomError(token, "ERC1155InsufficientBalance")
          .withArgs(holder.address, amounts[1], amounts[1] + 1n, ids[1]);
        expect(await token.balanceOf(holder.address, ids[0])).to.equal(amounts[0]);
      });

      it("test_safeBatchTransferFrom_countsRepeatedIdsAgainstOneBalance", async function () {
        const { token, holder, other, ids, amounts, as } = await load();
        // Each value fits the balance alone; the second finds what the first left.
        await expect(
          as(holder).safeBatchTransferFrom(holder.address, other.address, [ids[0], ids[0]], [amounts[0], 1n], "0x"),
        )
          .to.be.revertedWithCustomError(token, "ERC1155InsufficientBalance")
          .withArgs(holder.address, 0n, 1n, ids[0]);
      });

      it("test_safeBatchTransferFrom_revertsForMismatchedArrayLengths", async function () {
        const { token, holder, other, ids, as } = await load();
        await expect(as(holder).safeBatchTransferFrom(holder.address, other.address, ids, [1n], "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidArrayLength")
          .withArgs(2n, 1n);
        await expect(as(holder).safeBatchTransferFrom(holder.address, other.address, [ids[0]], [1n, 1n], "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidArrayLength")
          .withArgs(1n, 2n);
      });

      it("test_safeBatchTransferFrom_revertsForZeroReceiver", async function () {
        const { token, holder, ids, as } = await load();
        await expect(as(holder).safeBatchTransferFrom(holder.address, ethers.ZeroAddress, ids, [1n, 1n], "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(ethers.ZeroAddress);
      });

      it("test_safeBatchTransferFrom_revertsFromZeroAddress", async function () {
        const { token, holder, other, ids, as } = await load();
        await expect(as(holder).safeBatchTransferFrom(ethers.ZeroAddress, other.address, ids, [0n, 0n], "0x"))
          .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
          .withArgs(holder.address, ethers.ZeroAddress);
      });
    });

    describe("receivers of safeTransferFrom", function () {
      it("test_safeTransferFrom_toAcceptingReceiverPassesOperatorFromIdValueAndData", async function () {
        const { token, holder, operator, ids, amounts, as, receiver } = await load();
        const mock = await receiver(Mode.Accept);
        const to = await mock.getAddress();
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        await expect(as(operator).safeTransferFrom(holder.address, to, ids[0], 5n, DATA))
          .to.emit(mock, "Received")
          .withArgs(operator.address, holder.address, ids[0], 5n, DATA)
          .and.to.emit(token, "TransferSingle")
          .withArgs(operator.address, holder.address, to, ids[0], 5n);
        expect(await mock.calls()).to.equal(1n);
        expect(await mock.lastCallback()).to.equal(SINGLE_SELECTOR);
        expect(await mock.lastOperator()).to.equal(operator.address);
        expect(await mock.lastFrom()).to.equal(holder.address);
        expect(await mock.lastIds()).to.deep.equal([ids[0]]);
        expect(await mock.lastValues()).to.deep.equal([5n]);
        expect(await mock.lastData()).to.equal(DATA);
        expect(await token.balanceOf(to, ids[0])).to.equal(5n);
        expect(await token.balanceOf(holder.address, ids[0])).to.equal(amounts[0] - 5n);
      });

      it("test_safeTransferFrom_revertsForReceiverReturningAWrongSelector", async function () {
        const { token, holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.WrongSelector);
        await expect(as(holder).safeTransferFrom(holder.address, mock, ids[0], 1n, DATA))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(await mock.getAddress());
      });

      it("test_safeTransferFrom_bubblesTheReceiversCustomError", async function () {
        const { holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.RevertWithError);
        await expect(as(holder).safeTransferFrom(holder.address, mock, ids[0], 1n, DATA))
          .to.be.revertedWithCustomError(mock, "ERC1155ReceiverMockRejected")
          .withArgs(SINGLE_SELECTOR, holder.address, holder.address);
      });

      it("test_safeTransferFrom_revertsForReceiverRevertingWithoutData", async function () {
        const { token, holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.RevertWithoutData);
        await expect(as(holder).safeTransferFrom(holder.address, mock, ids[0], 1n, DATA))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(await mock.getAddress());
      });

      it("test_safeTransferFrom_bubblesTheReceiversPanic", async function () {
        const { holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.Panic);
        await expect(as(holder).safeTransferFrom(holder.address, mock, ids[0], 1n, DATA)).to.be.revertedWithPanic(
          ASSERTION_ERROR,
        );
      });

      it("test_safeTransferFrom_revertsForContractWithoutReceiverFunctions", async function () {
        const { token, holder, ids, as } = await load();
        // The token itself implements no ERC-1155 receiver callbacks.
        const to = await token.getAddress();
        await expect(as(holder).safeTransferFrom(holder.address, to, ids[0], 1n, DATA))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(to);
      });
    });

    describe("receivers of safeBatchTransferFrom", function () {
      it("test_safeBatchTransferFrom_toAcceptingReceiverPassesOperatorFromIdsValuesAndData", async function () {
        const { token, holder, operator, ids, amounts, as, receiver } = await load();
        const mock = await receiver(Mode.Accept);
        const to = await mock.getAddress();
        const values = [amounts[0], 7n];
        await (await as(holder).setApprovalForAll(operator.address, true)).wait();
        await expect(as(operator).safeBatchTransferFrom(holder.address, to, ids, values, DATA))
          .to.emit(mock, "BatchReceived")
          .withArgs(operator.address, holder.address, ids, values, DATA)
          .and.to.emit(token, "TransferBatch")
          .withArgs(operator.address, holder.address, to, ids, values)
          .and.not.to.emit(mock, "Received");
        expect(await mock.calls()).to.equal(1n);
        expect(await mock.lastCallback()).to.equal(BATCH_SELECTOR);
        expect(await mock.lastOperator()).to.equal(operator.address);
        expect(await mock.lastFrom()).to.equal(holder.address);
        expect(await mock.lastIds()).to.deep.equal(ids);
        expect(await mock.lastValues()).to.deep.equal(values);
        expect(await mock.lastData()).to.equal(DATA);
        expect(await token.balanceOfBatch([to, to], ids)).to.deep.equal(values);
      });

      it("test_safeBatchTransferFrom_revertsForReceiverReturningAWrongSelector", async function () {
        const { token, holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.WrongSelector);
        await expect(as(holder).safeBatchTransferFrom(holder.address, mock, ids, [1n, 1n], DATA))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(await mock.getAddress());
      });

      it("test_safeBatchTransferFrom_bubblesTheReceiversCustomError", async function () {
        const { holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.RevertWithError);
        await expect(as(holder).safeBatchTransferFrom(holder.address, mock, ids, [1n, 1n], DATA))
          .to.be.revertedWithCustomError(mock, "ERC1155ReceiverMockRejected")
          .withArgs(BATCH_SELECTOR, holder.address, holder.address);
      });

      it("test_safeBatchTransferFrom_revertsForReceiverRevertingWithoutData", async function () {
        const { token, holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.RevertWithoutData);
        await expect(as(holder).safeBatchTransferFrom(holder.address, mock, ids, [1n, 1n], DATA))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(await mock.getAddress());
      });

      it("test_safeBatchTransferFrom_bubblesTheReceiversPanic", async function () {
        const { holder, ids, as, receiver } = await load();
        const mock = await receiver(Mode.Panic);
        await expect(
          as(holder).safeBatchTransferFrom(holder.address, mock, ids, [1n, 1n], DATA),
        ).to.be.revertedWithPanic(ASSERTION_ERROR);
      });

      it("test_safeBatchTransferFrom_revertsForContractWithoutReceiverFunctions", async function () {
        const { token, holder, ids, as } = await load();
        const to = await token.getAddress();
        await expect(as(holder).safeBatchTransferFrom(holder.address, to, ids, [1n, 1n], DATA))
          .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
          .withArgs(to);
      });
    });

    describe("ERC-165 and metadata", function () {
      it("test_supportsInterface_trueForERC165ERC1155AndMetadataURI", async function () {
        const { token } = await load();
        // The ids are the XOR of their interfaces' selectors (guards the constants against typos).
        expect(interfaceId(["supportsInterface(bytes4)"])).to.equal(IDS.IERC165);
        expect(
          interfaceId([
            "balanceOf(address,uint256)",
            "balanceOfBatch(address[],uint256[])",
            "setApprovalForAll(address,bool)",
            "isApprovedForAll(address,address)",
            "safeTransferFrom(address,address,uint256,uint256,bytes)",
            "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)",
          ]),
        ).to.equal(IDS.IERC1155);
        expect(interfaceId(["uri(uint256)"])).to.equal(IDS.IERC1155MetadataURI);
        expect(await token.supportsInterface(IDS.IERC165)).to.equal(true);
        expect(await token.supportsInterface(IDS.IERC1155)).to.equal(true);
        expect(await token.supportsInterface(IDS.IERC1155MetadataURI)).to.equal(true);
      });

      it("test_supportsInterface_falseForOtherIds", async function () {
        const { token } = await load();
        expect(await token.supportsInterface("0xffffffff")).to.equal(false);
        // IERC1155Receiver, IERC721 and the zero id are not claimed.
        expect(await token.supportsInterface("0x4e2312e0")).to.equal(false);
        expect(await token.supportsInterface("0x80ac58cd")).to.equal(false);
        expect(await token.supportsInterface("0x00000000")).to.equal(false);
      });

      it("test_uri_isNonEmptyForHeldIds", async function () {
        const { token, ids } = await load();
        for (const id of ids) expect(await token.uri(id)).to.match(/^\S+/);
      });
    });
  });
}
