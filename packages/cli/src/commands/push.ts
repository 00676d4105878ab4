// `meshota push`: a campaign on real devices. The control plane goes through a gateway node
// (TCP control link) or a GATT proxy (Bluetooth Mesh); the image goes over the side channels
// named by --method, served from this machine.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  Campaign,
  importPrivateKeyPem,
  KeyError,
  meshMethod,
  methodName,
  signImage,
  tcpMethod,
  wifiMethod,
  type ControlTransport,
  type MethodProvider,
} from "@meshota/core";
import { FirmwareServer, generateSelfSignedCertificate, ImageHttpServer } from "@meshota/transport-tcp";
import Table from "cli-table3";
import { CliError, type CliIo } from "../io.js";
import { loadImage } from "./keys.js";

/** Options of `push`. */
export interface PushOptions {
  image: string;
  key: string;
  targets: number[];
  /** host:port of a gateway node's TCP control link. */
  gateway: string | undefined;
  /** Bluetooth Mesh through a GATT proxy, with keys from a Mesh Configuration Database. */
  ble: { cdb: string; address: number; sequenceFile: string; proxy: string | undefined } | undefined;
  /** Side channels in order of preference: tcp, wifi, mesh. */
  methods: ("tcp" | "wifi" | "mesh")[];
  /** Address the nodes reach this machine at (for the TCP and image servers). */
  advertise: string | undefined;
  tcpPort: number;
  httpPort: number;
  /** Wi-Fi the nodes join for tcp and wifi; the password comes from $MESHOTA_WIFI_PASSWORD. */
  ssid: string | undefined;
  concurrency: number;
  /** Control requests awaiting a reply at once (Campaign maxRequestsInFlight). */
  requestsInFlight: number;
  /** Stop at VERIFIED instead of applying. */
  verifyOnly: boolean;
}

/** host:port → parts. */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new CliError(`${what} must be host:port, got "${text}"`);
  return { host: m[1]!, port };
}

/** "0x0100,0x0101,258" → addresses. */
export function parseTargets(text: string): number[] {
  const out = text.split(",").map((t) => {
    const v = Number(t.trim());
    if (!Number.isInteger(v) || v < 1 || v > 0x7fff) throw new CliError(`--targets: "${t}" is not a unicast address (0x0001-0x7FFF)`);
    return v;
  });
  if (new Set(out).size !== out.length) throw new CliError("--targets lists an address twice");
  return out;
}

async function openTransport(io: CliIo, o: PushOptions): Promise<ControlTransport> {
  if (o.gateway !== undefined) {
    const { host, port } = parseHostPort(o.gateway, "--gateway");
    const { TcpControlTransport } = await import("@meshota/transport-tcp");
    try {
      return await TcpControlTransport.connect(host, port);
    } catch (cause) {
      throw new CliError(`cannot open the control link to the gateway at ${host}:${port}: ${(cause as Error).message}`, 1, { cause });
    }
  }
  const ble = o.ble!;
  let ble_mod: typeof import("@meshota/transport-ble");
  let node_mod: typeof import("@meshota/transport-ble/node");
  try {
    ble_mod = await import("@meshota/transport-ble");
    node_mod = await import("@meshota/transport-ble/node");
  } catch (cause) {
    throw new CliError(`the Bluetooth Mesh transport is not available: ${(cause as Error).message}`, 1, { cause });
  }
  let network;
  try {
    network = ble_mod.parseCdb(JSON.parse(await readFile(resolve(io.cwd, ble.cdb), "utf8")));
  } catch (cause) {
    throw new CliError(`cannot use the mesh configuration ${ble.cdb}: ${(cause as Error).message}`, 1, { cause });
  }
  try {
    const bearer = await node_mod.openNobleBearer(ble.proxy ? { peripheral: ble.proxy } : {});
    return await ble_mod.connectMeshota({
      bearer,
      network,
      address: ble.address,
      sequenceStore: new node_mod.JsonFileSequenceStore(resolve(io.cwd, ble.sequenceFile)),
    });
  } catch (cause) {
    throw new CliError(`cannot reach the mesh through a GATT proxy: ${(cause as Error).message}`, 1, { cause });
  }
}

/** Runs the campaign; returns the exit code (0 when every target is done). */
export async function push(io: CliIo, o: PushOptions): Promise<number> {
  if (o.targets.length === 0) throw new CliError("--targets names no node");
  if ((o.gateway === undefined) === (o.ble === undefined)) throw new CliError("give exactly one of --gateway host:port or --ble (with --cdb)");
  const image = await loadImage(io, o.image);
  let privateKey: CryptoKey;
  try {
    privateKey = await importPrivateKeyPem(await readFile(resolve(io.cwd, o.key), "utf8"), false);
  } catch (cause) {
    if (KeyError.isInstance(cause)) throw new CliError(`${o.key}: ${cause.message}`, 1, { cause });
    throw new CliError(`cannot read private key ${o.key}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 1, { cause });
  }
  const password = process.env.MESHOTA_WIFI_PASSWORD ?? "";
  const credentials = o.ssid !== undefined ? { ssid: o.ssid, password } : undefined;
  const needsServer = o.methods.some((m) => m !== "mesh");
  if (needsServer && o.advertise === undefined) {
    // tcp is in the default --method, so say which side channel asked for it.
    const served = o.methods.filter((m) => m !== "mesh");
    throw new CliError(`--method ${o.methods.join(",")}: ${served.join(" and ")} ${served.length > 1 ? "need" : "needs"} --advertise <address the nodes reach this machine at> (or use --method mesh)`);
  }
  if (o.methods.includes("wifi") && !credentials) throw new CliError("--method wifi needs --ssid (and $MESHOTA_WIFI_PASSWORD)");

  const signed = await signImage(image, privateKey);
  // The servers read a private copy, so the image cannot change under a running campaign.
  const dir = await mkdtemp(join(tmpdir(), "meshota-push-"));
  const imagePath = join(dir, "image.bin");
  const closers: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const providers: MethodProvider[] = [];
  try {
    await writeFile(imagePath, image.bytes);
    for (const m of o.methods) {
      if (m === "mesh") providers.push(meshMethod());
      if (m === "tcp") {
        const server = new FirmwareServer();
        await server.listen(o.tcpPort, "0.0.0.0");
        closers.push(() => server.close());
        const tokens = new Map<number, Uint8Array>();
        const tokenFor = (sessionId: number) => {
          let t = tokens.get(sessionId);
          if (!t) tokens.set(sessionId, (t = crypto.getRandomValues(new Uint8Array(16))));
          return t;
        };
        providers.push(
          tcpMethod({
            host: o.advertise!,
            port: server.address().port,
            token: (t) => tokenFor(t.sessionId),
            ...(credentials ? { credentials } : {}),
            prepare: (t) => server.addSession({ sessionId: t.sessionId, token: tokenFor(t.sessionId), imagePath }),
          }),
        );
      }
      if (m === "wifi") {
        const cert = generateSelfSignedCertificate({ hosts: [o.advertise!] });
        const http = new ImageHttpServer({ tls: { cert: cert.cert, key: cert.key } });
        await http.addImage("/image.bin", imagePath);
        await http.listen(o.httpPort, "0.0.0.0");
        closers.push(() => http.close());
        providers.push(wifiMethod({ url: http.url("/image.bin", o.advertise!), credentials: credentials!, serverCertSha256: cert.sha256 }));
      }
    }
    const transport = await openTransport(io, o);
    closers.push(() => transport.close());
    io.out(`pushing ${image.appDesc.projectName} ${image.appDesc.version} to ${o.targets.length} nodes over ${transport.info.name} (${o.methods.join(", ")})\n`);
    const campaign = new Campaign({
      transport,
      image,
      signed,
      targets: o.targets,
      concurrency: o.concurrency,
      maxRequestsInFlight: o.requestsInFlight,
      methods: providers,
      policy: o.verifyOnly ? "verify-only" : "verify-and-apply",
    });
    campaign.addEventListener("state", (e) => {
      const d = (e as unknown as { detail: { address: number; state: string } }).detail;
      io.out(`  0x${d.address.toString(16).padStart(4, "0")} ${d.state}\n`);
    });
    const report = await campaign.run();
    campaign.close();
    const table = new Table({ head: ["node", "method", "from", "now", "result"], style: { head: [], border: [] } });
    for (const t of report.targets) {
      table.push([
        `0x${t.address.toString(16).padStart(4, "0")}`,
        t.method === undefined ? "-" : methodName(t.method),
        t.fromVersion ?? "-",
        t.version ?? "-",
        t.outcome === "done" ? "updated" : `${t.outcome}: ${t.failure?.message ?? t.pendingReason ?? ""}`,
      ]);
    }
    io.out(table.toString() + "\n");
    io.out(`${report.done} done, ${report.failed} failed, ${report.pending} pending, ${report.cancelled} cancelled\n`);
    return report.done === o.targets.length ? 0 : 4;
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}
