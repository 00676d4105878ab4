// MissingChunks reports: what a receiver builds from its received-chunk set, and what a
// distributor reads back into chunk indices. Same rules as the node core (meshota_node.c
// build_missing): a bitmap window from the first missing chunk or up to 16 ranges, whichever
// covers more missing chunks; missing_total counts every missing chunk.
import { ChunkRangeSchema, create, MissingChunksSchema, type MissingChunks } from "@meshota/proto";

/** Bitmap bytes one report may carry (MissingChunks.bitmap max_size). */
export const MISSING_BITMAP_MAX = 200;
/** Ranges one report may carry (MissingChunks.ranges max_count). */
export const MISSING_RANGES_MAX = 16;

/** Builds the report of a receiver holding the chunks for which `has(i)` is true. */
export function buildMissing(sessionId: number, chunkCount: number, has: (index: number) => boolean): MissingChunks {
  let held = 0;
  let first = -1;
  for (let i = 0; i < chunkCount; i++) {
    if (has(i)) held++;
    else if (first < 0) first = i;
  }
  const report = create(MissingChunksSchema, { sessionId, missingTotal: chunkCount - held });
  if (first < 0) return report;
  const ranges: { first: number; count: number }[] = [];
  let rangeCover = 0;
  for (let i = first; i < chunkCount && ranges.length < MISSING_RANGES_MAX; ) {
    if (has(i)) {
      i++;
      continue;
    }
    const start = i;
    while (i < chunkCount && !has(i)) i++;
    ranges.push({ first: start, count: i - start });
    rangeCover += i - start;
  }
  const window = Math.min(chunkCount - first, MISSING_BITMAP_MAX * 8);
  let bitmapCover = 0;
  let last = 0;
  for (let k = 0; k < window; k++) {
    if (!has(first + k)) {
      bitmapCover++;
      last = k;
    }
  }
  const bitmapCost = 2 + (last >> 3) + 1 + 1 + varintLength(first);
  const rangeCost = ranges.reduce((sum, r) => sum + 4 + varintLength(r.first) + varintLength(r.count), 0);
  if (rangeCover > bitmapCover || (rangeCover === bitmapCover && rangeCost <= bitmapCost)) {
    report.ranges = ranges.map((r) => create(ChunkRangeSchema, r));
    return report;
  }
  const bitmap = new Uint8Array((last >> 3) + 1);
  for (let k = 0; k <= last; k++) if (!has(first + k)) bitmap[k >> 3]! |= 1 << (k & 7);
  report.baseIndex = first;
  report.bitmap = bitmap;
  return report;
}

/**
 * The chunk indices a report names (bitmap and ranges together), each below `chunkCount`.
 * Returns undefined when the report names an index at or past `chunkCount`.
 */
export function missingIndices(report: MissingChunks, chunkCount: number): Set<number> | undefined {
  const out = new Set<number>();
  for (let byte = 0; byte < report.bitmap.length; byte++) {
    const bits = report.bitmap[byte]!;
    if (bits === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if ((bits & (1 << bit)) === 0) continue;
      const index = report.baseIndex + byte * 8 + bit;
      if (index >= chunkCount) return undefined;
      out.add(index);
    }
  }
  for (const r of report.ranges) {
    if (r.count === 0) continue;
    if (r.first + r.count > chunkCount) return undefined;
    for (let i = r.first; i < r.first + r.count; i++) out.add(i);
  }
  return out;
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}
