// The transport interface every adapter implements (BLE mesh proxy, TCP gateway link,
// ESP-NOW bridge, in-memory). The distributor talks to nodes only through it.
import type { VendorFrame } from "@meshota/proto";

/** A BLE Mesh address: unicast 0x0001-0x7FFF, virtual 0x8000-0xBFFF, group 0xC000-0xFFFF. */
export type MeshAddress = number;

/** True for a unicast address (0x0001-0x7FFF). */
export function isUnicast(address: MeshAddress): boolean {
  return Number.isInteger(address) && address >= 0x0001 && address <= 0x7fff;
}

/** True for a group address (0xC000-0xFFFF, including the fixed all-nodes groups). */
export function isGroup(address: MeshAddress): boolean {
  return Number.isInteger(address) && address >= 0xc000 && address <= 0xffff;
}

/** What a transport can do; the distributor adapts timeouts and sizes to it. */
export interface TransportInfo {
  /** Short name for logs and reports, such as "ble-proxy", "tcp-gateway", "memory". */
  readonly name: string;
  /** Largest parameter block of one vendor message this transport carries (at most 377). */
  readonly mtu: number;
  /**
   * True when a resolved send() means the destination's lower transport acknowledged it
   * (segmented unicast on the mesh). False when sends may be lost silently.
   */
  readonly reliable: boolean;
  /** True when group and all-nodes destinations are supported. */
  readonly groups: boolean;
}

/** A vendor message received from the mesh. */
export interface IncomingMessage {
  /** Source unicast address. */
  readonly src: MeshAddress;
  /** Destination address it was sent to (our unicast, a group or a virtual address). */
  readonly dst: MeshAddress;
  /** Opcode and parameters. */
  readonly frame: VendorFrame;
}

/** Options of one send. */
export interface SendOptions {
  /** Aborts the send; a queued send is dropped, a send in flight is given up. */
  readonly signal?: AbortSignal;
  /** Gives up after this many milliseconds (transport default when absent). */
  readonly timeoutMs?: number;
}

/**
 * The control plane as the distributor sees it: vendor messages to and from mesh addresses.
 *
 * Backpressure: send() resolves only when the message has left (or, when `reliable`, was
 * acknowledged); a caller awaits it before sending more to the same destination.
 * Incoming messages are delivered through an async iterator; a slow consumer makes the
 * transport buffer up to a bounded depth and then drop the oldest.
 */
export interface ControlTransport {
  readonly info: TransportInfo;
  /**
   * Sends one vendor message. Rejects with a TransportError (from @meshota/core) on timeout,
   * abort, close, an unreachable destination, or parameters over `info.mtu`.
   */
  send(dst: MeshAddress, frame: VendorFrame, options?: SendOptions): Promise<void>;
  /** Messages received from now on, until the transport closes or `signal` aborts. */
  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage>;
  /** Releases the bearer; pending sends reject. */
  close(): Promise<void>;
}
