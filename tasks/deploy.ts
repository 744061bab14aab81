import { action, DEPLOYMENTS_DIR } from "./common.js";
import { deploySystem, writeDeployment } from "../src/deploy.js";
import { parseAddress } from "../src/ops/meters.js";
import { InputError } from "../src/errors.js";
import { recordCompilation } from "../src/verification.js";

interface Args {
  intervalLength: number;
  relayers: string;
  threshold: number;
  settlementWindow: number;
  admin: string;
  adminDelay: number;
  paymentToken: string;
  floorFeed: string;
  ceilingFeed: string;
  treasury: string;
  out: string;
}

export default action<Args>(async (args, hre) => {
  const conn = await hre.network.create();
  const signers = await conn.ethers.getSigners();
  if (signers.length === 0) throw new InputError(`no account is configured for network ${conn.networkName}`);
  const relayers =
    args.relayers === ""
      ? signers.slice(1, 4).map((s) => s.address)
      : args.relayers.split(",").map((r) => parseAddress(r.trim(), "relayer"));
  if (args.intervalLength <= 0) throw new InputError(`interval length ${args.intervalLength} must be positive`);
  const { deployment } = await deploySystem(signers[0], conn.networkName, {
    intervalLength: BigInt(args.intervalLength),
    relayers,
    threshold: args.threshold,
    settlementWindow: BigInt(args.settlementWindow),
    admin: args.admin === "" ? undefined : parseAddress(args.admin, "admin"),
    adminDelay: args.adminDelay,
    market: {
      paymentToken: args.paymentToken === "" ? undefined : parseAddress(args.paymentToken, "payment token"),
      floorFeed: args.floorFeed === "" ? undefined : parseAddress(args.floorFeed, "floor feed"),
      ceilingFeed: args.ceilingFeed === "" ? undefined : parseAddress(args.ceilingFeed, "ceiling feed"),
      treasury: args.treasury === "" ? undefined : parseAddress(args.treasury, "treasury"),
    },
  });
  // The build each contract came from, for explorer verification (`deployment verify`); the contracts are deployed
  // by now, so a missing build info only leaves it out of the record.
  let record = deployment;
  try {
    record = await recordCompilation(deployment, hre.artifacts);
  } catch (e) {
    console.warn(`warning: ${(e as Error).message}; the record has no build info (verification reads the artifacts)`);
  }
  const path = writeDeployment(args.out || DEPLOYMENTS_DIR, record);
  for (const [name, c] of Object.entries(deployment.contracts)) console.log(`${name.padEnd(14)} ${c.address}`);
  console.log(
    `committee ${deployment.params.relayers.length} relayers, threshold ${deployment.params.threshold}; ` +
      `interval ${deployment.params.intervalLength}s; chain ${deployment.chainId}; written to ${path}`,
  );
});
