import { expect } from "chai";
import { proofFor } from "../../src/tree.js";
import { buy, sell } from "../helpers/auction.js";
import { networkHelpers, postRoot, INTERVAL } from "../helpers/fixture.js";
import { clearedAuction, systemFixture } from "./helpers.js";

/*
 * Regression tests of fixed findings (SECURITY.md, "Findings"): each states the property the finding broke.
 */

const { loadFixture, time } = networkHelpers;

describe("adversarial: fixed findings", function () {
  // F-1. Delivery is one-shot and sellers give the escrow a standing `setApprovalForAll`, so a third party could
  // settle a seller right after the root became final and before the seller claimed its export: the escrow found a
  // zero balance and slashed the bond to the zone's buyers (a buyer front-running its sellers pocketed their bonds).
  // Fixed: anyone may complete a delivery, only the seller accept a shortfall before the deadline.
  it("test_finding_deliverFrontRun_aThirdPartyCannotSlashASellerBeforeItClaimedItsExport", async function () {
    const f = await loadFixture(systemFixture); // every trader approved the escrow for its kWh (a standing approval)
    const { escrow, kwh, paymentToken: token } = f.system;
    const a = await clearedAuction(
      f.system,
      [
        [f.alice, sell(1, 1_000n, 100_000n, f.meters[0].address)],
        [f.stranger, buy(1, 1_000n, 300_000n)],
      ],
      "front-run",
    );
    const [seller, attacker] = a.placed;
    await time.increaseTo((a.intervalId + 1n) * INTERVAL);
    // The root that proves alice's 1,200 Wh becomes final; she has not claimed yet.
    const tree = await postRoot(f.system, f.relayers, a.intervalId, [
      { meter: f.meters[0].address, importWh: 0n, exportWh: 1_200n },
    ]);
    const aliceBefore = await token.balanceOf(f.alice.address);

    // The attacker (the zone's only buyer) tries to settle alice short, alone or in a batch.
    await expect(escrow.connect(f.stranger).deliver(a.intervalId, f.alice.address, seller.commitment))
      .to.be.revertedWithCustomError(escrow, "EscrowShortDeliveryNotBySeller")
      .withArgs(a.intervalId, f.alice.address, 0n, 1_000n);
    await expect(escrow.connect(f.stranger).deliverBatch(a.intervalId, [f.alice.address], [seller.commitment]))
      .to.be.revertedWithCustomError(escrow, "EscrowShortDeliveryNotBySeller")
      .withArgs(a.intervalId, f.alice.address, 0n, 1_000n);

    // Once she claimed, anyone may complete her delivery: she is paid in full and keeps her bond.
    const p = proofFor(tree, f.meters[0].address);
    await (await kwh.claim(p.meter, a.intervalId, p.importWh, p.exportWh, p.proof)).wait();
    await (await escrow.connect(f.stranger).deliver(a.intervalId, f.alice.address, seller.commitment)).wait();
    const price = 200_000n;
    expect((await token.balanceOf(f.alice.address)) - aliceBefore).to.equal(
      (1_000n * price) / 1000n + seller.collateral,
    );
    expect(await kwh.balanceOf(f.alice.address, await kwh.tokenId(1, a.intervalId))).to.equal(200n);
    await (await escrow.connect(f.stranger).collect(a.intervalId, f.stranger.address, attacker.commitment)).wait();
    expect(await kwh.balanceOf(f.stranger.address, await kwh.tokenId(1, a.intervalId))).to.equal(1_000n);
  });
});
