import { TransportError } from "@meshota/core";
import { describe, expect, it } from "vitest";
import { MeshMedium, segmentsFor, type MeshDelivery, type MeshOptions } from "./mesh.js";
import { SimRandom } from "./random.js";
import { Scheduler } from "./scheduler.js";

function line(n: number, options: Partial<MeshOptions> = {}, seed = 1) {
  const sched = new Scheduler({ log: true });
  const mesh = new MeshMedium(sched, new SimRandom(seed).fork("mesh"), options);
  const inbox = new Map<number, MeshDelivery[]>();
  for (let a = 1; a <= n; a++) {
    inbox.set(a, []);
    mesh.addStation(a, (d) => inbox.get(a)!.push(d));
  }
  for (let a = 1; a < n; a++) mesh.link(a, a + 1);
  return { sched, mesh, inbox };
}

const frame = (params: number) => ({ opcode: 0x05, params: new Uint8Array(params).map((_, i) => i & 0xff) });

describe("segmentation arithmetic", () => {
  it("should fit 11 bytes of access payload in one PDU and split the rest into 12-byte segments with a 4-byte MIC", () => {
    expect(segmentsFor(11)).toBe(1);
    expect(segmentsFor(12)).toBe(2);
    expect(segmentsFor(20)).toBe(2);
    expect(segmentsFor(21)).toBe(3);
    expect(segmentsFor(380)).toBe(32);
  });
});

describe("MeshMedium", () => {
  it("should deliver an unsegmented message over three hops with the TTL reduced by each relay", async () => {
    const { sched, mesh, inbox } = line(4);
    const sent = mesh.send(1, 4, frame(8), { ttl: 5 });
    await sched.runUntilSettled(sent);
    await sched.run();
    expect(inbox.get(4)).toHaveLength(1);
    expect(inbox.get(4)![0]!.ttl).toBe(3);
    expect(Array.from(inbox.get(4)![0]!.frame.params)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(inbox.get(2)).toHaveLength(0);
  });

  it("should not reach a node further away than the TTL allows", async () => {
    const { sched, mesh, inbox } = line(5);
    await sched.runUntilSettled(mesh.send(1, 5, frame(4), { ttl: 3 }));
    await sched.run();
    expect(inbox.get(5)).toHaveLength(0);
    expect(mesh.hops(1, 5)).toBe(4);
  });

  it("should deliver the largest segmented message (377 parameter bytes, 32 segments) once, acknowledged", async () => {
    const { sched, mesh, inbox } = line(3);
    await sched.runUntilSettled(mesh.send(1, 3, frame(377)));
    expect(inbox.get(3)).toHaveLength(1);
    expect(inbox.get(3)![0]!.frame.params.length).toBe(377);
    expect(mesh.stats.segmentsSent).toBe(32);
    // 32 segments 40 ms apart: the send takes at least 31 gaps.
    expect(sched.now()).toBeGreaterThanOrEqual(31 * 40);
  });

  it("should refuse 378 parameter bytes as too large for 32 segments", async () => {
    const { mesh } = line(2);
    const error = await mesh.send(1, 2, frame(378)).catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.reason).toBe("too-large");
    expect((error as Error).message).toBe("access payload of 381 bytes exceeds 380 (32 segments)");
  });

  it("should retransmit lost segments and still deliver over a lossy link", async () => {
    const { sched, mesh, inbox } = line(2, { loss: 0.3, transmitCount: 1 }, 7);
    await sched.runUntilSettled(mesh.send(1, 2, frame(200)));
    expect(inbox.get(2)).toHaveLength(1);
    expect(mesh.stats.segmentsSent).toBeGreaterThan(segmentsFor(203));
  });

  it("should fail a unicast segmented send with a timeout when the destination is gone", async () => {
    const { sched, mesh } = line(2);
    mesh.addStation(9, () => undefined);
    const error = await sched.runUntilSettled(mesh.send(1, 9, frame(100)).catch((e: unknown) => e));
    expect(TransportError.isInstance(error) && error.reason).toBe("timeout");
    expect((error as Error).message).toBe("0x9 acknowledged 0 of 9 segments after 4 retransmissions");
    expect(mesh.stats.segmentedFailures).toBe(1);
    // Every segment held its advertising buffer until the send gave up; then they are free.
    expect(mesh.advBuffersInUse(1)).toBe(0);
  });

  it("should drop a second concurrent segmented message at a receiver with one reassembly context", async () => {
    const sched = new Scheduler();
    const mesh = new MeshMedium(sched, new SimRandom(3), {});
    const got: number[] = [];
    mesh.addStation(1, () => undefined);
    mesh.addStation(2, () => undefined);
    mesh.addStation(3, (d) => got.push(d.src));
    mesh.link(1, 3);
    mesh.link(2, 3);
    const a = mesh.send(1, 3, frame(100));
    const b = mesh.send(2, 3, frame(100));
    await sched.runUntilSettled(Promise.allSettled([a, b]));
    expect(mesh.stats.sarRxBusyDrops).toBeGreaterThan(0);
    // The retransmission timer lets the second through once the first is done.
    expect(got.sort()).toEqual([1, 2]);
  });

  it("should run out of advertising buffers when group sends pile up and refuse further sends", async () => {
    const { sched, mesh } = line(3, { advBuffers: 60, sarTxContexts: 4 });
    // Four unacknowledged group messages of 32 segments each need 128 buffers; the pool has 60.
    const sends = [0, 1, 2, 3].map(() => mesh.send(1, 0xc001, frame(377)).then(() => "ok", (e: Error) => e.message));
    const results = await sched.runUntilSettled(Promise.all(sends));
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    expect(results.filter((r) => r === "station 0x1 has no 32 free advertising buffers for a segmented send")).toHaveLength(3);
    expect(mesh.stats.advBufferDrops).toBe(3);
  });

  it("should lose relayed traffic when a relay's buffers are exhausted", async () => {
    const { sched, mesh, inbox } = line(3, { advBuffers: 33, sarTxContexts: 1 });
    // Station 2 holds 32 buffers for its own group send; only one is left for relaying.
    const own = mesh.send(2, 0xc002, frame(377));
    for (let i = 0; i < 5; i++) void mesh.send(1, 3, frame(4));
    await sched.runUntilSettled(own);
    await sched.run();
    expect(mesh.stats.advBufferDrops).toBeGreaterThan(0);
    expect(inbox.get(3)!.length).toBeLessThan(5);
  });

  it("should give the same event log for the same seed and a different one for another seed", async () => {
    const run = async (seed: number) => {
      const { sched, mesh } = line(6, { loss: 0.2 }, seed);
      await sched.runUntilSettled(Promise.allSettled([mesh.send(1, 6, frame(150)), mesh.send(6, 1, frame(60)), mesh.send(3, 0xffff, frame(30))]));
      await sched.run();
      return sched.log.join("\n");
    };
    const a = await run(11);
    expect(await run(11)).toBe(a);
    expect(await run(12)).not.toBe(a);
  });
});
