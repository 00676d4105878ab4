// Stream framing of frames on a TCP byte stream (docs/protocol.md "Stream framing"):
// [u16 LE length][payload][u32 LE CRC-32 of the payload], CRC-32 as zlib's (IEEE, reflected).
import { crc32 } from "node:zlib";
import { BEARER_FRAME_MAX } from "@meshota/proto";
import { StreamFramingError } from "./errors.js";

/** Bytes a stream frame adds around its payload: length prefix and CRC trailer. */
export const STREAM_FRAME_OVERHEAD = 6;
/** Largest payload of a stream frame: the nanopb worst case of a DataFrame (1458). */
export const STREAM_FRAME_MAX_PAYLOAD = BEARER_FRAME_MAX.tcp;

/** CRC-32 (IEEE 802.3, as zlib's crc32()) of `data`, continuing from `crc` (0 to start). */
export function streamCrc32(data: Uint8Array, crc = 0): number {
  return crc32(data, crc) >>> 0;
}

/**
 * Frames one payload (an encoded DataFrame, or a control envelope on a control link).
 * Throws RangeError when the payload is empty or longer than `maxPayload`.
 */
export function encodeStreamFrame(payload: Uint8Array, maxPayload: number = STREAM_FRAME_MAX_PAYLOAD): Uint8Array {
  if (payload.length === 0 || payload.length > maxPayload) {
    throw new RangeError(`stream frame payload of ${payload.length} bytes is outside 1..${maxPayload}`);
  }
  const out = new Uint8Array(payload.length + STREAM_FRAME_OVERHEAD);
  const view = new DataView(out.buffer);
  view.setUint16(0, payload.length, true);
  out.set(payload, 2);
  view.setUint32(2 + payload.length, streamCrc32(payload), true);
  return out;
}

/**
 * Incremental decoder: push bytes as they arrive, split or coalesced in any way, and get every
 * whole frame's payload. A bad length or CRC throws StreamFramingError, and every later push
 * throws the same error: the connection has to be closed.
 */
export class StreamFrameDecoder {
  readonly maxPayload: number;
  #buf: Uint8Array;
  #have = 0;
  #need = 0;
  #offset = 0;
  #failure: StreamFramingError | undefined;

  constructor(maxPayload: number = STREAM_FRAME_MAX_PAYLOAD) {
    if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > 0xffff) {
      throw new RangeError(`maxPayload ${maxPayload} is outside 1..65535`);
    }
    this.maxPayload = maxPayload;
    this.#buf = new Uint8Array(maxPayload + STREAM_FRAME_OVERHEAD);
  }

  /** Bytes of an incomplete frame held, waiting for the rest. */
  get pending(): number {
    return this.#have;
  }

  /** The failure that stopped the decoder, if any. */
  get failure(): StreamFramingError | undefined {
    return this.#failure;
  }

  /**
   * Feeds received bytes; returns the payloads of the frames they complete (copies). On a bad
   * frame it throws, and the frames completed earlier in the same call are not returned: use
   * feed() when they matter.
   */
  push(data: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    this.feed(data, (frame) => frames.push(frame));
    return frames;
  }

  /**
   * Feeds received bytes and calls `onFrame` with each completed payload (a copy), in order.
   * Throws StreamFramingError at the first bad frame, after delivering the frames before it.
   * `onFrame` returning `false` stops the feed; the rest of `data` is dropped.
   */
  feed(data: Uint8Array, onFrame: (payload: Uint8Array) => unknown): void {
    if (this.#failure) throw this.#failure;
    let at = 0;
    while (at < data.length) {
      if (this.#have === 0 && data.length - at >= 2) {
        // Fast path: a whole frame inside `data` is checked and copied out in one step.
        const length = data[at]! | (data[at + 1]! << 8);
        if (length === 0 || length > this.maxPayload) {
          this.#fail("bad-length", `stream frame length ${length} is outside 1..${this.maxPayload}`);
        }
        const total = length + STREAM_FRAME_OVERHEAD;
        if (data.length - at >= total) {
          const payload = new Uint8Array(data.subarray(at + 2, at + 2 + length)); // a copy, also for Buffers
          this.#check(payload, data, at + 2 + length);
          this.#offset += total;
          at += total;
          if (onFrame(payload) === false) return;
          continue;
        }
      }
      // Until the 2-byte length is in, the frame size is unknown.
      const want = this.#need !== 0 ? this.#need : 2;
      const take = Math.min(want - this.#have, data.length - at);
      this.#buf.set(data.subarray(at, at + take), this.#have);
      this.#have += take;
      at += take;
      if (this.#have < want) break;
      if (this.#need === 0) {
        const length = this.#buf[0]! | (this.#buf[1]! << 8);
        if (length === 0 || length > this.maxPayload) {
          this.#fail("bad-length", `stream frame length ${length} is outside 1..${this.maxPayload}`);
        }
        this.#need = length + STREAM_FRAME_OVERHEAD;
        continue;
      }
      const length = this.#need - STREAM_FRAME_OVERHEAD;
      const payload = this.#buf.slice(2, 2 + length);
      this.#check(payload, this.#buf, 2 + length);
      this.#offset += this.#need;
      this.#have = 0;
      this.#need = 0;
      if (onFrame(payload) === false) return;
    }
  }

  /** Throws when the CRC trailer at `bytes[at]` does not match `payload`. */
  #check(payload: Uint8Array, bytes: Uint8Array, at: number): void {
    const expected = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
    const actual = streamCrc32(payload);
    if (actual !== expected) {
      this.#fail(
        "bad-crc",
        `stream frame CRC-32 0x${expected.toString(16).padStart(8, "0")} does not match its ${payload.length} bytes (0x${actual.toString(16).padStart(8, "0")})`,
      );
    }
  }

  #fail(defect: "bad-length" | "bad-crc", message: string): never {
    this.#failure = new StreamFramingError(defect, `${message} at stream offset ${this.#offset}`, this.#offset);
    throw this.#failure;
  }
}
