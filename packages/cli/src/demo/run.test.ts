import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, ChipId } from "@meshota/core";
import { emulatorAvailable } from "@meshota/emulator";
import { describe, expect, it } from "vitest";
import { capture } from "../../test/capture.js";
import { runCli } from "../program.js";
import { runDemo } from "./run.js";

const haveEmulator = emulatorAvailable();
if (!haveEmulator) console.warn("skipping demo tests: no meshota_emulator (build firmware/host first or set MESHOTA_EMULATOR)");

describe.skipIf(!haveEmulator)("meshota demo on the node emulator", () => {
  it("should have every node refuse a tampered image, then update every node through TCP and ESP-NOW relays", async () => {
    const image = await buildImage({ version: "2.0.0", projectName: "meshota-demo", size: 48 * 1024 });
    const r = await runDemo({ nodes: 6, seed: 3, image, mix: { tcp: 1, espnow: 1 } });
    expect(r.factoryVersion).toBe("factory");
    expect(r.tamperRefused).toBe(true);
    expect(r.allUpdated).toBe(true);
    expect(r.nodes).toHaveLength(6);
    for (const n of r.nodes) {
      expect(n.tamperRefusal).toBe("ERROR_CODE_BAD_SIGNATURE");
      expect(n.versionAfterTamper).toBe("factory");
      expect(n.finalVersion).toBe("2.0.0");
      expect(n.report.outcome).toBe("done");
      expect(n.report.fromVersion).toBe("factory");
    }
    const relayed = r.nodes.filter((n) => n.report.relayedBy !== undefined);
    expect(relayed.length).toBeGreaterThan(0);
    for (const n of relayed) {
      expect(n.role).toBe("espnow");
      expect(r.scenario.roles.get(n.report.relayedBy!)).toBe("tcp");
    }
    expect(r.nodes.filter((n) => n.role === "tcp").every((n) => n.report.relayedBy === undefined)).toBe(true);
  }, 120_000);

  it("should update no more nodes at once than --concurrency", async () => {
    const image = await buildImage({ version: "2.0.0", projectName: "meshota-demo", size: 16 * 1024 });
    const most = async (concurrency: number | undefined) => {
      const active = new Set<number>();
      let peak = 0;
      const r = await runDemo(
        { nodes: 6, seed: 4, image, tamper: false, mix: { tcp: 1 }, ...(concurrency ? { concurrency } : {}) },
        {
          event: (_pass, e) => {
            if (e.type !== "state") return;
            if (e.state === "querying") active.add(e.address);
            if (["done", "failed", "offline", "cancelled"].includes(e.state)) active.delete(e.address);
            peak = Math.max(peak, active.size);
          },
        },
      );
      expect(r.allUpdated).toBe(true);
      return peak;
    };
    expect(await most(2)).toBe(2);
    expect(await most(undefined)).toBe(6);
  }, 120_000);

  it("should update Wi-Fi nodes over simulated HTTP next to simulated TCP nodes", async () => {
    const image = await buildImage({ version: "2.1.0", projectName: "meshota-demo", size: 40 * 1024 });
    const r = await runDemo({ nodes: 4, seed: 2, image, tamper: false, mix: { wifi: 1, tcp: 1 } });
    expect(r.allUpdated).toBe(true);
    expect(r.nodes.map((n) => n.role).sort()).toEqual(["tcp", "tcp", "wifi", "wifi"]);
    for (const n of r.nodes) expect(n.report.method).toBe(n.role === "wifi" ? 1 : 2);
  }, 120_000);

  it("should install any valid app image: chip, project and secure version come from it", async () => {
    const image = await buildImage({ chip: ChipId.ESP32S3, version: "3.1.4", projectName: "sensor-fw", secureVersion: 2, minChipRev: 1, size: 40 * 1024 });
    const r = await runDemo({ nodes: 3, seed: 5, image, tamper: false, mix: { tcp: 1 } });
    expect(r.tamper).toBeUndefined();
    expect(r.allUpdated).toBe(true);
    expect(r.image).toMatchObject({ projectName: "sensor-fw", version: "3.1.4", chip: "ESP32-S3", size: image.length });
    expect(r.nodes.map((n) => n.finalVersion)).toEqual(["3.1.4", "3.1.4", "3.1.4"]);
  }, 120_000);

  it("should print the JSON result, write the timeline and exit 0 from the command line", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meshota-demo-"));
    await writeFile(join(dir, "app.bin"), await buildImage({ version: "5.0.0", size: 32 * 1024 }));
    const io = capture(dir);
    const code = await runCli(["demo", "--json", "-n", "4", "--seed", "9", "--image", "app.bin", "--svg", "t.svg"], io);
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    const j = JSON.parse(io.stdout);
    expect(j.ok).toBe(true);
    expect(j.image.version).toBe("5.0.0");
    expect(j.nodes).toHaveLength(4);
    expect(j.nodes.every((n: { finalVersion: string; tamperRefusal: string }) => n.finalVersion === "5.0.0" && n.tamperRefusal === "ERROR_CODE_BAD_SIGNATURE")).toBe(true);
    expect(j.timeline).toBe(join(dir, "t.svg"));
    const svg = await readFile(join(dir, "t.svg"), "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    for (const n of j.nodes) expect(svg).toContain(`>0x${n.address.toString(16).padStart(4, "0")} ${n.role}`);
  }, 120_000);

  it("should log refusals of the tampered image as refused and time each pass from its own start", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meshota-demo-"));
    await writeFile(join(dir, "app.bin"), await buildImage({ version: "5.0.0", size: 16 * 1024 }));
    const io = capture(dir);
    expect(await runCli(["demo", "-n", "3", "--seed", "2", "--mix", "tcp:1", "--image", "app.bin", "--svg", "t.svg"], io)).toBe(0);
    const stdout = io.stdout;
    const lines = [...stdout.matchAll(/\[\s*([\d.]+) s\] (tamper|update) 0x[0-9a-f]{4} (\w+)/g)].map((m) => ({ at: Number(m[1]), pass: m[2], what: m[3] }));
    expect(lines.filter((l) => l.pass === "tamper").map((l) => l.what)).toEqual(["refused", "refused", "refused"]);
    const updates = lines.filter((l) => l.pass === "update");
    expect(updates.map((l) => l.what)).toEqual(["done", "done", "done"]);
    // The last update line and the summary count from the same start.
    const total = Number(/after ([\d.]+) s of simulated time/.exec(stdout)![1]);
    expect(Math.max(...updates.map((l) => l.at))).toBeLessThanOrEqual(total);
    expect(Math.max(...updates.map((l) => l.at))).toBeGreaterThan(total - 1);
  }, 120_000);

  it("should print the same result for the same seed, apart from the wall-clock time", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meshota-simulate-"));
    await writeFile(join(dir, "app.bin"), await buildImage({ version: "5.1.0", size: 24 * 1024 }));
    const run = async (seed: number, svg: string) => {
      const io = capture(dir);
      const args = ["simulate", "--json", "-n", "8", "--mix", "wifi:1,tcp:1,espnow:1,mesh:1", "--loss", "0.05", "--seed", String(seed), "--image", "app.bin", "--svg", svg];
      expect(await runCli(args, io)).toBe(0);
      const { wallSeconds, timeline, ...rest } = JSON.parse(io.stdout);
      expect(wallSeconds).toBeGreaterThan(0);
      return { json: rest, svg: await readFile(timeline, "utf8") };
    };
    const first = await run(3, "a.svg");
    const again = await run(3, "b.svg");
    const other = await run(4, "c.svg");
    expect(first.json.ok).toBe(true);
    // Wi-Fi nodes download in virtual time too.
    expect(first.json.nodes.some((n: { role: string }) => n.role === "wifi")).toBe(true);
    expect(again).toEqual(first);
    expect(other.json.nodes.map((n: { doneAtSeconds: number }) => n.doneAtSeconds)).not.toEqual(first.json.nodes.map((n: { doneAtSeconds: number }) => n.doneAtSeconds));
  }, 120_000);

  it("should cancel what a pass has not finished at --time-limit and say so for each node", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meshota-limit-"));
    await writeFile(join(dir, "app.bin"), await buildImage({ version: "5.2.0", size: 24 * 1024 }));
    const run = async (extra: string[]) => {
      const io = capture(dir);
      const code = await runCli(["simulate", "-n", "2", "--mix", "mesh:1", "--image", "app.bin", "--svg", "t.svg", "--time-limit", "20", ...extra], io);
      return { code, io };
    };
    // 24 KiB over the mesh takes minutes of simulated time, far past 20 s.
    const json = await run(["--json"]);
    expect(json.code).toBe(4);
    const j = JSON.parse(json.io.stdout);
    expect(j.outOfTime).toBe(true);
    expect(j.virtualSeconds.update).toBeGreaterThanOrEqual(20);
    for (const n of j.nodes) {
      expect(n.outcome).toBe("cancelled");
      expect(n.failure).toBe("out of simulated time (--time-limit 20 s)");
    }
    const text = await run([]);
    expect(text.code).toBe(4);
    expect(text.io.stdout).toContain("cancelled: out of simulated time (--time-limit 20 s)");
    expect(text.io.stdout).toContain("time limit:     a pass ran out of its 20 s of simulated time; give a larger --time-limit\n");
  }, 120_000);

  it("should print the roles the nodes got, which can differ from the mix: ESP-NOW needs a relay next to it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meshota-roles-"));
    await writeFile(join(dir, "app.bin"), await buildImage({ version: "5.3.0", size: 16 * 1024 }));
    const io = capture(dir);
    // One node has no neighbour to relay to it, so it fetches over TCP.
    expect(await runCli(["simulate", "-n", "1", "--mix", "espnow:1", "--image", "app.bin", "--svg", "t.svg"], io)).toBe(0);
    expect(io.stdout).toContain("== setup: 1 node (1 tcp), grid, loss 0.02, seed 1\n");
  }, 120_000);

  it("should refuse an image that is not an app image before starting anything", async () => {
    const r = runDemo({ nodes: 2, image: new Uint8Array([0xe9, 1, 2]) });
    await expect(r).rejects.toThrow("the image cannot be used: image truncated at offset 3: the 24-byte image header needs 24 bytes");
  });
});

describe("meshota demo and simulate options", () => {
  it("should offer --no-tamper on demo only, as simulate never runs the tampered pass", async () => {
    const help = async (command: string) => {
      const io = capture(tmpdir());
      await runCli([command, "--help"], io);
      return io.stdout;
    };
    expect(await help("demo")).toContain("--no-tamper");
    expect(await help("simulate")).not.toContain("--no-tamper");
    expect(await help("simulate")).toContain("--time-limit <s>");
  });
});
