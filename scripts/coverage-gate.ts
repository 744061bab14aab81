/**
 * Coverage gate: reads what `npm run coverage` (`hardhat test --coverage`) left in `coverage/` and fails when line
 * coverage of `contracts/` is below 95% or branch coverage below 90% (test doubles in `contracts/mocks/` excluded).
 *
 *   npm run coverage         the whole suite, instrumented; writes coverage/lcov.info, coverage/html, coverage/data
 *   npm run coverage:gate    this script (tsx scripts/coverage-gate.ts); COVERAGE_MIN_LINES / COVERAGE_MIN_BRANCHES
 *                            override the thresholds (percent)
 *
 * Lines are Hardhat's own figures (`coverage/lcov.info`, the table `hardhat test --coverage` prints).
 *
 * Branches: Hardhat 3.18 reports no branch coverage (its lcov writer leaves the BRDA records out: "EDR does not
 * provide branch coverage information"), so this script derives it from the statement hits Hardhat records in
 * `coverage/data/<runner>/*.json`. EDR's instrumentation (the same call Hardhat makes, which derives each statement's
 * tag from the source, its source name and the compiler version) gives every statement a tag, including each arm of
 * an `if`: the `then` statement and the `else` statement are instrumented as statements of their own. A branch is
 * one arm of an `if` statement (an `if` without `else` has an implicit empty `else` arm) or one clause of a
 * `try`/`catch`; the solc AST (parse only) finds them. An arm is covered when:
 *   - `then`, `else`, a `try` clause: its statement (or its block's first statement) was hit;
 *   - the implicit `else`: the `if` was hit more often than its `then` arm (EDR counts a statement once per
 *     transaction or call that reaches it), or the `then` arm always leaves (revert, return, break, continue) and the
 *     statement after the `if` was hit.
 * Not counted: conditional expressions (`a ? b : c`), `&&`/`||` short-circuits and loop conditions, which EDR does
 * not instrument. The script also writes `coverage/summary.json` (per file: lines, branches, what is uncovered).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import solc from "solc";
import { addStatementCoverageInstrumentation, latestSupportedSolidityVersion } from "@nomicfoundation/edr";

const MIN_LINES = Number(process.env.COVERAGE_MIN_LINES ?? "95");
const MIN_BRANCHES = Number(process.env.COVERAGE_MIN_BRANCHES ?? "90");
const DIR = "coverage";
const LCOV = join(DIR, "lcov.info");
const DATA = join(DIR, "data");
const INCLUDED = (path: string) => path.startsWith("contracts/") && !path.startsWith("contracts/mocks/");

function fail(message: string): never {
  console.error(`coverage gate: ${message}`);
  process.exit(1);
}

if (!existsSync(LCOV) || !existsSync(DATA)) fail(`no ${LCOV} or ${DATA}: run npm run coverage first`);

/*//////////////////////////////////////////////////////////////
                              LINES
//////////////////////////////////////////////////////////////*/

interface FileLines {
  found: number;
  hit: number;
  uncovered: number[];
}
const lines = new Map<string, FileLines>();
{
  let current: FileLines | undefined;
  for (const raw of readFileSync(LCOV, "utf8").split("\n")) {
    const line = raw.trim();
    if (line.startsWith("SF:")) {
      const path = line.slice(3).replaceAll("\\", "/");
      current = INCLUDED(path) ? { found: 0, hit: 0, uncovered: [] } : undefined;
      if (current !== undefined) lines.set(path, current);
    } else if (current !== undefined && line.startsWith("DA:")) {
      const [n, count] = line.slice(3).split(",").map(Number);
      current.found++;
      if (count > 0) current.hit++;
      else current.uncovered.push(n);
    }
  }
}
if (lines.size === 0) fail(`${LCOV} has no file under contracts/ (outside contracts/mocks/)`);

/*//////////////////////////////////////////////////////////////
                        STATEMENT HITS
//////////////////////////////////////////////////////////////*/

/** Hits per statement tag, summed over every runner (solidity, mocha) and worker. */
const hits = new Map<string, number>();
for (const runner of readdirSync(DATA)) {
  const dir = join(DATA, runner);
  if (!statSync(dir).isDirectory()) continue;
  for (const file of readdirSync(dir)) {
    if (!file.endsWith(".json")) continue;
    const counts = JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, number>;
    for (const [tag, n] of Object.entries(counts)) hits.set(tag, (hits.get(tag) ?? 0) + n);
  }
}

/*//////////////////////////////////////////////////////////////
                            BRANCHES
//////////////////////////////////////////////////////////////*/

/** The compiler version Hardhat instruments with: the project's solc, capped at the latest EDR supports. */
function instrumentationVersion(): string {
  const version = String(solc.version()).split("+")[0];
  const latest = latestSupportedSolidityVersion();
  const parts = (v: string) => v.split(".").map(Number);
  const [a, b] = [parts(version), parts(latest)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? version : latest;
  return version;
}
const VERSION = instrumentationVersion();

interface Statement {
  tag: string;
  start: number;
  end: number;
}

/** A solc AST node: its kind, its `src` ("byteOffset:byteLength:file") and children. */
interface AstNode {
  nodeType: string;
  src: string;
  [key: string]: unknown;
}

interface Branch {
  line: number;
  arm: "then" | "else" | "implicit else" | "try clause";
  /** Whether the hits show the arm taken; null: they cannot tell (see the header). */
  covered: boolean | null;
}

/** Where an `if` sits: in a loop, or in a function that may run more than once per transaction. */
interface Context {
  inLoop: boolean;
  repeatable: boolean;
}

/** White space and comments only (EDR's statement ranges start with the comments above a statement). */
function trivia(text: string): boolean {
  return (
    text
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/[^\n]*/g, "")
      .trim() === ""
  );
}

/** UTF-16 index of every UTF-8 byte offset of `text` (solc counts bytes, EDR UTF-16 code units). */
function byteToUtf16(text: string): Uint32Array {
  const bytes = Buffer.byteLength(text, "utf8");
  const map = new Uint32Array(bytes + 1);
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i)!;
    const width = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    for (let k = 0; k < width; k++) map[b + k] = i;
    b += width;
    if (code >= 0x10000) i++; // a surrogate pair is one code point
  }
  map[bytes] = text.length;
  return map;
}

function parse(path: string, text: string): AstNode {
  const input = {
    language: "Solidity",
    sources: { [path]: { content: text } },
    settings: { stopAfter: "parsing", outputSelection: { "*": { "": ["ast"] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as {
    sources?: Record<string, { ast: AstNode }>;
    errors?: { severity: string; formattedMessage: string }[];
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0 || out.sources?.[path] === undefined) {
    fail(`solc cannot parse ${path}: ${errors.map((e) => e.formattedMessage).join("; ")}`);
  }
  return out.sources[path].ast;
}

function branchesOf(path: string): { branches: Branch[]; statementsHit: number; unmeasured: number } {
  const text = readFileSync(path, "utf8");
  const statements: Statement[] = addStatementCoverageInstrumentation(text, `project/${path}`, VERSION)
    .metadata.filter((m) => m.kind === "statement")
    .map((m) => ({ tag: Buffer.from(m.tag).toString("hex"), start: m.startUtf16, end: m.endUtf16 }));
  const utf16 = byteToUtf16(text);
  const lineAt = (offset: number) => text.slice(0, offset).split("\n").length;
  const startOf = (n: AstNode) => utf16[Number(n.src.split(":")[0])];
  const count = (s: Statement | undefined) => (s === undefined ? 0 : (hits.get(s.tag) ?? 0));

  /** The instrumented statement that begins where `n` begins (EDR's ranges start with leading space and comments). */
  function statementOf(n: AstNode): Statement | undefined {
    const at = startOf(n);
    let best: Statement | undefined;
    for (const s of statements) {
      if (s.start > at || s.end <= at || !trivia(text.slice(s.start, at))) continue;
      if (best === undefined || s.start > best.start || (s.start === best.start && s.end > best.end)) best = s;
    }
    return best;
  }
  /** Evidence that `n` ran: its own statement, or a block's first statement. */
  function entered(n: AstNode): number | undefined {
    if (n.nodeType === "Block" || n.nodeType === "UncheckedBlock") {
      const own = statementOf(n);
      if (own !== undefined) return count(own);
      const first = (n.statements as AstNode[])[0];
      return first === undefined ? undefined : entered(first);
    }
    const s = statementOf(n);
    return s === undefined ? undefined : count(s);
  }
  function leaves(n: AstNode): boolean {
    switch (n.nodeType) {
      case "Return":
      case "RevertStatement":
      case "Break":
      case "Continue":
        return true;
      case "ExpressionStatement": {
        const e = n.expression as AstNode;
        const callee = e.nodeType === "FunctionCall" ? (e.expression as AstNode) : undefined;
        return callee?.nodeType === "Identifier" && callee.name === "revert";
      }
      case "Block":
      case "UncheckedBlock": {
        const body = n.statements as AstNode[];
        return body.length > 0 && leaves(body[body.length - 1]);
      }
      case "IfStatement":
        return n.falseBody != null && leaves(n.trueBody as AstNode) && leaves(n.falseBody as AstNode);
      default:
        return false;
    }
  }

  const branches: Branch[] = [];
  let unmeasured = 0;
  const arm = (line: number, kind: Branch["arm"], covered: boolean | null | undefined) => {
    if (covered === undefined) unmeasured++;
    else branches.push({ line, arm: kind, covered });
  };
  const taken = (n: number | undefined) => (n === undefined ? undefined : n > 0);
  function visit(node: unknown, ctx: Context, next?: AstNode): void {
    if (Array.isArray(node)) {
      node.forEach((child, i) => visit(child, ctx, node[i + 1] as AstNode | undefined));
      return;
    }
    if (node === null || typeof node !== "object") return;
    const n = node as AstNode;
    if (n.nodeType === "FunctionDefinition") {
      const repeatable = n.visibility === "internal" || n.visibility === "private" || n.kind === "freeFunction";
      ctx = { inLoop: false, repeatable };
    } else if (n.nodeType === "ModifierDefinition") {
      ctx = { inLoop: false, repeatable: true };
    } else if (["ForStatement", "WhileStatement", "DoWhileStatement"].includes(n.nodeType)) {
      ctx = { ...ctx, inLoop: true };
    } else if (n.nodeType === "IfStatement") {
      const line = lineAt(startOf(n));
      const trueBody = n.trueBody as AstNode;
      const thenHits = entered(trueBody);
      arm(line, "then", taken(thenHits));
      if (n.falseBody != null) arm(line, "else", taken(entered(n.falseBody as AstNode)));
      else if (thenHits === undefined) arm(line, "implicit else", undefined);
      else {
        // Hits are counted once per transaction: an `if` reached more often than its `then` arm went the other
        // way at least once; so did one whose `then` arm always leaves when the statement after it ran. Otherwise
        // an `if` that can run twice in one transaction may have gone both ways in the same transactions.
        const ifHits = count(statementOf(n));
        const fellThrough = leaves(trueBody) && next !== undefined && (entered(next) ?? 0) > 0;
        const covered = ifHits > thenHits || fellThrough;
        arm(line, "implicit else", covered ? true : thenHits > 0 && (ctx.inLoop || ctx.repeatable) ? null : false);
      }
    } else if (n.nodeType === "TryStatement") {
      for (const clause of n.clauses as AstNode[]) {
        arm(lineAt(startOf(clause)), "try clause", taken(entered(clause.block as AstNode)));
      }
    }
    for (const [key, value] of Object.entries(n)) {
      if (key !== "nodeType" && key !== "src" && value !== null && typeof value === "object") visit(value, ctx);
    }
  }
  visit(parse(path, text), { inLoop: false, repeatable: false });
  return { branches, statementsHit: statements.filter((s) => count(s) > 0).length, unmeasured };
}

/*//////////////////////////////////////////////////////////////
                             REPORT
//////////////////////////////////////////////////////////////*/

const pct = (hit: number, found: number) => (found === 0 ? 100 : (hit * 100) / found);
const rows: {
  path: string;
  lines: { found: number; hit: number; pct: number; uncovered: number[] };
  branches: { found: number; hit: number; pct: number; uncovered: string[]; unknown: string[] };
  /** Arms with no statement to observe (an empty block). */
  unmeasuredArms: number;
}[] = [];
for (const [path, l] of [...lines.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  if (l.found === 0) continue;
  const { branches, statementsHit, unmeasured } = branchesOf(path);
  if (l.hit > 0 && statementsHit === 0) {
    fail(`the statement hits in ${DATA} do not match ${path} (changed since the coverage run?): run npm run coverage`);
  }
  const known = branches.filter((b) => b.covered !== null);
  const bHit = known.filter((b) => b.covered).length;
  const where = (b: Branch) => `${b.line} ${b.arm}`;
  rows.push({
    path,
    lines: { found: l.found, hit: l.hit, pct: pct(l.hit, l.found), uncovered: l.uncovered },
    branches: {
      found: known.length,
      hit: bHit,
      pct: pct(bHit, known.length),
      uncovered: known.filter((b) => !b.covered).map(where),
      unknown: branches.filter((b) => b.covered === null).map(where),
    },
    unmeasuredArms: unmeasured,
  });
}
const total = (k: "lines" | "branches") => {
  const found = rows.reduce((s, r) => s + r[k].found, 0);
  const hit = rows.reduce((s, r) => s + r[k].hit, 0);
  return { found, hit, pct: pct(hit, found) };
};
const totals = { lines: total("lines"), branches: total("branches") };
const unknown = rows.reduce((s, r) => s + r.branches.unknown.length, 0);
const unmeasured = rows.reduce((s, r) => s + r.unmeasuredArms, 0);

const f2 = (x: number) => x.toFixed(2);
const width = Math.max(...rows.map((r) => r.path.length), 5);
console.log(`${"file".padEnd(width)}  ${"lines %".padStart(14)}  ${"branches %".padStart(14)}`);
for (const r of rows) {
  const mark = r.lines.pct < MIN_LINES || r.branches.pct < MIN_BRANCHES ? "  <" : "";
  const l = `${f2(r.lines.pct)} (${r.lines.hit}/${r.lines.found})`;
  const b = `${f2(r.branches.pct)} (${r.branches.hit}/${r.branches.found})`;
  console.log(`${r.path.padEnd(width)}  ${l.padStart(14)}  ${b.padStart(14)}${mark}`);
}
const tl = `${f2(totals.lines.pct)} (${totals.lines.hit}/${totals.lines.found})`;
const tb = `${f2(totals.branches.pct)} (${totals.branches.hit}/${totals.branches.found})`;
console.log(`${"total".padEnd(width)}  ${tl.padStart(14)}  ${tb.padStart(14)}`);
console.log(
  `not counted: ${unknown} implicit else arms the hits cannot tell (an if run more than once per transaction, its ` +
    `then arm taken every time it ran), ${unmeasured} arms with no statement (empty blocks); see ${DIR}/summary.json`,
);

const below = rows.filter((r) => r.lines.pct < MIN_LINES || r.branches.pct < MIN_BRANCHES);
if (below.length > 0) console.log(`\nbelow ${MIN_LINES}% lines or ${MIN_BRANCHES}% branches:`);
for (const r of below) {
  console.log(`  ${r.path}: lines ${f2(r.lines.pct)}%, branches ${f2(r.branches.pct)}%`);
  if (r.lines.uncovered.length > 0) console.log(`    uncovered lines: ${r.lines.uncovered.join(", ")}`);
  if (r.branches.uncovered.length > 0) console.log(`    uncovered branches: ${r.branches.uncovered.join(", ")}`);
}
writeFileSync(
  join(DIR, "summary.json"),
  JSON.stringify({ thresholds: { lines: MIN_LINES, branches: MIN_BRANCHES }, totals, files: rows }, null, 2) + "\n",
);

const failures: string[] = [];
if (totals.lines.pct < MIN_LINES) failures.push(`line coverage ${f2(totals.lines.pct)}% is below ${MIN_LINES}%`);
if (totals.branches.pct < MIN_BRANCHES) {
  failures.push(`branch coverage ${f2(totals.branches.pct)}% is below ${MIN_BRANCHES}%`);
}
for (const m of failures) console.error(`coverage gate: ${m}`);
if (failures.length > 0) process.exit(1);
console.log(
  `\ncoverage gate: passed (lines ${f2(totals.lines.pct)}% >= ${MIN_LINES}%, branches ${f2(totals.branches.pct)}% >= ${MIN_BRANCHES}%)`,
);
