import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { ReadingStore } from "./store.js";

export { StoreError } from "./common.js";
export { PostgresStore, type PostgresStoreOptions } from "./postgres.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.js";
export type { ConflictRecord, InsertResult, ReadingStore } from "./store.js";

export interface OpenStoreOptions {
  /** A PostgreSQL connection string; when set, the store is PostgreSQL (shared by relayer instances). */
  databaseUrl?: string;
  /** The SQLite file used when `databaseUrl` is not set. */
  sqlitePath: string;
  /** PostgreSQL schema holding the tables (default `public`). */
  postgresSchema?: string;
}

/** Opens (connecting and migrating) the relayer's store: PostgreSQL when `databaseUrl` is set, else SQLite. */
export async function openStore(opts: OpenStoreOptions): Promise<ReadingStore> {
  const store = opts.databaseUrl
    ? new PostgresStore(opts.databaseUrl, { schema: opts.postgresSchema })
    : new SqliteStore(opts.sqlitePath);
  await store.open();
  return store;
}
