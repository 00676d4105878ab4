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
import { hostFailure, nodeFailure, type TargetFailure } from "./types.js";

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

/** Per target: undefined when it holds the whole image, else why it stopped. */
export type MeshTransferResult = Map<MeshAddress, TargetFailure | "offline" | undefined>;

type Report = { kind: "missing"; missing: MissingChunks } | { kind: "done"; error: ErrorCode } | { kind: "status"; status: UpdateStatus };

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
        if (NoReplyError.isInstance(error)) {
          active.delete(address);
          result.set(address, "offline");
          continue;
        }
        throw error;
      }
      if (report.kind === "done") {
        active.delete(address);
        job.onProgress?.(address, report.error === ErrorCode.NONE ? chunkCount : 0, chunkCount);
        result.set(address, report.error === ErrorCode.NONE ? undefined : nodeFailure(report.error, "the transfer failed"));
        continue;
      }
      if (report.kind === "status") {
        active.delete(address);
        result.set(address, nodeFailure(report.status.error || ErrorCode.CANCELLED, "the transfer was refused"));
        continue;
      }
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
          hostFailure(ErrorCode.TIMEOUT, `the transfer made no progress in ${stuck} rounds (${total} of ${chunkCount} chunks missing)`),
        );
        continue;
      }
      for (const index of missingIndices(report.missing, chunkCount)) wanted.add(index);
    }
    for (const index of [...wanted].sort((a, b) => a - b)) {
      checkAbort();
      const data = image.subarray(index * chunkSize, Math.min(image.length, (index + 1) * chunkSize));
      try {
        await link.send(job.dst, frame({ body: { case: "chunk", value: { sessionId, index, data } } }), signal);
      } catch (error) {
        checkAbort();
        // A lost chunk is reported missing in the next round.
        if (!TransportError.isInstance(error)) throw error;
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
  signal: AbortSignal | undefined,
): Promise<Report> {
  const reply = await link.request(
    address,
    request,
    (m: VendorMessage): m is VendorMessage => {
      if (m.$typeName === "meshota.v1.DataFrame") {
        const body = (m as DataFrame).body;
        return (body.case === "missing" || body.case === "done") && body.value.sessionId === sessionId;
      }
      if (m.$typeName === "meshota.v1.UpdateStatus") {
        const s = m as UpdateStatus;
        // A failed session answers the report request with TransferDone and its error; an
        // UpdateStatus in PHASE_FAILED may be the refusal of a stray chunk instead.
        return s.phase === Phase.CANCELLED || s.phase === Phase.NONE;
      }
      return false;
    },
    "missing-chunk report",
    retry,
    signal,
  );
  if (reply.$typeName === "meshota.v1.UpdateStatus") return { kind: "status", status: reply as UpdateStatus };
  const body = (reply as DataFrame).body;
  if (body.case === "done") return { kind: "done", error: body.value.error };
  return { kind: "missing", missing: body.value as MissingChunks };
}
