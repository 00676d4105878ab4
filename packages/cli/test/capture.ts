// A CliIo for tests: a non-interactive terminal in `cwd` whose output is kept as text.
import type { CliIo } from "../src/io.js";

export function capture(cwd: string): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    interactive: false,
    cwd,
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}
