// The image server of the Wi-Fi method: what esp_https_ota (through esp_http_client) expects.
// GET and HEAD with an exact Content-Length, single Range requests answered with 206 so an
// interrupted download resumes, 416 for a range past the end, 404 for any other path. HTTPS with
// a certificate the nodes pin by its SHA-256, or plain HTTP for tests and the host emulator.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { certificateSha256 } from "./certificate.js";
import { parseRange } from "./range.js";
import { boundAddress, listenOn } from "./listen.js";

/** Options of an image server. */
export interface ImageHttpServerOptions {
  /** Certificate and key (PEM) for HTTPS; undefined serves plain HTTP (default). */
  tls: { readonly cert: string; readonly key: string } | undefined;
  /**
   * Behave like a server without Range support: answer every GET with 200 and the whole image
   * (default false). For testing clients' resume against such servers.
   */
  ignoreRange: boolean;
  /** A connection idle this long is closed (default 30000). */
  idleTimeoutMs: number;
  /** Observer of requests. */
  onEvent: ((event: ImageHttpEvent) => void) | undefined;
}

const DEFAULTS: Readonly<ImageHttpServerOptions> = Object.freeze({
  tls: undefined,
  ignoreRange: false,
  idleTimeoutMs: 30_000,
  onEvent: undefined,
});

/** One answered request. */
export interface ImageHttpEvent {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly status: number;
  /** Body bytes announced (Content-Length); 0 for HEAD and errors. */
  readonly length: number;
}

interface ImageEntry {
  readonly file: string;
  readonly size: number;
  readonly etag: string;
}

/**
 * The path as a request carries it: percent-encoded where needed, dot segments resolved. Image
 * paths are stored in this form so that "/fw/app 1.bin" is found when asked for as
 * "/fw/app%201.bin". "" when it does not parse.
 */
function requestPath(path: string): string {
  try {
    return new URL(path, "http://image.invalid").pathname;
  } catch {
    return "";
  }
}

/** Serves image files by path over HTTP or HTTPS. */
export class ImageHttpServer {
  readonly options: Readonly<ImageHttpServerOptions>;
  /** SHA-256 of the DER certificate (WifiMethod.server_cert_sha256); undefined for plain HTTP. */
  readonly certSha256: Uint8Array | undefined;
  readonly #images = new Map<string, ImageEntry>();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(options: Partial<ImageHttpServerOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULTS, ...options });
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res);
    const tls = this.options.tls;
    this.#server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createHttpServer(handler);
    this.certSha256 = tls ? certificateSha256(tls.cert) : undefined;
    this.#server.setTimeout(this.options.idleTimeoutMs);
    this.#server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
  }

  /** "https" or "http". */
  get scheme(): "http" | "https" {
    return this.options.tls ? "https" : "http";
  }

  /**
   * Serves `file` at `path` (such as "/fw/app-1.2.0.bin"; characters a URL cannot hold are
   * percent-encoded, as `url()` gives them). The file must not change meanwhile.
   */
  async addImage(path: string, file: string): Promise<void> {
    if (!path.startsWith("/") || path.includes("?") || path.includes("#")) {
      throw new RangeError(`image path ${JSON.stringify(path)} must start with / and hold no query`);
    }
    const s = await stat(file);
    if (!s.isFile()) throw new RangeError(`${file} is not a file`);
    this.#images.set(requestPath(path), { file, size: s.size, etag: `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"` });
  }

  /** Stops serving `path`. */
  removeImage(path: string): void {
    this.#images.delete(requestPath(path));
  }

  async listen(port: number, host = "127.0.0.1"): Promise<AddressInfo> {
    await listenOn(this.#server, port, host);
    return this.address();
  }

  address(): AddressInfo {
    return boundAddress(this.#server, "image server");
  }

  /** The URL of `path` on this server, for WifiMethod.url. */
  url(path: string, host = "127.0.0.1"): string {
    return `${this.scheme}://${host}:${this.address().port}${requestPath(path)}`;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? "";
    const path = requestPath(req.url ?? "");
    const range = req.headers.range;
    const answer = (status: number, headers: Record<string, string | number>, length = 0) => {
      this.options.onEvent?.({ method, path, range, status, length });
      res.writeHead(status, headers);
    };
    if (method !== "GET" && method !== "HEAD") {
      answer(405, { Allow: "GET, HEAD", "Content-Length": 0 });
      res.end();
      return;
    }
    const image = this.#images.get(path);
    if (!image) {
      answer(404, { "Content-Length": 0 });
      res.end();
      return;
    }
    const { size, etag } = image;
    const base: Record<string, string | number> = {
      "Content-Type": "application/octet-stream",
      "Accept-Ranges": this.options.ignoreRange ? "none" : "bytes",
      ETag: etag,
    };
    // If-Range naming another version of the image: the range is no longer meaningful.
    const ifRange = req.headers["if-range"];
    const usable = !this.options.ignoreRange && (ifRange === undefined || ifRange === etag);
    const r = usable ? parseRange(range, size) : ({ kind: "whole" } as const);
    if (r.kind === "unsatisfiable") {
      answer(416, { ...base, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
      res.end();
      return;
    }
    const [status, start, end] = r.kind === "partial" ? [206, r.start, r.end] : [200, 0, size - 1];
    const length = end - start + 1;
    const headers = { ...base, "Content-Length": length };
    if (status === 206) Object.assign(headers, { "Content-Range": `bytes ${start}-${end}/${size}` });
    answer(status, headers, method === "HEAD" ? 0 : length);
    if (method === "HEAD" || length === 0) {
      res.end();
      return;
    }
    // pipe() pauses the file while the socket's buffer is full: memory stays bounded.
    const body = createReadStream(image.file, { start, end, highWaterMark: 16 * 1024 });
    body.on("error", () => res.destroy());
    res.on("close", () => body.destroy());
    body.pipe(res);
  }
}
