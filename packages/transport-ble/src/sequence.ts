// Sequence numbers that survive restarts. A block of numbers is reserved in the store before any
// of them is used, so after a crash the next run starts past everything that could have been
// sent: a sequence number is never used twice under one IV index.
import { SequenceError } from "./errors.js";

/** What the store keeps for one local address. */
export interface SequenceRecord {
  /** IV index the numbers belong to. */
  readonly ivIndex: number;
  /** First sequence number not yet reserved (every number below it may have been used). */
  readonly next: number;
}

/** Persistent storage of sequence records, keyed by our unicast address. */
export interface SequenceStore {
  load(address: number): Promise<SequenceRecord | undefined>;
  save(address: number, record: SequenceRecord): Promise<void>;
}

/** A store that forgets on exit; for tests and short-lived tools. */
export class MemorySequenceStore implements SequenceStore {
  readonly records = new Map<number, SequenceRecord>();

  async load(address: number): Promise<SequenceRecord | undefined> {
    return this.records.get(address);
  }

  async save(address: number, record: SequenceRecord): Promise<void> {
    this.records.set(address, { ...record });
  }
}

/** The largest 24-bit sequence number. */
export const SEQ_MAX = 0xffffff;

export interface SequenceAllocatorOptions {
  /** Numbers reserved per store write. Default 256. */
  readonly blockSize: number;
}

const DEFAULTS: SequenceAllocatorOptions = Object.freeze({ blockSize: 256 });

/** Hands out sequence numbers for one local address, reserving them ahead in a store. */
export class SequenceAllocator {
  private ivIndex = 0;
  private epochValue = 0;
  private next = 0;
  private reservedUntil = 0;
  private reserving: Promise<void> | undefined;
  private readonly options: SequenceAllocatorOptions;

  private constructor(
    private readonly store: SequenceStore,
    private readonly address: number,
    options: Partial<SequenceAllocatorOptions>,
  ) {
    this.options = { ...DEFAULTS, ...options };
    if (!Number.isInteger(this.options.blockSize) || this.options.blockSize < 1) {
      throw new RangeError(`sequence block size ${this.options.blockSize} is not a positive integer`);
    }
  }

  /**
   * Opens the allocator for `address` at `ivIndex`. Numbers stored under an older IV index are
   * discarded (a new IV index starts at 0); a stored newer IV index is kept and reported.
   */
  static async open(store: SequenceStore, address: number, ivIndex: number, options: Partial<SequenceAllocatorOptions> = {}): Promise<SequenceAllocator> {
    const a = new SequenceAllocator(store, address, options);
    let record: SequenceRecord | undefined;
    try {
      record = await store.load(address);
    } catch (cause) {
      throw new SequenceError(`cannot read the sequence store for 0x${address.toString(16).padStart(4, "0")}`, { cause });
    }
    if (record && (!Number.isInteger(record.next) || record.next < 0 || record.next > SEQ_MAX + 1 || !Number.isInteger(record.ivIndex) || record.ivIndex < 0 || record.ivIndex > 0xffffffff)) {
      throw new SequenceError(`stored sequence record ${JSON.stringify(record)} is invalid`);
    }
    if (record && record.ivIndex >= ivIndex) {
      a.ivIndex = record.ivIndex;
      a.next = record.next;
    } else {
      a.ivIndex = ivIndex;
      a.next = 0;
    }
    a.reservedUntil = a.next;
    return a;
  }

  /** IV index the numbers are for. */
  get currentIvIndex(): number {
    return this.ivIndex;
  }

  /** The next number that would be handed out. */
  get peek(): number {
    return this.next;
  }

  /** Numbers left before the IV index must change. */
  get remaining(): number {
    return SEQ_MAX + 1 - this.next;
  }

  /**
   * Counts the restarts of the numbering (one per setIvIndex that moved the IV index). A number
   * allocated under one epoch must be sent with the IV index of that epoch.
   */
  get epoch(): number {
    return this.epochValue;
  }

  /**
   * Moves to a newer IV index; sequence numbers restart at 0. The switch happens at once, in the
   * same turn as the call, so a caller that moves its transmit IV index in that turn never pairs
   * it with a number of the other IV index.
   */
  async setIvIndex(ivIndex: number): Promise<void> {
    if (ivIndex <= this.ivIndex) return;
    this.ivIndex = ivIndex;
    this.epochValue++;
    this.next = 0;
    this.reservedUntil = 0;
    await this.allocateReserve(1);
  }

  /**
   * Allocates `count` consecutive sequence numbers and returns the first. With `epoch`, throws
   * a SequenceError instead when the IV index has moved past that epoch meanwhile.
   */
  async allocate(count = 1, epoch?: number): Promise<number> {
    await this.allocateReserve(count);
    if (epoch !== undefined && epoch !== this.epochValue) {
      throw new SequenceError(`the IV index changed to ${this.ivIndex}; numbers of the previous one are no longer handed out`);
    }
    if (this.next + count > SEQ_MAX + 1) {
      throw new SequenceError(`sequence numbers exhausted at IV index ${this.ivIndex}; an IV update is needed`);
    }
    const first = this.next;
    this.next += count;
    return first;
  }

  /** Waits until `count` numbers from `next` are reserved in the store under the current IV index. */
  private async allocateReserve(count: number): Promise<void> {
    if (this.next + count > SEQ_MAX + 1) {
      throw new SequenceError(`sequence numbers exhausted at IV index ${this.ivIndex}; an IV update is needed`);
    }
    while (this.next + count > this.reservedUntil) await this.reserve(count);
  }

  private async reserve(count: number): Promise<void> {
    if (this.reserving) return this.reserving;
    const epoch = this.epochValue;
    const until = Math.min(SEQ_MAX + 1, Math.max(this.next + count, this.reservedUntil) + this.options.blockSize);
    const record = { ivIndex: this.ivIndex, next: until };
    const reserving: Promise<void> = this.store.save(this.address, record).then(
      () => {
        // A reservation written for an IV index that has since been left reserves nothing now.
        if (epoch === this.epochValue) this.reservedUntil = until;
        if (this.reserving === reserving) this.reserving = undefined;
      },
      (cause: unknown) => {
        if (this.reserving === reserving) this.reserving = undefined;
        throw new SequenceError(`cannot reserve sequence numbers in the store`, { cause });
      },
    );
    this.reserving = reserving;
    return reserving;
  }
}
