import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Interface, keccak256, toUtf8Bytes } from "ethers";
import hre, { artifacts } from "hardhat";
import { ethers } from "../helpers/fixture.js";
import { expectOneLineError, hardhat, startTaskNode } from "../tasks/helpers.js";
import { CONTRACT_NAMES, deploySystem, type DeployedContract, type Deployment } from "../../src/deploy.js";
import {
  decodeConstructorArgs,
  ipfsCid,
  maskImmutables,
  metadataHash,
  planVerification,
  readCompilation,
  recordCompilation,
  selectExplorers,
} from "../../src/verification.js";

/** The solc metadata JSON (the parts an explorer and this test read). */
interface Metadata {
  compiler: { version: string };
  language: string;
  output: { abi: unknown[] };
  settings: {
    compilationTarget: Record<string, string>;
    evmVersion: string;
    optimizer: { enabled: boolean; runs: number };
    viaIR?: boolean;
    remappings: string[];
    metadata: { bytecodeHash: string };
  };
  sources: Record<string, { keccak256: string }>;
}

describe("explorer readiness: what a verification needs of every deployed contract", function () {
  this.timeout(300_000);
  let deployment: Deployment;

  before(async function () {
    const [deployer, r1, r2, r3] = await ethers.getSigners();
    const { deployment: d } = await deploySystem(deployer, "hardhat", {
      relayers: [r1.address, r2.address, r3.address],
      threshold: 2,
    });
    deployment = await recordCompilation(d, artifacts);
  });

  const keys = Object.keys(CONTRACT_NAMES) as (keyof Deployment["contracts"])[];

  it("test_deploySystem_recordsEveryContractWithItsNameArgsAndBuild", function () {
    expect(Object.keys(deployment.contracts)).to.have.members(keys);
    for (const key of keys) {
      const c = deployment.contracts[key]!;
      expect(c.contract, key).to.equal(CONTRACT_NAMES[key]);
      expect(c.constructorArgs, key).to.match(/^0x([0-9a-f]{64})*$/);
      expect(c.txHash, key).to.match(/^0x[0-9a-f]{64}$/);
      expect(c.compilation?.buildInfoId, key).to.match(/^solc-0_8_30-[0-9a-f]{40}$/);
      expect(c.compilation?.solcVersion, key).to.match(/^0\.8\.30\+commit\.[0-9a-f]{8}$/);
      expect(c.compilation?.settings, key).to.not.have.property("outputSelection");
      expect(c.compilation?.metadataCid, key).to.match(/^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);
    }
  });

  for (const key of keys) {
    describe(key, function () {
      const record = () => deployment.contracts[key] as DeployedContract;

      it("test_buildInfo_holdsTheStandardJsonInputAndMetadataOfItsSource", async function () {
        const c = await readCompilation(artifacts, record().contract!);
        const [sourceName, contractName] = record().contract!.split(":");
        expect(c.input.language).to.equal("Solidity");
        expect(c.input.sources[c.inputSourceName].content, "the build is of the source in the tree").to.equal(
          readFileSync(sourceName, "utf8"),
        );
        expect(c.output.metadata, "metadata in the compiler output").to.be.a("string");
        const metadata = JSON.parse(c.output.metadata!) as Metadata;
        expect(metadata.language).to.equal("Solidity");
        expect(metadata.compiler.version).to.equal(c.solcLongVersion);
        expect(metadata.settings.compilationTarget).to.deep.equal({ [c.inputSourceName]: contractName });
        const settings = c.input.settings as Record<string, unknown>;
        expect(metadata.settings.optimizer).to.deep.equal(settings.optimizer);
        expect(metadata.settings.evmVersion).to.equal(settings.evmVersion);
        expect(metadata.settings.viaIR ?? false).to.equal(settings.viaIR ?? false);
        expect(metadata.settings.remappings).to.deep.equal(settings.remappings);
        expect(metadata.settings.metadata.bytecodeHash).to.equal("ipfs");
        expect(metadata.output.abi).to.deep.equal(c.output.abi);
        // Every source the metadata commits to is in the input, with the same content: the input rebuilds the contract.
        for (const [name, { keccak256: hash }] of Object.entries(metadata.sources)) {
          expect(c.input.sources[name], `${name} in the input`).to.not.equal(undefined);
          expect(keccak256(toUtf8Bytes(c.input.sources[name].content)), name).to.equal(hash);
        }
        expect(record().compilation).to.deep.include({ buildInfoId: c.buildInfoId, solcVersion: c.solcLongVersion });
      });

      it("test_deployedCode_isTheArtifactsWithImmutablesMaskedAndCommitsToItsMetadata", async function () {
        const c = await readCompilation(artifacts, record().contract!);
        const code = await ethers.provider.getCode(record().address);
        expect(code.length, "runtime code of the artifact's length").to.equal(c.deployedBytecode.length);
        expect(maskImmutables(code, c.immutableReferences)).to.equal(
          maskImmutables(c.deployedBytecode, c.immutableReferences),
        );
        const onChain = metadataHash(code);
        expect(onChain.ipfs, "the metadata hash in the CBOR tail").to.equal(ipfsCid(c.output.metadata!));
        expect(onChain.ipfs).to.equal(record().compilation!.metadataCid);
        expect(onChain.solc).to.equal(c.solcLongVersion.split("+")[0]);
      });

      it("test_creationTransaction_isTheArtifactsBytecodeFollowedByTheRecordedArgs", async function () {
        const c = await readCompilation(artifacts, record().contract!);
        const artifact = await artifacts.readArtifact(record().contract!);
        expect(artifact.linkReferences, "no libraries to link").to.deep.equal({});
        const tx = await ethers.provider.getTransaction(record().txHash);
        const receipt = await ethers.provider.getTransactionReceipt(record().txHash);
        expect(tx!.to).to.equal(null);
        expect(receipt!.contractAddress).to.equal(record().address);
        expect(receipt!.blockNumber).to.equal(record().block);
        expect(tx!.data).to.equal(c.bytecode + record().constructorArgs!.slice(2));
      });

      it("test_recordedConstructorArgs_decodeAgainstTheAbi", async function () {
        const c = await readCompilation(artifacts, record().contract!);
        const iface = new Interface(c.output.abi as never);
        const decoded = decodeConstructorArgs(iface, record().constructorArgs!);
        expect(decoded).to.have.length(iface.deploy.inputs.length);
        expect(iface.encodeDeploy(decoded)).to.equal(record().constructorArgs);
        expect(iface.encodeDeploy(record().args), "the decoded `args` encode to the same bytes").to.equal(
          record().constructorArgs,
        );
      });
    });
  }

  it("test_planVerification_requestsEveryContractWithItsNameAndEncodedArgs", async function () {
    const requests = await planVerification(deployment, artifacts);
    expect(requests.map((r) => r.name)).to.deep.equal(Object.keys(deployment.contracts));
    for (const r of requests) {
      const c = deployment.contracts[r.name as keyof Deployment["contracts"]]!;
      expect(r).to.deep.include({
        address: c.address,
        contract: c.contract,
        encodedArgs: c.constructorArgs,
        creationTxHash: c.txHash,
        buildInfoId: c.compilation!.buildInfoId,
        recordedBuildInfoId: c.compilation!.buildInfoId,
      });
    }
    const auction = requests.find((r) => r.name === "BatchAuction")!;
    expect(auction.constructorArgs[5]).to.include({ maxOrders: "1500", sellerBondBps: "2000" });
    expect((await planVerification(deployment, artifacts, ["KwhToken"])).map((r) => r.name)).to.deep.equal([
      "KwhToken",
    ]);
    await planVerification(deployment, artifacts, ["Nope"]).then(
      () => expect.fail("an unknown contract was accepted"),
      (e: Error) => expect(e.message).to.match(/no contract Nope/),
    );
  });

  it("test_planVerification_readsRecordsWrittenBeforeNamesAndArgsWereRecorded", async function () {
    const old = structuredClone(deployment);
    for (const c of Object.values(old.contracts) as DeployedContract[]) {
      delete c.contract;
      delete c.constructorArgs;
      delete c.compilation;
    }
    const fromOld = await planVerification(old, artifacts);
    const fromNew = await planVerification(deployment, artifacts);
    expect(fromOld.map(({ recordedBuildInfoId: _r, ...r }) => r)).to.deep.equal(
      fromNew.map(({ recordedBuildInfoId: _r, ...r }) => r),
    );
  });

  it("test_selectExplorers_energyWebChainsGoToTheirBlockscoutAndSourcify", function () {
    expect(selectExplorers(hre.config, 73799n, "")).to.deep.equal([
      {
        provider: "blockscout",
        name: "Volta Blockscout",
        url: "https://volta-explorer.energyweb.org",
        apiUrl: "https://volta-explorer.energyweb.org/api",
      },
      {
        provider: "sourcify",
        name: "Sourcify",
        url: "https://sourcify.dev/server/repo-ui",
        apiUrl: "https://sourcify.dev/server",
      },
    ]);
    expect(selectExplorers(hre.config, 246n, "blockscout")).to.deep.equal([
      {
        provider: "blockscout",
        name: "Energy Web Blockscout",
        url: "https://explorer.energyweb.org",
        apiUrl: "https://explorer.energyweb.org/api",
      },
    ]);
    // Etherscan-family chains: Hardhat's descriptors name the explorer; the API is Etherscan's V2 (one key).
    expect(selectExplorers(hre.config, 11_155_111n, "").map((e) => [e.provider, e.url, e.apiUrl])).to.deep.equal([
      ["blockscout", "https://eth-sepolia.blockscout.com", "https://eth-sepolia.blockscout.com/api"],
      ["etherscan", "https://sepolia.etherscan.io", "https://api.etherscan.io/v2/api"],
      ["sourcify", "https://sourcify.dev/server/repo-ui", "https://sourcify.dev/server"],
    ]);
    expect(() => selectExplorers(hre.config, 31337n, "blockscout")).to.throw(/no Blockscout explorer .* chain 31337/);
    expect(() => selectExplorers(hre.config, 73799n, "etherscan,ipfs")).to.throw(
      /unknown verification provider "ipfs"/,
    );
  });

  describe("deployment verify (a task, over JSON-RPC)", function () {
    let node: Awaited<ReturnType<typeof startTaskNode>>;

    before(async function () {
      node = await startTaskNode("microgrid-verify-");
      const r = await hardhat(node.env, "deploy", "--network", "localhost");
      expect(r.code, r.stderr).to.equal(0);
    });

    after(async function () {
      await node.close();
    });

    it("test_deploy_recordsWhatVerificationNeeds", async function () {
      const d = JSON.parse(readFileSync(join(node.dir, "localhost.json"), "utf8")) as Deployment;
      for (const key of keys) {
        const c = d.contracts[key]!;
        expect(c.contract, key).to.equal(CONTRACT_NAMES[key]);
        expect(c.constructorArgs, key).to.match(/^0x([0-9a-f]{64})*$/);
        expect(c.compilation, key).to.include.keys("buildInfoId", "solcVersion", "settings", "metadataCid");
      }
      expect(d.contracts.BatchAuction.compilation!.settings).to.deep.include({ viaIR: true });
      expect(d.contracts.MeterRegistry.compilation!.settings).to.deep.include({
        optimizer: { enabled: true, runs: 10_000 },
      });
    });

    it("test_verifyDryRun_listsEachContractItsNameAndEncodedArgs", async function () {
      const r = await hardhat(node.env, "deployment", "verify", "--network", "localhost", "--dry-run");
      expect(r.code, r.stderr).to.equal(0);
      const d = JSON.parse(readFileSync(join(node.dir, "localhost.json"), "utf8")) as Deployment;
      expect(r.stdout).to.contain("Would verify 11 contracts");
      expect(r.stdout).to.match(/sourcify +Sourcify +https:\/\/sourcify\.dev\/server/);
      for (const [key, c] of Object.entries(d.contracts) as [string, DeployedContract][]) {
        expect(r.stdout).to.contain(`${key.padEnd(16)} ${c.address}  ${c.contract}`);
        expect(r.stdout).to.contain(`args      ${c.constructorArgs}`);
        expect(r.stdout).to.contain(`creation  ${c.txHash}`);
      }
      expect(r.stdout.match(/matches the artifact \(immutables masked\); metadata Qm\w+ matches/g)).to.have.length(11);
    });

    it("test_verifyDryRun_json_readsAnOldRecordToo", async function () {
      const path = join(node.dir, "localhost.json");
      const d = JSON.parse(readFileSync(path, "utf8")) as Deployment;
      const before = await hardhat(node.env, "deployment", "verify", "--network", "localhost", "--dry-run", "--json");
      expect(before.code, before.stderr).to.equal(0);
      for (const c of Object.values(d.contracts) as DeployedContract[]) {
        delete c.contract;
        delete c.constructorArgs;
        delete c.compilation;
      }
      writeFileSync(path, JSON.stringify(d, null, 2));
      const after = await hardhat(
        node.env,
        "deployment",
        "verify",
        "--network",
        "localhost",
        "--dry-run",
        "--json",
        "--contract",
        "BatchAuction,KwhToken",
      );
      expect(after.code, after.stderr).to.equal(0);
      type Plan = { contracts: { name: string; encodedArgs: string; contract: string; code: { matches: boolean } }[] };
      const full = (JSON.parse(before.stdout) as Plan).contracts;
      const some = (JSON.parse(after.stdout) as Plan).contracts;
      expect(some.map((c) => c.name)).to.deep.equal(["KwhToken", "BatchAuction"]);
      for (const c of some) {
        const same = full.find((x) => x.name === c.name)!;
        expect(c.encodedArgs).to.equal(same.encodedArgs);
        expect(c.contract).to.equal(same.contract);
        expect(c.code.matches).to.equal(true);
      }
    });

    it("test_verify_explorerNotConfiguredForTheChain_failsInOneLine", async function () {
      const r = await hardhat(node.env, "deployment", "verify", "--network", "localhost", "--provider", "blockscout");
      expectOneLineError(r, /^Error: no Blockscout explorer is configured for chain 31337/, "blockscout on 31337");
    });
  });
});
