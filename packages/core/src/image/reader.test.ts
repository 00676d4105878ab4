import { describe, expect, it } from "vitest";
import { ImageFormatError } from "../errors.js";
import { sha256, toHex } from "../hash.js";
import { ChipId, CHIPS } from "./chips.js";
import { buildBootloaderImage, buildImage, buildPartitionTable } from "./fixture.js";
import { readImage } from "./reader.js";

async function defectOf(bytes: Uint8Array): Promise<ImageFormatError> {
  try {
    await readImage(bytes);
  } catch (error) {
    expect(ImageFormatError.isInstance(error)).toBe(true);
    return error as ImageFormatError;
  }
  throw new Error("readImage accepted a defective image");
}

describe("readImage", () => {
  it("should read every field of a built image", async () => {
    const bytes = await buildImage({
      chip: ChipId.ESP32S3,
      version: "2.4.1",
      projectName: "lamp",
      secureVersion: 3,
      size: 10_000,
      segments: 4,
      minChipRev: 1,
      maxChipRev: 199,
    });
    const image = await readImage(bytes);
    expect(image.size).toBe(10_000);
    expect(image.size % 16).toBe(0);
    expect(image.chip.name).toBe("ESP32-S3");
    expect(image.header.chipId).toBe(9);
    expect(image.header.segmentCount).toBe(4);
    expect(image.header.spiMode).toBe(2);
    expect(image.header.spiSize).toBe(2);
    expect(image.header.spiSpeed).toBe(0x0f);
    expect(image.header.minChipRevFull).toBe(1);
    expect(image.header.maxChipRevFull).toBe(199);
    expect(image.header.hashAppended).toBe(true);
    expect(image.segments).toHaveLength(4);
    expect(image.segments[0]!.dataOffset).toBe(0x20);
    expect(image.segments[0]!.loadAddr).toBe(0x3c000020);
    expect(image.appDesc).toMatchObject({
      secureVersion: 3,
      version: "2.4.1",
      projectName: "lamp",
      idfVersion: "v5.3.1",
      date: "Dec  3 2026",
      time: "12:00:00",
    });
    expect(image.appDesc.appElfSha256).toHaveLength(32);
    expect((image.checksumOffset + 1) % 16).toBe(0);
    expect(image.imageLength).toBe(10_000);
    expect(toHex(image.sha256)).toBe(toHex(await sha256(bytes)));
    expect(toHex(image.appendedHash!)).toBe(toHex(await sha256(bytes.subarray(0, image.checksumOffset + 1))));
    expect(image.signatureSector).toBeUndefined();
  });

  it("should build and read images for every known chip", async () => {
    for (const chip of CHIPS.values()) {
      const image = await readImage(await buildImage({ chip: chip.id, size: 1024 }));
      expect(image.chip).toBe(chip);
    }
  });

  it("should round sizes up to the next valid length and honour tiny sizes", async () => {
    expect((await readImage(await buildImage({ size: 1 }))).size).toBe(352);
    expect((await readImage(await buildImage({ size: 100_001 }))).size).toBe(100_016);
    expect((await readImage(await buildImage({ size: 4096, segments: 16 }))).segments).toHaveLength(16);
  });

  it("should read an image without an appended hash", async () => {
    const image = await readImage(await buildImage({ hashAppended: false, size: 2000 }));
    expect(image.appendedHash).toBeUndefined();
    expect(image.imageLength).toBe(image.checksumOffset + 1);
  });

  it("should find a signature sector on the next 4 KiB boundary, as espsecure sign_data puts it", async () => {
    const bytes = await buildImage({ size: 70_000, signatureSector: true });
    const image = await readImage(bytes);
    expect(image.imageLength).toBe(70_000);
    expect(image.signatureSector).toEqual({ offset: 0x12000, length: 0x1000 });
    expect(image.size).toBe(0x13000);
    expect(bytes.subarray(70_000, 0x12000).every((b) => b === 0xff)).toBe(true);
    // An image that ends on a 64 KiB boundary (elf2image --secure-pad-v2) has it right after.
    const unsigned = await buildImage({ size: 0x10000 });
    expect(unsigned.length).toBe(0x10000);
    const sector = new Uint8Array(0x1000).fill(0xff);
    sector[0] = 0xe7;
    expect((await readImage(Uint8Array.from([...unsigned, ...sector]))).signatureSector).toEqual({ offset: 0x10000, length: 0x1000 });
    // Nothing on that boundary: the bytes after the image are refused, with the place looked at.
    const e = await defectOf(Uint8Array.from([...unsigned, ...new Uint8Array(0x1000)]));
    expect(e.message).toBe("4096 unexpected bytes after the image end at offset 0x10000 (no signature sector at 0x10000)");
  });

  it("should refuse a partition table by name", async () => {
    const e = await defectOf(buildPartitionTable());
    expect(e.defect).toBe("partition-table");
    expect(e.message).toBe("this is a partition table (starts with 0xAA 0x50), not an app image");
  });

  it("should tell an app whose esp_app_desc_t magic is damaged from a bootloader", async () => {
    const bytes = await buildImage({ size: 4096 });
    bytes[0x21]! ^= 0x01;
    const e = await defectOf(bytes);
    expect(e.defect).toBe("bad-app-desc");
    expect(e.offset).toBe(0x20);
    expect(e.message).toBe(
      "no esp_app_desc_t at 0x20: magic is 0xABCD5532, expected 0xABCD5432 (first segment loads to 0x3C000020, flash-mapped data as in an app)"
    );
  });

  it("should name a bootloader without esp_bootloader_desc_t (older ESP-IDF) a bootloader", async () => {
    // Its first segment loads to internal RAM, as in ESP32 bootloaders (DRAM 0x3FFF0030).
    const bytes = buildBootloaderImage(ChipId.ESP32);
    const view = new DataView(bytes.buffer);
    view.setUint32(24, 0x3fff0030, true);
    let checksum = 0xef;
    bytes[0x20] = 0x12;
    for (let i = 0x20; i < 0x60; i++) checksum ^= bytes[i]!;
    bytes[0x6f] = checksum;
    const e = await defectOf(bytes);
    expect(e.defect).toBe("bootloader");
    expect(e.message).toBe(
      "this is a bootloader image (no esp_app_desc_t at 0x20; first segment loads to 0x3FFF0030), not an app image"
    );
  });

  it("should refuse a bootloader image by name", async () => {
    const e = await defectOf(buildBootloaderImage());
    expect(e.defect).toBe("bootloader");
    expect(e.message).toBe(
      "this is a bootloader image (esp_bootloader_desc_t at 0x20; first segment loads to 0x3FCD8000), not an app image"
    );
  });

  it("should refuse bytes that are not an image", async () => {
    const e = await defectOf(new TextEncoder().encode("#!/bin/sh\necho hi\n"));
    expect(e.defect).toBe("not-an-image");
    expect(e.message).toBe("not an ESP32 image: first byte is 0x23, expected 0xE9");
    expect((await defectOf(new Uint8Array(0))).defect).toBe("truncated");
  });

  it("should say where a truncated image ends", async () => {
    const bytes = await buildImage({ size: 4096, segments: 2 });
    const image = await readImage(bytes);
    const cut = bytes.subarray(0, 3000);
    const e = await defectOf(cut);
    expect(e.defect).toBe("truncated");
    expect(e.offset).toBe(3000);
    const seg1 = image.segments[1]!;
    expect(e.message).toBe(
      `image truncated at offset 3000: segment 1 (${seg1.length} bytes at 0x${seg1.dataOffset
        .toString(16)
        .toUpperCase()}) needs ${seg1.dataOffset + seg1.length} bytes`
    );
    const noHash = await defectOf(bytes.subarray(0, bytes.length - 1));
    expect(noHash.message).toBe(
      `image truncated at offset ${bytes.length - 1}: the appended SHA-256 needs ${bytes.length} bytes`
    );
    expect((await defectOf(bytes.subarray(0, 20))).message).toBe(
      "image truncated at offset 20: the 24-byte image header needs 24 bytes"
    );
  });

  it("should refuse a bad checksum", async () => {
    const bytes = await buildImage({ size: 4096, hashAppended: false });
    const image = await readImage(bytes);
    const bad = bytes.slice();
    bad[image.segments[1]!.dataOffset + 5]! ^= 0x01;
    const e = await defectOf(bad);
    expect(e.defect).toBe("bad-checksum");
    expect(e.offset).toBe(image.checksumOffset);
    const stored = image.checksum.toString(16).toUpperCase().padStart(2, "0");
    const computed = (image.checksum ^ 1).toString(16).toUpperCase().padStart(2, "0");
    expect(e.message).toBe(
      `bad checksum at offset 0x${image.checksumOffset
        .toString(16)
        .toUpperCase()}: stored 0x${stored}, computed 0x${computed}`
    );
  });

  it("should refuse a bad appended hash even when the checksum still matches", async () => {
    const bytes = await buildImage({ size: 4096 });
    const image = await readImage(bytes);
    // Two flips of the same bit in different bytes keep the XOR checksum but change the hash.
    const bad = bytes.slice();
    bad[image.segments[1]!.dataOffset]! ^= 0x10;
    bad[image.segments[1]!.dataOffset + 1]! ^= 0x10;
    const e = await defectOf(bad);
    expect(e.defect).toBe("bad-hash");
    expect(e.offset).toBe(image.checksumOffset + 1);
    const tamperedHash = bytes.slice();
    tamperedHash[bytes.length - 1]! ^= 0xff;
    expect((await defectOf(tamperedHash)).defect).toBe("bad-hash");
  });

  it("should refuse an unknown chip and a bad segment count", async () => {
    const bytes = await buildImage({ size: 1024 });
    const chip = bytes.slice();
    chip[12] = 0x42;
    const e = await defectOf(chip);
    expect(e.defect).toBe("unknown-chip");
    expect(e.message).toBe("unknown chip id 0x0042 at offset 0x0C");
    const many = bytes.slice();
    many[1] = 17;
    expect((await defectOf(many)).message).toBe("image header declares 17 segments; an image has 1 to 16");
    const none = bytes.slice();
    none[1] = 0;
    expect((await defectOf(none)).defect).toBe("too-many-segments");
  });

  it("should refuse trailing bytes that are not a signature sector", async () => {
    const bytes = await buildImage({ size: 1024 });
    const longer = new Uint8Array(bytes.length + 16);
    longer.set(bytes);
    const e = await defectOf(longer);
    expect(e.defect).toBe("trailing-data");
    expect(e.message).toBe("16 unexpected bytes after the image end at offset 0x400 (no signature sector at 0x1000)");
  });

  it("should refuse an app description cut short by its segment", async () => {
    // One 64-byte segment that starts with the app description magic: too short for it.
    const bytes = new Uint8Array(0x70);
    const view = new DataView(bytes.buffer);
    bytes[0] = 0xe9;
    bytes[1] = 1;
    view.setUint16(12, ChipId.ESP32C3, true);
    view.setUint32(24, 0x3c000020, true);
    view.setUint32(28, 64, true);
    view.setUint32(0x20, 0xabcd5432, true);
    let checksum = 0xef;
    for (let i = 0x20; i < 0x60; i++) checksum ^= bytes[i]!;
    bytes[0x6f] = checksum;
    const e = await defectOf(bytes);
    expect(e.defect).toBe("bad-app-desc");
    expect(e.message).toBe("first segment is 64 bytes, too short for the 256-byte esp_app_desc_t");
  });

  it("should refuse more than one signature sector of bytes", async () => {
    const bytes = await buildImage({ size: 2000, signatureSector: true });
    const longer = new Uint8Array(bytes.length + 16);
    longer.set(bytes);
    const e = await defectOf(longer);
    expect(e.defect).toBe("trailing-data");
    expect(e.message).toBe("16 unexpected bytes after the signature sector at offset 0x2000");
  });
});
