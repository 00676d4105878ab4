import { describe, expect, it } from "vitest";
import { SequenceError } from "./errors.js";
import { MemorySequenceStore, SequenceAllocator, type SequenceRecord, type SequenceStore } from "./sequence.js";

describe("SequenceAllocator", () => {
  it("should reserve a block before handing out numbers", async () => {
    const store = new MemorySequenceStore();
    const a = await SequenceAllocator.open(store, 0x0001, 5, { blockSize: 10 });
    expect(await a.allocate()).toBe(0);
    expect(store.records.get(1)).toEqual({ ivIndex: 5, next: 11 });
    expect(await a.allocate(3)).toBe(1);
    expect(await a.allocate(7)).toBe(4);
    expect(store.records.get(1)).toEqual({ ivIndex: 5, next: 11 });
    expect(await a.allocate()).toBe(11);
    expect(store.records.get(1)).toEqual({ ivIndex: 5, next: 22 });
  });

  it("should never reuse a number after a crash (restart from the reserved mark)", async () => {
    const store = new MemorySequenceStore();
    const first = await SequenceAllocator.open(store, 0x0001, 5, { blockSize: 100 });
    const used: number[] = [];
    for (let i = 0; i < 150; i++) used.push(await first.allocate());
    // The process dies here without any goodbye; a new run opens the same store.
    const second = await SequenceAllocator.open(store, 0x0001, 5, { blockSize: 100 });
    const next = await second.allocate();
    expect(next).toBeGreaterThan(Math.max(...used));
    // Reservations were [0, 101) then [101, 202): the next run starts at 202.
    expect(next).toBe(202);
  });

  it("should start at 0 under a newer IV index and keep a stored newer IV index", async () => {
    const store = new MemorySequenceStore();
    store.records.set(1, { ivIndex: 5, next: 1000 });
    const a = await SequenceAllocator.open(store, 1, 6);
    expect(a.currentIvIndex).toBe(6);
    expect(await a.allocate()).toBe(0);
    store.records.set(2, { ivIndex: 9, next: 40 });
    const b = await SequenceAllocator.open(store, 2, 6);
    expect(b.currentIvIndex).toBe(9);
    expect(await b.allocate()).toBe(40);
    await b.setIvIndex(10);
    expect(await b.allocate()).toBe(0);
    expect(store.records.get(2)?.ivIndex).toBe(10);
  });

  it("should hand out distinct numbers to concurrent callers", async () => {
    const a = await SequenceAllocator.open(new MemorySequenceStore(), 1, 0, { blockSize: 3 });
    const got = await Promise.all(Array.from({ length: 20 }, () => a.allocate()));
    expect(new Set(got).size).toBe(20);
    expect(Math.max(...got)).toBe(19);
  });

  it("should refuse when the 24-bit space is exhausted", async () => {
    const store = new MemorySequenceStore();
    store.records.set(1, { ivIndex: 0, next: 0xffffff });
    const a = await SequenceAllocator.open(store, 1, 0);
    expect(await a.allocate()).toBe(0xffffff);
    await expect(a.allocate()).rejects.toThrow("sequence numbers exhausted at IV index 0; an IV update is needed");
  });

  it("should fail cleanly when the store cannot be written, and hand out nothing unreserved", async () => {
    const failing: SequenceStore = {
      load: async () => undefined,
      save: async () => {
        throw new Error("disk full");
      },
    };
    const a = await SequenceAllocator.open(failing, 1, 0);
    const error = await a.allocate().catch((e: unknown) => e);
    expect(SequenceError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe("cannot reserve sequence numbers in the store");
    expect(a.peek).toBe(0);
  });

  it("should reject a corrupted record", async () => {
    const store: SequenceStore = { load: async () => ({ ivIndex: 0, next: -4 }) as SequenceRecord, save: async () => {} };
    await expect(SequenceAllocator.open(store, 1, 0)).rejects.toThrow('stored sequence record {"ivIndex":0,"next":-4} is invalid');
  });

  it.each([
    [{ ivIndex: 2 ** 32, next: 5 }, '{"ivIndex":4294967296,"next":5}'],
    [{ ivIndex: -1, next: 5 }, '{"ivIndex":-1,"next":5}'],
    [{ ivIndex: 3, next: 1.5 }, '{"ivIndex":3,"next":1.5}'],
    [{ ivIndex: "7", next: 5 }, '{"ivIndex":"7","next":5}'],
  ])("should reject a record with a value out of range: %j", async (record, text) => {
    // An IV index past 32 bits was kept as "newer" and every PDU went out under a wrong index.
    const store: SequenceStore = { load: async () => record as unknown as SequenceRecord, save: async () => {} };
    await expect(SequenceAllocator.open(store, 1, 0)).rejects.toThrow(`stored sequence record ${text} is invalid`);
  });
});

describe("SequenceAllocator across a change of IV index", () => {
  /** A store whose writes wait until released. */
  class HeldStore extends MemorySequenceStore {
    private held: (() => void)[] = [];
    override async save(address: number, record: { ivIndex: number; next: number }): Promise<void> {
      await new Promise<void>((resolve) => this.held.push(resolve));
      return super.save(address, record);
    }
    async releaseAll(): Promise<void> {
      for (let i = 0; i < 20 && this.held.length > 0; i++) {
        const h = this.held;
        this.held = [];
        for (const r of h) r();
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  }

  it("should switch at once and hand out no number that the store does not cover under its IV index", async () => {
    const store = new HeldStore();
    const opening = SequenceAllocator.open(store, 0x0101, 5, { blockSize: 4 });
    const a = await opening;
    const before = a.allocate(1, a.epoch).catch((e: unknown) => e); // waits on a write for IV index 5
    const moving = a.setIvIndex(6);
    expect([a.currentIvIndex, a.epoch, a.peek]).toEqual([6, 1, 0]);
    const after = a.allocate(1, a.epoch);
    await store.releaseAll();
    await moving;
    const refused = await before;
    expect(SequenceError.isInstance(refused)).toBe(true);
    expect((refused as Error).message).toBe("the IV index changed to 6; numbers of the previous one are no longer handed out");
    expect(await after).toBe(0);
    const record = store.records.get(0x0101)!;
    expect(record.ivIndex).toBe(6);
    expect(record.next).toBeGreaterThan(0);
  });
});
