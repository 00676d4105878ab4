// Proxy protocol (Mesh Protocol 6): Proxy PDU segmentation and reassembly over a GATT
// characteristic, and the proxy configuration messages that set the proxy's filter.
import { be16, concat, readBe16 } from "./bytes.js";

/** Mesh Proxy Service and its characteristics (assigned numbers). */
export const MESH_PROXY_SERVICE = 0x1828;
export const MESH_PROXY_DATA_IN = 0x2add;
export const MESH_PROXY_DATA_OUT = 0x2ade;

/** Proxy PDU message types. */
export const ProxyPduType = {
  network: 0x00,
  beacon: 0x01,
  configuration: 0x02,
  provisioning: 0x03,
} as const;
export type ProxyPduType = (typeof ProxyPduType)[keyof typeof ProxyPduType];

const SAR_COMPLETE = 0;
const SAR_FIRST = 1;
const SAR_CONTINUATION = 2;
const SAR_LAST = 3;

/** Default bytes per GATT write: ATT MTU 23 less 3, all Web Bluetooth can count on. */
export const DEFAULT_PROXY_WRITE_SIZE = 20;

/** Largest reassembled Proxy PDU accepted (a network PDU is at most 29 bytes; provisioning 66). */
export const PROXY_PDU_MAX = 128;

/** Splits one Proxy PDU payload into GATT writes of at most `writeSize` bytes. */
export function segmentProxyPdu(type: ProxyPduType, payload: Uint8Array, writeSize = DEFAULT_PROXY_WRITE_SIZE): Uint8Array[] {
  if (writeSize < 2) throw new RangeError(`proxy write size ${writeSize} is below 2`);
  if (payload.length > PROXY_PDU_MAX) throw new RangeError(`proxy PDU of ${payload.length} bytes is over ${PROXY_PDU_MAX}`);
  const room = writeSize - 1;
  if (payload.length <= room) return [concat(Uint8Array.of((SAR_COMPLETE << 6) | type), payload)];
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += room) {
    const sar = at === 0 ? SAR_FIRST : at + room >= payload.length ? SAR_LAST : SAR_CONTINUATION;
    out.push(concat(Uint8Array.of((sar << 6) | type), payload.subarray(at, at + room)));
  }
  return out;
}

/** A complete Proxy PDU. */
export interface ProxyPdu {
  readonly type: ProxyPduType;
  readonly payload: Uint8Array;
}

/**
 * Reassembles Proxy PDUs from GATT notifications. A protocol violation (continuation without a
 * first part, type change mid-message, oversize) drops the partial PDU and is reported through
 * the `error` field of the result, so the caller can count or log it.
 */
export class ProxyReassembler {
  private type: number | undefined;
  private parts: Uint8Array[] = [];
  private length = 0;

  /** True while a segmented Proxy PDU is partly received. */
  get busy(): boolean {
    return this.type !== undefined;
  }

  /** Drops a partial PDU (the proxy SAR timeout of 20 s, or a disconnect). */
  reset(): void {
    this.type = undefined;
    this.parts = [];
    this.length = 0;
  }

  push(chunk: Uint8Array): { pdu?: ProxyPdu; error?: string } {
    if (chunk.length < 1) return { error: "empty proxy PDU" };
    const sar = chunk[0]! >> 6;
    const type = chunk[0]! & 0x3f;
    const data = chunk.subarray(1);
    if (type > ProxyPduType.provisioning) {
      this.reset();
      return { error: `proxy PDU type 0x${type.toString(16)} is reserved` };
    }
    if (sar === SAR_COMPLETE || sar === SAR_FIRST) {
      const interrupted = this.busy;
      this.reset();
      if (sar === SAR_COMPLETE) {
        return interrupted ? { pdu: { type: type as ProxyPduType, payload: data.slice() }, error: "segmented proxy PDU interrupted" } : { pdu: { type: type as ProxyPduType, payload: data.slice() } };
      }
      this.type = type;
      this.parts = [data.slice()];
      this.length = data.length;
      return interrupted ? { error: "segmented proxy PDU interrupted" } : {};
    }
    if (this.type === undefined) return { error: "proxy PDU continuation without a first segment" };
    if (this.type !== type) {
      this.reset();
      return { error: "proxy PDU type changed inside a segmented PDU" };
    }
    this.length += data.length;
    if (this.length > PROXY_PDU_MAX) {
      this.reset();
      return { error: `segmented proxy PDU is over ${PROXY_PDU_MAX} bytes` };
    }
    this.parts.push(data.slice());
    if (sar === SAR_CONTINUATION) return {};
    const payload = concat(...this.parts);
    this.reset();
    return { pdu: { type: type as ProxyPduType, payload } };
  }
}

/** Proxy filter types. Mesh Protocol 1.1 names them accept list and reject list. */
export const ProxyFilterType = { acceptList: 0x00, rejectList: 0x01 } as const;
export type ProxyFilterType = (typeof ProxyFilterType)[keyof typeof ProxyFilterType];

/** Proxy configuration opcodes (Mesh Protocol 6.5). */
export const ProxyConfigOpcode = {
  setFilterType: 0x00,
  addAddresses: 0x01,
  removeAddresses: 0x02,
  filterStatus: 0x03,
} as const;

/** Transport PDU of a Set Filter Type message. */
export function setFilterTypeMessage(type: ProxyFilterType): Uint8Array {
  return Uint8Array.of(ProxyConfigOpcode.setFilterType, type);
}

/** Transport PDU of an Add Addresses (or Remove Addresses) message; at most 5 addresses fit. */
export function filterAddressesMessage(add: boolean, addresses: readonly number[]): Uint8Array {
  if (addresses.length < 1 || addresses.length > 5) throw new RangeError(`${addresses.length} addresses; one message carries 1-5`);
  return concat(Uint8Array.of(add ? ProxyConfigOpcode.addAddresses : ProxyConfigOpcode.removeAddresses), ...addresses.map(be16));
}

/** A decoded Filter Status message. */
export interface FilterStatus {
  readonly filterType: ProxyFilterType;
  readonly listSize: number;
}

export function decodeFilterStatus(pdu: Uint8Array): FilterStatus | undefined {
  if (pdu.length !== 4 || pdu[0] !== ProxyConfigOpcode.filterStatus || pdu[1]! > 1) return undefined;
  return { filterType: pdu[1] as ProxyFilterType, listSize: readBe16(pdu, 2) };
}
