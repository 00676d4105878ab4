import { readFileSync } from "node:fs";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FieldBoundError, ManifestSchema, manifestSigningBytes } from "./index.js";

describe("manifest signing bytes", () => {
  const manifest = create(ManifestSchema, {
    imageSize: 0x00180000,
    imageSha256: Uint8Array.from({ length: 32 }, (_, i) => i),
    version: "1.5.0",
    projectName: "greenhouse",
    secureVersion: 3,
    chipId: 5,
    minChipRev: 3,
    maxChipRev: 199,
  });

  it("should lay out every field at its documented offset", () => {
    const b = manifestSigningBytes(manifest);
    expect(b.length).toBe(124);
    expect(Buffer.from(b.subarray(0, 8)).toString("latin1")).toBe("MOTAMAN1");
    expect(Buffer.from(b.subarray(8, 28)).toString("hex")).toBe("00001800" + "03000000" + "05000000" + "03000000" + "c7000000");
    expect(Array.from(b.subarray(28, 60))).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(Buffer.from(b.subarray(60, 92)).toString("latin1")).toBe("1.5.0".padEnd(32, "\0"));
    expect(Buffer.from(b.subarray(92, 124)).toString("latin1")).toBe("greenhouse".padEnd(32, "\0"));
  });

  it("should refuse a hash that is not 32 bytes and text over 31 bytes", () => {
    expect(() => manifestSigningBytes({ ...manifest, imageSha256: new Uint8Array(31) })).toThrow(FieldBoundError);
    expect(() => manifestSigningBytes({ ...manifest, imageSha256: new Uint8Array(31) })).toThrow(
      "meshota.v1.Manifest.image_sha256 is 31 bytes; it must be exactly 32",
    );
    expect(() => manifestSigningBytes({ ...manifest, version: "x".repeat(32) })).toThrow(
      "meshota.v1.Manifest.version is 32 bytes, over its bound of 31",
    );
  });
});

describe("shared manifest signing vectors", () => {
  // proto/testdata/manifest-signing.jsonl is also checked against the C core's function.
  const vectors = readFileSync(join(__dirname, "../../../proto/testdata/manifest-signing.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { manifest_hex: string; signing_hex: string });

  it.each(vectors.map((v, i) => [i, v] as const))("should build the signing bytes of vector %i", (_, v) => {
    const m = fromBinary(ManifestSchema, Buffer.from(v.manifest_hex, "hex"));
    expect(Buffer.from(manifestSigningBytes(m)).toString("hex")).toBe(v.signing_hex);
  });
});
