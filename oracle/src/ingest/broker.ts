import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { Aedes } from "aedes";

/** An in-process MQTT broker (aedes) for the embedded default and tests. */
export interface EmbeddedBroker {
  url: string;
  /** The broker itself (events such as `ack` let tests watch the protocol). */
  aedes: Aedes;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(port = 0, host = "127.0.0.1"): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `mqtt://${host}:${actual}`,
    aedes,
    // aedes.close ends the connected clients, after which the server can close.
    close: () => new Promise<void>((resolve) => aedes.close(() => server.close(() => resolve()))),
  };
}
