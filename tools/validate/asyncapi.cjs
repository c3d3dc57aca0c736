// Parses AsyncAPI documents with the official parser (@asyncapi/parser, pinned in
// mk/validate.mk, found through NODE_PATH) and fails on any error or warning diagnostic.
// Relative $refs (events/asyncapi.yaml's payloads reference events/schemas/*.json) are
// resolved from the document's directory.
//
//   node tools/validate/asyncapi.cjs DOC...                    # each must parse cleanly
//   node tools/validate/asyncapi.cjs --expect-invalid DOC...   # each must be rejected
//
// --expect-invalid runs the parser on fixtures it must reject, so that a broken set-up
// (a parser that accepts anything) cannot pass as a clean document.
'use strict';
const path = require('path');
const { Parser, fromFile, DiagnosticSeverity } = require('@asyncapi/parser');

async function check(file) {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, file).parse();
  const bad = diagnostics.filter(d => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning);
  for (const d of bad) {
    const level = d.severity === DiagnosticSeverity.Error ? 'error' : 'warning';
    console.log(`${file}: ${level}: ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
  }
  return document !== undefined && bad.length === 0;
}

(async () => {
  let args = process.argv.slice(2);
  const expectInvalid = args[0] === '--expect-invalid';
  if (expectInvalid) args = args.slice(1);
  if (args.length === 0) {
    console.error('usage: asyncapi.cjs [--expect-invalid] DOC...');
    process.exit(2);
  }
  let failed = false;
  for (const file of args) {
    const ok = await check(path.resolve(file));
    if (ok === expectInvalid) {
      console.error(`${file}: ${expectInvalid ? 'accepted, but it must be rejected' : 'rejected'}`);
      failed = true;
    } else {
      console.log(`${file}: ${ok ? 'valid AsyncAPI' : 'rejected, as expected'}`);
    }
  }
  process.exit(failed ? 1 : 0);
})().catch(err => { console.error(err); process.exit(1); });
