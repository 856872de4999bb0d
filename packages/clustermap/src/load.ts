/**
 * Turning the two files into a ClusterLayout: JSON syntax, then the schema, then the semantic checks.
 * Both files are always checked, even when one of them is broken, so all problems surface at once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { LayoutProblemError, LayoutValidationError } from './errors.js';
import { formatJsonPath } from './json-path.js';
import { ClusterLayout } from './layout.js';
import {
  HARDWARE_FILE,
  type HardwareFile,
  hardwareSchema,
  PARTITIONS_FILE,
  type PartitionsFile,
  partitionsSchema,
} from './schema.js';
import { checkHardware, checkPartitions } from './validate.js';

function parseWith<T>(
  file: string,
  text: string,
  schema: z.ZodType<T>,
  problems: LayoutProblemError[],
): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problems.push(new LayoutProblemError(file, '(root)', `not valid JSON: ${(error as Error).message}`));
    return undefined;
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    problems.push(new LayoutProblemError(file, formatJsonPath(issue.path), issue.message));
  }
  return undefined;
}

/** Validates already-parsed file contents (e.g. fresh from the generator or from Redis). */
export function buildLayout(hardware: unknown, partitions: unknown): ClusterLayout {
  return parseLayout(JSON.stringify(hardware), JSON.stringify(partitions));
}

/** Parses and validates the text of both files; throws LayoutValidationError listing every problem. */
export function parseLayout(hardwareText: string, partitionsText: string): ClusterLayout {
  const problems: LayoutProblemError[] = [];
  const hardware: HardwareFile | undefined = parseWith(HARDWARE_FILE, hardwareText, hardwareSchema, problems);
  const partitions: PartitionsFile | undefined = parseWith(
    PARTITIONS_FILE,
    partitionsText,
    partitionsSchema,
    problems,
  );
  if (hardware) problems.push(...checkHardware(hardware));
  if (hardware && partitions) problems.push(...checkPartitions(hardware, partitions));
  if (problems.length > 0 || !hardware || !partitions) throw new LayoutValidationError(problems);
  return new ClusterLayout(hardware, partitions);
}

async function readText(
  dir: string,
  file: string,
  problems: LayoutProblemError[],
): Promise<string | undefined> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push(new LayoutProblemError(file, '(root)', `cannot read ${join(dir, file)}: ${code ?? error}`));
    return undefined;
  }
}

/** Loads hardware.json and partitions.json from a directory. */
export async function loadLayout(dir: string): Promise<ClusterLayout> {
  const problems: LayoutProblemError[] = [];
  // One after the other, so problems are always reported in the same order.
  const hardwareText = await readText(dir, HARDWARE_FILE, problems);
  const partitionsText = await readText(dir, PARTITIONS_FILE, problems);
  if (hardwareText === undefined || partitionsText === undefined) {
    // Still check the file that could be read, so its problems are reported too.
    try {
      if (hardwareText !== undefined) parseLayout(hardwareText, '{}');
      if (partitionsText !== undefined) parseLayout('{}', partitionsText);
    } catch (error) {
      if (!(error instanceof LayoutValidationError)) throw error;
      const file = hardwareText !== undefined ? HARDWARE_FILE : PARTITIONS_FILE;
      problems.push(...error.problems.filter((p) => p.file === file));
    }
    throw new LayoutValidationError(problems);
  }
  return parseLayout(hardwareText, partitionsText);
}
