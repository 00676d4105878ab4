// A counting semaphore with FIFO turns: the campaign's caps on control requests awaiting a
// reply and on mesh transfers running at once.
import { CancelledError } from "./errors.js";

/**
 * Throws a RangeError naming `what` unless `n` is a whole number of at least 1 (NaN, a
 * mistyped command-line value, would otherwise lift a limit altogether).
 */
export function checkLimit(n: number, what: string): number {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`${what} ${n} is not a whole number of at least 1`);
  return n;
}

/** At most `max` holders at once; others wait their turn in arrival order. */
export class Slots {
  readonly max: number;
  #used = 0;
  readonly #turns: (() => void)[] = [];

  constructor(max: number, what = "slots") {
    this.max = checkLimit(max, what);
  }

  /** Slots held right now. */
  get used(): number {
    return this.#used;
  }

  /** Waits for a slot; rejects with CancelledError when `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new CancelledError("cancelled", { cause: signal.reason });
    if (this.#used < this.max) {
      this.#used++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#turns.splice(this.#turns.indexOf(turn), 1);
        reject(new CancelledError("cancelled", { cause: signal?.reason }));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#turns.push(turn);
    });
  }

  /** Hands the slot to the next in line, or frees it. */
  release(): void {
    const next = this.#turns.shift();
    if (next) next();
    else if (this.#used > 0) this.#used--;
  }
}
