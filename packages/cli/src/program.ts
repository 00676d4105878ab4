// The `meshota` command line: one commander program, each subcommand in commands/.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { inspectImage, formatInspectReport } from "./commands/inspect.js";
import { keygen, sign, verify } from "./commands/keys.js";
import { installDemo } from "./commands/demo.js";
import { parseTargets, push } from "./commands/push.js";
import { startServe } from "./commands/serve.js";
import { CliError, type CliIo } from "./io.js";
import { numberOption } from "./util.js";

export const VERSION = "0.1.0";

/** Extra subcommands registered by other modules (the simulator, transports). */
export type CommandInstaller = (program: Command, io: CliIo) => void;

const installers: CommandInstaller[] = [];

/** Adds subcommands to every program created from now on. */
export function registerCommands(installer: CommandInstaller): void {
  installers.push(installer);
}

/** Builds the program. `exitCode` of the returned holder is set by the action that ran. */
export function createProgram(io: CliIo): { program: Command; result: { exitCode: number } } {
  const result = { exitCode: 0 };
  const program = new Command("meshota")
    .description("Over-the-air firmware updates for ESP32 nodes of a BLE Mesh network")
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .addHelpText(
      "after",
      "\nExit codes: 0 success, 1 usage or setup error, 2 inspect: the image fails a check,\n" +
        "3 verify: the image does not match the manifest, 4 demo/simulate/push: not every node ended on the new version.\n",
    );

  program
    .command("inspect")
    .description("show what an ESP32 app image holds and whether its checksum and hash hold")
    .argument("<image>", "ESP32 app image (.bin)")
    .option("--json", "print the report as JSON")
    .action(async (imagePath: string, opts: { json?: boolean }) => {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(resolve(io.cwd, imagePath)));
      } catch (cause) {
        throw new CliError(`cannot read image ${imagePath}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 1, { cause });
      }
      const report = await inspectImage(imagePath, bytes);
      io.out(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatInspectReport(report));
      result.exitCode = report.valid ? 0 : 2;
    });

  program
    .command("keygen")
    .description("create an ECDSA P-256 manifest signing key")
    .option("-o, --out <prefix>", "path prefix of the files written", "meshota-key")
    .option("-f, --force", "replace existing files")
    .action(async (opts: { out: string; force?: boolean }) => {
      const r = await keygen(io, { out: opts.out, force: Boolean(opts.force) });
      io.out(
        [
          `private key   ${r.privateKey}  (mode 0600: keep it secret, it signs firmware)`,
          `public key    ${r.publicKey}`,
          `C header      ${r.header}  (compile into the firmware)`,
          `fingerprint   ${r.fingerprint}`,
          "",
        ].join("\n"),
      );
    });

  program
    .command("sign")
    .description("sign an image's manifest; writes <image>.manifest.json")
    .argument("<image>", "ESP32 app image (.bin)")
    .requiredOption("-k, --key <file>", "private key (PKCS#8 PEM from keygen)")
    .option("-o, --out <file>", "where to write the signed manifest")
    .option("--json", "print the signed manifest as JSON")
    .action(async (imagePath: string, opts: { key: string; out?: string; json?: boolean }) => {
      const r = await sign(io, imagePath, opts.out === undefined ? { key: opts.key } : { key: opts.key, out: opts.out });
      if (opts.json) io.out(JSON.stringify(r.json, null, 2) + "\n");
      else io.out(`signed ${r.json.manifest.projectName} ${r.json.manifest.version} (${r.json.manifest.imageSize} bytes): ${r.path}\n`);
    });

  program
    .command("verify")
    .description("check an image against a signed manifest and a public key")
    .argument("<image>", "ESP32 app image (.bin)")
    .requiredOption("-m, --manifest <file>", "signed manifest (from sign)")
    .requiredOption("-p, --pub <file>", "public key (SPKI PEM from keygen)")
    .action(async (imagePath: string, opts: { manifest: string; pub: string }) => {
      const problem = await verify(io, imagePath, opts);
      if (problem) {
        io.err(`verification failed: ${problem}\n`);
        result.exitCode = 3;
      } else {
        io.out("ok: the image matches the manifest and the signature verifies\n");
      }
    });

  const port = (name: string) => (text: string) => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw new CliError(`${name} must be a port number, got "${text}"`);
    return v;
  };

  program
    .command("serve")
    .description("serve an image to nodes: TCP firmware server and HTTP(S) image server, until interrupted")
    .argument("<image>", "ESP32 app image (.bin)")
    .option("--host <address>", "address to listen on (0.0.0.0 for real nodes on the network)", "127.0.0.1")
    .option("--tcp-port <port>", "TCP firmware server port (0: any free port)", port("--tcp-port"))
    .option("--session <id>", "session id the TCP server serves", numberOption("--session", 1, 0xffffffff))
    .option("--token-file <file>", "file with the session's access token as hex")
    .option("--http-port <port>", "HTTP(S) image server port (0: any free port)", port("--http-port"))
    .option("--https", "serve HTTPS with a self-signed certificate and print its pin")
    .action(async (image: string, opts: { host: string; tcpPort?: number; session?: number; tokenFile?: string; httpPort?: number; https?: boolean }) => {
      const serving = await startServe(io, {
        image,
        host: opts.host,
        tcpPort: opts.tcpPort,
        httpPort: opts.httpPort,
        https: Boolean(opts.https),
        session: opts.session,
        tokenFile: opts.tokenFile,
      });
      for (const line of serving.lines) io.out(line + "\n");
      io.out("serving; press Ctrl-C to stop\n");
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await serving.close();
    });

  program
    .command("push")
    .description("update real nodes through a gateway (TCP control link) or a GATT proxy (Bluetooth Mesh)")
    .argument("<image>", "ESP32 app image (.bin)")
    .requiredOption("-k, --key <file>", "private key that signs the manifest (PKCS#8 PEM)")
    .requiredOption("-t, --targets <list>", "mesh unicast addresses, such as 0x0100,0x0101")
    .option("--gateway <host:port>", "TCP control link of a gateway node")
    .option("--ble", "reach the mesh through a GATT proxy (needs @abandonware/noble)")
    .option("--cdb <file>", "Mesh Configuration Database export with the network keys (for --ble)")
    .option("--address <hex>", "our unicast address in the mesh (for --ble)")
    .option("--seq-file <file>", "where sequence numbers are kept (for --ble)", "meshota-seq.json")
    .option("--proxy <id>", "proxy peripheral id or MAC address (for --ble)")
    .option("--method <list>", "side channels in order of preference: tcp, wifi, mesh", "tcp,mesh")
    .option("--advertise <address>", "address the nodes reach this machine at (needed by tcp and wifi)")
    .option("--tcp-port <port>", "TCP firmware server port", port("--tcp-port"), 8070)
    .option("--http-port <port>", "HTTPS image server port", port("--http-port"), 8443)
    .option("--ssid <ssid>", "Wi-Fi network the nodes join; the password is read from $MESHOTA_WIFI_PASSWORD")
    .option("--concurrency <n>", "nodes updated at once", numberOption("--concurrency", 1, 1000), 4)
    .option(
      "--requests-in-flight <n>",
      "control requests awaiting a reply at once (the gateway's reassembly buffers)",
      numberOption("--requests-in-flight", 1, 64),
      4,
    )
    .option("--verify-only", "stop once the image is verified; do not apply it")
    .action(
      async (
        image: string,
        opts: {
          key: string;
          targets: string;
          gateway?: string;
          ble?: boolean;
          cdb?: string;
          address?: string;
          seqFile: string;
          proxy?: string;
          method: string;
          advertise?: string;
          tcpPort: number;
          httpPort: number;
          ssid?: string;
          concurrency: number;
          requestsInFlight: number;
          verifyOnly?: boolean;
        },
      ) => {
        const methods = opts.method.split(",").map((m) => m.trim());
        for (const m of methods) if (m !== "tcp" && m !== "wifi" && m !== "mesh") throw new CliError(`--method: unknown side channel "${m}" (tcp, wifi, mesh)`);
        if (opts.ble && (!opts.cdb || !opts.address)) throw new CliError("--ble needs --cdb and --address");
        result.exitCode = await push(io, {
          image,
          key: opts.key,
          targets: parseTargets(opts.targets),
          gateway: opts.gateway,
          ble: opts.ble ? { cdb: opts.cdb!, address: Number.parseInt(opts.address!, 16), sequenceFile: opts.seqFile, proxy: opts.proxy } : undefined,
          methods: methods as ("tcp" | "wifi" | "mesh")[],
          advertise: opts.advertise,
          tcpPort: opts.tcpPort,
          httpPort: opts.httpPort,
          ssid: opts.ssid,
          concurrency: opts.concurrency,
          requestsInFlight: opts.requestsInFlight,
          verifyOnly: Boolean(opts.verifyOnly),
        });
      },
    );

  installDemo(program, io, result);
  for (const install of installers) install(program, io);
  return { program, result };
}

/** Runs the program on `argv` (without the node and script entries); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const { program, result } = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      io.err(`meshota: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`meshota: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
