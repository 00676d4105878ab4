// Network configuration from a Mesh Configuration Database (Mesh CDB 1.0.x JSON), as
// provisioning apps export it. Tolerated deviations: upper or lower case hex, a "0x" prefix,
// addresses and indexes given as numbers, UUIDs with or without dashes, a byte-order mark,
// nodes without an element list, AppKeys without boundNetKey, and a non-standard "ivIndex"
// (number or {index, updateActive}). Anything else that is needed and wrong is a CdbError
// naming the field; key material never appears in a message.
import { isGroup, isUnicast, isVirtual } from "./address.js";
import { virtualAddressOf } from "./crypto.js";
import { CdbError } from "./errors.js";
import { deriveApplicationKey, deriveNetworkKey, type ApplicationKey, type NetworkKey } from "./keys.js";

/** A provisioned node as the CDB describes it. */
export interface CdbNode {
  readonly uuid: string;
  readonly name: string;
  readonly unicastAddress: number;
  readonly elementCount: number;
  readonly deviceKey: Uint8Array | undefined;
  /** Company ID from the composition data, when known. */
  readonly cid: number | undefined;
  readonly excluded: boolean;
  /** Indexes of the AppKeys the node has. */
  readonly appKeyIndexes: readonly number[];
}

export interface CdbGroup {
  readonly name: string;
  readonly address: number;
  /** Label UUID of a virtual address. */
  readonly label: Uint8Array | undefined;
}

export interface CdbProvisioner {
  readonly name: string;
  readonly uuid: string;
  readonly unicastRanges: readonly (readonly [number, number])[];
}

/** What the mesh stack needs from a CDB. */
export interface MeshNetworkConfig {
  readonly meshName: string;
  readonly meshUuid: string;
  /** NetKeys to accept; the first is the one to transmit with. */
  readonly netKeys: readonly NetworkKey[];
  readonly appKeys: readonly ApplicationKey[];
  readonly nodes: readonly CdbNode[];
  readonly groups: readonly CdbGroup[];
  readonly provisioners: readonly CdbProvisioner[];
  /** IV index when the export carries one (not part of the CDB standard). */
  readonly ivIndex: number | undefined;
  readonly ivUpdate: boolean;
  /** Device key of the node one of whose elements has `address`. */
  deviceKeyOf(address: number): Uint8Array | undefined;
  /** The node one of whose elements has `address`. */
  nodeAt(address: number): CdbNode | undefined;
  /** Our own unicast address: the node of the named (or the first) provisioner. */
  provisionerAddress(name?: string): number;
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field(obj: Record<string, Json>, path: string, name: string): Json {
  return obj[name];
}

function requireArray(obj: Record<string, Json>, path: string, name: string, optional = false): Json[] {
  const v = field(obj, path, name);
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) throw new CdbError(join(path, name), v === undefined ? "is missing" : "is not an array");
  return v;
}

function join(path: string, name: string | number): string {
  return typeof name === "number" ? `${path}[${name}]` : path ? `${path}.${name}` : name;
}

function hexString(v: Json, path: string, bytes: number): Uint8Array {
  if (typeof v !== "string") throw new CdbError(path, v === undefined ? "is missing" : `expected a hex string of ${bytes} bytes`);
  const clean = v.trim().replace(/^0x/i, "").replace(/-/g, "");
  if (!/^[0-9a-fA-F]*$/.test(clean)) throw new CdbError(path, `expected ${2 * bytes} hex digits, found other characters`);
  if (clean.length !== 2 * bytes) throw new CdbError(path, `expected ${2 * bytes} hex digits, got ${clean.length}`);
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A 16-bit address: "0001" (standard), "0x0001", or a number. */
function address16(v: Json, path: string): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff) return v;
  if (typeof v === "string" && /^(0x)?[0-9a-fA-F]{1,4}$/i.test(v.trim())) return Number.parseInt(v.trim().replace(/^0x/i, ""), 16);
  throw new CdbError(path, v === undefined ? "is missing" : `${JSON.stringify(v)} is not a 16-bit address`);
}

function index12(v: Json, path: string): number {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
  if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xfff) return n;
  throw new CdbError(path, v === undefined ? "is missing" : `${JSON.stringify(v)} is not a key index (0-4095)`);
}

function text(v: Json, fallback = ""): string {
  return typeof v === "string" ? v : fallback;
}

function uuid(v: Json): string {
  return typeof v === "string" ? v.replace(/-/g, "").toLowerCase() : "";
}

/** " at line L, column C" of a JSON.parse failure, from the position in its message when given. */
function jsonFaultAt(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m) return "";
  const position = Number(m[1]);
  const before = text.slice(0, position).split("\n");
  return ` at line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

/** Parses a CDB export (the JSON text or the parsed value). */
export function parseCdb(input: string | Json): MeshNetworkConfig {
  let doc: Json = input;
  if (typeof input === "string") {
    const textInput = input.replace(/^\uFEFF/, "");
    try {
      doc = JSON.parse(textInput);
    } catch (cause) {
      // The parser's own message quotes the text around the fault, which can be key material
      // (a NetKey in single quotes, say): only the line and column are reported.
      throw new CdbError("", `not valid JSON${jsonFaultAt(textInput, (cause as Error).message)}`);
    }
  }
  if (!isObject(doc)) throw new CdbError("", "the document is not a JSON object");

  const netKeys: NetworkKey[] = [];
  const netKeyEntries = requireArray(doc, "", "netKeys");
  if (netKeyEntries.length === 0) throw new CdbError("netKeys", "has no key");
  let transmitKey: NetworkKey | undefined;
  const seenNetKeyIndexes = new Set<number>();
  netKeyEntries.forEach((entry, i) => {
    const path = join("netKeys", i);
    if (!isObject(entry)) throw new CdbError(path, "is not an object");
    const index = index12(entry.index, join(path, "index"));
    // Two keys under one index would leave it to chance which one is sent with.
    if (seenNetKeyIndexes.has(index)) throw new CdbError(join(path, "index"), `NetKey index ${index} appears twice`);
    seenNetKeyIndexes.add(index);
    const key = deriveNetworkKey(hexString(entry.key, join(path, "key"), 16), index);
    const phase = typeof entry.phase === "number" ? entry.phase : 0;
    if (entry.oldKey !== undefined && entry.oldKey !== null && phase !== 0) {
      const old = deriveNetworkKey(hexString(entry.oldKey, join(path, "oldKey"), 16), index);
      // Key refresh phase 1: receive both, transmit with the old key. Phase 2: transmit the new.
      if (phase === 1) {
        netKeys.push(old, key);
        if (!transmitKey) transmitKey = old;
      } else {
        netKeys.push(key, old);
        if (!transmitKey) transmitKey = key;
      }
    } else {
      netKeys.push(key);
      if (!transmitKey) transmitKey = key;
    }
  });
  const orderedNetKeys = [transmitKey!, ...netKeys.filter((k) => k !== transmitKey)];
  const netKeyIndexes = new Set(netKeys.map((k) => k.index));

  const seenAppKeyIndexes = new Set<number>();
  const appKeys: ApplicationKey[] = requireArray(doc, "", "appKeys", true).flatMap((entry, i) => {
    const path = join("appKeys", i);
    if (!isObject(entry)) throw new CdbError(path, "is not an object");
    const index = index12(entry.index, join(path, "index"));
    if (seenAppKeyIndexes.has(index)) throw new CdbError(join(path, "index"), `AppKey index ${index} appears twice`);
    seenAppKeyIndexes.add(index);
    const bound = entry.boundNetKey === undefined ? orderedNetKeys[0]!.index : index12(entry.boundNetKey, join(path, "boundNetKey"));
    if (!netKeyIndexes.has(bound)) throw new CdbError(join(path, "boundNetKey"), `NetKey index ${bound} is not in netKeys`);
    const keys = [deriveApplicationKey(hexString(entry.key, join(path, "key"), 16), index, bound)];
    if (entry.oldKey !== undefined && entry.oldKey !== null) keys.push(deriveApplicationKey(hexString(entry.oldKey, join(path, "oldKey"), 16), index, bound));
    return keys;
  });

  const nodes: CdbNode[] = requireArray(doc, "", "nodes", true).map((entry, i) => {
    const path = join("nodes", i);
    if (!isObject(entry)) throw new CdbError(path, "is not an object");
    const unicastAddress = address16(entry.unicastAddress, join(path, "unicastAddress"));
    if (!isUnicast(unicastAddress)) throw new CdbError(join(path, "unicastAddress"), `0x${unicastAddress.toString(16).padStart(4, "0")} is not a unicast address`);
    const elements = Array.isArray(entry.elements) ? entry.elements : undefined;
    const elementCount = elements && elements.length > 0 ? elements.length : 1;
    if (unicastAddress + elementCount - 1 > 0x7fff) throw new CdbError(join(path, "elements"), `${elementCount} elements from 0x${unicastAddress.toString(16)} leave the unicast range`);
    const deviceKey = entry.deviceKey === undefined || entry.deviceKey === null ? undefined : hexString(entry.deviceKey, join(path, "deviceKey"), 16);
    const cid = entry.cid === undefined ? undefined : address16(entry.cid, join(path, "cid"));
    const appKeyIndexes = (Array.isArray(entry.appKeys) ? entry.appKeys : []).map((k, j) => index12(isObject(k) ? k.index : k, join(join(join(path, "appKeys"), j), "index")));
    return { uuid: uuid(entry.UUID ?? entry.uuid), name: text(entry.name), unicastAddress, elementCount, deviceKey, cid, excluded: entry.excluded === true, appKeyIndexes };
  });
  const sorted = [...nodes].sort((a, b) => a.unicastAddress - b.unicastAddress);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.unicastAddress + prev.elementCount > sorted[i]!.unicastAddress) {
      throw new CdbError("nodes", `nodes "${prev.name || prev.uuid}" and "${sorted[i]!.name || sorted[i]!.uuid}" overlap at 0x${sorted[i]!.unicastAddress.toString(16).padStart(4, "0")}`);
    }
  }

  const groups: CdbGroup[] = requireArray(doc, "", "groups", true).map((entry, i) => {
    const path = join("groups", i);
    if (!isObject(entry)) throw new CdbError(path, "is not an object");
    const raw = entry.address;
    if (typeof raw === "string" && raw.replace(/-/g, "").length === 32) {
      const label = hexString(raw, join(path, "address"), 16);
      return { name: text(entry.name), address: virtualAddressOf(label), label };
    }
    const address = address16(raw, join(path, "address"));
    if (!isGroup(address) && !isVirtual(address)) throw new CdbError(join(path, "address"), `0x${address.toString(16).padStart(4, "0")} is not a group address`);
    return { name: text(entry.name), address, label: undefined };
  });

  const provisioners: CdbProvisioner[] = requireArray(doc, "", "provisioners", true).map((entry, i) => {
    const path = join("provisioners", i);
    if (!isObject(entry)) throw new CdbError(path, "is not an object");
    const ranges = requireArray(entry, path, "allocatedUnicastRange", true).map((r, j) => {
      const rp = join(join(path, "allocatedUnicastRange"), j);
      if (!isObject(r)) throw new CdbError(rp, "is not an object");
      const low = address16(r.lowAddress, join(rp, "lowAddress"));
      const high = address16(r.highAddress, join(rp, "highAddress"));
      if (low > high) throw new CdbError(rp, `range 0x${low.toString(16).padStart(4, "0")}-0x${high.toString(16).padStart(4, "0")} is empty`);
      return [low, high] as const;
    });
    return { name: text(entry.provisionerName ?? entry.name), uuid: uuid(entry.UUID ?? entry.uuid), unicastRanges: ranges };
  });

  let ivIndex: number | undefined;
  let ivUpdate = false;
  const iv = doc.ivIndex;
  if (typeof iv === "number") ivIndex = iv;
  else if (isObject(iv) && typeof iv.index === "number") {
    ivIndex = iv.index;
    ivUpdate = iv.updateActive === true;
  } else if (iv !== undefined && iv !== null) {
    // Given but unreadable: guessing would send with a wrong IV index.
    throw new CdbError("ivIndex", `${JSON.stringify(iv)} is not a number or {index, updateActive}`);
  }
  if (ivIndex !== undefined && (!Number.isInteger(ivIndex) || ivIndex < 0 || ivIndex > 0xffffffff)) throw new CdbError("ivIndex", `${ivIndex} is not a 32-bit IV index`);
  if (ivIndex === 0 && ivUpdate) throw new CdbError("ivIndex", "IV index 0 cannot be in an IV update");

  const nodeAt = (address: number) => nodes.find((n) => address >= n.unicastAddress && address < n.unicastAddress + n.elementCount);

  return {
    meshName: text(doc.meshName),
    meshUuid: uuid(doc.meshUUID),
    netKeys: orderedNetKeys,
    appKeys,
    nodes,
    groups,
    provisioners,
    ivIndex,
    ivUpdate,
    nodeAt,
    deviceKeyOf: (address) => nodeAt(address)?.deviceKey,
    provisionerAddress(name?: string): number {
      const p = name === undefined ? provisioners[0] : provisioners.find((x) => x.name === name);
      if (!p) throw new CdbError("provisioners", name === undefined ? "has no provisioner" : `has no provisioner named "${name}"`);
      const node = nodes.find((n) => n.uuid !== "" && n.uuid === p.uuid);
      if (!node) throw new CdbError("nodes", `no node has the UUID of provisioner "${p.name}"; give the client address explicitly`);
      return node.unicastAddress;
    },
  };
}
