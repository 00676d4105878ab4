// Manifest keys and signatures: ECDSA P-256 with SHA-256, signatures as raw r || s (64 bytes),
// over the 124 signing bytes of docs/protocol.md. Web Crypto does all of it (key generation,
// PKCS8/SPKI/raw export, P1363 signatures) in Node 20 and in browsers, so this needs no
// dependency; the firmware verifies with mbedTLS/PSA against the 65-byte uncompressed point.
import { create, ManifestSchema, manifestSigningBytes, SIGNATURE_SIZE, type Manifest } from "@meshota/proto";
import { KeyError } from "./errors.js";
import { subtle } from "./hash.js";
import type { EspImage } from "./image/reader.js";

const ALGORITHM: EcKeyImportParams & EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGN: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** Length of an uncompressed P-256 point: 0x04 || X || Y. */
export const PUBLIC_KEY_SIZE = 65;

/** A manifest and its signature, ready for UpdateStart. */
export interface SignedManifest {
  readonly manifest: Manifest;
  readonly signature: Uint8Array;
}

/** Generates a new P-256 signing key pair (extractable, so it can be saved as PEM). */
export async function generateSigningKey(): Promise<CryptoKeyPair> {
  return (await subtle().generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function toPem(label: string, der: Uint8Array): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function fromPem(label: string, pem: string): Uint8Array {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) {
    // `openssl ecparam -genkey` writes SEC1 keys; say how to get the PKCS#8 form.
    const sec1 = label === "PRIVATE KEY" && pem.includes("-----BEGIN EC PRIVATE KEY-----");
    throw new KeyError(
      sec1
        ? `expected a PEM block "PRIVATE KEY" (PKCS#8), got "EC PRIVATE KEY" (SEC1); convert it with openssl pkcs8 -topk8 -nocrypt -in key.pem`
        : `expected a PEM block "${label}"`
    );
  }
  try {
    return fromBase64(m[1]!.replace(/\s+/g, ""));
  } catch (cause) {
    throw new KeyError(`the PEM block "${label}" is not valid base64`, { cause });
  }
}

/** The private key as PKCS#8 PEM ("PRIVATE KEY"). Treat the result as a secret. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return toPem("PRIVATE KEY", new Uint8Array(await subtle().exportKey("pkcs8", key)));
}

/** The public key as SPKI PEM ("PUBLIC KEY"). */
export async function exportPublicKeyPem(key: CryptoKey): Promise<string> {
  return toPem("PUBLIC KEY", new Uint8Array(await subtle().exportKey("spki", key)));
}

/** Imports a PKCS#8 PEM P-256 private key for signing. */
export async function importPrivateKeyPem(pem: string, extractable = true): Promise<CryptoKey> {
  const der = fromPem("PRIVATE KEY", pem);
  try {
    return await subtle().importKey("pkcs8", der as Uint8Array<ArrayBuffer>, ALGORITHM, extractable, ["sign"]);
  } catch (cause) {
    // The key material stays out of the message.
    throw new KeyError("the private key is not a PKCS#8 ECDSA P-256 key", { cause });
  }
}

/** Imports an SPKI PEM P-256 public key for verifying. */
export async function importPublicKeyPem(pem: string): Promise<CryptoKey> {
  const der = fromPem("PUBLIC KEY", pem);
  try {
    return await subtle().importKey("spki", der as Uint8Array<ArrayBuffer>, ALGORITHM, true, ["verify"]);
  } catch (cause) {
    throw new KeyError("the public key is not an SPKI ECDSA P-256 key", { cause });
  }
}

/** Imports a 65-byte uncompressed P-256 point (0x04 || X || Y). */
export async function importPublicKeyRaw(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== PUBLIC_KEY_SIZE || raw[0] !== 0x04) {
    throw new KeyError(`a raw public key is ${PUBLIC_KEY_SIZE} bytes starting with 0x04, got ${raw.length} bytes`);
  }
  try {
    return await subtle().importKey("raw", raw as Uint8Array<ArrayBuffer>, ALGORITHM, true, ["verify"]);
  } catch (cause) {
    throw new KeyError("the raw public key is not a point on P-256", { cause });
  }
}

/** The public key that belongs to an extractable private key. */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  if (privateKey.type === "public") return privateKey;
  const jwk = await subtle().exportKey("jwk", privateKey);
  const { kty, crv, x, y } = jwk;
  return subtle().importKey("jwk", { kty, crv, x, y, ext: true }, ALGORITHM, true, ["verify"]);
}

/** The public key as the 65-byte uncompressed point the firmware compiles in. */
export async function publicKeyRaw(key: CryptoKey): Promise<Uint8Array> {
  const pub = await publicKeyOf(key);
  return new Uint8Array(await subtle().exportKey("raw", pub));
}

/**
 * Renders a public key as a C header (meshota_pubkey.h) for firmware builds:
 * `static const uint8_t <name>[65]`, the uncompressed point.
 */
export function publicKeyHeader(raw: Uint8Array, name = "meshota_pubkey"): string {
  if (raw.length !== PUBLIC_KEY_SIZE || raw[0] !== 0x04) {
    throw new KeyError(`a raw public key is ${PUBLIC_KEY_SIZE} bytes starting with 0x04, got ${raw.length} bytes`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`"${name}" is not a C identifier`);
  const guard = `${name.toUpperCase()}_H`;
  const rows: string[] = [];
  for (let i = 0; i < raw.length; i += 12) {
    rows.push(
      "    " + Array.from(raw.subarray(i, i + 12), (b) => `0x${b.toString(16).padStart(2, "0")}`).join(", ") + ","
    );
  }
  return [
    "/* Manifest verification key: ECDSA P-256 public key, uncompressed point 0x04 || X || Y.",
    " * Generated by @meshota/core publicKeyHeader(); regenerate rather than edit. */",
    `#ifndef ${guard}`,
    `#define ${guard}`,
    "",
    "#include <stdint.h>",
    "",
    `#define ${name.toUpperCase()}_LEN ${PUBLIC_KEY_SIZE}`,
    "",
    `static const uint8_t ${name}[${PUBLIC_KEY_SIZE}] = {`,
    ...rows,
    "};",
    "",
    `#endif /* ${guard} */`,
    "",
  ].join("\n");
}

/** The manifest that describes a checked image. */
export function manifestFromImage(image: EspImage): Manifest {
  return create(ManifestSchema, {
    imageSize: image.size,
    imageSha256: image.sha256,
    version: image.appDesc.version,
    projectName: image.appDesc.projectName,
    secureVersion: image.appDesc.secureVersion,
    chipId: image.header.chipId,
    minChipRev: image.header.minChipRevFull,
    maxChipRev: image.header.maxChipRevFull,
  });
}

/** Signs a manifest's signing bytes; returns r || s (64 bytes). */
export async function signManifest(manifest: Manifest, privateKey: CryptoKey): Promise<Uint8Array> {
  if (privateKey.type !== "private") throw new KeyError("signing needs a private key");
  const bytes = manifestSigningBytes(manifest);
  return new Uint8Array(await subtle().sign(SIGN, privateKey, bytes as Uint8Array<ArrayBuffer>));
}

/** True when `signature` (r || s) is a valid signature of the manifest by `publicKey`. */
export async function verifyManifest(
  manifest: Manifest,
  signature: Uint8Array,
  publicKey: CryptoKey
): Promise<boolean> {
  if (signature.length !== SIGNATURE_SIZE) return false;
  const pub = await publicKeyOf(publicKey);
  return subtle().verify(
    SIGN,
    pub,
    signature as Uint8Array<ArrayBuffer>,
    manifestSigningBytes(manifest) as Uint8Array<ArrayBuffer>
  );
}

/** Builds and signs the manifest of a checked image. */
export async function signImage(image: EspImage, privateKey: CryptoKey): Promise<SignedManifest> {
  const manifest = manifestFromImage(image);
  return { manifest, signature: await signManifest(manifest, privateKey) };
}
