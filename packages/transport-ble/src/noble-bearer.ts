// GATT bearer for Node through @abandonware/noble, loaded only when used: it has native parts
// that do not build everywhere, so it is an optional peer dependency.
import type { GattBearer } from "./bearer.js";
import { toHex } from "./bytes.js";
import { BearerError } from "./errors.js";
import { DEFAULT_PROXY_WRITE_SIZE } from "./proxy-pdu.js";

/** The part of noble's characteristic this bearer uses. */
export interface NobleCharacteristic {
  readonly uuid: string;
  writeAsync(data: Buffer, withoutResponse: boolean): Promise<void>;
  subscribeAsync(): Promise<void>;
  unsubscribeAsync(): Promise<void>;
  on(event: "data", listener: (data: Buffer, isNotification: boolean) => void): unknown;
  removeListener(event: "data", listener: (data: Buffer, isNotification: boolean) => void): unknown;
}

/** The part of noble's peripheral this bearer uses. */
export interface NoblePeripheral {
  readonly id: string;
  readonly address?: string;
  readonly mtu?: number | null;
  readonly advertisement?: { readonly localName?: string; readonly serviceData?: readonly { readonly uuid: string; readonly data: Buffer }[] };
  connectAsync(): Promise<void>;
  disconnectAsync(): Promise<void>;
  discoverSomeServicesAndCharacteristicsAsync(services: string[], characteristics: string[]): Promise<{ characteristics: NobleCharacteristic[] }>;
  once(event: "disconnect", listener: (reason?: unknown) => void): unknown;
  removeListener(event: "disconnect", listener: (reason?: unknown) => void): unknown;
}

/** The part of the noble module this bearer uses. */
export interface NobleLike {
  readonly state?: string;
  waitForPoweredOnAsync?(timeout?: number): Promise<void>;
  startScanningAsync(services: string[], allowDuplicates: boolean): Promise<void>;
  stopScanningAsync(): Promise<void>;
  on(event: "discover", listener: (p: NoblePeripheral) => void): unknown;
  removeListener(event: "discover", listener: (p: NoblePeripheral) => void): unknown;
}

export interface NobleBearerOptions {
  /** Connect to this peripheral (noble id or MAC address, case-insensitive) only. */
  readonly peripheral?: string;
  /** Connect only to proxies advertising this 8-byte Network ID (k3 of the NetKey). */
  readonly networkId?: Uint8Array;
  /** Give up scanning after this. Default 15 000 ms. */
  readonly scanTimeoutMs?: number;
  /** The noble module; loaded from @abandonware/noble when absent. */
  readonly noble?: NobleLike;
}

async function loadNoble(): Promise<NobleLike> {
  const name = "@abandonware/noble";
  try {
    const mod = (await import(/* @vite-ignore */ name)) as { default?: NobleLike } & NobleLike;
    return mod.default ?? mod;
  } catch (cause) {
    throw new BearerError(`BLE access needs the optional package ${name} (npm install ${name}); it could not be loaded`, { cause });
  }
}

/** Whether an advertisement is a mesh proxy of the wanted network (Network ID service data). */
function matches(p: NoblePeripheral, options: NobleBearerOptions): boolean {
  if (options.peripheral) {
    const want = options.peripheral.toLowerCase();
    return p.id.toLowerCase() === want || (p.address ?? "").toLowerCase() === want;
  }
  if (!options.networkId) return true;
  const data = p.advertisement?.serviceData?.find((s) => s.uuid.toLowerCase() === "1828")?.data;
  // Service data type 0x00 is followed by the Network ID.
  return !!data && data.length === 9 && data[0] === 0x00 && toHex(data.subarray(1)) === toHex(options.networkId);
}

export class NobleBearer implements GattBearer {
  readonly writeSize: number;
  private closed = false;
  private onData: ((d: Uint8Array) => void) | undefined;
  private onClose: ((e?: Error) => void) | undefined;
  private readonly data = (data: Buffer, isNotification: boolean) => {
    if (isNotification !== false) this.onData?.(new Uint8Array(data));
  };
  private readonly disconnected = () => this.finish(new BearerError(`proxy ${this.peripheral.id} disconnected`));

  constructor(
    readonly peripheral: NoblePeripheral,
    private readonly dataIn: NobleCharacteristic,
    private readonly dataOut: NobleCharacteristic,
  ) {
    const mtu = peripheral.mtu;
    this.writeSize = typeof mtu === "number" && mtu > 23 ? Math.min(mtu - 3, 512) : DEFAULT_PROXY_WRITE_SIZE;
  }

  /** Connects to a peripheral and finds Mesh Proxy Data In and Data Out. */
  static async connect(peripheral: NoblePeripheral): Promise<NobleBearer> {
    await peripheral.connectAsync();
    try {
      const { characteristics } = await peripheral.discoverSomeServicesAndCharacteristicsAsync(["1828"], ["2add", "2ade"]);
      const dataIn = characteristics.find((c) => c.uuid.toLowerCase() === "2add");
      const dataOut = characteristics.find((c) => c.uuid.toLowerCase() === "2ade");
      if (!dataIn || !dataOut) throw new BearerError(`proxy ${peripheral.id} lacks Mesh Proxy Data In or Data Out`);
      return new NobleBearer(peripheral, dataIn, dataOut);
    } catch (error) {
      await peripheral.disconnectAsync().catch(() => undefined);
      throw error;
    }
  }

  async start(onData: (d: Uint8Array) => void, onClose: (e?: Error) => void): Promise<void> {
    this.onData = onData;
    this.onClose = onClose;
    this.peripheral.once("disconnect", this.disconnected);
    this.dataOut.on("data", this.data);
    await this.dataOut.subscribeAsync();
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new BearerError("the GATT proxy link is closed");
    await this.dataIn.writeAsync(Buffer.from(data), true);
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.dataOut.removeListener("data", this.data);
    this.peripheral.removeListener("disconnect", this.disconnected);
    this.onClose?.(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.finish();
    await this.dataOut.unsubscribeAsync().catch(() => undefined);
    await this.peripheral.disconnectAsync().catch(() => undefined);
  }
}

/** Scans for a node offering the Mesh Proxy Service and opens a bearer to the first match. */
export async function openNobleBearer(options: NobleBearerOptions = {}): Promise<NobleBearer> {
  const noble = options.noble ?? (await loadNoble());
  const timeoutMs = options.scanTimeoutMs ?? 15_000;
  if (noble.waitForPoweredOnAsync) await noble.waitForPoweredOnAsync(timeoutMs);
  const peripheral = await new Promise<NoblePeripheral>((resolve, reject) => {
    const onDiscover = (p: NoblePeripheral) => {
      if (!matches(p, options)) return;
      cleanup();
      resolve(p);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new BearerError(`no mesh proxy found within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      noble.removeListener("discover", onDiscover);
      void noble.stopScanningAsync().catch(() => undefined);
    };
    noble.on("discover", onDiscover);
    noble.startScanningAsync(["1828"], false).catch((cause: unknown) => {
      cleanup();
      reject(new BearerError("BLE scanning could not start", { cause }));
    });
  });
  return NobleBearer.connect(peripheral);
}
