import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { StreamFramingError } from "./errors.js";
import { encodeStreamFrame, StreamFrameDecoder, streamCrc32 } from "./stream-framing.js";

interface CrcVector {
  kind: "crc32";
  name: string;
  input: string;
  crc32: string;
}
interface StreamVector {
  kind: "stream";
  name: string;
  stream: string;
  frames: string[];
  error: "bad-length" | "bad-crc" | null;
  pending: number;
}
const vectors = readFileSync(new URL("../../../proto/testdata/stream-framing.jsonl", import.meta.url), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as CrcVector | StreamVector);
const streams = vectors.filter((v): v is StreamVector => v.kind === "stream");
const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Feeds `stream` cut at `cuts` and returns what came out. */
function run(stream: Uint8Array, cuts: number[]) {
  const decoder = new StreamFrameDecoder();
  const frames: string[] = [];
  let error: StreamFramingError | undefined;
  let at = 0;
  for (const end of [...cuts, stream.length]) {
    try {
      decoder.feed(stream.subarray(at, end), (f) => frames.push(hex(f)));
    } catch (e) {
      if (!StreamFramingError.isInstance(e)) throw e;
      error = e;
      break;
    }
    at = end;
  }
  return { frames, error, pending: decoder.pending };
}

describe("stream framing vectors (proto/testdata/stream-framing.jsonl)", () => {
  it("should hold both CRC and stream vectors", () => {
    expect(vectors.filter((v) => v.kind === "crc32").length).toBe(3);
    expect(streams.length).toBe(17);
  });

  it.each(vectors.filter((v): v is CrcVector => v.kind === "crc32").map((v) => [v.name, v] as const))(
    "should compute the CRC-32 of %s",
    (_, v) => {
      expect(streamCrc32(bytes(v.input)).toString(16).padStart(8, "0")).toBe(v.crc32);
    },
  );

  it.each(streams.map((v) => [v.name, v] as const))("should decode %s in one piece", (_, v) => {
    const r = run(bytes(v.stream), []);
    expect(r.frames).toEqual(v.frames);
    expect(r.error?.defect ?? null).toBe(v.error);
    if (v.error === null) expect(r.pending).toBe(v.pending);
  });

  it.each(streams.map((v) => [v.name, v] as const))("should decode %s one byte at a time", (_, v) => {
    const s = bytes(v.stream);
    const r = run(s, Array.from({ length: s.length }, (_, i) => i));
    expect(r.frames).toEqual(v.frames);
    expect(r.error?.defect ?? null).toBe(v.error);
    if (v.error === null) expect(r.pending).toBe(v.pending);
  });

  it("should decode every vector at every single cut point", () => {
    for (const v of streams) {
      const s = bytes(v.stream);
      for (let cut = 0; cut <= s.length; cut++) {
        const r = run(s, [cut]);
        expect(r.frames, `${v.name} cut at ${cut}`).toEqual(v.frames);
        expect(r.error?.defect ?? null, `${v.name} cut at ${cut}`).toBe(v.error);
      }
    }
  });

  it.each(streams.filter((v) => v.error === null && v.pending === 0).map((v) => [v.name, v] as const))(
    "should encode %s to the same bytes",
    (_, v) => {
      const encoded = Buffer.concat(v.frames.map((f) => encodeStreamFrame(bytes(f))));
      expect(encoded.toString("hex")).toBe(v.stream);
    },
  );
});

describe("StreamFrameDecoder", () => {
  it("should report a bad CRC with both values and the stream offset", () => {
    const good = encodeStreamFrame(Uint8Array.of(1, 2, 3));
    const bad = encodeStreamFrame(Uint8Array.of(4, 5));
    bad[4]! ^= 1;
    const decoder = new StreamFrameDecoder();
    const seen: number[][] = [];
    expect(() => decoder.feed(Buffer.concat([good, bad]), (f) => seen.push([...f]))).toThrow(
      "stream frame CRC-32 0x55df2375 does not match its 2 bytes (0x55df2374) at stream offset 9",
    );
    expect(seen).toEqual([[1, 2, 3]]);
    expect(decoder.failure?.defect).toBe("bad-crc");
    expect(decoder.failure?.streamOffset).toBe(9);
  });

  it("should stay failed after a bad length", () => {
    const decoder = new StreamFrameDecoder();
    expect(() => decoder.push(Uint8Array.of(0xb3, 0x05))).toThrow("stream frame length 1459 is outside 1..1458 at stream offset 0");
    expect(() => decoder.push(encodeStreamFrame(Uint8Array.of(1)))).toThrow("stream frame length 1459");
  });

  it("should honour a smaller payload limit", () => {
    const decoder = new StreamFrameDecoder(384);
    expect(() => decoder.push(encodeStreamFrame(new Uint8Array(385)))).toThrow("stream frame length 385 is outside 1..384");
  });

  it("should hand out copies, not views of a Buffer that is reused", () => {
    const input = Buffer.from(encodeStreamFrame(Uint8Array.of(1, 2, 3)));
    const [payload] = new StreamFrameDecoder().push(input);
    input.fill(0);
    expect(payload).toEqual(Uint8Array.of(1, 2, 3));
    expect(Buffer.isBuffer(payload)).toBe(false);
  });

  it("should stop feeding when the callback returns false", () => {
    const decoder = new StreamFrameDecoder();
    const seen: number[] = [];
    decoder.feed(Buffer.concat([encodeStreamFrame(Uint8Array.of(1)), encodeStreamFrame(Uint8Array.of(2))]), (f) => {
      seen.push(f[0]!);
      return false;
    });
    expect(seen).toEqual([1]);
    expect(decoder.pending).toBe(0);
  });

  it("should refuse to encode an empty or oversize payload", () => {
    expect(() => encodeStreamFrame(new Uint8Array(0))).toThrow("stream frame payload of 0 bytes is outside 1..1458");
    expect(() => encodeStreamFrame(new Uint8Array(1459))).toThrow("stream frame payload of 1459 bytes is outside 1..1458");
  });
});
