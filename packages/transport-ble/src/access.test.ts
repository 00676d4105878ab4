import { describe, expect, it } from "vitest";
import { hex, toHex } from "./bytes.js";
import { decodeAccessPayload, encodeAccessPayload } from "./access.js";

describe("access opcodes", () => {
  it.each([
    // Access payloads of sample data 8.3.6 (1-octet opcode), 8.3.16 (2-octet opcode) and
    // 8.3.21 (vendor opcode 0x15 of company 0x000a), and a meshota UpdateGet.
    ["00563412", { kind: "sig", value: 0x00 }, "563412"],
    ["800300563412", { kind: "sig", value: 0x8003 }, "00563412"],
    ["d50a0048656c6c6f", { kind: "vendor", opcode: 0x15, company: 0x000a }, "48656c6c6f"],
    ["c4e502", { kind: "vendor", opcode: 0x04, company: 0x02e5 }, ""],
  ])("should decode %s", (payload, opcode, params) => {
    const d = decodeAccessPayload(hex(payload));
    if (typeof d === "string") throw new Error(d);
    expect(d.opcode).toEqual(opcode);
    expect(toHex(d.params)).toBe(params);
    expect(toHex(encodeAccessPayload(d.opcode, d.params))).toBe(payload);
  });

  it.each([
    ["", "empty access payload"],
    ["7f", "opcode 0x7f is reserved"],
    ["80", "2-octet opcode is truncated"],
    ["c1e5", "vendor opcode is truncated"],
  ])("should reject %j", (payload, reason) => {
    expect(decodeAccessPayload(hex(payload))).toBe(reason);
  });

  it("should refuse a payload over 380 bytes", () => {
    expect(() => encodeAccessPayload({ kind: "vendor", opcode: 1, company: 0x02e5 }, new Uint8Array(378))).toThrow("access payload of 381 bytes is over 380");
  });
});
