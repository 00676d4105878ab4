import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RateLimiter } from "./rate-limit.js";

describe("RateLimiter", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should let `count` PDUs through per window and hold the next until the oldest leaves it", async () => {
    const limiter = new RateLimiter({ count: 3, windowMs: 1000 });
    const times: number[] = [];
    const start = Date.now();
    const takes = Array.from({ length: 7 }, () => limiter.take().then(() => times.push(Date.now() - start)));
    await vi.advanceTimersByTimeAsync(2500);
    await Promise.all(takes);
    expect(times).toEqual([0, 0, 0, 1000, 1000, 1000, 2000]);
  });

  it("should default to 100 PDUs in 10 seconds", () => {
    expect(new RateLimiter().options).toEqual({ count: 100, windowMs: 10_000 });
  });

  it("should give up a wait when its signal aborts, without blocking the next caller", async () => {
    const limiter = new RateLimiter({ count: 1, windowMs: 1000 });
    await limiter.take();
    const ac = new AbortController();
    const waiting = limiter.take(ac.signal).catch((e: unknown) => e);
    ac.abort(new Error("stop"));
    expect(((await waiting) as Error).message).toBe("stop");
    const next = limiter.take();
    await vi.advanceTimersByTimeAsync(1000);
    await expect(next).resolves.toBeUndefined();
  });
});
