// Property tests: whatever arrives from the air or the proxy, nothing throws, nothing grows
// without bound, and what was sent comes back unchanged.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hex } from "./bytes.js";
import { ccmDecrypt, ccmEncrypt } from "./crypto.js";
import { deriveApplicationKey, deriveNetworkKey } from "./keys.js";
import { decodeLowerPdu } from "./lower-pdu.js";
import { MeshStack } from "./mesh-stack.js";
import { decodeNetworkPdu, encodeNetworkPdu } from "./network-pdu.js";
import { PROXY_PDU_MAX, ProxyReassembler, segmentProxyPdu } from "./proxy-pdu.js";
import { MemorySequenceStore, SequenceAllocator } from "./sequence.js";

const NET_KEY = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
const APP_KEY = deriveApplicationKey(hex("63964771734fbd76e3b40519d1d94a48"));
const IV = 0x12345678;

describe("properties", () => {
  it("should round-trip CCM for any key, nonce, payload, AAD and MIC size", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 13, maxLength: 13 }), fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 40 }), fc.constantFrom(4, 8), (key, nonce, plain, aad, mic) => {
        const sealed = ccmEncrypt(key, nonce, plain, mic, aad);
        expect(ccmDecrypt(key, nonce, sealed, mic, aad)).toEqual(plain);
      }),
      { numRuns: 200 },
    );
  });

  it("should round-trip a network PDU for any valid header", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: 127 }), fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 1, max: 0x7fff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ minLength: 1, maxLength: 12 }), (ctl, ttl, seq, src, dst, lower) => {
        const pdu = encodeNetworkPdu(NET_KEY, { ivIndex: IV, ctl, ttl, seq, src, dst }, lower);
        const m = decodeNetworkPdu(pdu, [NET_KEY], IV)!;
        expect([m.ctl, m.ttl, m.seq, m.src, m.dst, [...m.transportPdu]]).toEqual([ctl, ttl, seq, src, dst, [...lower]]);
      }),
      { numRuns: 200 },
    );
  });

  it("should never throw on arbitrary lower transport bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.boolean(), (bytes, ctl) => {
        const r = decodeLowerPdu(bytes, ctl);
        expect(typeof r === "string" || typeof r === "object").toBe(true);
      }),
    );
  });

  it("should reassemble any Proxy PDU at any write size, and never buffer past the limit on garbage", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: PROXY_PDU_MAX }), fc.integer({ min: 2, max: 64 }), fc.constantFrom(0, 1, 2, 3), (payload, size, type) => {
        const r = new ProxyReassembler();
        const results = segmentProxyPdu(type as 0, payload, size).map((w) => r.push(w));
        expect(results.at(-1)!.pdu?.payload).toEqual(payload);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 40 }), (writes) => {
        const r = new ProxyReassembler();
        for (const w of writes) {
          const { pdu } = r.push(w);
          if (pdu) expect(pdu.payload.length).toBeLessThanOrEqual(PROXY_PDU_MAX);
        }
      }),
    );
  });

  it("should survive authentic network PDUs carrying arbitrary transport bytes", async () => {
    const sequence = await SequenceAllocator.open(new MemorySequenceStore(), 0x0100, IV);
    const stack = new MeshStack({ address: 0x0100, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: IV, sequence, limits: { maxIncoming: 4 } });
    stack.setOutput(() => undefined);
    let seq = 0;
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 1, max: 40 }), fc.uint8Array({ minLength: 1, maxLength: 16 }), (ctl, src, lower) => {
        const body = ctl ? lower.subarray(0, 12) : lower;
        const pdu = encodeNetworkPdu(NET_KEY, { ivIndex: IV, ctl, ttl: 5, seq: seq++, src, dst: 0x0100 }, body);
        stack.receiveNetworkPdu(pdu);
        expect(stack.stats.incoming).toBeLessThanOrEqual(4);
      }),
      { numRuns: 2000 },
    );
    stack.close();
    expect(stack.stats.incoming).toBe(0);
  });
});
