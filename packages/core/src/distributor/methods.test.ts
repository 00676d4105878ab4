import { ErrorCode, Method, Opcode } from "@meshota/proto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setup } from "../../test/harness.js";
import type { CampaignEvent } from "../campaign.js";
import { espnowMethod, tcpMethod, wifiMethod } from "./methods.js";

const PASSWORD = "s3cret-Passphrase!";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("side-channel methods", () => {
  it("should send credentials before UpdateStart and never let the password out", async () => {
    const printed: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation(
        (...args: unknown[]) => void printed.push(args.map(String).join(" "))
      );
    }
    const h = await setup({
      nodes: 2,
      image: { size: 50_000 },
      node: () => ({
        methods: [Method.WIFI],
        sideChannelRate: 500,
        sideChannel: (m) =>
          m.case === "wifi" && m.value.url === "https://fw.local/app.bin" ? image() : ErrorCode.NETWORK,
      }),
    });
    const image = () => h.image.bytes;
    const campaign = h.campaign({
      methods: [
        wifiMethod({ url: "https://fw.local/app.bin", credentials: { ssid: "plant-floor", password: PASSWORD } }),
      ],
    });
    const events: CampaignEvent[] = [];
    campaign.addEventListener("progress", (e) => events.push((e as unknown as { detail: CampaignEvent }).detail));
    const report = await h.clock.run(campaign.run());
    expect(report.done).toBe(2);
    expect(report.targets[0]!.method).toBe(Method.WIFI);
    for (const n of h.fleet.nodes) expect(n.lastCredentials).toEqual({ ssid: "plant-floor", password: PASSWORD });
    // CredentialsSet went before UpdateStart to each node.
    for (const a of h.addresses) {
      const ops = h.network.log.filter((p) => p.dst === a).map((p) => p.frame.opcode);
      expect(ops.indexOf(Opcode.CredentialsSet)).toBeLessThan(ops.indexOf(Opcode.UpdateStart));
    }
    expect(events.length).toBeGreaterThan(2);
    const everything = JSON.stringify({ report, events, campaign: campaign.report(), printed }, (_k, v) =>
      v instanceof Uint8Array ? [...v] : v
    );
    expect(everything).not.toContain(PASSWORD);
    expect(printed).toEqual([]);
  });

  it("should refuse malformed credentials without echoing them", () => {
    expect(() => wifiMethod({ url: "http://x/a.bin", credentials: { ssid: "n", password: "short7!" } })).toThrow(
      "a Wi-Fi password has 8-63 characters or 64 hex digits, got 7 bytes (UTF-8)"
    );
    const refused = (ssid: string, password: string) => {
      try {
        wifiMethod({ url: "http://x/a.bin", credentials: { ssid, password } });
      } catch (e) {
        expect((e as Error).message).not.toContain(password);
        return (e as Error).message;
      }
      return "accepted";
    };
    // What CredentialsSet can carry: SSID 32 bytes, password 64 bytes, counted in UTF-8.
    expect(refused("x".repeat(33), "12345678")).toBe("an SSID is at most 32 bytes, got 33 (UTF-8)");
    expect(refused("é".repeat(17), "12345678")).toBe("an SSID is at most 32 bytes, got 34 (UTF-8)");
    expect(refused("é".repeat(16), "12345678")).toBe("accepted");
    expect(refused("", "12345678")).toBe("the SSID is empty");
    expect(refused("net", "é".repeat(40))).toBe("a Wi-Fi password has 8-63 characters or 64 hex digits, got 80 bytes (UTF-8)");
    expect(refused("net", "z".repeat(64))).toBe(
      "a 64-character Wi-Fi password is a PSK of 64 hex digits; this one has other characters"
    );
    expect(refused("net", "aB3".repeat(21) + "f")).toBe("accepted");
    expect(refused("net", "p".repeat(63))).toBe("accepted");
    expect(refused("open-net", "")).toBe("accepted");
    expect(() => tcpMethod({ host: "h", port: 1, token: Uint8Array.of(1), credentials: { ssid: "n", password: "z".repeat(64) } })).toThrow(
      "PSK of 64 hex digits"
    );
  });

  it("should fail a target whose side channel fails, with the node's reason", async () => {
    const h = await setup({ node: () => ({ methods: [Method.TCP] }) });
    const campaign = h.campaign({ methods: [tcpMethod({ host: "10.0.0.2", port: 8070, token: new Uint8Array(16) })] });
    const report = await h.clock.run(campaign.run());
    expect(report.targets[0]!.failure).toEqual({
      code: ErrorCode.NETWORK,
      codeName: "ERROR_CODE_NETWORK",
      message: "the session failed in PHASE_FAILED: the side channel failed (Wi-Fi join, connect or HTTP error)",
      source: "node",
    });
  });

  it("should time out a transfer that stops making progress", async () => {
    const h = await setup({
      image: { size: 200_000 },
      node: () => ({ methods: [Method.TCP], sideChannel: () => h.image.bytes, sideChannelRate: 1000 }),
    });
    const campaign = h.campaign({
      methods: [tcpMethod({ host: "gw", port: 8070, token: new Uint8Array(4) })],
      stallTimeoutMs: 10_000,
    });
    const running = campaign.run();
    await h.clock.advance(2000);
    h.fleet.nodes[0]!.options.sideChannelRate = 0;
    const report = await h.clock.run(running);
    expect(report.targets[0]!.failure!.code).toBe(ErrorCode.TIMEOUT);
    const held = h.fleet.nodes[0]!.bytesDone;
    expect(held).toBeGreaterThan(20_000);
    expect(report.targets[0]!.failure!.message).toBe(`no progress for 10000 ms at ${held} of ${h.image.size} bytes`);
    expect(report.targets[0]!.bytesDone).toBe(held);
  });
});

describe("espnowMethod", () => {
  it("should name the channel, the distributor and the payload size in UpdateStart", async () => {
    const mac = new Uint8Array([0x02, 0, 0, 0, 0xbe, 0xef]);
    const seen: unknown[] = [];
    const h = await setup({
      node: () => ({
        methods: [Method.ESPNOW],
        sideChannel: (m) => {
          seen.push(m);
          return m.case === "espnow" ? h.image.bytes : ErrorCode.NETWORK;
        },
      }),
    });
    const report = await h.clock.run(
      h.campaign({ methods: [espnowMethod({ channel: 11, distributorMac: mac, payloadSize: 226 })] }).run()
    );
    expect(report.targets[0]).toMatchObject({ outcome: "done", method: Method.ESPNOW });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ case: "espnow", value: { channel: 11, distributorMac: mac, payloadSize: 226 } });
    expect(() => espnowMethod({ channel: 15, distributorMac: mac })).toThrow("Wi-Fi channel 15 is not 1-14");
  });
});
