import { GLOBAL_OPTIONS, type OptionSpec } from './args.js';
import { COMMANDS, type CommandSpec } from './commands.js';

function optionLines(specs: readonly OptionSpec[]): string[] {
  return specs.map((o) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.name}${o.value === undefined ? '' : ` ${o.value}`}`;
    return `  ${flag.padEnd(26)} ${o.help}`;
  });
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.words.join(' ').length));
  return [
    'ferry: build software from source into a relocatable store, and switch profiles atomically.',
    '',
    'Usage: ferry [GLOBAL OPTIONS] COMMAND [ARGS…]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Global options (before or after the command):',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Environment: FERRY_ROOT, FERRY_PORTS (colon-separated), FERRY_DISTFILES (colon-separated), NO_COLOR.',
    'Start with: ferry demo      Then: ferry install zlib && ferry generations',
    'More: ferry COMMAND --help',
  ].join('\n');
}

export function commandHelp(c: CommandSpec): string {
  return [
    `Usage: ${c.usage}`,
    '',
    `${c.summary[0]?.toUpperCase() ?? ''}${c.summary.slice(1)}.`,
    c.description,
    ...(c.options.length > 0 ? ['', 'Options:', ...optionLines(c.options)] : []),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
  ].join('\n');
}
