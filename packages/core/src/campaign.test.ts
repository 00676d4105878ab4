import { ErrorCode, Opcode, Phase } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { setup } from "../test/harness.js";

describe("Campaign with one target", () => {
  it("should update exactly one target to the new version and confirm it", async () => {
    const h = await setup({ nodes: [0x0042] });
    const campaign = h.campaign();
    const report = await h.clock.run(campaign.run());
    const node = h.fleet.node(0x0042)!;
    expect(report.done).toBe(1);
    expect(report.targets[0]).toMatchObject({ address: 0x42, outcome: "done", state: "done", fromVersion: "1.0.0", version: "2.0.0", bytesDone: h.image.size, runs: 1, upToDate: false });
    expect(node.firmware.version).toBe("2.0.0");
    expect(node.phase).toBe(Phase.CONFIRMED);
    const chunkCount = Math.ceil(h.image.size / 359);
    // Every chunk exactly once, plus one TransferInfo per round (round 0 and two reports).
    expect(h.network.count(Opcode.DataFrame, 0x42)).toBe(chunkCount + 3);
  });
});
