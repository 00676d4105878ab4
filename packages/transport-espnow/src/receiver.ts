// A model of the node's ESP-NOW receiver (the behaviour of meshota_core for METHOD_ESPNOW):
// fast to run by the hundred in tests and benchmarks. It accepts the distributor's geometry,
// stores chunks in any order, answers every report request (TransferInfo with round > 0) with
// a MissingChunks report or a TransferDone, and checks the image's SHA-256 at the end.
import { createHash } from "node:crypto";
import { decodeFrame, encodeFrame, ErrorCode, type DataFrame } from "@meshota/proto";
import type { EspNowLink, Timers } from "./link.js";
import { macToString } from "./mac.js";
import { buildMissing } from "./missing.js";

/** What the receiver learnt from its UpdateStart (manifest and EspNowMethod). */
export interface ReceiverSession {
  sessionId: number;
  imageSize: number;
  /** SHA-256 of the image from the signed manifest. */
  imageSha256: Uint8Array;
  /** MAC of the distributor; frames from other MACs are ignored. */
  distributorMac: Uint8Array;
  /** Largest chunk payload the receiver accepts. */
  maxChunkSize: number;
  /**
   * EspNowMethod.payload_size: the chunk size, known before the first TransferInfo (as on the
   * node), so chunks heard before it are kept. 0 or absent: learnt from TransferInfo.
   */
  chunkSize?: number;
}

/** Receiver state. */
export type ReceiverState = "receiving" | "done" | "failed";

/** Options of a receiver. */
export interface ReceiverOptions {
  /** Give up when nothing arrives for this long (the node's MESHOTA_RECEIVE_TIMEOUT_MS). */
  receiveTimeoutMs: number;
}

export const DEFAULT_RECEIVER_OPTIONS: Readonly<ReceiverOptions> = Object.freeze({ receiveTimeoutMs: 60_000 });

/** The ESP-NOW receiver of one node. */
export class EspNowReceiver {
  readonly session: Readonly<ReceiverSession>;
  #link: EspNowLink;
  #timers: Timers;
  #options: ReceiverOptions;
  #state: ReceiverState = "receiving";
  #error: ErrorCode = ErrorCode.NONE;
  #chunkSize = 0;
  #chunkCount = 0;
  #have: Uint8Array = new Uint8Array(0);
  #held = 0;
  #image: Uint8Array;
  #heard = false;
  #cancelTimer: (() => void) | undefined;
  #listeners: ((r: EspNowReceiver) => void)[] = [];
  /** Reports sent (MissingChunks and TransferDone). */
  reportsSent = 0;
  /** Frames refused (wrong session, bad geometry, malformed). */
  refused = 0;

  constructor(link: EspNowLink, timers: Timers, session: ReceiverSession, options: Partial<ReceiverOptions> = {}) {
    this.#link = link;
    this.#timers = timers;
    this.session = Object.freeze({ ...session, imageSha256: new Uint8Array(session.imageSha256), distributorMac: new Uint8Array(session.distributorMac) });
    this.#options = { ...DEFAULT_RECEIVER_OPTIONS, ...options };
    this.#image = new Uint8Array(session.imageSize);
    if (session.chunkSize) {
      this.#chunkSize = session.chunkSize;
      this.#chunkCount = Math.ceil(session.imageSize / session.chunkSize);
      this.#have = new Uint8Array(this.#chunkCount);
    }
    link.onReceive((src, payload) => this.#onFrame(src, payload));
    this.#armTimeout();
  }

  get state(): ReceiverState {
    return this.#state;
  }
  /** Why the receiver failed; NONE otherwise. */
  get error(): ErrorCode {
    return this.#error;
  }
  /** Chunks held. */
  get chunksHeld(): number {
    return this.#held;
  }
  /** The image received so far (complete and verified when state is "done"). */
  image(): Uint8Array {
    return this.#image;
  }
  /** Calls `fn` once the receiver is done or failed. */
  onFinished(fn: (r: EspNowReceiver) => void): void {
    this.#listeners.push(fn);
  }

  #armTimeout(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = this.#timers.setTimer(this.#options.receiveTimeoutMs, () => {
      if (this.#state === "receiving") this.#finish(this.#heard ? ErrorCode.TIMEOUT : ErrorCode.WRONG_CHANNEL);
    });
  }

  #finish(error: ErrorCode): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#state = error === ErrorCode.NONE ? "done" : "failed";
    this.#error = error;
    for (const fn of this.#listeners) fn(this);
  }

  #onFrame(src: Uint8Array, payload: Uint8Array): void {
    if (macToString(src) !== macToString(this.session.distributorMac)) return;
    let frame: DataFrame;
    try {
      frame = decodeFrame(payload);
    } catch {
      this.refused++;
      return;
    }
    const body = frame.body;
    if (body.case === "info") {
      const ti = body.value;
      if (!this.#acceptInfo(ti.sessionId, ti.imageSize, ti.chunkSize, ti.chunkCount)) {
        this.refused++;
        return;
      }
      if (ti.round > 0) this.#report();
    } else if (body.case === "chunk") {
      const c = body.value;
      if (c.sessionId !== this.session.sessionId || this.#chunkSize === 0 || c.index >= this.#chunkCount) {
        this.refused++;
        return;
      }
      const expected = c.index === this.#chunkCount - 1 ? this.session.imageSize - c.index * this.#chunkSize : this.#chunkSize;
      if (c.data.length !== expected) {
        this.refused++;
        return;
      }
      this.#armTimeout();
      if (this.#state !== "receiving" || this.#have[c.index]) return;
      this.#image.set(c.data, c.index * this.#chunkSize);
      this.#have[c.index] = 1;
      this.#held++;
      if (this.#held === this.#chunkCount) this.#verify();
    }
  }

  #acceptInfo(sessionId: number, imageSize: number, chunkSize: number, chunkCount: number): boolean {
    if (sessionId !== this.session.sessionId || imageSize !== this.session.imageSize || chunkSize === 0) return false;
    if (chunkCount !== Math.ceil(imageSize / chunkSize) || chunkSize > this.session.maxChunkSize) return false;
    this.#heard = true;
    if (this.#state === "receiving") this.#armTimeout();
    if (chunkSize === this.#chunkSize) return true;
    if (this.#held !== 0) return false; // chunks already held were cut at another size
    this.#chunkSize = chunkSize;
    this.#chunkCount = chunkCount;
    this.#have = new Uint8Array(chunkCount);
    return true;
  }

  #verify(): void {
    const digest = createHash("sha256").update(this.#image).digest();
    const ok = Buffer.compare(digest, Buffer.from(this.session.imageSha256)) === 0;
    this.#finish(ok ? ErrorCode.NONE : ErrorCode.HASH_MISMATCH);
  }

  #report(): void {
    const sessionId = this.session.sessionId;
    let frame: Uint8Array;
    if (this.#state !== "receiving") {
      frame = encodeFrame({ body: { case: "done", value: { sessionId, error: this.#error } } }, this.#link.maxPayload);
    } else {
      const missing = buildMissing(sessionId, this.#chunkCount, (i) => this.#have[i] === 1);
      frame = encodeFrame({ body: { case: "missing", value: missing } }, this.#link.maxPayload);
    }
    // A full transmit queue drops the report, as esp_now_send failing would on the node;
    // the distributor asks again next round.
    if (this.#link.send(this.session.distributorMac, frame)) this.reportsSent++;
  }
}
