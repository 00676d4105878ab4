// docs/protocol.md lists every vendor message with its opcode, class and worst case; this keeps
// that table true to the schema.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { VENDOR_MESSAGES } from "./index.js";

const doc = readFileSync(join(__dirname, "../../../docs/protocol.md"), "utf8");

describe("docs/protocol.md", () => {
  it("should list every vendor message with the schema's opcode, class and worst case", () => {
    const table = doc.slice(doc.indexOf("<!-- opcode-table:start -->"), doc.indexOf("<!-- opcode-table:end -->"));
    const rows = table
      .split("\n")
      .filter((l) => /^\| 0x/.test(l))
      .map((l) => l.split("|").map((c) => c.trim()));
    expect(rows.map((r) => ({ opcode: Number(r[1]), name: r[2], budget: r[4], maxSize: Number(r[5]) }))).toEqual(
      VENDOR_MESSAGES.map((e) => ({ opcode: e.opcode, name: e.name, budget: e.budget, maxSize: e.maxSize })),
    );
  });
});
