// The simulator's view of nodes: the inputs the firmware core takes (meshota_node.h) and the
// port calls it makes (meshota_port.h), as plain data. Nodes live in a cluster that shares
// one clock: the node emulator runs many real C cores in one process and moves them all
// forward together. Unit tests of the simulator use small doubles.

/** An input to one node. ESP-NOW peers are named by mesh address. */
export type NodeInput =
  | { readonly kind: "mesh"; readonly from: number; readonly opcode: number; readonly params: Uint8Array }
  | { readonly kind: "espnow"; readonly from: number; readonly frame: Uint8Array }
  | { readonly kind: "net-connected" }
  | { readonly kind: "net-data"; readonly data: Uint8Array }
  | { readonly kind: "net-closed" }
  /** Image bytes of stream `stream` (the number of its stream-open), in order from its offset. */
  | { readonly kind: "stream-data"; readonly stream: number; readonly data: Uint8Array }
  /** The end of stream `stream`: the image's end, or `error` (the node's read fails). */
  | { readonly kind: "stream-end"; readonly stream: number; readonly error?: string };

/** A port call a node made. */
export type NodeOutput =
  /** Vendor message on the mesh: 6-bit opcode and parameters. */
  | { readonly kind: "mesh-send"; readonly to: number; readonly opcode: number; readonly params: Uint8Array }
  /** One encoded DataFrame on ESP-NOW; `to` is a mesh address or "broadcast". */
  | { readonly kind: "espnow-send"; readonly to: number | "broadcast"; readonly frame: Uint8Array }
  /** ESP-NOW starts on Wi-Fi `channel`; `peerMac` is the one peer the core named, if any. */
  | { readonly kind: "espnow-begin"; readonly channel: number; readonly peerMac?: Uint8Array }
  /** ESP-NOW is off (espnow_end, or the power went): the node hears nothing on it. */
  | { readonly kind: "espnow-end" }
  /** TCP connect to host:port. */
  | { readonly kind: "net-open"; readonly host: string; readonly port: number }
  | { readonly kind: "net-send"; readonly data: Uint8Array }
  | { readonly kind: "net-close" }
  /** Fetch `url` (HTTP) from byte `offset` as stream number `stream` (Wi-Fi method). */
  | { readonly kind: "stream-open"; readonly stream: number; readonly url: string; readonly offset: number }
  | { readonly kind: "stream-close"; readonly stream: number }
  /** The node restarted (apply, rollback). */
  | { readonly kind: "restarted" };

/** A port call and the node that made it. */
export interface NodeEvent {
  readonly node: number;
  readonly output: NodeOutput;
  /** Virtual time (ms) of the port call, when the cluster knows it; else the advance's end. */
  readonly at?: number;
}

/** What a node reports about itself. */
export interface NodeStatus {
  readonly power: boolean;
  /** meshota_v1_Phase of the current session. */
  readonly phase: number;
  /** meshota_v1_ErrorCode of the current session. */
  readonly error: number;
  readonly bytesDone: number;
  /** Version of the running firmware. */
  readonly version: string;
  /** meshota_v1_RelayPhase. */
  readonly relayPhase: number;
}

/** What a node is built from. */
export interface NodeSpec {
  readonly address: number;
  /** meshota_v1_Method values the node supports. */
  readonly methods: readonly number[];
  readonly projectName: string;
  readonly version: string;
  readonly secureVersion: number;
  readonly chipId: number;
  readonly chipRevision: number;
  /** Bytes of each OTA slot (a multiple of 4096). */
  readonly slotSize: number;
  readonly maxChunkSize: number;
  /**
   * The node opens real sockets on this machine for TCP and HTTP (loopback servers) instead
   * of the simulated Wi-Fi. Such transfers run in wall-clock time.
   */
  readonly hostNetwork?: boolean;
}

/**
 * Nodes that share one clock. Inputs are delivered at the cluster's current time, in order;
 * advance() moves every node to a later time (running their timers) and returns every port
 * call made since the previous advance, in the order they happened.
 */
export interface NodeCluster {
  /** Virtual time of the nodes, ms. */
  readonly now: number;
  /** Sets the manifest verification key (65-byte uncompressed P-256 point) of all nodes. */
  setKey(publicKey: Uint8Array): Promise<void>;
  add(spec: NodeSpec): Promise<void>;
  /** Wi-Fi station MAC of a node (its ESP-NOW address). */
  mac(address: number): Uint8Array;
  input(address: number, input: NodeInput): void;
  advance(to: number): Promise<readonly NodeEvent[]>;
  status(addresses: readonly number[]): Promise<Map<number, NodeStatus>>;
  /** Power off (RAM lost) or on (boot, resume the session). */
  power(address: number, on: boolean): Promise<void>;
  /**
   * Optional: the nodes' ESP-NOW radios send at `rateBps` with `overheadBytes` per frame and
   * refuse a send (the core then offers it again later) while their transmit queue is full, as
   * the simulation's ESP-NOW medium does. Without it a node's sends always succeed.
   */
  espnowRadio?(radio: { rateBps: number; overheadBytes: number; txQueue: number }): Promise<void>;
  close(): Promise<void>;
}
