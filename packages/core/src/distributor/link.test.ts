import {
  create,
  encodeVendorInit,
  MissingChunksSchema,
  Opcode,
  type InfoStatus,
  type VendorMessage,
} from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../clock.js";
import { TransportError } from "../errors.js";
import { MemoryNetwork } from "../memory-transport.js";
import { backoffDelay, ControlLink, NoReplyError } from "./link.js";
import { missingIndices } from "./mesh-transfer.js";

const isInfo = (m: VendorMessage): m is InfoStatus => m.$typeName === "meshota.v1.InfoStatus";
const retry = { replyTimeoutMs: 3000, attempts: 4, backoffMs: 1000, maxBackoffMs: 8000 };

describe("ControlLink", () => {
  it("should retry with exponential backoff and give up after the last attempt", async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock, reliable: false });
    const sent: number[] = [];
    network.attach(0x50, () => sent.push(clock.now()));
    const link = new ControlLink(network.transport(), clock);
    const error = await clock.run(
      link.request(0x50, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry).catch((e: unknown) => e)
    );
    expect(NoReplyError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe("no InfoStatus from 0x0050 after 4 attempts");
    // Attempts at 0, 3000+1000, 7000+2000, 12000+4000; gives up 3000 ms after the last.
    expect(sent).toEqual([0, 4000, 9000, 16000]);
    expect(clock.now()).toBe(19000);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, retry))).toEqual([1000, 2000, 4000, 8000, 8000]);
  });

  it("should take the answer of a later attempt when the first reply is lost", async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock });
    let asked = 0;
    const node = network.attach(0x51, (m) => {
      if (++asked === 1) return; // first reply lost
      node.send(m.src, encodeVendorInit("InfoStatus", { version: "1.2.3" }));
    });
    const link = new ControlLink(network.transport(), clock);
    const info = await clock.run(link.request(0x51, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry));
    expect(info.version).toBe("1.2.3");
    expect(asked).toBe(2);
    expect(clock.now()).toBe(4000);
  });

  it("should ignore answers from other addresses and of other kinds", async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock });
    const other = network.attach(0x60, () => undefined);
    const node = network.attach(0x61, (m) => {
      other.send(m.src, encodeVendorInit("InfoStatus", { version: "wrong node" }));
      node.send(m.src, encodeVendorInit("UpdateStatus", {}));
      node.send(m.src, encodeVendorInit("InfoStatus", { version: "right" }));
    });
    const link = new ControlLink(network.transport(), clock);
    const info = await clock.run(link.request(0x61, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry));
    expect(info.version).toBe("right");
  });
});

describe("ControlLink request slots", () => {
  it("should keep at most maxInFlight requests awaiting a reply and serve the rest in order", async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock });
    const link = new ControlLink(network.transport(), clock, { maxInFlight: 3 });
    let outstanding = 0;
    let most = 0;
    const order: number[] = [];
    for (let a = 0x80; a < 0x8a; a++) {
      const node = network.attach(a, (m) => {
        order.push(a);
        outstanding++;
        most = Math.max(most, outstanding);
        // Each node answers 500 ms later.
        void clock.sleep(500).then(() => {
          outstanding--;
          node.send(m.src, encodeVendorInit("InfoStatus", { version: `v${a}` }));
        });
      });
    }
    const asks = Array.from({ length: 10 }, (_, i) =>
      link.request(0x80 + i, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry)
    );
    const infos = await clock.run(Promise.all(asks));
    expect(infos.map((x) => x.version)).toEqual(Array.from({ length: 10 }, (_, i) => `v${0x80 + i}`));
    expect(most).toBe(3);
    expect(order).toEqual(Array.from({ length: 10 }, (_, i) => 0x80 + i));
    // Four turns of 500 ms (3 + 3 + 3 + 1), no timeouts.
    expect(clock.now()).toBe(2000);
    expect(link.inFlight).toBe(0);
  });

  it("should give up a queued request on cancel without losing its slot", async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock });
    const link = new ControlLink(network.transport(), clock, { maxInFlight: 1 });
    const node = network.attach(0x90, (m) => {
      void clock.sleep(100).then(() => node.send(m.src, encodeVendorInit("InfoStatus", { version: "a" })));
    });
    const first = link.request(0x90, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry);
    const stop = new AbortController();
    const queued = link
      .request(0x90, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry, stop.signal)
      .catch((e: unknown) => e);
    stop.abort();
    expect(((await queued) as Error).name).toBe("CancelledError");
    const info = await clock.run(first);
    expect(info.version).toBe("a");
    expect(link.inFlight).toBe(0);
    // The freed slot serves the next request at once.
    const again = await clock.run(link.request(0x90, encodeVendorInit("InfoGet", {}), isInfo, "InfoStatus", retry));
    expect(again.version).toBe("a");
  });

  it("should refuse a slot count that is not a whole number of at least 1", () => {
    const network = new MemoryNetwork({});
    expect(() => new ControlLink(network.transport(), new VirtualClock(), { maxInFlight: 0 })).toThrow(RangeError);
    expect(() => new ControlLink(network.transport(), new VirtualClock(), { maxInFlight: Number.NaN })).toThrow(
      "maxInFlight NaN is not a whole number of at least 1"
    );
  });
});

describe("MemoryTransport", () => {
  it("should reject a reliable send to an absent node after the acknowledgement timeout", async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork({ clock, ackTimeoutMs: 1500 });
    const t = network.transport();
    const error = await clock.run(t.send(0x70, encodeVendorInit("InfoGet", {})).catch((e: unknown) => e));
    expect(TransportError.isInstance(error) && error.reason).toBe("timeout");
    expect(clock.now()).toBe(1500);
  });

  it("should refuse frames over the MTU and sends after close", async () => {
    const network = new MemoryNetwork({ mtu: 8 });
    const t = network.transport();
    await expect(t.send(0x70, { opcode: Opcode.DataFrame, params: new Uint8Array(9) })).rejects.toThrow(
      "9 parameter bytes exceed the MTU of 8"
    );
    await t.close();
    await expect(t.send(0x70, encodeVendorInit("InfoGet", {}))).rejects.toThrow("the memory transport is closed");
  });

  it("should keep only the newest messages for a slow consumer", async () => {
    const network = new MemoryNetwork({ queueDepth: 3 });
    const t = network.transport();
    const node = network.attach(0x71, () => undefined);
    const stop = new AbortController();
    const iterator = t.messages(stop.signal)[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) node.send(1, encodeVendorInit("UpdateStatus", { bytesDone: i + 1 }));
    await new Promise((r) => setTimeout(r, 0));
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { value } = await iterator.next();
      seen.push(value!.frame.params[1]!);
    }
    expect(seen).toEqual([3, 4, 5]);
    stop.abort();
    expect((await iterator.next()).done).toBe(true);
  });
});

describe("missingIndices", () => {
  it("should read a bitmap window and ranges as their union", () => {
    const report = create(MissingChunksSchema, {
      baseIndex: 10,
      bitmap: new Uint8Array([0b00000101, 0b10000000]),
      ranges: [
        { first: 2, count: 3 },
        { first: 98, count: 5 },
      ],
      missingTotal: 9,
    });
    expect(missingIndices(report, 100)).toEqual([2, 3, 4, 10, 12, 25, 98, 99]);
  });
});
