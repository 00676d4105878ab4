// The meshota vendor model client behind @meshota/core's ControlTransport: vendor frames in and
// out as access messages with a 3-octet opcode of the configured company, over a MeshStack and
// a GATT proxy connection.
import {
  IncomingQueues,
  TransportError,
  type ControlTransport,
  type IncomingMessage,
  type MeshAddress,
  type SendOptions,
  type TransportInfo,
} from "@meshota/core";
import { ESPRESSIF_COMPANY_ID, SEGMENTED_PARAMS_MAX, toAccessPayload, type VendorFrame } from "@meshota/proto";
import { isUnicast } from "./address.js";
import type { GattBearer } from "./bearer.js";
import type { MeshNetworkConfig } from "./cdb.js";
import { MeshStack, type AccessReceived, type MeshLimits, type MeshTimingOptions } from "./mesh-stack.js";
import { ProxyClient, type ProxyClientOptions } from "./proxy-client.js";
import type { RateLimitOptions } from "./rate-limit.js";
import { SequenceAllocator, type SequenceStore } from "./sequence.js";

export interface MeshotaBleTransportOptions {
  /** Company ID of the vendor opcodes. Default 0x02E5 (Espressif). */
  readonly companyId: number;
  /** AppKey the meshota model is bound to. Default 0. */
  readonly appKeyIndex: number;
  /** TTL of outgoing messages; the stack's default TTL when absent. */
  readonly ttl: number | undefined;
  /**
   * Send every unicast message segmented, so that the destination acknowledges it and a
   * resolved send() means delivered (`info.reliable`). Default false: a message goes
   * unsegmented when its access payload fits one PDU (8 parameter bytes or fewer).
   */
  readonly acknowledged: boolean;
  /** Incoming messages buffered per consumer before the oldest are dropped. Default 64. */
  readonly incomingBuffer: number;
}

const DEFAULTS: MeshotaBleTransportOptions = Object.freeze({
  companyId: ESPRESSIF_COMPANY_ID,
  appKeyIndex: 0,
  ttl: undefined,
  acknowledged: false,
  incomingBuffer: 64,
});

/** Something that ends the link under the stack when the transport closes. */
export interface Closable {
  close(): Promise<void>;
}

export class MeshotaBleTransport implements ControlTransport {
  readonly info: TransportInfo;
  private readonly options: MeshotaBleTransportOptions;
  private readonly incoming: IncomingQueues;
  private closed = false;
  private readonly unsubscribe: () => void;
  /** Incoming messages dropped because a consumer was slow. */
  get dropped(): number {
    return this.incoming.dropped;
  }

  constructor(
    readonly stack: MeshStack,
    private readonly link: Closable | undefined,
    options: Partial<MeshotaBleTransportOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    const { companyId, incomingBuffer } = this.options;
    if (!Number.isInteger(companyId) || companyId < 0 || companyId > 0xffff) throw new RangeError(`company ID ${companyId} is not 16 bits`);
    if (!Number.isInteger(incomingBuffer) || incomingBuffer < 1) throw new RangeError(`incoming buffer ${incomingBuffer} is not a positive integer`);
    this.info = Object.freeze({ name: "ble-proxy", mtu: SEGMENTED_PARAMS_MAX, reliable: this.options.acknowledged, groups: true });
    this.incoming = new IncomingQueues(incomingBuffer);
    this.unsubscribe = stack.onAccess((m) => this.receive(m));
  }

  async send(dst: MeshAddress, frame: VendorFrame, options: SendOptions = {}): Promise<void> {
    if (this.closed) throw new TransportError("closed", "the BLE mesh transport is closed");
    if (frame.params.length > SEGMENTED_PARAMS_MAX) {
      throw new TransportError("too-large", `vendor message of ${frame.params.length} parameter bytes; the mesh carries at most ${SEGMENTED_PARAMS_MAX}`);
    }
    const payload = toAccessPayload(frame, this.options.companyId);
    await this.stack.sendAccess({
      dst,
      payload,
      key: { kind: "app", index: this.options.appKeyIndex },
      ...(this.options.ttl === undefined ? {} : { ttl: this.options.ttl }),
      // Small messages fit one unsegmented PDU; unicast ones go segmented when acknowledged.
      forceSegmented: this.options.acknowledged && isUnicast(dst),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  private receive(m: AccessReceived): void {
    if (m.key.kind !== "app" || m.key.index !== this.options.appKeyIndex) return;
    const p = m.payload;
    if (p.length < 3 || (p[0]! & 0xc0) !== 0xc0) return;
    if ((p[1]! | (p[2]! << 8)) !== this.options.companyId) return;
    const message: IncomingMessage = { src: m.src, dst: m.dst, frame: { opcode: p[0]! & 0x3f, params: p.slice(3) } };
    this.incoming.push(message);
  }

  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    if (this.closed) this.incoming.close();
    return this.incoming.iterate(signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.stack.close();
    this.incoming.close();
    await this.link?.close();
  }
}

export interface ConnectOptions {
  /** The GATT link to a node with the Mesh Proxy Service. */
  readonly bearer: GattBearer;
  /** Keys and nodes, usually from parseCdb(). */
  readonly network: Pick<MeshNetworkConfig, "netKeys" | "appKeys" | "deviceKeyOf" | "groups" | "ivIndex" | "ivUpdate">;
  /** Our unicast address (a provisioner's node address). */
  readonly address: number;
  /** Where sequence numbers are persisted; required so that a restart never reuses one. */
  readonly sequenceStore: SequenceStore;
  /** Current IV index when the network config has none (the proxy's beacon corrects it). */
  readonly ivIndex?: number;
  /** Group or virtual addresses to receive, besides our own address. */
  readonly subscriptions?: readonly number[];
  readonly transport?: Partial<MeshotaBleTransportOptions>;
  readonly timing?: Partial<MeshTimingOptions>;
  readonly limits?: Partial<MeshLimits>;
  readonly rateLimit?: Partial<RateLimitOptions>;
  readonly proxy?: Partial<ProxyClientOptions>;
  readonly defaultTtl?: number;
}

/**
 * Opens the meshota control plane over a GATT proxy: loads the sequence numbers, starts the
 * proxy link and sets its filter to our address and subscriptions.
 */
export async function connectMeshota(options: ConnectOptions): Promise<MeshotaBleTransport> {
  const ivIndex = options.network.ivIndex ?? options.ivIndex ?? 0;
  const sequence = await SequenceAllocator.open(options.sequenceStore, options.address, ivIndex);
  const labels = options.network.groups.flatMap((g) => (g.label ? [g.label] : []));
  const stack = new MeshStack({
    address: options.address,
    netKeys: options.network.netKeys,
    appKeys: options.network.appKeys,
    deviceKeyOf: options.network.deviceKeyOf,
    labels,
    subscriptions: options.subscriptions ?? [],
    ivIndex,
    ivUpdate: options.network.ivUpdate,
    ivIndexKnown: options.network.ivIndex !== undefined || options.ivIndex !== undefined,
    sequence,
    ...(options.defaultTtl === undefined ? {} : { defaultTtl: options.defaultTtl }),
    ...(options.timing ? { timing: options.timing } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
  });
  const proxy = new ProxyClient(options.bearer, stack, options.proxy);
  const transport = new MeshotaBleTransport(stack, proxy, options.transport);
  proxy.onClose(() => void transport.close());
  try {
    await proxy.start();
  } catch (error) {
    await transport.close();
    throw error;
  }
  return transport;
}
