// Access layer opcodes (Mesh Protocol 3.7.3.1): 1, 2 or 3 octets.
import { concat } from "./bytes.js";

/** An opcode as numbers: 1-octet 0x00-0x7e, 2-octet 0x8000-0xbfff, or vendor {opcode6, company}. */
export type AccessOpcode =
  | { readonly kind: "sig"; readonly value: number }
  | { readonly kind: "vendor"; readonly opcode: number; readonly company: number };

/** The largest access payload: 380 bytes (32 segments of 12 bytes less a 4-byte TransMIC). */
export const ACCESS_PAYLOAD_MAX = 380;

export function encodeOpcode(op: AccessOpcode): Uint8Array {
  if (op.kind === "vendor") {
    if (op.opcode < 0 || op.opcode > 0x3f) throw new RangeError(`vendor opcode ${op.opcode} is not 6 bits`);
    return Uint8Array.of(0xc0 | op.opcode, op.company & 0xff, (op.company >> 8) & 0xff);
  }
  if (op.value >= 0 && op.value <= 0x7e) return Uint8Array.of(op.value);
  if (op.value >= 0x8000 && op.value <= 0xbfff) return Uint8Array.of(op.value >> 8, op.value & 0xff);
  throw new RangeError(`opcode 0x${op.value.toString(16)} is not a 1- or 2-octet SIG opcode`);
}

/** Splits an access payload into opcode and parameters; a string reason when malformed. */
export function decodeAccessPayload(payload: Uint8Array): { opcode: AccessOpcode; params: Uint8Array } | string {
  if (payload.length < 1) return "empty access payload";
  const first = payload[0]!;
  if (first === 0x7f) return "opcode 0x7f is reserved";
  if ((first & 0x80) === 0) return { opcode: { kind: "sig", value: first }, params: payload.subarray(1) };
  if ((first & 0xc0) === 0x80) {
    if (payload.length < 2) return "2-octet opcode is truncated";
    return { opcode: { kind: "sig", value: (first << 8) | payload[1]! }, params: payload.subarray(2) };
  }
  if (payload.length < 3) return "vendor opcode is truncated";
  return { opcode: { kind: "vendor", opcode: first & 0x3f, company: payload[1]! | (payload[2]! << 8) }, params: payload.subarray(3) };
}

export function encodeAccessPayload(opcode: AccessOpcode, params: Uint8Array): Uint8Array {
  const out = concat(encodeOpcode(opcode), params);
  if (out.length > ACCESS_PAYLOAD_MAX) throw new RangeError(`access payload of ${out.length} bytes is over ${ACCESS_PAYLOAD_MAX}`);
  return out;
}
