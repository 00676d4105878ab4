// Errors thrown by @meshota/proto. Each kind has a stable `name` and an `isInstance` check that
// works across two installed copies of the package.

const marker = Symbol.for("meshota.proto.error");

/** Base class of every error this package throws. */
export class MeshotaProtoError extends Error {
  readonly [marker] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MeshotaProtoError";
  }

  static isInstance(error: unknown): error is MeshotaProtoError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/** Bytes that are not a valid encoding of the expected message. */
export class MalformedMessageError extends MeshotaProtoError {
  /** Full protobuf name of the message being decoded. */
  readonly typeName: string;
  /** Byte offset inside the encoded message where decoding failed, when known. */
  readonly offset: number | undefined;

  constructor(typeName: string, reason: string, offset?: number, options?: { cause?: unknown }) {
    super(`malformed ${typeName}: ${reason}${offset === undefined ? "" : ` at byte ${offset}`}`, options);
    this.name = "MalformedMessageError";
    this.typeName = typeName;
    this.offset = offset;
  }
}

/** A string, bytes or repeated field over its nanopb bound. */
export class FieldBoundError extends MeshotaProtoError {
  /** Full field name, such as "meshota.v1.WifiMethod.url". */
  readonly field: string;
  /** Length in bytes (strings, bytes) or element count (repeated). */
  readonly actual: number;
  /** Largest length or count the firmware accepts. */
  readonly limit: number;

  constructor(field: string, actual: number, limit: number, unit: "bytes" | "elements", message?: string) {
    super(message ?? `${field} is ${actual} ${unit}, over its bound of ${limit}`);
    this.name = "FieldBoundError";
    this.field = field;
    this.actual = actual;
    this.limit = limit;
  }

  /** A bytes field that must have exactly `size` bytes (a SHA-256, a MAC address). */
  static exact(field: string, actual: number, size: number): FieldBoundError {
    return new FieldBoundError(field, actual, size, "bytes", `${field} is ${actual} bytes; it must be exactly ${size}`);
  }
}

/** An encoded message that does not fit where it has to travel. */
export class MessageTooLargeError extends MeshotaProtoError {
  /** Message name, such as "UpdateStart". */
  readonly messageName: string;
  /** Encoded size in bytes. */
  readonly size: number;
  /** Largest size that fits. */
  readonly limit: number;

  constructor(messageName: string, size: number, limit: number, where: string) {
    super(`${messageName} encodes to ${size} bytes; ${where} holds at most ${limit}`);
    this.name = "MessageTooLargeError";
    this.messageName = messageName;
    this.size = size;
    this.limit = limit;
  }
}

/** An opcode that is not a meshota vendor message, or another company's. */
export class UnknownOpcodeError extends MeshotaProtoError {
  readonly opcode: number;

  constructor(opcode: number, detail = "") {
    super(`unknown meshota vendor opcode 0x${opcode.toString(16).padStart(2, "0")}${detail}`);
    this.name = "UnknownOpcodeError";
    this.opcode = opcode;
  }
}
