#!/usr/bin/env node
// Writes golden.jsonl from golden.src.json: one line per vector with the message name, its
// canonical JSON form and the exact encoding. Every encoding is also passed through protoc
// (decode to text, encode back) so a third implementation agrees with the bytes.
// Run after a deliberate schema change: node proto/testdata/make-golden.mjs (needs a built
// @meshota/proto and protoc). The tests compare against the committed file.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ManifestSchema, VENDOR_MESSAGES, fromJson, toJson, encodeStrict, manifestSigningBytes } from "../../packages/proto/dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const protoDir = join(here, "..");
const protoFiles = readdirSync(join(protoDir, "meshota/v1")).filter((f) => f.endsWith(".proto")).map((f) => `meshota/v1/${f}`);
const source = JSON.parse(readFileSync(join(here, "golden.src.json"), "utf8"));
const seen = new Map();
const lines = source.map(([name, json]) => {
  const entry = VENDOR_MESSAGES.find((e) => e.name === name);
  if (!entry) throw new Error(`unknown message ${name}`);
  const message = fromJson(entry.schema, json);
  const bytes = encodeStrict(entry.schema, message);
  const protoc = (mode, input) =>
    execFileSync("protoc", [`--${mode}=${entry.schema.typeName}`, "-I", protoDir, ...protoFiles], { input });
  const again = protoc("encode", protoc("decode", bytes));
  if (Buffer.compare(again, Buffer.from(bytes)) !== 0) throw new Error(`${name}: protoc re-encodes differently`);
  const n = (seen.get(name) ?? 0) + 1;
  seen.set(name, n);
  return JSON.stringify({
    name,
    case: `${name}#${n}`,
    hex: Buffer.from(bytes).toString("hex"),
    json: toJson(entry.schema, message),
  });
});
writeFileSync(join(here, "golden.jsonl"), lines.join("\n") + "\n");
console.log(`wrote ${lines.length} golden vectors`);

// Manifest signing bytes: the encoded Manifest and the 124 bytes a signature covers, so the
// C core and TypeScript are held to the same layout.
const manifests = [
  { imageSize: 1572864, imageSha256: "3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=", version: "1.5.0", projectName: "greenhouse-node", secureVersion: 3, chipId: 5, minChipRev: 3, maxChipRev: 199 },
  { imageSize: 4096, imageSha256: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", version: "", projectName: "" },
  { imageSize: 4294967295, imageSha256: "//////////////////////////////////////////8=", version: "v".repeat(31), projectName: "節点-ñ", secureVersion: 4294967295, chipId: 23, minChipRev: 0, maxChipRev: 65535 },
];
const signing = manifests.map((json) => {
  const m = fromJson(ManifestSchema, json);
  return JSON.stringify({
    manifest: toJson(ManifestSchema, m),
    manifest_hex: Buffer.from(encodeStrict(ManifestSchema, m)).toString("hex"),
    signing_hex: Buffer.from(manifestSigningBytes(m)).toString("hex"),
  });
});
writeFileSync(join(here, "manifest-signing.jsonl"), signing.join("\n") + "\n");
console.log(`wrote ${signing.length} manifest signing vectors`);
