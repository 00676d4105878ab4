import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { toHex } from "./bytes.js";
import { parseCdb } from "./cdb.js";
import { CdbError } from "./errors.js";

const TEXT = readFileSync(new URL("../test/fixtures/cdb-home.json", import.meta.url), "utf8");

function doc(): Record<string, any> {
  return JSON.parse(TEXT);
}

function errorOf(input: unknown): CdbError {
  try {
    parseCdb(input);
  } catch (e) {
    if (CdbError.isInstance(e)) return e;
    throw e;
  }
  throw new Error("parsed without error");
}

describe("parseCdb", () => {
  it("should read keys, nodes, groups and the provisioner's address from a valid export", () => {
    const cdb = parseCdb(TEXT);
    expect(cdb.meshName).toBe("Workshop");
    expect(cdb.meshUuid).toBe("5f1b8c2e3a4d4e6f9a0b1c2d3e4f5a6b");
    expect(cdb.netKeys.map((k) => [k.index, k.nid])).toEqual([[0, 0x68]]);
    expect(cdb.appKeys.map((k) => [k.index, k.aid, k.boundNetKeyIndex])).toEqual([[0, 0x26, 0]]);
    expect(cdb.nodes.map((n) => [n.name, n.unicastAddress, n.elementCount, n.cid])).toEqual([
      ["Laptop", 0x7f00, 1, undefined],
      ["Pump controller", 0x0002, 2, 0x02e5],
    ]);
    expect(cdb.groups.map((g) => [g.name, g.address])).toEqual([["All valves", 0xc001], ["Lab", 0x9736]]);
    expect(cdb.provisionerAddress()).toBe(0x7f00);
    expect(cdb.provisionerAddress("Laptop")).toBe(0x7f00);
    // Device keys by any element address of the node.
    expect(toHex(cdb.deviceKeyOf(0x0003)!)).toBe("9d6dd0e96eb25dc19a40ed9914f8f03f");
    expect(cdb.deviceKeyOf(0x0004)).toBeUndefined();
    expect(cdb.ivIndex).toBeUndefined();
  });

  it("should tolerate common deviations", () => {
    const d = doc();
    const text = "\uFEFF" + JSON.stringify({
      ...d,
      netKeys: [{ ...d.netKeys[0], index: "0", key: "0x7dd7364cd842ad18c17c2b820c84c3d6" }],
      appKeys: [{ name: "a", index: 0, key: "63964771-734f-bd76-e3b4-0519d1d94a48" }],
      nodes: [
        { ...d.nodes[0], unicastAddress: 0x7f00 },
        { ...d.nodes[1], unicastAddress: "0x0002", elements: undefined, appKeys: [0] },
      ],
      ivIndex: { index: 0x12345678, updateActive: true },
    });
    const cdb = parseCdb(text);
    expect(cdb.netKeys[0]!.nid).toBe(0x68);
    expect(cdb.appKeys[0]!.boundNetKeyIndex).toBe(0);
    expect(cdb.nodes[1]!.elementCount).toBe(1);
    expect(cdb.nodes[1]!.appKeyIndexes).toEqual([0]);
    expect([cdb.ivIndex, cdb.ivUpdate]).toEqual([0x12345678, true]);
  });

  it("should transmit with the old NetKey in key refresh phase 1 and accept both", () => {
    const d = doc();
    d.netKeys[0] = { ...d.netKeys[0], phase: 1, oldKey: "f7a2a44f8e8a8029064f173ddc1e2b00" };
    const cdb = parseCdb(d);
    expect(cdb.netKeys.map((k) => k.nid)).toEqual([0x7f, 0x68]);
  });

  it.each<[string, (d: Record<string, any>) => unknown, string, string]>([
    ["text that is not JSON", () => "{ not json", "", "mesh configuration database: not valid JSON"],
    ["a JSON array", () => [], "", "mesh configuration database: the document is not a JSON object"],
    ["no netKeys", (d) => ({ ...d, netKeys: undefined }), "netKeys", "mesh configuration database: netKeys: is missing"],
    ["an empty netKeys", (d) => ({ ...d, netKeys: [] }), "netKeys", "mesh configuration database: netKeys: has no key"],
    ["a short NetKey", (d) => ({ ...d, netKeys: [{ index: 0, key: "7dd7364cd842ad18c17c2b820c84c3" }] }), "netKeys[0].key", "mesh configuration database: netKeys[0].key: expected 32 hex digits, got 30"],
    ["a NetKey with other characters", (d) => ({ ...d, netKeys: [{ index: 0, key: "7dd7364cd842ad18c17c2b820c84c3zz" }] }), "netKeys[0].key", "mesh configuration database: netKeys[0].key: expected 32 hex digits, found other characters"],
    ["an AppKey bound to an unknown NetKey", (d) => ({ ...d, appKeys: [{ ...d.appKeys[0], boundNetKey: 5 }] }), "appKeys[0].boundNetKey", "mesh configuration database: appKeys[0].boundNetKey: NetKey index 5 is not in netKeys"],
    ["an out-of-range key index", (d) => ({ ...d, appKeys: [{ ...d.appKeys[0], index: 4096 }] }), "appKeys[0].index", "mesh configuration database: appKeys[0].index: 4096 is not a key index (0-4095)"],
    ["a group address as a node address", (d) => ({ ...d, nodes: [{ ...d.nodes[1], unicastAddress: "C000" }] }), "nodes[0].unicastAddress", "mesh configuration database: nodes[0].unicastAddress: 0xc000 is not a unicast address"],
    ["a missing node address", (d) => ({ ...d, nodes: [{ ...d.nodes[1], unicastAddress: undefined }] }), "nodes[0].unicastAddress", "mesh configuration database: nodes[0].unicastAddress: is missing"],
    ["overlapping nodes", (d) => ({ ...d, nodes: [d.nodes[1], { ...d.nodes[0], unicastAddress: "0003" }] }), "nodes", 'mesh configuration database: nodes: nodes "Pump controller" and "Laptop" overlap at 0x0003'],
    ["a bad device key", (d) => ({ ...d, nodes: [{ ...d.nodes[1], deviceKey: 42 }] }), "nodes[0].deviceKey", "mesh configuration database: nodes[0].deviceKey: expected a hex string of 16 bytes"],
    ["a unicast group address", (d) => ({ ...d, groups: [{ name: "g", address: "0005" }] }), "groups[0].address", "mesh configuration database: groups[0].address: 0x0005 is not a group address"],
    ["nodes that is not an array", (d) => ({ ...d, nodes: {} }), "nodes", "mesh configuration database: nodes: is not an array"],
    ["two NetKeys under one index", (d) => ({ ...d, netKeys: [d.netKeys[0], { ...d.netKeys[0], key: "00000000000000000000000000000001" }] }), "netKeys[1].index", "mesh configuration database: netKeys[1].index: NetKey index 0 appears twice"],
    ["two AppKeys under one index", (d) => ({ ...d, appKeys: [{ index: 0, key: "63964771734fbd76e3b40519d1d94a48" }, { index: "0", key: "00000000000000000000000000000001" }] }), "appKeys[1].index", "mesh configuration database: appKeys[1].index: AppKey index 0 appears twice"],
    ["an IV index given as a string", (d) => ({ ...d, ivIndex: "0x12345678" }), "ivIndex", 'mesh configuration database: ivIndex: "0x12345678" is not a number or {index, updateActive}'],
    ["an IV update at IV index 0", (d) => ({ ...d, ivIndex: { index: 0, updateActive: true } }), "ivIndex", "mesh configuration database: ivIndex: IV index 0 cannot be in an IV update"],
    ["an empty unicast range", (d) => ({ ...d, provisioners: [{ ...d.provisioners[0], allocatedUnicastRange: [{ lowAddress: "7FFF", highAddress: "7F00" }] }] }), "provisioners[0].allocatedUnicastRange[0]", "mesh configuration database: provisioners[0].allocatedUnicastRange[0]: range 0x7fff-0x7f00 is empty"],
  ])("should reject %s with a clear error", (_name, mutate, path, message) => {
    const e = errorOf(mutate(doc()));
    expect(e.path).toBe(path);
    expect(e.message.startsWith(message)).toBe(true);
  });

  it("should never put key material into an error message", () => {
    const secret = "7dd7364cd842ad18c17c2b820c84c3"; // one byte short of a NetKey
    const e = errorOf({ ...doc(), netKeys: [{ index: 0, key: secret }] });
    expect(e.message).not.toContain(secret);
    expect(e.message.toLowerCase()).not.toContain("7dd7364c");
  });

  it("should not quote the text around a JSON syntax error, which may be a key", () => {
    // V8's message quotes the text near the fault: "...":0,"key":'7dd7364cd"...
    const netKey = "7dd7364cd842ad18c17c2b820c84c3d6";
    for (const text of [
      `{"netKeys":[{"index":0,"key":'${netKey}'}]}`,
      `{"netKeys":[{"index":0,"key":x${netKey}"}]}`,
      `{"a":NaN,"netKeys":[{"index":0,"key":"${netKey}"}]}`,
    ]) {
      const e = errorOf(text);
      expect(e.message.toLowerCase()).not.toContain("7dd7");
      expect(e.message.toLowerCase()).not.toContain("c3d6");
      expect(e.cause).toBeUndefined();
    }
    expect(errorOf(`{\n  "netKeys": [\n    {"index": 0, "key": "${netKey}",}\n  ]\n}`).message).toBe(
      "mesh configuration database: not valid JSON at line 3, column 60",
    );
  });

  it("should explain when the provisioner has no node", () => {
    const d = doc();
    d.nodes = [d.nodes[1]];
    expect(() => parseCdb(d).provisionerAddress()).toThrow('mesh configuration database: nodes: no node has the UUID of provisioner "Laptop"; give the client address explicitly');
    expect(() => parseCdb(d).provisionerAddress("Phone")).toThrow('mesh configuration database: provisioners: has no provisioner named "Phone"');
  });
});
