import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { InputError, MicrogridError, toChainError } from "../src/errors.js";
import { parseAddress } from "../src/ops/meters.js";
import { attachSystem, readDeployment, SYSTEM_INTERFACES, type Deployment, type System } from "../src/deploy.js";

/** Where deployments are recorded; `DEPLOYMENTS_DIR` overrides (tests use a temporary folder). */
export const DEPLOYMENTS_DIR = process.env.DEPLOYMENTS_DIR ?? "deployments";

/** Wraps a task action so that any failure prints one line (`Error: …`) and sets a non-zero exit code. */
export function action<A>(fn: (args: A, hre: HardhatRuntimeEnvironment) => Promise<void>) {
  return async (args: A, hre: HardhatRuntimeEnvironment): Promise<void> => {
    try {
      await fn(args, hre);
    } catch (e) {
      const err = e instanceof MicrogridError ? e : toChainError(e, SYSTEM_INTERFACES);
      console.error(`Error: ${err.message}`);
      process.exitCode = 1;
    }
  };
}

/** Connects to the selected network and attaches the recorded deployment. */
export async function connectSystem(
  hre: HardhatRuntimeEnvironment,
  signerIndex = 0,
): Promise<{
  system: System;
  deployment: Deployment;
  networkName: string;
  ethers: Awaited<ReturnType<typeof hre.network.create>>["ethers"];
}> {
  const conn = await hre.network.create();
  const deployment = readDeployment(DEPLOYMENTS_DIR, conn.networkName);
  const signers = await conn.ethers.getSigners();
  const signer = signers[signerIndex];
  if (signer === undefined)
    throw new MicrogridError(`account ${signerIndex} is not configured for ${conn.networkName}`);
  return { system: attachSystem(deployment, signer), deployment, networkName: conn.networkName, ethers: conn.ethers };
}

/** Connects like {connectSystem}, with the `--from` account as the signer (default: account 0). */
export async function connectAs(hre: HardhatRuntimeEnvironment, from: string) {
  const ctx = await connectSystem(hre);
  const signers = await ctx.ethers.getSigners();
  const signer = from === "" ? signers[0] : signers.find((s) => s.address === parseAddress(from, "--from"));
  if (signer === undefined) throw new InputError(`account ${from || "0"} is not configured for ${ctx.networkName}`);
  return { ...ctx, signer, system: attachSystem(ctx.deployment, signer) };
}

/** Prints rows as an aligned text table. */
export function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) {
    console.log("(none)");
    return;
  }
  const cols = Object.keys(rows[0]);
  const cells = rows.map((r) => cols.map((c) => String(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  console.log(cols.map((c, i) => c.padEnd(widths[i])).join("  "));
  for (const row of cells) console.log(row.map((v, i) => v.padEnd(widths[i])).join("  "));
}

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}
