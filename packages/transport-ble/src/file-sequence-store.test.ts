import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JsonFileSequenceStore } from "./file-sequence-store.js";
import { SequenceAllocator } from "./sequence.js";

describe("JsonFileSequenceStore", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshota-seq-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("should keep reservations across processes (a new store on the same file)", async () => {
    const path = join(dir, "nested", "seq.json");
    const a = await SequenceAllocator.open(new JsonFileSequenceStore(path), 0x7f00, 3, { blockSize: 50 });
    for (let i = 0; i < 60; i++) await a.allocate();
    const b = await SequenceAllocator.open(new JsonFileSequenceStore(path), 0x7f00, 3, { blockSize: 50 });
    // The first run reserved [0, 51) and [51, 102); the second starts at 102.
    expect(await b.allocate()).toBe(102);
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual({ version: 1, addresses: { "7f00": { ivIndex: 3, next: 153 } } });
  });

  it("should keep several addresses in one file", async () => {
    const store = new JsonFileSequenceStore(join(dir, "seq.json"));
    await Promise.all([store.save(1, { ivIndex: 0, next: 10 }), store.save(2, { ivIndex: 0, next: 20 })]);
    expect([await store.load(1), await store.load(2), await store.load(3)]).toEqual([{ ivIndex: 0, next: 10 }, { ivIndex: 0, next: 20 }, undefined]);
  });

  it("should refuse a corrupted file instead of starting over at 0", async () => {
    const path = join(dir, "seq.json");
    await writeFile(path, "{ truncated");
    await expect(new JsonFileSequenceStore(path).load(1)).rejects.toThrow(`sequence file ${path} is not valid JSON`);
    await writeFile(path, JSON.stringify({ addresses: {} }));
    await expect(new JsonFileSequenceStore(path).load(1)).rejects.toThrow(`sequence file ${path} is not a version 1 sequence file`);
  });
});
