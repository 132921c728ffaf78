// Reads one JSON document per line on stdin; prints canonicalize(doc) as a JSON string per line.
import canonicalize from 'canonicalize';
import { createInterface } from 'node:readline';

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.length === 0) continue;
  process.stdout.write(JSON.stringify(canonicalize(JSON.parse(line))) + '\n');
}
