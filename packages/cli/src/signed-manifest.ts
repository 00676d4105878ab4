// The signed manifest file written by `meshota sign` and read by `push`, `serve` and `verify`:
// the Manifest fields with bytes as lowercase hex, and the 64-byte r || s signature.
import { create, ManifestSchema, type Manifest } from "@meshota/proto";
import { toHex, type SignedManifest } from "@meshota/core";
import { CliError } from "./io.js";

/** JSON form of a signed manifest. */
export interface SignedManifestJson {
  readonly format: "meshota-signed-manifest/1";
  readonly manifest: {
    readonly imageSize: number;
    readonly imageSha256: string;
    readonly version: string;
    readonly projectName: string;
    readonly secureVersion: number;
    readonly chipId: number;
    readonly minChipRev: number;
    readonly maxChipRev: number;
  };
  readonly signature: string;
}

export function signedManifestToJson(signed: SignedManifest): SignedManifestJson {
  const m = signed.manifest;
  return {
    format: "meshota-signed-manifest/1",
    manifest: {
      imageSize: m.imageSize,
      imageSha256: toHex(m.imageSha256),
      version: m.version,
      projectName: m.projectName,
      secureVersion: m.secureVersion,
      chipId: m.chipId,
      minChipRev: m.minChipRev,
      maxChipRev: m.maxChipRev,
    },
    signature: toHex(signed.signature),
  };
}

function fromHex(text: unknown, bytes: number, what: string): Uint8Array {
  if (typeof text !== "string" || !new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(text)) {
    throw new CliError(`signed manifest: ${what} must be ${bytes * 2} hex digits`);
  }
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function u32(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new CliError(`signed manifest: ${what} must be an unsigned 32-bit integer`);
  }
  return value;
}

function str(value: unknown, what: string): string {
  if (typeof value !== "string" || new TextEncoder().encode(value).length > 31) {
    throw new CliError(`signed manifest: ${what} must be a string of at most 31 bytes`);
  }
  return value;
}

/** Parses and checks a signed manifest file's text. */
export function signedManifestFromJson(text: string): SignedManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new CliError("signed manifest: not valid JSON", 1, { cause });
  }
  const j = json as Partial<SignedManifestJson> | null;
  if (!j || j.format !== "meshota-signed-manifest/1" || typeof j.manifest !== "object" || j.manifest === null) {
    throw new CliError('signed manifest: expected format "meshota-signed-manifest/1" with a manifest object');
  }
  const m = j.manifest;
  const manifest: Manifest = create(ManifestSchema, {
    imageSize: u32(m.imageSize, "imageSize"),
    imageSha256: fromHex(m.imageSha256, 32, "imageSha256"),
    version: str(m.version, "version"),
    projectName: str(m.projectName, "projectName"),
    secureVersion: u32(m.secureVersion, "secureVersion"),
    chipId: u32(m.chipId, "chipId"),
    minChipRev: u32(m.minChipRev, "minChipRev"),
    maxChipRev: u32(m.maxChipRev, "maxChipRev"),
  });
  return { manifest, signature: fromHex(j.signature, 64, "signature") };
}
