/** `llmux schema`: the JSON Schema of the config file, for editors. */
import type { Command } from 'commander';
import { jsonSchema } from '../config/schema.ts';

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of llmux.yaml (for editor completion: npm run llmux -- schema > llmux.schema.json)')
    .action(() => {
      const schema = { $id: 'https://llmux.dev/llmux.schema.json', title: 'llmux config', ...(jsonSchema() as object) };
      process.stdout.write(JSON.stringify(schema, null, 2) + '\n');
    });
}
