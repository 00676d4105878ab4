// A sliding-window limit on transmitted network PDUs: a node should not send more than about
// 100 network PDUs in 10 seconds (Mesh Protocol 3.4.6.3 recommendation).

export interface RateLimitOptions {
  /** PDUs allowed per window. Default 100. */
  readonly count: number;
  /** Window length in milliseconds. Default 10 000. */
  readonly windowMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = Object.freeze({ count: 100, windowMs: 10_000 });

/** Waits, when needed, so that no window holds more than `count` sends. */
export class RateLimiter {
  private readonly times: number[] = [];
  private chain: Promise<void> = Promise.resolve();
  readonly options: RateLimitOptions;

  constructor(options: Partial<RateLimitOptions> = {}) {
    this.options = { ...DEFAULT_RATE_LIMIT, ...options };
  }

  /** Resolves when one more PDU may be sent; rejects if `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.chain.then(() => this.wait(signal));
    this.chain = turn.catch(() => undefined);
    return turn;
  }

  private async wait(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = performance.now(); // monotonic: a wall clock step must not stall sending
      while (this.times.length > 0 && this.times[0]! <= now - this.options.windowMs) this.times.shift();
      if (this.times.length < this.options.count) {
        this.times.push(now);
        return;
      }
      await sleep(this.times[0]! + this.options.windowMs - now, signal);
    }
  }
}

/** setTimeout as a promise that an AbortSignal can cut short (rejecting with its reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
