// The simulator's view of a node: the inputs the firmware core takes (meshota_node.h) and the
// port calls it makes (meshota_port.h), as plain data. The node emulator runs the real C core
// behind this interface; unit tests of the media use small doubles.

/** A peer as the core names it: mesh address and, on ESP-NOW, a MAC address. */
export interface SimPeer {
  readonly meshAddr: number;
  readonly mac?: Uint8Array;
}

/** A port call the node made while handling an input. */
export type NodeOutput =
  /** Vendor message on the mesh: 6-bit opcode and parameters. */
  | { readonly kind: "mesh-send"; readonly to: number; readonly opcode: number; readonly params: Uint8Array }
  /** One encoded DataFrame on ESP-NOW (to ff:ff:ff:ff:ff:ff for broadcast). */
  | { readonly kind: "espnow-send"; readonly to: Uint8Array; readonly frame: Uint8Array }
  | { readonly kind: "espnow-begin"; readonly channel: number; readonly peer: Uint8Array | undefined }
  | { readonly kind: "espnow-end" }
  /** TCP connect (after joining Wi-Fi when `wifi` is set; the credentials stay in the node). */
  | { readonly kind: "net-open"; readonly host: string; readonly port: number; readonly wifi: boolean }
  | { readonly kind: "net-send"; readonly data: Uint8Array }
  | { readonly kind: "net-close" }
  /** HTTP(S) download of `url` from byte `offset` (Range). */
  | { readonly kind: "stream-open"; readonly url: string; readonly offset: number; readonly wifi: boolean }
  | { readonly kind: "stream-close" }
  /** The node restarts (apply). */
  | { readonly kind: "restart" };

/** What a node reports about itself for progress bars, tables and the timeline. */
export interface NodeStatus {
  /** meshota_v1_Phase of the current session. */
  readonly phase: number;
  /** meshota_v1_ErrorCode of the current session. */
  readonly error: number;
  readonly bytesDone: number;
  /** Version of the running firmware. */
  readonly version: string;
}

/**
 * One node. Every call takes the virtual time it happens at and returns the port calls the
 * node made; calls for one node never overlap (the simulator awaits each).
 */
export interface SimNode {
  /** Mesh unicast address. */
  readonly address: number;
  /** Wi-Fi station MAC (ESP-NOW address). */
  readonly mac: Uint8Array;
  control(now: number, from: number, opcode: number, params: Uint8Array): Promise<readonly NodeOutput[]>;
  espnow(now: number, from: Uint8Array, frame: Uint8Array): Promise<readonly NodeOutput[]>;
  netConnected(now: number): Promise<readonly NodeOutput[]>;
  netRecv(now: number, data: Uint8Array): Promise<readonly NodeOutput[]>;
  /** The connection ended; `ok` false when it failed. */
  netClosed(now: number, ok: boolean): Promise<readonly NodeOutput[]>;
  /** Bytes of the open stream arrived; `end` when the body is complete; `failed` on error. */
  streamData(now: number, data: Uint8Array, end: boolean, failed: boolean): Promise<readonly NodeOutput[]>;
  /** Timers, verification steps, relay rounds. */
  poll(now: number): Promise<readonly NodeOutput[]>;
  /** The node boots again (after `restart`, or a power cycle). */
  reboot(now: number): Promise<readonly NodeOutput[]>;
  status(): NodeStatus;
}

/** Creates the nodes of a simulation. */
export interface NodeFactory {
  create(spec: NodeSpec): Promise<SimNode>;
  /** Releases every node (ends the emulator process). */
  close(): Promise<void>;
}

/** What a node is built from. */
export interface NodeSpec {
  readonly address: number;
  readonly mac: Uint8Array;
  /** meshota_v1_Method values the node supports. */
  readonly methods: readonly number[];
  /** Factory image of the running slot. */
  readonly image: Uint8Array;
  /** Manifest verification key, 65-byte uncompressed point. */
  readonly publicKey: Uint8Array;
  readonly chipRevision: number;
  /** Bytes of each OTA slot. */
  readonly slotSize: number;
  readonly maxChunkSize: number;
  readonly seed: number;
}
