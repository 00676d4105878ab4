// Strict encode and decode: the verdicts of the firmware's nanopb decoder, applied in
// TypeScript. protobuf-es alone is more lenient (it reads a known field sent with the wrong
// wire type, truncates oversize varints, and has no length bounds), so bytes are checked
// against the schema and the nanopb bounds before protobuf-es decodes them, and messages are
// checked against the bounds before they are encoded.
import {
  fromBinary,
  ScalarType,
  toBinary,
  type DescField,
  type DescMessage,
  type Message,
  type MessageShape,
} from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { FIELD_BOUNDS } from "./gen/meshota_table.js";
import { FieldBoundError, MalformedMessageError } from "./errors.js";

/** Deepest sub-message nesting the decoder follows; the schema itself needs 3. */
const MAX_DEPTH = 8;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** Decodes `bytes` as `schema`, rejecting everything the firmware's decoder rejects. */
export function decodeStrict<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  checkWire(schema, bytes, 0, bytes.length, 0);
  try {
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw new MalformedMessageError(schema.typeName, String((cause as Error).message), undefined, { cause });
  }
}

/** Encodes `message` after checking every field against its nanopb bound. */
export function encodeStrict<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  checkBounds(schema, message as Message);
  return toBinary(schema, message);
}

/**
 * Throws FieldBoundError when a string, bytes or repeated field of `message` (or of any
 * sub-message) is over its nanopb bound. Strings count UTF-8 bytes plus nanopb's NUL.
 */
export function checkBounds(schema: DescMessage, message: Message): void {
  const bounds = FIELD_BOUNDS[schema.typeName] ?? {};
  const record = message as unknown as Record<string, unknown>;
  for (const field of schema.fields) {
    const value = field.oneof ? oneofValue(record, field) : record[field.localName];
    if (value === undefined) continue;
    const bound = bounds[field.localName];
    const name = `${schema.typeName}.${field.name}`;
    if (bound?.kind === "string") {
      const length = utf8Encoder.encode(value as string).length;
      if (length > bound.max - 1) throw new FieldBoundError(name, length, bound.max - 1, "bytes");
    } else if (bound?.kind === "bytes") {
      const length = (value as Uint8Array).length;
      if (length > bound.max) throw new FieldBoundError(name, length, bound.max, "bytes");
    } else if (bound?.kind === "repeated") {
      const count = (value as unknown[]).length;
      if (count > bound.max) throw new FieldBoundError(name, count, bound.max, "elements");
    }
    if (field.fieldKind === "message") checkBounds(field.message, value as Message);
    if (field.fieldKind === "list" && field.listKind === "message") {
      for (const item of value as Message[]) checkBounds(field.message, item);
    }
  }
}

function oneofValue(record: Record<string, unknown>, field: DescField): unknown {
  const group = record[field.oneof!.localName] as { case?: string; value?: unknown } | undefined;
  return group?.case === field.localName ? group.value : undefined;
}

/** Reads a varint at `pos`; returns [value, next position]. Values are exact up to 2^64. */
function readVarint(typeName: string, bytes: Uint8Array, pos: number, end: number): [bigint, number] {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedMessageError(typeName, "truncated varint", pos);
    const b = bytes[pos++]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new MalformedMessageError(typeName, "varint longer than 10 bytes", pos);
}

const UINT32_MAX = 0xffff_ffffn;
const INT32_MIN_SIGN_EXTENDED = (1n << 64n) - (1n << 31n);

/** Checks that a varint fits the field's C type, as nanopb's decoder does. */
function checkVarintRange(schema: DescMessage, field: DescField, value: bigint, offset: number): void {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  // nanopb decodes an enum without negative values as an unsigned 32-bit varint.
  const unsignedEnum = kind === "enum" && field.enum!.values.every((v) => v.number >= 0);
  const scalar = kind === "enum" ? (unsignedEnum ? ScalarType.UINT32 : ScalarType.INT32) : field.scalar;
  const name = `${schema.typeName}.${field.name}`;
  if (scalar === ScalarType.UINT32 && value > UINT32_MAX) {
    throw new MalformedMessageError(schema.typeName, `${name} does not fit 32 bits`, offset);
  }
  if (scalar === ScalarType.INT32 && value > 0x7fff_ffffn && value < INT32_MIN_SIGN_EXTENDED) {
    throw new MalformedMessageError(schema.typeName, `${name} does not fit 32 bits`, offset);
  }
}

function expectedWireType(field: DescField): WireType {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "message") return WireType.LengthDelimited;
  if (kind === "enum") return WireType.Varint;
  switch (field.scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.DOUBLE:
      return WireType.Bit64;
    default:
      return WireType.Varint;
  }
}

function checkWire(schema: DescMessage, bytes: Uint8Array, start: number, end: number, depth: number): void {
  const typeName = schema.typeName;
  if (depth > MAX_DEPTH) throw new MalformedMessageError(typeName, "nested too deep", start);
  const counts = new Map<number, number>();
  const bounds = FIELD_BOUNDS[typeName] ?? {};
  let pos = start;
  while (pos < end) {
    const tagAt = pos;
    const [tag, afterTag] = readVarint(typeName, bytes, pos, end);
    pos = afterTag;
    const fieldNo = Number(tag >> 3n);
    const wireType = Number(tag & 7n) as WireType;
    if (fieldNo === 0 || tag > UINT32_MAX) throw new MalformedMessageError(typeName, "invalid field number", tagAt);
    const field = schema.fields.find((f) => f.number === fieldNo);

    // Length of the value and, for varints, its value.
    let valueStart = pos;
    let valueEnd: number;
    let varint: bigint | undefined;
    switch (wireType) {
      case WireType.Varint:
        [varint, valueEnd] = readVarint(typeName, bytes, pos, end);
        break;
      case WireType.Bit64:
        valueEnd = pos + 8;
        break;
      case WireType.Bit32:
        valueEnd = pos + 4;
        break;
      case WireType.LengthDelimited: {
        const [length, afterLength] = readVarint(typeName, bytes, pos, end);
        valueStart = afterLength;
        if (length > BigInt(end - afterLength)) {
          throw new MalformedMessageError(typeName, `length ${length} runs past the end`, pos);
        }
        valueEnd = afterLength + Number(length);
        break;
      }
      default:
        throw new MalformedMessageError(typeName, `invalid wire type ${wireType}`, tagAt);
    }
    if (valueEnd > end) throw new MalformedMessageError(typeName, "value runs past the end", pos);
    pos = valueEnd;
    if (!field) continue; // unknown fields are skipped, as nanopb does

    const name = `${typeName}.${field.name}`;
    const expected = expectedWireType(field);
    const packable = field.fieldKind === "list" && expected !== WireType.LengthDelimited;
    const packed = packable && wireType === WireType.LengthDelimited;
    if (wireType !== expected && !packed) {
      throw new MalformedMessageError(typeName, `${name} has wire type ${wireType}, expected ${expected}`, tagAt);
    }
    if (varint !== undefined) checkVarintRange(schema, field, varint, valueStart);

    const bound = bounds[field.localName];
    if (packed) {
      let n = 0;
      for (let p = valueStart; p < valueEnd; n++) {
        if (expected === WireType.Varint) {
          const [v, next] = readVarint(typeName, bytes, p, valueEnd);
          checkVarintRange(schema, field, v, p);
          p = next;
        } else {
          p += expected === WireType.Bit32 ? 4 : 8;
          if (p > valueEnd) throw new MalformedMessageError(typeName, `${name} packed array is truncated`, valueStart);
        }
      }
      counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + n);
    } else if (field.fieldKind === "list") {
      counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + 1);
    }
    if (bound?.kind === "repeated" && (counts.get(fieldNo) ?? 0) > bound.max) {
      throw new MalformedMessageError(typeName, `${name} has more than ${bound.max} elements`, tagAt);
    }

    const length = valueEnd - valueStart;
    const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
    if (kind === "scalar" && field.scalar === ScalarType.STRING) {
      if (bound && length > bound.max - 1) {
        throw new MalformedMessageError(typeName, `${name} is ${length} bytes, over its bound of ${bound.max - 1}`, valueStart);
      }
      try {
        utf8.decode(bytes.subarray(valueStart, valueEnd));
      } catch {
        throw new MalformedMessageError(typeName, `${name} is not valid UTF-8`, valueStart);
      }
    } else if (kind === "scalar" && field.scalar === ScalarType.BYTES) {
      if (bound && length > bound.max) {
        throw new MalformedMessageError(typeName, `${name} is ${length} bytes, over its bound of ${bound.max}`, valueStart);
      }
    } else if (kind === "message") {
      checkWire(field.message!, bytes, valueStart, valueEnd, depth + 1);
    }
  }
}
