// MAC addresses: 6 bytes on the wire, "aa:bb:cc:dd:ee:ff" in maps and messages.

/** The ESP-NOW broadcast address. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Formats a 6-byte MAC as lowercase colon-separated hex. */
export function macToString(mac: Uint8Array): string {
  if (mac.length !== 6) throw new RangeError(`a MAC address has 6 bytes, got ${mac.length}`);
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with dashes) into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new RangeError(`not a MAC address: "${text}"`);
  }
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

/** True when `mac` is ff:ff:ff:ff:ff:ff. */
export function isBroadcast(mac: Uint8Array): boolean {
  return mac.length === 6 && mac.every((b) => b === 0xff);
}
