import { lstat, mkdtemp, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage, buildPartitionTable, ChipId, sha256, toHex } from "@meshota/core";
import { beforeAll, describe, expect, it } from "vitest";
import { capture } from "../test/capture.js";
import { runCli } from "./program.js";


let dir: string;
let image: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "meshota-cli-"));
  image = await buildImage({ chip: ChipId.ESP32S3, version: "2.4.1", projectName: "sensor-node", secureVersion: 3, size: 100_000, segments: 4, minChipRev: 1, maxChipRev: 199 });
  await writeFile(join(dir, "app.bin"), image);
  const bad = image.slice();
  bad[1000]! ^= 0x40;
  await writeFile(join(dir, "bad.bin"), bad);
  await writeFile(join(dir, "table.bin"), buildPartitionTable());
});

describe("meshota --help", () => {
  it("should list the exit codes", async () => {
    const io = capture(dir);
    await runCli(["--help"], io);
    expect(io.stdout).toContain("Exit codes: 0 success, 1 usage or setup error, 2 inspect");
    expect(io.stdout).toContain("4 demo/simulate/push");
  });
});

describe("meshota inspect", () => {
  it("should name the flash frequency as the chip reads the header's code", async () => {
    for (const [chip, freq] of [
      [ChipId.ESP32C2, "60m"],
      [ChipId.ESP32H2, "48m"],
      [ChipId.ESP32C3, "80m"],
    ] as const) {
      await writeFile(join(dir, `freq-${chip}.bin`), await buildImage({ chip, size: 4096 }));
      const io = capture(dir);
      expect(await runCli(["inspect", "--json", `freq-${chip}.bin`], io)).toBe(0);
      expect(JSON.parse(io.stdout).header.flashFreq, String(chip)).toBe(freq);
    }
  });

  it("should report every field of a valid image as JSON", async () => {
    const io = capture(dir);
    expect(await runCli(["inspect", "--json", "app.bin"], io)).toBe(0);
    const r = JSON.parse(io.stdout);
    expect(Object.keys(r)).toEqual(["file", "size", "sha256", "valid", "error", "chip", "header", "segments", "app", "checksum", "hash", "signatureSector"]);
    expect(r.file).toBe("app.bin");
    expect(r.size).toBe(image.length);
    expect(r.sha256).toBe(toHex(await sha256(image)));
    expect(r.valid).toBe(true);
    expect(r.error).toBeNull();
    expect(r.chip).toEqual({ id: 9, name: "ESP32-S3" });
    expect(r.header).toEqual({ segmentCount: 4, spiMode: "DIO", flashSize: "4MB", flashFreq: "80m", entryAddr: "0x403804a0", minChipRev: "v0.1", maxChipRev: "v1.99", hashAppended: true });
    expect(r.segments).toHaveLength(4);
    expect(r.segments[0]).toEqual({ index: 0, loadAddr: "0x3c000020", length: r.segments[0].length, fileOffset: 32 });
    expect(r.segments.reduce((n: number, s: { length: number }) => n + s.length, 0) + 24 + 4 * 8).toBeLessThanOrEqual(image.length);
    expect(r.app).toMatchObject({ projectName: "sensor-node", version: "2.4.1", secureVersion: 3, idfVersion: "v5.3.1", date: "Dec  3 2026", time: "12:00:00" });
    expect(r.checksum.ok).toBe(true);
    expect(r.checksum.stored).toBe(r.checksum.computed);
    expect(r.hash.ok).toBe(true);
    expect(r.hash.stored).toBe(toHex(image.subarray(image.length - 32)));
    expect(r.signatureSector).toBeNull();
    expect(io.stderr).toBe("");
  });

  it("should describe a corrupted image, name the bad checksum and hash, and exit 2", async () => {
    const io = capture(dir);
    expect(await runCli(["inspect", "--json", "bad.bin"], io)).toBe(2);
    const r = JSON.parse(io.stdout);
    expect(r.valid).toBe(false);
    expect(r.error.defect).toBe("bad-checksum");
    expect(r.checksum.ok).toBe(false);
    expect(Number(r.checksum.stored) ^ Number(r.checksum.computed)).toBe(0x40);
    expect(r.hash.ok).toBe(false);
    expect(r.app.version).toBe("2.4.1");
  });

  it("should print a human report naming chip, version, project, IDF version and checks", async () => {
    const io = capture(dir);
    expect(await runCli(["inspect", "app.bin"], io)).toBe(0);
    expect(io.stdout).toContain("Chip:             ESP32-S3 (id 0x0009)");
    expect(io.stdout).toContain("Version:          2.4.1");
    expect(io.stdout).toContain("Project:          sensor-node");
    expect(io.stdout).toContain("IDF version:      v5.3.1");
    expect(io.stdout).toMatch(/Checksum: {9}0x[0-9a-f]{2} holds/);
    expect(io.stdout).toContain("Appended SHA-256: holds");
    expect(io.stdout).toContain("Segments (4):");
  });

  it("should refuse a partition table with the reader's reason", async () => {
    const io = capture(dir);
    expect(await runCli(["inspect", "--json", "table.bin"], io)).toBe(2);
    const r = JSON.parse(io.stdout);
    expect(r.error.defect).toBe("partition-table");
    expect(r.chip).toBeNull();
  });

  it("should fail clearly on a missing file", async () => {
    const io = capture(dir);
    expect(await runCli(["inspect", "nope.bin"], io)).toBe(1);
    expect(io.stderr).toBe("meshota: cannot read image nope.bin: ENOENT\n");
  });
});

describe("meshota keygen, sign, verify", () => {
  it("should write a private key readable by its owner only and never print it", async () => {
    const io = capture(dir);
    expect(await runCli(["keygen", "-o", "k1"], io)).toBe(0);
    const pem = await readFile(join(dir, "k1.pem"), "utf8");
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect((await stat(join(dir, "k1.pem"))).mode & 0o777).toBe(0o600);
    const body = pem.split("\n").slice(1, -2);
    for (const line of body) expect(io.stdout + io.stderr).not.toContain(line);
    expect(await readFile(join(dir, "k1_pubkey.h"), "utf8")).toContain("static const uint8_t meshota_pubkey[65]");
    expect(io.stdout).toMatch(/fingerprint {3}[0-9a-f]{64}\n/);
  });

  it("should refuse to overwrite a key without --force", async () => {
    const io = capture(dir);
    expect(await runCli(["keygen", "-o", "k1"], io)).toBe(1);
    expect(io.stderr).toBe(`meshota: ${join(dir, "k1.pem")} exists; pass --force to replace it\n`);
  });

  it("should replace a key with --force by a new file of mode 0600, not write through an old file or a link", async () => {
    // An old world-readable file and a link pointing somewhere public.
    await writeFile(join(dir, "k3.pem"), "old\n", { mode: 0o644 });
    await writeFile(join(dir, "public-place.txt"), "public\n", { mode: 0o644 });
    await symlink(join(dir, "public-place.txt"), join(dir, "k4.pem"));
    for (const prefix of ["k3", "k4"]) {
      const io = capture(dir);
      expect(await runCli(["keygen", "-o", prefix, "--force"], io)).toBe(0);
      const st = await lstat(join(dir, `${prefix}.pem`));
      expect(st.isFile(), prefix).toBe(true);
      expect(st.mode & 0o777, prefix).toBe(0o600);
      expect(await readFile(join(dir, `${prefix}.pem`), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    }
    expect(await readFile(join(dir, "public-place.txt"), "utf8")).toBe("public\n");
  });

  it("should name the file it cannot write", async () => {
    const io = capture(dir);
    expect(await runCli(["keygen", "-o", "no/such/dir/k"], io)).toBe(1);
    expect(io.stderr).toBe(`meshota: cannot write ${join(dir, "no/such/dir/k.pem")}: ENOENT\n`);
  });

  it("should sign an image and verify it, and refuse another key or a changed manifest", async () => {
    await runCli(["keygen", "-o", "k2"], capture(dir));
    const io = capture(dir);
    expect(await runCli(["sign", "app.bin", "-k", "k1.pem", "--json"], io)).toBe(0);
    const signed = JSON.parse(io.stdout);
    expect(signed.format).toBe("meshota-signed-manifest/1");
    expect(signed.manifest).toEqual({
      imageSize: image.length,
      imageSha256: toHex(await sha256(image)),
      version: "2.4.1",
      projectName: "sensor-node",
      secureVersion: 3,
      chipId: 9,
      minChipRev: 1,
      maxChipRev: 199,
    });
    expect(signed.signature).toMatch(/^[0-9a-f]{128}$/);
    expect(JSON.parse(await readFile(join(dir, "app.bin.manifest.json"), "utf8"))).toEqual(signed);

    const ok = capture(dir);
    expect(await runCli(["verify", "app.bin", "-m", "app.bin.manifest.json", "-p", "k1.pub.pem"], ok)).toBe(0);

    const other = capture(dir);
    expect(await runCli(["verify", "app.bin", "-m", "app.bin.manifest.json", "-p", "k2.pub.pem"], other)).toBe(3);
    expect(other.stderr).toBe("verification failed: the signature does not verify with this public key\n");

    const changed = { ...signed, manifest: { ...signed.manifest, version: "9.9.9" } };
    await writeFile(join(dir, "changed.json"), JSON.stringify(changed));
    const tampered = capture(dir);
    expect(await runCli(["verify", "app.bin", "-m", "changed.json", "-p", "k1.pub.pem"], tampered)).toBe(3);
  });

  it("should fail the verification of a corrupted image with exit code 3, like any other mismatch", async () => {
    const io = capture(dir);
    expect(await runCli(["verify", "bad.bin", "-m", "app.bin.manifest.json", "-p", "k1.pub.pem"], io)).toBe(3);
    expect(io.stderr).toMatch(/^verification failed: bad\.bin is not a valid app image: bad checksum at offset 0x[0-9A-F]+: stored 0x[0-9A-F]{2}, computed 0x[0-9A-F]{2}\n$/);
    const missing = capture(dir);
    expect(await runCli(["verify", "nope.bin", "-m", "app.bin.manifest.json", "-p", "k1.pub.pem"], missing)).toBe(1);
    expect(missing.stderr).toBe("meshota: cannot read image nope.bin: ENOENT\n");
  });

  it("should refuse to sign a corrupted image", async () => {
    const io = capture(dir);
    expect(await runCli(["sign", "bad.bin", "-k", "k1.pem"], io)).toBe(1);
    expect(io.stderr).toMatch(/^meshota: bad.bin: bad checksum at offset 0x[0-9A-F]+: stored 0x[0-9A-F]{2}, computed 0x[0-9A-F]{2}\n$/);
  });

  it("should not echo a malformed private key file", async () => {
    await writeFile(join(dir, "junk.pem"), "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldC1zZWNyZXQ=\n-----END PRIVATE KEY-----\n");
    const io = capture(dir);
    expect(await runCli(["sign", "app.bin", "-k", "junk.pem"], io)).toBe(1);
    expect(io.stderr).toBe("meshota: junk.pem: the private key is not a PKCS#8 ECDSA P-256 key\n");
    expect(io.stderr).not.toContain("c2VjcmV0");
  });
});

describe("numeric options", () => {
  it("should refuse a concurrency that is not a whole number, naming the option", async () => {
    const io = capture(dir);
    const code = await runCli(["push", "app.bin", "--concurrency", "abc"], io);
    expect(code).not.toBe(0);
    expect(io.stderr).toContain('--concurrency must be an integer from 1 to 1000, got "abc"');
  });
});
