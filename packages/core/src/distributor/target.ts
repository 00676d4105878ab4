// One target's update, from InfoGet to the confirmed new version. A host-side state machine
// that mirrors the node's phases; it can stop anywhere (offline, suspend, cancel) and run
// again later from what the node reports, never from zero.
import {
  chunkSizeFor,
  encodeVendorInit,
  ErrorCode,
  Method,
  Phase,
  type InfoStatus,
  type UpdateStart,
  type UpdateStatus,
  type VendorMessage,
} from "@meshota/proto";
import type { Clock } from "../clock.js";
import { CancelledError } from "../errors.js";
import { chipById, formatChipRevision } from "../image/chips.js";
import type { EspImage } from "../image/reader.js";
import type { SignedManifest } from "../signing.js";
import type { Slots } from "../slots.js";
import type { ControlTransport, MeshAddress } from "../transport.js";
import { NoReplyError, type ControlLink, type RetryOptions } from "./link.js";
import { meshTransfer } from "./mesh-transfer.js";
import {
  hostFailure,
  methodName,
  nodeFailure,
  phaseName,
  TargetError,
  TargetOfflineError,
  type ApplyPolicy,
  type MethodProvider,
  type TargetFailure,
  type TargetState,
} from "./types.js";

/** Options of the distributor engine. Every field has a default (see DISTRIBUTOR_DEFAULTS). */
export interface DistributorOptions {
  /** Side channels in order of preference; the first one the node supports is used. */
  methods: MethodProvider[];
  policy: ApplyPolicy;
  /** Retries of every control request. */
  retry: RetryOptions;
  /** Interval of UpdateGet polls while a node receives (default 2000 ms). */
  pollIntervalMs: number;
  /** A transfer without progress for this long fails with TIMEOUT (default 120 s). */
  stallTimeoutMs: number;
  /** Wait after UpdateApply before the first InfoGet (default 2000 ms). */
  rebootDelayMs: number;
  /** The node must answer within this long after UpdateApply (default 60 s). */
  rebootTimeoutMs: number;
  /** Reinstall even when the node runs the image's version (default false). */
  allowSameVersion: boolean;
  /** Install on nodes of another project (default false). */
  allowOtherProject: boolean;
  /**
   * Check chip, revision, size, anti-rollback and project before UpdateStart, and report a
   * node that already runs the image's version as done without sending it (default true).
   * Off, every decision is the node's.
   */
  hostChecks: boolean;
  /** Mesh chunk payload; default: what fits the transport MTU and the node's max chunk size. */
  meshChunkSize: number | undefined;
  /** Pause between mesh chunks (default 0). */
  chunkGapMs: number;
  /** The post-update test of "test-then-confirm" (default: confirm). */
  test: (target: { address: MeshAddress; info: InfoStatus }) => Promise<boolean>;
}

/** The mesh itself as a method: the baseline every node supports. */
export function meshMethod(chunkSize?: number): MethodProvider {
  return {
    method: Method.MESH,
    params: ({ info }) => ({ case: "mesh", value: { chunkSize: chunkSize ?? info.maxChunkSize } as never }),
  };
}

export const DISTRIBUTOR_DEFAULTS: Readonly<DistributorOptions> = Object.freeze({
  methods: [meshMethod()],
  policy: "verify-and-apply",
  retry: Object.freeze({ replyTimeoutMs: 3000, attempts: 4, backoffMs: 1000, maxBackoffMs: 8000 }),
  pollIntervalMs: 2000,
  stallTimeoutMs: 120_000,
  rebootDelayMs: 2000,
  rebootTimeoutMs: 60_000,
  allowSameVersion: false,
  allowOtherProject: false,
  hostChecks: true,
  meshChunkSize: undefined,
  chunkGapMs: 0,
  test: async () => true,
});

/** Everything the host knows about one target; kept across runs. */
export interface TargetRecord {
  readonly address: MeshAddress;
  state: TargetState;
  sessionId: number;
  method: Method | undefined;
  info: InfoStatus | undefined;
  fromVersion: string | undefined;
  bytesDone: number;
  failure: TargetFailure | undefined;
  pendingReason: string | undefined;
  upToDate: boolean;
  relayedBy: MeshAddress | undefined;
  runs: number;
}

export function newTargetRecord(address: MeshAddress): TargetRecord {
  return {
    address,
    state: "pending",
    sessionId: 0,
    method: undefined,
    info: undefined,
    fromVersion: undefined,
    bytesDone: 0,
    failure: undefined,
    pendingReason: undefined,
    upToDate: false,
    relayedBy: undefined,
    runs: 0,
  };
}

/** Events of the engine. */
export type DistributorEvent =
  | {
      readonly type: "state";
      readonly address: MeshAddress;
      readonly state: TargetState;
      readonly previous: TargetState;
    }
  | {
      readonly type: "progress";
      readonly address: MeshAddress;
      readonly bytesDone: number;
      readonly imageSize: number;
      readonly percent: number;
    };

/** What a run needs from its campaign. */
export interface RunContext {
  readonly link: ControlLink;
  readonly clock: Clock;
  readonly image: EspImage;
  readonly signed: SignedManifest;
  readonly options: DistributorOptions;
  readonly emit: (event: DistributorEvent) => void;
  /** Draws the id of a new session (default newSessionId: random). */
  readonly newSessionId?: () => number;
  /** Turns for unicast mesh transfers, shared by the campaign's targets (default: no limit). */
  readonly meshTransfers?: Slots;
}

/** Ways a campaign changes one run (relays, group transfers). */
export interface RunHooks {
  /** Use this method instead of the providers (a relay names itself as distributor). */
  readonly method?: MethodProvider;
  /** The session id to use for a new session (group and relay sessions share one). */
  readonly sessionId?: number;
  /** Replaces the unicast mesh transfer; resolves with the target's outcome. */
  readonly transfer?: (record: TargetRecord) => Promise<TargetFailure | "offline" | undefined>;
  /** Runs once the target holds the verified image, before apply (relay to neighbours). */
  readonly afterVerified?: (record: TargetRecord) => Promise<void>;
}

/** Reason given to AbortController.abort() when a campaign suspends. */
export const SUSPEND = Symbol.for("meshota.core.suspend");

/** A random non-zero 32-bit session id. */
export function newSessionId(): number {
  const out = new Uint32Array(1);
  do globalThis.crypto.getRandomValues(out);
  while (out[0] === 0);
  return out[0]!;
}

const isStatus = (m: VendorMessage): m is UpdateStatus => m.$typeName === "meshota.v1.UpdateStatus";
const isInfo = (m: VendorMessage): m is InfoStatus => m.$typeName === "meshota.v1.InfoStatus";
const ACTIVE = new Set([
  Phase.STARTING,
  Phase.RECEIVING,
  Phase.VERIFYING,
  Phase.VERIFIED,
  Phase.APPLYING,
  Phase.PENDING_CONFIRM,
]);
const hex = (a: number) => `0x${a.toString(16).padStart(4, "0")}`;

/**
 * Runs one target until it is done, failed, offline, suspended or cancelled, and leaves the
 * outcome in `record`. Never throws for a target's own failure.
 */
/**
 * Targets being run, per transport. Two runs on one node through one transport cannot tell
 * the node's UpdateStatus replies apart (they name no session), so a second run is refused.
 */
const activeRuns = new WeakMap<ControlTransport, Set<MeshAddress>>();

export async function runTarget(
  record: TargetRecord,
  ctx: RunContext,
  signal: AbortSignal,
  hooks: RunHooks = {}
): Promise<void> {
  record.runs++;
  record.failure = undefined;
  record.pendingReason = undefined;
  const run = new TargetRun(record, ctx, signal, hooks);
  const transport = ctx.link.transport;
  let active = activeRuns.get(transport);
  if (!active) activeRuns.set(transport, (active = new Set()));
  if (active.has(record.address)) {
    record.failure = hostFailure(
      ErrorCode.BUSY,
      `another campaign on this transport is updating 0x${record.address
        .toString(16)
        .padStart(4, "0")}; the node's replies could not be told apart`
    );
    run.set("failed");
    return;
  }
  active.add(record.address);
  try {
    await runSteps(run, record, signal);
  } finally {
    active.delete(record.address);
  }
}

async function runSteps(run: TargetRun, record: TargetRecord, signal: AbortSignal): Promise<void> {
  try {
    await run.steps();
    run.set("done");
  } catch (error) {
    if (signal.aborted) {
      run.set(signal.reason === SUSPEND ? "suspended" : "cancelled");
    } else if (TargetError.isInstance(error)) {
      record.failure = error.failure;
      run.set("failed");
    } else if (TargetOfflineError.isInstance(error) || NoReplyError.isInstance(error)) {
      record.pendingReason = `offline: ${error.message}`;
      run.set("offline");
    } else if (CancelledError.isInstance(error)) {
      run.set("cancelled");
    } else {
      record.failure = hostFailure(
        ErrorCode.INTERNAL,
        `distributor error: ${(error as Error)?.message ?? String(error)}`
      );
      run.set("failed");
    }
  } finally {
    run.releaseMeshTurn();
  }
}

class TargetRun {
  /** The mesh transfer turn this run holds, if any. */
  #meshTurn: Slots | undefined;

  constructor(
    readonly record: TargetRecord,
    readonly ctx: RunContext,
    readonly signal: AbortSignal,
    readonly hooks: RunHooks
  ) {}

  get o(): DistributorOptions {
    return this.ctx.options;
  }

  /** Gives the mesh transfer turn back (idempotent). */
  releaseMeshTurn(): void {
    this.#meshTurn?.release();
    this.#meshTurn = undefined;
  }

  set(state: TargetState): void {
    const previous = this.record.state;
    if (previous === state) return;
    this.record.state = state;
    this.ctx.emit({ type: "state", address: this.record.address, state, previous });
  }

  #progress(reported: number): void {
    const size = this.ctx.image.size;
    // A node's count past the image size (a resent body counted twice, a stale status) is
    // still the whole image: progress never passes 100 %.
    const bytesDone = Math.min(reported, size);
    if (bytesDone === this.record.bytesDone) return;
    this.record.bytesDone = bytesDone;
    this.ctx.emit({
      type: "progress",
      address: this.record.address,
      bytesDone,
      imageSize: size,
      percent: Math.floor((bytesDone * 100) / size),
    });
  }

  async #infoGet(): Promise<InfoStatus> {
    try {
      return await this.ctx.link.request(
        this.record.address,
        encodeVendorInit("InfoGet", {}),
        isInfo,
        "InfoStatus",
        this.o.retry,
        this.signal
      );
    } catch (error) {
      if (NoReplyError.isInstance(error)) throw new TargetOfflineError(error.message, { cause: error });
      throw error;
    }
  }

  async #status(
    frame: ReturnType<typeof encodeVendorInit>,
    what: string,
    accept: (s: UpdateStatus) => boolean = () => true
  ): Promise<UpdateStatus> {
    return this.ctx.link.request(
      this.record.address,
      frame,
      (m): m is UpdateStatus => isStatus(m) && accept(m),
      what,
      this.o.retry,
      this.signal
    );
  }

  async steps(): Promise<void> {
    const r = this.record;
    const m = this.ctx.signed.manifest;
    this.set("querying");
    const info = await this.#infoGet();
    r.info = info;
    r.fromVersion ??= info.version;

    // A run that continues an earlier one picks up where the node is.
    if (r.sessionId !== 0 && ACTIVE.has(info.phase)) {
      if (info.phase === Phase.PENDING_CONFIRM || info.phase === Phase.APPLYING) return this.#afterApply();
    } else if (r.sessionId !== 0 && info.phase === Phase.CONFIRMED && info.version === m.version) {
      return;
    } else if (
      info.version === m.version &&
      info.projectName === m.projectName &&
      !this.o.allowSameVersion &&
      this.o.hostChecks
    ) {
      r.upToDate = true;
      return;
    }
    if (this.o.hostChecks && !ACTIVE.has(info.phase)) this.#checkCapabilities(info);

    const provider = this.hooks.method ?? this.o.methods.find((p) => info.methods.includes(p.method));
    if (!provider) {
      const offered = this.o.methods.map((p) => methodName(p.method)).join(", ");
      const supported = info.methods.map(methodName).join(", ") || "none";
      throw new TargetError(
        hostFailure(
          ErrorCode.UNSUPPORTED_METHOD,
          `no common method: the distributor offers ${offered}, the node supports ${supported}`
        )
      );
    }
    if (r.sessionId !== 0 && ACTIVE.has(info.phase) && r.method !== undefined && r.method !== provider.method) {
      // The node still holds our session for another method (an interrupted relay): end it.
      await this.#status(
        encodeVendorInit("UpdateCancel", { sessionId: r.sessionId }),
        "UpdateStatus for UpdateCancel",
        (s) => s.phase !== info.phase
      );
      r.sessionId = 0;
    }
    r.method = provider.method;
    if (r.sessionId === 0 || !ACTIVE.has(info.phase)) r.sessionId = this.hooks.sessionId ?? (this.ctx.newSessionId ?? newSessionId)();
    const target = { address: r.address, info, sessionId: r.sessionId };

    // Unicast mesh transfers share the gateway's few segmented sends: with many at once each
    // node gets chunks so rarely that its receive timeout ends the session. The turn is taken
    // before UpdateStart, since the node starts its timeout then.
    if (provider.method === Method.MESH && !this.hooks.transfer && this.ctx.meshTransfers) {
      await this.ctx.meshTransfers.acquire(this.signal);
      this.#meshTurn = this.ctx.meshTransfers;
    }

    this.set("starting");
    if (provider.credentials) {
      const st = await this.#status(
        encodeVendorInit("CredentialsSet", {
          sessionId: r.sessionId,
          ssid: provider.credentials.ssid,
          password: provider.credentials.password,
        }),
        "UpdateStatus for CredentialsSet"
      );
      if (st.error !== ErrorCode.NONE)
        throw new TargetError(nodeFailure(st.error, "the node refused the Wi-Fi credentials"));
    }
    const params = provider.params(target);
    if (!this.hooks.method && provider.method === Method.MESH && params.case === "mesh") {
      params.value.chunkSize = this.#meshChunkSize(info);
    }
    const start = encodeVendorInit("UpdateStart", {
      sessionId: r.sessionId,
      manifest: m,
      signature: this.ctx.signed.signature,
      allowSameVersion: this.o.allowSameVersion,
      allowOtherProject: this.o.allowOtherProject,
      method: params as UpdateStart["method"],
    });
    // An answer to UpdateStart is a refusal (PHASE_FAILED with the reason, or BUSY) or the
    // session's phase. Anything else is a late duplicate of an earlier status.
    const st = await this.#status(
      start,
      "UpdateStatus for UpdateStart",
      (s) =>
        (s.phase === Phase.FAILED && s.error !== ErrorCode.NONE) ||
        s.error === ErrorCode.BUSY ||
        (s.error === ErrorCode.NONE && ACTIVE.has(s.phase))
    );
    if (st.error !== ErrorCode.NONE || st.phase === Phase.FAILED || st.phase === Phase.CANCELLED) {
      throw new TargetError(nodeFailure(st.error || ErrorCode.INTERNAL, "UpdateStart refused"));
    }
    this.#progress(st.bytesDone);
    if (st.phase === Phase.PENDING_CONFIRM || st.phase === Phase.APPLYING) {
      // Nothing to transfer: the turn is not held through the restart and the post-update test.
      this.releaseMeshTurn();
      return this.#afterApply();
    }
    await provider.prepare?.(target);

    this.set("transferring");
    if (st.phase === Phase.STARTING || st.phase === Phase.RECEIVING) {
      if (this.hooks.transfer) {
        this.#transferOutcome(await this.hooks.transfer(r));
      } else if (provider.method === Method.MESH) {
        await this.#meshTransfer(params.case === "mesh" ? params.value.chunkSize : this.#meshChunkSize(info));
      }
    }
    this.releaseMeshTurn();
    await this.#waitVerified();
    this.set("verified");
    if (this.hooks.afterVerified) {
      this.set("relaying");
      await this.hooks.afterVerified(r);
    }
    if (this.o.policy === "verify-only") return;
    await this.#apply();
    await this.#afterApply();
  }

  #meshChunkSize(info: InfoStatus): number {
    const byMtu = chunkSizeFor(this.ctx.link.transport.info.mtu);
    return Math.max(1, Math.min(this.o.meshChunkSize ?? byMtu, byMtu, info.maxChunkSize || byMtu));
  }

  #checkCapabilities(info: InfoStatus): void {
    const m = this.ctx.signed.manifest;
    const chip = (id: number) => `${chipById(id)?.name ?? "unknown chip"} (chip id ${id})`;
    if (info.chipId !== m.chipId) {
      throw new TargetError(
        hostFailure(ErrorCode.WRONG_CHIP, `the image is for ${chip(m.chipId)}, the node is ${chip(info.chipId)}`)
      );
    }
    const maxSet = m.maxChipRev !== 0 && m.maxChipRev !== 0xffff;
    if (info.chipRevision < m.minChipRev || (maxSet && info.chipRevision > m.maxChipRev)) {
      const range = `${formatChipRevision(m.minChipRev)}..${maxSet ? formatChipRevision(m.maxChipRev) : "any"}`;
      throw new TargetError(
        hostFailure(
          ErrorCode.CHIP_REVISION,
          `the node's chip revision ${formatChipRevision(info.chipRevision)} is outside the image's ${range}`
        )
      );
    }
    if (info.otaPartitionSize !== 0 && m.imageSize > info.otaPartitionSize) {
      throw new TargetError(
        hostFailure(
          ErrorCode.IMAGE_TOO_LARGE,
          `the image is ${m.imageSize} bytes, the node's OTA partition ${info.otaPartitionSize}`
        )
      );
    }
    if (m.secureVersion < info.secureVersion) {
      throw new TargetError(
        hostFailure(
          ErrorCode.DOWNGRADE,
          `the image's secure_version ${m.secureVersion} is below the node's ${info.secureVersion}`
        )
      );
    }
    if (!this.o.allowOtherProject && info.projectName !== m.projectName) {
      throw new TargetError(
        hostFailure(
          ErrorCode.PROJECT_MISMATCH,
          `the image is for project "${m.projectName}", the node runs "${info.projectName}"`
        )
      );
    }
  }

  #transferOutcome(outcome: TargetFailure | "offline" | undefined): void {
    if (outcome === "offline")
      throw new TargetOfflineError(`${hex(this.record.address)} stopped answering during the transfer`);
    if (outcome) throw new TargetError(outcome);
  }

  async #meshTransfer(chunkSize: number): Promise<void> {
    const r = this.record;
    const image = this.ctx.image.bytes;
    const result = await meshTransfer(this.ctx.link, {
      dst: r.address,
      targets: [r.address],
      sessionId: r.sessionId,
      image,
      chunkSize,
      retry: this.o.retry,
      chunkGapMs: this.o.chunkGapMs,
      signal: this.signal,
      onProgress: (_a, held, count) => this.#progress(held === count ? image.length : held * chunkSize),
    });
    this.#transferOutcome(result.get(r.address));
  }

  async #waitVerified(): Promise<void> {
    const clock = this.ctx.clock;
    let best = -1;
    let since = clock.now();
    // UpdateStatus carries no session id, so a late answer to an earlier request cannot be
    // told from a fresh one. A status that ends the session must hold for three polls in a
    // row before the target fails.
    let ending: Phase | undefined;
    let endingSeen = 0;
    for (;;) {
      const st = await this.#status(encodeVendorInit("UpdateGet", {}), "UpdateStatus");
      if (st.phase === Phase.FAILED || st.phase === Phase.CANCELLED || st.phase === Phase.NONE) {
        endingSeen = ending === st.phase ? endingSeen + 1 : 1;
        if (endingSeen >= 3) {
          if (st.phase === Phase.NONE) {
            throw new TargetError(
              hostFailure(ErrorCode.INTERNAL, "the node reports no session: its session state was lost")
            );
          }
          throw new TargetError(
            nodeFailure(st.error || ErrorCode.INTERNAL, `the session failed in ${phaseName(st.phase)}`)
          );
        }
        ending = st.phase;
        await clock.sleep(this.o.pollIntervalMs, this.signal);
        continue;
      }
      ending = undefined;
      endingSeen = 0;
      if (
        st.phase === Phase.VERIFIED ||
        st.phase === Phase.APPLYING ||
        st.phase === Phase.PENDING_CONFIRM ||
        st.phase === Phase.CONFIRMED
      ) {
        this.#progress(this.ctx.image.size);
        return;
      }
      this.#progress(st.bytesDone);
      if (st.phase === Phase.VERIFYING) this.set("verifying");
      if (st.bytesDone > best || st.phase === Phase.VERIFYING) {
        best = st.bytesDone;
        since = clock.now();
      } else if (clock.now() - since > this.o.stallTimeoutMs) {
        throw new TargetError(
          hostFailure(
            ErrorCode.TIMEOUT,
            `no progress for ${this.o.stallTimeoutMs} ms at ${st.bytesDone} of ${this.ctx.image.size} bytes`
          )
        );
      }
      await clock.sleep(this.o.pollIntervalMs, this.signal);
    }
  }

  async #apply(): Promise<void> {
    const r = this.record;
    this.set("applying");
    const applied = new Set([Phase.APPLYING, Phase.PENDING_CONFIRM, Phase.CONFIRMED]);
    let st: UpdateStatus;
    try {
      st = await this.#status(
        encodeVendorInit("UpdateApply", { sessionId: r.sessionId }),
        "UpdateStatus for UpdateApply",
        // A status of a cancelled session is a late answer to an earlier UpdateCancel.
        (s) =>
          s.phase !== Phase.CANCELLED &&
          (s.error !== ErrorCode.NONE ||
            applied.has(s.phase) ||
            s.phase === Phase.FAILED ||
            s.phase === Phase.ROLLED_BACK)
      );
    } catch (error) {
      // The node restarts right after it answers; a lost answer is judged after the restart.
      if (NoReplyError.isInstance(error)) return;
      throw error;
    }
    // A repeated apply that finds the node already past it is not a refusal.
    if (applied.has(st.phase)) return;
    throw new TargetError(nodeFailure(st.error || ErrorCode.INTERNAL, "UpdateApply refused"));
  }

  async #afterApply(): Promise<void> {
    const r = this.record;
    const m = this.ctx.signed.manifest;
    const clock = this.ctx.clock;
    this.set("rebooting");
    const deadline = clock.now() + this.o.rebootTimeoutMs;
    await clock.sleep(this.o.rebootDelayMs, this.signal);
    let info: InfoStatus | undefined;
    let previous: InfoStatus | undefined;
    let reapplied = 0;
    for (;;) {
      try {
        info = await this.ctx.link.request(
          r.address,
          encodeVendorInit("InfoGet", {}),
          isInfo,
          "InfoStatus",
          this.o.retry,
          this.signal
        );
        if (info.phase === Phase.VERIFIED && reapplied < 2) {
          // The apply was lost (or this is a late answer from before it): apply again.
          reapplied++;
          previous = undefined;
          await this.#apply();
          this.set("rebooting");
        } else if (info.phase !== Phase.APPLYING) {
          // InfoStatus carries no session id: judge the restart on two answers that agree,
          // so that a late duplicate from before the restart is not taken for the result.
          if (previous && previous.phase === info.phase && previous.version === info.version) break;
          previous = info;
          await clock.sleep(Math.min(500, this.o.pollIntervalMs), this.signal);
          continue;
        }
        previous = undefined;
      } catch (error) {
        if (!NoReplyError.isInstance(error)) throw error;
      }
      if (clock.now() >= deadline) {
        throw new TargetError(
          hostFailure(
            ErrorCode.TIMEOUT,
            `the node did not come back within ${this.o.rebootTimeoutMs} ms of UpdateApply`
          )
        );
      }
      await clock.sleep(this.o.pollIntervalMs, this.signal);
    }
    r.info = info;
    if (info.phase === Phase.ROLLED_BACK) {
      throw new TargetError(
        nodeFailure(ErrorCode.ROLLED_BACK, `after the restart the node runs ${info.version}, not ${m.version}`)
      );
    }
    if (info.version !== m.version || info.projectName !== m.projectName) {
      throw new TargetError(
        hostFailure(
          ErrorCode.ROLLED_BACK,
          `after the restart the node reports version ${info.version}, expected ${m.version}`
        )
      );
    }
    if (info.phase === Phase.CONFIRMED) return;
    if (info.phase !== Phase.PENDING_CONFIRM) {
      throw new TargetError(
        hostFailure(
          ErrorCode.WRONG_STATE,
          `after the restart the node is in ${phaseName(info.phase)}, expected PHASE_PENDING_CONFIRM`
        )
      );
    }
    if (this.o.policy === "test-then-confirm") {
      this.set("testing");
      if (!(await this.o.test({ address: r.address, info }))) {
        const st = await this.#status(
          encodeVendorInit("UpdateCancel", { sessionId: r.sessionId }),
          "UpdateStatus for UpdateCancel"
        );
        throw new TargetError(
          hostFailure(
            ErrorCode.ROLLED_BACK,
            `the post-update test failed; the node ${
              st.phase === Phase.ROLLED_BACK ? "rolled back" : `is in ${phaseName(st.phase)}`
            }`
          )
        );
      }
    }
    this.set("confirming");
    const st = await this.#status(
      encodeVendorInit("UpdateConfirm", { sessionId: r.sessionId }),
      "UpdateStatus for UpdateConfirm",
      (s) =>
        s.phase !== Phase.CANCELLED &&
        (s.error !== ErrorCode.NONE || s.phase === Phase.CONFIRMED || s.phase === Phase.ROLLED_BACK)
    );
    if (st.phase !== Phase.CONFIRMED) {
      throw new TargetError(nodeFailure(st.error || ErrorCode.INTERNAL, "UpdateConfirm refused"));
    }
  }
}
