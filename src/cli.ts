/** The `llmux` command line. */
import { Command } from 'commander';
import { registerServeCommand } from './cli/serve.ts';
import { registerCheckCommand } from './cli/check.ts';
import { registerSchemaCommand } from './cli/schema.ts';
import { registerMockCommand } from './cli/mock.ts';
import { registerImportCommand } from './cli/import.ts';
import { registerKeysCommand } from './cli/keys.ts';
import { registerDemoCommand } from './cli/demo.ts';

const program = new Command();
program
  .name('llmux')
  .description('An LLM API gateway: one OpenAI-compatible endpoint in front of many upstream APIs.')
  .version('0.1.0')
  .showHelpAfterError('(run llmux --help for the commands)');
registerServeCommand(program);
registerCheckCommand(program);
registerSchemaCommand(program);
registerMockCommand(program);
registerImportCommand(program);
registerKeysCommand(program);
registerDemoCommand(program);

await program.parseAsync(process.argv);
