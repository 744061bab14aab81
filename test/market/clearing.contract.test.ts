import { expect } from "chai";
import { network } from "hardhat";
import { ZonalClearingHarness__factory, type ZonalClearingHarness } from "../../types/ethers-contracts/index.js";
import { clearBook } from "../../src/market/clearing.js";
import { levelBook } from "../../src/market/levels.js";
import { randomBook } from "../../src/market/randomBook.js";
import type { Book, Congestion } from "../../src/market/types.js";

const { ethers } = await network.create();
const BOOKS = Number(process.env.CLEARING_BOOKS ?? 1000);
const CONGESTION: Congestion[] = ["none", "export", "import"];

/** Each order's fill the way BatchAuction.fillOf computes it from the zone outcomes (reveal order = book order). */
function onChainFills(
  book: Book,
  outcomes: Map<number, { price: bigint; sellAt: bigint; sellFilled: bigint; buyAt: bigint; buyFilled: bigint }>,
) {
  const cum = new Map<string, bigint>();
  return book.orders.map((o) => {
    const z = outcomes.get(o.zone)!;
    const key = `${o.zone}:${o.side}:${o.limitPrice}`;
    const before = cum.get(key) ?? 0n;
    cum.set(key, before + o.quantityWh);
    const sell = o.side === "sell";
    if (sell ? o.limitPrice < z.price : o.limitPrice > z.price) return o.quantityWh;
    if (o.limitPrice !== z.price) return 0n;
    const total = sell ? z.sellAt : z.buyAt;
    const filled = sell ? z.sellFilled : z.buyFilled;
    return ((before + o.quantityWh) * filled) / total - (before * filled) / total;
  });
}

describe("ZonalClearing (Solidity) against the TypeScript reference", function () {
  this.timeout(600_000);
  let harness: ZonalClearingHarness;

  before(async function () {
    const [deployer] = await ethers.getSigners();
    harness = await new ZonalClearingHarness__factory(deployer).deploy();
    await harness.waitForDeployment();
  });

  it(`test_clear_equalsClearBook_onRandomBooks (${BOOKS} books)`, async function () {
    let congestedZones = 0;
    let trades = 0;
    for (let seed = 1; seed <= BOOKS; seed++) {
      const book = randomBook(seed);
      const ref = clearBook(book);
      const { zones, levels } = levelBook(book);
      const [systemPrice, outcomes, tradedWh, rent] = await harness.clear.staticCall(levels, book.floor, book.ceiling);
      const where = `book ${seed}`;
      expect(systemPrice, `${where}: system price`).to.equal(ref.systemPrice);
      expect(tradedWh, `${where}: traded`).to.equal(ref.tradedWh);
      expect(rent, `${where}: congestion rent`).to.equal(ref.congestionRent);
      const byZone = new Map<
        number,
        { price: bigint; sellAt: bigint; sellFilled: bigint; buyAt: bigint; buyFilled: bigint }
      >();
      zones.forEach((zone, i) => {
        const o = outcomes[i];
        const z = { zone };
        const r = ref.zones.find((x) => x.zone === zone)!;
        expect(o.price, `${where} zone ${z.zone}: price`).to.equal(r.price);
        expect(o.netExportWh, `${where} zone ${z.zone}: net export`).to.equal(r.netExportWh);
        expect(CONGESTION[Number(o.congestion)], `${where} zone ${z.zone}: congestion`).to.equal(r.congestion);
        expect(
          [o.sellAtPriceWh, o.sellAtPriceFilledWh, o.buyAtPriceWh, o.buyAtPriceFilledWh],
          `${where} zone ${z.zone}: at-price fills`,
        ).to.deep.equal([r.atPrice.sellWh, r.atPrice.sellFilledWh, r.atPrice.buyWh, r.atPrice.buyFilledWh]);
        if (r.congestion !== "none") congestedZones++;
        byZone.set(z.zone, {
          price: o.price,
          sellAt: o.sellAtPriceWh,
          sellFilled: o.sellAtPriceFilledWh,
          buyAt: o.buyAtPriceWh,
          buyFilled: o.buyAtPriceFilledWh,
        });
      });
      expect(onChainFills(book, byZone), `${where}: fills`).to.deep.equal(ref.fills.map((f) => f.filledWh));
      if (ref.tradedWh > 0n) trades++;
    }
    // The books exercise what they are for: trades and congestion in a good share of them.
    expect(trades).to.be.greaterThan(BOOKS / 3);
    expect(congestedZones).to.be.greaterThan(BOOKS / 10);
  });
});
