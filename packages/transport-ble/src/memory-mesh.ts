// An in-memory mesh for tests: simulated nodes that relay at the network layer over a lossy
// "radio" (seeded, so every run loses the same packets), and that act as GATT proxies for
// clients through an in-memory bearer. Each node runs a real MeshStack for its own messages.
import type { GattBearer } from "./bearer.js";
import type { ApplicationKey, NetworkKey } from "./keys.js";
import { MeshStack, type MeshLimits, type MeshTimingOptions } from "./mesh-stack.js";
import { decodeNetworkPdu, encodeNetworkPdu, relayNetworkPdu } from "./network-pdu.js";
import { encodeSecureNetworkBeacon } from "./beacon.js";
import { be16, concat, readBe16 } from "./bytes.js";
import {
  ProxyConfigOpcode,
  ProxyFilterType,
  ProxyPduType,
  ProxyReassembler,
  segmentProxyPdu,
} from "./proxy-pdu.js";
import { MemorySequenceStore, SequenceAllocator } from "./sequence.js";

/** A small, fast, seeded PRNG (mulberry32) so that packet loss is repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MemoryMeshOptions {
  readonly netKey: NetworkKey;
  readonly appKeys: readonly ApplicationKey[];
  readonly ivIndex: number;
  /** Probability that one radio transmission is lost for one receiver. Default 0. */
  readonly lossRate: number;
  /** Seed of the loss pattern. Default 1. */
  readonly seed: number;
  /**
   * Times each network PDU goes on air (the Network Transmit and Relay Retransmit counts plus
   * one), each copy lost independently. Default 3, as mesh nodes commonly repeat twice.
   */
  readonly transmissions: number;
  /** Gap between the copies. Default 10 ms. */
  readonly transmissionIntervalMs: number;
  /** Radio delivery delay. Default 5 ms. */
  readonly radioDelayMs: number;
  /** GATT delivery delay. Default 1 ms. */
  readonly gattDelayMs: number;
  /** Timers of the simulated nodes' stacks. */
  readonly timing?: Partial<MeshTimingOptions>;
  readonly limits?: Partial<MeshLimits>;
}

export interface SimNodeOptions {
  readonly address: number;
  /** Relays network PDUs from the radio. Default true. */
  readonly relay?: boolean;
  readonly deviceKey?: Uint8Array;
  /** Groups the node's model subscribes to. */
  readonly subscriptions?: readonly number[];
}

/** One simulated node. */
export class SimNode {
  readonly address: number;
  readonly relay: boolean;
  readonly stack: MeshStack;
  /** False while the node is switched off: it neither hears nor sends. */
  online = true;
  /** Network PDUs this node relayed. */
  relayed = 0;
  private readonly seen = new Set<string>();
  readonly proxyClients = new Set<MemoryProxyServerLink>();

  constructor(
    readonly mesh: MemoryMesh,
    options: SimNodeOptions,
    sequence: SequenceAllocator,
  ) {
    this.address = options.address;
    this.relay = options.relay ?? true;
    const deviceKey = options.deviceKey;
    this.stack = new MeshStack({
      address: options.address,
      netKeys: [mesh.options.netKey],
      appKeys: mesh.options.appKeys,
      deviceKeyOf: (a) => (a === options.address || mesh.isClient(a) ? deviceKey : undefined),
      subscriptions: options.subscriptions ?? [],
      ivIndex: mesh.options.ivIndex,
      sequence,
      ...(mesh.options.timing ? { timing: mesh.options.timing } : {}),
      ...(mesh.options.limits ? { limits: mesh.options.limits } : {}),
      rateLimit: { count: 1_000_000, windowMs: 1 },
    });
    this.stack.setOutput((pdu) => {
      this.markSeen(pdu);
      this.mesh.broadcast(this, pdu);
      this.forwardToClients(pdu, undefined);
    });
  }

  private key(pdu: Uint8Array): string | undefined {
    const m = decodeNetworkPdu(pdu, [this.mesh.options.netKey], this.mesh.options.ivIndex);
    return m && `${m.src}:${m.seq}`;
  }

  private markSeen(pdu: Uint8Array): void {
    const k = this.key(pdu);
    if (k) this.seen.add(k);
  }

  /** A network PDU heard on the radio, or written by a proxy client (`from`). */
  hear(pdu: Uint8Array, from?: MemoryProxyServerLink): void {
    if (!this.online) return;
    const m = decodeNetworkPdu(pdu, [this.mesh.options.netKey], this.mesh.options.ivIndex);
    if (!m) return;
    const key = `${m.src}:${m.seq}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.stack.receiveNetworkPdu(pdu);
    this.forwardToClients(pdu, from, m.dst);
    if (m.dst === this.address) return;
    // A proxy relays what its clients send; a relay node relays what it hears (TTL >= 2).
    const relayed = from || this.relay ? relayNetworkPdu(m) : undefined;
    if (relayed) {
      this.relayed++;
      this.mesh.broadcast(this, relayed);
    }
  }

  private forwardToClients(pdu: Uint8Array, from: MemoryProxyServerLink | undefined, dst?: number): void {
    const target = dst ?? decodeNetworkPdu(pdu, [this.mesh.options.netKey], this.mesh.options.ivIndex)?.dst;
    if (target === undefined) return;
    for (const link of this.proxyClients) {
      if (link !== from && link.accepts(target)) link.notify(ProxyPduType.network, pdu);
    }
  }

  /** Sends a Secure Network beacon to the proxy clients. */
  beacon(ivIndex: number, ivUpdate: boolean): void {
    const b = encodeSecureNetworkBeacon(this.mesh.options.netKey, ivIndex, ivUpdate);
    for (const link of this.proxyClients) link.notify(ProxyPduType.beacon, b);
  }
}

/** The proxy-server end of one client connection: the node's filter and SAR state. */
export class MemoryProxyServerLink {
  filterType: ProxyFilterType = ProxyFilterType.acceptList;
  readonly filter = new Set<number>();
  private readonly reassembler = new ProxyReassembler();
  client: MemoryGattBearer | undefined;
  private seq = 0;

  constructor(readonly node: SimNode) {}

  accepts(dst: number): boolean {
    return this.filterType === ProxyFilterType.acceptList ? this.filter.has(dst) : !this.filter.has(dst);
  }

  /** A write from the client. */
  written(data: Uint8Array): void {
    const { pdu } = this.reassembler.push(data);
    if (!pdu) return;
    if (pdu.type === ProxyPduType.network) {
      const m = decodeNetworkPdu(pdu.payload, [this.node.mesh.options.netKey], this.node.mesh.options.ivIndex);
      // A proxy adds the source of its client's messages to an accept list (Mesh Protocol 6.7).
      if (m && this.filterType === ProxyFilterType.acceptList) this.filter.add(m.src);
      this.node.hear(pdu.payload, this);
    } else if (pdu.type === ProxyPduType.configuration) {
      this.configure(pdu.payload);
    }
  }

  private configure(payload: Uint8Array): void {
    const { netKey, ivIndex } = this.node.mesh.options;
    const m = decodeNetworkPdu(payload, [netKey], ivIndex, "proxy");
    if (!m || !m.ctl || m.transportPdu.length < 1) return;
    const p = m.transportPdu;
    switch (p[0]) {
      case ProxyConfigOpcode.setFilterType:
        if (p[1] !== 0 && p[1] !== 1) return;
        this.filterType = p[1] as ProxyFilterType;
        this.filter.clear();
        break;
      case ProxyConfigOpcode.addAddresses:
      case ProxyConfigOpcode.removeAddresses:
        for (let i = 1; i + 1 < p.length; i += 2) {
          if (p[0] === ProxyConfigOpcode.addAddresses) this.filter.add(readBe16(p, i));
          else this.filter.delete(readBe16(p, i));
        }
        break;
      default:
        return;
    }
    const status = concat(Uint8Array.of(ProxyConfigOpcode.filterStatus, this.filterType), be16(this.filter.size));
    // Filter Status is sent with the proxy nonce from the proxy's own address.
    const out = encodeNetworkPdu(netKey, { ivIndex, ctl: true, ttl: 0, seq: 0x800000 + this.seq++, src: this.node.address, dst: 0 }, status, "proxy");
    this.notify(ProxyPduType.configuration, out);
  }

  notify(type: ProxyPduType, payload: Uint8Array): void {
    const client = this.client;
    if (!client) return;
    for (const chunk of segmentProxyPdu(type, payload, client.writeSize)) client.deliver(chunk);
  }
}

/** The client end of an in-memory GATT link to a simulated proxy. */
export class MemoryGattBearer implements GattBearer {
  private onData: ((d: Uint8Array) => void) | undefined;
  private onClose: ((e?: Error) => void) | undefined;
  private open = true;
  /** Every chunk written, for assertions. */
  readonly writes: Uint8Array[] = [];

  constructor(
    private readonly link: MemoryProxyServerLink,
    readonly writeSize: number,
    private readonly delayMs: number,
  ) {}

  async start(onData: (d: Uint8Array) => void, onClose: (e?: Error) => void): Promise<void> {
    this.onData = onData;
    this.onClose = onClose;
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.open) throw new Error("GATT link is closed");
    this.writes.push(data.slice());
    const copy = data.slice();
    setTimeout(() => {
      if (this.open && this.link.node.online) this.link.written(copy);
    }, this.delayMs);
  }

  /** A notification from the proxy. */
  deliver(chunk: Uint8Array): void {
    setTimeout(() => {
      if (this.open) this.onData?.(chunk);
    }, this.delayMs);
  }

  /** Simulates the link dropping (out of range, proxy reset). */
  drop(error = new Error("GATT link lost")): void {
    if (!this.open) return;
    this.open = false;
    this.link.node.proxyClients.delete(this.link);
    this.onClose?.(error);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.link.node.proxyClients.delete(this.link);
    this.onClose?.();
  }
}

/** A mesh of simulated nodes on one lossy radio channel. */
export class MemoryMesh {
  readonly options: Required<Omit<MemoryMeshOptions, "timing" | "limits">> & Pick<MemoryMeshOptions, "timing" | "limits">;
  readonly nodes = new Map<number, SimNode>();
  private readonly links = new Map<number, Set<number>>();
  private readonly clients = new Set<number>();
  private readonly random: () => number;
  /** Radio transmissions attempted and lost, per receiver. */
  radioDeliveries = 0;
  radioLosses = 0;

  constructor(options: Partial<MemoryMeshOptions> & Pick<MemoryMeshOptions, "netKey" | "appKeys" | "ivIndex">) {
    this.options = { lossRate: 0, seed: 1, radioDelayMs: 5, gattDelayMs: 1, transmissions: 3, transmissionIntervalMs: 10, ...options };
    this.random = seededRandom(this.options.seed);
  }

  /** Adds a node; it hears every other node unless links are set with `connect`. */
  async addNode(options: SimNodeOptions): Promise<SimNode> {
    const sequence = await SequenceAllocator.open(new MemorySequenceStore(), options.address, this.options.ivIndex);
    const node = new SimNode(this, options, sequence);
    this.nodes.set(options.address, node);
    return node;
  }

  /** Restricts the radio to explicit links: `a` and `b` hear each other. */
  connect(a: number, b: number): void {
    if (!this.links.has(a)) this.links.set(a, new Set());
    if (!this.links.has(b)) this.links.set(b, new Set());
    this.links.get(a)!.add(b);
    this.links.get(b)!.add(a);
  }

  isClient(address: number): boolean {
    return this.clients.has(address);
  }

  /** Opens a GATT link from a client to the proxy feature of node `proxy`. */
  connectProxy(proxy: number, clientAddress: number, writeSize = 20): MemoryGattBearer {
    const node = this.nodes.get(proxy);
    if (!node) throw new RangeError(`no node 0x${proxy.toString(16)}`);
    this.clients.add(clientAddress);
    const link = new MemoryProxyServerLink(node);
    const bearer = new MemoryGattBearer(link, writeSize, this.options.gattDelayMs);
    link.client = bearer;
    node.proxyClients.add(link);
    // A proxy server sends a Secure Network beacon when a client connects (Mesh Protocol 6.6).
    link.notify(ProxyPduType.beacon, encodeSecureNetworkBeacon(this.options.netKey, this.options.ivIndex, false));
    return bearer;
  }

  private hears(from: number, to: number): boolean {
    if (this.links.size === 0) return true;
    return this.links.get(from)?.has(to) ?? false;
  }

  /** A radio transmission: every node in range gets it after the delay, unless lost. */
  broadcast(from: SimNode, pdu: Uint8Array): void {
    if (!from.online) return;
    for (let n = 0; n < this.options.transmissions; n++) {
      for (const node of this.nodes.values()) {
        if (node === from || !this.hears(from.address, node.address)) continue;
        this.radioDeliveries++;
        if (this.random() < this.options.lossRate) {
          this.radioLosses++;
          continue;
        }
        const copy = pdu.slice();
        setTimeout(() => node.hear(copy), this.options.radioDelayMs + n * this.options.transmissionIntervalMs);
      }
    }
  }

  /** Stops every node's timers. */
  close(): void {
    for (const n of this.nodes.values()) n.stack.close();
  }
}
