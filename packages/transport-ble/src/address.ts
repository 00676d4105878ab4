// Mesh address kinds (Mesh Protocol 3.4.2).

export const UNASSIGNED_ADDRESS = 0x0000;
export const ALL_PROXIES = 0xfffc;
export const ALL_FRIENDS = 0xfffd;
export const ALL_RELAYS = 0xfffe;
export const ALL_NODES = 0xffff;

export function isUnicast(address: number): boolean {
  return address >= 0x0001 && address <= 0x7fff;
}

export function isVirtual(address: number): boolean {
  return address >= 0x8000 && address <= 0xbfff;
}

export function isGroup(address: number): boolean {
  return address >= 0xc000 && address <= 0xffff;
}

export function formatAddress(address: number): string {
  return `0x${address.toString(16).padStart(4, "0")}`;
}

/** Throws unless `address` is a 16-bit integer that may be a destination. */
export function checkDestination(address: number): void {
  if (!Number.isInteger(address) || address <= 0 || address > 0xffff) {
    throw new RangeError(`destination ${address} is not a unicast, group or virtual address`);
  }
}
