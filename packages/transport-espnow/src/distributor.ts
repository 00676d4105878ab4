// The ESP-NOW distributor: broadcasts an image in rounds and repairs what receivers miss.
//
// Round 0 is a TransferInfo (round 0) then every chunk. Each later round r starts with a
// TransferInfo (round r), which is also the report request: every receiver answers by unicast
// with MissingChunks or TransferDone. After the report window the distributor broadcasts the
// union of what was reported missing, then starts round r + 1. A target that stays silent for
// `silentRounds` rounds in a row is given up on: ERROR_CODE_WRONG_CHANNEL when it never
// reported at all (it most likely listens on another channel), ERROR_CODE_TIMEOUT otherwise.
// After `maxRounds` repair rounds every unfinished target fails with ERROR_CODE_TIMEOUT.
// No single lost frame can stall a transfer: a lost chunk is reported again, a lost request or
// report only costs that target one silent round.
import { BEARER_FRAME_MAX, CHUNK_FRAME_OVERHEAD, decodeFrame, encodeFrame, ErrorCode, type DataFrame } from "@meshota/proto";
import type { EspNowLink, SendOutcome, Timers } from "./link.js";
import { BROADCAST_MAC, macToString, parseMac as parseMacKey } from "./mac.js";
import { missingIndices } from "./missing.js";

/** Largest chunk the schema allows (Chunk.data max_size). */
export const CHUNK_DATA_MAX = 1440;

/** The chunk payload that fills one ESP-NOW frame of `maxPayload` bytes (232 for v1, 1440 for v2). */
export function espnowChunkSize(maxPayload: number): number {
  if (maxPayload < CHUNK_FRAME_OVERHEAD + 1 || maxPayload > BEARER_FRAME_MAX.espnowV2) {
    throw new RangeError(`ESP-NOW payload must be ${CHUNK_FRAME_OVERHEAD + 1}-${BEARER_FRAME_MAX.espnowV2} bytes, got ${maxPayload}`);
  }
  return Math.min(CHUNK_DATA_MAX, maxPayload - CHUNK_FRAME_OVERHEAD);
}

/** Options of one distribution. */
export interface DistributionOptions {
  /** Session id from the UpdateStart the targets accepted. */
  sessionId: number;
  /** The image bytes (the signed manifest's hash is checked by each target). */
  image: Uint8Array;
  /** MAC addresses of the targets (from their InfoStatus.wifi_mac). */
  targets: readonly Uint8Array[];
  /** Chunk payload size; defaults to what fills one frame of the link (espnowChunkSize). */
  chunkSize?: number;
  /** Longest wait for reports after a report request, in ms. Default 1000. */
  reportWindowMs?: number;
  /** Shortest wait, in ms, when not every target has answered yet. Default 100. */
  minReportWindowMs?: number;
  /** Most repair rounds after round 0. Default 50. */
  maxRounds?: number;
  /** Consecutive rounds without a report before a target is given up on. Default 5. */
  silentRounds?: number;
  /** Called after each round. */
  onRound?: (progress: RoundProgress) => void;
  /** Aborts the distribution; pending targets fail with ERROR_CODE_CANCELLED. */
  signal?: AbortSignal;
}

/** Defaults of the optional timing and limit options. */
export const DEFAULT_DISTRIBUTION_OPTIONS: Readonly<Required<Pick<DistributionOptions, "reportWindowMs" | "minReportWindowMs" | "maxRounds" | "silentRounds">>> =
  Object.freeze({ reportWindowMs: 1000, minReportWindowMs: 100, maxRounds: 50, silentRounds: 5 });

/** Progress after one round. */
export interface RoundProgress {
  round: number;
  /** Chunks to send in the next round (the union of the reports). */
  nextRoundChunks: number;
  done: number;
  failed: number;
  pending: number;
}

/** Outcome for one target. */
export interface TargetResult {
  mac: string;
  /** Whether the target reported a complete, verified image. */
  ok: boolean;
  /** ERROR_CODE_NONE when ok; otherwise why it failed. */
  error: ErrorCode;
  /** A sentence saying why the target failed; empty when ok. */
  reason: string;
  /** Round in which it finished or was given up on. */
  round: number;
}

/** Outcome of a distribution. */
export interface DistributionResult {
  targets: TargetResult[];
  /** Repair rounds run after round 0. */
  rounds: number;
  chunkSize: number;
  chunkCount: number;
  /**
   * Frames the distributor handed to its radio: broadcast chunks, TransferInfo and TransferDone,
   * and unicast report requests to targets that had not answered.
   */
  sent: { chunks: number; infos: number; done: number; requests: number };
  /** Reports received from targets, and frames ignored (unknown sender, other session, malformed). */
  reports: number;
  ignored: number;
  /** Time from start to finish in ms (virtual in the simulator). */
  durationMs: number;
}

interface Target {
  mac: string;
  state: "pending" | "done" | "failed";
  error: ErrorCode;
  reason: string;
  round: number;
  everHeard: boolean;
  silent: number;
  reported: boolean;
  /** Its last report named chunks past the end (another image geometry, or a broken target). */
  badReport: boolean;
}

type Phase = "idle" | "sending" | "window" | "finished";

/**
 * Runs one distribution over `link` and resolves when every target is done or failed.
 * The promise never rejects for a target's failure: each target's outcome is in the result.
 */
export function distribute(link: EspNowLink, timers: Timers, options: DistributionOptions): Promise<DistributionResult> {
  return new Promise((resolve, reject) => {
    try {
      startDistribution(link, timers, options, resolve);
    } catch (error) {
      reject(error);
    }
  });
}

/**
 * Callback form of distribute(): `onDone` runs synchronously inside the event that finishes
 * the distribution (what a discrete-event simulation needs). Throws on invalid options.
 */
export function startDistribution(link: EspNowLink, timers: Timers, options: DistributionOptions, onDone: (result: DistributionResult) => void): void {
  new Distribution(link, timers, options, onDone).start();
}

class Distribution {
  readonly #link: EspNowLink;
  readonly #timers: Timers;
  readonly #o: Required<Omit<DistributionOptions, "onRound" | "signal" | "chunkSize">> & Pick<DistributionOptions, "onRound" | "signal">;
  readonly #resolve: (r: DistributionResult) => void;
  readonly #chunkSize: number;
  readonly #chunkCount: number;
  readonly #targets = new Map<string, Target>();
  #phase: Phase = "idle";
  #round = 0;
  #queue: Uint8Array[] = [];
  #inFlight = 0;
  #next = new Set<number>();
  #cancelWindow: (() => void) | undefined;
  #cancelAsk: (() => void) | undefined;
  #windowOpenedAt = 0;
  #startedAt = 0;
  #sent = { chunks: 0, infos: 0, done: 0, requests: 0 };
  #reports = 0;
  #ignored = 0;
  #onAbort = (): void => this.#abort();

  constructor(link: EspNowLink, timers: Timers, options: DistributionOptions, resolve: (r: DistributionResult) => void) {
    this.#link = link;
    this.#timers = timers;
    this.#resolve = resolve;
    this.#o = { ...DEFAULT_DISTRIBUTION_OPTIONS, ...options };
    const chunkSize = options.chunkSize ?? espnowChunkSize(link.maxPayload);
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > espnowChunkSize(link.maxPayload)) {
      throw new RangeError(`chunk size ${chunkSize} does not fit an ESP-NOW frame of ${link.maxPayload} bytes`);
    }
    if (options.image.length === 0) throw new RangeError("the image is empty");
    if (!Number.isInteger(options.sessionId) || options.sessionId < 1 || options.sessionId > 0xffffffff) {
      throw new RangeError(`session id must be 1-4294967295, got ${options.sessionId}`);
    }
    this.#chunkSize = chunkSize;
    this.#chunkCount = Math.ceil(options.image.length / chunkSize);
    for (const mac of options.targets) {
      const key = macToString(mac);
      this.#targets.set(key, { mac: key, state: "pending", error: ErrorCode.NONE, reason: "", round: 0, everHeard: false, silent: 0, reported: false, badReport: false });
    }
  }

  start(): void {
    this.#startedAt = this.#timers.now();
    this.#link.onReceive((src, payload) => this.#onReport(src, payload));
    this.#link.onWritable(() => this.#pump());
    if (this.#o.signal?.aborted) return this.#abort();
    this.#o.signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#targets.size === 0) return this.#finish();
    this.#queue.push(this.#info(0));
    for (let i = 0; i < this.#chunkCount; i++) this.#queue.push(this.#chunk(i));
    this.#phase = "sending";
    this.#pump();
  }

  #info(round: number): Uint8Array {
    return encodeFrame(
      { body: { case: "info", value: { sessionId: this.#o.sessionId, imageSize: this.#o.image.length, chunkSize: this.#chunkSize, chunkCount: this.#chunkCount, round } } },
      this.#link.maxPayload,
    );
  }

  #chunk(index: number): Uint8Array {
    const start = index * this.#chunkSize;
    const data = this.#o.image.subarray(start, Math.min(start + this.#chunkSize, this.#o.image.length));
    return encodeFrame({ body: { case: "chunk", value: { sessionId: this.#o.sessionId, index, data } } }, this.#link.maxPayload);
  }

  #pump(): void {
    if (this.#phase !== "sending") return;
    while (this.#queue.length > 0 && this.#phase === "sending") {
      const frame = this.#queue[0]!;
      const kind = frame.length > 0 ? decodeKind(frame) : "chunk";
      const accepted = this.#send(BROADCAST_MAC, frame, (outcome) => this.#sendDone(outcome));
      if (!accepted) return;
      this.#queue.shift();
      this.#inFlight++;
      this.#sent[kind === "info" ? "infos" : kind === "done" ? "done" : "chunks"]++;
    }
    if (this.#phase === "sending" && this.#inFlight === 0) this.#endOfSending();
  }

  /**
   * link.send(), turning a radio that throws (the bridge dongle is gone) into the end of the
   * distribution: every pending target fails with ERROR_CODE_NETWORK.
   */
  #send(dst: Uint8Array, frame: Uint8Array, done?: (outcome: SendOutcome) => void): boolean {
    try {
      return this.#link.send(dst, frame, done);
    } catch (error) {
      this.#linkFailed(error);
      return false;
    }
  }

  #linkFailed(error: unknown): void {
    if (this.#phase === "finished") return;
    this.#cancelWindow?.();
    this.#cancelAsk?.();
    this.#queue = [];
    const why = error instanceof Error ? error.message : String(error);
    for (const t of this.#targets.values()) if (t.state === "pending") this.#settle(t, ErrorCode.NETWORK, `the radio failed: ${why}`);
    this.#finish();
  }

  #sendDone(_outcome: SendOutcome): void {
    // A broadcast that failed at the radio is a lost frame like any other: the reports repair it.
    this.#inFlight--;
    if (this.#phase === "sending" && this.#queue.length === 0 && this.#inFlight === 0) this.#endOfSending();
  }

  /** Everything of this round is on air: request reports. */
  #endOfSending(): void {
    this.#round++;
    for (const t of this.#targets.values()) t.reported = false;
    this.#next.clear();
    this.#phase = "idle";
    const frame = this.#info(this.#round);
    const send = (): void => {
      if (this.#phase !== "idle") return;
      if (!this.#send(BROADCAST_MAC, frame, () => this.#openWindow())) {
        if ((this.#phase as Phase) === "finished") return;
        this.#link.onWritable(() => {
          this.#link.onWritable(() => this.#pump());
          send();
        });
        return;
      }
      this.#sent.infos++;
    };
    send();
  }

  #openWindow(): void {
    if (this.#phase !== "idle") return;
    this.#phase = "window";
    this.#windowOpenedAt = this.#timers.now();
    this.#cancelWindow = this.#timers.setTimer(this.#o.reportWindowMs, () => this.#closeWindow());
    const round = this.#round;
    this.#cancelAsk = this.#timers.setTimer(this.#o.reportWindowMs / 2, () => this.#askSilent(round));
    this.#checkEarlyClose();
  }

  /**
   * Half-way through the window, ask every target that has not answered again, by unicast
   * (acknowledged and retried by the radio): a lost broadcast request then costs nothing.
   */
  #askSilent(round: number): void {
    if (this.#phase !== "window" || round !== this.#round) return;
    const frame = this.#info(round);
    for (const t of this.#targets.values()) {
      if (t.state !== "pending" || t.reported) continue;
      if (this.#send(parseMacKey(t.mac), frame)) this.#sent.requests++;
      if ((this.#phase as Phase) === "finished") return;
    }
  }

  #checkEarlyClose(): void {
    if (this.#phase !== "window") return;
    for (const t of this.#targets.values()) if (t.state === "pending" && !t.reported) return;
    // Everyone answered: close now (after the short minimum, so duplicates settle).
    this.#cancelWindow?.();
    const elapsed = this.#timers.now() - this.#windowOpenedAt;
    const rest = Math.max(0, Math.min(this.#o.minReportWindowMs, this.#o.reportWindowMs) - elapsed);
    this.#cancelWindow = this.#timers.setTimer(rest, () => this.#closeWindow());
  }

  #onReport(src: Uint8Array, payload: Uint8Array): void {
    const target = this.#targets.get(macToString(src));
    let frame: DataFrame;
    try {
      frame = decodeFrame(payload);
    } catch {
      this.#ignored++;
      return;
    }
    const body = frame.body;
    if (!target || (body.case !== "missing" && body.case !== "done") || body.value.sessionId !== this.#o.sessionId) {
      this.#ignored++;
      return;
    }
    target.everHeard = true;
    const indices = body.case === "missing" ? missingIndices(body.value, this.#chunkCount) : undefined;
    if (body.case === "missing" && !indices) {
      // Not a report: it does not keep the target from being counted silent, so a target that
      // sends nothing else is given up on after silentRounds, with this reason.
      this.#ignored++;
      target.badReport = true;
      return;
    }
    this.#reports++;
    target.silent = 0;
    target.reported = true;
    target.badReport = false;
    if (target.state !== "pending") return;
    if (body.case === "done") {
      const error = body.value.error;
      this.#settle(target, error, error === ErrorCode.NONE ? "" : `the target gave up: ${ErrorCode[error] ?? error}`);
    } else {
      for (const i of indices!) this.#next.add(i);
    }
    this.#checkEarlyClose();
  }

  #settle(target: Target, error: ErrorCode, reason: string): void {
    target.state = error === ErrorCode.NONE ? "done" : "failed";
    target.error = error;
    target.reason = reason;
    target.round = this.#round;
  }

  #closeWindow(): void {
    if (this.#phase !== "window") return;
    this.#cancelWindow = undefined;
    this.#cancelAsk?.();
    this.#cancelAsk = undefined;
    for (const t of this.#targets.values()) {
      if (t.state !== "pending" || t.reported) continue;
      t.silent++;
      if (t.silent >= this.#o.silentRounds) {
        if (t.badReport) {
          this.#settle(t, ErrorCode.CHUNK_OUT_OF_RANGE, `its reports name chunks past the last of ${this.#chunkCount}: another chunk size or image?`);
        } else if (t.everHeard) this.#settle(t, ErrorCode.TIMEOUT, `no report for ${t.silent} rounds in a row`);
        else this.#settle(t, ErrorCode.WRONG_CHANNEL, `never heard a report in ${t.silent} rounds: probably on another channel`);
      }
    }
    let pending = 0;
    for (const t of this.#targets.values()) if (t.state === "pending") pending++;
    if (pending > 0 && this.#round >= this.#o.maxRounds) {
      for (const t of this.#targets.values()) {
        if (t.state === "pending") this.#settle(t, ErrorCode.TIMEOUT, `still incomplete after ${this.#o.maxRounds} repair rounds`);
      }
      pending = 0;
    }
    this.#o.onRound?.({ round: this.#round, nextRoundChunks: pending > 0 ? this.#next.size : 0, ...this.#counts() });
    if (pending === 0) return this.#finish();
    const indices = [...this.#next].sort((a, b) => a - b);
    for (const i of indices) this.#queue.push(this.#chunk(i));
    this.#phase = "sending";
    this.#pump();
  }

  #counts(): { done: number; failed: number; pending: number } {
    const c = { done: 0, failed: 0, pending: 0 };
    for (const t of this.#targets.values()) c[t.state === "done" ? "done" : t.state === "failed" ? "failed" : "pending"]++;
    return c;
  }

  #abort(): void {
    if (this.#phase === "finished") return;
    this.#cancelWindow?.();
    this.#cancelAsk?.();
    this.#queue = [];
    for (const t of this.#targets.values()) if (t.state === "pending") this.#settle(t, ErrorCode.CANCELLED, "the distribution was cancelled");
    this.#finish();
  }

  #finish(): void {
    this.#phase = "finished";
    this.#o.signal?.removeEventListener("abort", this.#onAbort);
    // Tell listeners no more chunks will come; a lost TransferDone costs nothing, the targets
    // that finished already know, the others fail by their own receive timeout.
    const done = encodeFrame({ body: { case: "done", value: { sessionId: this.#o.sessionId, error: ErrorCode.NONE } } }, this.#link.maxPayload);
    try {
      if (this.#link.send(BROADCAST_MAC, done)) this.#sent.done++;
    } catch {
      // The radio is gone; the outcome of every target is already settled.
    }
    this.#link.onReceive(undefined);
    this.#link.onWritable(undefined);
    this.#resolve({
      targets: [...this.#targets.values()].map((t) => ({ mac: t.mac, ok: t.state === "done", error: t.error, reason: t.reason, round: t.round })),
      rounds: this.#round,
      chunkSize: this.#chunkSize,
      chunkCount: this.#chunkCount,
      sent: { ...this.#sent },
      reports: this.#reports,
      ignored: this.#ignored,
      durationMs: this.#timers.now() - this.#startedAt,
    });
  }
}

function decodeKind(frame: Uint8Array): "info" | "chunk" | "done" {
  // DataFrame oneof tags: info = 2, chunk = 3, done = 5 (field key byte (tag << 3) | 2).
  const key = frame[0]! >> 3;
  return key === 2 ? "info" : key === 5 ? "done" : "chunk";
}
