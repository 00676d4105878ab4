// The reader against the layout of a real ESP-IDF build, as far as it is public.
//
// Source: a public build report of an ESP32-P4 app built with ESP-IDF v5.4.2 (a GitHub
// repository's notes holding `esptool.py image_info` output, an `xxd` dump of the image's
// first 160 bytes and the second-stage bootloader's segment log). The 160 bytes below are that
// dump; the segment table and the 208,768-byte file size are from the same report. What the
// report does not show (segment contents past the dump, the ELF SHA-256 in the descriptor) is
// filler here, so the checksum and appended hash are computed over the filler: this checks
// layout and fields, not the real image's checksum.
import { describe, expect, it } from "vitest";
import { sha256, toHex } from "../hash.js";
import { CHECKSUM_SEED, readImage } from "./reader.js";

const FIRST_160 = [
  "e906021ffe03f04fee00000012000001",
  "00c70000000000012000024038a00000",
  "3254cdab000000000000000000000000",
  "31000000000000000000000000000000",
  "00000000000000000000000000000000",
  "6d61696e000000000000000000000000",
  "00000000000000000000000000000000",
  "31313a34323a35310000000000000000",
  "41756720203820323032350000000000",
  "76352e342e3200000000000000000000",
].join("");

/** The report's segment table: length, load address, file offset of the segment header. */
const SEGMENTS: readonly (readonly [number, number, number])[] = [
  [0x0a038, 0x40020020, 0x00000018],
  [0x00044, 0x30100000, 0x0000a058],
  [0x05f6c, 0x4ff00000, 0x0000a0a4],
  [0x18e10, 0x40000020, 0x00010018],
  [0x08380, 0x4ff05f6c, 0x00028e30],
  [0x01d94, 0x4ff0e300, 0x000311b8],
];
const FILE_SIZE = 208_768;

/** The real image's layout with the dumped bytes, filler elsewhere, and a valid footer. */
async function rebuild(): Promise<Uint8Array> {
  const bytes = new Uint8Array(FILE_SIZE);
  let end = 0;
  for (const [length, loadAddr, offset] of SEGMENTS) {
    const view = new DataView(bytes.buffer, offset, 8);
    view.setUint32(0, loadAddr, true);
    view.setUint32(4, length, true);
    for (let i = 0; i < length; i++) bytes[offset + 8 + i] = (offset + i * 7) & 0xff;
    end = offset + 8 + length;
  }
  // The ELF SHA-256 and the rest of esp_app_desc_t past the dump: filler, not 0xff or magic.
  bytes.fill(0, 0xa0, 0x120);
  bytes.set(Uint8Array.from(FIRST_160.match(/../g)!, (h) => Number.parseInt(h, 16)), 0);
  // Checksum: XOR of every segment's data with the seed, in the last byte of a 16-byte block.
  let checksum = CHECKSUM_SEED;
  for (const [length, , offset] of SEGMENTS) for (let i = 0; i < length; i++) checksum ^= bytes[offset + 8 + i]!;
  const checksumOffset = end | 15; // zero padding up to it, as elf2image writes
  bytes[checksumOffset] = checksum;
  bytes.set(await sha256(bytes.subarray(0, checksumOffset + 1)), checksumOffset + 1);
  expect(checksumOffset + 1 + 32).toBe(FILE_SIZE);
  return bytes;
}

describe("readImage on the layout of an ESP-IDF v5.4.2 ESP32-P4 build", () => {
  it("should report what esptool image_info and the bootloader reported for it", async () => {
    const image = await readImage(await rebuild());
    expect(image.chip.name).toBe("ESP32-P4");
    expect(image.header).toMatchObject({
      segmentCount: 6,
      spiMode: 2, // DIO
      spiSize: 1, // 2MB
      spiSpeed: 0x0f, // 80m
      entryAddr: 0x4ff003fe,
      chipId: 0x12,
      minChipRevFull: 1,
      maxChipRevFull: 199,
      hashAppended: true,
    });
    // image_info lists segment headers; the reader gives data offsets (8 bytes later).
    expect(image.segments.map((s) => [s.length, s.loadAddr, s.dataOffset - 8])).toEqual(SEGMENTS);
    // The bootloader mapped segment 0 from paddr 0x10020 with the app at 0x10000.
    expect(0x10000 + image.segments[0]!.dataOffset).toBe(0x10020);
    expect(image.appDesc).toMatchObject({
      secureVersion: 0,
      version: "1",
      projectName: "main",
      time: "11:42:51",
      date: "Aug  8 2025",
      idfVersion: "v5.4.2",
    });
    expect(image.size).toBe(FILE_SIZE);
    expect(image.imageLength).toBe(FILE_SIZE);
    expect(image.checksumOffset).toBe(0x32f5f);
    expect(image.signatureSector).toBeUndefined();
    expect(toHex(image.appendedHash!)).toBe(toHex(await sha256(image.bytes.subarray(0, 0x32f60))));
  });
});
