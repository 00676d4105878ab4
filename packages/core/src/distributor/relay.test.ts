import { decodeVendor, ErrorCode, Method, Opcode, Phase, type RelayStart } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { setup } from "../../test/harness.js";
import { planRelays } from "./relay-plan.js";

describe("planRelays", () => {
  it("should pick the best-connected root and serve neighbours breadth first", () => {
    // 1 - 2 - 3 - 4, 2 - 5, 6 alone
    const links = new Map<number, number[]>([
      [1, [2]],
      [2, [1, 3, 5]],
      [3, [2, 4]],
      [4, [3]],
      [5, [2]],
    ]);
    const plan = planRelays([1, 2, 3, 4, 5, 6], links);
    expect(plan.roots).toEqual([2, 6]);
    expect([...plan.children]).toEqual([
      [2, [1, 3, 5]],
      [3, [4]],
    ]);
    expect(plan.parent.get(4)).toBe(3);
    expect(plan.depth.get(4)).toBe(2);
    expect(plan.depth.get(6)).toBe(0);
  });

  it("should respect maxPerRelay, maxDepth and nodes that cannot relay", () => {
    const star = new Map<number, number[]>([[1, [2, 3, 4, 5]]]);
    expect([...planRelays([1, 2, 3, 4, 5], star, { maxPerRelay: 2 }).children]).toEqual([[1, [2, 3]]]);
    expect(planRelays([1, 2, 3, 4, 5], star, { maxPerRelay: 2 }).roots).toEqual([1, 4, 5]);
    const chain = new Map<number, number[]>([
      [1, [2]],
      [2, [3]],
      [3, [4]],
    ]);
    expect(planRelays([1, 2, 3, 4], chain, { maxDepth: 2 }).roots).toEqual([1, 4]);
    expect(planRelays([1, 2, 3, 4], chain, { noRelay: new Set([2]) }).roots).toEqual([1, 3]);
  });
});

describe("Campaign with relays", () => {
  it("should update roots over the mesh and the rest through updated neighbours", async () => {
    const addresses = [0x10, 0x11, 0x12, 0x13, 0x14];
    // 0x10 reaches 0x11 and 0x12; 0x12 reaches 0x13 and 0x14.
    const neighbours = new Map<number, number[]>([
      [0x10, [0x11, 0x12]],
      [0x12, [0x13, 0x14]],
    ]);
    const h = await setup({ nodes: addresses, image: { size: 20_000 } });
    const campaign = h.campaign({ relay: { neighbours, channel: 6 }, concurrency: 2 });
    expect(campaign.relayPlan!.roots).toEqual([0x10]);
    const report = await h.clock.run(campaign.run());
    expect(report.done).toBe(5);
    expect(report.targets.map((t) => [t.address, t.relayedBy, t.method])).toEqual([
      [0x10, undefined, Method.MESH],
      [0x11, 0x10, Method.ESPNOW],
      [0x12, 0x10, Method.ESPNOW],
      [0x13, 0x12, Method.ESPNOW],
      [0x14, 0x12, Method.ESPNOW],
    ]);
    for (const n of h.fleet.nodes) expect([n.firmware.version, n.phase]).toEqual(["2.0.0", Phase.CONFIRMED]);
    // Chunks over the mesh went to the root only.
    const meshChunkTargets = new Set(
      h.network.log.filter((p) => p.src === 1 && p.frame.opcode === Opcode.DataFrame).map((p) => p.dst)
    );
    expect([...meshChunkTargets]).toEqual([0x10]);
    const relayStarts = h.network.log
      .filter((p) => p.frame.opcode === Opcode.RelayStart)
      .map((p) => [p.dst, (decodeVendor(p.frame) as RelayStart).targets]);
    expect(relayStarts).toEqual([
      [0x10, [0x11, 0x12]],
      [0x12, [0x13, 0x14]],
    ]);
  });

  it("should update relayed targets directly when their relay refuses", async () => {
    const h = await setup({
      nodes: [0x20, 0x21],
      node: (a) => (a === 0x20 ? { faults: { relay: ErrorCode.NO_IMAGE } } : {}),
    });
    const campaign = h.campaign({ relay: { neighbours: new Map([[0x20, [0x21]]]), channel: 1 } });
    const report = await h.clock.run(campaign.run());
    expect(report.done).toBe(2);
    expect(report.targets[1]).toMatchObject({ relayedBy: undefined, method: Method.MESH, outcome: "done" });
  });
});
