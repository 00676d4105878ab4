// The mesh data plane (METHOD_MESH): the distributor sends the image as DataFrame vendor
// messages (opcode 0x10). Rounds: ask every target which chunks it misses (TransferInfo with
// round > 0, answered by MissingChunks or TransferDone), send the union of what is missing,
// repeat. Only chunks a target reports missing are sent, so a resumed transfer continues from
// what the node holds, never from chunk 0. With a group destination every chunk goes out
// once for all targets.
import {
  create,
  DataFrameSchema,
  encodeFrame,
  ErrorCode,
  Opcode,
  Phase,
  type DataFrame,
  type MissingChunks,
  type UpdateStatus,
  type VendorMessage,
} from "@meshota/proto";
import { CancelledError, TransportError } from "../errors.js";
import type { MeshAddress } from "../transport.js";
import { NoReplyError, type ControlLink, type RetryOptions } from "./link.js";
import { errorCodeName, hostFailure, nodeFailure, phaseName, type TargetFailure } from "./types.js";

/** What one mesh transfer needs. */
export interface MeshTransferJob {
  /** Where chunks go: one target's unicast address or a group all targets subscribe to. */
  readonly dst: MeshAddress;
  readonly targets: readonly MeshAddress[];
  readonly sessionId: number;
  readonly image: Uint8Array;
  readonly chunkSize: number;
  readonly retry: RetryOptions;
  /** Rounds in a row without progress before a target fails with TIMEOUT (default 4). */
  readonly stallRounds?: number;
  /** Pause between two chunks in ms (default 0: the transport's backpressure alone). */
  readonly chunkGapMs?: number;
  readonly signal?: AbortSignal;
  /** Chunks a target holds, after each of its reports. */
  readonly onProgress?: (address: MeshAddress, chunksHeld: number, chunkCount: number) => void;
  /** Every chunk index sent, in order (for statistics and tests). */
  readonly onChunk?: (index: number) => void;
}

/** Unacknowledged chunk sends in a row that end a round early. */
const MAX_FAILED_SENDS = 3;

/** Per target: undefined when it holds the whole image, else why it stopped. */
export type MeshTransferResult = Map<MeshAddress, TargetFailure | "offline" | undefined>;

type Report =
  | { kind: "missing"; missing: MissingChunks }
  | { kind: "done"; error: ErrorCode }
  | { kind: "status"; status: UpdateStatus }
  | { kind: "offline" };

function frame(init: Parameters<typeof create<typeof DataFrameSchema>>[1]) {
  return { opcode: Opcode.DataFrame, params: encodeFrame(create(DataFrameSchema, init)) };
}

/** Indices a MissingChunks report names (bitmap window and ranges, their union). */
export function missingIndices(report: MissingChunks, chunkCount: number): number[] {
  const out = new Set<number>();
  report.bitmap.forEach((byte, i) => {
    for (let bit = 0; bit < 8; bit++) {
      if (byte & (1 << bit)) {
        const index = report.baseIndex + i * 8 + bit;
        if (index < chunkCount) out.add(index);
      }
    }
  });
  for (const r of report.ranges) {
    for (let i = r.first; i < Math.min(chunkCount, r.first + r.count); i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

/** Runs one mesh transfer to completion (or failure) for every target. */
export async function meshTransfer(link: ControlLink, job: MeshTransferJob): Promise<MeshTransferResult> {
  const { sessionId, image, chunkSize, signal } = job;
  const chunkCount = Math.ceil(image.length / chunkSize);
  const result: MeshTransferResult = new Map();
  const active = new Set(job.targets);
  const lastMissing = new Map<MeshAddress, number>();
  const stalled = new Map<MeshAddress, number>();
  const unanswered = new Map<MeshAddress, number>();
  const stallRounds = job.stallRounds ?? 4;
  const checkAbort = () => {
    if (signal?.aborted) throw new CancelledError("cancelled", { cause: signal.reason });
  };

  const info = (round: number) =>
    frame({ body: { case: "info", value: { sessionId, imageSize: image.length, chunkSize, chunkCount, round } } });

  // Round 0 fixes the geometry on every target; it has no answer.
  try {
    await link.send(job.dst, info(0), signal);
  } catch (error) {
    checkAbort();
    if (!TransportError.isInstance(error)) throw error;
  }

  for (let round = 1; active.size > 0; round++) {
    checkAbort();
    const wanted = new Set<number>();
    for (const address of [...active]) {
      let report: Report;
      try {
        report = await askReport(link, address, info(round), sessionId, job.retry, signal);
      } catch (error) {
        if (!NoReplyError.isInstance(error)) throw error;
        // No report: the node is gone, or it answers with refusals (which are ambiguous:
        // a node also refuses stray chunks). Its own status tells which, unless a reliable
        // transport already found it unreachable.
        report = TransportError.isInstance(error.cause)
          ? { kind: "offline" }
          : await probe(link, address, job.retry, signal);
      }
      if (report.kind === "done") {
        active.delete(address);
        job.onProgress?.(address, report.error === ErrorCode.NONE ? chunkCount : 0, chunkCount);
        result.set(
          address,
          report.error === ErrorCode.NONE ? undefined : nodeFailure(report.error, "the transfer failed")
        );
        continue;
      }
      if (report.kind === "offline") {
        active.delete(address);
        result.set(address, "offline");
        continue;
      }
      if (report.kind === "status") {
        const outcome = statusOutcome(report.status);
        if (outcome !== "alive") {
          active.delete(address);
          result.set(address, outcome);
          continue;
        }
        // Alive and receiving but no report (it was off for a while, or refuses): ask again
        // next round, up to stallRounds times in a row.
        const silent = (unanswered.get(address) ?? 0) + 1;
        unanswered.set(address, silent);
        if (silent >= stallRounds) {
          active.delete(address);
          result.set(address, silentFailure(report.status, silent));
        }
        continue;
      }
      unanswered.delete(address);
      const total = report.missing.missingTotal;
      job.onProgress?.(address, chunkCount - total, chunkCount);
      if (total === 0) {
        // Everything written: the node verifies next; the caller polls for that.
        active.delete(address);
        result.set(address, undefined);
        continue;
      }
      const before = lastMissing.get(address);
      const stuck = before !== undefined && total >= before ? (stalled.get(address) ?? 0) + 1 : 0;
      stalled.set(address, stuck);
      lastMissing.set(address, total);
      if (stuck >= stallRounds) {
        active.delete(address);
        result.set(
          address,
          hostFailure(
            ErrorCode.TIMEOUT,
            `the transfer made no progress in ${stuck} rounds (${total} of ${chunkCount} chunks missing)`
          )
        );
        continue;
      }
      for (const index of missingIndices(report.missing, chunkCount)) wanted.add(index);
    }
    let failedSends = 0;
    for (const index of [...wanted].sort((a, b) => a - b)) {
      checkAbort();
      const data = image.subarray(index * chunkSize, Math.min(image.length, (index + 1) * chunkSize));
      try {
        await link.send(job.dst, frame({ body: { case: "chunk", value: { sessionId, index, data } } }), signal);
        failedSends = 0;
      } catch (error) {
        checkAbort();
        // A lost chunk is reported missing in the next round.
        if (!TransportError.isInstance(error)) throw error;
        // Unacknowledged sends in a row: the target is gone. Stop the round rather than wait
        // out every remaining chunk; the next report request tells whether it is offline.
        if (++failedSends >= MAX_FAILED_SENDS) break;
      }
      job.onChunk?.(index);
      if (job.chunkGapMs) await link.clock.sleep(job.chunkGapMs, signal);
    }
  }
  return result;
}

async function askReport(
  link: ControlLink,
  address: MeshAddress,
  request: ReturnType<typeof frame>,
  sessionId: number,
  retry: RetryOptions,
  signal: AbortSignal | undefined
): Promise<Report> {
  const reply = await link.request(
    address,
    request,
    (m: VendorMessage): m is VendorMessage => {
      if (m.$typeName === "meshota.v1.DataFrame") {
        const body = (m as DataFrame).body;
        return (body.case === "missing" || body.case === "done") && body.value.sessionId === sessionId;
      }
      // Only data frames: an UpdateStatus may be the refusal of a stray or duplicated chunk
      // rather than the answer to this request (see probe()).
      return false;
    },
    "missing-chunk report",
    retry,
    signal
  );
  const body = (reply as DataFrame).body;
  if (body.case === "done") return { kind: "done", error: body.value.error };
  return { kind: "missing", missing: body.value as MissingChunks };
}

/** Asks a node that gave no report for its session status. */
async function probe(
  link: ControlLink,
  address: MeshAddress,
  retry: RetryOptions,
  signal: AbortSignal | undefined
): Promise<Report> {
  try {
    const status = await link.request(
      address,
      { opcode: Opcode.UpdateGet, params: new Uint8Array(0) },
      (m: VendorMessage): m is UpdateStatus => m.$typeName === "meshota.v1.UpdateStatus",
      "UpdateStatus",
      retry,
      signal
    );
    return { kind: "status", status };
  } catch (error) {
    if (NoReplyError.isInstance(error)) return { kind: "offline" };
    throw error;
  }
}

/** What a node's status means for a transfer that got no report from it. */
function statusOutcome(status: UpdateStatus): TargetFailure | "alive" | undefined {
  switch (status.phase) {
    case Phase.VERIFYING:
    case Phase.VERIFIED:
    case Phase.APPLYING:
    case Phase.PENDING_CONFIRM:
    case Phase.CONFIRMED:
      return undefined; // It holds the image; the caller follows the rest.
    case Phase.FAILED:
    case Phase.CANCELLED:
    case Phase.ROLLED_BACK:
      return nodeFailure(status.error || ErrorCode.CANCELLED, "the transfer failed");
    case Phase.NONE:
      return hostFailure(
        ErrorCode.SESSION_MISMATCH,
        "the node holds no session: it lost or never accepted the UpdateStart"
      );
    default:
      return "alive";
  }
}

function silentFailure(status: UpdateStatus, rounds: number): TargetFailure {
  const refused = status.error ? ` (its last refusal: ${errorCodeName(status.error)})` : "";
  return hostFailure(
    ErrorCode.TIMEOUT,
    `the node is in ${phaseName(status.phase)} but did not answer missing-chunk requests in ${rounds} rounds${refused}`
  );
}
