import { expect } from "chai";
import { type ContractTransactionReceipt, type Interface, type Signer } from "ethers";
import { prng } from "../../oracle/simulator/profiles.js";
import { buyerShare, congestionRent, settleSeller, type ZoneState } from "../../src/market/settlement.js";
import { proofFor } from "../../src/tree.js";
import { deployFixture, ethers, INTERVAL, networkHelpers, postRoot } from "../helpers/fixture.js";
import { buy, collateralFor, salt, sell, type Order } from "../helpers/auction.js";

/**
 * Random auctions, deliveries and defaults, settled in random order, one transaction or batch at a time; after
 * every step the escrow's books are checked against the vault and a model (src/market/settlement.ts), at the end
 * against conservation of money and energy. `ESCROW_RUNS` sets the number of auctions (12 locally, 40 under CI).
 */
const RUNS = Number(process.env.ESCROW_RUNS ?? (process.env.CI ? 40 : 12));
const ZONES = [1, 2, 3];
const CAPACITIES_W = [400n, 4_000n, 400_000n]; // 100 Wh, 1,000 Wh and 100 kWh per interval: binding or not
// Clustered (ties at the margin) and off round numbers (prices × Wh / 1000 round).
const LIMITS = [61_300n, 99_700n, 150_100n, 201_900n, 249_300n, 300_700n, 389_900n];

type Trader = Signer & { address: string };
interface Placed {
  trader: Trader;
  order: Order;
  commitment: string;
  collateral: bigint;
  filledWh: bigint;
  price: bigint;
}

/** {deployFixture} with zone 3, eight sellers with a meter each (zones 1–3) and five buyers, all funded. */
async function randomFixture() {
  const f = await deployFixture();
  const { registry, paymentToken: token, auction, escrow, kwh } = f.system;
  await (await registry.setZone(3, 100_000, 100_000)).wait();
  const signers = await ethers.getSigners();
  const sellers = signers.slice(7, 15).map((trader, i) => ({
    trader: trader as Trader,
    meter: ethers.Wallet.createRandom().address,
    zone: ZONES[i % 3],
  }));
  const buyers = signers.slice(15, 20) as Trader[];
  for (const s of sellers) {
    await (
      await registry.registerMeter(s.meter, {
        owner: s.trader.address,
        zone: s.zone,
        technology: 0,
        ratedCapacityW: 40_000n,
        recEligible: false,
        accreditationExpiry: 0n,
      })
    ).wait();
  }
  for (const t of [...sellers.map((s) => s.trader), ...buyers]) {
    await (await token.mint(t.address, 1_000_000_000n)).wait();
    await (await token.connect(t).approve(await auction.getAddress(), ethers.MaxUint256)).wait();
    await (await kwh.connect(t).setApprovalForAll(await escrow.getAddress(), true)).wait();
  }
  return { ...f, sellers, buyers };
}

function eventArgs(receipt: ContractTransactionReceipt | null, contract: { interface: Interface }, name: string) {
  const out = [];
  for (const log of receipt!.logs) {
    try {
      const parsed = contract.interface.parseLog(log);
      if (parsed?.name === name) out.push(parsed.args);
    } catch {
      // another contract's log
    }
  }
  return out;
}

describe("SettlementEscrow random auctions", function () {
  this.timeout(600_000);

  it(`test_settlement_randomAuctions_conserveMoneyAndEnergyAndMatchTheModel (${RUNS} auctions)`, async function () {
    let defaults = 0;
    let partials = 0;
    let congested = 0;
    let rents = 0;
    for (let run = 0; run < RUNS; run++) {
      const f = await networkHelpers.loadFixture(randomFixture);
      const { auction, escrow, kwh, paymentToken: token, registry, oracle } = f.system;
      const rnd = prng(7_919 * (run + 1));
      const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
      const int = (lo: number, hi: number) => BigInt(lo + Math.floor(rnd() * (hi - lo + 1)));
      const vault = await auction.getAddress();
      const escrowAddress = await escrow.getAddress();
      const ctx = `run ${run}`;

      for (const z of ZONES) await (await registry.setZone(z, pick(CAPACITIES_W), pick(CAPACITIES_W))).wait();

      // --- A random book, committed, revealed and cleared ----------------------------------------------------------
      const now = BigInt(await networkHelpers.time.latest());
      const p = await auction.params();
      const intervalId = (now + p.commitWindow + p.revealWindow + p.gateLead + 60n) / INTERVAL + 1n;
      const schedule = await auction.schedule(intervalId);
      await networkHelpers.time.increaseTo(schedule.commitStart);
      const n = Number(int(4, 12));
      const placed: Placed[] = [];
      for (let i = 0; i < n; i++) {
        let trader: Trader;
        let order: Order;
        if (rnd() < 0.5) {
          const s = pick(f.sellers);
          trader = s.trader;
          order = sell(s.zone, int(1, 40) * 100n, pick(LIMITS), s.meter);
        } else {
          trader = pick(f.buyers);
          order = buy(pick(ZONES), int(1, 40) * 100n, pick(LIMITS));
        }
        const collateral = collateralFor(order) + (rnd() < 0.3 ? int(1, 500_000) : 0n);
        const commitment = await auction.commitmentOf(intervalId, trader.address, order, salt(`${run}/${i}`));
        await (await auction.connect(trader).commit(intervalId, commitment, collateral)).wait();
        placed.push({ trader, order, commitment, collateral, filledWh: 0n, price: 0n });
      }
      await networkHelpers.time.increaseTo(schedule.revealStart);
      for (const [i, o] of placed.entries()) {
        await (await auction.connect(o.trader).reveal(intervalId, o.order, salt(`${run}/${i}`))).wait();
      }
      await networkHelpers.time.increaseTo(schedule.gateClosure);
      await (await auction.clear(intervalId)).wait();
      for (const o of placed) [o.filledWh, o.price] = await auction.fillOf(intervalId, o.trader.address, o.commitment);
      const [, ceiling] = await auction.bounds(intervalId);

      const zoneIds = (await auction.zonesOf(intervalId)).map(Number);
      const zones: ZoneState[] = [];
      for (const z of zoneIds) {
        const o = await auction.zoneOutcome(intervalId, z);
        zones.push({
          zone: z,
          price: o.price,
          boughtWh: o.boughtWh,
          netExportWh: o.netExportWh,
          deliveredWh: 0n,
          slashed: 0n,
          collectedWh: 0n,
        });
        if (o.congestion !== 0n) congested++;
        // The outcome is the orders' fills: bought = Σ buyers' fills, sold = bought + net export.
        const fills = (side: number) =>
          placed.filter((q) => q.order.zone === z && q.order.side === side).reduce((s, q) => s + q.filledWh, 0n);
        expect(fills(0), `${ctx}: zone ${z} bought`).to.equal(o.boughtWh);
        expect(fills(1), `${ctx}: zone ${z} sold`).to.equal(o.boughtWh + o.netExportWh);
      }
      const zoneOf = (z: bigint | number) => zones.find((s) => s.zone === Number(z))!;
      const filledSellers = placed.filter((o) => o.order.side === 1 && o.filledWh > 0n);
      const filledBuyers = placed.filter((o) => o.order.side === 0 && o.filledWh > 0n);
      const unfilled = placed.filter((o) => o.filledWh === 0n);

      // --- Books: what is still open in the vault, checked after every step ----------------------------------------
      const open = new Set(placed);
      const collateralIn = placed.reduce((s, o) => s + o.collateral, 0n);
      let paidOut = 0n; // every payment-token unit that left the vault
      let delivered = 0n;
      let received = 0n;
      let rentPaid = false;
      const rent = () => congestionRent(zones);
      /** The vault holds every open order's collateral plus the escrow's residual; once every seller settled, it
       * covers what the escrow still owes: the rest of the buyers' refunds in this order and the unpaid rent. */
      async function checkBooks(step: string, pending: Placed[] | null) {
        const openCollateral = [...open].reduce((s, o) => s + o.collateral, 0n);
        const residual = await escrow.residualOf(intervalId);
        const balance = await token.balanceOf(vault);
        expect(balance, `${ctx} ${step}: vault = open collateral + residual`).to.equal(openCollateral + residual);
        expect(balance, `${ctx} ${step}: vault = collateral in − paid out`).to.equal(collateralIn - paidOut);
        if (pending === null) return;
        const model = zones.map((z) => ({ ...z }));
        let owed = rentPaid ? 0n : congestionRent(model);
        for (const o of pending) {
          const z = model.find((s) => s.zone === o.order.zone)!;
          const share = buyerShare(model, o.order.zone, o.filledWh);
          owed += o.collateral - share.payment + share.compensation;
          z.collectedWh += o.filledWh;
        }
        expect(balance >= owed, `${ctx} ${step}: vault ${balance} covers what is owed ${owed}`).to.equal(true);
      }

      // --- Proof: a root (or none), each seller's meter proving a random part of its fills -------------------------
      const rootPosted = rnd() > 0.15;
      if (rootPosted) {
        await networkHelpers.time.increaseTo((intervalId + 1n) * INTERVAL);
        const exports = f.sellers.map((s) => {
          const sold = filledSellers.filter((o) => o.trader === s.trader).reduce((t, o) => t + o.filledWh, 0n);
          const r = rnd();
          const exportWh = r < 0.2 ? 0n : r < 0.45 ? (sold * int(1, 99)) / 100n : r < 0.8 ? sold : sold + int(1, 900);
          return { meter: s.meter, importWh: 0n, exportWh };
        });
        const tree = await postRoot(f.system, f.relayers, intervalId, exports);
        for (const e of exports.filter((x) => x.exportWh > 0n)) {
          const pr = proofFor(tree, e.meter);
          await (await kwh.claim(pr.meter, intervalId, pr.importWh, pr.exportWh, pr.proof)).wait();
        }
        expect((await oracle.finalRoot(intervalId))[0]).to.equal(tree.root);
      }

      // --- Sellers: deliveries (one by one or batched) before the deadline, defaults after it ---------------------
      const settleSellerTx = async (os: Placed[], deliver: boolean): Promise<void> => {
        const balances = new Map<string, bigint>();
        const expected = [];
        for (const o of os) {
          const id = await kwh.tokenId(o.order.zone, intervalId);
          const key = `${o.trader.address}/${o.order.zone}`;
          const balance = deliver ? (balances.get(key) ?? (await kwh.balanceOf(o.trader.address, id))) : 0n;
          const s = settleSeller({ ...o.order, ...o }, balance, ceiling, BigInt(p.sellerBondBps));
          balances.set(key, balance - s.deliveredWh);
          expected.push(s);
        }
        const short = deliver && expected.some((s, i) => s.deliveredWh < os[i].filledWh);
        if (short && os.length > 1) {
          // A short delivery is the seller's own call: settle the chunk one by one.
          for (const o of os) await settleSellerTx([o], true);
          return;
        }
        const sellers = os.map((o) => o.trader.address);
        const commitments = os.map((o) => o.commitment);
        const tx =
          os.length === 1
            ? deliver
              ? // anyone completes a delivery; only the seller accepts a shortfall
                escrow.connect(short ? os[0].trader : f.deployer).deliver(intervalId, sellers[0], commitments[0])
              : escrow.settleDefault(intervalId, sellers[0], commitments[0])
            : deliver
              ? escrow.deliverBatch(intervalId, sellers, commitments)
              : escrow.settleDefaultBatch(intervalId, sellers, commitments);
        const events = eventArgs(await (await tx).wait(), escrow, "SellerSettled");
        expect(events.length, `${ctx}: one SellerSettled per order`).to.equal(os.length);
        for (const [i, o] of os.entries()) {
          const e = events[i];
          const s = expected[i];
          expect([e.commitment, e.filledWh, e.deliveredWh, e.price], `${ctx}: seller ${i}`).to.deep.equal([
            o.commitment,
            o.filledWh,
            s.deliveredWh,
            o.price,
          ]);
          expect([e.payment, e.slashed, e.bondReturned], `${ctx}: seller ${i} money`).to.deep.equal([
            s.payment,
            s.slashed,
            s.bondReturned,
          ]);
          // No payment without delivery, and the price of exactly what was delivered.
          expect(e.payment, `${ctx}: paid for delivered Wh only`).to.equal((e.deliveredWh * o.price) / 1000n);
          if (s.deliveredWh < o.filledWh) s.deliveredWh === 0n ? defaults++ : partials++;
          const z = zoneOf(o.order.zone);
          z.deliveredWh += s.deliveredWh;
          z.slashed += s.slashed;
          delivered += s.deliveredWh;
          paidOut += s.payment + s.bondReturned;
          open.delete(o);
        }
        await checkBooks(deliver ? "deliver" : "default", null);
      };
      const shuffled = <T>(xs: T[]) =>
        xs
          .map((x) => [rnd(), x] as const)
          .sort((a, b) => a[0] - b[0])
          .map(([, x]) => x);
      const sellersInOrder = shuffled(filledSellers);
      const delivering = rootPosted ? sellersInOrder.filter(() => rnd() < 0.8) : [];
      const defaulting = sellersInOrder.filter((o) => !delivering.includes(o));
      const inChunks = async (os: Placed[], fn: (chunk: Placed[]) => Promise<void>) => {
        for (let i = 0; i < os.length;) {
          const k = rnd() < 0.5 ? 1 : Number(int(2, 4));
          await fn(os.slice(i, i + k));
          i += k;
        }
      };
      await inChunks(delivering, (c) => settleSellerTx(c, true));
      if (defaulting.length > 0 || !rootPosted) await networkHelpers.time.increaseTo(schedule.settlementDeadline);
      await inChunks(defaulting, (c) => settleSellerTx(c, false));
      for (const z of zones) {
        const book = await escrow.zoneBook(intervalId, z.zone);
        expect([book.deliveredWh, book.slashed], `${ctx}: zone ${z.zone} book`).to.deep.equal([
          z.deliveredWh,
          z.slashed,
        ]);
      }
      expect(await escrow.congestionRent(intervalId), `${ctx}: rent`).to.equal(rent());

      // --- Buyers collect in random order (some batched), the rent is paid at a random moment ---------------------
      const buyersInOrder = shuffled(filledBuyers);
      const rentAt = Math.floor(rnd() * (buyersInOrder.length + 1));
      const payRent = async () => {
        const r = rent();
        const before = await token.balanceOf(f.deployer.address); // the grid operator: the treasury, the deployer
        await (await escrow.payRent(intervalId)).wait();
        expect((await token.balanceOf(f.deployer.address)) - before, `${ctx}: rent paid`).to.equal(r);
        if (r > 0n) rents++;
        paidOut += r;
        rentPaid = true;
        await checkBooks("payRent", remaining);
      };
      let remaining = buyersInOrder;
      await checkBooks("sellers settled", remaining);
      for (let i = 0; i < buyersInOrder.length;) {
        if (i >= rentAt && !rentPaid) await payRent();
        const k = Math.min(rnd() < 0.5 ? 1 : Number(int(2, 4)), (i < rentAt ? rentAt : buyersInOrder.length) - i);
        const chunk = buyersInOrder.slice(i, i + k);
        const expected = [];
        // kWh each buyer should gain per token id over the chunk (a buyer may hold several of its orders).
        const gains = new Map<string, { trader: string; id: bigint; before: bigint; wh: bigint }>();
        for (const o of chunk) {
          const s = buyerShare(zones, o.order.zone, o.filledWh);
          zoneOf(o.order.zone).collectedWh += o.filledWh;
          expected.push(s);
          for (const a of s.amounts) {
            const id = await kwh.tokenId(a.zone, intervalId);
            const key = `${o.trader.address}/${id}`;
            const g = gains.get(key) ?? {
              trader: o.trader.address,
              id,
              before: await kwh.balanceOf(o.trader.address, id),
              wh: 0n,
            };
            g.wh += a.wh;
            gains.set(key, g);
          }
        }
        const tx =
          chunk.length === 1
            ? escrow.collect(intervalId, chunk[0].trader.address, chunk[0].commitment)
            : escrow.collectBatch(
                intervalId,
                chunk.map((o) => o.trader.address),
                chunk.map((o) => o.commitment),
              );
        const events = eventArgs(await (await tx).wait(), escrow, "BuyerCollected");
        expect(events.length, `${ctx}: one BuyerCollected per order`).to.equal(chunk.length);
        for (const [j, o] of chunk.entries()) {
          const e = events[j];
          const s = expected[j];
          const refund = o.collateral - s.payment + s.compensation;
          expect([e.commitment, e.filledWh, e.receivedWh, e.price], `${ctx}: buyer ${i + j}`).to.deep.equal([
            o.commitment,
            o.filledWh,
            s.receivedWh,
            o.price,
          ]);
          expect([e.payment, e.compensation, e.refunded], `${ctx}: buyer ${i + j} money`).to.deep.equal([
            s.payment,
            s.compensation,
            refund,
          ]);
          // Never more energy than bought; paid for exactly what was received, rounded up; nothing for nothing.
          expect(s.receivedWh <= o.filledWh, `${ctx}: received within the fill`).to.equal(true);
          expect(e.payment).to.equal((e.receivedWh * o.price + 999n) / 1000n);
          expect(e.payment <= (o.filledWh * o.order.limitPrice + 999n) / 1000n, `${ctx}: within the limit`).to.equal(
            true,
          );
          received += s.receivedWh;
          paidOut += refund;
          open.delete(o);
        }
        for (const g of gains.values()) {
          expect((await kwh.balanceOf(g.trader, g.id)) - g.before, `${ctx}: kWh ${g.id} of ${g.trader}`).to.equal(g.wh);
        }
        i += chunk.length;
        remaining = buyersInOrder.slice(i);
        await checkBooks("collect", remaining);
      }
      if (!rentPaid) await payRent();

      // --- Unfilled orders withdraw in full; the dust is swept; nothing is left ------------------------------------
      for (const o of unfilled) {
        await (await auction.connect(o.trader).withdraw(intervalId, o.commitment)).wait();
        paidOut += o.collateral;
        open.delete(o);
      }
      await checkBooks("withdrawals", null);
      const dust = await escrow.residualOf(intervalId);
      expect(dust >= 0n, `${ctx}: the residual is never negative once everyone settled`).to.equal(true);
      await (await escrow.sweepDust(intervalId)).wait();
      paidOut += dust;
      expect(await token.balanceOf(vault), `${ctx}: vault empty`).to.equal(0n);
      expect(paidOut, `${ctx}: money out = money in`).to.equal(collateralIn);
      expect(received, `${ctx}: every delivered Wh reached a buyer`).to.equal(delivered);
      for (const z of zones) {
        expect(await kwh.balanceOf(escrowAddress, await kwh.tokenId(z.zone, intervalId))).to.equal(0n);
      }
    }
    // The runs exercised what they are meant to.
    expect(defaults + partials, "some shortfalls").to.be.greaterThan(0);
    expect(congested, "some congested zones").to.be.greaterThan(0);
    expect(rents, "some congestion rent").to.be.greaterThan(0);
  });
});
