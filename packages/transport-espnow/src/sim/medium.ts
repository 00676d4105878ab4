// A simulated ESP-NOW medium on virtual time: stations on Wi-Fi channels, who hears whom,
// per-link loss, airtime from frame size, link-level retries for unicast.
import type { EspNowLink, SendOutcome } from "../link.js";
import { isBroadcast, macToString } from "../mac.js";
import { Scheduler, seededRandom } from "./scheduler.js";

/**
 * Effective ESP-NOW throughput measured in open air at the default 1 Mbit/s rate: about
 * 214 kbit/s (Espressif ESP-NOW FAQ). Airtime of a frame is its payload bits at this rate.
 */
export const ESPNOW_OPEN_AIR_BPS = 214_000;

/** Options of a medium. Every field has a default (see DEFAULT_MEDIUM_OPTIONS). */
export interface MediumOptions {
  /** Seed of the loss PRNG. */
  seed: number;
  /** Effective payload rate in bit/s; airtime = payload bytes * 8 / rate. */
  bitrateBps: number;
  /** Loss probability of every link that has no loss of its own, 0-1. */
  defaultLoss: number;
  /** Extra transmissions of an unacknowledged unicast frame (ESP-NOW retries at link level). */
  unicastRetries: number;
  /** Radio range in metres for stations with a position; Infinity: everyone hears everyone. */
  rangeM: number;
  /** Frames a station may queue for transmission before send() returns false. */
  txQueueDepth: number;
}

export const DEFAULT_MEDIUM_OPTIONS: Readonly<MediumOptions> = Object.freeze({
  seed: 1,
  bitrateBps: ESPNOW_OPEN_AIR_BPS,
  defaultLoss: 0,
  unicastRetries: 4,
  rangeM: Number.POSITIVE_INFINITY,
  txQueueDepth: 8,
});

/** Where a station is and how it listens. */
export interface StationOptions {
  /** Its MAC address (6 bytes). */
  mac: Uint8Array;
  /** Wi-Fi channel 1-14 it transmits and listens on. */
  channel: number;
  /** Position in metres, for range; absent: in range of everyone. */
  position?: { x: number; y: number };
  /** Largest payload it sends and accepts: 250 (ESP-NOW v1, default) or up to 1470 (v2). */
  maxPayload?: number;
}

/** Counters of a medium, summed over all stations. */
export interface MediumStats {
  /** Transmissions on air (a unicast retry counts again). */
  framesOnAir: number;
  /** Broadcast transmissions. */
  broadcasts: number;
  /** Unicast transmissions, retries included. */
  unicasts: number;
  /** Payload bytes on air. */
  bytesOnAir: number;
  /** Total airtime in ms. */
  airtimeMs: number;
  /** Frames each station's radio sent, keyed by MAC string. */
  perStation: Map<string, number>;
}

interface TxItem {
  dst: Uint8Array;
  payload: Uint8Array;
  done: ((outcome: SendOutcome) => void) | undefined;
}

/** A station on the medium; it is an EspNowLink for the engines. */
export class SimStation implements EspNowLink {
  readonly mac: Uint8Array;
  readonly key: string;
  readonly maxPayload: number;
  channel: number;
  position: { x: number; y: number } | undefined;
  /** A station that is off neither sends nor hears. */
  powered = true;
  #medium: EspNowMedium;
  #queue: TxItem[] = [];
  #busy = false;
  #onWritable: (() => void) | undefined;
  #onReceive: ((src: Uint8Array, payload: Uint8Array) => void) | undefined;

  /** @private created by EspNowMedium.addStation */
  constructor(medium: EspNowMedium, options: StationOptions) {
    this.#medium = medium;
    this.mac = new Uint8Array(options.mac);
    this.key = macToString(this.mac);
    this.channel = options.channel;
    this.position = options.position;
    this.maxPayload = options.maxPayload ?? 250;
    if (this.maxPayload < 1 || this.maxPayload > 1470) throw new RangeError(`ESP-NOW payload is 1-1470 bytes, got ${this.maxPayload}`);
  }

  send(dst: Uint8Array, payload: Uint8Array, done?: (outcome: SendOutcome) => void): boolean {
    if (payload.length > this.maxPayload || payload.length === 0) {
      throw new RangeError(`ESP-NOW payload of ${payload.length} bytes does not fit 1-${this.maxPayload}`);
    }
    if (this.#queue.length >= this.#medium.options.txQueueDepth) return false;
    this.#queue.push({ dst: new Uint8Array(dst), payload: new Uint8Array(payload), done });
    this.#kick();
    return true;
  }

  onWritable(listener: (() => void) | undefined): void {
    this.#onWritable = listener;
  }

  onReceive(listener: ((src: Uint8Array, payload: Uint8Array) => void) | undefined): void {
    this.#onReceive = listener;
  }

  /** Frames waiting in the transmit queue (the one on air included). */
  get queued(): number {
    return this.#queue.length;
  }

  /** @private the medium delivers a frame */
  deliver(src: Uint8Array, payload: Uint8Array): void {
    if (payload.length > this.maxPayload) return; // a v1 radio drops v2 frames it cannot hold
    this.#onReceive?.(src, payload);
  }

  #kick(): void {
    if (this.#busy || this.#queue.length === 0) return;
    this.#busy = true;
    const item = this.#queue[0]!;
    this.#medium.transmit(this, item.dst, item.payload, (outcome) => {
      this.#queue.shift();
      this.#busy = false;
      item.done?.(outcome);
      this.#kick();
      this.#onWritable?.();
    });
  }
}

/** Loss and reachability of one direction of a link. */
export interface LinkOptions {
  /** Loss probability 0-1 of this direction. */
  loss?: number;
  /** False: the receiver never hears the sender, whatever the range. True: always in range. */
  reachable?: boolean;
}

/**
 * The shared ESP-NOW medium. Transmissions on one channel are serialised (an ideal CSMA: no
 * collisions, no spatial reuse); a frame is heard by every powered station on the same channel
 * that is in range and not hit by its link's loss.
 */
export class EspNowMedium {
  readonly scheduler: Scheduler;
  readonly options: Readonly<MediumOptions>;
  readonly stats: MediumStats = { framesOnAir: 0, broadcasts: 0, unicasts: 0, bytesOnAir: 0, airtimeMs: 0, perStation: new Map() };
  #random: () => number;
  #stations = new Map<string, SimStation>();
  #links = new Map<string, LinkOptions>();
  #busyUntil = new Map<number, number>();

  constructor(scheduler: Scheduler = new Scheduler(), options: Partial<MediumOptions> = {}) {
    this.scheduler = scheduler;
    this.options = Object.freeze({ ...DEFAULT_MEDIUM_OPTIONS, ...options });
    this.#random = seededRandom(this.options.seed);
  }

  /** Adds a station; its MAC must be unique on the medium. */
  addStation(options: StationOptions): SimStation {
    const station = new SimStation(this, options);
    if (this.#stations.has(station.key)) throw new Error(`station ${station.key} is already on the medium`);
    if (!Number.isInteger(station.channel) || station.channel < 1 || station.channel > 14) {
      throw new RangeError(`Wi-Fi channel is 1-14, got ${station.channel}`);
    }
    this.#stations.set(station.key, station);
    return station;
  }

  /** The station with this MAC, if any. */
  station(mac: Uint8Array | string): SimStation | undefined {
    return this.#stations.get(typeof mac === "string" ? mac : macToString(mac));
  }

  /** Sets loss/reachability of the direction from → to (both directions with `symmetric`). */
  setLink(from: Uint8Array | string, to: Uint8Array | string, link: LinkOptions, symmetric = true): void {
    const a = typeof from === "string" ? from : macToString(from);
    const b = typeof to === "string" ? to : macToString(to);
    this.#links.set(`${a}>${b}`, { ...this.#links.get(`${a}>${b}`), ...link });
    if (symmetric) this.#links.set(`${b}>${a}`, { ...this.#links.get(`${b}>${a}`), ...link });
  }

  /** Airtime in ms of a payload of `bytes`. */
  airtimeMs(bytes: number): number {
    return (bytes * 8 * 1000) / this.options.bitrateBps;
  }

  /** True when `to` hears `from` at all (range, topology, channel and power; loss aside). */
  hears(from: SimStation, to: SimStation): boolean {
    if (from === to || !to.powered || !from.powered || from.channel !== to.channel) return false;
    const link = this.#links.get(`${from.key}>${to.key}`);
    if (link?.reachable !== undefined) return link.reachable;
    if (!from.position || !to.position) return true;
    return Math.hypot(from.position.x - to.position.x, from.position.y - to.position.y) <= this.options.rangeM;
  }

  /**
   * Extra losses decided by the caller: return true to drop this copy of a frame (tests use it
   * to lose exactly one chosen frame). Runs before the random loss.
   */
  dropRule: ((from: SimStation, to: SimStation, payload: Uint8Array) => boolean) | undefined;

  #lost(from: SimStation, to: SimStation, payload: Uint8Array): boolean {
    if (this.dropRule?.(from, to, payload)) return true;
    const loss = this.#links.get(`${from.key}>${to.key}`)?.loss ?? this.options.defaultLoss;
    return loss > 0 && this.#random() < loss;
  }

  /** @private a station puts one frame on air; `done` runs when it is finished with it. */
  transmit(from: SimStation, dst: Uint8Array, payload: Uint8Array, done: (outcome: SendOutcome) => void): void {
    const broadcast = isBroadcast(dst);
    const attempt = (left: number): void => {
      const start = Math.max(this.scheduler.now(), this.#busyUntil.get(from.channel) ?? 0);
      const airtime = this.airtimeMs(payload.length);
      const end = start + airtime;
      this.#busyUntil.set(from.channel, end);
      this.scheduler.at(end, () => {
        if (!from.powered) return done("failed");
        this.stats.framesOnAir++;
        this.stats.bytesOnAir += payload.length;
        this.stats.airtimeMs += airtime;
        this.stats.perStation.set(from.key, (this.stats.perStation.get(from.key) ?? 0) + 1);
        if (broadcast) {
          this.stats.broadcasts++;
          for (const to of this.#stations.values()) {
            if (this.hears(from, to) && !this.#lost(from, to, payload)) to.deliver(from.mac, payload);
          }
          return done("sent");
        }
        this.stats.unicasts++;
        const to = this.#stations.get(macToString(dst));
        if (to && this.hears(from, to) && !this.#lost(from, to, payload)) {
          to.deliver(from.mac, payload);
          return done("sent");
        }
        if (left > 0) return attempt(left - 1);
        done("no-ack");
      });
    };
    attempt(broadcast ? 0 : this.options.unicastRetries);
  }
}
