// Time as the distributor sees it. Production code uses the real clock; tests drive a virtual
// clock so that timeouts and backoff take no real time.
import { CancelledError } from "./errors.js";

/** A source of time and delays. */
export interface Clock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  /** Resolves after `ms`; rejects with CancelledError when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return CancelledError.isInstance(signal.reason)
    ? signal.reason
    : new CancelledError("cancelled", { cause: signal.reason });
}

/** Wall-clock time through setTimeout. */
export const realClock: Clock = Object.freeze({
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
});

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that moves only when told. `run(promise)` lets every pending microtask and I/O
 * callback settle, then jumps to the next timer, until the promise settles.
 */
export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: Timer[] = [];
  readonly #busy = new Set<Promise<unknown>>();

  /**
   * Marks real asynchronous work (Web Crypto, I/O) that must finish before time moves on:
   * without it, a virtual timeout could fire while a real computation is still running.
   */
  track<T>(work: Promise<T>): Promise<T> {
    const p = work.finally(() => this.#busy.delete(p));
    this.#busy.add(p);
    p.catch(() => undefined);
    return work;
  }

  async #settle(): Promise<void> {
    for (;;) {
      await settle();
      if (this.#busy.size === 0) return;
      await Promise.race([...this.#busy].map((p) => p.catch(() => undefined)));
    }
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(abortReason(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Number of sleeps waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await this.#settle();
      const next = this.#earliest();
      if (!next || next.at > target) break;
      this.#fire(next);
    }
    this.#now = target;
    await this.#settle();
  }

  /**
   * Runs time forward until `promise` settles, and returns its result. Throws when nothing is
   * pending and the promise can never settle, or when `limitMs` of virtual time pass.
   */
  async run<T>(promise: Promise<T>, limitMs = 24 * 3600_000): Promise<T> {
    let state = "pending" as "pending" | "done" | "failed";
    let value: T | undefined;
    let error: unknown;
    promise.then(
      (v) => {
        state = "done";
        value = v;
      },
      (e: unknown) => {
        state = "failed";
        error = e;
      }
    );
    const deadline = this.#now + limitMs;
    for (;;) {
      await this.#settle();
      if (state === "done") return value as T;
      if (state === "failed") throw error;
      const next = this.#earliest();
      if (!next) throw new Error(`virtual clock: nothing pending at ${this.#now} ms and the promise has not settled`);
      if (next.at > deadline) throw new Error(`virtual clock: limit of ${limitMs} ms reached`);
      this.#fire(next);
    }
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }

  #fire(timer: Timer): void {
    this.#timers = this.#timers.filter((t) => t !== timer);
    this.#now = Math.max(this.#now, timer.at);
    timer.resolve();
  }
}

/** Lets microtasks and ready macrotasks run (a few event-loop turns). */
async function settle(): Promise<void> {
  const turn: (cb: () => void) => void = globalThis.setImmediate ?? ((cb) => setTimeout(cb, 0));
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => turn(resolve));
}
