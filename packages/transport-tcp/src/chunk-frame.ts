// The hot path of the firmware server: a Chunk DataFrame written straight into an output buffer
// as a stream frame, without building a message object. The bytes are exactly those of
// encodeStreamFrame(encodeFrame({body: {case: "chunk", ...}})) (checked in chunk-frame.test.ts);
// every other frame goes through @meshota/proto.
import { crc32 } from "node:zlib";
import { STREAM_FRAME_OVERHEAD } from "./stream-framing.js";

/** Largest stream frame of a chunk of `dataLength` bytes (session and index at 5 bytes each). */
export function chunkFrameMaxSize(dataLength: number): number {
  // outer tag 1 + outer length 2 + session 1+5 + index 1+5 + data tag 1 + data length 2.
  return STREAM_FRAME_OVERHEAD + 18 + dataLength;
}

const varintSize = (v: number) => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

function putVarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/**
 * Writes the stream frame of DataFrame{chunk: {sessionId, index, data}} at `out[at]` and
 * returns the offset after it. `out` must hold chunkFrameMaxSize(data.length) bytes from `at`;
 * `data` at most 1440 bytes; sessionId and index are uint32.
 */
export function writeChunkFrame(out: Uint8Array, at: number, sessionId: number, index: number, data: Uint8Array): number {
  const dataAt = writeChunkFrameHeader(out, at, sessionId, index, data.length);
  out.set(data, dataAt);
  return finishChunkFrame(out, at);
}

/**
 * Writes everything of a chunk frame that comes before its data (so that the data can be read
 * from disk straight into place) and returns the offset where the `dataLength` bytes go.
 * Complete the frame with finishChunkFrame() once they are there.
 */
export function writeChunkFrameHeader(out: Uint8Array, at: number, sessionId: number, index: number, dataLength: number): number {
  if (!Number.isInteger(dataLength) || dataLength < 0 || dataLength > 1440) throw new RangeError(`chunk of ${dataLength} bytes is over 1440`);
  if (!(sessionId >= 0 && sessionId <= 0xffffffff && index >= 0 && index <= 0xffffffff)) {
    throw new RangeError(`session ${sessionId} or index ${index} is not a uint32`);
  }
  // proto3: zero scalars and empty bytes are not written.
  const inner =
    (sessionId !== 0 ? 1 + varintSize(sessionId) : 0) +
    (index !== 0 ? 1 + varintSize(index) : 0) +
    (dataLength !== 0 ? 1 + varintSize(dataLength) + dataLength : 0);
  const payload = 1 + varintSize(inner) + inner;
  out[at] = payload & 0xff;
  out[at + 1] = payload >> 8;
  let p = at + 2;
  out[p++] = 0x1a; // DataFrame.chunk, field 3, length-delimited
  p = putVarint(out, p, inner);
  if (sessionId !== 0) {
    out[p++] = 0x08;
    p = putVarint(out, p, sessionId);
  }
  if (index !== 0) {
    out[p++] = 0x10;
    p = putVarint(out, p, index);
  }
  if (dataLength !== 0) {
    out[p++] = 0x1a;
    p = putVarint(out, p, dataLength);
  }
  return p;
}

/** Appends the CRC-32 to the frame started at `at` (its length prefix says where); returns its end. */
export function finishChunkFrame(out: Uint8Array, at: number): number {
  const payload = out[at]! | (out[at + 1]! << 8);
  const start = at + 2;
  const crc = crc32(out.subarray(start, start + payload)) >>> 0;
  let p = start + payload;
  out[p++] = crc & 0xff;
  out[p++] = (crc >>> 8) & 0xff;
  out[p++] = (crc >>> 16) & 0xff;
  out[p++] = crc >>> 24;
  return p;
}
