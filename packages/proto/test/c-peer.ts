// Runs the firmware's decoder (firmware/host/tools/meshota_roundtrip) as a peer for the
// cross-language tests: each input is decoded and re-encoded by nanopb.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Where the round-trip peer is: $MESHOTA_ROUNDTRIP or the default host build. */
export function roundtripPath(): string {
  const candidates = [
    process.env.MESHOTA_ROUNDTRIP,
    join(repo, "firmware/host/build/tools/meshota_roundtrip"),
  ].filter((p): p is string => p !== undefined);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      "the C round-trip peer is not built: run `cmake -S firmware/host -B firmware/host/build && " +
        "cmake --build firmware/host/build` (or set MESHOTA_ROUNDTRIP)",
    );
  }
  return found;
}

export type PeerVerdict = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

/** Sends every (message name, bytes) pair through nanopb; answers in the same order. */
export async function throughC(items: ReadonlyArray<{ name: string; bytes: Uint8Array }>): Promise<PeerVerdict[]> {
  const child = spawn(roundtripPath(), [], { stdio: ["pipe", "pipe", "inherit"] });
  const input = items.map(({ name, bytes }) => `${name} ${bytes.length === 0 ? "-" : Buffer.from(bytes).toString("hex")}\n`).join("");
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? -1));
  });
  child.stdin.end(input);
  const code = await exited;
  if (code !== 0) throw new Error(`meshota_roundtrip exited with ${code}`);
  const lines = output.split("\n").filter((l) => l !== "");
  if (lines.length !== items.length) throw new Error(`expected ${items.length} answers, got ${lines.length}`);
  return lines.map((line) => {
    const [verdict, ...rest] = line.split(" ");
    const value = rest.join(" ");
    if (verdict === "ok") {
      return { ok: true, bytes: value === "-" ? new Uint8Array(0) : new Uint8Array(Buffer.from(value, "hex")) };
    }
    return { ok: false, error: value };
  });
}

/** The shared test vectors in proto/testdata. */
export const testdataDir = join(repo, "proto/testdata");
