import { buildImage, generateSigningKey, publicKeyRaw } from "@meshota/core";
import { emulatorAvailable } from "@meshota/emulator";
import { decodeFrame } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { EmulatorCluster } from "./emulator-cluster.js";
import type { NodeCluster, NodeEvent } from "./node.js";
import { prepareImage, Scenario } from "./scenario.js";

const haveEmulator = emulatorAvailable();
if (!haveEmulator) console.warn("skipping ESP-NOW relay tests: no meshota_emulator (build firmware/host first or set MESHOTA_EMULATOR)");

/** The cluster's ESP-NOW frames as the nodes sent them: TransferInfo rounds and chunk indices. */
function recordEspNow(cluster: NodeCluster) {
  const seen = { rounds: [] as number[], chunks: [] as number[] };
  const advance = cluster.advance.bind(cluster);
  cluster.advance = async (to: number): Promise<readonly NodeEvent[]> => {
    const events = await advance(to);
    for (const e of events) {
      if (e.output.kind !== "espnow-send") continue;
      const f = decodeFrame(e.output.frame);
      if (f.body.case === "info") seen.rounds.push(f.body.value.round);
      else if (f.body.case === "chunk") seen.chunks.push(f.body.value.index);
    }
    return events;
  };
  return seen;
}

describe.skipIf(!haveEmulator)("ESP-NOW relays on the node emulator", () => {
  it("should relay 64 KiB at 214 kbit/s without loss in one round: the radio paces the relay", async () => {
    const key = await generateSigningKey();
    const bytes = await buildImage({ version: "2.0.0", projectName: "meshota-sim", size: 64 * 1024 });
    const cluster = await EmulatorCluster.start();
    const seen = recordEspNow(cluster);
    let scenario: Scenario | undefined;
    try {
      scenario = await Scenario.create({
        cluster,
        nodes: 3,
        topology: "grid",
        mix: { tcp: 1, espnow: 2 },
        seed: 4,
        loss: 0,
        factory: { projectName: "meshota-sim", version: "1.0.0", secureVersion: 0, chipId: 5 },
        chipRevision: 3,
        publicKey: await publicKeyRaw(key.publicKey),
        maxImageSize: bytes.length,
        simulation: { espnow: { rateBps: 214_000 } },
      });
      expect([...scenario.roles.values()].filter((r) => r === "espnow").length).toBeGreaterThan(0);
      const out = await scenario.runCampaign({ ...(await prepareImage(bytes, key.privateKey)), concurrency: 3 });
      expect(out.report.done).toBe(3);
      const stats = scenario.sim.espnow.stats;
      // Round 0 carries every chunk once, in order; round 1 only asks for reports.
      const count = Math.ceil(bytes.length / 226);
      expect(seen.chunks).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(seen.rounds).toEqual([0, 1]);
      expect(stats.queueFull).toBe(0);
      // The air time of the image is the floor of the relay's time.
      const relayed = out.nodes.filter((n) => n.role === "espnow");
      const airMs = (count * (226 + 18 + 40) * 8 * 1000) / 214_000;
      for (const n of relayed) expect(n.status.version).toBe("2.0.0");
      expect(out.endedAt - out.startedAt).toBeGreaterThan(airMs);
    } finally {
      await scenario?.close();
      await cluster.close();
    }
  }, 120_000);
});
