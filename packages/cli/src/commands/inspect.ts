// `meshota inspect <image>`: everything the image reader knows about an ESP32 app image, for
// people or as JSON. A defective image is still described as far as it can be read: the
// checksum and the appended hash are reported as holding or not instead of stopping at the
// first defect.
import {
  APP_DESC_MAGIC,
  APP_DESC_OFFSET,
  ChipId,
  chipById,
  formatChipRevision,
  IMAGE_HEADER_MAGIC,
  ImageFormatError,
  MAX_SEGMENTS,
  readHeader,
  readImage,
  sha256,
  toHex,
  type ImageHeader,
} from "@meshota/core";

/** SPI flash modes of esp_image_spi_mode_t. */
const SPI_MODES = ["QIO", "QOUT", "DIO", "DOUT", "FAST_READ", "SLOW_READ"] as const;
/** Flash sizes of esp_image_flash_size_t. */
const FLASH_SIZES = ["1MB", "2MB", "4MB", "8MB", "16MB", "32MB", "64MB", "128MB"] as const;

/**
 * Flash frequencies of esp_image_spi_freq_t (codes 0, 1, 2, 0xF); the same code means another
 * frequency on ESP32-C2 and ESP32-H2 (esptool's "Firmware Image Format" documentation).
 */
function flashFreq(chipId: number, code: number): string {
  const table =
    chipId === ChipId.ESP32C2
      ? { 0: "30m", 1: "20m", 2: "15m", 15: "60m" }
      : chipId === ChipId.ESP32H2
        ? { 0: "24m", 1: "16m", 2: "12m", 15: "48m" }
        : { 0: "40m", 1: "26m", 2: "20m", 15: "80m" };
  return (table as Record<number, string>)[code] ?? `unknown (${code})`;
}

/** One segment as `inspect` reports it. */
export interface InspectSegment {
  readonly index: number;
  /** Load address as 0x-prefixed hex. */
  readonly loadAddr: string;
  readonly length: number;
  /** File offset of the segment's data. */
  readonly fileOffset: number;
}

/** What `inspect --json` prints. Every field is always present (null when unknown). */
export interface InspectReport {
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
  /** True when the image passes every check of the reader. */
  readonly valid: boolean;
  /** The reader's verdict when not valid. */
  readonly error: { readonly defect: string; readonly message: string; readonly offset: number | null } | null;
  readonly chip: { readonly id: number; readonly name: string | null } | null;
  readonly header: {
    readonly segmentCount: number;
    readonly spiMode: string;
    readonly flashSize: string;
    readonly flashFreq: string;
    readonly entryAddr: string;
    readonly minChipRev: string;
    readonly maxChipRev: string | null;
    readonly hashAppended: boolean;
  } | null;
  readonly segments: readonly InspectSegment[];
  readonly app: {
    readonly projectName: string;
    readonly version: string;
    readonly secureVersion: number;
    readonly idfVersion: string;
    readonly date: string;
    readonly time: string;
    readonly appElfSha256: string;
  } | null;
  /** The checksum byte: stored and computed, and whether they agree. */
  readonly checksum: { readonly stored: string; readonly computed: string; readonly ok: boolean } | null;
  /** The appended SHA-256, when the header says there is one. */
  readonly hash: { readonly stored: string; readonly computed: string; readonly ok: boolean } | null;
  readonly signatureSector: { readonly offset: number; readonly length: number } | null;
}

const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, "0")}`;
const text = new TextDecoder("utf-8");

function cString(bytes: Uint8Array, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return text.decode(nul < 0 ? field : field.subarray(0, nul));
}

function describeHeader(h: ImageHeader): NonNullable<InspectReport["header"]> {
  const unlimited = h.maxChipRevFull === 0 || h.maxChipRevFull === 0xffff;
  return {
    segmentCount: h.segmentCount,
    spiMode: SPI_MODES[h.spiMode] ?? `unknown (${h.spiMode})`,
    flashSize: FLASH_SIZES[h.spiSize] ?? `unknown (${h.spiSize})`,
    flashFreq: flashFreq(h.chipId, h.spiSpeed),
    entryAddr: hex(h.entryAddr, 8),
    minChipRev: formatChipRevision(h.minChipRevFull),
    maxChipRev: unlimited ? null : formatChipRevision(h.maxChipRevFull),
    hashAppended: h.hashAppended,
  };
}

/** Walks what can be read of a defective image: segments, checksum, hash, app description. */
async function describeDefective(
  file: string,
  bytes: Uint8Array,
  error: ImageFormatError,
): Promise<InspectReport> {
  const base = {
    file,
    size: bytes.length,
    sha256: toHex(await sha256(bytes)),
    valid: false,
    error: { defect: error.defect, message: error.message, offset: error.offset ?? null },
    signatureSector: null,
  };
  if (bytes.length < 24 || bytes[0] !== IMAGE_HEADER_MAGIC) {
    return { ...base, chip: null, header: null, segments: [], app: null, checksum: null, hash: null };
  }
  const h = readHeader(bytes);
  const chip = { id: h.chipId, name: chipById(h.chipId)?.name ?? null };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments: InspectSegment[] = [];
  let pos = 24;
  let computed = 0xef;
  let complete = h.segmentCount >= 1 && h.segmentCount <= MAX_SEGMENTS;
  for (let i = 0; complete && i < h.segmentCount; i++) {
    if (pos + 8 > bytes.length) {
      complete = false;
      break;
    }
    const loadAddr = view.getUint32(pos, true);
    const length = view.getUint32(pos + 4, true);
    const start = pos + 8;
    segments.push({ index: i, loadAddr: hex(loadAddr, 8), length, fileOffset: start });
    if (start + length > bytes.length) {
      complete = false;
      break;
    }
    for (let j = start; j < start + length; j++) computed ^= bytes[j]!;
    pos = start + length;
  }
  let checksum: InspectReport["checksum"] = null;
  let hash: InspectReport["hash"] = null;
  if (complete) {
    const at = pos + (15 - (pos % 16));
    if (at < bytes.length) {
      const stored = bytes[at]!;
      checksum = { stored: hex(stored, 2), computed: hex(computed, 2), ok: stored === computed };
      if (h.hashAppended && at + 33 <= bytes.length) {
        const digest = toHex(await sha256(bytes.subarray(0, at + 1)));
        const appended = toHex(bytes.subarray(at + 1, at + 33));
        hash = { stored: appended, computed: digest, ok: appended === digest };
      }
    }
  }
  const d = APP_DESC_OFFSET;
  const hasApp = bytes.length >= d + 256 && view.getUint32(d, true) === APP_DESC_MAGIC;
  const app = hasApp
    ? {
        projectName: cString(bytes, d + 0x30, 32),
        version: cString(bytes, d + 0x10, 32),
        secureVersion: view.getUint32(d + 4, true),
        idfVersion: cString(bytes, d + 0x70, 32),
        date: cString(bytes, d + 0x60, 16),
        time: cString(bytes, d + 0x50, 16),
        appElfSha256: toHex(bytes.subarray(d + 0x90, d + 0xb0)),
      }
    : null;
  return { ...base, chip, header: describeHeader(h), segments, app, checksum, hash };
}

/** Inspects image bytes. Never throws for bad images: the report says what is wrong. */
export async function inspectImage(file: string, bytes: Uint8Array): Promise<InspectReport> {
  let image;
  try {
    image = await readImage(bytes);
  } catch (error) {
    if (ImageFormatError.isInstance(error)) return describeDefective(file, bytes, error);
    throw error;
  }
  let computed = 0xef;
  for (const s of image.segments) for (let j = s.dataOffset; j < s.dataOffset + s.length; j++) computed ^= bytes[j]!;
  return {
    file,
    size: image.size,
    sha256: toHex(image.sha256),
    valid: true,
    error: null,
    chip: { id: image.chip.id, name: image.chip.name },
    header: describeHeader(image.header),
    segments: image.segments.map((s, index) => ({
      index,
      loadAddr: hex(s.loadAddr, 8),
      length: s.length,
      fileOffset: s.dataOffset,
    })),
    app: {
      projectName: image.appDesc.projectName,
      version: image.appDesc.version,
      secureVersion: image.appDesc.secureVersion,
      idfVersion: image.appDesc.idfVersion,
      date: image.appDesc.date,
      time: image.appDesc.time,
      appElfSha256: toHex(image.appDesc.appElfSha256),
    },
    checksum: { stored: hex(image.checksum, 2), computed: hex(computed, 2), ok: true },
    hash: image.appendedHash
      ? {
          stored: toHex(image.appendedHash),
          computed: toHex(await sha256(bytes.subarray(0, image.checksumOffset + 1))),
          ok: true,
        }
      : null,
    signatureSector: image.signatureSector
      ? { offset: image.signatureSector.offset, length: image.signatureSector.length }
      : null,
  };
}

/** The report as aligned lines for a terminal. */
export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${(label + ":").padEnd(18)}${value}`);
  row("File", `${r.file} (${r.size} bytes)`);
  row("SHA-256", r.sha256);
  row("Verdict", r.valid ? "valid ESP32 app image" : `NOT VALID: ${r.error?.message ?? "unknown"}`);
  if (r.chip) row("Chip", `${r.chip.name ?? "unknown"} (id ${hex(r.chip.id, 4)})`);
  if (r.header) {
    const rev = r.header.maxChipRev ? `${r.header.minChipRev} to ${r.header.maxChipRev}` : `${r.header.minChipRev} and later`;
    row("Chip revision", rev);
    row("Flash", `${r.header.spiMode}, ${r.header.flashSize}, ${r.header.flashFreq}`);
    row("Entry", r.header.entryAddr);
  }
  if (r.app) {
    row("Project", r.app.projectName);
    row("Version", r.app.version);
    row("Secure version", String(r.app.secureVersion));
    row("IDF version", r.app.idfVersion);
    row("Built", `${r.app.date} ${r.app.time}`);
    row("ELF SHA-256", r.app.appElfSha256);
  }
  if (r.checksum) {
    row("Checksum", r.checksum.ok ? `${r.checksum.stored} holds` : `BAD: stored ${r.checksum.stored}, computed ${r.checksum.computed}`);
  } else {
    row("Checksum", "not reached");
  }
  if (r.header?.hashAppended) {
    row("Appended SHA-256", r.hash ? (r.hash.ok ? "holds" : `BAD: stored ${r.hash.stored}, computed ${r.hash.computed}`) : "not reached");
  } else if (r.header) {
    row("Appended SHA-256", "none");
  }
  if (r.signatureSector) row("Signature sector", `${r.signatureSector.length} bytes at ${hex(r.signatureSector.offset, 0)}`);
  lines.push(`Segments (${r.segments.length}):`);
  for (const s of r.segments) {
    lines.push(`  ${String(s.index).padStart(2)}  load ${s.loadAddr}  ${String(s.length).padStart(8)} bytes  at file offset ${hex(s.fileOffset, 0)}`);
  }
  return lines.join("\n") + "\n";
}
