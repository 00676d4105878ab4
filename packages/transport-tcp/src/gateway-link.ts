// Messages of the gateway link (version 1): the TCP connection between the host tools and a
// meshota gateway node, which carries meshota vendor messages into and out of the mesh. Each
// message is the payload of one stream frame and starts with a type byte; integers are
// little-endian. The device side is firmware/components/meshota_esp (meshota_gwlink.h);
// docs/protocol.md "TCP control link" describes the exchange.
import { SEGMENTED_PARAMS_MAX, type VendorFrame } from "@meshota/proto";

/** Version carried in HELLO. */
export const GATEWAY_LINK_VERSION = 1;
/** Bytes of a SEND or RECV before the parameters. */
export const GATEWAY_LINK_HEADER = 7;
/** Largest link message: a RECV or SEND with 377 parameter bytes (384). */
export const GATEWAY_LINK_MAX_PAYLOAD = GATEWAY_LINK_HEADER + SEGMENTED_PARAMS_MAX;
/** TTL value meaning "the gateway's default TTL". */
export const GATEWAY_DEFAULT_TTL = 0xff;

/** Message types (first byte). */
export const GatewayLinkType = { HELLO: 0x01, SEND: 0x02, SEND_RESULT: 0x03, RECV: 0x04 } as const;

/** Outcome of one SEND. */
export const GatewayLinkStatus = {
  /** The mesh stack accepted and sent the message. */
  OK: 0,
  /** Malformed SEND, unknown opcode, oversize parameters or an unassigned destination. */
  REFUSED: 1,
  /** The mesh stack refused or failed the send. */
  MESH_ERROR: 2,
  /** The gateway is not provisioned or has no AppKey bound to its client model. */
  NOT_READY: 3,
  /** Too many sends are waiting for their result. */
  BUSY: 4,
} as const;
export type GatewayLinkStatus = (typeof GatewayLinkStatus)[keyof typeof GatewayLinkStatus];

/** One gateway link message. */
export type GatewayLinkMessage =
  /** Gateway -> host, once per connection. `address` is 0 while unprovisioned. */
  | { readonly type: "hello"; readonly version: number; readonly companyId: number; readonly address: number; readonly mtu: number }
  /** Host -> gateway. `ttl` 0..127 or 0xFF (default). */
  | { readonly type: "send"; readonly tag: number; readonly dst: number; readonly ttl: number; readonly frame: VendorFrame }
  /** Gateway -> host, one per SEND, same tag. */
  | { readonly type: "send-result"; readonly tag: number; readonly status: number }
  /** Gateway -> host, for every meshota vendor message its client model receives. */
  | { readonly type: "recv"; readonly src: number; readonly dst: number; readonly rssi: number; readonly frame: VendorFrame };

const u16 = (what: string, v: number) => {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what} ${v} is not a uint16`);
  return v;
};

const u8 = (what: string, v: number, max = 0xff) => {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} ${v} is outside 0..${max}`);
  return v;
};

/** Encodes a link message (the payload of one stream frame). */
export function encodeGatewayMessage(m: GatewayLinkMessage): Uint8Array {
  const le16 = (out: Uint8Array, at: number, v: number) => {
    out[at] = v & 0xff;
    out[at + 1] = v >> 8;
  };
  switch (m.type) {
    case "hello": {
      const out = new Uint8Array(8);
      out[0] = GatewayLinkType.HELLO;
      out[1] = u8("version", m.version);
      le16(out, 2, u16("company ID", m.companyId));
      le16(out, 4, u16("address", m.address));
      le16(out, 6, u16("mtu", m.mtu));
      return out;
    }
    case "send":
    case "recv": {
      if (m.frame.params.length > SEGMENTED_PARAMS_MAX) {
        throw new RangeError(`${m.frame.params.length} parameter bytes exceed ${SEGMENTED_PARAMS_MAX}`);
      }
      const out = new Uint8Array(GATEWAY_LINK_HEADER + m.frame.params.length);
      if (m.type === "send") {
        out[0] = GatewayLinkType.SEND;
        le16(out, 1, u16("tag", m.tag));
        le16(out, 3, u16("destination", m.dst));
        out[5] = m.ttl === GATEWAY_DEFAULT_TTL ? GATEWAY_DEFAULT_TTL : u8("ttl", m.ttl, 0x7f);
      } else {
        out[0] = GatewayLinkType.RECV;
        le16(out, 1, u16("source", m.src));
        le16(out, 3, u16("destination", m.dst));
        if (!Number.isInteger(m.rssi) || m.rssi < -128 || m.rssi > 127) throw new RangeError(`rssi ${m.rssi} is not an int8`);
        out[5] = m.rssi & 0xff;
      }
      out[6] = u8("opcode", m.frame.opcode, 0x3f);
      out.set(m.frame.params, GATEWAY_LINK_HEADER);
      return out;
    }
    case "send-result":
      return Uint8Array.of(GatewayLinkType.SEND_RESULT, u16("tag", m.tag) & 0xff, m.tag >> 8, u8("status", m.status));
  }
}

/** Decodes a link message; throws RangeError for an unknown type or a wrong length. */
export function decodeGatewayMessage(p: Uint8Array): GatewayLinkMessage {
  const le16 = (at: number) => p[at]! | (p[at + 1]! << 8);
  const need = (n: number, exact: boolean, name: string) => {
    if (exact ? p.length !== n : p.length < n) {
      throw new RangeError(`gateway link ${name} of ${p.length} bytes; expected ${exact ? "" : "at least "}${n}`);
    }
  };
  if (p.length === 0) throw new RangeError("empty gateway link message");
  const params = () => {
    if (p.length - GATEWAY_LINK_HEADER > SEGMENTED_PARAMS_MAX) {
      throw new RangeError(`gateway link message with ${p.length - GATEWAY_LINK_HEADER} parameter bytes, over ${SEGMENTED_PARAMS_MAX}`);
    }
    if (p[6]! > 0x3f) throw new RangeError(`gateway link opcode 0x${p[6]!.toString(16)} is not 6 bits`);
    return { opcode: p[6]!, params: new Uint8Array(p.subarray(GATEWAY_LINK_HEADER)) }; // a copy, also for Buffers
  };
  switch (p[0]) {
    case GatewayLinkType.HELLO:
      need(8, true, "HELLO");
      return { type: "hello", version: p[1]!, companyId: le16(2), address: le16(4), mtu: le16(6) };
    case GatewayLinkType.SEND:
      need(GATEWAY_LINK_HEADER, false, "SEND");
      return { type: "send", tag: le16(1), dst: le16(3), ttl: p[5]!, frame: params() };
    case GatewayLinkType.SEND_RESULT:
      need(4, true, "SEND_RESULT");
      return { type: "send-result", tag: le16(1), status: p[3]! };
    case GatewayLinkType.RECV:
      need(GATEWAY_LINK_HEADER, false, "RECV");
      return { type: "recv", src: le16(1), dst: le16(3), rssi: (p[5]! << 24) >> 24, frame: params() };
    default:
      throw new RangeError(`unknown gateway link message type 0x${p[0]!.toString(16).padStart(2, "0")}`);
  }
}
