// The real node core (C, in the node emulator) as ESP-NOW receiver and as relay, on the
// simulated medium, with the TypeScript distributor.
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Emulator } from "@meshota/emulator";
import { generateSigningKey, publicKeyRaw, readImage, signImage, buildImage, sha256, toHex, type SignedManifest } from "@meshota/core";
import { create, ErrorCode, Phase, RelayPhase, RelayStartSchema, UpdateStartSchema } from "@meshota/proto";
import { afterEach, describe, expect, it } from "vitest";
import { startDistribution, type DistributionResult } from "../distributor.js";
import { macToString } from "../mac.js";
import { EmulatorDriver, emulatorMac } from "./emulator-driver.js";
import { EspNowMedium } from "./medium.js";
import { Scheduler } from "./scheduler.js";

const hostDir = join(dirname(fileURLToPath(import.meta.url)), "../../../../firmware/host");
function findEmulator(): string | undefined {
  if (process.env.MESHOTA_EMULATOR) return process.env.MESHOTA_EMULATOR;
  if (!existsSync(hostDir)) return undefined;
  const dirs = readdirSync(hostDir).filter((d) => d.startsWith("build"));
  for (const d of ["build", ...dirs]) {
    const p = join(hostDir, d, "meshota_emulator");
    if (existsSync(p)) return p;
  }
  return undefined;
}
const BINARY = findEmulator();
if (!BINARY && process.env.CI) throw new Error("meshota_emulator is not built: build firmware/host first (CI must run these tests)");

const ORIGIN = 0x0001;
const CHANNEL = 6;
const SESSION = 0x1234;

interface Setup {
  emu: Emulator;
  image: Uint8Array;
  signed: SignedManifest;
  shaHex: string;
}

const running: Emulator[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
});

async function setup(): Promise<Setup> {
  const emu = await Emulator.start({ binary: BINARY! });
  running.push(emu);
  const key = await generateSigningKey();
  await emu.setKey(await publicKeyRaw(key.publicKey));
  const image = await buildImage({ chip: 5, version: "2.0.0", projectName: "demo", size: 24 * 1024, seed: 4 });
  const signed = await signImage(await readImage(image), key.privateKey);
  return { emu, image, signed, shaHex: toHex(await sha256(image)) };
}

function start(s: Setup, node: number, distributor: number): void {
  s.emu.sendVendor(
    node,
    create(UpdateStartSchema, {
      sessionId: SESSION,
      manifest: s.signed.manifest,
      signature: s.signed.signature,
      method: { case: "espnow", value: { channel: CHANNEL, distributorMac: emulatorMac(distributor), payloadSize: 232 } },
    }),
  );
}

describe.skipIf(!BINARY)("C nodes of the emulator on the simulated medium", () => {
  it("should bring 10 C receivers to a verified image at 10 % loss and report one on another channel", async () => {
    const s = await setup();
    const scheduler = new Scheduler();
    const medium = new EspNowMedium(scheduler, { seed: 21, defaultLoss: 0.1 });
    const driver = new EmulatorDriver(medium, s.emu);
    const origin = medium.addStation({ mac: emulatorMac(ORIGIN), channel: CHANNEL });
    const nodes = Array.from({ length: 11 }, (_, i) => 0x0100 + i);
    for (const n of nodes) {
      await s.emu.addNode(n, { maxChunk: 1440 });
      driver.attach(n, { channel: n === 0x010a ? 11 : CHANNEL }); // the last one listens on channel 11
      start(s, n, ORIGIN);
    }
    await s.emu.advance(10);
    // ESP-NOW needs no connection: the nodes listen at once.
    for (const n of nodes) expect((await s.emu.status(n)).phase).toBe(Phase.RECEIVING);

    let result: DistributionResult | undefined;
    startDistribution(origin, scheduler, { sessionId: SESSION, image: s.image, targets: nodes.map(emulatorMac), silentRounds: 4 }, (r) => (result = r));
    await driver.run(() => result !== undefined, 600_000);
    const byMac = new Map(result!.targets.map((t) => [t.mac, t]));
    for (const n of nodes.slice(0, 10)) expect(byMac.get(macToString(emulatorMac(n)))!.ok).toBe(true);
    expect(byMac.get(macToString(emulatorMac(0x010a)))).toMatchObject({ ok: false, error: ErrorCode.WRONG_CHANNEL });
    expect(result!.rounds).toBeGreaterThan(1); // 10 % loss needed repair

    await driver.advance(2000); // verification runs in the nodes' poll
    for (const n of nodes.slice(0, 10)) {
      expect((await s.emu.status(n)).phase).toBe(Phase.VERIFIED);
      expect(await s.emu.sha256(n, "passive", s.image.length)).toBe(s.shaHex);
    }
    // The node on channel 11 gives up by its own receive timeout, with the same reason.
    await driver.advance(61_000);
    expect(await s.emu.status(0x010a)).toMatchObject({ phase: Phase.FAILED, error: ErrorCode.WRONG_CHANNEL });
  }, 120_000);

  it("should bring 50 C receivers to a verified image at 30 % loss, one of them joining late", async () => {
    const s = await setup();
    const scheduler = new Scheduler();
    const medium = new EspNowMedium(scheduler, { seed: 23, defaultLoss: 0.3 });
    const driver = new EmulatorDriver(medium, s.emu);
    const origin = medium.addStation({ mac: emulatorMac(ORIGIN), channel: CHANNEL });
    const nodes = Array.from({ length: 50 }, (_, i) => 0x0400 + i);
    const stations = [];
    for (const n of nodes) {
      await s.emu.addNode(n, { maxChunk: 1440 });
      stations.push(driver.attach(n, { channel: CHANNEL }));
      start(s, n, ORIGIN);
    }
    const late = stations[49]!;
    late.powered = false;
    scheduler.at(1000, () => (late.powered = true)); // round 0 takes about 1 s
    await s.emu.advance(10);
    let result: DistributionResult | undefined;
    startDistribution(origin, scheduler, { sessionId: SESSION, image: s.image, targets: nodes.map(emulatorMac) }, (r) => (result = r));
    await driver.run(() => result !== undefined, 600_000);
    expect(result!.targets.filter((t) => !t.ok)).toEqual([]);
    expect(result!.targets[49]!.round).toBeGreaterThan(1);
    await driver.advance(2000);
    for (const n of nodes) {
      expect((await s.emu.status(n)).phase).toBe(Phase.VERIFIED);
      expect(await s.emu.sha256(n, "passive", s.image.length)).toBe(s.shaHex);
    }
  }, 120_000);

  it("should have a C relay node serve targets out of the first distributor's range", async () => {
    const s = await setup();
    const scheduler = new Scheduler();
    const medium = new EspNowMedium(scheduler, { seed: 22, defaultLoss: 0.05, rangeM: 100 });
    const driver = new EmulatorDriver(medium, s.emu);
    const origin = medium.addStation({ mac: emulatorMac(ORIGIN), channel: CHANNEL, position: { x: 0, y: 0 } });
    const RELAY = 0x0200;
    const FAR = [0x0301, 0x0302, 0x0303];
    await s.emu.addNode(RELAY, { maxChunk: 1440 });
    driver.attach(RELAY, { channel: CHANNEL, position: { x: 80, y: 0 } });
    for (const [i, n] of FAR.entries()) {
      await s.emu.addNode(n, { maxChunk: 1440 });
      const st = driver.attach(n, { channel: CHANNEL, position: { x: 160, y: i * 5 } });
      expect(medium.hears(origin, st)).toBe(false);
    }
    // Hop 1: the origin updates the relay.
    start(s, RELAY, ORIGIN);
    await s.emu.advance(10);
    let first: DistributionResult | undefined;
    startDistribution(origin, scheduler, { sessionId: SESSION, image: s.image, targets: [emulatorMac(RELAY)] }, (r) => (first = r));
    await driver.run(() => first !== undefined, 600_000);
    expect(first!.targets[0]!.ok).toBe(true);
    await driver.advance(1000);
    expect((await s.emu.status(RELAY)).phase).toBe(Phase.VERIFIED);

    // Hop 2: the targets are told the relay is their distributor; the relay is started.
    for (const n of FAR) start(s, n, RELAY);
    s.emu.sendVendor(
      RELAY,
      create(RelayStartSchema, { sessionId: SESSION, targets: FAR, method: { case: "espnow", value: { channel: CHANNEL, distributorMac: emulatorMac(RELAY), payloadSize: 232 } } }),
    );
    await driver.advance(1000);
    expect((await s.emu.status(RELAY)).relayPhase).toBe(RelayPhase.RUNNING);
    for (let i = 0; i < 120 && (await s.emu.status(RELAY)).relayPhase === RelayPhase.RUNNING; i++) {
      await driver.advance(1000);
    }
    await driver.advance(1000); // the targets verify their images
    expect((await s.emu.status(RELAY)).relayPhase).toBe(RelayPhase.DONE);
    for (const n of FAR) {
      expect((await s.emu.status(n)).phase).toBe(Phase.VERIFIED);
      expect(await s.emu.sha256(n, "passive", s.image.length)).toBe(s.shaHex);
    }
  }, 120_000);
});
