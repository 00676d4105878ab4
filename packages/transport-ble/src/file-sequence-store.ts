// A sequence store in a JSON file, for Node. Each save writes a temporary file and renames it
// over the old one, so a crash mid-write leaves the previous reservation, never a torn file.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { SequenceError } from "./errors.js";
import type { SequenceRecord, SequenceStore } from "./sequence.js";

interface FileShape {
  readonly version: 1;
  readonly addresses: Record<string, SequenceRecord>;
}

export class JsonFileSequenceStore implements SequenceStore {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  private async read(): Promise<FileShape> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, addresses: {} };
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new SequenceError(`sequence file ${this.path} is not valid JSON`, { cause });
    }
    const shape = parsed as Partial<FileShape>;
    if (typeof shape !== "object" || shape === null || shape.version !== 1 || typeof shape.addresses !== "object" || shape.addresses === null) {
      throw new SequenceError(`sequence file ${this.path} is not a version 1 sequence file`);
    }
    return shape as FileShape;
  }

  async load(address: number): Promise<SequenceRecord | undefined> {
    await this.chain;
    return (await this.read()).addresses[address.toString(16).padStart(4, "0")];
  }

  save(address: number, record: SequenceRecord): Promise<void> {
    const turn = this.chain.then(async () => {
      const file = await this.read();
      const next: FileShape = { version: 1, addresses: { ...file.addresses, [address.toString(16).padStart(4, "0")]: { ivIndex: record.ivIndex, next: record.next } } };
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.chain = turn.catch(() => undefined);
    return turn;
  }
}
