// A discrete-event scheduler: virtual milliseconds, events run in time order (ties in the order
// they were scheduled). Nothing sleeps; run() jumps from one event to the next.
import type { Timers } from "../link.js";

interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Virtual time for the simulated medium and every engine attached to it. */
export class Scheduler implements Timers {
  #now = 0;
  #seq = 0;
  #heap: SimEvent[] = [];

  /** Current virtual time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Runs `fn` at virtual time `at` (not before now). Returns a cancel function. */
  at(at: number, fn: () => void): () => void {
    const ev: SimEvent = { at: Math.max(at, this.#now), seq: this.#seq++, fn, cancelled: false };
    this.#push(ev);
    return () => {
      ev.cancelled = true;
    };
  }

  setTimer(ms: number, fn: () => void): () => void {
    return this.at(this.#now + Math.max(0, ms), fn);
  }

  /** Events still queued (cancelled ones included until they come due). */
  get pending(): number {
    return this.#heap.length;
  }

  /**
   * Runs events until none is left, `until` returns true, or virtual time would pass
   * `limitMs`. Returns the number of events run.
   */
  run(options: { until?: () => boolean; limitMs?: number } = {}): number {
    const limit = options.limitMs ?? Number.POSITIVE_INFINITY;
    let count = 0;
    while (this.#heap.length > 0) {
      if (options.until?.()) break;
      const top = this.#heap[0]!;
      if (top.at > limit) {
        this.#now = limit;
        break;
      }
      this.#pop();
      if (top.cancelled) continue;
      this.#now = top.at;
      top.fn();
      count++;
    }
    return count;
  }

  /** Runs every event due at or before `t`, then sets the clock to `t`. */
  runUntil(t: number): number {
    const count = this.run({ limitMs: t });
    if (t > this.#now) this.#now = t;
    return count;
  }

  #less(a: SimEvent, b: SimEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(ev: SimEvent): void {
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** A seeded PRNG (mulberry32): the same seed gives the same losses in every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
