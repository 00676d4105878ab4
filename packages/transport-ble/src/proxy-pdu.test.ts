import { describe, expect, it } from "vitest";
import { hex, toHex } from "./bytes.js";
import { decodeSecureNetworkBeacon, encodeSecureNetworkBeacon } from "./beacon.js";
import { deriveNetworkKey, type NetworkKey } from "./keys.js";
import { decodeNetworkPdu, encodeNetworkPdu } from "./network-pdu.js";
import {
  decodeFilterStatus,
  filterAddressesMessage,
  ProxyFilterType,
  ProxyPduType,
  ProxyReassembler,
  segmentProxyPdu,
  setFilterTypeMessage,
} from "./proxy-pdu.js";

describe("proxy configuration sample (Mesh Protocol sample data 8.5)", () => {
  // NID 0x10 with its encryption and privacy keys as published; a Set Filter Type (accept
  // list) from 0x0001, SEQ 1, IV index 0x12345678, protected with the proxy nonce.
  const key: NetworkKey = {
    index: 0, key: new Uint8Array(16), nid: 0x10, networkId: new Uint8Array(8),
    encryptionKey: hex("3a4fe84a6cc2c6a766ea93f1084d4039"),
    privacyKey: hex("f695fcce709ccface4d8b7a1e6e39d25"),
  };
  const proxyPdu = "0210386bd60efbbb8b8c28512e792d3711f4b526";
  const header = { ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 1, src: 0x0001, dst: 0x0000 };

  it("should encode the Set Filter Type message", () => {
    const network = encodeNetworkPdu(key, header, setFilterTypeMessage(ProxyFilterType.acceptList), "proxy");
    expect(segmentProxyPdu(ProxyPduType.configuration, network, 64).map(toHex)).toEqual([proxyPdu]);
  });

  it("should decode it with the proxy nonce only", () => {
    const { pdu } = new ProxyReassembler().push(hex(proxyPdu));
    expect(pdu?.type).toBe(ProxyPduType.configuration);
    const m = decodeNetworkPdu(pdu!.payload, [key], 0x12345678, "proxy");
    expect(m && toHex(m.transportPdu)).toBe("0000");
    expect(decodeNetworkPdu(pdu!.payload, [key], 0x12345678, "network")).toBeUndefined();
  });
});

describe("secure network beacon (Mesh Protocol sample data 8.4.3)", () => {
  const netKey = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
  const beacon = "01003ecaff672f673370123456788ea261582f364f6f";

  it("should encode the sample beacon", () => {
    expect(toHex(encodeSecureNetworkBeacon(netKey, 0x12345678, false))).toBe(beacon);
  });

  it("should authenticate and decode it, and refuse a forged one", () => {
    expect(decodeSecureNetworkBeacon(hex(beacon), [netKey])).toMatchObject({ ivIndex: 0x12345678, ivUpdate: false, keyRefresh: false });
    const forged = hex(beacon);
    forged[13] = 0x79; // IV index 0x12345679 without a valid CMAC
    expect(decodeSecureNetworkBeacon(forged, [netKey])).toBeUndefined();
  });
});

describe("proxy PDU segmentation", () => {
  const payload = Uint8Array.from({ length: 29 }, (_, i) => i);

  it("should split a 29-byte network PDU into first, continuation and last writes of 12 bytes", () => {
    const writes = segmentProxyPdu(ProxyPduType.network, payload, 12);
    expect(writes.map((w) => [w[0], w.length])).toEqual([[0x40, 12], [0x80, 12], [0xc0, 8]]);
  });

  it("should split into first and last with no continuation", () => {
    expect(segmentProxyPdu(ProxyPduType.network, payload, 20).map((w) => w[0])).toEqual([0x40, 0xc0]);
  });

  it("should reassemble what it split at every write size", () => {
    for (let size = 2; size <= 31; size++) {
      const r = new ProxyReassembler();
      const results = segmentProxyPdu(ProxyPduType.beacon, payload, size).map((w) => r.push(w));
      const last = results.pop()!;
      expect(results.every((x) => !x.pdu && !x.error)).toBe(true);
      expect(last.pdu?.type).toBe(ProxyPduType.beacon);
      expect(last.pdu?.payload).toEqual(payload);
    }
  });

  it.each([
    ["a continuation without a first segment", [hex("8001")], "proxy PDU continuation without a first segment"],
    ["a type change", [hex("4001"), hex("c102")], "proxy PDU type changed inside a segmented PDU"],
    ["a reserved type", [hex("04aa")], "proxy PDU type 0x4 is reserved"],
    ["an empty write", [new Uint8Array(0)], "empty proxy PDU"],
  ])("should report %s and recover", (_name, writes, error) => {
    const r = new ProxyReassembler();
    const results = writes.map((w) => r.push(w));
    expect(results.at(-1)!.error).toBe(error);
    expect(r.busy).toBe(false);
    expect(r.push(hex("00aabb")).pdu?.payload).toEqual(hex("aabb"));
  });

  it("should refuse a segmented PDU growing past the limit", () => {
    const r = new ProxyReassembler();
    r.push(concatFirst());
    let error: string | undefined;
    for (let i = 0; i < 10 && !error; i++) error = r.push(Uint8Array.of(0x80, ...new Uint8Array(19))).error;
    expect(error).toBe("segmented proxy PDU is over 128 bytes");
    function concatFirst() {
      return Uint8Array.of(0x40, ...new Uint8Array(19));
    }
  });
});

describe("proxy configuration messages", () => {
  it("should encode filter messages and decode a Filter Status", () => {
    expect(toHex(filterAddressesMessage(true, [0x0001, 0xc000]))).toBe("010001c000");
    expect(toHex(filterAddressesMessage(false, [0x0001]))).toBe("020001");
    expect(() => filterAddressesMessage(true, [1, 2, 3, 4, 5, 6])).toThrow("6 addresses; one message carries 1-5");
    expect(decodeFilterStatus(hex("03000002"))).toEqual({ filterType: 0, listSize: 2 });
    expect(decodeFilterStatus(hex("030200"))).toBeUndefined();
  });
});
