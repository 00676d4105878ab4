// An in-memory mesh: a controller transport and any number of attached nodes, with switches
// for offline nodes, lost packets and latency. For tests and simulations.
import type { VendorFrame } from "@meshota/proto";
import { realClock, type Clock } from "./clock.js";
import { TransportError } from "./errors.js";
import { IncomingQueues } from "./incoming.js";
import {
  isGroup,
  type ControlTransport,
  type IncomingMessage,
  type MeshAddress,
  type SendOptions,
  type TransportInfo,
} from "./transport.js";

/** One message on the memory mesh, as the loss filter and the log see it. */
export interface MemoryPacket {
  readonly src: MeshAddress;
  readonly dst: MeshAddress;
  readonly frame: VendorFrame;
}

/** Options of a memory mesh. */
export interface MemoryNetworkOptions {
  /** Time source for latency and acknowledgement timeouts (default: the real clock). */
  clock: Clock;
  /** Largest parameter block (default 377, one segmented access payload). */
  mtu: number;
  /** Sends to an absent node reject after ackTimeoutMs (default true). */
  reliable: boolean;
  /** Delay of every delivery in ms (default 0). */
  latencyMs: number;
  /** How long a reliable send to an absent node waits before it rejects (default 2000). */
  ackTimeoutMs: number;
  /** Depth of each receive queue; a slow consumer loses the oldest beyond it (default 1024). */
  queueDepth: number;
}

const DEFAULTS: Readonly<MemoryNetworkOptions> = Object.freeze({
  clock: realClock,
  mtu: 377,
  reliable: true,
  latencyMs: 0,
  ackTimeoutMs: 2000,
  queueDepth: 1024,
});

/** A node's side of the memory mesh. */
export interface MemoryAttachment {
  readonly address: MeshAddress;
  /** Sends from the node; lost silently when the node is offline or the filter drops it. */
  send(dst: MeshAddress, frame: VendorFrame): void;
  detach(): void;
}

/** The medium that connects a controller transport to memory nodes. */
export class MemoryNetwork {
  readonly options: Readonly<MemoryNetworkOptions>;
  /** Return true to lose a packet (either direction). */
  lose: ((packet: MemoryPacket) => boolean) | undefined;
  /** Return true to deliver a packet twice (either direction). */
  duplicate: ((packet: MemoryPacket) => boolean) | undefined;
  /** Extra delay in ms of a node's packet; different delays reorder them. */
  delay: ((packet: MemoryPacket) => number) | undefined;
  /** Every packet offered to the medium, lost or not, in order. */
  readonly log: MemoryPacket[] = [];
  readonly #nodes = new Map<MeshAddress, (message: IncomingMessage) => void>();
  readonly #offline = new Set<MeshAddress>();
  readonly #groups = new Map<MeshAddress, Set<MeshAddress>>();
  readonly #controllers = new Set<MemoryTransport>();

  constructor(options: Partial<MemoryNetworkOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULTS, ...options });
  }

  /** Attaches a node that receives what is sent to `address` (and to its groups). */
  attach(address: MeshAddress, receive: (message: IncomingMessage) => void): MemoryAttachment {
    if (this.#nodes.has(address)) throw new RangeError(`address 0x${address.toString(16)} is taken`);
    this.#nodes.set(address, receive);
    return {
      address,
      send: (dst, frame) => this.#fromNode(address, dst, frame),
      detach: () => {
        this.#nodes.delete(address);
      },
    };
  }

  /** Subscribes a node to a group address. */
  subscribe(address: MeshAddress, group: MeshAddress): void {
    if (!isGroup(group)) throw new RangeError(`0x${group.toString(16)} is not a group address`);
    let members = this.#groups.get(group);
    if (!members) this.#groups.set(group, (members = new Set()));
    members.add(address);
  }

  /** Takes a node off the air (power off, out of range) or brings it back. */
  setOnline(address: MeshAddress, online: boolean): void {
    if (online) this.#offline.delete(address);
    else this.#offline.add(address);
  }

  isOnline(address: MeshAddress): boolean {
    return this.#nodes.has(address) && !this.#offline.has(address);
  }

  /** The controller's transport at `address` (default 0x0001). */
  transport(address: MeshAddress = 0x0001): MemoryTransport {
    const t = new MemoryTransport(this, address);
    this.#controllers.add(t);
    return t;
  }

  /** Packets offered so far whose opcode is `opcode`. */
  count(opcode: number, dst?: MeshAddress): number {
    return this.log.filter((p) => p.frame.opcode === opcode && (dst === undefined || p.dst === dst)).length;
  }

  /** @internal Delivers from the controller; returns false when a unicast found no one. */
  async deliverFromController(src: MeshAddress, dst: MeshAddress, frame: VendorFrame): Promise<boolean> {
    const packet = { src, dst, frame: { opcode: frame.opcode, params: frame.params.slice() } };
    this.log.push(packet);
    if (this.options.latencyMs > 0) await this.options.clock.sleep(this.options.latencyMs);
    if (isGroup(dst)) {
      for (const member of this.#groups.get(dst) ?? []) {
        if (!this.isOnline(member) || this.lose?.({ ...packet, dst: member })) continue;
        this.#nodes.get(member)!({ src, dst, frame: packet.frame });
      }
      return true;
    }
    if (!this.isOnline(dst) || this.lose?.(packet)) return false;
    this.#nodes.get(dst)!({ src, dst, frame: packet.frame });
    if (this.duplicate?.(packet)) this.#nodes.get(dst)?.({ src, dst, frame: packet.frame });
    return true;
  }

  /** @internal */
  forget(transport: MemoryTransport): void {
    this.#controllers.delete(transport);
  }

  #fromNode(src: MeshAddress, dst: MeshAddress, frame: VendorFrame): void {
    const packet = { src, dst, frame: { opcode: frame.opcode, params: frame.params.slice() } };
    this.log.push(packet);
    if (this.#offline.has(src) || this.lose?.(packet)) return;
    const copies = this.duplicate?.(packet) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const deliver = () => {
        for (const c of this.#controllers) if (c.address === dst) c.receive(packet);
      };
      const wait = this.options.latencyMs + (this.delay?.(packet) ?? 0);
      if (wait > 0) void this.options.clock.sleep(wait).then(deliver);
      else queueMicrotask(deliver);
    }
  }
}

/** The controller's ControlTransport on a memory mesh. */
export class MemoryTransport implements ControlTransport {
  readonly info: TransportInfo;
  readonly #incoming: IncomingQueues;
  #closed = false;

  constructor(readonly network: MemoryNetwork, readonly address: MeshAddress) {
    const o = network.options;
    this.info = Object.freeze({ name: "memory", mtu: o.mtu, reliable: o.reliable, groups: true });
    this.#incoming = new IncomingQueues(o.queueDepth);
  }

  async send(dst: MeshAddress, frame: VendorFrame, options: SendOptions = {}): Promise<void> {
    if (this.#closed) throw new TransportError("closed", "the memory transport is closed");
    if (options.signal?.aborted) throw new TransportError("aborted", "send aborted", { cause: options.signal.reason });
    if (frame.params.length > this.info.mtu) {
      throw new TransportError(
        "too-large",
        `${frame.params.length} parameter bytes exceed the MTU of ${this.info.mtu}`
      );
    }
    const reached = await this.network.deliverFromController(this.address, dst, frame);
    if (!reached && this.info.reliable) {
      const o = this.network.options;
      const wait = Math.min(options.timeoutMs ?? o.ackTimeoutMs, o.ackTimeoutMs);
      try {
        await o.clock.sleep(wait, options.signal);
      } catch (cause) {
        throw new TransportError("aborted", "send aborted", { cause });
      }
      throw new TransportError(
        "timeout",
        `no acknowledgement from 0x${dst.toString(16).padStart(4, "0")} within ${wait} ms`
      );
    }
  }

  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    return this.#incoming.iterate(signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#incoming.close();
    this.network.forget(this);
  }

  /** @internal */
  receive(message: IncomingMessage): void {
    this.#incoming.push(message);
  }
}
