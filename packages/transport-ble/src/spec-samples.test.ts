// Mesh Protocol 1.1 (Mesh Profile 1.0.1) sample data, chapter 8.3 "Message examples" and
// 8.5/8.6 proxy sample data. The published values (keys, headers, PDUs) are reproduced here as
// test vectors; the implementation must produce them bit for bit in both directions.
import { describe, expect, it } from "vitest";
import { hex, toHex } from "./bytes.js";
import { decodeLowerPdu, encodeLowerPdu, segmentAccess } from "./lower-pdu.js";
import { deriveApplicationKey, deriveFriendshipKey, deriveNetworkKey, type NetworkKey } from "./keys.js";
import { decodeNetworkPdu, encodeNetworkPdu, networkNonce, relayNetworkPdu } from "./network-pdu.js";
import { accessNonce, decryptAccess, encryptAccess } from "./upper-transport.js";
import { virtualAddressOf } from "./crypto.js";

const NET_KEY = deriveNetworkKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"));
const APP_KEY = deriveApplicationKey(hex("63964771734fbd76e3b40519d1d94a48"));
const DEV_KEY = hex("9d6dd0e96eb25dc19a40ed9914f8f03f");
// 8.2.3: friendship credentials of LPN 0x1201 and Friend 0x2345, counters 0x0000 and 0x072f.
const FRIEND_KEY = deriveFriendshipKey(hex("7dd7364cd842ad18c17c2b820c84c3d6"), 0x1201, 0x2345, 0x0000, 0x072f);

describe("friendship credentials (8.2.3)", () => {
  it("should derive NID 0x5e and its keys", () => {
    expect(FRIEND_KEY.nid).toBe(0x5e);
    expect(toHex(FRIEND_KEY.encryptionKey)).toBe("be635105434859f484fc798e043ce40e");
    expect(toHex(FRIEND_KEY.privacyKey)).toBe("5d396d4b54d3cbafe943e051fe9a4eb8");
  });
});

interface NetSample {
  name: string;
  key: NetworkKey;
  ivIndex: number;
  ctl: boolean;
  ttl: number;
  seq: number;
  src: number;
  dst: number;
  lower: string;
  nonce?: string;
  pdu: string;
}

// One network PDU each: the lower transport PDU in, the obfuscated network PDU out.
const NETWORK_SAMPLES: NetSample[] = [
  { name: "8.3.1 Message #1 (Friend Request)", key: NET_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x000001, src: 0x1201, dst: 0xfffd, lower: "034b50057e400000010000", nonce: "00800000011201000012345678", pdu: "68eca487516765b5e5bfdacbaf6cb7fb6bff871f035444ce83a670df" },
  { name: "8.3.2 Message #2 (Friend Offer)", key: NET_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x014820, src: 0x2345, dst: 0x1201, lower: "04320308ba072f", nonce: "00800148202345000012345678", pdu: "68d4c826296d7979d7dbc0c9b4d43eebec129d20a620d01e" },
  { name: "8.3.3 Message #3", key: NET_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x2b3832, src: 0x2fe3, dst: 0x1201, lower: "04fa0205a6000a", pdu: "68da062bc96df253273086b8c5ee00bdd9cfcc62a2ddf572" },
  { name: "8.3.4 Message #4 (friendship credentials)", key: FRIEND_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x000002, src: 0x1201, dst: 0x2345, lower: "0100", nonce: "00800000021201000012345678", pdu: "5e84eba092380fb0e5d0ad970d579a4e88051c" },
  { name: "8.3.5 Message #5", key: FRIEND_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x014834, src: 0x2345, dst: 0x1201, lower: "02001234567800", pdu: "5eafd6f53c43db5c39da1792b1fee9ec74b786c56d3a9dee" },
  { name: "8.3.7 Message #7 (Segment Acknowledgment)", key: NET_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0x0b, seq: 0x014835, src: 0x2345, dst: 0x0003, lower: "00a6ac00000002", nonce: "008b0148352345000012345678", pdu: "68e476b5579c980d0d730f94d7f3509df987bb417eb7c05f" },
  { name: "8.3.8 Message #8 (segment retransmission)", key: NET_KEY, ivIndex: 0x12345678, ctl: false, ttl: 4, seq: 0x3129ad, src: 0x0003, dst: 0x1201, lower: "8026ac01ee9dddfd2169326d23f3afdf", pdu: "684daa6267c2cf0e2f91add6f06e66006844cec97f973105ae2534f958" },
  { name: "8.3.9 Message #9", key: NET_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0x0b, seq: 0x014836, src: 0x2345, dst: 0x0003, lower: "00a6ac00000003", pdu: "68aec467ed4901d85d806bbed248614f938067b0d983bb7b" },
  { name: "8.3.10 Message #10", key: FRIEND_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x000003, src: 0x1201, dst: 0x2345, lower: "0101", pdu: "5e7b786568759f7777ed355afaf66d899c1e3d" },
  { name: "8.3.11 Message #11", key: FRIEND_KEY, ivIndex: 0x12345678, ctl: false, ttl: 3, seq: 0x3129ad, src: 0x0003, dst: 0x1201, lower: "c026ac01ee9dddfd2169326d23f3afdf", pdu: "5e6ebfc021edf5d5e748a20ecfd98ddfd32de80befb400213d113813b5" },
  { name: "8.3.12 Message #12", key: FRIEND_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x000004, src: 0x1201, dst: 0x2345, lower: "0101", pdu: "5e8a18fc6e4d05ae21466087599c2426ce9a35" },
  { name: "8.3.14 Message #14", key: FRIEND_KEY, ivIndex: 0x12345678, ctl: true, ttl: 0, seq: 0x000005, src: 0x1201, dst: 0x2345, lower: "0100", pdu: "5e0bbaf92b5c8f7d3ae62a3c75dff683dce24e" },
];

describe("network layer sample messages (8.3)", () => {
  it.each(NETWORK_SAMPLES)("should encode $name", (s) => {
    const header = { ivIndex: s.ivIndex, ctl: s.ctl, ttl: s.ttl, seq: s.seq, src: s.src, dst: s.dst };
    if (s.nonce) expect(toHex(networkNonce("network", header))).toBe(s.nonce);
    expect(toHex(encodeNetworkPdu(s.key, header, hex(s.lower)))).toBe(s.pdu);
  });

  it.each(NETWORK_SAMPLES)("should decode $name", (s) => {
    const m = decodeNetworkPdu(hex(s.pdu), [FRIEND_KEY, NET_KEY], s.ivIndex);
    expect(m).toBeDefined();
    expect({ ctl: m!.ctl, ttl: m!.ttl, seq: m!.seq, src: m!.src, dst: m!.dst, lower: toHex(m!.transportPdu), nid: m!.netKey.nid }).toEqual({
      ctl: s.ctl, ttl: s.ttl, seq: s.seq, src: s.src, dst: s.dst, lower: s.lower, nid: s.key.nid,
    });
  });

  it("should decode the Segment Acknowledgment of Message #7", () => {
    expect(decodeLowerPdu(hex("00a6ac00000002"), true)).toEqual({ kind: "ack", obo: true, seqZero: 0x09ab, blockAck: 2 });
    expect(toHex(encodeLowerPdu({ kind: "ack", obo: true, seqZero: 0x09ab, blockAck: 2 }))).toBe("00a6ac00000002");
  });

  it("should reject a PDU whose NetMIC was tampered with, or of another network", () => {
    const bad = hex(NETWORK_SAMPLES[0]!.pdu);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    expect(decodeNetworkPdu(bad, [NET_KEY], 0x12345678)).toBeUndefined();
    const other = deriveNetworkKey(hex("f7a2a44f8e8a8029064f173ddc1e2b00"));
    expect(decodeNetworkPdu(hex(NETWORK_SAMPLES[0]!.pdu), [other], 0x12345678)).toBeUndefined();
  });

  it("should relay Message #16 as Message #17 with the TTL decremented (8.3.16, 8.3.17)", () => {
    const m = decodeNetworkPdu(hex("68e80e5da5af0e6b9be7f5a642f2f98680e61c3a8b47f228"), [NET_KEY], 0x12345678)!;
    expect(m.ttl).toBe(0x0b);
    const relayed = relayNetworkPdu(m)!;
    const again = decodeNetworkPdu(relayed, [NET_KEY], 0x12345678)!;
    expect([again.ttl, again.seq, again.src, again.dst, toHex(again.transportPdu)]).toEqual([0x0a, 6, 0x1201, 0x0003, "0089511bf1d1a81c11dcef"]);
    expect(relayNetworkPdu({ ...m, ttl: 1 })).toBeUndefined();
  });

  it("should pick IV index - 1 when the IVI bit says so (8.3.20)", () => {
    // Message #20 was sent with IV index 0x12345677; a receiver already at 0x12345678 accepts it.
    const m = decodeNetworkPdu(hex("e85cca51e2e8998c3dc87344a16c787f6b08cc897c941a5368"), [NET_KEY], 0x12345678);
    expect(m?.ivIndex).toBe(0x12345677);
    expect(m?.seq).toBe(0x070809);
  });
});

interface AccessSample {
  name: string;
  ivIndex: number;
  ttl: number;
  seq: number;
  src: number;
  dst: number;
  label?: string;
  devKey: boolean;
  szmic: boolean;
  access: string;
  appNonce?: string;
  lower: string[];
  pdus: string[];
}

const ACCESS_SAMPLES: AccessSample[] = [
  {
    name: "8.3.6 Message #6 (DevKey, 2 segments)", ivIndex: 0x12345678, ttl: 4, seq: 0x3129ab, src: 0x0003, dst: 0x1201, devKey: true, szmic: false,
    access: "0056341263964771734fbd76e3b40519d1d94a48", appNonce: "02003129ab0003120112345678",
    lower: ["8026ac01ee9dddfd2169326d23f3afdf", "8026ac21cfdc18c52fdef772e0e17308"],
    pdus: ["68cab5c5348a230afba8c63d4e686364979deaf4fd40961145939cda0e", "681615b5dd4a846cae0c032bf0746f44f1b8cc8ce5edc57e55beed49c0"],
  },
  {
    name: "8.3.16 Message #16 (DevKey, unsegmented)", ivIndex: 0x12345678, ttl: 0x0b, seq: 0x000006, src: 0x1201, dst: 0x0003, devKey: true, szmic: false,
    access: "800300563412", lower: ["0089511bf1d1a81c11dcef"], pdus: ["68e80e5da5af0e6b9be7f5a642f2f98680e61c3a8b47f228"],
  },
  {
    name: "8.3.18 Message #18 (AppKey, all-nodes)", ivIndex: 0x12345678, ttl: 3, seq: 0x000007, src: 0x1201, dst: 0xffff, devKey: false, szmic: false,
    access: "0400000000", lower: ["665a8bde6d9106ea078a"], pdus: ["6848cba437860e5673728a627fb938535508e21a6baf57"],
  },
  {
    name: "8.3.19 Message #19", ivIndex: 0x12345678, ttl: 3, seq: 0x000009, src: 0x1201, dst: 0xffff, devKey: false, szmic: false,
    access: "04000000010703", lower: ["66ca6cd88e698d1265f43fc5"], pdus: ["68110edeecd83c3010a05e1b23a926023da75d25ba91793736"],
  },
  {
    name: "8.3.20 Message #20 (IV index 0x12345677)", ivIndex: 0x12345677, ttl: 3, seq: 0x070809, src: 0x1234, dst: 0xffff, devKey: false, szmic: false,
    access: "04000000010703", lower: ["669c9803e110fea929e9542d"], pdus: ["e85cca51e2e8998c3dc87344a16c787f6b08cc897c941a5368"],
  },
  {
    name: "8.3.21 Message #21 (vendor opcode to a group)", ivIndex: 0x12345677, ttl: 3, seq: 0x07080a, src: 0x1234, dst: 0xc105, devKey: false, szmic: false,
    access: "d50a0048656c6c6f", lower: ["664d92e9dfcf3ab85b6e8fcf03"], pdus: ["e84e8fbe003f58a4d61157bb76352ea6307eebfe0f30b83500e9"],
  },
  {
    name: "8.3.22 Message #22 (virtual address 0xb529)", ivIndex: 0x12345677, ttl: 3, seq: 0x07080b, src: 0x1234, dst: 0xb529, label: "0073e7e4d8b9440faf8415df4c56c0e1", devKey: false, szmic: false,
    access: "d50a0048656c6c6f", appNonce: "010007080b1234b52912345677", lower: ["663871b904d431526316ca48a0"], pdus: ["e8d85caecef1e3ed31f3fdcf88a411135fea55df730b6b28e255"],
  },
  {
    name: "8.3.23 Message #23 (virtual address 0x9736)", ivIndex: 0x12345677, ttl: 3, seq: 0x07080c, src: 0x1234, dst: 0x9736, label: "f4a002c7fb1e4ca0a469a021de0db875", devKey: false, szmic: false,
    access: "d50a0048656c6c6f", lower: ["662456db5e3100eef65daa7a38"], pdus: ["e877a48dd5fe2d7a9d696d3dd16a75489696f0b70c711b881385"],
  },
  {
    name: "8.3.24 Message #24 (virtual address, segmented, 64-bit TransMIC)", ivIndex: 0x12345677, ttl: 3, seq: 0x07080d, src: 0x1234, dst: 0x9736, label: "f4a002c7fb1e4ca0a469a021de0db875", devKey: false, szmic: true,
    access: "ea0a00576f726c64",
    lower: ["e6a03401c3c51d8e476b28e3aa5001f3", "e6a034211c01cea6"],
    pdus: ["e8624e65bb8c1794e998b4081f47a35251fdd3896d99e4db489b918599", "e8a7d0f0a2ea42dc2f4dd6fb4db33a6c088d023b47"],
  },
];

describe("upper and lower transport sample messages (8.3)", () => {
  it.each(ACCESS_SAMPLES)("should encrypt, segment and encode $name", (s) => {
    const fields = { seq: s.seq, src: s.src, dst: s.dst, ivIndex: s.ivIndex, szmic: s.szmic };
    if (s.appNonce) expect(toHex(accessNonce(s.devKey, fields))).toBe(s.appNonce);
    const label = s.label ? hex(s.label) : undefined;
    if (label) expect(virtualAddressOf(label)).toBe(s.dst);
    const upper = encryptAccess(s.devKey ? DEV_KEY : APP_KEY.key, s.devKey, fields, hex(s.access), label);
    const akf = !s.devKey;
    const aid = akf ? APP_KEY.aid : 0;
    const lowers = s.lower.length === 1 && !s.szmic && upper.length <= 15
      ? [encodeLowerPdu({ kind: "access", akf, aid, upper })]
      : segmentAccess(upper, akf, aid, s.szmic, s.seq).map(encodeLowerPdu);
    expect(lowers.map(toHex)).toEqual(s.lower);
    const pdus = lowers.map((lower, i) => encodeNetworkPdu(NET_KEY, { ivIndex: s.ivIndex, ctl: false, ttl: s.ttl, seq: s.seq + i, src: s.src, dst: s.dst }, lower));
    expect(pdus.map(toHex)).toEqual(s.pdus);
  });

  it.each(ACCESS_SAMPLES)("should decode and decrypt $name", (s) => {
    const parts: Uint8Array[] = [];
    let szmic = false;
    for (const pdu of s.pdus) {
      const m = decodeNetworkPdu(hex(pdu), [NET_KEY], s.ivIndex)!;
      const lower = decodeLowerPdu(m.transportPdu, m.ctl);
      if (typeof lower === "string") throw new Error(lower);
      if (lower.kind === "access") parts.push(lower.upper);
      else if (lower.kind === "access-segment") {
        parts[lower.segO] = lower.segment;
        szmic = lower.szmic;
        expect(lower.seqZero).toBe(s.seq & 0x1fff);
      } else throw new Error(`unexpected ${lower.kind}`);
    }
    const upper = Uint8Array.from(parts.flatMap((p) => [...p]));
    const fields = { seq: s.seq, src: s.src, dst: s.dst, ivIndex: s.ivIndex, szmic };
    const label = s.label ? hex(s.label) : undefined;
    const plain = decryptAccess(s.devKey ? DEV_KEY : APP_KEY.key, s.devKey, fields, upper, label);
    expect(plain && toHex(plain)).toBe(s.access);
    if (label) {
      // Without the right Label UUID the TransMIC fails: the label is authenticated.
      expect(decryptAccess(APP_KEY.key, false, fields, upper, hex("00000000000000000000000000000000"))).toBeUndefined();
    }
  });
});
