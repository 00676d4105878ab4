// The bytes a manifest signature covers. A fixed layout, not the protobuf encoding, so that
// every implementation signs and verifies the same bytes (docs/protocol.md, "Manifest
// signature"). The signature is ECDSA P-256 over SHA-256 of these bytes, r || s.
import type { Manifest } from "./gen/meshota/v1/control_pb.js";
import { FieldBoundError } from "./errors.js";

/** "MOTAMAN1": identifies the layout and its version. */
export const MANIFEST_SIGNING_MAGIC = new Uint8Array([0x4d, 0x4f, 0x54, 0x41, 0x4d, 0x41, 0x4e, 0x31]);
/** Length of the signing bytes. */
export const MANIFEST_SIGNING_SIZE = 124;
/** Length of an ECDSA P-256 signature as r || s. */
export const SIGNATURE_SIZE = 64;

const TEXT_FIELD = 32;

/**
 * The 124 signing bytes of a manifest:
 * magic[8] | image_size | secure_version | chip_id | min_chip_rev | max_chip_rev (u32 LE each)
 * | image_sha256[32] | version[32] | project_name[32] (NUL-padded UTF-8).
 */
export function manifestSigningBytes(m: Manifest): Uint8Array {
  if (m.imageSha256.length !== 32) {
    throw FieldBoundError.exact("meshota.v1.Manifest.image_sha256", m.imageSha256.length, 32);
  }
  const out = new Uint8Array(MANIFEST_SIGNING_SIZE);
  const view = new DataView(out.buffer);
  out.set(MANIFEST_SIGNING_MAGIC, 0);
  view.setUint32(8, m.imageSize, true);
  view.setUint32(12, m.secureVersion, true);
  view.setUint32(16, m.chipId, true);
  view.setUint32(20, m.minChipRev, true);
  view.setUint32(24, m.maxChipRev, true);
  out.set(m.imageSha256, 28);
  putText(out, 60, m.version, "meshota.v1.Manifest.version");
  putText(out, 92, m.projectName, "meshota.v1.Manifest.project_name");
  return out;
}

function putText(out: Uint8Array, offset: number, text: string, field: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > TEXT_FIELD - 1) throw new FieldBoundError(field, bytes.length, TEXT_FIELD - 1, "bytes");
  out.set(bytes, offset);
}
