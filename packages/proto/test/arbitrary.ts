// fast-check arbitraries for any meshota message, derived from the schema and the nanopb
// bounds: every generated message is valid and within bounds, so both codecs must accept it.
import { create, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import fc from "fast-check";
import { FIELD_BOUNDS } from "../src/index.js";

const utf8 = new TextEncoder();

/** A string of at most `maxBytes` UTF-8 bytes, any code point but NUL. */
function boundedString(maxBytes: number): fc.Arbitrary<string> {
  return fc.string({ unit: "binary", maxLength: maxBytes }).map((s) => {
    let out = "";
    let used = 0;
    for (const ch of s.replace(/\u0000/g, "")) {
      const n = utf8.encode(ch).length;
      if (used + n > maxBytes) break;
      out += ch;
      used += n;
    }
    return out;
  });
}

const uint32 = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 16383, 16384, 0x7fffffff, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);

function scalarArbitrary(field: DescField, typeName: string): fc.Arbitrary<unknown> {
  const bound = FIELD_BOUNDS[typeName]?.[field.localName];
  switch (field.scalar) {
    case ScalarType.UINT32:
      return uint32;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return boundedString(bound!.max - 1);
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: bound!.max });
    default:
      throw new Error(`${typeName}.${field.name}: no arbitrary for scalar ${field.scalar}`);
  }
}

function valueArbitrary(field: DescField, typeName: string, depth: number): fc.Arbitrary<unknown> {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "message") return messageArbitrary(field.message!, depth + 1);
  if (kind === "enum") return fc.constantFrom(...field.enum!.values.map((v) => v.number));
  return scalarArbitrary(field, typeName);
}

/** Valid messages of `schema`, with sub-messages and oneof members present or not. */
export function messageArbitrary(schema: DescMessage, depth = 0): fc.Arbitrary<Message> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) {
    if (field.oneof) continue;
    if (field.fieldKind === "list") {
      const bound = FIELD_BOUNDS[schema.typeName]?.[field.localName];
      parts[field.localName] = fc.array(valueArbitrary(field, schema.typeName, depth), { maxLength: bound!.max });
    } else if (field.fieldKind === "message") {
      parts[field.localName] = fc.option(valueArbitrary(field, schema.typeName, depth), { nil: undefined });
    } else {
      parts[field.localName] = valueArbitrary(field, schema.typeName, depth);
    }
  }
  for (const oneof of schema.oneofs) {
    parts[oneof.localName] = fc.oneof(
      fc.constant({ case: undefined }),
      ...oneof.fields.map((f) =>
        valueArbitrary(f, schema.typeName, depth).map((value) => ({ case: f.localName, value })),
      ),
    );
  }
  return fc.record(parts).map((init) => create(schema, init as never) as Message);
}
