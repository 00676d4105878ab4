import { buildImage, generateSigningKey, publicKeyRaw } from "@meshota/core";
import { emulatorAvailable } from "@meshota/emulator";
import { Method } from "@meshota/proto";
import { describe, expect, it } from "vitest";
import { EmulatorCluster } from "./emulator-cluster.js";
import { IP_DEFAULTS, type ClientSink } from "./ip.js";
import type { NodeCluster, NodeEvent, NodeInput, NodeSpec, NodeStatus } from "./node.js";
import { prepareImage, Scenario } from "./scenario.js";
import { Simulation } from "./simulation.js";

const haveEmulator = emulatorAvailable();
if (!haveEmulator) console.warn("skipping Wi-Fi node tests: no meshota_emulator (build firmware/host first or set MESHOTA_EMULATOR)");

const SIZE = 96 * 1024;

async function wifiScenario(seed: number, wifiNetwork?: "loopback") {
  const key = await generateSigningKey();
  const bytes = await buildImage({ version: "2.0.0", projectName: "meshota-sim", size: SIZE });
  const cluster = await EmulatorCluster.start();
  const scenario = await Scenario.create({
    cluster,
    nodes: 3,
    topology: "grid",
    mix: { wifi: 1 },
    seed,
    loss: 0,
    factory: { projectName: "meshota-sim", version: "1.0.0", secureVersion: 0, chipId: 5 },
    chipRevision: 3,
    publicKey: await publicKeyRaw(key.publicKey),
    maxImageSize: bytes.length,
    ...(wifiNetwork ? { wifiNetwork } : {}),
  });
  const plan = { ...(await prepareImage(bytes, key.privateKey)), concurrency: 3, relays: false };
  return { cluster, scenario, plan, bytes };
}

describe.skipIf(!haveEmulator)("Wi-Fi (HTTP) nodes on the node emulator", () => {
  it("should download in virtual time at the Wi-Fi medium's rate, the same for the same seed", async () => {
    const run = async () => {
      const { cluster, scenario, plan, bytes } = await wifiScenario(7);
      try {
        expect([...scenario.roles.values()]).toEqual(["wifi", "wifi", "wifi"]);
        const out = await scenario.runCampaign(plan);
        expect(out.report.done).toBe(3);
        for (const t of out.report.targets) expect(t.method).toBe(Method.WIFI);
        for (const n of out.nodes) expect(n.status.version).toBe("2.0.0");
        const ip = scenario.sim.ip.stats;
        expect(ip.downloads).toBe(3);
        expect(ip.bytesDelivered).toBe(3 * bytes.length);
        // Three downloads at once: each station's own limit binds (3 x 500 kB/s < 2.5 MB/s).
        const verified = out.nodes.map((n) => n.history.find((h) => h.phase === 4)!.at - out.startedAt);
        for (const v of verified) expect(v).toBeGreaterThan(IP_DEFAULTS.joinMs + (bytes.length / IP_DEFAULTS.stationRate) * 1000);
        return verified;
      } finally {
        await scenario.close();
        await cluster.close();
      }
    };
    const first = await run();
    expect(await run()).toEqual(first);
  }, 120_000);

  it("should resume a cut download from the first byte of the unit it broke in", async () => {
    const { cluster, scenario, plan, bytes } = await wifiScenario(8);
    try {
      const ip = scenario.sim.ip;
      const gets: Array<{ url: string; offset: number }> = [];
      const download = ip.download.bind(ip);
      // The first download breaks after 20 KiB: the server's side ends without the rest.
      ip.download = (url: string, offset: number, join: boolean, sink: ClientSink) => {
        gets.push({ url, offset });
        if (gets.length > 1) return download(url, offset, join, sink);
        let delivered = 0;
        let cut = false;
        const conn = download(url, offset, join, {
          connected: () => sink.connected(),
          data: (data, end) => {
            if (cut) return;
            delivered += data.length;
            sink.data(data, end);
            if (delivered >= 20 * 1024) {
              cut = true;
              conn.close();
              sink.closed(false);
            }
          },
          closed: (ok) => sink.closed(ok),
        });
        return conn;
      };
      const out = await scenario.runCampaign(plan);
      expect(out.report.done).toBe(3);
      expect(gets.length).toBe(4);
      expect(gets[0]!.offset).toBe(0);
      // The node that lost its link asked for the rest from the last whole 1024-byte unit.
      const resumed = gets.filter((g) => g.offset > 0);
      expect(resumed).toEqual([{ url: gets[0]!.url, offset: 20 * 1024 }]);
      expect(ip.stats.bytesDelivered).toBe(3 * bytes.length);
      for (const n of out.nodes) expect(n.status.version).toBe("2.0.0");
    } finally {
      await scenario.close();
      await cluster.close();
    }
  }, 120_000);

  it("should still download from a real loopback HTTP server over the nodes' own sockets when asked", async () => {
    const { cluster, scenario, plan } = await wifiScenario(9, "loopback");
    try {
      const out = await scenario.runCampaign(plan);
      expect(out.report.done).toBe(3);
      for (const t of out.report.targets) expect(t.method).toBe(Method.WIFI);
      expect(scenario.sim.ip.stats.downloads).toBe(0);
      expect(scenario.httpImages.size).toBe(0);
    } finally {
      await scenario.close();
      await cluster.close();
    }
  }, 120_000);
});

/** One node double that opens the stream it is told to and records what it hears. */
class StreamCluster implements NodeCluster {
  now = 0;
  readonly heard: NodeInput[] = [];
  #pending: NodeEvent[] = [];
  open(url: string, offset: number): void {
    this.#pending.push({ node: 0x100, output: { kind: "stream-open", stream: 3, url, offset } });
  }
  async setKey(): Promise<void> {}
  async add(): Promise<void> {}
  mac(address: number): Uint8Array {
    return new Uint8Array([2, 0, 0, 0, address >> 8, address & 0xff]);
  }
  input(_address: number, input: NodeInput): void {
    this.heard.push(input);
  }
  async advance(to: number): Promise<readonly NodeEvent[]> {
    this.now = to;
    return this.#pending.splice(0);
  }
  async status(addresses: readonly number[]): Promise<Map<number, NodeStatus>> {
    return new Map(addresses.map((a) => [a, { power: true, phase: 0, error: 0, bytesDone: 0, version: "1", relayPhase: 0 }]));
  }
  async power(): Promise<void> {}
  async close(): Promise<void> {}
}

describe("Simulation stream port", () => {
  const spec: NodeSpec = { address: 0x100, methods: [1], projectName: "p", version: "1", secureVersion: 0, chipId: 5, chipRevision: 0, slotSize: 65536, maxChunkSize: 1024 };
  const body = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);

  async function fetch(url: string, offset: number) {
    const cluster = new StreamCluster();
    const sim = new Simulation(cluster);
    sim.ip.serveHttp("img.local:80", { get: (path) => (path === "/a.bin" ? { status: 200, body } : { status: 404 }) });
    await sim.addNode(spec);
    cluster.open(url, offset);
    await sim.run(sim.scheduler.sleep(10_000));
    sim.stop();
    return cluster.heard;
  }

  it("should send the bytes from the offset, then the end, tagged with the stream's number", async () => {
    const heard = await fetch("http://img.local/a.bin", 4000);
    const data = heard.filter((h) => h.kind === "stream-data");
    expect(data.every((h) => h.stream === 3)).toBe(true);
    expect(Buffer.concat(data.map((h) => h.data))).toEqual(Buffer.from(body.subarray(4000)));
    expect(heard.at(-1)).toEqual({ kind: "stream-end", stream: 3 });
  });

  it("should end the stream with an error for an unknown path, host or an offset past the image", async () => {
    for (const [url, offset] of [
      ["http://img.local/b.bin", 0],
      ["http://other.local/a.bin", 0],
      ["http://img.local/a.bin", 10_001],
    ] as const) {
      const heard = await fetch(url, offset);
      expect(heard).toEqual([{ kind: "stream-end", stream: 3, error: `GET from byte ${offset} failed` }]);
    }
  });
});
