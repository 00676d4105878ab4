// Request/response over a ControlTransport: one receive loop, replies matched by source
// address and message kind, retries with exponential backoff, and a cap on requests awaiting
// a reply at once. Every meshota request is idempotent on the node, so repeating one after a
// lost reply is safe.
import { decodeVendor, type VendorFrame, type VendorMessage } from "@meshota/proto";
import type { Clock } from "../clock.js";
import { CancelledError, MeshotaCoreError, TransportError } from "../errors.js";
import { Slots } from "../slots.js";
import type { ControlTransport, MeshAddress } from "../transport.js";

/** Retry timing of one request. */
export interface RetryOptions {
  /** How long to wait for a reply to one attempt, in ms. */
  replyTimeoutMs: number;
  /** Attempts in all (the first one included). */
  attempts: number;
  /** Pause before the second attempt, in ms; doubled after each further attempt. */
  backoffMs: number;
  /** Longest pause between attempts, in ms. */
  maxBackoffMs: number;
}

const noReplyMarker = Symbol.for("meshota.core.NoReplyError");

/** A node did not answer a request in any of the attempts. */
export class NoReplyError extends MeshotaCoreError {
  readonly [noReplyMarker] = true;
  readonly address: MeshAddress;
  readonly attempts: number;

  constructor(address: MeshAddress, what: string, attempts: number, options?: { cause?: unknown }) {
    super(`no ${what} from 0x${address.toString(16).padStart(4, "0")} after ${attempts} attempts`, options);
    this.name = "NoReplyError";
    this.address = address;
    this.attempts = attempts;
  }

  static override isInstance(error: unknown): error is NoReplyError {
    return typeof error === "object" && error !== null && noReplyMarker in error;
  }
}

interface Waiter {
  src: MeshAddress;
  accept: (message: VendorMessage) => boolean;
  resolve: (message: VendorMessage) => void;
}

/** Pause before attempt `n` (n = 1 for the first retry). */
export function backoffDelay(n: number, options: Pick<RetryOptions, "backoffMs" | "maxBackoffMs">): number {
  return Math.min(options.maxBackoffMs, options.backoffMs * 2 ** Math.max(0, n - 1));
}

/** Options of a ControlLink. */
export interface ControlLinkOptions {
  /**
   * Requests awaiting a reply at once (default 4); further ones wait their turn. A mesh
   * gateway reassembles only a few segmented messages at a time: replies beyond that are
   * dropped, and the requests then time out and back off.
   */
  readonly maxInFlight?: number;
}

/** The distributor's side of the control plane. */
export class ControlLink {
  readonly #waiters = new Set<Waiter>();
  readonly #slots: Slots;
  readonly #listeners = new Set<(src: MeshAddress, message: VendorMessage) => void>();
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Frames received that did not decode (a node bug or a foreign model). */
  malformed = 0;

  constructor(
    readonly transport: ControlTransport,
    readonly clock: Clock,
    options: ControlLinkOptions = {}
  ) {
    this.#slots = new Slots(options.maxInFlight ?? 4, "maxInFlight");
  }

  /** Requests awaiting a reply right now. */
  get inFlight(): number {
    return this.#slots.used;
  }

  /** Starts the receive loop (idempotent). */
  open(): void {
    if (this.#loop) return;
    this.#loop = (async () => {
      try {
        for await (const incoming of this.transport.messages(this.#stop.signal)) {
          let message: VendorMessage;
          try {
            message = decodeVendor(incoming.frame);
          } catch {
            this.malformed++;
            continue;
          }
          for (const w of [...this.#waiters]) {
            if (w.src === incoming.src && w.accept(message)) {
              this.#waiters.delete(w);
              w.resolve(message);
            }
          }
          for (const l of this.#listeners) l(incoming.src, message);
        }
      } catch {
        // The transport closed; pending requests time out on their own.
      }
    })();
  }

  /** Stops the receive loop. */
  close(): void {
    this.#stop.abort();
  }

  /** Calls `listener` for every decoded message (progress reports, unsolicited status). */
  listen(listener: (src: MeshAddress, message: VendorMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends without waiting for an answer (chunks, group sends). */
  async send(dst: MeshAddress, frame: VendorFrame, signal?: AbortSignal): Promise<void> {
    await this.transport.send(dst, frame, { signal });
  }

  /**
   * Sends `frame` to `dst` and resolves with the first message from `dst` that `accept`
   * takes. Retries after replyTimeoutMs with backoff; throws NoReplyError when every attempt
   * goes unanswered and CancelledError when `signal` aborts.
   */
  async request<T extends VendorMessage>(
    dst: MeshAddress,
    frame: VendorFrame,
    accept: (message: VendorMessage) => message is T,
    what: string,
    retry: RetryOptions,
    signal?: AbortSignal
  ): Promise<T> {
    this.open();
    let lastError: unknown;
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      if (signal?.aborted) throw new CancelledError("cancelled", { cause: signal.reason });
      if (attempt > 1) await this.clock.sleep(backoffDelay(attempt - 1, retry), signal);
      // The slot is held from the send until the reply or the timeout, not across the backoff.
      await this.#slots.acquire(signal);
      const waiter = {} as Waiter;
      const replied = new Promise<VendorMessage>((resolve) => {
        Object.assign(waiter, { src: dst, accept, resolve });
      });
      this.#waiters.add(waiter);
      const timer = new AbortController();
      const onAbort = () => timer.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        try {
          await this.transport.send(dst, frame, { signal, timeoutMs: retry.replyTimeoutMs });
        } catch (error) {
          if (signal?.aborted) throw new CancelledError("cancelled", { cause: signal.reason });
          if (!TransportError.isInstance(error) || error.reason === "too-large" || error.reason === "closed")
            throw error;
          lastError = error;
          continue;
        }
        const timeout = this.clock.sleep(retry.replyTimeoutMs, timer.signal).then(
          () => undefined,
          () => undefined
        );
        const reply = await Promise.race([replied, timeout]);
        if (reply) return reply as T;
        if (signal?.aborted) throw new CancelledError("cancelled", { cause: signal.reason });
      } finally {
        timer.abort();
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(waiter);
        this.#slots.release();
      }
    }
    throw new NoReplyError(dst, what, retry.attempts, { cause: lastError });
  }
}
