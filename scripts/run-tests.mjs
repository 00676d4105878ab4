#!/usr/bin/env node
// Runs every test suite of the repository and sums them in one closing line
// "N passed, N failed". Steps run in order and a failing step does not stop the others.
// Usage: node scripts/run-tests.mjs [--quick]   (--quick skips the sanitizer build and fuzzing)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const quick = process.argv.includes("--quick");
const results = []; // { step, passed, failed }
const reports = join(root, ".meshota", "test-reports");
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const jobs = "2";
const hostBuild = join(root, "firmware/host/build");
const env = {
  ...process.env,
  MESHOTA_ROUNDTRIP: join(hostBuild, "tools/meshota_roundtrip"),
  MESHOTA_EMULATOR: join(hostBuild, "meshota_emulator"),
};

function run(cmd, args, options = {}) {
  console.log(`\n$ ${[cmd, ...args].join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: options.cwd ?? root, stdio: "inherit", env: { ...env, ...options.env } });
  return r.status === 0;
}

/** A step that is one check: it passes or fails as a whole. */
function check(step, cmd, args, options) {
  const ok = run(cmd, args, options);
  results.push({ step, passed: ok ? 1 : 0, failed: ok ? 0 : 1 });
  return ok;
}

/** Builds a CMake tree and runs its ctest suite, counting each cmocka case. */
function cmakeSuite(step, buildDir, cmakeArgs, options = {}) {
  const configured =
    run("cmake", ["-S", "firmware/host", "-B", buildDir, "-DCMAKE_BUILD_TYPE=Debug", ...cmakeArgs], options) &&
    run("cmake", ["--build", buildDir, "-j", jobs], options);
  if (!configured) {
    results.push({ step: `${step} (build)`, passed: 0, failed: 1 });
    return false;
  }
  const junit = join(reports, `${step.replace(/\W+/g, "-")}.xml`);
  run("ctest", ["--test-dir", buildDir, "--output-on-failure", "-j", jobs, "--output-junit", junit], {
    env: { ...options.env, CMOCKA_MESSAGE_OUTPUT: "TAP" },
  });
  results.push({ step, ...countJunit(junit) });
  return true;
}

/** Counts TAP lines inside each ctest case; a case without them counts once by its status. */
function countJunit(file) {
  if (!existsSync(file)) return { passed: 0, failed: 1 };
  const xml = readFileSync(file, "utf8");
  let passed = 0;
  let failed = 0;
  for (const m of xml.matchAll(/<testcase [^>]*status="(\w+)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
    const [, status, body] = m;
    const ok = (body.match(/^ok \d+/gm) ?? []).length;
    const notOk = (body.match(/^not ok \d+/gm) ?? []).length;
    if (ok + notOk > 0) {
      passed += ok;
      failed += notOk;
      // A crash after the last TAP line still fails the case.
      if (status !== "run" && notOk === 0) failed += 1;
    } else if (status === "run") {
      passed += 1;
    } else {
      failed += 1;
    }
  }
  return { passed, failed };
}

function workspacePackages() {
  return readdirSync(join(root, "packages"))
    .map((dir) => join(root, "packages", dir))
    .filter((dir) => existsSync(join(dir, "package.json")))
    .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }));
}

/** Runs one package's vitest suite and counts its tests from the JSON report. */
function vitestSuite({ dir, pkg }) {
  const out = join(reports, `${pkg.name.replace(/\W+/g, "-")}.json`);
  console.log(`\n# ${pkg.name}`);
  run("pnpm", ["exec", "vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`], { cwd: dir });
  if (!existsSync(out)) {
    results.push({ step: `${pkg.name} tests`, passed: 0, failed: 1 });
    return;
  }
  const report = JSON.parse(readFileSync(out, "utf8"));
  const failedFiles = (report.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
  // A test that skipped itself (for example because a native tool was missing) did not run:
  // here every tool is built first, so a skip counts as a failure.
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  if (skipped > 0) console.log(`${pkg.name}: ${skipped} tests skipped; counted as failed`);
  results.push({
    step: `${pkg.name} tests`,
    passed: report.numPassedTests,
    failed: report.numFailedTests + failedFiles + skipped + (report.numTotalTests === 0 ? 1 : 0),
  });
}

// 1. Generated code is what the schema says.
check("generated code up to date", "node", ["tools/generate.mjs", "--check"]);

// 2. Firmware on the host: plain build (also provides the tools the TS tests use), then
//    the same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
cmakeSuite("firmware host tests", hostBuild, []);
if (!quick) {
  cmakeSuite("firmware host tests (ASan/UBSan)", join(root, "firmware/host/build-asan"), ["-DMESHOTA_SANITIZE=ON"]);
}
if (!quick) {
  // libFuzzer on decode + dispatch for a minute; longer runs: bench/fuzz/run.sh 600.
  check("fuzz decode + dispatch (60 s)", "sh", ["bench/fuzz/run.sh", "60"]);
}
check("firmware size budget (rv32imc .text <= 16 KB, no heap)", "sh", ["tools/size/size.sh", "--check"]);

// 3. TypeScript: build, lint (types, publint, attw), vitest per package.
check("TypeScript build", "pnpm", ["turbo", "run", "build", "--output-logs=errors-only"]);
for (const p of workspacePackages()) {
  if (p.pkg.scripts?.lint) check(`${p.pkg.name} lint`, "pnpm", ["--filter", p.pkg.name, "run", "lint"]);
}
for (const p of workspacePackages()) {
  if (p.pkg.scripts?.test) vitestSuite(p);
}

// Summary.
console.log("\nsummary:");
for (const r of results) console.log(`  ${r.failed === 0 ? "ok  " : "FAIL"} ${r.step}: ${r.passed} passed, ${r.failed} failed`);
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
