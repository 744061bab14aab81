import { expect } from "chai";
import { deploySystem, ROLES } from "../../src/deploy.js";
import { deployFixture, ethers, networkHelpers } from "../helpers/fixture.js";

const { loadFixture } = networkHelpers;

describe("Governance wiring", function () {
  it("test_deploy_mapsEveryRestrictedFunctionToItsRole", async function () {
    const f = await loadFixture(deployFixture);
    const gov = f.system.governance;
    const role = async (
      c: { getAddress(): Promise<string>; interface: { getFunction(n: string): { selector: string } | null } },
      fn: string,
    ) => gov.getTargetFunctionRole(await c.getAddress(), c.interface.getFunction(fn)!.selector);
    for (const fn of ["setZone", "registerMeter", "updateMeter", "revokeMeter"])
      expect(await role(f.system.registry, fn)).to.equal(ROLES.REGISTRAR);
    for (const fn of ["addMember", "removeMember", "setThreshold"])
      expect(await role(f.system.oracle, fn)).to.equal(ROLES.ORACLE_ADMIN);
    for (const c of [f.system.oracle, f.system.kwh])
      for (const fn of ["pause", "unpause"]) expect(await role(c, fn)).to.equal(ROLES.PAUSER);
    expect(await role(f.system.kwh, "setSettlementWindow")).to.equal(ROLES.ADMIN);
  });

  it("test_deploy_handsAdminToAnotherAccountWithAnExecutionDelay", async function () {
    const [deployer, r1, , , council] = await ethers.getSigners();
    const { system } = await deploySystem(deployer, "hardhat", {
      relayers: [r1.address],
      threshold: 1,
      admin: council.address,
      adminDelay: 86_400,
    });
    const gov = system.governance;
    expect((await gov.hasRole(ROLES.ADMIN, deployer.address))[0]).to.equal(false);
    const [isMember, delay] = await gov.hasRole(ROLES.ADMIN, council.address);
    expect([isMember, delay]).to.deep.equal([true, 86_400n]);
    // The admin cannot act at once: a delayed power must be scheduled and wait out the delay.
    const call = system.kwh.interface.encodeFunctionData("setSettlementWindow", [60]);
    await expect(system.kwh.connect(council).setSettlementWindow(60)).to.be.revertedWithCustomError(
      gov,
      "AccessManagerNotScheduled",
    );
    await gov.connect(council).schedule(await system.kwh.getAddress(), call, 0);
    await expect(gov.connect(council).execute(await system.kwh.getAddress(), call)).to.be.revertedWithCustomError(
      gov,
      "AccessManagerNotReady",
    );
    await networkHelpers.time.increase(86_400);
    await gov.connect(council).execute(await system.kwh.getAddress(), call);
    expect(await system.kwh.settlementWindow()).to.equal(60n);
  });

  it("test_deploy_rejectsABadCommittee", async function () {
    const [deployer, r1] = await ethers.getSigners();
    const rejection = async (p: Promise<unknown>) =>
      p.then(
        () => "resolved",
        (e: Error) => e.message,
      );
    expect(await rejection(deploySystem(deployer, "hardhat", { relayers: [], threshold: 1 }))).to.equal(
      "at least one relayer is needed for the oracle committee",
    );
    expect(await rejection(deploySystem(deployer, "hardhat", { relayers: [r1.address], threshold: 2 }))).to.equal(
      "threshold 2 must be between 1 and the 1 relayers",
    );
  });
});
