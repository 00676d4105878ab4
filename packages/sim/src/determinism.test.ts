import { buildImage, generateSigningKey, publicKeyRaw, readImage, signImage, type CampaignReport } from "@meshota/core";
import { emulatorAvailable } from "@meshota/emulator";
import { describe, expect, it } from "vitest";
import { EmulatorCluster } from "./emulator-cluster.js";
import { Scenario } from "./scenario.js";
import type { PhaseChange } from "./simulation.js";

const haveEmulator = emulatorAvailable();
if (!haveEmulator) console.warn("skipping determinism tests: no meshota_emulator (build firmware/host first or set MESHOTA_EMULATOR)");

/** Everything a run shows that must repeat for its seed. */
interface RunRecord {
  readonly report: CampaignReport;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly timeline: ReadonlyArray<{ readonly address: number; readonly role: string; readonly history: readonly PhaseChange[] }>;
  readonly events: readonly string[];
  readonly stats: object;
  /** The scheduler's log: every fired event's virtual time and label. */
  readonly log: readonly string[];
}

// One key and image for every run: the signature is randomized per signing (ECDSA), and this
// test is about what the seed decides.
const material = (async () => {
  const keys = await generateSigningKey();
  const image = await readImage(await buildImage({ version: "2.0.0", projectName: "meshota-demo", size: 24 * 1024 }));
  return { keys, image, signed: await signImage(image, keys.privateKey), publicKey: await publicKeyRaw(keys.publicKey) };
})();

/** Six emulated nodes (tcp, espnow relayed by tcp, mesh), 5 % loss, one campaign. */
async function runOnce(seed: number): Promise<RunRecord> {
  const { image, signed, publicKey } = await material;
  const cluster = await EmulatorCluster.start();
  let scenario: Scenario | undefined;
  try {
    scenario = await Scenario.create({
      cluster,
      nodes: 6,
      topology: "grid",
      mix: { tcp: 1, espnow: 1, mesh: 1 },
      seed,
      loss: 0.05,
      factory: { projectName: "meshota-demo", version: "1.0.0", secureVersion: 0, chipId: image.header.chipId },
      chipRevision: image.header.minChipRevFull,
      publicKey,
      maxImageSize: image.size,
      simulation: { log: true },
    });
    const sim = scenario.sim;
    const events: string[] = [];
    const outcome = await scenario.runCampaign({
      image,
      signed,
      onEvent: (e, at) => {
        if (e.type === "state") events.push(`${at} 0x${e.address.toString(16)} ${e.previous}->${e.state}`);
        else if (e.type === "campaign") events.push(`${at} campaign ${e.state}`);
      },
    });
    return {
      report: outcome.report,
      startedAt: outcome.startedAt,
      endedAt: outcome.endedAt,
      timeline: outcome.nodes.map((n) => ({ address: n.address, role: n.role, history: n.history })),
      events,
      stats: { mesh: { ...sim.mesh.stats }, espnow: { ...sim.espnow.stats }, ip: { ...sim.ip.stats } },
      log: [...sim.scheduler.log],
    };
  } finally {
    await scenario?.close();
    await cluster.close();
  }
}

describe.skipIf(!haveEmulator)("a simulated campaign on the node emulator", () => {
  it("should repeat exactly for the same seed and take another course for another seed", async () => {
    const first = await runOnce(11);
    const again = await runOnce(11);
    const other = await runOnce(12);

    // The run itself must be a real one: every role present, every node updated, relays used.
    expect(new Set(first.timeline.map((n) => n.role))).toEqual(new Set(["tcp", "espnow", "mesh"]));
    expect(first.report).toMatchObject({ done: 6, failed: 0, pending: 0, cancelled: 0 });
    expect(first.report.targets.some((t) => t.relayedBy !== undefined)).toBe(true);
    expect(first.log.length).toBeGreaterThan(1000);

    expect(again.report).toEqual(first.report);
    expect(again.timeline).toEqual(first.timeline);
    expect(again.events).toEqual(first.events);
    expect(again.stats).toEqual(first.stats);
    expect([again.startedAt, again.endedAt]).toEqual([first.startedAt, first.endedAt]);
    // Event by event, not only the outcome.
    expect(again.log.length).toBe(first.log.length);
    expect(again.log).toEqual(first.log);

    expect(other.report.done).toBe(6);
    expect(other.timeline).not.toEqual(first.timeline);
    expect(other.report.targets.map((t) => t.sessionId)).not.toEqual(first.report.targets.map((t) => t.sessionId));
  }, 240_000);
});
