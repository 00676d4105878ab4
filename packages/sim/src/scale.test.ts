// 500 emulated nodes in one campaign: every side channel, on the 2-core machines CI runs on.
import { buildImage, generateSigningKey, publicKeyRaw, readImage, signImage } from "@meshota/core";
import { emulatorAvailable } from "@meshota/emulator";
import { describe, expect, it } from "vitest";
import { EmulatorCluster } from "./emulator-cluster.js";
import { Scenario } from "./scenario.js";

const haveEmulator = emulatorAvailable();
if (!haveEmulator) console.warn("skipping the 500-node test: no meshota_emulator (build firmware/host first or set MESHOTA_EMULATOR)");

describe.skipIf(!haveEmulator)("a 500-node network", () => {
  it("should bring every node to the new image by Wi-Fi, TCP and ESP-NOW relays", { timeout: 600_000 }, async () => {
    const keys = await generateSigningKey();
    const image = await readImage(await buildImage({ version: "2.0.0", projectName: "meshota-demo", size: 32 * 1024 }));
    const signed = await signImage(image, keys.privateKey);
    const cluster = await EmulatorCluster.start();
    try {
      const scenario = await Scenario.create({
        cluster,
        nodes: 500,
        topology: "grid",
        mix: { wifi: 1, tcp: 1, espnow: 2 },
        seed: 5,
        loss: 0.02,
        factory: { projectName: "meshota-demo", version: "1.0.0", secureVersion: 0, chipId: image.header.chipId },
        chipRevision: image.header.minChipRevFull,
        publicKey: await publicKeyRaw(keys.publicKey),
        maxImageSize: image.size,
      });
      const outcome = await scenario.runCampaign({ image, signed, concurrency: 64 });
      expect(outcome.report).toMatchObject({ done: 500, failed: 0, pending: 0, cancelled: 0 });
      const roles = new Map<string, number>();
      for (const n of outcome.nodes) {
        roles.set(n.role, (roles.get(n.role) ?? 0) + 1);
        expect(n.status.version, `0x${n.address.toString(16)}`).toBe("2.0.0");
      }
      expect(Object.fromEntries(roles)).toEqual({ wifi: 125, tcp: 125, espnow: 250 });
    } finally {
      await cluster.close();
    }
  });
});
