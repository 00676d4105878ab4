import { describe, expect, it } from "vitest";
import { EspNowMedium } from "./espnow.js";
import { IpMedium, type ServerConnection } from "./ip.js";
import { SimRandom } from "./random.js";
import { Scheduler } from "./scheduler.js";

const mac = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);
const BROADCAST = new Uint8Array(6).fill(0xff);

describe("EspNowMedium", () => {
  function setup(options = {}) {
    const sched = new Scheduler();
    const m = new EspNowMedium(sched, new SimRandom(1), { rateBps: 200_000, overheadBytes: 50, ...options });
    const got = new Map<number, number[]>();
    for (const n of [1, 2, 3]) {
      got.set(n, []);
      m.addStation(mac(n), (_from, frame) => got.get(n)!.push(frame[0]!));
    }
    m.link(mac(1), mac(2));
    m.link(mac(1), mac(3));
    return { sched, m, got };
  }

  it("should deliver broadcasts to neighbours on the sender's channel only, one frame's airtime apart", async () => {
    const { sched, m, got } = setup();
    m.tune(mac(1), 6);
    m.tune(mac(2), 6);
    m.tune(mac(3), 11);
    expect(m.send(mac(1), BROADCAST, new Uint8Array(200).fill(7))).toBe(true);
    expect(m.send(mac(1), BROADCAST, new Uint8Array(200).fill(8))).toBe(true);
    await sched.run();
    expect(got.get(2)).toEqual([7, 8]);
    expect(got.get(3)).toEqual([]);
    expect(m.stats.wrongChannel).toBe(2);
    // (200 + 50) bytes at 200 kbit/s: 10 ms each, back to back.
    expect(sched.now()).toBe(20);
  });

  it("should neither deliver to nor send from a station that is off, and drop a frame whose receiver left mid-air", async () => {
    const { sched, m, got } = setup();
    // Station 2 was never tuned: as a radio before esp_now_init, it hears nothing.
    m.tune(mac(1), 6);
    m.tune(mac(3), 6);
    expect(m.send(mac(1), BROADCAST, new Uint8Array(200).fill(1))).toBe(true);
    expect(m.send(mac(2), BROADCAST, new Uint8Array(200).fill(2))).toBe(false);
    await sched.run();
    expect(got.get(2)).toEqual([]);
    expect(got.get(3)).toEqual([1]);
    // Off is not another channel.
    expect(m.stats.wrongChannel).toBe(0);
    // Station 3 turns off while the next broadcast and a unicast to it are on air (10 ms each).
    m.send(mac(1), BROADCAST, new Uint8Array(200).fill(3));
    m.send(mac(1), mac(3), new Uint8Array(200).fill(4));
    sched.at(sched.now() + 5, "off", () => m.tune(mac(3), 0));
    await sched.run();
    expect(got.get(3)).toEqual([1]);
    m.tune(mac(3), 6);
    m.send(mac(1), mac(3), new Uint8Array(200).fill(5));
    await sched.run();
    expect(got.get(3)).toEqual([1, 5]);
  });

  it("should refuse frames when the sender's queue is full and payloads over the limit", () => {
    const { m } = setup({ txQueue: 4 });
    m.tune(mac(1), 1);
    const sent = Array.from({ length: 8 }, () => m.send(mac(1), BROADCAST, new Uint8Array(100)));
    expect(sent).toEqual([true, true, true, true, true, false, false, false]);
    expect(m.stats.queueFull).toBe(3);
    expect(m.send(mac(1), BROADCAST, new Uint8Array(251))).toBe(false);
  });

  it("should count the queue and the air time from when a late frame was sent", async () => {
    const { sched, m } = setup({ txQueue: 4 });
    m.tune(mac(1), 1);
    m.tune(mac(2), 1);
    const arrived: number[] = [];
    m.addStation(mac(4), () => arrived.push(sched.now()));
    m.tune(mac(4), 1);
    m.link(mac(1), mac(4));
    sched.at(30, "tick", () => {
      // (100 + 50) bytes at 200 kbit/s: 6 ms each. Handed over at 30 ms, sent from 0 ms on.
      const sent = Array.from({ length: 6 }, () => m.send(mac(1), BROADCAST, new Uint8Array(100), 0));
      // Five frames back to back from 0 ms end by 30 ms: the queue is empty again.
      expect(sent).toEqual([true, true, true, true, true, false]);
      expect(m.send(mac(1), BROADCAST, new Uint8Array(100), 30)).toBe(true);
      // A time past now counts as now.
      expect(m.send(mac(1), BROADCAST, new Uint8Array(100), 99)).toBe(true);
    });
    await sched.run();
    expect(arrived).toEqual([30, 30, 30, 30, 30, 36, 42]);
    expect(m.stats.queueFull).toBe(1);
  });

  it("should retry a lossy unicast and deliver it once", async () => {
    const { sched, m, got } = setup({ loss: 0.5, unicastRetries: 10, txQueue: 1000 });
    m.tune(mac(1), 1);
    m.tune(mac(2), 1);
    for (let i = 0; i < 20; i++) m.send(mac(1), mac(2), new Uint8Array([i]));
    await sched.run();
    expect(got.get(2)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(m.stats.framesSent).toBeGreaterThan(20);
  });
});

describe("IpMedium", () => {
  it("should share the access point among flows and cap each station", async () => {
    const sched = new Scheduler();
    const ip = new IpMedium(sched, new SimRandom(1), { apRate: 1_000_000, stationRate: 400_000, rttMs: 0, joinMs: 0, blockBytes: 10_000 });
    const finished: number[] = [];
    ip.listen("srv", 1, {
      connect(conn: ServerConnection) {
        conn.write(new Uint8Array(100_000));
        conn.end();
        return { data: () => undefined, closed: () => undefined };
      },
    });
    for (let i = 0; i < 5; i++) {
      ip.connect("srv", 1, false, { connected: () => undefined, data: () => undefined, closed: () => finished.push(sched.now()) });
    }
    await sched.run();
    expect(finished).toHaveLength(5);
    // 500 kB through a 1 MB/s access point: not before 0.5 s; each station alone would need 0.25 s.
    expect(Math.max(...finished)).toBeGreaterThanOrEqual(500);
    expect(ip.stats.bytesDelivered).toBe(500_000);
  });

  it("should download from a byte offset and report the end, and fail for an unknown path", async () => {
    const sched = new Scheduler();
    const ip = new IpMedium(sched, new SimRandom(1));
    const body = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
    ip.serveHttp("img.local:443", { get: (path) => (path === "/fw.bin" ? { status: 200, body } : { status: 404 }) });
    const parts: Uint8Array[] = [];
    let ended = false;
    ip.download("https://img.local:443/fw.bin", 4000, true, {
      connected: () => undefined,
      data: (bytes, end) => {
        parts.push(bytes);
        ended ||= end;
      },
      closed: () => undefined,
    });
    let failed = false;
    ip.download("https://img.local:443/other.bin", 0, true, { connected: () => undefined, data: () => undefined, closed: (ok) => (failed = !ok) });
    await sched.run();
    const got = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (got.set(p, at), (at += p.length));
    expect(got).toEqual(body.subarray(4000));
    expect(ended).toBe(true);
    expect(failed).toBe(true);
  });

  it("should fail a connection to a port nobody listens on after the connect timeout", async () => {
    const sched = new Scheduler();
    const ip = new IpMedium(sched, new SimRandom(1), { joinMs: 1000, rttMs: 10, connectFailMs: 3000 });
    let closedAt = -1;
    ip.connect("nowhere", 9, true, { connected: () => undefined, data: () => undefined, closed: (ok) => (closedAt = ok ? -2 : sched.now()) });
    await sched.run();
    expect(closedAt).toBe(1000 + 15 + 3000);
    expect(ip.stats.refused).toBe(1);
  });
});
