// Server half of bench/tcp/bench.mjs, in its own process so that its memory can be measured
// apart from the clients'. argv: mode ("meshota" | "plain"), image path, session id, token hex.
// Reports over IPC: {ready, port, baseline}, then on request {peak, now}.
import { createReadStream } from "node:fs";
import { createServer } from "node:net";
import { FirmwareServer } from "../../packages/transport-tcp/dist/index.js";

const [mode, imagePath, sessionId, tokenHex] = process.argv.slice(2);

const mem = () => {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
};

let port;
if (mode === "meshota") {
  const readAheadChunks = Number(process.env.MESHOTA_BENCH_READAHEAD ?? 32);
  const server = new FirmwareServer({ idleTimeoutMs: 60_000, maxConnections: 4096, readAheadChunks });
  await server.addSession({ sessionId: Number(sessionId), token: Buffer.from(tokenHex, "hex"), imagePath });
  port = (await server.listen(0)).port;
} else {
  // The reference: the same bytes copied from the file to each socket, no framing at all.
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    createReadStream(imagePath).pipe(socket);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  port = server.address().port;
}

globalThis.gc?.();
const baseline = mem();
const peak = { ...baseline };
const sample = () => {
  const m = mem();
  for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], m[k]);
};
setInterval(sample, 5).unref();
process.on("message", (msg) => {
  if (msg === "report") {
    sample();
    process.send({ peak, now: mem(), cpu: process.cpuUsage(cpu0) });
  } else if (msg === "exit") {
    process.exit(0);
  }
});
const cpu0 = process.cpuUsage();
process.send({ ready: true, port, baseline });
