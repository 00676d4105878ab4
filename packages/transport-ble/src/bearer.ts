// The GATT bearer as the proxy client sees it: one characteristic written (Mesh Proxy Data In)
// and one notifying (Mesh Proxy Data Out). Web Bluetooth, Node BLE and the in-memory mesh each
// provide one.

export interface GattBearer {
  /** Largest write the link takes (ATT MTU less 3). */
  readonly writeSize: number;
  /** Writes one chunk to Mesh Proxy Data In (write without response). */
  write(data: Uint8Array): Promise<void>;
  /**
   * Starts delivery of Mesh Proxy Data Out notifications to `onData`; `onClose` is called once
   * when the link drops or is closed, with the cause when it failed.
   */
  start(onData: (data: Uint8Array) => void, onClose: (error?: Error) => void): Promise<void>;
  /** Disconnects. */
  close(): Promise<void>;
}
