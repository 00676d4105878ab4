// @meshota/cli: the `meshota` command, also usable as a library.
export { createProgram, registerCommands, runCli, VERSION, type CommandInstaller } from "./program.js";
export { CliError, processIo, type CliIo } from "./io.js";
export { formatInspectReport, inspectImage, type InspectReport, type InspectSegment } from "./commands/inspect.js";
export { keygen, sign, verify, type KeygenOptions, type KeygenResult, type SignOptions, type VerifyOptions } from "./commands/keys.js";
export { signedManifestFromJson, signedManifestToJson, type SignedManifestJson } from "./signed-manifest.js";
