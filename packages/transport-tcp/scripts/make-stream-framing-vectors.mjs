// Writes proto/testdata/stream-framing.jsonl: stream framing vectors shared by the TypeScript
// decoder (packages/transport-tcp) and the C reassembler (meshota_core/meshota_stream.c).
// The frames are laid out here by hand (length, payload, zlib CRC-32) rather than with the
// package's encoder, so the encoder is checked against them, not only the decoder.
// Run: node packages/transport-tcp/scripts/make-stream-framing-vectors.mjs
import { writeFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { encodeFrame, ErrorCode } from "@meshota/proto";

const hex = (b) => Buffer.from(b).toString("hex");
const frame = (payload, { length = payload.length, crc = crc32(payload) >>> 0 } = {}) => {
  const out = Buffer.alloc(payload.length + 6);
  out.writeUInt16LE(length, 0);
  Buffer.from(payload).copy(out, 2);
  out.writeUInt32LE(crc >>> 0, 2 + payload.length);
  return out;
};

const fetch = encodeFrame({
  body: { case: "fetch", value: { sessionId: 0x1234, token: new Uint8Array(16).fill(0xa5), nextIndex: 7, maxChunkSize: 1440 } },
});
const info = encodeFrame({ body: { case: "info", value: { sessionId: 0x1234, imageSize: 1_500_000, chunkSize: 1440, chunkCount: 1042 } } });
const data = new Uint8Array(1440).map((_, i) => (i * 7 + 3) & 0xff);
const chunkMax = encodeFrame({ body: { case: "chunk", value: { sessionId: 0xffffffff, index: 0xffffffff, data } } });
const chunkSmall = encodeFrame({ body: { case: "chunk", value: { sessionId: 1, index: 0, data: data.subarray(0, 5) } } });
const done = encodeFrame({ body: { case: "done", value: { sessionId: 0x1234, error: ErrorCode.AUTH } } });
if (chunkMax.length !== 1458) throw new Error(`largest chunk frame is ${chunkMax.length} bytes, expected 1458`);

const lines = [];
const stream = (name, parts, frames, error = null, pending = 0) =>
  lines.push({ kind: "stream", name, stream: hex(Buffer.concat(parts)), frames: frames.map(hex), error, pending });

// CRC-32 check value of "123456789" from the catalogue of parametrised CRC algorithms
// (CRC-32/ISO-HDLC, as zlib computes it).
lines.push({ kind: "crc32", name: "check value of 123456789", input: hex(Buffer.from("123456789")), crc32: "cbf43926" });
lines.push({ kind: "crc32", name: "empty input", input: "", crc32: "00000000" });
lines.push({ kind: "crc32", name: "fetch request", input: hex(fetch), crc32: (crc32(fetch) >>> 0).toString(16).padStart(8, "0") });

stream("fetch request", [frame(fetch)], [fetch]);
stream("transfer info", [frame(info)], [info]);
stream("largest chunk (1458-byte DataFrame)", [frame(chunkMax)], [chunkMax]);
stream("transfer done with error AUTH", [frame(done)], [done]);
stream("three frames coalesced", [frame(info), frame(chunkSmall), frame(done)], [info, chunkSmall, done]);
stream("one-byte payload", [frame(Uint8Array.of(0x2a))], [Uint8Array.of(0x2a)]);
stream("length prefix only", [frame(info).subarray(0, 2)], [], null, 2);
stream("frame missing its last CRC byte", [frame(chunkSmall).subarray(0, frame(chunkSmall).length - 1)], [], null, frame(chunkSmall).length - 1);
stream("whole frame then half of the next", [frame(done), frame(info).subarray(0, 9)], [done], null, 9);
stream("length zero", [Buffer.from([0, 0])], [], "bad-length");
stream("length 1459, one over the largest DataFrame", [Buffer.from([0xb3, 0x05])], [], "bad-length");
stream("length 0xffff", [Buffer.from([0xff, 0xff, 1, 2, 3])], [], "bad-length");
stream("CRC with one bit flipped", [frame(chunkSmall, { crc: (crc32(chunkSmall) ^ 0x00010000) >>> 0 })], [], "bad-crc");
stream("payload byte changed after the CRC was computed", [frame(info).map((b, i) => (i === 5 ? b ^ 0xff : b))], [], "bad-crc");
stream("good frame then a bad CRC", [frame(fetch), frame(done, { crc: 0 })], [fetch], "bad-crc");
stream("good frame then length zero", [frame(done), Buffer.from([0, 0]), frame(info)], [done], "bad-length");
stream("CRC stored big-endian", [(() => { const f = frame(done); f.writeUInt32BE(crc32(done) >>> 0, 2 + done.length); return f; })()], [], "bad-crc");

const out = new URL("../../../proto/testdata/stream-framing.jsonl", import.meta.url);
writeFileSync(out, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
console.log(`${lines.length} vectors written to ${out.pathname}`);
