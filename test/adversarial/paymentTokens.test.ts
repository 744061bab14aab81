import { expect } from "chai";
import { Wallet } from "ethers";
import { FeeOnTransferStablecoin__factory, NoReturnStablecoin__factory } from "../../types/ethers-contracts/index.js";
import { deploySystem } from "../../src/deploy.js";
import { proofFor } from "../../src/tree.js";
import {
  PARAMS,
  USD,
  buy,
  collateralFor,
  deployAuction,
  deployFeed,
  salt,
  sell,
  sellerBond,
  type Order,
} from "../helpers/auction.js";
import { deployFixture, ethers, networkHelpers, postRoot, INTERVAL } from "../helpers/fixture.js";
import { dealFixture, signedQuote, type Account } from "./helpers.js";

/*
 * Payment tokens that do not behave like a plain ERC-20: fee-on-transfer tokens (the recipient gets less than was
 * sent) are refused where money enters — `BatchAuction.commit` and `DealDesk.fill` compare balances — and tokens
 * that return no boolean (USDT-style) work exactly through SafeERC20, and still fail loudly.
 */

const { loadFixture, time } = networkHelpers;

/** An auction of `f`'s registry paid in `token` (with fresh feeds), its interval in the commit phase. */
async function auctionIn(f: Awaited<ReturnType<typeof deployFixture>>, token: { getAddress(): Promise<string> }) {
  const floor = await deployFeed(f, 8, 5_000_000n);
  const ceiling = await deployFeed(f, 8, 40_000_000n);
  const auction = await deployAuction(f, token as never, floor, ceiling, f.stranger.address);
  const id = (BigInt(await time.latest()) + 3_600n + 600n + 900n + 3_600n) / INTERVAL + 1n;
  await time.increaseTo((await auction.schedule(id)).commitStart);
  await (await floor.updateAnswer(5_000_000n)).wait();
  await (await ceiling.updateAnswer(40_000_000n)).wait();
  return { auction, id };
}

describe("adversarial: fee-on-transfer and no-return-value payment tokens", function () {
  describe("fee-on-transfer (1% burnt on every transfer)", function () {
    it("test_paymentTokens_feeOnTransfer_auctionCommitIsRefusedWithTheAmountsSentAndReceived", async function () {
      const f = await loadFixture(deployFixture);
      const fee = await new FeeOnTransferStablecoin__factory(f.deployer).deploy();
      const { auction, id } = await auctionIn(f, fee);
      await (await fee.mint(f.alice.address, 10n * USD)).wait();
      await (await fee.connect(f.alice).approve(await auction.getAddress(), ethers.MaxUint256)).wait();
      const c = await auction.commitmentOf(id, f.alice.address, buy(1, 1_000n, 200_000n), salt("fee"));
      await expect(auction.connect(f.alice).commit(id, c, 2n * USD))
        .to.be.revertedWithCustomError(auction, "BatchAuctionTransferMismatch")
        .withArgs(2n * USD, (2n * USD * 99n) / 100n);
      expect(await fee.balanceOf(f.alice.address)).to.equal(10n * USD);
      expect(await fee.balanceOf(await auction.getAddress())).to.equal(0n);
      // No commitment is left behind (withdraw looks it up before checking the phase).
      await expect(auction.connect(f.alice).withdraw(id, c))
        .to.be.revertedWithCustomError(auction, "BatchAuctionUnknownCommitment")
        .withArgs(id, c);
    });

    it("test_paymentTokens_feeOnTransfer_dealFillIsRefusedAndNoUnitMoves", async function () {
      const f = await loadFixture(dealFixture);
      const fee = await new FeeOnTransferStablecoin__factory(f.deployer).deploy();
      await (await fee.mint(f.bob.address, 1_000n * USD)).wait();
      await (await fee.connect(f.bob).approve(f.deskAddress, ethers.MaxUint256)).wait();
      const { q, sig } = await signedQuote(f, { paymentToken: await fee.getAddress() });
      const payment = 123_457n; // ⌈1,000 × 123,457 / 1000⌉
      await expect(f.system.desk.connect(f.bob).fill(q, sig, 1_000n))
        .to.be.revertedWithCustomError(f.system.desk, "DealDeskPaymentMismatch")
        .withArgs(await fee.getAddress(), payment, payment - payment / 100n);
      expect(await f.system.kwh.balanceOf(f.alice.address, f.kwhId)).to.equal(3_100n);
      expect(await f.system.kwh.balanceOf(f.bob.address, f.kwhId)).to.equal(0n);
      expect(await fee.balanceOf(f.bob.address)).to.equal(1_000n * USD);
    });
  });

  describe("no return value (USDT-style transfer, transferFrom and approve)", function () {
    /** The whole system paid in a NoReturnStablecoin, with a fresh treasury, alice's meter 0 in zone 1. */
    async function noReturnSystem() {
      const f = await deployFixture();
      const usdt = await new NoReturnStablecoin__factory(f.deployer).deploy();
      const treasury = Wallet.createRandom().address;
      const { system } = await deploySystem(f.deployer, "hardhat", {
        intervalLength: INTERVAL,
        relayers: f.relayers.map((r) => r.address),
        threshold: 2,
        market: { paymentToken: await usdt.getAddress(), treasury },
      });
      await (await system.registry.setZone(1, 200_000, 150_000)).wait();
      const meter = f.meters[0].address;
      await (
        await system.registry.registerMeter(meter, {
          owner: f.alice.address,
          zone: 1,
          technology: 0,
          ratedCapacityW: 8_000n,
          recEligible: false,
          accreditationExpiry: 0n,
        })
      ).wait();
      const traders = [f.alice, f.bob, f.stranger, f.deployer as Account];
      for (const t of traders) {
        await (await usdt.mint(t.address, 10n * USD)).wait();
        await (await usdt.connect(t).approve(await system.auction.getAddress(), ethers.MaxUint256)).wait();
        await (await system.kwh.connect(t).setApprovalForAll(await system.escrow.getAddress(), true)).wait();
      }
      return { ...f, usdt, treasury, system, meter, traders };
    }

    it("test_paymentTokens_noReturn_everyAuctionAndSettlementPathPaysExactly", async function () {
      const f = await loadFixture(noReturnSystem);
      const { auction, escrow, kwh } = f.system;
      const vault = await auction.getAddress();
      const now = BigInt(await time.latest());
      const id = (now + 3_600n + 300n + 900n + 1_800n) / INTERVAL + 1n;
      const s = await auction.schedule(id);
      await time.increaseTo(s.commitStart);
      const orders: [Account, Order, bigint][] = [
        [f.alice, sell(1, 1_000n, 100_000n, f.meter), collateralFor(sell(1, 1_000n, 100_000n, f.meter))],
        [f.stranger, buy(1, 1_000n, 300_000n), collateralFor(buy(1, 1_000n, 300_000n))],
        [f.bob, buy(1, 1_000n, 300_000n), 2n * USD], // never revealed
        [f.deployer as Account, buy(1, 500n, 60_000n), USD], // revealed, below the price: unfilled
      ];
      const c: string[] = [];
      for (const [i, [t, o, collateral]] of orders.entries()) {
        c.push(await auction.commitmentOf(id, t.address, o, salt(`usdt ${i}`)));
        await (await auction.connect(t).commit(id, c[i], collateral)).wait();
      }
      expect(await f.usdt.balanceOf(vault)).to.equal(orders.reduce((sum, [, , x]) => sum + x, 0n));
      await time.increaseTo(s.revealStart);
      for (const i of [0, 1, 3])
        await (await auction.connect(orders[i][0]).reveal(id, orders[i][1], salt(`usdt ${i}`))).wait();
      await time.increaseTo(s.gateClosure);
      await (await auction.clear(id)).wait();
      const penalty = (2n * USD * PARAMS.nonRevealPenaltyBps) / 10_000n;
      await (await auction.connect(f.bob).withdraw(id, c[2])).wait();
      await (await auction.connect(f.deployer).withdraw(id, c[3])).wait();
      expect(await f.usdt.balanceOf(f.treasury)).to.equal(penalty);
      expect(await f.usdt.balanceOf(f.bob.address)).to.equal(10n * USD - penalty);
      expect(await f.usdt.balanceOf(f.deployer.address)).to.equal(10n * USD);
      // 700 of 1,000 Wh delivered at 0.20: the seller is paid for 700 and slashed for 300, the buyer pays for 700.
      await time.increaseTo((id + 1n) * INTERVAL);
      const tree = await postRoot(f.system, f.relayers, id, [{ meter: f.meter, importWh: 0n, exportWh: 700n }]);
      const p = proofFor(tree, f.meter);
      await (await kwh.claim(p.meter, id, p.importWh, p.exportWh, p.proof)).wait();
      await (await escrow.connect(f.alice).deliver(id, f.alice.address, c[0])).wait(); // her own short delivery
      await (await escrow.collect(id, f.stranger.address, c[1])).wait();
      await (await escrow.payRent(id)).wait();
      await (await escrow.sweepDust(id)).wait();
      const bond = sellerBond(1_000n, 100_000n);
      const slashed = bond < 60_000n ? bond : 60_000n;
      expect(await f.usdt.balanceOf(f.alice.address)).to.equal(10n * USD + 140_000n - slashed);
      expect(await f.usdt.balanceOf(f.stranger.address)).to.equal(10n * USD - 140_000n + slashed);
      expect(await f.usdt.balanceOf(vault)).to.equal(0n);
    });

    it("test_paymentTokens_noReturn_aFailingTransferStillRevertsInsteadOfPassingSilently", async function () {
      const f = await loadFixture(noReturnSystem);
      const { auction } = f.system;
      const vault = await auction.getAddress();
      const id = (BigInt(await time.latest()) + 3_600n + 300n + 900n + 1_800n) / INTERVAL + 1n;
      await time.increaseTo((await auction.schedule(id)).commitStart);
      await (await f.usdt.connect(f.bob).approve(vault, USD - 1n)).wait();
      const c = await auction.commitmentOf(id, f.bob.address, buy(1, 1_000n, 200_000n), salt("short"));
      await expect(auction.connect(f.bob).commit(id, c, USD))
        .to.be.revertedWithCustomError(f.usdt, "NoReturnStablecoinInsufficient")
        .withArgs(vault, USD - 1n, USD);
      await (await f.usdt.connect(f.bob).approve(vault, ethers.MaxUint256)).wait();
      await expect(auction.connect(f.bob).commit(id, c, 11n * USD))
        .to.be.revertedWithCustomError(f.usdt, "NoReturnStablecoinInsufficient")
        .withArgs(f.bob.address, 10n * USD, 11n * USD);
      // Nothing moved and no commitment is left behind (withdraw looks it up before checking the phase).
      expect(await f.usdt.balanceOf(f.bob.address)).to.equal(10n * USD);
      expect(await f.usdt.balanceOf(vault)).to.equal(0n);
      await expect(auction.connect(f.bob).withdraw(id, c))
        .to.be.revertedWithCustomError(auction, "BatchAuctionUnknownCommitment")
        .withArgs(id, c);
    });

    it("test_paymentTokens_noReturn_dealFillPaysTheMakerExactly", async function () {
      const f = await loadFixture(dealFixture);
      const usdt = await new NoReturnStablecoin__factory(f.deployer).deploy();
      await (await usdt.mint(f.bob.address, 1_000n * USD)).wait();
      await (await usdt.connect(f.bob).approve(f.deskAddress, ethers.MaxUint256)).wait();
      const { q, sig, hash } = await signedQuote(f, { paymentToken: await usdt.getAddress(), allowPartial: true });
      await expect(f.system.desk.connect(f.bob).fill(q, sig, 333n))
        .to.emit(f.system.desk, "DealFilled")
        .withArgs(hash, f.alice.address, f.bob.address, q.token, q.id, 333n, q.paymentToken, 41_112n);
      expect(await usdt.balanceOf(f.alice.address)).to.equal(41_112n);
      expect(await usdt.balanceOf(f.bob.address)).to.equal(1_000n * USD - 41_112n);
      expect(await f.system.kwh.balanceOf(f.bob.address, f.kwhId)).to.equal(333n);
      // Without allowance the token's own error surfaces, and nothing moves.
      await (await usdt.connect(f.bob).approve(f.deskAddress, 0n)).wait();
      await expect(f.system.desk.connect(f.bob).fill(q, sig, 100n))
        .to.be.revertedWithCustomError(usdt, "NoReturnStablecoinInsufficient")
        .withArgs(f.deskAddress, 0n, 12_346n);
      expect(await f.system.desk.filledOf(hash)).to.equal(333n);
    });
  });
});
