import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { network } from "hardhat";

const run = promisify(execFile);

/** Runs `npx hardhat <args>` against the test's JSON-RPC server; never throws, returns the output. */
export async function hardhat(env: NodeJS.ProcessEnv, ...args: string[]) {
  try {
    const { stdout, stderr } = await run("npx", ["hardhat", ...args], { env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The lines a failed task printed, without npm's warnings. */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("npm warn"));
}

/**
 * A JSON-RPC node (the in-process network served on a free port) and the environment that points the tasks' `localhost`
 * network at it, with deployments written to a fresh temporary folder.
 */
export async function startTaskNode(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const server = await network.createServer("default", "127.0.0.1", 0);
  const { address, port } = await server.listen();
  const url = `http://${address}:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, LOCALHOST_URL: url, DEPLOYMENTS_DIR: dir, FORCE_COLOR: "0" };
  return { dir, url, env, close: () => server.close() };
}
