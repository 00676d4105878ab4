// Messages of the ESP-NOW bridge protocol (version 1). A frame body is
//   type (u8) | seq (u8) | fields
// Host -> dongle types are 0x01-0x7F, dongle -> host types 0x80-0xFF. Multi-byte integers
// are little-endian. README.md "Bridge protocol" is the reference.

/** Protocol version this package speaks. */
export const BRIDGE_PROTOCOL_VERSION = 1;

export const MsgType = {
  /** Host -> dongle: version u8. Resets the dongle's link state and drops its queue. */
  HELLO: 0x01,
  /** Host -> dongle: channel u8 (1-14). */
  SET_CHANNEL: 0x02,
  /** Host -> dongle: dst mac[6] | payload (1..max_payload bytes). */
  SEND: 0x03,
  /** Dongle -> host: version u8 | espnow_version u8 | max_payload u16 | mac[6] | channel u8 | tx_slots u8 | acked_seq u8. */
  HELLO_ACK: 0x81,
  /** Dongle -> host: acked_seq u8 | status u8 | free_slots u8. */
  ACK: 0x82,
  /** Dongle -> host: send_seq u8 | outcome u8 | free_slots u8. */
  SENT: 0x83,
  /** Dongle -> host: src mac[6] | rssi i8 | payload. */
  RECV: 0x84,
} as const;

/** ACK status codes. */
export const AckStatus = {
  OK: 0,
  /** The transmit queue is full; send again after a SENT frees a slot. */
  BUSY: 1,
  /** Payload empty or larger than max_payload. */
  BAD_LENGTH: 2,
  /** Channel outside 1-14, or the radio refused it. */
  BAD_CHANNEL: 3,
  /** Type unknown to the dongle, or fields too short. */
  UNKNOWN: 4,
  /** No HELLO since the dongle started (it restarted): nothing was done. */
  NO_SESSION: 5,
} as const;

/** SENT outcomes. */
export const SentOutcome = {
  /** Broadcast on air, or unicast acknowledged by the peer. */
  OK: 0,
  /** Unicast not acknowledged. */
  NO_ACK: 1,
  /** The radio refused the frame. */
  FAILED: 2,
} as const;

/** Parsed HELLO_ACK. */
export interface BridgeHello {
  version: number;
  /** 1 or 2. */
  espnowVersion: number;
  /** Largest ESP-NOW payload the dongle sends and receives (250 for v1, up to 1470 for v2). */
  maxPayload: number;
  mac: Uint8Array;
  channel: number;
  /** Depth of the dongle's transmit queue. */
  txSlots: number;
  ackedSeq: number;
}

/** A frame from the dongle. */
export type DongleFrame =
  | { type: "hello"; seq: number; hello: BridgeHello }
  | { type: "ack"; seq: number; ackedSeq: number; status: number; freeSlots: number }
  | { type: "sent"; seq: number; sendSeq: number; outcome: number; freeSlots: number }
  | { type: "recv"; seq: number; src: Uint8Array; rssi: number; payload: Uint8Array };

/** Parses a dongle frame body (CRC already checked); undefined for an unknown or short one. */
export function parseDongleFrame(body: Uint8Array): DongleFrame | undefined {
  if (body.length < 2) return undefined;
  const type = body[0]!;
  const seq = body[1]!;
  const f = body.subarray(2);
  switch (type) {
    case MsgType.HELLO_ACK:
      if (f.length < 13) return undefined;
      return {
        type: "hello",
        seq,
        hello: {
          version: f[0]!,
          espnowVersion: f[1]!,
          maxPayload: f[2]! | (f[3]! << 8),
          mac: f.slice(4, 10),
          channel: f[10]!,
          txSlots: f[11]!,
          ackedSeq: f[12]!,
        },
      };
    case MsgType.ACK:
      if (f.length < 3) return undefined;
      return { type: "ack", seq, ackedSeq: f[0]!, status: f[1]!, freeSlots: f[2]! };
    case MsgType.SENT:
      if (f.length < 3) return undefined;
      return { type: "sent", seq, sendSeq: f[0]!, outcome: f[1]!, freeSlots: f[2]! };
    case MsgType.RECV:
      if (f.length < 8) return undefined;
      return { type: "recv", seq, src: f.slice(0, 6), rssi: (f[6]! << 24) >> 24, payload: f.slice(7) };
    default:
      return undefined;
  }
}

/** Builds a host frame body. */
export function hostFrame(type: number, seq: number, fields: Uint8Array = new Uint8Array(0)): Uint8Array {
  const body = new Uint8Array(2 + fields.length);
  body[0] = type;
  body[1] = seq & 0xff;
  body.set(fields, 2);
  return body;
}
