// Seeded randomness for the simulator. Every source of chance (loss, jitter, topology) draws
// from its own stream forked by name, so adding draws in one part of the model does not shift
// the numbers another part sees.
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/** FNV-1a of a string: turns a stream name into a seed offset. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A deterministic random stream. */
export class SimRandom {
  readonly seed: number;
  readonly #rng: RandomGenerator;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    this.#rng = xoroshiro128plus(this.seed);
  }

  /** An independent stream for `name`, the same for the same seed and name. */
  fork(name: string): SimRandom {
    return new SimRandom((Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) ^ hashName(name)) >>> 0);
  }

  /** Integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.#rng, from, to);
  }

  /** Float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return uniformInt(this.#rng, 0, 0xffffffff) / 0x100000000;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  /** A uniformly chosen element. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("cannot pick from an empty list");
    return items[this.int(0, items.length - 1)]!;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
