// Lower transport PDU formats (Mesh Protocol 3.5.2): unsegmented and segmented access and
// control messages, and the Segment Acknowledgment message.

/** Largest upper transport PDU one unsegmented access PDU carries (15 bytes). */
export const UNSEGMENTED_ACCESS_MAX = 15;
/** Bytes of upper transport PDU per access segment. */
export const ACCESS_SEGMENT_SIZE = 12;
/** Bytes of control PDU per control segment. */
export const CONTROL_SEGMENT_SIZE = 8;
/** At most 32 segments (SegN is 5 bits). */
export const MAX_SEGMENTS = 32;
/** Opcode of the Segment Acknowledgment control message. */
export const SEGMENT_ACK_OPCODE = 0x00;

export type LowerPdu =
  | { readonly kind: "access"; readonly akf: boolean; readonly aid: number; readonly upper: Uint8Array }
  | {
      readonly kind: "access-segment";
      readonly akf: boolean;
      readonly aid: number;
      readonly szmic: boolean;
      readonly seqZero: number;
      readonly segO: number;
      readonly segN: number;
      readonly segment: Uint8Array;
    }
  | { readonly kind: "control"; readonly opcode: number; readonly params: Uint8Array }
  | {
      readonly kind: "control-segment";
      readonly opcode: number;
      readonly seqZero: number;
      readonly segO: number;
      readonly segN: number;
      readonly segment: Uint8Array;
    }
  | { readonly kind: "ack"; readonly obo: boolean; readonly seqZero: number; readonly blockAck: number };

/** Encodes a lower transport PDU (the transport part of a network PDU). */
export function encodeLowerPdu(pdu: LowerPdu): Uint8Array {
  switch (pdu.kind) {
    case "access": {
      if (pdu.upper.length < 5 || pdu.upper.length > UNSEGMENTED_ACCESS_MAX) {
        throw new RangeError(`unsegmented upper transport PDU of ${pdu.upper.length} bytes is not 5-15`);
      }
      const out = new Uint8Array(1 + pdu.upper.length);
      out[0] = (pdu.akf ? 0x40 : 0) | (pdu.aid & 0x3f);
      out.set(pdu.upper, 1);
      return out;
    }
    case "access-segment": {
      if (pdu.segment.length < 1 || pdu.segment.length > ACCESS_SEGMENT_SIZE) {
        throw new RangeError(`access segment of ${pdu.segment.length} bytes is not 1-12`);
      }
      const out = new Uint8Array(4 + pdu.segment.length);
      out[0] = 0x80 | (pdu.akf ? 0x40 : 0) | (pdu.aid & 0x3f);
      writeSegHeader(out, pdu.szmic, pdu.seqZero, pdu.segO, pdu.segN);
      out.set(pdu.segment, 4);
      return out;
    }
    case "control": {
      if (pdu.params.length > 11) throw new RangeError(`unsegmented control parameters of ${pdu.params.length} bytes are over 11`);
      const out = new Uint8Array(1 + pdu.params.length);
      out[0] = pdu.opcode & 0x7f;
      out.set(pdu.params, 1);
      return out;
    }
    case "control-segment": {
      if (pdu.segment.length < 1 || pdu.segment.length > CONTROL_SEGMENT_SIZE) {
        throw new RangeError(`control segment of ${pdu.segment.length} bytes is not 1-8`);
      }
      const out = new Uint8Array(4 + pdu.segment.length);
      out[0] = 0x80 | (pdu.opcode & 0x7f);
      writeSegHeader(out, false, pdu.seqZero, pdu.segO, pdu.segN);
      out.set(pdu.segment, 4);
      return out;
    }
    case "ack": {
      const out = new Uint8Array(7);
      out[0] = SEGMENT_ACK_OPCODE;
      out[1] = (pdu.obo ? 0x80 : 0) | ((pdu.seqZero >> 6) & 0x7f);
      out[2] = (pdu.seqZero & 0x3f) << 2;
      out[3] = (pdu.blockAck >>> 24) & 0xff;
      out[4] = (pdu.blockAck >>> 16) & 0xff;
      out[5] = (pdu.blockAck >>> 8) & 0xff;
      out[6] = pdu.blockAck & 0xff;
      return out;
    }
  }
}

function writeSegHeader(out: Uint8Array, szmic: boolean, seqZero: number, segO: number, segN: number): void {
  if (segN < 0 || segN > 31 || segO < 0 || segO > segN) throw new RangeError(`segment ${segO} of 0-${segN} is out of range`);
  out[1] = (szmic ? 0x80 : 0) | ((seqZero >> 6) & 0x7f);
  out[2] = ((seqZero & 0x3f) << 2) | (segO >> 3);
  out[3] = ((segO & 0x07) << 5) | segN;
}

/**
 * Decodes a lower transport PDU. `ctl` comes from the network header. Returns a reason string
 * for malformed input instead of throwing: bad PDUs from the air are dropped, not fatal.
 */
export function decodeLowerPdu(bytes: Uint8Array, ctl: boolean): LowerPdu | string {
  if (bytes.length < 1) return "empty lower transport PDU";
  const seg = (bytes[0]! & 0x80) !== 0;
  if (!seg) {
    if (!ctl) {
      if (bytes.length < 6) return `unsegmented access PDU of ${bytes.length} bytes is shorter than 6`;
      return { kind: "access", akf: (bytes[0]! & 0x40) !== 0, aid: bytes[0]! & 0x3f, upper: bytes.subarray(1) };
    }
    const opcode = bytes[0]! & 0x7f;
    if (opcode === SEGMENT_ACK_OPCODE) {
      if (bytes.length !== 7) return `segment acknowledgment of ${bytes.length} bytes, expected 7`;
      return {
        kind: "ack",
        obo: (bytes[1]! & 0x80) !== 0,
        seqZero: ((bytes[1]! & 0x7f) << 6) | (bytes[2]! >> 2),
        blockAck: ((bytes[3]! << 24) | (bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!) >>> 0,
      };
    }
    return { kind: "control", opcode, params: bytes.subarray(1) };
  }
  if (bytes.length < 5) return `segmented PDU of ${bytes.length} bytes is shorter than 5`;
  const seqZero = ((bytes[1]! & 0x7f) << 6) | (bytes[2]! >> 2);
  const segO = ((bytes[2]! & 0x03) << 3) | (bytes[3]! >> 5);
  const segN = bytes[3]! & 0x1f;
  if (segO > segN) return `segment offset ${segO} is past the last segment ${segN}`;
  const segment = bytes.subarray(4);
  if (!ctl) {
    if (segment.length > ACCESS_SEGMENT_SIZE) return `access segment of ${segment.length} bytes is over 12`;
    return { kind: "access-segment", akf: (bytes[0]! & 0x40) !== 0, aid: bytes[0]! & 0x3f, szmic: (bytes[1]! & 0x80) !== 0, seqZero, segO, segN, segment };
  }
  if (segment.length > CONTROL_SEGMENT_SIZE) return `control segment of ${segment.length} bytes is over 8`;
  return { kind: "control-segment", opcode: bytes[0]! & 0x7f, seqZero, segO, segN, segment };
}

/**
 * SeqAuth of a segmented message from the SeqZero of a segment and the SEQ that carried it
 * (Mesh Protocol 3.5.3.1): the largest value not above `seq` whose low 13 bits are `seqZero`.
 * Returns a 24-bit sequence number (the IV index part is tracked beside it).
 */
export function seqAuthFrom(seq: number, seqZero: number): number {
  let auth = (seq & ~0x1fff) | seqZero;
  if (auth > seq) auth -= 0x2000;
  return auth;
}

/** Splits an upper transport access PDU into segment PDUs (all sharing one SeqZero). */
export function segmentAccess(upper: Uint8Array, akf: boolean, aid: number, szmic: boolean, seqZero: number): LowerPdu[] {
  const count = Math.ceil(upper.length / ACCESS_SEGMENT_SIZE);
  if (count < 1 || count > MAX_SEGMENTS) throw new RangeError(`upper transport PDU of ${upper.length} bytes needs ${count} segments; at most 32`);
  const out: LowerPdu[] = [];
  for (let segO = 0; segO < count; segO++) {
    const segment = upper.subarray(segO * ACCESS_SEGMENT_SIZE, (segO + 1) * ACCESS_SEGMENT_SIZE);
    out.push({ kind: "access-segment", akf, aid, szmic, seqZero: seqZero & 0x1fff, segO, segN: count - 1, segment });
  }
  return out;
}
