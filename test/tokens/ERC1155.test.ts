import { certificateId, vintageOf } from "../../src/certificates.js";
import { kwhTokenId } from "../../src/intervals.js";
import { proofFor, type IntervalTree } from "../../src/tree.js";
import {
  deployFixture,
  firstAccreditedInterval,
  lastEndedInterval,
  networkHelpers,
  postRoot,
  sampleLeaves,
  INTERVAL,
  type Fixture,
} from "../helpers/fixture.js";
import { shouldBehaveLikeERC1155, type ERC1155Setup } from "./ERC1155.behavior.js";

const { loadFixture } = networkHelpers;

async function claim(f: Fixture, tree: IntervalTree, meter: string) {
  const p = proofFor(tree, meter);
  await (await f.system.kwh.claim(p.meter, p.intervalId, p.importWh, p.exportWh, p.proof)).wait();
}

/**
 * Alice holds kWh tokens of zone 1 for the last two ended intervals: meter 0's 1,200 Wh of the earlier one and
 * meters 0 and 1's 3,100 Wh of the later one. Both intervals are inside their settlement window (it closes an
 * hour after an interval's end), so the tokens are transferable.
 */
async function kwhFixture() {
  const f = await deployFixture();
  const later = await lastEndedInterval();
  const earlier = later - 1n;
  const earlierTree = await postRoot(f.system, f.relayers, earlier, sampleLeaves(f));
  const laterTree = await postRoot(f.system, f.relayers, later, sampleLeaves(f));
  await claim(f, earlierTree, f.meters[0].address);
  await claim(f, laterTree, f.meters[0].address);
  await claim(f, laterTree, f.meters[1].address);
  return {
    f,
    ids: [kwhTokenId(1, earlier), kwhTokenId(1, later)] as [bigint, bigint],
    amounts: [1_200n, 3_100n] as [bigint, bigint],
  };
}

/**
 * Alice holds two certificate classes of her REC-eligible solar meter 0: 1,200 units of its first accredited
 * interval's vintage month and 700 units of the month after (a different vintage, so a different class).
 */
async function recFixture() {
  const f = await deployFixture();
  const meter = f.meters[0].address;
  const first = await firstAccreditedInterval(f);
  await claim(f, await postRoot(f.system, f.relayers, first, sampleLeaves(f)), meter);

  const vintage = vintageOf(first * INTERVAL);
  const nextVintage = vintage % 100 === 12 ? vintage + 89 : vintage + 1;
  const monthStart = BigInt(Date.UTC(Math.floor(nextVintage / 100), (nextVintage % 100) - 1, 1) / 1000);
  const later = monthStart / INTERVAL;
  await networkHelpers.time.increaseTo((later + 1n) * INTERVAL);
  const leaves = sampleLeaves(f);
  leaves[0].exportWh = 700n;
  await claim(f, await postRoot(f.system, f.relayers, later, leaves), meter);

  const ids = [vintage, nextVintage].map((v) => certificateId({ meter, vintage: v, technology: "Solar", zone: 1 })) as [
    bigint,
    bigint,
  ];
  return { f, ids, amounts: [1_200n, 700n] as [bigint, bigint] };
}

shouldBehaveLikeERC1155("KwhToken", async (): Promise<ERC1155Setup> => {
  const { f, ids, amounts } = await loadFixture(kwhFixture);
  return { token: f.system.kwh, holder: f.alice, other: f.bob, operator: f.stranger, ids, amounts };
});

shouldBehaveLikeERC1155("RecToken", async (): Promise<ERC1155Setup> => {
  const { f, ids, amounts } = await loadFixture(recFixture);
  return { token: f.system.rec, holder: f.alice, other: f.bob, operator: f.stranger, ids, amounts };
});
