// `meshota demo` / `meshota simulate`: options, live progress bars, the final table and the
// SVG timeline around runDemo().
import { writeFile } from "node:fs/promises";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { methodName, type CampaignEvent } from "@meshota/core";
import { renderTimelineSvg, type NodeRole, type TimelineRow, type TopologyKind } from "@meshota/sim";
import cliProgress from "cli-progress";
import Table from "cli-table3";
import type { Command } from "commander";
import { numberOption } from "../util.js";
import { runDemo, type DemoNode, type DemoOptions, type DemoResult } from "../demo/run.js";
import { CliError, type CliIo } from "../io.js";

const hex4 = (a: number) => `0x${a.toString(16).padStart(4, "0")}`;

/** Parses "tcp:2,espnow:1,mesh:0". */
export function parseMix(text: string): Partial<Record<NodeRole, number>> {
  const mix: Partial<Record<NodeRole, number>> = {};
  for (const part of text.split(",")) {
    const m = /^\s*(wifi|tcp|espnow|mesh)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m) throw new CliError(`--mix: "${part}" is not role:weight with a role of wifi, tcp, espnow or mesh`);
    mix[m[1] as NodeRole] = Number(m[2]);
  }
  return mix;
}

const number = numberOption;

/** The SVG rows: one per node, both passes. */
export function timelineRows(result: DemoResult): TimelineRow[] {
  return result.nodes.map((n) => ({
    label: `${hex4(n.address)} ${n.role}${n.report.relayedBy !== undefined ? ` via ${hex4(n.report.relayedBy)}` : ""}`,
    history: result.scenario.sim.history(n.address),
    events:
      n.tamperRefusedAt === undefined
        ? []
        : [{ at: n.tamperRefusedAt, color: "#dc2626", title: `refused the tampered image (${n.tamperRefusal ?? "?"})` }],
  }));
}

/** Why a node did not finish; a cancelled node was stopped by the time limit. */
function nodeProblem(result: DemoResult, r: DemoNode["report"]): string {
  if (r.failure) return r.failure.message;
  if (r.pendingReason) return r.pendingReason;
  if (r.outcome === "cancelled" && result.outOfTime) return `out of simulated time (--time-limit ${result.timeLimitS} s)`;
  return "no reason given";
}

/** The final per-node table. */
export function resultTable(result: DemoResult, color: boolean): string {
  const table = new Table({
    head: ["node", "role", "method", "relayed by", "tampered image", "from", "now", "done at", "result"],
    style: { head: color ? ["cyan"] : [], border: color ? ["grey"] : [] },
  });
  for (const n of result.nodes) {
    const r = n.report;
    table.push([
      hex4(n.address),
      n.role,
      r.method === undefined ? "-" : methodName(r.method),
      r.relayedBy === undefined ? "-" : hex4(r.relayedBy),
      n.tamperRefusal ? `refused: ${n.tamperRefusal.replace("ERROR_CODE_", "")}` : "-",
      r.fromVersion ?? "-",
      n.finalVersion,
      n.doneAtS === undefined ? "-" : `${n.doneAtS.toFixed(1)} s`,
      r.outcome === "done" ? "updated" : `${r.outcome}: ${nodeProblem(result, r)}`,
    ]);
  }
  return table.toString() + "\n";
}

/** JSON form of the result (no live objects). */
export function resultJson(result: DemoResult, svg: string | undefined, wallMs: number) {
  return {
    ok: result.allUpdated && result.tamperRefused,
    allUpdated: result.allUpdated,
    tamperRefused: result.tamperRefused,
    outOfTime: result.outOfTime,
    image: result.image,
    factoryVersion: result.factoryVersion,
    virtualSeconds: { tamper: result.tamper ? (result.tamper.endedAt - result.tamper.startedAt) / 1000 : null, update: (result.update.endedAt - result.update.startedAt) / 1000 },
    wallSeconds: wallMs / 1000,
    timeline: svg ?? null,
    nodes: result.nodes.map((n) => ({
      address: n.address,
      role: n.role,
      method: n.report.method === undefined ? null : methodName(n.report.method),
      relayedBy: n.report.relayedBy ?? null,
      tamperRefusal: n.tamperRefusal ?? null,
      versionAfterTamper: n.versionAfterTamper ?? null,
      fromVersion: n.report.fromVersion ?? null,
      finalVersion: n.finalVersion,
      outcome: n.report.outcome,
      failure: n.report.outcome === "done" ? null : nodeProblem(result, n.report),
      doneAtSeconds: n.doneAtS ?? null,
    })),
    media: result.stats,
  };
}

interface DemoFlags {
  nodes: number;
  topology: string;
  mix: string;
  loss: number;
  seed: number;
  image?: string;
  /** Only `demo` has --no-tamper; `simulate` never runs the tampered pass. */
  tamper?: boolean;
  svg: string;
  json?: boolean;
  espnowRate: number;
  timeLimit: number;
  concurrency: number;
  emulator?: string;
}

/** Live output: a bar per node on a terminal, a line per phase change otherwise. */
function liveOutput(io: CliIo, json: boolean) {
  if (json) return { hooks: {}, stop: () => undefined };
  if (!io.interactive) {
    return {
      hooks: {
        phase: (name: string, detail: string) => io.out(`== ${name}: ${detail}\n`),
        event: (pass: string, e: CampaignEvent, now: number) => {
          if (e.type !== "state" || (e.state !== "done" && e.state !== "failed")) return;
          // In the tampered pass a failure is the refusal the demo expects.
          const what = pass === "tamper" && e.state === "failed" ? "refused" : e.state;
          io.out(`  [${(now / 1000).toFixed(1).padStart(6)} s] ${pass} ${hex4(e.address)} ${what}\n`);
        },
      },
      stop: () => undefined,
    };
  }
  const multibar = new cliProgress.MultiBar(
    { format: " {node} {bar} {percentage}% | {state}", hideCursor: true, clearOnComplete: false, stream: process.stdout, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<number, cliProgress.SingleBar>();
  const bar = (address: number) => {
    let b = bars.get(address);
    if (!b) {
      b = multibar.create(100, 0, { node: hex4(address), state: "pending" });
      bars.set(address, b);
    }
    return b;
  };
  let pass = "";
  return {
    hooks: {
      phase: (name: string, detail: string) => {
        multibar.log(`== ${name}: ${detail}\n`);
        if (name === "update") for (const b of bars.values()) b.update(0, { state: "pending" });
        pass = name;
      },
      event: (_p: string, e: CampaignEvent) => {
        if (e.type === "progress") bar(e.address).update(e.percent, {});
        else if (e.type === "state") bar(e.address).update(pass === "update" && e.state === "done" ? 100 : bar(e.address).getProgress() * 100, { state: `${pass}: ${e.state}` });
      },
    },
    stop: () => multibar.stop(),
  };
}

/** Adds `demo` and `simulate` to the program. */
export function installDemo(program: Command, io: CliIo, result: { exitCode: number }): void {
  const action = async (flags: DemoFlags, defaultsTamper: boolean) => {
    const started = Date.now();
    const topology = flags.topology as TopologyKind;
    if (!["grid", "line", "random"].includes(topology)) throw new CliError(`--topology must be grid, line or random, got "${flags.topology}"`);
    let image: Uint8Array | undefined;
    if (flags.image) {
      try {
        image = new Uint8Array(await readFile(resolve(io.cwd, flags.image)));
      } catch (cause) {
        throw new CliError(`cannot read image ${flags.image}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 1, { cause });
      }
    }
    const options: Partial<DemoOptions> = {
      nodes: flags.nodes,
      topology,
      mix: parseMix(flags.mix),
      loss: flags.loss,
      seed: flags.seed,
      image,
      tamper: defaultsTamper && flags.tamper !== false,
      espnowRate: flags.espnowRate,
      timeLimitS: flags.timeLimit,
      concurrency: flags.concurrency,
      emulator: flags.emulator,
    };
    const live = liveOutput(io, Boolean(flags.json));
    let r: DemoResult;
    try {
      r = await runDemo(options, live.hooks);
    } finally {
      live.stop();
    }
    const svgPath = resolve(io.cwd, flags.svg);
    const end = r.update.endedAt;
    await writeFile(
      svgPath,
      renderTimelineSvg(timelineRows(r), {
        title: `meshota ${r.image.projectName} ${r.image.version}: ${r.nodes.length} nodes, seed ${flags.seed}`,
        endMs: end,
        marks: r.tamper ? [{ at: r.tamper.startedAt, label: "tampered image" }, { at: r.update.startedAt, label: "signed image" }] : [],
      }),
    );
    const ok = r.allUpdated && r.tamperRefused;
    if (flags.json) {
      io.out(JSON.stringify(resultJson(r, svgPath, Date.now() - started), null, 2) + "\n");
    } else {
      io.out("\n" + resultTable(r, io.interactive));
      const done = r.nodes.filter((n) => n.report.outcome === "done").length;
      if (r.tamper) {
        const refused = r.nodes.filter((n) => n.tamperRefusal !== undefined).length;
        io.out(`tampered image: refused by ${refused} of ${r.nodes.length} nodes; ${r.tamperRefused ? "no node changed its firmware" : "NOT every node refused it"}\n`);
      }
      io.out(
        `signed image:   ${done} of ${r.nodes.length} nodes run ${r.image.projectName} ${r.image.version} after ${((r.update.endedAt - r.update.startedAt) / 1000).toFixed(1)} s of simulated time (${((Date.now() - started) / 1000).toFixed(1)} s wall)\n`,
      );
      if (r.outOfTime) io.out(`time limit:     a pass ran out of its ${flags.timeLimit} s of simulated time; give a larger --time-limit\n`);
      io.out(`timeline:       ${svgPath}\n`);
      io.out(ok ? "result:         ok\n" : "result:         FAILED\n");
    }
    result.exitCode = ok ? 0 : 4;
  };
  const define = (name: string, description: string, tamper: boolean) => {
    const command = program
      .command(name)
      .description(description)
      .option("-n, --nodes <n>", "number of nodes", number("--nodes", 1, 1000), 30)
      .option("--topology <kind>", "grid, line or random", "grid")
      .option(
        "--mix <roles>",
        "share of node roles: wifi (HTTP download), tcp (TCP firmware server after joining Wi-Fi), espnow (served by ESP-NOW relays), mesh",
        "wifi:1,tcp:1,espnow:2",
      )
      .option("--loss <p>", "loss probability of each transmission on every link", number("--loss", 0, 0.5, false), 0.02)
      .option("--seed <n>", "seed of the simulation", number("--seed", 0, 0xffffffff), 1)
      .option("--image <file>", "ESP32 app image to install (default: a generated 256 KiB image)");
    if (tamper) command.option("--no-tamper", "skip the tampered-image pass");
    command
      .option("--svg <file>", "where to write the SVG timeline", `meshota-${name}-timeline.svg`)
      .option("--espnow-rate <bps>", "effective ESP-NOW throughput of one sender, bit/s", number("--espnow-rate", 10_000, 54_000_000), 214_000)
      .option(
        "--time-limit <s>",
        "simulated seconds a pass may take; then its unfinished nodes are cancelled (the mesh method needs about 15 min per 3 nodes for 256 KiB)",
        number("--time-limit", 1, 30 * 24 * 3600),
        1800,
      )
      .option(
        "--concurrency <n>",
        "nodes updated at once (a relay holds its place while it serves its neighbours)",
        number("--concurrency", 1, 1000),
        8,
      )
      .option("--emulator <path>", "meshota_emulator binary (default: firmware/host/build or $MESHOTA_EMULATOR)")
      .option("--json", "print the result as JSON")
      .action((flags: DemoFlags) => action(flags, tamper));
  };
  define("demo", "update a simulated network of emulated nodes: a tampered image first, then a signed one", true);
  define("simulate", "run a campaign on a simulated network (same options as demo; the tampered pass is off)", false);
}
