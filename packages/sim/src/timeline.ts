// The campaign as a picture: an SVG with a row per node and its phases over virtual time.
import type { PhaseChange } from "./simulation.js";

/** Colours and names of meshota_v1_Phase values. */
export const PHASE_STYLE: Readonly<Record<number, { readonly name: string; readonly color: string }>> = Object.freeze({
  0: { name: "idle", color: "#e5e7eb" },
  1: { name: "starting", color: "#9ca3af" },
  2: { name: "receiving", color: "#3b82f6" },
  3: { name: "verifying", color: "#f59e0b" },
  4: { name: "verified", color: "#14b8a6" },
  5: { name: "applying", color: "#8b5cf6" },
  6: { name: "pending confirm", color: "#86efac" },
  7: { name: "confirmed", color: "#16a34a" },
  8: { name: "rolled back", color: "#f97316" },
  9: { name: "failed", color: "#dc2626" },
  10: { name: "cancelled", color: "#6b7280" },
});

/** One row of the timeline. */
export interface TimelineRow {
  /** Left-hand label, such as "0x0002 wifi". */
  readonly label: string;
  readonly history: readonly PhaseChange[];
  /** Moments to mark on the row, such as a refusal (a tick with a tooltip). */
  readonly events?: readonly { readonly at: number; readonly color: string; readonly title: string }[];
}

/** Colour of the thin bar drawn while a node relays the image to others. */
export const RELAY_COLOR = "#7c3aed";

/** Options of the picture. */
export interface TimelineOptions {
  readonly title: string;
  /** Right edge in virtual ms (default: the last change). */
  readonly endMs?: number;
  /** Vertical marks, such as the start of the second pass. */
  readonly marks?: readonly { readonly at: number; readonly label: string }[];
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function niceStep(span: number): number {
  const raw = span / 8;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
  return 10 * pow;
}

/** Renders the timeline as a standalone SVG document. */
export function renderTimelineSvg(rows: readonly TimelineRow[], options: TimelineOptions): string {
  const end = Math.max(1, options.endMs ?? Math.max(0, ...rows.flatMap((r) => r.history.map((h) => h.at))));
  const rowH = 16;
  const labelW = Math.max(140, 12 + 6.5 * Math.max(0, ...rows.map((r) => r.label.length)));
  const plotW = 900;
  const top = 40;
  const legendH = 40;
  const height = top + rows.length * rowH + 30 + legendH;
  const width = labelW + plotW + 20;
  const x = (t: number) => labelW + (Math.min(t, end) / end) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${labelW}" y="18" font-size="14" font-weight="bold">${escape(options.title)}</text>`);
  const step = niceStep(end);
  for (let t = 0; t <= end; t += step) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${top + rows.length * rowH}" stroke="#f3f4f6"/>`);
    out.push(`<text x="${px}" y="${top - 10}" text-anchor="middle" fill="#6b7280">${(t / 1000).toFixed(t % 1000 ? 1 : 0)} s</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 6}" y="${y + rowH - 4}" text-anchor="end">${escape(row.label)}</text>`);
    row.history.forEach((h, k) => {
      const next = row.history[k + 1]?.at ?? end;
      if (h.phase === 0 || next <= h.at) return;
      const style = PHASE_STYLE[h.phase] ?? { name: `phase ${h.phase}`, color: "#000000" };
      const w = Math.max(0.5, x(next) - x(h.at));
      out.push(
        `<rect x="${x(h.at).toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 4}" fill="${style.color}"><title>${escape(row.label)}: ${style.name} ${(h.at / 1000).toFixed(2)}-${(next / 1000).toFixed(2)} s${h.error ? ` error ${h.error}` : ""} (${escape(h.version)})</title></rect>`,
      );
    });
    row.history.forEach((h, k) => {
      const next = row.history[k + 1]?.at ?? end;
      if (h.relayPhase !== 1 || next <= h.at) return;
      out.push(
        `<rect x="${x(h.at).toFixed(1)}" y="${y + rowH - 5}" width="${Math.max(0.5, x(next) - x(h.at)).toFixed(1)}" height="3" fill="${RELAY_COLOR}"><title>${escape(row.label)}: relaying ${(h.at / 1000).toFixed(2)}-${(next / 1000).toFixed(2)} s</title></rect>`,
      );
    });
    for (const ev of row.events ?? []) {
      const px = x(ev.at);
      out.push(
        `<path d="M${(px - 4).toFixed(1)} ${y + 3} L${(px + 4).toFixed(1)} ${y + rowH - 3} M${(px + 4).toFixed(1)} ${y + 3} L${(px - 4).toFixed(1)} ${y + rowH - 3}" stroke="${ev.color}" stroke-width="2"><title>${escape(row.label)}: ${escape(ev.title)} at ${(ev.at / 1000).toFixed(2)} s</title></path>`,
      );
    }
  });
  for (const m of options.marks ?? []) {
    const px = x(m.at).toFixed(1);
    out.push(`<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${top + rows.length * rowH}" stroke="#111827" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${px}" y="${top + rows.length * rowH + 14}" text-anchor="middle">${escape(m.label)}</text>`);
  }
  const ly = top + rows.length * rowH + 30;
  let lx = labelW;
  for (const phase of [1, 2, 3, 4, 5, 6, 7, 9, 8]) {
    const s = PHASE_STYLE[phase]!;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${s.color}"/><text x="${lx + 16}" y="${ly + 10}">${s.name}</text>`);
    lx += 24 + s.name.length * 6.5;
  }
  out.push(`<rect x="${lx}" y="${ly + 9}" width="12" height="3" fill="${RELAY_COLOR}"/><text x="${lx + 16}" y="${ly + 10}">relaying</text>`);
  lx += 24 + 8 * 6.5;
  out.push(`<path d="M${lx} ${ly} L${lx + 10} ${ly + 12} M${lx + 10} ${ly} L${lx} ${ly + 12}" stroke="${PHASE_STYLE[9]!.color}" stroke-width="2"/><text x="${lx + 16}" y="${ly + 10}">refused</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
