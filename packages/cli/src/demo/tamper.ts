// A tampered image for the demo's refusal pass: one byte of code changed, with the checksum and
// the appended SHA-256 recomputed, so the image itself still looks well formed. Only the
// signature can tell, and the attacker signs with a key the nodes do not hold.
import { readImage, sha256, type EspImage } from "@meshota/core";

/** Changes one byte in the middle of the last segment and repairs checksum and hash. */
export async function tamperImage(image: EspImage): Promise<Uint8Array> {
  const out = image.bytes.slice();
  const seg = image.segments[image.segments.length - 1]!;
  const at = seg.dataOffset + Math.floor(seg.length / 2);
  const before = out[at]!;
  out[at] = before ^ 0x5a;
  // checksum = 0xEF xor every segment byte: fixing it needs the same xor.
  out[image.checksumOffset] = out[image.checksumOffset]! ^ before ^ out[at]!;
  if (image.appendedHash) out.set(await sha256(out.subarray(0, image.checksumOffset + 1)), image.checksumOffset + 1);
  // The result must still pass every structural check of the reader.
  await readImage(out);
  return out;
}
