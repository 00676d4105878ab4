// Upper transport access PDU encryption with an AppKey or the DevKey (Mesh Protocol 3.6.4, 3.9.7).
import { be16, be24, be32, concat } from "./bytes.js";
import { ccmDecrypt, ccmEncrypt } from "./crypto.js";

/** What the application or device nonce binds a message to. */
export interface AccessNonceFields {
  /** SEQ of the message (of its first segment: the low 24 bits of SeqAuth). */
  readonly seq: number;
  readonly src: number;
  readonly dst: number;
  readonly ivIndex: number;
  /** True for a 64-bit TransMIC (segmented messages only). */
  readonly szmic: boolean;
}

/** Application nonce (0x01, AppKey) or device nonce (0x02, DevKey). */
export function accessNonce(useDevKey: boolean, f: AccessNonceFields): Uint8Array {
  return concat(Uint8Array.of(useDevKey ? 0x02 : 0x01, f.szmic ? 0x80 : 0x00), be24(f.seq), be16(f.src), be16(f.dst), be32(f.ivIndex));
}

/**
 * Encrypts an access payload into an upper transport PDU (payload || TransMIC).
 * `label` is the Label UUID when `dst` is a virtual address: it is authenticated as AAD.
 */
export function encryptAccess(key: Uint8Array, useDevKey: boolean, fields: AccessNonceFields, accessPayload: Uint8Array, label?: Uint8Array): Uint8Array {
  return ccmEncrypt(key, accessNonce(useDevKey, fields), accessPayload, fields.szmic ? 8 : 4, label);
}

/** Decrypts an upper transport access PDU; undefined when the TransMIC does not verify. */
export function decryptAccess(key: Uint8Array, useDevKey: boolean, fields: AccessNonceFields, upper: Uint8Array, label?: Uint8Array): Uint8Array | undefined {
  return ccmDecrypt(key, accessNonce(useDevKey, fields), upper, fields.szmic ? 8 : 4, label);
}
