import { get } from "node:https";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, sha256, toHex } from "@meshota/core";
import { fetchImage } from "@meshota/transport-tcp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capture } from "../../test/capture.js";
import { runCli } from "../program.js";
import { startServe } from "./serve.js";


let dir: string;
let image: Uint8Array;
const TOKEN = "00112233445566778899aabbccddeeff";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "meshota-serve-"));
  image = await buildImage({ version: "7.0.0", size: 30_000 });
  await writeFile(join(dir, "app.bin"), image);
  await writeFile(join(dir, "token.hex"), TOKEN + "\n");
  await runCli(["keygen", "-o", "k"], capture(dir));
});

describe("meshota serve", () => {
  it("should serve the image over the TCP firmware protocol and over HTTPS with a pinned certificate, never printing the token", async () => {
    const io = capture(dir);
    const s = await startServe(io, { image: "app.bin", host: "127.0.0.1", tcpPort: 0, httpPort: 0, https: true, session: 77, tokenFile: "token.hex" });
    try {
      const tcpPort = s.tcp!.address().port;
      const got = await fetchImage({ host: "127.0.0.1", port: tcpPort, sessionId: 77, token: Uint8Array.from(TOKEN.match(/../g)!, (h) => parseInt(h, 16)) });
      expect(toHex(await sha256(got.image))).toBe(toHex(await sha256(image)));
      expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/app\.bin$/);
      const body = await new Promise<{ cert: Buffer; data: Buffer }>((resolve, reject) => {
        get(s.url!, { rejectUnauthorized: false }, (res) => {
          const parts: Buffer[] = [];
          const cert = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().raw;
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () => resolve({ cert, data: Buffer.concat(parts) }));
        }).on("error", reject);
      });
      expect(body.data.equals(Buffer.from(image))).toBe(true);
      expect(toHex(await sha256(new Uint8Array(body.cert)))).toBe(s.certSha256);
      expect(s.lines.join("\n")).not.toContain(TOKEN);
      expect(s.lines[0]).toBe(`image meshota-demo 7.0.0 (${image.length} bytes, sha256 ${toHex(await sha256(image))})`);
    } finally {
      await s.close();
    }
  });

  it("should refuse a TCP server without a session and a token", async () => {
    await expect(startServe(capture(dir), { image: "app.bin", host: "127.0.0.1", tcpPort: 0, httpPort: undefined, https: false, session: undefined, tokenFile: undefined })).rejects.toThrow(
      "the TCP firmware server needs --session and --token-file",
    );
  });

  it("should refuse a malformed token file", async () => {
    await writeFile(join(dir, "bad.hex"), "xyz");
    await expect(startServe(capture(dir), { image: "app.bin", host: "127.0.0.1", tcpPort: 0, httpPort: undefined, https: false, session: 1, tokenFile: "bad.hex" })).rejects.toThrow(
      "token file bad.hex must hold 1 to 16 bytes as hex",
    );
  });
});

describe("meshota push", () => {
  let closedPort = 0;
  beforeAll(async () => {
    // A port with nobody listening: bind one, note it, close it.
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    closedPort = (s.address() as import("node:net").AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
  });
  afterAll(() => undefined);

  it("should say clearly when the gateway cannot be reached", async () => {
    const io = capture(dir);
    const code = await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--gateway", `127.0.0.1:${closedPort}`, "--method", "mesh"], io);
    expect(code).toBe(1);
    expect(io.stderr).toMatch(new RegExp(`^meshota: cannot open the control link to the gateway at 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
  });

  it("should ask for exactly one control path", async () => {
    const io = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--method", "mesh"], io)).toBe(1);
    expect(io.stderr).toBe("meshota: give exactly one of --gateway host:port or --ble (with --cdb)\n");
  });

  it("should refuse side channels served from here without an address the nodes can reach, naming the default method", async () => {
    const io = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--gateway", "127.0.0.1:1"], io)).toBe(1);
    expect(io.stderr).toBe("meshota: --method tcp,mesh: tcp needs --advertise <address the nodes reach this machine at> (or use --method mesh)\n");
    const both = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--gateway", "127.0.0.1:1", "--method", "wifi,tcp"], both)).toBe(1);
    expect(both.stderr).toBe("meshota: --method wifi,tcp: wifi and tcp need --advertise <address the nodes reach this machine at> (or use --method mesh)\n");
  });

  it("should ask for the control path before anything else", async () => {
    const io = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100"], io)).toBe(1);
    expect(io.stderr).toBe("meshota: give exactly one of --gateway host:port or --ble (with --cdb)\n");
  });

  it("should leave no copy of the image behind when the gateway cannot be reached", async () => {
    const saved = process.env.TMPDIR;
    const tmp = await mkdtemp(join(tmpdir(), "meshota-push-tmp-"));
    process.env.TMPDIR = tmp;
    try {
      const io = capture(dir);
      const args = ["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--gateway", `127.0.0.1:${closedPort}`, "--advertise", "127.0.0.1", "--tcp-port", "0"];
      expect(await runCli(args, io)).toBe(1);
      expect(io.stderr).toContain("cannot open the control link to the gateway");
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("should reject bad target lists and unknown side channels", async () => {
    const a = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100,0x8001", "--gateway", "h:1"], a)).toBe(1);
    expect(a.stderr).toBe('meshota: --targets: "0x8001" is not a unicast address (0x0001-0x7FFF)\n');
    const b = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--gateway", "h:1", "--method", "carrier-pigeon"], b)).toBe(1);
    expect(b.stderr).toBe('meshota: --method: unknown side channel "carrier-pigeon" (tcp, wifi, mesh)\n');
  });

  it("should explain a BLE push without the mesh configuration", async () => {
    const io = capture(dir);
    expect(await runCli(["push", "app.bin", "-k", "k.pem", "-t", "0x0100", "--ble"], io)).toBe(1);
    expect(io.stderr).toBe("meshota: --ble needs --cdb and --address\n");
  });
});
