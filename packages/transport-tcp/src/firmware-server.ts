// The TCP firmware server: nodes connect, present the session token of their UpdateStart in a
// FetchRequest and receive the image as stream-framed DataFrames (TransferInfo, Chunks from the
// index the node asks for, TransferDone). Images are read from disk a few chunks at a time and
// socket backpressure is respected, so memory per connection stays bounded.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { chunkSizeFor, BEARER_FRAME_MAX, decodeFrame, encodeFrame, ErrorCode, type DataFrame, type FetchRequest } from "@meshota/proto";
import { StreamFramingError } from "./errors.js";
import { chunkFrameMaxSize, finishChunkFrame, writeChunkFrameHeader } from "./chunk-frame.js";
import { encodeStreamFrame, StreamFrameDecoder } from "./stream-framing.js";
import { boundAddress, listenOn } from "./listen.js";

/** Largest chunk payload a TCP DataFrame carries: 1440 bytes. */
export const TCP_MAX_CHUNK_SIZE = chunkSizeFor(BEARER_FRAME_MAX.tcp);
/** Largest token of a TcpMethod (nanopb bound). */
export const TCP_TOKEN_MAX = 16;

/** An image the server hands out, as named in the UpdateStart sent to the nodes. */
export interface FirmwareSession {
  /** Session id of the UpdateStart. */
  readonly sessionId: number;
  /** Token of the TcpMethod (1-16 bytes); compared in constant time, never logged. */
  readonly token: Uint8Array;
  /** Path of the image file. It must not change while the session is served. */
  readonly imagePath: string;
  /** Chunk size for this session (default: the server's chunkSize). */
  readonly chunkSize?: number;
}

/** Options of a firmware server. */
export interface FirmwareServerOptions {
  /**
   * A connection with no traffic in either direction for this long is closed, and so is one
   * whose FetchRequest is not complete this long after it opened (default 30000).
   */
  idleTimeoutMs: number;
  /** Chunk payload size, at most 1440; a node asking for less gets its size (default 1440). */
  chunkSize: number;
  /** Chunks read from disk per read and written per socket write (default 32, about 46 KB). */
  readAheadChunks: number;
  /** Connections beyond this are closed at once (default 1024). */
  maxConnections: number;
  /** Observer of connection events (never given a token). */
  onEvent: ((event: FirmwareServerEvent) => void) | undefined;
}

const DEFAULTS: Readonly<FirmwareServerOptions> = Object.freeze({
  idleTimeoutMs: 30_000,
  chunkSize: TCP_MAX_CHUNK_SIZE,
  readAheadChunks: 32,
  maxConnections: 1024,
  onEvent: undefined,
});

/** What happened on a connection. `id` numbers connections from 1. */
export type FirmwareServerEvent =
  | { readonly type: "connection"; readonly id: number; readonly remote: string }
  | { readonly type: "fetch"; readonly id: number; readonly sessionId: number; readonly nextIndex: number; readonly chunkSize: number }
  | { readonly type: "refused"; readonly id: number; readonly sessionId: number; readonly error: ErrorCode; readonly reason: string }
  | { readonly type: "sent-all"; readonly id: number; readonly sessionId: number; readonly chunks: number }
  | { readonly type: "node-done"; readonly id: number; readonly sessionId: number; readonly error: ErrorCode }
  | { readonly type: "bad-input"; readonly id: number; readonly error: Error }
  | { readonly type: "timeout"; readonly id: number }
  | { readonly type: "closed"; readonly id: number; readonly bytesSent: number };

/** Counters of a running server. */
export interface FirmwareServerStats {
  /** Open connections. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Chunk frames written since start. */
  chunksSent: number;
  /** Bytes written on all connections since start. */
  bytesSent: number;
}

interface SessionEntry {
  readonly sessionId: number;
  readonly tokenDigest: Buffer;
  readonly chunkSize: number;
  readonly size: number;
  readonly file: FileHandle;
  /** Connections streaming from `file`; it is closed when the session is gone and this is 0. */
  users: number;
  removed: boolean;
}

/** A fresh random token for a TcpMethod (16 bytes). */
export function generateToken(): Uint8Array {
  return new Uint8Array(randomBytes(TCP_TOKEN_MAX));
}

const digest = (token: Uint8Array) => createHash("sha256").update(token).digest();

/** Serves images to nodes over TCP with the meshota stream framing. */
export class FirmwareServer {
  readonly options: Readonly<FirmwareServerOptions>;
  readonly #sessions = new Map<number, SessionEntry>();
  readonly #connections = new Set<Connection>();
  readonly #server: Server;
  readonly #stats: FirmwareServerStats = { connections: 0, accepted: 0, chunksSent: 0, bytesSent: 0 };
  #nextId = 1;

  constructor(options: Partial<FirmwareServerOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULTS, ...options });
    const o = this.options;
    if (!Number.isInteger(o.chunkSize) || o.chunkSize < 1 || o.chunkSize > TCP_MAX_CHUNK_SIZE) {
      throw new RangeError(`chunkSize ${o.chunkSize} is outside 1..${TCP_MAX_CHUNK_SIZE}`);
    }
    if (!Number.isInteger(o.readAheadChunks) || o.readAheadChunks < 1) {
      throw new RangeError(`readAheadChunks ${o.readAheadChunks} is not a positive integer`);
    }
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  /** Starts listening; resolves with the bound address. Use port 0 for any free port. */
  async listen(port: number, host = "127.0.0.1"): Promise<AddressInfo> {
    await listenOn(this.#server, port, host);
    return this.address();
  }

  /** The bound address (after listen()). */
  address(): AddressInfo {
    return boundAddress(this.#server, "firmware server");
  }

  /** A snapshot of the counters. */
  stats(): FirmwareServerStats {
    return { ...this.#stats, connections: this.#connections.size };
  }

  /**
   * Registers (or replaces) a session. Resolves once the image file is open; rejects when it
   * cannot be read, is empty, or the token is not 1-16 bytes.
   */
  async addSession(session: FirmwareSession): Promise<void> {
    const { sessionId, token, imagePath } = session;
    if (!Number.isInteger(sessionId) || sessionId < 1 || sessionId > 0xffffffff) {
      throw new RangeError(`session id ${sessionId} is outside 1..0xffffffff`);
    }
    if (token.length < 1 || token.length > TCP_TOKEN_MAX) {
      throw new RangeError(`a token is 1..${TCP_TOKEN_MAX} bytes, not ${token.length}`);
    }
    const chunkSize = session.chunkSize ?? this.options.chunkSize;
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > TCP_MAX_CHUNK_SIZE) {
      throw new RangeError(`chunkSize ${chunkSize} is outside 1..${TCP_MAX_CHUNK_SIZE}`);
    }
    const file = await open(imagePath, "r");
    let size: number;
    try {
      size = (await file.stat()).size;
      if (size === 0) throw new RangeError(`image ${imagePath} is empty`);
      if (size > 0xffffffff) throw new RangeError(`image ${imagePath} is over 4 GiB`);
    } catch (e) {
      await file.close();
      throw e;
    }
    this.#release(this.#sessions.get(sessionId));
    this.#sessions.set(sessionId, { sessionId, tokenDigest: digest(token), chunkSize, size, file, users: 0, removed: false });
  }

  /** Forgets a session: new fetches for it are refused; running transfers finish. */
  removeSession(sessionId: number): void {
    const entry = this.#sessions.get(sessionId);
    this.#sessions.delete(sessionId);
    this.#release(entry);
  }

  /** Stops listening, closes every connection and every image file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const c of this.#connections) c.socket.destroy();
    for (const id of [...this.#sessions.keys()]) this.removeSession(id);
    await closed;
  }

  #release(entry: SessionEntry | undefined): void {
    if (!entry) return;
    entry.removed = true;
    if (entry.users === 0) void entry.file.close().catch(() => undefined);
  }

  #accept(socket: Socket): void {
    const id = this.#nextId++;
    this.#stats.accepted++;
    if (this.#connections.size >= this.options.maxConnections) {
      socket.destroy();
      return;
    }
    const c = new Connection(this, id, socket);
    this.#connections.add(c);
    socket.once("close", () => {
      this.#connections.delete(c);
      this.emit({ type: "closed", id, bytesSent: socket.bytesWritten });
    });
    this.emit({ type: "connection", id, remote: `${socket.remoteAddress}:${socket.remotePort}` });
  }

  /** @internal */
  emit(event: FirmwareServerEvent): void {
    this.options.onEvent?.(event);
  }

  /** @internal Checks a fetch; returns the session or the refusal. */
  authorize(fetch: FetchRequest): SessionEntry | { error: ErrorCode; reason: string } {
    const entry = this.#sessions.get(fetch.sessionId);
    // The digest comparison runs whether or not the session exists, so timing tells nothing.
    const given = digest(fetch.token);
    const expected = entry?.tokenDigest ?? given;
    const same = timingSafeEqual(given, expected);
    if (!entry) return { error: ErrorCode.SESSION_MISMATCH, reason: `unknown session ${fetch.sessionId}` };
    if (!same) return { error: ErrorCode.AUTH, reason: `wrong token for session ${fetch.sessionId}` };
    return entry;
  }

  /** @internal */
  acquire(entry: SessionEntry): void {
    entry.users++;
  }

  /** @internal */
  unacquire(entry: SessionEntry): void {
    entry.users--;
    if (entry.removed && entry.users === 0) void entry.file.close().catch(() => undefined);
  }

  /** @internal */
  count(chunks: number, bytes: number): void {
    this.#stats.chunksSent += chunks;
    this.#stats.bytesSent += bytes;
  }
}

const frameBytes = (frame: Parameters<typeof encodeFrame>[0]) => encodeStreamFrame(encodeFrame(frame));

/** One node's connection. */
class Connection {
  readonly #decoder = new StreamFrameDecoder();
  #state: "await-fetch" | "streaming" | "finished" = "await-fetch";
  #sessionId = 0;
  #closed = false;
  #fetchDeadline: ReturnType<typeof setTimeout>;

  constructor(
    readonly server: FirmwareServer,
    readonly id: number,
    readonly socket: Socket,
  ) {
    socket.setTimeout(server.options.idleTimeoutMs);
    socket.on("timeout", () => this.#timeout());
    // The FetchRequest must be complete within one idle timeout of the connection: a peer
    // trickling its bytes one at a time would otherwise hold the connection for ever.
    this.#fetchDeadline = setTimeout(() => this.#timeout(), server.options.idleTimeoutMs);
    this.#fetchDeadline.unref();
    socket.on("data", (data) => this.#onData(data));
    // Resets and aborts from the node are ordinary ends of a connection; 'close' follows.
    socket.on("error", () => undefined);
    socket.once("close", () => {
      this.#closed = true;
      clearTimeout(this.#fetchDeadline);
    });
  }

  #timeout(): void {
    clearTimeout(this.#fetchDeadline);
    if (this.socket.destroyed) return;
    this.server.emit({ type: "timeout", id: this.id });
    this.socket.destroy();
  }

  #onData(data: Buffer): void {
    if (this.#state === "finished") return;
    try {
      this.#decoder.feed(data, (payload) => {
        this.#onFrame(payload);
        return this.#state !== "finished";
      });
    } catch (e) {
      if (!StreamFramingError.isInstance(e)) throw e;
      this.#refuse(ErrorCode.MALFORMED, e, e.message);
    }
  }

  #onFrame(payload: Uint8Array): void {
    let frame: DataFrame;
    try {
      frame = decodeFrame(payload);
    } catch (e) {
      this.#refuse(ErrorCode.MALFORMED, e as Error, (e as Error).message);
      return;
    }
    const body = frame.body;
    if (this.#state === "await-fetch") {
      if (body.case !== "fetch") {
        this.#refuse(ErrorCode.MALFORMED, new Error(`expected a FetchRequest first, got ${body.case ?? "an empty DataFrame"}`));
        return;
      }
      this.#startFetch(body.value);
      return;
    }
    if (body.case === "done") {
      // The node holds the whole image (or gives up): nothing more to send.
      this.server.emit({ type: "node-done", id: this.id, sessionId: body.value.sessionId, error: body.value.error });
      this.#finish();
      return;
    }
    this.#refuse(ErrorCode.MALFORMED, new Error(`unexpected ${body.case ?? "empty DataFrame"} during a transfer`));
  }

  #startFetch(fetch: FetchRequest): void {
    clearTimeout(this.#fetchDeadline);
    this.#sessionId = fetch.sessionId;
    const entry = this.server.authorize(fetch);
    if ("error" in entry) {
      this.#refuse(entry.error, undefined, entry.reason);
      return;
    }
    const chunkSize = Math.min(entry.chunkSize, fetch.maxChunkSize);
    if (chunkSize < 1) {
      this.#refuse(ErrorCode.MALFORMED, new Error("FetchRequest.max_chunk_size is 0"));
      return;
    }
    const chunkCount = Math.ceil(entry.size / chunkSize);
    if (fetch.nextIndex > chunkCount) {
      this.#refuse(ErrorCode.CHUNK_OUT_OF_RANGE, undefined, `next_index ${fetch.nextIndex} is past the ${chunkCount} chunks of session ${fetch.sessionId}`);
      return;
    }
    this.#state = "streaming";
    this.server.emit({ type: "fetch", id: this.id, sessionId: fetch.sessionId, nextIndex: fetch.nextIndex, chunkSize });
    this.server.acquire(entry);
    this.#pump(entry, fetch.nextIndex, chunkSize, chunkCount)
      .catch((e: unknown) => this.#refuse(ErrorCode.INTERNAL, e as Error, `reading the image failed: ${(e as Error).message}`))
      .finally(() => this.server.unacquire(entry));
  }

  async #pump(entry: SessionEntry, first: number, chunkSize: number, chunkCount: number): Promise<void> {
    const { sessionId, size } = entry;
    const socket = this.socket;
    socket.write(frameBytes({ body: { case: "info", value: { sessionId, imageSize: size, chunkSize, chunkCount } } }));
    const perRead = this.server.options.readAheadChunks;
    const frameMax = chunkFrameMaxSize(chunkSize);
    for (let index = first; index < chunkCount; ) {
      if (this.#closed || this.#state !== "streaming") return;
      const position = index * chunkSize;
      const length = Math.min(perRead * chunkSize, size - position);
      const chunks = Math.ceil(length / chunkSize);
      // The frames of the block are laid out first and the file is read straight into their
      // data fields: one fresh buffer per block (the socket keeps it until flushed), no copy.
      const out = Buffer.allocUnsafe(chunks * frameMax);
      const starts: number[] = [];
      const slots: Buffer[] = [];
      let wrote = 0;
      for (let c = 0; c < chunks; c++) {
        const n = Math.min(chunkSize, length - c * chunkSize);
        starts.push(wrote);
        const dataAt = writeChunkFrameHeader(out, wrote, sessionId, index + c, n);
        slots.push(out.subarray(dataAt, dataAt + n));
        wrote = dataAt + n + 4;
      }
      const { bytesRead } = await entry.file.readv(slots, position);
      if (bytesRead !== length) throw new Error(`image shrank: read ${bytesRead} of ${length} bytes at ${position}`);
      if (this.#closed || this.#state !== "streaming") return;
      for (const at of starts) finishChunkFrame(out, at);
      index += chunks;
      const ok = socket.write(out.subarray(0, wrote));
      this.server.count(chunks, wrote);
      if (!ok) await this.#drained();
    }
    if (this.#closed || this.#state !== "streaming") return;
    socket.write(frameBytes({ body: { case: "done", value: { sessionId, error: ErrorCode.NONE } } }));
    this.server.emit({ type: "sent-all", id: this.id, sessionId, chunks: chunkCount - first });
    // The node closes once it has checked the image; the idle timeout covers one that does not.
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.once("drain", done);
      this.socket.once("close", done);
    });
  }

  /** Tells the node why (TransferDone with `error`) and closes this connection only. */
  #refuse(error: ErrorCode, cause: Error | undefined, reason = cause?.message ?? ""): void {
    if (this.#state === "finished") return;
    if (cause) this.server.emit({ type: "bad-input", id: this.id, error: cause });
    this.server.emit({ type: "refused", id: this.id, sessionId: this.#sessionId, error, reason });
    if (!this.#closed && this.socket.writable) {
      this.socket.write(frameBytes({ body: { case: "done", value: { sessionId: this.#sessionId, error } } }));
    }
    this.#finish();
  }

  #finish(): void {
    this.#state = "finished";
    this.socket.end();
    // A peer that never closes its side is cut after a short grace period.
    setTimeout(() => this.socket.destroy(), Math.min(1000, this.server.options.idleTimeoutMs)).unref();
  }
}
