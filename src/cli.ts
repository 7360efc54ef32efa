/**
 * The `llmux` command line. Each command's module is loaded only when that command runs (help and
 * unknown commands load them all), so `llmux serve` never loads the mock upstream or the importers.
 */
import { Command } from 'commander';

type Register = (program: Command) => void;

const commands: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./cli/serve.ts')).registerServeCommand,
  check: async () => (await import('./cli/check.ts')).registerCheckCommand,
  schema: async () => (await import('./cli/schema.ts')).registerSchemaCommand,
  mock: async () => (await import('./cli/mock.ts')).registerMockCommand,
  import: async () => (await import('./cli/import.ts')).registerImportCommand,
  keys: async () => (await import('./cli/keys.ts')).registerKeysCommand,
  demo: async () => (await import('./cli/demo.ts')).registerDemoCommand,
};

/** The commands this invocation needs: the one named, `serve` for options only (the default), else all. */
function needed(argv: string[]): string[] {
  const first = argv[0];
  if (first !== undefined && Object.hasOwn(commands, first)) return [first];
  const wantsHelp = argv.some((a) => a === '-h' || a === '--help' || a === 'help');
  if ((first === undefined || first.startsWith('-')) && !wantsHelp && first !== '-V' && first !== '--version') return ['serve'];
  return Object.keys(commands);
}

const program = new Command();
program
  .name('llmux')
  .description('An LLM API gateway: one OpenAI-compatible endpoint in front of many upstream APIs.')
  .version('0.1.0')
  .showHelpAfterError('(run llmux --help for the commands)');
for (const name of needed(process.argv.slice(2))) (await commands[name]!())(program);

await program.parseAsync(process.argv);
