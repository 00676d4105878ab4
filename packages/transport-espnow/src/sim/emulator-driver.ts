// Couples the simulated medium with nodes of the C node emulator (firmware/host/emulator,
// driven through @meshota/emulator): the real node core as ESP-NOW receiver and relay.
// Time moves in lockstep: the medium runs `stepMs` of virtual time, the frames it delivered
// go to the emulator, the emulator advances its clocks by the same `stepMs`, and the frames
// the nodes sent meanwhile are put on air from their stations.
import { BROADCAST_MAC, isBroadcast } from "../mac.js";
import type { EspNowMedium, SimStation } from "./medium.js";

/** ESP-NOW frame kind of the emulator socket (@meshota/emulator FrameKind.EspNow). */
const KIND_ESPNOW = 2;

/** What the driver needs of an @meshota/emulator Emulator (structural, no dependency). */
export interface EmulatorLike {
  readonly inbox: { node: number; kind: number; peer: number; payload: Uint8Array }[];
  sendEspNow(node: number, frame: Uint8Array, from: number): void;
  advance(ms: number): Promise<number>;
}

/** The emulator's MAC of mesh address `address`: 02:00:00:00:hi:lo. */
export function emulatorMac(address: number): Uint8Array {
  return new Uint8Array([0x02, 0, 0, 0, (address >> 8) & 0xff, address & 0xff]);
}

function peerOf(mac: Uint8Array): number {
  return isBroadcast(mac) ? 0xffff : (mac[4]! << 8) | mac[5]!;
}

/** Counters of the coupling. */
export interface EmulatorDriverStats {
  /** Frames handed to emulated nodes. */
  delivered: number;
  /** Frames emulated nodes sent on ESP-NOW. */
  transmitted: number;
  /** Frames dropped because the node's station had a full transmit queue. */
  txQueueFull: number;
}

/** Drives emulated nodes on a medium. */
export class EmulatorDriver {
  readonly stats: EmulatorDriverStats = { delivered: 0, transmitted: 0, txQueueFull: 0 };
  #medium: EspNowMedium;
  #emu: EmulatorLike;
  #stepMs: number;
  #nodes = new Map<number, SimStation>();
  #pending: { node: number; from: number; payload: Uint8Array }[] = [];

  constructor(medium: EspNowMedium, emulator: EmulatorLike, options: { stepMs?: number } = {}) {
    this.#medium = medium;
    this.#emu = emulator;
    this.#stepMs = options.stepMs ?? 10;
  }

  /**
   * Puts emulated node `address` on the medium: adds its station (MAC 02:00:00:00:hi:lo).
   * The node itself must already exist in the emulator.
   */
  attach(address: number, options: { channel: number; position?: { x: number; y: number }; maxPayload?: number }): SimStation {
    const station = this.#medium.addStation({ mac: emulatorMac(address), ...options });
    station.onReceive((src, payload) => this.#pending.push({ node: address, from: peerOf(src), payload: new Uint8Array(payload) }));
    this.#nodes.set(address, station);
    return station;
  }

  /** Runs medium and emulator together until `until()` holds or `limitMs` of virtual time pass. */
  async run(until: () => boolean, limitMs: number): Promise<void> {
    const scheduler = this.#medium.scheduler;
    const end = scheduler.now() + limitMs;
    while (!until()) {
      if (scheduler.now() >= end) throw new Error(`the simulation did not finish within ${limitMs} ms of virtual time`);
      scheduler.runUntil(scheduler.now() + this.#stepMs);
      for (const p of this.#pending.splice(0)) {
        this.#emu.sendEspNow(p.node, p.payload, p.from);
        this.stats.delivered++;
      }
      await this.#emu.advance(this.#stepMs);
      this.#collect();
    }
  }

  /** Runs medium and emulator together for `ms` of virtual time. */
  async advance(ms: number): Promise<void> {
    const end = this.#medium.scheduler.now() + ms;
    await this.run(() => this.#medium.scheduler.now() >= end, ms + this.#stepMs);
  }

  #collect(): void {
    const inbox = this.#emu.inbox;
    for (let i = 0; i < inbox.length; ) {
      const f = inbox[i]!;
      const station = f.kind === KIND_ESPNOW ? this.#nodes.get(f.node) : undefined;
      if (!station) {
        i++;
        continue;
      }
      inbox.splice(i, 1);
      this.stats.transmitted++;
      const dst = f.peer === 0xffff ? BROADCAST_MAC : emulatorMac(f.peer);
      if (!station.send(dst, f.payload)) this.stats.txQueueFull++;
    }
  }
}
