import { type TypedDataDomain, type TypedDataField, type Signer, verifyTypedData, TypedDataEncoder } from "ethers";

/** A meter's signed cumulative register reading (the EIP-712 `MeterReading` the registry defines). */
export interface MeterReading {
  meter: string;
  intervalId: bigint;
  importWhTotal: bigint;
  exportWhTotal: bigint;
  timestamp: bigint;
}

/** EIP-712 types of a meter reading; must match `MeterReadings.METER_READING_TYPEHASH` on chain. */
export const METER_READING_TYPES: Record<string, TypedDataField[]> = {
  MeterReading: [
    { name: "meter", type: "address" },
    { name: "intervalId", type: "uint64" },
    { name: "importWhTotal", type: "uint64" },
    { name: "exportWhTotal", type: "uint64" },
    { name: "timestamp", type: "uint64" },
  ],
};

/** Name and version of the MeterRegistry's EIP-712 domain. */
export const REGISTRY_DOMAIN_NAME = "Microgrid MeterRegistry";
export const REGISTRY_DOMAIN_VERSION = "1";

/** The EIP-712 domain readings are signed under: bound to the chain and the registry's address. */
export function readingDomain(chainId: bigint, registry: string): TypedDataDomain {
  return { name: REGISTRY_DOMAIN_NAME, version: REGISTRY_DOMAIN_VERSION, chainId, verifyingContract: registry };
}

/** Signs `reading` with the meter's key. */
export async function signReading(meterKey: Signer, domain: TypedDataDomain, reading: MeterReading): Promise<string> {
  return meterKey.signTypedData(domain, METER_READING_TYPES, reading);
}

/** The address that signed `reading` (throws on a malformed signature). */
export function recoverReadingSigner(domain: TypedDataDomain, reading: MeterReading, signature: string): string {
  return verifyTypedData(domain, METER_READING_TYPES, reading, signature);
}

/** EIP-712 digest of `reading`: what `MeterRegistry.hashReading` returns. */
export function readingDigest(domain: TypedDataDomain, reading: MeterReading): string {
  return TypedDataEncoder.hash(domain, METER_READING_TYPES, reading);
}
