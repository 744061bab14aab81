import { verifyContract } from "@nomicfoundation/hardhat-verify/verify";
import { action, DEPLOYMENTS_DIR, toJson } from "./common.js";
import { deploymentPath, readDeployment } from "../src/deploy.js";
import { InputError } from "../src/errors.js";
import { checkDeployedCode, planVerification, selectExplorers } from "../src/verification.js";

interface Args {
  provider: string;
  contract: string;
  dryRun: boolean;
  force: boolean;
  json: boolean;
}

/**
 * Verifies every contract of `deployments/<network>.json` on the network's explorers with `hardhat-verify`, after
 * checking that each contract's code on chain is its artifact's; `--dry-run` prints the requests and sends nothing.
 */
export default action<Args>(async (args, hre) => {
  const conn = await hre.network.create();
  const deployment = readDeployment(DEPLOYMENTS_DIR, conn.networkName);
  const chainId = (await conn.ethers.provider.getNetwork()).chainId;
  if (chainId.toString() !== deployment.chainId) {
    throw new InputError(
      `network ${conn.networkName} is chain ${chainId}, but ${deploymentPath(DEPLOYMENTS_DIR, conn.networkName)} was deployed on chain ${deployment.chainId}`,
    );
  }
  const only = args.contract
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  const requests = await planVerification(deployment, hre.artifacts, only);
  const explorers = selectExplorers(hre.config, chainId, args.provider);
  const checks = await checkDeployedCode(conn.ethers.provider, requests, hre.artifacts);
  const mismatched = checks.filter((c) => !c.matches).map((c) => c.name);

  if (args.json) {
    console.log(
      toJson({
        network: conn.networkName,
        chainId: chainId.toString(),
        explorers,
        contracts: requests.map((r, i) => ({ ...r, code: checks[i] })),
      }),
    );
  } else {
    console.log(
      `${args.dryRun ? "Would verify" : "Verifying"} ${requests.length} contracts of ${deploymentPath(DEPLOYMENTS_DIR, conn.networkName)} (chain ${chainId}) on:`,
    );
    for (const e of explorers)
      console.log(`  ${e.provider.padEnd(10)} ${e.name}  ${e.apiUrl ?? "(Etherscan's chain list)"}`);
    for (const [i, r] of requests.entries()) {
      const check = checks[i];
      console.log(`${r.name.padEnd(16)} ${r.address}  ${r.contract}`);
      const recorded =
        r.recordedBuildInfoId !== undefined && r.recordedBuildInfoId !== r.buildInfoId
          ? ` (deployed from ${r.recordedBuildInfoId})`
          : "";
      const input = r.isolated
        ? "compiled alone: exact match"
        : "compiled with other files: explorers may match only partially (docs/auditing.md)";
      console.log(`  build     ${r.buildInfoId}${recorded}, solc ${r.solcVersion}, ${input}`);
      console.log(
        `  code      ${check.matches ? "matches the artifact" : "DIFFERS from the artifact"} (immutables masked); ` +
          `metadata ${check.metadataCid ?? "none"} ${check.metadataMatches ? "matches" : "differs"}`,
      );
      console.log(`  args      ${r.encodedArgs}`);
      console.log(`            ${JSON.stringify(r.constructorArgs)}`);
      console.log(`  creation  ${r.creationTxHash}`);
    }
  }
  if (mismatched.length > 0) {
    throw new InputError(
      `the code on chain of ${mismatched.join(", ")} is not the current artifacts': build the sources that were deployed, then verify`,
    );
  }
  if (args.dryRun) return;

  const failed: string[] = [];
  for (const e of explorers) {
    for (const r of requests) {
      try {
        await verifyContract(
          {
            address: r.address,
            contract: r.contract,
            constructorArgs: r.constructorArgs,
            creationTxHash: r.creationTxHash,
            provider: e.provider,
            force: args.force,
          },
          hre,
        );
      } catch (err) {
        failed.push(`${r.name} on ${e.name}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
  }
  if (failed.length > 0) {
    throw new InputError(`${failed.length} verification(s) failed: ${failed.join("; ")}`);
  }
  console.log(`verified ${requests.length} contracts on ${explorers.map((e) => e.name).join(", ")}`);
});
