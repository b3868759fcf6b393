#!/usr/bin/env node
// Compiles every schema of openapi.yaml the way Prism's validator does, and
// fails on any that ajv cannot compile: Prism swallows such a failure
// (prism-http's validateAgainstSchema wraps the compilation in
// O.tryCatch) and then validates nothing against that schema, so a proxy
// or a mock would let anything through without a word.
//
// The pipeline is Prism's own, from the packages prism-cli 5.14.2 runs
// (pinned in package.json at the versions its lock resolves):
//   1. @stoplight/json-schema-ref-parser dereferences the document
//      (prism-http's getHttpOperationsFromSpec);
//   2. @stoplight/http-spec's convertSchema turns OpenAPI 3.0 into JSON
//      Schema draft 7: `nullable: true` becomes `type: [T, "null"]`, and
//      `null` is appended to an enum;
//   3. @stoplight/json-schema-merge-allof merges allOf (prism-http's
//      withoutAllOf, which keeps the schema as it was when merging throws);
//   4. ajv 8 with Prism's options (prism-http's baseAjvOptions, ajv-formats)
//      compiles it.
//
// Two passes: every schema of components/schemas, then every request and
// response body of every operation as Prism sees it (after its own
// operation transform), so that an inline schema is not missed either.
//
// Usage: node check-schemas.js [path/to/openapi.yaml]
'use strict';

const path = require('node:path');
const $RefParser = require('@stoplight/json-schema-ref-parser');
const { convertToJsonSchema: convertSchema } = require('@stoplight/http-spec/oas');
const { getHttpOperationsFromSpec } = require('@stoplight/prism-http/dist/utils/operations');
const { stripReadOnlyProperties, stripWriteOnlyProperties } = require('@stoplight/prism-http/dist/utils/filterRequiredProperties');
const mergeAllOf = require('@stoplight/json-schema-merge-allof');
const Ajv = require('ajv').default;
const addFormats = require('ajv-formats').default;

const specPath = path.resolve(process.argv[2] || path.join(__dirname, '..', '..', 'openapi.yaml'));

// prism-http 5.12.0, dist/validator/validators/utils.js: baseAjvOptions.
// Both of Prism's instances (coercing for parameters, not for bodies)
// compile alike; bodies use the non-coercing one.
function prismAjv() {
  const ajv = new Ajv({
    allErrors: true,
    allowUnionTypes: true,
    allowMatchingProperties: true,
    strict: false,
    coerceTypes: false,
    logger: { log() {}, warn() {}, error: console.error },
  });
  addFormats(ajv);
  return ajv;
}

// prism-http's withoutAllOf: merge, or keep the schema when merging throws.
function withoutAllOf(schema) {
  try {
    return mergeAllOf(schema, { deep: true, ignoreAdditionalProperties: true });
  } catch {
    return schema;
  }
}

function compileError(ajv, schema) {
  try {
    ajv.compile(schema);
    return null;
  } catch (err) {
    return err.message;
  }
}

async function main() {
  const failures = [];
  const ajv = prismAjv();

  // Pass 1: components/schemas, each converted and compiled on its own.
  const doc = await new $RefParser().dereference(specPath);
  const schemas = (doc.components && doc.components.schemas) || {};
  const names = Object.keys(schemas);
  for (const name of names) {
    const converted = withoutAllOf(convertSchema(doc, schemas[name]));
    const message = compileError(ajv, converted);
    if (message) failures.push({ where: `components/schemas/${name}`, message });
  }

  // Pass 2: what Prism validates, operation by operation.
  const operations = await getHttpOperationsFromSpec(specPath);
  let bodies = 0;
  const seen = new Set();
  // The dereferenced document shares one object per $ref target: compile
  // each (schema, direction) once.
  const cache = new Map([[stripReadOnlyProperties, new WeakMap()], [stripWriteOnlyProperties, new WeakMap()]]);
  const check = (where, schema, strip) => {
    if (!schema) return;
    bodies++;
    let message = cache.get(strip).get(schema);
    if (message === undefined) {
      // strip gives an fp-ts Option: Some(schema without the properties).
      const stripped = strip(withoutAllOf(schema));
      const normalized = stripped._tag === 'Some' ? stripped.value : schema;
      message = compileError(ajv, normalized);
      cache.get(strip).set(schema, message);
    }
    if (message && !seen.has(where)) {
      seen.add(where);
      failures.push({ where, message });
    }
  };
  for (const op of operations) {
    const id = op.iid || `${op.method.toUpperCase()} ${op.path}`;
    for (const c of (op.request && op.request.body && op.request.body.contents) || []) {
      check(`${id} request ${c.mediaType}`, c.schema, stripReadOnlyProperties);
    }
    for (const r of op.responses || []) {
      for (const c of r.contents || []) {
        check(`${id} response ${r.code} ${c.mediaType}`, c.schema, stripWriteOnlyProperties);
      }
    }
  }

  for (const f of failures) console.log(`FAIL ${f.where}: ${f.message}`);
  console.log(`ajv (as Prism): ${names.length} component schemas and ${bodies} operation bodies compiled, ${failures.length} failed`);
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 2;
});
