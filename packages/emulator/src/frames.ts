// Frames of the emulator socket: u32 LE length of what follows | u16 LE node | u8 kind |
// u16 LE peer | payload. docs/firmware.md, "Node emulator", is the reference.

/** What a frame carries. */
export const FrameKind = {
  /** Mesh vendor message: payload is the 6-bit opcode then the parameters. */
  Mesh: 1,
  /** ESP-NOW: payload is one DataFrame. */
  EspNow: 2,
  /** Bytes of the node's TCP connection. */
  TcpData: 3,
  /** Node asks for a TCP connection; payload is "host:port". */
  TcpOpen: 4,
  /** Client tells the node its connection is up. */
  TcpConnected: 5,
  /** Either side closes the node's connection. */
  TcpClose: 6,
  /** Node asks for its image stream; payload "<offset> <url>", peer the stream's number. */
  StreamOpen: 7,
  /** Client sends image bytes of stream `peer`, from the requested offset on. */
  StreamData: 8,
  /** Client ends stream `peer`: empty payload at the image's end, else why it failed. */
  StreamEnd: 9,
  /** Node closes stream `peer`. */
  StreamClose: 10,
  /** Node starts ESP-NOW; payload: channel (u8), then the 6-byte MAC of its one peer or nothing
   *  for any (see {@link decodeEspNowBegin}). */
  EspNowBegin: 11,
  /** Node's ESP-NOW is off (espnow_end, or its power went): it hears nothing. */
  EspNowEnd: 12,
  /** Text command to the emulator. */
  Command: 16,
  /** Text answer to a command: "ok ..." or "error ...". */
  Reply: 17,
  /** Text notice from the emulator, such as "restarted 0100 phase=6". */
  Event: 18,
  /** Virtual time (u64 LE, ms) at which the node frames that follow were sent. */
  Clock: 19,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** One frame of the emulator socket. */
export interface EmulatorFrame {
  /** Node the frame is for or from (0 for commands, replies and events). */
  node: number;
  kind: FrameKind;
  /** The other side: sender of frames to a node, destination of frames from a node
   *  (0xffff: ESP-NOW broadcast). */
  peer: number;
  payload: Uint8Array;
  /** Virtual time (ms) at which a node sent it, from the emulator's last Clock frame (set by
   *  {@link Emulator} on received node frames). */
  at?: number;
}

/** The offset and URL of a StreamOpen payload. */
export function decodeStreamOpen(payload: Uint8Array): { offset: number; url: string } {
  const text = new TextDecoder().decode(payload);
  const m = /^(\d+) (.*)$/s.exec(text);
  if (!m) throw new RangeError(`stream open "${text}" is not "<offset> <url>"`);
  return { offset: Number(m[1]), url: m[2]! };
}

/** The channel and the peer MAC (undefined: any) of an EspNowBegin payload. */
export function decodeEspNowBegin(payload: Uint8Array): { channel: number; peerMac: Uint8Array | undefined } {
  if (payload.length !== 1 && payload.length !== 7) {
    throw new RangeError(`ESP-NOW begin of ${payload.length} bytes is not a channel and an optional 6-byte MAC`);
  }
  return { channel: payload[0]!, peerMac: payload.length === 7 ? payload.slice(1) : undefined };
}

/** Largest payload the emulator accepts. */
export const MAX_PAYLOAD = 4096;
const HEADER = 9;

/** Encodes one frame. */
export function encodeEmulatorFrame(frame: EmulatorFrame): Uint8Array {
  if (frame.payload.length > MAX_PAYLOAD) {
    throw new RangeError(`emulator frame payload of ${frame.payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(HEADER + frame.payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 5 + frame.payload.length, true);
  view.setUint16(4, frame.node, true);
  out[6] = frame.kind;
  view.setUint16(7, frame.peer, true);
  out.set(frame.payload, HEADER);
  return out;
}

/** Reassembles frames from a byte stream split or coalesced in any way. */
export class EmulatorFrameReader {
  private buf = new Uint8Array(0);

  /** Adds received bytes and returns every frame they complete. */
  push(chunk: Uint8Array): EmulatorFrame[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    const frames: EmulatorFrame[] = [];
    let at = 0;
    while (merged.length - at >= 4) {
      const view = new DataView(merged.buffer, merged.byteOffset + at);
      const len = view.getUint32(0, true);
      if (len < 5 || len > MAX_PAYLOAD + 5) {
        throw new RangeError(`emulator frame length ${len} is out of range (5..${MAX_PAYLOAD + 5})`);
      }
      if (merged.length - at < 4 + len) break;
      frames.push({
        node: view.getUint16(4, true),
        kind: merged[at + 6] as FrameKind,
        peer: view.getUint16(7, true),
        payload: merged.slice(at + HEADER, at + 4 + len),
      });
      at += 4 + len;
    }
    this.buf = merged.slice(at);
    return frames;
  }
}
