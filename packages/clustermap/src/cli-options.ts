import { InvalidArgumentError } from 'commander';

/** A commander option parser accepting integers >= `min`, with a message commander prints as is. */
export function integer(min: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('not an integer.');
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer >= ${min}.`);
    return n;
  };
}
