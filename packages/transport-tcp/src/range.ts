// HTTP Range requests (RFC 9110 section 14) for one image: single byte ranges only, which is what
// esp_https_ota and esp_http_client send (`bytes=0-0`, `bytes=N-`, `bytes=N-M`).

/** How to answer a request with this Range header. */
export type RangeAnswer =
  /** No usable Range: send the whole image with 200 (absent, invalid or several ranges). */
  | { readonly kind: "whole" }
  /** Send bytes start..end (inclusive) with 206. */
  | { readonly kind: "partial"; readonly start: number; readonly end: number }
  /** No byte of the range exists: 416 with `Content-Range: bytes *\/size`. */
  | { readonly kind: "unsatisfiable" };

const WHOLE: RangeAnswer = Object.freeze({ kind: "whole" });
const UNSATISFIABLE: RangeAnswer = Object.freeze({ kind: "unsatisfiable" });
const DIGITS = /^\d+$/;

/**
 * A decimal position. Numbers beyond 2^53 are still positions (past the end of any image), so
 * they come back as Infinity rather than as "not a number": a start that large is
 * unsatisfiable, an end that large means "to the end".
 */
const number = (text: string): number | undefined => {
  if (!DIGITS.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : Infinity;
};

/**
 * Interprets a Range header against an image of `size` bytes. A header that does not parse,
 * uses another unit or asks for several ranges is ignored (RFC 9110 lets a server ignore
 * Range), so the client gets the whole image with 200 and knows it from the status.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return WHOLE;
  const match = /^\s*bytes\s*=\s*(.*?)\s*$/i.exec(header);
  if (!match || match[1]!.includes(",")) return WHOLE;
  const dash = match[1]!.indexOf("-");
  if (dash < 0) return WHOLE;
  const first = match[1]!.slice(0, dash).trim();
  const last = match[1]!.slice(dash + 1).trim();
  if (first === "") {
    // Suffix range: the last N bytes.
    const n = number(last);
    if (n === undefined) return WHOLE;
    if (n === 0 || size === 0) return UNSATISFIABLE;
    return { kind: "partial", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = number(first);
  if (start === undefined) return WHOLE;
  let end = size - 1;
  if (last !== "") {
    const e = number(last);
    // An end before the start makes the header invalid (ignored); two huge positions are
    // compared exactly.
    if (e === undefined || e < start || (e === Infinity && start === Infinity && BigInt(last) < BigInt(first))) return WHOLE;
    end = Math.min(e, size - 1);
  }
  if (start >= size) return UNSATISFIABLE;
  return { kind: "partial", start, end };
}
