import { describe, expect, it } from "vitest";
import { BRIDGE_ENCODED_MAX, cobsDecode, cobsEncode, crc16, Deframer, frameToWire } from "./framing.js";

describe("crc16", () => {
  it("should give the catalogue check value 0x29B1 for '123456789'", () => {
    expect(crc16(new TextEncoder().encode("123456789"))).toBe(0x29b1);
    expect(crc16(new Uint8Array(0))).toBe(0xffff);
  });
});

describe("COBS", () => {
  it.each([
    // Examples of the COBS paper (Cheshire and Baker, 1999), same as the C tests.
    [[0x00], [0x01, 0x01]],
    [[0x11, 0x22, 0x00, 0x33], [0x03, 0x11, 0x22, 0x02, 0x33]],
    [[0x11, 0x00, 0x00, 0x00], [0x02, 0x11, 0x01, 0x01, 0x01]],
    [[], [0x01]],
  ])("should encode %j as %j and back", (raw, enc) => {
    expect([...cobsEncode(new Uint8Array(raw))]).toEqual(enc);
    expect([...cobsDecode(new Uint8Array(enc))!]).toEqual(raw);
  });

  it("should round-trip long runs without zeros (the 0xFF code)", () => {
    for (const len of [253, 254, 255, 508, 1500]) {
      const data = Uint8Array.from({ length: len }, (_, i) => (i % 255) + 1);
      const enc = cobsEncode(data);
      expect(enc.includes(0)).toBe(false);
      expect(cobsDecode(enc)).toEqual(data);
    }
  });

  it("should refuse a code byte that runs past the block", () => {
    expect(cobsDecode(new Uint8Array([0x05, 0x11, 0x22]))).toBeUndefined();
  });
});

describe("frameToWire", () => {
  it.each([
    // The examples of docs/protocol.md, "ESP-NOW bridge protocol".
    ["HELLO", [0x01, 0x00, 0x01], 0xeb8d, "02 01 04 01 8D EB 00"],
    ["SEND", [0x03, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1a, 0x00, 0x2a], 0x3a8a, "0A 03 01 FF FF FF FF FF FF 1A 04 2A 8A 3A 00"],
  ])("should frame the documented %s example", (_name, body, crc, wire) => {
    expect(crc16(Uint8Array.from(body))).toBe(crc);
    const hex = Array.from(frameToWire(Uint8Array.from(body)), (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(" ");
    expect(hex).toBe(wire);
  });
});

describe("Deframer", () => {
  const body = Uint8Array.from([0x82, 7, 1, 0, 0, 8]);

  it("should deliver a frame split at every byte", () => {
    const wire = frameToWire(body);
    const d = new Deframer();
    const out: Uint8Array[] = [];
    for (const b of wire) out.push(...d.push(Uint8Array.of(b)));
    expect(out).toEqual([body]);
  });

  it("should drop a frame with a flipped bit and count it, then resynchronise", () => {
    const bad = frameToWire(body);
    bad[3]! ^= 0x10;
    const d = new Deframer();
    const out = d.push(Uint8Array.from([...bad, ...frameToWire(body)]));
    expect(out).toEqual([body]);
    expect(d.stats.crcErrors).toBe(1);
  });

  it("should bound its buffer on a stream without delimiters", () => {
    const d = new Deframer();
    expect(d.push(new Uint8Array(BRIDGE_ENCODED_MAX + 10).fill(0x41))).toEqual([]);
    expect(d.push(Uint8Array.from([0, ...frameToWire(body)]))).toEqual([body]);
    expect(d.stats.oversize).toBe(1);
  });

  it("should refuse a body too large for the protocol", () => {
    expect(() => frameToWire(new Uint8Array(1499))).toThrow("bridge frame of 1501 bytes exceeds 1500");
  });
});

describe("framing properties", () => {
  it("should return every body framed, whatever the split, and never throw on noise", async () => {
    const fc = (await import("fast-check")).default;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 2, maxLength: 1498 }), { minLength: 1, maxLength: 4 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 700 }),
        (bodies, noise, split) => {
          const wire = Uint8Array.from([...noise, 0, ...bodies.flatMap((b) => [...frameToWire(b)])]);
          const d = new Deframer();
          const out: Uint8Array[] = [];
          for (let at = 0; at < wire.length; at += split) out.push(...d.push(wire.subarray(at, at + split)));
          // Noise may itself decode to a frame only if its CRC matches: compare the tail.
          expect(out.slice(out.length - bodies.length)).toEqual(bodies);
        },
      ),
      { numRuns: 100 },
    );
  });
});
