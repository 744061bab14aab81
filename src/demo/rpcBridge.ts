/**
 * A JSON-RPC endpoint over HTTP for an in-process EIP-1193 provider, so that processes and clients that only speak
 * HTTP (the relayers' viem clients) reach the same in-process chain as the demo. It answers like Hardhat's own
 * node: a revert (code 3) carries the raw revert data, other errors `{ message, data }`.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The part of an EIP-1193 provider the bridge needs. */
export interface Eip1193 {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

export interface RpcBridge {
  url: string;
  /** Requests served so far. */
  readonly requests: number;
  close(): Promise<void>;
}

interface JsonRpcRequest {
  jsonrpc?: string;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

const REVERT = 3;

function errorOf(id: unknown, e: unknown) {
  const err = e as { code?: unknown; message?: unknown; data?: unknown };
  const code = typeof err?.code === "number" ? err.code : -32603;
  const message = typeof err?.message === "string" ? err.message : String(e);
  const raw =
    typeof err?.data === "string"
      ? err.data
      : typeof (err?.data as { data?: unknown })?.data === "string"
        ? (err.data as { data: string }).data
        : undefined;
  return {
    jsonrpc: "2.0",
    id: id ?? null,
    error: { code, message, data: code === REVERT ? raw : { message, data: raw } },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Serves `provider` at `http://127.0.0.1:<port>` (port 0: any free port). */
export async function startRpcBridge(provider: Eip1193, port = 0): Promise<RpcBridge> {
  let requests = 0;
  const handle = async (r: JsonRpcRequest) => {
    requests++;
    if (typeof r?.method !== "string") return errorOf(r?.id, { code: -32600, message: "Invalid request" });
    try {
      const params = Array.isArray(r.params) ? r.params : [];
      const result = await provider.request({ method: r.method, params });
      return { jsonrpc: "2.0", id: r.id ?? null, result: result === undefined ? null : result };
    } catch (e) {
      return errorOf(r.id, e);
    }
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (e) {
        body = undefined;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(errorOf(null, { code: -32700, message: `Parse error: ${(e as Error).message}` })));
        return;
      }
      const out = Array.isArray(body)
        ? await Promise.all(body.map((r) => handle(r as JsonRpcRequest)))
        : await handle(body as JsonRpcRequest);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(out, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
    })();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
