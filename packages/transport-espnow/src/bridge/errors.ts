// Errors of the bridge link.
import { MeshotaCoreError } from "@meshota/core";

/** Why the bridge link failed. */
export type BridgeFailure = "timeout" | "version" | "closed" | "refused" | "unavailable" | "restarted";

const marker = Symbol.for("meshota.transport-espnow.BridgeError");

/**
 * The bridge dongle did not answer, speaks another version, refused a command, is gone, or kept
 * restarting.
 */
export class BridgeError extends MeshotaCoreError {
  readonly [marker] = true;
  readonly reason: BridgeFailure;

  constructor(reason: BridgeFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BridgeError";
    this.reason = reason;
  }

  static override isInstance(error: unknown): error is BridgeError {
    return typeof error === "object" && error !== null && marker in error;
  }
}
