import { TransportError } from "@meshota/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hex, toHex } from "./bytes.js";
import { virtualAddressOf } from "./crypto.js";
import { deriveApplicationKey, deriveNetworkKey } from "./keys.js";
import { MemoryMesh } from "./memory-mesh.js";
import { type AccessReceived, MeshStack, type MeshTimingOptions } from "./mesh-stack.js";
import { decodeNetworkPdu, encodeNetworkPdu } from "./network-pdu.js";
import { encodeLowerPdu } from "./lower-pdu.js";
import { encryptAccess } from "./upper-transport.js";
import { ProxyClient } from "./proxy-client.js";
import { MemorySequenceStore, SequenceAllocator } from "./sequence.js";

const NET_KEY = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
const APP_KEY = deriveApplicationKey(hex("63964771734fbd76e3b40519d1d94a48"));
const IV = 0x12345678;
const CLIENT = 0x7f00;
const LABEL = hex("0073e7e4d8b9440faf8415df4c56c0e1");

function payload(length: number, salt = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + salt) & 0xff);
}

/** Proxy 0x0001 - relay 0x0002 - target 0x0003 in a line, and a client on the proxy. */
async function lineMesh(lossRate: number, seed = 7, transmissions = 3, timing: Partial<MeshTimingOptions> = {}) {
  const mesh = new MemoryMesh({ netKey: NET_KEY, appKeys: [APP_KEY], ivIndex: IV, lossRate, seed, transmissions, timing });
  const nodes = [await mesh.addNode({ address: 1 }), await mesh.addNode({ address: 2 }), await mesh.addNode({ address: 3, subscriptions: [0xc001] })];
  mesh.connect(1, 2);
  mesh.connect(2, 3);
  const bearer = mesh.connectProxy(1, CLIENT);
  const sequence = await SequenceAllocator.open(new MemorySequenceStore(), CLIENT, IV);
  const client = new MeshStack({ address: CLIENT, netKeys: [NET_KEY], appKeys: [APP_KEY], labels: [LABEL], ivIndex: IV, sequence, timing });
  const proxy = new ProxyClient(bearer, client);
  const started = proxy.start();
  await vi.advanceTimersByTimeAsync(50);
  const filter = await started;
  return { mesh, nodes, bearer, client, proxy, filter };
}

function collect(stack: MeshStack): AccessReceived[] {
  const got: AccessReceived[] = [];
  stack.onAccess((m) => got.push(m));
  return got;
}

async function settle<T>(p: Promise<T>, ms: number): Promise<PromiseSettledResult<T>> {
  const s = Promise.allSettled([p]);
  await vi.advanceTimersByTimeAsync(ms);
  return (await s)[0]!;
}

describe("MeshStack over an in-memory mesh", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should set the proxy filter to accept our address", async () => {
    const { filter, mesh } = await lineMesh(0);
    expect(filter).toEqual({ filterType: 0, listSize: 1 });
    mesh.close();
  });

  it("should deliver an unsegmented message two hops away", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    const got = collect(nodes[2]!.stack);
    const r = await settle(client.sendAccess({ dst: 3, payload: payload(6), key: { kind: "app", index: 0 } }), 200);
    expect(r.status).toBe("fulfilled");
    expect(got.map((m) => [m.src, m.dst, m.segmented, [...m.payload]])).toEqual([[CLIENT, 3, false, [...payload(6)]]]);
    expect(got[0]!.ttl).toBe(5); // TTL 7, decremented by the proxy and the relay
    mesh.close();
  });

  it("should deliver a segmented message under 20 % loss and have it acknowledged", async () => {
    const { nodes, client, mesh, proxy } = await lineMesh(0.2, 11);
    const got = collect(nodes[2]!.stack);
    const r = await settle(client.sendAccess({ dst: 3, payload: payload(200), key: { kind: "app", index: 0 } }), 20_000);
    expect(r.status).toBe("fulfilled");
    expect(got).toHaveLength(1);
    expect(got[0]!.payload).toEqual(payload(200));
    expect(got[0]!.segmented).toBe(true);
    expect(mesh.radioLosses).toBeGreaterThan(0);
    // Everything released: nothing queued, nothing reassembling, no timer left behind.
    expect(client.stats).toMatchObject({ outgoing: 0, incoming: 0, timers: 0 });
    expect(nodes[2]!.stack.stats).toMatchObject({ incoming: 0 });
    expect(proxy.stats.protocolErrors).toBe(0);
    mesh.close();
  });

  it.each([1, 2, 3, 4, 5])("should deliver every one of 5 segmented messages under 20 percent loss (seed %i)", async (seed) => {
    const { nodes, client, mesh } = await lineMesh(0.2, seed);
    const got = collect(nodes[2]!.stack);
    const sends = Array.from({ length: 5 }, (_, i) => client.sendAccess({ dst: 3, payload: payload(60 + i, i), key: { kind: "app", index: 0 } }));
    const results = await settle(Promise.all(sends), 60_000);
    expect(results).toEqual({ status: "fulfilled", value: [undefined, undefined, undefined, undefined, undefined] });
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 5 }, (_, i) => payload(60 + i, i)));
    expect(client.stats).toMatchObject({ outgoing: 0, timers: 0 });
    mesh.close();
  });

  it("should time out cleanly sending to an unreachable node and free every buffer", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    nodes[2]!.online = false;
    const sends = Array.from({ length: 4 }, (_, i) => client.sendAccess({ dst: 3, payload: payload(100, i), key: { kind: "app", index: 0 } }));
    expect(client.stats.outgoing).toBe(4);
    const caught = sends.map((s) => s.catch((e: unknown) => e));
    await vi.advanceTimersByTimeAsync(60_000);
    const errors = await Promise.all(caught);
    for (const e of errors) expect(TransportError.isInstance(e)).toBe(true);
    expect((errors[0] as TransportError).reason).toBe("unreachable");
    expect((errors[0] as TransportError).message).toBe("no acknowledgment from 0x0003 after 5 retransmissions (0/9 segments acknowledged)");
    expect(client.stats).toMatchObject({ outgoing: 0, incoming: 0, timers: 0 });
    mesh.close();
  });

  it("should give up at the send's own deadline while waiting behind another message", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    nodes[2]!.online = false;
    const first = client.sendAccess({ dst: 3, payload: payload(100), key: { kind: "app", index: 0 } });
    const second = client.sendAccess({ dst: 3, payload: payload(4), key: { kind: "app", index: 0 }, timeoutMs: 500 });
    const r2 = await settle(second, 600);
    expect(r2.status).toBe("rejected");
    const e2 = (r2 as PromiseRejectedResult).reason as TransportError;
    expect([e2.reason, e2.message]).toEqual(["timeout", "send to 0x0003 timed out after 500 ms"]);
    await settle(first, 60_000);
    expect(client.stats).toMatchObject({ outgoing: 0, timers: 0 });
    mesh.close();
  });

  it("should refuse sends beyond the per-destination queue bound", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    nodes[2]!.online = false;
    const sends = Array.from({ length: 17 }, () => client.sendAccess({ dst: 3, payload: payload(20), key: { kind: "app", index: 0 } }).catch((e: unknown) => e));
    const overflow = await client.sendAccess({ dst: 3, payload: payload(20), key: { kind: "app", index: 0 } }).catch((e: unknown) => e);
    expect((overflow as TransportError).message).toBe("17 messages already queued for 0x0003");
    await vi.advanceTimersByTimeAsync(120_000);
    await Promise.all(sends);
    expect(client.stats.outgoing).toBe(0);
    mesh.close();
  });

  it("should abort a send through its signal", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    nodes[2]!.online = false;
    const ac = new AbortController();
    const send = client.sendAccess({ dst: 3, payload: payload(100), key: { kind: "app", index: 0 }, signal: ac.signal });
    await vi.advanceTimersByTimeAsync(100);
    ac.abort();
    const r = await settle(send, 10);
    expect(((r as PromiseRejectedResult).reason as TransportError).reason).toBe("aborted");
    expect(client.stats).toMatchObject({ outgoing: 0, timers: 0 });
    mesh.close();
  });

  it.each([11, 12, 13])("should recover by block acks alone at 20 percent loss of single transmissions (seed %i)", async (seed) => {
    // No repetition on air: every segment and every ack crosses two lossy hops (64 % each way),
    // so delivery rests on retransmission rounds; allow enough rounds without progress.
    const { nodes, client, mesh } = await lineMesh(0.2, seed, 1, { unicastRetransmitsWithoutProgress: 12 });
    const got = collect(nodes[2]!.stack);
    const sent = [payload(377, 1), payload(100, 2), payload(13, 3)];
    const r = await settle(Promise.all(sent.map((p) => client.sendAccess({ dst: 3, payload: p, key: { kind: "app", index: 0 } }))), 120_000);
    expect(r.status).toBe("fulfilled");
    expect(got.map((m) => m.payload)).toEqual(sent);
    // More PDUs than the 32 + 9 + 2 segments: retransmissions did the work.
    expect(client.stats.sentPdus).toBeGreaterThan(43);
    expect(client.stats).toMatchObject({ outgoing: 0, incoming: 0, timers: 0 });
    mesh.close();
  });

  it("should keep two nodes' simultaneous segmented messages apart", async () => {
    const { nodes, client, mesh } = await lineMesh(0.2, 3);
    const got = collect(client);
    const a = nodes[1]!.stack.sendAccess({ dst: CLIENT, payload: payload(150, 1), key: { kind: "app", index: 0 } });
    const b = nodes[2]!.stack.sendAccess({ dst: CLIENT, payload: payload(120, 2), key: { kind: "app", index: 0 } });
    const r = await settle(Promise.all([a, b]), 30_000);
    expect(r).toEqual({ status: "fulfilled", value: [undefined, undefined] });
    const bySrc = new Map(got.map((m) => [m.src, m.payload]));
    expect(got).toHaveLength(2);
    expect(bySrc.get(2)).toEqual(payload(150, 1));
    expect(bySrc.get(3)).toEqual(payload(120, 2));
    expect(client.stats).toMatchObject({ incoming: 0, timers: 0 });
    mesh.close();
  });

  it("should send to a group and to a virtual address", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    const got = collect(nodes[2]!.stack);
    nodes[2]!.stack.subscribe(virtualAddressOf(LABEL), LABEL);
    await settle(client.sendAccess({ dst: 0xc001, payload: payload(30), key: { kind: "app", index: 0 } }), 2_000);
    await settle(client.sendAccess({ dst: 0xb529, payload: payload(5), key: { kind: "app", index: 0 } }), 2_000);
    expect(got.map((m) => [m.dst, m.payload.length])).toEqual([[0xc001, 30], [0xb529, 5]]);
    expect(got[1]!.label).toEqual(LABEL);
    mesh.close();
  });

  it("should reject an oversize payload with too-large", async () => {
    const { client, mesh } = await lineMesh(0);
    const e = (await client.sendAccess({ dst: 3, payload: payload(381), key: { kind: "app", index: 0 } }).catch((x: unknown) => x)) as TransportError;
    expect([e.reason, e.message]).toEqual(["too-large", "access payload of 381 bytes does not fit 32 segments"]);
    mesh.close();
  });

  it("should fail pending sends with closed when the stack closes", async () => {
    const { nodes, client, mesh } = await lineMesh(0);
    nodes[2]!.online = false;
    const send = client.sendAccess({ dst: 3, payload: payload(100), key: { kind: "app", index: 0 } });
    await vi.advanceTimersByTimeAsync(100);
    client.close();
    const r = await settle(send, 10);
    expect(((r as PromiseRejectedResult).reason as TransportError).reason).toBe("closed");
    expect(client.stats).toMatchObject({ outgoing: 0, timers: 0 });
    mesh.close();
  });
});

describe("MeshStack replay protection", () => {
  async function receiver() {
    const sequence = await SequenceAllocator.open(new MemorySequenceStore(), 0x0003, IV);
    const stack = new MeshStack({ address: 0x0003, netKeys: [NET_KEY], appKeys: [APP_KEY], ivIndex: IV, sequence });
    return { stack, got: collect(stack) };
  }

  function unsegmented(seq: number, ivIndex = IV): Uint8Array {
    const upper = encryptAccess(APP_KEY.key, false, { seq, src: 0x1201, dst: 0x0003, ivIndex, szmic: false }, payload(5, seq));
    return encodeNetworkPdu(NET_KEY, { ivIndex, ctl: false, ttl: 3, seq, src: 0x1201, dst: 0x0003 }, encodeLowerPdu({ kind: "access", akf: true, aid: APP_KEY.aid, upper }));
  }

  it("should deliver a message once, and drop replays and older sequence numbers", async () => {
    const { stack, got } = await receiver();
    stack.receiveNetworkPdu(unsegmented(10));
    stack.receiveNetworkPdu(unsegmented(10));
    stack.receiveNetworkPdu(unsegmented(9));
    stack.receiveNetworkPdu(unsegmented(11));
    expect(got.map((m) => m.seq)).toEqual([10, 11]);
    expect(stack.stats.droppedDuplicates).toBe(1);
    expect(stack.stats.droppedReplays).toBe(1);
  });

  it("should accept a lower sequence number under a newer IV index", async () => {
    const { stack, got } = await receiver();
    stack.receiveNetworkPdu(unsegmented(500, IV - 1));
    stack.receiveNetworkPdu(unsegmented(3, IV));
    expect(got.map((m) => [m.ivIndex, m.seq])).toEqual([[IV - 1, 500], [IV, 3]]);
  });

  it("should not let a forged PDU (bad NetMIC) count", async () => {
    const { stack, got } = await receiver();
    const bad = unsegmented(10);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    stack.receiveNetworkPdu(bad);
    stack.receiveNetworkPdu(unsegmented(10));
    expect(got.map((m) => m.seq)).toEqual([10]);
    expect(stack.stats.droppedUndecryptable).toBe(1);
  });
});

describe("MeshStack with the specification's sample messages (8.3.6, 8.3.24)", () => {
  const DEV_KEY = hex("9d6dd0e96eb25dc19a40ed9914f8f03f");
  const LABEL_9736 = hex("f4a002c7fb1e4ca0a469a021de0db875");

  async function stackAt(address: number, ivIndex: number, next: number, extra: Partial<ConstructorParameters<typeof MeshStack>[0]> = {}) {
    const store = new MemorySequenceStore();
    store.records.set(address, { ivIndex, next });
    const sequence = await SequenceAllocator.open(store, address, ivIndex);
    const stack = new MeshStack({ address, netKeys: [NET_KEY], appKeys: [APP_KEY], deviceKeyOf: () => DEV_KEY, ivIndex, sequence, ...extra });
    const out: Uint8Array[] = [];
    stack.setOutput((pdu) => {
      out.push(pdu);
    });
    return { stack, out };
  }

  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should transmit Message #6 bit for bit (DevKey, 2 segments, SEQ 0x3129ab)", async () => {
    const { stack, out } = await stackAt(0x0003, 0x12345678, 0x3129ab);
    const send = stack.sendAccess({ dst: 0x1201, payload: hex("0056341263964771734fbd76e3b40519d1d94a48"), key: { kind: "device" }, ttl: 4 }).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(30);
    expect(out.slice(0, 2).map(toHex)).toEqual([
      "68cab5c5348a230afba8c63d4e686364979deaf4fd40961145939cda0e",
      "681615b5dd4a846cae0c032bf0746f44f1b8cc8ce5edc57e55beed49c0",
    ]);
    stack.close();
    await send;
  });

  it("should reassemble Message #6, deliver it once and acknowledge both segments", async () => {
    const { stack, out } = await stackAt(0x1201, 0x12345678, 0);
    const got = collect(stack);
    stack.receiveNetworkPdu(hex("681615b5dd4a846cae0c032bf0746f44f1b8cc8ce5edc57e55beed49c0")); // out of order
    stack.receiveNetworkPdu(hex("68cab5c5348a230afba8c63d4e686364979deaf4fd40961145939cda0e"));
    await vi.advanceTimersByTimeAsync(1);
    expect(got.map((m) => [m.src, m.seq, m.key.kind, toHex(m.payload)])).toEqual([[0x0003, 0x3129ab, "device", "0056341263964771734fbd76e3b40519d1d94a48"]]);
    const ack = decodeNetworkPdu(out[0]!, [NET_KEY], 0x12345678)!;
    expect([ack.ctl, ack.dst, toHex(ack.transportPdu)]).toEqual([true, 0x0003, "0026ac00000003"]);
    // Message #8, a retransmission of segment 0, is answered with the full ack again.
    stack.receiveNetworkPdu(hex("684daa6267c2cf0e2f91add6f06e66006844cec97f973105ae2534f958"));
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toHaveLength(1);
    expect(toHex(decodeNetworkPdu(out[1]!, [NET_KEY], 0x12345678)!.transportPdu)).toBe("0026ac00000003");
    stack.close();
  });

  it("should re-acknowledge a completed message even after a newer one from the same node was accepted", async () => {
    // Regression: the replay check ran first and dropped the retransmission, so a sender that
    // lost our ack could never complete.
    const { stack, out } = await stackAt(0x1201, 0x12345678, 0);
    const got = collect(stack);
    stack.receiveNetworkPdu(hex("68cab5c5348a230afba8c63d4e686364979deaf4fd40961145939cda0e"));
    stack.receiveNetworkPdu(hex("681615b5dd4a846cae0c032bf0746f44f1b8cc8ce5edc57e55beed49c0"));
    const later = 0x3129b0;
    const upper = encryptAccess(DEV_KEY, true, { seq: later, src: 0x0003, dst: 0x1201, ivIndex: 0x12345678, szmic: false }, hex("8003aa"));
    stack.receiveNetworkPdu(encodeNetworkPdu(NET_KEY, { ivIndex: 0x12345678, ctl: false, ttl: 4, seq: later, src: 0x0003, dst: 0x1201 }, encodeLowerPdu({ kind: "access", akf: false, aid: 0, upper })));
    await vi.advanceTimersByTimeAsync(1);
    expect(got.map((m) => m.seq)).toEqual([0x3129ab, later]);
    const acksBefore = out.length;
    stack.receiveNetworkPdu(hex("684daa6267c2cf0e2f91add6f06e66006844cec97f973105ae2534f958"));
    await vi.advanceTimersByTimeAsync(1);
    expect(out.length).toBe(acksBefore + 1);
    expect(toHex(decodeNetworkPdu(out.at(-1)!, [NET_KEY], 0x12345678)!.transportPdu)).toBe("0026ac00000003");
    expect(got).toHaveLength(2);
    stack.close();
  });

  it("should transmit Message #24 bit for bit (virtual address, 64-bit TransMIC)", async () => {
    const { stack, out } = await stackAt(0x1234, 0x12345677, 0x07080d, { labels: [LABEL_9736] });
    const send = stack.sendAccess({ dst: 0x9736, payload: hex("ea0a00576f726c64"), key: { kind: "app", index: 0 }, ttl: 3, szmic: true });
    await vi.advanceTimersByTimeAsync(30);
    expect(out.slice(0, 2).map(toHex)).toEqual([
      "e8624e65bb8c1794e998b4081f47a35251fdd3896d99e4db489b918599",
      "e8a7d0f0a2ea42dc2f4dd6fb4db33a6c088d023b47",
    ]);
    await vi.advanceTimersByTimeAsync(2_000);
    await send;
    // Unacknowledged to a virtual address: sent in 3 rounds, then done.
    expect(out).toHaveLength(6);
    stack.close();
  });

  it("should receive Message #24 on a subscribed virtual address without acknowledging", async () => {
    const { stack, out } = await stackAt(0x0005, 0x12345677, 0);
    stack.subscribe(0x9736, LABEL_9736);
    const got = collect(stack);
    stack.receiveNetworkPdu(hex("e8624e65bb8c1794e998b4081f47a35251fdd3896d99e4db489b918599"));
    stack.receiveNetworkPdu(hex("e8a7d0f0a2ea42dc2f4dd6fb4db33a6c088d023b47"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got.map((m) => [m.src, m.dst, toHex(m.payload), toHex(m.label!)])).toEqual([[0x1234, 0x9736, "ea0a00576f726c64", "f4a002c7fb1e4ca0a469a021de0db875"]]);
    expect(out).toHaveLength(0);
    stack.close();
  });
});
