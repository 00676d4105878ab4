// `meshota keygen` and `meshota sign`, `meshota verify`: manifest keys and signatures.
import { access, chmod, readFile, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  bytesEqualPublic,
} from "../util.js";
import {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateSigningKey,
  importPrivateKeyPem,
  importPublicKeyPem,
  ImageFormatError,
  KeyError,
  publicKeyHeader,
  publicKeyRaw,
  readImage,
  sha256,
  signImage,
  toHex,
  verifyManifest,
  manifestFromImage,
  type EspImage,
} from "@meshota/core";
import { CliError, type CliIo } from "../io.js";
import { signedManifestFromJson, signedManifestToJson } from "../signed-manifest.js";

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Options of `keygen`. */
export interface KeygenOptions {
  /** Path prefix: writes <prefix>.pem (private), <prefix>.pub.pem and <prefix>_pubkey.h. */
  out: string;
  force: boolean;
}

/** What keygen wrote; the private key itself is never returned or printed. */
export interface KeygenResult {
  readonly privateKey: string;
  readonly publicKey: string;
  readonly header: string;
  /** SHA-256 of the 65-byte public point, hex: a fingerprint to compare keys by. */
  readonly fingerprint: string;
}

export async function keygen(io: CliIo, options: KeygenOptions): Promise<KeygenResult> {
  const prefix = resolve(io.cwd, options.out);
  const paths = { privateKey: `${prefix}.pem`, publicKey: `${prefix}.pub.pem`, header: `${prefix}_pubkey.h` };
  if (!options.force) {
    for (const path of Object.values(paths)) {
      if (await exists(path)) throw new CliError(`${path} exists; pass --force to replace it`);
    }
  }
  const pair = await generateSigningKey();
  const raw = await publicKeyRaw(pair.publicKey);
  const write = async (path: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (cause) {
      throw new CliError(`cannot write ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 1, { cause });
    }
  };
  // A new file, never an old one: an existing file (or a link) keeps its mode while written,
  // so the key would be readable by others until the chmod, or land where the link points.
  await write(paths.privateKey, async () => {
    await rm(paths.privateKey, { force: true });
    await writeFile(paths.privateKey, await exportPrivateKeyPem(pair.privateKey), { mode: 0o600, flag: "wx" });
    await chmod(paths.privateKey, 0o600);
  });
  const publicPem = await exportPublicKeyPem(pair.publicKey);
  await write(paths.publicKey, () => writeFile(paths.publicKey, publicPem));
  await write(paths.header, () => writeFile(paths.header, publicKeyHeader(raw)));
  return { ...paths, fingerprint: toHex(await sha256(raw)) };
}

async function readBytes(io: CliIo, path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(resolve(io.cwd, path)));
  } catch (cause) {
    throw new CliError(`cannot read ${what} ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 1, { cause });
  }
}

/** Reads and checks an image file, turning reader errors into CLI errors. */
export async function loadImage(io: CliIo, path: string): Promise<EspImage> {
  const bytes = await readBytes(io, path, "image");
  try {
    return await readImage(bytes);
  } catch (error) {
    if (ImageFormatError.isInstance(error)) throw new CliError(`${path}: ${error.message}`, 1, { cause: error });
    throw error;
  }
}

async function loadPrivateKey(io: CliIo, path: string): Promise<CryptoKey> {
  const pem = new TextDecoder().decode(await readBytes(io, path, "private key"));
  try {
    return await importPrivateKeyPem(pem, true);
  } catch (error) {
    // KeyError messages never contain key material.
    if (KeyError.isInstance(error)) throw new CliError(`${path}: ${error.message}`, 1, { cause: error });
    throw error;
  }
}

export async function loadPublicKey(io: CliIo, path: string): Promise<CryptoKey> {
  const pem = new TextDecoder().decode(await readBytes(io, path, "public key"));
  try {
    return await importPublicKeyPem(pem);
  } catch (error) {
    if (KeyError.isInstance(error)) throw new CliError(`${path}: ${error.message}`, 1, { cause: error });
    throw error;
  }
}

/** Options of `sign`. */
export interface SignOptions {
  key: string;
  /** Output path (default <image>.manifest.json). */
  out?: string;
}

export async function sign(io: CliIo, imagePath: string, options: SignOptions): Promise<{ path: string; json: ReturnType<typeof signedManifestToJson> }> {
  const image = await loadImage(io, imagePath);
  const key = await loadPrivateKey(io, options.key);
  const signed = await signImage(image, key);
  const json = signedManifestToJson(signed);
  const path = resolve(io.cwd, options.out ?? `${imagePath}.manifest.json`);
  await writeFile(path, JSON.stringify(json, null, 2) + "\n");
  return { path, json };
}

/** Options of `verify`. */
export interface VerifyOptions {
  manifest: string;
  pub: string;
}

/** Why a verification failed, or null when the image, manifest and signature agree. */
export async function verify(io: CliIo, imagePath: string, options: VerifyOptions): Promise<string | null> {
  // A damaged image is a failed verification (exit 3), not a usage error.
  let image: EspImage;
  try {
    image = await readImage(await readBytes(io, imagePath, "image"));
  } catch (error) {
    if (ImageFormatError.isInstance(error)) return `${imagePath} is not a valid app image: ${error.message}`;
    throw error;
  }
  const signed = signedManifestFromJson(new TextDecoder().decode(await readBytes(io, options.manifest, "manifest")));
  const key = await loadPublicKey(io, options.pub);
  if (!(await verifyManifest(signed.manifest, signed.signature, key))) {
    return "the signature does not verify with this public key";
  }
  const expected = manifestFromImage(image);
  const m = signed.manifest;
  if (m.imageSize !== expected.imageSize) return `image size ${expected.imageSize} differs from the manifest's ${m.imageSize}`;
  if (!bytesEqualPublic(m.imageSha256, expected.imageSha256)) return "the image's SHA-256 differs from the manifest";
  if (m.version !== expected.version) return `version "${expected.version}" differs from the manifest's "${m.version}"`;
  if (m.projectName !== expected.projectName) return `project "${expected.projectName}" differs from the manifest's "${m.projectName}"`;
  if (m.secureVersion !== expected.secureVersion || m.chipId !== expected.chipId) return "chip or secure_version differ from the manifest";
  if (m.minChipRev !== expected.minChipRev || m.maxChipRev !== expected.maxChipRev) return "chip revision range differs from the manifest";
  return null;
}
