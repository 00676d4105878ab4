import { encodeFrame } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { chunkFrameMaxSize, writeChunkFrame } from "./chunk-frame.js";
import { encodeStreamFrame } from "./stream-framing.js";

const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 13 + 5) & 0xff);

describe("writeChunkFrame", () => {
  it.each([
    [1, 0, 1440],
    [0, 0, 1440],
    [0x5a17, 1, 1440],
    [0xffffffff, 0xffffffff, 1440],
    [0x7f, 0x80, 127],
    [0x3fff, 0x4000, 128],
    [0x1fffff, 0x200000, 16383 % 1441],
    [0xfffffff, 0x10000000, 1],
    [9, 16383, 0],
  ])("should write the same bytes as encodeFrame + encodeStreamFrame for session %d index %d, %d bytes", (sessionId, index, n) => {
    const d = data(n);
    const expected = encodeStreamFrame(encodeFrame({ body: { case: "chunk", value: { sessionId, index, data: d } } }));
    const out = new Uint8Array(chunkFrameMaxSize(n) + 10).fill(0xee);
    const end = writeChunkFrame(out, 3, sessionId, index, d);
    expect(end - 3).toBe(expected.length);
    expect(Buffer.from(out.subarray(3, end)).toString("hex")).toBe(Buffer.from(expected).toString("hex"));
    expect(expected.length).toBeLessThanOrEqual(chunkFrameMaxSize(n));
  });

  it("should refuse oversize chunks and non-uint32 fields", () => {
    const out = new Uint8Array(4000);
    expect(() => writeChunkFrame(out, 0, 1, 0, new Uint8Array(1441))).toThrow("chunk of 1441 bytes is over 1440");
    expect(() => writeChunkFrame(out, 0, -1, 0, new Uint8Array(1))).toThrow("session -1 or index 0 is not a uint32");
    expect(() => writeChunkFrame(out, 0, 1, 2 ** 32, new Uint8Array(1))).toThrow("is not a uint32");
  });
});
