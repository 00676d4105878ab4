// Mesh security toolbox (Mesh Protocol 1.1, section 3.9.2): AES-CMAC from @noble/ciphers,
// AES-CCM built on its AES block cipher (CCM is not offered by the library, nor by Web Crypto),
// and the key derivation functions s1, k1, k2, k3, k4 built on them.
import { cbc, cmac, ecb } from "@noble/ciphers/aes.js";
import { concat, equalBytes, utf8 } from "./bytes.js";

const ZERO_16 = new Uint8Array(16);

/** AES-128 encryption of one 16-byte block (the spec's e()). */
export function aesEncryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  if (block.length !== 16) throw new RangeError(`AES block is ${block.length} bytes, expected 16`);
  return ecb(key, { disablePadding: true }).encrypt(block);
}

/** AES-CMAC (RFC 4493) of `message` under `key`. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  return cmac(message, key);
}

/** s1(M) = AES-CMAC with a zero key (salt generation). */
export function s1(message: Uint8Array | string): Uint8Array {
  return aesCmac(ZERO_16, typeof message === "string" ? utf8(message) : message);
}

/** k1(N, SALT, P) = AES-CMAC_T(P) where T = AES-CMAC_SALT(N). */
export function k1(n: Uint8Array, salt: Uint8Array, p: Uint8Array): Uint8Array {
  return aesCmac(aesCmac(salt, n), p);
}

/** Keys derived from a NetKey by k2: NID, EncryptionKey and PrivacyKey. */
export interface K2Result {
  readonly nid: number;
  readonly encryptionKey: Uint8Array;
  readonly privacyKey: Uint8Array;
}

/** k2(N, P): the network (master or friendship) security material. */
export function k2(n: Uint8Array, p: Uint8Array): K2Result {
  const t = aesCmac(s1("smk2"), n);
  const t1 = aesCmac(t, concat(p, Uint8Array.of(0x01)));
  const t2 = aesCmac(t, concat(t1, p, Uint8Array.of(0x02)));
  const t3 = aesCmac(t, concat(t2, p, Uint8Array.of(0x03)));
  return { nid: t1[15]! & 0x7f, encryptionKey: t2, privacyKey: t3 };
}

/** k3(N): the 64-bit Network ID. */
export function k3(n: Uint8Array): Uint8Array {
  const t = aesCmac(s1("smk3"), n);
  return aesCmac(t, concat(utf8("id64"), Uint8Array.of(0x01))).slice(8);
}

/** k4(N): the 6-bit AID of an application key. */
export function k4(n: Uint8Array): number {
  const t = aesCmac(s1("smk4"), n);
  return aesCmac(t, concat(utf8("id6"), Uint8Array.of(0x01)))[15]! & 0x3f;
}

/** The 16-bit virtual address of a 128-bit Label UUID (Mesh Protocol 3.4.2.3). */
export function virtualAddressOf(labelUuid: Uint8Array): number {
  if (labelUuid.length !== 16) throw new RangeError(`Label UUID is ${labelUuid.length} bytes, expected 16`);
  const hash = aesCmac(s1("vtad"), labelUuid);
  return 0x8000 | (((hash[14]! << 8) | hash[15]!) & 0x3fff);
}

// CCM (RFC 3610, NIST SP 800-38C) with a 13-byte nonce, so a 2-byte length field (L = 2).

function ccmMac(key: Uint8Array, nonce: Uint8Array, message: Uint8Array, aad: Uint8Array, micLength: number): Uint8Array {
  const b0 = new Uint8Array(16);
  b0[0] = (aad.length > 0 ? 0x40 : 0) | (((micLength - 2) / 2) << 3) | 0x01;
  b0.set(nonce, 1);
  b0[14] = message.length >>> 8;
  b0[15] = message.length & 0xff;
  const blocks: Uint8Array[] = [b0];
  if (aad.length > 0) {
    blocks.push(Uint8Array.of(aad.length >>> 8, aad.length & 0xff), aad);
    const used = (2 + aad.length) % 16;
    if (used !== 0) blocks.push(new Uint8Array(16 - used));
  }
  blocks.push(message);
  if (message.length % 16 !== 0) blocks.push(new Uint8Array(16 - (message.length % 16)));
  const input = concat(...blocks);
  // CBC-MAC: the last block of a zero-IV CBC encryption (a fresh cipher instance per call).
  const x = cbc(key, new Uint8Array(16), { disablePadding: true }).encrypt(input).subarray(input.length - 16);
  return x.subarray(0, micLength);
}

/** The CCM key stream: S0 first (for the MIC), then S1.. for the payload. */
function ccmKeyStream(key: Uint8Array, nonce: Uint8Array, length: number): Uint8Array {
  const blocks = Math.ceil(length / 16) + 1;
  const counters = new Uint8Array(16 * blocks);
  for (let i = 0; i < blocks; i++) {
    counters[16 * i] = 0x01;
    counters.set(nonce, 16 * i + 1);
    counters[16 * i + 14] = i >>> 8;
    counters[16 * i + 15] = i & 0xff;
  }
  return ecb(key, { disablePadding: true }).encrypt(counters);
}

function checkCcmArgs(nonce: Uint8Array, micLength: number, length: number): void {
  if (nonce.length !== 13) throw new RangeError(`CCM nonce is ${nonce.length} bytes, expected 13`);
  if (micLength !== 4 && micLength !== 8 && micLength !== 16) {
    throw new RangeError(`CCM MIC of ${micLength} bytes is not 4, 8 or 16`);
  }
  if (length > 0xffff) throw new RangeError(`CCM payload of ${length} bytes is over 65535`);
}

/** AES-CCM encryption: returns ciphertext followed by the MIC. */
export function ccmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, micLength: number, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  checkCcmArgs(nonce, micLength, plaintext.length);
  const stream = ccmKeyStream(key, nonce, plaintext.length);
  const tag = ccmMac(key, nonce, plaintext, aad, micLength);
  const out = new Uint8Array(plaintext.length + micLength);
  for (let i = 0; i < plaintext.length; i++) out[i] = plaintext[i]! ^ stream[16 + i]!;
  for (let i = 0; i < micLength; i++) out[plaintext.length + i] = tag[i]! ^ stream[i]!;
  return out;
}

/**
 * AES-CCM decryption of ciphertext followed by a MIC of `micLength` bytes. Returns undefined when
 * the MIC does not verify (wrong key, wrong nonce or tampered data); trying several keys is normal.
 */
export function ccmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, micLength: number, aad: Uint8Array = new Uint8Array(0)): Uint8Array | undefined {
  if (sealed.length < micLength) return undefined;
  const length = sealed.length - micLength;
  checkCcmArgs(nonce, micLength, length);
  const stream = ccmKeyStream(key, nonce, length);
  const plaintext = new Uint8Array(length);
  for (let i = 0; i < length; i++) plaintext[i] = sealed[i]! ^ stream[16 + i]!;
  const expected = ccmMac(key, nonce, plaintext, aad, micLength);
  const received = new Uint8Array(micLength);
  for (let i = 0; i < micLength; i++) received[i] = sealed[length + i]! ^ stream[i]!;
  return equalBytes(expected, received) ? plaintext : undefined;
}
