// Mesh frames the distributor puts on air to update 20 nodes with one 64 KiB image: unicast
// mesh transfers, one group transfer, and relays (updated nodes serve their neighbours over
// ESP-NOW). Frames, not seconds: a mesh node may send about 100 network PDUs per 10 s, so the
// frame count bounds the update time. All three run side by side in one process, on the
// in-memory mesh with fake nodes, with 0 % and 5 % frame loss.
//
//   pnpm --filter @meshota/core build && pnpm exec tsx bench/core/frames-on-air.mts
import { Opcode } from "../../packages/proto/src/index.js";
import {
  buildImage,
  Campaign,
  generateSigningKey,
  MemoryNetwork,
  readImage,
  signImage,
  VirtualClock,
  type CampaignOptions,
} from "../../packages/core/src/index.js";
import { FakeFleet } from "../../packages/core/src/testing.js";

const NODES = 20;
const GROUP = 0xc001;

async function run(mode: "unicast" | "group" | "relay", loss: number) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork({ clock });
  const keys = await generateSigningKey();
  const fleet = new FakeFleet(network, keys.publicKey);
  const targets = Array.from({ length: NODES }, (_, i) => 0x100 + i);
  for (const a of targets) {
    fleet.add(a);
    network.subscribe(a, GROUP);
  }
  const image = await readImage(await buildImage({ version: "2.0.0", size: 64 * 1024 }));
  const signed = await signImage(image, keys.privateKey);
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  network.lose = (p) => p.frame.opcode === Opcode.DataFrame && random() < loss;
  // A row of nodes, each reaching the next two.
  const neighbours = new Map(targets.map((a, i) => [a, targets.slice(i + 1, i + 3)]));
  const options: CampaignOptions = {
    transport: network.transport(),
    image,
    signed,
    clock,
    targets,
    concurrency: 4,
    ...(mode === "group" ? { group: GROUP } : {}),
    ...(mode === "relay" ? { relay: { neighbours, channel: 6 } } : {}),
  };
  const report = await clock.run(new Campaign(options).run());
  const fromDistributor = network.log.filter((p) => p.src === 0x0001);
  const chunks = fromDistributor.filter((p) => p.frame.opcode === Opcode.DataFrame).length;
  return { done: report.done, frames: fromDistributor.length, chunks, control: fromDistributor.length - chunks };
}

for (const loss of [0, 0.05]) {
  const rows = {
    unicast: await run("unicast", loss),
    group: await run("group", loss),
    relay: await run("relay", loss),
  };
  const base = rows.unicast.frames;
  console.log(`\n${NODES} nodes, 64 KiB image, ${loss * 100} % data-frame loss`);
  console.log("mode     done  frames  data-plane  control  frames vs unicast");
  for (const [mode, r] of Object.entries(rows)) {
    console.log(
      `${mode.padEnd(8)} ${String(r.done).padStart(4)}  ${String(r.frames).padStart(6)}  ${String(r.chunks).padStart(
        10
      )}  ${String(r.control).padStart(7)}  ${(r.frames / base).toFixed(3)}`
    );
  }
}
