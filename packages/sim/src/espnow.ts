// ESP-NOW in virtual time: stations tune to a channel, frames take air time at the link rate,
// broadcast frames reach every listening neighbour on the channel without acknowledgement,
// unicast frames are acknowledged by the link layer and retried. Stations on another channel
// hear nothing.
//
// Figures (Espressif ESP-NOW FAQ): 1 Mbit/s default rate, about 214 kbit/s measured in open
// air; 250-byte payload (v1).
import type { SimRandom } from "./random.js";
import type { Scheduler } from "./scheduler.js";

/** Options of the ESP-NOW medium. */
export interface EspNowOptions {
  /** Effective throughput of one sender, bits/s (default 214000). */
  rateBps: number;
  /** Per-frame overhead on air in bytes (default 40). */
  overheadBytes: number;
  /** Probability that one frame is lost on one link (default 0). */
  loss: number;
  /** Link-layer retries of a unicast frame (default 3). */
  unicastRetries: number;
  /** Largest payload (default 250; 1470 for ESP-NOW v2). */
  maxPayload: number;
  /**
   * Frames a sender queues before further sends fail, as esp_now_send does when its queue is
   * full (default 32).
   */
  txQueue: number;
}

export const ESPNOW_DEFAULTS: Readonly<EspNowOptions> = Object.freeze({
  rateBps: 214_000,
  overheadBytes: 40,
  loss: 0,
  unicastRetries: 3,
  maxPayload: 250,
  txQueue: 32,
});

const BROADCAST = "ff:ff:ff:ff:ff:ff";

const key = (mac: Uint8Array) => Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");

interface Station {
  mac: Uint8Array;
  channel: number;
  peer: string | undefined;
  neighbours: Set<Station>;
  busyUntil: number;
  receive: (from: Uint8Array, frame: Uint8Array) => void;
}

/** Counters of the medium. */
export interface EspNowStats {
  framesSent: number;
  bytesSent: number;
  framesLost: number;
  /** Frames a neighbour missed because it listened on another channel (not counted for
   *  neighbours whose ESP-NOW is off). */
  wrongChannel: number;
  /** Sends refused because the sender's queue was full. */
  queueFull: number;
}

/** The ESP-NOW medium. */
export class EspNowMedium {
  readonly options: Readonly<EspNowOptions>;
  readonly stats: EspNowStats = { framesSent: 0, bytesSent: 0, framesLost: 0, wrongChannel: 0, queueFull: 0 };
  readonly #stations = new Map<string, Station>();
  readonly #sched: Scheduler;
  readonly #rng: SimRandom;

  constructor(scheduler: Scheduler, random: SimRandom, options: Partial<EspNowOptions> = {}) {
    this.options = Object.freeze({ ...ESPNOW_DEFAULTS, ...options });
    this.#sched = scheduler;
    this.#rng = random;
  }

  addStation(mac: Uint8Array, receive: (from: Uint8Array, frame: Uint8Array) => void): void {
    this.#stations.set(key(mac), { mac: mac.slice(), channel: 0, peer: undefined, neighbours: new Set(), busyUntil: 0, receive });
  }

  link(a: Uint8Array, b: Uint8Array): void {
    const sa = this.#station(a);
    const sb = this.#station(b);
    sa.neighbours.add(sb);
    sb.neighbours.add(sa);
  }

  /** The station listens on `channel` (0: off), from `peer` only when given. */
  tune(mac: Uint8Array, channel: number, peer?: Uint8Array): void {
    const s = this.#station(mac);
    s.channel = channel;
    s.peer = peer ? key(peer) : undefined;
  }

  /** Airtime of one frame in ms. */
  airtime(payload: number): number {
    return ((payload + this.options.overheadBytes) * 8 * 1000) / this.options.rateBps;
  }

  /**
   * Queues a frame from `from` to `to` (broadcast ff:ff:ff:ff:ff:ff). Frames of one sender go
   * out one after another. Returns false when the payload is too large, the sender is off or
   * its queue is full.
   *
   * `sentAt` (at most now) is when the sender handed the frame to its radio, when it reaches
   * the medium later (a node's port calls are collected once per tick): the queue and the air
   * time count from then, and a frame whose air time already ended arrives now (the scheduler
   * runs nothing in the past).
   */
  send(from: Uint8Array, to: Uint8Array, frame: Uint8Array, sentAt?: number): boolean {
    const s = this.#station(from);
    if (frame.length > this.options.maxPayload || s.channel === 0) return false;
    const dst = key(to);
    const copy = frame.slice();
    const now = Math.min(sentAt ?? Infinity, this.#sched.now());
    const air = this.airtime(copy.length);
    if (s.busyUntil - now > air * this.options.txQueue) {
      this.stats.queueFull++;
      return false;
    }
    const start = Math.max(now, s.busyUntil);
    let end = start + air;
    // A receiver that leaves the channel (or turns off) before the frame's end misses it.
    const channel = s.channel;
    const stillOn = (r: Station) => r.channel === channel;
    const deliver = (r: Station) => {
      if (r.channel === 0) return false;
      if (r.channel !== s.channel) {
        this.stats.wrongChannel++;
        return false;
      }
      if (r.peer !== undefined && r.peer !== key(s.mac)) return false;
      if (this.#rng.chance(this.options.loss)) {
        this.stats.framesLost++;
        return false;
      }
      return true;
    };
    if (dst === BROADCAST) {
      const receivers = [...s.neighbours].filter(deliver);
      this.#count(copy.length);
      this.#sched.at(end, "espnow.rx", () => {
        for (const r of receivers) if (stillOn(r)) r.receive(s.mac, copy);
      });
    } else {
      const r = this.#stations.get(dst);
      let ok = false;
      for (let attempt = 0; attempt <= this.options.unicastRetries; attempt++) {
        this.#count(copy.length);
        if (attempt > 0) end += air;
        if (r && s.neighbours.has(r) && deliver(r)) {
          ok = true;
          break;
        }
      }
      if (ok) {
        this.#sched.at(end, "espnow.rx", () => {
          if (stillOn(r!)) r!.receive(s.mac, copy);
        });
      }
    }
    s.busyUntil = end;
    return true;
  }

  #count(bytes: number): void {
    this.stats.framesSent++;
    this.stats.bytesSent += bytes;
  }

  #station(mac: Uint8Array): Station {
    const s = this.#stations.get(key(mac));
    if (!s) throw new RangeError(`no ESP-NOW station ${key(mac)}`);
    return s;
  }
}
