// The host end of the ESP-NOW bridge: a byte stream to the dongle (a serial port, a pty, a raw
// file descriptor) turned into an EspNowLink. Commands go one at a time (stop and wait): each
// waits for its ACK, and is sent again with the same sequence number when the ACK does not come;
// the dongle recognises the repeat and acknowledges without executing it twice. SEND frames also
// take a transmit slot of the dongle (credit-based flow control): the dongle reports its free
// slots in every ACK and SENT, and the link accepts no more frames than that.
import type { Duplex } from "node:stream";
import type { EspNowLink, SendOutcome, Timers } from "../link.js";
import { realTimers } from "../link.js";
import { BridgeError } from "./errors.js";
import { Deframer, frameToWire } from "./framing.js";
import { AckStatus, BRIDGE_PROTOCOL_VERSION, hostFrame, MsgType, parseDongleFrame, SentOutcome, type BridgeHello, type DongleFrame } from "./messages.js";

/** A byte stream to the dongle. */
export interface ByteStream {
  write(data: Uint8Array): void;
  /** Sets the listener of received bytes (any split). */
  onData(listener: (data: Uint8Array) => void): void;
  /** Sets the listener called once when the stream ends or fails. */
  onClose(listener: (error?: Error) => void): void;
  close(): Promise<void>;
}

/** Wraps a Node duplex stream (a SerialPort, a socket, a pair of fd streams). */
export function duplexByteStream(stream: Duplex): ByteStream {
  let closed: ((error?: Error) => void) | undefined;
  let done = false;
  const end = (error?: Error): void => {
    if (done) return;
    done = true;
    closed?.(error);
  };
  stream.on("error", (e: Error) => end(e));
  stream.on("close", () => end());
  return {
    write: (data) => void stream.write(data),
    onData: (listener) => void stream.on("data", (chunk: Buffer) => listener(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))),
    onClose: (listener) => {
      closed = listener;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (stream.destroyed) return resolve();
        stream.once("close", () => resolve());
        stream.destroy();
      }),
  };
}

/** Options of a bridge client. Every field has a default. */
export interface BridgeOptions {
  /** Wait for an ACK before sending a command again, in ms. Default 200. */
  ackTimeoutMs: number;
  /** Extra attempts of a command before the link is declared dead. Default 3. */
  retries: number;
  /**
   * A SEND whose SENT never comes is reported "failed" after this long, in ms, or as soon as the
   * SENT of a frame queued after it arrives. Default 3000.
   */
  sentTimeoutMs: number;
  /** Timers (real by default). */
  timers: Timers;
}

export const DEFAULT_BRIDGE_OPTIONS: Readonly<BridgeOptions> = Object.freeze({ ackTimeoutMs: 200, retries: 3, sentTimeoutMs: 3000, timers: realTimers });

/** Counters of the link. */
export interface BridgeStats {
  /** Commands sent again because their ACK did not come in time. */
  retransmits: number;
  /** Dongle frames missing from its sequence (lost on the UART or dropped by the dongle). */
  rxGaps: number;
  /** ESP-NOW frames received through the dongle. */
  received: number;
  /** SEND frames refused with BUSY (sent again later). */
  busy: number;
  /** Frames dropped for a bad CRC. */
  crcErrors: number;
  /** Blocks dropped as too long or not valid COBS. */
  framingErrors: number;
  /** Frames with a valid CRC but an unknown type or short fields. */
  malformed: number;
  /** Times the dongle was found restarted (a command answered NO_SESSION) and taken up again. */
  restarts: number;
}

/** Restarts of the dongle in a row, during one command, before the link is given up. */
const MAX_RESTARTS = 3;

interface Command {
  type: number;
  fields: Uint8Array;
  attempts: number;
  /** NO_SESSION answers to this command. */
  restarts?: number;
  /** When the dongle first answered this SEND with BUSY. */
  busySince?: number;
  resolve: (frame: DongleFrame) => void;
  reject: (error: Error) => void;
  /** SEND only: called with the radio's outcome. */
  done?: ((outcome: SendOutcome) => void) | undefined;
}

/** A connected bridge dongle. Create with BridgeClient.connect(). */
export class BridgeClient implements EspNowLink {
  readonly stats: BridgeStats = { retransmits: 0, rxGaps: 0, received: 0, busy: 0, crcErrors: 0, framingErrors: 0, malformed: 0, restarts: 0 };
  #stream: ByteStream;
  #o: BridgeOptions;
  #deframer = new Deframer();
  #hello: BridgeHello | undefined;
  /** The channel set by setChannel(), set again after a restart of the dongle. */
  #channel: number | undefined;
  #seq = 0;
  #rxSeq: number | undefined;
  #queue: Command[] = [];
  #current: { cmd: Command; seq: number; cancel: () => void } | undefined;
  /** A dongle frame went missing since the current command was last transmitted. */
  #gapSinceTransmit = false;
  #free = 0;
  #pendingSent = new Map<number, { done: ((o: SendOutcome) => void) | undefined; cancel: () => void }>();
  #onWritable: (() => void) | undefined;
  #onReceive: ((src: Uint8Array, payload: Uint8Array) => void) | undefined;
  #closed: BridgeError | undefined;
  #rawListener: ((frame: DongleFrame) => void) | undefined;

  private constructor(stream: ByteStream, options: BridgeOptions) {
    this.#stream = stream;
    this.#o = options;
    stream.onData((data) => this.#onBytes(data));
    stream.onClose((error) => this.#fail(new BridgeError("closed", "the bridge stream closed", { cause: error })));
  }

  /** Opens the link: HELLO, then checks the dongle's protocol version. */
  static async connect(stream: ByteStream, options: Partial<BridgeOptions> = {}): Promise<BridgeClient> {
    const client = new BridgeClient(stream, { ...DEFAULT_BRIDGE_OPTIONS, ...options });
    const reply = await client.#command(MsgType.HELLO, new Uint8Array([BRIDGE_PROTOCOL_VERSION]));
    if (reply.type !== "hello") throw new BridgeError("refused", `the bridge answered HELLO with ${reply.type}`);
    const hello = reply.hello;
    if (hello.version !== BRIDGE_PROTOCOL_VERSION) {
      await client.close();
      throw new BridgeError("version", `the bridge speaks protocol version ${hello.version}, this host speaks ${BRIDGE_PROTOCOL_VERSION}`);
    }
    if (hello.maxPayload < 1 || hello.maxPayload > 1470 || (hello.espnowVersion !== 1 && hello.espnowVersion !== 2)) {
      await client.close();
      throw new BridgeError("refused", `the bridge announced ESP-NOW v${hello.espnowVersion} with ${hello.maxPayload}-byte payloads`);
    }
    if (hello.txSlots === 0) {
      // No credit would ever come: every send() would wait forever.
      await client.close();
      throw new BridgeError("refused", "the bridge announced no transmit slots");
    }
    client.#hello = hello;
    client.#free = hello.txSlots;
    return client;
  }

  /** What the dongle announced in its HELLO_ACK. */
  get info(): Readonly<BridgeHello> {
    return this.#hello!;
  }
  get mac(): Uint8Array {
    return this.#hello!.mac;
  }
  get maxPayload(): number {
    return this.#hello!.maxPayload;
  }
  /** Free transmit slots of the dongle, less the frames waiting here to be handed over. */
  get freeSlots(): number {
    return this.#free - this.#queue.filter((c) => c.type === MsgType.SEND).length - (this.#current?.cmd.type === MsgType.SEND ? 1 : 0);
  }

  /** Tunes the dongle's radio to `channel` (1-14). */
  async setChannel(channel: number): Promise<void> {
    if (!Number.isInteger(channel) || channel < 1 || channel > 14) throw new RangeError(`Wi-Fi channel is 1-14, got ${channel}`);
    const reply = await this.#command(MsgType.SET_CHANNEL, new Uint8Array([channel]));
    if (reply.type === "ack" && reply.status !== AckStatus.OK) throw new BridgeError("refused", `the bridge refused channel ${channel} (status ${reply.status})`);
    this.#hello!.channel = channel;
    this.#channel = channel;
  }

  send(dst: Uint8Array, payload: Uint8Array, done?: (outcome: SendOutcome) => void): boolean {
    if (this.#closed) throw this.#closed;
    if (dst.length !== 6) throw new RangeError(`a MAC address has 6 bytes, got ${dst.length}`);
    if (payload.length === 0 || payload.length > this.maxPayload) throw new RangeError(`ESP-NOW payload of ${payload.length} bytes does not fit 1-${this.maxPayload}`);
    if (this.freeSlots <= 0) return false;
    const fields = new Uint8Array(6 + payload.length);
    fields.set(dst);
    fields.set(payload, 6);
    this.#command(MsgType.SEND, fields, done).catch(() => {
      // The link failure reaches the caller through done("failed") and later sends throwing.
    });
    return true;
  }

  onWritable(listener: (() => void) | undefined): void {
    this.#onWritable = listener;
  }

  onReceive(listener: ((src: Uint8Array, payload: Uint8Array) => void) | undefined): void {
    this.#onReceive = listener;
  }

  /** @private test hook: sees every valid dongle frame. */
  onRawFrame(listener: ((frame: DongleFrame) => void) | undefined): void {
    this.#rawListener = listener;
  }

  async close(): Promise<void> {
    this.#fail(new BridgeError("closed", "the bridge link was closed"));
    await this.#stream.close();
  }

  #command(type: number, fields: Uint8Array, done?: (outcome: SendOutcome) => void): Promise<DongleFrame> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(this.#closed);
      this.#queue.push({ type, fields, attempts: 0, resolve, reject, done });
      this.#next();
    });
  }

  #next(): void {
    if (this.#current || this.#closed) return;
    const cmd = this.#queue.shift();
    if (!cmd) return;
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) & 0xff;
    this.#transmit(cmd, seq);
  }

  #transmit(cmd: Command, seq: number): void {
    cmd.attempts++;
    const cancel = this.#o.timers.setTimer(this.#o.ackTimeoutMs, () => {
      if (this.#current?.cmd !== cmd) return;
      if (cmd.attempts > this.#o.retries) {
        this.#fail(new BridgeError("timeout", `no answer from the bridge to command 0x${cmd.type.toString(16)} after ${cmd.attempts} attempts`));
        return;
      }
      this.stats.retransmits++;
      this.#transmit(cmd, seq);
    });
    this.#current = { cmd, seq, cancel };
    this.#gapSinceTransmit = false;
    this.#stream.write(frameToWire(hostFrame(cmd.type, seq, cmd.fields)));
  }

  #onBytes(data: Uint8Array): void {
    for (const body of this.#deframer.push(data)) {
      const frame = parseDongleFrame(body);
      if (!frame) {
        this.stats.malformed++;
        continue;
      }
      if (this.#rxSeq !== undefined && frame.seq !== ((this.#rxSeq + 1) & 0xff) && frame.type !== "hello") {
        this.stats.rxGaps += (frame.seq - this.#rxSeq - 1) & 0xff;
        this.#gapSinceTransmit = true;
      }
      this.#rxSeq = frame.seq;
      this.#rawListener?.(frame);
      this.#onFrame(frame);
    }
    this.stats.crcErrors = this.#deframer.stats.crcErrors;
    this.stats.framingErrors = this.#deframer.stats.malformed + this.#deframer.stats.oversize;
  }

  #onFrame(frame: DongleFrame): void {
    const cur = this.#current;
    switch (frame.type) {
      case "hello":
        if (cur && cur.cmd.type === MsgType.HELLO && frame.hello.ackedSeq === cur.seq) this.#complete(frame);
        return;
      case "ack": {
        if (!cur || frame.ackedSeq !== cur.seq || cur.cmd.type === MsgType.HELLO) return; // a late duplicate
        if (frame.status === AckStatus.NO_SESSION) return this.#restarted(cur);
        this.#free = frame.freeSlots;
        if (cur.cmd.type === MsgType.SEND) {
          if (frame.status === AckStatus.BUSY) {
            // Hand it over again once a SENT frees a slot; keep its place at the head.
            this.stats.busy++;
            cur.cancel();
            this.#current = undefined;
            const cmd = cur.cmd;
            cmd.attempts = 0;
            const now = this.#o.timers.now();
            cmd.busySince ??= now;
            if (now - cmd.busySince >= this.#o.sentTimeoutMs) {
              this.#fail(new BridgeError("timeout", `the bridge's transmit queue stayed full for over ${this.#o.sentTimeoutMs} ms: its radio finishes no frame`));
              return;
            }
            this.#queue.unshift(cmd);
            if (this.#free > 0) return this.#next();
            // Also ask again after a while: the SENT that frees a slot may be lost on the UART.
            this.#o.timers.setTimer(this.#o.ackTimeoutMs, () => {
              if (!this.#current && this.#queue[0] === cmd) this.#next();
            });
            return;
          }
          if (frame.status === AckStatus.OK) {
            const seq = cur.seq;
            const cancel = this.#o.timers.setTimer(this.#o.sentTimeoutMs, () => this.#sent(seq, "failed", undefined));
            this.#pendingSent.set(seq, { done: cur.cmd.done, cancel });
          } else {
            cur.cmd.done?.("failed");
          }
        }
        this.#complete(frame);
        return;
      }
      case "sent":
        this.#free = frame.freeSlots;
        if (cur && cur.cmd.type === MsgType.SEND && frame.sendSeq === cur.seq && this.#gapSinceTransmit && !this.#pendingSent.has(cur.seq)) {
          // The dongle writes a SEND's ACK before its SENT: a SENT for the unacknowledged SEND,
          // after a dongle frame went missing, means that ACK was lost on the UART and the
          // frame was taken. Settle it now rather than send it again and call it failed when no
          // second SENT comes. (Without a gap it is the SENT of an older frame that had the same
          // sequence number, e.g. one a previous host session left with the radio.)
          cur.cmd.done?.(sentOutcome(frame.outcome));
          cur.cmd.done = undefined;
          this.#complete(frame);
          return;
        }
        this.#sent(frame.sendSeq, sentOutcome(frame.outcome), frame.freeSlots);
        if (!this.#current) this.#next();
        return;
      case "recv":
        this.stats.received++;
        this.#onReceive?.(frame.src, frame.payload);
        return;
    }
  }

  #sent(seq: number, outcome: SendOutcome, _free: number | undefined): void {
    const p = this.#pendingSent.get(seq);
    if (!p) return;
    // The dongle finishes frames in the order it took them (the order of this map): a frame
    // taken before this one whose SENT has not come is finished too, its SENT lost on the UART.
    // Its outcome is unknown, so "failed"; waiting sentTimeoutMs for it would hold up the round.
    for (const [s, q] of this.#pendingSent) {
      if (s === seq) break;
      this.#pendingSent.delete(s);
      q.cancel();
      q.done?.("failed");
    }
    this.#pendingSent.delete(seq);
    p.cancel();
    p.done?.(outcome);
    this.#onWritable?.();
  }

  /**
   * The dongle restarted (reset, power glitch) while the port stayed open: its queue and channel
   * are gone. Say HELLO again, set the channel again, then repeat the command; the frames it
   * held are reported failed now, and the ESP-NOW repair above sends them again.
   */
  #restarted(cur: { cmd: Command; cancel: () => void }): void {
    cur.cancel();
    this.#current = undefined;
    this.stats.restarts++;
    cur.cmd.restarts = (cur.cmd.restarts ?? 0) + 1;
    if (cur.cmd.restarts > MAX_RESTARTS) {
      this.#fail(new BridgeError("restarted", `the bridge restarted ${cur.cmd.restarts} times during one command`));
      return;
    }
    cur.cmd.attempts = 0;
    const lost = [...this.#pendingSent.values()];
    this.#pendingSent.clear();
    const before = this.#hello!;
    const ignore = (): void => {};
    const front: Command[] = [
      {
        type: MsgType.HELLO,
        fields: new Uint8Array([BRIDGE_PROTOCOL_VERSION]),
        attempts: 0,
        reject: ignore,
        resolve: (f) => {
          if (f.type !== "hello") return;
          if (f.hello.version !== BRIDGE_PROTOCOL_VERSION || f.hello.maxPayload < before.maxPayload) {
            this.#fail(
              new BridgeError(
                f.hello.version !== BRIDGE_PROTOCOL_VERSION ? "version" : "refused",
                `the bridge restarted as protocol version ${f.hello.version} with ${f.hello.maxPayload}-byte payloads (was version ${before.version}, ${before.maxPayload} bytes)`,
              ),
            );
            return;
          }
          this.#hello = { ...f.hello, maxPayload: before.maxPayload };
          this.#free = f.hello.txSlots;
        },
      },
    ];
    const channel = this.#channel;
    if (channel !== undefined && cur.cmd.type !== MsgType.SET_CHANNEL) {
      front.push({
        type: MsgType.SET_CHANNEL,
        fields: new Uint8Array([channel]),
        attempts: 0,
        reject: ignore,
        resolve: (f) => {
          if (f.type === "ack" && f.status !== AckStatus.OK) {
            this.#fail(new BridgeError("refused", `the restarted bridge refused channel ${channel} (status ${f.status})`));
            return;
          }
          this.#hello!.channel = channel;
        },
      });
    }
    this.#queue.unshift(...front, cur.cmd);
    for (const p of lost) {
      p.cancel();
      p.done?.("failed");
    }
    this.#next();
    if (lost.length > 0) this.#onWritable?.();
  }

  #complete(frame: DongleFrame): void {
    const cur = this.#current!;
    cur.cancel();
    this.#current = undefined;
    cur.cmd.resolve(frame);
    this.#next();
    if (cur.cmd.type === MsgType.SEND) this.#onWritable?.();
  }

  #fail(error: BridgeError): void {
    if (this.#closed) return;
    this.#closed = error;
    const cur = this.#current;
    this.#current = undefined;
    cur?.cancel();
    for (const cmd of [...(cur ? [cur.cmd] : []), ...this.#queue]) {
      cmd.done?.("failed");
      cmd.reject(error);
    }
    this.#queue = [];
    for (const [, p] of this.#pendingSent) {
      p.cancel();
      p.done?.("failed");
    }
    this.#pendingSent.clear();
    // Wake a waiting sender: its next send() throws this error instead of waiting forever.
    this.#onWritable?.();
  }
}

function sentOutcome(outcome: number): SendOutcome {
  return outcome === SentOutcome.OK ? "sent" : outcome === SentOutcome.NO_ACK ? "no-ack" : "failed";
}

/**
 * Opens the bridge dongle on serial port `path` with the `serialport` package (an optional
 * dependency, loaded on first use) and connects.
 */
export async function openSerialBridge(path: string, options: Partial<BridgeOptions> & { baudRate?: number } = {}): Promise<BridgeClient> {
  let mod: typeof import("serialport");
  try {
    mod = await import("serialport");
  } catch (cause) {
    throw new BridgeError("unavailable", "the serialport package is not installed (npm install serialport)", { cause });
  }
  const port = new mod.SerialPort({ path, baudRate: options.baudRate ?? 921_600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(new BridgeError("unavailable", `cannot open ${path}: ${e.message}`, { cause: e })) : resolve())));
  try {
    return await BridgeClient.connect(duplexByteStream(port), options);
  } catch (error) {
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    throw error;
  }
}
