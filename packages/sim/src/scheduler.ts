// The discrete-event core: a queue of actions ordered by virtual time, then by insertion order,
// so that a run is the same for the same inputs. Actions may be async (a node running in the
// emulator answers through a pipe); the scheduler awaits each one and lets every promise
// continuation settle before it takes the next, so code written with async/await (the
// distributor) runs in virtual time as it would in real time.
import { CancelledError } from "@meshota/core";
import { Heap } from "heap-js";

/** One scheduled action. */
interface SimEvent {
  at: number;
  seq: number;
  label: string;
  action: () => void | Promise<void>;
  cancelled: boolean;
}

/** Handle of a scheduled action. */
export interface EventHandle {
  /** Virtual time it fires at. */
  readonly at: number;
  cancel(): void;
}

/** Options of a scheduler. */
export interface SchedulerOptions {
  /** Keep a log of every fired event's time and label (for determinism checks). */
  log: boolean;
}

/** The Clock shape of @meshota/core: the distributor runs on the scheduler through it. */
export interface SimClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Lets the microtask queue drain: one macrotask turn runs every ready continuation. */
const turn: () => Promise<void> = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Discrete-event scheduler in virtual milliseconds. It is also a Clock for the distributor. */
export class Scheduler implements SimClock {
  #now = 0;
  #seq = 0;
  #fired = 0;
  readonly #queue = new Heap<SimEvent>((a, b) => a.at - b.at || a.seq - b.seq);
  readonly #log: string[] | undefined;
  #running = false;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.#log = options.log ? [] : undefined;
  }

  /** Current virtual time in ms. */
  now(): number {
    return this.#now;
  }

  /** Number of events fired so far. */
  get fired(): number {
    return this.#fired;
  }

  /** Number of events waiting. */
  get pending(): number {
    return this.#queue.size();
  }

  /** The event log ("<time> <label>" per fired event), when enabled. */
  get log(): readonly string[] {
    return this.#log ?? [];
  }

  /** Runs `action` at virtual time `at` (not before now). */
  at(at: number, label: string, action: () => void | Promise<void>): EventHandle {
    if (!Number.isFinite(at)) throw new RangeError(`event time must be finite, got ${at}`);
    const event: SimEvent = { at: Math.max(at, this.#now), seq: this.#seq++, label, action, cancelled: false };
    this.#queue.push(event);
    return {
      at: event.at,
      cancel: () => {
        event.cancelled = true;
      },
    };
  }

  /** Runs `action` after `delay` ms. */
  after(delay: number, label: string, action: () => void | Promise<void>): EventHandle {
    return this.at(this.#now + Math.max(0, delay), label, action);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const reason = () => (CancelledError.isInstance(signal?.reason) ? signal!.reason : new CancelledError("cancelled", { cause: signal?.reason }));
      if (signal?.aborted) return reject(reason());
      const onAbort = () => {
        handle.cancel();
        reject(reason());
      };
      const handle = this.after(ms, "sleep", () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Fires events in order until `done()` is true after an event, the queue is empty, or
   * virtual time would pass `until`. Returns the reason it stopped.
   */
  async run(options: { until?: number; done?: () => boolean } = {}): Promise<"done" | "idle" | "deadline"> {
    if (this.#running) throw new Error("scheduler is already running");
    this.#running = true;
    const until = options.until ?? Number.POSITIVE_INFINITY;
    try {
      await turn();
      for (;;) {
        if (options.done?.()) return "done";
        const next = this.#queue.peek();
        if (!next) return "idle";
        if (next.at > until) {
          this.#now = until;
          return "deadline";
        }
        this.#queue.pop();
        if (next.cancelled) continue;
        this.#now = next.at;
        this.#fired++;
        this.#log?.push(`${next.at.toFixed(3)} ${next.label}`);
        const result = next.action();
        if (result) await result;
        await turn();
      }
    } finally {
      this.#running = false;
    }
  }

  /** Runs until `promise` settles and returns its value; throws when the queue runs dry first. */
  async runUntilSettled<T>(promise: Promise<T>, until = Number.POSITIVE_INFINITY): Promise<T> {
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
      },
    );
    const why = await this.run({ until, done: () => state !== "pending" });
    if (state === "done") return value as T;
    if (state === "failed") throw error;
    throw new Error(why === "idle" ? `simulation ran out of events at ${this.#now} ms before the awaited work finished` : `simulation reached its time limit of ${until} ms`);
  }
}
