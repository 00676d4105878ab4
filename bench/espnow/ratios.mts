// ESP-NOW distribution against its lower bounds, on the simulated medium (virtual time, seeded
// loss, 214 kbit/s effective: Espressif's open-air figure). For 1, 10, 50 and 100 receivers at
// 0, 10 and 30 % loss, one 256 KiB image in ESP-NOW v1 frames (232-byte chunks):
//   data frames / minimum    broadcast frames the distributor sent / chunk count
//   all frames / minimum     every frame on air (reports and unicast retries too) / chunk count
//   time / link minimum      completion time / airtime of every chunk frame sent once
//   uncoded bound            expected data frames / minimum of ANY scheme that re-broadcasts
//                            plain chunks until every receiver has each one: per chunk the
//                            maximum over n receivers of a geometric count,
//                            E = sum_k>=0 (1 - (1 - p^k)^n)
// All runs in one process, side by side.
//
//   pnpm exec tsx bench/espnow/ratios.mts
import { BEARER_FRAME_MAX, encodeFrame } from "../../packages/proto/src/index.js";
import { buildScenario, linkLimitedMs } from "../../packages/transport-espnow/src/sim.js";

const IMAGE = 256 * 1024;
const RECEIVERS = [1, 10, 50, 100];
const LOSSES = [0, 0.1, 0.3];

function chunkFrameBytes(len: number): number {
  return encodeFrame({ body: { case: "chunk", value: { sessionId: 0x5e55, index: 1000, data: new Uint8Array(len) } } }, BEARER_FRAME_MAX.espnowV1).length;
}

function uncodedBound(n: number, p: number): number {
  if (p === 0) return 1;
  let sum = 0;
  for (let k = 0; k < 200; k++) sum += 1 - (1 - p ** k) ** n;
  return sum;
}

const rows: string[][] = [["receivers", "loss", "rounds", "data frames / min", "uncoded bound", "all frames / min", "time / link min", "time (s)", "ok"]];
for (const receivers of RECEIVERS) {
  for (const loss of LOSSES) {
    const sc = buildScenario({ receivers, imageSize: IMAGE, loss, seed: 1000 + receivers + Math.round(loss * 100) });
    const r = sc.run();
    const min = r.chunkCount;
    const linkMs = linkLimitedMs(sc.medium, IMAGE, r.chunkSize, chunkFrameBytes);
    const dataFrames = r.sent.chunks + r.sent.infos + r.sent.done;
    const ok = r.targets.filter((t) => t.ok).length;
    rows.push([
      String(receivers),
      `${loss * 100} %`,
      String(r.rounds),
      (dataFrames / min).toFixed(3),
      uncodedBound(receivers, loss).toFixed(3),
      (sc.medium.stats.framesOnAir / min).toFixed(3),
      (r.durationMs / linkMs).toFixed(3),
      (r.durationMs / 1000).toFixed(1),
      `${ok}/${receivers}`,
    ]);
  }
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
console.log(`image ${IMAGE} bytes, ${Math.ceil(IMAGE / 232)} chunks of 232 bytes, 214 kbit/s effective`);
for (const [i, row] of rows.entries()) {
  console.log(`| ${row.map((cell, c) => cell.padStart(widths[c]!)).join(" | ")} |`);
  if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
}
