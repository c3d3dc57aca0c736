// Runs SQL in DuckDB (npm @duckdb/node-api) for cmd/orderflow/internal/lakequery: reads
// {"setup": [statements], "query": "SELECT ..."} on stdin, writes {"columns": [...],
// "rows": [[...], ...]} on stdout (values as getRowsJson gives them: BIGINT as a string),
// an error message on stderr with exit status 1.
const { DuckDBInstance } = require('@duckdb/node-api');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  try {
    const req = JSON.parse(input);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    for (const stmt of req.setup || []) {
      await conn.run(stmt);
    }
    const reader = await conn.runAndReadAll(req.query);
    process.stdout.write(JSON.stringify({ columns: reader.columnNames(), rows: reader.getRowsJson() }));
  } catch (err) {
    process.stderr.write(String(err && err.message ? err.message : err));
    process.exit(1);
  }
});
