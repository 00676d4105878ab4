// Mesh transfer turns (meshTransfersAtOnce) on the paths that leave a run early: every way out
// gives the turn back, and a target waits for a turn only while it is about to transfer.
import { ErrorCode, Opcode, Phase } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { setup, type Harness } from "../test/harness.js";
import type { CampaignEventEvent } from "./campaign.js";
import { CancelledError } from "./errors.js";
import { Slots } from "./slots.js";

/**
 * Transfers overlapping in the packet log. A transfer runs from an UpdateStart to the last
 * DataFrame sent to that node before its next UpdateStart (a run after suspend or offline).
 */
function mostTransfersAtOnce(h: Harness): number {
  const windows: [number, number][] = [];
  const current = new Map<number, [number, number]>();
  h.network.log.forEach((p, i) => {
    if (p.src !== 0x0001) return;
    if (p.frame.opcode === Opcode.UpdateStart) {
      const w: [number, number] = [i, i];
      windows.push(w);
      current.set(p.dst, w);
    }
    if (p.frame.opcode === Opcode.DataFrame && current.has(p.dst)) current.get(p.dst)![1] = i;
  });
  let most = 0;
  for (let i = 0; i < h.network.log.length; i++) {
    most = Math.max(most, windows.filter(([a, b]) => a <= i && i <= b).length);
  }
  return most;
}

describe("Mesh transfer turns", () => {
  it("should give the turn back when the node refuses UpdateStart", async () => {
    const h = await setup({
      nodes: 3,
      image: { size: 4 * 1024 },
      node: (_a, i) => (i === 0 ? { faults: { start: ErrorCode.IMAGE_TOO_LARGE } } : {}),
    });
    const report = await h.clock.run(h.campaign({ concurrency: 3, meshTransfersAtOnce: 1 }).run());
    expect(report).toMatchObject({ done: 2, failed: 1, pending: 0 });
    expect(report.targets[0]!.failure?.code).toBe(ErrorCode.IMAGE_TOO_LARGE);
  });

  it("should give the turn back when the session fails during the transfer", async () => {
    const h = await setup({
      nodes: 3,
      image: { size: 6 * 1024 },
      node: (_a, i) => (i === 0 ? { faults: { transfer: { code: ErrorCode.FLASH, atBytes: 2000 } } } : {}),
    });
    const report = await h.clock.run(h.campaign({ concurrency: 3, meshTransfersAtOnce: 1 }).run());
    expect(report).toMatchObject({ done: 2, failed: 1, pending: 0 });
    expect(mostTransfersAtOnce(h)).toBe(1);
  });

  it("should give the turn back when the node goes offline mid-transfer, and take one again when it is back", async () => {
    const h = await setup({ nodes: 3, image: { size: 20 * 1024 } });
    const campaign = h.campaign({ concurrency: 3, meshTransfersAtOnce: 1, chunkGapMs: 50, offlineRetryMs: 20_000 });
    const running = campaign.run();
    const first = h.fleet.node(0x100)!;
    while (first.phase !== Phase.RECEIVING) await h.clock.advance(100);
    first.powerOff();
    // The others get the turn while the first is offline.
    while (campaign.target(0x100)!.state !== "offline") await h.clock.advance(500);
    while (h.fleet.nodes.slice(1).some((n) => n.firmware.version !== "2.0.0")) await h.clock.advance(1000);
    first.powerOn();
    const report = await h.clock.run(running);
    expect(report).toMatchObject({ done: 3, failed: 0, pending: 0 });
    expect(h.fleet.nodes.map((n) => n.firmware.version)).toEqual(["2.0.0", "2.0.0", "2.0.0"]);
    expect(mostTransfersAtOnce(h)).toBe(1);
  });

  it("should let waiting targets go on suspend, and share the turns again after resume", async () => {
    const h = await setup({ nodes: 4, image: { size: 20 * 1024 } });
    const campaign = h.campaign({ concurrency: 4, meshTransfersAtOnce: 1, chunkGapMs: 50 });
    const running = campaign.run();
    while (h.fleet.nodes[0]!.phase !== Phase.RECEIVING) await h.clock.advance(100);
    await h.clock.run(campaign.suspend());
    expect(campaign.report().targets.map((t) => t.state)).toEqual(["suspended", "suspended", "suspended", "suspended"]);
    campaign.resume();
    const report = await h.clock.run(running);
    expect(report).toMatchObject({ done: 4, failed: 0, pending: 0 });
    expect(mostTransfersAtOnce(h)).toBe(1);
  });

  it("should drop a target cancelled while it waits for its turn, and go on with the others", async () => {
    const h = await setup({ nodes: 3, image: { size: 20 * 1024 } });
    const campaign = h.campaign({ concurrency: 3, meshTransfersAtOnce: 1, chunkGapMs: 50 });
    const running = campaign.run();
    while (h.fleet.nodes[0]!.phase !== Phase.RECEIVING) await h.clock.advance(100);
    // 0x102 has its InfoStatus and waits for the turn 0x100 holds.
    expect(campaign.target(0x102)!.state).toBe("querying");
    await h.clock.run(campaign.cancelTarget(0x102));
    const report = await h.clock.run(running);
    expect(report).toMatchObject({ done: 2, cancelled: 1, failed: 0, pending: 0 });
    expect(h.network.log.some((p) => p.dst === 0x102 && p.frame.opcode === Opcode.UpdateStart)).toBe(false);
  });

  it("should take a turn again for a target put back with retryFailed", async () => {
    const h = await setup({
      nodes: 2,
      image: { size: 6 * 1024 },
      node: (_a, i) => (i === 0 ? { faults: { transfer: { code: ErrorCode.FLASH, atBytes: 2000 } } } : {}),
    });
    const campaign = h.campaign({ concurrency: 2, meshTransfersAtOnce: 1 });
    const first = await h.clock.run(campaign.run());
    expect(first).toMatchObject({ done: 1, failed: 1 });
    h.fleet.node(0x100)!.options.faults.transfer = undefined;
    expect(campaign.retryFailed()).toBe(1);
    const again = await h.clock.run(campaign.run());
    expect(again).toMatchObject({ done: 2, failed: 0, pending: 0 });
    expect(h.fleet.node(0x100)!.firmware.version).toBe("2.0.0");
  });

  it("should not hold a turn through the restart of a node UpdateStart finds already applied", async () => {
    // A first campaign applies the image on 0x100 and stops before the confirmation.
    const h = await setup({ nodes: [0x100, 0x101], image: { size: 6 * 1024 } });
    const session = () => 0x5e55;
    const earlier = h.campaign({ targets: [0x100], sessionIds: session });
    const earlierRun = earlier.run();
    const applied = h.fleet.node(0x100)!;
    while (applied.phase !== Phase.PENDING_CONFIRM) await h.clock.advance(100);
    await h.clock.run(earlier.suspend());
    void earlierRun; // left suspended: its node keeps the session
    expect(applied.phase).toBe(Phase.PENDING_CONFIRM);

    // The same session id again (the same seed): UpdateStart answers PENDING_CONFIRM, and the
    // run goes on to the restart checks and the post-update test, which here take 100 s.
    const testDone: number[] = [];
    const startingAt = new Map<number, number>();
    const campaign = h.campaign({
      sessionIds: session,
      allowSameVersion: true,
      concurrency: 2,
      meshTransfersAtOnce: 1,
      policy: "test-then-confirm",
      test: async ({ address }) => {
        if (address === 0x100) await h.clock.sleep(100_000);
        testDone.push(h.clock.now());
        return true;
      },
    });
    campaign.addEventListener("state", (e) => {
      const d = (e as CampaignEventEvent).detail;
      if (d.type === "state" && d.state === "starting") startingAt.set(d.address, h.clock.now());
    });
    h.fleet.node(0x101)!.options.faults.dropReplies = 1; // 0x100 asks for the turn first
    const report = await h.clock.run(campaign.run());
    expect(report).toMatchObject({ done: 2, failed: 0 });
    expect(startingAt.get(0x100)!).toBeLessThan(startingAt.get(0x101)!);
    // 0x101 transfers while 0x100 is tested, not after.
    expect(startingAt.get(0x101)!).toBeLessThan(testDone[testDone.length - 1]! - 50_000);
  });
});

describe("Slots", () => {
  it("should hand a freed slot to the oldest waiter and skip one whose signal aborted", async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const order: string[] = [];
    const gone = new AbortController();
    const a = slots.acquire().then(() => order.push("a"));
    const b = slots.acquire(gone.signal).then(
      () => order.push("b"),
      (e: unknown) => order.push(CancelledError.isInstance(e) ? "b cancelled" : "b ?")
    );
    const c = slots.acquire().then(() => order.push("c"));
    gone.abort();
    await b;
    slots.release();
    await a;
    expect(slots.used).toBe(1);
    slots.release();
    await c;
    expect(order).toEqual(["b cancelled", "a", "c"]);
    slots.release();
    expect(slots.used).toBe(0);
    slots.release(); // one release too many frees nothing that is not held
    expect(slots.used).toBe(0);
  });
});
