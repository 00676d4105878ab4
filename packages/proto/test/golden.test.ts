// The shared wire vectors (proto/testdata), checked on the TypeScript side and against the
// firmware's nanopb decoder.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeStrict, encodeStrict, equals, fromJson, MalformedMessageError, VENDOR_MESSAGES } from "../src/index.js";
import { testdataDir, throughC } from "./c-peer.js";

interface Golden {
  name: string;
  case: string;
  hex: string;
  json: unknown;
}
interface Malformed {
  name: string;
  hex: string;
  why: string;
}

const readLines = <T>(file: string): T[] =>
  readFileSync(join(testdataDir, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);

const golden = readLines<Golden>("golden.jsonl");
const malformed = readLines<Malformed>("malformed.jsonl");
const schemaOf = (name: string) => {
  const entry = VENDOR_MESSAGES.find((e) => e.name === name);
  if (!entry) throw new Error(`no message ${name}`);
  return entry.schema;
};
const bytesOf = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));

describe("golden vectors", () => {
  it("should cover every vendor message", () => {
    expect(new Set(golden.map((g) => g.name))).toEqual(new Set(VENDOR_MESSAGES.map((e) => e.name)));
  });

  it.each(golden.map((g) => [g.case, g] as const))("should encode %s to the exact bytes", (_, g) => {
    const schema = schemaOf(g.name);
    const message = fromJson(schema, g.json as never);
    expect(Buffer.from(encodeStrict(schema, message)).toString("hex")).toBe(g.hex);
    expect(equals(schema, decodeStrict(schema, bytesOf(g.hex)), message)).toBe(true);
  });

  it("should decode and re-encode byte-exact in the firmware's decoder", async () => {
    const answers = await throughC(golden.map((g) => ({ name: g.name, bytes: bytesOf(g.hex) })));
    answers.forEach((answer, i) => {
      expect(answer, golden[i]!.case).toEqual({ ok: true, bytes: bytesOf(golden[i]!.hex) });
    });
  });
});

describe("malformed vectors", () => {
  it.each(malformed.map((m) => [m.why, m] as const))("should refuse %s", (_, m) => {
    expect(() => decodeStrict(schemaOf(m.name), bytesOf(m.hex))).toThrow(MalformedMessageError);
  });

  it("should be refused by the firmware's decoder too", async () => {
    const answers = await throughC(malformed.map((m) => ({ name: m.name, bytes: bytesOf(m.hex) })));
    answers.forEach((answer, i) => expect(answer.ok, malformed[i]!.why).toBe(false));
  });

  it("should name the reason for a truncated tag", () => {
    expect(() => decodeStrict(schemaOf("UpdateStatus"), bytesOf("9fea"))).toThrow(
      "malformed meshota.v1.UpdateStatus: truncated varint at byte 2",
    );
  });

  it("should name the field and bound of an oversize string", () => {
    const m = malformed.find((x) => x.why.startsWith("ssid of 33"))!;
    expect(() => decodeStrict(schemaOf(m.name), bytesOf(m.hex))).toThrow(
      "malformed meshota.v1.CredentialsSet: meshota.v1.CredentialsSet.ssid is 33 bytes, over its bound of 32 at byte 2",
    );
  });
});
