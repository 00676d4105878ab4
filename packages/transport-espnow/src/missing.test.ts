import fc from "fast-check";
import { ChunkRangeSchema, create, encodeFrame, BEARER_FRAME_MAX, MissingChunksSchema } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { buildMissing, missingIndices } from "./missing.js";

describe("buildMissing", () => {
  it("should report nothing but the total when every chunk is held", () => {
    const r = buildMissing(7, 10, () => true);
    expect(r.missingTotal).toBe(0);
    expect(r.bitmap.length).toBe(0);
    expect(r.ranges).toEqual([]);
  });

  it("should use ranges for a few long runs", () => {
    const r = buildMissing(7, 1000, (i) => !(i >= 100 && i < 400) && i !== 900);
    expect(r.ranges.map((x) => [x.first, x.count])).toEqual([
      [100, 300],
      [900, 1],
    ]);
    expect(r.bitmap.length).toBe(0);
    expect(r.missingTotal).toBe(301);
  });

  it("should use a bitmap from the first missing chunk for scattered losses", () => {
    const r = buildMissing(7, 100, (i) => i % 3 !== 1);
    expect(r.baseIndex).toBe(1);
    expect(r.ranges).toEqual([]);
    // Bits 0, 3, 6, ... from chunk 1: 0b01001001 = 0x49, then 0b10010010 = 0x92, ...
    expect([...r.bitmap.subarray(0, 3)]).toEqual([0x49, 0x92, 0x24]);
    expect(r.missingTotal).toBe(33);
  });

  it("should cover a window of 1600 chunks when more are missing, and say how many in all", () => {
    const r = buildMissing(7, 5000, (i) => i % 2 === 0);
    expect(r.baseIndex).toBe(1);
    expect(r.bitmap.length).toBe(200);
    expect(r.missingTotal).toBe(2500);
    expect(missingIndices(r, 5000)!.size).toBe(800);
  });

  it("should always fit an ESP-NOW v1 frame and name only missing chunks, the first one first", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (count, density, seed) => {
        let x = seed | 1;
        const missing = new Set<number>();
        for (let i = 0; i < count; i++) {
          x = (Math.imul(x, 1103515245) + 12345) | 0;
          if (((x >>> 8) & 0xffff) / 0x10000 < density) missing.add(i);
        }
        const r = buildMissing(0xffffffff, count, (i) => !missing.has(i));
        expect(encodeFrame({ body: { case: "missing", value: r } }, BEARER_FRAME_MAX.espnowV1).length).toBeLessThanOrEqual(250);
        const named = missingIndices(r, count)!;
        expect(r.missingTotal).toBe(missing.size);
        for (const i of named) expect(missing.has(i)).toBe(true);
        if (missing.size > 0) expect(named.has(Math.min(...missing))).toBe(true);
        else expect(named.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe("missingIndices", () => {
  it("should take the union of a bitmap and ranges in one report", () => {
    const r = create(MissingChunksSchema, { sessionId: 1, baseIndex: 8, bitmap: Uint8Array.of(0b101), ranges: [create(ChunkRangeSchema, { first: 9, count: 3 })], missingTotal: 4 });
    expect([...missingIndices(r, 20)!].sort((a, b) => a - b)).toEqual([8, 9, 10, 11]);
  });

  it("should accept a bitmap window running past the end when its bits past the end are clear", () => {
    const r = create(MissingChunksSchema, { sessionId: 1, baseIndex: 18, bitmap: Uint8Array.of(0b10, 0, 0, 0), missingTotal: 1 });
    expect(missingIndices(r, 20)).toEqual(new Set([19]));
  });

  const cases: [string, { baseIndex?: number; bitmap?: Uint8Array; ranges?: { first: number; count: number }[] }][] = [
    ["a bitmap bit past the end", { baseIndex: 18, bitmap: Uint8Array.of(0b100) }],
    ["a bitmap window far past the end", { baseIndex: 0xffff_fff0, bitmap: Uint8Array.of(1) }],
    ["a range running past the end", { ranges: [{ first: 15, count: 6 }] }],
    ["a range starting far past the end", { ranges: [{ first: 0xffff_ffff, count: 1 }] }],
  ];
  it.each(cases)("should refuse %s", (_name, fields) => {
    const r = create(MissingChunksSchema, { sessionId: 1, missingTotal: 1, ...fields, ranges: (fields.ranges ?? []).map((x) => create(ChunkRangeSchema, x)) });
    expect(missingIndices(r, 20)).toBeUndefined();
  });

  it("should refuse a report naming a chunk past the end", () => {
    const r = buildMissing(1, 20, (i) => i !== 19);
    expect(missingIndices(r, 20)).toEqual(new Set([19]));
    expect(missingIndices(r, 19)).toBeUndefined();
  });
});
