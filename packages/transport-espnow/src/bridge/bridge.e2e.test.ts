// End to end: the distributor on this host, through the C bridge dongle built for the host
// (firmware/host/bridge, a pseudo-terminal as its UART and UDP as its air), to receiver models
// listening on that air.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { constants, existsSync, openSync, readdirSync, createReadStream, createWriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { ErrorCode } from "@meshota/proto";
import { afterEach, describe, expect, it } from "vitest";
import { distribute } from "../distributor.js";
import { realTimers, type EspNowLink } from "../link.js";
import { isBroadcast, macToString } from "../mac.js";
import { EspNowReceiver } from "../receiver.js";
import { seededRandom } from "../sim/scheduler.js";
import { simMac, testImage } from "../sim/scenario.js";
import { BridgeClient, duplexByteStream, openSerialBridge, type ByteStream } from "./client.js";

const hostDir = join(dirname(fileURLToPath(import.meta.url)), "../../../../firmware/host");
function findBridge(): string | undefined {
  if (process.env.MESHOTA_BRIDGE_HOST) return process.env.MESHOTA_BRIDGE_HOST;
  if (!existsSync(hostDir)) return undefined;
  // The plain build first (the one the test script makes), then any other build directory.
  for (const d of ["build", ...readdirSync(hostDir).sort()]) {
    const p = join(hostDir, d, "bridge", "meshota_bridge_host");
    if (d.startsWith("build") && existsSync(p)) return p;
  }
  return undefined;
}
const BRIDGE = findBridge();
if (!BRIDGE && process.env.CI) throw new Error("meshota_bridge_host is not built: build firmware/host first (CI must run these tests)");

/** The test's side of the UDP air: receiver stations with per-link loss. */
class UdpAir {
  readonly socket: Socket;
  bridgePort = 0;
  #stations = new Map<string, { link: EspNowLink; deliver: (src: Uint8Array, p: Uint8Array) => void; channel: number }>();
  #random = seededRandom(5);
  /** Datagrams the bridge put on the air, and a hook called with their count. */
  frames = 0;
  onFrame: ((count: number) => void) | undefined;
  constructor(readonly loss: number) {
    this.socket = createSocket("udp4");
    this.socket.on("message", (msg) => {
      this.onFrame?.(++this.frames);
      const ch = msg[0]!;
      const dst = new Uint8Array(msg.subarray(1, 7));
      const src = new Uint8Array(msg.subarray(7, 13));
      const payload = new Uint8Array(msg.subarray(13));
      for (const [key, st] of this.#stations) {
        if (st.channel !== ch || (!isBroadcast(dst) && macToString(dst) !== key)) continue;
        if (this.#random() < this.loss) continue;
        st.deliver(src, payload);
      }
    });
  }
  async bind(): Promise<number> {
    await new Promise<void>((r) => this.socket.bind(0, "127.0.0.1", r));
    return this.socket.address().port;
  }
  station(mac: Uint8Array, channel: number, maxPayload = 250): EspNowLink {
    let listener: ((src: Uint8Array, p: Uint8Array) => void) | undefined;
    const link: EspNowLink = {
      mac,
      maxPayload,
      send: (dst, payload, done) => {
        const d = Buffer.concat([Buffer.of(channel), Buffer.from(dst), Buffer.from(mac), Buffer.from(payload)]);
        this.socket.send(d, this.bridgePort, "127.0.0.1", (e) => done?.(e ? "failed" : "sent"));
        return true;
      },
      onWritable: () => {},
      onReceive: (fn) => {
        listener = fn;
      },
    };
    this.#stations.set(macToString(mac), { link, deliver: (s, p) => listener?.(s, p), channel });
    return link;
  }
}

async function startBridge(peerPort: number, channel: number, espnowVersion = 1): Promise<{ child: ChildProcessWithoutNullStreams; pty: string; air: number }> {
  const child = spawn(BRIDGE!, ["--peer-port", String(peerPort), "--channel", String(channel), "--mac", "02:00:00:00:00:00", "--espnow-version", String(espnowVersion)]);
  const text = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (/air \d+\n/.test(out)) resolve(out);
    });
    child.on("exit", (code) => reject(new Error(`bridge exited with ${code}`)));
  });
  return { child, pty: /pty (\S+)/.exec(text)![1]!, air: Number(/air (\d+)/.exec(text)![1]) };
}

/** Opens the dongle's pty as a raw descriptor; never as this process's controlling terminal. */
function openPty(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_NOCTTY);
}

const children: ChildProcessWithoutNullStreams[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  // The next test starts once this one's dongle is gone, pty and all.
  await Promise.all(
    children.splice(0).map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => (c.once("exit", r), c.kill())))),
  );
  for (const s of sockets.splice(0)) s.close();
});

async function run(open: (pty: string) => Promise<BridgeClient>, espnowVersion = 1) {
  const maxPayload = espnowVersion === 2 ? 1470 : 250;
  const air = new UdpAir(0.1);
  sockets.push(air.socket);
  const port = await air.bind();
  const { child, pty, air: bridgePort } = await startBridge(port, 6, espnowVersion);
  children.push(child);
  air.bridgePort = bridgePort;
  const client = await open(pty);
  expect(client.info.channel).toBe(6);
  expect(client.maxPayload).toBe(maxPayload);
  expect(client.info.espnowVersion).toBe(espnowVersion);
  const image = testImage(12 * 1024, 3);
  const sha = new Uint8Array(createHash("sha256").update(image).digest());
  const receivers = [1, 2, 3].map(
    (i) => new EspNowReceiver(air.station(simMac(i), 6, maxPayload), realTimers, { sessionId: 77, imageSize: image.length, imageSha256: sha, distributorMac: client.mac, maxChunkSize: 1440 }),
  );
  // Receiver 4 listens on channel 1: it never hears the distributor.
  const stray = new EspNowReceiver(air.station(simMac(4), 1), realTimers, { sessionId: 77, imageSize: image.length, imageSha256: sha, distributorMac: client.mac, maxChunkSize: 1440 }, { receiveTimeoutMs: 2000 });
  const result = await distribute(client, realTimers, {
    sessionId: 77,
    image,
    targets: [1, 2, 3, 4].map(simMac),
    reportWindowMs: 300,
    minReportWindowMs: 20,
    silentRounds: 3,
  });
  await client.close();
  expect(result.targets.slice(0, 3).map((t) => t.ok)).toEqual([true, true, true]);
  expect(result.targets[3]).toMatchObject({ ok: false, error: ErrorCode.WRONG_CHANNEL });
  expect(result.chunkSize).toBe(espnowVersion === 2 ? 1440 : 232);
  for (const r of receivers) expect(Buffer.from(r.image()).equals(Buffer.from(image))).toBe(true);
  expect(stray.chunksHeld).toBe(0);
  expect(client.stats.crcErrors).toBe(0);
  expect(client.stats.received).toBeGreaterThanOrEqual(3);
}

describe.skipIf(!BRIDGE)("distribution through the C bridge on a pty", () => {
  it("should work with the port opened by serialport", async () => {
    await run((pty) => openSerialBridge(pty));
  });

  it("should carry ESP-NOW v2 frames of 1470 bytes", async () => {
    await run((pty) => openSerialBridge(pty), 2);
  });

  it("should take a dongle that restarts mid-distribution up again on its channel, and finish", async () => {
    const air = new UdpAir(0);
    sockets.push(air.socket);
    const port = await air.bind();
    // The dongle starts on channel 1; the distribution runs on channel 11.
    const { child, pty, air: bridgePort } = await startBridge(port, 1);
    children.push(child);
    air.bridgePort = bridgePort;
    const client = await openSerialBridge(pty);
    await client.setChannel(11);
    const image = testImage(20 * 1024, 4);
    const sha = new Uint8Array(createHash("sha256").update(image).digest());
    const session = { sessionId: 78, imageSize: image.length, imageSha256: sha, distributorMac: client.mac, maxChunkSize: 232, chunkSize: 232 };
    const receivers = [1, 2].map((i) => new EspNowReceiver(air.station(simMac(i), 11), realTimers, session));
    const channels = new Set<number>();
    air.socket.on("message", (msg) => channels.add(msg[0]!));
    // Reset the dongle (pty left open) after 30 of the 90 chunk frames of round 0.
    air.onFrame = (n) => {
      if (n === 30) child.stdin.write("R");
    };
    const result = await distribute(client, realTimers, { sessionId: 78, image, targets: [1, 2].map(simMac), reportWindowMs: 300, minReportWindowMs: 20 });
    await client.close();
    expect(client.stats.restarts).toBe(1);
    expect(result.targets.map((t) => [t.ok, t.reason])).toEqual([
      [true, ""],
      [true, ""],
    ]);
    expect(result.rounds).toBeGreaterThanOrEqual(1);
    for (const r of receivers) expect(Buffer.from(r.image()).equals(Buffer.from(image))).toBe(true);
    // Nothing went on air on the dongle's start-up channel.
    expect([...channels]).toEqual([11]);
  });

  it("should deliver byte-exact images through a noisy UART (bit flips both ways)", async () => {
    const air = new UdpAir(0);
    sockets.push(air.socket);
    const port = await air.bind();
    const { child, pty, air: bridgePort } = await startBridge(port, 6);
    children.push(child);
    air.bridgePort = bridgePort;
    const fd = openPty(pty);
    const inner = duplexByteStream(Duplex.from({ readable: createReadStream("", { fd, autoClose: false }), writable: createWriteStream("", { fd, autoClose: false }) }));
    const random = seededRandom(17);
    const flips = { toDongle: 0, toHost: 0 };
    const noisy = (data: Uint8Array, rate: number, dir: keyof typeof flips): Uint8Array => {
      const out = Uint8Array.from(data);
      for (let i = 0; i < out.length; i++) {
        if (random() < rate) {
          out[i]! ^= 1 << Math.floor(random() * 8);
          flips[dir]++;
        }
      }
      return out;
    };
    // About one SEND in 4 and one dongle frame in 10 hit.
    const stream: ByteStream = {
      write: (d) => inner.write(noisy(d, 0.001, "toDongle")),
      onData: (l) => inner.onData((d) => l(noisy(d, 0.01, "toHost"))),
      onClose: (l) => inner.onClose(l),
      close: () => inner.close(),
    };
    // A short ACK timeout: the pty answers in about a millisecond, and repeats are harmless.
    const client = await BridgeClient.connect(stream, { ackTimeoutMs: 50 });
    const image = testImage(20 * 1024, 5);
    const sha = new Uint8Array(createHash("sha256").update(image).digest());
    const session = { sessionId: 79, imageSize: image.length, imageSha256: sha, distributorMac: client.mac, maxChunkSize: 232, chunkSize: 232 };
    const receivers = [1, 2].map((i) => new EspNowReceiver(air.station(simMac(i), 6), realTimers, session));
    const result = await distribute(client, realTimers, { sessionId: 79, image, targets: [1, 2].map(simMac), reportWindowMs: 300, minReportWindowMs: 20 });
    await client.close();
    expect(flips.toDongle).toBeGreaterThan(0);
    expect(flips.toHost).toBeGreaterThan(0);
    expect(client.stats.retransmits).toBeGreaterThan(0);
    expect(result.targets.map((t) => [t.ok, t.reason])).toEqual([
      [true, ""],
      [true, ""],
    ]);
    for (const r of receivers) expect(Buffer.from(r.image()).equals(Buffer.from(image))).toBe(true);
  });

  it("should work with the pty opened as a raw file descriptor", async () => {
    await run(async (pty) => {
      const fd = openPty(pty);
      const input = createReadStream("", { fd, autoClose: false });
      const output = createWriteStream("", { fd, autoClose: false });
      const duplex = Duplex.from({ readable: input, writable: output });
      return BridgeClient.connect(duplexByteStream(duplex));
    });
  });
});
