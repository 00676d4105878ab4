import { describe, expect, it } from "vitest";
import { parseRange } from "./range.js";

describe("parseRange", () => {
  it.each([
    [undefined, { kind: "whole" }],
    ["bytes=0-0", { kind: "partial", start: 0, end: 0 }],
    ["bytes=0-", { kind: "partial", start: 0, end: 999 }],
    ["bytes=100-", { kind: "partial", start: 100, end: 999 }],
    ["bytes=999-", { kind: "partial", start: 999, end: 999 }],
    ["bytes=100-199", { kind: "partial", start: 100, end: 199 }],
    ["bytes=100-5000", { kind: "partial", start: 100, end: 999 }],
    ["bytes=-1", { kind: "partial", start: 999, end: 999 }],
    ["bytes=-300", { kind: "partial", start: 700, end: 999 }],
    ["bytes=-5000", { kind: "partial", start: 0, end: 999 }],
    [" Bytes = 10 - 20 ", { kind: "partial", start: 10, end: 20 }],
    ["bytes=1000-", { kind: "unsatisfiable" }],
    ["bytes=1000-2000", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=20-10", { kind: "whole" }],
    ["bytes=0-1,5-6", { kind: "whole" }],
    ["items=0-1", { kind: "whole" }],
    ["bytes=abc-", { kind: "whole" }],
    ["bytes=1e3-", { kind: "whole" }],
    ["bytes=-", { kind: "whole" }],
    ["bytes=5", { kind: "whole" }],
    ["bytes=99999999999999999999-", { kind: "unsatisfiable" }],
    ["bytes=99999999999999999999-99999999999999999999", { kind: "unsatisfiable" }],
    ["bytes=0-99999999999999999999", { kind: "partial", start: 0, end: 999 }],
    ["bytes=500-184467440737095516160000", { kind: "partial", start: 500, end: 999 }],
    ["bytes=-99999999999999999999", { kind: "partial", start: 0, end: 999 }],
    ["bytes=9007199254740993-9007199254740992", { kind: "whole" }],
    ["", { kind: "whole" }],
  ])("should answer %j on 1000 bytes with %j", (header, answer) => {
    expect(parseRange(header, 1000)).toEqual(answer);
  });
});
