// Campaign benchmark: simulated time to update N emulated nodes with one image, by each side
// channel, next to that channel's link-limited minimum, all measured in one run.
//
//   node bench/campaign/run.mjs [--nodes 100] [--size 1572864] [--seed 1] [--only tcp,wifi,espnow,mesh]
//
// Needs the built packages (pnpm turbo run build) and the node emulator (firmware/host/build,
// or $MESHOTA_EMULATOR). Every node runs the real C core; the media are @meshota/sim's models.
import { parseArgs } from "node:util";
import { setMaxListeners } from "node:events";
import { buildImage, generateSigningKey, publicKeyRaw } from "../../packages/core/dist/index.js";
import { EmulatorCluster, IP_DEFAULTS, ESPNOW_DEFAULTS, MESH_DEFAULTS, Scenario, prepareImage } from "../../packages/sim/dist/index.js";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "100" },
    size: { type: "string", default: String(1536 * 1024) },
    seed: { type: "string", default: "1" },
    only: { type: "string", default: "tcp,espnow,wifi,mesh" },
    "mesh-nodes": { type: "string", default: "16" },
    "mesh-size": { type: "string", default: String(16 * 1024) },
  },
});
setMaxListeners(10_000);
const nodes = Number(values.nodes);
const size = Number(values.size);
const seed = Number(values.seed);
const only = new Set(values.only.split(","));

/** ESP-NOW: bytes on air for one image, 226-byte chunks in DataFrames of up to 250 bytes. */
function espnowAirtimeS(bytes, rateBps) {
  const frames = Math.ceil(bytes / 226);
  return (frames * (226 + 18 + ESPNOW_DEFAULTS.overheadBytes) * 8) / rateBps;
}
/** TCP and Wi-Fi/HTTP: the access point shared by all, or one station's own limit, whichever binds. */
function ipMinS(n, bytes) {
  return Math.max((n * bytes) / IP_DEFAULTS.apRate, bytes / IP_DEFAULTS.stationRate);
}
/** Mesh: the gateway sends 4 segmented messages at once, one 12-byte segment per gap each. */
function meshMinS(n, bytes) {
  const gatewayContexts = 4;
  return (n * bytes) / ((gatewayContexts * 12) / (MESH_DEFAULTS.segmentGapMs / 1000));
}

async function run(label, { n, bytesSize, mix, relays, espnowRate, minimum }) {
  const started = Date.now();
  const key = await generateSigningKey();
  const bytes = await buildImage({ version: "2.0.0", projectName: "meshota-bench", size: bytesSize });
  const cluster = await EmulatorCluster.start();
  try {
    const scenario = await Scenario.create({
      cluster,
      nodes: n,
      topology: "grid",
      mix,
      seed,
      loss: 0.01,
      factory: { projectName: "meshota-bench", version: "1.0.0", secureVersion: 0, chipId: 5 },
      chipRevision: 3,
      publicKey: await publicKeyRaw(key.publicKey),
      maxImageSize: bytes.length,
      simulation: espnowRate ? { espnow: { rateBps: espnowRate } } : {},
    });
    const out = await scenario.runCampaign({ ...(await prepareImage(bytes, key.privateKey)), relays, concurrency: n, limitMs: 6 * 3600_000 });
    // Time until the last updated node held the verified image (apply and reboot cost the same
    // for every method); nodes that failed are counted in `done`, not in the time.
    const verified = out.nodes
      .map((x) => x.history.find((h) => h.at >= out.startedAt && h.phase >= 4 && h.phase <= 7))
      .filter((h) => h !== undefined);
    const verifiedAt = verified.length > 0 ? Math.max(...verified.map((h) => h.at - out.startedAt)) : NaN;
    const simS = verifiedAt / 1000;
    // When the last node began receiving: the share of the time the mesh control plane takes
    // (credentials, UpdateStart, relay set-up) before the side channel carries anything.
    const receiving = out.nodes
      .map((x) => x.history.find((h) => h.at >= out.startedAt && h.phase >= 2 && h.phase <= 7))
      .filter((h) => h !== undefined);
    const lastStartS = receiving.length > 0 ? Math.max(...receiving.map((h) => h.at - out.startedAt)) / 1000 : NaN;
    const minS = minimum(scenario);
    return { label, nodes: n, bytes: bytes.length, done: out.report.done, simS, lastStartS, minS, ratio: simS / minS, wallS: (Date.now() - started) / 1000 };
  } finally {
    await cluster.close();
  }
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
console.log("method                              nodes   image B   done   sim s  started    min s   ratio   wall s");
/** Rows are printed as each case finishes. */
const rows = {
  list: [],
  push(r) {
    this.list.push(r);
    console.log(
      `${r.label.padEnd(34)} ${String(r.nodes).padStart(6)} ${String(r.bytes).padStart(9)} ${String(r.done).padStart(6)} ${fmt(r.simS).padStart(7)} ${fmt(r.lastStartS).padStart(8)} ${fmt(r.minS).padStart(8)} ${fmt(r.ratio, 2).padStart(7)} ${fmt(r.wallS).padStart(8)}`,
    );
  },
  find(f) {
    return this.list.find(f);
  },
};
if (only.has("mesh")) {
  const n = Number(values["mesh-nodes"]);
  const s = Number(values["mesh-size"]);
  rows.push(await run(`pure mesh (${n} nodes, ${s} B)`, { n, bytesSize: s, mix: { mesh: 1 }, relays: false, minimum: () => meshMinS(n, s) }));
}
if (only.has("tcp")) {
  rows.push(await run("TCP over Wi-Fi", { n: nodes, bytesSize: size, mix: { tcp: 1 }, relays: false, minimum: () => ipMinS(nodes, size) }));
}
if (only.has("wifi")) {
  // HTTP GETs (with a Range on resume) from the simulated image server, on the same Wi-Fi model.
  rows.push(await run("Wi-Fi/HTTP", { n: nodes, bytesSize: size, mix: { wifi: 1 }, relays: false, minimum: () => ipMinS(nodes, size) }));
}
if (only.has("espnow")) {
  for (const rate of [2_000_000, ESPNOW_DEFAULTS.rateBps]) {
    rows.push(
      await run(`ESP-NOW relays, ${rate / 1000} kbit/s`, {
        n: nodes,
        bytesSize: size,
        mix: { tcp: 1, espnow: 3 },
        relays: true,
        espnowRate: rate,
        // Roots by TCP, then one relay level: the image crosses one ESP-NOW hop once.
        minimum: (sc) => ipMinS([...sc.roles.values()].filter((r) => r === "tcp").length, size) + espnowAirtimeS(size, rate),
      }),
    );
  }
}

const mesh = rows.find((r) => r.label.startsWith("pure mesh"));
if (mesh) {
  const projected = mesh.ratio * meshMinS(nodes, size);
  console.log(`pure mesh projected to ${nodes} nodes and ${size} B at the measured ratio: ${(projected / 3600).toFixed(1)} h (minimum ${(meshMinS(nodes, size) / 3600).toFixed(1)} h)`);
}
