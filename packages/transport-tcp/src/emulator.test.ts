// The firmware server against the real node core: meshota_emulator runs the C nodes; each node's
// TCP connection (TCP_OPEN/TCP_DATA/TCP_CLOSE frames of the emulator protocol) is bridged to a
// real loopback socket to a FirmwareServer. Skipped when the emulator binary is not built.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, generateSigningKey, publicKeyRaw, readImage, sha256, signImage, toHex } from "@meshota/core";
import { defaultEmulatorPath, Emulator, emulatorAvailable, FrameKind } from "@meshota/emulator";
import { create, ErrorCode, Phase, UpdateStartSchema, type UpdateStatus } from "@meshota/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FirmwareServer, type FirmwareServerEvent } from "./firmware-server.js";

const haveBinary = emulatorAvailable();
if (!haveBinary) {
  console.warn(`skipping emulator tests: no meshota_emulator at ${defaultEmulatorPath()} (build firmware/host first)`);
}

const SESSION = 0x7a11;
const TOKEN = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const CUT = 100 * 1024;

/** Bridges the emulated nodes' TCP connections to real sockets, with cuts and corruption. */
class TcpBridge {
  readonly sockets = new Map<number, Socket>();
  /** Bytes delivered to each node on its current connection. */
  readonly delivered = new Map<number, number>();
  /** Cut a node's connection once this many bytes reached it on that connection. */
  cutAfter: number | undefined;
  /** Flip one bit of the server's byte at this offset of the first connection of each node. */
  corruptAt: number | undefined;
  readonly connections = new Map<number, number>();

  constructor(private readonly emu: Emulator) {}

  /** Handles the TCP frames the nodes sent; leaves other frames in the inbox. */
  pump(): void {
    const rest = [];
    for (const f of this.emu.inbox.splice(0)) {
      if (f.kind === FrameKind.TcpOpen) this.#open(f.node, new TextDecoder().decode(f.payload));
      else if (f.kind === FrameKind.TcpData) this.sockets.get(f.node)?.write(f.payload);
      else if (f.kind === FrameKind.TcpClose) {
        const s = this.sockets.get(f.node);
        this.sockets.delete(f.node); // the node closed: no TCP_CLOSE back to it
        s?.destroy();
      } else rest.push(f);
    }
    this.emu.inbox.push(...rest);
  }

  #open(node: number, target: string): void {
    const [host, port] = target.split(":");
    const s = connect({ host: host!, port: Number(port) });
    const n = (this.connections.get(node) ?? 0) + 1;
    this.connections.set(node, n);
    this.sockets.set(node, s);
    this.delivered.set(node, 0);
    s.on("connect", () => this.sockets.get(node) === s && this.emu.tcpConnected(node));
    s.on("data", (d: Buffer) => {
      if (this.sockets.get(node) !== s) return;
      const before = this.delivered.get(node)!;
      let bytes = new Uint8Array(d);
      if (n === 1 && this.corruptAt !== undefined && before <= this.corruptAt && this.corruptAt < before + bytes.length) {
        bytes = bytes.slice();
        bytes[this.corruptAt - before]! ^= 0x10;
      }
      if (this.cutAfter !== undefined && before + bytes.length >= this.cutAfter) {
        // Deliver up to the cut (mid-frame, most likely), then the connection dies.
        this.emu.tcpSend(node, bytes.subarray(0, this.cutAfter - before));
        this.sockets.delete(node);
        s.destroy();
        this.emu.tcpClose(node);
        return;
      }
      this.delivered.set(node, before + bytes.length);
      this.emu.tcpSend(node, bytes);
    });
    s.on("error", () => undefined);
    s.on("close", () => {
      if (this.sockets.get(node) !== s) return;
      this.sockets.delete(node);
      this.emu.tcpClose(node);
    });
  }

  close(): void {
    for (const s of this.sockets.values()) s.destroy();
  }
}

describe.skipIf(!haveBinary)("FirmwareServer with the node emulator", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "meshota-emu-tcp-"));
  const imagePath = join(dir, "app.bin");
  let image: Uint8Array;
  let imageHash: string;
  let publicKey: Uint8Array;
  let startFor: (token: Uint8Array, port: number) => ReturnType<typeof create<typeof UpdateStartSchema>>;
  // 50 nodes share a smaller image: the emulator persists every chunk to its files, which
  // dominates the run time, not the network.
  const smallPath = join(dir, "small.bin");
  let small: Uint8Array;
  let smallHash: string;
  let smallStart: (port: number) => ReturnType<typeof create<typeof UpdateStartSchema>>;
  let emu: Emulator | undefined;
  let server: FirmwareServer | undefined;
  let bridge: TcpBridge | undefined;
  let events: FirmwareServerEvent[];

  beforeAll(async () => {
    image = await buildImage({ chip: 5, version: "1.1.0", projectName: "demo", secureVersion: 0, size: 400_000, seed: 11 });
    writeFileSync(imagePath, image);
    imageHash = toHex(await sha256(image));
    const keys = await generateSigningKey();
    publicKey = await publicKeyRaw(keys.publicKey);
    const { manifest, signature } = await signImage(await readImage(image), keys.privateKey);
    startFor = (token, port) =>
      create(UpdateStartSchema, { sessionId: SESSION, manifest, signature, method: { case: "tcp", value: { host: "127.0.0.1", port, token } } });
    small = await buildImage({ chip: 5, version: "1.1.0", projectName: "demo", secureVersion: 0, size: 80_000, seed: 12 });
    writeFileSync(smallPath, small);
    smallHash = toHex(await sha256(small));
    const signedSmall = await signImage(await readImage(small), keys.privateKey);
    smallStart = (port) =>
      create(UpdateStartSchema, {
        sessionId: SESSION + 1,
        ...signedSmall,
        method: { case: "tcp", value: { host: "127.0.0.1", port, token: TOKEN } },
      });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    bridge?.close();
    await emu?.close();
    await server?.close();
    emu = undefined;
    server = undefined;
  });

  async function setUp(nodes: number[]) {
    events = [];
    const mine = events;
    server = new FirmwareServer({ idleTimeoutMs: 5000, onEvent: (e) => mine.push(e) });
    await server.addSession({ sessionId: SESSION, token: TOKEN, imagePath });
    await server.addSession({ sessionId: SESSION + 1, token: TOKEN, imagePath: smallPath });
    const { port } = await server.listen(0);
    emu = await Emulator.start();
    await emu.setKey(publicKey);
    for (const n of nodes) await emu.addNode(n, { version: "1.0.0", project: "demo", maxChunk: 1024, methods: ["mesh", "tcp"] });
    bridge = new TcpBridge(emu);
    return port;
  }

  /** Runs the nodes (virtual time, 10 ms steps; bounded) until none is starting or receiving. */
  async function run(nodes: number[], maxSteps = 6000): Promise<UpdateStatus[]> {
    const statuses: UpdateStatus[] = [];
    for (let step = 0; step < maxSteps; step++) {
      bridge!.pump();
      await emu!.advance(10);
      bridge!.pump();
      await new Promise((r) => setImmediate(r));
      if (step % 20 === 19 || step === maxSteps - 1) {
        const phases = await Promise.all(nodes.map((n) => emu!.status(n)));
        if (phases.every((s) => s.phase !== Phase.STARTING && s.phase !== Phase.RECEIVING)) break;
      }
    }
    // Let verification finish (it runs in polls too).
    for (let i = 0; i < 50; i++) await emu!.advance(10);
    bridge!.pump();
    for (const n of nodes) {
      for (const m of emu!.takeVendor(n)) if (m.$typeName === "meshota.v1.UpdateStatus") statuses.push(m);
    }
    return statuses;
  }

  async function expectVerified(node: number) {
    const s = await emu!.status(node);
    expect(s).toMatchObject({ phase: Phase.VERIFIED, error: ErrorCode.NONE, bytes: image.length });
    expect(await emu!.sha256(node, "passive", image.length)).toBe(imageHash);
  }

  const fetchIndices = () => events.filter((e) => e.type === "fetch").map((e) => (e as { nextIndex: number }).nextIndex);

  it("should download the whole image over loopback TCP", async () => {
    const port = await setUp([0x0100]);
    emu!.sendVendor(0x0100, startFor(TOKEN, port));
    const statuses = await run([0x0100]);
    await expectVerified(0x0100);
    expect(fetchIndices()).toEqual([0]);
    expect(events.filter((e) => e.type === "node-done").length).toBe(1);
    expect(Math.max(...statuses.map((s) => s.percent))).toBeLessThanOrEqual(100);
  });

  it("should resume from the node's index when the connection is cut every 100 KB", async () => {
    const port = await setUp([0x0100]);
    bridge!.cutAfter = CUT;
    emu!.sendVendor(0x0100, startFor(TOKEN, port));
    const statuses = await run([0x0100]);
    await expectVerified(0x0100);
    const indices = fetchIndices();
    // 400 KB in 1024-byte chunks with a cut every 100 KB of stream: 4 or 5 connections, each
    // starting after the last chunk the node completed, never going back.
    expect(indices.length).toBeGreaterThanOrEqual(4);
    expect(indices[0]).toBe(0);
    for (let i = 1; i < indices.length; i++) {
      expect(indices[i]!).toBeGreaterThan(indices[i - 1]!);
      expect(indices[i]! - indices[i - 1]!).toBeLessThanOrEqual(Math.floor(CUT / 1024));
      expect(indices[i]! - indices[i - 1]!).toBeGreaterThanOrEqual(Math.floor(CUT / 1024) - 2);
    }
    expect(Math.max(...statuses.map((s) => s.percent))).toBeLessThanOrEqual(100);
    expect(Math.max(...statuses.map((s) => s.bytesDone))).toBeLessThanOrEqual(image.length);
  });

  it("should refuse a wrong token, and the node should fail with AUTH", async () => {
    const port = await setUp([0x0100]);
    const wrong = TOKEN.slice();
    wrong[0]! ^= 0xff;
    emu!.sendVendor(0x0100, startFor(wrong, port));
    await run([0x0100]);
    const s = await emu!.status(0x0100);
    expect(s).toMatchObject({ phase: Phase.FAILED, error: ErrorCode.AUTH, bytes: 0 });
    expect(events.filter((e) => e.type === "refused").map((e) => (e as { error: number }).error)).toEqual([ErrorCode.AUTH]);
  });

  it("should recover from a corrupted frame: the node drops the stream and resumes", async () => {
    const port = await setUp([0x0100]);
    bridge!.corruptAt = 50_000; // inside a chunk frame of the first connection
    emu!.sendVendor(0x0100, startFor(TOKEN, port));
    await run([0x0100]);
    await expectVerified(0x0100);
    const indices = fetchIndices();
    expect(indices.length).toBe(2);
    expect(indices[0]).toBe(0);
    // The frame holding stream byte 50000 is the one lost: 1030-1048 bytes per chunk frame.
    expect(indices[1]).toBeGreaterThanOrEqual(45);
    expect(indices[1]).toBeLessThanOrEqual(49);
  });

  it("should serve 50 nodes downloading at once", async () => {
    const nodes = Array.from({ length: 50 }, (_, i) => 0x0200 + i);
    const port = await setUp(nodes);
    for (const n of nodes) emu!.sendVendor(n, smallStart(port));
    const statuses = await run(nodes, 12000);
    for (const n of nodes) {
      expect(await emu!.status(n)).toMatchObject({ phase: Phase.VERIFIED, error: ErrorCode.NONE, bytes: small.length });
      expect(await emu!.sha256(n, "passive", small.length)).toBe(smallHash);
    }
    expect(Math.max(...statuses.map((s) => s.percent))).toBeLessThanOrEqual(100);
    expect(server!.stats().accepted).toBe(50);
    expect(events.filter((e) => e.type === "sent-all").length).toBe(50);
  }, 120_000);
});
