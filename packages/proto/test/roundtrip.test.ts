// Random round trips between the TypeScript codec and the firmware's nanopb codec: valid
// messages survive TS -> C -> TS byte-exact, and mutated bytes get the same verdict on both
// sides.
import { equals, type Message } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeStrict, encodeStrict, VENDOR_MESSAGES } from "../src/index.js";
import { messageArbitrary } from "./arbitrary.js";
import { throughC } from "./c-peer.js";

const PER_TYPE = 1000;
const SEED = Number(process.env.MESHOTA_SEED ?? 20261203);

describe("random round trips through the firmware codec", () => {
  it.each(VENDOR_MESSAGES.map((e) => [e.name, e] as const))(
    "should carry %s through C and back unchanged",
    async (_, entry) => {
      const messages = fc.sample(messageArbitrary(entry.schema), { numRuns: PER_TYPE, seed: SEED + entry.opcode });
      const encoded = messages.map((m) => encodeStrict(entry.schema, m as never));
      const answers = await throughC(encoded.map((bytes) => ({ name: entry.name, bytes })));
      expect(answers).toHaveLength(PER_TYPE);
      answers.forEach((answer, i) => {
        if (!answer.ok) throw new Error(`C refused ${Buffer.from(encoded[i]!).toString("hex")}: ${answer.error}`);
        expect(Buffer.from(answer.bytes).toString("hex")).toBe(Buffer.from(encoded[i]!).toString("hex"));
        const back = decodeStrict(entry.schema, answer.bytes) as Message;
        expect(equals(entry.schema, back as never, messages[i] as never)).toBe(true);
      });
    },
    30_000,
  );
});

/** Bytes of a valid message with one random edit: truncate, flip, insert or delete bytes. */
function mutated(schema: (typeof VENDOR_MESSAGES)[number]["schema"]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(messageArbitrary(schema), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }))
    .map(([message, at, byte, how]) => {
      const bytes = Array.from(encodeStrict(schema, message as never));
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (how === 0) bytes.length = i;
      else if (how === 1 && bytes.length > 0) bytes[i] = bytes[i]! ^ (1 << (byte % 8));
      else if (how === 2) bytes.splice(i, 0, byte);
      else bytes.splice(i, 1);
      return new Uint8Array(bytes);
    });
}

describe("malformed input gets the same verdict on both sides", () => {
  it.each(VENDOR_MESSAGES.map((e) => [e.name, e] as const))(
    "should agree on mutated %s",
    async (_, entry) => {
      const inputs = fc.sample(mutated(entry.schema), { numRuns: 500, seed: SEED ^ (entry.opcode << 8) });
      const answers = await throughC(inputs.map((bytes) => ({ name: entry.name, bytes })));
      answers.forEach((answer, i) => {
        let tsVerdict: string = "ok";
        let tsBytes = "";
        try {
          tsBytes = Buffer.from(encodeStrict(entry.schema, decodeStrict(entry.schema, inputs[i]!) as never)).toString("hex");
        } catch (e) {
          tsVerdict = (e as Error).message;
        }
        const hex = Buffer.from(inputs[i]!).toString("hex");
        expect({ hex, ts: tsVerdict === "ok", c: answer.ok }, `${tsVerdict} / ${answer.ok ? "ok" : answer.error}`).toEqual({
          hex,
          ts: answer.ok,
          c: answer.ok,
        });
        // Accepted bytes must mean the same message on both sides.
        if (answer.ok) expect({ hex, bytes: tsBytes }).toEqual({ hex, bytes: Buffer.from(answer.bytes).toString("hex") });
      });
    },
    30_000,
  );
});
