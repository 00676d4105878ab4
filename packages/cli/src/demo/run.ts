// `meshota demo`: a whole network updated in a simulation, every node running the real C core
// in the node emulator. First a tampered image that every node must refuse, then the real
// image through a mixed plan (TCP over Wi-Fi, ESP-NOW relays, the mesh as the last resort).
import { setMaxListeners } from "node:events";
import {
  buildImage,
  errorCodeName,
  generateSigningKey,
  ImageFormatError,
  publicKeyRaw,
  readImage,
  sha256,
  signImage,
  toHex,
  type CampaignEvent,
  type EspImage,
  type TargetReport,
} from "@meshota/core";
import { ErrorCode } from "@meshota/proto";
import { EmulatorCluster, Scenario, type CampaignOutcome, type NodeCluster, type NodeRole, type TopologyKind } from "@meshota/sim";
import { CliError } from "../io.js";
import { tamperImage } from "./tamper.js";

/** Options of a demo run. */
export interface DemoOptions {
  nodes: number;
  topology: TopologyKind;
  mix: Partial<Record<NodeRole, number>>;
  loss: number;
  seed: number;
  /** Image bytes to install; undefined builds a 256 KiB demo image. */
  image: Uint8Array | undefined;
  tamper: boolean;
  /** Effective ESP-NOW throughput of one sender, bits/s. */
  espnowRate: number;
  /** Simulated seconds each pass may take; then its unfinished nodes are cancelled. */
  timeLimitS: number;
  /** Nodes updated at once in each pass. */
  concurrency: number;
  /** Node emulator binary (default: @meshota/emulator's lookup). */
  emulator: string | undefined;
  /** A ready cluster (tests); when given, `emulator` is ignored and the caller closes it. */
  cluster: NodeCluster | undefined;
}

export const DEMO_DEFAULTS: Readonly<DemoOptions> = Object.freeze({
  nodes: 30,
  topology: "grid",
  mix: { wifi: 1, tcp: 1, espnow: 2 },
  loss: 0.02,
  seed: 1,
  image: undefined,
  tamper: true,
  espnowRate: 214_000,
  timeLimitS: 1800,
  concurrency: 8,
  emulator: undefined,
  cluster: undefined,
});

/** What the demo reports about one node at the end. */
export interface DemoNode {
  readonly address: number;
  readonly role: NodeRole;
  /** Error code name the node refused the tampered image with. */
  readonly tamperRefusal: string | undefined;
  /** Virtual time (ms) the refusal of the tampered image was reported. */
  readonly tamperRefusedAt: number | undefined;
  /** Version after the tampered pass (must be the factory version). */
  readonly versionAfterTamper: string | undefined;
  readonly report: TargetReport;
  /** Version the node runs at the end, as the emulator reports it. */
  readonly finalVersion: string;
  /** Seconds of virtual time from the campaign start until the node was done. */
  readonly doneAtS: number | undefined;
}

/** The demo's outcome. */
export interface DemoResult {
  readonly image: { readonly projectName: string; readonly version: string; readonly size: number; readonly sha256: string; readonly chip: string };
  readonly factoryVersion: string;
  readonly tamper: CampaignOutcome | undefined;
  readonly update: CampaignOutcome;
  readonly nodes: readonly DemoNode[];
  readonly scenario: Scenario;
  /** Every node runs the new version. */
  readonly allUpdated: boolean;
  /** Every node refused the tampered image and kept its version (true when skipped). */
  readonly tamperRefused: boolean;
  /** A pass reached `timeLimitS` and its unfinished nodes were cancelled. */
  readonly outOfTime: boolean;
  readonly timeLimitS: number;
  readonly stats: { readonly mesh: object; readonly espnow: object; readonly ip: object };
}

/** Callbacks for live output. */
export interface DemoHooks {
  phase?(name: "setup" | "tamper" | "update" | "done", detail: string): void;
  /** `now` counts from the start of the pass, in simulated milliseconds. */
  event?(pass: "tamper" | "update", event: CampaignEvent, now: number): void;
}

const REFUSALS = new Set<number>([ErrorCode.BAD_SIGNATURE, ErrorCode.HASH_MISMATCH]);

async function loadDemoImage(bytes: Uint8Array | undefined): Promise<EspImage> {
  try {
    return await readImage(bytes ?? (await buildImage({ version: "2.0.0", projectName: "meshota-demo", size: 256 * 1024 })));
  } catch (error) {
    if (ImageFormatError.isInstance(error)) throw new CliError(`the image cannot be used: ${error.message}`, 1, { cause: error });
    throw error;
  }
}

/** A factory version different from the image's, at most 31 bytes. */
function factoryVersionFor(version: string): string {
  return version === "factory" ? "factory-0" : "factory";
}

/**
 * "8 wifi, 7 tcp, 15 espnow": the roles the nodes got. The mix is a share, not a promise: an
 * espnow node needs a tcp or wifi neighbour to relay to it, and without one it stays tcp.
 */
export function roleCounts(roles: ReadonlyMap<number, NodeRole>): string {
  const counts = new Map<NodeRole, number>();
  for (const role of roles.values()) counts.set(role, (counts.get(role) ?? 0) + 1);
  return (["wifi", "tcp", "espnow", "mesh"] as const)
    .filter((r) => counts.has(r))
    .map((r) => `${counts.get(r)} ${r}`)
    .join(", ");
}

/** Runs the demo. */
export async function runDemo(partial: Partial<DemoOptions>, hooks: DemoHooks = {}): Promise<DemoResult> {
  const o: DemoOptions = { ...DEMO_DEFAULTS, ...partial };
  // The distributor waits on many abortable sleeps at once; that is expected here.
  setMaxListeners(1000);
  const image = await loadDemoImage(o.image);
  const factoryVersion = o.image === undefined ? "1.0.0" : factoryVersionFor(image.appDesc.version);
  const vendorKey = await generateSigningKey();
  const limitMs = o.timeLimitS * 1000;
  // The scenario cancels a campaign when its time runs out, so the pass ends at or past it.
  const ranOut = (pass: CampaignOutcome | undefined) => pass !== undefined && pass.endedAt - pass.startedAt >= limitMs;

  const cluster = o.cluster ?? (await EmulatorCluster.start(o.emulator ? { binary: o.emulator } : {}));
  // Interrupted: stop the emulator process too, then leave with the conventional code.
  const onSignal = () => void cluster.close().finally(() => process.exit(130));
  if (!o.cluster) process.once("SIGINT", onSignal);
  let scenario: Scenario | undefined;
  try {
    scenario = await Scenario.create({
      cluster,
      nodes: o.nodes,
      topology: o.topology,
      mix: o.mix,
      seed: o.seed,
      loss: o.loss,
      factory: {
        projectName: image.appDesc.projectName,
        version: factoryVersion,
        secureVersion: image.appDesc.secureVersion,
        chipId: image.header.chipId,
      },
      chipRevision: image.header.minChipRevFull,
      publicKey: await publicKeyRaw(vendorKey.publicKey),
      maxImageSize: image.size,
      simulation: { espnow: { rateBps: o.espnowRate } },
    });
    hooks.phase?.("setup", `${o.nodes} node${o.nodes === 1 ? "" : "s"} (${roleCounts(scenario.roles)}), ${o.topology}, loss ${o.loss}, seed ${o.seed}`);

    let tamper: CampaignOutcome | undefined;
    const refusedAt = new Map<number, number>();
    if (o.tamper) {
      const forged = await readImage(await tamperImage(image));
      const attackerKey = await generateSigningKey();
      hooks.phase?.("tamper", "a tampered image, signed with a key the nodes do not trust");
      const tamperStart = scenario.sim.scheduler.now();
      tamper = await scenario.runCampaign({
        image: forged,
        signed: await signImage(forged, attackerKey.privateKey),
        relays: false,
        concurrency: o.concurrency,
        limitMs,
        onEvent: (e, t) => {
          if (e.type === "state" && e.state === "failed") refusedAt.set(e.address, t);
          hooks.event?.("tamper", e, t - tamperStart);
        },
      });
    }

    hooks.phase?.("update", `${image.appDesc.projectName} ${image.appDesc.version} (${image.size} bytes), signed`);
    const updateStart = scenario.sim.scheduler.now();
    const update = await scenario.runCampaign({
      image,
      signed: await signImage(image, vendorKey.privateKey),
      concurrency: o.concurrency,
      limitMs,
      onEvent: (e, t) => hooks.event?.("update", e, t - updateStart),
    });

    const nodes: DemoNode[] = update.nodes.map((n) => {
      const report = update.report.targets.find((t) => t.address === n.address)!;
      const t = tamper?.report.targets.find((x) => x.address === n.address);
      const tn = tamper?.nodes.find((x) => x.address === n.address);
      const done = n.history.find((h) => h.at >= update.startedAt && h.version === image.appDesc.version && h.phase === 7);
      return {
        address: n.address,
        role: n.role,
        tamperRefusal: t?.failure ? errorCodeName(t.failure.code) : undefined,
        tamperRefusedAt: refusedAt.get(n.address),
        versionAfterTamper: tn?.status.version,
        report,
        finalVersion: n.status.version,
        doneAtS: done ? (done.at - update.startedAt) / 1000 : undefined,
      };
    });
    const allUpdated = nodes.every((n) => n.report.outcome === "done" && n.finalVersion === image.appDesc.version);
    const tamperRefused =
      !tamper ||
      tamper.report.targets.every((t) => t.outcome === "failed" && t.failure !== undefined && REFUSALS.has(t.failure.code) && t.failure.source === "node") &&
        tamper.nodes.every((n) => n.status.version === factoryVersion);
    hooks.phase?.("done", allUpdated && tamperRefused ? "ok" : "failed");
    return {
      image: {
        projectName: image.appDesc.projectName,
        version: image.appDesc.version,
        size: image.size,
        sha256: toHex(await sha256(image.bytes)),
        chip: image.chip.name,
      },
      factoryVersion,
      tamper,
      update,
      nodes,
      scenario,
      allUpdated,
      tamperRefused,
      outOfTime: ranOut(tamper) || ranOut(update),
      timeLimitS: o.timeLimitS,
      stats: { mesh: { ...scenario.sim.mesh.stats }, espnow: { ...scenario.sim.espnow.stats }, ip: { ...scenario.sim.ip.stats } },
    };
  } finally {
    await scenario?.close();
    if (!o.cluster) {
      process.off("SIGINT", onSignal);
      await cluster.close();
    }
  }
}
