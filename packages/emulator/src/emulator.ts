// Client of the meshota node emulator (firmware/host/emulator): spawns the binary, speaks its
// socket protocol, and offers typed methods for the control commands.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeVendor, encodeVendor, type VendorMessage } from "@meshota/proto";
import { EmulatorFrameReader, FrameKind, MAX_PAYLOAD, encodeEmulatorFrame, type EmulatorFrame } from "./frames.js";

/** Options of {@link Emulator.start}. */
export interface EmulatorOptions {
  /** Path of the meshota_emulator binary. Default: env MESHOTA_EMULATOR, else
   *  firmware/host/build/meshota_emulator in the repository. */
  binary: string;
  /** State directory of the nodes. Default: a new temporary directory, removed on close. */
  dir: string;
  /** Log level of the node cores on the emulator's stderr, 0 (none) to 4 (debug). */
  logLevel: number;
  /** How long to wait for the emulator to listen, in ms. */
  startTimeoutMs: number;
}

/** Identity and capabilities of an emulated node (see the "add" command). */
export interface NodeOptions {
  version: string;
  project: string;
  secureVersion: number;
  chipId: number;
  chipRevision: number;
  slotSize: number;
  maxChunk: number;
  /** Side channels the node supports. */
  methods: Array<"mesh" | "espnow" | "tcp" | "wifi">;
  /**
   * Where the node's TCP and HTTP traffic goes: "client" (default) sends it as frames to this
   * client (TcpOpen ..., StreamOpen ...), in virtual time; "posix" makes the node open real
   * sockets itself (firmware/host/net), in wall-clock time.
   */
  net: "client" | "posix";
}

/**
 * The ESP-NOW radio of every node (the "espnow" command): frames go on air one after another
 * at `rateBps`, and a send is refused with MESHOTA_ERR_WOULD_BLOCK, as esp_now_send refuses it
 * when its queue is full, while what waits would take longer than `queue` frames of that size.
 */
export interface EspNowRadio {
  /** Bits per second on air; 0 (the default) sends every frame at once and never refuses. */
  rateBps: number;
  /** Bytes each frame adds on air (default 40). */
  overheadBytes: number;
  /** Frames queued before a send is refused (default 32). */
  queue: number;
}

/** What "status" reports about a node. */
export interface NodeStatus {
  power: "on" | "off";
  phase: number;
  error: number;
  bytes: number;
  version: string;
  project: string;
  secureVersion: number;
  runningSlot: number;
  bootState: number;
  relayPhase: number;
}

/** Thrown when the emulator answers a command with "error ...". */
export class EmulatorCommandError extends Error {
  override readonly name = "EmulatorCommandError";
  constructor(
    readonly command: string,
    readonly reply: string,
  ) {
    super(`emulator refused "${command}": ${reply}`);
  }
}

function repoRoot(): string {
  // src/ or dist/ of packages/emulator: three levels below the repository root.
  const here = typeof __dirname === "string" ? __dirname : dirname(fileURLToPath(import.meta.url));
  return resolve(here, "..", "..", "..");
}

/** Where the emulator binary is looked for when no path is given. */
export function defaultEmulatorPath(): string {
  return process.env.MESHOTA_EMULATOR ?? join(repoRoot(), "firmware", "host", "build", "meshota_emulator");
}

/** True when the emulator binary exists at {@link defaultEmulatorPath} (or `path`). */
export function emulatorAvailable(path: string = defaultEmulatorPath()): boolean {
  return existsSync(path);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A running emulator process and the connection to it. */
export class Emulator {
  /** Node frames (mesh, ESP-NOW, TCP) received and not yet taken, each with the virtual time
   *  it was sent at (`at`). */
  readonly inbox: EmulatorFrame[] = [];
  /** Event lines ("restarted 0100 phase=6") received so far. */
  readonly events: string[] = [];
  private readonly reader = new EmulatorFrameReader();
  private readonly pending: Array<{ command: string; resolve: (r: string) => void; reject: (e: Error) => void }> = [];
  /** Time of the node frames being received (the last Clock frame). */
  private clock = 0;
  private failure: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly socket: Socket,
    private readonly dir: string,
    private readonly ownsDir: boolean,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(new Uint8Array(chunk)));
    socket.on("close", () => this.fail(new Error("emulator connection closed")));
    socket.on("error", (e) => this.fail(e));
  }

  /** Process id of the emulator. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Spawns the emulator and connects to it. */
  static async start(options: Partial<EmulatorOptions> = {}): Promise<Emulator> {
    const binary = options.binary ?? defaultEmulatorPath();
    if (!existsSync(binary)) {
      throw new Error(`meshota_emulator not found at ${binary}; build firmware/host or set MESHOTA_EMULATOR`);
    }
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), "meshota-emu-"));
    // --exit-with-parent: the emulator ends with this process even when it is killed outright.
    const args = ["--dir", dir, "--port", "0", "--log", String(options.logLevel ?? 0), "--exit-with-parent"];
    const child = spawn(binary, args, {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let port: number;
    try {
      port = await new Promise<number>((ok, fail) => {
        let out = "";
        const stop = (error: Error) => {
          clearTimeout(timer);
          fail(error);
        };
        const timer = setTimeout(() => stop(new Error("emulator did not start listening in time")), options.startTimeoutMs ?? 10_000);
        // A path that cannot be run (not executable, a directory) fails the spawn itself.
        child.once("error", (e: NodeJS.ErrnoException) => stop(new Error(`cannot run the emulator ${binary}: ${e.code ?? e.message}`)));
        child.once("exit", (code) => stop(new Error(`emulator exited with code ${code} before listening`)));
        child.stdout?.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /LISTENING (\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            ok(Number(m[1]));
          }
        });
      });
    } catch (error) {
      if (child.exitCode === null && child.pid !== undefined) child.kill("SIGTERM");
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const socket = await new Promise<Socket>((ok, fail) => {
      const s = connect({ host: "127.0.0.1", port }, () => ok(s));
      s.once("error", fail);
    });
    socket.setNoDelay(true);
    return new Emulator(child, socket, dir, ownsDir);
  }

  private onData(chunk: Uint8Array): void {
    let frames: EmulatorFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const f of frames) {
      if (f.kind === FrameKind.Reply) {
        const p = this.pending.shift();
        const text = new TextDecoder().decode(f.payload);
        if (!p) continue;
        if (text.startsWith("ok")) p.resolve(text.slice(2).trim());
        else p.reject(new EmulatorCommandError(p.command, text));
      } else if (f.kind === FrameKind.Event) {
        this.events.push(new TextDecoder().decode(f.payload));
      } else if (f.kind === FrameKind.Clock) {
        if (f.payload.length === 8) this.clock = Number(new DataView(f.payload.buffer, f.payload.byteOffset).getBigUint64(0, true));
      } else {
        f.at = this.clock;
        this.inbox.push(f);
      }
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.splice(0)) p.reject(e);
  }

  /** Sends a raw frame. */
  send(frame: EmulatorFrame): void {
    if (this.failure) throw this.failure;
    this.socket.write(encodeEmulatorFrame(frame));
  }

  /** Runs a text command; resolves with the text after "ok". Frames the nodes sent before
   *  the reply are in {@link inbox} when it resolves. */
  command(text: string): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((ok, fail) => {
      this.pending.push({ command: text, resolve: ok, reject: fail });
      this.send({ node: 0, kind: FrameKind.Command, peer: 0, payload: new TextEncoder().encode(text) });
    });
  }

  /** Sets the manifest verification key (65-byte uncompressed P-256 point) of new nodes and,
   *  with `node`, of that node only ("*" by default: all existing nodes too). */
  setKey(publicKey: Uint8Array, node: number | "*" = "*"): Promise<string> {
    if (publicKey.length !== 65 || publicKey[0] !== 0x04) {
      throw new RangeError("public key must be 65 bytes, 0x04 || X || Y");
    }
    const who = node === "*" ? "*" : node.toString(16);
    return this.command(`key ${who} ${hex(publicKey)}`);
  }

  /** Adds a node with its own state directory and a factory image of the given identity. */
  async addNode(address: number, options: Partial<NodeOptions> = {}): Promise<void> {
    const args = [`add ${address.toString(16)}`];
    if (options.version !== undefined) args.push(`version=${options.version}`);
    if (options.project !== undefined) args.push(`project=${options.project}`);
    if (options.secureVersion !== undefined) args.push(`secure=${options.secureVersion}`);
    if (options.chipId !== undefined) args.push(`chip=${options.chipId}`);
    if (options.chipRevision !== undefined) args.push(`rev=${options.chipRevision}`);
    if (options.slotSize !== undefined) args.push(`slot=${options.slotSize}`);
    if (options.maxChunk !== undefined) args.push(`maxchunk=${options.maxChunk}`);
    if (options.methods !== undefined) args.push(`methods=${options.methods.join(",")}`);
    if (options.net !== undefined) args.push(`net=${options.net}`);
    await this.command(args.join(" "));
  }

  /** Sets the ESP-NOW radio of every node (options not given keep their value); returns the
   *  whole setting. */
  async setEspNowRadio(radio: Partial<EspNowRadio>): Promise<EspNowRadio> {
    const args = ["espnow"];
    if (radio.rateBps !== undefined) args.push(`rate=${Math.round(radio.rateBps)}`);
    if (radio.overheadBytes !== undefined) args.push(`overhead=${Math.round(radio.overheadBytes)}`);
    if (radio.queue !== undefined) args.push(`queue=${Math.round(radio.queue)}`);
    const kv = new Map((await this.command(args.join(" "))).split(" ").map((p) => p.split("=") as [string, string]));
    return { rateBps: Number(kv.get("rate")), overheadBytes: Number(kv.get("overhead")), queue: Number(kv.get("queue")) };
  }

  /** Advances every node's virtual clock by `ms`, polling them every 10 ms of virtual time. */
  async advance(ms: number): Promise<number> {
    return Number(await this.command(`advance ${Math.round(ms)}`));
  }

  /** Moves one node's clock ahead of the others by `ms` (polled once); returns its clock. */
  async skew(address: number, ms: number): Promise<number> {
    return Number(await this.command(`skew ${address.toString(16)} ${Math.round(ms)}`));
  }

  /** Cuts a node's power now (RAM lost), or after `after` more flash/store writes. */
  async powerCut(address: number, after?: number): Promise<void> {
    await this.command(`powercut ${address.toString(16)}${after === undefined ? "" : ` after=${after}`}`);
  }

  /** Powers a node on again (simulated bootloader, then the core resumes its session). */
  async restart(address: number): Promise<NodeStatus> {
    return parseStatus(await this.command(`restart ${address.toString(16)}`));
  }

  /** The node's phase, error, progress and running firmware. */
  async status(address: number): Promise<NodeStatus> {
    return parseStatus(await this.command(`status ${address.toString(16)}`));
  }

  /** Addresses of every node. */
  async list(): Promise<number[]> {
    const r = await this.command("list");
    return r === "" ? [] : r.split(" ").map((a) => Number.parseInt(a, 16));
  }

  /** SHA-256 (hex) of the first `length` bytes of the node's running or passive slot. */
  sha256(address: number, slot: "running" | "passive", length: number): Promise<string> {
    return this.command(`sha ${address.toString(16)} ${slot} ${length}`);
  }

  /** Sends a vendor message from mesh address `from` to the node. */
  sendVendor(node: number, message: VendorMessage, from = 0x0001): void {
    const { opcode, params } = encodeVendor(message);
    this.sendMeshRaw(node, opcode, params, from);
  }

  /** Sends a raw vendor opcode and parameters (also DataFrames, opcode 0x10). */
  sendMeshRaw(node: number, opcode: number, params: Uint8Array, from = 0x0001): void {
    const payload = new Uint8Array(1 + params.length);
    payload[0] = opcode;
    payload.set(params, 1);
    this.send({ node, kind: FrameKind.Mesh, peer: from, payload });
  }

  /** Sends a DataFrame to the node over ESP-NOW from the node or distributor at `from`. */
  sendEspNow(node: number, frame: Uint8Array, from: number): void {
    this.send({ node, kind: FrameKind.EspNow, peer: from, payload: frame });
  }

  /** Tells the node that the TCP connection it asked for (a TcpOpen frame) is up. */
  tcpConnected(node: number): void {
    this.send({ node, kind: FrameKind.TcpConnected, peer: 0, payload: new Uint8Array(0) });
  }

  /** Delivers bytes of the node's TCP connection (stream-framed DataFrames, any split). */
  tcpSend(node: number, bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += 4096) {
      this.send({ node, kind: FrameKind.TcpData, peer: 0, payload: bytes.subarray(at, at + 4096) });
    }
  }

  /** Closes the node's TCP connection from the server side. */
  tcpClose(node: number): void {
    this.send({ node, kind: FrameKind.TcpClose, peer: 0, payload: new Uint8Array(0) });
  }

  /** Delivers image bytes of the node's stream number `stream` (the peer of its StreamOpen),
   *  in order from the offset it asked for; bytes of an earlier stream are dropped by the node. */
  streamData(node: number, stream: number, bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += MAX_PAYLOAD) {
      this.send({ node, kind: FrameKind.StreamData, peer: stream, payload: bytes.subarray(at, at + MAX_PAYLOAD) });
    }
  }

  /** Ends the node's stream: at the image's end, or with `error` (the node's read fails). */
  streamEnd(node: number, stream: number, error?: string): void {
    const payload = error === undefined ? new Uint8Array(0) : new TextEncoder().encode(error || "error").subarray(0, MAX_PAYLOAD);
    this.send({ node, kind: FrameKind.StreamEnd, peer: stream, payload });
  }

  /** Takes the vendor messages the node sent on the mesh so far, decoded. */
  takeVendor(node: number): VendorMessage[] {
    const out: VendorMessage[] = [];
    for (let i = 0; i < this.inbox.length; ) {
      const f = this.inbox[i]!;
      if (f.node === node && f.kind === FrameKind.Mesh && f.payload[0] !== 0x10) {
        out.push(decodeVendor({ opcode: f.payload[0]!, params: f.payload.slice(1) }));
        this.inbox.splice(i, 1);
      } else {
        i++;
      }
    }
    return out;
  }

  /** Stops the emulator and removes its temporary state directory. */
  async close(): Promise<void> {
    this.failure ??= new Error("emulator closed");
    this.socket.destroy();
    if (this.child.exitCode === null) {
      const exited = new Promise<void>((ok) => this.child.once("exit", () => ok()));
      this.child.kill("SIGTERM");
      await exited;
    }
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function parseStatus(text: string): NodeStatus {
  const kv = new Map(text.split(" ").map((p) => p.split("=") as [string, string]));
  const num = (k: string): number => Number(kv.get(k) ?? "0");
  return {
    power: kv.get("power") === "on" ? "on" : "off",
    phase: num("phase"),
    error: num("error"),
    bytes: num("bytes"),
    version: kv.get("version") ?? "",
    project: kv.get("project") ?? "",
    secureVersion: num("secure"),
    runningSlot: num("slot"),
    bootState: num("boot"),
    relayPhase: num("relay"),
  };
}
