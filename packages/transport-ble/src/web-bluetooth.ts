// GATT bearer over the Web Bluetooth API (Chrome, Edge, Opera on desktop and Android). The
// types below are the small part of the Web Bluetooth interfaces this bearer uses, so the
// package does not need the DOM Bluetooth typings and tests can pass a fake.
import type { GattBearer } from "./bearer.js";
import { BearerError } from "./errors.js";
import { DEFAULT_PROXY_WRITE_SIZE, MESH_PROXY_DATA_IN, MESH_PROXY_DATA_OUT, MESH_PROXY_SERVICE } from "./proxy-pdu.js";

export interface WebGattCharacteristic {
  readonly value?: DataView | null;
  writeValueWithoutResponse(value: Uint8Array): Promise<void>;
  startNotifications(): Promise<unknown>;
  stopNotifications(): Promise<unknown>;
  addEventListener(type: "characteristicvaluechanged", listener: (event: Event) => void): void;
  removeEventListener(type: "characteristicvaluechanged", listener: (event: Event) => void): void;
}

export interface WebGattService {
  getCharacteristic(uuid: number | string): Promise<WebGattCharacteristic>;
}

export interface WebGattDevice {
  readonly name?: string | undefined;
  readonly gatt?: WebGattServer | undefined;
  addEventListener(type: "gattserverdisconnected", listener: (event: Event) => void): void;
  removeEventListener(type: "gattserverdisconnected", listener: (event: Event) => void): void;
}

export interface WebGattServer {
  readonly connected: boolean;
  readonly device: WebGattDevice;
  connect(): Promise<WebGattServer>;
  disconnect(): void;
  getPrimaryService(uuid: number | string): Promise<WebGattService>;
}

export interface WebBluetooth {
  requestDevice(options: { filters: { services: (number | string)[] }[]; optionalServices?: (number | string)[] }): Promise<WebGattDevice>;
}

export interface WebBluetoothBearerOptions {
  /**
   * Bytes per write. Web Bluetooth can neither read nor set the ATT MTU, so the safe default is
   * 20 (MTU 23 less 3); raise it only for a link known to have negotiated more.
   */
  readonly writeSize: number;
}

/** A GATT bearer on a connected Web Bluetooth GATT server offering the Mesh Proxy Service. */
export class WebBluetoothBearer implements GattBearer {
  readonly writeSize: number;
  private onData: ((d: Uint8Array) => void) | undefined;
  private onClose: ((e?: Error) => void) | undefined;
  private closed = false;
  private readonly notified = (event: Event) => {
    const view = (event.target as unknown as WebGattCharacteristic | null)?.value ?? this.dataOut.value;
    if (!view) return;
    this.onData?.(new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)));
  };
  private readonly disconnected = () => this.finish(new BearerError("the GATT proxy disconnected"));

  private constructor(
    private readonly server: WebGattServer,
    private readonly dataIn: WebGattCharacteristic,
    private readonly dataOut: WebGattCharacteristic,
    options: WebBluetoothBearerOptions,
  ) {
    this.writeSize = options.writeSize;
  }

  /** Finds the Mesh Proxy Service and its two characteristics on a GATT server (connecting it). */
  static async open(server: WebGattServer, options: Partial<WebBluetoothBearerOptions> = {}): Promise<WebBluetoothBearer> {
    const writeSize = options.writeSize ?? DEFAULT_PROXY_WRITE_SIZE;
    if (!Number.isInteger(writeSize) || writeSize < 2 || writeSize > 512) throw new RangeError(`write size ${writeSize} is not 2-512`);
    try {
      const connected = server.connected ? server : await server.connect();
      const service = await connected.getPrimaryService(MESH_PROXY_SERVICE);
      const dataIn = await service.getCharacteristic(MESH_PROXY_DATA_IN);
      const dataOut = await service.getCharacteristic(MESH_PROXY_DATA_OUT);
      return new WebBluetoothBearer(connected, dataIn, dataOut, { writeSize });
    } catch (cause) {
      throw new BearerError(`the device does not offer the Mesh Proxy Service (0x1828): ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
  }

  async start(onData: (d: Uint8Array) => void, onClose: (e?: Error) => void): Promise<void> {
    this.onData = onData;
    this.onClose = onClose;
    this.server.device.addEventListener("gattserverdisconnected", this.disconnected);
    this.dataOut.addEventListener("characteristicvaluechanged", this.notified);
    await this.dataOut.startNotifications();
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new BearerError("the GATT proxy link is closed");
    if (data.length > this.writeSize) throw new RangeError(`write of ${data.length} bytes is over the write size ${this.writeSize}`);
    await this.dataIn.writeValueWithoutResponse(data);
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.dataOut.removeEventListener("characteristicvaluechanged", this.notified);
    this.server.device.removeEventListener("gattserverdisconnected", this.disconnected);
    this.onClose?.(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.finish();
    await this.dataOut.stopNotifications().catch(() => undefined);
    this.server.disconnect();
  }
}

/**
 * Asks the user to pick a mesh proxy (the browser's device chooser) and opens a bearer to it.
 * Must run in a user gesture. Browsers cannot filter on the proxy's Network ID, so every
 * device offering the Mesh Proxy Service is listed.
 */
export async function requestWebBluetoothProxy(bluetooth?: WebBluetooth, options: Partial<WebBluetoothBearerOptions> = {}): Promise<WebBluetoothBearer> {
  const api = bluetooth ?? (globalThis as { navigator?: { bluetooth?: WebBluetooth } }).navigator?.bluetooth;
  if (!api) throw new BearerError("Web Bluetooth is not available in this browser");
  const device = await api.requestDevice({ filters: [{ services: [MESH_PROXY_SERVICE] }] });
  if (!device.gatt) throw new BearerError(`device ${device.name ?? ""} has no GATT server`.replace("  ", " "));
  return WebBluetoothBearer.open(device.gatt, options);
}
