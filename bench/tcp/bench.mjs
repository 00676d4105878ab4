// Benchmark of the TCP firmware server: N concurrent downloads of a 1.5 MiB image over
// loopback, measured side by side with a plain socket copy of the same file in the same run.
// Prints aggregate throughput as a ratio to the plain copy, and server memory per connection.
//
//   pnpm --filter @meshota/transport-tcp build && node bench/tcp/bench.mjs [200 500]
//
// Clients run in this process, the server in a child process (bench/tcp/server.mjs). Each
// meshota client does what a node does with the bytes: reassembles the stream frames and checks
// every CRC-32; one client per run decodes every frame and compares the image byte for byte.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchImage, encodeStreamFrame, StreamFrameDecoder } from "../../packages/transport-tcp/dist/index.js";
import { encodeFrame } from "../../packages/proto/dist/index.js";

const IMAGE_SIZE = 1.5 * 1024 * 1024;
const SESSION = 0x0b0b;
const TOKEN = randomBytes(16);
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const ROUNDS = 2;

const dir = mkdtempSync(join(tmpdir(), "meshota-bench-"));
const imagePath = join(dir, "image.bin");
const image = randomBytes(IMAGE_SIZE);
writeFileSync(imagePath, image);

function startServer(mode) {
  const child = fork(new URL("./server.mjs", import.meta.url), [mode, imagePath, String(SESSION), TOKEN.toString("hex")], {
    execArgv: ["--expose-gc"],
  });
  return new Promise((resolve) => child.once("message", (m) => resolve({ child, ...m })));
}

const report = (child) => new Promise((resolve) => {
  child.once("message", resolve);
  child.send("report");
});

/** A plain client: count bytes until the server closes. */
function plainClient(port) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const s = connect({ host: "127.0.0.1", port });
    s.on("data", (d) => (got += d.length));
    s.on("error", reject);
    s.on("close", () => (got === IMAGE_SIZE ? resolve(got) : reject(new Error(`plain copy got ${got} bytes`))));
  });
}

const fetchFrame = encodeStreamFrame(encodeFrame({ body: { case: "fetch", value: { sessionId: SESSION, token: TOKEN, nextIndex: 0, maxChunkSize: 1440 } } }));
const doneFrame = encodeStreamFrame(encodeFrame({ body: { case: "done", value: { sessionId: SESSION } } }));

/** A node-like client: reassemble frames, check CRCs, count chunk payload bytes, stop at done. */
function meshotaClient(port) {
  return new Promise((resolve, reject) => {
    const decoder = new StreamFrameDecoder();
    let payload = 0;
    const s = connect({ host: "127.0.0.1", port, noDelay: true });
    s.on("connect", () => s.write(fetchFrame));
    s.on("data", (d) => {
      try {
        decoder.feed(d, (f) => {
          // DataFrame field 5 (done) starts with tag byte 0x2a; a chunk (field 3) with 0x1a.
          if (f[0] === 0x1a) payload += f.length;
          if (f[0] === 0x2a) {
            s.end(doneFrame);
            resolve(payload);
            return false;
          }
        });
      } catch (e) {
        reject(e);
      }
    });
    s.on("error", reject);
  });
}

async function run(mode, n) {
  const server = await startServer(mode);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const jobs = [];
  for (let i = 0; i < n; i++) {
    if (mode === "plain") jobs.push(plainClient(server.port));
    else if (i === 0) jobs.push(fetchImage({ host: "127.0.0.1", port: server.port, sessionId: SESSION, token: TOKEN }).then((r) => {
      if (!r.complete || !Buffer.from(r.image).equals(image)) throw new Error("the checked client got a different image");
      return r.image.length;
    }));
    else jobs.push(meshotaClient(server.port));
  }
  await Promise.all(jobs);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const clientCpu = process.cpuUsage(c0);
  const { peak, cpu } = await report(server.child);
  server.child.send("exit");
  const perConn = (k) => (peak[k] - server.baseline[k]) / n;
  const cpuS = (c) => (c.user + c.system) / 1e6;
  return { seconds, serverCpu: cpuS(cpu), clientCpu: cpuS(clientCpu), mbps: (n * IMAGE_SIZE) / seconds / 1e6, rssPerConn: perConn("rss"), heapPerConn: perConn("heap"), buffersPerConn: perConn("arrayBuffers") };
}

const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
console.log(`image ${IMAGE_SIZE} bytes, ${ROUNDS} alternating rounds per count, best round of each kind`);
try {
  for (const n of counts.length ? counts : [200, 500]) {
    const best = { plain: undefined, meshota: undefined };
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of ["plain", "meshota"]) {
        const x = await run(mode, n);
        if (!best[mode] || x.mbps > best[mode].mbps) best[mode] = x;
      }
    }
    const { plain, meshota } = best;
    console.log(
      [
        `${n} downloads:`,
        `  plain copy   ${plain.mbps.toFixed(0)} MB/s (${plain.seconds.toFixed(2)} s; CPU s server ${plain.serverCpu.toFixed(2)}, clients ${plain.clientCpu.toFixed(2)}), server RSS +${kib(plain.rssPerConn)}/conn`,
        `  meshota TCP  ${meshota.mbps.toFixed(0)} MB/s (${meshota.seconds.toFixed(2)} s; CPU s server ${meshota.serverCpu.toFixed(2)}, clients ${meshota.clientCpu.toFixed(2)}), server RSS +${kib(meshota.rssPerConn)}/conn,` +
          ` heap +${kib(meshota.heapPerConn)}/conn, buffers +${kib(meshota.buffersPerConn)}/conn`,
        `  throughput ratio meshota/plain: ${(meshota.mbps / plain.mbps).toFixed(2)}`,
        `  memory ratio meshota/plain (RSS per connection): ${(meshota.rssPerConn / plain.rssPerConn).toFixed(2)}`,
      ].join("\n"),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
