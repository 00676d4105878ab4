// Network PDU encryption, obfuscation and their inverse (Mesh Protocol 3.4.4, 3.9.7).
import { be16, be24, be32, concat, readBe16, readBe24 } from "./bytes.js";
import { aesEncryptBlock, ccmDecrypt, ccmEncrypt } from "./crypto.js";
import type { NetworkKey } from "./keys.js";

/** Smallest and largest network PDU (header 9 bytes + 1..16 transport bytes + MIC). */
export const NETWORK_PDU_MIN = 14;
export const NETWORK_PDU_MAX = 29;

/** Which nonce protects a network PDU: ordinary traffic, or proxy configuration messages. */
export type NonceKind = "network" | "proxy";

/** The clear fields of a network PDU. */
export interface NetworkHeader {
  readonly ivIndex: number;
  /** True for transport control messages (64-bit NetMIC). */
  readonly ctl: boolean;
  readonly ttl: number;
  readonly seq: number;
  readonly src: number;
  readonly dst: number;
}

/** A decrypted network PDU. */
export interface NetworkMessage extends NetworkHeader {
  /** Lower transport PDU (1-16 bytes). */
  readonly transportPdu: Uint8Array;
  /** Key that decrypted it. */
  readonly netKey: NetworkKey;
}

/** Network nonce (type 0x00) or proxy nonce (type 0x03), 13 bytes. */
export function networkNonce(kind: NonceKind, header: Pick<NetworkHeader, "ctl" | "ttl" | "seq" | "src" | "ivIndex">): Uint8Array {
  const first = kind === "network" ? Uint8Array.of(0x00, (header.ctl ? 0x80 : 0) | header.ttl) : Uint8Array.of(0x03, 0x00);
  return concat(first, be24(header.seq), be16(header.src), Uint8Array.of(0, 0), be32(header.ivIndex));
}

function privacyBlock(netKey: NetworkKey, ivIndex: number, encrypted: Uint8Array): Uint8Array {
  // Privacy Random = the first 7 bytes of EncDST || EncTransportPDU || NetMIC.
  const block = concat(new Uint8Array(5), be32(ivIndex), encrypted.subarray(0, 7));
  return aesEncryptBlock(netKey.privacyKey, block);
}

function checkHeader(h: NetworkHeader, transportPdu: Uint8Array): void {
  if (!Number.isInteger(h.ttl) || h.ttl < 0 || h.ttl > 127) throw new RangeError(`TTL ${h.ttl} is not 0-127`);
  if (!Number.isInteger(h.seq) || h.seq < 0 || h.seq > 0xffffff) throw new RangeError(`SEQ ${h.seq} is not 24 bits`);
  if (!Number.isInteger(h.src) || h.src < 0 || h.src > 0xffff) throw new RangeError(`SRC ${h.src} is not 16 bits`);
  if (!Number.isInteger(h.dst) || h.dst < 0 || h.dst > 0xffff) throw new RangeError(`DST ${h.dst} is not 16 bits`);
  const max = h.ctl ? 12 : 16;
  if (transportPdu.length < 1 || transportPdu.length > max) {
    throw new RangeError(`lower transport PDU of ${transportPdu.length} bytes is not 1-${max}`);
  }
}

/** Encrypts and obfuscates a network PDU. */
export function encodeNetworkPdu(netKey: NetworkKey, header: NetworkHeader, transportPdu: Uint8Array, kind: NonceKind = "network"): Uint8Array {
  checkHeader(header, transportPdu);
  const micLength = header.ctl ? 8 : 4;
  const encrypted = ccmEncrypt(netKey.encryptionKey, networkNonce(kind, header), concat(be16(header.dst), transportPdu), micLength);
  const pecb = privacyBlock(netKey, header.ivIndex, encrypted);
  const clear = concat(Uint8Array.of((header.ctl ? 0x80 : 0) | header.ttl), be24(header.seq), be16(header.src));
  const obfuscated = clear.map((b, i) => b ^ pecb[i]!);
  return concat(Uint8Array.of(((header.ivIndex & 1) << 7) | netKey.nid), obfuscated, encrypted);
}

/** The IV index a received PDU's IVI bit selects, given the current one (3.10.5). */
export function rxIvIndex(current: number, ivi: number): number {
  return (current & 1) === ivi ? current : Math.max(0, current - 1);
}

/**
 * Deobfuscates and decrypts a network PDU with the first key of matching NID whose MIC verifies.
 * Returns undefined for PDUs of other networks, corrupted ones and ones of the wrong length.
 */
export function decodeNetworkPdu(pdu: Uint8Array, netKeys: readonly NetworkKey[], currentIvIndex: number, kind: NonceKind = "network"): NetworkMessage | undefined {
  if (pdu.length < NETWORK_PDU_MIN || pdu.length > NETWORK_PDU_MAX) return undefined;
  const ivi = pdu[0]! >> 7;
  const nid = pdu[0]! & 0x7f;
  const ivIndex = rxIvIndex(currentIvIndex, ivi);
  const encrypted = pdu.subarray(7);
  for (const netKey of netKeys) {
    if (netKey.nid !== nid) continue;
    const pecb = privacyBlock(netKey, ivIndex, encrypted);
    const clear = pdu.subarray(1, 7).map((b, i) => b ^ pecb[i]!);
    const ctl = (clear[0]! & 0x80) !== 0;
    const ttl = clear[0]! & 0x7f;
    const seq = readBe24(clear, 1);
    const src = readBe16(clear, 4);
    const micLength = ctl ? 8 : 4;
    if (encrypted.length < 2 + 1 + micLength) continue;
    const plain = ccmDecrypt(netKey.encryptionKey, networkNonce(kind, { ctl, ttl, seq, src, ivIndex }), encrypted, micLength);
    if (!plain) continue;
    return { ivIndex, ctl, ttl, seq, src, dst: readBe16(plain, 0), transportPdu: plain.subarray(2), netKey };
  }
  return undefined;
}

/**
 * The relayed copy of a received network PDU (Mesh Protocol 3.4.6.3): same SEQ and SRC, TTL one
 * lower, re-obfuscated. Undefined when the TTL does not allow relaying (0 or 1).
 */
export function relayNetworkPdu(m: NetworkMessage): Uint8Array | undefined {
  if (m.ttl < 2) return undefined;
  return encodeNetworkPdu(m.netKey, { ivIndex: m.ivIndex, ctl: m.ctl, ttl: m.ttl - 1, seq: m.seq, src: m.src, dst: m.dst }, m.transportPdu);
}
