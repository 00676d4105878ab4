// Hostile and unlucky segment streams: the receiver must deliver each genuine message once,
// never mix two messages, and keep a slow but progressing message alive.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hex, toHex } from "./bytes.js";
import { deriveApplicationKey, deriveNetworkKey } from "./keys.js";
import { encodeLowerPdu, type LowerPdu, segmentAccess } from "./lower-pdu.js";
import { type AccessReceived, MeshStack } from "./mesh-stack.js";
import { decodeNetworkPdu, encodeNetworkPdu } from "./network-pdu.js";
import { MemorySequenceStore, SequenceAllocator } from "./sequence.js";
import { encryptAccess } from "./upper-transport.js";

const NET_KEY = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
const APP_KEY = deriveApplicationKey(hex("63964771734fbd76e3b40519d1d94a48"));
const IV = 0x12345678;
const ME = 0x1201;

async function receiver() {
  const sequence = await SequenceAllocator.open(new MemorySequenceStore(), ME, IV);
  const stack = new MeshStack({ address: ME, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: IV, sequence });
  const out: Uint8Array[] = [];
  stack.setOutput((pdu) => {
    out.push(pdu);
  });
  const got: AccessReceived[] = [];
  stack.onAccess((m) => got.push(m));
  return { stack, out, got };
}

/** Network PDUs of a segmented AppKey message from `src` with SeqAuth `seq` (segment i at seq + i). */
function segmented(src: number, seq: number, payload: Uint8Array, dst = ME): Uint8Array[] {
  const upper = encryptAccess(APP_KEY.key, false, { seq, src, dst, ivIndex: IV, szmic: false }, payload);
  return segmentAccess(upper, true, APP_KEY.aid, false, seq).map((s, i) =>
    encodeNetworkPdu(NET_KEY, { ivIndex: IV, ctl: false, ttl: 5, seq: seq + i, src, dst }, encodeLowerPdu(s)),
  );
}

function lowerPdu(src: number, seq: number, lower: LowerPdu): Uint8Array {
  return encodeNetworkPdu(NET_KEY, { ivIndex: IV, ctl: false, ttl: 5, seq, src, dst: ME }, encodeLowerPdu(lower));
}

const bytes = (n: number, salt: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff);

describe("segment reassembly under attack and loss", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("should keep a message alive while its segments keep coming, 6 s apart", async () => {
    const { stack, got } = await receiver();
    const pdus = segmented(0x0003, 100, bytes(30, 1));
    expect(pdus).toHaveLength(3);
    for (const pdu of pdus) {
      stack.receiveNetworkPdu(pdu);
      await vi.advanceTimersByTimeAsync(6_000);
    }
    expect(got.map((m) => toHex(m.payload))).toEqual([toHex(bytes(30, 1))]);
    stack.close();
  });

  it("should still drop a message whose segments stop coming for the incomplete timeout", async () => {
    const { stack, got } = await receiver();
    const pdus = segmented(0x0003, 100, bytes(30, 1));
    stack.receiveNetworkPdu(pdus[0]!);
    stack.receiveNetworkPdu(pdus[1]!);
    await vi.advanceTimersByTimeAsync(10_001);
    expect(stack.stats.incoming).toBe(0);
    stack.receiveNetworkPdu(pdus[2]!);
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toHaveLength(0);
    stack.close();
  });

  it("should free the slot of a message whose only segment was refused (short middle segment)", async () => {
    const { stack } = await receiver();
    const short = lowerPdu(0x0003, 400, { kind: "access-segment", akf: true, aid: APP_KEY.aid, szmic: false, seqZero: 400, segO: 0, segN: 2, segment: bytes(5, 0) });
    stack.receiveNetworkPdu(short);
    expect(stack.stats.incoming).toBe(1);
    await vi.advanceTimersByTimeAsync(10_001);
    expect(stack.stats.incoming).toBe(0);
    expect(stack.stats.timers).toBe(0);
    stack.close();
  });

  it("should not mix two sources that use the same SeqZero, delivered interleaved", async () => {
    const { stack, got } = await receiver();
    const a = segmented(0x0003, 0x2000 + 5, bytes(40, 2));
    const b = segmented(0x0004, 5, bytes(40, 3));
    for (let i = 0; i < a.length; i++) {
      stack.receiveNetworkPdu(b[a.length - 1 - i]!);
      stack.receiveNetworkPdu(a[i]!);
    }
    await vi.advanceTimersByTimeAsync(1);
    expect(got.map((m) => [m.src, toHex(m.payload)]).sort()).toEqual([
      [0x0003, toHex(bytes(40, 2))],
      [0x0004, toHex(bytes(40, 3))],
    ]);
    stack.close();
  });

  it("should ignore segments that change SegN mid-message and deliver the real message once", async () => {
    const { stack, got } = await receiver();
    const real = segmented(0x0003, 200, bytes(30, 4));
    stack.receiveNetworkPdu(real[0]!);
    // Same SeqZero, same source, SegN 4 instead of 2; offsets past the real end.
    stack.receiveNetworkPdu(lowerPdu(0x0003, 210, { kind: "access-segment", akf: true, aid: APP_KEY.aid, szmic: false, seqZero: 200, segO: 3, segN: 4, segment: bytes(12, 9) }));
    stack.receiveNetworkPdu(lowerPdu(0x0003, 211, { kind: "access-segment", akf: true, aid: APP_KEY.aid, szmic: false, seqZero: 200, segO: 1, segN: 4, segment: bytes(12, 9) }));
    stack.receiveNetworkPdu(real[1]!);
    stack.receiveNetworkPdu(real[2]!);
    await vi.advanceTimersByTimeAsync(1);
    expect(got.map((m) => toHex(m.payload))).toEqual([toHex(bytes(30, 4))]);
    // Replaying every segment again delivers nothing new.
    for (const pdu of real) stack.receiveNetworkPdu(pdu);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got).toHaveLength(1);
    stack.close();
  });

  it("should drop, not throw on, a reassembled PDU shorter than its TransMIC", async () => {
    const { stack, got, out } = await receiver();
    const tiny = lowerPdu(0x0003, 300, { kind: "access-segment", akf: true, aid: APP_KEY.aid, szmic: true, seqZero: 300, segO: 0, segN: 0, segment: bytes(1, 0) });
    expect(() => stack.receiveNetworkPdu(tiny)).not.toThrow();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got).toHaveLength(0);
    // The single segment was acknowledged (transport-level delivery), and the upper layer dropped it.
    const ack = decodeNetworkPdu(out[0]!, [NET_KEY], IV)!;
    expect([ack.ctl, ack.dst, toHex(ack.transportPdu)]).toEqual([true, 0x0003, "0004b000000001"]);
    expect(stack.stats.droppedUndecryptable).toBe(1);
    stack.close();
  });
});
