/** Shared printing and report header of the gas benchmarks (scripts/bench/*.ts). */
import hre from "hardhat";

/** A number with thousands separators. */
export const fmt = (n: number) => n.toLocaleString("en-US");

/** Prints rows as a table: the first column left-aligned, the others right-aligned. */
export function table(header: string[], cells: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells) console.log(line(r));
}

/** The default compiler's version, EVM version and optimizer settings, for a benchmark's JSON report. */
export function compilerOfReport() {
  const compiler = hre.config.solidity.profiles.default.compilers[0];
  const settings = compiler.settings as { evmVersion?: string; optimizer?: { enabled?: boolean; runs?: number } };
  return { solc: compiler.version, evmVersion: settings.evmVersion ?? null, optimizer: settings.optimizer ?? null };
}
