import { describe, expect, it } from "vitest";
import { renderTimelineSvg } from "./timeline.js";

const change = (at: number, phase: number, relayPhase = 0) => ({ at, phase, error: 0, bytesDone: 0, version: "1", relayPhase });

describe("renderTimelineSvg", () => {
  it("should draw one bar per phase span, scaled to the end time, with relay bars and marks", () => {
    const svg = renderTimelineSvg(
      [
        { label: "0x0100 tcp", history: [change(0, 0), change(1000, 2), change(3000, 4, 1), change(4000, 7)], events: [{ at: 500, color: "#dc2626", title: "refused" }] },
        { label: "0x0101 <espnow>", history: [change(0, 0), change(2000, 9)] },
      ],
      { title: "t & t", endMs: 5000, marks: [{ at: 2500, label: "second pass" }] },
    );
    // Label column: 140 px at least; the plot is 900 px wide for 5000 ms.
    const bars = [...svg.matchAll(/<rect x="([\d.]+)" y="(\d+)" width="([\d.]+)" height="12" fill="(#[0-9a-f]{6})">/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
      Number(m[3]),
      m[4],
    ]);
    expect(bars).toEqual([
      [320, 42, 360, "#3b82f6"],
      [680, 42, 180, "#14b8a6"],
      [860, 42, 180, "#16a34a"],
      [500, 58, 540, "#dc2626"],
    ]);
    expect(svg).toContain('<rect x="680.0" y="51" width="180.0" height="3" fill="#7c3aed">');
    expect(svg).toContain("<title>0x0100 tcp: refused at 0.50 s</title>");
    expect(svg).toContain("0x0101 &lt;espnow&gt;");
    expect(svg).toContain(">t &amp; t</text>");
    expect(svg).toContain(">second pass</text>");
  });
});
