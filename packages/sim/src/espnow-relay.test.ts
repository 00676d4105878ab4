import { buildImage, generateSigningKey, publicKeyRaw } from "@meshota/core";
import { emulatorAvailable } from "@meshota/emulator";
import { decodeFrame, decodeVendor, encodeVendor, ErrorCode, Phase } from "@meshota/proto";
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

/** Node `victim` is told ESP-NOW `channel` in its UpdateStart instead of what the distributor sent. */
function retuneUpdateStart(cluster: NodeCluster, victim: number, channel: number): void {
  const input = cluster.input.bind(cluster);
  cluster.input = (address, i) => {
    if (address === victim && i.kind === "mesh") {
      const m = decodeVendor({ opcode: i.opcode, params: i.params });
      if (m.$typeName === "meshota.v1.UpdateStart" && m.method.case === "espnow") {
        m.method.value.channel = channel;
        const { opcode, params } = encodeVendor(m);
        input(address, { ...i, opcode, params });
        return;
      }
    }
    input(address, i);
  };
}

const scenarioOptions = async (cluster: NodeCluster, key: CryptoKeyPair, size: number) => ({
  cluster,
  nodes: 3,
  topology: "grid" as const,
  mix: { tcp: 1, espnow: 2 },
  seed: 4,
  loss: 0,
  factory: { projectName: "meshota-sim", version: "1.0.0", secureVersion: 0, chipId: 5 },
  chipRevision: 3,
  publicKey: await publicKeyRaw(key.publicKey),
  maxImageSize: size,
  simulation: { espnow: { rateBps: 214_000 } },
});

describe.skipIf(!haveEmulator)("ESP-NOW relays on the node emulator", () => {
  it("should relay 64 KiB at 214 kbit/s without loss in one round: the radio paces the relay", async () => {
    const key = await generateSigningKey();
    const bytes = await buildImage({ version: "2.0.0", projectName: "meshota-sim", size: 64 * 1024 });
    const cluster = await EmulatorCluster.start();
    const seen = recordEspNow(cluster);
    let scenario: Scenario | undefined;
    try {
      scenario = await Scenario.create(await scenarioOptions(cluster, key, bytes.length));
      expect([...scenario.roles.values()].filter((r) => r === "espnow").length).toBeGreaterThan(0);
      const out = await scenario.runCampaign({ ...(await prepareImage(bytes, key.privateKey)), concurrency: 3 });
      expect(out.report.done).toBe(3);
      const stats = scenario.sim.espnow.stats;
      // Round 0 carries every chunk once, in order; round 1 only asks for reports.
      const count = Math.ceil(bytes.length / 226);
      expect(seen.chunks).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(seen.rounds).toEqual([0, 1]);
      expect(stats.queueFull).toBe(0);
      // Every target listened on the relay's channel.
      expect(stats.wrongChannel).toBe(0);
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

  it("should leave a target told another channel than its relay's without a byte, failed with WRONG_CHANNEL", async () => {
    const key = await generateSigningKey();
    const bytes = await buildImage({ version: "2.0.0", projectName: "meshota-sim", size: 16 * 1024 });
    const cluster = await EmulatorCluster.start();
    const tuned: { node: number; channel: number }[] = [];
    const advance = cluster.advance.bind(cluster);
    cluster.advance = async (to: number): Promise<readonly NodeEvent[]> => {
      const events = await advance(to);
      for (const e of events) if (e.output.kind === "espnow-begin") tuned.push({ node: e.node, channel: e.output.channel });
      return events;
    };
    let scenario: Scenario | undefined;
    try {
      scenario = await Scenario.create(await scenarioOptions(cluster, key, bytes.length));
      const receivers = [...scenario.roles].filter(([, r]) => r === "espnow").map(([a]) => a);
      expect(receivers.length).toBe(2);
      const [victim, other] = receivers as [number, number];
      retuneUpdateStart(cluster, victim, 11);
      const out = await scenario.runCampaign({ ...(await prepareImage(bytes, key.privateKey)), concurrency: 3 });

      // The victim listened on 11, the relay and the other target on the campaign's 6.
      expect(tuned.filter((t) => t.node === victim).map((t) => t.channel)).toEqual([11]);
      expect(tuned.filter((t) => t.node === other).map((t) => t.channel)).toEqual([6]);
      expect(scenario.sim.espnow.stats.wrongChannel).toBeGreaterThan(0);
      const node = (a: number) => out.nodes.find((n) => n.address === a)!;
      expect(node(victim).status).toMatchObject({ phase: Phase.FAILED, error: ErrorCode.WRONG_CHANNEL, bytesDone: 0, version: "1.0.0" });
      expect(node(other).status.version).toBe("2.0.0");
      const report = out.report.targets.find((t) => t.address === victim)!;
      expect(report.state).toBe("failed");
      expect(report.failure?.code).toBe(ErrorCode.WRONG_CHANNEL);
      expect(out.report.done).toBe(2);
    } finally {
      await scenario?.close();
      await cluster.close();
    }
  }, 120_000);
});
