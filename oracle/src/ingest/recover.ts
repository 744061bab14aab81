/**
 * Recovers the address that signed a 32-byte digest, as the registry's `ECDSA.tryRecover` does on chain.
 *
 * Backend: the native libsecp256k1 addon (`secp256k1` package, N-API prebuild) when it loads, otherwise the
 * pure-JS `@noble/curves` (about 20× slower: ~700 against ~14,000 recoveries/s on one core here). The choice is
 * made once, at module load; `RELAYER_SECP256K1=js` forces the JS backend (tests compare both),
 * `RELAYER_SECP256K1=native` makes a missing addon an error.
 *
 * Accepted signatures are exactly those OpenZeppelin's `ECDSA.tryRecover` accepts: 65 bytes `r ‖ s ‖ v` with
 * `0 < r < n`, `0 < s ≤ n/2` (EIP-2: the high-s twin of a signature is rejected, so a reading has one valid
 * signature per key) and a curve point for `r`. The one deliberate difference: `v` may be 27/28 (what `ecrecover`
 * takes) or 0/1 (what some signers emit and ethers accepts as the same signature); `parseReading` rewrites 0/1 to
 * 27/28, so a stored signature also verifies on chain. Anything else (other lengths, other v, r or s out of range,
 * no curve point) yields `null`, never an exception.
 */
import { createRequire } from "node:module";
import { secp256k1 as noble } from "@noble/curves/secp256k1.js";
import type * as Secp256k1Native from "secp256k1";
import type { Hex } from "../types.js";
import { checksumAddressBytes, keccak256 } from "./digest.js";

/** Which secp256k1 implementation recovers signers. */
export type Secp256k1Backend = "native" | "js";

function loadNative(): { lib: typeof Secp256k1Native | undefined; error?: string } {
  try {
    // `secp256k1/index.js` silently falls back to `elliptic`; `bindings.js` is the addon alone, so a failure shows.
    const lib = createRequire(import.meta.url)("secp256k1/bindings.js") as typeof Secp256k1Native;
    return { lib };
  } catch (e) {
    return { lib: undefined, error: (e as Error).message.split("\n")[0] };
  }
}

const requested = process.env.RELAYER_SECP256K1;
if (requested !== undefined && requested !== "" && requested !== "js" && requested !== "native") {
  throw new Error(`RELAYER_SECP256K1 must be "js" or "native", not "${requested}"`);
}
const native = requested === "js" ? { lib: undefined, error: "disabled by RELAYER_SECP256K1=js" } : loadNative();
if (requested === "native" && native.lib === undefined) {
  throw new Error(`RELAYER_SECP256K1=native but the secp256k1 addon does not load: ${native.error}`);
}

/** The native addon, if it loaded (and was not disabled). */
const nativeLib = native.lib;

/** The backend `recoverSigner` uses in this thread. */
export const secp256k1Backend: Secp256k1Backend = nativeLib !== undefined ? "native" : "js";

/** Why the native backend is not in use (undefined when it is). */
export const nativeUnavailableReason: string | undefined = native.error;

/** Whether the native backend can be used in this thread (`recoverSignerWith("native", …)`). */
export const nativeAvailable: boolean = nativeLib !== undefined;

// secp256k1 group order n and ⌊n/2⌋, big-endian.
const N = Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex");
const HALF_N = Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex");

/** Compares the 32 bytes at `a[offset…]` with `b` as big-endian integers. */
function compare32(a: Uint8Array, offset: number, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = a[offset + i] - b[i];
    if (d !== 0) return d;
  }
  return 0;
}

function isZero32(a: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 32; i++) if (a[offset + i] !== 0) return false;
  return true;
}

/**
 * The recovery id (0/1) of a 65-byte signature if `r`, `s` and `v` are in range (see the module comment),
 * else -1.
 */
export function recoveryId(signature: Uint8Array): number {
  if (signature.length !== 65) return -1;
  const v = signature[64];
  const recid = v === 27 || v === 28 ? v - 27 : v === 0 || v === 1 ? v : -1;
  if (recid < 0) return -1;
  if (isZero32(signature, 0) || compare32(signature, 0, N) >= 0) return -1;
  if (isZero32(signature, 32) || compare32(signature, 32, HALF_N) > 0) return -1;
  return recid;
}

const pubkeyOut = new Uint8Array(65);

function recoverNative(lib: typeof Secp256k1Native, digest: Uint8Array, signature: Uint8Array, recid: number) {
  try {
    return lib.ecdsaRecover(signature.subarray(0, 64), recid, digest, false, pubkeyOut);
  } catch {
    return null; // no curve point for r
  }
}

function recoverJs(digest: Uint8Array, signature: Uint8Array, recid: number): Uint8Array | null {
  try {
    return noble.Signature.fromBytes(signature.subarray(0, 64), "compact")
      .addRecoveryBit(recid)
      .recoverPublicKey(digest)
      .toBytes(false);
  } catch {
    return null;
  }
}

/**
 * Addresses of recently recovered public keys: a meter signs every interval with the same key, so after its first
 * reading the two keccaks (address, EIP-55 checksum) become one map lookup. Bounded: cleared when full.
 */
const addressCache = new Map<string, Hex>();
const ADDRESS_CACHE_MAX = 200_000;

/** Address of an uncompressed public key (0x04 ‖ x ‖ y): the last 20 bytes of keccak256(x ‖ y). */
function addressOf(pubkey: Uint8Array): Hex {
  const key = Buffer.from(pubkey.buffer, pubkey.byteOffset + 1, 64).toString("latin1");
  let address = addressCache.get(key);
  if (address === undefined) {
    address = checksumAddressBytes(keccak256(pubkey.subarray(1, 65)), 12);
    if (addressCache.size >= ADDRESS_CACHE_MAX) addressCache.clear();
    addressCache.set(key, address);
  }
  return address;
}

/**
 * The checksummed address that signed `digest` (32 bytes) with `signature` (65 bytes r ‖ s ‖ v), or `null` if the
 * signature is not one the registry would accept. Uses {@link secp256k1Backend}.
 */
export function recoverSigner(digest: Uint8Array, signature: Uint8Array): Hex | null {
  return recoverSignerWith(secp256k1Backend, digest, signature);
}

/**
 * {@link recoverSigner} with an explicit backend (tests compare them). Throws if `backend` is `"native"` and the
 * addon is not available in this thread.
 */
export function recoverSignerWith(backend: Secp256k1Backend, digest: Uint8Array, signature: Uint8Array): Hex | null {
  if (digest.length !== 32) throw new TypeError(`digest must be 32 bytes, got ${digest.length}`);
  const recid = recoveryId(signature);
  if (recid < 0) return null;
  let pubkey: Uint8Array | null;
  if (backend === "native") {
    if (nativeLib === undefined) throw new Error(`native secp256k1 backend unavailable: ${nativeUnavailableReason}`);
    pubkey = recoverNative(nativeLib, digest, signature, recid);
  } else {
    pubkey = recoverJs(digest, signature, recid);
  }
  return pubkey === null ? null : addressOf(pubkey);
}
