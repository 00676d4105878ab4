// A campaign scenario: lay out a network of emulated nodes, give each a role (how it gets the
// image), run the real distributor over the simulated mesh, and collect what happened. The
// `meshota demo` command and the benchmarks are built on it.
import {
  Campaign,
  CampaignEventEvent,
  readImage,
  signImage,
  tcpMethod,
  meshMethod,
  wifiMethod,
  type CampaignEvent,
  type CampaignReport,
  type EspImage,
  type MethodProvider,
  type SignedManifest,
} from "@meshota/core";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Method } from "@meshota/proto";
import { ImageHttpServer } from "@meshota/transport-tcp";
import { SimFirmwareServer } from "./firmware-server.js";
import type { NodeCluster, NodeStatus } from "./node.js";
import { buildTopology, type Topology, type TopologyKind } from "./topology.js";
import { SimRandom } from "./random.js";
import { Simulation, type PhaseChange, type SimulationOptions } from "./simulation.js";

/** Hops from the gateway (index 0) to the farthest station. */
function eccentricity(topology: Topology): number {
  const n = topology.positions.length;
  const adj = Array.from({ length: n }, () => [] as number[]);
  for (const [a, b] of topology.links) {
    adj[a]!.push(b);
    adj[b]!.push(a);
  }
  const depth = new Array<number>(n).fill(-1);
  depth[0] = 0;
  const queue = [0];
  let far = 0;
  while (queue.length > 0) {
    const x = queue.shift()!;
    far = Math.max(far, depth[x]!);
    for (const y of adj[x]!) {
      if (depth[y] === -1) {
        depth[y] = depth[x]! + 1;
        queue.push(y);
      }
    }
  }
  return far;
}

/**
 * How a node gets the image: "wifi" downloads over HTTP (with a Range to resume) from the
 * simulated image server after joining the simulated Wi-Fi; "tcp" fetches from the simulated
 * TCP firmware server after joining the simulated Wi-Fi; "espnow" is served by an updated
 * neighbour; "mesh" gets chunks over the mesh itself.
 */
export type NodeRole = "wifi" | "tcp" | "espnow" | "mesh";

/** Methods a node of each role supports. */
const ROLE_METHODS: Readonly<Record<NodeRole, readonly number[]>> = {
  wifi: [Method.WIFI, Method.ESPNOW, Method.MESH],
  tcp: [Method.TCP, Method.ESPNOW, Method.MESH],
  espnow: [Method.ESPNOW, Method.MESH],
  mesh: [Method.MESH],
};

/** The network and what its nodes run before the campaign. */
export interface ScenarioOptions {
  readonly cluster: NodeCluster;
  readonly nodes: number;
  readonly topology: TopologyKind;
  /** Share of each role; espnow nodes are placed next to a tcp node that relays to them. */
  readonly mix: Readonly<Partial<Record<NodeRole, number>>>;
  readonly seed: number;
  /** Loss probability of each transmission on every mesh, ESP-NOW and IP link. */
  readonly loss: number;
  /** The image the nodes run before (their project, chip and secure version must fit). */
  readonly factory: { readonly projectName: string; readonly version: string; readonly secureVersion: number; readonly chipId: number };
  readonly chipRevision: number;
  /** Manifest verification key compiled into the nodes (65-byte point). */
  readonly publicKey: Uint8Array;
  /** Largest image the nodes take (their OTA slot size is this, rounded up to 64 KiB). */
  readonly maxImageSize: number;
  readonly simulation?: Partial<SimulationOptions>;
  /**
   * Where wifi nodes download from: "simulated" (default) the simulated image server, in
   * virtual time at the Wi-Fi medium's rate; "loopback" a real HTTP server on this machine,
   * over the nodes' own sockets (the emulator's net=posix), in wall-clock time.
   */
  readonly wifiNetwork?: "simulated" | "loopback";
}

/** One campaign to run on the network. */
export interface CampaignPlan {
  /** Image bytes as sent (they may differ from what the manifest describes). */
  readonly image: EspImage;
  readonly signed: SignedManifest;
  /** Updated nodes relay to their ESP-NOW neighbours (default true). */
  readonly relays?: boolean;
  /** Targets updated at once (default 8). */
  readonly concurrency?: number;
  /** Control requests awaiting a reply at once (default: the campaign's, 4). */
  readonly maxRequestsInFlight?: number;
  /** Unicast mesh transfers at once (default: the campaign's, 3). */
  readonly meshTransfersAtOnce?: number;
  /** Simulated time limit, ms (default 30 min). */
  readonly limitMs?: number;
  readonly onEvent?: (event: CampaignEvent, now: number) => void;
}

/** One node of the outcome. */
export interface NodeOutcome {
  readonly address: number;
  readonly role: NodeRole;
  readonly status: NodeStatus;
  readonly history: readonly PhaseChange[];
}

/** What one campaign did. */
export interface CampaignOutcome {
  readonly report: CampaignReport;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly nodes: readonly NodeOutcome[];
}

const CONTROLLER = 0x0001;
const FIRST_NODE = 0x0100;
const SERVER_HOST = "firmware.local";
const SERVER_PORT = 8070;
/** The simulated HTTP image server of the wifi nodes. */
const IMAGE_HOST = "images.local";
/** The network the tcp nodes join; the password never leaves the simulation. */
const DEMO_WIFI = { ssid: "meshota-sim", password: "sim-only-passphrase" } as const;

/** Roles by position: every espnow node borders a tcp node that can relay to it. */
export function assignRoles(topology: Topology, mix: ScenarioOptions["mix"]): NodeRole[] {
  const count = topology.positions.length - 1;
  const weights = (["wifi", "tcp", "espnow", "mesh"] as const).map((r) => [r, Math.max(0, mix[r] ?? 0)] as const);
  const total = weights.reduce((n, [, w]) => n + w, 0);
  if (total <= 0) throw new RangeError("the method mix gives no node a role");
  const wanted = new Map(weights.map(([r, w]) => [r, Math.round((w / total) * count)]));
  const roles: NodeRole[] = new Array(count).fill("tcp");
  const adj = Array.from({ length: count + 1 }, () => [] as number[]);
  for (const [a, b] of topology.links) {
    adj[a]!.push(b);
    adj[b]!.push(a);
  }
  // Mesh-only nodes first (the far end), then espnow nodes where a tcp neighbour remains.
  let mesh = wanted.get("mesh") ?? 0;
  for (let i = count; i >= 1 && mesh > 0; i--, mesh--) roles[i - 1] = "mesh";
  let espnow = wanted.get("espnow") ?? 0;
  for (let i = 1; i <= count && espnow > 0; i++) {
    if (roles[i - 1] !== "tcp") continue;
    const hasTcpNeighbour = (n: number) => n >= 1 && roles[n - 1] === "tcp";
    const relay = adj[i]!.find((n) => hasTcpNeighbour(n) && n !== i);
    if (relay === undefined) continue;
    // Keep at least one tcp neighbour for each espnow node already placed next to i.
    roles[i - 1] = "espnow";
    const orphan = adj[i]!.some((n) => n >= 1 && roles[n - 1] === "espnow" && !adj[n]!.some(hasTcpNeighbour));
    if (orphan) roles[i - 1] = "tcp";
    else espnow--;
  }
  // Wi-Fi nodes relay like tcp nodes: take them from the tcp nodes, spread over the layout.
  let wifi = wanted.get("wifi") ?? 0;
  const tcp = roles.map((r, i) => (r === "tcp" ? i : -1)).filter((i) => i >= 0);
  const keepTcp = (wanted.get("tcp") ?? 0) > 0 ? 1 : 0;
  for (let k = 0; k < tcp.length - keepTcp && wifi > 0; k += 2, wifi--) roles[tcp[k]!] = "wifi";
  for (let k = 1; k < tcp.length - keepTcp && wifi > 0; k += 2, wifi--) roles[tcp[k]!] = "wifi";
  return roles;
}

/** A network of emulated nodes in a simulation, ready for campaigns. */
export class Scenario {
  readonly sim: Simulation;
  readonly topology: Topology;
  readonly roles: ReadonlyMap<number, NodeRole>;
  readonly server = new SimFirmwareServer();
  /** Images of the simulated HTTP server, by path. */
  readonly httpImages = new Map<string, Uint8Array>();
  readonly options: ScenarioOptions;
  readonly #tokens = new Map<number, Uint8Array>();
  #http: ImageHttpServer | undefined;
  #dir: string | undefined;
  #images = 0;

  private constructor(options: ScenarioOptions, sim: Simulation, topology: Topology, roles: Map<number, NodeRole>) {
    this.options = options;
    this.sim = sim;
    this.topology = topology;
    this.roles = roles;
  }

  /** Builds the network: topology, roles, nodes in the cluster, links with loss. */
  static async create(options: ScenarioOptions): Promise<Scenario> {
    // The topology is drawn from its own stream of the seed, before the simulation exists.
    const topology = buildTopology(options.topology, options.nodes, new SimRandom(options.seed).fork("topology"));
    // TTL: enough hops for the farthest node and back, never below the usual 7.
    const ttl = Math.min(127, Math.max(7, eccentricity(topology) + 2));
    const sim = new Simulation(options.cluster, {
      seed: options.seed,
      controllerAddress: CONTROLLER,
      ...options.simulation,
      mesh: { loss: options.loss, defaultTtl: ttl, ...options.simulation?.mesh },
      espnow: { loss: options.loss, ...options.simulation?.espnow },
      ip: { loss: options.loss, ...options.simulation?.ip },
    });
    const roleList = assignRoles(topology, options.mix);
    const roles = new Map<number, NodeRole>();
    await options.cluster.setKey(options.publicKey);
    const slotSize = Math.ceil(Math.max(options.maxImageSize, 65536) / 65536) * 65536;
    for (let i = 0; i < options.nodes; i++) {
      const address = FIRST_NODE + i;
      const role = roleList[i]!;
      roles.set(address, role);
      await sim.addNode({
        address,
        methods: ROLE_METHODS[role],
        projectName: options.factory.projectName,
        version: options.factory.version,
        secureVersion: options.factory.secureVersion,
        chipId: options.factory.chipId,
        chipRevision: options.chipRevision,
        slotSize,
        maxChunkSize: 1024,
        hostNetwork: role === "wifi" && options.wifiNetwork === "loopback",
      });
    }
    const addressOf = (index: number) => (index === 0 ? CONTROLLER : FIRST_NODE + index - 1);
    for (const [a, b] of topology.links) sim.link(addressOf(a), addressOf(b));
    const scenario = new Scenario(options, sim, topology, roles);
    scenario.sim.ip.listen(SERVER_HOST, SERVER_PORT, scenario.server);
    const images = scenario.httpImages;
    scenario.sim.ip.serveHttp(`${IMAGE_HOST}:80`, {
      get: (path) => {
        const body = images.get(path);
        return body ? { status: 200, body } : { status: 404 };
      },
    });
    return scenario;
  }

  /** Node addresses, in order. */
  get addresses(): number[] {
    return [...this.roles.keys()];
  }

  /** Data-plane neighbours for relays: tcp nodes reach the espnow nodes next to them. */
  relayNeighbours(): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (const a of this.addresses) {
      const role = this.roles.get(a);
      if (role !== "tcp" && role !== "wifi") continue;
      out.set(
        a,
        this.sim.mesh.neighbors(a).filter((n) => this.roles.get(n) === "espnow"),
      );
    }
    return out;
  }

  /**
   * The access token of a session. One per session, not per node: relay roots share the
   * campaign's session id, and a firmware server holds one token per session.
   */
  #token(sessionId: number): Uint8Array {
    let t = this.#tokens.get(sessionId);
    if (!t) {
      const r = this.sim.random.fork(`token:${sessionId}`);
      t = new Uint8Array(16).map(() => r.int(0, 255));
      this.#tokens.set(sessionId, t);
    }
    return t;
  }

  /** Where the wifi nodes download `image` from. */
  async #httpUrl(image: EspImage): Promise<string> {
    const name = `/image-${++this.#images}.bin`;
    if (this.options.wifiNetwork !== "loopback") {
      this.httpImages.set(name, image.bytes);
      return `http://${IMAGE_HOST}${name}`;
    }
    // The real image server (loopback), started on first use.
    if (!this.#http) {
      this.#http = new ImageHttpServer();
      await this.#http.listen(0, "127.0.0.1");
      this.#dir = await mkdtemp(join(tmpdir(), "meshota-sim-http-"));
    }
    await writeFile(join(this.#dir!, name), image.bytes);
    await this.#http.addImage(name, join(this.#dir!, name));
    return this.#http.url(name, "127.0.0.1");
  }

  /** Stops the image server of the wifi nodes. */
  async close(): Promise<void> {
    await this.#http?.close();
    this.#http = undefined;
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  /**
   * The side channels offered: Wi-Fi/HTTP (to nodes that have it), TCP after joining the
   * simulated Wi-Fi, then the mesh as the last resort.
   */
  async methods(image: EspImage): Promise<MethodProvider[]> {
    const wifi = [...this.roles.values()].includes("wifi")
      ? [wifiMethod({ url: await this.#httpUrl(image), credentials: DEMO_WIFI })]
      : [];
    return [
      ...wifi,
      tcpMethod({
        host: SERVER_HOST,
        port: SERVER_PORT,
        credentials: DEMO_WIFI,
        token: (t) => this.#token(t.sessionId),
        prepare: async (t) => this.server.addSession(t.sessionId, this.#token(t.sessionId), image.bytes),
      }),
      meshMethod(),
    ];
  }

  /** Runs one campaign to every node and returns the report and each node's state. */
  async runCampaign(plan: CampaignPlan): Promise<CampaignOutcome> {
    const sim = this.sim;
    const startedAt = sim.scheduler.now();
    const campaign = new Campaign({
      transport: sim.transport,
      clock: sim.scheduler,
      sessionIds: sim.sessionIds,
      image: plan.image,
      signed: plan.signed,
      targets: this.addresses,
      concurrency: plan.concurrency ?? 8,
      maxRequestsInFlight: plan.maxRequestsInFlight,
      meshTransfersAtOnce: plan.meshTransfersAtOnce,
      methods: await this.methods(plan.image),
      offlineGiveUpMs: 60_000,
      ...(plan.relays === false ? {} : { relay: { neighbours: this.relayNeighbours(), channel: sim.options.espnowChannel, payloadSize: 226 } }),
    });
    const onEvent = plan.onEvent;
    if (onEvent) {
      const listener = (e: Event) => onEvent((e as CampaignEventEvent).detail, sim.scheduler.now());
      for (const type of ["state", "progress", "campaign"]) campaign.addEventListener(type, listener);
    }
    try {
      const running = campaign.run();
      let report: CampaignReport;
      try {
        report = await sim.run(running, startedAt + (plan.limitMs ?? 30 * 60_000));
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith("simulation reached its time limit")) throw error;
        // Out of simulated time: cancel, and report what each target reached.
        void campaign.cancel(error);
        report = await sim.run(running);
      }
      const statuses = await sim.sample();
      return {
        report,
        startedAt,
        endedAt: sim.scheduler.now(),
        nodes: this.addresses.map((address) => ({
          address,
          role: this.roles.get(address)!,
          status: statuses.get(address)!,
          history: sim.history(address),
        })),
      };
    } finally {
      campaign.close();
    }
  }
}

/** Signs `bytes` as a campaign image. */
export async function prepareImage(bytes: Uint8Array, privateKey: CryptoKey): Promise<{ image: EspImage; signed: SignedManifest }> {
  const image = await readImage(bytes);
  return { image, signed: await signImage(image, privateKey) };
}
