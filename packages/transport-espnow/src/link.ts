// What the distributor needs from an ESP-NOW radio: the bridge dongle, a simulated station, or
// a relay node. Callback based so that one engine runs on real time and on virtual time.

/** Outcome of one ESP-NOW send as the radio reports it. */
export type SendOutcome =
  /** Broadcast left the radio, or a unicast frame was acknowledged by the peer. */
  | "sent"
  /** Unicast frame not acknowledged after the radio's retries. */
  | "no-ack"
  /** The radio or the bridge refused or lost the frame. */
  | "failed";

/** One ESP-NOW radio. */
export interface EspNowLink {
  /** Our own MAC address. */
  readonly mac: Uint8Array;
  /** Largest ESP-NOW payload: 250 (v1) or up to 1470 (v2). */
  readonly maxPayload: number;
  /**
   * Queues one frame to `dst` (ff:ff:ff:ff:ff:ff broadcasts). Returns false, queuing nothing,
   * when the radio has no free transmit slot; `onWritable` fires once one frees.
   */
  send(dst: Uint8Array, payload: Uint8Array, done?: (outcome: SendOutcome) => void): boolean;
  /** Sets the one listener called whenever a transmit slot frees. */
  onWritable(listener: (() => void) | undefined): void;
  /** Sets the one listener of received frames. */
  onReceive(listener: ((src: Uint8Array, payload: Uint8Array) => void) | undefined): void;
}

/** Time for the engines: real timers, or the simulator's virtual clock. */
export interface Timers {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  /** Calls `fn` after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Timers on the process clock (setTimeout). */
export const realTimers: Timers = Object.freeze({
  now: () => performance.now(),
  setTimer(ms: number, fn: () => void): () => void {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
});

/**
 * Shares one radio between several engines (a relay node's receiver and its distributor):
 * every view sees every received frame and every freed transmit slot; sends go to the radio.
 */
export function shareLink(link: EspNowLink, views: number): EspNowLink[] {
  const receive: (((src: Uint8Array, payload: Uint8Array) => void) | undefined)[] = new Array(views).fill(undefined);
  const writable: ((() => void) | undefined)[] = new Array(views).fill(undefined);
  link.onReceive((src, payload) => {
    for (const fn of receive) fn?.(src, payload);
  });
  link.onWritable(() => {
    for (const fn of writable) fn?.();
  });
  return receive.map((_, i) => ({
    mac: link.mac,
    maxPayload: link.maxPayload,
    send: (dst, payload, done) => link.send(dst, payload, done),
    onWritable: (fn) => {
      writable[i] = fn;
    },
    onReceive: (fn) => {
      receive[i] = fn;
    },
  }));
}
