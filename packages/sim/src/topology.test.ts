import { describe, expect, it } from "vitest";
import { SimRandom } from "./random.js";
import { buildTopology } from "./topology.js";

function hopsFrom0(links: readonly (readonly [number, number])[], n: number): number[] {
  const adj = Array.from({ length: n }, () => [] as number[]);
  for (const [a, b] of links) (adj[a]!.push(b), adj[b]!.push(a));
  const d = new Array(n).fill(Infinity);
  d[0] = 0;
  const q = [0];
  while (q.length) {
    const x = q.shift()!;
    for (const y of adj[x]!) if (d[y] === Infinity) (d[y] = d[x] + 1, q.push(y));
  }
  return d;
}

describe("buildTopology", () => {
  it("should chain a line so that node k is k hops from the gateway", () => {
    const t = buildTopology("line", 5, new SimRandom(1));
    expect(t.links).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
  });

  it("should put the gateway in the middle of a grid with eight neighbours inside", () => {
    const t = buildTopology("grid", 24, new SimRandom(1));
    expect(t.positions[0]).toEqual({ x: 20, y: 20 });
    expect(Math.max(...hopsFrom0(t.links, 25))).toBe(2);
  });

  it("should connect every station of a random layout, the same way for the same seed", () => {
    const a = buildTopology("random", 200, new SimRandom(7));
    const b = buildTopology("random", 200, new SimRandom(7));
    expect(a).toEqual(b);
    expect(hopsFrom0(a.links, 201).every((h) => Number.isFinite(h))).toBe(true);
  });

  it("should refuse an unknown kind and a non-positive count", () => {
    expect(() => buildTopology("ring" as never, 3, new SimRandom(1))).toThrow('unknown topology "ring" (grid, line or random)');
    expect(() => buildTopology("grid", 0, new SimRandom(1))).toThrow("node count must be a positive integer, got 0");
  });
});
