// A whole simulated network: the scheduler, the three media, the nodes and the controller's
// ControlTransport, so that the real distributor runs against nodes in virtual time.
import { TransportError, type ControlTransport, type IncomingMessage, type MeshAddress, type SendOptions, type TransportInfo } from "@meshota/core";
import type { VendorFrame } from "@meshota/proto";
import { EspNowMedium, type EspNowOptions } from "./espnow.js";
import { IpMedium, type ClientConnection, type IpOptions } from "./ip.js";
import { MESH_ACCESS_MAX, MESH_VENDOR_OPCODE_SIZE, MeshMedium, type MeshOptions } from "./mesh.js";
import type { NodeOutput, NodeStatus, SimNode } from "./node.js";
import { SimRandom } from "./random.js";
import { Scheduler } from "./scheduler.js";

/** Options of a simulation. */
export interface SimulationOptions {
  seed: number;
  mesh: Partial<MeshOptions>;
  ip: Partial<IpOptions>;
  espnow: Partial<EspNowOptions>;
  /** Poll interval of nodes in a session, ms (default 50). */
  pollMs: number;
  /** Poll interval of idle nodes, ms (default 1000). */
  idlePollMs: number;
  /** Time a node takes to restart, ms (default 1500). */
  rebootMs: number;
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
  pollMs: 50,
  idlePollMs: 1000,
  rebootMs: 1500,
  controllerAddress: 0x0001,
  log: false,
});

/** One change of a node's phase, for the timeline. */
export interface PhaseChange {
  readonly at: number;
  readonly phase: number;
  readonly error: number;
  readonly bytesDone: number;
  readonly version: string;
}

/** Phases in which a node is polled at the fast rate. */
const BUSY_PHASES = new Set([1, 2, 3, 5]);

interface NodeEntry {
  readonly node: SimNode;
  readonly history: PhaseChange[];
  online: boolean;
  rebooting: boolean;
  net: ClientConnection | undefined;
  stream: ClientConnection | undefined;
  /** Fast polling: the node is in a session or serves as a relay. */
  busyUntil: number;
  queue: Promise<void>;
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
    const self = this;
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
            if (self.#closed || signal?.aborted) return;
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
  /** The controller's ControlTransport: give it to a Campaign. */
  readonly transport: ControlTransport;
  readonly #transport: SimControlTransport;
  readonly #nodes = new Map<number, NodeEntry>();
  /** Node calls that threw (an emulator failure), with the node address. */
  readonly faults: { address: number; error: unknown }[] = [];

  constructor(options: Partial<SimulationOptions> = {}) {
    this.options = Object.freeze({ ...SIMULATION_DEFAULTS, ...options });
    this.scheduler = new Scheduler({ log: this.options.log });
    this.random = new SimRandom(this.options.seed);
    this.mesh = new MeshMedium(this.scheduler, this.random.fork("mesh"), this.options.mesh);
    this.ip = new IpMedium(this.scheduler, this.random.fork("ip"), this.options.ip);
    this.espnow = new EspNowMedium(this.scheduler, this.random.fork("espnow"), this.options.espnow);
    this.#transport = new SimControlTransport(this.mesh, this.options.controllerAddress);
    this.transport = this.#transport;
    this.mesh.addStation(
      this.options.controllerAddress,
      (d) => this.#transport.deliver({ src: d.src, dst: d.dst, frame: d.frame }),
      { relay: true, sarRxContexts: 4, sarTxContexts: 4 },
    );
  }

  /** Adds a node: a mesh station at its address and an ESP-NOW station at its MAC. */
  addNode(node: SimNode, options: { relay?: boolean } = {}): void {
    if (this.#nodes.has(node.address)) throw new RangeError(`node 0x${node.address.toString(16)} exists`);
    const entry: NodeEntry = {
      node,
      history: [],
      online: true,
      rebooting: false,
      net: undefined,
      stream: undefined,
      busyUntil: 0,
      queue: Promise.resolve(),
    };
    this.#nodes.set(node.address, entry);
    this.mesh.addStation(node.address, (d) => this.#call(entry, "mesh.rx", (t) => node.control(t, d.src, d.frame.opcode, d.frame.params)), {
      relay: options.relay ?? true,
    });
    this.espnow.addStation(node.mac, (from, frame) => this.#call(entry, "espnow.rx", (t) => node.espnow(t, from, frame)));
    this.#record(entry);
    const first = this.random.fork(`poll:${node.address}`).float() * this.options.idlePollMs;
    this.scheduler.after(first, "poll", () => this.#poll(entry));
  }

  /** Links a node (or the controller) to another on the mesh and, for nodes, on ESP-NOW. */
  link(a: number, b: number, loss?: number): void {
    this.mesh.link(a, b, loss);
    const na = this.#nodes.get(a);
    const nb = this.#nodes.get(b);
    if (na && nb) this.espnow.link(na.node.mac, nb.node.mac);
  }

  /** Every node, by address. */
  get nodes(): ReadonlyMap<number, SimNode> {
    return new Map([...this.#nodes].map(([a, e]) => [a, e.node]));
  }

  /** A node's phase history. */
  history(address: number): readonly PhaseChange[] {
    return this.#nodes.get(address)?.history ?? [];
  }

  /** A node's status now. */
  status(address: number): NodeStatus | undefined {
    return this.#nodes.get(address)?.node.status();
  }

  /** Takes a node off the air (power off) or back (power on: it boots again). */
  setOnline(address: number, online: boolean): void {
    const e = this.#nodes.get(address);
    if (!e || e.online === online) return;
    e.online = online;
    if (online) this.#call(e, "power-on", (t) => e.node.reboot(t), true);
  }

  /** Runs the simulation until `promise` settles (the campaign) and returns its value. */
  run<T>(promise: Promise<T>, limitMs?: number): Promise<T> {
    return this.scheduler.runUntilSettled(promise, limitMs);
  }

  #record(e: NodeEntry): void {
    const s = e.node.status();
    const last = e.history[e.history.length - 1];
    if (!last || last.phase !== s.phase || last.error !== s.error || last.version !== s.version) {
      e.history.push({ at: this.scheduler.now(), phase: s.phase, error: s.error, bytesDone: s.bytesDone, version: s.version });
    }
    if (BUSY_PHASES.has(s.phase)) e.busyUntil = this.scheduler.now() + 5000;
  }

  /** Runs one node input as its own event, then acts on the port calls it made. */
  #call(e: NodeEntry, label: string, input: (now: number) => Promise<readonly NodeOutput[]>, evenOffline = false): void {
    this.scheduler.after(0, label, async () => {
      if ((!e.online || e.rebooting) && !evenOffline) return;
      let outputs: readonly NodeOutput[];
      try {
        outputs = await input(this.scheduler.now());
      } catch (error) {
        this.faults.push({ address: e.node.address, error });
        return;
      }
      this.#apply(e, outputs);
      this.#record(e);
    });
  }

  async #poll(e: NodeEntry): Promise<void> {
    if (e.online && !e.rebooting) {
      try {
        this.#apply(e, await e.node.poll(this.scheduler.now()));
        this.#record(e);
      } catch (error) {
        this.faults.push({ address: e.node.address, error });
      }
    }
    const fast = this.scheduler.now() < e.busyUntil;
    this.scheduler.after(fast ? this.options.pollMs : this.options.idlePollMs, "poll", () => this.#poll(e));
  }

  #apply(e: NodeEntry, outputs: readonly NodeOutput[]): void {
    const node = e.node;
    for (const o of outputs) {
      switch (o.kind) {
        case "mesh-send":
          this.mesh.send(node.address, o.to, { opcode: o.opcode, params: o.params }).catch(() => undefined);
          break;
        case "espnow-send":
          e.busyUntil = Math.max(e.busyUntil, this.scheduler.now() + 5000);
          this.espnow.send(node.mac, o.to, o.frame);
          break;
        case "espnow-begin":
          e.busyUntil = Math.max(e.busyUntil, this.scheduler.now() + 5000);
          this.espnow.tune(node.mac, o.channel, o.peer);
          break;
        case "espnow-end":
          this.espnow.tune(node.mac, 0);
          break;
        case "net-open":
          e.net?.close();
          e.net = this.ip.connect(o.host, o.port, o.wifi, {
            connected: () => this.#call(e, "net.connected", (t) => node.netConnected(t)),
            data: (bytes) => this.#call(e, "net.rx", (t) => node.netRecv(t, bytes)),
            closed: (ok) => {
              e.net = undefined;
              this.#call(e, "net.closed", (t) => node.netClosed(t, ok));
            },
          });
          break;
        case "net-send":
          e.net?.send(o.data);
          break;
        case "net-close":
          e.net?.close();
          e.net = undefined;
          break;
        case "stream-open":
          e.stream?.close();
          e.stream = this.ip.download(o.url, o.offset, o.wifi, {
            connected: () => undefined,
            data: (bytes, end) => this.#call(e, "stream.rx", (t) => node.streamData(t, bytes, end, false)),
            closed: (ok) => {
              e.stream = undefined;
              if (!ok) this.#call(e, "stream.failed", (t) => node.streamData(t, new Uint8Array(0), false, true));
            },
          });
          break;
        case "stream-close":
          e.stream?.close();
          e.stream = undefined;
          break;
        case "restart":
          e.rebooting = true;
          e.net?.close();
          e.stream?.close();
          e.net = undefined;
          e.stream = undefined;
          this.espnow.tune(node.mac, 0);
          this.scheduler.after(this.options.rebootMs, "reboot", async () => {
            e.rebooting = false;
            try {
              this.#apply(e, await node.reboot(this.scheduler.now()));
            } catch (error) {
              this.faults.push({ address: node.address, error });
            }
            this.#record(e);
          });
          break;
      }
    }
  }
}
