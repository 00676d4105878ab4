// A TCP firmware client in TypeScript: what a node does on METHOD_TCP, for tests, simulations
// and benchmarks. It follows the server's TransferInfo and accepts chunks strictly in order.
import { connect } from "node:net";
import { decodeFrame, encodeFrame, ErrorCode, type TransferInfo } from "@meshota/proto";
import { FetchError, StreamFramingError } from "./errors.js";
import { encodeStreamFrame, StreamFrameDecoder } from "./stream-framing.js";
import { TCP_MAX_CHUNK_SIZE } from "./firmware-server.js";

/** Options of one fetch. */
export interface FetchImageOptions {
  readonly host: string;
  readonly port: number;
  readonly sessionId: number;
  /** Token of the session (never logged or put in an error). */
  readonly token: Uint8Array;
  /** First chunk wanted (default 0). */
  readonly nextIndex?: number;
  /** Largest chunk accepted (default 1440). */
  readonly maxChunkSize?: number;
  /** Image buffer of an earlier, interrupted fetch to complete (default: a new one). */
  readonly into?: Uint8Array;
  /** Fails with reason "timeout" after this long without a byte (default 10000). */
  readonly idleTimeoutMs?: number;
  /** Called for every chunk stored; return false to cut the connection there. A throw ends the fetch with that error. */
  readonly onChunk?: (index: number, data: Uint8Array) => boolean | void;
}

/** What a fetch produced. */
export interface FetchImageResult {
  readonly imageSize: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** The image (complete when `complete`). */
  readonly image: Uint8Array;
  /** First chunk not received. */
  readonly nextIndex: number;
  /** True when every chunk up to the end arrived and the server said TransferDone. */
  readonly complete: boolean;
}

/** Fetches an image (or its rest, from `nextIndex`) from a FirmwareServer. */
export function fetchImage(options: FetchImageOptions): Promise<FetchImageResult> {
  const { host, port, sessionId, token } = options;
  let next = options.nextIndex ?? 0;
  const maxChunkSize = options.maxChunkSize ?? TCP_MAX_CHUNK_SIZE;
  return new Promise((resolve, reject) => {
    // Encoded before connecting: a token over 16 bytes or a bad field rejects here, with no socket.
    const fetchFrame = encodeStreamFrame(
      encodeFrame({ body: { case: "fetch", value: { sessionId, token, nextIndex: next, maxChunkSize } } })
    );
    const socket = connect({ host, port, noDelay: true });
    const decoder = new StreamFrameDecoder();
    let info: TransferInfo | undefined;
    let image = options.into;
    let settled = false;
    const finish = (error: Error | undefined, complete = false) => {
      if (settled) return;
      settled = true;
      if (complete) {
        // Like a node: tell the server the image is complete, then close.
        const done = encodeFrame({ body: { case: "done", value: { sessionId, error: ErrorCode.NONE } } });
        socket.end(encodeStreamFrame(done));
      } else {
        socket.destroy();
      }
      if (error) return reject(error);
      if (!info || !image) return reject(new FetchError("protocol", "the server sent no TransferInfo", next));
      resolve({ imageSize: info.imageSize, chunkSize: info.chunkSize, chunkCount: info.chunkCount, image, nextIndex: next, complete });
    };
    const protocol = (message: string, cause?: unknown) => finish(new FetchError("protocol", message, next, undefined, { cause }));

    socket.setTimeout(options.idleTimeoutMs ?? 10_000, () => finish(new FetchError("timeout", "the server went silent", next)));
    socket.on("error", (cause) => finish(new FetchError("closed", `connection failed: ${cause.message}`, next, undefined, { cause })));
    socket.on("close", () => finish(new FetchError("closed", `the connection closed at chunk ${next}`, next)));
    socket.on("connect", () => socket.write(fetchFrame));
    socket.on("data", (data) => {
      try {
        decoder.feed(data, (payload) => {
          onFrame(payload);
          return !settled;
        });
      } catch (e) {
        // A framing error is the server's fault; anything else (an onChunk that throws) ends the
        // fetch with that error rather than escaping from the socket's handler.
        if (StreamFramingError.isInstance(e)) protocol(e.message, e);
        else finish(e instanceof Error ? e : new Error(String(e)));
      }
    });

    const onFrame = (payload: Uint8Array) => {
      let body;
      try {
        body = decodeFrame(payload).body;
      } catch (e) {
        return protocol((e as Error).message, e);
      }
      switch (body.case) {
        case "info": {
          const i = body.value;
          if (i.sessionId !== sessionId) return protocol(`TransferInfo for session ${i.sessionId}`);
          if (i.chunkSize < 1 || i.chunkSize > maxChunkSize || i.chunkCount !== Math.ceil(i.imageSize / i.chunkSize)) {
            return protocol(`inconsistent TransferInfo: ${i.imageSize} bytes in ${i.chunkCount} chunks of ${i.chunkSize}`);
          }
          if (image && image.length !== i.imageSize) return protocol(`image size changed from ${image.length} to ${i.imageSize}`);
          info = i;
          image ??= new Uint8Array(i.imageSize);
          return;
        }
        case "chunk": {
          const c = body.value;
          if (!info || !image) return protocol("a chunk came before TransferInfo");
          if (c.sessionId !== sessionId) return protocol(`chunk for session ${c.sessionId}`);
          if (c.index !== next) return protocol(`chunk ${c.index} arrived where ${next} was expected`);
          const start = c.index * info.chunkSize;
          const expected = Math.min(info.chunkSize, info.imageSize - start);
          if (c.data.length !== expected) return protocol(`chunk ${c.index} has ${c.data.length} bytes, expected ${expected}`);
          image.set(c.data, start);
          next++;
          if (options.onChunk?.(c.index, c.data) === false) finish(undefined, false);
          return;
        }
        case "done": {
          const d = body.value;
          if (d.error !== ErrorCode.NONE) {
            return finish(new FetchError("refused", `the server refused the transfer: ${ErrorCode[d.error] ?? d.error}`, next, d.error));
          }
          if (!info || next !== info.chunkCount) return protocol(`TransferDone with chunk ${next} of ${info?.chunkCount ?? "?"} next`);
          return finish(undefined, true);
        }
        default:
          return protocol(`unexpected ${body.case ?? "empty DataFrame"} from the server`);
      }
    };
  });
}
