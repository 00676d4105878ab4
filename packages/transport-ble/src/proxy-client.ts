// The client side of the proxy protocol: carries network PDUs between a MeshStack and a GATT
// bearer, follows the proxy's beacons for the IV index, and configures the proxy's filter so the
// messages for our address and our groups reach us.
import { TransportError } from "@meshota/core";
import type { GattBearer } from "./bearer.js";
import type { MeshStack } from "./mesh-stack.js";
import {
  decodeFilterStatus,
  filterAddressesMessage,
  type FilterStatus,
  ProxyFilterType,
  ProxyPduType,
  ProxyReassembler,
  segmentProxyPdu,
  setFilterTypeMessage,
} from "./proxy-pdu.js";

export interface ProxyClientOptions {
  /** How long to wait for the proxy's Filter Status. Default 5 000 ms. */
  readonly filterTimeoutMs: number;
  /** A partly received segmented Proxy PDU is dropped after this. Default 20 000 ms. */
  readonly sarTimeoutMs: number;
}

const DEFAULTS: ProxyClientOptions = Object.freeze({ filterTimeoutMs: 5_000, sarTimeoutMs: 20_000 });

/** Counters of the proxy link, for diagnostics. */
export interface ProxyClientStats {
  readonly written: number;
  readonly notified: number;
  readonly protocolErrors: number;
  readonly lastError: string | undefined;
}

export class ProxyClient {
  private readonly options: ProxyClientOptions;
  private readonly reassembler = new ProxyReassembler();
  private writeChain: Promise<void> = Promise.resolve();
  private sarTimer: ReturnType<typeof setTimeout> | undefined;
  private filterWaiters: ((s: FilterStatus) => void)[] = [];
  private closeListeners = new Set<(error?: Error) => void>();
  private closed = false;
  private counters = { written: 0, notified: 0, protocolErrors: 0, lastError: undefined as string | undefined };
  private readonly unsubscribe: () => void;

  constructor(
    private readonly bearer: GattBearer,
    private readonly stack: MeshStack,
    options: Partial<ProxyClientOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.unsubscribe = stack.onProxyConfiguration((m) => {
      const status = decodeFilterStatus(m.transportPdu);
      if (!status) return;
      const waiters = this.filterWaiters;
      this.filterWaiters = [];
      for (const w of waiters) w(status);
    });
  }

  get stats(): ProxyClientStats {
    return { ...this.counters };
  }

  /** Called once when the link drops. */
  onClose(listener: (error?: Error) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Starts the link and sets the proxy filter to accept our address and subscriptions.
   * Resolves with the proxy's Filter Status.
   */
  async start(): Promise<FilterStatus> {
    this.stack.setOutput((pdu) => this.send(ProxyPduType.network, pdu));
    await this.bearer.start(
      (data) => this.receive(data),
      (error) => this.handleClose(error),
    );
    if (!this.stack.ivIndexConfirmed) {
      // A proxy sends a Secure Network beacon right after connecting (Mesh Protocol 6.6);
      // without the IV index nothing we send could be decrypted.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransportError("timeout", `no Secure Network beacon from the proxy within ${this.options.filterTimeoutMs} ms; the IV index is unknown`)), this.options.filterTimeoutMs);
      });
      try {
        await Promise.race([this.stack.whenIvIndexKnown(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    return this.setFilter([this.stack.address, ...this.stack.subscribed]);
  }

  /** Replaces the proxy filter with an accept list of `addresses`. */
  async setFilter(addresses: readonly number[]): Promise<FilterStatus> {
    let status = await this.configure(setFilterTypeMessage(ProxyFilterType.acceptList));
    for (let i = 0; i < addresses.length; i += 5) {
      status = await this.configure(filterAddressesMessage(true, addresses.slice(i, i + 5)));
    }
    return status;
  }

  /** Adds addresses to the accept list. */
  async addToFilter(addresses: readonly number[]): Promise<FilterStatus | undefined> {
    let status: FilterStatus | undefined;
    for (let i = 0; i < addresses.length; i += 5) status = await this.configure(filterAddressesMessage(true, addresses.slice(i, i + 5)));
    return status;
  }

  private async configure(message: Uint8Array): Promise<FilterStatus> {
    const pdu = await this.stack.encodeProxyConfiguration(message);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let waiter: ((s: FilterStatus) => void) | undefined;
    const status = new Promise<FilterStatus>((resolve, reject) => {
      waiter = resolve;
      this.filterWaiters.push(resolve);
      timer = setTimeout(() => reject(new TransportError("timeout", `no Filter Status from the proxy within ${this.options.filterTimeoutMs} ms`)), this.options.filterTimeoutMs);
    });
    try {
      await this.send(ProxyPduType.configuration, pdu);
      return await status;
    } finally {
      clearTimeout(timer);
      this.filterWaiters = this.filterWaiters.filter((w) => w !== waiter);
    }
  }

  /** Writes one Proxy PDU; writes of different PDUs never interleave. */
  send(type: ProxyPduType, payload: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new TransportError("closed", "the proxy connection is closed"));
    const writes = segmentProxyPdu(type, payload, this.bearer.writeSize);
    const turn = this.writeChain.then(async () => {
      for (const w of writes) {
        if (this.closed) throw new TransportError("closed", "the proxy connection is closed");
        await this.bearer.write(w);
        this.counters.written++;
      }
    });
    this.writeChain = turn.catch(() => undefined);
    return turn;
  }

  private receive(data: Uint8Array): void {
    this.counters.notified++;
    const { pdu, error } = this.reassembler.push(data);
    if (error) {
      this.counters.protocolErrors++;
      this.counters.lastError = error;
    }
    if (this.sarTimer) clearTimeout(this.sarTimer);
    this.sarTimer = this.reassembler.busy
      ? setTimeout(() => {
          this.sarTimer = undefined;
          this.reassembler.reset();
          this.counters.protocolErrors++;
          this.counters.lastError = "segmented proxy PDU timed out";
        }, this.options.sarTimeoutMs)
      : undefined;
    if (!pdu) return;
    switch (pdu.type) {
      case ProxyPduType.network:
        this.stack.receiveNetworkPdu(pdu.payload);
        break;
      case ProxyPduType.beacon:
        void this.stack.handleBeacon(pdu.payload).catch(() => undefined);
        break;
      case ProxyPduType.configuration:
        this.stack.receiveProxyConfiguration(pdu.payload);
        break;
      default:
        break;
    }
  }

  private handleClose(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sarTimer) clearTimeout(this.sarTimer);
    this.reassembler.reset();
    this.stack.setOutput(undefined);
    this.unsubscribe();
    for (const l of this.closeListeners) l(error);
  }

  /** Disconnects the bearer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.handleClose();
    await this.bearer.close();
  }
}
