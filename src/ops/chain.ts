import type { Provider } from "ethers";
import { SYSTEM_INTERFACES, type System } from "../deploy.js";
import { MicrogridError, toChainError } from "../errors.js";

/** Sends a transaction and waits for it; a refusal becomes one ChainError naming the decoded custom error. */
export async function send(p: () => Promise<{ hash: string; wait(): Promise<unknown> }>): Promise<string> {
  try {
    const tx = await p();
    await tx.wait();
    return tx.hash;
  } catch (e) {
    throw toChainError(e, SYSTEM_INTERFACES);
  }
}

/** A read or an estimate; the project's own errors pass through, anything else becomes one ChainError. */
export async function call<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw e instanceof MicrogridError ? e : toChainError(e, SYSTEM_INTERFACES);
  }
}

/** The provider behind a system's handles (they share one runner). */
export function providerOf(system: System): Provider {
  const provider = system.registry.runner?.provider;
  if (provider == null) throw new MicrogridError("the system's contract handles have no provider");
  return provider;
}
