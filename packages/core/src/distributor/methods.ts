// Method providers for the side channels whose data plane runs outside the distributor: the
// node fetches from a server (Wi-Fi + HTTPS, TCP) or listens to an ESP-NOW distributor. The
// distributor sends credentials and UpdateStart, then follows the node's progress.
import { Method } from "@meshota/proto";
import type { MeshAddress } from "../transport.js";
import type { MethodProvider } from "./types.js";

/** Wi-Fi credentials: a router or a gateway node's SoftAP. */
export interface WifiCredentials {
  readonly ssid: string;
  /** WPA passphrase (8-63 characters), 64 hex digits, or "" for an open network. Never logged. */
  readonly password: string;
}

const utf8 = new TextEncoder();

/**
 * Checks credentials against what a node can hold (CredentialsSet: SSID up to 32 bytes,
 * password up to 64) and what Wi-Fi accepts: a passphrase of 8-63 bytes, or a PSK as exactly
 * 64 hex digits. Checked here, so that a bad one is refused before any node is contacted.
 */
function checkCredentials(c: WifiCredentials): WifiCredentials {
  const ssidBytes = utf8.encode(c.ssid).length;
  if (ssidBytes === 0) throw new RangeError("the SSID is empty");
  if (ssidBytes > 32) throw new RangeError(`an SSID is at most 32 bytes, got ${ssidBytes} (UTF-8)`);
  // The messages never include the password itself.
  const n = utf8.encode(c.password).length;
  if (n !== 0 && (n < 8 || n > 64))
    throw new RangeError(`a Wi-Fi password has 8-63 characters or 64 hex digits, got ${n} bytes (UTF-8)`);
  if (n === 64 && !/^[0-9a-fA-F]{64}$/.test(c.password))
    throw new RangeError("a 64-character Wi-Fi password is a PSK of 64 hex digits; this one has other characters");
  return c;
}

/** The node downloads the image from `url` with esp_https_ota (resumable with Range). */
export function wifiMethod(options: {
  readonly url: string;
  readonly credentials: WifiCredentials;
  /** SHA-256 of the server's DER certificate; empty: the node's CA bundle decides. */
  readonly serverCertSha256?: Uint8Array;
}): MethodProvider {
  const credentials = checkCredentials(options.credentials);
  return {
    method: Method.WIFI,
    credentials,
    params: () => ({
      case: "wifi",
      value: { url: options.url, serverCertSha256: options.serverCertSha256 ?? new Uint8Array(0) } as never,
    }),
  };
}

/** The node fetches framed chunks from a meshota TCP firmware server. */
export function tcpMethod(options: {
  readonly host: string;
  readonly port: number;
  /** Access token (up to 16 bytes), fixed or per target and session. */
  readonly token: Uint8Array | ((target: { address: MeshAddress; sessionId: number }) => Uint8Array);
  /** Network the node joins first, when it is not on one already. */
  readonly credentials?: WifiCredentials;
  /** Called once the node accepted the session (register the token with the server). */
  readonly prepare?: MethodProvider["prepare"];
}): MethodProvider {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 0xffff)
    throw new RangeError(`bad TCP port ${options.port}`);
  return {
    method: Method.TCP,
    ...(options.credentials ? { credentials: checkCredentials(options.credentials) } : {}),
    ...(options.prepare ? { prepare: options.prepare } : {}),
    params: (t) => ({
      case: "tcp",
      value: {
        host: options.host,
        port: options.port,
        token: typeof options.token === "function" ? options.token(t) : options.token,
      } as never,
    }),
  };
}

/** The node listens to an ESP-NOW distributor (a dongle or bridge run by the host). */
export function espnowMethod(options: {
  readonly channel: number;
  readonly distributorMac: Uint8Array;
  /** Chunk payload per frame: at most 226 for ESP-NOW v1, 1440 for v2 (default 226). */
  readonly payloadSize?: number;
  readonly prepare?: MethodProvider["prepare"];
}): MethodProvider {
  if (options.channel < 1 || options.channel > 14) throw new RangeError(`Wi-Fi channel ${options.channel} is not 1-14`);
  return {
    method: Method.ESPNOW,
    ...(options.prepare ? { prepare: options.prepare } : {}),
    params: () => ({
      case: "espnow",
      value: {
        channel: options.channel,
        distributorMac: options.distributorMac,
        payloadSize: options.payloadSize ?? 226,
      } as never,
    }),
  };
}
