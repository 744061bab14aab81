import { expect } from "chai";
import { artifacts } from "hardhat";
import { ZeroAddress, type BaseContract, type Interface, type ParamType } from "ethers";
import { ROLES, type System } from "../../src/deploy.js";
import { certificateId, vintageOf } from "../../src/certificates.js";
import { dealDomain, hashQuote, type Quote } from "../../src/ops/deals.js";
import { readBuildInfo, readCompilation } from "../../src/verification.js";
import { buy, sell } from "../helpers/auction.js";
import { ethers, networkHelpers, INTERVAL } from "../helpers/fixture.js";
import { deploySystem } from "../../src/deploy.js";
import { clearedAuction, proveAndClaim, systemFixture, type Account } from "./helpers.js";

/*
 * Unauthorised calls to every restricted function. The catalogue below classifies every state-changing function of
 * every contract a deployment creates; the tests check it against the ABIs (a new function fails the catalogue until
 * it is classified) and against the compiled source (every function carrying AccessManaged's `restricted` modifier,
 * AccessManager's `onlyAuthorized` or the RecToken's `onlyIssuer` is catalogued as such), then call each gated one as
 * a stranger and expect the exact error. Role wiring: contracts/governance/Roles.sol, src/deploy.ts.
 */

const { loadFixture } = networkHelpers;

/** The system's contracts by their deployment key, with their fully qualified names. */
const CONTRACTS = {
  Governance: "contracts/governance/Governance.sol:Governance",
  MeterRegistry: "contracts/registry/MeterRegistry.sol:MeterRegistry",
  ReadingOracle: "contracts/oracle/ReadingOracle.sol:ReadingOracle",
  KwhToken: "contracts/tokens/KwhToken.sol:KwhToken",
  RecToken: "contracts/tokens/RecToken.sol:RecToken",
  BatchAuction: "contracts/market/BatchAuction.sol:BatchAuction",
  SettlementEscrow: "contracts/market/SettlementEscrow.sol:SettlementEscrow",
  DealDesk: "contracts/market/DealDesk.sol:DealDesk",
} as const;
type Name = keyof typeof CONTRACTS;
// Not catalogued: MockStablecoin and the PriceFeedMock feeds, which `deploy` creates only on local networks (open
// minting and answers by design); real deployments pass a stablecoin and Chainlink feeds (--payment-token, --*-feed).

/** How a function is gated. */
type Gate =
  /** AccessManaged `restricted`, mapped to `role` in the Governance manager: `AccessManagedUnauthorized(caller)`. */
  | { kind: "restricted"; role: bigint }
  /** AccessManager `onlyAuthorized`: `AccessManagerUnauthorizedAccount(caller, role)`. */
  | { kind: "manager"; role: bigint }
  /** The contract's own check: `error(args)` for a stranger (see `ownGates`). */
  | { kind: "own"; error: string }
  /** Anyone may call it: what it does is bounded to the caller's own assets or pays the parties named. */
  | { kind: "open"; why: string };

const R = (role: bigint): Gate => ({ kind: "restricted", role });
const M = (role: bigint = ROLES.ADMIN): Gate => ({ kind: "manager", role });
const OWN = (error: string): Gate => ({ kind: "own", error });
const OPEN = (why: string): Gate => ({ kind: "open", why });
const AUTHORITY = OWN("AccessManagedUnauthorized"); // AccessManaged.setAuthority: only the current manager

const CATALOGUE: Record<Name, Record<string, Gate>> = {
  Governance: {
    "grantRole(uint64,address,uint32)": M(),
    "revokeRole(uint64,address)": M(),
    "labelRole(uint64,string)": M(),
    "setRoleAdmin(uint64,uint64)": M(),
    "setRoleGuardian(uint64,uint64)": M(),
    "setGrantDelay(uint64,uint32)": M(),
    "setTargetAdminDelay(address,uint32)": M(),
    "setTargetClosed(address,bool)": M(),
    "setTargetFunctionRole(address,bytes4[],uint64)": M(),
    "updateAuthority(address,address)": M(),
    "multicall(bytes[])": OPEN("delegatecalls itself: each inner call is checked for the original sender"),
    "schedule(address,bytes,uint48)": OWN("AccessManagerUnauthorizedCall"),
    "execute(address,bytes)": OWN("AccessManagerUnauthorizedCall"),
    "cancel(address,address,bytes)": OWN("AccessManagerNotScheduled"),
    "consumeScheduledOp(address,bytes)": OWN("(no reason: the caller is not a managed contract)"),
    "renounceRole(uint64,address)": OWN("AccessManagerBadConfirmation"),
  },
  MeterRegistry: {
    "setZone(uint32,uint64,uint64)": R(ROLES.REGISTRAR),
    "registerMeter(address,(address,uint32,uint8,uint64,bool,uint64))": R(ROLES.REGISTRAR),
    "updateMeter(address,(address,uint32,uint8,uint64,bool,uint64))": R(ROLES.REGISTRAR),
    "revokeMeter(address)": R(ROLES.REGISTRAR),
    "revokeAccreditation(address,uint64)": R(ROLES.ISSUER),
    "setAuthority(address)": AUTHORITY,
  },
  ReadingOracle: {
    "addMember(address)": R(ROLES.ORACLE_ADMIN),
    "removeMember(address)": R(ROLES.ORACLE_ADMIN),
    "setThreshold(uint8)": R(ROLES.ORACLE_ADMIN),
    "pause()": R(ROLES.PAUSER),
    "unpause()": R(ROLES.PAUSER),
    "submitRoot(uint64,bytes32,uint32,uint64,uint64)": OWN("ReadingOracleNotMember"),
    "setAuthority(address)": AUTHORITY,
  },
  KwhToken: {
    "setSettlementWindow(uint64)": R(ROLES.ADMIN),
    "setSettlementEscrow(address)": R(ROLES.ADMIN),
    "pause()": R(ROLES.PAUSER),
    "unpause()": R(ROLES.PAUSER),
    "setAuthority(address)": AUTHORITY,
    "burn(address,uint256,uint256)": OWN("ERC1155MissingApprovalForAll"),
    "burnBatch(address,uint256[],uint256[])": OWN("ERC1155MissingApprovalForAll"),
    "safeTransferFrom(address,address,uint256,uint256,bytes)": OWN("ERC1155MissingApprovalForAll"),
    "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)": OWN("ERC1155MissingApprovalForAll"),
    "setApprovalForAll(address,bool)": OPEN("sets the caller's own approval"),
    "claim(address,uint64,uint64,uint64,bytes32[])": OPEN("permissionless: mints a proven leaf to the meter's owner"),
    "claimMany((address,uint64,uint64,uint64,bytes32[])[])": OPEN("permissionless: as claim"),
    "claimInterval(uint64,(address,uint64,uint64)[],bytes32[],bool[])": OPEN("permissionless: as claim"),
  },
  RecToken: {
    "pause()": R(ROLES.PAUSER),
    "unpause()": R(ROLES.PAUSER),
    "setAuthority(address)": AUTHORITY,
    "issue(address,address,uint64,uint32,uint8,uint256)": OWN("RecTokenUnauthorizedIssuer"),
    "safeTransferFrom(address,address,uint256,uint256,bytes)": OWN("ERC1155MissingApprovalForAll"),
    "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)": OWN("ERC1155MissingApprovalForAll"),
    "retireFrom(address,uint256,uint256,address,bytes)": OWN("ERC1155MissingApprovalForAll"),
    "retireBatchFrom(address,uint256[],uint256[],address,bytes)": OWN("ERC1155MissingApprovalForAll"),
    "retire(uint256,uint256,address,bytes)": OPEN("burns the caller's own units"),
    "retireBatch(uint256[],uint256[],address,bytes)": OPEN("burns the caller's own units"),
    "setApprovalForAll(address,bool)": OPEN("sets the caller's own approval"),
  },
  BatchAuction: {
    "settleOrder(uint64,address,bytes32)": OWN("BatchAuctionNotSettlement"),
    "withdraw(uint64,bytes32)": OWN("BatchAuctionUnknownCommitment"),
    "commit(uint64,bytes32,uint256)": OPEN("locks the caller's own collateral"),
    "commitWithPermit(uint64,bytes32,uint256,uint256,uint8,bytes32,bytes32)": OPEN("the caller's own permit"),
    "reveal(uint64,(uint8,uint32,uint64,uint64,address),bytes32)": OPEN("opens the caller's own commitment"),
    "open(uint64)": OPEN("anyone fixes the day's bounds from the feeds in the commit or reveal phase, once"),
    "clear(uint64)": OPEN("anyone clears after gate closure, once"),
  },
  SettlementEscrow: {
    "pause()": R(ROLES.PAUSER),
    "unpause()": R(ROLES.PAUSER),
    "setAuthority(address)": AUTHORITY,
    "collectTo(uint64,bytes32,address)": OWN("BatchAuctionNotFilled"),
    "deliver(uint64,address,bytes32)": OPEN("anyone settles a seller: paid to the seller"),
    "deliverBatch(uint64,address[],bytes32[])": OPEN("as deliver"),
    "settleDefault(uint64,address,bytes32)": OPEN("anyone, after the deadline: paid to the seller"),
    "settleDefaultBatch(uint64,address[],bytes32[])": OPEN("as settleDefault"),
    "collect(uint64,address,bytes32)": OPEN("anyone collects for a buyer: everything goes to the buyer"),
    "collectBatch(uint64,address[],bytes32[])": OPEN("as collect"),
    "payRent(uint64)": OPEN("pays the grid operator fixed at deployment"),
    "sweepDust(uint64)": OPEN("pays the dust account fixed at deployment"),
    "onERC1155Received(address,address,uint256,uint256,bytes)": OPEN("ERC1155Holder: returns the selector"),
    "onERC1155BatchReceived(address,address,uint256[],uint256[],bytes)": OPEN("ERC1155Holder: returns the selector"),
  },
  DealDesk: {
    "pause()": R(ROLES.PAUSER),
    "unpause()": R(ROLES.PAUSER),
    "setAuthority(address)": AUTHORITY,
    "cancel((address,address,uint256,uint256,address,uint256,uint64,uint256,bool))": OWN("DealDeskNotMaker"),
    "fill((address,address,uint256,uint256,address,uint256,uint64,uint256,bool),bytes,uint256)": OPEN(
      "the taker pays for units on the maker's signed terms",
    ),
    "invalidateNoncesBelow(uint256)": OPEN("raises the caller's own nonce floor"),
  },
};

function contractOf(system: System, name: Name): BaseContract & { interface: Interface } {
  const key = {
    Governance: "governance",
    MeterRegistry: "registry",
    ReadingOracle: "oracle",
    KwhToken: "kwh",
    RecToken: "rec",
    BatchAuction: "auction",
    SettlementEscrow: "escrow",
    DealDesk: "desk",
  } as const;
  return system[key[name]] as never;
}

/** Zero-like arguments of an ABI parameter (gates are checked before any argument is looked at). */
function zeroOf(p: ParamType): unknown {
  if (p.baseType === "array") return [];
  if (p.baseType === "tuple") return p.components!.map(zeroOf);
  if (p.baseType === "address") return ZeroAddress;
  if (p.baseType === "bool") return false;
  if (p.baseType === "string") return "";
  if (p.baseType === "bytes") return "0x";
  if (p.baseType.startsWith("bytes")) return ethers.zeroPadValue("0x", Number(p.baseType.slice(5)));
  return 0n;
}

function writes(iface: Interface): string[] {
  const out: string[] = [];
  iface.forEachFunction((fn) => {
    if (fn.stateMutability !== "view" && fn.stateMutability !== "pure") out.push(fn.format("sighash"));
  });
  return out.sort();
}

interface AstNode {
  id: number;
  nodeType: string;
  name?: string;
  nodes?: AstNode[];
  linearizedBaseContracts?: number[];
  functionSelector?: string;
  modifiers?: { modifierName: { name: string } }[];
}

/** Selectors of `fqn`'s functions (its own or inherited, most derived definition) that carry modifier `name`. */
async function selectorsWithModifier(fqn: string, name: string): Promise<Set<string>> {
  const c = await readCompilation(artifacts, fqn);
  const { output } = await readBuildInfo(artifacts, c.buildInfoId);
  const contracts = new Map<number, AstNode>();
  const index = (n: AstNode) => {
    if (n.nodeType === "ContractDefinition") contracts.set(n.id, n);
    for (const child of n.nodes ?? []) index(child);
  };
  for (const { ast } of Object.values(output.sources)) index(ast as AstNode);
  const root = ((output.sources[c.inputSourceName].ast as AstNode).nodes ?? []).find(
    (n) => n.nodeType === "ContractDefinition" && n.name === fqn.split(":")[1],
  )!;
  const seen = new Set<string>();
  const found = new Set<string>();
  for (const id of root.linearizedBaseContracts!) {
    for (const fn of contracts.get(id)!.nodes ?? []) {
      if (fn.nodeType !== "FunctionDefinition" || fn.functionSelector === undefined || seen.has(fn.functionSelector))
        continue;
      seen.add(fn.functionSelector);
      if (fn.modifiers?.some((m) => m.modifierName.name === name)) found.add(`0x${fn.functionSelector}`);
    }
  }
  return found;
}

/** A cleared auction (alice sells 1,000 Wh from meter 0, bob buys it), its interval proven and alice's export claimed. */
async function accessFixture() {
  const f = await systemFixture();
  const a = await clearedAuction(
    f.system,
    [
      [f.alice, sell(1, 1_000n, 100_000n, f.meters[0].address)],
      [f.bob, buy(1, 1_000n, 300_000n)],
    ],
    "access",
  );
  await proveAndClaim(f, a.intervalId, [[0, 1_200n]]);
  const kwhId = await f.system.kwh.tokenId(1, a.intervalId);
  const recId = certificateId({
    meter: f.meters[0].address,
    vintage: vintageOf(a.intervalId * INTERVAL),
    technology: "Solar",
    zone: 1,
  });
  return { ...f, ...a, kwhId, recId, sellC: a.placed[0].commitment, buyC: a.placed[1].commitment };
}

describe("adversarial: unauthorised calls to every restricted function", function () {
  it("test_unauthorised_catalogueClassifiesEveryStateChangingFunctionOfEveryContract", async function () {
    const f = await loadFixture(systemFixture);
    for (const name of Object.keys(CONTRACTS) as Name[]) {
      expect(
        writes(contractOf(f.system, name).interface),
        `${name}: classify new functions in CATALOGUE`,
      ).to.deep.equal(Object.keys(CATALOGUE[name]).sort());
    }
  });

  it("test_unauthorised_everyGateModifierInTheSourceIsCatalogued", async function () {
    const f = await loadFixture(systemFixture);
    for (const [name, fqn] of Object.entries(CONTRACTS) as [Name, string][]) {
      const iface = contractOf(f.system, name).interface;
      const catalogued = (kind: Gate["kind"], error?: string) =>
        new Set(
          Object.entries(CATALOGUE[name])
            .filter(([, g]) => g.kind === kind && (error === undefined || (g.kind === "own" && g.error === error)))
            .map(([sig]) => iface.getFunction(sig)!.selector),
        );
      expect(await selectorsWithModifier(fqn, "restricted"), `${name}: restricted`).to.deep.equal(
        catalogued("restricted"),
      );
      const manager = await selectorsWithModifier(fqn, "onlyAuthorized");
      expect(manager, `${name}: onlyAuthorized`).to.deep.equal(catalogued("manager"));
      const issuer = await selectorsWithModifier(fqn, "onlyIssuer");
      expect(issuer, `${name}: onlyIssuer`).to.deep.equal(
        name === "RecToken" ? catalogued("own", "RecTokenUnauthorizedIssuer") : new Set(),
      );
    }
  });

  it("test_unauthorised_strangerIsRefusedByEveryRestrictedFunctionMappedToItsDocumentedRole", async function () {
    const f = await loadFixture(systemFixture);
    const gov = f.system.governance;
    for (const role of Object.values(ROLES)) expect((await gov.hasRole(role, f.stranger.address))[0]).to.equal(false);
    let checked = 0;
    for (const name of Object.keys(CONTRACTS) as Name[]) {
      const contract = contractOf(f.system, name);
      const target = await contract.getAddress();
      for (const [sig, gate] of Object.entries(CATALOGUE[name])) {
        if (gate.kind !== "restricted") continue;
        const fn = contract.interface.getFunction(sig)!;
        expect(await gov.getTargetFunctionRole(target, fn.selector), `${name}.${sig} role`).to.equal(gate.role);
        const call = contract.connect(f.stranger).getFunction(sig);
        await expect(call(...fn.inputs.map(zeroOf)), `${name}.${sig}`)
          .to.be.revertedWithCustomError(contract, "AccessManagedUnauthorized")
          .withArgs(f.stranger.address);
        checked++;
      }
    }
    expect(checked).to.equal(20);
  });

  it("test_unauthorised_strangerIsRefusedByEveryGovernanceAdminFunction", async function () {
    const f = await loadFixture(systemFixture);
    const gov = f.system.governance.connect(f.stranger);
    const kwh = await f.system.kwh.getAddress();
    const args: Record<string, unknown[]> = {
      "grantRole(uint64,address,uint32)": [ROLES.PAUSER, f.stranger.address, 0],
      "revokeRole(uint64,address)": [ROLES.PAUSER, f.deployer.address],
      "labelRole(uint64,string)": [ROLES.PAUSER, "mine"],
      "setRoleAdmin(uint64,uint64)": [ROLES.PAUSER, ROLES.PAUSER],
      "setRoleGuardian(uint64,uint64)": [ROLES.ADMIN, ROLES.PAUSER],
      "setGrantDelay(uint64,uint32)": [ROLES.PAUSER, 0],
      "setTargetAdminDelay(address,uint32)": [kwh, 0],
      "setTargetClosed(address,bool)": [kwh, true],
      "setTargetFunctionRole(address,bytes4[],uint64)": [kwh, ["0x8456cb59"], 2n ** 64n - 1n],
      "updateAuthority(address,address)": [kwh, f.stranger.address],
    };
    for (const [sig, gate] of Object.entries(CATALOGUE.Governance)) {
      if (gate.kind !== "manager") continue;
      await expect(gov.getFunction(sig)(...args[sig]), sig)
        .to.be.revertedWithCustomError(gov, "AccessManagerUnauthorizedAccount")
        .withArgs(f.stranger.address, gate.role);
    }
    // Batched through multicall, each call is still checked for the stranger.
    const grant = gov.interface.encodeFunctionData("grantRole", [ROLES.ADMIN, f.stranger.address, 0]);
    await expect(gov.multicall([grant]))
      .to.be.revertedWithCustomError(gov, "AccessManagerUnauthorizedAccount")
      .withArgs(f.stranger.address, ROLES.ADMIN);
    // Scheduling or executing a restricted call the stranger may not make; renouncing someone else's role.
    const data = f.system.kwh.interface.encodeFunctionData("setSettlementWindow", [1]);
    const selector = data.slice(0, 10);
    await expect(gov.schedule(kwh, data, 0))
      .to.be.revertedWithCustomError(gov, "AccessManagerUnauthorizedCall")
      .withArgs(f.stranger.address, kwh, selector);
    await expect(gov.execute(kwh, data))
      .to.be.revertedWithCustomError(gov, "AccessManagerUnauthorizedCall")
      .withArgs(f.stranger.address, kwh, selector);
    await expect(gov.renounceRole(ROLES.ADMIN, f.deployer.address)).to.be.revertedWithCustomError(
      gov,
      "AccessManagerBadConfirmation",
    );
    await expect(gov.cancel(f.deployer.address, kwh, data))
      .to.be.revertedWithCustomError(gov, "AccessManagerNotScheduled")
      .withArgs(await gov.hashOperation(f.deployer.address, kwh, data));
    await expect(gov.consumeScheduledOp(f.stranger.address, data)).to.be.revertedWithoutReason(ethers);
    expect((await f.system.governance.hasRole(ROLES.ADMIN, f.deployer.address))[0]).to.equal(true);
    expect((await f.system.governance.hasRole(ROLES.PAUSER, f.stranger.address))[0]).to.equal(false);
  });

  it("test_unauthorised_strangerCannotCancelOrRunTheDelayedAdminsScheduledOperation", async function () {
    // Production: ADMIN held by a council with an execution delay; its operations wait in the manager's schedule.
    const [deployer, r1, , , council, , stranger] = await ethers.getSigners();
    const { system } = await deploySystem(deployer, "hardhat", {
      relayers: [r1.address],
      threshold: 1,
      admin: council.address,
      adminDelay: 86_400,
    });
    const gov = system.governance;
    const kwh = await system.kwh.getAddress();
    const data = system.kwh.interface.encodeFunctionData("setSettlementWindow", [60]);
    await (await gov.connect(council).schedule(kwh, data, 0)).wait();
    await expect(gov.connect(stranger).cancel(council.address, kwh, data))
      .to.be.revertedWithCustomError(gov, "AccessManagerUnauthorizedCancel")
      .withArgs(stranger.address, council.address, kwh, data.slice(0, 10));
    await networkHelpers.time.increase(86_400);
    await expect(gov.connect(stranger).execute(kwh, data))
      .to.be.revertedWithCustomError(gov, "AccessManagerUnauthorizedCall")
      .withArgs(stranger.address, kwh, data.slice(0, 10));
    // Calling the target directly does not consume the council's schedule either.
    await expect(system.kwh.connect(stranger).setSettlementWindow(60))
      .to.be.revertedWithCustomError(system.kwh, "AccessManagedUnauthorized")
      .withArgs(stranger.address);
    await (await gov.connect(council).execute(kwh, data)).wait();
    expect(await system.kwh.settlementWindow()).to.equal(60n);
  });

  it("test_unauthorised_everyOwnGateRefusesAStrangerWithItsError", async function () {
    const f = await loadFixture(accessFixture);
    const { kwh, rec, auction, escrow, oracle, desk } = f.system;
    const s = f.stranger;
    expect(await rec.balanceOf(f.alice.address, f.recId)).to.equal(1_200n);
    const missing = (c: BaseContract & { interface: Interface }, p: Promise<unknown>) =>
      expect(p).to.be.revertedWithCustomError(c, "ERC1155MissingApprovalForAll").withArgs(s.address, f.alice.address);
    await missing(kwh, kwh.connect(s).burn(f.alice.address, f.kwhId, 1n));
    await missing(kwh, kwh.connect(s).burnBatch(f.alice.address, [f.kwhId], [1n]));
    await missing(kwh, kwh.connect(s).safeTransferFrom(f.alice.address, s.address, f.kwhId, 1n, "0x"));
    await missing(kwh, kwh.connect(s).safeBatchTransferFrom(f.alice.address, s.address, [f.kwhId], [1n], "0x"));
    await missing(rec, rec.connect(s).safeTransferFrom(f.alice.address, s.address, f.recId, 1n, "0x"));
    await missing(rec, rec.connect(s).safeBatchTransferFrom(f.alice.address, s.address, [f.recId], [1n], "0x"));
    await missing(rec, rec.connect(s).retireFrom(f.alice.address, f.recId, 1n, s.address, "0x"));
    await missing(rec, rec.connect(s).retireBatchFrom(f.alice.address, [f.recId], [1n], s.address, "0x"));
    await expect(rec.connect(s).issue(s.address, f.meters[0].address, f.intervalId, 1, 0, 1_000_000n))
      .to.be.revertedWithCustomError(rec, "RecTokenUnauthorizedIssuer")
      .withArgs(s.address);
    await expect(auction.connect(s).settleOrder(f.intervalId, f.bob.address, f.buyC))
      .to.be.revertedWithCustomError(auction, "BatchAuctionNotSettlement")
      .withArgs(s.address);
    await expect(auction.connect(s).withdraw(f.intervalId, f.buyC))
      .to.be.revertedWithCustomError(auction, "BatchAuctionUnknownCommitment")
      .withArgs(f.intervalId, f.buyC);
    await expect(oracle.connect(s).submitRoot(f.intervalId + 1n, ethers.id("mine"), 1, 0n, 1n))
      .to.be.revertedWithCustomError(oracle, "ReadingOracleNotMember")
      .withArgs(s.address);
    await (await escrow.deliver(f.intervalId, f.alice.address, f.sellC)).wait();
    await expect(escrow.connect(s).collectTo(f.intervalId, f.buyC, s.address))
      .to.be.revertedWithCustomError(auction, "BatchAuctionNotFilled")
      .withArgs(f.intervalId, f.buyC);
    const q: Quote = {
      maker: f.alice.address,
      token: await kwh.getAddress(),
      id: f.kwhId,
      amount: 100n,
      paymentToken: await f.system.paymentToken.getAddress(),
      price: 1n,
      expiry: 2n ** 63n,
      nonce: 0n,
      allowPartial: false,
    };
    const domain = dealDomain(f.chainId, await desk.getAddress());
    await expect(desk.connect(s).cancel(q))
      .to.be.revertedWithCustomError(desk, "DealDeskNotMaker")
      .withArgs(hashQuote(domain, q), f.alice.address, s.address);
    // setAuthority: only the current manager, not even its admin directly.
    for (const name of [
      "MeterRegistry",
      "ReadingOracle",
      "KwhToken",
      "RecToken",
      "SettlementEscrow",
      "DealDesk",
    ] as Name[]) {
      const c = contractOf(f.system, name);
      for (const caller of [s, f.deployer as Account]) {
        await expect((c.connect(caller) as typeof c).getFunction("setAuthority")(caller.address), name)
          .to.be.revertedWithCustomError(c, "AccessManagedUnauthorized")
          .withArgs(caller.address);
      }
    }
  });

  it("test_unauthorised_openSettlementCallsByAStrangerPayOnlyTheParties", async function () {
    const f = await loadFixture(accessFixture);
    const { escrow, kwh, paymentToken: token } = f.system;
    const s = f.stranger;
    const strangerBefore = [await token.balanceOf(s.address), await kwh.balanceOf(s.address, f.kwhId)];
    const aliceBefore = await token.balanceOf(f.alice.address);
    const bobBefore = await token.balanceOf(f.bob.address);
    await (await escrow.connect(s).deliver(f.intervalId, f.alice.address, f.sellC)).wait();
    await (await escrow.connect(s).collect(f.intervalId, f.bob.address, f.buyC)).wait();
    await (await escrow.connect(s).payRent(f.intervalId)).wait();
    await (await escrow.connect(s).sweepDust(f.intervalId)).wait();
    // Price 0.20: alice is paid 200,000 plus her bond back; bob pays 200,000 of his collateral and gets 1,000 Wh.
    expect((await token.balanceOf(f.alice.address)) - aliceBefore).to.equal(200_000n + f.placed[0].collateral);
    expect((await token.balanceOf(f.bob.address)) - bobBefore).to.equal(f.placed[1].collateral - 200_000n);
    expect(await kwh.balanceOf(f.bob.address, f.kwhId)).to.equal(1_000n);
    expect([await token.balanceOf(s.address), await kwh.balanceOf(s.address, f.kwhId)]).to.deep.equal(strangerBefore);
  });

  it("test_unauthorised_governanceHoldingEveryRoleStillCannotMoveAUsersTokensOrMoney", async function () {
    // The deployer holds ADMIN, REGISTRAR, ORACLE_ADMIN, PAUSER and ISSUER here: none of them moves alice's units,
    // certificates or collateral — even after naming itself the kWh token's settlement escrow.
    const f = await loadFixture(accessFixture);
    const { kwh, rec, auction } = f.system;
    const admin = f.deployer as Account;
    await (await kwh.connect(admin).setSettlementEscrow(admin.address)).wait();
    await expect(kwh.connect(admin).safeTransferFrom(f.alice.address, admin.address, f.kwhId, 1n, "0x"))
      .to.be.revertedWithCustomError(kwh, "ERC1155MissingApprovalForAll")
      .withArgs(admin.address, f.alice.address);
    await expect(rec.connect(admin).retireFrom(f.alice.address, f.recId, 1n, admin.address, "0x"))
      .to.be.revertedWithCustomError(rec, "ERC1155MissingApprovalForAll")
      .withArgs(admin.address, f.alice.address);
    await expect(auction.connect(admin).settleOrder(f.intervalId, f.bob.address, f.buyC))
      .to.be.revertedWithCustomError(auction, "BatchAuctionNotSettlement")
      .withArgs(admin.address);
    await expect(rec.connect(admin).issue(admin.address, f.meters[0].address, f.intervalId, 1, 0, 1n))
      .to.be.revertedWithCustomError(rec, "RecTokenUnauthorizedIssuer")
      .withArgs(admin.address);
    expect(await kwh.balanceOf(f.alice.address, f.kwhId)).to.equal(1_200n);
  });
});
