import Fastify, { type FastifyInstance } from "fastify";
import type { Metrics } from "../metrics.js";
import type { Ingestor } from "../ingest/ingestor.js";
import { parsePayload } from "../ingest/parseReading.js";
import type { ReadingStore } from "../store/store.js";
import type { Hex, IngestOutcome, IntervalBatch } from "../types.js";
import { buildFastTree, type FastTree } from "../batch/fastTree.js";
import { checksumLowerHex } from "../ingest/digest.js";

/** What the API reads from the chain about an interval. */
export interface ChainIntervalView {
  status: "none" | "pending" | "final";
  root: Hex;
  votes: number;
  threshold: number;
  hasVoted: boolean;
}

export interface ApiOptions {
  ingestor: Ingestor;
  store: ReadingStore;
  metrics: Metrics;
  bodyLimitBytes: number;
  chainInterval(intervalId: bigint): Promise<ChainIntervalView>;
  health(): Promise<Record<string, unknown>>;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));

/** Whether a JSON body is an array (its first non-blank byte is `[`). */
function startsWithBracket(body: Buffer): boolean {
  for (const byte of body) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x5b;
  }
  return false;
}

function parseId(raw: string): bigint | undefined {
  return /^\d{1,19}$/.test(raw) ? BigInt(raw) : undefined;
}

/** The relayer's HTTP API: reading ingest, stored readings, interval status, proofs, health and Prometheus metrics. */
export function createApi(o: ApiOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: o.bodyLimitBytes, logger: false });
  const trees = new Map<bigint, FastTree>();
  const treeOf = (batch: IntervalBatch): FastTree => {
    let t = trees.get(batch.intervalId);
    if (t === undefined) {
      t = buildFastTree(batch.intervalId, batch.leaves);
      trees.set(batch.intervalId, t);
      if (trees.size > 16) trees.delete(trees.keys().next().value!);
    }
    return t;
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    const reason = err.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "oversized" : status < 500 ? "bad_request" : "internal";
    if (reason === "oversized") o.metrics.rejected.inc({ source: "http", reason: "malformed" });
    void reply
      .code(status)
      .type("application/json")
      .send(json({ error: reason, detail: err.message.split("\n")[0] }));
  });

  app.post("/readings", async (req, reply) => {
    if (o.ingestor.full) {
      o.metrics.rejected.inc({ source: "http", reason: "overloaded" });
      return reply
        .code(503)
        .header("retry-after", "1")
        .type("application/json")
        .send(json({ error: "overloaded", detail: "ingest queue full: retry later" }));
    }
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    const parsed = parsePayload(body, o.bodyLimitBytes);
    if (!parsed.ok) {
      o.metrics.rejected.inc({ source: "http", reason: "malformed" });
      return reply
        .code(400)
        .type("application/json")
        .send(json({ status: "rejected", reason: "malformed", detail: parsed.detail }));
    }
    const outcomes: IngestOutcome[] = await o.ingestor.submit(parsed.items, "http");
    const single = !startsWithBracket(body);
    reply.type("application/json");
    if (single) {
      const outcome = outcomes[0];
      const code = outcome.status !== "rejected" ? 200 : outcome.reason === "overloaded" ? 503 : 422;
      return reply.code(code).send(json(outcome));
    }
    const counts = { accepted: 0, duplicate: 0, rejected: 0 };
    for (const x of outcomes) counts[x.status]++;
    return reply.code(200).send(json({ ...counts, results: outcomes }));
  });

  app.get<{ Params: { id: string } }>("/intervals/:id", async (req, reply) => {
    const id = parseId(req.params.id);
    reply.type("application/json");
    if (id === undefined)
      return reply
        .code(400)
        .send(json({ error: "bad_request", detail: `interval id "${req.params.id}" is not a number` }));
    const batch = await o.store.getBatch(id);
    const readings = batch === undefined ? (await o.store.readingsOfInterval(id)).length : undefined;
    // The local record stays available while the JSON-RPC node is unreachable.
    const chain = await o.chainInterval(id).catch((e: Error) => ({ unavailable: e.message.split("\n")[0] }));
    return reply.send(
      json({
        intervalId: id,
        local:
          batch === undefined
            ? { status: readings ? "collecting" : "unknown", readings }
            : {
                status: batch.status,
                root: batch.root,
                leafCount: batch.leafCount,
                totalImportWh: batch.totalImportWh,
                totalExportWh: batch.totalExportWh,
                txHash: batch.txHash ?? null,
              },
        chain,
      }),
    );
  });

  app.get<{ Params: { intervalId: string; meter: string } }>("/proofs/:intervalId/:meter", async (req, reply) => {
    reply.type("application/json");
    const id = parseId(req.params.intervalId);
    if (id === undefined)
      return reply
        .code(400)
        .send(json({ error: "bad_request", detail: `interval id "${req.params.intervalId}" is not a number` }));
    if (!/^0x[0-9a-fA-F]{40}$/.test(req.params.meter))
      return reply.code(400).send(json({ error: "bad_request", detail: `"${req.params.meter}" is not an address` }));
    const batch = await o.store.getBatch(id);
    if (batch === undefined || batch.leafCount === 0)
      return reply.code(404).send(json({ error: "not_found", detail: `interval ${id} has no tree yet` }));
    const tree = treeOf(batch);
    const leaf = batch.leaves.find((l) => l.meter.toLowerCase() === req.params.meter.toLowerCase());
    if (leaf === undefined)
      return reply
        .code(404)
        .send(json({ error: "not_found", detail: `meter ${req.params.meter} has no leaf in interval ${id}` }));
    return reply.send(
      json({
        meter: leaf.meter,
        intervalId: id,
        importWh: leaf.importWh,
        exportWh: leaf.exportWh,
        proof: tree.proof(leaf.meter),
        root: batch.root,
        status: batch.status,
      }),
    );
  });

  // The signed reading of a meter in an interval exactly as stored (fields and signature), for audits: with the
  // reading its leaf's delta was taken from (the meter's latest stored reading before the interval) and the
  // conflicting readings of the same (meter, interval) kept for audit.
  app.get<{ Params: { intervalId: string; meter: string } }>("/readings/:intervalId/:meter", async (req, reply) => {
    reply.type("application/json");
    const id = parseId(req.params.intervalId);
    if (id === undefined)
      return reply
        .code(400)
        .send(json({ error: "bad_request", detail: `interval id "${req.params.intervalId}" is not a number` }));
    if (!/^0x[0-9a-fA-F]{40}$/.test(req.params.meter))
      return reply.code(400).send(json({ error: "bad_request", detail: `"${req.params.meter}" is not an address` }));
    // Readings are stored under the checksummed address they were signed for.
    const meter = checksumLowerHex(req.params.meter.slice(2).toLowerCase());
    const reading = await o.store.getReading(meter, id);
    if (reading === undefined)
      return reply
        .code(404)
        .send(json({ error: "not_found", detail: `meter ${meter} has no stored reading in interval ${id}` }));
    const [baseline, conflicts] = await Promise.all([o.store.readingBefore(meter, id), o.store.conflicts(id)]);
    return reply.send(
      json({
        meter,
        intervalId: id,
        reading,
        baseline: baseline ?? null,
        conflicts: conflicts.filter((c) => c.reading.meter === meter),
      }),
    );
  });

  app.get("/health", async (_req, reply) => {
    const h = await o.health();
    return reply
      .code(h.ok === false ? 503 : 200)
      .type("application/json")
      .send(json(h));
  });

  app.get("/metrics", async (_req, reply) =>
    reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()),
  );

  return app;
}
