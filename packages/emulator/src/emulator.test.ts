import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  create,
  encodeFrame,
  ErrorCode,
  EspNowMethodSchema,
  ManifestSchema,
  manifestSigningBytes,
  Phase,
  RelayStartSchema,
  UpdateApplySchema,
  UpdateCancelSchema,
  UpdateConfirmSchema,
  UpdateStartSchema,
  WifiMethodSchema,
  type DataFrame,
  type UpdateStatus,
} from "@meshota/proto";
import { decodeFrame } from "@meshota/proto";
import { buildAppImage } from "./app-image.fixture.js";
import {
  decodeEspNowBegin,
  decodeStreamOpen,
  defaultEmulatorPath,
  Emulator,
  emulatorAvailable,
  EmulatorFrameReader,
  encodeEmulatorFrame,
  FrameKind,
  type EmulatorFrame,
} from "./index.js";

const haveBinary = emulatorAvailable();
if (!haveBinary) {
  console.warn(`skipping emulator tests: no meshota_emulator at ${defaultEmulatorPath()} (build firmware/host first)`);
}

const NODE = 0x0100;
const CHUNK = 300;

function keyPair(): { privateKey: KeyObject; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const point = new Uint8Array(65);
  point[0] = 0x04;
  point.set(Buffer.from(jwk.x!, "base64url"), 1);
  point.set(Buffer.from(jwk.y!, "base64url"), 33);
  return { privateKey, publicKey: point };
}

function signedStart(image: Uint8Array, key: KeyObject, sessionId: number) {
  const manifest = create(ManifestSchema, {
    imageSize: image.length,
    imageSha256: createHash("sha256").update(image).digest(),
    version: "1.1.0",
    projectName: "demo",
    secureVersion: 1,
    chipId: 5,
    minChipRev: 0,
    maxChipRev: 399,
  });
  const signature = sign("sha256", manifestSigningBytes(manifest), { key, dsaEncoding: "ieee-p1363" });
  return create(UpdateStartSchema, {
    sessionId,
    manifest,
    signature,
    method: { case: "mesh", value: { chunkSize: CHUNK } },
  });
}

function chunkFrame(image: Uint8Array, sessionId: number, index: number): Uint8Array {
  return encodeFrame({
    body: { case: "chunk", value: { sessionId, index, data: image.subarray(index * CHUNK, (index + 1) * CHUNK) } },
  });
}

function lastStatus(emu: Emulator): UpdateStatus {
  const msgs = emu.takeVendor(NODE).filter((m) => m.$typeName === "meshota.v1.UpdateStatus");
  expect(msgs.length).toBeGreaterThan(0);
  return msgs[msgs.length - 1] as UpdateStatus;
}

describe("emulator frames", () => {
  it("should reassemble frames split at every byte", () => {
    const a = encodeEmulatorFrame({ node: 1, kind: FrameKind.Mesh, peer: 2, payload: new Uint8Array([5, 6]) });
    const b = encodeEmulatorFrame({ node: 0x7fff, kind: FrameKind.Reply, peer: 0, payload: new TextEncoder().encode("ok") });
    const wire = new Uint8Array([...a, ...b]);
    const r = new EmulatorFrameReader();
    const got = [];
    for (const byte of wire) got.push(...r.push(new Uint8Array([byte])));
    expect(got).toEqual([
      { node: 1, kind: FrameKind.Mesh, peer: 2, payload: new Uint8Array([5, 6]) },
      { node: 0x7fff, kind: FrameKind.Reply, peer: 0, payload: new TextEncoder().encode("ok") },
    ]);
  });

  it("should read the offset and URL of a stream open, and refuse anything else", () => {
    expect(decodeStreamOpen(new TextEncoder().encode("4096 http://img.local/a b.bin"))).toEqual({ offset: 4096, url: "http://img.local/a b.bin" });
    expect(() => decodeStreamOpen(new TextEncoder().encode("http://img.local/a.bin"))).toThrow(/is not "<offset> <url>"/);
  });

  it("should read the channel and the peer MAC of an ESP-NOW begin, and refuse other lengths", () => {
    expect(decodeEspNowBegin(new Uint8Array([11, 2, 0, 0, 0, 2, 0]))).toEqual({ channel: 11, peerMac: new Uint8Array([2, 0, 0, 0, 2, 0]) });
    expect(decodeEspNowBegin(new Uint8Array([6]))).toEqual({ channel: 6, peerMac: undefined });
    expect(() => decodeEspNowBegin(new Uint8Array([6, 1, 2]))).toThrow("ESP-NOW begin of 3 bytes is not a channel and an optional 6-byte MAC");
    expect(() => decodeEspNowBegin(new Uint8Array(0))).toThrow("ESP-NOW begin of 0 bytes");
  });

  it("should reject an out-of-range length", () => {
    expect(() => new EmulatorFrameReader().push(new Uint8Array([1, 0, 0, 0]))).toThrow(/length 1 is out of range/);
  });
});

describe.skipIf(!haveBinary)("meshota_emulator", () => {
  let emu: Emulator | undefined;
  afterEach(async () => {
    await emu?.close();
    emu = undefined;
  });

  it("should update an emulated node over the socket to the new confirmed version", async () => {
    emu = await Emulator.start();
    const { privateKey, publicKey } = keyPair();
    await emu.setKey(publicKey);
    await emu.addNode(NODE, { version: "1.0.0", project: "demo", secureVersion: 1 });
    const image = buildAppImage({ chipId: 5, version: "1.1.0", project: "demo", secureVersion: 1, size: 12_000 });
    const factorySha = await emu.sha256(NODE, "running", 4096);

    emu.sendVendor(NODE, signedStart(image, privateKey, 0x51));
    await emu.advance(10);
    expect(lastStatus(emu)).toMatchObject({ phase: Phase.STARTING, error: ErrorCode.NONE });

    const count = Math.ceil(image.length / CHUNK);
    for (let i = count - 1; i >= 0; i--) emu.sendMeshRaw(NODE, 0x10, chunkFrame(image, 0x51, i));
    emu.sendMeshRaw(NODE, 0x10, chunkFrame(image, 0x51, 3)); // a duplicate changes nothing
    await emu.advance(100);
    expect(lastStatus(emu)).toMatchObject({ phase: Phase.VERIFIED, error: ErrorCode.NONE, bytesDone: image.length, percent: 100 });
    expect(await emu.sha256(NODE, "passive", image.length)).toBe(createHash("sha256").update(image).digest("hex"));
    expect(await emu.sha256(NODE, "running", 4096)).toBe(factorySha);

    emu.sendVendor(NODE, create(UpdateApplySchema, { sessionId: 0x51 }));
    await emu.advance(10);
    expect(lastStatus(emu)).toMatchObject({ phase: Phase.APPLYING });
    expect(emu.events.some((e) => e.startsWith("restarted 0100 phase=6"))).toBe(true);
    expect(await emu.status(NODE)).toMatchObject({ phase: Phase.PENDING_CONFIRM, version: "1.1.0" });

    emu.sendVendor(NODE, create(UpdateConfirmSchema, { sessionId: 0x51 }));
    await emu.advance(10);
    expect(lastStatus(emu)).toMatchObject({ phase: Phase.CONFIRMED, error: ErrorCode.NONE });
    const after = await emu.restart(NODE);
    expect(after).toMatchObject({ power: "on", phase: Phase.CONFIRMED, version: "1.1.0", runningSlot: 1 });
  }, 20_000);

  it("should resume after a power cut and ask only for the missing chunks", async () => {
    emu = await Emulator.start();
    const { privateKey, publicKey } = keyPair();
    await emu.setKey(publicKey);
    await emu.addNode(NODE, { version: "1.0.0", project: "demo", secureVersion: 1 });
    const image = buildAppImage({ chipId: 5, version: "1.1.0", project: "demo", secureVersion: 1, size: 30_000 });
    const count = Math.ceil(image.length / CHUNK);
    expect(count).toBe(100);
    emu.sendVendor(NODE, signedStart(image, privateKey, 0x77));
    for (let i = 0; i < count; i += 2) emu.sendMeshRaw(NODE, 0x10, chunkFrame(image, 0x77, i));
    await emu.powerCut(NODE);
    expect((await emu.status(NODE)).power).toBe("off");
    const resumed = await emu.restart(NODE);
    expect(resumed.phase).toBe(Phase.RECEIVING);
    // The node saves its chunk bitmap every 32 chunks (MESHOTA_PERSIST_EVERY_CHUNKS): of the 50
    // even chunks, 0 ... 62 survive the cut; 64 ... 98 are asked for again with the odd ones.
    const kept = Array.from({ length: 32 }, (_, k) => 2 * k);
    const lost = Array.from({ length: count }, (_, i) => i).filter((i) => !kept.includes(i));
    expect(resumed.bytes).toBe(kept.length * CHUNK);

    emu.inbox.length = 0;
    const info = encodeFrame({
      body: { case: "info", value: { sessionId: 0x77, imageSize: image.length, chunkSize: CHUNK, chunkCount: count, round: 1 } },
    });
    emu.sendMeshRaw(NODE, 0x10, info);
    await emu.advance(10);
    const report = emu.inbox.find((f) => f.node === NODE && f.payload[0] === 0x10);
    expect(report).toBeDefined();
    const frame: DataFrame = decodeFrame(report!.payload.slice(1));
    expect(frame.body.case).toBe("missing");
    const missing = frame.body.case === "missing" ? frame.body.value : undefined;
    expect(missing!.missingTotal).toBe(lost.length);
    const wanted: number[] = [];
    missing!.bitmap.forEach((byte, k) => {
      for (let b = 0; b < 8; b++) if (byte & (1 << b)) wanted.push(missing!.baseIndex + k * 8 + b);
    });
    for (const r of missing!.ranges) for (let k = 0; k < r.count; k++) wanted.push(r.first + k);
    expect(wanted).toEqual(lost);
    for (const i of wanted) emu.sendMeshRaw(NODE, 0x10, chunkFrame(image, 0x77, i));
    await emu.advance(100);
    expect(await emu.status(NODE)).toMatchObject({ phase: Phase.VERIFIED, bytes: image.length });
    expect(await emu.sha256(NODE, "passive", image.length)).toBe(createHash("sha256").update(image).digest("hex"));
  }, 20_000);

  it("should time out a silent mesh transfer on one node whose clock is moved ahead", async () => {
    emu = await Emulator.start();
    const { privateKey, publicKey } = keyPair();
    await emu.setKey(publicKey);
    await emu.addNode(NODE, { version: "1.0.0", project: "demo", secureVersion: 1 });
    await emu.addNode(NODE + 1, { version: "1.0.0", project: "demo", secureVersion: 1 });
    const image = buildAppImage({ chipId: 5, version: "1.1.0", project: "demo", secureVersion: 1, size: 6_000 });
    emu.sendVendor(NODE, signedStart(image, privateKey, 0x90));
    emu.sendVendor(NODE + 1, signedStart(image, privateKey, 0x91));
    await emu.advance(10);
    expect(await emu.skew(NODE, 61_000)).toBe(61_010);
    expect(lastStatus(emu)).toMatchObject({ phase: Phase.FAILED, error: ErrorCode.TIMEOUT });
    expect(await emu.status(NODE + 1)).toMatchObject({ phase: Phase.RECEIVING, error: ErrorCode.NONE });
  }, 20_000);

  it("should pace an ESP-NOW relay by the radio's queue: the air rate, every chunk in order", async () => {
    emu = await Emulator.start();
    const { privateKey, publicKey } = keyPair();
    await emu.setKey(publicKey);
    await emu.addNode(NODE, { version: "1.0.0", project: "demo", secureVersion: 1 });
    const image = buildAppImage({ chipId: 5, version: "1.1.0", project: "demo", secureVersion: 1, size: 40_000 });
    emu.sendVendor(NODE, signedStart(image, privateKey, 0x61));
    const count = Math.ceil(image.length / CHUNK);
    for (let i = 0; i < count; i++) emu.sendMeshRaw(NODE, 0x10, chunkFrame(image, 0x61, i));
    await emu.advance(100);
    expect(await emu.status(NODE)).toMatchObject({ phase: Phase.VERIFIED });
    expect(await emu.setEspNowRadio({ rateBps: 214_000, queue: 4 })).toEqual({ rateBps: 214_000, overheadBytes: 40, queue: 4 });

    emu.inbox.length = 0;
    const payloadSize = 200;
    emu.sendVendor(NODE, create(RelayStartSchema, { sessionId: 0x61, targets: [NODE + 1], method: { case: "espnow", value: { channel: 6, payloadSize } } }));
    const airMs = (bytes: number) => ((bytes + 40) * 8 * 1000) / 214_000;
    const sent: DataFrame[] = [];
    let airSum = 0;
    for (let t = 10; t <= 1000; t += 10) {
      const now = await emu.advance(10);
      for (const f of emu.inbox.splice(0)) {
        if (f.kind !== FrameKind.EspNow) continue;
        // Stamped with the virtual time the node sent it: this step, or the RelayStart before it.
        expect(f.at).toBeGreaterThanOrEqual(now - 10);
        expect(f.at).toBeLessThanOrEqual(now);
        sent.push(decodeFrame(f.payload));
        airSum += airMs(f.payload.length);
      }
      // The radio never holds more than what it sent by now plus a full queue (and the frame on air).
      expect(airSum).toBeLessThanOrEqual(t + 5 * airMs(payloadSize + 20));
    }
    // About one second of air: far fewer than the 8 chunks per 10 ms poll the relay offers.
    expect(airSum).toBeGreaterThan(1000 - airMs(payloadSize + 20));
    expect(sent[0]!.body.case).toBe("info");
    const indices = sent.slice(1).map((f) => (f.body.case === "chunk" ? f.body.value.index : -1));
    expect(indices).toEqual(Array.from({ length: indices.length }, (_, i) => i));
    expect(indices.length).toBeLessThan(Math.ceil(image.length / payloadSize));

    // Unlimited again: the relay's full 8 chunks per poll go out.
    await emu.setEspNowRadio({ rateBps: 0 });
    emu.inbox.length = 0;
    await emu.advance(10);
    expect(emu.inbox.filter((f) => f.kind === FrameKind.EspNow).length).toBe(8);
  }, 20_000);

  it("should tell the client the channel and peer of each ESP-NOW begin, and when ESP-NOW ends", async () => {
    emu = await Emulator.start();
    const { privateKey, publicKey } = keyPair();
    await emu.setKey(publicKey);
    await emu.addNode(NODE, { version: "1.0.0", project: "demo", secureVersion: 1 });
    const image = buildAppImage({ chipId: 5, version: "1.1.0", project: "demo", secureVersion: 1, size: 12_000 });
    const radioFrames = () => {
      const out: EmulatorFrame[] = [];
      for (let i = 0; i < emu!.inbox.length; ) {
        const f = emu!.inbox[i]!;
        if (f.kind === FrameKind.EspNowBegin || f.kind === FrameKind.EspNowEnd) out.push(...emu!.inbox.splice(i, 1));
        else i++;
      }
      return out;
    };
    const distributor = new Uint8Array([0x02, 0, 0, 0, 0x02, 0x00]);
    const start = signedStart(image, privateKey, 0x81);
    start.method = { case: "espnow", value: create(EspNowMethodSchema, { channel: 11, distributorMac: distributor, payloadSize: 200 }) };
    emu.sendVendor(NODE, start);
    await emu.advance(10);
    const begun = radioFrames();
    expect(begun.map((f) => [f.node, f.kind, f.peer])).toEqual([[NODE, FrameKind.EspNowBegin, 0]]);
    expect(begun[0]!.payload).toEqual(new Uint8Array([11, ...distributor]));
    expect(decodeEspNowBegin(begun[0]!.payload)).toEqual({ channel: 11, peerMac: distributor });

    // The power goes: the radio is off. Powered on, the core resumes the session and begins again.
    await emu.powerCut(NODE);
    expect(radioFrames().map((f) => [f.kind, f.payload.length])).toEqual([[FrameKind.EspNowEnd, 0]]);
    await emu.restart(NODE);
    await emu.advance(10);
    expect(radioFrames().map((f) => [f.kind, [...f.payload]])).toEqual([[FrameKind.EspNowBegin, [11, ...distributor]]]);

    emu.sendVendor(NODE, create(UpdateCancelSchema, { sessionId: 0x81 }));
    await emu.advance(10);
    expect(radioFrames().map((f) => f.kind)).toEqual([FrameKind.EspNowEnd]);
    expect(await emu.status(NODE)).toMatchObject({ phase: Phase.CANCELLED });

    // A relay listens to any sender on its channel: no MAC.
    const count = Math.ceil(image.length / CHUNK);
    emu.sendVendor(NODE, signedStart(image, privateKey, 0x82));
    for (let i = 0; i < count; i++) emu.sendMeshRaw(NODE, 0x10, chunkFrame(image, 0x82, i));
    await emu.advance(100);
    expect(await emu.status(NODE)).toMatchObject({ phase: Phase.VERIFIED });
    expect(radioFrames()).toEqual([]);
    emu.sendVendor(NODE, create(RelayStartSchema, { sessionId: 0x82, targets: [NODE + 1], method: { case: "espnow", value: { channel: 3, payloadSize: 200 } } }));
    await emu.advance(10);
    const relay = radioFrames();
    expect(relay.map((f) => [f.kind, [...f.payload]])).toEqual([[FrameKind.EspNowBegin, [3]]]);
    expect(decodeEspNowBegin(relay[0]!.payload)).toEqual({ channel: 3, peerMac: undefined });
  }, 20_000);

  it("should serve a Wi-Fi node's image stream over frames and resume it where the node asks", async () => {
    emu = await Emulator.start();
    const { privateKey, publicKey } = keyPair();
    await emu.setKey(publicKey);
    await emu.addNode(NODE, { version: "1.0.0", project: "demo", secureVersion: 1, methods: ["mesh", "wifi"] });
    const image = buildAppImage({ chipId: 5, version: "1.1.0", project: "demo", secureVersion: 1, size: 20_000 });
    const start = signedStart(image, privateKey, 0x71);
    start.method = { case: "wifi", value: create(WifiMethodSchema, { url: "http://img.local/fw.bin" }) };
    emu.sendVendor(NODE, start);
    await emu.advance(10);
    const opens = () => emu!.inbox.filter((f) => f.kind === FrameKind.StreamOpen);
    expect(opens()).toHaveLength(1);
    const first = opens()[0]!;
    expect(decodeStreamOpen(first.payload)).toEqual({ offset: 0, url: "http://img.local/fw.bin" });

    // 6000 bytes, then the link breaks: the node closes, waits and asks from its last whole unit.
    emu.streamData(NODE, first.peer, image.subarray(0, 6000));
    emu.streamEnd(NODE, first.peer, "connection reset");
    await emu.advance(10);
    expect(emu.inbox.some((f) => f.kind === FrameKind.StreamClose && f.peer === first.peer)).toBe(true);
    emu.inbox.length = 0;
    await emu.advance(2000);
    expect(opens()).toHaveLength(1);
    const second = opens()[0]!;
    expect(second.peer).not.toBe(first.peer);
    const { offset } = decodeStreamOpen(second.payload);
    expect(offset).toBe(5 * 1024);
    emu.streamData(NODE, second.peer, image.subarray(offset));
    emu.streamEnd(NODE, second.peer);
    await emu.advance(100);
    expect(await emu.status(NODE)).toMatchObject({ phase: Phase.VERIFIED, bytes: image.length });
    expect(await emu.sha256(NODE, "passive", image.length)).toBe(createHash("sha256").update(image).digest("hex"));
  }, 20_000);

  it("should run 500 nodes in one process", async () => {
    emu = await Emulator.start();
    const { publicKey } = keyPair();
    await emu.setKey(publicKey);
    for (let a = 1; a <= 500; a++) await emu.addNode(0x1000 + a, { slotSize: 65_536 });
    expect((await emu.list()).length).toBe(500);
    await emu.advance(1000);
    expect(await emu.status(0x1000 + 500)).toMatchObject({ power: "on", phase: Phase.NONE, version: "1.0.0" });
  }, 60_000);
});

describe.skipIf(!haveBinary)("meshota_emulator lifetime", () => {
  it("should end when the process that started it is killed outright", async () => {
    const { spawn } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const entry = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `import { Emulator } from ${JSON.stringify(entry)};
      const emu = await Emulator.start({ binary: ${JSON.stringify(defaultEmulatorPath())} });
      console.log("PID " + emu.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise<number>((resolve, reject) => {
      let out = "";
      parent.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /PID (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      parent.once("exit", (code) => reject(new Error(`parent exited early with ${code}`)));
    });
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    parent.kill("SIGKILL");
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
  }, 15_000);
});

describe("meshota_emulator start failures", () => {
  const saved = process.env.TMPDIR;
  const made: string[] = [];
  const scratch = async (prefix: string) => {
    const d = await mkdtemp(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
  afterEach(async () => {
    vi.useRealTimers();
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
  });

  // Each start gets its own TMPDIR so that the test can see the node directory go away.
  async function startIn(binary: string): Promise<{ error: Error; tmp: string }> {
    const base = await scratch("meshota-emu-start-");
    const tmp = join(base, "tmp");
    await mkdir(tmp);
    process.env.TMPDIR = tmp;
    const error = await Emulator.start({ binary }).then(
      () => new Error("started"),
      (e: Error) => e,
    );
    return { error, tmp };
  }

  it("should reject a binary that cannot be run with a message, not an unhandled error event", async () => {
    const base = await scratch("meshota-emu-bin-");
    const notExecutable = join(base, "meshota_emulator");
    await writeFile(notExecutable, "not a program\n", { mode: 0o644 });
    const { error, tmp } = await startIn(notExecutable);
    expect(error.message).toBe(`cannot run the emulator ${notExecutable}: EACCES`);
    expect(await readdir(tmp)).toEqual([]);
  });

  it("should reject an emulator that exits before listening at once, leaving no timer and no directory", async () => {
    const base = await scratch("meshota-emu-bin-");
    const exits = join(base, "meshota_emulator");
    await writeFile(exits, "#!/bin/sh\nexit 3\n", { mode: 0o755 });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { error, tmp } = await startIn(exits);
    expect(error.message).toBe("emulator exited with code 3 before listening");
    // The 10 s start timer would otherwise keep the process alive after the failure.
    expect(vi.getTimerCount()).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
  });
});
