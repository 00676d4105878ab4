import { createServer, type AddressInfo, type Socket } from "node:net";
import { TransportError, type IncomingMessage } from "@meshota/core";
import { encodeVendorInit, decodeVendor, Opcode } from "@meshota/proto";
import { afterEach, describe, expect, it } from "vitest";
import {
  CONTROL_ENVELOPE_MAX,
  createControlLinkServer,
  decodeControlEnvelope,
  encodeControlEnvelope,
  TcpControlTransport,
} from "./control-link.js";
import { encodeStreamFrame } from "./stream-framing.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  // Connections first, then the servers that wait for them.
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A host transport and a gateway transport joined over loopback TCP. */
async function pair(): Promise<{ host: TcpControlTransport; gateway: TcpControlTransport }> {
  let onLink!: (link: TcpControlTransport) => void;
  const accepted = new Promise<TcpControlTransport>((resolve) => (onLink = resolve));
  const server = createControlLinkServer((link) => onLink(link), { address: 0x0100 });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  const host = await TcpControlTransport.connect("127.0.0.1", (server.address() as AddressInfo).port);
  const gateway = await accepted;
  cleanup.push(() => host.close(), () => gateway.close());
  return { host, gateway };
}

async function first(iterable: AsyncIterable<IncomingMessage>): Promise<IncomingMessage> {
  for await (const m of iterable) return m;
  throw new Error("the iterator ended without a message");
}

describe("control envelope", () => {
  it("should lay out source, destination and the access payload", () => {
    const frame = { opcode: 0x01, params: Uint8Array.of(0xaa, 0xbb) };
    const bytes = encodeControlEnvelope({ src: 0x0001, dst: 0xc000, frame });
    expect(Buffer.from(bytes).toString("hex")).toBe("010000c0c1e502aabb");
    expect(decodeControlEnvelope(bytes)).toEqual({ src: 1, dst: 0xc000, frame });
  });

  it("should refuse address 0, short envelopes and another company's opcode", () => {
    const frame = { opcode: 0x01, params: new Uint8Array(0) };
    expect(() => encodeControlEnvelope({ src: 0, dst: 2, frame })).toThrow("source address 0 is outside 0x0001..0xffff");
    expect(() => decodeControlEnvelope(Uint8Array.of(1, 0, 2, 0, 0xc1, 0xe5))).toThrow("control envelope of 6 bytes is shorter than 7");
    expect(() => decodeControlEnvelope(Uint8Array.of(1, 0, 0, 0, 0xc1, 0xe5, 0x02))).toThrow("destination address 0 is outside 0x0001..0xffff");
    expect(() => decodeControlEnvelope(Uint8Array.of(1, 0, 2, 0, 0xc1, 0x59, 0x00))).toThrow("company 0x0059, expected 0x02e5");
    expect(() => encodeControlEnvelope({ src: 1, dst: 2, frame: { opcode: 1, params: new Uint8Array(378) } })).toThrow(
      "378 parameter bytes exceed 377",
    );
    expect(CONTROL_ENVELOPE_MAX).toBe(384);
  });
});

describe("TcpControlTransport", () => {
  it("should carry vendor messages both ways with their addresses", async () => {
    const { host, gateway } = await pair();
    expect(host.info).toEqual({ name: "tcp-gateway", mtu: 377, reliable: false, groups: true });
    const atGateway = first(gateway.messages());
    const get = encodeVendorInit("UpdateGet", {});
    await host.send(0x0042, get);
    expect(await atGateway).toEqual({ src: 0x0001, dst: 0x0042, frame: get });

    // The gateway relays a node's answer (source: the node).
    const atHost = first(host.messages());
    const big = { opcode: Opcode.DataFrame, params: new Uint8Array(377).fill(7) };
    await gateway.relay(0x0042, 0x0001, big);
    const m = await atHost;
    expect(m.src).toBe(0x0042);
    expect(m.frame.opcode).toBe(Opcode.DataFrame);
    expect(Buffer.from(m.frame.params).equals(Buffer.from(big.params))).toBe(true);
    expect(decodeVendor(get).$typeName).toBe("meshota.v1.UpdateGet");
    expect(host.stats()).toEqual({ received: 1, sent: 1, rejected: 0 });
  });

  it("should refuse a frame over the MTU and sends after close", async () => {
    const { host } = await pair();
    await expect(host.send(2, { opcode: 1, params: new Uint8Array(378) })).rejects.toMatchObject({ reason: "too-large" });
    await host.close();
    const e = await host.send(2, { opcode: 1, params: new Uint8Array(1) }).catch((x: unknown) => x);
    expect(TransportError.isInstance(e)).toBe(true);
    expect(e).toMatchObject({ reason: "closed", message: "the TCP control link is closed" });
  });

  it("should reject an aborted send", async () => {
    const { host } = await pair();
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(host.send(2, { opcode: 1, params: new Uint8Array(1) }, { signal: ac.signal })).rejects.toMatchObject({ reason: "aborted" });
  });

  it("should drop foreign envelopes and keep the link, but close on a bad CRC", async () => {
    // A raw gateway socket so that bad bytes can be written.
    let gatewaySocket!: Socket;
    const server = createServer((s) => (gatewaySocket = s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const host = await TcpControlTransport.connect("127.0.0.1", (server.address() as AddressInfo).port);
    cleanup.push(() => host.close());
    for (let i = 0; i < 100 && !gatewaySocket; i++) await new Promise((r) => setTimeout(r, 2));
    const iterator = host.messages()[Symbol.asyncIterator]();

    const foreign = encodeStreamFrame(Uint8Array.of(5, 0, 1, 0, 0xc1, 0x59, 0x00, 9), CONTROL_ENVELOPE_MAX);
    const good = encodeStreamFrame(encodeControlEnvelope({ src: 5, dst: 1, frame: { opcode: 2, params: Uint8Array.of(9) } }), CONTROL_ENVELOPE_MAX);
    gatewaySocket.write(Buffer.concat([foreign, good.subarray(0, 3)]));
    await new Promise((r) => setTimeout(r, 5));
    gatewaySocket.write(good.subarray(3));
    const m = await iterator.next();
    expect(m.value).toEqual({ src: 5, dst: 1, frame: { opcode: 2, params: Uint8Array.of(9) } });
    expect(host.stats().rejected).toBe(1);

    const bad = good.slice();
    bad[bad.length - 1]! ^= 1;
    gatewaySocket.write(bad);
    expect((await iterator.next()).done).toBe(true);
    expect(host.closed).toBe(true);
    expect(host.closeReason?.message).toMatch(/^stream frame CRC-32 0x[0-9a-f]{8} does not match its 8 bytes/);
    await expect(host.send(5, { opcode: 1, params: new Uint8Array(0) })).rejects.toMatchObject({ reason: "closed" });
  });

  it("should refuse an envelope longer than 384 bytes as a framing error", async () => {
    let gatewaySocket!: Socket;
    const server = createServer((s) => (gatewaySocket = s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const host = await TcpControlTransport.connect("127.0.0.1", (server.address() as AddressInfo).port);
    cleanup.push(() => host.close());
    for (let i = 0; i < 100 && !gatewaySocket; i++) await new Promise((r) => setTimeout(r, 2));
    const iterator = host.messages()[Symbol.asyncIterator]();
    gatewaySocket.write(encodeStreamFrame(new Uint8Array(385)));
    expect((await iterator.next()).done).toBe(true);
    expect(host.closeReason?.message).toBe("stream frame length 385 is outside 1..384 at stream offset 0");
  });

  it("should end the iterators when the gateway goes away", async () => {
    const { host, gateway } = await pair();
    const iterator = host.messages()[Symbol.asyncIterator]();
    await gateway.close();
    expect((await iterator.next()).done).toBe(true);
    expect(host.closed).toBe(true);
  });
});
