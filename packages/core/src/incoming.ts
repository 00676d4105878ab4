// The receive side every ControlTransport needs: each messages() iterator gets its own bounded
// queue, and a consumer that falls behind loses its oldest messages, never the transport's
// memory.
import type { IncomingMessage } from "./transport.js";

class BoundedQueue {
  readonly #items: IncomingMessage[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(readonly depth: number) {}

  /** Returns true when the oldest message had to be dropped to make room. */
  push(message: IncomingMessage): boolean {
    if (this.#closed) return false;
    const full = this.#items.length >= this.depth;
    if (full) this.#items.shift();
    this.#items.push(message);
    this.#wake?.();
    return full;
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

/**
 * Fans incoming messages out to every open `messages()` iterator of a transport.
 *
 * @example
 * readonly #incoming = new IncomingQueues(256);
 * messages(signal) { return this.#incoming.iterate(signal); }
 * // on receive:  this.#incoming.push(message);   on close:  this.#incoming.close();
 */
export class IncomingQueues {
  readonly #queues = new Set<BoundedQueue>();
  #closed = false;
  /** Messages dropped because a consumer fell `depth` messages behind, over all consumers. */
  dropped = 0;

  /** @param depth messages each consumer may have waiting before its oldest is dropped */
  constructor(readonly depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`queue depth must be a whole number of at least 1, not ${depth}`);
  }

  /** Open iterators. */
  get consumers(): number {
    return this.#queues.size;
  }

  /** Delivers `message` to every open iterator. */
  push(message: IncomingMessage): void {
    for (const queue of this.#queues) if (queue.push(message)) this.dropped++;
  }

  /** Messages from now on, until close() or `signal` aborts; ending the loop early releases it. */
  iterate(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    const queue = new BoundedQueue(this.depth);
    if (this.#closed || signal?.aborted) queue.close();
    else this.#queues.add(queue);
    const release = () => {
      queue.close();
      this.#queues.delete(queue);
    };
    signal?.addEventListener("abort", release, { once: true });
    return {
      [Symbol.asyncIterator]: () => {
        const it = queue.drain();
        return {
          next: () => it.next(),
          return: async (value?: unknown) => {
            release();
            signal?.removeEventListener("abort", release);
            return it.return(value as undefined);
          },
        };
      },
    };
  }

  /** Ends every iterator once its waiting messages are read; later iterators end at once. */
  close(): void {
    this.#closed = true;
    for (const queue of this.#queues) queue.close();
    this.#queues.clear();
  }
}
