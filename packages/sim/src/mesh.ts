// A BLE Mesh advertising-bearer model: network PDUs flooded through relays with TTL and a
// message cache, per-link loss, segmentation of access messages into at most 32 segments of
// 12 bytes (380 bytes of access payload) with a gap between segments, block acks and
// retransmission for unicast, repeated unacknowledged sends for groups, and the two buffer
// pools that run out in real stacks: each station's advertising buffers (held by every
// queued or relayed PDU, and by all segments of a segmented send until it ends) and its
// segmentation receive contexts (one incomplete incoming segmented message at a time by
// default, ESP-IDF's default).
//
// Figures (Mesh Protocol specification; ESP-IDF esp_ble_mesh Kconfig defaults): unsegmented
// access payload 11 bytes, segment payload 12 bytes, TransMIC 4 bytes, 32 segments at most,
// acknowledgement timer 150 + 50 * TTL ms, segment retransmission timer 200 + 50 * TTL ms.
import { TransportError } from "@meshota/core";
import type { VendorFrame } from "@meshota/proto";
import type { SimRandom } from "./random.js";
import type { Scheduler } from "./scheduler.js";

/** Largest access payload of one segmented message (384 less the 4-byte TransMIC). */
export const MESH_ACCESS_MAX = 380;
/** Access payload that still fits one unsegmented PDU. */
export const MESH_UNSEGMENTED_MAX = 11;
/** Upper-transport bytes per segment. */
export const MESH_SEGMENT_SIZE = 12;
/** Most segments of one message. */
export const MESH_MAX_SEGMENTS = 32;
/** TransMIC length of a segmented access message (32-bit MIC). */
export const MESH_TRANSMIC = 4;
/** Vendor opcode length: 0xC0 | op and the company id. */
export const MESH_VENDOR_OPCODE_SIZE = 3;
/** The all-nodes group address. */
export const MESH_ALL_NODES = 0xffff;

/** Options of the mesh model; each has a default drawn from the figures above. */
export interface MeshOptions {
  /** Gap between consecutive segments of one message in ms (default 40). */
  segmentGapMs: number;
  /** Transmissions of each network PDU (network transmit count + 1, default 2). */
  transmitCount: number;
  /** Gap between those transmissions in ms (default 20). */
  transmitIntervalMs: number;
  /** Random delay before a relay retransmits, [min, max] ms (default [10, 30]). */
  relayDelayMs: readonly [number, number];
  /** Random advertising delay before each transmission, [min, max] ms (default [0, 10]). */
  advDelayMs: readonly [number, number];
  /** Default TTL of sends (default 7). */
  defaultTtl: number;
  /** Advertising buffers of each station (default 60). */
  advBuffers: number;
  /** Incoming segmented messages a station reassembles at once (default 1). */
  sarRxContexts: number;
  /** Outgoing segmented messages a station sends at once; more wait in line (default 1). */
  sarTxContexts: number;
  /** Retransmissions of unacknowledged segments of a unicast message (default 4). */
  segmentRetransmits: number;
  /** Sends of every segment of a group message, which nobody acknowledges (default 3). */
  groupSegmentRepeats: number;
  /** A reassembly that gets no new segment for this long is dropped (default 10000). */
  incompleteTimeoutMs: number;
  /** Probability that one transmission is lost on one link (default 0). */
  loss: number;
  /**
   * A segmented send that finds too few free advertising buffers waits this long for them
   * before it fails (default 400).
   */
  bufferWaitMs: number;
}

export const MESH_DEFAULTS: Readonly<MeshOptions> = Object.freeze({
  segmentGapMs: 40,
  transmitCount: 2,
  transmitIntervalMs: 20,
  relayDelayMs: [10, 30] as const,
  advDelayMs: [0, 10] as const,
  defaultTtl: 7,
  advBuffers: 60,
  sarRxContexts: 1,
  sarTxContexts: 1,
  segmentRetransmits: 4,
  groupSegmentRepeats: 3,
  incompleteTimeoutMs: 10_000,
  loss: 0,
  bufferWaitMs: 400,
});

/** A message delivered to a station's access layer. */
export interface MeshDelivery {
  readonly src: number;
  readonly dst: number;
  readonly frame: VendorFrame;
  /** TTL it arrived with. */
  readonly ttl: number;
}

/** Per-station settings. */
export interface StationOptions {
  /** Relays PDUs it hears for others (default true). */
  relay: boolean;
  /** Group addresses it listens to besides all-nodes. */
  groups: readonly number[];
  /** Overrides of the model's buffer sizes for this station (a gateway may have more). */
  advBuffers?: number;
  sarRxContexts?: number;
  sarTxContexts?: number;
}

/** Counters of the whole medium. */
export interface MeshStats {
  /** Network PDU transmissions (every repeat counts). */
  transmissions: number;
  /** PDUs relayed. */
  relayed: number;
  /** Access messages delivered. */
  delivered: number;
  /** PDUs dropped because a station had no free advertising buffer. */
  advBufferDrops: number;
  /** First segments dropped because the receiver had no free reassembly context. */
  sarRxBusyDrops: number;
  /** Reassemblies given up after the incomplete timer. */
  sarRxTimeouts: number;
  /** Segmented sends that failed (no ack after every retransmission, or no buffers). */
  segmentedFailures: number;
  /** Segment transmissions by senders (first sends and retransmissions). */
  segmentsSent: number;
}

type Pdu =
  | { kind: "access"; src: number; dst: number; ttl: number; seq: number; frame: VendorFrame }
  | { kind: "seg"; src: number; dst: number; ttl: number; seq: number; seqZero: number; segO: number; segN: number; frame: VendorFrame }
  | { kind: "ack"; src: number; dst: number; ttl: number; seq: number; seqZero: number; acked: number };

interface RxContext {
  key: string;
  received: number;
  count: number;
  segN: number;
  ttl: number;
  lastHeard: number;
  ackTimer: { cancel(): void } | undefined;
}

interface TxContext {
  dst: number;
  seqZero: number;
  segN: number;
  acked: number;
  attempts: number;
  timer: { cancel(): void } | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Station {
  readonly address: number;
  readonly options: StationOptions;
  readonly advBuffers: number;
  readonly sarRxContexts: number;
  readonly sarTxContexts: number;
  readonly neighbors: { station: Station; loss: number }[];
  seq: number;
  advInUse: number;
  cache: Set<number>;
  rx: Map<string, RxContext>;
  /** Recently completed reassemblies: acked again when their segments repeat. */
  done: Map<string, number>;
  tx: Map<number, TxContext>;
  txActive: number;
  txWaiting: (() => void)[];
  handler: (delivery: MeshDelivery) => void;
}

const ALL_SEGMENTS = (segN: number) => (segN >= 31 ? 0xffffffff : (1 << (segN + 1)) - 1) >>> 0;

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

/** Number of segments an access payload of `length` bytes needs (1 when unsegmented). */
export function segmentsFor(accessLength: number): number {
  if (accessLength <= MESH_UNSEGMENTED_MAX) return 1;
  return Math.ceil((accessLength + MESH_TRANSMIC) / MESH_SEGMENT_SIZE);
}

/** The mesh medium: stations, links and the flooding, segmentation and buffer model. */
export class MeshMedium {
  readonly options: Readonly<MeshOptions>;
  readonly stats: MeshStats = {
    transmissions: 0,
    relayed: 0,
    delivered: 0,
    advBufferDrops: 0,
    sarRxBusyDrops: 0,
    sarRxTimeouts: 0,
    segmentedFailures: 0,
    segmentsSent: 0,
  };
  readonly #stations = new Map<number, Station>();
  readonly #sched: Scheduler;
  readonly #rng: SimRandom;

  constructor(scheduler: Scheduler, random: SimRandom, options: Partial<MeshOptions> = {}) {
    this.options = Object.freeze({ ...MESH_DEFAULTS, ...options });
    this.#sched = scheduler;
    this.#rng = random;
  }

  /** Adds a station at a unicast address; `handler` gets the messages addressed to it. */
  addStation(address: number, handler: (delivery: MeshDelivery) => void, options: Partial<StationOptions> = {}): void {
    if (!Number.isInteger(address) || address < 1 || address > 0x7fff) throw new RangeError(`not a unicast address: ${address}`);
    if (this.#stations.has(address)) throw new RangeError(`address 0x${address.toString(16)} is taken`);
    const o: StationOptions = { relay: true, groups: [], ...options };
    this.#stations.set(address, {
      address,
      options: o,
      advBuffers: o.advBuffers ?? this.options.advBuffers,
      sarRxContexts: o.sarRxContexts ?? this.options.sarRxContexts,
      sarTxContexts: o.sarTxContexts ?? this.options.sarTxContexts,
      neighbors: [],
      seq: 0,
      advInUse: 0,
      cache: new Set(),
      rx: new Map(),
      done: new Map(),
      tx: new Map(),
      txActive: 0,
      txWaiting: [],
      handler,
    });
  }

  /** Links two stations both ways; `loss` overrides the model's loss on this link. */
  link(a: number, b: number, loss?: number): void {
    const sa = this.#station(a);
    const sb = this.#station(b);
    if (sa === sb) throw new RangeError("a station cannot link to itself");
    const l = loss ?? this.options.loss;
    if (!sa.neighbors.some((n) => n.station === sb)) sa.neighbors.push({ station: sb, loss: l });
    if (!sb.neighbors.some((n) => n.station === sa)) sb.neighbors.push({ station: sa, loss: l });
  }

  /** Unicast addresses of a station's radio neighbours. */
  neighbors(address: number): number[] {
    return this.#station(address).neighbors.map((n) => n.station.address);
  }

  /** Advertising buffers a station holds right now. */
  advBuffersInUse(address: number): number {
    return this.#station(address).advInUse;
  }

  /** Hop count of the shortest path between two stations (Infinity when unreachable). */
  hops(a: number, b: number): number {
    const start = this.#station(a);
    const goal = this.#station(b);
    const dist = new Map<Station, number>([[start, 0]]);
    const queue = [start];
    while (queue.length) {
      const s = queue.shift()!;
      if (s === goal) return dist.get(s)!;
      for (const n of s.neighbors) {
        if (!dist.has(n.station)) {
          dist.set(n.station, dist.get(s)! + 1);
          queue.push(n.station);
        }
      }
    }
    return Number.POSITIVE_INFINITY;
  }

  /**
   * Sends a vendor message from `src` to `dst`. Resolves when an unsegmented message has been
   * transmitted, when every segment of a unicast message is acknowledged, or when a group
   * message's segments have all been repeated. Rejects with TransportError: "too-large" over
   * 380 bytes of access payload, "unreachable" without advertising buffers, "timeout" when
   * the destination never acknowledged.
   */
  send(src: number, dst: number, frame: VendorFrame, options: { ttl?: number } = {}): Promise<void> {
    const s = this.#station(src);
    const ttl = options.ttl ?? this.options.defaultTtl;
    const length = MESH_VENDOR_OPCODE_SIZE + frame.params.length;
    if (length > MESH_ACCESS_MAX) {
      return Promise.reject(
        new TransportError("too-large", `access payload of ${length} bytes exceeds ${MESH_ACCESS_MAX} (${MESH_MAX_SEGMENTS} segments)`),
      );
    }
    if (length <= MESH_UNSEGMENTED_MAX) {
      const pdu: Pdu = { kind: "access", src, dst, ttl, seq: s.seq++, frame };
      if (!this.#transmit(s, pdu, this.#delay(this.options.advDelayMs))) {
        return Promise.reject(new TransportError("unreachable", `station 0x${src.toString(16)} has no free advertising buffer`));
      }
      return new Promise((resolve) => this.#sched.after(this.#txSpan(), "mesh.sent", resolve));
    }
    return this.#sendSegmented(s, dst, ttl, frame, segmentsFor(length));
  }

  #station(address: number): Station {
    const s = this.#stations.get(address);
    if (!s) throw new RangeError(`no station at address 0x${address.toString(16)}`);
    return s;
  }

  #delay([min, max]: readonly [number, number]): number {
    return min + this.#rng.float() * (max - min);
  }

  /** Time from the first to the last transmission of one PDU. */
  #txSpan(): number {
    return this.options.advDelayMs[1] + (this.options.transmitCount - 1) * this.options.transmitIntervalMs;
  }

  /**
   * Queues a PDU for transmission after `delay`, holding one advertising buffer until its last
   * repeat (unless `held`: the caller already holds the buffer). False when no buffer is free.
   */
  #transmit(s: Station, pdu: Pdu, delay: number, held = false): boolean {
    if (!held) {
      if (s.advInUse >= s.advBuffers) {
        this.stats.advBufferDrops++;
        return false;
      }
      s.advInUse++;
    }
    s.cache.add(pdu.src * 0x100000000 + pdu.seq);
    const count = this.options.transmitCount;
    for (let k = 0; k < count; k++) {
      this.#sched.after(delay + k * this.options.transmitIntervalMs, "mesh.tx", () => {
        this.stats.transmissions++;
        for (const n of s.neighbors) {
          if (!this.#rng.chance(n.loss)) this.#receive(n.station, pdu);
        }
        if (k === count - 1 && !held) s.advInUse--;
      });
    }
    return true;
  }

  #listens(s: Station, dst: number): boolean {
    return dst === s.address || dst === MESH_ALL_NODES || (dst >= 0xc000 && s.options.groups.includes(dst));
  }

  #receive(s: Station, pdu: Pdu): void {
    const key = pdu.src * 0x100000000 + pdu.seq;
    if (pdu.src === s.address || s.cache.has(key)) return;
    s.cache.add(key);
    if (this.#listens(s, pdu.dst)) this.#deliverTransport(s, pdu);
    if (s.options.relay && pdu.ttl >= 2 && pdu.dst !== s.address) {
      if (this.#transmit(s, { ...pdu, ttl: pdu.ttl - 1 }, this.#delay(this.options.relayDelayMs))) this.stats.relayed++;
    }
  }

  #deliverTransport(s: Station, pdu: Pdu): void {
    switch (pdu.kind) {
      case "access":
        this.stats.delivered++;
        s.handler({ src: pdu.src, dst: pdu.dst, frame: pdu.frame, ttl: pdu.ttl });
        return;
      case "ack":
        this.#onAck(s, pdu.src, pdu.seqZero, pdu.acked);
        return;
      case "seg":
        this.#onSegment(s, pdu);
        return;
    }
  }

  #onSegment(s: Station, pdu: Extract<Pdu, { kind: "seg" }>): void {
    const key = `${pdu.src}:${pdu.seqZero}`;
    const unicast = pdu.dst === s.address;
    const now = this.#sched.now();
    if (s.done.has(key)) {
      if (unicast) this.#sendAck(s, pdu.src, pdu.seqZero, ALL_SEGMENTS(pdu.segN));
      return;
    }
    let ctx = s.rx.get(key);
    if (!ctx) {
      if (s.rx.size >= s.sarRxContexts) {
        this.stats.sarRxBusyDrops++;
        return;
      }
      ctx = { key, received: 0, count: 0, segN: pdu.segN, ttl: pdu.ttl, lastHeard: now, ackTimer: undefined };
      s.rx.set(key, ctx);
      this.#armIncomplete(s, ctx);
    }
    ctx.lastHeard = now;
    const bit = 1 << pdu.segO;
    if (!(ctx.received & bit)) {
      ctx.received = (ctx.received | bit) >>> 0;
      ctx.count++;
    }
    if (ctx.count === pdu.segN + 1) {
      ctx.ackTimer?.cancel();
      s.rx.delete(key);
      s.done.set(key, now);
      this.#sched.after(this.options.incompleteTimeoutMs, "mesh.sar.forget", () => {
        s.done.delete(key);
      });
      if (unicast) this.#sendAck(s, pdu.src, pdu.seqZero, ctx.received);
      this.stats.delivered++;
      s.handler({ src: pdu.src, dst: pdu.dst, frame: pdu.frame, ttl: pdu.ttl });
      return;
    }
    if (unicast && !ctx.ackTimer) {
      const c = ctx;
      ctx.ackTimer = this.#sched.after(150 + 50 * pdu.ttl, "mesh.sar.ack", () => {
        c.ackTimer = undefined;
        if (s.rx.get(key) === c) this.#sendAck(s, pdu.src, pdu.seqZero, c.received);
      });
    }
  }

  #armIncomplete(s: Station, ctx: RxContext): void {
    const check = () => {
      if (s.rx.get(ctx.key) !== ctx) return;
      const idle = this.#sched.now() - ctx.lastHeard;
      if (idle >= this.options.incompleteTimeoutMs) {
        ctx.ackTimer?.cancel();
        s.rx.delete(ctx.key);
        this.stats.sarRxTimeouts++;
      } else {
        this.#sched.after(this.options.incompleteTimeoutMs - idle, "mesh.sar.incomplete", check);
      }
    };
    this.#sched.after(this.options.incompleteTimeoutMs, "mesh.sar.incomplete", check);
  }

  #sendAck(s: Station, dst: number, seqZero: number, acked: number): void {
    this.#transmit(s, { kind: "ack", src: s.address, dst, ttl: this.options.defaultTtl, seq: s.seq++, seqZero, acked }, this.#delay(this.options.advDelayMs));
  }

  #onAck(s: Station, from: number, seqZero: number, acked: number): void {
    const tx = s.tx.get(seqZero);
    if (!tx || tx.dst !== from) return;
    tx.acked = (tx.acked | acked) >>> 0;
    if (tx.acked === ALL_SEGMENTS(tx.segN)) {
      tx.timer?.cancel();
      tx.resolve();
    }
  }

  async #sendSegmented(s: Station, dst: number, ttl: number, frame: VendorFrame, segments: number): Promise<void> {
    if (s.txActive >= s.sarTxContexts) await new Promise<void>((resolve) => s.txWaiting.push(resolve));
    s.txActive++;
    try {
      // Every segment keeps its advertising buffer until the whole send ends.
      const deadline = this.#sched.now() + this.options.bufferWaitMs;
      while (s.advInUse + segments > s.advBuffers && segments <= s.advBuffers && this.#sched.now() < deadline) {
        await this.#sched.sleep(10);
      }
      if (s.advInUse + segments > s.advBuffers) {
        this.stats.advBufferDrops++;
        this.stats.segmentedFailures++;
        throw new TransportError("unreachable", `station 0x${s.address.toString(16)} has no ${segments} free advertising buffers for a segmented send`);
      }
      s.advInUse += segments;
      try {
        await this.#runSegmented(s, dst, ttl, frame, segments);
      } finally {
        s.advInUse -= segments;
      }
    } finally {
      s.txActive--;
      s.txWaiting.shift()?.();
    }
  }

  #runSegmented(s: Station, dst: number, ttl: number, frame: VendorFrame, segments: number): Promise<void> {
    const segN = segments - 1;
    const seqZero = s.seq & 0x1fff;
    const unicast = dst < 0x8000;
    const sendSegments = (mask: number) => {
      let k = 0;
      for (let segO = 0; segO <= segN; segO++) {
        if (mask & (1 << segO)) continue;
        const pdu: Pdu = { kind: "seg", src: s.address, dst, ttl, seq: s.seq++, seqZero, segO, segN, frame };
        this.stats.segmentsSent++;
        this.#transmit(s, pdu, k * this.options.segmentGapMs + this.#delay(this.options.advDelayMs), true);
        k++;
      }
      return k * this.options.segmentGapMs + this.#txSpan();
    };
    return new Promise<void>((resolve, reject) => {
      if (!unicast) {
        let span = 0;
        for (let r = 0; r < this.options.groupSegmentRepeats; r++) {
          this.#sched.after(span, "mesh.seg.group", () => void sendSegments(0));
          span += segments * this.options.segmentGapMs + this.#txSpan();
        }
        this.#sched.after(span, "mesh.seg.group.done", resolve);
        return;
      }
      const tx: TxContext = {
        dst,
        seqZero,
        segN,
        acked: 0,
        attempts: 0,
        timer: undefined,
        resolve: () => {
          s.tx.delete(seqZero);
          resolve();
        },
        reject: (e) => {
          s.tx.delete(seqZero);
          reject(e);
        },
      };
      s.tx.set(seqZero, tx);
      const round = () => {
        const span = sendSegments(tx.acked);
        tx.timer = this.#sched.after(span + 200 + 50 * ttl, "mesh.seg.retransmit", () => {
          if (tx.acked === ALL_SEGMENTS(segN)) return;
          if (tx.attempts >= this.options.segmentRetransmits) {
            this.stats.segmentedFailures++;
            tx.reject(
              new TransportError(
                "timeout",
                `0x${dst.toString(16)} acknowledged ${popcount(tx.acked)} of ${segments} segments after ${tx.attempts} retransmissions`,
              ),
            );
            return;
          }
          tx.attempts++;
          round();
        });
      };
      round();
    });
  }
}
