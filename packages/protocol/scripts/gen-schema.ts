/**
 * Regenerates src/wire/schema.generated.json from proto/ambry.proto. The .proto file is the source of
 * truth; the JSON descriptor is what the package loads at run time (no .proto parsing at start-up,
 * no file lookups relative to dist/). test/wire-schema.test.ts fails when the two drift apart.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const protoPath = fileURLToPath(new URL('../proto/ambry.proto', import.meta.url));
const outPath = fileURLToPath(new URL('../src/wire/schema.generated.json', import.meta.url));
const json = protobuf.loadSync(protoPath).toJSON();
writeFileSync(outPath, `${JSON.stringify(json, null, 2)}\n`);
console.log(`wrote ${outPath}`);
