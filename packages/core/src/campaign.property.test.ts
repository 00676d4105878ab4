// Property: whatever the mesh does (lost, duplicated, delayed and reordered frames, nodes that
// lose power for a while), every campaign mode and policy ends with every node updated and in
// the phase the policy asks for.
import { encodeVendorInit, Method, Phase, type UpdateStatus, type VendorMessage } from "@meshota/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { setup } from "../test/harness.js";
import { meshMethod, newTargetRecord, runTarget, DISTRIBUTOR_DEFAULTS } from "./distributor/target.js";
import { ControlLink } from "./distributor/link.js";

const policies = ["verify-and-apply", "test-then-confirm", "verify-only"] as const;

describe("Campaign under faults (property)", () => {
  it("should update every node in every mode despite loss, duplicates, reordering and power cuts", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.constantFrom("unicast", "group", "relay"),
        fc.constantFrom(...policies),
        fc.double({ min: 0, max: 0.12, noNaN: true }),
        fc.boolean(),
        async (seed0, mode, policy, loss, reliable) => {
          const h = await setup({ nodes: 6, image: { size: 20_000 }, network: { reliable } });
          let seed = seed0;
          const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
          // Late answers (delayed past the 3 s reply timeout) meet the retries' fresh ones.
          h.network.duplicate = () => random() < 0.15;
          h.network.delay = () => (random() < 0.25 ? Math.floor(random() * 6000) : 0);
          h.network.lose = () => random() < loss;
          for (const a of h.addresses) h.network.subscribe(a, 0xc001);
          for (const n of h.fleet.nodes) {
            const at = Math.floor(random() * 20_000);
            const off = 1000 + Math.floor(random() * 40_000);
            void h.clock
              .sleep(at)
              .then(() => {
                n.powerOff();
                return h.clock.sleep(off);
              })
              .then(() => n.powerOn());
          }
          const neighbours = new Map(h.addresses.map((a, i) => [a, h.addresses.slice(i + 1, i + 3)]));
          const campaign = h.campaign({
            concurrency: 3,
            offlineRetryMs: 5000,
            policy,
            ...(mode === "group" ? { group: 0xc001 } : mode === "relay" ? { relay: { neighbours, channel: 3 } } : {}),
          });
          const report = await h.clock.run(campaign.run());
          expect(
            report.targets
              .filter((t) => t.outcome !== "done")
              .map((t) => [t.address, t.failure?.message ?? t.pendingReason])
          ).toEqual([]);
          const phase = policy === "verify-only" ? Phase.VERIFIED : Phase.CONFIRMED;
          const version = policy === "verify-only" ? "1.0.0" : "2.0.0";
          for (const n of h.fleet.nodes) expect([n.phase, n.firmware.version]).toEqual([phase, version]);
        }
      ),
      {
        numRuns: Number(process.env.MESHOTA_PROPERTY_RUNS ?? 30),
        seed: Number(process.env.MESHOTA_PROPERTY_SEED ?? 20261203),
      }
    );
  }, 120_000);
});

describe("a session left behind by another method", () => {
  it("should cancel it and start a new session for the method in use", async () => {
    const h = await setup();
    const node = h.fleet.nodes[0]!;
    const link = new ControlLink(h.network.transport(), h.clock);
    const retry = DISTRIBUTOR_DEFAULTS.retry;
    // An interrupted relay left the node waiting for ESP-NOW chunks in session 0x5e55.
    await h.clock.run(
      link.request(
        0x100,
        encodeVendorInit("UpdateStart", {
          sessionId: 0x5e55,
          manifest: h.signed.manifest,
          signature: h.signed.signature,
          method: { case: "espnow", value: { channel: 6, distributorMac: new Uint8Array(6), payloadSize: 226 } },
        }),
        (m: VendorMessage): m is UpdateStatus => m.$typeName === "meshota.v1.UpdateStatus",
        "UpdateStatus",
        retry
      )
    );
    expect([node.phase, node.sessionId]).toEqual([Phase.STARTING, 0x5e55]);
    const record = { ...newTargetRecord(0x100), sessionId: 0x5e55, method: Method.ESPNOW };
    const events: string[] = [];
    await h.clock.run(
      runTarget(
        record,
        {
          link,
          clock: h.clock,
          image: h.image,
          signed: h.signed,
          options: { ...DISTRIBUTOR_DEFAULTS, methods: [meshMethod()] },
          emit: (e) => events.push(e.type === "state" ? e.state : ""),
        },
        new AbortController().signal
      )
    );
    expect(record.state).toBe("done");
    expect(record.method).toBe(Method.MESH);
    expect(record.sessionId).not.toBe(0x5e55);
    expect(node.firmware.version).toBe("2.0.0");
    const states = events.filter(Boolean);
    expect(states.slice(0, 3)).toEqual(["querying", "starting", "transferring"]);
    expect(states.slice(-5)).toEqual(["verified", "applying", "rebooting", "confirming", "done"]);
  });
});
