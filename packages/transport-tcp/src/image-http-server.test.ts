import { createHash, createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { certificateSha256, generateSelfSignedCertificate } from "./certificate.js";
import { ImageHttpServer, type ImageHttpEvent, type ImageHttpServerOptions } from "./image-http-server.js";

const dir = mkdtempSync(join(tmpdir(), "meshota-http-"));
const IMAGE = randomBytes(100_000);
const file = join(dir, "app.bin");
let server: ImageHttpServer;
let events: ImageHttpEvent[];

beforeAll(() => writeFileSync(file, IMAGE));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => server?.close());

async function start(options: Partial<ImageHttpServerOptions> = {}) {
  const mine: ImageHttpEvent[] = [];
  events = mine;
  server = new ImageHttpServer({ ...options, onEvent: (e) => mine.push(e) });
  await server.addImage("/fw/app.bin", file);
  await server.listen(0);
  return server;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  fingerprint?: string;
}

function get(url: string, init: { method?: string; headers?: Record<string, string>; ca?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = send(url, { method: init.method ?? "GET", headers: init.headers, ca: init.ca, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => {
        const reply: Reply = { status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) };
        const tls = res.socket as TLSSocket;
        if (typeof tls.getPeerCertificate === "function") reply.fingerprint = tls.getPeerCertificate().fingerprint256;
        resolve(reply);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("ImageHttpServer over plain HTTP", () => {
  it("should send the whole image with its Content-Length", async () => {
    const s = await start();
    const r = await get(s.url("/fw/app.bin"));
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe("100000");
    expect(r.headers["accept-ranges"]).toBe("bytes");
    expect(r.headers["content-type"]).toBe("application/octet-stream");
    expect(r.body.equals(IMAGE)).toBe(true);
  });

  it("should answer HEAD with the length and no body", async () => {
    const s = await start();
    const r = await get(s.url("/fw/app.bin"), { method: "HEAD" });
    expect(r).toMatchObject({ status: 200, headers: { "content-length": "100000", "accept-ranges": "bytes" } });
    expect(r.body.length).toBe(0);
  });

  it.each([
    ["bytes=0-0", 0, 0],
    ["bytes=1024-", 1024, 99_999],
    ["bytes=5000-5999", 5000, 5999],
    ["bytes=-100", 99_900, 99_999],
    ["bytes=99999-200000", 99_999, 99_999],
  ])("should answer Range %s with 206 and exactly those bytes", async (range, first, last) => {
    const s = await start();
    const r = await get(s.url("/fw/app.bin"), { headers: { Range: range } });
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes ${first}-${last}/100000`);
    expect(r.headers["content-length"]).toBe(String(last - first + 1));
    expect(r.body.equals(IMAGE.subarray(first, last + 1))).toBe(true);
  });

  it("should answer a range past the end with 416", async () => {
    const s = await start();
    const r = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=100000-" } });
    expect(r).toMatchObject({ status: 416, headers: { "content-range": "bytes */100000", "content-length": "0" } });
  });

  it("should send the whole image for several ranges or an If-Range of another version", async () => {
    const s = await start();
    const multi = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=0-1,10-20" } });
    expect(multi.status).toBe(200);
    expect(multi.body.equals(IMAGE)).toBe(true);
    const head = await get(s.url("/fw/app.bin"), { method: "HEAD" });
    const same = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=10-", "If-Range": head.headers.etag! } });
    expect(same.status).toBe(206);
    const other = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=10-", "If-Range": '"0-0"' } });
    expect(other.status).toBe(200);
  });

  it("should refuse unknown paths with 404 and other methods with 405", async () => {
    const s = await start();
    for (const path of ["/", "/fw/app.bin/", "/fw/APP.bin", "/fw/../fw/app.bi", "/etc/passwd"]) {
      expect((await get(s.url(path))).status, path).toBe(404);
    }
    const post = await get(s.url("/fw/app.bin"), { method: "POST" });
    expect(post).toMatchObject({ status: 405, headers: { allow: "GET, HEAD" } });
    s.removeImage("/fw/app.bin");
    expect((await get(s.url("/fw/app.bin"))).status).toBe(404);
  });

  it("should ignore Range when told to, like a server without range support", async () => {
    const s = await start({ ignoreRange: true });
    const r = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=4096-" } });
    expect(r.status).toBe(200);
    expect(r.headers["accept-ranges"]).toBe("none");
    expect(r.headers["content-range"]).toBeUndefined();
    expect(r.body.equals(IMAGE)).toBe(true);
    expect(events.map((e) => [e.status, e.range, e.length])).toEqual([[200, "bytes=4096-", 100_000]]);
  });

  it("should find an image whose path needs percent-encoding, and a request with dot segments", async () => {
    const s = await start();
    await s.addImage("/fw/app 1.2.bin", file);
    expect(s.url("/fw/app 1.2.bin")).toBe(`http://127.0.0.1:${s.address().port}/fw/app%201.2.bin`);
    const r = await get(s.url("/fw/app 1.2.bin"));
    expect(r.status).toBe(200);
    expect(r.body.equals(IMAGE)).toBe(true);
    expect((await get(s.url("/fw/x/../app.bin"), { method: "HEAD" })).status).toBe(200);
    s.removeImage("/fw/app 1.2.bin");
    expect((await get(s.url("/fw/app 1.2.bin"), { method: "HEAD" })).status).toBe(404);
  });

  it("should answer a huge Range start with 416 and a huge end with the rest of the image", async () => {
    const s = await start();
    const past = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=99999999999999999999999-" } });
    expect(past).toMatchObject({ status: 416, headers: { "content-range": "bytes */100000" } });
    const rest = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=4096-99999999999999999999999" } });
    expect(rest).toMatchObject({ status: 206, headers: { "content-range": "bytes 4096-99999/100000", "content-length": "95904" } });
    expect(rest.body.equals(IMAGE.subarray(4096))).toBe(true);
  });

  it("should refuse bad image paths", async () => {
    const s = await start();
    await expect(s.addImage("fw.bin", file)).rejects.toThrow('image path "fw.bin" must start with / and hold no query');
    await expect(s.addImage("/x", dir)).rejects.toThrow(`${dir} is not a file`);
  });
});

describe("ImageHttpServer over HTTPS", () => {
  const cert = generateSelfSignedCertificate();

  it("should generate a certificate whose pin is the SHA-256 of its DER", () => {
    const x = new X509Certificate(cert.cert);
    expect(cert.sha256.length).toBe(32);
    expect(Buffer.from(cert.der).equals(x.raw)).toBe(true);
    expect(Buffer.from(cert.sha256).toString("hex")).toBe(createHash("sha256").update(x.raw).digest("hex"));
    expect(Buffer.from(certificateSha256(cert.cert)).equals(Buffer.from(cert.sha256))).toBe(true);
    expect(x.subject).toBe("CN=meshota image server");
    expect(x.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1");
    expect(x.checkPrivateKey(createPrivateKey(cert.key))).toBe(true);
  });

  it("should serve ranges over TLS with the pinned certificate", async () => {
    const s = await start({ tls: cert });
    expect(s.url("/fw/app.bin")).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/fw\/app\.bin$/);
    expect(Buffer.from(s.certSha256!).equals(Buffer.from(cert.sha256))).toBe(true);
    const r = await get(s.url("/fw/app.bin"), { headers: { Range: "bytes=2048-" }, ca: cert.cert });
    expect(r.status).toBe(206);
    expect(r.body.equals(IMAGE.subarray(2048))).toBe(true);
    expect(r.fingerprint!.replaceAll(":", "").toLowerCase()).toBe(Buffer.from(cert.sha256).toString("hex"));
  });

  it("should be refused by a client that does not trust the certificate", async () => {
    const s = await start({ tls: cert });
    await expect(get(s.url("/fw/app.bin"))).rejects.toThrow("self-signed certificate");
  });
});
