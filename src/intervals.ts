/** Delivery intervals aligned to the Unix epoch: `intervalId = start / length` (see `Intervals.sol`). */
export const DEFAULT_INTERVAL_LENGTH = 900n;

export function intervalAt(timestamp: bigint, length: bigint): bigint {
  return timestamp / length;
}

export function intervalStart(intervalId: bigint, length: bigint): bigint {
  return intervalId * length;
}

export function intervalEnd(intervalId: bigint, length: bigint): bigint {
  return (intervalId + 1n) * length;
}

/** kWh token id of `zone`'s energy in `intervalId` (see `TokenIds.sol`). */
export function kwhTokenId(zone: bigint | number, intervalId: bigint): bigint {
  return (BigInt(zone) << 64n) | intervalId;
}

export function decodeKwhTokenId(id: bigint): { zone: bigint; intervalId: bigint } {
  return { zone: id >> 64n, intervalId: id & ((1n << 64n) - 1n) };
}
