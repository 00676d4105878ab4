import { describe, expect, it } from "vitest";
import type { NodeCluster, NodeEvent, NodeInput, NodeSpec, NodeStatus } from "./node.js";
import { Simulation } from "./simulation.js";
import { buildTopology } from "./topology.js";
import { SimRandom } from "./random.js";

/**
 * A test double of the node cluster: each node answers a mesh message with opcode+1 and the
 * same parameters after its next tick, and counts what it heard. It has no OTA logic.
 */
class EchoCluster implements NodeCluster {
  now = 0;
  readonly heard = new Map<number, NodeInput[]>();
  #pending: NodeEvent[] = [];

  async setKey(): Promise<void> {}
  async add(spec: NodeSpec): Promise<void> {
    this.heard.set(spec.address, []);
  }
  mac(address: number): Uint8Array {
    return new Uint8Array([2, 0, 0, 0, address >> 8, address & 0xff]);
  }
  input(address: number, input: NodeInput): void {
    this.heard.get(address)!.push(input);
    if (input.kind === "mesh") this.#pending.push({ node: address, output: { kind: "mesh-send", to: input.from, opcode: input.opcode + 1, params: input.params } });
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

const spec = (address: number): NodeSpec => ({
  address,
  methods: [4],
  projectName: "p",
  version: "1",
  secureVersion: 0,
  chipId: 5,
  chipRevision: 0,
  slotSize: 65536,
  maxChunkSize: 1024,
});

async function network(nodes: number, seed: number, loss: number) {
  const cluster = new EchoCluster();
  // TTL 15: a 500-node grid is up to 12 hops from its middle.
  const sim = new Simulation(cluster, { seed, mesh: { loss, defaultTtl: 15 }, log: true });
  const topo = buildTopology("grid", nodes, new SimRandom(seed));
  for (let i = 0; i < nodes; i++) await sim.addNode(spec(0x100 + i));
  const addr = (i: number) => (i === 0 ? 1 : 0x100 + i - 1);
  for (const [a, b] of topo.links) sim.link(addr(a), addr(b));
  return { sim, cluster };
}

/** Sends `params` to every node, `concurrency` at a time, and collects the echoes. */
async function pingAll(sim: Simulation, params: Uint8Array, concurrency: number): Promise<Set<number>> {
  const replies = new Set<number>();
  const ac = new AbortController();
  void (async () => {
    for await (const m of sim.transport.messages(ac.signal)) if (m.frame.opcode === 0x01) replies.add(m.src);
  })();
  const queue = [...sim.addresses];
  const worker = async () => {
    for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
      await sim.transport.send(a, { opcode: 0x00, params }).catch(() => undefined);
      await sim.scheduler.sleep(2000);
    }
  };
  await sim.run(Promise.all(Array.from({ length: concurrency }, worker)));
  ac.abort();
  return replies;
}

describe("Simulation", () => {
  it("should carry a control message to every node of 500 and every answer back", async () => {
    const { sim, cluster } = await network(500, 1, 0);
    const replies = await pingAll(sim, new Uint8Array([1, 2, 3, 4]), 25);
    sim.stop();
    expect(replies.size).toBe(500);
    for (const a of sim.addresses) expect(cluster.heard.get(a)!.filter((i) => i.kind === "mesh")).toHaveLength(1);
    expect(sim.mesh.stats.advBufferDrops).toBe(0);
  }, 120_000);

  it("should give the same event log for the same seed with loss, and another for another seed", async () => {
    const log = async (seed: number) => {
      const { sim } = await network(20, seed, 0.1);
      await pingAll(sim, new Uint8Array(40).fill(7), 3);
      sim.stop();
      return sim.scheduler.log.join("\n");
    };
    const a = await log(21);
    expect(a.length).toBeGreaterThan(1000);
    expect(await log(21)).toBe(a);
    expect(await log(22)).not.toBe(a);
  }, 60_000);

  it("should deliver segmented node answers to the controller and count every relay", async () => {
    const { sim, cluster } = await network(8, 4, 0);
    const replies = await pingAll(sim, new Uint8Array(300).fill(1), 2);
    sim.stop();
    expect(replies.size).toBe(8);
    for (const a of sim.addresses) {
      const got = cluster.heard.get(a)!.filter((i) => i.kind === "mesh");
      expect(got).toHaveLength(1);
      expect(got[0]!.kind === "mesh" && got[0]!.params.length).toBe(300);
    }
    expect(sim.mesh.stats.relayed).toBeGreaterThan(0);
  }, 60_000);

  it("should draw the same non-zero 32-bit session ids for the same seed, and others for another seed", () => {
    const draw = (seed: number) => {
      const sim = new Simulation(new EchoCluster(), { seed });
      return Array.from({ length: 200 }, () => sim.sessionIds());
    };
    const a = draw(5);
    expect(draw(5)).toEqual(a);
    expect(draw(6)).not.toEqual(a);
    for (const id of a) expect(Number.isInteger(id) && id >= 1 && id <= 0xffffffff).toBe(true);
    // Spread over the whole range, so ids of 5-byte varints (>= 2^28) occur as on real nodes.
    expect(a.some((id) => id >= 2 ** 31)).toBe(true);
    expect(new Set(a).size).toBe(200);
  });
});
