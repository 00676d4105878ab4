// Where stations stand and who hears whom. Position 0 is the gateway (the controller's radio);
// the rest are the nodes. Two stations hear each other within `range` metres.
import type { SimRandom } from "./random.js";

export type TopologyKind = "grid" | "line" | "random";

/** A laid-out network. */
export interface Topology {
  readonly kind: TopologyKind;
  /** x, y in metres; index 0 is the gateway. */
  readonly positions: readonly { readonly x: number; readonly y: number }[];
  /** Undirected links as index pairs (i < j). */
  readonly links: readonly (readonly [number, number])[];
  /** Radio range in metres. */
  readonly range: number;
}

/** Lays out `nodes` nodes plus the gateway. `spacing` is the distance between neighbours. */
export function buildTopology(kind: TopologyKind, nodes: number, random: SimRandom, spacing = 10): Topology {
  if (!Number.isInteger(nodes) || nodes < 1) throw new RangeError(`node count must be a positive integer, got ${nodes}`);
  const count = nodes + 1;
  const positions: { x: number; y: number }[] = [];
  let range: number;
  switch (kind) {
    case "line":
      for (let i = 0; i < count; i++) positions.push({ x: i * spacing, y: 0 });
      range = spacing * 1.2;
      break;
    case "grid": {
      const cols = Math.ceil(Math.sqrt(count));
      for (let i = 0; i < count; i++) positions.push({ x: (i % cols) * spacing, y: Math.floor(i / cols) * spacing });
      // The gateway stands in the middle, so that the fewest hops reach the farthest node.
      const mid = Math.floor(Math.floor((count - 1) / cols) / 2) * cols + Math.floor(Math.min(cols, count) / 2);
      [positions[0], positions[mid]] = [positions[mid]!, positions[0]!];
      range = spacing * 1.5;
      break;
    }
    case "random": {
      // Mean degree about 6: area chosen so that a disc of the range holds ~7 stations.
      range = spacing * 1.5;
      const side = Math.sqrt((count * Math.PI * range * range) / 7);
      positions.push({ x: side / 2, y: side / 2 });
      for (let i = 1; i < count; i++) positions.push({ x: random.float() * side, y: random.float() * side });
      break;
    }
    default:
      throw new RangeError(`unknown topology "${String(kind)}" (grid, line or random)`);
  }
  const links: [number, number][] = [];
  const near = (a: number, b: number) => Math.hypot(positions[a]!.x - positions[b]!.x, positions[a]!.y - positions[b]!.y) <= range;
  for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) if (near(i, j)) links.push([i, j]);
  // A random layout may leave islands: join each to its nearest reachable station.
  if (kind === "random") connectIslands(positions, links);
  return { kind, positions, links, range };
}

function connectIslands(positions: readonly { x: number; y: number }[], links: [number, number][]): void {
  const n = positions.length;
  for (;;) {
    const adj = Array.from({ length: n }, () => [] as number[]);
    for (const [a, b] of links) {
      adj[a]!.push(b);
      adj[b]!.push(a);
    }
    const seen = new Set<number>([0]);
    const stack = [0];
    while (stack.length) for (const m of adj[stack.pop()!]!) if (!seen.has(m)) (seen.add(m), stack.push(m));
    if (seen.size === n) return;
    let best: [number, number, number] | undefined;
    for (const a of seen) {
      for (let b = 0; b < n; b++) {
        if (seen.has(b)) continue;
        const d = Math.hypot(positions[a]!.x - positions[b]!.x, positions[a]!.y - positions[b]!.y);
        if (!best || d < best[2]) best = [a, b, d];
      }
    }
    links.push(best![0] < best![1] ? [best![0], best![1]] : [best![1], best![0]]);
  }
}
