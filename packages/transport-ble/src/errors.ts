// Errors thrown by @meshota/transport-ble. Send failures are @meshota/core TransportErrors;
// the kinds below cover configuration, storage and bearer problems.

const marker = Symbol.for("meshota.transport-ble.error");

/** Base class of the errors this package defines. */
export class MeshotaBleError extends Error {
  readonly [marker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MeshotaBleError";
  }

  static isInstance(error: unknown): error is MeshotaBleError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

const cdbMarker = Symbol.for("meshota.transport-ble.CdbError");

/** A Mesh Configuration Database export that cannot be used; `path` points at the bad field. */
export class CdbError extends MeshotaBleError {
  readonly [cdbMarker] = true;
  /** JSON path of the offending value, such as "netKeys[0].key". */
  readonly path: string;

  constructor(path: string, reason: string) {
    super(`mesh configuration database: ${path ? `${path}: ` : ""}${reason}`);
    this.name = "CdbError";
    this.path = path;
  }

  static override isInstance(error: unknown): error is CdbError {
    return typeof error === "object" && error !== null && cdbMarker in error;
  }
}

const seqMarker = Symbol.for("meshota.transport-ble.SequenceError");

/** Sequence numbers that cannot be allocated safely (exhausted, or the store failed). */
export class SequenceError extends MeshotaBleError {
  readonly [seqMarker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SequenceError";
  }

  static override isInstance(error: unknown): error is SequenceError {
    return typeof error === "object" && error !== null && seqMarker in error;
  }
}

const bearerMarker = Symbol.for("meshota.transport-ble.BearerError");

/** A GATT bearer that could not be opened or used. */
export class BearerError extends MeshotaBleError {
  readonly [bearerMarker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BearerError";
  }

  static override isInstance(error: unknown): error is BearerError {
    return typeof error === "object" && error !== null && bearerMarker in error;
  }
}
