import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeFrame, encodeFrame, ErrorCode, type DataFrame } from "@meshota/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FetchError } from "./errors.js";
import { fetchImage } from "./fetch-client.js";
import { FirmwareServer, type FirmwareServerEvent, type FirmwareServerOptions } from "./firmware-server.js";
import { encodeStreamFrame, StreamFrameDecoder } from "./stream-framing.js";

const dir = mkdtempSync(join(tmpdir(), "meshota-fw-"));
const IMAGE = new Uint8Array(randomBytes(300_000));
const imagePath = join(dir, "app.bin");
const TOKEN = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1, 2, 3, 4]);
const SESSION = 0x5a17;
const CHUNKS = Math.ceil(IMAGE.length / 1440); // 209

let server: FirmwareServer;
let events: FirmwareServerEvent[];

beforeAll(() => writeFileSync(imagePath, IMAGE));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => server?.close());

async function start(options: Partial<FirmwareServerOptions> = {}) {
  const mine: FirmwareServerEvent[] = [];
  events = mine;
  server = new FirmwareServer({ idleTimeoutMs: 2000, ...options, onEvent: (e) => mine.push(e) });
  await server.addSession({ sessionId: SESSION, token: TOKEN, imagePath });
  return (await server.listen(0)).port;
}

/** Writes `parts` on a raw connection and returns every DataFrame received until it closes. */
function raw(port: number, parts: Uint8Array[]): Promise<DataFrame[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const decoder = new StreamFrameDecoder();
    const frames: DataFrame[] = [];
    socket.on("connect", async () => {
      for (const p of parts) {
        socket.write(p);
        await new Promise((r) => setTimeout(r, 1));
      }
    });
    socket.on("data", (d) => decoder.feed(d, (f) => void frames.push(decodeFrame(f))));
    // A reset ends the exchange like a close (the server may drop unread bytes).
    socket.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(frames) : reject(e)));
    socket.on("close", () => resolve(frames));
  });
}

const fetchFrame = (fields: { sessionId?: number; token?: Uint8Array; nextIndex?: number; maxChunkSize?: number } = {}) =>
  encodeStreamFrame(
    encodeFrame({
      body: {
        case: "fetch",
        value: { sessionId: fields.sessionId ?? SESSION, token: fields.token ?? TOKEN, nextIndex: fields.nextIndex ?? 0, maxChunkSize: fields.maxChunkSize ?? 1440 },
      },
    }),
  );

/** Waits (bounded, 1 s) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
}

const opts = (port: number) => ({ host: "127.0.0.1", port, sessionId: SESSION, token: TOKEN });

describe("FirmwareServer", () => {
  it("should serve the whole image as TransferInfo, chunks 0..n-1 and TransferDone", async () => {
    const port = await start();
    const r = await fetchImage(opts(port));
    expect(r).toMatchObject({ imageSize: 300_000, chunkSize: 1440, chunkCount: CHUNKS, nextIndex: CHUNKS, complete: true });
    expect(Buffer.from(r.image).equals(Buffer.from(IMAGE))).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(events.filter((e) => e.type === "fetch")).toEqual([{ type: "fetch", id: 1, sessionId: SESSION, nextIndex: 0, chunkSize: 1440 }]);
    expect(events.filter((e) => e.type === "sent-all")).toEqual([{ type: "sent-all", id: 1, sessionId: SESSION, chunks: CHUNKS }]);
    expect(events.filter((e) => e.type === "node-done")).toEqual([{ type: "node-done", id: 1, sessionId: SESSION, error: ErrorCode.NONE }]);
    expect(server.stats()).toMatchObject({ accepted: 1, chunksSent: CHUNKS });
  });

  it("should resume from the index the node reports, cut every 100 KB", async () => {
    const port = await start();
    let image: Uint8Array | undefined;
    let next = 0;
    const firsts: number[] = [];
    for (let round = 0; round < 10; round++) {
      let got = 0;
      const r = await fetchImage({
        ...opts(port),
        nextIndex: next,
        into: image,
        onChunk: (index, data) => {
          if (got === 0) firsts.push(index);
          got += data.length;
          return got < 100_000;
        },
      });
      image = r.image;
      next = r.nextIndex;
      if (r.complete) break;
    }
    // 100 KB is 70 chunks of 1440 bytes: cuts after chunks 69 and 139, the rest completes.
    expect(firsts).toEqual([0, 70, 140]);
    expect(next).toBe(CHUNKS);
    expect(Buffer.from(image!).equals(Buffer.from(IMAGE))).toBe(true);
    expect(events.filter((e) => e.type === "fetch").map((e) => (e as { nextIndex: number }).nextIndex)).toEqual([0, 70, 140]);
  });

  it("should follow the node's index, not what it already sent", async () => {
    const port = await start();
    // The node lost chunks 5.. although the server had sent up to the end once.
    await fetchImage(opts(port));
    const r = await fetchImage({ ...opts(port), nextIndex: 5, into: new Uint8Array(IMAGE.length) });
    expect(r.complete).toBe(true);
    expect(Buffer.from(r.image.subarray(5 * 1440)).equals(Buffer.from(IMAGE.subarray(5 * 1440)))).toBe(true);
    expect(r.image.subarray(0, 5 * 1440).every((b) => b === 0)).toBe(true);
  });

  it("should refuse a wrong token with AUTH and never put the token in an event or error", async () => {
    const port = await start();
    const wrong = TOKEN.slice();
    wrong[15]! ^= 1;
    const error = await fetchImage({ ...opts(port), token: wrong }).catch((e: unknown) => e);
    expect(FetchError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ reason: "refused", errorCode: ErrorCode.AUTH, message: "the server refused the transfer: AUTH" });
    await new Promise((r) => setTimeout(r, 20));
    expect(events.find((e) => e.type === "refused")).toEqual({
      type: "refused",
      id: 1,
      sessionId: SESSION,
      error: ErrorCode.AUTH,
      reason: `wrong token for session ${SESSION}`,
    });
    const seen = JSON.stringify(events) + String(error) + JSON.stringify(error);
    for (const t of [TOKEN, wrong]) {
      expect(seen).not.toContain(Buffer.from(t).toString("hex"));
      expect(seen).not.toContain(Buffer.from(t).toString("base64"));
      expect(seen).not.toContain([...t].join(","));
    }
  });

  it("should refuse a token of another length and an empty token", async () => {
    const port = await start();
    for (const token of [TOKEN.subarray(0, 15), new Uint8Array(0)]) {
      await expect(fetchImage({ ...opts(port), token })).rejects.toMatchObject({ errorCode: ErrorCode.AUTH });
    }
  });

  it("should answer a FetchRequest whose token is 17 bytes with MALFORMED, without echoing it", async () => {
    const port = await start();
    const token17 = new Uint8Array(17).fill(0xaa);
    const good = encodeFrame({ body: { case: "fetch", value: { sessionId: SESSION, token: new Uint8Array(16).fill(0xaa), nextIndex: 0, maxChunkSize: 1440 } } });
    // DataFrame.fetch (field 1) { session_id, token (field 2, 16 bytes), max_chunk_size }: the
    // same bytes with one more token byte and both lengths one larger.
    expect(Buffer.from(good.subarray(0, 2)).toString("hex")).toBe("0a19");
    const tokenAt = good.indexOf(0x12);
    expect(good[tokenAt + 1]).toBe(16);
    const bad = Buffer.concat([Uint8Array.of(0x0a, 0x1a), good.subarray(2, tokenAt), Uint8Array.of(0x12, 17), token17, good.subarray(tokenAt + 18)]);
    const frames = await raw(port, [encodeStreamFrame(bad)]);
    expect(frames.map((f) => f.body.case === "done" && f.body.value.error)).toEqual([ErrorCode.MALFORMED]);
    expect(events.find((e) => e.type === "refused")).toMatchObject({ error: ErrorCode.MALFORMED });
    const seen = JSON.stringify(events, (_k, v: unknown) => (v instanceof Error ? v.message : v));
    expect(seen).toContain("token");
    expect(seen.toLowerCase()).not.toContain("aaaaaaaa");
    expect(seen).not.toContain("170,170,170");
    // Other nodes are served as before.
    expect((await fetchImage(opts(port))).complete).toBe(true);
  });

  it("should answer an unknown session with SESSION_MISMATCH", async () => {
    const port = await start();
    await expect(fetchImage({ ...opts(port), sessionId: 99 })).rejects.toMatchObject({ reason: "refused", errorCode: ErrorCode.SESSION_MISMATCH });
    server.removeSession(SESSION);
    await expect(fetchImage(opts(port))).rejects.toMatchObject({ errorCode: ErrorCode.SESSION_MISMATCH });
  });

  it("should answer a corrupted frame with MALFORMED and close only that connection", async () => {
    const port = await start();
    const other = fetchImage({ ...opts(port), onChunk: () => undefined });
    const bad = fetchFrame();
    bad[bad.length - 1]! ^= 0x80;
    const frames = await raw(port, [bad]);
    expect(frames.map((f) => f.body)).toEqual([{ case: "done", value: expect.objectContaining({ sessionId: 0, error: ErrorCode.MALFORMED }) }]);
    const r = await other;
    expect(r.complete).toBe(true);
    expect(Buffer.from(r.image).equals(Buffer.from(IMAGE))).toBe(true);
    const bad1 = events.find((e) => e.type === "bad-input") as { error: Error } | undefined;
    expect(bad1?.error.message).toMatch(/^stream frame CRC-32 0x[0-9a-f]{8} does not match its 27 bytes \(0x[0-9a-f]{8}\) at stream offset 0$/);
  });

  it("should answer a bad length and an undecodable DataFrame with MALFORMED", async () => {
    const port = await start();
    expect((await raw(port, [Uint8Array.of(0, 0)])).map((f) => f.body.case === "done" && f.body.value.error)).toEqual([ErrorCode.MALFORMED]);
    // A well-framed payload that is not a DataFrame (a truncated varint).
    expect((await raw(port, [encodeStreamFrame(Uint8Array.of(0x08, 0x80))])).map((f) => f.body.case === "done" && f.body.value.error)).toEqual([
      ErrorCode.MALFORMED,
    ]);
    // A DataFrame that is not a FetchRequest first.
    const chunk = encodeStreamFrame(encodeFrame({ body: { case: "chunk", value: { sessionId: SESSION, index: 0, data: Uint8Array.of(1) } } }));
    expect((await raw(port, [chunk])).map((f) => f.body.case === "done" && f.body.value.error)).toEqual([ErrorCode.MALFORMED]);
    expect(events.filter((e) => e.type === "bad-input").map((e) => (e as { error: Error }).error.message)).toEqual([
      "stream frame length 0 is outside 1..1458 at stream offset 0",
      expect.stringMatching(/^malformed meshota\.v1\.DataFrame/),
      "expected a FetchRequest first, got chunk",
    ]);
  });

  it("should take a request split into single bytes, and one coalesced with the node's TransferDone", async () => {
    const port = await start({ chunkSize: 1000 });
    const req = fetchFrame({ nextIndex: 299 });
    const split = await raw(port, [...req].map((b) => Uint8Array.of(b)));
    expect(split.map((f) => f.body.case)).toEqual(["info", "chunk", "done"]);
    expect(split[1]!.body.value).toMatchObject({ index: 299, data: IMAGE.subarray(299_000) });
    // Fetch of nothing (next_index == chunk count), then the node's done in the same write.
    const done = encodeStreamFrame(encodeFrame({ body: { case: "done", value: { sessionId: SESSION } } }));
    const both = await raw(port, [Buffer.concat([fetchFrame({ nextIndex: 300 }), done])]);
    expect(both.map((f) => f.body.case)).toEqual(["info", "done"]);
    expect(both[0]!.body.value).toMatchObject({ imageSize: 300_000, chunkSize: 1000, chunkCount: 300 });
    await new Promise((r) => setTimeout(r, 10));
    expect(events.filter((e) => e.type === "node-done").length).toBe(1);
  });

  it("should refuse a next_index past the end with CHUNK_OUT_OF_RANGE", async () => {
    const port = await start();
    await expect(fetchImage({ ...opts(port), nextIndex: CHUNKS + 1 })).rejects.toMatchObject({ errorCode: ErrorCode.CHUNK_OUT_OF_RANGE });
  });

  it("should use the node's smaller chunk size and refuse a max_chunk_size of 0", async () => {
    const port = await start();
    const r = await fetchImage({ ...opts(port), maxChunkSize: 200 });
    expect(r).toMatchObject({ chunkSize: 200, chunkCount: 1500, complete: true });
    expect(Buffer.from(r.image).equals(Buffer.from(IMAGE))).toBe(true);
    const frames = await raw(port, [fetchFrame({ maxChunkSize: 0 })]);
    expect(frames.map((f) => f.body.case === "done" && f.body.value.error)).toEqual([ErrorCode.MALFORMED]);
  });

  it("should close a connection idle past the timeout", async () => {
    const port = await start({ idleTimeoutMs: 40 });
    const frames = await raw(port, []);
    expect(frames).toEqual([]);
    await until(() => events.length === 3);
    expect(events.map((e) => e.type)).toEqual(["connection", "timeout", "closed"]);
  });

  it("should close a connection whose FetchRequest trickles in slower than the timeout allows", async () => {
    const port = await start({ idleTimeoutMs: 200 });
    const req = fetchFrame();
    const opened = Date.now();
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => undefined);
    // One byte every 60 ms: never idle for 200 ms, but the request would take 27 x 60 ms.
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < req.length && !socket.destroyed) socket.write(req.subarray(sent, ++sent));
    }, 60);
    const closedAfter = await new Promise<number>((resolve) => socket.on("close", () => resolve(Date.now() - opened)));
    clearInterval(timer);
    expect(sent).toBeLessThan(req.length);
    expect(closedAfter).toBeLessThan(1000);
    await until(() => events.some((e) => e.type === "closed"));
    expect(events.map((e) => e.type)).toEqual(["connection", "timeout", "closed"]);
  });

  it("should reject the fetch with the error of an onChunk that throws", async () => {
    const port = await start();
    const error = await fetchImage({
      ...opts(port),
      onChunk: (index) => {
        if (index === 3) throw new Error("disk full at chunk 3");
      },
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("disk full at chunk 3");
  });

  it("should reject a fetch whose token is over 16 bytes without connecting", async () => {
    const port = await start();
    const error = await fetchImage({ ...opts(port), token: new Uint8Array(17) }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("meshota.v1.FetchRequest.token is 17 bytes, over its bound of 16");
    await new Promise((r) => setTimeout(r, 20));
    expect(server.stats().accepted).toBe(0);
  });

  it("should stop reading the file while a node does not read (backpressure)", async () => {
    const bigPath = join(dir, "big.bin");
    writeFileSync(bigPath, randomBytes(32 * 1024 * 1024));
    const port = await start();
    await server.addSession({ sessionId: 7, token: TOKEN, imagePath: bigPath });
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise((r) => socket.once("connect", r));
    socket.pause();
    socket.write(fetchFrame({ sessionId: 7 }));
    await new Promise((r) => setTimeout(r, 300));
    const sent = server.stats().bytesSent;
    // Only socket buffers (user space and kernel) hold data: far less than the 32 MiB image.
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stats().bytesSent).toBe(sent);
    expect(server.stats().connections).toBe(1);
    socket.destroy();
  });

  it("should drop a node that stops reading once the idle timeout passes", async () => {
    const bigPath = join(dir, "stall.bin");
    writeFileSync(bigPath, randomBytes(32 * 1024 * 1024));
    const port = await start({ idleTimeoutMs: 150 });
    await server.addSession({ sessionId: 8, token: TOKEN, imagePath: bigPath });
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => undefined);
    await new Promise((r) => socket.once("connect", r));
    socket.pause();
    socket.write(fetchFrame({ sessionId: 8 }));
    await until(() => events.some((e) => e.type === "closed"));
    expect(events.map((e) => e.type)).toEqual(["connection", "fetch", "timeout", "closed"]);
    expect(server.stats().connections).toBe(0);
    socket.destroy();
  });

  it("should close connections beyond maxConnections at once", async () => {
    const port = await start({ maxConnections: 1 });
    const first = connect({ host: "127.0.0.1", port });
    await new Promise((r) => first.once("connect", r));
    await until(() => server.stats().connections === 1);
    const frames = await raw(port, [fetchFrame()]);
    expect(frames).toEqual([]);
    expect(server.stats()).toMatchObject({ connections: 1, accepted: 2 });
    first.destroy();
  });

  it("should serve 50 nodes at once", async () => {
    const port = await start();
    const results = await Promise.all(Array.from({ length: 50 }, () => fetchImage(opts(port))));
    expect(results.every((r) => r.complete && Buffer.from(r.image).equals(Buffer.from(IMAGE)))).toBe(true);
    expect(server.stats()).toMatchObject({ accepted: 50, chunksSent: 50 * CHUNKS });
  });

  it("should refuse bad sessions at registration", async () => {
    await start();
    await expect(server.addSession({ sessionId: 0, token: TOKEN, imagePath })).rejects.toThrow("session id 0 is outside 1..0xffffffff");
    await expect(server.addSession({ sessionId: 2, token: new Uint8Array(17), imagePath })).rejects.toThrow("a token is 1..16 bytes, not 17");
    const empty = join(dir, "empty.bin");
    writeFileSync(empty, "");
    await expect(server.addSession({ sessionId: 2, token: TOKEN, imagePath: empty })).rejects.toThrow(`image ${empty} is empty`);
    await expect(server.addSession({ sessionId: 2, token: TOKEN, imagePath: join(dir, "absent") })).rejects.toThrow("ENOENT");
  });
});
