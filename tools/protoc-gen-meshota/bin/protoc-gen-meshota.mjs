#!/usr/bin/env node
// protoc-gen-meshota: reads the `vendor_opcode` and `budget` options and the nanopb .options
// bounds of the meshota schema, and writes one table for TypeScript (emit=ts) or C (emit=c),
// so that no opcode or bound is ever written twice by hand.
import { runNodeJs } from "@bufbuild/protoplugin";
import { createMeshotaPlugin } from "../src/plugin.mjs";

runNodeJs(createMeshotaPlugin());
