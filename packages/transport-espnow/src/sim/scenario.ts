// A ready-made scenario: one distributor, N receiver models, one image, one medium. Used by
// the tests and the benchmark; a starting point for other simulations.
import { createHash } from "node:crypto";

import { espnowChunkSize, startDistribution, type DistributionOptions, type DistributionResult } from "../distributor.js";
import { EspNowReceiver, type ReceiverOptions } from "../receiver.js";
import { EspNowMedium, type MediumOptions, type SimStation } from "./medium.js";
import { Scheduler } from "./scheduler.js";

/** The n-th simulated MAC: 02:00:00:00:hi:lo (locally administered). */
export function simMac(n: number): Uint8Array {
  return new Uint8Array([0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff]);
}

/** A deterministic test image of `size` bytes. */
export function testImage(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Options of a one-hop scenario. */
export interface ScenarioOptions {
  receivers: number;
  imageSize: number;
  /** Loss on every link, 0-1. */
  loss: number;
  seed?: number;
  /** 250 (v1, default) or up to 1470 (v2). */
  maxPayload?: number;
  channel?: number;
  medium?: Partial<MediumOptions>;
  receiver?: Partial<ReceiverOptions>;
  distribution?: Partial<Omit<DistributionOptions, "image" | "targets" | "sessionId">>;
}

/** A built scenario, ready to run. */
export interface Scenario {
  scheduler: Scheduler;
  medium: EspNowMedium;
  distributorStation: SimStation;
  stations: SimStation[];
  receivers: EspNowReceiver[];
  image: Uint8Array;
  sessionId: number;
  /** Starts the distribution, runs virtual time until it ends, and returns its result. */
  run(): DistributionResult;
}

/** Builds a distributor and `receivers` receiver models on one channel. */
export function buildScenario(options: ScenarioOptions): Scenario {
  const scheduler = new Scheduler();
  const medium = new EspNowMedium(scheduler, { seed: options.seed ?? 1, defaultLoss: options.loss, ...options.medium });
  const channel = options.channel ?? 6;
  const maxPayload = options.maxPayload ?? 250;
  const image = testImage(options.imageSize, options.seed ?? 7);
  const sha = new Uint8Array(createHash("sha256").update(image).digest());
  const sessionId = 0x5e55;
  const distributorStation = medium.addStation({ mac: simMac(0), channel, maxPayload });
  const stations: SimStation[] = [];
  const receivers: EspNowReceiver[] = [];
  for (let i = 1; i <= options.receivers; i++) {
    const st = medium.addStation({ mac: simMac(i), channel, maxPayload });
    stations.push(st);
    receivers.push(
      new EspNowReceiver(st, scheduler, { sessionId, imageSize: image.length, imageSha256: sha, distributorMac: distributorStation.mac, maxChunkSize: 1440, chunkSize: options.distribution?.chunkSize ?? espnowChunkSize(maxPayload) }, options.receiver),
    );
  }
  return {
    scheduler,
    medium,
    distributorStation,
    stations,
    receivers,
    image,
    sessionId,
    run() {
      let result: DistributionResult | undefined;
      startDistribution(distributorStation, scheduler, { sessionId, image, targets: stations.map((s) => s.mac), ...options.distribution }, (r) => (result = r));
      scheduler.run({ until: () => result !== undefined });
      if (!result) throw new Error("the distribution did not finish and nothing is scheduled");
      return result;
    },
  };
}

/** Link-limited minimum time of a distribution: every chunk frame once, back to back, in ms. */
export function linkLimitedMs(medium: EspNowMedium, imageSize: number, chunkSize: number, frameBytes: (len: number) => number): number {
  let total = 0;
  const count = Math.ceil(imageSize / chunkSize);
  for (let i = 0; i < count; i++) total += medium.airtimeMs(frameBytes(Math.min(chunkSize, imageSize - i * chunkSize)));
  return total;
}


