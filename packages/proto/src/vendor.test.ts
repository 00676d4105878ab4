import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  decodeVendor,
  encodeVendor,
  encodeVendorInit,
  fitsUnsegmented,
  fromAccessPayload,
  ManifestSchema,
  MeshotaProtoError,
  MessageTooLargeError,
  Opcode,
  Phase,
  toAccessPayload,
  UnknownOpcodeError,
  UpdateStartSchema,
  UpdateStatusSchema,
  VENDOR_MESSAGES,
} from "./index.js";

describe("vendor messages", () => {
  it("should give every control message a distinct 6-bit opcode", () => {
    const opcodes = VENDOR_MESSAGES.map((e) => e.opcode);
    expect(new Set(opcodes).size).toBe(opcodes.length);
    expect(opcodes.every((op) => op >= 0 && op <= 0x3f)).toBe(true);
    expect(Opcode.UpdateStart).toBe(0x03);
    expect(Opcode.DataFrame).toBe(0x10);
  });

  it("should encode by message type and decode by opcode", () => {
    const status = create(UpdateStatusSchema, { phase: Phase.RECEIVING, bytesDone: 1000, percent: 3 });
    const frame = encodeVendor(status);
    expect(frame.opcode).toBe(Opcode.UpdateStatus);
    expect(Buffer.from(frame.params).toString("hex")).toBe("080218e8072003");
    const back = decodeVendor(frame);
    expect(back.$typeName).toBe("meshota.v1.UpdateStatus");
    expect(back).toEqual(status);
  });

  it("should build a message by name", () => {
    const frame = encodeVendorInit("UpdateCancel", { sessionId: 42 });
    expect(frame).toEqual({ opcode: 0x06, params: new Uint8Array([0x08, 42]) });
  });

  it("should put the opcode and company ID on air, company little-endian", () => {
    const payload = toAccessPayload({ opcode: Opcode.UpdateGet, params: new Uint8Array() });
    expect(Array.from(payload)).toEqual([0xc4, 0xe5, 0x02]);
    expect(Array.from(toAccessPayload({ opcode: 0x3f, params: new Uint8Array([1]) }, 0x1234))).toEqual([0xff, 0x34, 0x12, 1]);
    const frame = fromAccessPayload(new Uint8Array([0xc5, 0xe5, 0x02, 0x08, 0x02]));
    expect(frame.opcode).toBe(Opcode.UpdateStatus);
    expect(Array.from(frame.params)).toEqual([0x08, 0x02]);
  });

  it("should refuse another company's opcode, a SIG opcode, and a short payload", () => {
    expect(() => fromAccessPayload(new Uint8Array([0xc5, 0x59, 0x00]))).toThrow(
      "unknown meshota vendor opcode 0x05 (company 0x0059, expected 0x02e5)",
    );
    expect(() => fromAccessPayload(new Uint8Array([0x82, 0x04, 0x00]))).toThrow(UnknownOpcodeError);
    expect(() => fromAccessPayload(new Uint8Array([0xc5, 0xe5]))).toThrow("2 bytes is shorter than a vendor opcode");
    expect(() => toAccessPayload({ opcode: 0x40, params: new Uint8Array() })).toThrow("vendor opcode 64 is not 6 bits");
  });

  it("should refuse an unknown opcode on decode", () => {
    expect(() => decodeVendor({ opcode: 0x2a, params: new Uint8Array() })).toThrow("unknown meshota vendor opcode 0x2a");
  });

  it("should refuse parameters longer than one segmented access payload, naming message and size", () => {
    const params = new Uint8Array(378);
    try {
      decodeVendor({ opcode: Opcode.DataFrame, params });
      expect.unreachable();
    } catch (e) {
      expect(MessageTooLargeError.isInstance(e)).toBe(true);
      expect((e as Error).message).toBe("DataFrame encodes to 378 bytes; one segmented access payload holds at most 377");
    }
  });

  it("should tell when a message travels unsegmented", () => {
    expect(fitsUnsegmented(encodeVendorInit("UpdateStatus", { phase: Phase.RECEIVING, bytesDone: 1_572_000, percent: 99 }))).toBe(true);
    expect(fitsUnsegmented(encodeVendorInit("UpdateStatus", { phase: Phase.FAILED, error: 15, bytesDone: 1_572_000, percent: 99 }))).toBe(false);
  });

  it("should round-trip the largest possible UpdateStart within the budget", () => {
    const start = create(UpdateStartSchema, {
      sessionId: 0xffffffff,
      manifest: {
        imageSize: 0xffffffff,
        imageSha256: new Uint8Array(32).fill(0xff),
        version: "v".repeat(31),
        projectName: "n".repeat(31),
        secureVersion: 0xffffffff,
        chipId: 0xffffffff,
        minChipRev: 0xffffffff,
        maxChipRev: 0xffffffff,
      },
      signature: new Uint8Array(64).fill(0xff),
      allowSameVersion: true,
      allowOtherProject: true,
      method: { case: "wifi", value: { url: "u".repeat(111), serverCertSha256: new Uint8Array(32).fill(1) } },
    });
    const frame = encodeVendor(start);
    expect(frame.params.length).toBe(359);
    expect(decodeVendor(frame)).toEqual(start);
  });
});

describe("misuse by callers", () => {
  it("should name a value that is not a vendor message instead of printing opcode 0x-1", () => {
    expect(() => encodeVendor({} as never)).toThrow(new MeshotaProtoError("a value without $typeName is not a meshota vendor message"));
    expect(() => encodeVendor(null as never)).toThrow("a value without $typeName is not a meshota vendor message");
    expect(() => encodeVendor(create(ManifestSchema, {}) as never)).toThrow("meshota.v1.Manifest is not a meshota vendor message");
  });

  it("should refuse parameters that are not bytes", () => {
    expect(() => decodeVendor({ opcode: 5, params: "0801" as never })).toThrow(
      "malformed meshota.v1.UpdateStatus: parameters are not a Uint8Array",
    );
    expect(decodeVendor({ opcode: 5, params: Buffer.from("0801", "hex") })).toMatchObject({ phase: 1 });
  });
});
