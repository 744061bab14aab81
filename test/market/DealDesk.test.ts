import { expect } from "chai";
import { type Signer } from "ethers";
import { ROLES } from "../../src/deploy.js";
import { certificateId, vintageOf } from "../../src/certificates.js";
import { kwhTokenId } from "../../src/intervals.js";
import { dealDomain, hashQuote, QUOTE_TYPES, type Quote } from "../../src/ops/deals.js";
import { proofFor } from "../../src/tree.js";
import {
  DealDesk__factory,
  ERC1271WalletMock__factory,
  FeeOnTransferStablecoin__factory,
  NoReturnStablecoin__factory,
  ReentrantDealTaker__factory,
  RecToken__factory,
} from "../../types/ethers-contracts/index.js";
import {
  deployFixture,
  ethers,
  firstAccreditedInterval,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  SETTLEMENT_WINDOW,
} from "../helpers/fixture.js";

const { loadFixture, time } = networkHelpers;

type Account = Signer & { address: string };

/** One US dollar in the 6-decimal stablecoins' base units. */
const USD = 1_000_000n;
/** 0.123457 per kWh: an odd price, so that fills of odd amounts round. */
const PRICE = 123_457n;
const DAY = 86_400n;
const REENTRANCY = "ReentrancyGuardReentrantCall";
/** Order of the secp256k1 group. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/*//////////////////////////////////////////////////////////////
                               FIXTURE
//////////////////////////////////////////////////////////////*/

/**
 * The system with real tokens minted through proofs: alice (maker) holds 3,100 Wh of zone 1's kWh token of the
 * first accredited interval (meters 0 and 1) and 1,200 Wh of meter 0's certificates, and has approved the desk for
 * both; bob (taker) and stranger hold 1,000 USD of the mock stablecoin approved for the desk.
 */
async function dealFixture() {
  const f = await deployFixture();
  const { kwh, rec, desk, paymentToken } = f.system;
  const intervalId = await firstAccreditedInterval(f);
  const tree = await postRoot(f.system, f.relayers, intervalId, sampleLeaves(f));
  for (const m of f.meters.slice(0, 2)) {
    const p = proofFor(tree, m.address);
    await (await kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
  }
  const kwhId = kwhTokenId(1, intervalId);
  const recId = certificateId({
    meter: f.meters[0].address,
    vintage: vintageOf(intervalId * INTERVAL),
    technology: "Solar",
    zone: 1,
  });
  const deskAddress = await desk.getAddress();
  await (await kwh.connect(f.alice).setApprovalForAll(deskAddress, true)).wait();
  await (await rec.connect(f.alice).setApprovalForAll(deskAddress, true)).wait();
  for (const s of [f.bob, f.stranger]) {
    await (await paymentToken.mint(s.address, 1_000n * USD)).wait();
    await (await paymentToken.connect(s).approve(deskAddress, ethers.MaxUint256)).wait();
  }
  const domain = dealDomain(f.chainId, deskAddress);
  return {
    ...f,
    kwh,
    rec,
    desk,
    token: paymentToken,
    deskAddress,
    intervalId,
    kwhId,
    recId,
    domain,
    kwhAddress: await kwh.getAddress(),
    recAddress: await rec.getAddress(),
    tokenAddress: await paymentToken.getAddress(),
  };
}

type DealFixture = Awaited<ReturnType<typeof dealFixture>>;

/** A quote of alice's: 1,000 Wh of the kWh token at PRICE, all or nothing, nonce 0, expiring in a day. */
async function quoteOf(f: DealFixture, over: Partial<Quote> = {}): Promise<Quote> {
  return {
    maker: f.alice.address,
    token: f.kwhAddress,
    id: f.kwhId,
    amount: 1_000n,
    paymentToken: f.tokenAddress,
    price: PRICE,
    expiry: BigInt(await time.latest()) + DAY,
    nonce: 0n,
    allowPartial: false,
    ...over,
  };
}

/** `q` signed by `signer` (default: alice) in the desk's domain (or another). */
function sign(f: DealFixture, q: Quote, signer: Account = f.alice, domain = f.domain): Promise<string> {
  return signer.signTypedData(domain, QUOTE_TYPES, q);
}

/** A quote of alice's, signed by her. */
async function signed(f: DealFixture, over: Partial<Quote> = {}) {
  const q = await quoteOf(f, over);
  return { q, sig: await sign(f, q), hash: hashQuote(f.domain, q) };
}

interface Erc1155 {
  balanceOf(account: string, id: bigint): Promise<bigint>;
}
interface Erc20 {
  balanceOf(account: string): Promise<bigint>;
}

/** Units and payment-token balances of a deal's maker and taker. */
async function balancesOf(units: Erc1155, id: bigint, pay: Erc20, maker: string, taker: string) {
  return {
    makerUnits: await units.balanceOf(maker, id),
    takerUnits: await units.balanceOf(taker, id),
    makerPay: await pay.balanceOf(maker),
    takerPay: await pay.balanceOf(taker),
  };
}

/** Asserts both sides moved by exactly `units` units and `payment` base units since `before`. */
async function expectMoved(
  before: Awaited<ReturnType<typeof balancesOf>>,
  units: Erc1155,
  id: bigint,
  pay: Erc20,
  maker: string,
  taker: string,
  moved: { units: bigint; payment: bigint },
) {
  const after = await balancesOf(units, id, pay, maker, taker);
  expect(after).to.deep.equal({
    makerUnits: before.makerUnits - moved.units,
    takerUnits: before.takerUnits + moved.units,
    makerPay: before.makerPay + moved.payment,
    takerPay: before.takerPay - moved.payment,
  });
}

/*//////////////////////////////////////////////////////////////
                                TESTS
//////////////////////////////////////////////////////////////*/

describe("DealDesk", function () {
  describe("deployment and governance", function () {
    it("test_deploy_fixesBothTokensTheDomainAndThePauserRole", async function () {
      const f = await loadFixture(dealFixture);
      expect(await f.desk.kwh()).to.equal(f.kwhAddress);
      expect(await f.desk.rec()).to.equal(f.recAddress);
      const d = await f.desk.eip712Domain();
      expect([d.name, d.version, d.chainId, d.verifyingContract]).to.deep.equal([
        "Microgrid DealDesk",
        "1",
        f.chainId,
        f.deskAddress,
      ]);
      expect(await f.desk.DOMAIN_SEPARATOR()).to.equal(ethers.TypedDataEncoder.hashDomain(f.domain));
      expect(f.deployment.contracts.DealDesk!.address).to.equal(f.deskAddress);
      expect(f.deployment.contracts.DealDesk!.args).to.deep.equal([
        await f.system.governance.getAddress(),
        f.kwhAddress,
        f.recAddress,
      ]);
      const gov = f.system.governance;
      for (const fn of ["pause", "unpause"] as const)
        expect(await gov.getTargetFunctionRole(f.deskAddress, f.desk.interface.getFunction(fn)!.selector)).to.equal(
          ROLES.PAUSER,
        );
    });

    it("test_constructor_zeroOrIdenticalTokens_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const factory = new DealDesk__factory(f.deployer);
      const authority = await f.system.governance.getAddress();
      const zero = ethers.ZeroAddress;
      for (const [a, b] of [
        [zero, f.recAddress],
        [f.kwhAddress, zero],
        [f.kwhAddress, f.kwhAddress],
      ]) {
        await expect(factory.deploy(authority, a, b))
          .to.be.revertedWithCustomError(f.desk, "DealDeskInvalidTokens")
          .withArgs(a, b);
      }
    });

    it("test_abi_noFunctionMovesFundsButTheTakersFill", async function () {
      const f = await loadFixture(dealFixture);
      const writes: string[] = [];
      f.desk.interface.forEachFunction((fn) => {
        if (fn.stateMutability !== "view" && fn.stateMutability !== "pure") writes.push(fn.name);
      });
      // fill moves only the sender's payment and the signing maker's units; the rest only record or pause.
      expect(writes.sort()).to.deep.equal(
        ["cancel", "fill", "invalidateNoncesBelow", "pause", "setAuthority", "unpause"].sort(),
      );
    });

    it("test_quoteHash_isTheEip712DigestOfTheQuote", async function () {
      const f = await loadFixture(dealFixture);
      const { q, hash } = await signed(f, { allowPartial: true, nonce: 7n });
      expect(await f.desk.quoteHash(q)).to.equal(hash);
      expect(await f.desk.quoteHash({ ...q, allowPartial: false })).to.not.equal(hash);
      expect(await f.desk.QUOTE_TYPEHASH()).to.equal(
        ethers.id(
          "Quote(address maker,address token,uint256 id,uint256 amount,address paymentToken,uint256 price," +
            "uint64 expiry,uint256 nonce,bool allowPartial)",
        ),
      );
    });

    it("test_paymentFor_roundsUpForTheBuyer", async function () {
      const f = await loadFixture(dealFixture);
      const cases: [bigint, bigint, bigint][] = [
        [1_000n, PRICE, 123_457n], // a whole kWh: exact
        [333n, PRICE, 41_112n], // 41,111.181 → 41,112
        [334n, PRICE, 41_235n], // 41,234.638 → 41,235
        [1n, 1n, 1n], // 0.001 → 1
        [999n, 1n, 1n], // 0.999 → 1
        [1_000n, 1n, 1n], // 1 exactly
        [1_001n, 1n, 2n], // 1.001 → 2
        [5n, 0n, 0n], // free
      ];
      for (const [amount, price, payment] of cases) expect(await f.desk.paymentFor(amount, price)).to.equal(payment);
    });
  });

  describe("fill", function () {
    it("test_fill_kwhFullQuote_paysMakerDeliversTakerAndEmits", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f);
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      expect(before.makerUnits).to.equal(3_100n);
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.emit(f.desk, "DealFilled")
        .withArgs(hash, f.alice.address, f.bob.address, f.kwhAddress, f.kwhId, 1_000n, f.tokenAddress, 123_457n)
        .and.to.emit(f.kwh, "TransferSingle")
        .withArgs(f.deskAddress, f.alice.address, f.bob.address, f.kwhId, 1_000n)
        .and.to.emit(f.token, "Transfer")
        .withArgs(f.bob.address, f.alice.address, 123_457n);
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, {
        units: 1_000n,
        payment: 123_457n,
      });
      expect(await f.desk.filledOf(hash)).to.equal(1_000n);
      expect(await f.desk.remaining(q)).to.equal(0n);
    });

    it("test_fill_returnsThePayment", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig } = await signed(f, { allowPartial: true });
      expect(await f.desk.connect(f.bob).fill.staticCall(q, sig, 333n)).to.equal(41_112n);
    });

    it("test_fill_recPartialFills_sumToTheAmountThenAFurtherFillReverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f, { token: f.recAddress, id: f.recId, allowPartial: true });
      const steps: [Account, bigint, bigint, bigint][] = [
        // taker, amount, payment (rounded up), remaining after
        [f.bob, 333n, 41_112n, 667n],
        [f.stranger, 333n, 41_112n, 334n],
        [f.bob, 334n, 41_235n, 0n],
      ];
      for (const [taker, amount, payment, left] of steps) {
        const before = await balancesOf(f.rec, f.recId, f.token, f.alice.address, taker.address);
        await expect(f.desk.connect(taker).fill(q, sig, amount))
          .to.emit(f.desk, "DealFilled")
          .withArgs(hash, f.alice.address, taker.address, f.recAddress, f.recId, amount, f.tokenAddress, payment);
        await expectMoved(before, f.rec, f.recId, f.token, f.alice.address, taker.address, { units: amount, payment });
        expect(await f.desk.remaining(q)).to.equal(left);
      }
      expect(await f.desk.filledOf(hash)).to.equal(1_000n);
      // Three rounded-up parts cost the takers 2 base units more than one whole fill (123,457).
      expect(41_112n + 41_112n + 41_235n).to.equal(123_459n);
      expect(await f.rec.balanceOf(f.alice.address, f.recId)).to.equal(200n);
      expect(await f.rec.balanceOf(f.bob.address, f.recId)).to.equal(667n);
      expect(await f.rec.balanceOf(f.stranger.address, f.recId)).to.equal(333n);
      await expect(f.desk.connect(f.stranger).fill(q, sig, 1n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskQuoteFullyFilled")
        .withArgs(hash, 1_000n);
    });

    it("test_fill_replayedFullQuote_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f);
      await (await f.desk.connect(f.bob).fill(q, sig, 1_000n)).wait();
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      for (const taker of [f.bob, f.stranger]) {
        await expect(f.desk.connect(taker).fill(q, sig, 1_000n))
          .to.be.revertedWithCustomError(f.desk, "DealDeskQuoteFullyFilled")
          .withArgs(hash, 1_000n);
      }
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, { units: 0n, payment: 0n });
    });

    it("test_fill_moreThanRemains_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f, { allowPartial: true });
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_001n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskAmountExceedsRemaining")
        .withArgs(hash, 1_001n, 1_000n);
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await (await f.desk.connect(f.bob).fill(q, sig, 333n)).wait();
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, {
        units: 333n,
        payment: 41_112n,
      });
      await expect(f.desk.connect(f.bob).fill(q, sig, 668n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskAmountExceedsRemaining")
        .withArgs(hash, 668n, 667n);
    });

    it("test_fill_partOfAnAllOrNothingQuote_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f);
      await expect(f.desk.connect(f.bob).fill(q, sig, 999n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskPartialFillNotAllowed")
        .withArgs(hash, 999n, 1_000n);
    });

    it("test_fill_zeroAmountOrEmptyQuote_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const a = await signed(f, { allowPartial: true });
      await expect(f.desk.connect(f.bob).fill(a.q, a.sig, 0n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskZeroAmount")
        .withArgs(a.hash);
      const empty = await signed(f, { amount: 0n, allowPartial: true });
      await expect(f.desk.connect(f.bob).fill(empty.q, empty.sig, 1n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskEmptyQuote")
        .withArgs(empty.hash);
    });

    it("test_fill_atExpiry_succeeds_andAfterItReverts", async function () {
      const f = await loadFixture(dealFixture);
      const expiry = BigInt(await time.latest()) + 600n;
      const a = await signed(f, { expiry, allowPartial: true });
      await time.setNextBlockTimestamp(expiry);
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await (await f.desk.connect(f.bob).fill(a.q, a.sig, 1n)).wait();
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, { units: 1n, payment: 124n });
      await time.setNextBlockTimestamp(expiry + 1n);
      await expect(f.desk.connect(f.bob).fill(a.q, a.sig, 1n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskQuoteExpired")
        .withArgs(a.hash, expiry, expiry + 1n);
      expect(await f.desk.remaining(a.q)).to.equal(999n); // the latest block is still at the expiry
      await time.increaseTo(expiry + 1n);
      expect(await f.desk.remaining(a.q)).to.equal(0n);
    });

    it("test_fill_cancelledQuote_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f);
      await (await f.desk.connect(f.alice).cancel(q)).wait();
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskQuoteCancelled")
        .withArgs(hash);
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, { units: 0n, payment: 0n });
    });

    it("test_fill_nonceBelowTheMakersFloor_reverts_andLaterNoncesFill", async function () {
      const f = await loadFixture(dealFixture);
      const old = await signed(f, { nonce: 5n });
      const current = await signed(f, { nonce: 6n });
      await expect(f.desk.connect(f.alice).invalidateNoncesBelow(6n))
        .to.emit(f.desk, "NoncesInvalidated")
        .withArgs(f.alice.address, 0n, 6n);
      await expect(f.desk.connect(f.bob).fill(old.q, old.sig, 1_000n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskNonceInvalidated")
        .withArgs(old.hash, f.alice.address, 5n, 6n);
      expect(await f.desk.remaining(old.q)).to.equal(0n);
      expect(await f.desk.remaining(current.q)).to.equal(1_000n);
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await (await f.desk.connect(f.bob).fill(current.q, current.sig, 1_000n)).wait();
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, {
        units: 1_000n,
        payment: 123_457n,
      });
    });

    it("test_fill_signatureNotByTheMaker_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const q = await quoteOf(f);
      const hash = hashQuote(f.domain, q);
      const otherChain = { ...f.domain, chainId: 1n };
      const otherDesk = { ...f.domain, verifyingContract: f.recAddress };
      // alice's own signature, malleated (s → n − s, v flipped) or in the 64-byte compact form: refused too.
      const good = ethers.Signature.from(await sign(f, q));
      const highS = ethers.concat([
        good.r,
        ethers.toBeHex(SECP256K1_N - BigInt(good.s), 32),
        good.v === 27 ? "0x1c" : "0x1b",
      ]);
      const forgeries = [
        highS,
        good.compactSerialized,
        await sign(f, q, f.bob), // another key
        await sign(f, q, f.alice, otherChain), // another chain
        await sign(f, q, f.alice, otherDesk), // another desk
        await sign(f, { ...q, price: 1n }), // other terms
        "0x" + "11".repeat(65), // garbage
        "0x", // none
      ];
      for (const sig of forgeries) {
        await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
          .to.be.revertedWithCustomError(f.desk, "DealDeskInvalidSignature")
          .withArgs(hash, f.alice.address);
      }
      // A taker who lowers the price of alice's signed quote: the signature does not cover the new terms.
      await expect(f.desk.connect(f.bob).fill({ ...q, price: 1n }, await sign(f, q), 1_000n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskInvalidSignature")
        .withArgs(hashQuote(f.domain, { ...q, price: 1n }), f.alice.address);
    });

    it("test_fill_tokenOutsideTheTwo_reverts", async function () {
      const f = await loadFixture(dealFixture);
      // A genuine ERC-1155 with the RecToken's code, not the deployment's.
      const impostor = await new RecToken__factory(f.deployer).deploy(
        await f.system.governance.getAddress(),
        await f.system.registry.getAddress(),
        f.alice.address,
      );
      const impostorAddress = await impostor.getAddress();
      for (const token of [impostorAddress, f.tokenAddress]) {
        const { q, sig, hash } = await signed(f, { token });
        await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
          .to.be.revertedWithCustomError(f.desk, "DealDeskUnsupportedToken")
          .withArgs(hash, token);
        expect(await f.desk.remaining(q)).to.equal(0n);
      }
    });

    it("test_fill_byTheMaker_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f);
      await expect(f.desk.connect(f.alice).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskSelfFill")
        .withArgs(hash, f.alice.address);
    });

    it("test_fill_feeOnTransferPaymentToken_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const fee = await new FeeOnTransferStablecoin__factory(f.deployer).deploy();
      const feeAddress = await fee.getAddress();
      await (await fee.mint(f.bob.address, 1_000n * USD)).wait();
      await (await fee.connect(f.bob).approve(f.deskAddress, ethers.MaxUint256)).wait();
      const { q, sig, hash } = await signed(f, { paymentToken: feeAddress });
      const before = await balancesOf(f.kwh, f.kwhId, fee, f.alice.address, f.bob.address);
      // 1% of 123,457 is burnt (1,234): alice would receive 122,223.
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskPaymentMismatch")
        .withArgs(feeAddress, 123_457n, 122_223n);
      await expectMoved(before, f.kwh, f.kwhId, fee, f.alice.address, f.bob.address, { units: 0n, payment: 0n });
      expect(await f.desk.filledOf(hash)).to.equal(0n);
    });

    it("test_fill_paymentTokenReturningNoBoolean_works", async function () {
      const f = await loadFixture(dealFixture);
      const usdt = await new NoReturnStablecoin__factory(f.deployer).deploy();
      const usdtAddress = await usdt.getAddress();
      await (await usdt.mint(f.bob.address, 1_000n * USD)).wait();
      await (await usdt.connect(f.bob).approve(f.deskAddress, ethers.MaxUint256)).wait();
      const { q, sig, hash } = await signed(f, { token: f.recAddress, id: f.recId, paymentToken: usdtAddress });
      const before = await balancesOf(f.rec, f.recId, usdt, f.alice.address, f.bob.address);
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.emit(f.desk, "DealFilled")
        .withArgs(hash, f.alice.address, f.bob.address, f.recAddress, f.recId, 1_000n, usdtAddress, 123_457n);
      await expectMoved(before, f.rec, f.recId, usdt, f.alice.address, f.bob.address, {
        units: 1_000n,
        payment: 123_457n,
      });
      // A shortfall still reverts (the token's own error, not a silent `false`).
      const again = await signed(f, { token: f.recAddress, id: f.recId, amount: 200n, paymentToken: usdtAddress });
      await (await usdt.connect(f.bob).approve(f.deskAddress, 5n)).wait();
      await expect(f.desk.connect(f.bob).fill(again.q, again.sig, 200n))
        .to.be.revertedWithCustomError(usdt, "NoReturnStablecoinInsufficient")
        .withArgs(f.deskAddress, 5n, 24_692n);
    });

    it("test_fill_paymentTokenWithoutCode_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f, { paymentToken: f.stranger.address });
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskInvalidPaymentToken")
        .withArgs(hash, f.stranger.address);
    });

    it("test_fill_zeroPrice_movesUnitsOnly", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f, { price: 0n, paymentToken: f.stranger.address });
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.emit(f.desk, "DealFilled")
        .withArgs(hash, f.alice.address, f.bob.address, f.kwhAddress, f.kwhId, 1_000n, f.stranger.address, 0n);
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, {
        units: 1_000n,
        payment: 0n,
      });
    });

    it("test_fill_withoutTheMakersApprovalOrTheTakersAllowance_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig } = await signed(f);
      await (await f.token.connect(f.bob).approve(f.deskAddress, 123_456n)).wait();
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance")
        .withArgs(f.deskAddress, 123_456n, 123_457n);
      await (await f.token.connect(f.bob).approve(f.deskAddress, ethers.MaxUint256)).wait();
      await (await f.kwh.connect(f.alice).setApprovalForAll(f.deskAddress, false)).wait();
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.kwh, "ERC1155MissingApprovalForAll")
        .withArgs(f.deskAddress, f.alice.address);
      // A maker who sold her tokens elsewhere: the token's own error.
      await (await f.kwh.connect(f.alice).setApprovalForAll(f.deskAddress, true)).wait();
      const big = await signed(f, { amount: 3_101n });
      await expect(f.desk.connect(f.bob).fill(big.q, big.sig, 3_101n))
        .to.be.revertedWithCustomError(f.kwh, "ERC1155InsufficientBalance")
        .withArgs(f.alice.address, 3_100n, 3_101n, f.kwhId);
    });

    it("test_fill_kwhAfterItsTransferWindowClosed_revertsWithKwhTokenTransferWindowClosed", async function () {
      const f = await loadFixture(dealFixture);
      const closesAt = (f.intervalId + 1n) * INTERVAL + SETTLEMENT_WINDOW;
      expect(await f.kwh.transferableUntil(f.kwhId)).to.equal(closesAt);
      const { q, sig, hash } = await signed(f, { expiry: closesAt + DAY });
      await time.increaseTo(closesAt);
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.kwh, "KwhTokenTransferWindowClosed")
        .withArgs(f.kwhId, closesAt);
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, { units: 0n, payment: 0n });
      expect(await f.desk.filledOf(hash)).to.equal(0n);
      // Certificates have no window.
      const r = await signed(f, { token: f.recAddress, id: f.recId, expiry: closesAt + DAY });
      await expect(f.desk.connect(f.bob).fill(r.q, r.sig, 1_000n)).to.emit(f.desk, "DealFilled");
    });

    it("test_fill_certificatesWhileTheRecTokenIsPaused_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig } = await signed(f, { token: f.recAddress, id: f.recId });
      await (await f.rec.pause()).wait();
      await expect(f.desk.connect(f.bob).fill(q, sig, 1_000n)).to.be.revertedWithCustomError(f.rec, "EnforcedPause");
    });

    it("test_fill_reentrantReceiver_revertsWithReentrancyGuardReentrantCall", async function () {
      const f = await loadFixture(dealFixture);
      const taker = await new ReentrantDealTaker__factory(f.deployer).deploy(f.deskAddress);
      const takerAddress = await taker.getAddress();
      await (await f.token.mint(takerAddress, 1_000n * USD)).wait();
      await (await taker.approve(f.tokenAddress)).wait();
      const { q, sig, hash } = await signed(f, { allowPartial: true });
      const MODE = { Accept: 0, Reenter: 1, ReenterAndCatch: 2 };
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, takerAddress);

      // The re-entrant fill's error bubbles up through the receiver hook: the whole fill reverts, exactly so.
      await expect(taker.take(q, sig, 400n, MODE.Reenter)).to.be.revertedWithCustomError(f.desk, REENTRANCY);
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, takerAddress, { units: 0n, payment: 0n });
      expect(await f.desk.filledOf(hash)).to.equal(0n);

      // Caught inside the hook: the outer fill goes through once, the inner one was refused by the guard.
      await expect(taker.take(q, sig, 400n, MODE.ReenterAndCatch))
        .to.emit(f.desk, "DealFilled")
        .withArgs(hash, f.alice.address, takerAddress, f.kwhAddress, f.kwhId, 400n, f.tokenAddress, 49_383n);
      expect(await taker.reentries()).to.equal(1n);
      expect(await taker.reentryError()).to.equal(f.desk.interface.encodeErrorResult(REENTRANCY, []));
      expect(f.desk.interface.parseError(await taker.reentryError())!.name).to.equal(REENTRANCY);
      expect(await f.desk.filledOf(hash)).to.equal(400n);
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, takerAddress, {
        units: 400n,
        payment: 49_383n,
      });
    });

    it("test_fill_erc1271WalletMaker_fillsWithItsOwnersSignature", async function () {
      const f = await loadFixture(dealFixture);
      const wallet = await new ERC1271WalletMock__factory(f.deployer).deploy(f.alice.address);
      const walletAddress = await wallet.getAddress();
      await (
        await f.rec.connect(f.alice).safeTransferFrom(f.alice.address, walletAddress, f.recId, 1_200n, "0x")
      ).wait();
      const approve = f.rec.interface.encodeFunctionData("setApprovalForAll", [f.deskAddress, true]);
      await (await wallet.connect(f.alice).execute(f.recAddress, approve)).wait();
      const q = await quoteOf(f, { maker: walletAddress, token: f.recAddress, id: f.recId, allowPartial: true });
      const hash = hashQuote(f.domain, q);
      // Signed by the wallet's owner key, over the same digest.
      const ownerSig = await sign(f, q, f.alice);
      await expect(f.desk.connect(f.bob).fill(q, await sign(f, q, f.bob), 500n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskInvalidSignature")
        .withArgs(hash, walletAddress);
      const before = await balancesOf(f.rec, f.recId, f.token, walletAddress, f.bob.address);
      await expect(f.desk.connect(f.bob).fill(q, ownerSig, 500n))
        .to.emit(f.desk, "DealFilled")
        .withArgs(hash, walletAddress, f.bob.address, f.recAddress, f.recId, 500n, f.tokenAddress, 61_729n);
      await expectMoved(before, f.rec, f.recId, f.token, walletAddress, f.bob.address, {
        units: 500n,
        payment: 61_729n,
      });
      // The wallet cancels through its own call.
      const cancel = f.desk.interface.encodeFunctionData("cancel", [q]);
      await expect(wallet.connect(f.alice).execute(f.deskAddress, cancel))
        .to.emit(f.desk, "QuoteCancelled")
        .withArgs(hash, walletAddress, 0n, 500n);
    });
  });

  describe("cancellation", function () {
    it("test_cancel_byTheMakerAfterAPartialFill_emitsAndStopsFills", async function () {
      const f = await loadFixture(dealFixture);
      const { q, sig, hash } = await signed(f, { allowPartial: true, nonce: 3n });
      await (await f.desk.connect(f.bob).fill(q, sig, 300n)).wait();
      expect(await f.desk.isCancelled(hash)).to.equal(false);
      await expect(f.desk.connect(f.alice).cancel(q))
        .to.emit(f.desk, "QuoteCancelled")
        .withArgs(hash, f.alice.address, 3n, 300n);
      expect(await f.desk.isCancelled(hash)).to.equal(true);
      expect(await f.desk.remaining(q)).to.equal(0n);
      expect(await f.desk.filledOf(hash)).to.equal(300n);
      await expect(f.desk.connect(f.bob).fill(q, sig, 1n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskQuoteCancelled")
        .withArgs(hash);
    });

    it("test_cancel_bySomeoneElse_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, hash } = await signed(f);
      await expect(f.desk.connect(f.bob).cancel(q))
        .to.be.revertedWithCustomError(f.desk, "DealDeskNotMaker")
        .withArgs(hash, f.alice.address, f.bob.address);
    });

    it("test_cancel_twice_reverts", async function () {
      const f = await loadFixture(dealFixture);
      const { q, hash } = await signed(f);
      await (await f.desk.connect(f.alice).cancel(q)).wait();
      await expect(f.desk.connect(f.alice).cancel(q))
        .to.be.revertedWithCustomError(f.desk, "DealDeskAlreadyCancelled")
        .withArgs(hash);
    });

    it("test_invalidateNoncesBelow_onlyRises", async function () {
      const f = await loadFixture(dealFixture);
      expect(await f.desk.minNonceOf(f.alice.address)).to.equal(0n);
      await expect(f.desk.connect(f.alice).invalidateNoncesBelow(0n))
        .to.be.revertedWithCustomError(f.desk, "DealDeskNonceNotIncreasing")
        .withArgs(f.alice.address, 0n, 0n);
      await (await f.desk.connect(f.alice).invalidateNoncesBelow(10n)).wait();
      for (const n of [10n, 9n]) {
        await expect(f.desk.connect(f.alice).invalidateNoncesBelow(n))
          .to.be.revertedWithCustomError(f.desk, "DealDeskNonceNotIncreasing")
          .withArgs(f.alice.address, n, 10n);
      }
      await expect(f.desk.connect(f.alice).invalidateNoncesBelow(11n))
        .to.emit(f.desk, "NoncesInvalidated")
        .withArgs(f.alice.address, 10n, 11n);
      expect(await f.desk.minNonceOf(f.alice.address)).to.equal(11n);
      // Per maker: bob's floor is untouched.
      expect(await f.desk.minNonceOf(f.bob.address)).to.equal(0n);
    });
  });

  describe("pause", function () {
    it("test_pause_stopsFillsButNotCancellations", async function () {
      const f = await loadFixture(dealFixture);
      const a = await signed(f, { nonce: 1n });
      const b = await signed(f, { nonce: 2n });
      await expect(f.desk.pause()).to.emit(f.desk, "Paused").withArgs(f.deployer.address);
      await expect(f.desk.connect(f.bob).fill(a.q, a.sig, 1_000n)).to.be.revertedWithCustomError(
        f.desk,
        "EnforcedPause",
      );
      await expect(f.desk.connect(f.alice).cancel(a.q)).to.emit(f.desk, "QuoteCancelled");
      await expect(f.desk.connect(f.alice).invalidateNoncesBelow(2n)).to.emit(f.desk, "NoncesInvalidated");
      await expect(f.desk.unpause()).to.emit(f.desk, "Unpaused").withArgs(f.deployer.address);
      const before = await balancesOf(f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address);
      await (await f.desk.connect(f.bob).fill(b.q, b.sig, 1_000n)).wait();
      await expectMoved(before, f.kwh, f.kwhId, f.token, f.alice.address, f.bob.address, {
        units: 1_000n,
        payment: 123_457n,
      });
    });

    it("test_pause_isRestrictedToPausers", async function () {
      const f = await loadFixture(dealFixture);
      for (const fn of ["pause", "unpause"] as const) {
        await expect(f.desk.connect(f.stranger)[fn]())
          .to.be.revertedWithCustomError(f.desk, "AccessManagedUnauthorized")
          .withArgs(f.stranger.address);
      }
    });
  });

  describe("views", function () {
    it("test_remaining_isZeroForClosedQuotesAndTheRestOtherwise", async function () {
      const f = await loadFixture(dealFixture);
      const open = await signed(f, { allowPartial: true });
      expect(await f.desk.remaining(open.q)).to.equal(1_000n);
      await (await f.desk.connect(f.bob).fill(open.q, open.sig, 250n)).wait();
      expect(await f.desk.remaining(open.q)).to.equal(750n);
      expect(await f.desk.filledOf(open.hash)).to.equal(250n);
      expect(await f.desk.remaining({ ...open.q, expiry: BigInt(await time.latest()) - 1n })).to.equal(0n);
      expect(await f.desk.remaining({ ...open.q, amount: 0n })).to.equal(0n);
      expect(await f.desk.filledOf(ethers.ZeroHash)).to.equal(0n);
      expect(await f.desk.isCancelled(ethers.ZeroHash)).to.equal(false);
    });
  });
});
