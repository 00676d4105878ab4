// A minimal valid ESP32 app image for tests: header, two segments, checksum, appended SHA-256,
// esp_app_desc_t at 0x20 (layout: esp-idf esp_app_format.h).
import { createHash } from "node:crypto";

export interface TestImage {
  chipId: number;
  version: string;
  project: string;
  secureVersion: number;
  /** Approximate size in bytes. */
  size: number;
}

export function buildAppImage(p: TestImage): Uint8Array {
  const l0 = 256 + 32;
  const fixed = 24 + 8 + l0 + 8 + 16 + 32;
  const l1 = Math.max(4, (p.size - fixed) & ~3);
  const buf = new Uint8Array(fixed + l1);
  const v = new DataView(buf.buffer);
  buf[0] = 0xe9;
  buf[1] = 2;
  buf[2] = 2;
  buf[3] = 0x1f;
  v.setUint32(4, 0x40380080, true);
  buf[8] = 0xee;
  v.setUint16(0x0c, p.chipId, true);
  v.setUint16(0x0f, 0, true);
  v.setUint16(0x11, 399, true);
  buf[0x17] = 1;
  let off = 24;
  v.setUint32(off, 0x3c000020, true);
  v.setUint32(off + 4, l0, true);
  off += 8;
  const desc = off;
  v.setUint32(desc, 0xabcd5432, true);
  v.setUint32(desc + 4, p.secureVersion, true);
  const enc = new TextEncoder();
  buf.set(enc.encode(p.version), desc + 0x10);
  buf.set(enc.encode(p.project), desc + 0x30);
  buf.set(enc.encode("v5.3.1"), desc + 0x70);
  let x = 7;
  for (let i = 256; i < l0; i++) buf[desc + i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 16;
  off += l0;
  v.setUint32(off, 0x40380000, true);
  v.setUint32(off + 4, l1, true);
  off += 8;
  for (let i = 0; i < l1; i++) buf[off + i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 16;
  off += l1;
  let checksum = 0xef;
  for (let i = desc; i < desc + l0; i++) checksum ^= buf[i]!;
  for (let i = off - l1; i < off; i++) checksum ^= buf[i]!;
  off += 15 - (off % 16);
  buf[off++] = checksum;
  buf.set(createHash("sha256").update(buf.subarray(0, off)).digest(), off);
  return buf.subarray(0, off + 32);
}
