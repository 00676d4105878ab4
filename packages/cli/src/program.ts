// The `meshota` command line: one commander program, each subcommand in commands/.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { inspectImage, formatInspectReport } from "./commands/inspect.js";
import { keygen, sign, verify } from "./commands/keys.js";
import { installDemo } from "./commands/demo.js";
import { CliError, type CliIo } from "./io.js";

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
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

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
