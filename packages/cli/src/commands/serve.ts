// `meshota serve`: the firmware servers a node fetches an image from. The TCP firmware server
// (METHOD_TCP) and the HTTP(S) image server (METHOD_WIFI, esp_https_ota with Range), both from
// @meshota/transport-tcp. Tokens are read from a file and never printed.
import { readFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { toHex } from "@meshota/core";
import { FirmwareServer, generateSelfSignedCertificate, ImageHttpServer, TCP_TOKEN_MAX } from "@meshota/transport-tcp";
import { CliError, type CliIo } from "../io.js";
import { loadImage } from "./keys.js";

/** Options of `serve`. */
export interface ServeOptions {
  image: string;
  host: string;
  /** TCP firmware server port; undefined: no TCP server. */
  tcpPort: number | undefined;
  /** HTTP(S) image server port; undefined: no image server. */
  httpPort: number | undefined;
  https: boolean;
  /** Session the TCP server serves (the UpdateStart's session_id). */
  session: number | undefined;
  /** File holding the session's access token as hex (1-16 bytes). */
  tokenFile: string | undefined;
}

/** Running servers. */
export interface Serving {
  readonly lines: readonly string[];
  readonly tcp: FirmwareServer | undefined;
  readonly http: ImageHttpServer | undefined;
  readonly url: string | undefined;
  readonly certSha256: string | undefined;
  close(): Promise<void>;
}

async function readToken(io: CliIo, path: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = (await readFile(resolve(io.cwd, path), "utf8")).trim();
  } catch (cause) {
    throw new CliError(`cannot read token file ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 1, { cause });
  }
  if (!/^([0-9a-fA-F]{2}){1,16}$/.test(text)) throw new CliError(`token file ${path} must hold 1 to ${TCP_TOKEN_MAX} bytes as hex`);
  return Uint8Array.from(text.match(/../g)!, (h) => parseInt(h, 16));
}

/** Starts the servers; close() stops them. */
export async function startServe(io: CliIo, o: ServeOptions): Promise<Serving> {
  if (o.tcpPort === undefined && o.httpPort === undefined) throw new CliError("nothing to serve: give --tcp-port, --http-port or both");
  const imagePath = resolve(io.cwd, o.image);
  const image = await loadImage(io, o.image);
  const lines: string[] = [`image ${image.appDesc.projectName} ${image.appDesc.version} (${image.size} bytes, sha256 ${toHex(image.sha256)})`];
  let tcp: FirmwareServer | undefined;
  let http: ImageHttpServer | undefined;
  let url: string | undefined;
  let certSha256: string | undefined;
  try {
    if (o.tcpPort !== undefined) {
      if (o.session === undefined || o.tokenFile === undefined) throw new CliError("the TCP firmware server needs --session and --token-file");
      tcp = new FirmwareServer();
      await tcp.addSession({ sessionId: o.session, token: await readToken(io, o.tokenFile), imagePath });
      const a = await tcp.listen(o.tcpPort, o.host);
      lines.push(`TCP firmware server on ${a.address}:${a.port}, session ${o.session}`);
    }
    if (o.httpPort !== undefined) {
      const cert = o.https ? generateSelfSignedCertificate({ hosts: [o.host, "localhost"] }) : undefined;
      http = new ImageHttpServer(cert ? { tls: { cert: cert.cert, key: cert.key } } : {});
      const path = `/${basename(imagePath)}`;
      await http.addImage(path, imagePath);
      const a = await http.listen(o.httpPort, o.host);
      url = `${http.scheme}://${o.host}:${a.port}${path}`;
      lines.push(`image server at ${url}`);
      if (cert) {
        certSha256 = toHex(cert.sha256);
        lines.push(`certificate SHA-256 (WifiMethod.server_cert_sha256): ${certSha256}`);
      }
    }
  } catch (error) {
    await tcp?.close();
    await http?.close();
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot start serving: ${(error as Error).message}`, 1, { cause: error });
  }
  return {
    lines,
    tcp,
    http,
    url,
    certSha256,
    close: async () => {
      await tcp?.close();
      await http?.close();
    },
  };
}
