/**
 * The sealed-bid call market's book and result, shared by the reference clearing (`clearing.ts`), the tasks and
 * the tests. Quantities are Wh, prices payment-token base units per kWh (integers), capacities Wh per interval.
 */

export type Side = "buy" | "sell";

/** A revealed order. `id` is any unique key (the contract uses its order index). */
export interface Order {
  id: number;
  side: Side;
  zone: number;
  /** Wh, > 0. */
  quantityWh: bigint;
  /** Base units per kWh, a multiple of the book's tick, within [floor, ceiling]. */
  limitPrice: bigint;
}

/** A zone's capacity to the rest of the microgrid over one interval (the registry's W × interval / 3600). */
export interface ZoneCapacity {
  zone: number;
  exportCapWh: bigint;
  importCapWh: bigint;
}

export interface Book {
  /** Price bounds of the day (feed-in tariff floor, retail tariff ceiling), base units per kWh. */
  floor: bigint;
  ceiling: bigint;
  /** Every zone that may trade; orders of other zones are invalid. */
  zones: ZoneCapacity[];
  /** Orders in reveal order (which fixes the pro-rata rounding at the margin). */
  orders: Order[];
}

export type Congestion = "none" | "export" | "import";

export interface ZoneResult {
  zone: number;
  /** The zone's uniform price, base units per kWh. */
  price: bigint;
  /** Sold minus bought in the zone, Wh (positive: the zone exports). */
  netExportWh: bigint;
  congestion: Congestion;
  /** Orders of the zone exactly at its price: their totals and what of them fills, per side. */
  atPrice: { sellWh: bigint; sellFilledWh: bigint; buyWh: bigint; buyFilledWh: bigint };
}

export interface Fill {
  id: number;
  filledWh: bigint;
  /** The price of the order's zone. */
  price: bigint;
}

export interface ClearingResult {
  /** The price shared by every uncongested zone. */
  systemPrice: bigint;
  zones: ZoneResult[];
  /** One per order, in book order. */
  fills: Fill[];
  /** Σ over filled Wh of buyers' limits minus sellers' limits, in base units × Wh / kWh (i.e. ×1000). */
  welfare: bigint;
  /** Σ buyers' payments − Σ sellers' receipts at zone prices, base units × Wh / kWh: the congestion rent. */
  congestionRent: bigint;
  tradedWh: bigint;
}
