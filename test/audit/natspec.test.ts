import { expect } from "chai";
import { Interface, type ErrorFragment, type EventFragment, type FunctionFragment } from "ethers";
import { artifacts } from "hardhat";
import { readBuildInfo, readCompilation, type NatSpecDoc } from "../../src/verification.js";

/**
 * NatSpec completeness, read from the compiler's `userdoc` and `devdoc` (what explorers show from the verified
 * metadata), for every contract, interface and library under `contracts/` except the mocks. The rule:
 *
 *  - every contract, interface and library has a `@notice`;
 *  - every external or public function, public state variable, event and error of its ABI that is declared in this
 *    project has a `@notice` (`@inheritdoc` counts: the compiler copies the base's docs); what OpenZeppelin or
 *    Chainlink declare and we do not override is documented there;
 *  - every parameter of those functions, events and errors is named and has a `@param`, and every return value of
 *    those functions a `@return`. No parameter is exempt as "self-explanatory": explorers print each `@param` beside
 *    the argument it explains (decoded calls and logs), where a name alone says nothing about units (Wh, W, base units
 *    per kWh), ids (zone, interval, class) or who may call. Getters of public state variables need only the `@notice`
 *    (NatSpec has no `@param` for them).
 */

const ours = (source: string) => source.startsWith("contracts/") && !source.startsWith("contracts/mocks/");

interface AstNode {
  id: number;
  nodeType: string;
  name?: string;
  contractKind?: string;
  linearizedBaseContracts?: number[];
  kind?: string;
  visibility?: string;
  stateVariable?: boolean;
  functionSelector?: string;
  eventSelector?: string;
  errorSelector?: string;
  documentation?: { text: string };
  nodes?: AstNode[];
}

/**
 * Where an ABI entry is declared and where its NatSpec belongs: `declared` is the most derived declaration (it decides
 * whether the entry is this project's), `documented` the file whose NatSpec the compiler uses (following `@inheritdoc`
 * and undocumented overrides to their base), and `getter` whether it is a public state variable.
 */
interface Declaration {
  declared: string;
  documented: string;
  getter: boolean;
}

/** Where each function, event and error of a build is declared, by selector, walking from a contract's bases. */
class Declarations {
  readonly #contracts = new Map<number, { node: AstNode; source: string }>();
  readonly #anywhere = new Map<string, string>();

  constructor(sources: Record<string, { ast: unknown }>) {
    for (const [inputName, { ast }] of Object.entries(sources)) {
      const source = inputName.replace(/^project\//, "");
      for (const node of (ast as AstNode).nodes ?? []) {
        if (node.nodeType === "ContractDefinition") this.#contracts.set(node.id, { node, source });
        this.#index(node, source);
      }
    }
  }

  #index(node: AstNode, source: string) {
    const selector = node.eventSelector ?? node.errorSelector;
    if (selector !== undefined && !this.#anywhere.has(selector)) this.#anywhere.set(selector, source);
    for (const child of node.nodes ?? []) this.#index(child, source);
  }

  contractNode(source: string, name: string): AstNode {
    for (const { node, source: s } of this.#contracts.values()) if (s === source && node.name === name) return node;
    throw new Error(`no AST of ${source}:${name}`);
  }

  /** The declarations of `selector` among `contract`'s bases (most derived first), else any event or error of the build. */
  find(contract: AstNode, selector: string): Declaration | undefined {
    const found: { source: string; node: AstNode }[] = [];
    for (const id of contract.linearizedBaseContracts ?? []) {
      const base = this.#contracts.get(id);
      for (const node of base?.node.nodes ?? []) {
        if ((node.functionSelector ?? node.eventSelector ?? node.errorSelector) === selector) {
          found.push({ source: base!.source, node });
        }
      }
    }
    if (found.length === 0) {
      const source = this.#anywhere.get(selector);
      return source === undefined ? undefined : { declared: source, documented: source, getter: false };
    }
    let documented = found[0].source;
    for (const { source, node } of found) {
      if (!ours(source)) break;
      documented = source;
      const text = node.documentation?.text ?? "";
      if (text !== "" && !text.includes("@inheritdoc")) break;
    }
    return { declared: found[0].source, documented, getter: found[0].node.nodeType === "VariableDeclaration" };
  }
}

/** A missing piece of NatSpec, located by the file that should carry it. */
interface Gap {
  file: string;
  contract: string;
  what: string;
}

/** The NatSpec gaps of one contract, interface or library. */
function gapsOf(
  fqn: string,
  abi: unknown[],
  userdoc: NatSpecDoc,
  devdoc: NatSpecDoc,
  declarations: Declarations,
): Gap[] {
  const [source, name] = fqn.split(":");
  const node = declarations.contractNode(source, name);
  const gaps: Gap[] = [];
  const gap = (file: string, what: string) => gaps.push({ file, contract: name, what });
  if (!userdoc.notice) gap(source, `${node.contractKind} ${name}: no @notice`);

  const params = (
    file: string,
    what: string,
    inputs: readonly { name: string }[],
    documented: Record<string, string> | undefined,
  ) => {
    inputs.forEach((p, i) => {
      if (p.name === "") gap(file, `${what}: parameter ${i} is unnamed`);
      else if (!documented?.[p.name]) gap(file, `${what}: no @param ${p.name}`);
    });
  };

  const iface = new Interface(abi as never);
  iface.forEachFunction((f: FunctionFragment) => {
    const sig = f.format("sighash");
    const decl = declarations.find(node, f.selector.slice(2));
    if (decl === undefined || !ours(decl.declared)) return;
    const what = `function ${sig}`;
    if (!userdoc.methods?.[sig]?.notice) gap(decl.documented, `${what}: no @notice`);
    if (decl.getter) return;
    const dev = devdoc.methods?.[sig];
    params(decl.documented, what, f.inputs, dev?.params);
    f.outputs.forEach((o, i) => {
      // Unnamed return values are documented as `_<position>`, also when an implementation names what it inherits.
      if (!dev?.returns?.[o.name] && !dev?.returns?.[`_${i}`])
        gap(decl.documented, `${what}: no @return for ${o.name === "" ? `value ${i}` : o.name}`);
    });
  });
  iface.forEachEvent((e: EventFragment) => {
    const sig = e.format("sighash");
    const decl = declarations.find(node, e.topicHash.slice(2));
    if (decl === undefined || !ours(decl.declared)) return;
    const what = `event ${sig}`;
    if (!userdoc.events?.[sig]?.notice) gap(decl.documented, `${what}: no @notice`);
    params(decl.documented, what, e.inputs, devdoc.events?.[sig]?.params);
  });
  iface.forEachError((e: ErrorFragment) => {
    const sig = e.format("sighash");
    const decl = declarations.find(node, e.selector.slice(2));
    if (decl === undefined || !ours(decl.declared)) return;
    const what = `error ${sig}`;
    if (!(userdoc.errors?.[sig] ?? []).some((d) => d.notice)) gap(decl.documented, `${what}: no @notice`);
    const documented = Object.assign({}, ...(devdoc.errors?.[sig] ?? []).map((d) => d.params ?? {}));
    params(decl.documented, what, e.inputs, documented);
  });
  return gaps;
}

describe("NatSpec: every external function, event and error is documented for explorers", function () {
  let gaps: Gap[] = [];
  let checked: string[] = [];

  before(async function () {
    const names = [...(await artifacts.getAllFullyQualifiedNames())].filter((n) => ours(n.split(":")[0])).sort();
    const all: Gap[] = [];
    for (const fqn of names) {
      const c = await readCompilation(artifacts, fqn);
      const { output } = await readBuildInfo(artifacts, c.buildInfoId);
      expect(c.output.userdoc, `${fqn}: userdoc in the compiler output (outputSelection)`).to.not.equal(undefined);
      expect(c.output.devdoc, `${fqn}: devdoc in the compiler output (outputSelection)`).to.not.equal(undefined);
      all.push(...gapsOf(fqn, c.output.abi, c.output.userdoc!, c.output.devdoc!, new Declarations(output.sources)));
    }
    // One gap per file and item (a declaration in an interface shows up again in every contract that inherits it).
    const seen = new Set<string>();
    gaps = all.filter((g) => {
      const key = `${g.file}|${g.what}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    checked = names;
    if (process.env.NATSPEC_REPORT) {
      for (const g of gaps) console.log(`MISSING  ${g.file}  ${g.what}`);
    }
  });

  it("test_natspec_checksEveryContractInterfaceAndLibrary", function () {
    for (const name of ["MeterRegistry", "IMeterRegistry", "KwhToken", "DealDesk", "RecIds", "Governance"]) {
      expect(
        checked.some((fqn) => fqn.endsWith(`:${name}`)),
        name,
      ).to.equal(true);
    }
    expect(checked.some((fqn) => fqn.startsWith("contracts/mocks/"))).to.equal(false);
  });

  it("test_natspec_everyDeclarationIsDocumented", function () {
    const missing = gaps.map((g) => `${g.file}: ${g.what}`);
    expect(missing, missing.join("\n")).to.deep.equal([]);
  });
});
