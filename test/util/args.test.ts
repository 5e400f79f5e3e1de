import { expect, it } from 'vitest';
import { parseOptions, UsageError } from '../../util/args.ts';

const SPECS = {
  name: { type: 'string', required: true },
  count: { type: 'int', min: 1 },
  rate: { type: 'number' },
  kind: { type: 'string', choices: ['a', 'b'] },
  dry: { type: 'flag' },
  secret: { type: 'string', hidden: true },
} as const;
const parse = (...argv: string[]) => parseOptions(argv, SPECS, 'cmd', 1);

it('reads --opt value and --opt=value alike, typed', () => {
  expect(parse('pos', '--name', 'x', '--count=3', '--rate', '1e-3', '--dry').values).toEqual({ name: 'x', count: 3, rate: 0.001, dry: true });
  expect(parse('--name=x', 'pos').positionals).toEqual(['pos']);
});

it.each([
  [['--name', 'x', '--count', 'abc'], 'cmd: --count must be an integer >= 1, got "abc"'],
  [['--name', 'x', '--count', '0x10'], 'cmd: --count must be an integer >= 1, got "0x10"'],
  [['--name', 'x', '--count='], 'cmd: --count must be an integer >= 1, got ""'],
  [['--name', 'x', '--count', '0'], 'cmd: --count must be an integer >= 1, got "0"'],
  [['--name', 'x', '--rate', '1.5x'], 'cmd: --rate must be a number, got "1.5x"'],
  [['--name', 'x', '--kind', 'c'], 'cmd: --kind must be one of a, b, got "c"'],
  [['--name', 'x', '--bogus', '1'], 'cmd: unknown option --bogus; valid options: --name, --count, --rate, --kind, --dry'],
  [['--count', '2'], 'cmd: missing --name'],
  [['--name'], 'cmd: --name needs a value'],
  [['--name', '--count', '2'], 'cmd: --name needs a value'],
  [['a', 'b', '--name', 'x'], 'cmd: unexpected argument "b"'],
  [['--name', 'x', '--dry=yes'], 'cmd: --dry is a switch and takes no value'],
])('%j: %s', (argv, message) => {
  expect(() => parse(...argv)).toThrow(UsageError);
  expect(() => parse(...argv)).toThrow(message);
});
