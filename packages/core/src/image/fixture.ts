// Builds valid ESP32 app images of any size, chip, version and secure_version from the
// project's own bytes, for tests and demos. The images are well formed (header, segments,
// checksum, appended SHA-256, esp_app_desc_t) but their code is filler and never runs.
import { sha256 } from "../hash.js";
import { ChipId } from "./chips.js";
import {
  APP_DESC_MAGIC,
  APP_DESC_OFFSET,
  APP_DESC_SIZE,
  CHECKSUM_SEED,
  IMAGE_HEADER_MAGIC,
  IMAGE_HEADER_SIZE,
  MAX_SEGMENTS,
  SEGMENT_HEADER_SIZE,
  SIGNATURE_BLOCK_MAGIC,
  SIGNATURE_SECTOR_ALIGN,
  SIGNATURE_SECTOR_SIZE,
} from "./reader.js";

/** What to build. Every field has a default. */
export interface FixtureOptions {
  /** Chip id (default ESP32-C3). */
  chip: number;
  /** esp_app_desc_t.version (default "1.0.0"). */
  version: string;
  /** esp_app_desc_t.project_name (default "meshota-demo"). */
  projectName: string;
  /** esp_app_desc_t.secure_version (default 0). */
  secureVersion: number;
  /** Smallest total size in bytes; the result is the next valid size (default 64 KiB). */
  size: number;
  /** Number of segments, 1-16 (default 3). */
  segments: number;
  /** Minimum chip revision, major * 100 + minor (default 0). */
  minChipRev: number;
  /** Maximum chip revision, major * 100 + minor (default 0xFFFF: no limit). */
  maxChipRev: number;
  /** Append the SHA-256 (default true). */
  hashAppended: boolean;
  /** Append a Secure Boot v2 signature sector (filler signature; default false). */
  signatureSector: boolean;
  /** Seed of the filler bytes; images with different seeds differ (default 1). */
  seed: number;
  /** esp_app_desc_t.idf_ver (default "v5.3.1"). */
  idfVersion: string;
  /** esp_app_desc_t.date and time (defaults "Dec  3 2026", "12:00:00"). */
  date: string;
  time: string;
}

const DEFAULTS: Readonly<FixtureOptions> = Object.freeze({
  chip: ChipId.ESP32C3,
  version: "1.0.0",
  projectName: "meshota-demo",
  secureVersion: 0,
  size: 64 * 1024,
  segments: 3,
  minChipRev: 0,
  maxChipRev: 0xffff,
  hashAppended: true,
  signatureSector: false,
  seed: 1,
  idfVersion: "v5.3.1",
  date: "Dec  3 2026",
  time: "12:00:00",
});

/** Load addresses that look like each family's DROM, IRAM and IROM (values do not matter). */
function loadAddress(chip: number, index: number): number {
  const classic = chip === ChipId.ESP32;
  const base =
    index === 0
      ? classic
        ? 0x3f400020
        : 0x3c000020
      : index % 2
      ? classic
        ? 0x40080000
        : 0x40380000
      : classic
      ? 0x400d0020
      : 0x42000020;
  return base + (index >> 1) * 0x10000;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s & 0xff;
  };
}

function putText(out: Uint8Array, offset: number, text: string, max: number): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > max - 1) throw new RangeError(`"${text}" is longer than ${max - 1} bytes`);
  out.set(bytes, offset);
}

/** Length of the image (header .. appended hash) for a given total of segment data. */
function imageLengthFor(segmentData: number, segments: number, hash: boolean): number {
  const end = IMAGE_HEADER_SIZE + segments * SEGMENT_HEADER_SIZE + segmentData;
  return end + (15 - (end % 16)) + 1 + (hash ? 32 : 0);
}

/** Builds a valid app image. */
export async function buildImage(options: Partial<FixtureOptions> = {}): Promise<Uint8Array> {
  const o: FixtureOptions = { ...DEFAULTS, ...options };
  if (!Number.isInteger(o.segments) || o.segments < 1 || o.segments > MAX_SEGMENTS) {
    throw new RangeError(`segments must be 1-${MAX_SEGMENTS}, got ${o.segments}`);
  }
  // Segment data in multiples of 4; the first segment holds esp_app_desc_t.
  const minData = APP_DESC_SIZE + (o.segments - 1) * 4;
  let data = minData;
  if (imageLengthFor(data, o.segments, o.hashAppended) < o.size) {
    const overhead = imageLengthFor(0, o.segments, o.hashAppended);
    data = Math.max(minData, Math.floor((o.size - overhead) / 4) * 4);
    while (imageLengthFor(data, o.segments, o.hashAppended) < o.size) data += 4;
  }
  const lengths: number[] = [];
  const rest = data - APP_DESC_SIZE;
  const share = Math.floor(rest / 4 / o.segments) * 4;
  for (let i = 0; i < o.segments; i++) lengths.push(i === 0 ? APP_DESC_SIZE + share : share);
  lengths[o.segments - 1]! += rest - share * o.segments;

  const imageLength = imageLengthFor(data, o.segments, o.hashAppended);
  const total = o.signatureSector
    ? Math.ceil(imageLength / SIGNATURE_SECTOR_ALIGN) * SIGNATURE_SECTOR_ALIGN + SIGNATURE_SECTOR_SIZE
    : imageLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);

  out[0] = IMAGE_HEADER_MAGIC;
  out[1] = o.segments;
  out[2] = 2; // DIO
  out[3] = (2 << 4) | 0x0f; // 4 MB, clock divider 1
  view.setUint32(4, loadAddress(o.chip, 1) + 0x4a0, true);
  out[8] = 0xee; // WP pin disabled
  view.setUint16(12, o.chip, true);
  out[14] = Math.floor(o.minChipRev / 100) & 0xff;
  view.setUint16(15, o.minChipRev, true);
  view.setUint16(17, o.maxChipRev, true);
  out[23] = o.hashAppended ? 1 : 0;

  const random = xorshift(o.seed * 2654435761 + o.secureVersion * 97 + o.version.length);
  let pos = IMAGE_HEADER_SIZE;
  let checksum = CHECKSUM_SEED;
  lengths.forEach((length, i) => {
    view.setUint32(pos, loadAddress(o.chip, i), true);
    view.setUint32(pos + 4, length, true);
    const start = pos + SEGMENT_HEADER_SIZE;
    for (let j = 0; j < length; j++) out[start + j] = random();
    if (i === 0) {
      out.fill(0, start, start + APP_DESC_SIZE);
      const d = APP_DESC_OFFSET;
      view.setUint32(d, APP_DESC_MAGIC, true);
      view.setUint32(d + 4, o.secureVersion, true);
      putText(out, d + 0x10, o.version, 32);
      putText(out, d + 0x30, o.projectName, 32);
      putText(out, d + 0x50, o.time, 16);
      putText(out, d + 0x60, o.date, 16);
      putText(out, d + 0x70, o.idfVersion, 32);
      for (let j = 0; j < 32; j++) out[d + 0x90 + j] = random();
    }
    for (let j = start; j < start + length; j++) checksum ^= out[j]!;
    pos = start + length;
  });
  const checksumOffset = pos + (15 - (pos % 16));
  out[checksumOffset] = checksum;
  if (o.hashAppended) out.set(await sha256(out.subarray(0, checksumOffset + 1)), checksumOffset + 1);
  if (o.signatureSector) {
    const sector = total - SIGNATURE_SECTOR_SIZE;
    out.fill(0xff, imageLength, total);
    out[sector] = SIGNATURE_BLOCK_MAGIC;
    out[sector + 1] = 0x02;
  }
  return out;
}

/**
 * Builds a bootloader-like image: magic 0xE9, valid segments and checksum, but the first
 * segment loads to DRAM and carries esp_bootloader_desc_t (magic byte 0x50), not an app
 * description. For tests of the reader's refusal.
 */
export function buildBootloaderImage(chip: number = ChipId.ESP32C3): Uint8Array {
  const length = 0x40;
  const end = IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE + length;
  const checksumOffset = end + (15 - (end % 16));
  const out = new Uint8Array(checksumOffset + 1);
  const view = new DataView(out.buffer);
  out[0] = IMAGE_HEADER_MAGIC;
  out[1] = 1;
  view.setUint32(4, 0x403c8000, true);
  view.setUint16(12, chip, true);
  view.setUint16(17, 0xffff, true);
  view.setUint32(IMAGE_HEADER_SIZE, 0x3fcd8000, true);
  view.setUint32(IMAGE_HEADER_SIZE + 4, length, true);
  out[APP_DESC_OFFSET] = 0x50;
  let checksum = CHECKSUM_SEED;
  for (let j = APP_DESC_OFFSET; j < APP_DESC_OFFSET + length; j++) checksum ^= out[j]!;
  out[checksumOffset] = checksum;
  return out;
}

/** A partition table's first entry (magic 0xAA 0x50, type app, subtype factory). */
export function buildPartitionTable(): Uint8Array {
  const out = new Uint8Array(0xc00).fill(0xff);
  const view = new DataView(out.buffer);
  out.set([0xaa, 0x50, 0x00, 0x00], 0);
  view.setUint32(4, 0x10000, true);
  view.setUint32(8, 0x100000, true);
  out.fill(0, 12, 32);
  out.set(new TextEncoder().encode("factory"), 12);
  return out;
}
