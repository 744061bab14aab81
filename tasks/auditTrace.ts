import { action, connectSystem, toJson } from "./common.js";
import { InputError } from "../src/errors.js";
import { formatVintage } from "../src/certificates.js";
import { parseAddress } from "../src/ops/meters.js";
import { formatCertificateId, parseCertificateId } from "../src/ops/rec.js";
import {
  parseRelayerUrl,
  parseTxHash,
  traceReading,
  traceRec,
  traceTx,
  type CheckedReading,
  type ReadingTrace,
  type RecTrace,
  type TxRef,
  type TxTrace,
} from "../src/ops/trace.js";

export interface Args {
  meter: string;
  interval: bigint;
  tx: string;
  rec: string;
  relayer: string;
  json: boolean;
}

/** A line of the tree and the lines under it. */
export interface TreeNode {
  text: string;
  children?: TreeNode[];
}

/** The tree as text: the root line, then every child indented under `├─`/`└─`. */
export function renderTree(root: TreeNode): string {
  const lines = [root.text];
  const walk = (children: TreeNode[], prefix: string) =>
    children.forEach((c, i) => {
      const last = i === children.length - 1;
      lines.push(`${prefix}${last ? "└─ " : "├─ "}${c.text}`);
      if (c.children !== undefined && c.children.length > 0) walk(c.children, prefix + (last ? "   " : "│  "));
    });
  walk(root.children ?? [], "");
  return lines.join("\n");
}

const at = (r: TxRef) => `(tx ${r.txHash}, block ${r.block})`;
const yesNo = (b: boolean | null, unknown = "not checked") => (b === null ? unknown : b ? "yes" : "NO");

/** A stage: its title with its entries under it, or `title: none`. */
function stage(title: string, entries: TreeNode[]): TreeNode {
  return entries.length === 0 ? { text: `${title}: none` } : { text: title, children: entries };
}

function signatureLine(r: CheckedReading): string {
  return `signature ${r.signature}: signed by ${r.recoveredSigner ?? "nobody (not a signature the registry accepts)"} — ${r.signatureValid ? "valid" : "INVALID"}`;
}

/** The tree of one reading's trace. */
export function readingTree(t: ReadingTrace): TreeNode {
  const children: TreeNode[] = [];
  const reg = t.registration;
  children.push({
    text:
      reg === null
        ? "meter: not registered"
        : `meter: owner ${reg.owner}, zone ${reg.zone}, ${reg.technology}, ${reg.status}${reg.recEligible ? ", REC-eligible" : ""}`,
  });

  const r = t.reading;
  if ("unavailable" in r) children.push({ text: `signed reading: unavailable — ${r.unavailable}` });
  else {
    const base = r.baseline;
    children.push({
      text: `signed reading (relayer ${r.source})`,
      children: [
        {
          text: `interval ${r.intervalId}: import ${r.importWhTotal} Wh, export ${r.exportWhTotal} Wh (registers), timestamp ${r.timestamp}`,
        },
        { text: `EIP-712 digest ${r.digest}` },
        { text: signatureLine(r) },
        base === null
          ? { text: "baseline: none (the meter's first reading: no delta)" }
          : {
              text: `baseline, interval ${base.intervalId}: import ${base.importWhTotal} Wh, export ${base.exportWhTotal} Wh`,
              children: [{ text: signatureLine(base) }],
            },
        r.delta === null
          ? { text: "delta: none" }
          : {
              text: `delta: import ${r.delta.importWh} Wh, export ${r.delta.exportWh} Wh — ${r.matchesLeaf === null ? "no leaf to compare" : r.matchesLeaf ? "matches the leaf" : "DIFFERS FROM THE LEAF"}`,
            },
        stage(
          "conflicting readings kept by the relayer",
          r.conflicts.map((c) => ({
            text: `import ${c.importWhTotal} Wh, export ${c.exportWhTotal} Wh, via ${c.via}; ${signatureLine(c)}`,
          })),
        ),
      ],
    });
  }

  const l = t.leaf;
  if ("unavailable" in l) children.push({ text: `leaf: unavailable — ${l.unavailable}` });
  else {
    const proofText =
      l.proofSource === null
        ? "proof: none available"
        : `${l.multiProof === null ? "proof" : `multi-proof of ${l.multiProof.leaves.length} leaves`} from the ${l.proofSource} (${l.proof.length} node${l.proof.length === 1 ? "" : "s"})`;
    children.push({
      text: `leaf [${l.meter}, ${l.intervalId}, import ${l.importWh} Wh, export ${l.exportWh} Wh] from the ${l.source === "claim" ? "claim on chain" : "relayer"}`,
      children: [
        { text: `hash ${l.leafHash}` },
        {
          text: proofText,
          children: [
            ...l.proof.map((p) => ({ text: p })),
            ...(l.multiProof === null ? [] : [{ text: `flags ${l.multiProof.proofFlags.join(",")}` }]),
          ],
        },
        { text: `verifies against the root on chain: ${yesNo(l.verifiesAgainstRoot)}` },
        ...(l.relayerMatchesClaim === null
          ? []
          : [{ text: `the relayer's leaf matches the claim: ${yesNo(l.relayerMatchesClaim)}` }]),
      ],
    });
  }

  const root = t.root;
  children.push(
    root.status === "none"
      ? { text: `root: none (no relayer voted for interval ${root.intervalId})` }
      : {
          text: `root ${root.root} ${root.status}: ${root.leafCount} leaves, import ${root.totalImportWh} Wh, export ${root.totalExportWh} Wh (threshold ${root.threshold})`,
          children: [
            ...root.votes.map((v) => ({ text: `vote by ${v.relayer} ${at(v)}` })),
            ...root.conflicts.map((c) => ({ text: `CONFLICTING vote by ${c.relayer} for ${c.root} ${at(c)}` })),
            {
              text:
                root.finalized === null
                  ? "not final"
                  : `finalized with ${root.finalized.votes} votes ${at(root.finalized)}`,
            },
            ...(root.relayerRoot === null
              ? []
              : [
                  {
                    text: `relayer's root ${root.relayerRoot}: ${root.relayerRoot === root.root ? "same" : "DIFFERENT"}`,
                  },
                ]),
          ],
        },
  );

  children.push(
    stage(
      "kWh mints",
      t.mints.map((m) => ({
        text:
          m.amount === 0n
            ? `claimed with 0 Wh export: nothing minted (import ${m.importWh} Wh) ${at(m)}`
            : `${m.amount} Wh of id ${m.tokenId} (zone ${m.zone}, interval ${m.intervalId}) to ${m.to} ${at(m)}`,
      })),
    ),
  );
  children.push(
    stage(
      "certificates",
      t.certificates.map((c) => ({
        text: `${c.amount} Wh of class ${formatCertificateId(c.certificateId)} (${c.technology}, ${formatVintage(c.vintage)}, zone ${c.zone}) to ${c.to} ${at(c)}`,
      })),
    ),
  );
  children.push(
    stage(
      "auction orders",
      t.orders.map((o) => ({
        text: `${o.side} ${o.commitment} by ${o.trader}: zone ${o.zone}, ${o.quantityWh} Wh at limit ${o.limitPrice}; ${o.filledWh === null ? "not cleared" : `filled ${o.filledWh} Wh at ${o.price}`}`,
        children: [
          {
            text:
              o.txs.commit === null ? "commit: not found" : `commit, collateral ${o.collateral} ${at(o.txs.commit)}`,
          },
          { text: `reveal ${at(o.txs.reveal)}` },
          { text: o.txs.clear === null ? "clear: not yet" : `clear ${at(o.txs.clear)}` },
          ...(o.txs.withdraw === null ? [] : [{ text: `withdraw ${at(o.txs.withdraw)}` }]),
        ],
      })),
    ),
  );
  children.push(
    stage(
      "escrow",
      t.escrow.map((e) => ({
        text:
          e.kind === "collect"
            ? `collect by ${e.trader} (order ${e.commitment}): ${e.Wh} Wh of id ${e.tokenId} (received ${e.receivedWh} of ${e.filledWh} Wh) at ${e.price}: paid ${e.paid}, compensation ${e.compensation}, refunded ${e.refunded} ${at(e)}`
            : `${e.kind === "deliver" ? "deliver" : "DEFAULT"} by ${e.trader} (order ${e.commitment}): ${e.Wh} of ${e.filledWh} Wh at ${e.price}: paid ${e.paid}, bond returned ${e.bondReturned}, slashed ${e.slashed} ${at(e)}`,
      })),
    ),
  );
  children.push(
    stage(
      "deals",
      t.deals.map((d) => ({
        text: `${d.amount} ${d.token === "kwh" ? "Wh of kWh id" : "Wh of certificate class"} ${d.token === "rec" ? formatCertificateId(d.id) : d.id} from ${d.maker} to ${d.taker} for ${d.payment} of ${d.paymentToken} ${at(d)}`,
      })),
    ),
  );
  children.push(stage("retirements", t.retirements.map(retirementNode)));
  children.push(
    stage(
      "problems",
      t.problems.map((p) => ({ text: p })),
    ),
  );
  return {
    text: `reading of meter ${t.meter} in interval ${t.intervalId} (${t.interval.start} – ${t.interval.end}), chain read to block ${t.asOfBlock}`,
    children,
  };
}

function retirementNode(x: RecTrace["retirements"][number]): TreeNode {
  const data = x.claimData === "" ? "" : `, claim data ${x.claimData}`;
  return {
    text: `receipt #${x.receiptId}: ${x.amount} Wh of class ${formatCertificateId(x.certificateId)} held by ${x.holder} for ${x.beneficiary}${data} ${at(x)}`,
  };
}

/** The tree of a certificate class's trace. */
export function recTree(t: RecTrace): TreeNode {
  const c = t.certificate;
  return {
    text: `certificate class ${formatCertificateId(c.id)} (meter ${c.meter}, ${c.technology}, vintage ${formatVintage(c.vintage)}, zone ${c.zone}), chain read to block ${t.asOfBlock}`,
    children: [
      stage(
        `issued ${t.totals.issuedWh} Wh`,
        t.issued.map((i) => ({ text: `interval ${i.intervalId}: ${i.amount} Wh to ${i.to} ${at(i)}` })),
      ),
      stage(`retired ${t.totals.retiredWh} Wh`, t.retirements.map(retirementNode)),
      stage(
        "deals",
        t.deals.map((d) => ({ text: `${d.amount} Wh from ${d.maker} to ${d.taker} for ${d.payment} ${at(d)}` })),
      ),
      { text: `outstanding ${t.totals.outstandingWh} Wh` },
      ...t.readings.map(readingTree),
      ...(t.readingsOmitted > 0 ? [{ text: `${t.readingsOmitted} more readings not traced` }] : []),
    ],
  };
}

function argText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(argText).join(",")}]`;
  return String(v);
}

/** The tree of a transaction's trace. */
export function txTree(t: TxTrace): TreeNode {
  const x = t.tx;
  const touched = t.touched;
  return {
    text: `transaction ${x.hash} (block ${x.block}, ${x.status}) from ${x.from}${x.call === null ? (x.to === null ? "" : ` to ${x.to}`) : ` calling ${x.call}`}`,
    children: [
      stage(
        "system events",
        x.events.map((e) => ({
          text: `${e.contract}.${e.name}(${Object.entries(e.args)
            .map(([k, v]) => `${k}=${argText(v)}`)
            .join(", ")})`,
        })),
      ),
      {
        text:
          touched.readings.length + touched.orders.length + touched.certificates.length + touched.intervals.length === 0
            ? "touched nothing of the system's energy ledgers"
            : `touched ${touched.readings.length} reading(s), ${touched.orders.length} order(s), ${touched.certificates.length} certificate class(es); intervals ${touched.intervals.join(", ") || "none"}`,
      },
      ...(t.orders.length === 0
        ? []
        : [
            stage(
              "orders",
              t.orders.map((o) => ({
                text: `${o.side} ${o.commitment} by ${o.trader} in interval ${o.intervalId}: zone ${o.zone}, ${o.quantityWh} Wh at limit ${o.limitPrice}; ${o.filledWh === null ? "not cleared" : `filled ${o.filledWh} Wh at ${o.price}`}`,
              })),
            ),
          ]),
      ...t.readings.map(readingTree),
      ...(t.readingsOmitted > 0 ? [{ text: `${t.readingsOmitted} more readings not traced` }] : []),
      ...t.certificates.map(recTree),
    ],
  };
}

/** Which of the three forms the options ask for; a one-line InputError otherwise. */
export function traceForm(args: Args): "reading" | "tx" | "rec" {
  const reading = args.meter !== "" || args.interval >= 0n;
  const given = [reading, args.tx !== "", args.rec !== ""].filter(Boolean).length;
  if (given === 0)
    throw new InputError("give --meter <address> with --interval <id>, or --tx <hash>, or --rec <certificate id>");
  if (given > 1) throw new InputError("give only one of --meter/--interval, --tx and --rec");
  if (reading) {
    if (args.meter === "") throw new InputError("--interval needs --meter <address>");
    if (args.interval < 0n) throw new InputError("--meter needs --interval <id>");
    return "reading";
  }
  return args.tx !== "" ? "tx" : "rec";
}

export default action<Args>(async (args, hre) => {
  const form = traceForm(args);
  const relayerUrl = parseRelayerUrl(args.relayer !== "" ? args.relayer : process.env.RELAYER_URL);
  // Malformed input fails in one line before anything is read from the network.
  if (form === "reading") parseAddress(args.meter, "--meter");
  else if (form === "tx") parseTxHash(args.tx);
  else parseCertificateId(args.rec);
  const { system, deployment } = await connectSystem(hre);
  const opts = { relayerUrl, fromBlock: deployment.block };
  const trace =
    form === "reading"
      ? await traceReading(system, { meter: args.meter, intervalId: args.interval, ...opts })
      : form === "tx"
        ? await traceTx(system, args.tx, opts)
        : await traceRec(system, args.rec, opts);
  if (args.json) {
    console.log(toJson(trace));
    return;
  }
  const tree = trace.kind === "reading" ? readingTree(trace) : trace.kind === "rec" ? recTree(trace) : txTree(trace);
  console.log(renderTree(tree));
});
