import { execFileSync, spawnSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, ManifestSchema, manifestSigningBytes, type Manifest } from "@meshota/proto";
import { beforeAll, describe, expect, it } from "vitest";
import { KeyError } from "./errors.js";
import { toHex } from "./hash.js";
import { buildImage } from "./image/fixture.js";
import { readImage } from "./image/reader.js";
import {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateSigningKey,
  importPrivateKeyPem,
  importPublicKeyPem,
  importPublicKeyRaw,
  manifestFromImage,
  publicKeyHeader,
  publicKeyRaw,
  signImage,
  signManifest,
  verifyManifest,
} from "./signing.js";

let keys: CryptoKeyPair;
beforeAll(async () => {
  keys = await generateSigningKey();
});

describe("manifest keys", () => {
  it("should round-trip a key pair through PEM and still verify", async () => {
    const privatePem = await exportPrivateKeyPem(keys.privateKey);
    const publicPem = await exportPublicKeyPem(keys.publicKey);
    expect(privatePem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    expect(publicPem.startsWith("-----BEGIN PUBLIC KEY-----\n")).toBe(true);
    const priv = await importPrivateKeyPem(privatePem);
    const pub = await importPublicKeyPem(publicPem);
    const image = await readImage(await buildImage({ size: 1024 }));
    const { manifest, signature } = await signImage(image, priv);
    expect(signature).toHaveLength(64);
    expect(await verifyManifest(manifest, signature, pub)).toBe(true);
    // The public key derived from the private PEM is the same point.
    expect(toHex(await publicKeyRaw(priv))).toBe(toHex(await publicKeyRaw(keys.publicKey)));
  });

  it("should export the public key as a 65-byte uncompressed point and a C header", async () => {
    const raw = await publicKeyRaw(keys.publicKey);
    expect(raw).toHaveLength(65);
    expect(raw[0]).toBe(0x04);
    const header = publicKeyHeader(raw);
    expect(header).toContain("static const uint8_t meshota_pubkey[65] = {");
    expect(header).toContain("#define MESHOTA_PUBKEY_LEN 65");
    const bytes = [...header.matchAll(/0x([0-9a-f]{2}),/g)].map((m) => parseInt(m[1]!, 16));
    expect(bytes).toEqual([...raw]);
    const reimported = await importPublicKeyRaw(raw);
    expect(toHex(await publicKeyRaw(reimported))).toBe(toHex(raw));
  });

  it("should refuse keys of the wrong shape without echoing the key material", async () => {
    await expect(importPublicKeyRaw(new Uint8Array(64))).rejects.toThrow(
      "a raw public key is 65 bytes starting with 0x04, got 64 bytes"
    );
    const secret = "-----BEGIN PRIVATE KEY-----\nTUVTSE9UQVNFQ1JFVA==\n-----END PRIVATE KEY-----\n";
    const error = await importPrivateKeyPem(secret).catch((e: unknown) => e);
    expect(KeyError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe("the private key is not a PKCS#8 ECDSA P-256 key");
    expect((error as Error).message).not.toContain("TUVTSE9UQVNFQ1JFVA");
    await expect(importPrivateKeyPem("nothing")).rejects.toThrow('expected a PEM block "PRIVATE KEY"');
    expect(() => publicKeyHeader(new Uint8Array(65))).toThrow(KeyError);
  });

  it("should say how to convert a SEC1 key from openssl ecparam, without echoing it", async () => {
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "sec1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const error = await importPrivateKeyPem(privateKey).catch((e: unknown) => e);
    expect(KeyError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe(
      'expected a PEM block "PRIVATE KEY" (PKCS#8), got "EC PRIVATE KEY" (SEC1); convert it with openssl pkcs8 -topk8 -nocrypt -in key.pem'
    );
    const body = privateKey.split("\n")[1]!;
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(body.slice(0, 20));
    // Once converted as the message says, it imports.
    const pkcs8 = createPrivateKey(privateKey).export({ type: "pkcs8", format: "pem" }) as string;
    const key = await importPrivateKeyPem(pkcs8);
    expect(key.type).toBe("private");
  });
});

describe("manifest signatures", () => {
  it("should build the manifest from the image header and app description", async () => {
    const image = await readImage(
      await buildImage({
        chip: 0x0d,
        version: "3.2.1",
        projectName: "valve",
        secureVersion: 7,
        minChipRev: 1,
        maxChipRev: 99,
        size: 5000,
      })
    );
    const m = manifestFromImage(image);
    expect(m).toMatchObject({
      imageSize: 5008,
      version: "3.2.1",
      projectName: "valve",
      secureVersion: 7,
      chipId: 13,
      minChipRev: 1,
      maxChipRev: 99,
    });
    expect(toHex(m.imageSha256)).toBe(toHex(image.sha256));
  });

  it("should reject a signature after any field or signature byte changes", async () => {
    const image = await readImage(await buildImage({ size: 2048, version: "1.2.3" }));
    const { manifest, signature } = await signImage(image, keys.privateKey);
    expect(await verifyManifest(manifest, signature, keys.publicKey)).toBe(true);
    const changed: Manifest[] = [
      { ...manifest, imageSize: manifest.imageSize + 1 },
      { ...manifest, secureVersion: 1 },
      { ...manifest, chipId: 9 },
      { ...manifest, version: "1.2.4" },
      { ...manifest, projectName: "other" },
      { ...manifest, imageSha256: manifest.imageSha256.map((b, i) => (i === 31 ? b ^ 1 : b)) },
    ];
    for (const m of changed) expect(await verifyManifest(m, signature, keys.publicKey)).toBe(false);
    const other = await generateSigningKey();
    expect(await verifyManifest(manifest, signature, other.publicKey)).toBe(false);
    expect(await verifyManifest(manifest, signature.subarray(0, 63), keys.publicKey)).toBe(false);
  });
});

// The firmware verifies with mbedTLS PSA. This builds a small C program against the same
// library that derives the signing bytes on its own and verifies what TypeScript signed.
describe("cross-language signature check (C, mbedTLS PSA)", () => {
  const source = fileURLToPath(new URL("../test/c/verify_manifest.c", import.meta.url));
  const exe = join(mkdtempSync(join(tmpdir(), "meshota-core-")), "verify_manifest");
  let pubHex = "";
  let manifest: Manifest;
  let signature: Uint8Array;

  beforeAll(async () => {
    execFileSync("cc", ["-O1", "-Wall", "-Wextra", "-Werror", "-o", exe, source, "-lmbedcrypto"]);
    pubHex = toHex(await publicKeyRaw(keys.publicKey));
    const image = await readImage(
      await buildImage({
        chip: 0x09,
        version: "4.0.0-rc1",
        projectName: "sensor-hub",
        secureVersion: 2,
        maxChipRev: 199,
        size: 3000,
      })
    );
    ({ manifest, signature } = await signImage(image, keys.privateKey));
  });

  function cVerify(m: Manifest, sig: Uint8Array, pub = pubHex): number {
    const args = [
      pub,
      toHex(sig),
      m.imageSize,
      m.secureVersion,
      m.chipId,
      m.minChipRev,
      m.maxChipRev,
      toHex(m.imageSha256),
      m.version,
      m.projectName,
    ].map(String);
    return spawnSync(exe, args, { stdio: "pipe" }).status ?? -1;
  }

  it("should be accepted by the C verifier", () => {
    expect(cVerify(manifest, signature)).toBe(0);
  });

  it("should be rejected by the C verifier after any single signing byte is tampered", async () => {
    // Every byte of the signature, flipped one at a time.
    for (let i = 0; i < 64; i++) {
      const bad = signature.slice();
      bad[i]! ^= 0x01;
      expect(cVerify(manifest, bad), `signature byte ${i}`).toBe(1);
    }
    // Every field the signing bytes cover.
    const variants: Manifest[] = [
      create(ManifestSchema, { ...manifest, imageSize: manifest.imageSize ^ 1 }),
      create(ManifestSchema, { ...manifest, secureVersion: manifest.secureVersion + 1 }),
      create(ManifestSchema, { ...manifest, chipId: 5 }),
      create(ManifestSchema, { ...manifest, minChipRev: 1 }),
      create(ManifestSchema, { ...manifest, maxChipRev: 0xffff }),
      create(ManifestSchema, { ...manifest, version: "4.0.0-rc2" }),
      create(ManifestSchema, { ...manifest, projectName: "sensor-huB" }),
    ];
    for (let i = 0; i < 32; i++) {
      variants.push(
        create(ManifestSchema, {
          ...manifest,
          imageSha256: manifest.imageSha256.map((b, j) => (j === i ? b ^ 0x80 : b)),
        })
      );
    }
    for (const v of variants) {
      expect(manifestSigningBytes(v)).not.toEqual(manifestSigningBytes(manifest));
      expect(cVerify(v, signature)).toBe(1);
    }
    const other = toHex(await publicKeyRaw((await generateSigningKey()).publicKey));
    expect(cVerify(manifest, signature, other)).toBe(1);
  });

  it("should accept signatures from a key that went through PEM", async () => {
    const priv = await importPrivateKeyPem(await exportPrivateKeyPem(keys.privateKey));
    expect(cVerify(manifest, await signManifest(manifest, priv))).toBe(0);
  });
});
