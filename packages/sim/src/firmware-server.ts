// The TCP firmware server inside the simulation: the same protocol as @meshota/transport-tcp's
// FirmwareServer (stream-framed DataFrames: FetchRequest in; TransferInfo, chunks from the
// node's next_index and TransferDone out), on a simulated connection instead of a socket.
import { bytesEqualPublic } from "./bytes.js";
import { decodeFrame, encodeFrame, ErrorCode, type DataFrame } from "@meshota/proto";
import { encodeStreamFrame, StreamFrameDecoder, TCP_MAX_CHUNK_SIZE } from "@meshota/transport-tcp";
import type { ServerConnection, SimTcpServer } from "./ip.js";

interface Entry {
  readonly token: Uint8Array;
  readonly image: Uint8Array;
  readonly chunkSize: number;
}

/** Counters of the server. */
export interface SimFirmwareServerStats {
  fetches: number;
  refused: number;
  chunksSent: number;
  resumedFrom: number[];
}

function frame(body: DataFrame["body"]): Uint8Array {
  return encodeStreamFrame(encodeFrame({ body } as never));
}

/** A firmware server for simulated TCP connections. */
export class SimFirmwareServer implements SimTcpServer {
  readonly stats: SimFirmwareServerStats = { fetches: 0, refused: 0, chunksSent: 0, resumedFrom: [] };
  readonly #sessions = new Map<number, Entry>();

  /** Serves `image` to nodes that present `token` for `sessionId`. */
  addSession(sessionId: number, token: Uint8Array, image: Uint8Array, chunkSize = TCP_MAX_CHUNK_SIZE): void {
    this.#sessions.set(sessionId, { token: token.slice(), image, chunkSize });
  }

  connect(conn: ServerConnection): { data(bytes: Uint8Array): void; closed(): void } {
    const decoder = new StreamFrameDecoder();
    let state: "await-fetch" | "streaming" | "finished" = "await-fetch";
    const refuse = (sessionId: number, error: ErrorCode) => {
      this.stats.refused++;
      conn.write(frame({ case: "done", value: { sessionId, error } as never }));
      conn.end();
      state = "finished";
    };
    const onFrame = (payload: Uint8Array) => {
      let f: DataFrame;
      try {
        f = decodeFrame(payload);
      } catch {
        refuse(0, ErrorCode.MALFORMED);
        return;
      }
      if (state === "streaming" && f.body.case === "done") {
        conn.end();
        state = "finished";
        return;
      }
      if (state !== "await-fetch" || f.body.case !== "fetch") {
        refuse(0, ErrorCode.MALFORMED);
        return;
      }
      const fetch = f.body.value;
      const entry = this.#sessions.get(fetch.sessionId);
      if (!entry || !bytesEqualPublic(entry.token, fetch.token)) {
        refuse(fetch.sessionId, ErrorCode.AUTH);
        return;
      }
      const chunkSize = Math.min(entry.chunkSize, fetch.maxChunkSize);
      const chunkCount = Math.ceil(entry.image.length / chunkSize);
      if (chunkSize < 1 || fetch.nextIndex > chunkCount) {
        refuse(fetch.sessionId, chunkSize < 1 ? ErrorCode.MALFORMED : ErrorCode.CHUNK_OUT_OF_RANGE);
        return;
      }
      state = "streaming";
      this.stats.fetches++;
      this.stats.resumedFrom.push(fetch.nextIndex);
      const sessionId = fetch.sessionId;
      conn.write(frame({ case: "info", value: { sessionId, imageSize: entry.image.length, chunkSize, chunkCount } as never }));
      for (let index = fetch.nextIndex; index < chunkCount; index++) {
        const data = entry.image.subarray(index * chunkSize, Math.min((index + 1) * chunkSize, entry.image.length));
        conn.write(frame({ case: "chunk", value: { sessionId, index, data } as never }));
        this.stats.chunksSent++;
      }
      conn.write(frame({ case: "done", value: { sessionId, error: ErrorCode.NONE } as never }));
    };
    return {
      data: (bytes) => {
        if (state === "finished") return;
        try {
          decoder.feed(bytes, (payload) => {
            onFrame(payload);
            return state !== "finished";
          });
        } catch {
          refuse(0, ErrorCode.MALFORMED);
        }
      },
      closed: () => {
        state = "finished";
      },
    };
  }
}
