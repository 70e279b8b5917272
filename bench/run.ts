/**
 * The benchmark CLI.
 *
 *   tsx run.ts                 full run: every case, 3 rounds, writes
 *                              bench/results/latest.json and BENCHMARKS.md
 *   tsx run.ts --quick         small sizes, 1 round, workers in parallel;
 *                              checks checksums only, writes nothing
 *   --case <name>[,<name>]     only these cases (repeatable)
 *   --impl <name>[,<name>]     only these implementations (repeatable)
 *   --rounds <n>               rounds per implementation (full: 3, quick: 1)
 *   --render                   only re-render BENCHMARKS.md from results/latest.json, its
 *                              targets judged again from its figures by the current rules
 *   --replace-cases            put the cases of results/partial.json (a filtered run of
 *                              whole cases, e.g. after fixing a case) into latest.json,
 *                              re-evaluate the targets and re-render; the report names them
 *
 * A filtered full run writes bench/results/partial.json and partial.md
 * instead, so it never overwrites the published report with part of a run.
 * Exit code 1 on any checksum mismatch or failing implementation.
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CASES } from "./cases/index.ts";
import { machineInfo } from "./machine.ts";
import { runBenchmarks } from "./orchestrate.ts";
import { type RunReport, replaceCases, writeReport } from "./report.ts";
import { evaluateTargets } from "./targets.ts";

const path = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const list = (values: readonly string[] | undefined): string[] | undefined =>
  values?.flatMap((v) => v.split(",")).filter((v) => v.length > 0);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      case: { type: "string", multiple: true },
      impl: { type: "string", multiple: true },
      rounds: { type: "string" },
      render: { type: "boolean", default: false },
      "replace-cases": { type: "boolean", default: false },
    },
  });
  if (values["replace-cases"] === true) {
    const latest = JSON.parse(await readFile(path("./results/latest.json"), "utf8")) as RunReport;
    const partial = JSON.parse(await readFile(path("./results/partial.json"), "utf8")) as RunReport;
    const report = replaceCases(latest, partial, Object.keys(CASES));
    await writeReport(report, path("./results/latest.json"), path("../BENCHMARKS.md"));
    const names = partial.cases.map((c) => c.name);
    console.error(`replaced ${names.join(", ")} in latest.json and BENCHMARKS.md`);
    return 0;
  }
  if (values.render === true) {
    // The targets are judged again from the saved figures: a rule changed since the run
    // (e.g. which size a target is stated at) shows without re-running anything.
    const latest = JSON.parse(await readFile(path("./results/latest.json"), "utf8")) as RunReport;
    await writeReport(
      { ...latest, targets: evaluateTargets(latest.cases) },
      path("./results/latest.json"),
      path("../BENCHMARKS.md"),
    );
    console.error("re-rendered BENCHMARKS.md from bench/results/latest.json (targets re-judged)");
    return 0;
  }
  const quick = values.quick === true;
  const cases = list(values.case) ?? Object.keys(CASES);
  const unknown = cases.filter((c) => !(c in CASES));
  if (unknown.length > 0) {
    console.error(
      `unknown case(s): ${unknown.join(", ")}; known: ${Object.keys(CASES).join(", ")}`,
    );
    return 2;
  }
  const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rounds must be a positive integer, got ${values.rounds}`);
    return 2;
  }
  const impls = list(values.impl);
  const machine = machineInfo();
  const started = Date.now();
  console.error(
    `sluice bench: ${quick ? "quick (checksums only)" : "full"}, ${rounds} round(s), cases: ${cases.join(", ")}`,
  );

  const outcome = await runBenchmarks({
    quick,
    rounds,
    cases,
    ...(impls === undefined ? {} : { impls }),
    parallelism: quick ? Math.max(1, os.cpus().length) : 1,
    timeoutMs: quick ? 60_000 : 10 * 60_000,
    log: (line) => console.error(line),
  });
  const durationS = (Date.now() - started) / 1000;

  if (!quick) {
    const report: RunReport = {
      schema: 1,
      date: new Date(started).toISOString(),
      mode: "full",
      rounds,
      durationS,
      machine,
      loadAverageEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
      cases: outcome.cases,
      targets: evaluateTargets(outcome.cases),
    };
    const filtered = values.case !== undefined || impls !== undefined;
    const json = path(filtered ? "./results/partial.json" : "./results/latest.json");
    const md = path(filtered ? "./results/partial.md" : "../BENCHMARKS.md");
    await writeReport(report, json, md);
    console.error(`wrote ${json} and ${md}`);
    for (const t of report.targets) {
      const cold = t.cold === undefined ? "" : `; cold ${t.cold}`;
      console.error(`target ${t.id}: ${t.status} (${t.value} vs ${t.limit}${cold})`);
    }
  }

  console.error(`done in ${durationS.toFixed(1)} s`);
  if (outcome.failures.length > 0) {
    console.error(`\n${outcome.failures.length} failure(s):`);
    for (const f of outcome.failures) console.error(`  ✗ ${f}`);
    return 1;
  }
  console.error("all checksums match");
  return 0;
}

process.exitCode = await main();
