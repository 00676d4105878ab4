import { CancelledError } from "@meshota/core";
import { describe, expect, it } from "vitest";
import { SimRandom } from "./random.js";
import { Scheduler } from "./scheduler.js";

describe("Scheduler", () => {
  it("should fire events in time order, then insertion order", async () => {
    const s = new Scheduler();
    const seen: string[] = [];
    s.at(20, "b", () => void seen.push("b"));
    s.at(10, "a", () => void seen.push("a"));
    s.at(20, "c", () => void seen.push("c"));
    expect(await s.run()).toBe("idle");
    expect(seen).toEqual(["a", "b", "c"]);
    expect(s.now()).toBe(20);
  });

  it("should run async code written with sleep in virtual time", async () => {
    const s = new Scheduler();
    const work = (async () => {
      const t0 = s.now();
      await s.sleep(1000);
      await s.sleep(500);
      return s.now() - t0;
    })();
    expect(await s.runUntilSettled(work)).toBe(1500);
  });

  it("should reject a sleep when its signal aborts", async () => {
    const s = new Scheduler();
    const ac = new AbortController();
    const slept = s.sleep(1000, ac.signal);
    s.after(10, "abort", () => ac.abort());
    const error = await s.runUntilSettled(slept.catch((e: unknown) => e));
    expect(CancelledError.isInstance(error)).toBe(true);
    expect(s.now()).toBe(10);
  });

  it("should stop at a deadline and say so", async () => {
    const s = new Scheduler();
    s.at(5000, "late", () => undefined);
    expect(await s.run({ until: 1000 })).toBe("deadline");
    expect(s.now()).toBe(1000);
  });

  it("should report a promise that can never settle", async () => {
    const s = new Scheduler();
    await expect(s.runUntilSettled(new Promise(() => undefined))).rejects.toThrow("simulation ran out of events at 0 ms before the awaited work finished");
  });
});

describe("SimRandom", () => {
  it("should repeat for a seed and differ between forks", () => {
    const a = new SimRandom(42);
    const b = new SimRandom(42);
    const xs = Array.from({ length: 5 }, () => a.int(0, 1000));
    expect(Array.from({ length: 5 }, () => b.int(0, 1000))).toEqual(xs);
    const f1 = new SimRandom(42).fork("mesh");
    const f2 = new SimRandom(42).fork("ip");
    expect(Array.from({ length: 5 }, () => f1.int(0, 1000))).not.toEqual(Array.from({ length: 5 }, () => f2.int(0, 1000)));
  });
});
