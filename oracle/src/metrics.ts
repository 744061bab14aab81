import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { REJECT_REASONS } from "./types.js";

/** The relayer's Prometheus metrics, in their own registry (several relayers may share a process in tests). */
export function createMetrics(relayerId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ relayer: relayerId });
  collectDefaultMetrics({ register: registry });
  const accepted = new Counter({
    name: "relayer_readings_accepted_total",
    help: "Readings verified and stored, by source",
    labelNames: ["source"] as const,
    registers: [registry],
  });
  const duplicates = new Counter({
    name: "relayer_readings_duplicate_total",
    help: "Identical readings received again (acknowledged, stored once)",
    labelNames: ["source"] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: "relayer_readings_rejected_total",
    help: "Readings rejected, by reason",
    labelNames: ["source", "reason"] as const,
    registers: [registry],
  });
  for (const reason of REJECT_REASONS) for (const source of ["mqtt", "http"]) rejected.inc({ source, reason }, 0);
  const ingestLatency = new Histogram({
    name: "relayer_ingest_latency_seconds",
    help: "From receipt to durable storage of a reading",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: "relayer_ingest_queue_depth",
    help: "Readings waiting for verification and storage",
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "relayer_batch_leaves",
    help: "Leaves per interval tree",
    buckets: [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
    registers: [registry],
  });
  const postLatency = new Histogram({
    name: "relayer_root_post_latency_seconds",
    help: "From the end of an interval's grace period to this relayer's vote being mined",
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const rpcErrors = new Counter({
    name: "relayer_rpc_errors_total",
    help: "JSON-RPC errors, by operation",
    labelNames: ["operation"] as const,
    registers: [registry],
  });
  const lastFinalInterval = new Gauge({
    name: "relayer_last_final_interval",
    help: "Most recent interval whose root is final on chain",
    registers: [registry],
  });
  return {
    registry,
    accepted,
    duplicates,
    rejected,
    ingestLatency,
    queueDepth,
    batchSize,
    postLatency,
    rpcErrors,
    lastFinalInterval,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
