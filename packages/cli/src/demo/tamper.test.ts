import { buildImage, readImage, sha256, toHex } from "@meshota/core";
import { describe, expect, it } from "vitest";
import { tamperImage } from "./tamper.js";

describe("tamperImage", () => {
  it("should change exactly one code byte and keep the image well formed", async () => {
    const image = await readImage(await buildImage({ size: 40_000, segments: 2 }));
    const bad = await tamperImage(image);
    const diff = [...bad].map((b, i) => (b !== image.bytes[i] ? i : -1)).filter((i) => i >= 0);
    // The byte, the checksum byte and some of the 32 hash bytes.
    expect(diff[0]).toBe(image.segments[1]!.dataOffset + Math.floor(image.segments[1]!.length / 2));
    expect(diff[1]).toBe(image.checksumOffset);
    expect(diff.every((i) => i < image.checksumOffset + 33)).toBe(true);
    const reread = await readImage(bad);
    expect(toHex(reread.sha256)).not.toBe(toHex(await sha256(image.bytes)));
  });
});
