// Errors thrown by @meshota/transport-tcp. Each kind has a stable `name` and an `isInstance`
// check that works across two installed copies of the package (a Symbol.for marker).

const framingMarker = Symbol.for("meshota.transport-tcp.StreamFramingError");

/** Why a byte stream stopped being a valid sequence of frames. */
export type StreamFramingDefect = "bad-length" | "bad-crc";

/**
 * A stream frame with a length of 0 or above the limit, or whose CRC-32 does not match. Fatal
 * for the connection: the decoder that threw stays failed.
 */
export class StreamFramingError extends Error {
  readonly [framingMarker] = true;
  readonly defect: StreamFramingDefect;
  /** Offset in the stream (bytes pushed before this frame started) of the bad frame. */
  readonly streamOffset: number;

  constructor(defect: StreamFramingDefect, message: string, streamOffset: number) {
    super(message);
    this.name = "StreamFramingError";
    this.defect = defect;
    this.streamOffset = streamOffset;
  }

  static isInstance(error: unknown): error is StreamFramingError {
    return typeof error === "object" && error !== null && framingMarker in error;
  }
}

const fetchMarker = Symbol.for("meshota.transport-tcp.FetchError");

/** Why a TCP fetch of an image ended without the whole image. */
export type FetchFailure = "refused" | "protocol" | "closed" | "timeout";

/** A TCP image fetch that did not complete; `errorCode` is the server's ErrorCode when refused. */
export class FetchError extends Error {
  readonly [fetchMarker] = true;
  readonly reason: FetchFailure;
  /** meshota.v1.ErrorCode from the server's TransferDone, when it sent one. */
  readonly errorCode: number | undefined;
  /** First chunk index not received: where a resumed fetch starts. */
  readonly nextIndex: number;

  constructor(reason: FetchFailure, message: string, nextIndex: number, errorCode?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FetchError";
    this.reason = reason;
    this.errorCode = errorCode;
    this.nextIndex = nextIndex;
  }

  static isInstance(error: unknown): error is FetchError {
    return typeof error === "object" && error !== null && fetchMarker in error;
  }
}
