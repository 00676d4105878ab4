// Wi-Fi and TCP in virtual time: stations join an access point, open TCP connections to
// servers registered in the simulation, and receive bytes at a rate that the access point
// shares among active flows. Lost segments cost a retransmission timeout. HTTP(S) downloads
// with a Range offset (esp_https_ota) ride the same model.
//
// Figures are modest station-side TCP rates of an ESP32 while it also writes flash, not
// measurements; change them with the options.
import type { SimRandom } from "./random.js";
import type { Scheduler } from "./scheduler.js";

/** Options of the IP medium. */
export interface IpOptions {
  /** Throughput the access point shares among all flows, bytes/s (default 2.5 MB/s). */
  apRate: number;
  /** Most a single station receives, bytes/s (default 500 kB/s: flash writes bound it). */
  stationRate: number;
  /** Round-trip time in ms (default 8). */
  rttMs: number;
  /** Wi-Fi association and DHCP, ms (default 1200). */
  joinMs: number;
  /** TLS handshake of an HTTPS download, ms (default 400). */
  tlsMs: number;
  /** Bytes delivered per event (default 4096). */
  blockBytes: number;
  /** Probability that a block needs a retransmission (default 0). */
  loss: number;
  /** Retransmission timeout, ms (default 200). */
  rtoMs: number;
  /** A connect to a port nobody listens on fails after this long, ms (default 3000). */
  connectFailMs: number;
}

export const IP_DEFAULTS: Readonly<IpOptions> = Object.freeze({
  apRate: 2_500_000,
  stationRate: 500_000,
  rttMs: 8,
  joinMs: 1200,
  tlsMs: 400,
  blockBytes: 4096,
  loss: 0,
  rtoMs: 200,
  connectFailMs: 3000,
});

/** The server's side of one simulated TCP connection. */
export interface ServerConnection {
  readonly id: number;
  /** Queues bytes to the client. */
  write(data: Uint8Array): void;
  /** Closes after the queued bytes are delivered. */
  end(): void;
  /** Bytes queued and not yet delivered. */
  readonly queued: number;
}

/** A TCP server in the simulation. */
export interface SimTcpServer {
  connect(conn: ServerConnection): { data(bytes: Uint8Array): void; closed(): void };
}

/** An HTTP(S) origin: the body for a path, or an error status. */
export interface SimHttpServer {
  get(path: string): { status: 200; body: Uint8Array } | { status: 404 | 500 };
}

/** Callbacks toward the client (a node). */
export interface ClientSink {
  connected(): void;
  data(bytes: Uint8Array, end: boolean): void;
  closed(ok: boolean): void;
}

/** Counters of the medium. */
export interface IpStats {
  connections: number;
  refused: number;
  bytesDelivered: number;
  retransmissions: number;
  downloads: number;
}

interface Flow {
  id: number;
  sink: ClientSink;
  queue: Uint8Array[];
  queued: number;
  ending: boolean;
  open: boolean;
  pumping: boolean;
  toServer: ((bytes: Uint8Array) => void) | undefined;
  serverClosed: (() => void) | undefined;
  /** HTTP body flows end with data(end=true) instead of a close. */
  http: boolean;
}

/** Handle of a client connection. */
export interface ClientConnection {
  send(data: Uint8Array): void;
  close(): void;
}

/** The Wi-Fi/IP medium. */
export class IpMedium {
  readonly options: Readonly<IpOptions>;
  readonly stats: IpStats = { connections: 0, refused: 0, bytesDelivered: 0, retransmissions: 0, downloads: 0 };
  readonly #sched: Scheduler;
  readonly #rng: SimRandom;
  readonly #tcp = new Map<string, SimTcpServer>();
  readonly #http = new Map<string, SimHttpServer>();
  readonly #active = new Set<Flow>();
  #ids = 0;

  constructor(scheduler: Scheduler, random: SimRandom, options: Partial<IpOptions> = {}) {
    this.options = Object.freeze({ ...IP_DEFAULTS, ...options });
    this.#sched = scheduler;
    this.#rng = random;
  }

  listen(host: string, port: number, server: SimTcpServer): void {
    this.#tcp.set(`${host}:${port}`, server);
  }

  /** Serves http(s)://<host>:<port>/... from `server` (any scheme; give the port explicitly). */
  serveHttp(authority: string, server: SimHttpServer): void {
    this.#http.set(authority.toLowerCase(), server);
  }

  /** Flows receiving right now. */
  get activeFlows(): number {
    return this.#active.size;
  }

  /** Opens a TCP connection; `join` adds the Wi-Fi association first. */
  connect(host: string, port: number, join: boolean, sink: ClientSink): ClientConnection {
    const flow = this.#newFlow(sink, false);
    const server = this.#tcp.get(`${host}:${port}`);
    const setup = (join ? this.options.joinMs : 0) + this.options.rttMs * 1.5;
    if (!server) {
      this.stats.refused++;
      this.#sched.after(setup + this.options.connectFailMs, "ip.refused", () => {
        if (flow.open) {
          flow.open = false;
          sink.closed(false);
        }
      });
      return { send: () => undefined, close: () => void (flow.open = false) };
    }
    this.stats.connections++;
    this.#sched.after(setup, "ip.connected", () => {
      if (!flow.open) return;
      const conn: ServerConnection = {
        id: flow.id,
        write: (data) => this.#enqueue(flow, data),
        end: () => {
          flow.ending = true;
          this.#pump(flow);
        },
        get queued() {
          return flow.queued;
        },
      };
      const handlers = server.connect(conn);
      flow.toServer = handlers.data;
      flow.serverClosed = handlers.closed;
      sink.connected();
    });
    return {
      send: (data) => {
        const copy = data.slice();
        this.#sched.after(this.options.rttMs / 2, "ip.up", () => {
          if (flow.open) flow.toServer?.(copy);
        });
      },
      close: () => this.#closeFromClient(flow),
    };
  }

  /** Starts an HTTP(S) GET of `url` from byte `offset` (a Range request when offset > 0). */
  download(url: string, offset: number, join: boolean, sink: ClientSink): ClientConnection {
    const flow = this.#newFlow(sink, true);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    // URL drops a scheme's default port from `host`: look up host:port with it put back.
    const port = parsed ? parsed.port || (parsed.protocol === "https:" ? "443" : "80") : "";
    const server = parsed ? this.#http.get(`${parsed.hostname}:${port}`.toLowerCase()) : undefined;
    const tls = parsed?.protocol === "https:" ? this.options.tlsMs : 0;
    const setup = (join ? this.options.joinMs : 0) + this.options.rttMs * 2 + tls;
    this.stats.downloads++;
    this.#sched.after(setup + (server ? 0 : this.options.connectFailMs), "ip.http", () => {
      if (!flow.open) return;
      const answer = server?.get(parsed!.pathname);
      if (!answer || answer.status !== 200 || offset > answer.body.length) {
        flow.open = false;
        sink.closed(false);
        return;
      }
      sink.connected();
      this.#enqueue(flow, answer.body.subarray(offset));
      flow.ending = true;
      this.#pump(flow);
    });
    return { send: () => undefined, close: () => this.#closeFromClient(flow) };
  }

  #newFlow(sink: ClientSink, http: boolean): Flow {
    return {
      id: ++this.#ids,
      sink,
      queue: [],
      queued: 0,
      ending: false,
      open: true,
      pumping: false,
      toServer: undefined,
      serverClosed: undefined,
      http,
    };
  }

  #closeFromClient(flow: Flow): void {
    if (!flow.open) return;
    flow.open = false;
    this.#active.delete(flow);
    const closed = flow.serverClosed;
    this.#sched.after(this.options.rttMs / 2, "ip.fin", () => closed?.());
  }

  #enqueue(flow: Flow, data: Uint8Array): void {
    if (!flow.open || flow.ending) return;
    flow.queue.push(data.slice());
    flow.queued += data.length;
    this.#pump(flow);
  }

  /** Current per-flow rate: the station's limit or its share of the access point. */
  #rate(): number {
    return Math.min(this.options.stationRate, this.options.apRate / Math.max(1, this.#active.size));
  }

  #pump(flow: Flow): void {
    if (flow.pumping || !flow.open) return;
    if (flow.queued === 0) {
      this.#active.delete(flow);
      if (flow.ending) {
        flow.open = false;
        if (flow.http) flow.sink.data(new Uint8Array(0), true);
        else flow.sink.closed(true);
      }
      return;
    }
    this.#active.add(flow);
    flow.pumping = true;
    const take = Math.min(this.options.blockBytes, flow.queued);
    let delay = (take / this.#rate()) * 1000;
    if (this.#rng.chance(this.options.loss)) {
      this.stats.retransmissions++;
      delay += this.options.rtoMs;
    }
    this.#sched.after(delay, "ip.block", () => {
      flow.pumping = false;
      if (!flow.open) return;
      const block = new Uint8Array(take);
      let at = 0;
      while (at < take) {
        const head = flow.queue[0]!;
        const n = Math.min(head.length, take - at);
        block.set(head.subarray(0, n), at);
        at += n;
        if (n === head.length) flow.queue.shift();
        else flow.queue[0] = head.subarray(n);
      }
      flow.queued -= take;
      this.stats.bytesDelivered += take;
      const last = flow.http && flow.ending && flow.queued === 0;
      flow.sink.data(block, last);
      if (last) {
        flow.open = false;
        this.#active.delete(flow);
        return;
      }
      this.#pump(flow);
    });
  }
}
