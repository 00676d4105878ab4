// The gateway's end of the gateway link, as meshota_esp's gateway task speaks it: HELLO on
// connect, one SEND_RESULT per SEND in order, RECV for what the mesh delivers. For tests and
// simulations that put a mesh (or a model of one) behind a TcpControlTransport.
import { createServer, type Server, type Socket } from "node:net";
import { ESPRESSIF_COMPANY_ID, SEGMENTED_PARAMS_MAX, type VendorFrame } from "@meshota/proto";
import { StreamFramingError } from "./errors.js";
import {
  decodeGatewayMessage,
  encodeGatewayMessage,
  GATEWAY_LINK_MAX_PAYLOAD,
  GATEWAY_LINK_VERSION,
  GatewayLinkStatus,
} from "./gateway-link.js";
import { encodeStreamFrame, StreamFrameDecoder } from "./stream-framing.js";

/** A SEND as the gateway received it. */
export interface GatewaySend {
  readonly tag: number;
  readonly dst: number;
  readonly ttl: number;
  readonly frame: VendorFrame;
}

/** Options of a gateway endpoint. */
export interface GatewayEndpointOptions {
  /** Company ID announced in HELLO (default 0x02E5). */
  companyId: number;
  /** Gateway's own address announced in HELLO (default 0x0100; 0 means unprovisioned). */
  address: number;
  /** Largest parameter block announced in HELLO (default 377). */
  mtu: number;
  /** Link version announced in HELLO (default 1). */
  version: number;
  /** Handles one SEND; its result becomes the SEND_RESULT status (default: OK). */
  onSend: (send: GatewaySend) => number | Promise<number>;
}

const DEFAULTS: Readonly<GatewayEndpointOptions> = Object.freeze({
  companyId: ESPRESSIF_COMPANY_ID,
  address: 0x0100,
  mtu: SEGMENTED_PARAMS_MAX,
  version: GATEWAY_LINK_VERSION,
  onSend: () => GatewayLinkStatus.OK,
});

/** One host connection at the gateway. */
export class GatewayEndpoint {
  readonly options: Readonly<GatewayEndpointOptions>;
  readonly socket: Socket;
  readonly #decoder = new StreamFrameDecoder(GATEWAY_LINK_MAX_PAYLOAD);
  #queue: Promise<void> = Promise.resolve();

  constructor(socket: Socket, options: Partial<GatewayEndpointOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULTS, ...options });
    this.socket = socket;
    socket.on("error", () => undefined);
    const o = this.options;
    this.#write(encodeGatewayMessage({ type: "hello", version: o.version, companyId: o.companyId, address: o.address, mtu: o.mtu }));
    socket.on("data", (data) => {
      try {
        this.#decoder.feed(data, (payload) => this.#onPayload(payload));
      } catch (e) {
        if (!StreamFramingError.isInstance(e)) throw e;
        socket.destroy(); // as the device does: a bad frame closes the connection
      }
    });
  }

  /** Forwards a message heard on the mesh to the host. */
  recv(src: number, dst: number, frame: VendorFrame, rssi = -50): void {
    this.#write(encodeGatewayMessage({ type: "recv", src, dst, rssi, frame }));
  }

  #onPayload(payload: Uint8Array): void {
    let tag = payload.length >= 3 ? payload[1]! | (payload[2]! << 8) : 0;
    let send: GatewaySend | undefined;
    try {
      const m = decodeGatewayMessage(payload);
      if (m.type === "send") {
        tag = m.tag;
        if (m.dst !== 0) send = { tag: m.tag, dst: m.dst, ttl: m.ttl, frame: m.frame };
      }
    } catch {
      send = undefined;
    }
    if (!send) {
      // A refused SEND is answered at once and may overtake the results of accepted ones.
      this.#write(encodeGatewayMessage({ type: "send-result", tag, status: GatewayLinkStatus.REFUSED }));
      return;
    }
    const s = send;
    this.#queue = this.#queue.then(async () => {
      let status: number;
      try {
        status = await this.options.onSend(s);
      } catch {
        status = GatewayLinkStatus.MESH_ERROR;
      }
      this.#write(encodeGatewayMessage({ type: "send-result", tag: s.tag, status }));
    });
  }

  #write(payload: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(encodeStreamFrame(payload, GATEWAY_LINK_MAX_PAYLOAD));
  }
}

/** A TCP server behaving as a meshota gateway; each host connection gets a GatewayEndpoint. */
export function createGatewayServer(onEndpoint: (endpoint: GatewayEndpoint) => void, options: Partial<GatewayEndpointOptions> = {}): Server {
  return createServer((socket) => onEndpoint(new GatewayEndpoint(socket, options)));
}
