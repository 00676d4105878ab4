// Framing of the ESP-NOW bridge protocol on the UART: each frame is COBS-encoded and ends with
// one 0x00 byte; its last two bytes are a CRC-16/CCITT-FALSE, little-endian, of the rest.
// README.md "Bridge protocol" and docs/protocol.md define the format; the dongle's C code
// (firmware/components/meshota_bridge) implements the same.

/** Largest frame body (type, seq, fields, payload, CRC) either side sends or accepts. */
export const BRIDGE_BODY_MAX = 1500;
/** Largest COBS encoding of a body, without the 0x00 delimiter. */
export const BRIDGE_ENCODED_MAX = BRIDGE_BODY_MAX + Math.ceil(BRIDGE_BODY_MAX / 254) + 1;

/**
 * CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR.
 * Check value of "123456789" is 0x29B1 (the CRC catalogue's check value for this variant).
 */
export function crc16(data: Uint8Array, crc = 0xffff): number {
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** COBS-encodes `data` (the result holds no 0x00 byte); the delimiter is not added. */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + Math.ceil(data.length / 254) + 1);
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (const byte of data) {
    if (byte === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
      continue;
    }
    out[o++] = byte;
    code++;
    if (code === 0xff) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** Decodes one COBS block (without its delimiter); undefined when it is not valid COBS. */
export function cobsDecode(data: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(data.length);
  let o = 0;
  let i = 0;
  while (i < data.length) {
    const code = data[i]!;
    if (code === 0 || i + code > data.length) return undefined;
    for (let k = 1; k < code; k++) out[o++] = data[i + k]!;
    i += code;
    if (code !== 0xff && i < data.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

/** Builds the wire bytes of one frame body: CRC appended, COBS-encoded, 0x00 at the end. */
export function frameToWire(body: Uint8Array): Uint8Array {
  if (body.length + 2 > BRIDGE_BODY_MAX) throw new RangeError(`bridge frame of ${body.length + 2} bytes exceeds ${BRIDGE_BODY_MAX}`);
  const withCrc = new Uint8Array(body.length + 2);
  withCrc.set(body);
  const crc = crc16(body);
  withCrc[body.length] = crc & 0xff;
  withCrc[body.length + 1] = crc >> 8;
  const enc = cobsEncode(withCrc);
  const wire = new Uint8Array(enc.length + 1);
  wire.set(enc);
  return wire;
}

/** What the deframer drops, counted. */
export interface DeframerStats {
  /** Blocks longer than BRIDGE_ENCODED_MAX (discarded up to the next delimiter). */
  oversize: number;
  /** Blocks that are not valid COBS or too short. */
  malformed: number;
  /** Blocks whose CRC does not match. */
  crcErrors: number;
}

/**
 * Splits a byte stream (any split) into frame bodies with a valid CRC (CRC removed). Memory is
 * bounded by BRIDGE_ENCODED_MAX whatever arrives.
 */
export class Deframer {
  readonly stats: DeframerStats = { oversize: 0, malformed: 0, crcErrors: 0 };
  #buf = new Uint8Array(BRIDGE_ENCODED_MAX);
  #len = 0;
  #overflow = false;

  /** Feeds bytes; returns the bodies completed by them. */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const byte of data) {
      if (byte !== 0) {
        if (this.#len < this.#buf.length) this.#buf[this.#len++] = byte;
        else this.#overflow = true;
        continue;
      }
      const len = this.#len;
      const overflow = this.#overflow;
      this.#len = 0;
      this.#overflow = false;
      if (overflow) {
        this.stats.oversize++;
        continue;
      }
      if (len === 0) continue; // delimiters in a row: idle line or resynchronisation
      const body = cobsDecode(this.#buf.subarray(0, len));
      if (!body || body.length < 4) {
        this.stats.malformed++;
        continue;
      }
      const crc = body[body.length - 2]! | (body[body.length - 1]! << 8);
      if (crc16(body.subarray(0, body.length - 2)) !== crc) {
        this.stats.crcErrors++;
        continue;
      }
      out.push(body.slice(0, body.length - 2));
    }
    return out;
  }
}
