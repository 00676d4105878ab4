import { decodeVendor, ErrorCode, Method, Opcode, Phase, type DataFrame, type UpdateStart } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { setup } from "../test/harness.js";
import { Campaign, type CampaignEvent, type CampaignEventEvent } from "./campaign.js";
import { wifiMethod } from "./distributor/methods.js";
import { meshMethod } from "./distributor/target.js";
import { describeErrorCode, errorCodeName } from "./distributor/types.js";
import { ImageFormatError } from "./errors.js";
import { readImage } from "./image/reader.js";
import { signImage } from "./signing.js";
import { buildBootloaderImage, buildImage, buildPartitionTable } from "./image/fixture.js";
import type { MemoryPacket } from "./memory-transport.js";

const MESH_CHUNK = 359; // chunkSizeFor(377)

function chunkIndices(log: MemoryPacket[], from = 0): number[] {
  const out: number[] = [];
  for (const p of log.slice(from)) {
    if (p.frame.opcode !== Opcode.DataFrame || p.src !== 0x0001) continue;
    const f = decodeVendor(p.frame) as DataFrame;
    if (f.body.case === "chunk") out.push(f.body.value.index);
  }
  return out;
}

describe("Campaign with one target", () => {
  it("should update exactly one target to the new version and confirm it", async () => {
    const h = await setup({ nodes: [0x0042] });
    const report = await h.clock.run(h.campaign().run());
    const node = h.fleet.node(0x0042)!;
    expect(report).toMatchObject({ done: 1, failed: 0, pending: 0, cancelled: 0 });
    expect(report.targets[0]).toMatchObject({
      address: 0x42,
      outcome: "done",
      state: "done",
      method: Method.MESH,
      fromVersion: "1.0.0",
      version: "2.0.0",
      bytesDone: h.image.size,
      runs: 1,
      upToDate: false,
      failure: undefined,
    });
    expect(node.firmware.version).toBe("2.0.0");
    expect(node.phase).toBe(Phase.CONFIRMED);
    const chunkCount = Math.ceil(h.image.size / MESH_CHUNK);
    // Every chunk exactly once, plus one TransferInfo per round (round 0 and two reports).
    expect(chunkIndices(h.network.log)).toEqual(Array.from({ length: chunkCount }, (_, i) => i));
    expect(h.network.count(Opcode.DataFrame, 0x42)).toBe(chunkCount + 3);
  });

  it("should report a node that already runs the version as done without sending anything", async () => {
    const h = await setup({
      node: () => ({
        firmware: { projectName: "meshota-demo", version: "2.0.0", secureVersion: 0, idfVersion: "v5.3.1" },
      }),
    });
    const report = await h.clock.run(h.campaign().run());
    expect(report.targets[0]).toMatchObject({ outcome: "done", upToDate: true });
    expect(h.network.count(Opcode.UpdateStart)).toBe(0);
  });

  it("should stop at VERIFIED with the verify-only policy", async () => {
    const h = await setup();
    const report = await h.clock.run(h.campaign({ policy: "verify-only" }).run());
    const node = h.fleet.nodes[0]!;
    expect(report.targets[0]!.outcome).toBe("done");
    expect(node.phase).toBe(Phase.VERIFIED);
    expect(node.firmware.version).toBe("1.0.0");
    expect(h.network.count(Opcode.UpdateApply)).toBe(0);
  });

  it("should roll back when the post-update test fails under test-then-confirm", async () => {
    const h = await setup();
    const tested: number[] = [];
    const campaign = h.campaign({
      policy: "test-then-confirm",
      test: async ({ address, info }) => {
        tested.push(address);
        return info.version === "9.9.9";
      },
    });
    const report = await h.clock.run(campaign.run());
    expect(tested).toEqual([0x100]);
    expect(report.targets[0]!.failure).toEqual({
      code: ErrorCode.ROLLED_BACK,
      codeName: "ERROR_CODE_ROLLED_BACK",
      message: "the post-update test failed; the node rolled back",
      source: "host",
    });
    expect(h.fleet.nodes[0]!.firmware.version).toBe("1.0.0");
    expect(h.fleet.nodes[0]!.phase).toBe(Phase.ROLLED_BACK);
  });

  it("should fail a target that does not report the new version after the restart", async () => {
    const h = await setup({ node: () => ({ faults: { bootsOldImage: true } }) });
    const report = await h.clock.run(h.campaign().run());
    expect(report.targets[0]!.failure).toEqual({
      code: ErrorCode.ROLLED_BACK,
      codeName: "ERROR_CODE_ROLLED_BACK",
      message: "after the restart the node reports version 1.0.0, expected 2.0.0",
      source: "host",
    });
  });

  it("should finish through lost replies and lost chunks", async () => {
    const h = await setup({ node: () => ({ faults: { dropReplies: 3 } }), image: { size: 40_000 } });
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    h.network.lose = (p) => p.frame.opcode === Opcode.DataFrame && random() < 0.2;
    const report = await h.clock.run(h.campaign().run());
    expect(report.targets[0]!.outcome).toBe("done");
    expect(h.fleet.nodes[0]!.firmware.version).toBe("2.0.0");
    // Lost chunks were re-sent in later rounds, and only those.
    const sent = chunkIndices(h.network.log);
    const chunkCount = Math.ceil(h.image.size / MESH_CHUNK);
    expect(new Set(sent).size).toBe(chunkCount);
    expect(sent.length).toBeLessThan(chunkCount * 1.6);
  });

  it("should never report progress past 100 % when a node counts more bytes than the image has", async () => {
    const h = await setup({
      image: { size: 50_000 },
      node: () => ({
        methods: [Method.WIFI],
        sideChannelRate: 500,
        sideChannel: () => h.image.bytes,
        faults: { overcountBytes: 20_000 },
      }),
    });
    const campaign = h.campaign({
      methods: [wifiMethod({ url: "http://fw.local/app.bin", credentials: { ssid: "lab", password: "" } })],
      pollIntervalMs: 500,
    });
    const progress: { bytesDone: number; percent: number }[] = [];
    campaign.addEventListener("progress", (e) => {
      const d = (e as CampaignEventEvent).detail;
      if (d.type === "progress") progress.push({ bytesDone: d.bytesDone, percent: d.percent });
    });
    const report = await h.clock.run(campaign.run());
    expect(report.targets[0]).toMatchObject({ outcome: "done", bytesDone: h.image.size });
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(progress.every((p) => p.percent <= 100 && p.bytesDone <= h.image.size)).toBe(true);
    expect(progress.at(-1)).toEqual({ bytesDone: h.image.size, percent: 100 });
  });

  it("should understand missing-chunk reports sent as ranges", async () => {
    const h = await setup({ node: () => ({ missingAsRanges: true }), image: { size: 30_000 } });
    let n = 0;
    h.network.lose = (p) => p.frame.opcode === Opcode.DataFrame && p.src === 1 && n++ % 7 === 3;
    const report = await h.clock.run(h.campaign().run());
    expect(report.targets[0]!.outcome).toBe("done");
  });
});

describe("Campaign of 20 nodes", () => {
  it("should update every node with at most `concurrency` at once and report progress", async () => {
    const h = await setup({ nodes: 20, image: { size: 8 * 1024 } });
    const campaign = h.campaign({ concurrency: 4 });
    const active = new Set<number>();
    let most = 0;
    const lastPercent = new Map<number, number>();
    campaign.addEventListener("state", (e) => {
      const d = (e as unknown as { detail: Extract<CampaignEvent, { type: "state" }> }).detail;
      if (d.state === "querying") active.add(d.address);
      if (["done", "failed", "offline"].includes(d.state)) active.delete(d.address);
      most = Math.max(most, active.size);
    });
    const events: CampaignEvent[] = [];
    const collecting = (async () => {
      for await (const e of campaign.events()) events.push(e);
    })();
    const report = await h.clock.run(campaign.run());
    await collecting;
    for (const e of events) if (e.type === "progress") lastPercent.set(e.address, e.percent);
    expect(report).toMatchObject({ done: 20, failed: 0, pending: 0 });
    expect(most).toBe(4);
    expect([...lastPercent.values()]).toEqual(Array(20).fill(100));
    expect(h.fleet.nodes.every((n) => n.firmware.version === "2.0.0" && n.phase === Phase.CONFIRMED)).toBe(true);
    expect(events.at(-1)).toEqual({ type: "campaign", state: "finished" });
    // Asked for after the end, the iterator ends at once instead of waiting for events.
    const late: CampaignEvent[] = [];
    for await (const e of campaign.events()) late.push(e);
    expect(late).toEqual([]);
  });

  it("should run at most meshTransfersAtOnce unicast mesh transfers, each from UpdateStart to its last chunk", async () => {
    const h = await setup({ nodes: 12, image: { size: 6 * 1024 } });
    const report = await h.clock.run(h.campaign({ concurrency: 12, meshTransfersAtOnce: 3 }).run());
    expect(report).toMatchObject({ done: 12, failed: 0, pending: 0 });
    // Each node's window in the packet log: its UpdateStart to the last DataFrame sent to it.
    const windows = new Map<number, [number, number]>();
    h.network.log.forEach((p, i) => {
      if (p.src !== 0x0001) return;
      if (p.frame.opcode === Opcode.UpdateStart && !windows.has(p.dst)) windows.set(p.dst, [i, i]);
      if (p.frame.opcode === Opcode.DataFrame && windows.has(p.dst)) windows.get(p.dst)![1] = i;
    });
    expect(windows.size).toBe(12);
    let most = 0;
    for (let i = 0; i < h.network.log.length; i++) {
      most = Math.max(most, [...windows.values()].filter(([a, b]) => a <= i && i <= b).length);
    }
    expect(most).toBe(3);
    expect(h.fleet.nodes.every((n) => n.firmware.version === "2.0.0")).toBe(true);
  });

  it("should refuse a meshTransfersAtOnce that is not a whole number of at least 1", async () => {
    const h = await setup({ nodes: 1 });
    expect(() => h.campaign({ meshTransfersAtOnce: 0 })).toThrow(
      "meshTransfersAtOnce 0 is not a whole number of at least 1"
    );
  });

  it("should refuse a concurrency that is not a whole number of at least 1", async () => {
    const h = await setup({ nodes: 2 });
    for (const concurrency of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => h.campaign({ concurrency }), String(concurrency)).toThrow(
        `concurrency ${concurrency} is not a whole number of at least 1`
      );
    }
    expect(h.network.log.length).toBe(0);
  });

  it("should send each chunk once to a group for all members", async () => {
    const h = await setup({ nodes: 10, image: { size: 12 * 1024 } });
    for (const a of h.addresses) h.network.subscribe(a, 0xc001);
    const report = await h.clock.run(h.campaign({ group: 0xc001, concurrency: 2 }).run());
    expect(report.done).toBe(10);
    const chunkCount = Math.ceil(h.image.size / MESH_CHUNK);
    const toGroup = h.network.log.filter((p) => p.dst === 0xc001 && p.frame.opcode === Opcode.DataFrame).length;
    expect(toGroup).toBe(chunkCount + 1); // the chunks and the round-0 TransferInfo
    for (const a of h.addresses) expect(chunkIndices(h.network.log.filter((p) => p.dst === a))).toEqual([]);
  });
});

describe("Campaign with offline nodes", () => {
  it("should update a node that is offline at the start once it comes back", async () => {
    const h = await setup({ nodes: 3 });
    const late = h.fleet.node(0x101)!;
    late.powerOff();
    const campaign = h.campaign({ offlineRetryMs: 30_000 });
    const running = campaign.run();
    await h.clock.advance(20_000);
    expect(campaign.report().targets[1]).toMatchObject({
      outcome: "pending",
      state: "offline",
      pendingReason: "offline: no InfoStatus from 0x0101 after 4 attempts",
    });
    expect(campaign.report().done).toBe(2);
    await h.clock.advance(60_000);
    late.powerOn();
    const report = await h.clock.run(running);
    expect(report.done).toBe(3);
    expect(report.targets[1]).toMatchObject({ outcome: "done", version: "2.0.0" });
    expect(report.targets[1]!.runs).toBeGreaterThanOrEqual(2);
  });

  it("should report a node that never comes back as pending because offline", async () => {
    const h = await setup({ nodes: 2 });
    h.fleet.node(0x100)!.powerOff();
    const report = await h.clock.run(h.campaign({ offlineGiveUpMs: 120_000 }).run());
    expect(report).toMatchObject({ done: 1, pending: 1, failed: 0 });
    expect(report.targets[0]).toMatchObject({
      outcome: "pending",
      pendingReason: "offline: no InfoStatus from 0x0100 after 4 attempts",
    });
  });
});

describe("Campaign suspend and resume", () => {
  it("should continue from the chunks the node holds, never from zero", async () => {
    const h = await setup({ image: { size: 120_000 } });
    const node = h.fleet.nodes[0]!;
    const campaign = h.campaign({ chunkGapMs: 50 });
    const running = campaign.run();
    const chunkCount = Math.ceil(h.image.size / MESH_CHUNK);
    while (node.heldChunks().length < chunkCount * 0.4) await h.clock.advance(500);
    await campaign.suspend();
    expect(campaign.target(0x100)!.state).toBe("suspended");
    const heldAtSuspend = new Set(node.heldChunks());
    const logMark = h.network.log.length;
    await h.clock.advance(60_000);
    expect(h.network.log.length).toBe(logMark); // nothing is sent while suspended
    campaign.resume();
    const report = await h.clock.run(running);
    expect(report.targets[0]).toMatchObject({ outcome: "done", version: "2.0.0", runs: 2 });
    const after = chunkIndices(h.network.log, logMark);
    expect(after.length).toBe(chunkCount - heldAtSuspend.size);
    expect(after.some((i) => heldAtSuspend.has(i))).toBe(false);
    expect(after[0]).toBe(heldAtSuspend.size);
    // The same session went on: one session id in every UpdateStart.
    const starts = h.network.log.filter((p) => p.frame.opcode === Opcode.UpdateStart).map((p) => decodeVendor(p.frame));
    expect(new Set(starts.map((s) => (s as { sessionId: number }).sessionId)).size).toBe(1);
  });
});

describe("Campaign cancellation and retries", () => {
  it("should cancel through an AbortSignal and cancel the node's session", async () => {
    const h = await setup({ image: { size: 60_000 } });
    const abort = new AbortController();
    const campaign = h.campaign({ signal: abort.signal, chunkGapMs: 50 });
    const running = campaign.run();
    const node = h.fleet.nodes[0]!;
    while (node.phase !== Phase.RECEIVING) await h.clock.advance(100);
    abort.abort("operator");
    const report = await h.clock.run(running);
    expect(report).toMatchObject({ cancelled: 1, done: 0 });
    await h.clock.advance(1000);
    expect(node.phase).toBe(Phase.CANCELLED);
    expect(node.firmware.version).toBe("1.0.0");
  });

  it("should send nothing when its AbortSignal was aborted before it was built", async () => {
    const h = await setup({ nodes: 2 });
    const report = await h.clock.run(h.campaign({ signal: AbortSignal.abort("too late") }).run());
    expect(report).toMatchObject({ cancelled: 2, done: 0, pending: 0 });
    expect(h.network.log.length).toBe(0);
    expect(h.fleet.nodes.map((n) => n.firmware.version)).toEqual(["1.0.0", "1.0.0"]);
  });

  it("should report every unfinished target cancelled, and a new campaign then updates them", async () => {
    const h = await setup({ nodes: 3, image: { size: 60_000 } });
    const abort = new AbortController();
    const campaign = h.campaign({ signal: abort.signal, chunkGapMs: 50, concurrency: 1 });
    const states: string[] = [];
    campaign.addEventListener("state", (e) => {
      const d = (e as CampaignEventEvent).detail;
      if (d.type === "state" && d.state === "cancelled") states.push(`${d.address.toString(16)}:${d.previous}`);
    });
    const running = campaign.run();
    const first = h.fleet.nodes[0]!;
    while (first.phase !== Phase.RECEIVING) await h.clock.advance(100);
    abort.abort("operator");
    const report = await h.clock.run(running);
    expect(report).toMatchObject({ cancelled: 3, pending: 0, done: 0, failed: 0 });
    expect(report.targets.map((t) => t.state)).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect(states).toEqual(["100:transferring", "101:pending", "102:pending"]);
    expect(() => campaign.retryCancelled()).toThrow(
      "this campaign was cancelled and does not run again; start a new Campaign for its targets"
    );
    expect(first.phase).toBe(Phase.CANCELLED);
    const again = await h.clock.run(h.campaign({ chunkGapMs: 50 }).run());
    expect(again).toMatchObject({ done: 3, failed: 0, pending: 0 });
    expect(h.fleet.nodes.map((n) => n.firmware.version)).toEqual(["2.0.0", "2.0.0", "2.0.0"]);
  });

  it("should cancel the sessions of suspended targets on the nodes when cancelled while suspended", async () => {
    const h = await setup({ nodes: 2, image: { size: 60_000 } });
    const campaign = h.campaign({ chunkGapMs: 50, concurrency: 2 });
    const running = campaign.run();
    while (h.fleet.nodes.some((n) => n.heldChunks().length < 10)) await h.clock.advance(100);
    await h.clock.run(campaign.suspend());
    expect(h.fleet.nodes.map((n) => Phase[n.phase])).toEqual(["RECEIVING", "RECEIVING"]);
    await h.clock.run(campaign.cancel("operator"));
    const report = await h.clock.run(running);
    expect(report).toMatchObject({ cancelled: 2, pending: 0 });
    expect(h.fleet.nodes.map((n) => Phase[n.phase])).toEqual(["CANCELLED", "CANCELLED"]);
    expect(h.fleet.nodes.map((n) => n.firmware.version)).toEqual(["1.0.0", "1.0.0"]);
  });

  it("should restart failed targets without adding them again", async () => {
    const h = await setup({
      nodes: 2,
      node: (a) => (a === 0x101 ? { faults: { transfer: { code: ErrorCode.FLASH, atBytes: 4000 } } } : {}),
    });
    const campaign = h.campaign();
    let report = await h.clock.run(campaign.run());
    expect(report.targets[1]!.failure).toEqual({
      code: ErrorCode.FLASH,
      codeName: "ERROR_CODE_FLASH",
      message: "the transfer failed: writing, erasing or reading flash failed",
      source: "node",
    });
    delete h.fleet.node(0x101)!.options.faults.transfer;
    expect(campaign.retryFailed()).toBe(1);
    report = await h.clock.run(campaign.run());
    expect(report).toMatchObject({ done: 2, failed: 0 });
    expect(report.targets[1]).toMatchObject({ outcome: "done", runs: 2 });
    expect(report.targets[0]!.runs).toBe(1);
  });
});

describe("Campaign error reporting", () => {
  it("should surface every node error code in the report with its reason", async () => {
    const codes = Object.values(ErrorCode).filter((c): c is ErrorCode => typeof c === "number" && c !== ErrorCode.NONE);
    expect(codes).toHaveLength(27);
    const h = await setup({
      nodes: codes.length,
      image: { minChipRev: 1 },
      node: (_a, i) => {
        const code = codes[i]!;
        switch (code) {
          case ErrorCode.WRONG_CHIP:
            return { chipId: 9 };
          case ErrorCode.CHIP_REVISION:
            return { chipRevision: 0 };
          case ErrorCode.IMAGE_TOO_LARGE:
            return { otaPartitionSize: 4096 };
          case ErrorCode.DOWNGRADE:
            return {
              firmware: { projectName: "meshota-demo", version: "1.0.0", secureVersion: 5, idfVersion: "v5.3.1" },
            };
          case ErrorCode.SAME_VERSION:
            return {
              firmware: { projectName: "meshota-demo", version: "2.0.0", secureVersion: 0, idfVersion: "v5.3.1" },
            };
          case ErrorCode.PROJECT_MISMATCH:
            return { firmware: { projectName: "other", version: "1.0.0", secureVersion: 0, idfVersion: "v5.3.1" } };
          case ErrorCode.ROLLED_BACK:
            return { faults: { selfTestFails: true } };
          case ErrorCode.FLASH:
          case ErrorCode.STORAGE:
            return { faults: { transfer: { code, atBytes: 2000 } } };
          default:
            return { faults: { start: code } };
        }
      },
    });
    h.fleet.node(0x100 + codes.indexOf(ErrorCode.BAD_SIGNATURE))!.options.publicKey = (
      await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])
    ).publicKey;
    const report = await h.clock.run(h.campaign({ hostChecks: false, concurrency: 8 }).run());
    expect(report.failed).toBe(27);
    codes.forEach((code, i) => {
      const failure = report.targets[i]!.failure!;
      expect(failure.code, errorCodeName(code)).toBe(code);
      expect(failure.codeName).toBe(errorCodeName(code));
      expect(failure.source).toBe("node");
      expect(failure.message.endsWith(`: ${describeErrorCode(code)}`)).toBe(true);
    });
    expect(report.targets[codes.indexOf(ErrorCode.WRONG_CHIP)]!.failure!.message).toBe(
      "UpdateStart refused: the image is for another chip"
    );
  });

  it("should refuse with a host-side reason before UpdateStart when checks fail", async () => {
    const h = await setup({
      nodes: 3,
      node: (_a, i) => [{ chipId: 9 }, { otaPartitionSize: 4096 }, { methods: [Method.TCP] }][i]!,
    });
    const report = await h.clock.run(h.campaign().run());
    expect(report.targets.map((t) => t.failure?.message)).toEqual([
      "the image is for ESP32-C3 (chip id 5), the node is ESP32-S3 (chip id 9)",
      `the image is ${h.image.size} bytes, the node's OTA partition 4096`,
      "no common method: the distributor offers mesh, the node supports tcp",
    ]);
    expect(report.targets.every((t) => t.failure?.source === "host")).toBe(true);
    expect(h.network.count(Opcode.UpdateStart)).toBe(0);
  });

  it("should refuse defective images before anything is sent", async () => {
    const h = await setup();
    const good = await buildImage({ size: 4096 });
    const image = (await import("./image/reader.js")).readImage;
    const parsed = await image(good);
    const badChecksum = good.slice();
    badChecksum[parsed.segments[1]!.dataOffset]! ^= 1;
    const badHash = good.slice();
    badHash[good.length - 1]! ^= 1;
    const unknownChip = good.slice();
    unknownChip[12] = 0x33;
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode("not firmware"), "not-an-image"],
      [buildBootloaderImage(), "bootloader"],
      [buildPartitionTable(), "partition-table"],
      [good.subarray(0, 1000), "truncated"],
      [badChecksum, "bad-checksum"],
      [badHash, "bad-hash"],
      [unknownChip, "unknown-chip"],
    ];
    for (const [bytes, defect] of cases) {
      const error = await Campaign.fromImageBytes({
        transport: h.network.transport(),
        imageBytes: bytes,
        privateKey: h.keys.privateKey,
        targets: h.addresses,
        clock: h.clock,
      }).catch((e: unknown) => e);
      expect(ImageFormatError.isInstance(error), defect).toBe(true);
      expect((error as ImageFormatError).defect).toBe(defect);
    }
    expect(h.network.log).toEqual([]);
  });
});

describe("Campaign targets stuck in another session", () => {
  it("should refuse a node that another campaign on the same transport is updating, then update it", async () => {
    const h = await setup({ nodes: 1, image: { size: 30_000 } });
    const transport = h.network.transport();
    const v3 = await readImage(await buildImage({ version: "3.0.0", size: 30_000 }));
    const first = new Campaign({ transport, image: h.image, signed: h.signed, clock: h.clock, targets: h.addresses, chunkGapMs: 50 });
    const second = new Campaign({
      transport,
      image: v3,
      signed: await signImage(v3, h.keys.privateKey),
      clock: h.clock,
      targets: h.addresses,
      chunkGapMs: 50,
    });
    const [a, b] = await h.clock.run(Promise.all([first.run(), second.run()]));
    expect(a.targets[0]).toMatchObject({ outcome: "done", version: "2.0.0" });
    expect(b.targets[0]).toMatchObject({ outcome: "failed", failure: { code: ErrorCode.BUSY, source: "host" } });
    expect(b.targets[0]!.failure!.message).toBe(
      "another campaign on this transport is updating 0x0100; the node's replies could not be told apart"
    );
    expect(h.fleet.nodes[0]!.firmware.version).toBe("2.0.0");
    // Once the first is over, the second takes the node.
    expect(second.retryFailed()).toBe(1);
    const again = await h.clock.run(second.run());
    expect(again.targets[0]).toMatchObject({ outcome: "done", version: "3.0.0" });
    expect(h.fleet.nodes[0]!.firmware.version).toBe("3.0.0");
  });

  it("should cancel a node that is BUSY with a foreign session and then update it", async () => {
    const h = await setup({ image: { size: 60_000 } });
    // An earlier campaign left the node in the middle of its own session.
    const earlier = h.campaign({ chunkGapMs: 50 });
    void earlier.run();
    const node = h.fleet.nodes[0]!;
    while (node.phase !== Phase.RECEIVING) await h.clock.advance(100);
    await earlier.suspend();
    const foreign = node.sessionId;

    const campaign = h.campaign();
    let report = await h.clock.run(campaign.run());
    expect(report.targets[0]!.failure).toMatchObject({
      code: ErrorCode.BUSY,
      codeName: "ERROR_CODE_BUSY",
      source: "node",
    });
    expect(node.sessionId).toBe(foreign);

    await h.clock.run(campaign.cancelTarget(0x100, { anySession: true }));
    expect(node.phase).toBe(Phase.CANCELLED);
    expect(campaign.report().targets[0]!.outcome).toBe("cancelled");
    expect(campaign.retryCancelled()).toBe(1);
    report = await h.clock.run(campaign.run());
    expect(report.targets[0]).toMatchObject({ outcome: "done", version: "2.0.0" });
    expect(node.sessionId).not.toBe(foreign);
  });
});

describe("Campaign session ids", () => {
  const sessionIdsOf = (h: Awaited<ReturnType<typeof setup>>) =>
    h.network.log
      .filter((p) => p.frame.opcode === Opcode.UpdateStart)
      .map((p) => (decodeVendor(p.frame) as UpdateStart).sessionId);

  it("should take the campaign's session id and each target's from the given source", async () => {
    const h = await setup({ nodes: 3 });
    let next = 100;
    const campaign = h.campaign({ sessionIds: () => next++ });
    expect(campaign.sessionId).toBe(100);
    const report = await h.clock.run(campaign.run());
    expect(report.done).toBe(3);
    // One draw per target that starts a session, after the campaign's own.
    expect(report.targets.map((t) => t.sessionId).sort()).toEqual([101, 102, 103]);
    expect(new Set(sessionIdsOf(h))).toEqual(new Set([101, 102, 103]));
    expect(next).toBe(104);
  });

  it("should give the group session the campaign's id from the source", async () => {
    const h = await setup({ nodes: 3 });
    for (const a of h.addresses) h.network.subscribe(a, 0xc001);
    const report = await h.clock.run(h.campaign({ group: 0xc001, sessionIds: () => 0xffffffff }).run());
    expect(report.done).toBe(3);
    expect(report.targets.map((t) => t.sessionId)).toEqual([0xffffffff, 0xffffffff, 0xffffffff]);
    expect(sessionIdsOf(h)).toEqual([0xffffffff, 0xffffffff, 0xffffffff]);
  });

  it("should refuse a session id the nodes would misread", async () => {
    const h = await setup();
    for (const id of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => h.campaign({ sessionIds: () => id }), String(id)).toThrow(
        new RangeError(`session id ${id} is not a whole number from 1 to 4294967295 (0 means any session)`)
      );
    }
    expect(h.network.log.length).toBe(0);
  });

  it("should fail a target whose session id from the source is 0 without sending UpdateStart", async () => {
    const h = await setup();
    const ids = [7, 0];
    const report = await h.clock.run(h.campaign({ sessionIds: () => ids.shift()! }).run());
    expect(report.targets[0]).toMatchObject({ outcome: "failed", sessionId: 0 });
    expect(report.targets[0]!.failure?.message).toContain("session id 0 is not a whole number");
    expect(h.network.count(Opcode.UpdateStart)).toBe(0);
  });

  it("should draw random non-zero session ids by default", async () => {
    const h = await setup();
    const ids = Array.from({ length: 8 }, () => h.campaign().sessionId);
    for (const id of ids) expect(Number.isInteger(id) && id >= 1 && id <= 0xffffffff).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(1);
  });
});

describe("Campaign method choice and lost replies", () => {
  it("should choose the first offered method each node supports", async () => {
    const h = await setup({
      nodes: 2,
      node: (a) =>
        a === 0x100
          ? { methods: [Method.TCP, Method.MESH], sideChannel: () => h.image.bytes }
          : { methods: [Method.MESH] },
    });
    const { tcpMethod } = await import("./distributor/methods.js");
    const report = await h.clock.run(
      h.campaign({ methods: [tcpMethod({ host: "gw", port: 9000, token: new Uint8Array(8) }), meshMethod()] }).run()
    );
    expect(report.targets.map((t) => [t.outcome, t.method])).toEqual([
      ["done", Method.TCP],
      ["done", Method.MESH],
    ]);
  });

  it("should repeat UpdateStart after a lost reply and keep the same session", async () => {
    const h = await setup();
    let dropped = 0;
    let lastFromController = -1;
    h.network.lose = (p) => {
      if (p.src === 1) lastFromController = p.frame.opcode;
      // Lose the node's answers to the first two UpdateStarts.
      if (
        p.src !== 1 &&
        p.frame.opcode === Opcode.UpdateStatus &&
        lastFromController === Opcode.UpdateStart &&
        dropped < 2
      ) {
        dropped++;
        return true;
      }
      return false;
    };
    const report = await h.clock.run(h.campaign().run());
    expect(report.targets[0]!.outcome).toBe("done");
    const starts = h.network.log
      .filter((p) => p.frame.opcode === Opcode.UpdateStart)
      .map((p) => (decodeVendor(p.frame) as { sessionId: number }).sessionId);
    expect(starts).toHaveLength(3);
    expect(new Set(starts).size).toBe(1);
  });
});

describe("Campaign on a disorderly mesh", () => {
  it("should finish with duplicated, delayed and reordered replies and lost frames", async () => {
    const h = await setup({ nodes: 5, image: { size: 24_000 } });
    let seed = 99;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    h.network.duplicate = () => random() < 0.3;
    h.network.delay = () => (random() < 0.2 ? Math.floor(random() * 5000) : 0);
    h.network.lose = () => random() < 0.05;
    const report = await h.clock.run(h.campaign({ concurrency: 5, offlineRetryMs: 5000 }).run());
    expect(report.targets.map((t) => [t.outcome, t.failure?.message])).toEqual(Array(5).fill(["done", undefined]));
    for (const n of h.fleet.nodes) expect([n.firmware.version, n.phase]).toEqual(["2.0.0", Phase.CONFIRMED]);
  });
});

describe("Campaign on a reliable transport", () => {
  it("should notice a node that goes away mid-transfer without waiting out every chunk", async () => {
    const h = await setup({ image: { size: 120_000 }, network: { reliable: true, ackTimeoutMs: 2000 } });
    const node = h.fleet.nodes[0]!;
    const campaign = h.campaign({ chunkGapMs: 20, offlineGiveUpMs: 60_000 });
    const running = campaign.run();
    while (node.heldChunks().length < 50) await h.clock.advance(100);
    node.powerOff();
    const cut = h.clock.now();
    while (campaign.target(0x100)!.state !== "offline") await h.clock.advance(500);
    // Three unacknowledged chunks (3 x 2 s), then the report request's four unacknowledged
    // attempts with backoff (4 x 2 s + 1 + 2 + 4 s).
    expect(h.clock.now() - cut).toBeLessThanOrEqual(6000 + 15_000 + 500);
    node.powerOn();
    const report = await h.clock.run(running);
    expect(report.targets[0]).toMatchObject({ outcome: "done", version: "2.0.0" });
  });
});
