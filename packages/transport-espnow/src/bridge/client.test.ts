// The host end against a fake dongle written from the protocol description (the C dongle is
// exercised in bridge.e2e.test.ts).
import { describe, expect, it } from "vitest";
import { ErrorCode } from "@meshota/proto";
import { startDistribution, type DistributionResult } from "../distributor.js";
import { Scheduler } from "../sim/scheduler.js";
import { BridgeClient, openSerialBridge, type ByteStream } from "./client.js";
import { BridgeError } from "./errors.js";
import { Deframer, frameToWire } from "./framing.js";
import { MsgType } from "./messages.js";

interface FakeOptions {
  version?: number;
  slots?: number;
  /** Drop the dongle's n-th outgoing frame (0-based). */
  dropOut?: number[];
  silent?: boolean;
  /** Report every SEND as sent right after its ACK. */
  autoSent?: boolean;
  /** Stop answering after this many commands. */
  dieAfter?: number;
  /** Restart right after answering every HELLO (a dongle in a boot loop). */
  restartAfterHello?: boolean;
}

class FakeDongle implements ByteStream {
  sends: { seq: number; dst: number[]; payload: number[] }[] = [];
  queue: number[] = [];
  outCount = 0;
  seq = 0;
  lastSeq = -1;
  lastReply: Uint8Array | undefined;
  /** A HELLO came since start-up. */
  session = false;
  channel = 1;
  hellos = 0;
  #listener: ((d: Uint8Array) => void) | undefined;
  #deframer = new Deframer();
  constructor(
    readonly sched: Scheduler,
    readonly o: FakeOptions = {},
  ) {}
  write(data: Uint8Array): void {
    for (const body of this.#deframer.push(data)) this.sched.setTimer(1, () => this.#handle(body));
  }
  onData(l: (d: Uint8Array) => void): void {
    this.#listener = l;
  }
  onClose(): void {}
  async close(): Promise<void> {}
  emit(type: number, fields: number[]): void {
    const n = this.outCount++;
    const body = Uint8Array.from([type, this.seq++ & 0xff, ...fields]);
    if (this.o.dropOut?.includes(n)) return;
    const wire = frameToWire(body);
    this.sched.setTimer(1, () => this.#listener?.(wire));
  }
  free(): number {
    return (this.o.slots ?? 4) - this.queue.length;
  }
  /** A reset with the port left open: no session, empty queue, start-up channel. */
  restart(): void {
    this.session = false;
    this.lastSeq = -1;
    this.queue = [];
    this.channel = 1;
    this.seq = 0;
  }
  completeOne(outcome = 0): void {
    const seq = this.queue.shift()!;
    this.emit(MsgType.SENT, [seq, outcome, this.free()]);
  }
  handled = 0;
  #handle(body: Uint8Array): void {
    if (this.o.silent || (this.o.dieAfter !== undefined && this.handled >= this.o.dieAfter)) return;
    this.handled++;
    const [type, seq] = [body[0]!, body[1]!];
    if (type === MsgType.HELLO) {
      this.session = true;
      this.lastSeq = seq;
      this.hellos++;
      if (this.o.restartAfterHello && this.hellos > 1) this.sched.setTimer(2, () => this.restart());
      return this.emit(MsgType.HELLO_ACK, [this.o.version ?? 1, 1, 250, 0, 2, 0, 0, 0, 0, 9, 6, this.o.slots ?? 4, seq]);
    }
    if (seq === this.lastSeq) return this.emit(MsgType.ACK, [seq, 0, this.free()]);
    this.lastSeq = seq;
    if (!this.session) return this.emit(MsgType.ACK, [seq, 5, this.free()]);
    if (type === MsgType.SEND) {
      if (this.queue.length >= (this.o.slots ?? 4)) return this.emit(MsgType.ACK, [seq, 1, 0]);
      this.sends.push({ seq, dst: [...body.subarray(2, 8)], payload: [...body.subarray(8)] });
      this.queue.push(seq);
      this.emit(MsgType.ACK, [seq, 0, this.free()]);
      if (this.o.autoSent) this.completeOne();
      return;
    }
    if (type === MsgType.SET_CHANNEL) {
      if (body[2]! <= 14) this.channel = body[2]!;
      return this.emit(MsgType.ACK, [seq, body[2]! <= 14 ? 0 : 3, this.free()]);
    }
  }
}

async function connect(sched: Scheduler, dongle: FakeDongle): Promise<BridgeClient> {
  const p = BridgeClient.connect(dongle, { timers: sched });
  sched.run({ limitMs: sched.now() + 5000 });
  return p;
}

describe("BridgeClient", () => {
  it("should read the dongle's HELLO_ACK", async () => {
    const sched = new Scheduler();
    const client = await connect(sched, new FakeDongle(sched));
    expect(client.maxPayload).toBe(250);
    expect([...client.mac]).toEqual([2, 0, 0, 0, 0, 9]);
    expect(client.info.channel).toBe(6);
    expect(client.freeSlots).toBe(4);
  });

  it("should refuse a dongle of another protocol version", async () => {
    const sched = new Scheduler();
    const err = await connect(sched, new FakeDongle(sched, { version: 2 })).catch((e: unknown) => e);
    expect(BridgeError.isInstance(err) && err.reason).toBe("version");
    expect((err as Error).message).toBe("the bridge speaks protocol version 2, this host speaks 1");
  });

  it("should refuse a dongle announcing no transmit slots (no send could ever start)", async () => {
    const sched = new Scheduler();
    const err = await connect(sched, new FakeDongle(sched, { slots: 0 })).catch((e: unknown) => e);
    expect(BridgeError.isInstance(err) && err.reason).toBe("refused");
    expect((err as Error).message).toBe("the bridge announced no transmit slots");
  });

  it("should give up with a timeout when the dongle never answers", async () => {
    const sched = new Scheduler();
    const err = await connect(sched, new FakeDongle(sched, { silent: true })).catch((e: unknown) => e);
    expect(BridgeError.isInstance(err) && err.reason).toBe("timeout");
    expect((err as Error).message).toBe("no answer from the bridge to command 0x1 after 4 attempts");
  });

  it("should send a command again when its ACK is lost, and the dongle executes it once", async () => {
    const sched = new Scheduler();
    // Frame 0 is HELLO_ACK, frame 1 the first ACK: lose it.
    const dongle = new FakeDongle(sched, { dropOut: [1] });
    const client = await connect(sched, dongle);
    const outcomes: string[] = [];
    expect(client.send(new Uint8Array(6).fill(0xff), Uint8Array.of(1, 2, 3), (o) => outcomes.push(o))).toBe(true);
    sched.run({ limitMs: sched.now() + 1000 });
    expect(dongle.sends).toHaveLength(1);
    expect(dongle.sends[0]!.payload).toEqual([1, 2, 3]);
    expect(client.stats.retransmits).toBe(1);
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 1000 });
    expect(outcomes).toEqual(["sent"]);
  });

  it("should take a SENT for the unacknowledged SEND as its ACK (the ACK was lost on the UART)", async () => {
    const sched = new Scheduler();
    // Frame 0 is HELLO_ACK, frame 1 the ACK of the SEND: lost; frame 2 its SENT arrives.
    const dongle = new FakeDongle(sched, { dropOut: [1], autoSent: true });
    const client = await connect(sched, dongle);
    const outcomes: string[] = [];
    let writable = 0;
    client.onWritable(() => writable++);
    client.send(new Uint8Array(6).fill(0xff), Uint8Array.of(7), (o) => outcomes.push(o));
    sched.run({ limitMs: sched.now() + 5000 });
    expect(outcomes).toEqual(["sent"]);
    expect(client.stats.retransmits).toBe(0);
    expect(dongle.sends).toHaveLength(1);
    expect(client.freeSlots).toBe(4);
    expect(writable).toBe(1);
  });

  it("should not take the SENT of an older frame with the same sequence number for an ACK", async () => {
    const sched = new Scheduler();
    const dongle = new FakeDongle(sched);
    const client = await connect(sched, dongle);
    const outcomes: string[] = [];
    // The next SEND gets seq 1; a frame of an earlier host session, also numbered 1, is still
    // with the radio and completes just after the SEND arrives, before its ACK is written.
    const write = dongle.write.bind(dongle);
    dongle.write = (data) => {
      write(data);
      dongle.emit(MsgType.SENT, [1, 0, 4]);
    };
    client.send(new Uint8Array(6).fill(0xff), Uint8Array.of(9), (o) => outcomes.push(o));
    sched.run({ limitMs: sched.now() + 100 });
    expect(dongle.sends).toHaveLength(1);
    expect(outcomes).toEqual([]);
    dongle.write = write;
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 100 });
    expect(outcomes).toEqual(["sent"]);
  });

  it("should accept no more frames than the dongle has free slots, and resume on SENT", async () => {
    const sched = new Scheduler();
    const dongle = new FakeDongle(sched, { slots: 2 });
    const client = await connect(sched, dongle);
    const dst = new Uint8Array(6).fill(0xff);
    let writable = 0;
    client.onWritable(() => writable++);
    expect(client.send(dst, Uint8Array.of(1))).toBe(true);
    expect(client.send(dst, Uint8Array.of(2))).toBe(true);
    expect(client.send(dst, Uint8Array.of(3))).toBe(false);
    sched.run({ limitMs: sched.now() + 1000 });
    expect(client.freeSlots).toBe(0);
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 1000 });
    expect(client.freeSlots).toBe(1);
    expect(writable).toBeGreaterThan(0);
    expect(client.send(dst, Uint8Array.of(3))).toBe(true);
    sched.run({ limitMs: sched.now() + 1000 });
    expect(dongle.sends.map((s) => s.payload[0])).toEqual([1, 2, 3]);
  });

  it("should report a lost SENT as failed after its timeout", async () => {
    const sched = new Scheduler();
    const dongle = new FakeDongle(sched, { dropOut: [2] });
    const client = await connect(sched, dongle);
    const outcomes: string[] = [];
    client.send(new Uint8Array(6).fill(0xff), Uint8Array.of(1), (o) => outcomes.push(o));
    sched.run({ limitMs: sched.now() + 100 });
    dongle.completeOne(); // frame 2: lost
    sched.run({ limitMs: sched.now() + 5000 });
    expect(outcomes).toEqual(["failed"]);
  });

  it("should settle a frame whose SENT was lost as soon as the SENT of a later frame arrives", async () => {
    const sched = new Scheduler();
    // Dongle frames: 0 HELLO_ACK, 1-3 the ACKs, 4 the SENT of the first frame (lost).
    const dongle = new FakeDongle(sched, { dropOut: [4] });
    const client = await connect(sched, dongle);
    const outcomes: string[] = [];
    const dst = new Uint8Array(6).fill(0xff);
    for (const n of [1, 2, 3]) client.send(dst, Uint8Array.of(n), (o) => outcomes.push(`${n}:${o}`));
    sched.run({ limitMs: sched.now() + 100 });
    const t0 = sched.now();
    dongle.completeOne();
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 50 });
    expect(outcomes).toEqual(["1:failed", "2:sent"]);
    expect(sched.now() - t0).toBeLessThan(100);
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 50 });
    expect(outcomes).toEqual(["1:failed", "2:sent", "3:sent"]);
  });

  it("should refuse a channel outside 1-14 before asking the dongle", async () => {
    const sched = new Scheduler();
    const client = await connect(sched, new FakeDongle(sched));
    await expect(client.setChannel(15)).rejects.toThrow("Wi-Fi channel is 1-14, got 15");
    const p = client.setChannel(11);
    sched.run({ limitMs: sched.now() + 1000 });
    await p;
    expect(client.info.channel).toBe(11);
  });
});

describe("distribution over a bridge that stops answering", () => {
  it("should end with ERROR_CODE_NETWORK for every pending target instead of stalling", async () => {
    const sched = new Scheduler();
    const dongle = new FakeDongle(sched, { autoSent: true, dieAfter: 6 });
    const client = await connect(sched, dongle);
    let result: DistributionResult | undefined;
    const targets = [Uint8Array.of(2, 0, 0, 0, 0, 1), Uint8Array.of(2, 0, 0, 0, 0, 2)];
    startDistribution(client, sched, { sessionId: 9, image: new Uint8Array(232 * 10), targets }, (r) => (result = r));
    sched.run({ until: () => result !== undefined, limitMs: sched.now() + 60_000 });
    expect(result).toBeDefined();
    expect(result!.targets.map((t) => [t.error, t.reason])).toEqual([
      [ErrorCode.NETWORK, "the radio failed: no answer from the bridge to command 0x3 after 4 attempts"],
      [ErrorCode.NETWORK, "the radio failed: no answer from the bridge to command 0x3 after 4 attempts"],
    ]);
    expect(dongle.sends).toHaveLength(5); // HELLO was the first command
  });
});

describe("a dongle whose transmit queue is full", () => {
  // Two frames of an earlier host session still fill the dongle's two slots: HELLO_ACK says 2
  // are free, so the first SEND is answered BUSY.
  async function busyDongle(sched: Scheduler, o: FakeOptions = {}): Promise<{ dongle: FakeDongle; client: BridgeClient }> {
    const dongle = new FakeDongle(sched, { slots: 2, ...o });
    const client = await connect(sched, dongle);
    dongle.queue.push(200, 201);
    return { dongle, client };
  }

  it("should ask again when the SENT that frees a slot is lost on the UART", async () => {
    const sched = new Scheduler();
    // Dongle frames: 0 HELLO_ACK, 1 ACK BUSY, 2 SENT of frame 200 (lost).
    const { dongle, client } = await busyDongle(sched, { dropOut: [2] });
    const outcomes: string[] = [];
    client.send(new Uint8Array(6).fill(0xff), Uint8Array.of(5), (o) => outcomes.push(o));
    sched.run({ limitMs: sched.now() + 50 });
    expect(client.stats.busy).toBe(1);
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 1000 });
    expect(dongle.sends.map((x) => x.payload)).toEqual([[5]]);
    dongle.completeOne();
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 100 });
    expect(outcomes).toEqual(["sent"]);
  });

  it("should give the link up when the dongle's radio finishes no frame, and the distribution ends with that reason", async () => {
    const sched = new Scheduler();
    const { dongle, client } = await busyDongle(sched);
    let result: DistributionResult | undefined;
    startDistribution(client, sched, { sessionId: 9, image: new Uint8Array(232 * 4), targets: [Uint8Array.of(2, 0, 0, 0, 0, 1)] }, (r) => (result = r));
    sched.run({ until: () => result !== undefined, limitMs: sched.now() + 60_000 });
    expect(result!.targets.map((t) => [t.error, t.reason])).toEqual([
      [ErrorCode.NETWORK, "the radio failed: the bridge's transmit queue stayed full for over 3000 ms: its radio finishes no frame"],
    ]);
    expect(dongle.sends).toHaveLength(0);
    expect(sched.now()).toBeLessThan(10_000);
  });
});

describe("a dongle that restarts under an open port", () => {
  it("should say HELLO again, set the channel again and repeat the command; frames it held fail at once", async () => {
    const sched = new Scheduler();
    const dongle = new FakeDongle(sched);
    const client = await connect(sched, dongle);
    const ch = client.setChannel(6);
    sched.run({ limitMs: sched.now() + 100 });
    await ch;
    const dst = new Uint8Array(6).fill(0xff);
    const outcomes: string[] = [];
    client.send(dst, Uint8Array.of(1), (o) => outcomes.push(`1:${o}`));
    client.send(dst, Uint8Array.of(2), (o) => outcomes.push(`2:${o}`));
    sched.run({ limitMs: sched.now() + 100 });
    expect(dongle.queue).toHaveLength(2);
    const restartedAt = sched.now();
    dongle.restart();
    client.send(dst, Uint8Array.of(3), (o) => outcomes.push(`3:${o}`));
    sched.run({ limitMs: sched.now() + 100 });
    expect(sched.now() - restartedAt).toBeLessThan(3000);
    expect(outcomes).toEqual(["1:failed", "2:failed"]);
    expect(dongle.channel).toBe(6);
    expect(dongle.hellos).toBe(2);
    expect(client.stats.restarts).toBe(1);
    expect(dongle.sends.map((x) => x.payload[0])).toEqual([1, 2, 3]);
    dongle.completeOne();
    sched.run({ limitMs: sched.now() + 100 });
    expect(outcomes).toEqual(["1:failed", "2:failed", "3:sent"]);
    expect(client.info.channel).toBe(6);
    expect(client.freeSlots).toBe(4);
  });

  it("should give the link up, with the reason, when the dongle restarts again and again", async () => {
    const sched = new Scheduler();
    const dongle = new FakeDongle(sched, { autoSent: true, restartAfterHello: true });
    const client = await connect(sched, dongle);
    dongle.restart();
    let result: DistributionResult | undefined;
    startDistribution(client, sched, { sessionId: 9, image: new Uint8Array(232 * 4), targets: [Uint8Array.of(2, 0, 0, 0, 0, 1)] }, (r) => (result = r));
    sched.run({ until: () => result !== undefined, limitMs: sched.now() + 60_000 });
    expect(result!.targets.map((t) => [t.error, t.reason])).toEqual([[ErrorCode.NETWORK, "the radio failed: the bridge restarted 4 times during one command"]]);
    expect(client.stats.restarts).toBe(4);
  });
});

describe("openSerialBridge", () => {
  it("should say which port cannot be opened", async () => {
    const err = await openSerialBridge("/dev/meshota-no-such-port").catch((e: unknown) => e);
    expect(BridgeError.isInstance(err) && err.reason).toBe("unavailable");
    expect((err as Error).message).toMatch(/^cannot open \/dev\/meshota-no-such-port: /);
  });
});
