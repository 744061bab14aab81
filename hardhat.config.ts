import { createRequire } from "node:module";
import hardhatToolboxMochaEthersPlugin from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import { configVariable, defineConfig } from "hardhat/config";
import { microgridTasks } from "./tasks/index.js";

const require = createRequire(import.meta.url);

/**
 * solc 0.8.30 from npm, for Prague, optimised for `runs` calls per deployment. Besides Hardhat's default outputs, the
 * build info keeps each contract's metadata and NatSpec (`userdoc`, `devdoc`) for explorers and the audit tests; extra
 * outputs never change the bytecode (the metadata hash covers sources and settings, not the output selection).
 */
function compiler(runs: number, viaIR = false) {
  return {
    version: "0.8.30",
    path: require.resolve("solc/soljson.js"),
    settings: {
      evmVersion: "prague",
      viaIR,
      optimizer: { enabled: true, runs },
      metadata: { bytecodeHash: "ipfs" as const },
      outputSelection: { "*": { "*": ["metadata", "userdoc", "devdoc"] } },
    },
  };
}

/**
 * One build profile: every contract at 10,000 runs but the two that need the IR pipeline or fewer runs. `production`
 * (what `hardhat-verify` compiles the explorer's input with) takes the same settings, so that the source a contract is
 * verified with compiles to the bytecode that was deployed; it only builds each file in isolation.
 */
function profile(isolated: boolean) {
  return {
    isolated,
    compilers: [compiler(10_000)],
    overrides: {
      // Optimised for size first: with 10,000 runs it exceeds the 24,576-byte code limit (EIP-170).
      "contracts/market/BatchAuction.sol": compiler(5_000, true),
      // The IR pipeline for the per-source share arithmetic (too many locals for the legacy stack layout).
      "contracts/market/SettlementEscrow.sol": compiler(10_000, true),
    },
  };
}

/** Fuzz runs: quick locally, more in CI (`FUZZ_RUNS` overrides both). */
const fuzzRuns = Number(process.env.FUZZ_RUNS ?? (process.env.CI ? 1000 : 256));

export default defineConfig({
  plugins: [hardhatToolboxMochaEthersPlugin, hardhatViem],
  tasks: microgridTasks,
  solidity: {
    // The compiler comes from the npm package `solc` (pinned in package.json): nothing is downloaded.
    profiles: { default: profile(false), production: profile(true) },
  },
  test: {
    solidity: {
      fuzz: { runs: fuzzRuns, seed: "0x4d6963726f67726964" },
      invariant: { runs: Math.max(32, fuzzRuns / 8), depth: 32, failOnRevert: false },
    },
    mocha: { timeout: 120_000 },
  },
  networks: {
    // `npx hardhat node`; LOCALHOST_URL points the tasks at another local node (the task tests use it).
    localhost: { type: "http", chainType: "l1", url: process.env.LOCALHOST_URL ?? "http://127.0.0.1:8545" },
    volta: {
      type: "http",
      chainType: "l1",
      chainId: 73799,
      url: configVariable("VOLTA_RPC_URL"),
      accounts: [configVariable("VOLTA_PRIVATE_KEY")],
    },
    ewc: {
      type: "http",
      chainType: "l1",
      chainId: 246,
      url: configVariable("EWC_RPC_URL"),
      accounts: [configVariable("EWC_PRIVATE_KEY")],
    },
    besu: {
      type: "http",
      chainType: "l1",
      url: configVariable("BESU_RPC_URL"),
      accounts: [configVariable("BESU_PRIVATE_KEY")],
    },
  },
  // The Energy Web chains' explorers are Blockscout instances (Etherscan-compatible API, no key); verification goes
  // there and to Sourcify (`npx hardhat deployment verify`, docs/auditing.md).
  chainDescriptors: {
    73799: {
      name: "Energy Web Volta testnet",
      chainType: "l1",
      blockExplorers: {
        blockscout: {
          name: "Volta Blockscout",
          url: "https://volta-explorer.energyweb.org",
          apiUrl: "https://volta-explorer.energyweb.org/api",
        },
      },
    },
    246: {
      name: "Energy Web Chain",
      chainType: "l1",
      blockExplorers: {
        blockscout: {
          name: "Energy Web Blockscout",
          url: "https://explorer.energyweb.org",
          apiUrl: "https://explorer.energyweb.org/api",
        },
      },
    },
  },
  verify: {
    // Etherscan and the chains of its V2 API take one key, read when a verification needs it (keystore or environment).
    etherscan: { apiKey: configVariable("ETHERSCAN_API_KEY") },
    blockscout: { enabled: true },
    sourcify: { enabled: true },
  },
});
