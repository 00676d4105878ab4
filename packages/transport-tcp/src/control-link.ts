// The TCP control link: the host's ControlTransport through a Wi-Fi-connected meshota gateway
// node, speaking the gateway link (gateway-link.ts) over the stream framing. The gateway listens;
// the host connects, reads HELLO, then sends SENDs (each answered by a SEND_RESULT with its
// tag) and receives RECVs. A framing error closes the link: a byte stream cannot resynchronise.
import { connect, type Socket } from "node:net";
import { ESPRESSIF_COMPANY_ID, SEGMENTED_PARAMS_MAX, type VendorFrame } from "@meshota/proto";
import { IncomingQueues, TransportError, type ControlTransport, type IncomingMessage, type MeshAddress, type SendOptions, type TransportInfo } from "@meshota/core";
import { StreamFramingError } from "./errors.js";
import {
  decodeGatewayMessage,
  encodeGatewayMessage,
  GATEWAY_DEFAULT_TTL,
  GATEWAY_LINK_MAX_PAYLOAD,
  GATEWAY_LINK_VERSION,
  GatewayLinkStatus,
  type GatewayLinkMessage,
} from "./gateway-link.js";
import { encodeStreamFrame, StreamFrameDecoder } from "./stream-framing.js";

/** SENDs the gateway holds while waiting for their results (MESHOTA_GWLINK_FIFO_DEPTH). */
export const GATEWAY_MAX_IN_FLIGHT = 8;

/** Options of a TCP control link. */
export interface TcpControlOptions {
  /** Company ID the gateway must announce in HELLO (default 0x02E5, Espressif). */
  companyId: number;
  /** TTL of sent messages, 0..127, or 0xFF for the gateway's default (default 0xFF). */
  ttl: number;
  /** connect() gives up when no HELLO arrives within this long (default 5000). */
  helloTimeoutMs: number;
  /** A send without its SEND_RESULT within this long rejects with "timeout" (default 5000). */
  sendTimeoutMs: number;
  /** Depth of each receive queue; a slow consumer loses the oldest beyond it (default 1024). */
  queueDepth: number;
  /** TCP keep-alive probe delay in ms, so a vanished gateway is noticed (default 10000). */
  keepAliveMs: number;
}

const DEFAULTS: Readonly<TcpControlOptions> = Object.freeze({
  companyId: ESPRESSIF_COMPANY_ID,
  ttl: GATEWAY_DEFAULT_TTL,
  helloTimeoutMs: 5000,
  sendTimeoutMs: 5000,
  queueDepth: 1024,
  keepAliveMs: 10_000,
});

/** What the gateway said about itself in HELLO. */
export interface GatewayHello {
  readonly version: number;
  readonly companyId: number;
  /** The gateway's primary element address; 0 while it is unprovisioned. */
  readonly address: number;
  /** Largest parameter block it carries. */
  readonly mtu: number;
}

/** Counters of a control link. */
export interface TcpControlStats {
  /** RECVs delivered to the iterators. */
  received: number;
  /** SENDs answered OK. */
  sent: number;
  /** Link messages that made no sense here (unknown tag, wrong direction, malformed). */
  rejected: number;
}

const STATUS_TEXT: Record<number, string> = {
  [GatewayLinkStatus.REFUSED]: "the gateway refused the message (malformed, unknown opcode or unassigned destination)",
  [GatewayLinkStatus.MESH_ERROR]: "the gateway's mesh stack failed the send",
  [GatewayLinkStatus.NOT_READY]: "the gateway is not provisioned or has no AppKey bound",
  [GatewayLinkStatus.BUSY]: "the gateway has too many sends waiting",
};

/**
 * ControlTransport through a meshota gateway. `reliable` is false: a resolved send means the
 * gateway's mesh stack sent the message, not that the node received it.
 */
export class TcpControlTransport implements ControlTransport {
  readonly options: Readonly<TcpControlOptions>;
  readonly #socket: Socket;
  readonly #decoder = new StreamFrameDecoder(GATEWAY_LINK_MAX_PAYLOAD);
  readonly #incoming: IncomingQueues;
  readonly #pending = new Map<number, (status: number) => void>();
  readonly #slotWaiters: (() => void)[] = [];
  readonly #stats: TcpControlStats = { received: 0, sent: 0, rejected: 0 };
  #inFlight = 0;
  #nextTag = 1;
  #closed = false;
  #closeReason: Error | undefined;

  readonly #ready: Promise<void>;
  #hello: GatewayHello | undefined;
  #info: TransportInfo | undefined;

  private constructor(socket: Socket, options: Readonly<TcpControlOptions>) {
    this.options = options;
    this.#incoming = new IncomingQueues(options.queueDepth);
    this.#socket = socket;
    let ready!: () => void;
    let refused!: (e: Error) => void;
    this.#ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      refused = reject;
    });
    this.#onHello = (m, error) => (error ? refused(error) : (this.#accept(m!), ready()));
    const timer = setTimeout(() => this.#fail(new TransportError("timeout", `no HELLO from the gateway within ${options.helloTimeoutMs} ms`)), options.helloTimeoutMs);
    void this.#ready.then(() => clearTimeout(timer), () => clearTimeout(timer));
    socket.on("data", (data) => this.#onData(data));
    socket.on("error", (e) => this.#fail(new TransportError("unreachable", `gateway link failed: ${e.message}`, { cause: e })));
    socket.on("close", () => this.#fail(new TransportError("closed", "the gateway closed the link")));
  }

  /** Connects to a gateway at host:port and waits for its HELLO. */
  static async connect(host: string, port: number, options: Partial<TcpControlOptions> = {}): Promise<TcpControlTransport> {
    const o = Object.freeze({ ...DEFAULTS, ...options });
    if (o.ttl !== GATEWAY_DEFAULT_TTL && !(Number.isInteger(o.ttl) && o.ttl >= 0 && o.ttl <= 0x7f)) {
      throw new RangeError(`ttl ${o.ttl} is outside 0..127 and not 0xFF`);
    }
    const socket = connect({ host, port, noDelay: true });
    socket.setKeepAlive(true, o.keepAliveMs);
    const link = new TcpControlTransport(socket, o);
    await link.#ready;
    return link;
  }

  /** What the gateway said in HELLO. */
  get hello(): GatewayHello {
    return this.#hello!;
  }

  get info(): TransportInfo {
    return this.#info!;
  }

  #onHello: (m: GatewayHello | undefined, error?: Error) => void;

  #accept(m: GatewayHello): void {
    this.#hello = m;
    this.#info = Object.freeze({ name: "tcp-gateway", mtu: Math.min(SEGMENTED_PARAMS_MAX, m.mtu), reliable: false, groups: true });
  }

  /** The link is unusable: reject the HELLO wait, close the socket, end the iterators. */
  #fail(error: Error): void {
    if (!this.#hello) this.#onHello(undefined, error);
    this.#socket.destroy();
    this.#shutdown(error);
  }

  /** Why the link closed on its own (framing error, reset), if it did. */
  get closeReason(): Error | undefined {
    return this.#closeReason;
  }

  get closed(): boolean {
    return this.#closed;
  }

  stats(): TcpControlStats {
    return { ...this.#stats };
  }

  async send(dst: MeshAddress, frame: VendorFrame, options: SendOptions = {}): Promise<void> {
    if (this.#closed) throw new TransportError("closed", "the TCP control link is closed", { cause: this.#closeReason });
    if (options.signal?.aborted) throw new TransportError("aborted", "send aborted", { cause: options.signal.reason });
    if (frame.params.length > this.info.mtu) {
      throw new TransportError("too-large", `${frame.params.length} parameter bytes exceed the MTU of ${this.info.mtu}`);
    }
    if (!Number.isInteger(dst) || dst < 1 || dst > 0xffff) throw new TransportError("unreachable", `destination 0x${dst.toString(16)} is not assigned`);
    const wait = Math.min(options.timeoutMs ?? this.options.sendTimeoutMs, this.options.sendTimeoutMs);
    const deadline = Date.now() + wait;
    let settled = false;
    let tag = -1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    let onClose: (() => void) | undefined;
    let status: number;
    try {
      status = await new Promise<number>((resolve, reject) => {
        timer = setTimeout(() => reject(new TransportError("timeout", `no result from the gateway within ${wait} ms`)), wait);
        onAbort = () => reject(new TransportError("aborted", "send aborted", { cause: options.signal?.reason }));
        onClose = () => reject(new TransportError("closed", "the TCP control link closed during a send", { cause: this.#closeReason }));
        options.signal?.addEventListener("abort", onAbort, { once: true });
        this.#socket.once("close", onClose);
        // At most GATEWAY_MAX_IN_FLIGHT SENDs wait at the gateway: more would come back BUSY.
        this.#slot(deadline).then(() => {
          if (settled || this.#closed) {
            this.#release(); // given up while queued: nothing goes out
            return;
          }
          tag = this.#allocTag();
          this.#pending.set(tag, resolve);
          const payload = encodeGatewayMessage({ type: "send", tag, dst, ttl: this.options.ttl, frame });
          this.#socket.write(encodeStreamFrame(payload, GATEWAY_LINK_MAX_PAYLOAD));
        }, reject);
      });
    } finally {
      settled = true;
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener("abort", onAbort);
      if (onClose) this.#socket.off("close", onClose);
      if (tag >= 0) {
        this.#pending.delete(tag);
        this.#release();
      }
    }
    if (status !== GatewayLinkStatus.OK) {
      throw new TransportError("unreachable", STATUS_TEXT[status] ?? `the gateway answered status ${status}`);
    }
    this.#stats.sent++;
  }

  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    return this.#incoming.iterate(signal);
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      await new Promise<void>((resolve) => {
        this.#socket.once("close", () => resolve());
        this.#socket.end();
        setTimeout(() => this.#socket.destroy(), 1000).unref();
      });
    }
    this.#shutdown(undefined);
  }

  #allocTag(): number {
    // Tags in use are at most GATEWAY_MAX_IN_FLIGHT, so a free one is found at once.
    while (this.#pending.has(this.#nextTag)) this.#nextTag = (this.#nextTag + 1) & 0xffff;
    const tag = this.#nextTag;
    this.#nextTag = (this.#nextTag + 1) & 0xffff;
    return tag;
  }

  #slot(deadline: number): Promise<void> {
    if (this.#inFlight < GATEWAY_MAX_IN_FLIGHT) {
      this.#inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = () => {
        clearTimeout(t);
        this.#inFlight++;
        resolve();
      };
      const t = setTimeout(() => {
        const i = this.#slotWaiters.indexOf(waiter);
        if (i >= 0) this.#slotWaiters.splice(i, 1);
        reject(new TransportError("timeout", "the gateway's send queue stayed full"));
      }, Math.max(0, deadline - Date.now()));
      this.#slotWaiters.push(waiter);
    });
  }

  #release(): void {
    this.#inFlight--;
    this.#slotWaiters.shift()?.();
  }

  #onData(data: Buffer): void {
    try {
      this.#decoder.feed(data, (payload) => this.#onMessage(payload));
    } catch (e) {
      if (!StreamFramingError.isInstance(e)) throw e;
      this.#fail(e);
    }
  }

  #onMessage(payload: Uint8Array): boolean {
    let m: GatewayLinkMessage;
    try {
      m = decodeGatewayMessage(payload);
    } catch (e) {
      if (!this.#hello) {
        this.#fail(new TransportError("unreachable", `bad HELLO from the gateway: ${(e as Error).message}`, { cause: e }));
        return false;
      }
      this.#stats.rejected++;
      return true;
    }
    if (!this.#hello) {
      const o = this.options;
      let problem: string | undefined;
      if (m.type !== "hello") problem = `the gateway sent ${m.type} before HELLO`;
      else if (m.version !== GATEWAY_LINK_VERSION) problem = `gateway link version ${m.version}; this host speaks ${GATEWAY_LINK_VERSION}`;
      else if (m.companyId !== o.companyId) {
        const hex = (v: number) => `0x${v.toString(16).padStart(4, "0")}`;
        problem = `the gateway uses company ID ${hex(m.companyId)}, expected ${hex(o.companyId)}`;
      }
      if (problem || m.type !== "hello") {
        this.#fail(new TransportError("unreachable", problem!));
        return false;
      }
      this.#onHello({ version: m.version, companyId: m.companyId, address: m.address, mtu: m.mtu });
      return true;
    }
    if (m.type === "send-result") {
      const resolve = this.#pending.get(m.tag);
      if (!resolve) {
        this.#stats.rejected++; // the result of a send that timed out
        return true;
      }
      this.#pending.delete(m.tag);
      resolve(m.status);
      return true;
    }
    if (m.type === "recv") {
      this.#stats.received++;
      const message: IncomingMessage = { src: m.src, dst: m.dst, frame: m.frame };
      this.#incoming.push(message);
      return true;
    }
    this.#stats.rejected++; // HELLO again, or a SEND in the wrong direction
    return true;
  }

  #shutdown(reason: Error | undefined): void {
    if (reason && !this.#closeReason) this.#closeReason = reason;
    if (this.#closed) return;
    this.#closed = true;
    this.#incoming.close();
  }
}
