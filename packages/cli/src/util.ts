import { CliError } from "./io.js";

/** Equality of two public byte arrays (not constant-time; never use on secrets). */
export function bytesEqualPublic(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A commander option parser: a number from `min` to `max`, or a CliError naming the option. */
export function numberOption(name: string, min: number, max: number, integer = true) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw new CliError(`${name} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, got "${text}"`);
    }
    return v;
  };
}
