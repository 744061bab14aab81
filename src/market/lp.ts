/**
 * An independent welfare optimum of a call-market book, solved as a linear programme by HiGHS (compiled to
 * WebAssembly, shipped inside the `highs` npm package: nothing is fetched at install or run time). It is the
 * reference the clearing is tested against and deliberately shares no code with `clearing.ts`.
 *
 *   maximise   Σ_buy limit·x − Σ_sell limit·x                 (base units/kWh × Wh)
 *   subject to 0 ≤ x_o ≤ quantity_o                            for every order o
 *              −importCap_z ≤ Σ_sell∈z x − Σ_buy∈z x ≤ exportCap_z   for every zone z
 *              Σ_sell x − Σ_buy x = 0                          (system balance)
 *
 * The constraint matrix is totally unimodular (after negating the buy columns every column is the incidence
 * vector of an edge between its zone's row and the balance row of a bipartite graph), so with integer
 * quantities and capacities every vertex — and the simplex optimum — has whole-Wh fills. The solver's values
 * are snapped to those integers when they are within 1e-6 of them and the snapped point is still feasible.
 */
import highsModule from "highs";
import type { Highs as HighsRuntime } from "highs";
import type { Book } from "./types.js";

// The package is CommonJS with ESM builds: Node's `import` condition yields the loader as the default export,
// while TypeScript reads the CommonJS declaration (the loader under `.default`). Accept either shape.
type Loader = () => Promise<HighsRuntime>;
const loaderExport = highsModule as unknown as Loader | { default: Loader };
const highsLoader: Loader = typeof loaderExport === "function" ? loaderExport : loaderExport.default;

let runtime: Promise<HighsRuntime> | undefined;

/** The HiGHS runtime, loaded once per process (the Wasm binary is read from node_modules). */
function loadHighs(): Promise<HighsRuntime> {
  runtime ??= highsLoader();
  return runtime;
}

export interface LpOptimum {
  /** Σ_buy limit·filled − Σ_sell limit·filled, base units × Wh / kWh (the scale of `ClearingResult.welfare`). */
  welfare: number;
  /** Order id → filled Wh (continuous; whole Wh at the simplex vertex). */
  fills: Map<number, number>;
  /** Zone → sold minus bought, Wh. */
  netExport: Map<number, number>;
}

const SNAP = 1e-6;

/** Solves the book's welfare LP; rejects if an order names an unknown zone or HiGHS reports no optimum. */
export async function optimalWelfare(book: Book): Promise<LpOptimum> {
  const zoneRow = new Map<number, number>();
  book.zones.forEach((z, i) => {
    if (zoneRow.has(z.zone)) throw new Error(`zone ${z.zone} listed twice`);
    zoneRow.set(z.zone, i);
  });
  const netExport = new Map<number, number>(book.zones.map((z) => [z.zone, 0]));
  const orders = book.orders;
  if (orders.length === 0) return { welfare: 0, fills: new Map(), netExport };

  const numCols = orders.length;
  const numZones = book.zones.length;
  const balanceRow = numZones;
  const numRows = numZones + 1;
  // Costs in units of the ceiling keep the objective coefficients within [0, 1]; quantities stay in Wh.
  const priceScale = Number(book.ceiling) || 1;
  const colCost = new Float64Array(numCols);
  const colLower = new Float64Array(numCols);
  const colUpper = new Float64Array(numCols);
  // CSC: each column has a ±1 in its zone's row and the same ±1 in the balance row.
  const starts = new Int32Array(numCols + 1);
  const indices = new Int32Array(2 * numCols);
  const values = new Float64Array(2 * numCols);
  orders.forEach((o, j) => {
    const row = zoneRow.get(o.zone);
    if (row === undefined) throw new Error(`order ${o.id} names unknown zone ${o.zone}`);
    const sign = o.side === "sell" ? 1 : -1;
    colCost[j] = (-sign * Number(o.limitPrice)) / priceScale;
    colUpper[j] = Number(o.quantityWh);
    starts[j] = 2 * j;
    indices[2 * j] = row;
    values[2 * j] = sign;
    indices[2 * j + 1] = balanceRow;
    values[2 * j + 1] = sign;
  });
  starts[numCols] = 2 * numCols;
  const rowLower = new Float64Array(numRows);
  const rowUpper = new Float64Array(numRows);
  book.zones.forEach((z, i) => {
    rowLower[i] = -Number(z.importCapWh);
    rowUpper[i] = Number(z.exportCapWh);
  });
  rowLower[balanceRow] = 0;
  rowUpper[balanceRow] = 0;

  const highs = await loadHighs();
  const x = highs.withModel(
    {
      numCols,
      numRows,
      sense: highs.constants.objectiveSense.maximize,
      colCost,
      colLower,
      colUpper,
      rowLower,
      rowUpper,
      matrix: { format: "csc", numRows, numCols, starts, indices, values },
    },
    (model) => {
      model.options.set({ output_flag: false, solver: "simplex", primal_feasibility_tolerance: 1e-9 });
      const run = model.run();
      if (run.modelStatus !== highs.constants.modelStatus.optimal)
        throw new Error(`HiGHS ended with model status ${run.modelStatus}`);
      return Float64Array.from(model.getSolution().colValue);
    },
  );

  const snapped = x.map((v) => (Math.abs(v - Math.round(v)) <= SNAP ? Math.round(v) : v));
  const chosen = feasible(book, snapped, zoneRow) ? snapped : x;

  let welfare = 0;
  const fills = new Map<number, number>();
  orders.forEach((o, j) => {
    const filled = chosen[j];
    fills.set(o.id, filled);
    const signed = o.side === "sell" ? filled : -filled;
    netExport.set(o.zone, netExport.get(o.zone)! + signed);
    welfare += (o.side === "buy" ? 1 : -1) * Number(o.limitPrice) * filled;
  });
  return { welfare, fills, netExport };
}

/** Whether fills (in book order) respect the bounds, the zone capacities and the balance exactly. */
function feasible(book: Book, fills: Float64Array, zoneRow: Map<number, number>): boolean {
  const net = new Float64Array(book.zones.length);
  let balance = 0;
  for (let j = 0; j < book.orders.length; j++) {
    const o = book.orders[j];
    const v = fills[j];
    if (!(v >= 0 && v <= Number(o.quantityWh))) return false;
    const signed = o.side === "sell" ? v : -v;
    net[zoneRow.get(o.zone)!] += signed;
    balance += signed;
  }
  if (balance !== 0) return false;
  return book.zones.every((z, i) => net[i] <= Number(z.exportCapWh) && net[i] >= -Number(z.importCapWh));
}
