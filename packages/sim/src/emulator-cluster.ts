// The node cluster backed by the node emulator (firmware/host/emulator): every node runs the
// real meshota_core C code, with its own flash, store and bootloader, on the emulator's
// shared virtual clock.
import { Emulator, FrameKind, decodeEspNowBegin, decodeStreamOpen, type EmulatorFrame, type EmulatorOptions } from "@meshota/emulator";
import { Method } from "@meshota/proto";
import type { NodeCluster, NodeEvent, NodeInput, NodeSpec, NodeStatus } from "./node.js";

/** Largest payload of one emulator frame. */
const FRAME_MAX = 4096;
const BROADCAST = 0xffff;

const METHOD_NAMES = new Map<number, "mesh" | "espnow" | "tcp" | "wifi">([
  [Method.MESH, "mesh"],
  [Method.ESPNOW, "espnow"],
  [Method.TCP, "tcp"],
  [Method.WIFI, "wifi"],
]);

/** A cluster of emulated nodes. */
export class EmulatorCluster implements NodeCluster {
  #now = 0;
  readonly #emu: Emulator;

  private constructor(emu: Emulator) {
    this.#emu = emu;
  }

  /** Starts the emulator process (see @meshota/emulator for where the binary is looked for). */
  static async start(options: Partial<EmulatorOptions> = {}): Promise<EmulatorCluster> {
    return new EmulatorCluster(await Emulator.start(options));
  }

  get now(): number {
    return this.#now;
  }

  async setKey(publicKey: Uint8Array): Promise<void> {
    await this.#emu.setKey(publicKey);
  }

  async espnowRadio(radio: { rateBps: number; overheadBytes: number; txQueue: number }): Promise<void> {
    await this.#emu.setEspNowRadio({ rateBps: radio.rateBps, overheadBytes: radio.overheadBytes, queue: radio.txQueue });
  }

  async add(spec: NodeSpec): Promise<void> {
    const methods: ("mesh" | "espnow" | "tcp" | "wifi")[] = [];
    for (const m of spec.methods) {
      const name = METHOD_NAMES.get(m);
      if (!name) throw new RangeError(`the node emulator does not offer method ${Method[m] ?? m}`);
      methods.push(name);
    }
    await this.#emu.addNode(spec.address, {
      version: spec.version,
      project: spec.projectName,
      secureVersion: spec.secureVersion,
      chipId: spec.chipId,
      chipRevision: spec.chipRevision,
      slotSize: spec.slotSize,
      maxChunk: spec.maxChunkSize,
      methods,
      net: spec.hostNetwork ? "posix" : "client",
    });
  }

  /** The emulator's MACs are 02:00:00:00:hi:lo of the mesh address. */
  mac(address: number): Uint8Array {
    return new Uint8Array([0x02, 0, 0, 0, (address >> 8) & 0xff, address & 0xff]);
  }

  input(address: number, input: NodeInput): void {
    const send = (kind: EmulatorFrame["kind"], peer: number, payload: Uint8Array) => this.#emu.send({ node: address, kind, peer, payload });
    switch (input.kind) {
      case "mesh": {
        const payload = new Uint8Array(1 + input.params.length);
        payload[0] = input.opcode;
        payload.set(input.params, 1);
        send(FrameKind.Mesh, input.from, payload);
        return;
      }
      case "espnow":
        send(FrameKind.EspNow, input.from, input.frame);
        return;
      case "net-connected":
        send(FrameKind.TcpConnected, 0, new Uint8Array(0));
        return;
      case "net-data":
        for (let at = 0; at < input.data.length; at += FRAME_MAX) send(FrameKind.TcpData, 0, input.data.subarray(at, at + FRAME_MAX));
        return;
      case "net-closed":
        send(FrameKind.TcpClose, 0, new Uint8Array(0));
        return;
      case "stream-data":
        this.#emu.streamData(address, input.stream, input.data);
        return;
      case "stream-end":
        this.#emu.streamEnd(address, input.stream, input.error);
        return;
    }
  }

  async advance(to: number): Promise<readonly NodeEvent[]> {
    const step = Math.max(0, Math.round(to) - this.#now);
    // The reply to "advance" comes after every frame the nodes sent before it.
    this.#now = await this.#emu.advance(step);
    const events: NodeEvent[] = [];
    for (const f of this.#emu.inbox.splice(0)) {
      const e = this.#convert(f);
      if (e) events.push(f.at === undefined ? e : { ...e, at: f.at });
    }
    for (const line of this.#emu.events.splice(0)) {
      const m = /^restarted ([0-9a-f]{4})/.exec(line);
      if (m) events.push({ node: Number.parseInt(m[1]!, 16), output: { kind: "restarted" } });
    }
    return events;
  }

  #convert(f: EmulatorFrame): NodeEvent | undefined {
    const node = f.node;
    switch (f.kind) {
      case FrameKind.Mesh:
        if (f.payload.length < 1) return undefined;
        return { node, output: { kind: "mesh-send", to: f.peer, opcode: f.payload[0]!, params: f.payload.slice(1) } };
      case FrameKind.EspNow:
        return { node, output: { kind: "espnow-send", to: f.peer === BROADCAST ? "broadcast" : f.peer, frame: f.payload } };
      case FrameKind.EspNowBegin: {
        const { channel, peerMac } = decodeEspNowBegin(f.payload);
        return { node, output: peerMac ? { kind: "espnow-begin", channel, peerMac } : { kind: "espnow-begin", channel } };
      }
      case FrameKind.EspNowEnd:
        return { node, output: { kind: "espnow-end" } };
      case FrameKind.TcpOpen: {
        const text = new TextDecoder().decode(f.payload);
        const colon = text.lastIndexOf(":");
        return { node, output: { kind: "net-open", host: text.slice(0, colon), port: Number(text.slice(colon + 1)) } };
      }
      case FrameKind.TcpData:
        return { node, output: { kind: "net-send", data: f.payload } };
      case FrameKind.TcpClose:
        return { node, output: { kind: "net-close" } };
      case FrameKind.StreamOpen:
        return { node, output: { kind: "stream-open", stream: f.peer, ...decodeStreamOpen(f.payload) } };
      case FrameKind.StreamClose:
        return { node, output: { kind: "stream-close", stream: f.peer } };
      default:
        return undefined;
    }
  }

  async status(addresses: readonly number[]): Promise<Map<number, NodeStatus>> {
    const all = await Promise.all(addresses.map((a) => this.#emu.status(a)));
    return new Map(
      all.map((s, i) => [
        addresses[i]!,
        { power: s.power === "on", phase: s.phase, error: s.error, bytesDone: s.bytes, version: s.version, relayPhase: s.relayPhase },
      ]),
    );
  }

  async power(address: number, on: boolean): Promise<void> {
    if (on) await this.#emu.restart(address);
    else await this.#emu.powerCut(address);
  }

  async close(): Promise<void> {
    await this.#emu.close();
  }
}
