import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { type ContractTransactionResponse, type Interface, type Signer, getAddress, getCreateAddress } from "ethers";
import {
  BatchAuction__factory,
  SettlementEscrow__factory,
  DealDesk__factory,
  Governance__factory,
  MockStablecoin__factory,
  PriceFeedMock__factory,
  KwhToken__factory,
  MeterRegistry__factory,
  ReadingOracle__factory,
  RecToken__factory,
  type BatchAuction,
  type SettlementEscrow,
  type DealDesk,
  type Governance,
  type MockStablecoin,
  type KwhToken,
  type MeterRegistry,
  type ReadingOracle,
  type RecToken,
} from "../types/ethers-contracts/index.js";
import type { IBatchAuction } from "../types/ethers-contracts/market/BatchAuction.js";
import { InputError } from "./errors.js";
import { DEFAULT_INTERVAL_LENGTH } from "./intervals.js";

/** Role ids of the system's AccessManager; must match `contracts/governance/Roles.sol`. */
export const ROLES = { ADMIN: 0n, REGISTRAR: 1n, ORACLE_ADMIN: 2n, PAUSER: 3n, ISSUER: 4n } as const;

/** What `deploySystem` needs. Addresses default to the deployer. */
export interface DeployParams {
  intervalLength?: bigint;
  relayers: string[];
  threshold: number;
  settlementWindow?: bigint;
  registrars?: string[];
  oracleAdmins?: string[];
  pausers?: string[];
  /** Holders of the certificate issuer's authority (revoking REC accreditation); default: the registrars. */
  issuers?: string[];
  /** Final holder of ADMIN_ROLE; the deployer renounces it when this is another account. */
  admin?: string;
  /** Execution delay, seconds, on the admin's powers (0 for local networks; days in production). */
  adminDelay?: number;
  /** The call market; defaults suit a local network (a mock stablecoin and mock tariff feeds are deployed). */
  market?: MarketParams;
}

/** The call market's payment token, tariff feeds, treasury and parameters (see docs/auction.md). */
export interface MarketParams {
  /** A 6-decimal stablecoin with ERC-2612 permit; default: a MockStablecoin deployed alongside. */
  paymentToken?: string;
  /** Chainlink feeds of the feed-in and retail tariffs per kWh; default: mocks at 0.05 and 0.40 (8 decimals). */
  floorFeed?: string;
  ceilingFeed?: string;
  /** Receives non-reveal penalties; default: the deployer. */
  treasury?: string;
  /** Receives the congestion rent of settled auctions; default: the treasury. */
  gridOperator?: string;
  /** Receives settlement rounding dust; default: the treasury. */
  dustAccount?: string;
  params?: Partial<IBatchAuction.ParamsStruct>;
}

/** Default market parameters for an interval length (seconds). */
export function defaultMarketParams(intervalLength: bigint): IBatchAuction.ParamsStruct {
  return {
    commitWindow: 4n * intervalLength,
    revealWindow: intervalLength / 3n,
    gateLead: intervalLength,
    settlementWindow: 4n * intervalLength,
    minDeposit: 1_000_000n, // 1.00 of the stablecoin
    tickSize: 100n, // 0.0001 per kWh
    maxOrders: 1_500,
    sellerBondBps: 2_000,
    nonRevealPenaltyBps: 5_000,
    maxFeedAge: 86_400n, // tariffs are daily
  };
}

/** One deployed contract as `deployments/<network>.json` records it; what an explorer verification needs. */
export interface DeployedContract {
  address: string;
  /** The creation transaction and its block. */
  txHash: string;
  block: number;
  /** Constructor arguments as deployed: bigints as decimal strings, structs as objects keyed by field name. */
  args: unknown[];
  /** Fully qualified name, `<source>:<contract>` (absent from records made before it was recorded). */
  contract?: string;
  /** The ABI-encoded constructor arguments: the creation transaction's data after the creation bytecode. */
  constructorArgs?: string;
  /** The build the bytecode came from (written by the `deploy` task, which reads the artifacts). */
  compilation?: CompilationRecord;
}

/** The compilation of a deployed contract: its build info in `artifacts/build-info`, compiler and settings. */
export interface CompilationRecord {
  /** Build info id: `artifacts/build-info/<id>.json` is the standard JSON input, `<id>.output.json` the output. */
  buildInfoId: string;
  /** Long compiler version, e.g. `0.8.30+commit.73712a01`. */
  solcVersion: string;
  /** The standard JSON input's settings (optimizer, viaIR, evmVersion, metadata, remappings), without the outputs. */
  settings: Record<string, unknown>;
  /** IPFS CIDv0 of the contract's metadata, as its runtime bytecode's CBOR tail commits to it. */
  metadataCid?: string;
}

/** Fully qualified names of the contracts a deployment records, by their key in `deployments/<network>.json`. */
export const CONTRACT_NAMES = {
  Governance: "contracts/governance/Governance.sol:Governance",
  MeterRegistry: "contracts/registry/MeterRegistry.sol:MeterRegistry",
  ReadingOracle: "contracts/oracle/ReadingOracle.sol:ReadingOracle",
  RecToken: "contracts/tokens/RecToken.sol:RecToken",
  KwhToken: "contracts/tokens/KwhToken.sol:KwhToken",
  BatchAuction: "contracts/market/BatchAuction.sol:BatchAuction",
  SettlementEscrow: "contracts/market/SettlementEscrow.sol:SettlementEscrow",
  DealDesk: "contracts/market/DealDesk.sol:DealDesk",
  MockStablecoin: "contracts/mocks/MockStablecoin.sol:MockStablecoin",
  FloorFeed: "contracts/mocks/PriceFeedMock.sol:PriceFeedMock",
  CeilingFeed: "contracts/mocks/PriceFeedMock.sol:PriceFeedMock",
} as const satisfies Record<keyof Deployment["contracts"], string>;

/** Everything a later task, an auditor or an explorer verification needs about a deployment. */
export interface Deployment {
  network: string;
  chainId: string;
  deployer: string;
  block: number;
  timestamp: number;
  params: {
    intervalLength: string;
    threshold: number;
    relayers: string[];
    settlementWindow: string;
    admin: string;
    adminDelay: number;
  };
  contracts: {
    Governance: DeployedContract;
    MeterRegistry: DeployedContract;
    ReadingOracle: DeployedContract;
    RecToken: DeployedContract;
    KwhToken: DeployedContract;
    BatchAuction: DeployedContract;
    SettlementEscrow: DeployedContract;
    /** Bilateral deals (RFQ) of kWh tokens and certificates (absent from deployments made before it existed). */
    DealDesk?: DeployedContract;
    /** Present when the deployment created its own stablecoin and tariff feeds (local networks). */
    MockStablecoin?: DeployedContract;
    FloorFeed?: DeployedContract;
    CeilingFeed?: DeployedContract;
  };
  /** The market's payment token and feeds (deployed mocks or the given addresses). */
  market?: {
    paymentToken: string;
    floorFeed: string;
    ceilingFeed: string;
    treasury: string;
    gridOperator?: string;
    dustAccount?: string;
  };
  roleTxs: string[];
}

/** Typed handles of a deployment's contracts. */
export interface System {
  governance: Governance;
  registry: MeterRegistry;
  oracle: ReadingOracle;
  kwh: KwhToken;
  rec: RecToken;
  auction: BatchAuction;
  escrow: SettlementEscrow;
  desk: DealDesk;
  /** The payment token, typed as the mock (on real networks only its ERC-20 functions exist). */
  paymentToken: MockStablecoin;
}

/** Bigints as decimal strings, at any depth (JSON has no bigints). */
function jsonArg(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(jsonArg);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonArg(v)]));
  }
  return value;
}

async function record(
  key: keyof Deployment["contracts"],
  contract: {
    deploymentTransaction(): ContractTransactionResponse | null;
    getAddress(): Promise<string>;
    interface: Interface;
  },
  args: readonly unknown[],
): Promise<DeployedContract> {
  const tx = contract.deploymentTransaction();
  if (tx === null) throw new Error("contract has no deployment transaction");
  const receipt = await tx.wait();
  if (receipt === null) throw new Error(`deployment ${tx.hash} was not mined`);
  return {
    address: await contract.getAddress(),
    txHash: tx.hash,
    block: receipt.blockNumber,
    args: args.map(jsonArg),
    contract: CONTRACT_NAMES[key],
    constructorArgs: contract.interface.encodeDeploy(args),
  };
}

/**
 * Deploys Governance, MeterRegistry, ReadingOracle, RecToken and KwhToken, maps every restricted function to its role and
 * grants the roles. Returns typed handles and the deployment record.
 */
export async function deploySystem(
  deployer: Signer,
  networkName: string,
  params: DeployParams,
): Promise<{ system: System; deployment: Deployment }> {
  const from = await deployer.getAddress();
  const intervalLength = params.intervalLength ?? DEFAULT_INTERVAL_LENGTH;
  const settlementWindow = params.settlementWindow ?? 86_400n;
  const relayers = params.relayers.map((r) => getAddress(r));
  if (relayers.length === 0) throw new InputError("at least one relayer is needed for the oracle committee");
  if (params.threshold < 1 || params.threshold > relayers.length) {
    throw new InputError(`threshold ${params.threshold} must be between 1 and the ${relayers.length} relayers`);
  }
  const admin = getAddress(params.admin ?? from);
  const adminDelay = params.adminDelay ?? 0;

  const governance = await new Governance__factory(deployer).deploy(from);
  const governanceRec = await record("Governance", governance, [from]);
  const authority = governanceRec.address;

  const registry = await new MeterRegistry__factory(deployer).deploy(authority, intervalLength);
  const registryRec = await record("MeterRegistry", registry, [authority, intervalLength]);

  const oracle = await new ReadingOracle__factory(deployer).deploy(
    authority,
    intervalLength,
    relayers,
    params.threshold,
  );
  const oracleRec = await record("ReadingOracle", oracle, [authority, intervalLength, relayers, params.threshold]);

  // RecToken names the KwhToken as its only issuer, so it is deployed first with the address the KwhToken will
  // get (the deployer's next nonce); the KwhToken's constructor checks the link and reverts if it is wrong.
  const recNonce = await deployer.getNonce("pending");
  const kwhAddress = getCreateAddress({ from, nonce: recNonce + 1 });
  const rec = await new RecToken__factory(deployer).deploy(authority, registryRec.address, kwhAddress, {
    nonce: recNonce,
  });
  const recRec = await record("RecToken", rec, [authority, registryRec.address, kwhAddress]);

  const kwh = await new KwhToken__factory(deployer).deploy(
    authority,
    registryRec.address,
    oracleRec.address,
    recRec.address,
    settlementWindow,
    { nonce: recNonce + 1 },
  );
  const kwhRec = await record("KwhToken", kwh, [
    authority,
    registryRec.address,
    oracleRec.address,
    recRec.address,
    settlementWindow,
  ]);

  const m = params.market ?? {};
  const extra: Partial<Deployment["contracts"]> = {};
  let paymentToken = m.paymentToken;
  if (paymentToken === undefined) {
    const token = await new MockStablecoin__factory(deployer).deploy();
    extra.MockStablecoin = await record("MockStablecoin", token, []);
    paymentToken = extra.MockStablecoin.address;
  }
  const feed = async (given: string | undefined, answer: bigint, key: "FloorFeed" | "CeilingFeed") => {
    if (given !== undefined) return getAddress(given);
    const f = await new PriceFeedMock__factory(deployer).deploy(8, answer);
    extra[key] = await record(key, f, [8, answer]);
    return extra[key].address;
  };
  const floorFeed = await feed(m.floorFeed, 5_000_000n, "FloorFeed");
  const ceilingFeed = await feed(m.ceilingFeed, 40_000_000n, "CeilingFeed");
  const treasury = getAddress(m.treasury ?? from);
  const marketParams = { ...defaultMarketParams(intervalLength), ...m.params };
  // The auction names its settlement escrow, deployed right after it (the deployer's next nonce).
  const auctionNonce = await deployer.getNonce("pending");
  const escrowAddress = getCreateAddress({ from, nonce: auctionNonce + 1 });
  const auctionArgs = [
    registryRec.address,
    paymentToken,
    floorFeed,
    ceilingFeed,
    treasury,
    marketParams,
    escrowAddress,
  ] as const;
  const auction = await new BatchAuction__factory(deployer).deploy(...auctionArgs, { nonce: auctionNonce });
  const auctionRec = await record("BatchAuction", auction, auctionArgs);
  const gridOperator = getAddress(m.gridOperator ?? treasury);
  const dustAccount = getAddress(m.dustAccount ?? treasury);
  const escrowArgs = [authority, auctionRec.address, kwhRec.address, oracleRec.address, gridOperator, dustAccount];
  const escrow = await new SettlementEscrow__factory(deployer).deploy(
    authority,
    auctionRec.address,
    kwhRec.address,
    oracleRec.address,
    gridOperator,
    dustAccount,
    { nonce: auctionNonce + 1 },
  );
  const escrowRec = await record("SettlementEscrow", escrow, escrowArgs);
  if (escrowRec.address !== escrowAddress)
    throw new Error(`escrow deployed at ${escrowRec.address}, not ${escrowAddress}`);

  // Bilateral deals of the two ERC-1155 tokens against any ERC-20 the maker names.
  const desk = await new DealDesk__factory(deployer).deploy(authority, kwhRec.address, recRec.address);
  const deskRec = await record("DealDesk", desk, [authority, kwhRec.address, recRec.address]);

  const roleTxs: string[] = [];
  const send = async (p: Promise<ContractTransactionResponse>) => {
    const tx = await p;
    await tx.wait();
    roleTxs.push(tx.hash);
  };
  const sel = (c: { interface: { getFunction(n: string): { selector: string } | null } }, names: string[]) =>
    names.map((n) => c.interface.getFunction(n)!.selector);

  await send(
    governance.setTargetFunctionRole(
      registryRec.address,
      sel(registry, ["setZone", "registerMeter", "updateMeter", "revokeMeter"]),
      ROLES.REGISTRAR,
    ),
  );
  await send(
    governance.setTargetFunctionRole(
      oracleRec.address,
      sel(oracle, ["addMember", "removeMember", "setThreshold"]),
      ROLES.ORACLE_ADMIN,
    ),
  );
  await send(governance.setTargetFunctionRole(oracleRec.address, sel(oracle, ["pause", "unpause"]), ROLES.PAUSER));
  await send(
    governance.setTargetFunctionRole(registryRec.address, sel(registry, ["revokeAccreditation"]), ROLES.ISSUER),
  );
  await send(governance.setTargetFunctionRole(kwhRec.address, sel(kwh, ["pause", "unpause"]), ROLES.PAUSER));
  await send(governance.setTargetFunctionRole(recRec.address, sel(rec, ["pause", "unpause"]), ROLES.PAUSER));
  await send(governance.setTargetFunctionRole(kwhRec.address, sel(kwh, ["setSettlementWindow"]), ROLES.ADMIN));
  await send(governance.setTargetFunctionRole(escrowRec.address, sel(escrow, ["pause", "unpause"]), ROLES.PAUSER));
  await send(governance.setTargetFunctionRole(deskRec.address, sel(desk, ["pause", "unpause"]), ROLES.PAUSER));
  // Deliveries to and collections from the escrow ignore the kWh transfer window (the deployer is the admin here).
  await send(kwh.setSettlementEscrow(escrowRec.address));
  await send(governance.labelRole(ROLES.REGISTRAR, "REGISTRAR"));
  await send(governance.labelRole(ROLES.ORACLE_ADMIN, "ORACLE_ADMIN"));
  await send(governance.labelRole(ROLES.PAUSER, "PAUSER"));
  await send(governance.labelRole(ROLES.ISSUER, "ISSUER"));

  const grants: [bigint, string[]][] = [
    [ROLES.REGISTRAR, params.registrars ?? [from]],
    [ROLES.ORACLE_ADMIN, params.oracleAdmins ?? [from]],
    [ROLES.PAUSER, params.pausers ?? [from]],
    [ROLES.ISSUER, params.issuers ?? params.registrars ?? [from]],
  ];
  for (const [role, accounts] of grants) {
    for (const account of accounts) await send(governance.grantRole(role, getAddress(account), 0));
  }
  if (admin !== from || adminDelay > 0) {
    await send(governance.grantRole(ROLES.ADMIN, admin, adminDelay));
    if (admin !== from) await send(governance.renounceRole(ROLES.ADMIN, from));
  }

  const provider = deployer.provider!;
  const network = await provider.getNetwork();
  const block = await provider.getBlock("latest");
  const deployment: Deployment = {
    network: networkName,
    chainId: network.chainId.toString(),
    deployer: from,
    block: governanceRec.block,
    timestamp: block?.timestamp ?? 0,
    params: {
      intervalLength: intervalLength.toString(),
      threshold: params.threshold,
      relayers,
      settlementWindow: settlementWindow.toString(),
      admin,
      adminDelay,
    },
    contracts: {
      Governance: governanceRec,
      MeterRegistry: registryRec,
      ReadingOracle: oracleRec,
      RecToken: recRec,
      KwhToken: kwhRec,
      BatchAuction: auctionRec,
      SettlementEscrow: escrowRec,
      DealDesk: deskRec,
      ...extra,
    },
    market: { paymentToken: getAddress(paymentToken), floorFeed, ceilingFeed, treasury, gridOperator, dustAccount },
    roleTxs,
  };
  const token = MockStablecoin__factory.connect(paymentToken, deployer);
  return { system: { governance, registry, oracle, kwh, rec, auction, escrow, desk, paymentToken: token }, deployment };
}

/** Typed handles of a recorded deployment. */
export function attachSystem(deployment: Deployment, runner: Signer): System {
  const c = deployment.contracts;
  return {
    governance: Governance__factory.connect(c.Governance.address, runner),
    registry: MeterRegistry__factory.connect(c.MeterRegistry.address, runner),
    oracle: ReadingOracle__factory.connect(c.ReadingOracle.address, runner),
    kwh: KwhToken__factory.connect(c.KwhToken.address, runner),
    rec: RecToken__factory.connect(c.RecToken.address, runner),
    auction: BatchAuction__factory.connect(c.BatchAuction.address, runner),
    escrow: SettlementEscrow__factory.connect(c.SettlementEscrow.address, runner),
    desk: DealDesk__factory.connect(c.DealDesk?.address ?? "", runner),
    paymentToken: MockStablecoin__factory.connect(
      deployment.market?.paymentToken ?? c.MockStablecoin?.address ?? "",
      runner,
    ),
  };
}

/** Contract interfaces, for decoding custom errors. */
export const SYSTEM_INTERFACES = [
  MeterRegistry__factory.createInterface(),
  ReadingOracle__factory.createInterface(),
  KwhToken__factory.createInterface(),
  RecToken__factory.createInterface(),
  BatchAuction__factory.createInterface(),
  SettlementEscrow__factory.createInterface(),
  DealDesk__factory.createInterface(),
  Governance__factory.createInterface(),
  // ERC-20 errors of payment tokens (OpenZeppelin's, as the mock stablecoin has them)
  MockStablecoin__factory.createInterface(),
];

export function deploymentPath(dir: string, network: string): string {
  return join(dir, `${network}.json`);
}

export function writeDeployment(dir: string, deployment: Deployment): string {
  mkdirSync(dir, { recursive: true });
  const path = deploymentPath(dir, deployment.network);
  writeFileSync(path, JSON.stringify(deployment, null, 2) + "\n");
  return path;
}

export function readDeployment(dir: string, network: string): Deployment {
  const path = deploymentPath(dir, network);
  if (!existsSync(path)) {
    throw new InputError(
      network === "default"
        ? "the in-process network forgets everything when a command ends: start `npx hardhat node`, then `npx hardhat deploy --network localhost` and pass --network localhost"
        : `no deployment for network "${network}" (${path}): run \`npx hardhat deploy --network ${network}\` first`,
    );
  }
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Deployment;
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as Error).message}`);
  }
}
