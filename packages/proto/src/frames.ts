// Data-plane frames: the DataFrame envelope every side channel carries.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { DataFrameSchema, type DataFrame } from "./gen/meshota/v1/data_pb.js";
import { MessageTooLargeError } from "./errors.js";
import { SEGMENTED_PARAMS_MAX } from "./vendor.js";
import { decodeStrict, encodeStrict } from "./strict.js";

/** Largest DataFrame payload each bearer carries in one frame. */
export const BEARER_FRAME_MAX = {
  /** ESP-NOW v1 payload. */
  espnowV1: 250,
  /** ESP-NOW v2 payload (ESP-IDF 5.4 and later). */
  espnowV2: 1470,
  /** One segmented mesh access payload less the vendor opcode. */
  mesh: SEGMENTED_PARAMS_MAX,
  /** TCP: a whole frame of the largest kind (nanopb worst case of DataFrame). */
  tcp: 1458,
} as const;

/** Per-frame overhead of a Chunk in a DataFrame with session and index at their largest. */
export const CHUNK_FRAME_OVERHEAD = 18;

/** The chunk payload that fills one frame of `frameMax` bytes. */
export function chunkSizeFor(frameMax: number): number {
  return frameMax - CHUNK_FRAME_OVERHEAD;
}

/**
 * Encodes a data-plane frame, checking field bounds and, when `maxSize` is given, that the
 * frame fits the bearer.
 */
export function encodeFrame(frame: DataFrame | MessageInitShape<typeof DataFrameSchema>, maxSize?: number): Uint8Array {
  const message = "$typeName" in frame ? (frame as DataFrame) : create(DataFrameSchema, frame);
  const bytes = encodeStrict(DataFrameSchema, message);
  if (maxSize !== undefined && bytes.length > maxSize) {
    const kind = message.body.case ?? "empty";
    throw new MessageTooLargeError(`DataFrame(${kind})`, bytes.length, maxSize, "the bearer");
  }
  return bytes;
}

/** Decodes a data-plane frame with the verdicts of the firmware's decoder. */
export function decodeFrame(bytes: Uint8Array): DataFrame {
  return decodeStrict(DataFrameSchema, bytes);
}
