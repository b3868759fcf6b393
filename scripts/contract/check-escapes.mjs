#!/usr/bin/env node
// Fails when the hand-written TypeScript (client/ and scenario/, not the
// generated schema.gen.ts) escapes its types: a non-null assertion
// (`x!`), a cast (`x as T`, `<T>x`, `as const` included) or an `any`.
// Those are exactly the workarounds a client writes when the contract is
// not precise: the day must read without them.
//
// Usage: node check-escapes.mjs [files…] (default: the tsconfig's files)
import path from "node:path";
import ts from "typescript";

const here = path.dirname(new URL(import.meta.url).pathname);
let files = process.argv.slice(2);
if (files.length === 0) {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(here, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => console.error(d.messageText) });
  files = config.fileNames.filter((f) => !f.endsWith(".gen.ts"));
}

const found = [];
for (const file of files) {
  const source = ts.createSourceFile(file, ts.sys.readFile(file) ?? "", ts.ScriptTarget.Latest, true);
  const report = (node, what) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    found.push(`${path.relative(process.cwd(), file)}:${line + 1}:${character + 1}: ${what}: ${node.getText(source).slice(0, 80)}`);
  };
  const visit = (node) => {
    if (ts.isNonNullExpression(node)) report(node, "non-null assertion");
    else if (ts.isAsExpression(node)) report(node, "cast");
    else if (ts.isTypeAssertionExpression(node)) report(node, "cast");
    else if (node.kind === ts.SyntaxKind.AnyKeyword) report(node, "any");
    ts.forEachChild(node, visit);
  };
  visit(source);
}
for (const f of found) console.log(f);
console.log(`escapes: ${files.length} files, ${found.length} non-null assertions, casts or any`);
process.exitCode = found.length ? 1 : 0;
