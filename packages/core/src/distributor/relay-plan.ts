// Relay planning: updated nodes pass the image on to their neighbours (ESP-NOW or their
// SoftAP), so the distributor sends the whole image to a few roots only. A greedy cover:
// the target with the most unserved neighbours becomes a root, and every served node serves
// its own unserved neighbours in turn (breadth first), at most maxPerRelay each.
import type { MeshAddress } from "../transport.js";

/** A relay tree over the campaign's targets. */
export interface RelayPlan {
  /** Targets the distributor updates itself. */
  readonly roots: readonly MeshAddress[];
  /** For each relay, the targets it serves. */
  readonly children: ReadonlyMap<MeshAddress, readonly MeshAddress[]>;
  /** For each relayed target, its relay. */
  readonly parent: ReadonlyMap<MeshAddress, MeshAddress>;
  /** Hops from a root (roots are 0). */
  readonly depth: ReadonlyMap<MeshAddress, number>;
}

/** Options of planRelays. */
export interface RelayPlanOptions {
  /** Most targets one relay serves (RelayStart holds at most 32; default 32). */
  readonly maxPerRelay?: number;
  /** Deepest relay chain (default 4): a long chain serialises the update. */
  readonly maxDepth?: number;
  /** Targets that cannot relay (no ESP-NOW, battery powered); they are only served. */
  readonly noRelay?: ReadonlySet<MeshAddress>;
}

/**
 * Plans relays. `neighbours` lists, per node, the nodes it can reach on the data plane
 * (symmetric links are not assumed). Targets without neighbours become roots.
 */
export function planRelays(
  targets: readonly MeshAddress[],
  neighbours: ReadonlyMap<MeshAddress, readonly MeshAddress[]>,
  options: RelayPlanOptions = {}
): RelayPlan {
  const maxPerRelay = Math.min(32, options.maxPerRelay ?? 32);
  const maxDepth = options.maxDepth ?? 4;
  const wanted = new Set(targets);
  const unserved = new Set(targets);
  const roots: MeshAddress[] = [];
  const children = new Map<MeshAddress, MeshAddress[]>();
  const parent = new Map<MeshAddress, MeshAddress>();
  const depth = new Map<MeshAddress, number>();
  const canRelay = (a: MeshAddress) => !options.noRelay?.has(a);
  const reach = (a: MeshAddress) =>
    (neighbours.get(a) ?? []).filter((n) => n !== a && wanted.has(n) && unserved.has(n));

  while (unserved.size > 0) {
    let best: MeshAddress | undefined;
    let bestScore = -1;
    for (const a of unserved) {
      const score = canRelay(a) ? reach(a).length : 0;
      if (score > bestScore || (score === bestScore && a < best!)) {
        best = a;
        bestScore = score;
      }
    }
    const root = best!;
    unserved.delete(root);
    roots.push(root);
    depth.set(root, 0);
    const queue = [root];
    while (queue.length > 0) {
      const relay = queue.shift()!;
      const d = depth.get(relay)!;
      if (!canRelay(relay) || d >= maxDepth) continue;
      const kids = reach(relay)
        .sort((a, b) => a - b)
        .slice(0, maxPerRelay);
      if (kids.length === 0) continue;
      children.set(relay, kids);
      for (const k of kids) {
        unserved.delete(k);
        parent.set(k, relay);
        depth.set(k, d + 1);
        queue.push(k);
      }
    }
  }
  return { roots, children, parent, depth };
}
