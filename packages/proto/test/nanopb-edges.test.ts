// Inputs at the edges of nanopb's decoder where protobuf-es alone reads differently: both
// codecs must give the same verdict and, when they accept, re-encode to the same bytes.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  CredentialsSetSchema,
  decodeStrict,
  encodeStrict,
  InfoStatusSchema,
  MalformedMessageError,
  MeshotaProtoError,
  type Method,
  UpdateStartSchema,
  UpdateStatusSchema,
  VENDOR_MESSAGES,
} from "../src/index.js";
import { throughC } from "./c-peer.js";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const schemaOf = (name: string) => VENDOR_MESSAGES.find((e) => e.name === name)!.schema;

/** [message, input hex, canonical re-encoding ("" for empty) or null when refused, why] */
const edges: Array<[string, string, string | null, string]> = [
  ["UpdateStatus", "f8ffffff7f01", "", "tag sent as a sign-extended 5-byte varint (field 2^29-1), skipped"],
  ["UpdateStatus", "8880808080808080800001", "0801", "tag padded with 0x80 to 10 bytes"],
  ["UpdateStatus", "888080808080808080800001", null, "tag padded to 11 bytes"],
  ["UpdateStatus", "a806ffffffffffffffffffff01", "", "unknown varint field of 12 bytes, skipped whole"],
  ["UpdateStatus", "08ffffffff0f", "08ffffffff0f", "enum value 2^32-1 kept as a 5-byte uint32"],
  ["InfoStatus", "3a05ffffffff0f", "3a05ffffffff0f", "packed enum value 2^32-1"],
  ["InfoStatus", "588080808010", null, "bool of 2^32"],
  ["InfoStatus", "5880808080808080808001", null, "bool of 2^63"],
  ["InfoStatus", "58808080808080808002", null, "bool with bit 64"],
  ["InfoStatus", "58ffffffffffffffffff01", "5801", "bool of -1 sign-extended"],
  ["CredentialsSet", "1203610062", "120161", "string with a NUL inside: cut at the NUL"],
  ["CredentialsSet", "120200ff", "", "bytes after a NUL are not checked for UTF-8"],
  ["UpdateStart", "12031a0100", "1200", "nested string of one NUL"],
  ["CredentialsSet", "1201ff120161", "120161", "invalid UTF-8 replaced by a later value"],
  ["UpdateStart", "52030a01ff5a00", "5a00", "invalid UTF-8 in a oneof member replaced by another member"],
  ["UpdateStart", "52030a01ff5200", null, "invalid UTF-8 in a oneof member merged with itself"],
  ["UpdateStart", "52030a01ff5a005200", "5200", "oneof member switched away and back is cleared"],
  ["UpdateStart", "1a80808080808080808000", "", "length padded to 10 bytes"],
];

describe("nanopb's edges, on the TypeScript side", () => {
  it.each(edges)("%s %s gives %s: %s", (name, input, canonical, _why) => {
    const schema = schemaOf(name);
    if (canonical === null) {
      expect(() => decodeStrict(schema, hex(input))).toThrow(MalformedMessageError);
    } else {
      expect(toHex(encodeStrict(schema, decodeStrict(schema, hex(input)) as never))).toBe(canonical);
    }
  });
});

describe("nanopb's edges, against the firmware's decoder", () => {
  it("should give the verdicts and bytes the TypeScript side gives", async () => {
    const answers = await throughC(edges.map(([name, input]) => ({ name, bytes: hex(input) })));
    answers.forEach((answer, i) => {
      const [, input, canonical, why] = edges[i]!;
      const seen = answer.ok ? toHex(answer.bytes) : null;
      expect({ input, why, seen }).toEqual({ input, why, seen: canonical });
    });
  });
});

describe("values nanopb cannot hold", () => {
  it("should refuse to encode a string with a NUL, which the firmware would cut short", () => {
    const message = create(CredentialsSetSchema, { ssid: "home\u0000guest" });
    expect(() => encodeStrict(CredentialsSetSchema, message)).toThrow(MeshotaProtoError);
    expect(() => encodeStrict(CredentialsSetSchema, message)).toThrow(
      "malformed meshota.v1.CredentialsSet: meshota.v1.CredentialsSet.ssid contains NUL, where the firmware's strings end",
    );
  });

  it("should refuse a NUL in a nested string too", () => {
    const message = create(UpdateStartSchema, { manifest: { version: "1.0\u0000" } });
    expect(() => encodeStrict(UpdateStartSchema, message)).toThrow("meshota.v1.Manifest.version contains NUL");
  });

  it("should send an enum value past 2^31 as the 5-byte uint32 nanopb reads", async () => {
    const status = decodeStrict(UpdateStatusSchema, hex("08ffffffff0f"));
    expect(status.phase).toBe(-1);
    const bytes = encodeStrict(UpdateStatusSchema, status);
    expect(toHex(bytes)).toBe("08ffffffff0f");
    const info = encodeStrict(InfoStatusSchema, create(InfoStatusSchema, { methods: [1, -2 as Method] }));
    expect(toHex(info)).toBe("3a0601feffffff0f");
    const [c] = await throughC([{ name: "InfoStatus", bytes: info }]);
    expect(c).toEqual({ ok: true, bytes: info });
  });
});
