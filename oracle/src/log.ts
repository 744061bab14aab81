import { pino, type Logger } from "pino";

/** Structured JSON logs (one object per line) with the relayer's id on every line. */
export function createLogger(relayerId: string, level: string): Logger {
  return pino({ level, base: { relayer: relayerId }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger };
