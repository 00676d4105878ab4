// A whole simulated network: the scheduler, the three media, a cluster of nodes and the
// controller's ControlTransport, so that the real distributor runs against the nodes in
// virtual time.
//
// The nodes share the cluster's clock. The simulation moves it forward in ticks (short while
// anything happens, long when all is quiet); a node's port calls are collected at the end of
// each tick and put on the media then, so a node's reaction time is at most one tick.
import { TransportError, type ControlTransport, type IncomingMessage, type MeshAddress, type SendOptions, type TransportInfo } from "@meshota/core";
import type { VendorFrame } from "@meshota/proto";
import { EspNowMedium, type EspNowOptions } from "./espnow.js";
import { IpMedium, type ClientConnection, type IpOptions } from "./ip.js";
import { MESH_ACCESS_MAX, MESH_VENDOR_OPCODE_SIZE, MeshMedium, type MeshOptions } from "./mesh.js";
import type { NodeCluster, NodeEvent, NodeSpec, NodeStatus } from "./node.js";
import { SimRandom } from "./random.js";
import { Scheduler } from "./scheduler.js";

/** Options of a simulation. */
export interface SimulationOptions {
  seed: number;
  mesh: Partial<MeshOptions>;
  ip: Partial<IpOptions>;
  espnow: Partial<EspNowOptions>;
  /** Tick while anything happens, ms (default 40). */
  tickMs: number;
  /** Tick when nothing happened for a while, ms (default 500). */
  idleTickMs: number;
  /** Sampling interval of node status for the timeline, ms (default 500). */
  statusMs: number;
  /**
   * Wi-Fi channel of the ESP-NOW side channel (default 6): `Scenario`'s campaigns send it to
   * relays and receivers. A node listens on the channel its core asks for, from its
   * `espnow-begin` to its `espnow-end`, and hears no ESP-NOW outside that.
   */
  espnowChannel: number;
  /** Mesh address of the controller's gateway station (default 0x0001). */
  controllerAddress: number;
  /** Keep the scheduler's event log (default false). */
  log: boolean;
}

export const SIMULATION_DEFAULTS: Readonly<SimulationOptions> = Object.freeze({
  seed: 1,
  mesh: {},
  ip: {},
  espnow: {},
  tickMs: 40,
  idleTickMs: 500,
  statusMs: 500,
  espnowChannel: 6,
  controllerAddress: 0x0001,
  log: false,
});

/** One change of a node's state, for the timeline. */
export interface PhaseChange {
  readonly at: number;
  readonly phase: number;
  readonly error: number;
  readonly bytesDone: number;
  readonly version: string;
  readonly relayPhase: number;
}

/** Phases in which a node is active. */
const BUSY_PHASES = new Set([1, 2, 3, 5]);
/** Time after the last activity during which ticks stay short. */
const BUSY_HOLD_MS = 3000;

interface NodeEntry {
  readonly address: number;
  readonly history: PhaseChange[];
  last: NodeStatus | undefined;
  net: ClientConnection | undefined;
  /** The node's HTTP image download (Wi-Fi method) and its stream number. */
  stream: { readonly id: number; readonly conn: ClientConnection } | undefined;
}

/** A node that restarted or lost power has no TCP connection and no image download. */
function dropConnections(e: NodeEntry): void {
  e.net?.close();
  e.net = undefined;
  e.stream?.conn.close();
  e.stream = undefined;
}

/** The controller's side of the simulated mesh, as the distributor sees it. */
class SimControlTransport implements ControlTransport {
  readonly info: TransportInfo = { name: "sim-mesh", mtu: MESH_ACCESS_MAX - MESH_VENDOR_OPCODE_SIZE, reliable: true, groups: true };
  readonly #subscribers = new Set<(m: IncomingMessage | undefined) => void>();
  #closed = false;

  constructor(
    readonly mesh: MeshMedium,
    readonly address: number,
  ) {}

  deliver(message: IncomingMessage): void {
    for (const s of this.#subscribers) s(message);
  }

  async send(dst: MeshAddress, frame: VendorFrame, options?: SendOptions): Promise<void> {
    if (this.#closed) throw new TransportError("closed", "the simulated transport is closed");
    if (options?.signal?.aborted) throw new TransportError("aborted", "send aborted");
    await this.mesh.send(this.address, dst, frame);
  }

  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    const queue: IncomingMessage[] = [];
    let wake: (() => void) | undefined;
    // undefined wakes the reader to see that the transport closed.
    const push = (m: IncomingMessage | undefined) => {
      if (m) {
        if (queue.length >= 1024) queue.shift();
        queue.push(m);
      }
      wake?.();
    };
    this.#subscribers.add(push);
    const subscribers = this.#subscribers;
    const closed = () => this.#closed;
    signal?.addEventListener("abort", () => wake?.(), { once: true });
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            const next = queue.shift();
            if (next) {
              yield next;
              continue;
            }
            if (closed() || signal?.aborted) return;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          subscribers.delete(push);
        }
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#subscribers) s(undefined);
  }
}

/** A simulated network of meshota nodes. */
export class Simulation {
  readonly options: Readonly<SimulationOptions>;
  readonly scheduler: Scheduler;
  readonly random: SimRandom;
  readonly mesh: MeshMedium;
  readonly ip: IpMedium;
  readonly espnow: EspNowMedium;
  readonly cluster: NodeCluster;
  /** The controller's ControlTransport: give it to a Campaign. */
  readonly transport: ControlTransport;
  /**
   * Session ids drawn from the seed: give it to a Campaign (`sessionIds`) so that the ids,
   * and with them message sizes and the whole run, repeat for the seed.
   */
  readonly sessionIds: () => number;
  readonly #transport: SimControlTransport;
  readonly #nodes = new Map<number, NodeEntry>();
  readonly #byMac = new Map<string, number>();
  #busyUntil = 0;
  #radioSet = false;
  #started = false;
  #stopped = false;
  /** Failures of the node cluster (an emulator that died), as they happened. */
  readonly faults: unknown[] = [];

  constructor(cluster: NodeCluster, options: Partial<SimulationOptions> = {}) {
    this.options = Object.freeze({ ...SIMULATION_DEFAULTS, ...options });
    this.cluster = cluster;
    this.scheduler = new Scheduler({ log: this.options.log });
    this.random = new SimRandom(this.options.seed);
    this.mesh = new MeshMedium(this.scheduler, this.random.fork("mesh"), this.options.mesh);
    this.ip = new IpMedium(this.scheduler, this.random.fork("ip"), this.options.ip);
    this.espnow = new EspNowMedium(this.scheduler, this.random.fork("espnow"), this.options.espnow);
    const sessions = this.random.fork("sessions");
    // 0 means "any session" to the nodes, so it is never drawn.
    this.sessionIds = () => sessions.int(1, 0xffffffff);
    this.#transport = new SimControlTransport(this.mesh, this.options.controllerAddress);
    this.transport = this.#transport;
    // The gateway's mesh configuration (firmware/examples/gateway/sdkconfig.defaults): 4
    // segmented messages in flight and 128 advertising buffers to hold their segments.
    this.mesh.addStation(this.options.controllerAddress, (d) => this.#transport.deliver({ src: d.src, dst: d.dst, frame: d.frame }), {
      relay: true,
      advBuffers: 128,
      sarRxContexts: 4,
      sarTxContexts: 4,
    });
  }

  /**
   * Adds a node to the cluster, the mesh (at its address) and ESP-NOW (at its MAC, off until
   * the node begins ESP-NOW).
   */
  async addNode(spec: NodeSpec, options: { relay?: boolean } = {}): Promise<void> {
    if (this.#nodes.has(spec.address)) throw new RangeError(`node 0x${spec.address.toString(16)} exists`);
    if (!this.#radioSet) {
      // The nodes' radios refuse what the medium's queue would refuse, so that they hold a
      // frame back instead of losing it.
      const { rateBps, overheadBytes, txQueue } = this.espnow.options;
      await this.cluster.espnowRadio?.({ rateBps, overheadBytes, txQueue });
      this.#radioSet = true;
    }
    await this.cluster.add(spec);
    const address = spec.address;
    const entry: NodeEntry = { address, history: [], last: undefined, net: undefined, stream: undefined };
    this.#nodes.set(address, entry);
    this.mesh.addStation(address, (d) => this.#input(address, { kind: "mesh", from: d.src, opcode: d.frame.opcode, params: d.frame.params }), {
      relay: options.relay ?? true,
    });
    const mac = this.cluster.mac(address);
    this.#byMac.set(mac.join(","), address);
    this.espnow.addStation(mac, (from, frame) => {
      const peer = this.#byMac.get(from.join(","));
      if (peer !== undefined) this.#input(address, { kind: "espnow", from: peer, frame });
    });
  }

  /** Links two stations (nodes or the controller) on the mesh and, for nodes, on ESP-NOW. */
  link(a: number, b: number, loss?: number): void {
    this.mesh.link(a, b, loss);
    if (this.#nodes.has(a) && this.#nodes.has(b)) this.espnow.link(this.cluster.mac(a), this.cluster.mac(b));
  }

  /** Node addresses in the order they were added. */
  get addresses(): number[] {
    return [...this.#nodes.keys()];
  }

  /** A node's sampled state history. */
  history(address: number): readonly PhaseChange[] {
    return this.#nodes.get(address)?.history ?? [];
  }

  /** Samples every node's status now and records changes. */
  async sample(): Promise<Map<number, NodeStatus>> {
    const statuses = await this.cluster.status(this.addresses);
    const at = this.scheduler.now();
    for (const [address, s] of statuses) {
      const e = this.#nodes.get(address);
      if (!e) continue;
      const l = e.last;
      if (!l || l.phase !== s.phase || l.error !== s.error || l.version !== s.version || l.relayPhase !== s.relayPhase) {
        e.history.push({ at, phase: s.phase, error: s.error, bytesDone: s.bytesDone, version: s.version, relayPhase: s.relayPhase });
      }
      e.last = s;
      if (BUSY_PHASES.has(s.phase) || s.relayPhase === 1) this.#busyUntil = Math.max(this.#busyUntil, at + BUSY_HOLD_MS);
    }
    return statuses;
  }

  /** The last sampled status of each node. */
  lastStatus(address: number): NodeStatus | undefined {
    return this.#nodes.get(address)?.last;
  }

  /** Cuts a node's power, or powers it on again (it boots and resumes its session). */
  async power(address: number, on: boolean): Promise<void> {
    await this.#advanceCluster();
    if (!on) {
      const e = this.#nodes.get(address);
      // The radio goes with the power, at once (the cluster reports it by the next tick).
      if (e) {
        this.espnow.tune(this.cluster.mac(address), 0);
        dropConnections(e);
      }
    }
    await this.cluster.power(address, on);
    this.#busyUntil = this.scheduler.now() + BUSY_HOLD_MS;
  }

  /** Runs the simulation until `promise` settles (the campaign) and returns its value. */
  async run<T>(promise: Promise<T>, limitMs?: number): Promise<T> {
    this.#start();
    try {
      return await this.scheduler.runUntilSettled(promise, limitMs);
    } finally {
      await this.#advanceCluster();
      await this.sample();
    }
  }

  /** Stops ticking; the cluster stays open (close it yourself). */
  stop(): void {
    this.#stopped = true;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const tick = async () => {
      if (this.#stopped) return;
      await this.#advanceCluster();
      const now = this.scheduler.now();
      const busy = now < this.#busyUntil;
      this.scheduler.after(busy ? this.options.tickMs : this.options.idleTickMs, "tick", tick);
    };
    const sample = async () => {
      if (this.#stopped) return;
      await this.sample();
      this.scheduler.after(this.options.statusMs, "sample", sample);
    };
    this.scheduler.after(0, "tick", tick);
    this.scheduler.after(0, "sample", sample);
  }

  #input(address: number, input: Parameters<NodeCluster["input"]>[1]): void {
    this.#busyUntil = Math.max(this.#busyUntil, this.scheduler.now() + BUSY_HOLD_MS);
    try {
      this.cluster.input(address, input);
    } catch (error) {
      this.faults.push(error);
    }
  }

  async #advanceCluster(): Promise<void> {
    let events: readonly NodeEvent[];
    try {
      events = await this.cluster.advance(this.scheduler.now());
    } catch (error) {
      this.faults.push(error);
      this.#stopped = true;
      return;
    }
    if (events.length > 0) this.#busyUntil = Math.max(this.#busyUntil, this.scheduler.now() + BUSY_HOLD_MS);
    for (const ev of events) this.#route(ev);
  }

  #route({ node, output: o, at }: NodeEvent): void {
    const e = this.#nodes.get(node);
    if (!e) return;
    switch (o.kind) {
      case "mesh-send":
        this.mesh.send(node, o.to, { opcode: o.opcode, params: o.params }).catch(() => undefined);
        return;
      case "espnow-send":
        // Sent when the node sent it (up to a tick ago), so that the medium's queue holds what
        // the node's radio held.
        this.espnow.send(this.cluster.mac(node), o.to === "broadcast" ? new Uint8Array(6).fill(0xff) : this.cluster.mac(o.to), o.frame, at);
        return;
      case "espnow-begin":
        // Only the channel: the peer the core names joins the peer list, but a radio hears every
        // sender on its channel (the core itself drops frames of other distributors).
        this.espnow.tune(this.cluster.mac(node), o.channel);
        return;
      case "espnow-end":
        this.espnow.tune(this.cluster.mac(node), 0);
        return;
      case "net-open":
        e.net?.close();
        e.net = this.ip.connect(o.host, o.port, true, {
          connected: () => this.#input(node, { kind: "net-connected" }),
          data: (bytes) => this.#input(node, { kind: "net-data", data: bytes }),
          closed: () => {
            e.net = undefined;
            this.#input(node, { kind: "net-closed" });
          },
        });
        return;
      case "net-send":
        e.net?.send(o.data);
        return;
      case "net-close":
        e.net?.close();
        e.net = undefined;
        return;
      case "stream-open": {
        // An HTTP GET with a Range from the offset, after joining the Wi-Fi, at the medium's
        // rate; an unknown URL or an offset past the image fails the node's read.
        e.stream?.conn.close();
        const stream = o.stream;
        const conn = this.ip.download(o.url, o.offset, true, {
          connected: () => undefined,
          data: (bytes, end) => {
            if (bytes.length > 0) this.#input(node, { kind: "stream-data", stream, data: bytes });
            if (end) this.#input(node, { kind: "stream-end", stream });
          },
          closed: (ok) => {
            // The URL stays out of the text: the emulator logs it, and a URL may carry a token.
            if (!ok) this.#input(node, { kind: "stream-end", stream, error: `GET from byte ${o.offset} failed` });
          },
        });
        e.stream = { id: stream, conn };
        return;
      }
      case "stream-close":
        if (e.stream?.id === o.stream) {
          e.stream.conn.close();
          e.stream = undefined;
        }
        return;
      case "restarted":
        dropConnections(e);
        return;
    }
  }
}
