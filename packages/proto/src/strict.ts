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
  const canonical = transcodeChecked(schema, bytes);
  try {
    return fromBinary(schema, canonical, { readUnknownFields: false });
  } catch (cause) {
    throw new MalformedMessageError(schema.typeName, String((cause as Error).message), undefined, { cause });
  }
}

/** Encodes `message` after checking every field against its nanopb bound. */
export function encodeStrict<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  checkBounds(schema, message as Message);
  // protobuf-es writes enums as int32: a value past 2^31 (which nanopb, reading enums without
  // negative values as uint32, accepts and sends back) would go out as a 10-byte varint that
  // nanopb refuses. Transcoding writes it as the 5-byte uint32 nanopb reads.
  return transcodeChecked(schema, toBinary(schema, message), true);
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
      if ((value as string).includes("\u0000")) {
        throw new MalformedMessageError(schema.typeName, `${name} contains NUL, where the firmware's strings end`);
      }
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

// The wire walk below follows nanopb 0.4.7 (pb_decode.c) rule by rule, so that both sides
// agree on every input, then writes the message again in its canonical form (known fields
// only, shortest varints, strings cut at their first NUL as nanopb's C strings are) for
// protobuf-es to read. protobuf-es never sees the original bytes.

/** nanopb's pb_decode_varint32: tags, lengths and bools. Accepts 0x80 padding up to 10 bytes
 * and the sign extension of a negative 32-bit value; returns [value, next position]. */
function readVarint32(typeName: string, bytes: Uint8Array, pos: number, end: number): [number, number] {
  if (pos >= end) throw new MalformedMessageError(typeName, "truncated varint", pos);
  const at = pos;
  let b = bytes[pos++]!;
  let result = b & 0x7f;
  let bitpos = 7;
  while (b & 0x80) {
    if (pos >= end) throw new MalformedMessageError(typeName, "truncated varint", pos);
    b = bytes[pos++]!;
    if (bitpos >= 32) {
      const signExtension = bitpos < 63 ? 0xff : 0x01;
      const valid = (b & 0x7f) === 0 || (result >>> 31 !== 0 && b === signExtension);
      if (bitpos >= 64 || !valid) throw new MalformedMessageError(typeName, "varint overflows 32 bits", at);
    } else if (bitpos === 28) {
      if ((b & 0x70) !== 0 && (b & 0x78) !== 0x78) throw new MalformedMessageError(typeName, "varint overflows 32 bits", at);
      result = (result | ((b & 0x0f) << 28)) >>> 0;
    } else {
      result = (result | ((b & 0x7f) << bitpos)) >>> 0;
    }
    bitpos += 7;
  }
  return [result >>> 0, pos];
}

/** nanopb's pb_decode_varint: integer and enum values; at most 10 bytes, the last 0 or 1. */
function readVarint64(typeName: string, bytes: Uint8Array, pos: number, end: number): [bigint, number] {
  const at = pos;
  let value = 0n;
  let bitpos = 0;
  let b: number;
  do {
    if (pos >= end) throw new MalformedMessageError(typeName, "truncated varint", pos);
    b = bytes[pos++]!;
    if (bitpos >= 63 && (b & 0xfe) !== 0) throw new MalformedMessageError(typeName, "varint overflows 64 bits", at);
    value |= BigInt(b & 0x7f) << BigInt(bitpos);
    bitpos += 7;
  } while (b & 0x80);
  return [value, pos];
}

/** nanopb's pb_skip_varint: an unknown varint field ends at its first byte below 0x80. */
function skipVarint(typeName: string, bytes: Uint8Array, pos: number, end: number): number {
  while (pos < end) if ((bytes[pos++]! & 0x80) === 0) return pos;
  throw new MalformedMessageError(typeName, "truncated varint", pos);
}

const UINT32_MAX = 0xffff_ffffn;
const INT32_MIN_SIGN_EXTENDED = (1n << 64n) - (1n << 31n);

/** How nanopb reads a varint field: "bool" (32-bit read, any non-zero is true), "uint32" or "int32". */
function varintKind(field: DescField): "bool" | "uint32" | "int32" | "other" {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  // The generator marks an enum without negative values UENUM, read as an unsigned 32-bit varint.
  if (kind === "enum") return field.enum!.values.every((v) => v.number >= 0) ? "uint32" : "int32";
  if (field.scalar === ScalarType.BOOL) return "bool";
  if (field.scalar === ScalarType.UINT32) return "uint32";
  if (field.scalar === ScalarType.INT32) return "int32";
  return "other";
}

/** Reads a varint field value as nanopb does, returning the value to write back canonically. */
function readVarintValue(
  schema: DescMessage,
  field: DescField,
  bytes: Uint8Array,
  pos: number,
  end: number,
  fromEncoder: boolean,
): [bigint | number, number] {
  const kind = varintKind(field);
  if (kind === "bool") {
    const [v, next] = readVarint32(schema.typeName, bytes, pos, end);
    return [v === 0 ? 0 : 1, next];
  }
  // Fast path: a varint of up to 4 bytes (below 2^28) is the same for every reading.
  let small = 0;
  for (let i = 0, p = pos; i < 4 && p < end; i++, p++) {
    const b = bytes[p]!;
    small |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) === 0) return [small, p + 1];
  }
  const [value, next] = readVarint64(schema.typeName, bytes, pos, end);
  const name = `${schema.typeName}.${field.name}`;
  // protobuf-es holds an enum above 2^31 as a negative int32; nanopb reads it as uint32.
  if (fromEncoder && kind === "uint32" && field.enum && value >= INT32_MIN_SIGN_EXTENDED) return [value & UINT32_MAX, next];
  if (kind === "uint32" && value > UINT32_MAX) {
    throw new MalformedMessageError(schema.typeName, `${name} does not fit 32 bits`, pos);
  }
  if (kind === "int32" && value > 0x7fff_ffffn && value < INT32_MIN_SIGN_EXTENDED) {
    throw new MalformedMessageError(schema.typeName, `${name} does not fit 32 bits`, pos);
  }
  return [value, next];
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

/** Output buffer of the canonical form. */
class Out {
  private buf: Uint8Array;
  length = 0;
  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  varint(value: bigint | number): void {
    if (typeof value === "number" && value <= 0xffff_ffff) {
      this.room(5);
      let v = value;
      while (v >= 0x80) {
        this.buf[this.length++] = (v & 0x7f) | 0x80;
        v = Math.floor(v / 128);
      }
      this.buf[this.length++] = v;
      return;
    }
    this.room(10);
    let v = BigInt(value);
    while (v >= 0x80n) {
      this.buf[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.length++] = Number(v);
  }
  tag(fieldNo: number, wireType: WireType): void {
    this.varint(fieldNo * 8 + wireType);
  }
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  /** Starts a length-delimited field whose content is written next; returns its mark. */
  open(fieldNo: number): number {
    this.tag(fieldNo, WireType.LengthDelimited);
    this.room(5);
    this.length += 5;
    return this.length;
  }
  /** Ends the field started at `mark`: writes its length in the fewest bytes. */
  close(mark: number): void {
    const size = this.length - mark;
    let lengthBytes = 1;
    for (let v = size; v >= 0x80; v = Math.floor(v / 128)) lengthBytes++;
    const at = mark - 5;
    let v = size;
    for (let i = 0; i < lengthBytes; i++, v = Math.floor(v / 128)) this.buf[at + i] = (v & 0x7f) | (i < lengthBytes - 1 ? 0x80 : 0);
    if (lengthBytes < 5) {
      this.buf.copyWithin(at + lengthBytes, mark, this.length);
      this.length -= 5 - lengthBytes;
    }
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * What the decoded struct would hold, as far as the after-decode UTF-8 check cares: nanopb
 * checks only the strings present at the end, after later values replaced earlier ones and
 * a switch of oneof member cleared the previous member.
 */
interface Held {
  badStrings: Set<number>;
  subs: Map<number, Held>;
  oneofCase: Map<string, number>;
}
const newHeld = (): Held => ({ badStrings: new Set(), subs: new Map(), oneofCase: new Map() });

function transcodeChecked(schema: DescMessage, bytes: Uint8Array, fromEncoder = false): Uint8Array {
  const held = newHeld();
  const out = new Out(bytes.length + 16);
  transcode(schema, bytes, 0, bytes.length, 0, held, out, fromEncoder);
  checkHeldStrings(schema, held);
  return out.bytes();
}

function checkHeldStrings(schema: DescMessage, held: Held): void {
  for (const field of schema.fields) {
    if (field.oneof && held.oneofCase.get(field.oneof.localName) !== field.number) continue;
    if (held.badStrings.has(field.number)) {
      throw new MalformedMessageError(schema.typeName, `${schema.typeName}.${field.name} is not valid UTF-8`);
    }
    const sub = held.subs.get(field.number);
    if (sub && field.message) checkHeldStrings(field.message, sub);
  }
}

function transcode(
  schema: DescMessage,
  bytes: Uint8Array,
  start: number,
  end: number,
  depth: number,
  held: Held,
  out: Out,
  fromEncoder: boolean,
): void {
  const typeName = schema.typeName;
  if (depth > MAX_DEPTH) throw new MalformedMessageError(typeName, "nested too deep", start);
  const counts = new Map<number, number>();
  const bounds = FIELD_BOUNDS[typeName] ?? {};
  let pos = start;
  while (pos < end) {
    const tagAt = pos;
    const [tag, afterTag] = readVarint32(typeName, bytes, pos, end);
    pos = afterTag;
    const fieldNo = tag >>> 3;
    const wireType = (tag & 7) as WireType;
    if (fieldNo === 0) throw new MalformedMessageError(typeName, "invalid field number", tagAt);
    const field = schema.fields.find((f) => f.number === fieldNo);

    if (!field) {
      // Unknown fields are skipped, as nanopb does, and left out of the canonical form.
      switch (wireType) {
        case WireType.Varint:
          pos = skipVarint(typeName, bytes, pos, end);
          break;
        case WireType.Bit64:
        case WireType.Bit32: {
          const next = pos + (wireType === WireType.Bit32 ? 4 : 8);
          if (next > end) throw new MalformedMessageError(typeName, "value runs past the end", pos);
          pos = next;
          break;
        }
        case WireType.LengthDelimited: {
          const [length, afterLength] = readVarint32(typeName, bytes, pos, end);
          if (length > end - afterLength) throw new MalformedMessageError(typeName, `length ${length} runs past the end`, pos);
          pos = afterLength + length;
          break;
        }
        default:
          throw new MalformedMessageError(typeName, `invalid wire type ${wireType}`, tagAt);
      }
      continue;
    }

    const name = `${typeName}.${field.name}`;
    const expected = expectedWireType(field);
    const packable = field.fieldKind === "list" && expected !== WireType.LengthDelimited;
    const packed = packable && wireType === WireType.LengthDelimited;
    if (wireType > WireType.Bit32 || (wireType !== expected && !packed)) {
      throw new MalformedMessageError(typeName, `${name} has wire type ${wireType}, expected ${expected}`, tagAt);
    }
    if (field.oneof && held.oneofCase.get(field.oneof.localName) !== fieldNo) {
      held.oneofCase.set(field.oneof.localName, fieldNo);
      held.subs.delete(fieldNo);
      held.badStrings.delete(fieldNo);
    }
    const bound = bounds[field.localName];

    if (wireType === WireType.Varint) {
      const [value, next] = readVarintValue(schema, field, bytes, pos, end, fromEncoder);
      pos = next;
      out.tag(fieldNo, wireType);
      out.varint(value);
      if (field.fieldKind === "list") counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + 1);
    } else if (wireType === WireType.Bit32 || wireType === WireType.Bit64) {
      const next = pos + (wireType === WireType.Bit32 ? 4 : 8);
      if (next > end) throw new MalformedMessageError(typeName, "value runs past the end", pos);
      out.tag(fieldNo, wireType);
      out.raw(bytes.subarray(pos, next));
      pos = next;
      if (field.fieldKind === "list") counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + 1);
    } else {
      const [length, valueStart] = readVarint32(typeName, bytes, pos, end);
      if (length > end - valueStart) throw new MalformedMessageError(typeName, `length ${length} runs past the end`, pos);
      const valueEnd = valueStart + length;
      pos = valueEnd;
      const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
      if (packed) {
        const mark = out.open(fieldNo);
        let n = 0;
        for (let p = valueStart; p < valueEnd; n++) {
          if (expected === WireType.Varint) {
            const [v, next] = readVarintValue(schema, field, bytes, p, valueEnd, fromEncoder);
            out.varint(v);
            p = next;
          } else {
            const next = p + (expected === WireType.Bit32 ? 4 : 8);
            if (next > valueEnd) throw new MalformedMessageError(typeName, `${name} packed array is truncated`, valueStart);
            out.raw(bytes.subarray(p, next));
            p = next;
          }
        }
        counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + n);
        out.close(mark);
      } else if (kind === "message") {
        let sub = held.subs.get(fieldNo);
        if (!sub || field.fieldKind === "list") held.subs.set(fieldNo, (sub = newHeld()));
        const mark = out.open(fieldNo);
        transcode(field.message!, bytes, valueStart, valueEnd, depth + 1, sub, out, fromEncoder);
        out.close(mark);
        if (field.fieldKind === "list") counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + 1);
      } else {
        if (bound?.kind === "string" && length > bound.max - 1) {
          throw new MalformedMessageError(typeName, `${name} is ${length} bytes, over its bound of ${bound.max - 1}`, valueStart);
        }
        if (bound?.kind === "bytes" && length > bound.max) {
          throw new MalformedMessageError(typeName, `${name} is ${length} bytes, over its bound of ${bound.max}`, valueStart);
        }
        let value = bytes.subarray(valueStart, valueEnd);
        if (field.scalar === ScalarType.STRING) {
          // nanopb keeps a string as a C string: what follows a NUL is lost, and only what
          // precedes it is checked for UTF-8.
          const nul = value.indexOf(0);
          if (nul >= 0) value = value.subarray(0, nul);
          let valid = true;
          try {
            utf8.decode(value);
          } catch {
            valid = false;
          }
          if (!valid) {
            // Refused at the end unless a later value replaces it; it never reaches protobuf-es.
            held.badStrings.add(fieldNo);
            value = value.subarray(0, 0);
          } else if (field.fieldKind !== "list") {
            held.badStrings.delete(fieldNo);
          }
        }
        out.tag(fieldNo, wireType);
        out.varint(value.length);
        out.raw(value);
        if (field.fieldKind === "list") counts.set(fieldNo, (counts.get(fieldNo) ?? 0) + 1);
      }
    }
    if (bound?.kind === "repeated" && (counts.get(fieldNo) ?? 0) > bound.max) {
      throw new MalformedMessageError(typeName, `${name} has more than ${bound.max} elements`, tagAt);
    }
  }
}
