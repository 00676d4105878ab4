// Secure Network beacons (Mesh Protocol 3.10.3): how a proxy tells us the IV index.
import { be32, concat, equalBytes, readBe32, utf8 } from "./bytes.js";
import { aesCmac, k1, s1 } from "./crypto.js";
import type { NetworkKey } from "./keys.js";

export interface SecureNetworkBeacon {
  readonly keyRefresh: boolean;
  readonly ivUpdate: boolean;
  readonly ivIndex: number;
  readonly netKey: NetworkKey;
}

/** BeaconKey = k1(NetKey, s1("nkbk"), "id128" || 0x01). */
export function beaconKey(netKey: NetworkKey): Uint8Array {
  return k1(netKey.key, s1("nkbk"), concat(utf8("id128"), Uint8Array.of(0x01)));
}

const beaconKeys = new WeakMap<NetworkKey, Uint8Array>();

function cachedBeaconKey(netKey: NetworkKey): Uint8Array {
  let key = beaconKeys.get(netKey);
  if (!key) {
    key = beaconKey(netKey);
    beaconKeys.set(netKey, key);
  }
  return key;
}

/** Encodes a Secure Network beacon (type 0x01) for `netKey`. */
export function encodeSecureNetworkBeacon(netKey: NetworkKey, ivIndex: number, ivUpdate: boolean, keyRefresh = false): Uint8Array {
  const flags = (keyRefresh ? 1 : 0) | (ivUpdate ? 2 : 0);
  const body = concat(Uint8Array.of(flags), netKey.networkId, be32(ivIndex));
  const auth = aesCmac(cachedBeaconKey(netKey), body).subarray(0, 8);
  return concat(Uint8Array.of(0x01), body, auth);
}

/** Authenticates and decodes a Secure Network beacon; undefined for other beacons or a bad CMAC. */
export function decodeSecureNetworkBeacon(beacon: Uint8Array, netKeys: readonly NetworkKey[]): SecureNetworkBeacon | undefined {
  if (beacon.length !== 22 || beacon[0] !== 0x01) return undefined;
  const body = beacon.subarray(1, 14);
  const networkId = beacon.subarray(2, 10);
  for (const netKey of netKeys) {
    if (!equalBytes(netKey.networkId, networkId)) continue;
    const auth = aesCmac(cachedBeaconKey(netKey), body).subarray(0, 8);
    if (!equalBytes(auth, beacon.subarray(14, 22))) continue;
    return { keyRefresh: (body[0]! & 1) !== 0, ivUpdate: (body[0]! & 2) !== 0, ivIndex: readBe32(body, 9), netKey };
  }
  return undefined;
}
