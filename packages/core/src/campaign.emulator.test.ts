// Campaigns against the real C node core, run by the node emulator (firmware/host/emulator).
import { defaultEmulatorPath, Emulator, emulatorAvailable, type NodeOptions } from "@meshota/emulator";
import {
  create,
  ErrorCode,
  Opcode,
  Phase,
  decodeVendor,
  UpdateStartSchema,
  type DataFrame,
  type Manifest,
  type UpdateStatus,
} from "@meshota/proto";
import { afterEach, describe, expect, it } from "vitest";
import { drive, EmulatorTransport } from "../test/emulator-transport.js";
import { testKeys } from "../test/harness.js";
import { Campaign, type CampaignOptions } from "./campaign.js";
import { VirtualClock } from "./clock.js";
import { describeErrorCode, errorCodeName } from "./distributor/types.js";
import { buildImage } from "./image/fixture.js";
import { readImage } from "./image/reader.js";
import { generateSigningKey, manifestFromImage, publicKeyRaw, signImage, signManifest } from "./signing.js";
import { sha256 } from "./hash.js";
import type { EspImage } from "./image/reader.js";

const binary = defaultEmulatorPath();
const haveBinary = emulatorAvailable(binary);
if (!haveBinary)
  console.warn(`skipping emulator campaigns: no meshota_emulator at ${binary} (build firmware/host first)`);

let emu: Emulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(nodes: Array<[number, Partial<NodeOptions>?]>, imageSize = 12_000) {
  emu = await Emulator.start({ binary });
  const keys = await testKeys();
  await emu.setKey(await publicKeyRaw(keys.publicKey));
  for (const [address, options] of nodes) await emu.addNode(address, { version: "1.0.0", project: "demo", ...options });
  const image = await readImage(await buildImage({ chip: 5, version: "2.0.0", projectName: "demo", size: imageSize }));
  const signed = await signImage(image, keys.privateKey);
  const clock = new VirtualClock();
  const transport = new EmulatorTransport(emu);
  const campaign = (o: Partial<CampaignOptions> = {}) =>
    new Campaign({ transport, image, signed, clock, targets: nodes.map(([a]) => a), ...o });
  return { emu, clock, transport, image, campaign };
}

function chunksSent(t: EmulatorTransport, from = 0): number[] {
  return t.sent
    .slice(from)
    .filter((s) => s.frame.opcode === Opcode.DataFrame)
    .map((s) => decodeVendor(s.frame) as DataFrame)
    .flatMap((f) => (f.body.case === "chunk" ? [f.body.value.index] : []));
}

describe.skipIf(!haveBinary)("Campaign against the C node emulator", () => {
  it("should update exactly one emulated node to the confirmed new version", async () => {
    const h = await start([[0x0100]]);
    const report = await drive(h.campaign().run(), h.clock, h.transport);
    expect(report.targets[0]).toMatchObject({
      outcome: "done",
      fromVersion: "1.0.0",
      version: "2.0.0",
      bytesDone: h.image.size,
    });
    expect(await h.emu.status(0x100)).toMatchObject({
      power: "on",
      phase: Phase.CONFIRMED,
      version: "2.0.0",
      error: ErrorCode.NONE,
    });
    const chunkCount = Math.ceil(h.image.size / 359);
    expect(chunksSent(h.transport)).toEqual(Array.from({ length: chunkCount }, (_, i) => i));
  });

  it("should update a campaign of 20 emulated nodes", async () => {
    const nodes = Array.from({ length: 20 }, (_, i): [number] => [0x0200 + i]);
    const h = await start(nodes, 8000);
    const report = await drive(h.campaign({ concurrency: 5 }).run(), h.clock, h.transport);
    expect(report).toMatchObject({ done: 20, failed: 0, pending: 0 });
    for (const [a] of nodes) expect(await h.emu.status(a)).toMatchObject({ phase: Phase.CONFIRMED, version: "2.0.0" });
  });

  it("should update emulated nodes when a tenth of all frames are lost both ways", async () => {
    const nodes = Array.from({ length: 6 }, (_, i): [number] => [0x0700 + i]);
    const h = await start(nodes, 20_000);
    let seed = 4711;
    h.transport.lose = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff < 0.1;
    const report = await drive(h.campaign({ concurrency: 3, offlineRetryMs: 5000 }).run(), h.clock, h.transport);
    expect(
      report.targets.filter((t) => t.outcome !== "done").map((t) => t.failure?.message ?? t.pendingReason)
    ).toEqual([]);
    for (const [a] of nodes) expect(await h.emu.status(a)).toMatchObject({ phase: Phase.CONFIRMED, version: "2.0.0" });
  });

  it("should update a node that is powered off at the start once it is back", async () => {
    const h = await start([[0x0300], [0x0301]]);
    await h.emu.powerCut(0x301);
    let restarted = false;
    const report = await drive(h.campaign({ offlineRetryMs: 20_000 }).run(), h.clock, h.transport, {
      onStep: async (now) => {
        if (!restarted && now >= 45_000) {
          restarted = true;
          await h.emu.restart(0x301);
        }
      },
    });
    expect(restarted).toBe(true);
    expect(report).toMatchObject({ done: 2, pending: 0 });
    expect(report.targets[1]!.runs).toBeGreaterThanOrEqual(2);
    expect(await h.emu.status(0x301)).toMatchObject({ phase: Phase.CONFIRMED, version: "2.0.0" });
  });

  it("should resume after suspend and a power cut from what the node persisted", async () => {
    const h = await start([[0x0400]], 60_000);
    const campaign = h.campaign({ chunkGapMs: 20 });
    const running = campaign.run();
    const chunkCount = Math.ceil(h.image.size / 359);
    let suspended = false;
    let mark = 0;
    let heldBytes = 0;
    const report = await drive(running, h.clock, h.transport, {
      onStep: async () => {
        if (suspended || chunksSent(h.transport).length < chunkCount / 2) return;
        suspended = true;
        await campaign.suspend();
        await h.emu.powerCut(0x400);
        const back = await h.emu.restart(0x400);
        expect(back.phase).toBe(Phase.RECEIVING);
        heldBytes = back.bytes;
        mark = h.transport.sent.length;
        campaign.resume();
      },
    });
    expect(report.targets[0]).toMatchObject({ outcome: "done", version: "2.0.0", runs: 2 });
    const held = Math.floor(heldBytes / 359);
    expect(held).toBeGreaterThan(chunkCount / 3);
    const after = chunksSent(h.transport, mark);
    // Only what the node did not hold after the power cut, never from chunk 0.
    expect(after.length).toBe(chunkCount - held);
    expect(after[0]).toBe(held);
  });

  it("should report the node's own refusal reasons", async () => {
    const other = await generateSigningKey();
    const h = await start([
      [0x0500, { chipId: 9 }],
      [0x0501, { chipRevision: 0 }],
      [0x0502, { slotSize: 4096 }],
      [0x0503, { secureVersion: 3 }],
      [0x0504, { version: "2.0.0" }],
      [0x0505, { project: "other" }],
      [0x0506],
    ]);
    await h.emu.setKey(await publicKeyRaw(other.publicKey), 0x0506);
    const expected = [
      ErrorCode.WRONG_CHIP,
      ErrorCode.CHIP_REVISION,
      ErrorCode.IMAGE_TOO_LARGE,
      ErrorCode.DOWNGRADE,
      ErrorCode.SAME_VERSION,
      ErrorCode.PROJECT_MISMATCH,
      ErrorCode.BAD_SIGNATURE,
    ];
    // The image needs chip revision 1 or later for the revision check.
    const image = await readImage(
      await buildImage({ chip: 5, version: "2.0.0", projectName: "demo", size: 12_000, minChipRev: 1 })
    );
    const signed = await signImage(image, (await testKeys()).privateKey);
    const campaign = new Campaign({
      transport: h.transport,
      image,
      signed,
      clock: h.clock,
      targets: [0x500, 0x501, 0x502, 0x503, 0x504, 0x505, 0x506],
      hostChecks: false,
    });
    const report = await drive(campaign.run(), h.clock, h.transport);
    expect(report.targets.map((t) => t.failure?.codeName)).toEqual(expected.map(errorCodeName));
    for (const [i, t] of report.targets.entries()) {
      expect(t.failure).toEqual({
        code: expected[i],
        codeName: errorCodeName(expected[i]!),
        message: `UpdateStart refused: ${describeErrorCode(expected[i]!)}`,
        source: "node",
      });
    }
  });

  it("should have the C core accept what TypeScript signs and refuse any tampered byte", async () => {
    const h = await start([[0x0800]]);
    const keys = await testKeys();
    const { manifest, signature } = await signImage(h.image, keys.privateKey);
    const ask = async (m: typeof manifest, sig: Uint8Array, sessionId: number) => {
      h.emu.takeVendor(0x800);
      h.emu.sendVendor(
        0x800,
        create(UpdateStartSchema, {
          sessionId,
          manifest: m,
          signature: sig,
          method: { case: "mesh", value: { chunkSize: 359 } },
        })
      );
      await h.emu.advance(10);
      const answers = h.emu
        .takeVendor(0x800)
        .filter((v): v is UpdateStatus => v.$typeName === "meshota.v1.UpdateStatus");
      return answers.at(-1)!;
    };
    const tampered: [typeof manifest, Uint8Array][] = [];
    for (let i = 0; i < 64; i++) tampered.push([manifest, signature.map((b, j) => (j === i ? b ^ 0x01 : b))]);
    for (let i = 0; i < 32; i++)
      tampered.push([
        { ...manifest, imageSha256: manifest.imageSha256.map((b, j) => (j === i ? b ^ 0x80 : b)) },
        signature,
      ]);
    tampered.push(
      [{ ...manifest, imageSize: manifest.imageSize + 16 }, signature],
      [{ ...manifest, secureVersion: 1 }, signature],
      [{ ...manifest, version: "2.0.1" }, signature],
      [{ ...manifest, projectName: "demO" }, signature],
      [{ ...manifest, minChipRev: 1 }, signature],
      [{ ...manifest, maxChipRev: 99 }, signature]
    );
    for (const [i, [m, sig]] of tampered.entries()) {
      expect(await ask(m, sig, 0x1000 + i), `tampered case ${i}`).toMatchObject({
        phase: Phase.FAILED,
        error: ErrorCode.BAD_SIGNATURE,
      });
    }
    expect((await h.emu.status(0x800)).phase).toBe(Phase.NONE);
    expect(await ask(manifest, signature, 0x2000)).toMatchObject({ phase: Phase.STARTING, error: ErrorCode.NONE });
  });

  it("should report what the C core finds in the received image: hash, format, manifest", async () => {
    const h = await start([[0x0900], [0x0901], [0x0902]], 12_000);
    const keys = await testKeys();
    const valid = h.image;
    // 0x900: the manifest names another image of the same size (hash mismatch).
    const other = await readImage(
      await buildImage({ chip: 5, version: "2.0.0", projectName: "demo", size: 12_000, seed: 2 })
    );
    // 0x901: signed bytes that hash right but are no app image (bad image).
    const junk = valid.bytes.slice();
    junk[0] = 0x00;
    // 0x902: a valid image whose app description disagrees with the signed manifest.
    const liar = await readImage(await buildImage({ chip: 5, version: "2.0.9", projectName: "demo", size: 12_000 }));
    const cases: [number, EspImage, Manifest][] = [
      [0x900, valid, manifestFromImage(other)],
      [
        0x901,
        { ...valid, bytes: junk, sha256: await sha256(junk) },
        { ...manifestFromImage(valid), imageSha256: await sha256(junk) },
      ],
      [0x902, liar, { ...manifestFromImage(liar), version: "2.0.0" }],
    ];
    const reports = [];
    for (const [address, image, manifest] of cases) {
      const signed = { manifest, signature: await signManifest(manifest, keys.privateKey) };
      const campaign = new Campaign({
        transport: h.transport,
        image,
        signed,
        clock: h.clock,
        targets: [address],
        hostChecks: false,
      });
      reports.push((await drive(campaign.run(), h.clock, h.transport)).targets[0]!.failure);
    }
    expect(reports.map((f) => f?.codeName)).toEqual([
      "ERROR_CODE_HASH_MISMATCH",
      "ERROR_CODE_BAD_IMAGE",
      "ERROR_CODE_MANIFEST_MISMATCH",
    ]);
    expect(reports.every((f) => f?.source === "node")).toBe(true);
    for (const [address] of cases)
      expect(await h.emu.status(address)).toMatchObject({ phase: Phase.FAILED, version: "1.0.0" });
  });

  it("should report BUSY for a node in another campaign's session, and update it after cancelling that", async () => {
    const h = await start([[0x0a00]], 60_000);
    const first = h.campaign({ chunkGapMs: 20 });
    let suspended = false;
    void first.run();
    await drive(
      (async () => {
        while (!suspended) await new Promise((r) => setTimeout(r, 1));
      })(),
      h.clock,
      h.transport,
      {
        onStep: async () => {
          if (!suspended && chunksSent(h.transport).length > 20) {
            suspended = true;
            await first.suspend();
          }
        },
      }
    );
    const second = h.campaign();
    let report = await drive(second.run(), h.clock, h.transport);
    expect(report.targets[0]!.failure).toMatchObject({ codeName: "ERROR_CODE_BUSY", source: "node" });
    await drive(second.cancelTarget(0xa00, { anySession: true }), h.clock, h.transport);
    expect((await h.emu.status(0xa00)).phase).toBe(Phase.CANCELLED);
    second.retryCancelled();
    report = await drive(second.run(), h.clock, h.transport);
    expect(report.targets[0]).toMatchObject({ outcome: "done", version: "2.0.0" });
  });

  it("should roll the node back when the post-update test fails", async () => {
    const h = await start([[0x0600]]);
    const report = await drive(
      h.campaign({ policy: "test-then-confirm", test: async () => false }).run(),
      h.clock,
      h.transport
    );
    expect(report.targets[0]!.failure).toMatchObject({
      code: ErrorCode.ROLLED_BACK,
      message: "the post-update test failed; the node rolled back",
    });
    const st = await h.emu.status(0x600);
    expect(st.phase).toBe(Phase.ROLLED_BACK);
  });
});
