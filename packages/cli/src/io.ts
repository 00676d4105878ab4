// Where a command writes, so that tests can capture it and the binary can use the process's
// streams.

/** Output of a command run. */
export interface CliIo {
  /** Normal output. */
  out(text: string): void;
  /** Diagnostics and errors. */
  err(text: string): void;
  /** True when `out` is a terminal (progress bars are drawn only then). */
  readonly interactive: boolean;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
}

/** The process's stdout and stderr. */
export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    interactive: Boolean(process.stdout.isTTY),
    cwd: process.cwd(),
  };
}

/** A command failed in a way the user can fix; the message is printed without a stack. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
