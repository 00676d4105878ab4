import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hex } from "./bytes.js";
import { BearerError } from "./errors.js";
import { NobleBearer, openNobleBearer, type NobleCharacteristic, type NobleLike, type NoblePeripheral } from "./noble-bearer.js";

class FakeCharacteristic extends EventEmitter implements NobleCharacteristic {
  written: [number[], boolean][] = [];
  subscribed = false;
  constructor(readonly uuid: string) {
    super();
  }
  async writeAsync(data: Buffer, withoutResponse: boolean) {
    this.written.push([[...data], withoutResponse]);
  }
  async subscribeAsync() {
    this.subscribed = true;
  }
  async unsubscribeAsync() {
    this.subscribed = false;
  }
}

class FakePeripheral extends EventEmitter implements NoblePeripheral {
  connected = false;
  dataIn = new FakeCharacteristic("2add");
  dataOut = new FakeCharacteristic("2ade");
  constructor(readonly id: string, readonly advertisement: NoblePeripheral["advertisement"], readonly mtu: number | null = null, private readonly proxy = true) {
    super();
  }
  async connectAsync() {
    this.connected = true;
  }
  async disconnectAsync() {
    this.connected = false;
  }
  async discoverSomeServicesAndCharacteristicsAsync(services: string[], chars: string[]) {
    expect([services, chars]).toEqual([["1828"], ["2add", "2ade"]]);
    return { characteristics: this.proxy ? [this.dataOut, this.dataIn] : [] };
  }
}

class FakeNoble extends EventEmitter implements NobleLike {
  scanning: string[] | undefined;
  async startScanningAsync(services: string[]) {
    this.scanning = services;
  }
  async stopScanningAsync() {
    this.scanning = undefined;
  }
}

const NETWORK_ID = hex("3ecaff672f673370");

describe("NobleBearer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should pick the proxy advertising our Network ID and pass data both ways", async () => {
    const noble = new FakeNoble();
    const opening = openNobleBearer({ noble, networkId: NETWORK_ID });
    await vi.advanceTimersByTimeAsync(1);
    expect(noble.scanning).toEqual(["1828"]);
    const other = new FakePeripheral("aa", { serviceData: [{ uuid: "1828", data: Buffer.from("00ff046958233db014", "hex") }] });
    const ours = new FakePeripheral("bb", { serviceData: [{ uuid: "1828", data: Buffer.from("003ecaff672f673370", "hex") }] }, 69);
    noble.emit("discover", other);
    noble.emit("discover", ours);
    const bearer = await opening;
    expect(bearer.peripheral).toBe(ours);
    expect(noble.scanning).toBeUndefined();
    expect(bearer.writeSize).toBe(66);
    const got: number[][] = [];
    await bearer.start((d) => got.push([...d]), () => undefined);
    await bearer.write(Uint8Array.of(1, 2));
    ours.dataOut.emit("data", Buffer.from([9, 8]), true);
    expect(ours.dataIn.written).toEqual([[[1, 2], true]]);
    expect(got).toEqual([[9, 8]]);
    await bearer.close();
    expect([ours.connected, ours.dataOut.subscribed]).toEqual([false, false]);
  });

  it("should report a disconnect once", async () => {
    const p = new FakePeripheral("cc", {});
    const bearer = await NobleBearer.connect(p);
    const closes: (Error | undefined)[] = [];
    await bearer.start(() => undefined, (e) => closes.push(e));
    p.emit("disconnect");
    expect(closes.map((e) => e?.message)).toEqual(["proxy cc disconnected"]);
    await expect(bearer.write(Uint8Array.of(1))).rejects.toThrow("the GATT proxy link is closed");
  });

  it("should disconnect from a device without the proxy characteristics", async () => {
    const p = new FakePeripheral("dd", {}, null, false);
    await expect(NobleBearer.connect(p)).rejects.toThrow("proxy dd lacks Mesh Proxy Data In or Data Out");
    expect(p.connected).toBe(false);
  });

  it("should time out a scan that finds nothing", async () => {
    const noble = new FakeNoble();
    const opening = openNobleBearer({ noble, scanTimeoutMs: 1000 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const e = await opening;
    expect(BearerError.isInstance(e)).toBe(true);
    expect((e as Error).message).toBe("no mesh proxy found within 1000 ms");
    expect(noble.listenerCount("discover")).toBe(0);
  });
});
