#!/usr/bin/env node
// Regenerates every file derived from proto/: TypeScript codecs and tables
// (packages/proto/src/gen), nanopb C code and the C opcode header
// (firmware/components/meshota_proto). Lints the schema first.
// Usage: node tools/generate.mjs [--check]   (--check fails when a generated file changes)
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "packages/proto/package.json"));
const buf = join(dirname(require.resolve("@bufbuild/buf/package.json")), "bin", "buf");
const esBin = join(dirname(require.resolve("@bufbuild/protoc-gen-es/package.json")), "bin");
const env = { ...process.env, PATH: `${esBin}:${process.env.PATH}` };
const run = (args, cwd = root) => execFileSync(buf, args, { cwd, env, stdio: "inherit" });

run(["lint"], join(root, "proto"));
rmSync(join(root, "packages/proto/src/gen"), { recursive: true, force: true });
rmSync(join(root, "firmware/components/meshota_proto/gen"), { recursive: true, force: true });
run(["generate", "--template", "buf.gen.yaml"]);
run(["generate", "--template", "buf.gen.nanopb.yaml"]);

if (process.argv.includes("--check")) {
  const paths = ["packages/proto/src/gen", "firmware/components/meshota_proto"];
  const status = execFileSync("git", ["status", "--porcelain", "--", ...paths], { cwd: root, encoding: "utf8" });
  if (status.trim() !== "") {
    console.error("generated files differ from the committed ones; run `pnpm generate` and commit:\n" + status);
    process.exit(1);
  }
  console.log("generated files are up to date");
}
