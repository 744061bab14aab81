import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { AbiCoder, Interface, type ParamType, type Provider, getAddress } from "ethers";
import type { ArtifactManager } from "hardhat/types/artifacts";
import type { ChainDescriptorsConfig, VerificationProvidersConfig } from "hardhat/types/config";
import { CONTRACT_NAMES, type CompilationRecord, type DeployedContract, type Deployment } from "./deploy.js";
import { InputError, MicrogridError } from "./errors.js";

/** A contract's compiler input and output, as its build info under `artifacts/build-info` holds them. */
export interface Compilation {
  /** Fully qualified name, `<source>:<contract>`. */
  fqn: string;
  buildInfoId: string;
  /** The long compiler version, e.g. `0.8.30+commit.73712a01`. */
  solcLongVersion: string;
  /** Solidity standard JSON input of the build (sources keyed by input source name, e.g. `project/contracts/…`). */
  input: StandardJsonInput;
  /**
   * Whether the build compiled this source alone (with its imports): then its input is the one `hardhat-verify`
   * rebuilds for an explorer, and the metadata hash matches exactly. A build shared with other files lists their
   * remappings too, which changes the metadata hash (see docs/auditing.md).
   */
  isolated: boolean;
  /** The source's input name: the key of `input.sources` and of the compiler output. */
  inputSourceName: string;
  /** The compiler output for this contract. */
  output: ContractOutput;
  /** Creation bytecode and runtime bytecode of the artifact, `0x`-prefixed. */
  bytecode: string;
  deployedBytecode: string;
  /** Positions of immutables in the runtime bytecode (filled in by the constructor). */
  immutableReferences: Record<string, { start: number; length: number }[]>;
}

export interface StandardJsonInput {
  language: string;
  sources: Record<string, { content: string }>;
  settings: Record<string, unknown> & { outputSelection?: unknown };
}

export interface ContractOutput {
  abi: unknown[];
  /** The metadata JSON, byte for byte what the bytecode's IPFS hash covers. */
  metadata?: string;
  userdoc?: NatSpecDoc;
  devdoc?: NatSpecDoc;
}

/** `userdoc` or `devdoc` of the compiler output (see the Solidity docs, "NatSpec Format"). */
export interface NatSpecDoc {
  notice?: string;
  details?: string;
  methods?: Record<
    string,
    { notice?: string; details?: string; params?: Record<string, string>; returns?: Record<string, string> }
  >;
  events?: Record<string, { notice?: string; details?: string; params?: Record<string, string> }>;
  errors?: Record<string, { notice?: string; details?: string; params?: Record<string, string> }[]>;
  stateVariables?: Record<string, { details?: string; return?: string; returns?: Record<string, string> }>;
}

interface BuildInfoFiles {
  solcLongVersion: string;
  /** The build's root files (user source name to input source name). */
  userSourceNameMap: Record<string, string>;
  input: StandardJsonInput;
  output: { contracts: Record<string, Record<string, ContractOutput>>; sources: Record<string, { ast: unknown }> };
}

/** Build infos are large (the main one holds every AST); each is read once per process. */
const buildInfos = new Map<string, BuildInfoFiles>();

/** Reads a build info and its output by id. */
export async function readBuildInfo(artifacts: ArtifactManager, buildInfoId: string): Promise<BuildInfoFiles> {
  const cached = buildInfos.get(buildInfoId);
  if (cached !== undefined) return cached;
  const inputPath = await artifacts.getBuildInfoPath(buildInfoId);
  const outputPath = await artifacts.getBuildInfoOutputPath(buildInfoId);
  if (inputPath === undefined || outputPath === undefined) {
    throw new InputError(`build info ${buildInfoId} is missing from artifacts/build-info: run \`npx hardhat build\``);
  }
  const info = JSON.parse(readFileSync(inputPath, "utf8")) as Omit<BuildInfoFiles, "output">;
  const { output } = JSON.parse(readFileSync(outputPath, "utf8")) as { output: BuildInfoFiles["output"] };
  const files = {
    solcLongVersion: info.solcLongVersion,
    userSourceNameMap: info.userSourceNameMap,
    input: info.input,
    output,
  };
  buildInfos.set(buildInfoId, files);
  return files;
}

/** The compiler input and output that produced a contract's current artifact. */
export async function readCompilation(artifacts: ArtifactManager, fqn: string): Promise<Compilation> {
  const artifact = await artifacts.readArtifact(fqn);
  const buildInfoId = await artifacts.getBuildInfoId(fqn);
  if (buildInfoId === undefined || artifact.inputSourceName === undefined) {
    throw new InputError(`${fqn} has no build info: run \`npx hardhat build\``);
  }
  const info = await readBuildInfo(artifacts, buildInfoId);
  const output = info.output.contracts[artifact.inputSourceName]?.[artifact.contractName];
  if (output === undefined) throw new InputError(`build info ${buildInfoId} has no output for ${fqn}`);
  return {
    fqn,
    buildInfoId,
    solcLongVersion: info.solcLongVersion,
    input: info.input,
    isolated: Object.keys(info.userSourceNameMap).length === 1,
    inputSourceName: artifact.inputSourceName,
    output,
    bytecode: artifact.bytecode,
    deployedBytecode: artifact.deployedBytecode,
    immutableReferences: artifact.immutableReferences ?? {},
  };
}

/** What a deployment record keeps of a compilation: enough to rebuild the contract and to find its metadata. */
export function compilationRecord(c: Compilation): CompilationRecord {
  const { outputSelection: _ignored, ...settings } = c.input.settings;
  return {
    buildInfoId: c.buildInfoId,
    solcVersion: c.solcLongVersion,
    settings,
    metadataCid: metadataHash(c.deployedBytecode).ipfs,
  };
}

/** Adds each contract's fully qualified name, encoded constructor arguments and compilation to a deployment record. */
export async function recordCompilation(deployment: Deployment, artifacts: ArtifactManager): Promise<Deployment> {
  const contracts: Record<string, DeployedContract> = {};
  for (const [key, c] of Object.entries(deployment.contracts) as [string, DeployedContract][]) {
    const fqn = c.contract ?? contractName(key);
    const compilation = await readCompilation(artifacts, fqn);
    const constructorArgs = c.constructorArgs ?? new Interface(compilation.output.abi as never).encodeDeploy(c.args);
    contracts[key] = { ...c, contract: fqn, constructorArgs, compilation: compilationRecord(compilation) };
  }
  return { ...deployment, contracts: contracts as unknown as Deployment["contracts"] };
}

function contractName(key: string): string {
  const fqn = (CONTRACT_NAMES as Record<string, string>)[key];
  if (fqn === undefined) throw new InputError(`the deployment records an unknown contract "${key}"`);
  return fqn;
}

// ------------------------------------------------------------------------------------------------------------------
// Bytecode: immutables and the metadata hash
// ------------------------------------------------------------------------------------------------------------------

/** Runtime bytecode with every immutable's 32 bytes zeroed, as the compiler leaves them in the artifact. */
export function maskImmutables(code: string, refs: Compilation["immutableReferences"]): string {
  const bytes = Buffer.from(code.replace(/^0x/, ""), "hex");
  for (const ranges of Object.values(refs)) {
    for (const { start, length } of ranges) bytes.fill(0, start, start + length);
  }
  return "0x" + bytes.toString("hex");
}

/** The CBOR map the compiler appends to runtime bytecode: the metadata's IPFS hash and the compiler version. */
export interface MetadataHash {
  /** The IPFS CIDv0 (`Qm…`) of the metadata JSON. */
  ipfs?: string;
  /** The compiler version, e.g. `0.8.30`. */
  solc?: string;
  /** The runtime bytecode without the CBOR map and its 2-byte length. */
  code: string;
}

/** Decodes the CBOR tail of runtime bytecode (`{"ipfs": bytes34, "solc": bytes3}` for this project's settings). */
export function metadataHash(code: string): MetadataHash {
  const bytes = Buffer.from(code.replace(/^0x/, ""), "hex");
  if (bytes.length < 2) throw new MicrogridError("the bytecode is too short to carry metadata");
  const length = bytes.readUInt16BE(bytes.length - 2);
  const start = bytes.length - 2 - length;
  if (start < 0) throw new MicrogridError("the bytecode does not end with a CBOR metadata map");
  const map = decodeCborMap(bytes.subarray(start, bytes.length - 2));
  const ipfs = map.ipfs instanceof Uint8Array ? base58(map.ipfs) : undefined;
  const solc = map.solc instanceof Uint8Array ? Array.from(map.solc).join(".") : undefined;
  return { ipfs, solc, code: "0x" + bytes.subarray(0, start).toString("hex") };
}

/**
 * The IPFS CIDv0 of a metadata JSON as solc computes it: one UnixFS file node (dag-pb, no links), SHA-256 multihash,
 * base58. Metadata of up to 256 KiB fits one chunk, which is what solc hashes (larger metadata would be chunked).
 */
export function ipfsCid(content: string): string {
  const data = Buffer.from(content, "utf8");
  if (data.length > 262_144) throw new MicrogridError("metadata above 256 KiB needs a chunked IPFS hash");
  const unixfs = Buffer.concat([
    Buffer.from([0x08, 0x02, 0x12]),
    varint(data.length),
    data,
    Buffer.from([0x18]),
    varint(data.length),
  ]);
  const node = Buffer.concat([Buffer.from([0x0a]), varint(unixfs.length), unixfs]);
  const digest = createHash("sha256").update(node).digest();
  return base58(Buffer.concat([Buffer.from([0x12, 0x20]), digest]));
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base58(bytes: Uint8Array): string {
  let n = BigInt("0x" + (Buffer.from(bytes).toString("hex") || "0"));
  let s = "";
  while (n > 0n) {
    s = BASE58[Number(n % 58n)] + s;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    s = "1" + s;
  }
  return s;
}

/** The CBOR subset solc writes: one map of text keys to byte strings, text strings or booleans. */
function decodeCborMap(bytes: Uint8Array): Record<string, Uint8Array | string | boolean> {
  let pos = 0;
  const head = (): [number, number] => {
    const b = bytes[pos++];
    const major = b >> 5;
    const info = b & 0x1f;
    if (info < 24) return [major, info];
    if (info === 24) return [major, bytes[pos++]];
    if (info === 25) {
      const v = (bytes[pos] << 8) | bytes[pos + 1];
      pos += 2;
      return [major, v];
    }
    throw new MicrogridError("unsupported CBOR length in the bytecode's metadata");
  };
  const item = (): Uint8Array | string | boolean => {
    const [major, value] = head();
    if (major === 2 || major === 3) {
      const chunk = bytes.subarray(pos, pos + value);
      pos += value;
      return major === 2 ? chunk : Buffer.from(chunk).toString("utf8");
    }
    if (major === 7 && (value === 20 || value === 21)) return value === 21;
    throw new MicrogridError(`unsupported CBOR item (major type ${major}) in the bytecode's metadata`);
  };
  const [major, entries] = head();
  if (major !== 5) throw new MicrogridError("the bytecode's metadata is not a CBOR map");
  const map: Record<string, Uint8Array | string | boolean> = {};
  for (let i = 0; i < entries; i++) {
    const key = item();
    if (typeof key !== "string") throw new MicrogridError("a CBOR metadata key is not text");
    map[key] = item();
  }
  if (pos !== bytes.length) throw new MicrogridError("trailing bytes after the CBOR metadata map");
  return map;
}

// ------------------------------------------------------------------------------------------------------------------
// Verification requests
// ------------------------------------------------------------------------------------------------------------------

/** One contract to verify: what `hardhat-verify` is given, and what the explorer receives. */
export interface VerificationRequest {
  /** The contract's key in the deployment record (`MeterRegistry`, `FloorFeed`, …). */
  name: string;
  address: string;
  /** Fully qualified name, `<source>:<contract>`. */
  contract: string;
  /** ABI-encoded constructor arguments, `0x`-prefixed (`0x` when there are none). */
  encodedArgs: string;
  /** The same arguments decoded against the ABI (bigints as decimal strings, structs as objects). */
  constructorArgs: unknown[];
  creationTxHash: string;
  /** The build the current artifact comes from, and the one recorded at deployment (if any). */
  buildInfoId: string;
  recordedBuildInfoId?: string;
  solcVersion: string;
  /** The build compiled this source alone: the input explorers rebuild reproduces the bytecode exactly. */
  isolated: boolean;
}

/** The verification request of every contract of a deployment (or of the named ones), from the record and artifacts. */
export async function planVerification(
  deployment: Deployment,
  artifacts: ArtifactManager,
  only: string[] = [],
): Promise<VerificationRequest[]> {
  const entries = Object.entries(deployment.contracts) as [string, DeployedContract][];
  const unknown = only.filter((n) => !entries.some(([key]) => key === n));
  if (unknown.length > 0) {
    throw new InputError(
      `the deployment has no contract ${unknown.join(", ")} (it has ${entries.map(([k]) => k).join(", ")})`,
    );
  }
  const requests: VerificationRequest[] = [];
  for (const [name, c] of entries) {
    if (only.length > 0 && !only.includes(name)) continue;
    const contract = c.contract ?? contractName(name);
    const compilation = await readCompilation(artifacts, contract);
    const iface = new Interface(compilation.output.abi as never);
    const encodedArgs = c.constructorArgs ?? iface.encodeDeploy(c.args);
    const constructorArgs = decodeConstructorArgs(iface, encodedArgs);
    if (iface.encodeDeploy(constructorArgs) !== encodedArgs.toLowerCase()) {
      throw new MicrogridError(`${name}: the recorded constructor arguments do not round-trip through the ABI`);
    }
    requests.push({
      name,
      address: getAddress(c.address),
      contract,
      encodedArgs,
      constructorArgs,
      creationTxHash: c.txHash,
      buildInfoId: compilation.buildInfoId,
      recordedBuildInfoId: c.compilation?.buildInfoId,
      solcVersion: compilation.solcLongVersion,
      isolated: compilation.isolated,
    });
  }
  return requests;
}

/** Decodes ABI-encoded constructor arguments into values `hardhat-verify` re-encodes identically. */
export function decodeConstructorArgs(iface: Interface, encoded: string): unknown[] {
  const inputs = iface.deploy.inputs;
  const values = AbiCoder.defaultAbiCoder().decode(inputs, encoded);
  return inputs.map((type, i) => plain(type, values[i]));
}

function plain(type: ParamType, value: unknown): unknown {
  if (type.isTuple()) {
    const v = value as unknown[];
    return Object.fromEntries(type.components.map((c, i) => [c.name, plain(c, v[i])]));
  }
  if (type.isArray()) return (value as unknown[]).map((v) => plain(type.arrayChildren, v));
  return typeof value === "bigint" ? value.toString() : value;
}

/** The deployed runtime code compared with the artifact (immutables masked) and its metadata hash. */
export interface CodeCheck {
  name: string;
  /** Runtime code equal to the artifact's once the immutables are masked. */
  matches: boolean;
  /** The IPFS hash of the metadata in the deployed code's CBOR tail, and whether the artifact's is the same. */
  metadataCid?: string;
  metadataMatches: boolean;
}

/** Reads each contract's runtime code from the chain and compares it with its artifact. */
export async function checkDeployedCode(
  provider: Provider,
  requests: VerificationRequest[],
  artifacts: ArtifactManager,
): Promise<CodeCheck[]> {
  const checks: CodeCheck[] = [];
  for (const r of requests) {
    const c = await readCompilation(artifacts, r.contract);
    const code = await provider.getCode(r.address);
    if (code === "0x") throw new InputError(`${r.name}: no code at ${r.address} on this network`);
    const deployed = metadataHash(code);
    const compiled = metadataHash(c.deployedBytecode);
    checks.push({
      name: r.name,
      matches:
        maskImmutables(code, c.immutableReferences) === maskImmutables(c.deployedBytecode, c.immutableReferences),
      metadataCid: deployed.ipfs,
      metadataMatches: deployed.ipfs !== undefined && deployed.ipfs === compiled.ipfs,
    });
  }
  return checks;
}

// ------------------------------------------------------------------------------------------------------------------
// Explorers
// ------------------------------------------------------------------------------------------------------------------

export const VERIFICATION_PROVIDERS = ["blockscout", "etherscan", "sourcify"] as const;
export type VerificationProviderName = (typeof VERIFICATION_PROVIDERS)[number];

/** Where a verification goes. `apiUrl` is undefined for Etherscan chains that its chain list resolves at run time. */
export interface Explorer {
  provider: VerificationProviderName;
  name: string;
  url?: string;
  apiUrl?: string;
}

/**
 * The explorers to verify on for a chain. `requested` is a comma-separated list of providers, or empty for every
 * enabled provider with an explorer configured for the chain (`chainDescriptors` in hardhat.config.ts, Hardhat's
 * defaults included) plus Sourcify. Etherscan chains missing from the descriptors are resolved by `hardhat-verify` from
 * Etherscan's chain list when requested by name.
 */
export function selectExplorers(
  config: { chainDescriptors: ChainDescriptorsConfig; verify: VerificationProvidersConfig },
  chainId: bigint,
  requested: string,
): Explorer[] {
  const names = requested
    .split(",")
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== "");
  for (const n of names) {
    if (!(VERIFICATION_PROVIDERS as readonly string[]).includes(n)) {
      throw new InputError(`unknown verification provider "${n}" (use ${VERIFICATION_PROVIDERS.join(", ")})`);
    }
  }
  const explorers = config.chainDescriptors.get(chainId)?.blockExplorers ?? {};
  const chosen = (names.length > 0 ? names : VERIFICATION_PROVIDERS) as VerificationProviderName[];
  const result: Explorer[] = [];
  for (const provider of chosen) {
    const explicit = names.includes(provider);
    if (!config.verify[provider].enabled) {
      if (explicit)
        throw new InputError(`${provider} verification is disabled in hardhat.config.ts (verify.${provider})`);
      continue;
    }
    if (provider === "sourcify") {
      const apiUrl = config.verify.sourcify.apiUrl ?? "https://sourcify.dev/server";
      result.push({ provider, name: "Sourcify", url: `${apiUrl}/repo-ui`, apiUrl });
    } else if (provider === "blockscout") {
      const b = explorers.blockscout;
      if (b === undefined) {
        if (explicit) {
          throw new InputError(
            `no Blockscout explorer is configured for chain ${chainId} (chainDescriptors in hardhat.config.ts)`,
          );
        }
        continue;
      }
      result.push({ provider, name: b.name ?? "Blockscout", url: b.url, apiUrl: b.apiUrl });
    } else {
      const e = explorers.etherscan;
      if (e === undefined && !explicit) continue;
      result.push({
        provider,
        name: e?.name ?? "Etherscan",
        url: e?.url,
        apiUrl: e?.apiUrl ?? "https://api.etherscan.io/v2/api",
      });
    }
  }
  if (result.length === 0) throw new InputError(`no verification provider is enabled for chain ${chainId}`);
  return result;
}
