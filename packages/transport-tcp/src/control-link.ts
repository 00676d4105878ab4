// The TCP control link: a Wi-Fi-connected gateway node carries meshota vendor messages between
// this host and the mesh. Same stream framing as the firmware server; each frame's payload is a
// control envelope (docs/protocol.md "TCP control link"):
//   [u16 LE src][u16 LE dst][access payload: 0xC0|opcode, company ID LE, parameters]
import { createServer, connect, type Server, type Socket } from "node:net";
import { ESPRESSIF_COMPANY_ID, fromAccessPayload, SEGMENTED_PARAMS_MAX, toAccessPayload, VENDOR_OPCODE_SIZE, type VendorFrame } from "@meshota/proto";
import { TransportError, type ControlTransport, type IncomingMessage, type MeshAddress, type SendOptions, type TransportInfo } from "@meshota/core";
import { StreamFramingError } from "./errors.js";
import { encodeStreamFrame, StreamFrameDecoder } from "./stream-framing.js";

/** Bytes of the addresses in front of the access payload. */
export const CONTROL_ENVELOPE_HEADER = 4;
/** Largest control envelope: addresses, 3-octet vendor opcode and 377 parameter bytes (384). */
export const CONTROL_ENVELOPE_MAX = CONTROL_ENVELOPE_HEADER + VENDOR_OPCODE_SIZE + SEGMENTED_PARAMS_MAX;

/** One control message on the link. */
export interface ControlEnvelope {
  readonly src: MeshAddress;
  readonly dst: MeshAddress;
  readonly frame: VendorFrame;
}

const checkAddress = (what: string, a: number) => {
  if (!Number.isInteger(a) || a < 1 || a > 0xffff) throw new RangeError(`${what} address ${a} is outside 0x0001..0xffff`);
};

/** Encodes a control envelope (the payload of one stream frame). */
export function encodeControlEnvelope(envelope: ControlEnvelope, companyId: number = ESPRESSIF_COMPANY_ID): Uint8Array {
  checkAddress("source", envelope.src);
  checkAddress("destination", envelope.dst);
  if (envelope.frame.params.length > SEGMENTED_PARAMS_MAX) {
    throw new RangeError(`${envelope.frame.params.length} parameter bytes exceed ${SEGMENTED_PARAMS_MAX}`);
  }
  const access = toAccessPayload(envelope.frame, companyId);
  const out = new Uint8Array(CONTROL_ENVELOPE_HEADER + access.length);
  out[0] = envelope.src & 0xff;
  out[1] = envelope.src >> 8;
  out[2] = envelope.dst & 0xff;
  out[3] = envelope.dst >> 8;
  out.set(access, CONTROL_ENVELOPE_HEADER);
  return out;
}

/**
 * Decodes a control envelope. Throws RangeError for a short envelope or address 0, and the
 * errors of fromAccessPayload for a non-vendor opcode or another company's.
 */
export function decodeControlEnvelope(payload: Uint8Array, companyId: number = ESPRESSIF_COMPANY_ID): ControlEnvelope {
  if (payload.length < CONTROL_ENVELOPE_HEADER + VENDOR_OPCODE_SIZE) {
    throw new RangeError(`control envelope of ${payload.length} bytes is shorter than ${CONTROL_ENVELOPE_HEADER + VENDOR_OPCODE_SIZE}`);
  }
  const src = payload[0]! | (payload[1]! << 8);
  const dst = payload[2]! | (payload[3]! << 8);
  checkAddress("source", src);
  checkAddress("destination", dst);
  const frame = fromAccessPayload(payload.subarray(CONTROL_ENVELOPE_HEADER), companyId);
  return { src, dst, frame: { opcode: frame.opcode, params: frame.params.slice() } };
}

/** Options of a TCP control link. */
export interface TcpControlOptions {
  /** This end's mesh address, the source of send() (default 0x0001). */
  address: MeshAddress;
  /** Company ID of the vendor opcodes (default 0x02E5, Espressif). */
  companyId: number;
  /** Depth of each receive queue; a slow consumer loses the oldest beyond it (default 1024). */
  queueDepth: number;
  /** A send not written within this long rejects with "timeout" (default 5000). */
  sendTimeoutMs: number;
  /** TCP keep-alive probe delay in ms, so a vanished gateway is noticed (default 10000). */
  keepAliveMs: number;
}

const DEFAULTS: Readonly<TcpControlOptions> = Object.freeze({
  address: 0x0001,
  companyId: ESPRESSIF_COMPANY_ID,
  queueDepth: 1024,
  sendTimeoutMs: 5000,
  keepAliveMs: 10_000,
});

/** A bounded queue behind one messages() iterator; drops the oldest when full. */
class Inbox {
  readonly #items: IncomingMessage[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  dropped = 0;

  constructor(readonly depth: number) {}

  push(message: IncomingMessage): void {
    if (this.#closed) return;
    if (this.#items.length >= this.depth) {
      this.#items.shift();
      this.dropped++;
    }
    this.#items.push(message);
    this.#wake?.();
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  async *drain(): AsyncGenerator<IncomingMessage> {
    for (;;) {
      const next = this.#items.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

/** Counters of a control link. */
export interface TcpControlStats {
  /** Envelopes received and delivered to the iterators. */
  received: number;
  /** Envelopes sent. */
  sent: number;
  /** Well-framed envelopes that were not meshota vendor messages (dropped). */
  rejected: number;
}

/**
 * ControlTransport over a TCP connection to a gateway node. `reliable` is false: a resolved
 * send means the envelope was handed to the connection, not that the node received it.
 * A framing error (bad length or CRC) closes the link: a byte stream cannot be resynchronised.
 */
export class TcpControlTransport implements ControlTransport {
  readonly info: TransportInfo = Object.freeze({ name: "tcp-gateway", mtu: SEGMENTED_PARAMS_MAX, reliable: false, groups: true });
  readonly options: Readonly<TcpControlOptions>;
  readonly #socket: Socket;
  readonly #decoder = new StreamFrameDecoder(CONTROL_ENVELOPE_MAX);
  readonly #inboxes = new Set<Inbox>();
  readonly #stats: TcpControlStats = { received: 0, sent: 0, rejected: 0 };
  #closed = false;
  #closeReason: Error | undefined;

  /** Wraps a connected socket (either end: the host's or the gateway's). */
  constructor(socket: Socket, options: Partial<TcpControlOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULTS, ...options });
    checkAddress("own", this.options.address);
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.options.keepAliveMs);
    socket.on("data", (data) => this.#onData(data));
    socket.on("error", (e) => this.#shutdown(e));
    socket.on("close", () => this.#shutdown(undefined));
  }

  /** Connects to a gateway listening at host:port. */
  static connect(host: string, port: number, options: Partial<TcpControlOptions> = {}): Promise<TcpControlTransport> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new TcpControlTransport(socket, options));
      });
    });
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

  send(dst: MeshAddress, frame: VendorFrame, options: SendOptions = {}): Promise<void> {
    return this.relay(this.options.address, dst, frame, options);
  }

  /**
   * Sends an envelope with any source address: what a gateway does for the messages of the
   * mesh nodes it hears.
   */
  async relay(src: MeshAddress, dst: MeshAddress, frame: VendorFrame, options: SendOptions = {}): Promise<void> {
    if (this.#closed) throw new TransportError("closed", "the TCP control link is closed", { cause: this.#closeReason });
    if (options.signal?.aborted) throw new TransportError("aborted", "send aborted", { cause: options.signal.reason });
    if (frame.params.length > this.info.mtu) {
      throw new TransportError("too-large", `${frame.params.length} parameter bytes exceed the MTU of ${this.info.mtu}`);
    }
    const bytes = encodeStreamFrame(encodeControlEnvelope({ src, dst, frame }, this.options.companyId), CONTROL_ENVELOPE_MAX);
    const wait = Math.min(options.timeoutMs ?? this.options.sendTimeoutMs, this.options.sendTimeoutMs);
    await new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (error?: TransportError) => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        this.#socket.off("close", onClose);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => settle(new TransportError("aborted", "send aborted", { cause: options.signal?.reason }));
      const onClose = () => settle(new TransportError("closed", "the TCP control link closed during a send", { cause: this.#closeReason }));
      timer = setTimeout(() => settle(new TransportError("timeout", `the gateway did not take the message within ${wait} ms`)), wait);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#socket.once("close", onClose);
      this.#socket.write(bytes, (error) => {
        if (error) settle(new TransportError("closed", `writing to the gateway failed: ${error.message}`, { cause: error }));
        else {
          this.#stats.sent++;
          settle();
        }
      });
    });
  }

  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    const inbox = new Inbox(this.options.queueDepth);
    if (this.#closed || signal?.aborted) inbox.close();
    else this.#inboxes.add(inbox);
    const onAbort = () => {
      inbox.close();
      this.#inboxes.delete(inbox);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    return {
      [Symbol.asyncIterator]: () => {
        const it = inbox.drain();
        return {
          next: () => it.next(),
          return: async (value?: unknown) => {
            onAbort();
            signal?.removeEventListener("abort", onAbort);
            return it.return(value as undefined);
          },
        };
      },
    };
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

  #onData(data: Buffer): void {
    try {
      this.#decoder.feed(data, (payload) => {
        let envelope: ControlEnvelope;
        try {
          envelope = decodeControlEnvelope(payload, this.options.companyId);
        } catch {
          // Framed correctly but not a meshota message for us: drop it, keep the link.
          this.#stats.rejected++;
          return;
        }
        this.#stats.received++;
        for (const inbox of this.#inboxes) inbox.push(envelope);
      });
    } catch (e) {
      if (!StreamFramingError.isInstance(e)) throw e;
      this.#closeReason = e;
      this.#socket.destroy();
      this.#shutdown(e);
    }
  }

  #shutdown(reason: Error | undefined): void {
    if (reason && !this.#closeReason) this.#closeReason = reason;
    if (this.#closed) return;
    this.#closed = true;
    for (const inbox of this.#inboxes) inbox.close();
    this.#inboxes.clear();
  }
}

/**
 * Listens for gateway nodes that connect to this host; each connection becomes a
 * TcpControlTransport handed to `onLink`.
 */
export function createControlLinkServer(onLink: (link: TcpControlTransport) => void, options: Partial<TcpControlOptions> = {}): Server {
  return createServer((socket) => onLink(new TcpControlTransport(socket, options)));
}
