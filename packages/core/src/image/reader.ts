// ESP32 app image reader: Uint8Array in, a checked description out. No file system, so it runs
// in Node and in browsers alike.
//
// Layout (esp-idf esp_app_format.h, esptool firmware-image-format docs):
//   0x00 esp_image_header_t (24 bytes)
//   then segment_count x { load_addr u32, data_len u32, data[data_len] }
//   zero padding so that the checksum byte ends a 16-byte block;
//   checksum = 0xEF XOR every segment data byte
//   optional SHA-256 of everything before it (hash_appended = 1)
//   optional Secure Boot v2 signature sector, starting on the next 4 KiB boundary
// esp_app_desc_t (256 bytes) is the start of the first segment's data, at file offset 0x20.
import { ImageFormatError } from "../errors.js";
import { bytesEqual, sha256 } from "../hash.js";
import { chipById, type ChipInfo } from "./chips.js";

export const IMAGE_HEADER_MAGIC = 0xe9;
export const IMAGE_HEADER_SIZE = 24;
export const SEGMENT_HEADER_SIZE = 8;
export const MAX_SEGMENTS = 16;
export const CHECKSUM_SEED = 0xef;
export const APP_DESC_OFFSET = 0x20;
export const APP_DESC_MAGIC = 0xabcd5432;
export const APP_DESC_SIZE = 256;
/** First byte of a Secure Boot v2 signature block. */
export const SIGNATURE_BLOCK_MAGIC = 0xe7;
/**
 * Secure Boot v2 puts the signature sector on the first 4 KiB (flash sector) boundary after
 * the image: espsecure sign_data pads the image with 0xFF to it, and the bootloader looks for
 * the sector there. Images built with elf2image --secure-pad-v2 end on a 64 KiB boundary,
 * which is one as well.
 */
export const SIGNATURE_SECTOR_ALIGN = 0x1000;
/** Size of the signature sector (up to three signature blocks). */
export const SIGNATURE_SECTOR_SIZE = 0x1000;

const PARTITION_TABLE_MAGIC = [0xaa, 0x50] as const;
/** First byte of esp_bootloader_desc_t, which newer bootloaders carry at 0x20. */
const BOOTLOADER_DESC_MAGIC = 0x50;

/** The 24-byte image header. */
export interface ImageHeader {
  readonly segmentCount: number;
  /** esp_image_spi_mode_t: 0 QIO, 1 QOUT, 2 DIO, 3 DOUT, 4 FAST_READ, 5 SLOW_READ. */
  readonly spiMode: number;
  /** esp_image_spi_freq_t (low nibble of byte 3). */
  readonly spiSpeed: number;
  /** esp_image_flash_size_t (high nibble of byte 3): 0 = 1 MB, 1 = 2 MB, ... */
  readonly spiSize: number;
  readonly entryAddr: number;
  readonly wpPin: number;
  readonly spiPinDrv: readonly [number, number, number];
  readonly chipId: number;
  /** Legacy one-byte minimum revision. */
  readonly minChipRev: number;
  /** Lowest chip revision, major * 100 + minor. */
  readonly minChipRevFull: number;
  /** Highest chip revision, major * 100 + minor; 0 or 0xFFFF mean no limit. */
  readonly maxChipRevFull: number;
  readonly hashAppended: boolean;
}

/** One memory segment. */
export interface ImageSegment {
  readonly loadAddr: number;
  readonly length: number;
  /** File offset of the segment's data (after its 8-byte header). */
  readonly dataOffset: number;
}

/** esp_app_desc_t of the image. */
export interface AppDescription {
  readonly secureVersion: number;
  readonly version: string;
  readonly projectName: string;
  readonly time: string;
  readonly date: string;
  readonly idfVersion: string;
  readonly appElfSha256: Uint8Array;
}

/** A Secure Boot v2 signature sector found after the image. */
export interface SignatureSector {
  readonly offset: number;
  readonly length: number;
}

/** A checked ESP32 app image. */
export interface EspImage {
  /** The whole file: what a node writes to its OTA slot and what the manifest hashes. */
  readonly bytes: Uint8Array;
  readonly size: number;
  /** SHA-256 of `bytes` (the manifest's image_sha256). */
  readonly sha256: Uint8Array;
  readonly header: ImageHeader;
  readonly chip: ChipInfo;
  readonly segments: readonly ImageSegment[];
  readonly checksum: number;
  /** File offset of the checksum byte. */
  readonly checksumOffset: number;
  /** The appended SHA-256, when hash_appended is set. */
  readonly appendedHash: Uint8Array | undefined;
  /** Length of the image proper: header, segments, checksum and appended hash. */
  readonly imageLength: number;
  readonly appDesc: AppDescription;
  readonly signatureSector: SignatureSector | undefined;
}

const latin = new TextDecoder("utf-8");

function hex(n: number, width = 2): string {
  return `0x${n.toString(16).toUpperCase().padStart(width, "0")}`;
}

function need(bytes: Uint8Array, end: number, what: string): void {
  if (end > bytes.length) {
    throw new ImageFormatError(
      "truncated",
      `image truncated at offset ${bytes.length}: ${what} needs ${end} bytes`,
      bytes.length
    );
  }
}

function cString(bytes: Uint8Array, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return latin.decode(nul < 0 ? field : field.subarray(0, nul));
}

/** Reads the 24-byte header without checking anything beyond its own bytes. */
export function readHeader(bytes: Uint8Array): ImageHeader {
  need(bytes, IMAGE_HEADER_SIZE, "the 24-byte image header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    segmentCount: bytes[1]!,
    spiMode: bytes[2]!,
    spiSpeed: bytes[3]! & 0x0f,
    spiSize: bytes[3]! >> 4,
    entryAddr: view.getUint32(4, true),
    wpPin: bytes[8]!,
    spiPinDrv: [bytes[9]!, bytes[10]!, bytes[11]!],
    chipId: view.getUint16(12, true),
    minChipRev: bytes[14]!,
    minChipRevFull: view.getUint16(15, true),
    maxChipRevFull: view.getUint16(17, true),
    hashAppended: bytes[23] === 1,
  };
}

/**
 * Reads and checks an ESP32 app image. Throws ImageFormatError naming the defect: not an
 * image, a bootloader or partition table instead of an app, truncated at offset N, too many
 * segments, bad checksum, bad hash, unknown chip, bad app description, trailing data.
 */
export async function readImage(input: Uint8Array): Promise<EspImage> {
  const bytes = input;
  if (bytes.length >= 2 && bytes[0] === PARTITION_TABLE_MAGIC[0] && bytes[1] === PARTITION_TABLE_MAGIC[1]) {
    throw new ImageFormatError(
      "partition-table",
      "this is a partition table (starts with 0xAA 0x50), not an app image",
      0
    );
  }
  if (bytes.length === 0) {
    throw new ImageFormatError("truncated", "image truncated at offset 0: the file is empty", 0);
  }
  if (bytes[0] !== IMAGE_HEADER_MAGIC) {
    throw new ImageFormatError(
      "not-an-image",
      `not an ESP32 image: first byte is ${hex(bytes[0]!)}, expected ${hex(IMAGE_HEADER_MAGIC)}`,
      0
    );
  }
  const header = readHeader(bytes);
  if (header.segmentCount === 0 || header.segmentCount > MAX_SEGMENTS) {
    throw new ImageFormatError(
      "too-many-segments",
      `image header declares ${header.segmentCount} segments; an image has 1 to ${MAX_SEGMENTS}`,
      1
    );
  }
  const chip = chipById(header.chipId);
  if (!chip) {
    throw new ImageFormatError("unknown-chip", `unknown chip id ${hex(header.chipId, 4)} at offset 0x0C`, 0x0c);
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments: ImageSegment[] = [];
  let checksum = CHECKSUM_SEED;
  let pos = IMAGE_HEADER_SIZE;
  for (let i = 0; i < header.segmentCount; i++) {
    need(bytes, pos + SEGMENT_HEADER_SIZE, `the header of segment ${i}`);
    const loadAddr = view.getUint32(pos, true);
    const length = view.getUint32(pos + 4, true);
    const dataOffset = pos + SEGMENT_HEADER_SIZE;
    need(bytes, dataOffset + length, `segment ${i} (${length} bytes at ${hex(dataOffset, 0)})`);
    for (let j = dataOffset; j < dataOffset + length; j++) checksum ^= bytes[j]!;
    segments.push({ loadAddr, length, dataOffset });
    pos = dataOffset + length;
  }
  // Padding so that the checksum byte is the last of a 16-byte block.
  const checksumOffset = pos + (15 - (pos % 16));
  need(bytes, checksumOffset + 1, "the checksum byte");
  const stored = bytes[checksumOffset]!;

  const isApp = bytes.length >= APP_DESC_OFFSET + 4 && view.getUint32(APP_DESC_OFFSET, true) === APP_DESC_MAGIC;
  // An app's first segment is flash-mapped read-only data, which esptool places so that load
  // address and file offset agree modulo the 64 KiB MMU page: at 0x20 it loads to 0x....0020.
  // A bootloader loads everything to internal RAM, at addresses of no such alignment.
  const flashMappedFirst = (segments[0]!.loadAddr & 0xffff) === APP_DESC_OFFSET;
  if (!isApp && flashMappedFirst && bytes[APP_DESC_OFFSET] !== BOOTLOADER_DESC_MAGIC) {
    throw new ImageFormatError(
      "bad-app-desc",
      `no esp_app_desc_t at 0x20: magic is ${hex(view.getUint32(APP_DESC_OFFSET, true), 8)}, expected ${hex(
        APP_DESC_MAGIC,
        8
      )} (first segment loads to ${hex(segments[0]!.loadAddr, 8)}, flash-mapped data as in an app)`,
      APP_DESC_OFFSET
    );
  }
  if (!isApp) {
    const desc =
      bytes[APP_DESC_OFFSET] === BOOTLOADER_DESC_MAGIC ? "esp_bootloader_desc_t at 0x20" : "no esp_app_desc_t at 0x20";
    throw new ImageFormatError(
      "bootloader",
      `this is a bootloader image (${desc}; first segment loads to ${hex(segments[0]!.loadAddr, 8)}), not an app image`,
      APP_DESC_OFFSET
    );
  }
  if (segments[0]!.length < APP_DESC_SIZE) {
    throw new ImageFormatError(
      "bad-app-desc",
      `first segment is ${segments[0]!.length} bytes, too short for the ${APP_DESC_SIZE}-byte esp_app_desc_t`,
      APP_DESC_OFFSET
    );
  }
  if (stored !== checksum) {
    throw new ImageFormatError(
      "bad-checksum",
      `bad checksum at offset ${hex(checksumOffset, 0)}: stored ${hex(stored)}, computed ${hex(checksum)}`,
      checksumOffset
    );
  }

  let imageLength = checksumOffset + 1;
  let appendedHash: Uint8Array | undefined;
  if (header.hashAppended) {
    need(bytes, imageLength + 32, "the appended SHA-256");
    appendedHash = bytes.slice(imageLength, imageLength + 32);
    const computed = await sha256(bytes.subarray(0, imageLength));
    if (!bytesEqual(computed, appendedHash)) {
      throw new ImageFormatError(
        "bad-hash",
        `bad hash: the SHA-256 appended at offset ${hex(imageLength, 0)} does not match the image`,
        imageLength
      );
    }
    imageLength += 32;
  }

  let signatureSector: SignatureSector | undefined;
  if (bytes.length > imageLength) {
    const sectorOffset = Math.ceil(imageLength / SIGNATURE_SECTOR_ALIGN) * SIGNATURE_SECTOR_ALIGN;
    if (bytes.length > sectorOffset && bytes[sectorOffset] === SIGNATURE_BLOCK_MAGIC) {
      signatureSector = { offset: sectorOffset, length: bytes.length - sectorOffset };
      if (signatureSector.length > SIGNATURE_SECTOR_SIZE) {
        throw new ImageFormatError(
          "trailing-data",
          `${
            signatureSector.length - SIGNATURE_SECTOR_SIZE
          } unexpected bytes after the signature sector at offset ${hex(sectorOffset + SIGNATURE_SECTOR_SIZE, 0)}`,
          sectorOffset + SIGNATURE_SECTOR_SIZE
        );
      }
    } else {
      throw new ImageFormatError(
        "trailing-data",
        `${bytes.length - imageLength} unexpected bytes after the image end at offset ${hex(
          imageLength,
          0
        )} (no signature sector at ${hex(sectorOffset, 0)})`,
        imageLength
      );
    }
  }

  const d = APP_DESC_OFFSET;
  const appDesc: AppDescription = {
    secureVersion: view.getUint32(d + 4, true),
    version: cString(bytes, d + 0x10, 32),
    projectName: cString(bytes, d + 0x30, 32),
    time: cString(bytes, d + 0x50, 16),
    date: cString(bytes, d + 0x60, 16),
    idfVersion: cString(bytes, d + 0x70, 32),
    appElfSha256: bytes.slice(d + 0x90, d + 0xb0),
  };

  return {
    bytes,
    size: bytes.length,
    sha256: await sha256(bytes),
    header,
    chip,
    segments,
    checksum: stored,
    checksumOffset,
    appendedHash,
    imageLength,
    appDesc,
    signatureSector,
  };
}
