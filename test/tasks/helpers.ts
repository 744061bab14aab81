import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
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

/**
 * Runs `f` over `items` two at a time (each task is a Node start-up, CPU-bound, and the machines have two cores),
 * results in the items' order. Only for calls that change no state (bad input refused before any transaction).
 */
export async function twoAtATime<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
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

/** The error `p` rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** Expects a failed task: exit code != 0 and exactly one stderr line matching `pattern` (no stack trace). */
export function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp, what: string) {
  const lines = errorLines(r.stderr);
  expect(r.code, what).to.not.equal(0);
  expect(lines, `${what}: ${r.stderr}`).to.have.length(1);
  expect(lines[0], what).to.match(pattern);
}
