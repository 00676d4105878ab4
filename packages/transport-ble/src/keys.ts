// Key material derived once from the keys of a mesh network (Mesh Protocol 3.9.6).
import { concat, be16 } from "./bytes.js";
import { k2, k3, k4 } from "./crypto.js";

/** A NetKey and everything the network layer derives from it. */
export interface NetworkKey {
  /** Global NetKey index (12 bits). */
  readonly index: number;
  readonly key: Uint8Array;
  /** 7-bit network identifier carried in the clear in every network PDU. */
  readonly nid: number;
  readonly encryptionKey: Uint8Array;
  readonly privacyKey: Uint8Array;
  /** 64-bit Network ID (k3), advertised by proxies with Network ID service data. */
  readonly networkId: Uint8Array;
}

/** An AppKey with its 6-bit AID. */
export interface ApplicationKey {
  /** Global AppKey index (12 bits). */
  readonly index: number;
  /** Index of the NetKey this AppKey is bound to. */
  readonly boundNetKeyIndex: number;
  readonly key: Uint8Array;
  readonly aid: number;
}

function checkKey(key: Uint8Array, what: string): void {
  if (key.length !== 16) throw new RangeError(`${what} is ${key.length} bytes, expected 16`);
}

/** Derives the network-layer material of a NetKey (master credentials, P = 0x00). */
export function deriveNetworkKey(key: Uint8Array, index = 0): NetworkKey {
  checkKey(key, "NetKey");
  const { nid, encryptionKey, privacyKey } = k2(key, Uint8Array.of(0x00));
  return { index, key, nid, encryptionKey, privacyKey, networkId: k3(key) };
}

/** Derives friendship credentials (P = 0x01 || LPN || Friend || LPNCounter || FriendCounter). */
export function deriveFriendshipKey(key: Uint8Array, lpn: number, friend: number, lpnCounter: number, friendCounter: number, index = 0): NetworkKey {
  checkKey(key, "NetKey");
  const p = concat(Uint8Array.of(0x01), be16(lpn), be16(friend), be16(lpnCounter), be16(friendCounter));
  const { nid, encryptionKey, privacyKey } = k2(key, p);
  return { index, key, nid, encryptionKey, privacyKey, networkId: k3(key) };
}

/** Derives the AID of an AppKey. */
export function deriveApplicationKey(key: Uint8Array, index = 0, boundNetKeyIndex = 0): ApplicationKey {
  checkKey(key, "AppKey");
  return { index, boundNetKeyIndex, key, aid: k4(key) };
}
