// Errors thrown by @meshota/core. Each kind has a stable `name` and an `isInstance` check that
// works across two installed copies of the package (a Symbol.for marker, not instanceof).

const marker = Symbol.for("meshota.core.error");

/** Base class of every error this package throws. */
export class MeshotaCoreError extends Error {
  readonly [marker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MeshotaCoreError";
  }

  static isInstance(error: unknown): error is MeshotaCoreError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/** What is wrong with bytes that were offered as an ESP32 app image. */
export type ImageDefect =
  | "not-an-image"
  | "bootloader"
  | "partition-table"
  | "truncated"
  | "too-many-segments"
  | "bad-checksum"
  | "bad-hash"
  | "unknown-chip"
  | "bad-app-desc"
  | "trailing-data";

const imageMarker = Symbol.for("meshota.core.ImageFormatError");

/** Bytes that are not a usable ESP32 app image; `defect` says why, `offset` where. */
export class ImageFormatError extends MeshotaCoreError {
  readonly [imageMarker] = true;
  readonly defect: ImageDefect;
  /** Byte offset in the file where the defect was found, when it has one. */
  readonly offset: number | undefined;

  constructor(defect: ImageDefect, message: string, offset?: number) {
    super(message);
    this.name = "ImageFormatError";
    this.defect = defect;
    this.offset = offset;
  }

  static override isInstance(error: unknown): error is ImageFormatError {
    return typeof error === "object" && error !== null && imageMarker in error;
  }
}

const keyMarker = Symbol.for("meshota.core.KeyError");

/** A key that cannot be imported or used (wrong curve, wrong format, wrong length). */
export class KeyError extends MeshotaCoreError {
  readonly [keyMarker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KeyError";
  }

  static override isInstance(error: unknown): error is KeyError {
    return typeof error === "object" && error !== null && keyMarker in error;
  }
}

/** Why a transport gave up on a send. */
export type TransportFailure = "timeout" | "aborted" | "closed" | "unreachable" | "too-large";

const transportMarker = Symbol.for("meshota.core.TransportError");

/** A send that did not complete. Adapters throw this from ControlTransport.send(). */
export class TransportError extends MeshotaCoreError {
  readonly [transportMarker] = true;
  readonly reason: TransportFailure;

  constructor(reason: TransportFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransportError";
    this.reason = reason;
  }

  static override isInstance(error: unknown): error is TransportError {
    return typeof error === "object" && error !== null && transportMarker in error;
  }
}

const cancelMarker = Symbol.for("meshota.core.CancelledError");

/** The update or campaign was cancelled through its AbortSignal or cancel(). */
export class CancelledError extends MeshotaCoreError {
  readonly [cancelMarker] = true;

  constructor(message = "cancelled", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CancelledError";
  }

  static override isInstance(error: unknown): error is CancelledError {
    return typeof error === "object" && error !== null && cancelMarker in error;
  }
}
