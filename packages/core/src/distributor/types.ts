// Types shared by the distributor engine and campaigns: target states, reports, failures,
// methods and policies.
import { ErrorCode, Method, Phase, type InfoStatus, type UpdateStart } from "@meshota/proto";
import { MeshotaCoreError } from "../errors.js";
import type { MeshAddress } from "../transport.js";

/** What to do once a target holds the verified image. */
export type ApplyPolicy =
  /** Stop at VERIFIED; the image waits in the passive slot. */
  | "verify-only"
  /** Apply, check the new version after the restart, confirm at once. */
  | "verify-and-apply"
  /** Apply, check the new version, run the campaign's test, then confirm or roll back. */
  | "test-then-confirm";

/** Host-side state of one target; mirrors the node's phases plus the host's own waits. */
export type TargetState =
  | "pending"
  | "querying"
  | "starting"
  | "transferring"
  | "verifying"
  | "verified"
  | "relaying"
  | "applying"
  | "rebooting"
  | "testing"
  | "confirming"
  | "done"
  | "failed"
  | "offline"
  | "suspended"
  | "cancelled";

/** States a target leaves only when told (retry, resume). */
export const SETTLED_STATES: ReadonlySet<TargetState> = new Set(["done", "failed", "cancelled"]);

/** Why a target failed. */
export interface TargetFailure {
  /** The node's error code, or the closest one for a failure the host detected. */
  readonly code: ErrorCode;
  /** "ERROR_CODE_" + the enum name, such as "ERROR_CODE_WRONG_CHIP". */
  readonly codeName: string;
  /** A sentence for people. */
  readonly message: string;
  /** Whether the node reported it or the host concluded it. */
  readonly source: "node" | "host";
}

/** Outcome of one target in a report. */
export type TargetOutcome = "done" | "failed" | "pending" | "cancelled";

/** One target's line in a campaign report. */
export interface TargetReport {
  readonly address: MeshAddress;
  readonly outcome: TargetOutcome;
  readonly state: TargetState;
  /** Set when the target failed. */
  readonly failure: TargetFailure | undefined;
  /** Why a pending target is pending ("offline: no InfoStatus after 4 attempts"). */
  readonly pendingReason: string | undefined;
  readonly method: Method | undefined;
  readonly sessionId: number;
  readonly bytesDone: number;
  readonly imageSize: number;
  /** Version the node ran when first seen, and the one it runs now. */
  readonly fromVersion: string | undefined;
  readonly version: string | undefined;
  /** The node already ran the image's version; nothing was sent. */
  readonly upToDate: boolean;
  /** The relay node that served the image, when it came through one. */
  readonly relayedBy: MeshAddress | undefined;
  /** Runs of the target so far (first run, retries, resumes after offline). */
  readonly runs: number;
}

/** A side channel the distributor can offer a target. */
export interface MethodProvider {
  readonly method: Method;
  /** Wi-Fi network the node must join first (sent in CredentialsSet, never logged). */
  readonly credentials?: { readonly ssid: string; readonly password: string };
  /** The method parameters of UpdateStart for this target. */
  params(target: { address: MeshAddress; info: InfoStatus; sessionId: number }): UpdateStart["method"];
  /**
   * Called after the node accepted UpdateStart, before the distributor polls for progress
   * (for example to register the session's token with a firmware server).
   */
  prepare?(target: { address: MeshAddress; info: InfoStatus; sessionId: number }): Promise<void>;
}

const targetErrorMarker = Symbol.for("meshota.core.TargetError");

/** A target failed; carries the report's failure. */
export class TargetError extends MeshotaCoreError {
  readonly [targetErrorMarker] = true;
  readonly failure: TargetFailure;

  constructor(failure: TargetFailure, options?: { cause?: unknown }) {
    super(failure.message, options);
    this.name = "TargetError";
    this.failure = failure;
  }

  static override isInstance(error: unknown): error is TargetError {
    return typeof error === "object" && error !== null && targetErrorMarker in error;
  }
}

const offlineMarker = Symbol.for("meshota.core.TargetOfflineError");

/** A target did not answer at all: it is offline or out of reach. */
export class TargetOfflineError extends MeshotaCoreError {
  readonly [offlineMarker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TargetOfflineError";
  }

  static override isInstance(error: unknown): error is TargetOfflineError {
    return typeof error === "object" && error !== null && offlineMarker in error;
  }
}

/** Human text of every node error code (from the schema's comments). */
const ERROR_TEXT: Record<ErrorCode, string> = {
  [ErrorCode.NONE]: "no error",
  [ErrorCode.MALFORMED]: "the message could not be decoded or a field is out of bounds",
  [ErrorCode.WRONG_STATE]: "the request does not fit the node's current phase",
  [ErrorCode.BUSY]: "the node is busy with another session; cancel it first",
  [ErrorCode.UNSUPPORTED_METHOD]: "the node does not support the requested method",
  [ErrorCode.WRONG_CHIP]: "the image is for another chip",
  [ErrorCode.CHIP_REVISION]: "the node's chip revision is outside the image's range",
  [ErrorCode.IMAGE_TOO_LARGE]: "the image does not fit the node's OTA partition",
  [ErrorCode.DOWNGRADE]: "secure_version is below the running firmware's (anti-rollback)",
  [ErrorCode.SAME_VERSION]: "the node already runs this version",
  [ErrorCode.PROJECT_MISMATCH]: "the image is for another project",
  [ErrorCode.BAD_SIGNATURE]: "the manifest signature does not verify against the node's key",
  [ErrorCode.SESSION_MISMATCH]: "the node holds another session",
  [ErrorCode.CHUNK_OUT_OF_RANGE]: "a chunk index is past the end of the image",
  [ErrorCode.CHUNK_TOO_LARGE]: "a chunk is larger than the session's chunk size",
  [ErrorCode.HASH_MISMATCH]: "the received image's SHA-256 differs from the manifest",
  [ErrorCode.BAD_IMAGE]: "the received image is not a valid ESP32 app image",
  [ErrorCode.FLASH]: "writing, erasing or reading flash failed",
  [ErrorCode.NETWORK]: "the side channel failed (Wi-Fi join, connect or HTTP error)",
  [ErrorCode.AUTH]: "the firmware server and the node did not accept each other",
  [ErrorCode.TIMEOUT]: "a peer stopped answering within the session's timeouts",
  [ErrorCode.CANCELLED]: "the session was cancelled",
  [ErrorCode.ROLLED_BACK]: "the new firmware was not confirmed and the old one runs again",
  [ErrorCode.STORAGE]: "persisting resume state failed",
  [ErrorCode.NO_IMAGE]: "the relay holds no verified image to serve",
  [ErrorCode.WRONG_CHANNEL]: "the node never heard the distributor (likely another Wi-Fi channel)",
  [ErrorCode.MANIFEST_MISMATCH]: "the image is inconsistent with its manifest",
  [ErrorCode.INTERNAL]: "an internal failure on the node",
};

/** "ERROR_CODE_WRONG_CHIP" for ErrorCode.WRONG_CHIP. */
export function errorCodeName(code: ErrorCode): string {
  const name = ErrorCode[code];
  return name === undefined ? `ERROR_CODE_${code}` : `ERROR_CODE_${name}`;
}

/** A sentence describing a node error code. */
export function describeErrorCode(code: ErrorCode): string {
  return ERROR_TEXT[code] ?? `unknown error code ${code}`;
}

/** "PHASE_VERIFIED" for Phase.VERIFIED. */
export function phaseName(phase: Phase): string {
  const name = Phase[phase];
  return name === undefined ? `PHASE_${phase}` : `PHASE_${name}`;
}

/** A failure the node reported. */
export function nodeFailure(code: ErrorCode, context: string): TargetFailure {
  return { code, codeName: errorCodeName(code), message: `${context}: ${describeErrorCode(code)}`, source: "node" };
}

/** A failure the host concluded. */
export function hostFailure(code: ErrorCode, message: string): TargetFailure {
  return { code, codeName: errorCodeName(code), message, source: "host" };
}

/** Method names for messages. */
export function methodName(method: Method): string {
  return Method[method]?.toLowerCase() ?? String(method);
}
