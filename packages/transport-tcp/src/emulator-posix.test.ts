// The servers against the real node core using its own sockets: emulator nodes added with
// `net=posix` connect through firmware/host/net (POSIX TCP client and HTTP stream ports) over
// loopback, to the FirmwareServer or the ImageHttpServer directly or through a proxy that cuts
// or corrupts the stream. These tests exist only when the emulator offers `net=posix`; an
// emulator without it must refuse the Wi-Fi method, which the probe test checks.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, generateSigningKey, publicKeyRaw, readImage, sha256, signImage, toHex } from "@meshota/core";
import { defaultEmulatorPath, Emulator, emulatorAvailable } from "@meshota/emulator";
import { create, ErrorCode, Phase, UpdateStartSchema, type UpdateStatus } from "@meshota/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FirmwareServer, type FirmwareServerEvent } from "./firmware-server.js";
import { ImageHttpServer, type ImageHttpEvent } from "./image-http-server.js";

const SESSION = 0x7b22;
const TOKEN = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);
const CUT = 100 * 1024;

type Probe = "posix" | "no-posix" | "no-emulator";

/** Does this emulator build give nodes their own sockets (`add ... net=posix`)? A node added
 *  with `methods=mesh,wifi net=posix` has a stream port only then; otherwise it refuses a Wi-Fi
 *  UpdateStart with UNSUPPORTED_METHOD. */
async function probePosixNet(): Promise<{ probe: Probe; replies: UpdateStatus[] }> {
  if (!emulatorAvailable()) return { probe: "no-emulator", replies: [] };
  const emu = await Emulator.start();
  try {
    const keys = await generateSigningKey();
    await emu.setKey(await publicKeyRaw(keys.publicKey));
    await emu.command("add 1 methods=mesh,wifi net=posix");
    const image = await buildImage({ chip: 5, version: "1.1.0", projectName: "demo", size: 8192 });
    const signed = await signImage(await readImage(image), keys.privateKey);
    emu.sendVendor(1, create(UpdateStartSchema, { sessionId: 9, ...signed, method: { case: "wifi", value: { url: "http://127.0.0.1:9/x" } } }));
    await emu.advance(10);
    const replies = emu.takeVendor(1).filter((m): m is UpdateStatus => m.$typeName === "meshota.v1.UpdateStatus");
    const refused = replies.some((m) => m.error === ErrorCode.UNSUPPORTED_METHOD);
    return { probe: refused ? "no-posix" : "posix", replies };
  } finally {
    await emu.close();
  }
}

const { probe, replies: probeReplies } = await probePosixNet();
const supported = probe === "posix";
if (probe === "no-posix") {
  console.warn(`the emulator at ${defaultEmulatorPath()} has no net=posix: its POSIX port tests are not defined`);
}

describe.skipIf(probe === "no-emulator")("emulator net=posix probe", () => {
  it("should either accept a Wi-Fi start through the POSIX stream port or refuse it as unsupported", () => {
    expect(probeReplies.length).toBe(1);
    if (supported) expect(probeReplies[0]).toMatchObject({ phase: Phase.STARTING, error: ErrorCode.NONE });
    else expect(probeReplies[0]).toMatchObject({ phase: Phase.FAILED, error: ErrorCode.UNSUPPORTED_METHOD });
  });
});

/** A loopback TCP proxy that cuts every connection after `cutAfter` bytes towards the node,
 *  or flips a bit of byte `corruptAt` of the first connection. */
async function proxy(target: number, opts: { cutAfter?: number; corruptAt?: number }): Promise<{ server: Server; port: number }> {
  let connections = 0;
  const server = createServer((down) => {
    const n = ++connections;
    const up = connect({ host: "127.0.0.1", port: target });
    let sent = 0;
    down.on("data", (d) => up.write(d));
    up.on("data", (d: Buffer) => {
      let bytes = d;
      if (n === 1 && opts.corruptAt !== undefined && sent <= opts.corruptAt && opts.corruptAt < sent + bytes.length) {
        bytes = Buffer.from(bytes);
        bytes[opts.corruptAt - sent]! ^= 0x08;
      }
      if (opts.cutAfter !== undefined && sent + bytes.length >= opts.cutAfter) {
        down.end(bytes.subarray(0, opts.cutAfter - sent), () => down.destroy());
        up.destroy();
        sent = opts.cutAfter;
        return;
      }
      sent += bytes.length;
      down.write(bytes);
    });
    const bothDown = () => {
      up.destroy();
      down.destroy();
    };
    up.on("close", bothDown);
    down.on("close", bothDown);
    up.on("error", () => undefined);
    down.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

// Defined only with net=posix, so that an emulator without it adds no skipped tests.
(supported ? describe : () => undefined)("the node's POSIX ports in the emulator", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "meshota-emu-posix-"));
  const imagePath = join(dir, "app.bin");
  let image: Uint8Array;
  let imageHash: string;
  let publicKey: Uint8Array;
  let signed: Awaited<ReturnType<typeof signImage>>;
  let emu: Emulator | undefined;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  let fwEvents: FirmwareServerEvent[];

  beforeAll(async () => {
    image = await buildImage({ chip: 5, version: "1.1.0", projectName: "demo", secureVersion: 0, size: 400_000, seed: 21 });
    writeFileSync(imagePath, image);
    imageHash = toHex(await sha256(image));
    const keys = await generateSigningKey();
    publicKey = await publicKeyRaw(keys.publicKey);
    signed = await signImage(await readImage(image), keys.privateKey);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await emu?.close();
    emu = undefined;
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function firmwareServer(): Promise<number> {
    const events: FirmwareServerEvent[] = [];
    fwEvents = events;
    const server = new FirmwareServer({ idleTimeoutMs: 5000, onEvent: (e) => events.push(e) });
    await server.addSession({ sessionId: SESSION, token: TOKEN, imagePath });
    closers.push(() => server.close());
    return (await server.listen(0)).port;
  }

  async function withProxy(target: number, opts: { cutAfter?: number; corruptAt?: number }): Promise<number> {
    const { server, port } = await proxy(target, opts);
    closers.push(() => new Promise((r) => server.close(r)));
    return port;
  }

  async function nodes(addresses: number[], methods = "mesh,tcp,wifi"): Promise<Emulator> {
    emu = await Emulator.start();
    await emu.setKey(publicKey);
    for (const a of addresses) await emu.command(`add ${a.toString(16)} version=1.0.0 project=demo maxchunk=1024 methods=${methods} net=posix`);
    return emu;
  }

  const tcpStart = (port: number, token = TOKEN) =>
    create(UpdateStartSchema, { sessionId: SESSION, ...signed, method: { case: "tcp", value: { host: "127.0.0.1", port, token } } });
  const wifiStart = (url: string) => create(UpdateStartSchema, { sessionId: SESSION, ...signed, method: { case: "wifi", value: { url } } });

  /** Advances virtual time in 10 ms steps (bounded) until no node is starting or receiving. */
  async function run(addresses: number[], maxSteps = 6000): Promise<UpdateStatus[]> {
    for (let step = 0; step < maxSteps; step++) {
      await emu!.advance(10);
      await new Promise((r) => setTimeout(r, 0));
      if (step % 20 === 19) {
        const all = await Promise.all(addresses.map((a) => emu!.status(a)));
        if (all.every((s) => s.phase !== Phase.STARTING && s.phase !== Phase.RECEIVING)) break;
      }
    }
    for (let i = 0; i < 50; i++) await emu!.advance(10);
    const statuses: UpdateStatus[] = [];
    for (const a of addresses) for (const m of emu!.takeVendor(a)) if (m.$typeName === "meshota.v1.UpdateStatus") statuses.push(m);
    return statuses;
  }

  async function expectVerified(address: number, statuses: UpdateStatus[]) {
    expect(await emu!.status(address)).toMatchObject({ phase: Phase.VERIFIED, error: ErrorCode.NONE, bytes: image.length });
    expect(await emu!.sha256(address, "passive", image.length)).toBe(imageHash);
    expect(Math.max(...statuses.map((s) => s.percent))).toBeLessThanOrEqual(100);
    expect(Math.max(...statuses.map((s) => s.bytesDone))).toBeLessThanOrEqual(image.length);
  }

  const fetches = () => fwEvents.filter((e) => e.type === "fetch").map((e) => (e as { nextIndex: number }).nextIndex);

  it("should download over TCP through the node's own socket", async () => {
    const port = await firmwareServer();
    await nodes([0x0100]);
    emu!.sendVendor(0x0100, tcpStart(port));
    await expectVerified(0x0100, await run([0x0100]));
    expect(fetches()).toEqual([0]);
  });

  it("should resume over TCP when the connection is cut every 100 KB", async () => {
    const port = await withProxy(await firmwareServer(), { cutAfter: CUT });
    await nodes([0x0100]);
    emu!.sendVendor(0x0100, tcpStart(port));
    await expectVerified(0x0100, await run([0x0100]));
    const f = fetches();
    expect(f.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < f.length; i++) {
      expect(f[i]! - f[i - 1]!).toBeGreaterThanOrEqual(Math.floor(CUT / 1024) - 2);
      expect(f[i]! - f[i - 1]!).toBeLessThanOrEqual(Math.floor(CUT / 1024));
    }
  });

  it("should fail with AUTH on a wrong token", async () => {
    const port = await firmwareServer();
    await nodes([0x0100]);
    const wrong = TOKEN.slice();
    wrong[3]! ^= 1;
    emu!.sendVendor(0x0100, tcpStart(port, wrong));
    await run([0x0100]);
    expect(await emu!.status(0x0100)).toMatchObject({ phase: Phase.FAILED, error: ErrorCode.AUTH, bytes: 0 });
    expect(fwEvents.filter((e) => e.type === "fetch").length).toBe(0);
    expect(fwEvents.filter((e) => e.type === "refused").length).toBe(1);
  });

  it("should drop a corrupted frame and resume after it", async () => {
    const port = await withProxy(await firmwareServer(), { corruptAt: 70_000 });
    await nodes([0x0100]);
    emu!.sendVendor(0x0100, tcpStart(port));
    await expectVerified(0x0100, await run([0x0100]));
    const f = fetches();
    expect(f.length).toBe(2);
    expect(f[1]).toBeGreaterThanOrEqual(64);
    expect(f[1]).toBeLessThanOrEqual(68);
  });

  it("should serve 50 nodes downloading over their own sockets at once", async () => {
    const small = await buildImage({ chip: 5, version: "1.1.0", projectName: "demo", size: 80_000, seed: 22 });
    const smallPath = join(dir, "small.bin");
    writeFileSync(smallPath, small);
    const server = new FirmwareServer({ idleTimeoutMs: 5000 });
    await server.addSession({ sessionId: SESSION + 1, token: TOKEN, imagePath: smallPath });
    const smallPort = (await server.listen(0)).port;
    closers.push(() => server.close());
    const keys = await generateSigningKey();
    const addresses = Array.from({ length: 50 }, (_, i) => 0x0300 + i);
    emu = await Emulator.start();
    await emu.setKey(await publicKeyRaw(keys.publicKey));
    for (const a of addresses) await emu.command(`add ${a.toString(16)} version=1.0.0 project=demo maxchunk=1024 methods=mesh,tcp net=posix`);
    const s = await signImage(await readImage(small), keys.privateKey);
    const start = create(UpdateStartSchema, { sessionId: SESSION + 1, ...s, method: { case: "tcp", value: { host: "127.0.0.1", port: smallPort, token: TOKEN } } });
    for (const a of addresses) emu.sendVendor(a, start);
    await run(addresses, 12000);
    const hash = toHex(await sha256(small));
    for (const a of addresses) {
      expect(await emu.status(a)).toMatchObject({ phase: Phase.VERIFIED, bytes: small.length });
      expect(await emu.sha256(a, "passive", small.length)).toBe(hash);
    }
    expect(server.stats().accepted).toBe(50);
  }, 120_000);

  it("should download over HTTP with Range resume when cut every 100 KB", async () => {
    const events: ImageHttpEvent[] = [];
    const http = new ImageHttpServer({ onEvent: (e) => events.push(e) });
    await http.addImage("/fw/app.bin", imagePath);
    const { port: httpPort } = await http.listen(0);
    closers.push(() => http.close());
    const port = await withProxy(httpPort, { cutAfter: CUT });
    await nodes([0x0100]);
    emu!.sendVendor(0x0100, wifiStart(`http://127.0.0.1:${port}/fw/app.bin`));
    await expectVerified(0x0100, await run([0x0100]));
    expect(events.length).toBeGreaterThanOrEqual(4);
    expect(events[0]).toMatchObject({ status: 200, range: undefined });
    expect(events.slice(1).every((e) => e.status === 206 && /^bytes=\d+-$/.test(e.range ?? ""))).toBe(true);
  });

  it("should neither pass 100 % nor corrupt the image when a resume is answered 200", async () => {
    const events: ImageHttpEvent[] = [];
    const http = new ImageHttpServer({ ignoreRange: true, onEvent: (e) => events.push(e) });
    await http.addImage("/fw/app.bin", imagePath);
    const { port: httpPort } = await http.listen(0);
    closers.push(() => http.close());
    // Each connection is cut 100 KB past where the node resumes, so every attempt gains 100 KB
    // although the server starts from byte 0 each time.
    let connection = 0;
    const server = createServer((down) => {
      connection++;
      const up = connect({ host: "127.0.0.1", port: httpPort });
      let sent = 0;
      let limit = Infinity;
      down.on("data", (d: Buffer) => {
        const m = /Range: bytes=(\d+)-/i.exec(d.toString("latin1"));
        limit = (m ? Number(m[1]) : 0) + CUT + 200; // + headers
        up.write(d);
      });
      up.on("data", (d: Buffer) => {
        if (sent + d.length >= limit) {
          down.end(d.subarray(0, limit - sent), () => down.destroy());
          up.destroy();
          return;
        }
        sent += d.length;
        down.write(d);
      });
      up.on("error", () => undefined);
      down.on("error", () => undefined);
      up.on("close", () => down.destroy());
      down.on("close", () => up.destroy());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise((r) => server.close(r)));
    await nodes([0x0100]);
    emu!.sendVendor(0x0100, wifiStart(`http://127.0.0.1:${(server.address() as AddressInfo).port}/fw/app.bin`));
    const statuses = await run([0x0100]);
    await expectVerified(0x0100, statuses);
    expect(connection).toBeGreaterThanOrEqual(4);
    expect(events.every((e) => e.status === 200)).toBe(true);
    expect(events.slice(1).every((e) => /^bytes=\d+-$/.test(e.range ?? ""))).toBe(true);
  });
});
