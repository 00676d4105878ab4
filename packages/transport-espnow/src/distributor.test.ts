import { createHash } from "node:crypto";
import { ChunkRangeSchema, create, decodeFrame, encodeFrame, ErrorCode, MissingChunksSchema } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { espnowChunkSize, startDistribution, type DistributionResult } from "./distributor.js";
import { shareLink } from "./link.js";
import { macToString } from "./mac.js";
import { EspNowReceiver } from "./receiver.js";
import { buildScenario, simMac, testImage } from "./sim/scenario.js";
import { EspNowMedium } from "./sim/medium.js";
import { Scheduler } from "./sim/scheduler.js";

const IMAGE_SIZE = 64 * 1024;
const CHUNKS_V1 = Math.ceil(IMAGE_SIZE / 232);

function chunkIndexOf(payload: Uint8Array): number | undefined {
  const f = decodeFrame(payload);
  return f.body.case === "chunk" ? f.body.value.index : undefined;
}

describe("espnowChunkSize", () => {
  it("should fill a v1 frame with 232 bytes and cap v2 at the 1440-byte chunk bound", () => {
    expect(espnowChunkSize(250)).toBe(232);
    expect(espnowChunkSize(1470)).toBe(1440);
    expect(() => espnowChunkSize(1471)).toThrow("ESP-NOW payload must be 19-1470 bytes, got 1471");
  });
});

describe("distribution over the simulated medium", () => {
  it.each([
    [0, 1],
    [0.1, 11],
    [0.3, 12],
  ])("should deliver a byte-exact image to 50 receivers at %s loss", (loss, seed) => {
    const sc = buildScenario({ receivers: 50, imageSize: IMAGE_SIZE, loss, seed });
    const result = sc.run();
    expect(result.chunkCount).toBe(CHUNKS_V1);
    expect(result.targets.filter((t) => !t.ok)).toEqual([]);
    for (const r of sc.receivers) {
      expect(r.state).toBe("done");
      expect(Buffer.compare(Buffer.from(r.image()), Buffer.from(sc.image))).toBe(0);
    }
    if (loss === 0) {
      // One pass, one report round, nothing re-sent.
      expect(result.sent.chunks).toBe(CHUNKS_V1);
      expect(result.rounds).toBe(1);
      expect(result.reports).toBe(50);
    } else {
      expect(result.sent.chunks).toBeGreaterThan(CHUNKS_V1);
      expect(result.rounds).toBeGreaterThan(1);
    }
  });

  it("should re-send exactly the one chunk a single receiver lost", () => {
    const sc = buildScenario({ receivers: 5, imageSize: IMAGE_SIZE, loss: 0 });
    const victim = sc.stations[2]!;
    let dropped = 0;
    sc.medium.dropRule = (_from, to, payload) => {
      if (to === victim && dropped === 0 && chunkIndexOf(payload) === 17) {
        dropped++;
        return true;
      }
      return false;
    };
    const result = sc.run();
    expect(dropped).toBe(1);
    expect(result.targets.every((t) => t.ok)).toBe(true);
    expect(result.sent.chunks).toBe(CHUNKS_V1 + 1);
    expect(result.rounds).toBe(2);
    expect(sc.receivers[2]!.image()).toEqual(sc.image);
  });

  it.each(["info", "missing"])("should survive losing the only %s frame of a round", (kind) => {
    const sc = buildScenario({ receivers: 3, imageSize: 4096, loss: 0 });
    let dropped = 0;
    sc.medium.dropRule = (_from, to, payload) => {
      const f = decodeFrame(payload);
      const hit = kind === "info" ? f.body.case === "info" && f.body.value.round === 1 && to === sc.stations[0] : f.body.case === "missing";
      if (hit && dropped === 0) {
        dropped++;
        return true;
      }
      return false;
    };
    // Receiver 0 also loses chunk 3 so that it has something to report.
    const rule = sc.medium.dropRule;
    let chunkDropped = false;
    sc.medium.dropRule = (from, to, payload) => {
      if (!chunkDropped && to === sc.stations[0] && chunkIndexOf(payload) === 3) return (chunkDropped = true);
      return rule(from, to, payload);
    };
    const result = sc.run();
    expect(dropped).toBe(1);
    expect(result.targets.every((t) => t.ok)).toBe(true);
    expect(sc.receivers[0]!.image()).toEqual(sc.image);
    // A lost broadcast request is repeated by unicast within the same round; a lost report
    // is retried by the radio. Either way chunk 3 goes out in round 2 and nothing else.
    expect(result.rounds).toBe(2);
    expect(result.sent.requests).toBe(kind === "info" ? 1 : 0);
    expect(result.sent.chunks).toBe(Math.ceil(4096 / 232) + 1);
  });

  it("should keep chunks a receiver hears before its first TransferInfo", () => {
    const sc = buildScenario({ receivers: 3, imageSize: IMAGE_SIZE, loss: 0 });
    sc.medium.dropRule = (_from, to, payload) => {
      const body = decodeFrame(payload).body;
      return to === sc.stations[1] && body.case === "info" && body.value.round === 0;
    };
    const result = sc.run();
    expect(result.targets.every((t) => t.ok)).toBe(true);
    expect(result.sent.chunks).toBe(CHUNKS_V1);
  });

  it("should finish a receiver that joins after round 0", () => {
    const sc = buildScenario({ receivers: 10, imageSize: IMAGE_SIZE, loss: 0.1, seed: 3 });
    const late = sc.stations[9]!;
    late.powered = false;
    sc.scheduler.at(1500, () => (late.powered = true)); // round 0 lasts about 2.7 s
    const result = sc.run();
    expect(result.targets.every((t) => t.ok)).toBe(true);
    expect(sc.receivers[9]!.image()).toEqual(sc.image);
    // It missed about half of round 0 and finished in a repair round.
    expect(result.targets[9]!.round).toBeGreaterThan(1);
  });

  it("should report a receiver on another channel as WRONG_CHANNEL and finish the others", () => {
    const sc = buildScenario({ receivers: 4, imageSize: 8192, loss: 0, distribution: { silentRounds: 3 } });
    sc.stations[1]!.channel = 11;
    const result = sc.run();
    const lost = result.targets.find((t) => t.mac === macToString(simMac(2)))!;
    expect(lost).toMatchObject({ ok: false, error: ErrorCode.WRONG_CHANNEL, reason: "never heard a report in 3 rounds: probably on another channel", round: 3 });
    expect(result.targets.filter((t) => t.ok)).toHaveLength(3);
    expect(result.rounds).toBe(3);
    // The receiver itself gives up by its own timeout with the same reason.
    sc.scheduler.run();
    expect(sc.receivers[1]!.state).toBe("failed");
    expect(sc.receivers[1]!.error).toBe(ErrorCode.WRONG_CHANNEL);
  });

  it("should report a receiver that went silent mid-transfer as TIMEOUT", () => {
    const sc = buildScenario({ receivers: 3, imageSize: IMAGE_SIZE, loss: 0.1, seed: 5, distribution: { silentRounds: 2 } });
    const gone = sc.stations[0]!;
    sc.scheduler.at(2900, () => (gone.powered = false)); // after round 1's report
    const result = sc.run();
    expect(result.targets[0]).toMatchObject({ ok: false, error: ErrorCode.TIMEOUT, reason: "no report for 2 rounds in a row" });
    expect(result.targets.slice(1).every((t) => t.ok)).toBe(true);
  });

  it("should stop after maxRounds with a clear reason when a link stays too lossy", () => {
    const sc = buildScenario({ receivers: 2, imageSize: 16384, loss: 0, distribution: { maxRounds: 4, silentRounds: 10 } });
    sc.medium.setLink(sc.distributorStation.mac, sc.stations[0]!.mac, { loss: 0.97 }, false);
    const result = sc.run();
    expect(result.rounds).toBe(4);
    expect(result.targets[0]).toMatchObject({ ok: false, error: ErrorCode.TIMEOUT, reason: "still incomplete after 4 repair rounds" });
    expect(result.targets[1]!.ok).toBe(true);
  });

  it("should pass on a receiver's own failure (image hash mismatch)", () => {
    const sc = buildScenario({ receivers: 2, imageSize: 4096, loss: 0 });
    const scheduler = sc.scheduler;
    const st = sc.medium.addStation({ mac: simMac(99), channel: 6 });
    const wrong = new EspNowReceiver(st, scheduler, { sessionId: sc.sessionId, imageSize: 4096, imageSha256: new Uint8Array(32), distributorMac: sc.distributorStation.mac, maxChunkSize: 1440 });
    let result: DistributionResult | undefined;
    startDistribution(sc.distributorStation, scheduler, { sessionId: sc.sessionId, image: sc.image, targets: [...sc.stations.map((s) => s.mac), st.mac] }, (r) => (result = r));
    scheduler.run({ until: () => result !== undefined });
    expect(wrong.error).toBe(ErrorCode.HASH_MISMATCH);
    expect(result!.targets[2]).toMatchObject({ ok: false, error: ErrorCode.HASH_MISMATCH, reason: "the target gave up: HASH_MISMATCH" });
  });

  it("should use 1440-byte chunks with ESP-NOW v2 receivers", () => {
    const sc = buildScenario({ receivers: 5, imageSize: IMAGE_SIZE, loss: 0.1, maxPayload: 1470 });
    const result = sc.run();
    expect(result.chunkSize).toBe(1440);
    expect(result.chunkCount).toBe(Math.ceil(IMAGE_SIZE / 1440));
    expect(result.targets.every((t) => t.ok)).toBe(true);
  });

  it("should give up, with the reason, on a target whose reports name chunks past the end", () => {
    const sc = buildScenario({ receivers: 2, imageSize: 4096, loss: 0, distribution: { silentRounds: 3, maxRounds: 50 } });
    const chunkCount = Math.ceil(4096 / 232);
    // A target that cut the image in smaller chunks: it always misses chunks 18-19 of its own 20.
    const odd = sc.medium.addStation({ mac: simMac(50), channel: 6 });
    let asked = 0;
    odd.onReceive((_src, payload) => {
      const body = decodeFrame(payload).body;
      if (body.case !== "info" || body.value.round === 0) return;
      asked++;
      const missing = create(MissingChunksSchema, { sessionId: sc.sessionId, ranges: [create(ChunkRangeSchema, { first: chunkCount, count: 2 })], missingTotal: 2 });
      odd.send(sc.distributorStation.mac, encodeFrame({ body: { case: "missing", value: missing } }, 250));
    });
    let result: DistributionResult | undefined;
    startDistribution(sc.distributorStation, sc.scheduler, { sessionId: sc.sessionId, image: sc.image, targets: [...sc.stations.map((st) => st.mac), odd.mac], silentRounds: 3 }, (r) => (result = r));
    sc.scheduler.run({ until: () => result !== undefined });
    expect(result!.targets.map((t) => t.ok)).toEqual([true, true, false]);
    expect(result!.targets[2]).toMatchObject({ error: ErrorCode.CHUNK_OUT_OF_RANGE, reason: `its reports name chunks past the last of ${chunkCount}: another chunk size or image?`, round: 3 });
    expect(result!.rounds).toBe(3);
    expect(asked).toBeGreaterThanOrEqual(3);
    expect(result!.ignored).toBe(asked);
    expect(result!.sent.chunks).toBe(chunkCount);
  });

  it("should ignore reports from unknown stations and of other sessions", () => {
    const sc = buildScenario({ receivers: 1, imageSize: 2048, loss: 0 });
    const stranger = sc.medium.addStation({ mac: simMac(77), channel: 6 });
    new EspNowReceiver(stranger, sc.scheduler, { sessionId: sc.sessionId, imageSize: 2048, imageSha256: new Uint8Array(32), distributorMac: sc.distributorStation.mac, maxChunkSize: 1440 });
    const result = sc.run();
    expect(result.targets).toHaveLength(1);
    expect(result.targets[0]!.ok).toBe(true);
    expect(result.ignored).toBe(1);
  });
});

describe("simulator", () => {
  function fingerprint(seed: number) {
    const sc = buildScenario({ receivers: 20, imageSize: 16 * 1024, loss: 0.3, seed });
    const r = sc.run();
    return { rounds: r.rounds, sent: r.sent, reports: r.reports, durationMs: r.durationMs, frames: sc.medium.stats.framesOnAir, airtimeMs: sc.medium.stats.airtimeMs, ok: r.targets.filter((t) => t.ok).length };
  }

  it("should run a scenario the same way twice for one seed, and another way for another seed", () => {
    const a = fingerprint(21);
    expect(a.ok).toBe(20);
    expect(fingerprint(21)).toEqual(a);
    expect(fingerprint(22)).not.toEqual(a);
  });

  it("should finish one receiver at 30 % loss", () => {
    const sc = buildScenario({ receivers: 1, imageSize: IMAGE_SIZE, loss: 0.3, seed: 4 });
    const result = sc.run();
    expect(result.targets).toHaveLength(1);
    expect(result.targets[0]!.ok).toBe(true);
    expect(sc.receivers[0]!.image()).toEqual(sc.image);
    expect(result.rounds).toBeGreaterThan(1);
  });

  it("should report a target whose reports never reach the distributor (100 % loss one way), and finish the rest", () => {
    const sc = buildScenario({ receivers: 3, imageSize: 4096, loss: 0, distribution: { silentRounds: 3 } });
    sc.medium.setLink(sc.stations[0]!.mac, sc.distributorStation.mac, { loss: 1 }, false);
    const result = sc.run();
    expect(result.targets.map((t) => [t.ok, t.error])).toEqual([
      [false, ErrorCode.WRONG_CHANNEL],
      [true, ErrorCode.NONE],
      [true, ErrorCode.NONE],
    ]);
    expect(result.rounds).toBe(3);
    // It holds the image all the same: its own verdict reaches the controller over the mesh.
    expect(sc.receivers[0]!.state).toBe("done");
  });
});

describe("relay hop", () => {
  it("should have an updated receiver re-distribute to targets out of the first distributor's range", () => {
    const scheduler = new Scheduler();
    const medium = new EspNowMedium(scheduler, { seed: 9, defaultLoss: 0.1, rangeM: 100 });
    const image = testImage(32 * 1024);
    const sha = new Uint8Array(createHash("sha256").update(image).digest());
    const sessionId = 42;
    const origin = medium.addStation({ mac: simMac(0), channel: 1, position: { x: 0, y: 0 } });
    const near = [1, 2, 3].map((i) => medium.addStation({ mac: simMac(i), channel: 1, position: { x: 50, y: i } }));
    const relay = medium.addStation({ mac: simMac(10), channel: 1, position: { x: 90, y: 0 } });
    const far = [11, 12, 13].map((i) => medium.addStation({ mac: simMac(i), channel: 1, position: { x: 170, y: i } }));
    for (const f of far) expect(medium.hears(origin, f)).toBe(false);
    const session = (distributorMac: Uint8Array) => ({ sessionId, imageSize: image.length, imageSha256: sha, distributorMac, maxChunkSize: 1440 });
    const nearRx = near.map((s) => new EspNowReceiver(s, scheduler, session(origin.mac)));
    const farRx = far.map((s) => new EspNowReceiver(s, scheduler, session(relay.mac), { receiveTimeoutMs: 120_000 }));
    const [relayRxLink, relayTxLink] = shareLink(relay, 2) as [typeof relay, typeof relay];
    const relayRx = new EspNowReceiver(relayRxLink, scheduler, session(origin.mac));
    let second: DistributionResult | undefined;
    relayRx.onFinished((r) => {
      expect(r.state).toBe("done");
      // The relay serves the image it received and verified.
      startDistribution(relayTxLink, scheduler, { sessionId, image: r.image(), targets: far.map((s) => s.mac) }, (res) => (second = res));
    });
    let first: DistributionResult | undefined;
    startDistribution(origin, scheduler, { sessionId, image, targets: [...near, relay].map((s) => s.mac) }, (res) => (first = res));
    scheduler.run({ until: () => first !== undefined && second !== undefined });
    expect(first!.targets.every((t) => t.ok)).toBe(true);
    expect(second!.targets.every((t) => t.ok)).toBe(true);
    for (const r of [...nearRx, ...farRx]) expect(r.image()).toEqual(image);
  });
});
