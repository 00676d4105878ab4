import { describe, expect, it } from "vitest";
import { hex, toHex, utf8 } from "./bytes.js";
import { aesCmac, ccmDecrypt, ccmEncrypt, k1, k2, k3, k4, s1, virtualAddressOf } from "./crypto.js";

// RFC 4493 section 4, AES-CMAC test vectors (key 2b7e1516 28aed2a6 abf71588 09cf4f3c).
describe("aesCmac", () => {
  const key = hex("2b7e151628aed2a6abf7158809cf4f3c");
  const msg = hex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
  );
  it.each([
    [0, "bb1d6929e95937287fa37d129b756746"],
    [16, "070a16b46b4d4144f79bdd9dd04a287c"],
    [40, "dfa66747de9ae63030ca32611497c827"],
    [64, "51f0bebf7e3b9d92fc49741779363cfe"],
  ])("should match RFC 4493 example with %i bytes", (length, mac) => {
    expect(toHex(aesCmac(key, msg.subarray(0, length)))).toBe(mac);
  });
});

// RFC 3610 section 8, packet vector #1 (13-byte nonce, 8-byte header as AAD, 8-byte MIC).
describe("ccm", () => {
  const key = hex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf");
  const nonce = hex("00000003020100a0a1a2a3a4a5");
  const aad = hex("0001020304050607");
  const plain = hex("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e");
  const sealed = "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0";

  it("should match RFC 3610 packet vector #1", () => {
    expect(toHex(ccmEncrypt(key, nonce, plain, 8, aad))).toBe(sealed);
  });

  it("should decrypt RFC 3610 packet vector #1", () => {
    expect(toHex(ccmDecrypt(key, nonce, hex(sealed), 8, aad)!)).toBe(toHex(plain));
  });

  it("should reject a tampered ciphertext, MIC or AAD", () => {
    const bad = hex(sealed);
    bad[3] = bad[3]! ^ 1;
    expect(ccmDecrypt(key, nonce, bad, 8, aad)).toBeUndefined();
    const badMic = hex(sealed);
    badMic[badMic.length - 1] = badMic[badMic.length - 1]! ^ 0x80;
    expect(ccmDecrypt(key, nonce, badMic, 8, aad)).toBeUndefined();
    expect(ccmDecrypt(key, nonce, hex(sealed), 8, hex("0001020304050608"))).toBeUndefined();
  });

  it("should round-trip lengths around block edges with 4-byte MICs", () => {
    for (const length of [0, 1, 15, 16, 17, 31, 32, 33, 380]) {
      const p = Uint8Array.from({ length }, (_, i) => i * 7);
      const c = ccmEncrypt(key, nonce, p, 4);
      expect(c.length).toBe(length + 4);
      expect(ccmDecrypt(key, nonce, c, 4)).toEqual(p);
    }
  });

  it("should refuse a nonce that is not 13 bytes", () => {
    expect(() => ccmEncrypt(key, new Uint8Array(12), plain, 4)).toThrow("CCM nonce is 12 bytes, expected 13");
  });
});

// Mesh Protocol 1.1 (Mesh Profile 1.0.1) sample data, section 8.1 "Security functions"
// and 8.2 "Security material". Values as published in the specification.
describe("mesh key derivation (sample data 8.1, 8.2)", () => {
  it("should compute s1('test') (8.1.1)", () => {
    expect(toHex(s1("test"))).toBe("b73cefbd641ef2ea598c2b6efb62f79c");
  });

  it("should compute k1 (8.1.2)", () => {
    // SALT is s1("salt") = 2ba14ffa0df84a2831938d57d276cab4; P is 16 bytes.
    expect(toHex(s1(utf8("salt")))).toBe("2ba14ffa0df84a2831938d57d276cab4");
    const okm = k1(hex("3216d1509884b533248541792b877f98"), s1("salt"), hex("5a09d60797eeb4478aada59db3352a0d"));
    expect(toHex(okm)).toBe("f6ed15a8934afbe7d83e8dcb57fcf5d7");
  });

  it("should compute k2 master credentials (8.1.3)", () => {
    const r = k2(hex("f7a2a44f8e8a8029064f173ddc1e2b00"), hex("00"));
    expect(r.nid).toBe(0x7f);
    expect(toHex(r.encryptionKey)).toBe("9f589181a0f50de73c8070c7a6d27f46");
    expect(toHex(r.privacyKey)).toBe("4c715bd4a64b938f99b453351653124f");
  });

  it("should compute k2 friendship credentials (8.1.4)", () => {
    const r = k2(hex("f7a2a44f8e8a8029064f173ddc1e2b00"), hex("010203040506070809"));
    expect(r.nid).toBe(0x73);
    expect(toHex(r.encryptionKey)).toBe("11efec0642774992510fb5929646df49");
    expect(toHex(r.privacyKey)).toBe("d4d7cc0dfa772d836a8df9df5510d7a7");
  });

  it("should compute k3 (8.1.5) and k4 (8.1.6)", () => {
    expect(toHex(k3(hex("f7a2a44f8e8a8029064f173ddc1e2b00")))).toBe("ff046958233db014");
    expect(k4(hex("3216d1509884b533248541792b877f98"))).toBe(0x38);
  });

  it("should derive the sample AppKey AID, NID, keys and Network ID (8.2.1-8.2.4)", () => {
    expect(k4(hex("63964771734fbd76e3b40519d1d94a48"))).toBe(0x26);
    const r = k2(hex("7dd7364cd842ad18c17c2b820c84c3d6"), hex("00"));
    expect(r.nid).toBe(0x68);
    expect(toHex(r.encryptionKey)).toBe("0953fa93e7caac9638f58820220a398e");
    expect(toHex(r.privacyKey)).toBe("8b84eedec100067d670971dd2aa700cf");
    expect(toHex(k3(hex("7dd7364cd842ad18c17c2b820c84c3d6")))).toBe("3ecaff672f673370");
  });

  it("should hash the sample Label UUIDs into virtual addresses (8.3.22, 8.3.23)", () => {
    expect(virtualAddressOf(hex("0073e7e4d8b9440faf8415df4c56c0e1"))).toBe(0xb529);
    expect(virtualAddressOf(hex("f4a002c7fb1e4ca0a469a021de0db875"))).toBe(0x9736);
  });
});
