// A ControlTransport over the node emulator (firmware/host/emulator), which runs the real C
// node core, and a driver that moves the distributor's virtual clock and the emulator's clock
// together in small steps.
import { Emulator, FrameKind } from "@meshota/emulator";
import type { VendorFrame } from "@meshota/proto";
import type { VirtualClock } from "../src/clock.js";
import { TransportError } from "../src/errors.js";
import type { ControlTransport, IncomingMessage, MeshAddress, TransportInfo } from "../src/transport.js";

class Queue {
  items: IncomingMessage[] = [];
  wake: (() => void) | undefined;
  closed = false;
}

/** The controller at mesh address `address`, talking to emulated nodes. */
export class EmulatorTransport implements ControlTransport {
  readonly info: TransportInfo = { name: "emulator", mtu: 377, reliable: false, groups: false };
  readonly #queues = new Set<Queue>();
  /** Every frame sent, for assertions. */
  readonly sent: { dst: MeshAddress; frame: VendorFrame }[] = [];
  /** Return true to lose a frame (`toNode` tells the direction). */
  lose: ((frame: VendorFrame, toNode: boolean) => boolean) | undefined;
  #closed = false;

  constructor(readonly emu: Emulator, readonly address: MeshAddress = 0x0001) {}

  async send(dst: MeshAddress, frame: VendorFrame): Promise<void> {
    if (this.#closed) throw new TransportError("closed", "the emulator transport is closed");
    this.sent.push({ dst, frame });
    if (this.lose?.(frame, true)) return;
    this.emu.sendMeshRaw(dst, frame.opcode, frame.params, this.address);
  }

  /** Moves the nodes' mesh frames from the emulator's inbox to the receivers. */
  pump(): void {
    const inbox = this.emu.inbox;
    for (let i = 0; i < inbox.length; ) {
      const f = inbox[i]!;
      if (f.kind !== FrameKind.Mesh || f.peer !== this.address) {
        i++;
        continue;
      }
      inbox.splice(i, 1);
      const message = { src: f.node, dst: f.peer, frame: { opcode: f.payload[0]!, params: f.payload.slice(1) } };
      if (this.lose?.(message.frame, false)) continue;
      for (const q of this.#queues) {
        q.items.push(message);
        q.wake?.();
      }
    }
  }

  messages(signal?: AbortSignal): AsyncIterable<IncomingMessage> {
    const q = new Queue();
    this.#queues.add(q);
    const stop = () => {
      q.closed = true;
      this.#queues.delete(q);
      q.wake?.();
    };
    signal?.addEventListener("abort", stop, { once: true });
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = q.items.shift();
          if (next) {
            yield next;
            continue;
          }
          if (q.closed) return;
          await new Promise<void>((resolve) => (q.wake = resolve));
          q.wake = undefined;
        }
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const q of [...this.#queues]) {
      q.closed = true;
      q.wake?.();
    }
    this.#queues.clear();
  }
}

/**
 * Runs `promise` to completion, advancing the emulator and the distributor's clock together
 * by `stepMs` at a time. The emulator processes every frame sent before an advance, so a
 * reply is delivered within one step.
 */
export async function drive<T>(
  promise: Promise<T>,
  clock: VirtualClock,
  transport: EmulatorTransport,
  options: { stepMs?: number; limitMs?: number; onStep?: (now: number) => Promise<void> | void } = {}
): Promise<T> {
  const step = options.stepMs ?? 50;
  const limit = clock.now() + (options.limitMs ?? 3_600_000);
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true)
  );
  while (!settled) {
    await transport.emu.advance(step);
    transport.pump();
    await clock.advance(step);
    await options.onStep?.(clock.now());
    if (clock.now() > limit) throw new Error(`emulated run did not finish within ${options.limitMs} ms`);
  }
  return promise;
}
