import { create, type DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  CredentialsSetSchema,
  decodeFrame,
  decodeStrict,
  encodeFrame,
  encodeStrict,
  FieldBoundError,
  InfoStatusSchema,
  MalformedMessageError,
  MessageTooLargeError,
  RelayStartSchema,
  UpdateStartSchema,
  UpdateStatusSchema,
  BEARER_FRAME_MAX,
  chunkSizeFor,
} from "./index.js";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

describe("bounds on encode", () => {
  const cases: Array<[string, DescMessage, object, string]> = [
    ["ssid", CredentialsSetSchema, { ssid: "s".repeat(33) }, "meshota.v1.CredentialsSet.ssid is 33 bytes, over its bound of 32"],
    ["password", CredentialsSetSchema, { password: "p".repeat(65) }, "meshota.v1.CredentialsSet.password is 65 bytes, over its bound of 64"],
    ["multi-byte text", InfoStatusSchema, { version: "é".repeat(16) }, "meshota.v1.InfoStatus.version is 32 bytes, over its bound of 31"],
    ["nested url", UpdateStartSchema, { method: { case: "wifi", value: { url: "u".repeat(112) } } }, "meshota.v1.WifiMethod.url is 112 bytes, over its bound of 111"],
    ["signature", UpdateStartSchema, { signature: new Uint8Array(65) }, "meshota.v1.UpdateStart.signature is 65 bytes, over its bound of 64"],
    ["targets", RelayStartSchema, { targets: Array.from({ length: 33 }, (_, i) => i + 1) }, "meshota.v1.RelayStart.targets is 33 elements, over its bound of 32"],
  ];

  it.each(cases)("should refuse an oversize %s", (_, schema, init, text) => {
    const message = create(schema, init as never);
    expect(() => encodeStrict(schema, message)).toThrow(FieldBoundError);
    expect(() => encodeStrict(schema, message)).toThrow(text);
  });

  it("should accept fields exactly at their bound", () => {
    const bytes = encodeStrict(CredentialsSetSchema, create(CredentialsSetSchema, { ssid: "s".repeat(32), password: "p".repeat(64) }));
    expect(bytes.length).toBe(2 + 32 + 2 + 64);
  });
});

describe("strict decode", () => {
  it("should accept an enum value above 2^31, as nanopb decodes enums without negative values as unsigned", () => {
    // Found by the mutation round trip: a 5-byte enum varint that fits uint32 but not int32.
    const status = decodeStrict(UpdateStatusSchema, hex("08eeb888b50d"));
    expect(status.phase).toBe(0xd6a21c6e | 0);
    expect(() => decodeStrict(UpdateStatusSchema, hex("0880808080 10".replace(" ", "")))).toThrow(MalformedMessageError);
  });

  it("should skip unknown fields of every wire type nanopb skips", () => {
    // field 15 varint, field 14 fixed64, field 13 length-delimited, field 12 fixed32, then phase
    const status = decodeStrict(UpdateStatusSchema, hex("7801" + "71" + "00".repeat(8) + "6a0161" + "65" + "00".repeat(4) + "0802"));
    expect(status.phase).toBe(2);
  });

  it("should refuse a known field sent with the wrong wire type, naming it", () => {
    expect(() => decodeStrict(UpdateStatusSchema, hex("0a0102"))).toThrow(
      "malformed meshota.v1.UpdateStatus: meshota.v1.UpdateStatus.phase has wire type 2, expected 0 at byte 0",
    );
  });

  it("should accept packed and unpacked repeated fields alike", () => {
    const packed = decodeStrict(RelayStartSchema, hex("1203020304"));
    const unpacked = decodeStrict(RelayStartSchema, hex("100210031004"));
    expect(packed.targets).toEqual([2, 3, 4]);
    expect(unpacked.targets).toEqual([2, 3, 4]);
  });

  it("should refuse strings with bytes that are not UTF-8", () => {
    expect(() => decodeStrict(InfoStatusSchema, hex("1202c328"))).toThrow("meshota.v1.InfoStatus.version is not valid UTF-8");
  });
});

describe("data-plane frames", () => {
  it("should fill an ESP-NOW v1 frame exactly with the largest chunk", () => {
    const size = chunkSizeFor(BEARER_FRAME_MAX.espnowV1);
    expect(size).toBe(232);
    const bytes = encodeFrame({ body: { case: "chunk", value: { sessionId: 0xffffffff, index: 0xffffffff, data: new Uint8Array(size) } } }, BEARER_FRAME_MAX.espnowV1);
    expect(bytes.length).toBe(BEARER_FRAME_MAX.espnowV1);
    expect(decodeFrame(bytes).body.case).toBe("chunk");
  });

  it("should refuse a frame that does not fit the bearer, naming its kind and size", () => {
    expect(() =>
      encodeFrame({ body: { case: "chunk", value: { sessionId: 1, index: 1, data: new Uint8Array(400) } } }, BEARER_FRAME_MAX.mesh),
    ).toThrow(new MessageTooLargeError("DataFrame(chunk)", 410, 377, "the bearer").message);
  });

  it("should keep an empty oneof member present", () => {
    const bytes = encodeFrame({ body: { case: "done", value: {} } });
    expect(Buffer.from(bytes).toString("hex")).toBe("2a00");
    expect(decodeFrame(bytes).body.case).toBe("done");
  });
});
