// Vendor messages of the meshota model: {opcode, params} <-> typed messages, and the 3-octet
// vendor opcode on air.
import { create, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  ESPRESSIF_COMPANY_ID,
  SEGMENTED_ACCESS_PAYLOAD,
  UNSEGMENTED_ACCESS_PAYLOAD,
  VENDOR_MESSAGES,
  VENDOR_OPCODE_SIZE,
} from "./gen/meshota_table.js";
import { MalformedMessageError, MeshotaProtoError, MessageTooLargeError, UnknownOpcodeError } from "./errors.js";
import { decodeStrict, encodeStrict } from "./strict.js";

type Entry = (typeof VENDOR_MESSAGES)[number];
/** Names of the meshota vendor messages. */
export type VendorMessageName = Entry["name"];
/** A decoded vendor message of any kind; `$typeName` tells which. */
export type VendorMessage = { [E in Entry as E["name"]]: MessageShape<E["schema"]> }[VendorMessageName];

/** Parameter bytes after the vendor opcode in one segmented access payload: 377. */
export const SEGMENTED_PARAMS_MAX = SEGMENTED_ACCESS_PAYLOAD - VENDOR_OPCODE_SIZE;
/** Parameter bytes after the vendor opcode in one unsegmented access PDU: 8. */
export const UNSEGMENTED_PARAMS_MAX = UNSEGMENTED_ACCESS_PAYLOAD - VENDOR_OPCODE_SIZE;

/** A vendor message as the access layer sees it: 6-bit opcode and parameter bytes. */
export interface VendorFrame {
  opcode: number;
  params: Uint8Array;
}

const byOpcode = new Map<number, Entry>(VENDOR_MESSAGES.map((e) => [e.opcode, e]));
const byTypeName = new Map<string, Entry>(VENDOR_MESSAGES.map((e) => [e.schema.typeName, e]));

/** The table entry of a vendor message, by 6-bit opcode. */
export function vendorEntry(opcode: number): Entry {
  const entry = byOpcode.get(opcode);
  if (!entry) throw new UnknownOpcodeError(opcode);
  return entry;
}

/**
 * Encodes a meshota vendor message into its opcode and parameters. Throws FieldBoundError when
 * a field is over its nanopb bound, and MessageTooLargeError when the parameters do not fit
 * one segmented access payload (377 bytes).
 */
export function encodeVendor(message: VendorMessage): VendorFrame {
  const typeName = typeof message === "object" && message !== null ? (message as { $typeName?: unknown }).$typeName : undefined;
  const entry = typeof typeName === "string" ? byTypeName.get(typeName) : undefined;
  if (!entry) {
    throw new MeshotaProtoError(`${typeName === undefined ? "a value without $typeName" : String(typeName)} is not a meshota vendor message`);
  }
  const params = encodeStrict(entry.schema, message as never);
  if (params.length > SEGMENTED_PARAMS_MAX) {
    throw new MessageTooLargeError(entry.name, params.length, SEGMENTED_PARAMS_MAX, "one segmented access payload");
  }
  return { opcode: entry.opcode, params };
}

/** Creates and encodes a vendor message by name, for example `vendor("UpdateGet", {})`. */
export function encodeVendorInit<N extends VendorMessageName>(
  name: N,
  init: MessageInitShape<Extract<Entry, { name: N }>["schema"]>,
): VendorFrame {
  const entry = VENDOR_MESSAGES.find((e) => e.name === name)!;
  return encodeVendor(create(entry.schema as never, init as never) as VendorMessage);
}

/** Decodes the parameters of a vendor message with the verdicts of the firmware's decoder. */
export function decodeVendor(frame: VendorFrame): VendorMessage {
  const entry = vendorEntry(frame.opcode);
  if (!(frame.params instanceof Uint8Array)) {
    throw new MalformedMessageError(entry.schema.typeName, "parameters are not a Uint8Array");
  }
  if (frame.params.length > SEGMENTED_PARAMS_MAX) {
    throw new MessageTooLargeError(entry.name, frame.params.length, SEGMENTED_PARAMS_MAX, "one segmented access payload");
  }
  return decodeStrict(entry.schema, frame.params) as VendorMessage;
}

/** True when the parameters travel in one unsegmented access PDU (8 bytes or less). */
export function fitsUnsegmented(frame: VendorFrame): boolean {
  return frame.params.length <= UNSEGMENTED_PARAMS_MAX;
}

/**
 * The access payload on air: 0xC0 | opcode, the company ID little-endian, then the
 * parameters.
 */
export function toAccessPayload(frame: VendorFrame, companyId: number = ESPRESSIF_COMPANY_ID): Uint8Array {
  if (!Number.isInteger(frame.opcode) || frame.opcode < 0 || frame.opcode > 0x3f) {
    throw new RangeError(`vendor opcode ${frame.opcode} is not 6 bits`);
  }
  if (!Number.isInteger(companyId) || companyId < 0 || companyId > 0xffff) {
    throw new RangeError(`company ID ${companyId} is not 16 bits`);
  }
  const out = new Uint8Array(VENDOR_OPCODE_SIZE + frame.params.length);
  out[0] = 0xc0 | frame.opcode;
  out[1] = companyId & 0xff;
  out[2] = companyId >> 8;
  out.set(frame.params, VENDOR_OPCODE_SIZE);
  return out;
}

/**
 * Splits an access payload into the meshota opcode and parameters. Throws when it is not a
 * vendor opcode of `companyId`.
 */
export function fromAccessPayload(payload: Uint8Array, companyId: number = ESPRESSIF_COMPANY_ID): VendorFrame {
  if (payload.length < VENDOR_OPCODE_SIZE) {
    throw new MalformedMessageError("access payload", `${payload.length} bytes is shorter than a vendor opcode`);
  }
  const first = payload[0]!;
  if ((first & 0xc0) !== 0xc0) throw new UnknownOpcodeError(first, " (not a vendor opcode)");
  const company = payload[1]! | (payload[2]! << 8);
  if (company !== companyId) {
    throw new UnknownOpcodeError(first & 0x3f, ` (company 0x${company.toString(16).padStart(4, "0")}, expected 0x${companyId.toString(16).padStart(4, "0")})`);
  }
  return { opcode: first & 0x3f, params: payload.subarray(VENDOR_OPCODE_SIZE) };
}
