// A change of IV index while a message is on its way must never send a (IV index, SEQ) pair
// twice: the network nonce would repeat under the NetKey, and receivers would drop the PDU.
import { TransportError } from "@meshota/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { encodeSecureNetworkBeacon } from "./beacon.js";
import { hex } from "./bytes.js";
import { deriveApplicationKey, deriveNetworkKey } from "./keys.js";
import { MeshStack } from "./mesh-stack.js";
import { decodeNetworkPdu } from "./network-pdu.js";
import { MemorySequenceStore, SequenceAllocator, type SequenceRecord } from "./sequence.js";

const NET_KEY = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
const APP_KEY = deriveApplicationKey(hex("63964771734fbd76e3b40519d1d94a48"));
const IV = 0x12345678;
const CLIENT = 0x7f00;

/** A store whose writes finish only when the test says so. */
class SlowStore extends MemorySequenceStore {
  held: (() => void)[] = [];
  hold = false;
  override async save(address: number, record: SequenceRecord): Promise<void> {
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    return super.save(address, record);
  }
  release(): void {
    const h = this.held;
    this.held = [];
    for (const r of h) r();
  }
}

async function stackInUpdate(store = new MemorySequenceStore(), blockSize = 256) {
  // In IV Update in Progress: transmitting with IV - 1; a beacon ending the update moves to IV.
  const sequence = await SequenceAllocator.open(store, CLIENT, IV - 1, { blockSize });
  const stack = new MeshStack({ address: CLIENT, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: IV, ivUpdate: true, sequence });
  const sent: Array<{ ivIndex: number; seq: number }> = [];
  stack.setOutput((pdu) => {
    const m = decodeNetworkPdu(pdu, [NET_KEY], IV)!;
    sent.push({ ivIndex: m.ivIndex, seq: m.seq });
  });
  return { stack, sequence, sent };
}

function reused(sent: Array<{ ivIndex: number; seq: number }>): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const { ivIndex, seq } of sent) {
    const key = `${ivIndex.toString(16)}:${seq}`;
    if (seen.has(key)) twice.push(key);
    seen.add(key);
  }
  return twice;
}

describe("IV index change during a send", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("should not resend segments under the old IV index with numbers of the new one", async () => {
    const { stack, sent } = await stackInUpdate();
    // Unacknowledged segmented message: segments go again every retransmission round.
    const send = stack.sendAccess({ dst: 0x0003, payload: new Uint8Array(40), key: { kind: "app", index: 0 }, timeoutMs: 20_000 });
    const outcome = Promise.allSettled([send]);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent.every((p) => p.ivIndex === IV - 1)).toBe(true);
    const firstRound = sent.length;
    expect(firstRound).toBe(4);
    expect(await stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, IV, false))).toBe(true);
    expect(stack.txIvIndex).toBe(IV);
    await vi.advanceTimersByTimeAsync(20_000);
    const [result] = await outcome;
    expect(reused(sent)).toEqual([]);
    // The message is given up with a clear reason rather than finished under mixed numbers.
    expect(result!.status).toBe("rejected");
    const error = (result as PromiseRejectedResult).reason;
    expect(TransportError.isInstance(error)).toBe(true);
    expect(String(error.message)).toContain("IV index changed");
    // Later messages go under the new IV index from SEQ 0 up.
    const next = stack.sendAccess({ dst: 0x0003, payload: new Uint8Array(6), key: { kind: "app", index: 0 } });
    await vi.advanceTimersByTimeAsync(10);
    await next;
    expect(sent.at(-1)).toEqual({ ivIndex: IV, seq: 0 });
    stack.close();
  });

  it("should not pair the new IV index with a number of the old one while the store is slow", async () => {
    const store = new SlowStore();
    const { stack, sent } = await stackInUpdate(store, 1);
    // Each number needs a store write (block of 1): hold the writes, end the IV update, then let go.
    store.hold = true;
    const sends = [0, 1, 2].map((i) =>
      stack.sendAccess({ dst: 0x0003 + i, payload: new Uint8Array(6), key: { kind: "app", index: 0 } }).catch((e: unknown) => e),
    );
    await vi.advanceTimersByTimeAsync(1);
    const beacon = stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, IV, false));
    for (let i = 0; i < 10; i++) {
      store.release();
      await vi.advanceTimersByTimeAsync(5);
    }
    store.hold = false;
    store.release();
    await beacon;
    await vi.advanceTimersByTimeAsync(100);
    // Messages whose number was not yet reserved when the IV index moved go under the new one.
    expect(await Promise.all(sends)).toEqual([undefined, undefined, undefined]);
    expect(sent.length).toBe(3);
    expect(reused(sent)).toEqual([]);
    // A number from before the change never goes out under the new IV index, nor the reverse:
    // under IV the numbers start at 0 and are below the 3 ever reserved there.
    for (const p of sent) if (p.ivIndex === IV) expect(p.seq).toBeLessThan(3);
    expect(store.records.get(CLIENT)?.ivIndex).toBe(IV);
    stack.close();
  });
});

describe("IV index edge values", () => {
  it("should refuse an IV Update in Progress at IV index 0, which would transmit with IV index -1", async () => {
    const sequence = await SequenceAllocator.open(new MemorySequenceStore(), CLIENT, 0);
    expect(() => new MeshStack({ address: CLIENT, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: 0, ivUpdate: true, sequence })).toThrow(
      "IV index 0 cannot be in an IV update",
    );
  });

  it("should ignore a beacon claiming an IV update at IV index 0 while the IV index is unknown", async () => {
    const sequence = await SequenceAllocator.open(new MemorySequenceStore(), CLIENT, 0);
    const stack = new MeshStack({ address: CLIENT, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: 0, ivIndexKnown: false, sequence });
    expect(await stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, 0, true))).toBe(false);
    expect(stack.ivIndexConfirmed).toBe(false);
    expect(await stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, 7, true))).toBe(true);
    expect([stack.ivIndex, stack.ivUpdate, stack.txIvIndex]).toEqual([7, true, 6]);
    stack.close();
  });

  it("should ignore a beacon with the IV update flag at the largest IV index step of 42 plus one", async () => {
    const sequence = await SequenceAllocator.open(new MemorySequenceStore(), CLIENT, 100);
    const stack = new MeshStack({ address: CLIENT, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: 100, sequence });
    expect(await stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, 143, false))).toBe(false);
    expect(await stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, 99, false))).toBe(false);
    expect(await stack.handleBeacon(encodeSecureNetworkBeacon(NET_KEY, 142, false))).toBe(true);
    expect(stack.txIvIndex).toBe(142);
    stack.close();
  });
});
