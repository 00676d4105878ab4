// The mesh stack of one node above its bearer: network layer (IV index, sequence numbers,
// replay protection, duplicate cache), lower transport (segmentation, reassembly, block acks,
// retransmission) and upper transport (AppKey and DevKey encryption, virtual addresses).
// It is written for an edge node such as a phone or laptop behind a GATT proxy; relaying is
// left to the nodes of the mesh.
import { TransportError } from "@meshota/core";
import { formatAddress, isGroup, isUnicast, isVirtual } from "./address.js";
import { decodeSecureNetworkBeacon } from "./beacon.js";
import { concat, equalBytes } from "./bytes.js";
import { virtualAddressOf } from "./crypto.js";
import type { ApplicationKey, NetworkKey } from "./keys.js";
import {
  ACCESS_SEGMENT_SIZE,
  decodeLowerPdu,
  encodeLowerPdu,
  type LowerPdu,
  MAX_SEGMENTS,
  SEGMENT_ACK_OPCODE,
  seqAuthFrom,
  segmentAccess,
  UNSEGMENTED_ACCESS_MAX,
} from "./lower-pdu.js";
import { decodeNetworkPdu, encodeNetworkPdu, type NetworkMessage, type NonceKind } from "./network-pdu.js";
import { RateLimiter, type RateLimitOptions } from "./rate-limit.js";
import type { SequenceAllocator } from "./sequence.js";
import { decryptAccess, encryptAccess } from "./upper-transport.js";

/** Timers and bounds of the lower transport. Defaults follow Mesh Protocol 3.5.3. */
export interface MeshTimingOptions {
  /** Gap between two segments of one message. Default 20 ms. */
  readonly segmentIntervalMs: number;
  /** Segment retransmission timer for unicast is this plus 50 ms per TTL hop. Default 200 ms. */
  readonly unicastRetransmitBaseMs: number;
  /** Retransmission rounds without any new segment acknowledged before giving up. Default 4. */
  readonly unicastRetransmitsWithoutProgress: number;
  /** Extra rounds of all segments to a group or virtual address (no acks there). Default 2. */
  readonly multicastRepeats: number;
  /** Gap between the rounds to a group or virtual address. Default 300 ms. */
  readonly multicastRoundIntervalMs: number;
  /** Acknowledgment timer for incoming segments is this plus 50 ms per TTL. Default 150 ms. */
  readonly ackDelayBaseMs: number;
  /** An incomplete incoming message is discarded after this. Default 10 000 ms. */
  readonly incompleteTimeoutMs: number;
  /** Default limit of one send, queueing included. Default 30 000 ms. */
  readonly sendTimeoutMs: number;
}

export const DEFAULT_TIMING: MeshTimingOptions = Object.freeze({
  segmentIntervalMs: 20,
  unicastRetransmitBaseMs: 200,
  unicastRetransmitsWithoutProgress: 4,
  multicastRepeats: 2,
  multicastRoundIntervalMs: 300,
  ackDelayBaseMs: 150,
  incompleteTimeoutMs: 10_000,
  sendTimeoutMs: 30_000,
});

/** Bounds that keep memory flat whatever the mesh does. */
export interface MeshLimits {
  /** Incoming segmented messages reassembled at once (one per source). Default 8. */
  readonly maxIncoming: number;
  /** Sends waiting behind the one in flight to the same destination. Default 16. */
  readonly maxQueuedPerDestination: number;
  /** Sources remembered for replay protection. Default 1024. */
  readonly replayListSize: number;
  /** Network PDUs remembered to drop duplicates. Default 256. */
  readonly networkCacheSize: number;
}

export const DEFAULT_LIMITS: MeshLimits = Object.freeze({
  maxIncoming: 8,
  maxQueuedPerDestination: 16,
  replayListSize: 1024,
  networkCacheSize: 256,
});

export interface MeshStackOptions {
  /** Our unicast address (the primary element). */
  readonly address: number;
  /** NetKeys we accept; the first one is used for sending. */
  readonly netKeys: readonly NetworkKey[];
  readonly appKeys: readonly ApplicationKey[];
  /** The device key of the node that owns unicast `address`, for DevKey messages. */
  readonly deviceKeyOf?: (address: number) => Uint8Array | undefined;
  /** Label UUIDs of the virtual addresses we send to or listen on. */
  readonly labels?: readonly Uint8Array[];
  /** Group and virtual addresses we listen on (besides our unicast address and all-nodes). */
  readonly subscriptions?: readonly number[];
  /** Current IV index of the network. */
  readonly ivIndex: number;
  /** True while the network is in the IV Update in Progress state. */
  readonly ivUpdate?: boolean;
  /**
   * False when `ivIndex` is a guess: the first authenticated Secure Network beacon then sets the
   * IV index whatever its value. Default true (later beacons move it at most 42 steps).
   */
  readonly ivIndexKnown?: boolean;
  readonly sequence: SequenceAllocator;
  /** Default TTL of outgoing messages. Default 7. */
  readonly defaultTtl?: number;
  readonly timing?: Partial<MeshTimingOptions>;
  readonly limits?: Partial<MeshLimits>;
  readonly rateLimit?: Partial<RateLimitOptions>;
}

/** Which key protects an access message. */
export type AccessKey = { readonly kind: "app"; readonly index: number } | { readonly kind: "device" };

/** An access message to send. */
export interface AccessSend {
  readonly dst: number;
  readonly payload: Uint8Array;
  readonly key: AccessKey;
  readonly ttl?: number;
  /** Label UUID when `dst` is a virtual address (found among `labels` when absent). */
  readonly label?: Uint8Array;
  /** Send as a segmented message even when it would fit one PDU (acknowledged for unicast). */
  readonly forceSegmented?: boolean;
  /** Use a 64-bit TransMIC (segmented messages only). */
  readonly szmic?: boolean;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** A received and decrypted access message. */
export interface AccessReceived {
  readonly src: number;
  readonly dst: number;
  readonly ttl: number;
  readonly ivIndex: number;
  /** SEQ (unsegmented) or SeqAuth (segmented). */
  readonly seq: number;
  readonly payload: Uint8Array;
  readonly key: AccessKey;
  readonly label?: Uint8Array;
  readonly segmented: boolean;
}

/** Counters and queue sizes, for tests and diagnostics. */
export interface MeshStackStats {
  /** Outgoing sends in flight or waiting, all destinations. */
  readonly outgoing: number;
  /** Incoming segmented messages being reassembled. */
  readonly incoming: number;
  /** Timers the stack holds (retransmission, acknowledgment, incomplete). */
  readonly timers: number;
  readonly sentPdus: number;
  readonly receivedPdus: number;
  readonly droppedReplays: number;
  readonly droppedDuplicates: number;
  readonly droppedBusy: number;
  readonly droppedUndecryptable: number;
}

type Output = (networkPdu: Uint8Array) => Promise<void> | void;

interface Outgoing {
  readonly dst: number;
  readonly seqZero: number;
  /** Block ack of a complete delivery. */
  readonly all: number;
  acked: number;
  busy: boolean;
  wake: (() => void) | undefined;
}

interface Incoming {
  readonly src: number;
  readonly dst: number;
  readonly ivIndex: number;
  readonly seqAuth: number;
  readonly segN: number;
  readonly szmic: boolean;
  readonly akf: boolean;
  readonly aid: number;
  readonly ttl: number;
  readonly parts: (Uint8Array | undefined)[];
  received: number;
  ackTimer: ReturnType<typeof setTimeout> | undefined;
  incompleteTimer: ReturnType<typeof setTimeout> | undefined;
}

interface Completed {
  readonly ivIndex: number;
  readonly seqAuth: number;
  readonly segN: number;
}

/** `(ivIndex, seq)` as one comparable number (IV index times 2^24 plus seq). */
function stamp(ivIndex: number, seq: number): number {
  return ivIndex * 0x1000000 + seq;
}

function allOnes(segN: number): number {
  return segN === 31 ? 0xffffffff : ((1 << (segN + 1)) - 1) >>> 0;
}

function bitCount(mask: number): number {
  let n = 0;
  for (let m = mask >>> 0; m !== 0; m >>>= 1) n += m & 1;
  return n;
}

/** Resolves with `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) reject(signal.reason);
        else resolve();
      },
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
    );
  });
}

/** The lower and upper transport and network layers of one mesh node. */
export class MeshStack {
  readonly address: number;
  private readonly netKeys: readonly NetworkKey[];
  private readonly appKeys: readonly ApplicationKey[];
  private readonly deviceKeyOf: (address: number) => Uint8Array | undefined;
  private readonly labels: Uint8Array[];
  private readonly subscriptions: Set<number>;
  private readonly sequence: SequenceAllocator;
  private readonly timing: MeshTimingOptions;
  private readonly limits: MeshLimits;
  private readonly rate: RateLimiter;
  readonly defaultTtl: number;
  private ivIndexValue: number;
  private ivUpdateValue: boolean;
  private ivIndexKnown: boolean;
  private ivKnownWaiters: (() => void)[] = [];
  private output: Output | undefined;
  private readonly accessListeners = new Set<(m: AccessReceived) => void>();
  private readonly proxyConfigListeners = new Set<(m: NetworkMessage) => void>();

  private readonly queues = new Map<number, { tail: Promise<void>; size: number }>();
  private readonly inFlight = new Set<Outgoing>();
  private readonly incoming = new Map<number, Incoming>();
  private readonly completed = new Map<number, Completed>();
  private readonly replay = new Map<number, number>();
  private readonly networkCache = new Set<string>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  private readonly closing = new AbortController();
  private counters = { sentPdus: 0, receivedPdus: 0, droppedReplays: 0, droppedDuplicates: 0, droppedBusy: 0, droppedUndecryptable: 0 };

  constructor(options: MeshStackOptions) {
    if (!isUnicast(options.address)) throw new RangeError(`own address ${formatAddress(options.address)} is not a unicast address`);
    if (options.netKeys.length === 0) throw new RangeError("at least one NetKey is needed");
    this.address = options.address;
    this.netKeys = options.netKeys;
    this.appKeys = options.appKeys;
    this.deviceKeyOf = options.deviceKeyOf ?? (() => undefined);
    this.labels = [...(options.labels ?? [])];
    this.subscriptions = new Set(options.subscriptions ?? []);
    this.sequence = options.sequence;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.rate = new RateLimiter(options.rateLimit);
    this.defaultTtl = options.defaultTtl ?? 7;
    if (!Number.isInteger(this.defaultTtl) || this.defaultTtl === 1 || this.defaultTtl < 0 || this.defaultTtl > 127) {
      throw new RangeError(`default TTL ${this.defaultTtl} is not 0 or 2-127`);
    }
    if (!Number.isInteger(options.ivIndex) || options.ivIndex < 0 || options.ivIndex > 0xffffffff) {
      throw new RangeError(`IV index ${options.ivIndex} is not 32 bits`);
    }
    // In an IV update the old index (one less) is used to transmit: there is none below 0.
    if (options.ivUpdate && options.ivIndex === 0) throw new RangeError("IV index 0 cannot be in an IV update");
    this.ivIndexValue = Math.max(options.ivIndex, options.sequence.currentIvIndex + (options.ivUpdate ? 1 : 0));
    this.ivUpdateValue = options.ivUpdate ?? false;
    this.ivIndexKnown = options.ivIndexKnown ?? true;
  }

  /** Where outgoing network PDUs go (the proxy connection). */
  setOutput(output: Output | undefined): void {
    this.output = output;
  }

  get ivIndex(): number {
    return this.ivIndexValue;
  }

  get ivUpdate(): boolean {
    return this.ivUpdateValue;
  }

  /** IV index used to transmit: the old one while an IV update is in progress. */
  get txIvIndex(): number {
    return this.ivUpdateValue ? this.ivIndexValue - 1 : this.ivIndexValue;
  }

  /** False until a beacon has told the IV index when it was not known at start. */
  get ivIndexConfirmed(): boolean {
    return this.ivIndexKnown;
  }

  /** Resolves once the IV index is known (at once when it was given as known). */
  whenIvIndexKnown(): Promise<void> {
    if (this.ivIndexKnown) return Promise.resolve();
    return new Promise((resolve) => this.ivKnownWaiters.push(resolve));
  }

  get primaryNetKey(): NetworkKey {
    return this.netKeys[0]!;
  }

  /** Addresses we listen on besides our own: the subscription list. */
  get subscribed(): number[] {
    return [...this.subscriptions];
  }

  subscribe(address: number, label?: Uint8Array): void {
    if (!isGroup(address) && !isVirtual(address)) throw new RangeError(`${formatAddress(address)} is not a group or virtual address`);
    if (label) this.addLabel(label, address);
    this.subscriptions.add(address);
  }

  addLabel(label: Uint8Array, expected?: number): number {
    const address = virtualAddressOf(label);
    if (expected !== undefined && expected !== address) {
      throw new RangeError(`Label UUID hashes to ${formatAddress(address)}, not ${formatAddress(expected)}`);
    }
    if (!this.labels.some((l) => equalBytes(l, label))) this.labels.push(label);
    return address;
  }

  onAccess(listener: (m: AccessReceived) => void): () => void {
    this.accessListeners.add(listener);
    return () => this.accessListeners.delete(listener);
  }

  /** Proxy configuration messages (decrypted with the proxy nonce) from the proxy. */
  onProxyConfiguration(listener: (m: NetworkMessage) => void): () => void {
    this.proxyConfigListeners.add(listener);
    return () => this.proxyConfigListeners.delete(listener);
  }

  get stats(): MeshStackStats {
    let outgoing = 0;
    for (const q of this.queues.values()) outgoing += q.size;
    return { outgoing, incoming: this.incoming.size, timers: this.timers.size, ...this.counters };
  }

  // ---- IV index -------------------------------------------------------------------------------

  /**
   * Handles a mesh beacon from the proxy. An authenticated Secure Network beacon moves the IV
   * index forward (at most 42 steps, Mesh Protocol 3.10.5) and tracks the IV Update flag.
   * Returns true when the state changed.
   */
  async handleBeacon(beacon: Uint8Array): Promise<boolean> {
    const b = decodeSecureNetworkBeacon(beacon, this.netKeys);
    if (!b) return false;
    if (b.ivUpdate && b.ivIndex === 0) return false; // would transmit with IV index -1
    const current = this.ivIndexValue;
    if (!this.ivIndexKnown) {
      this.ivIndexValue = b.ivIndex;
      this.ivUpdateValue = b.ivUpdate;
      await this.sequence.setIvIndex(this.txIvIndex);
      this.ivIndexKnown = true;
      const waiters = this.ivKnownWaiters;
      this.ivKnownWaiters = [];
      for (const w of waiters) w();
      return true;
    }
    if (b.ivIndex < current || b.ivIndex > current + 42) return false;
    if (b.ivIndex === current && b.ivUpdate === this.ivUpdateValue) return false;
    if (b.ivIndex === current && b.ivUpdate && !this.ivUpdateValue) return false; // no step back into an update
    this.ivIndexValue = b.ivIndex;
    this.ivUpdateValue = b.ivUpdate;
    await this.sequence.setIvIndex(this.txIvIndex);
    return true;
  }

  // ---- receive ----------------------------------------------------------------------------------

  /** Handles a network PDU from the bearer. */
  receiveNetworkPdu(pdu: Uint8Array): void {
    if (this.closed) return;
    const m = decodeNetworkPdu(pdu, this.netKeys, this.ivIndexValue);
    if (!m) {
      this.counters.droppedUndecryptable++;
      return;
    }
    this.counters.receivedPdus++;
    if (m.src === this.address || !isUnicast(m.src)) return;
    const key = `${m.src}:${m.ivIndex}:${m.seq}`;
    if (this.networkCache.has(key)) {
      this.counters.droppedDuplicates++;
      return;
    }
    this.networkCache.add(key);
    if (this.networkCache.size > this.limits.networkCacheSize) this.networkCache.delete(this.networkCache.values().next().value!);
    if (!this.isForUs(m.dst)) return;
    const lower = decodeLowerPdu(m.transportPdu, m.ctl);
    if (typeof lower === "string") return;
    switch (lower.kind) {
      case "access":
        if (!this.replayOk(m.src, stamp(m.ivIndex, m.seq), false)) return;
        this.deliverUpper(m, lower.akf, lower.aid, false, m.seq, lower.upper, false);
        return;
      case "access-segment":
        this.receiveSegment(m, lower);
        return;
      case "ack":
        if (!this.replayOk(m.src, stamp(m.ivIndex, m.seq), false)) return;
        this.receiveAck(m.src, lower.seqZero, lower.blockAck);
        return;
      default:
        // Other transport control messages (friendship, heartbeat) are not used by an edge node.
        return;
    }
  }

  /** Handles a proxy configuration PDU (network PDU with the proxy nonce) from the proxy. */
  receiveProxyConfiguration(pdu: Uint8Array): void {
    const m = decodeNetworkPdu(pdu, this.netKeys, this.ivIndexValue, "proxy");
    if (!m || !m.ctl) return;
    for (const l of this.proxyConfigListeners) l(m);
  }

  private isForUs(dst: number): boolean {
    return dst === this.address || dst === 0xffff || this.subscriptions.has(dst);
  }

  /**
   * Replay protection (Mesh Protocol 3.8.8): a message from `src` must be newer than the last one
   * accepted; `same` lets the SeqAuth of the message being reassembled through.
   */
  private replayOk(src: number, value: number, same: boolean): boolean {
    const last = this.replay.get(src);
    if (last !== undefined && (value < last || (value === last && !same))) {
      this.counters.droppedReplays++;
      return false;
    }
    return true;
  }

  private accept(src: number, value: number): void {
    this.replay.delete(src);
    this.replay.set(src, value);
    if (this.replay.size > this.limits.replayListSize) this.replay.delete(this.replay.keys().next().value!);
  }

  private receiveSegment(m: NetworkMessage, seg: Extract<LowerPdu, { kind: "access-segment" }>): void {
    const seqAuth = seqAuthFrom(m.seq, seg.seqZero);
    const value = stamp(m.ivIndex, seqAuth);
    const done = this.completed.get(m.src);
    if (done && done.ivIndex === m.ivIndex && done.seqAuth === seqAuth) {
      // Already delivered: the sender missed our ack. Acknowledge everything again (even when
      // a later message from the same source has been accepted since).
      if (isUnicast(m.dst)) this.sendAck(m.src, seqAuth, allOnes(done.segN), m.ttl);
      return;
    }
    if (!this.replayOk(m.src, value, true)) return;
    let state = this.incoming.get(m.src);
    if (state && stamp(state.ivIndex, state.seqAuth) > value) return; // older than the one in progress
    if (state && (state.ivIndex !== m.ivIndex || state.seqAuth !== seqAuth)) {
      this.dropIncoming(state); // a newer message from the same source replaces it
      state = undefined;
    }
    if (!state) {
      if (this.incoming.size >= this.limits.maxIncoming) {
        this.counters.droppedBusy++;
        if (isUnicast(m.dst)) this.sendAck(m.src, seqAuth, 0, m.ttl); // BlockAck 0: busy
        return;
      }
      state = {
        src: m.src, dst: m.dst, ivIndex: m.ivIndex, seqAuth, segN: seg.segN, szmic: seg.szmic, akf: seg.akf, aid: seg.aid, ttl: m.ttl,
        parts: new Array<Uint8Array | undefined>(seg.segN + 1).fill(undefined), received: 0, ackTimer: undefined, incompleteTimer: undefined,
      };
      this.incoming.set(m.src, state);
      this.restartIncompleteTimer(state);
    }
    if (seg.segN !== state.segN || seg.akf !== state.akf || seg.aid !== state.aid || seg.szmic !== state.szmic) return;
    if (seg.segO < seg.segN && seg.segment.length !== ACCESS_SEGMENT_SIZE) return;
    const bit = (1 << seg.segO) >>> 0;
    if ((state.received & bit) === 0) {
      state.parts[seg.segO] = seg.segment.slice();
      state.received = (state.received | bit) >>> 0;
      // The incomplete timer runs from the last new segment (Mesh Protocol 3.5.3.4): a message
      // that keeps progressing over a slow path is not dropped.
      this.restartIncompleteTimer(state);
    }
    if (state.received === allOnes(state.segN)) {
      this.dropIncoming(state);
      this.completed.delete(m.src);
      this.completed.set(m.src, { ivIndex: state.ivIndex, seqAuth, segN: state.segN });
      if (this.completed.size > this.limits.replayListSize) this.completed.delete(this.completed.keys().next().value!);
      if (isUnicast(state.dst)) this.sendAck(m.src, seqAuth, state.received, state.ttl);
      const upper = concat(...(state.parts as Uint8Array[]));
      const msg = { ...m, ivIndex: state.ivIndex, dst: state.dst, ttl: state.ttl };
      this.deliverUpper(msg, state.akf, state.aid, state.szmic, seqAuth, upper, true);
      return;
    }
    if (isUnicast(state.dst) && !state.ackTimer) {
      const s = state;
      s.ackTimer = this.timer(this.timing.ackDelayBaseMs + 50 * s.ttl, () => {
        s.ackTimer = undefined;
        if (this.incoming.get(s.src) === s) this.sendAck(s.src, s.seqAuth, s.received, s.ttl);
      });
    }
  }

  private restartIncompleteTimer(state: Incoming): void {
    if (state.incompleteTimer) this.clearTimer(state.incompleteTimer);
    state.incompleteTimer = this.timer(this.timing.incompleteTimeoutMs, () => {
      state.incompleteTimer = undefined;
      this.dropIncoming(state);
    });
  }

  private dropIncoming(state: Incoming): void {
    if (state.ackTimer) this.clearTimer(state.ackTimer);
    if (state.incompleteTimer) this.clearTimer(state.incompleteTimer);
    state.ackTimer = undefined;
    state.incompleteTimer = undefined;
    if (this.incoming.get(state.src) === state) this.incoming.delete(state.src);
  }

  private deliverUpper(m: NetworkMessage, akf: boolean, aid: number, szmic: boolean, seq: number, upper: Uint8Array, segmented: boolean): void {
    const fields = { seq, src: m.src, dst: m.dst, ivIndex: m.ivIndex, szmic };
    const labels = isVirtual(m.dst) ? this.labels.filter((l) => virtualAddressOf(l) === m.dst) : [undefined];
    for (const label of labels) {
      if (akf) {
        for (const appKey of this.appKeys) {
          if (appKey.aid !== aid) continue;
          const payload = decryptAccess(appKey.key, false, fields, upper, label);
          if (payload) return this.deliver(m, seq, payload, { kind: "app", index: appKey.index }, label, segmented);
        }
      } else {
        const devKey = this.deviceKeyOf(m.src);
        const payload = devKey && decryptAccess(devKey, true, fields, upper, label);
        if (payload) return this.deliver(m, seq, payload, { kind: "device" }, label, segmented);
      }
    }
    this.counters.droppedUndecryptable++;
  }

  private deliver(m: NetworkMessage, seq: number, payload: Uint8Array, key: AccessKey, label: Uint8Array | undefined, segmented: boolean): void {
    this.accept(m.src, stamp(m.ivIndex, seq));
    const msg: AccessReceived = { src: m.src, dst: m.dst, ttl: m.ttl, ivIndex: m.ivIndex, seq, payload, key, segmented, ...(label ? { label } : {}) };
    for (const l of this.accessListeners) l(msg);
  }

  private receiveAck(src: number, seqZero: number, blockAck: number): void {
    for (const tx of this.inFlight) {
      if (tx.dst !== src || tx.seqZero !== seqZero) continue;
      const before = tx.acked;
      if (blockAck === 0) tx.busy = true;
      else tx.acked = (tx.acked | (blockAck & tx.all)) >>> 0;
      // Progress or refusal ends the wait: unacknowledged segments go again at once (3.5.3.3).
      if (tx.busy || tx.acked !== before) tx.wake?.();
    }
  }

  // ---- send -------------------------------------------------------------------------------------

  /**
   * Sends an access message. Messages to one destination go one at a time in order; the promise
   * resolves when the message has left (unsegmented, or to a group) or was acknowledged by the
   * destination (segmented unicast). Rejects with a TransportError ("timeout", "aborted",
   * "closed", "unreachable", "too-large").
   */
  async sendAccess(send: AccessSend): Promise<void> {
    if (this.closed) throw new TransportError("closed", "the mesh stack is closed");
    const dst = send.dst;
    if (!Number.isInteger(dst) || dst <= 0 || dst > 0xffff) throw new RangeError(`destination ${dst} is not a mesh address`);
    const ttl = send.ttl ?? this.defaultTtl;
    if (!Number.isInteger(ttl) || ttl === 1 || ttl < 0 || ttl > 127) throw new RangeError(`TTL ${ttl} is not 0 or 2-127`);
    const micSize = send.szmic ? 8 : 4;
    const upperSize = send.payload.length + micSize;
    if (upperSize > MAX_SEGMENTS * ACCESS_SEGMENT_SIZE) {
      throw new TransportError("too-large", `access payload of ${send.payload.length} bytes does not fit 32 segments`);
    }
    let label = send.label;
    if (isVirtual(dst) && !label) {
      label = this.labels.find((l) => virtualAddressOf(l) === dst);
      if (!label) throw new RangeError(`no Label UUID known for virtual address ${formatAddress(dst)}`);
    }
    const keyBytes = this.keyFor(send.key, dst);

    const timeoutMs = send.timeoutMs ?? this.timing.sendTimeoutMs;
    const deadline = new AbortController();
    const deadlineTimer = this.timer(timeoutMs, () => deadline.abort(new TransportError("timeout", `send to ${formatAddress(dst)} timed out after ${timeoutMs} ms`)));
    const signals = [deadline.signal, this.closing.signal];
    if (send.signal) signals.push(send.signal);
    const signal = AbortSignal.any(signals);

    const queue = this.queues.get(dst) ?? { tail: Promise.resolve(), size: 0 };
    if (queue.size > this.limits.maxQueuedPerDestination) {
      this.clearTimer(deadlineTimer);
      throw new TransportError("unreachable", `${queue.size} messages already queued for ${formatAddress(dst)}`);
    }
    queue.size++;
    this.queues.set(dst, queue);
    const previous = queue.tail;
    const run = (async () => {
      // Wait for the message ahead to finish; a deadline or abort ends the wait early.
      await untilAborted(previous, signal);
      const segmented = send.forceSegmented || send.szmic || upperSize > UNSEGMENTED_ACCESS_MAX;
      await this.transmitAccess(dst, ttl, keyBytes, send.key, label, send.payload, segmented, !!send.szmic, signal);
    })();
    // The next message starts after this one and the one ahead: one in flight per destination.
    queue.tail = Promise.allSettled([previous, run]).then(() => undefined);
    try {
      await run;
    } catch (error) {
      throw this.toTransportError(error, send.signal, dst);
    } finally {
      this.clearTimer(deadlineTimer);
      queue.size--;
      if (queue.size === 0 && this.queues.get(dst) === queue) this.queues.delete(dst);
    }
  }

  private toTransportError(error: unknown, userSignal: AbortSignal | undefined, dst: number): unknown {
    if (TransportError.isInstance(error)) return error;
    if (userSignal?.aborted) return new TransportError("aborted", `send to ${formatAddress(dst)} was aborted`, { cause: userSignal.reason });
    return error;
  }

  private keyFor(key: AccessKey, dst: number): Uint8Array {
    if (key.kind === "device") {
      if (!isUnicast(dst)) throw new RangeError(`DevKey messages go to unicast addresses, not ${formatAddress(dst)}`);
      const devKey = this.deviceKeyOf(dst);
      if (!devKey) throw new RangeError(`no device key known for ${formatAddress(dst)}`);
      return devKey;
    }
    const appKey = this.appKeys.find((k) => k.index === key.index);
    if (!appKey) throw new RangeError(`no AppKey with index ${key.index}`);
    return appKey.key;
  }

  private async transmitAccess(dst: number, ttl: number, keyBytes: Uint8Array, key: AccessKey, label: Uint8Array | undefined, payload: Uint8Array, segmented: boolean, szmic: boolean, signal: AbortSignal): Promise<void> {
    // The IV index and the numbering epoch are taken together: every number of this message
    // comes from that epoch, or the message is given up (see sendSegments).
    const { ivIndex, epoch, seq: seqAuth } = await this.allocateTx();
    const useDevKey = key.kind === "device";
    const akf = !useDevKey;
    const aid = akf ? this.appKeys.find((k) => k.index === (key as { index: number }).index)!.aid : 0;
    const upper = encryptAccess(keyBytes, useDevKey, { seq: seqAuth, src: this.address, dst, ivIndex, szmic }, payload, label);
    if (!segmented) {
      await this.transmit({ ivIndex, ctl: false, ttl, seq: seqAuth, src: this.address, dst }, encodeLowerPdu({ kind: "access", akf, aid, upper }), signal);
      return;
    }
    const segments = segmentAccess(upper, akf, aid, szmic, seqAuth).map(encodeLowerPdu);
    const all = allOnes(segments.length - 1);
    if (!isUnicast(dst)) {
      for (let round = 0; round <= this.timing.multicastRepeats; round++) {
        if (round > 0) await this.pause(this.timing.multicastRoundIntervalMs, signal);
        await this.sendSegments(segments, 0, ivIndex, epoch, seqAuth, ttl, dst, signal, round === 0);
      }
      return;
    }
    const tx: Outgoing = { dst, seqZero: seqAuth & 0x1fff, all, acked: 0, busy: false, wake: undefined };
    this.inFlight.add(tx);
    try {
      let idle = 0;
      let first = true;
      for (;;) {
        const before = tx.acked;
        await this.sendSegments(segments, tx.acked, ivIndex, epoch, seqAuth, ttl, dst, signal, first);
        first = false;
        if (tx.acked !== all && !tx.busy) await this.waitForAck(tx, this.timing.unicastRetransmitBaseMs + 50 * ttl, signal);
        if (tx.busy) throw new TransportError("unreachable", `${formatAddress(dst)} is busy and refused the segmented message`);
        if (tx.acked === all) return;
        if (bitCount(tx.acked) > bitCount(before)) idle = 0;
        else if (++idle > this.timing.unicastRetransmitsWithoutProgress) {
          throw new TransportError("unreachable", `no acknowledgment from ${formatAddress(dst)} after ${idle} retransmissions (${bitCount(tx.acked)}/${segments.length} segments acknowledged)`);
        }
      }
    } finally {
      this.inFlight.delete(tx);
    }
  }

  /** Sends the segments not in `acked`; segment 0 of the first round carries SEQ = SeqAuth. */
  private async sendSegments(
    segments: Uint8Array[],
    acked: number,
    ivIndex: number,
    epoch: number,
    seqAuth: number,
    ttl: number,
    dst: number,
    signal: AbortSignal,
    first: boolean,
  ): Promise<void> {
    let sent = 0;
    for (let i = 0; i < segments.length; i++) {
      if ((acked >>> i) & 1) continue;
      if (sent > 0) await this.pause(this.timing.segmentIntervalMs, signal);
      const seq = first && i === 0 ? seqAuth : await this.allocateIn(epoch, dst);
      if (seq - seqAuth > 0x1fff) throw new TransportError("timeout", `segmented message to ${formatAddress(dst)} outlived its SeqAuth window`);
      await this.transmit({ ivIndex, ctl: false, ttl, seq, src: this.address, dst }, segments[i]!, signal);
      sent++;
    }
  }

  /** A sequence number and the IV index to send it with, both of the current epoch. */
  private async allocateTx(): Promise<{ ivIndex: number; epoch: number; seq: number }> {
    for (;;) {
      const ivIndex = this.txIvIndex;
      const epoch = this.sequence.epoch;
      try {
        return { ivIndex, epoch, seq: await this.sequence.allocate(1, epoch) };
      } catch (error) {
        if (epoch === this.sequence.epoch) throw error; // not a change of IV index: a real failure
      }
    }
  }

  /**
   * A sequence number of numbering `epoch`. When the IV index has moved since (numbers restart
   * at 0), the message cannot go on under its IV index without reusing a number: it fails with
   * a TransportError the caller may retry, and is then sent under the new IV index.
   */
  private async allocateIn(epoch: number, dst: number): Promise<number> {
    try {
      return await this.sequence.allocate(1, epoch);
    } catch (error) {
      if (epoch !== this.sequence.epoch) {
        throw new TransportError("unreachable", `the IV index changed during the message to ${formatAddress(dst)}; it was not completed`, { cause: error });
      }
      throw error;
    }
  }

  private waitForAck(tx: Outgoing, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.clearTimer(timer);
        signal.removeEventListener("abort", onAbort);
        tx.wake = undefined;
      };
      const onAbort = () => {
        done();
        reject(signal.reason);
      };
      const timer = this.timer(ms, () => {
        done();
        resolve();
      });
      tx.wake = () => {
        done();
        resolve();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.clearTimer(timer);
        reject(signal.reason);
      };
      const timer = this.timer(ms, () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private sendAck(dst: number, seqAuth: number, blockAck: number, rxTtl: number): void {
    const ttl = rxTtl === 0 ? 0 : this.defaultTtl;
    void this.allocateTx()
      .then(({ ivIndex, seq }) => this.transmit({ ivIndex, ctl: true, ttl, seq, src: this.address, dst }, encodeLowerPdu({ kind: "ack", obo: false, seqZero: seqAuth & 0x1fff, blockAck })))
      .catch(() => undefined); // a lost ack is recovered by the sender's retransmission
  }

  /** Encrypts a proxy configuration message (CTL 1, TTL 0, DST unassigned, proxy nonce). */
  async encodeProxyConfiguration(transportPdu: Uint8Array): Promise<Uint8Array> {
    const { ivIndex, seq } = await this.allocateTx();
    const kind: NonceKind = "proxy";
    return encodeNetworkPdu(this.primaryNetKey, { ivIndex, ctl: true, ttl: 0, seq, src: this.address, dst: 0 }, transportPdu, kind);
  }

  private async transmit(header: { ivIndex: number; ctl: boolean; ttl: number; seq: number; src: number; dst: number }, lower: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.rate.take(signal);
    if (this.closed || !this.output) throw new TransportError("closed", "no bearer is connected");
    const pdu = encodeNetworkPdu(this.primaryNetKey, header, lower);
    this.counters.sentPdus++;
    await this.output(pdu);
  }

  private timer(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimer(t: ReturnType<typeof setTimeout>): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  /** Stops all timers, drops reassembly state and fails every pending send with "closed". */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new TransportError("closed", "the mesh stack was closed"));
    for (const s of [...this.incoming.values()]) this.dropIncoming(s);
  }
}
