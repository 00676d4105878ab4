import { TransportError, type IncomingMessage } from "@meshota/core";
import { encodeVendorInit, toAccessPayload } from "@meshota/proto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hex } from "./bytes.js";
import { parseCdb } from "./cdb.js";
import { deriveApplicationKey, deriveNetworkKey } from "./keys.js";
import { MemoryMesh, type SimNode } from "./memory-mesh.js";
import { connectMeshota, type MeshotaBleTransport } from "./meshota-transport.js";
import { MemorySequenceStore } from "./sequence.js";

const NET_KEY = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
const APP_KEY = deriveApplicationKey(hex("63964771734fbd76e3b40519d1d94a48"));
const IV = 0x12345678;
const CLIENT = 0x7f00;
const ESPRESSIF = 0x02e5;

function network() {
  return { netKeys: [NET_KEY], appKeys: [APP_KEY], deviceKeyOf: () => undefined, groups: [], ivIndex: IV, ivUpdate: false };
}

/** A node that answers every meshota message with opcode + 1 and the parameters reversed. */
function echo(node: SimNode): { heard: Uint8Array[] } {
  const heard: Uint8Array[] = [];
  node.stack.onAccess((m) => {
    heard.push(m.payload);
    if (m.payload[1] !== (ESPRESSIF & 0xff) || m.payload[2] !== ESPRESSIF >> 8) return;
    const reply = toAccessPayload({ opcode: (m.payload[0]! & 0x3f) + 1, params: m.payload.slice(3).reverse() });
    void node.stack.sendAccess({ dst: m.src, payload: reply, key: { kind: "app", index: 0 } }).catch(() => undefined);
  });
  return { heard };
}

async function setup(options: { acknowledged?: boolean; lossRate?: number } = {}) {
  const mesh = new MemoryMesh({ netKey: NET_KEY, appKeys: [APP_KEY], ivIndex: IV, lossRate: options.lossRate ?? 0, seed: 5 });
  const proxy = await mesh.addNode({ address: 1 });
  const target = await mesh.addNode({ address: 2 });
  const store = new MemorySequenceStore();
  const opening = connectMeshota({ bearer: mesh.connectProxy(1, CLIENT), network: network(), address: CLIENT, sequenceStore: store, transport: { acknowledged: options.acknowledged ?? false } });
  await vi.advanceTimersByTimeAsync(50);
  const transport = await opening;
  return { mesh, proxy, target, transport, store };
}

async function take(iterable: AsyncIterable<IncomingMessage>, count: number): Promise<IncomingMessage[]> {
  const out: IncomingMessage[] = [];
  for await (const m of iterable) {
    out.push(m);
    if (out.length === count) break;
  }
  return out;
}

describe("MeshotaBleTransport", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should describe itself", async () => {
    const { transport, mesh } = await setup();
    expect(transport.info).toEqual({ name: "ble-proxy", mtu: 377, reliable: false, groups: true });
    await transport.close();
    mesh.close();
  });

  it("should send a meshota message with its 3-octet vendor opcode and receive the answer", async () => {
    const { transport, target, mesh } = await setup();
    const { heard } = echo(target);
    const answers = take(transport.messages(), 1);
    const frame = encodeVendorInit("UpdateGet", {});
    const sent = transport.send(2, frame);
    await vi.advanceTimersByTimeAsync(500);
    await sent;
    expect(heard.map((p) => [...p])).toEqual([[0xc4, 0xe5, 0x02]]);
    expect(await answers).toEqual([{ src: 2, dst: CLIENT, frame: { opcode: 5, params: new Uint8Array(0) } }]);
    await transport.close();
    mesh.close();
  });

  it("should segment a large frame and reassemble a large answer", async () => {
    const { transport, target, mesh } = await setup({ lossRate: 0.2 });
    echo(target);
    const params = Uint8Array.from({ length: 377 }, (_, i) => i & 0xff);
    const answers = take(transport.messages(), 1);
    const sent = transport.send(2, { opcode: 3, params });
    await vi.advanceTimersByTimeAsync(20_000);
    await sent;
    const [answer] = await answers;
    expect(answer!.frame.opcode).toBe(4);
    expect(answer!.frame.params).toEqual(params.slice().reverse());
    expect(transport.stack.stats).toMatchObject({ outgoing: 0, incoming: 0, timers: 0 });
    await transport.close();
    mesh.close();
  });

  it("should choose unsegmented up to 8 parameter bytes and segmented above", async () => {
    const { transport, target, mesh } = await setup();
    const segmented: boolean[] = [];
    target.stack.onAccess((m) => segmented.push(m.segmented));
    for (const length of [0, 8, 9]) {
      const p = transport.send(2, { opcode: 1, params: new Uint8Array(length) });
      await vi.advanceTimersByTimeAsync(2_000);
      await p;
    }
    expect(segmented).toEqual([false, false, true]);
    await transport.close();
    mesh.close();
  });

  it("should have every unicast send acknowledged when asked to", async () => {
    const { transport, target, mesh } = await setup({ acknowledged: true });
    expect(transport.info.reliable).toBe(true);
    target.online = false;
    const p = transport.send(2, { opcode: 1, params: new Uint8Array(2) }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(30_000);
    const e = (await p) as TransportError;
    expect(e.reason).toBe("unreachable");
    await transport.close();
    mesh.close();
  });

  it("should ignore other companies' vendor messages", async () => {
    const { transport, target, mesh } = await setup();
    const got: IncomingMessage[] = [];
    const reading = (async () => {
      for await (const m of transport.messages()) got.push(m);
    })();
    await target.stack.sendAccess({ dst: CLIENT, payload: toAccessPayload({ opcode: 1, params: hex("aa") }, 0x0059), key: { kind: "app", index: 0 } });
    await target.stack.sendAccess({ dst: CLIENT, payload: toAccessPayload({ opcode: 2, params: hex("bb") }), key: { kind: "app", index: 0 } });
    await vi.advanceTimersByTimeAsync(500);
    await transport.close();
    await reading;
    expect(got).toEqual([{ src: 2, dst: CLIENT, frame: { opcode: 2, params: hex("bb") } }]);
    mesh.close();
  });

  it("should drop the oldest messages for a slow consumer, keeping the buffer bounded", async () => {
    const { transport, target, mesh } = await setup();
    const iterable = transport.messages();
    const iterator = iterable[Symbol.asyncIterator]();
    for (let i = 0; i < 70; i++) {
      await target.stack.sendAccess({ dst: CLIENT, payload: toAccessPayload({ opcode: 2, params: Uint8Array.of(i) }), key: { kind: "app", index: 0 } });
      await vi.advanceTimersByTimeAsync(20);
    }
    await vi.advanceTimersByTimeAsync(500);
    const first = await iterator.next();
    expect(first.value.frame.params).toEqual(Uint8Array.of(6));
    expect(transport.dropped).toBe(6);
    await transport.close();
    expect((await iterator.next()).done).toBe(false);
    mesh.close();
  });

  it("should end iteration on abort and reject sends after close", async () => {
    const { transport, mesh } = await setup();
    const ac = new AbortController();
    const reading = take(transport.messages(ac.signal), 5);
    ac.abort();
    expect(await reading).toEqual([]);
    await transport.close();
    const e = (await transport.send(2, { opcode: 1, params: new Uint8Array(0) }).catch((x: unknown) => x)) as TransportError;
    expect([e.reason, e.message]).toEqual(["closed", "the BLE mesh transport is closed"]);
    mesh.close();
  });

  it("should close when the GATT link drops, failing sends in flight", async () => {
    const { transport, target, mesh } = await setup({ acknowledged: true });
    target.online = false;
    const p = transport.send(2, { opcode: 1, params: new Uint8Array(20) }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    [...mesh.nodes.get(1)!.proxyClients][0]!.client!.drop();
    await vi.advanceTimersByTimeAsync(10);
    expect(((await p) as TransportError).reason).toBe("closed");
    mesh.close();
  });

  it("should persist sequence numbers so a reconnect continues past them", async () => {
    const { transport, store, mesh } = await setup();
    for (let i = 0; i < 3; i++) {
      const p = transport.send(2, { opcode: 1, params: new Uint8Array(1) });
      await vi.advanceTimersByTimeAsync(100);
      await p;
    }
    await transport.close();
    const reserved = store.records.get(CLIENT)!.next;
    expect(reserved).toBeGreaterThan(3);
    const again = connectMeshota({ bearer: mesh.connectProxy(1, CLIENT), network: network(), address: CLIENT, sequenceStore: store });
    await vi.advanceTimersByTimeAsync(50);
    const t2 = await again;
    expect(store.records.get(CLIENT)!.next).toBeGreaterThan(reserved);
    await t2.close();
    mesh.close();
  });

  it("should connect from a CDB export", async () => {
    const { readFileSync } = await import("node:fs");
    const cdb = parseCdb(readFileSync(new URL("../test/fixtures/cdb-home.json", import.meta.url), "utf8"));
    const mesh = new MemoryMesh({ netKey: cdb.netKeys[0]!, appKeys: cdb.appKeys, ivIndex: 7 });
    const node = await mesh.addNode({ address: 2 });
    const replies = echo(node);
    // The CDB has no IV index: the beacon the proxy sends on connection brings it.
    const opening = connectMeshota({ bearer: mesh.connectProxy(2, cdb.provisionerAddress()), network: cdb, address: cdb.provisionerAddress(), sequenceStore: new MemorySequenceStore() });
    await vi.advanceTimersByTimeAsync(50);
    const transport = await opening;
    expect(transport.stack.ivIndex).toBe(7);
    // An IV update moves it on; a forged or far-off beacon does not.
    node.beacon(8, true);
    await vi.advanceTimersByTimeAsync(10);
    expect([transport.stack.ivIndex, transport.stack.txIvIndex]).toEqual([8, 7]);
    node.beacon(8 + 50, false);
    await vi.advanceTimersByTimeAsync(10);
    expect(transport.stack.ivIndex).toBe(8);
    const p = transport.send(2, { opcode: 0, params: new Uint8Array(0) });
    await vi.advanceTimersByTimeAsync(100);
    await p;
    // Sent under IV index 7 while the update is in progress; the node at 7 accepts it.
    expect(replies.heard).toHaveLength(1);
    await transport.close();
    mesh.close();
  });
});

describe("connectMeshota without a known IV index", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should fail clearly when the proxy sends no beacon, instead of waiting forever", async () => {
    // Regression: with the IV index unknown the filter setup was encrypted under IV index 0 and
    // start() waited for a Filter Status that could never come.
    const silent = { writeSize: 20, start: async () => undefined, write: async () => undefined, close: async () => undefined };
    const opening = connectMeshota({ bearer: silent, network: { ...network(), ivIndex: undefined }, address: CLIENT, sequenceStore: new MemorySequenceStore() }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(5_000);
    const e = (await opening) as TransportError;
    expect([e.reason, e.message]).toEqual(["timeout", "no Secure Network beacon from the proxy within 5000 ms; the IV index is unknown"]);
  });
});
