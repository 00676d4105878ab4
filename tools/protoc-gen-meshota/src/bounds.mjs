// nanopb bounds and worst-case encoded sizes, computed the way nanopb's generator computes
// its `<Message>_size` macros, so TypeScript and C agree on every limit.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ScalarType } from "@bufbuild/protobuf";

/**
 * Reads every `*.options` file under `dir` (recursively).
 * @returns {Map<string, {maxSize?: number, maxCount?: number}>} keyed by full field name
 */
export function readNanopbOptions(dir) {
  const bounds = new Map();
  for (const file of walk(dir).filter((f) => f.endsWith(".options"))) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((raw, i) => {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") return;
      const [name, ...opts] = line.split(/\s+/);
      const entry = bounds.get(name) ?? {};
      for (const opt of opts) {
        const m = /^(max_size|max_count):(\d+)$/.exec(opt);
        if (!m) throw new Error(`${file}:${i + 1}: unsupported nanopb option "${opt}"`);
        entry[m[1] === "max_size" ? "maxSize" : "maxCount"] = Number(m[2]);
      }
      bounds.set(name, entry);
    });
  }
  return bounds;
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Bytes a varint of value `v` takes. */
export function varintSize(v) {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

const SCALAR_MAX = {
  [ScalarType.UINT32]: 5,
  [ScalarType.INT32]: 10,
  [ScalarType.SINT32]: 5,
  [ScalarType.UINT64]: 10,
  [ScalarType.INT64]: 10,
  [ScalarType.SINT64]: 10,
  [ScalarType.BOOL]: 1,
  [ScalarType.FIXED32]: 4,
  [ScalarType.SFIXED32]: 4,
  [ScalarType.FLOAT]: 4,
  [ScalarType.FIXED64]: 8,
  [ScalarType.SFIXED64]: 8,
  [ScalarType.DOUBLE]: 8,
};

/**
 * The bound of one field, or throws when a string, bytes or repeated field has none.
 * @returns {{kind: "string"|"bytes"|"repeated"|"none", maxSize?: number, maxCount?: number}}
 */
export function fieldBound(field, bounds) {
  const b = bounds.get(field.parent.typeName + "." + field.name) ?? {};
  if (field.fieldKind === "list" || field.fieldKind === "map") {
    if (b.maxCount === undefined) throw new Error(`${field.parent.typeName}.${field.name}: repeated field has no max_count`);
    return { kind: "repeated", maxCount: b.maxCount };
  }
  if (field.fieldKind === "scalar" && field.scalar === ScalarType.STRING) {
    if (b.maxSize === undefined) throw new Error(`${field.parent.typeName}.${field.name}: string has no max_size`);
    return { kind: "string", maxSize: b.maxSize };
  }
  if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES) {
    if (b.maxSize === undefined) throw new Error(`${field.parent.typeName}.${field.name}: bytes has no max_size`);
    return { kind: "bytes", maxSize: b.maxSize };
  }
  return { kind: "none" };
}

/** Worst-case encoded size of a message, nanopb's algorithm. */
export function maxEncodedSize(message, bounds) {
  let total = 0;
  const oneofMax = new Map();
  for (const field of message.fields) {
    const size = maxFieldSize(field, bounds);
    if (field.oneof) {
      oneofMax.set(field.oneof, Math.max(oneofMax.get(field.oneof) ?? 0, size));
    } else {
      total += size;
    }
  }
  for (const size of oneofMax.values()) total += size;
  return total;
}

function maxFieldSize(field, bounds) {
  const bound = fieldBound(field, bounds);
  let value;
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  const scalar = field.scalar;
  if (kind === "message") {
    const sub = maxEncodedSize(field.message, bounds);
    value = sub + varintSize(sub);
  } else if (kind === "enum") {
    value = Math.max(...field.enum.values.map((v) => varintSize(v.number)));
  } else if (scalar === ScalarType.STRING) {
    const max = bound.maxSize;
    value = varintSize(max) + max - 1;
  } else if (scalar === ScalarType.BYTES) {
    const max = bound.maxSize;
    value = varintSize(max) + max;
  } else {
    value = SCALAR_MAX[scalar];
    if (value === undefined) throw new Error(`${field.parent.typeName}.${field.name}: unsupported scalar type`);
  }
  value += varintSize(field.number << 3);
  if (bound.kind === "repeated") {
    value *= bound.maxCount;
    if (bound.maxCount === 1) value += 1;
  }
  return value;
}
