import { describe, expect, it } from "vitest";
import { IncomingQueues } from "./incoming.js";
import type { IncomingMessage } from "./transport.js";

const msg = (n: number): IncomingMessage => ({ src: n, dst: 1, frame: { opcode: 5, params: new Uint8Array([n]) } });

async function take(it: AsyncIterator<IncomingMessage>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value.src);
  }
  return out;
}

describe("IncomingQueues", () => {
  it("should give every iterator every message", async () => {
    const q = new IncomingQueues(8);
    const a = q.iterate()[Symbol.asyncIterator]();
    const b = q.iterate()[Symbol.asyncIterator]();
    [1, 2, 3].forEach((n) => q.push(msg(n)));
    expect(await take(a, 3)).toEqual([1, 2, 3]);
    expect(await take(b, 3)).toEqual([1, 2, 3]);
    expect(q.consumers).toBe(2);
  });

  it("should drop the oldest messages of a consumer that falls behind, and count them", async () => {
    const q = new IncomingQueues(2);
    const a = q.iterate()[Symbol.asyncIterator]();
    [1, 2, 3, 4].forEach((n) => q.push(msg(n)));
    expect(q.dropped).toBe(2);
    expect(await take(a, 2)).toEqual([3, 4]);
  });

  it("should end an iterator when its signal aborts and release its queue", async () => {
    const q = new IncomingQueues(4);
    const ac = new AbortController();
    const a = q.iterate(ac.signal)[Symbol.asyncIterator]();
    const pending = a.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(q.consumers).toBe(0);
  });

  it("should let iterators read what is waiting after close, then end; later iterators end at once", async () => {
    const q = new IncomingQueues(4);
    const a = q.iterate()[Symbol.asyncIterator]();
    q.push(msg(7));
    q.close();
    expect(await take(a, 5)).toEqual([7]);
    expect(await q.iterate()[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });

  it("should release a consumer that leaves a for-await loop early", async () => {
    const q = new IncomingQueues(4);
    q.push(msg(1));
    const loop = (async () => {
      for await (const m of q.iterate()) return m.src;
      return -1;
    })();
    q.push(msg(9));
    expect(await loop).toBe(9);
    expect(q.consumers).toBe(0);
  });

  it("should refuse a depth that is not a whole number of at least 1", () => {
    expect(() => new IncomingQueues(0)).toThrow("queue depth must be a whole number of at least 1, not 0");
    expect(() => new IncomingQueues(Number.NaN)).toThrow(RangeError);
  });
});
