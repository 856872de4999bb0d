import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';

const protoPath = fileURLToPath(new URL('../proto/ambry.proto', import.meta.url));
const jsonPath = fileURLToPath(new URL('../src/wire/schema.generated.json', import.meta.url));

describe('wire schema', () => {
  it('the generated descriptor matches proto/ambry.proto (run `pnpm gen:schema` after editing it)', () => {
    const fromProto = protobuf.loadSync(protoPath).toJSON();
    expect(JSON.parse(readFileSync(jsonPath, 'utf8'))).toEqual(JSON.parse(JSON.stringify(fromProto)));
  });

  it('ErrorCode in TypeScript and in the .proto have the same names and numbers', () => {
    const protoEnum = protobuf.loadSync(protoPath).lookupEnum('ambry.wire.v1.ErrorCode').values;
    const tsEnum = Object.fromEntries(
      Object.entries(ErrorCode).filter(([, value]) => typeof value === 'number'),
    ) as Record<string, number>;
    expect(tsEnum).toEqual(protoEnum);
  });
});
