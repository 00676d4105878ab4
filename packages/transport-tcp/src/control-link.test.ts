import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { TransportError, type IncomingMessage } from "@meshota/core";
import { encodeVendorInit, Opcode } from "@meshota/proto";
import { afterEach, describe, expect, it } from "vitest";
import { GATEWAY_MAX_IN_FLIGHT, TcpControlTransport } from "./control-link.js";
import { createGatewayServer, type GatewayEndpoint, type GatewayEndpointOptions, type GatewaySend } from "./gateway-endpoint.js";
import { decodeGatewayMessage, encodeGatewayMessage, GatewayLinkStatus } from "./gateway-link.js";
import { encodeStreamFrame } from "./stream-framing.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  // Connections first, then the servers that wait for them.
  for (const c of cleanup.splice(0).reverse()) await c();
});

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

/** A gateway emulation and a host link connected to it. */
async function pair(options: Partial<GatewayEndpointOptions> = {}) {
  let onEndpoint!: (e: GatewayEndpoint) => void;
  const accepted = new Promise<GatewayEndpoint>((r) => (onEndpoint = r));
  const port = await listen(createGatewayServer((e) => onEndpoint(e), options));
  const host = await TcpControlTransport.connect("127.0.0.1", port);
  const gateway = await accepted;
  cleanup.push(() => host.close(), () => gateway.socket.destroy());
  return { host, gateway };
}

/** A raw "gateway" socket, for writing arbitrary bytes at the host. */
async function rawGateway(): Promise<{ port: number; socket: Promise<Socket> }> {
  let onSocket!: (s: Socket) => void;
  const socket = new Promise<Socket>((r) => (onSocket = r));
  const port = await listen(createServer((s) => {
    cleanup.push(() => s.destroy());
    onSocket(s);
  }));
  return { port, socket };
}

const helloFrame = (fields: { version?: number; companyId?: number } = {}) =>
  encodeStreamFrame(encodeGatewayMessage({ type: "hello", version: fields.version ?? 1, companyId: fields.companyId ?? 0x02e5, address: 0x0100, mtu: 377 }));

describe("gateway link messages (meshota_gwlink.h, version 1)", () => {
  it.each([
    [{ type: "hello", version: 1, companyId: 0x02e5, address: 5, mtu: 377 }, "0101e50205007901"],
    [{ type: "send", tag: 0x1234, dst: 0xc000, ttl: 0xff, frame: { opcode: 0x01, params: Uint8Array.of(0xaa) } }, "02341200c0ff01aa"],
    [{ type: "send", tag: 1, dst: 0x0042, ttl: 7, frame: { opcode: 0x3f, params: new Uint8Array(0) } }, "020100420007" + "3f"],
    [{ type: "send-result", tag: 0xbeef, status: 4 }, "03efbe04"],
    [{ type: "recv", src: 0x0042, dst: 0x0001, rssi: -60, frame: { opcode: 0x10, params: Uint8Array.of(1, 2) } }, "0442000100c4100102"],
  ] as const)("should encode and decode %j as %s", (message, bytes) => {
    expect(hex(encodeGatewayMessage(message))).toBe(bytes);
    const decoded = decodeGatewayMessage(Buffer.from(bytes, "hex"));
    expect(decoded).toEqual(message);
    if ("frame" in decoded) expect(Buffer.isBuffer(decoded.frame.params)).toBe(false);
  });

  it.each([
    ["", "empty gateway link message"],
    ["0101e502050079", "gateway link HELLO of 7 bytes; expected 8"],
    ["03efbe", "gateway link SEND_RESULT of 3 bytes; expected 4"],
    ["044200010000", "gateway link RECV of 6 bytes; expected at least 7"],
    ["0442000100c440", "gateway link opcode 0x40 is not 6 bits"],
    ["09", "unknown gateway link message type 0x09"],
    ["0442000100c410" + "00".repeat(378), "gateway link message with 378 parameter bytes, over 377"],
  ])("should refuse %s", (bytes, message) => {
    expect(() => decodeGatewayMessage(Buffer.from(bytes, "hex"))).toThrow(message);
  });

  it("should match the framed example of docs/protocol.md", () => {
    const send = encodeGatewayMessage({ type: "send", tag: 1, dst: 0x0042, ttl: 0xff, frame: encodeVendorInit("UpdateGet", {}) });
    expect(hex(encodeStreamFrame(send))).toBe("070002010042" + "00ff04" + "2fb4fb64");
    expect(hex(encodeGatewayMessage({ type: "hello", version: 1, companyId: 0x02e5, address: 5, mtu: 377 }))).toBe("0101e50205007901");
  });

  it("should refuse to encode fields out of range", () => {
    const frame = { opcode: 1, params: new Uint8Array(0) };
    expect(() => encodeGatewayMessage({ type: "send", tag: 1, dst: 2, ttl: 0x80, frame })).toThrow("ttl 128 is outside 0..127");
    expect(() => encodeGatewayMessage({ type: "send", tag: 0x10000, dst: 2, ttl: 1, frame })).toThrow("tag 65536 is not a uint16");
    expect(() => encodeGatewayMessage({ type: "recv", src: 1, dst: 2, rssi: -129, frame })).toThrow("rssi -129 is not an int8");
  });
});

describe("TcpControlTransport", () => {
  it("should read HELLO, send through the gateway and receive what it hears", async () => {
    const sends: GatewaySend[] = [];
    const { host, gateway } = await pair({ onSend: (s) => (sends.push(s), GatewayLinkStatus.OK) });
    expect(host.info).toEqual({ name: "tcp-gateway", mtu: 377, reliable: false, groups: true });
    expect(host.hello).toEqual({ version: 1, companyId: 0x02e5, address: 0x0100, mtu: 377 });

    const get = encodeVendorInit("UpdateGet", {});
    await host.send(0x0042, get);
    expect(sends).toEqual([{ tag: 1, dst: 0x0042, ttl: 0xff, frame: get }]);

    const iterator = host.messages()[Symbol.asyncIterator]();
    const big = { opcode: Opcode.DataFrame, params: new Uint8Array(377).fill(7) };
    gateway.recv(0x0042, 0x0100, big, -71);
    const m = (await iterator.next()).value as IncomingMessage;
    expect(m.src).toBe(0x0042);
    expect(m.dst).toBe(0x0100);
    expect(m.frame.opcode).toBe(Opcode.DataFrame);
    expect(hex(m.frame.params)).toBe(hex(big.params));
    expect(host.stats()).toEqual({ received: 1, sent: 1, rejected: 0 });
  });

  it.each([
    [GatewayLinkStatus.REFUSED, "the gateway refused the message (malformed, unknown opcode or unassigned destination)"],
    [GatewayLinkStatus.MESH_ERROR, "the gateway's mesh stack failed the send"],
    [GatewayLinkStatus.NOT_READY, "the gateway is not provisioned or has no AppKey bound"],
    [GatewayLinkStatus.BUSY, "the gateway has too many sends waiting"],
    [9, "the gateway answered status 9"],
  ])("should reject a send answered with status %d", async (status, message) => {
    const { host } = await pair({ onSend: () => status });
    const e = await host.send(2, { opcode: 1, params: Uint8Array.of(1) }).catch((x: unknown) => x);
    expect(TransportError.isInstance(e)).toBe(true);
    expect(e).toMatchObject({ reason: "unreachable", message });
  });

  it("should keep at most 8 sends at the gateway and match results by tag", async () => {
    let waiting = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const { host } = await pair({
      onSend: () =>
        new Promise<number>((resolve) => {
          waiting++;
          most = Math.max(most, waiting);
          release.push(() => {
            waiting--;
            resolve(GatewayLinkStatus.OK);
          });
        }),
    });
    const sends = Array.from({ length: 20 }, (_, i) => host.send(0x10 + i, { opcode: 1, params: Uint8Array.of(i) }));
    // The emulated gateway handles SENDs one at a time, like the device's FIFO; release them.
    for (let i = 0; i < 200 && release.length < 20; i++) {
      release.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    while (release.length) release.shift()!();
    await Promise.all(sends);
    expect(host.stats().sent).toBe(20);
    expect(most).toBeLessThanOrEqual(GATEWAY_MAX_IN_FLIGHT);
  });

  it("should time out a send without result and ignore the late result", async () => {
    let answer!: () => void;
    let calls = 0;
    const { host } = await pair({
      onSend: () => (calls++ === 0 ? new Promise<number>((r) => (answer = () => r(GatewayLinkStatus.OK))) : GatewayLinkStatus.OK),
    });
    await expect(host.send(2, { opcode: 1, params: Uint8Array.of(1) }, { timeoutMs: 30 })).rejects.toMatchObject({
      reason: "timeout",
      message: "no result from the gateway within 30 ms",
    });
    answer();
    await new Promise((r) => setTimeout(r, 20));
    expect(host.stats()).toEqual({ received: 0, sent: 0, rejected: 1 });
    await host.send(3, { opcode: 1, params: Uint8Array.of(1) }, { timeoutMs: 1000 });
  });

  it("should refuse frames over the MTU, aborted sends and sends after close", async () => {
    const { host } = await pair();
    await expect(host.send(2, { opcode: 1, params: new Uint8Array(378) })).rejects.toMatchObject({ reason: "too-large" });
    const ac = new AbortController();
    ac.abort();
    await expect(host.send(2, { opcode: 1, params: new Uint8Array(1) }, { signal: ac.signal })).rejects.toMatchObject({ reason: "aborted" });
    await host.close();
    await expect(host.send(2, { opcode: 1, params: new Uint8Array(1) })).rejects.toMatchObject({ reason: "closed", message: "the TCP control link is closed" });
  });

  it.each([
    [{ version: 2 }, "gateway link version 2; this host speaks 1"],
    [{ companyId: 0x0059 }, "the gateway uses company ID 0x0059, expected 0x02e5"],
  ])("should refuse a gateway whose HELLO has %j", async (fields, message) => {
    const port = await listen(createGatewayServer(() => undefined, fields));
    await expect(TcpControlTransport.connect("127.0.0.1", port)).rejects.toMatchObject({ reason: "unreachable", message });
  });

  it("should give up when no HELLO comes", async () => {
    const { port } = await rawGateway();
    await expect(TcpControlTransport.connect("127.0.0.1", port, { helloTimeoutMs: 30 })).rejects.toMatchObject({
      reason: "timeout",
      message: "no HELLO from the gateway within 30 ms",
    });
  });

  it("should take HELLO and a RECV coalesced, split anywhere", async () => {
    const { port, socket } = await rawGateway();
    const link = TcpControlTransport.connect("127.0.0.1", port);
    const recv = encodeStreamFrame(encodeGatewayMessage({ type: "recv", src: 9, dst: 1, rssi: 0, frame: { opcode: 2, params: Uint8Array.of(5) } }));
    const bytes = Buffer.concat([helloFrame(), recv]);
    const s = await socket;
    s.write(bytes.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 5));
    s.write(bytes.subarray(5, 17));
    await new Promise((r) => setTimeout(r, 5));
    const host = await link;
    const iterator = host.messages()[Symbol.asyncIterator]();
    s.write(bytes.subarray(17));
    expect((await iterator.next()).value).toEqual({ src: 9, dst: 1, frame: { opcode: 2, params: Uint8Array.of(5) } });
    await host.close();
  });

  it("should close the link on a bad CRC and count malformed messages without closing", async () => {
    const { port, socket } = await rawGateway();
    const link = TcpControlTransport.connect("127.0.0.1", port);
    const s = await socket;
    s.write(helloFrame());
    const host = await link;
    const iterator = host.messages()[Symbol.asyncIterator]();
    s.write(encodeStreamFrame(Uint8Array.of(0x09, 1, 2)));
    const recv = encodeStreamFrame(encodeGatewayMessage({ type: "recv", src: 9, dst: 1, rssi: 0, frame: { opcode: 2, params: Uint8Array.of(5) } }));
    s.write(recv);
    expect((await iterator.next()).value).toMatchObject({ src: 9 });
    expect(host.stats().rejected).toBe(1);
    const bad = recv.slice();
    bad[bad.length - 1]! ^= 1;
    s.write(bad);
    expect((await iterator.next()).done).toBe(true);
    expect(host.closed).toBe(true);
    expect(host.closeReason?.message).toMatch(/^stream frame CRC-32 0x[0-9a-f]{8} does not match its 8 bytes/);
    await expect(host.send(5, { opcode: 1, params: new Uint8Array(0) })).rejects.toMatchObject({ reason: "closed" });
  });

  it("should end the iterators and reject pending sends when the gateway goes away", async () => {
    const { host, gateway } = await pair({ onSend: () => new Promise<number>(() => undefined) });
    const iterator = host.messages()[Symbol.asyncIterator]();
    const pending = host.send(2, { opcode: 1, params: Uint8Array.of(1) });
    await new Promise((r) => setTimeout(r, 10));
    gateway.socket.destroy();
    await expect(pending).rejects.toMatchObject({ reason: "closed" });
    expect((await iterator.next()).done).toBe(true);
    expect(host.closed).toBe(true);
  });
});
