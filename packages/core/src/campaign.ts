// Campaigns: one image to many targets over one transport. A concurrency limit, group sends
// for the mesh method, relays through updated nodes, nodes that are offline at the start and
// come back, suspend and resume, cancellation, restarting failed targets, a per-target report
// and progress events (EventTarget and async iterator).
import {
  encodeVendorInit,
  ErrorCode,
  Method,
  RelayPhase,
  chunkSizeFor,
  type RelayStatus,
  type VendorMessage,
} from "@meshota/proto";
import { realClock, type Clock } from "./clock.js";
import { CancelledError } from "./errors.js";
import { readImage, type EspImage } from "./image/reader.js";
import { ControlLink, NoReplyError } from "./distributor/link.js";
import { meshTransfer, type MeshTransferResult } from "./distributor/mesh-transfer.js";
import { planRelays, type RelayPlan } from "./distributor/relay-plan.js";
import {
  DISTRIBUTOR_DEFAULTS,
  newSessionId,
  newTargetRecord,
  runTarget,
  SUSPEND,
  type DistributorEvent,
  type DistributorOptions,
  type RunContext,
  type RunHooks,
  type TargetRecord,
} from "./distributor/target.js";
import {
  hostFailure,
  SETTLED_STATES,
  type MethodProvider,
  type TargetFailure,
  type TargetReport,
} from "./distributor/types.js";
import { signImage, type SignedManifest } from "./signing.js";
import { checkLimit, Slots } from "./slots.js";
import type { ControlTransport, MeshAddress } from "./transport.js";

/** Relays: updated nodes serve their neighbours over ESP-NOW. */
export interface RelayOptions {
  /** Per node, the nodes it reaches on the data plane. */
  readonly neighbours: ReadonlyMap<MeshAddress, readonly MeshAddress[]>;
  /** Wi-Fi channel the relays transmit on (1-14). */
  readonly channel: number;
  /** ESP-NOW chunk payload (default 226, ESP-NOW v1). */
  readonly payloadSize?: number;
  readonly maxPerRelay?: number;
  readonly maxDepth?: number;
  readonly noRelay?: ReadonlySet<MeshAddress>;
}

/** Options of a campaign; the distributor options apply to every target. */
export interface CampaignOptions extends Partial<DistributorOptions> {
  readonly transport: ControlTransport;
  readonly image: EspImage;
  readonly signed: SignedManifest;
  readonly targets: readonly MeshAddress[];
  /** Targets updated at once (default 4). Group members and relayed targets run together. */
  readonly concurrency?: number;
  /**
   * Control requests awaiting a reply at once, over all targets (default 4). Keeps a large
   * campaign from overrunning the gateway's reassembly buffers; raise it for a gateway that
   * has more (see ControlLinkOptions).
   */
  readonly maxRequestsInFlight?: number;
  /**
   * Unicast mesh transfers (the mesh method without a group) running at once (default 3). They
   * share the gateway, so more at once is no faster, and a node that waits too long between
   * chunks ends its session with TIMEOUT. The default leaves one of the gateway's 4 outgoing
   * segmented messages to control traffic: with all 4 carrying chunks, some restarted nodes
   * could not answer within rebootTimeoutMs.
   */
  readonly meshTransfersAtOnce?: number;
  readonly clock?: Clock;
  /** Cancels the campaign. */
  readonly signal?: AbortSignal;
  /** Pause before an offline target is tried again (default 30 s). */
  readonly offlineRetryMs?: number;
  /**
   * How long the campaign keeps waiting for offline targets once nothing else is left to do
   * (default 10 min); they are then reported pending.
   */
  readonly offlineGiveUpMs?: number;
  /** Mesh method: send each chunk once to this group address, which every target subscribes to. */
  readonly group?: MeshAddress;
  readonly relay?: RelayOptions;
  /**
   * Draws the id of each new session: the campaign's shared one first, then one per target
   * that starts a session (default: random, from crypto.getRandomValues). A seeded source makes
   * a simulated campaign repeat. Each id must be a whole number from 1 to 2^32-1 (0 means "any
   * session" to the nodes).
   */
  readonly sessionIds?: () => number;
}

/** A campaign event. */
export type CampaignEvent =
  | DistributorEvent
  | { readonly type: "campaign"; readonly state: "running" | "suspended" | "resumed" | "cancelled" | "finished" };

/** The DOM event that carries a CampaignEvent (`event.detail`). */
export class CampaignEventEvent extends Event {
  constructor(readonly detail: CampaignEvent) {
    super(detail.type);
  }
}

/** Totals and one line per target. */
export interface CampaignReport {
  readonly done: number;
  readonly failed: number;
  readonly pending: number;
  readonly cancelled: number;
  readonly targets: readonly TargetReport[];
}

class Notifier {
  #wake: (() => void) | undefined;
  #pending = false;

  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        this.#pending = false;
        resolve();
      };
    });
  }
}

/** Waits until every expected member joined or left, then runs once with those who joined. */
class Barrier<R> {
  readonly #expected: Set<MeshAddress>;
  readonly #joined = new Map<MeshAddress, (result: R) => void>();
  #started = false;

  constructor(
    members: Iterable<MeshAddress>,
    readonly start: (joined: MeshAddress[]) => Promise<Map<MeshAddress, R>>,
    readonly fallback: R
  ) {
    this.#expected = new Set(members);
  }

  get started(): boolean {
    return this.#started;
  }

  has(address: MeshAddress): boolean {
    return this.#expected.has(address);
  }

  join(address: MeshAddress): Promise<R> {
    return new Promise<R>((resolve) => {
      if (this.#started || !this.#expected.has(address)) return resolve(this.fallback);
      this.#joined.set(address, resolve);
      this.#check();
    });
  }

  leave(address: MeshAddress): void {
    if (this.#joined.has(address)) return;
    this.#expected.delete(address);
    this.#check();
  }

  #check(): void {
    if (this.#started || this.#joined.size === 0) return;
    for (const a of this.#expected) if (!this.#joined.has(a)) return;
    this.#started = true;
    const joined = [...this.#joined.keys()];
    this.start(joined).then(
      (results) => {
        // A member's result may be undefined (success), so presence is tested, not the value.
        for (const [a, resolve] of this.#joined) resolve(results.has(a) ? (results.get(a) as R) : this.fallback);
      },
      () => {
        for (const resolve of this.#joined.values()) resolve(this.fallback);
      }
    );
  }
}

/** One image to many targets. */
export class Campaign extends EventTarget {
  readonly options: Readonly<DistributorOptions>;
  readonly clock: Clock;
  readonly link: ControlLink;
  readonly image: EspImage;
  readonly signed: SignedManifest;
  /** The relay tree, when relays are on. */
  readonly relayPlan: RelayPlan | undefined;
  /** Session id shared by group and relay sessions. */
  readonly sessionId: number;
  readonly #sessionIds: () => number;
  readonly #records = new Map<MeshAddress, TargetRecord>();
  readonly #concurrency: number;
  readonly #meshTransfers: Slots;
  readonly #offlineRetryMs: number;
  readonly #offlineGiveUpMs: number;
  readonly #group: MeshAddress | undefined;
  readonly #relay: RelayOptions | undefined;
  readonly #notifier = new Notifier();
  readonly #running = new Map<MeshAddress, Promise<void>>();
  readonly #targetAborts = new Map<MeshAddress, AbortController>();
  readonly #retryAt = new Map<MeshAddress, number>();
  readonly #heldForRelay = new Set<MeshAddress>();
  /** Targets last seen offline and not heard from since. */
  readonly #unreachable = new Set<MeshAddress>();
  readonly #stopped = new AbortController();
  #epoch = new AbortController();
  #groupBarrier: Barrier<TargetFailure | "offline" | undefined> | undefined;
  #suspended = false;
  #finished = false;
  #runningLoop: Promise<CampaignReport> | undefined;
  #cancelling: Promise<void> | undefined;
  #listeners = new Set<(event: CampaignEvent) => void>();

  constructor(options: CampaignOptions) {
    super();
    const {
      transport,
      image,
      signed,
      targets,
      concurrency,
      maxRequestsInFlight,
      meshTransfersAtOnce,
      clock,
      signal,
      offlineRetryMs,
      offlineGiveUpMs,
      group,
      relay,
      sessionIds,
      ...engine
    } = options;
    this.options = Object.freeze({ ...DISTRIBUTOR_DEFAULTS, ...stripUndefined(engine) });
    this.clock = clock ?? realClock;
    this.link = new ControlLink(transport, this.clock, { maxInFlight: maxRequestsInFlight });
    this.#meshTransfers = new Slots(meshTransfersAtOnce ?? 3, "meshTransfersAtOnce");
    this.image = image;
    this.signed = signed;
    this.#concurrency = checkLimit(concurrency ?? 4, "concurrency");
    this.#offlineRetryMs = offlineRetryMs ?? 30_000;
    this.#offlineGiveUpMs = offlineGiveUpMs ?? 600_000;
    this.#group = group;
    this.#relay = relay;
    this.#sessionIds = checkedSessionIds(sessionIds ?? newSessionId);
    this.sessionId = this.#sessionIds();
    for (const t of targets) {
      if (this.#records.has(t)) throw new RangeError(`target 0x${t.toString(16)} is listed twice`);
      this.#records.set(t, newTargetRecord(t));
    }
    if (group !== undefined && !transport.info.groups)
      throw new RangeError(`transport "${transport.info.name}" cannot send to groups`);
    if (relay) {
      this.relayPlan = planRelays(targets, relay.neighbours, relay);
      for (const a of this.relayPlan.parent.keys()) this.#heldForRelay.add(a);
    }
    if (group !== undefined) this.#groupBarrier = this.#newGroupBarrier(targets);
    // A signal aborted before the campaign exists cancels it at once ('abort' fires only once).
    if (signal?.aborted) void this.cancel(signal.reason);
    else signal?.addEventListener("abort", () => void this.cancel(signal.reason), { once: true });
  }

  /**
   * Reads and checks an image, signs its manifest and builds the campaign. A defective image
   * throws ImageFormatError here, before anything is sent.
   */
  static async fromImageBytes(
    options: Omit<CampaignOptions, "image" | "signed"> & {
      readonly imageBytes: Uint8Array;
      readonly privateKey: CryptoKey;
    }
  ): Promise<Campaign> {
    const { imageBytes, privateKey, ...rest } = options;
    const image = await readImage(imageBytes);
    const signed = await signImage(image, privateKey);
    return new Campaign({ ...rest, image, signed });
  }

  /** The record of a target (live; do not modify). */
  target(address: MeshAddress): Readonly<TargetRecord> | undefined {
    return this.#records.get(address);
  }

  /** Events until the campaign finishes or `signal` aborts. */
  events(signal?: AbortSignal): AsyncIterable<CampaignEvent> {
    const queue: CampaignEvent[] = [];
    let wake: (() => void) | undefined;
    // A campaign that has finished and is not running again has no more events.
    let ended = this.#finished && !this.#runningLoop;
    const listener = (e: CampaignEvent) => {
      if (queue.length >= 10_000) queue.shift();
      queue.push(e);
      if (e.type === "campaign" && (e.state === "finished" || e.state === "cancelled")) ended = true;
      wake?.();
    };
    this.#listeners.add(listener);
    const stop = () => {
      ended = true;
      wake?.();
    };
    signal?.addEventListener("abort", stop, { once: true });
    const listeners = this.#listeners;
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            const next = queue.shift();
            if (next) {
              yield next;
              continue;
            }
            if (ended || signal?.aborted) return;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          listeners.delete(listener);
        }
      },
    };
  }

  #emit(event: CampaignEvent): void {
    if (event.type === "state" && event.state === "offline") {
      this.#retryAt.set(event.address, this.clock.now() + this.#offlineRetryMs);
      this.#unreachable.add(event.address);
    } else if (event.type === "state" && event.state !== "querying") {
      // It answered (or was stopped): no longer waiting for it to come back.
      this.#unreachable.delete(event.address);
    }
    for (const l of this.#listeners) l(event);
    this.dispatchEvent(new CampaignEventEvent(event));
  }

  /**
   * Runs the campaign until every target is done, failed or cancelled, or only offline
   * targets are left and offlineGiveUpMs passed. Resolves with the report.
   */
  run(): Promise<CampaignReport> {
    if (this.#runningLoop) return this.#runningLoop;
    this.#runningLoop = this.#loop().finally(() => {
      this.#runningLoop = undefined;
    });
    return this.#runningLoop;
  }

  async #loop(): Promise<CampaignReport> {
    this.link.open();
    this.#emit({ type: "campaign", state: "running" });
    let idleSince: number | undefined;
    while (!this.#stopped.signal.aborted) {
      if (this.#suspended) {
        await this.#notifier.wait();
        continue;
      }
      const now = this.clock.now();
      for (const r of this.#records.values()) {
        if (this.#running.size >= this.#concurrency && !this.#groupBarrier?.has(r.address)) continue;
        if (this.#running.has(r.address) || this.#heldForRelay.has(r.address)) continue;
        const due =
          r.state === "pending" ||
          r.state === "suspended" ||
          (r.state === "offline" && (this.#retryAt.get(r.address) ?? 0) <= now);
        if (due) this.#start(r);
      }
      // Once only offline targets are left, they get offlineGiveUpMs to come back.
      const records = [...this.#records.values()];
      const offline = records.filter((r) => r.state === "offline");
      const onlyOffline = records.every((r) => SETTLED_STATES.has(r.state) || this.#unreachable.has(r.address));
      if (onlyOffline && this.#unreachable.size > 0) idleSince ??= now;
      else idleSince = undefined;
      if (idleSince !== undefined && now - idleSince >= this.#offlineGiveUpMs && this.#running.size === 0) break;
      if (this.#running.size > 0) {
        await this.#notifier.wait();
        continue;
      }
      if (offline.length === 0) break;
      const next = Math.min(
        ...offline.map((r) => this.#retryAt.get(r.address) ?? now),
        (idleSince ?? now) + this.#offlineGiveUpMs
      );
      await this.#sleepUntil(next);
    }
    await Promise.allSettled([...this.#running.values()]);
    // A cancelled campaign reports once every target is marked and told.
    await this.#cancelling;
    const report = this.report();
    this.#finished = true;
    this.#emit({ type: "campaign", state: this.#stopped.signal.aborted ? "cancelled" : "finished" });
    return report;
  }

  async #sleepUntil(at: number): Promise<void> {
    const stop = new AbortController();
    const sleep = this.clock.sleep(Math.max(0, at - this.clock.now()), stop.signal).catch(() => undefined);
    await Promise.race([sleep, this.#notifier.wait()]);
    stop.abort();
  }

  #context(): RunContext {
    return {
      link: this.link,
      clock: this.clock,
      image: this.image,
      signed: this.signed,
      options: this.options,
      emit: (e) => this.#emit(e),
      newSessionId: this.#sessionIds,
      meshTransfers: this.#meshTransfers,
    };
  }

  #start(record: TargetRecord, hooks?: RunHooks): void {
    const own = new AbortController();
    this.#targetAborts.set(record.address, own);
    const signal = AbortSignal.any([this.#epoch.signal, own.signal]);
    const h = hooks ?? this.#hooksFor(record);
    const run = runTarget(record, this.#context(), signal, h).finally(() => {
      this.#targetAborts.delete(record.address);
      this.#running.delete(record.address);
      this.#groupBarrier?.leave(record.address);
      this.#releaseChildren(record.address);
      this.#notifier.notify();
    });
    this.#running.set(record.address, run);
  }

  #hooksFor(record: TargetRecord): RunHooks {
    const hooks: { -readonly [K in keyof RunHooks]: RunHooks[K] } = {};
    const barrier = this.#groupBarrier;
    if (barrier && !barrier.started && barrier.has(record.address)) {
      const chunkSize = this.#groupChunkSize();
      hooks.sessionId = this.sessionId;
      hooks.method = { method: Method.MESH, params: () => ({ case: "mesh", value: { chunkSize } as never }) };
      hooks.transfer = (r) => barrier.join(r.address);
    }
    const kids = this.relayPlan?.children.get(record.address);
    if (kids && kids.length > 0) {
      hooks.sessionId ??= this.sessionId;
      hooks.afterVerified = (r) => this.#relayJob(r, kids);
    }
    return hooks;
  }

  #groupChunkSize(): number {
    const byMtu = chunkSizeFor(this.link.transport.info.mtu);
    return Math.min(this.options.meshChunkSize ?? byMtu, byMtu);
  }

  #newGroupBarrier(members: Iterable<MeshAddress>): Barrier<TargetFailure | "offline" | undefined> {
    const group = this.#group!;
    return new Barrier<TargetFailure | "offline" | undefined>(
      members,
      async (joined): Promise<MeshTransferResult> =>
        meshTransfer(this.link, {
          dst: group,
          targets: joined,
          sessionId: this.sessionId,
          image: this.image.bytes,
          chunkSize: this.#groupChunkSize(),
          retry: this.options.retry,
          chunkGapMs: this.options.chunkGapMs,
          signal: this.#epoch.signal,
        }),
      hostFailure(ErrorCode.INTERNAL, "the group transfer ended without a result for this target")
    );
  }

  #releaseChildren(address: MeshAddress): void {
    for (const kid of this.relayPlan?.children.get(address) ?? []) {
      if (this.#heldForRelay.delete(kid)) this.#releaseChildren(kid);
    }
  }

  /** Serves `kids` from the verified image on `parent`, then lets the parent go on. */
  async #relayJob(parent: TargetRecord, kids: readonly MeshAddress[]): Promise<void> {
    const relay = this.#relay!;
    const mac = parent.info?.wifiMac ?? new Uint8Array(6);
    const payloadSize = relay.payloadSize ?? 226;
    const sessionId = parent.sessionId;
    const espnow = { channel: relay.channel, distributorMac: mac, payloadSize };
    const records = kids
      .filter((a) => this.#heldForRelay.has(a))
      .map((a) => this.#records.get(a)!)
      .filter((r) => r.state === "pending" || r.state === "offline" || r.state === "suspended");
    for (const r of records) this.#heldForRelay.delete(r.address);
    if (records.length === 0) return;
    const provider: MethodProvider = {
      method: Method.ESPNOW,
      params: () => ({ case: "espnow", value: espnow as never }),
    };
    const refused = hostFailure(
      ErrorCode.NO_IMAGE,
      `relay 0x${parent.address.toString(16).padStart(4, "0")} did not start`
    );
    const barrier = new Barrier<TargetFailure | undefined>(
      records.map((r) => r.address),
      async (joined) => {
        const ok = await this.#startRelay(parent.address, sessionId, joined, espnow);
        return new Map(joined.map((a) => [a, ok ? undefined : refused]));
      },
      refused
    );
    const signal = this.#epoch.signal;
    await Promise.all(
      records.map(async (r) => {
        r.relayedBy = parent.address;
        const grandkids = this.relayPlan?.children.get(r.address);
        const hooks: RunHooks = {
          method: provider,
          sessionId,
          transfer: (rec) => barrier.join(rec.address),
          ...(grandkids && grandkids.length > 0
            ? { afterVerified: (rec: TargetRecord) => this.#relayJob(rec, grandkids) }
            : {}),
        };
        const run = runTarget(r, this.#context(), signal, hooks);
        this.#running.set(r.address, run);
        try {
          await run;
        } finally {
          this.#running.delete(r.address);
          barrier.leave(r.address);
          this.#releaseChildren(r.address);
        }
        if (r.state === "failed" && r.failure === refused) {
          // The relay could not serve it: the distributor updates it directly. The session id
          // and method stay, so that the direct run ends the relayed session (UpdateCancel)
          // before it starts its own, even when this cancel is lost.
          await this.#cancelSession(r);
          r.relayedBy = undefined;
          r.failure = undefined;
          r.state = "pending";
        }
        this.#notifier.notify();
      })
    );
  }

  async #startRelay(relay: MeshAddress, sessionId: number, targets: MeshAddress[], espnow: object): Promise<boolean> {
    const isRelayStatus = (m: VendorMessage): m is RelayStatus => m.$typeName === "meshota.v1.RelayStatus";
    try {
      const st = await this.link.request(
        relay,
        encodeVendorInit("RelayStart", { sessionId, targets, method: { case: "espnow", value: espnow as never } }),
        isRelayStatus,
        "RelayStatus",
        this.options.retry,
        this.#epoch.signal
      );
      return st.phase === RelayPhase.RUNNING || st.phase === RelayPhase.DONE;
    } catch (error) {
      if (NoReplyError.isInstance(error)) return false;
      throw error;
    }
  }

  async #cancelSession(r: TargetRecord, attempts = this.options.retry.attempts): Promise<void> {
    try {
      await this.link.request(
        r.address,
        encodeVendorInit("UpdateCancel", { sessionId: r.sessionId }),
        (m): m is VendorMessage => m.$typeName === "meshota.v1.UpdateStatus",
        "UpdateStatus for UpdateCancel",
        { ...this.options.retry, attempts }
      );
    } catch {
      // Best effort: a node that does not answer keeps its session until it times out.
    }
  }

  /**
   * Stops every running target where it is (their sessions stay on the nodes) and resolves
   * once they have stopped. run() keeps waiting until resume() or cancel().
   */
  async suspend(): Promise<void> {
    if (this.#suspended) return;
    this.#suspended = true;
    this.#epoch.abort(SUSPEND);
    await Promise.allSettled([...this.#running.values()]);
    this.#emit({ type: "campaign", state: "suspended" });
  }

  /** Continues a suspended campaign from what each node holds. */
  resume(): void {
    if (!this.#suspended) return;
    this.#suspended = false;
    this.#epoch = new AbortController();
    if (this.#group !== undefined) {
      const members = [...this.#records.values()]
        .filter((r) => r.state === "suspended" && r.sessionId === this.sessionId)
        .map((r) => r.address);
      this.#groupBarrier = this.#newGroupBarrier(members);
    }
    this.#emit({ type: "campaign", state: "resumed" });
    this.#notifier.notify();
  }

  /**
   * Cancels the campaign: running targets stop, every node with an unfinished session of
   * this campaign (suspended ones included) gets UpdateCancel (best effort), every target not
   * done or failed is reported cancelled. Resolves (as does run()) once that is over.
   */
  cancel(reason?: unknown): Promise<void> {
    this.#cancelling ??= this.#cancel(reason);
    return this.#cancelling;
  }

  async #cancel(reason: unknown): Promise<void> {
    this.#stopped.abort(reason);
    this.#epoch.abort(new CancelledError("campaign cancelled", { cause: reason }));
    this.#notifier.notify();
    await Promise.allSettled([...this.#running.values()]);
    // Suspended, offline and waiting targets are cancelled too; a suspended one still holds
    // its session on the node, which gets UpdateCancel like the running ones.
    for (const r of this.#records.values()) {
      if (SETTLED_STATES.has(r.state)) continue;
      const previous = r.state;
      r.state = "cancelled";
      this.#emit({ type: "state", address: r.address, state: "cancelled", previous });
    }
    await Promise.all(
      [...this.#records.values()]
        .filter((r) => r.sessionId !== 0 && r.state === "cancelled")
        .map((r) => this.#cancelSession(r, 2))
    );
  }

  /**
   * Cancels one target: stops its run and sends UpdateCancel for its session, or with
   * `anySession` for whatever session the node holds (a node stuck BUSY with a session this
   * campaign does not know). The target is reported cancelled; retryFailed() does not pick it
   * up, retryCancelled() does.
   */
  async cancelTarget(address: MeshAddress, options: { anySession?: boolean } = {}): Promise<void> {
    const r = this.#records.get(address);
    if (!r) throw new RangeError(`0x${address.toString(16)} is not a target of this campaign`);
    if (r.state === "done") return;
    this.#targetAborts.get(address)?.abort(new CancelledError("target cancelled"));
    await this.#running.get(address);
    const sessionId = options.anySession ? 0 : r.sessionId;
    if (sessionId !== 0 || options.anySession) await this.#cancelSession({ ...r, sessionId });
    const previous = r.state;
    r.state = "cancelled";
    if (previous !== "cancelled") this.#emit({ type: "state", address, state: "cancelled", previous });
    this.#notifier.notify();
  }

  /**
   * Puts targets cancelled with cancelTarget() back in the queue with a fresh session. After
   * cancel() the campaign is over: this throws, and a new Campaign takes the targets.
   */
  retryCancelled(addresses?: readonly MeshAddress[]): number {
    return this.#requeue("cancelled", addresses);
  }

  /**
   * Puts failed targets (all, or those listed) back in the queue with a fresh session; call
   * run() again (or keep the current run going) to update them. Throws after cancel().
   */
  retryFailed(addresses?: readonly MeshAddress[]): number {
    return this.#requeue("failed", addresses);
  }

  #requeue(state: "failed" | "cancelled", addresses?: readonly MeshAddress[]): number {
    if (this.#stopped.signal.aborted) {
      throw new Error("this campaign was cancelled and does not run again; start a new Campaign for its targets");
    }
    let n = 0;
    for (const r of this.#records.values()) {
      if (r.state !== state || (addresses && !addresses.includes(r.address))) continue;
      r.state = "pending";
      r.failure = undefined;
      r.sessionId = 0;
      n++;
    }
    this.#notifier.notify();
    return n;
  }

  /** The report as it stands. */
  report(): CampaignReport {
    const targets: TargetReport[] = [...this.#records.values()].map((r) => {
      const outcome =
        r.state === "done"
          ? "done"
          : r.state === "failed"
          ? "failed"
          : r.state === "cancelled"
          ? "cancelled"
          : "pending";
      return {
        address: r.address,
        outcome,
        state: r.state,
        failure: r.failure,
        pendingReason: outcome === "pending" ? r.pendingReason ?? `not finished (${r.state})` : undefined,
        method: r.method,
        sessionId: r.sessionId,
        bytesDone: r.bytesDone,
        imageSize: this.image.size,
        fromVersion: r.fromVersion,
        version: r.info?.version,
        upToDate: r.upToDate,
        relayedBy: r.relayedBy,
        runs: r.runs,
      };
    });
    const count = (o: string) => targets.filter((t) => t.outcome === o).length;
    return {
      done: count("done"),
      failed: count("failed"),
      pending: count("pending"),
      cancelled: count("cancelled"),
      targets,
    };
  }

  /** Stops listening on the transport. */
  close(): void {
    this.link.close();
  }
}

/** Wraps a session id source so that an id the nodes would misread (0, over 32 bits) throws. */
function checkedSessionIds(draw: () => number): () => number {
  return () => {
    const id = draw();
    if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) {
      throw new RangeError(`session id ${id} is not a whole number from 1 to 4294967295 (0 means any session)`);
    }
    return id;
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
