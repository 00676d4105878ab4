import { describe, expect, it } from "vitest";
import { BearerError } from "./errors.js";
import { requestWebBluetoothProxy, WebBluetoothBearer, type WebGattCharacteristic, type WebGattDevice, type WebGattServer } from "./web-bluetooth.js";

class FakeCharacteristic implements WebGattCharacteristic {
  value: DataView | null = null;
  written: number[][] = [];
  notifying = false;
  private listeners = new Set<(e: Event) => void>();
  async writeValueWithoutResponse(value: Uint8Array) {
    this.written.push([...value]);
  }
  async startNotifications() {
    this.notifying = true;
  }
  async stopNotifications() {
    this.notifying = false;
  }
  addEventListener(_: "characteristicvaluechanged", l: (e: Event) => void) {
    this.listeners.add(l);
  }
  removeEventListener(_: "characteristicvaluechanged", l: (e: Event) => void) {
    this.listeners.delete(l);
  }
  notify(bytes: number[]) {
    // Browsers hand over a DataView that may sit inside a larger buffer.
    const buffer = new Uint8Array([0xee, ...bytes, 0xee]).buffer;
    this.value = new DataView(buffer, 1, bytes.length);
    for (const l of this.listeners) l({ target: this } as unknown as Event);
  }
  get listenerCount() {
    return this.listeners.size;
  }
}

function fakeServer(withService = true) {
  const dataIn = new FakeCharacteristic();
  const dataOut = new FakeCharacteristic();
  const deviceListeners = new Set<(e: Event) => void>();
  const device: WebGattDevice = {
    name: "proxy",
    addEventListener: (_t, l) => deviceListeners.add(l),
    removeEventListener: (_t, l) => deviceListeners.delete(l),
  };
  const requested: (number | string)[] = [];
  const server: WebGattServer & { connected: boolean; disconnects: number } = {
    connected: false,
    device,
    disconnects: 0,
    async connect() {
      server.connected = true;
      return server;
    },
    disconnect() {
      server.connected = false;
      server.disconnects++;
    },
    async getPrimaryService(uuid: number | string) {
      requested.push(uuid);
      if (!withService) throw new Error("No Services matching UUID found in Device.");
      return {
        async getCharacteristic(c: number | string) {
          requested.push(c);
          return c === 0x2add ? dataIn : dataOut;
        },
      };
    },
  };
  const dropLink = () => {
    for (const l of deviceListeners) l({} as Event);
  };
  return { server, dataIn, dataOut, requested, dropLink, deviceListeners };
}

describe("WebBluetoothBearer", () => {
  it("should connect and find the Mesh Proxy Service and its Data In and Data Out characteristics", async () => {
    const f = fakeServer();
    const bearer = await WebBluetoothBearer.open(f.server);
    expect(f.server.connected).toBe(true);
    expect(f.requested).toEqual([0x1828, 0x2add, 0x2ade]);
    expect(bearer.writeSize).toBe(20);
  });

  it("should write to Data In and deliver Data Out notifications as bytes", async () => {
    const f = fakeServer();
    const bearer = await WebBluetoothBearer.open(f.server);
    const got: number[][] = [];
    await bearer.start((d) => got.push([...d]), () => undefined);
    expect(f.dataOut.notifying).toBe(true);
    await bearer.write(Uint8Array.of(0x00, 0x01, 0x02));
    f.dataOut.notify([0x01, 0xaa, 0xbb]);
    expect(f.dataIn.written).toEqual([[0, 1, 2]]);
    expect(got).toEqual([[0x01, 0xaa, 0xbb]]);
    await expect(bearer.write(new Uint8Array(21))).rejects.toThrow("write of 21 bytes is over the write size 20");
  });

  it("should report a dropped link once and refuse writes afterwards", async () => {
    const f = fakeServer();
    const bearer = await WebBluetoothBearer.open(f.server);
    const closes: (Error | undefined)[] = [];
    await bearer.start(() => undefined, (e) => closes.push(e));
    f.dropLink();
    f.dropLink();
    expect(closes.map((e) => e?.message)).toEqual(["the GATT proxy disconnected"]);
    expect(f.dataOut.listenerCount).toBe(0);
    await expect(bearer.write(Uint8Array.of(1))).rejects.toThrow("the GATT proxy link is closed");
  });

  it("should stop notifications and disconnect on close", async () => {
    const f = fakeServer();
    const bearer = await WebBluetoothBearer.open(f.server);
    const closes: (Error | undefined)[] = [];
    await bearer.start(() => undefined, (e) => closes.push(e));
    await bearer.close();
    expect([f.dataOut.notifying, f.server.disconnects, closes]).toEqual([false, 1, [undefined]]);
  });

  it("should explain a device without the Mesh Proxy Service", async () => {
    const error = await WebBluetoothBearer.open(fakeServer(false).server).catch((e: unknown) => e);
    expect(BearerError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe("the device does not offer the Mesh Proxy Service (0x1828): No Services matching UUID found in Device.");
  });

  it("should ask the browser for devices offering the Mesh Proxy Service", async () => {
    const f = fakeServer();
    let filters: unknown;
    const bearer = await requestWebBluetoothProxy({
      requestDevice: async (o) => {
        filters = o.filters;
        return { ...f.server.device, gatt: f.server };
      },
    });
    expect(filters).toEqual([{ services: [0x1828] }]);
    expect(bearer).toBeInstanceOf(WebBluetoothBearer);
  });

  it("should say so when Web Bluetooth is missing", async () => {
    await expect(requestWebBluetoothProxy()).rejects.toThrow("Web Bluetooth is not available in this browser");
  });
});
