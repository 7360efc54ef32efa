/**
 * `llmux import <format> <path> [-o llmux.yaml] [--force] [--keys-env F | --env-file F]` (SPEC §2,
 * §10): thin wiring of config/import/run.ts onto commander. Errors print one line to stderr and
 * set exit 1.
 *
 * `--keys-env` exists because Node itself claims `--env-file` even after the script name and exits
 * with "node: F: not found" before any of our code runs when F does not exist yet
 * (https://github.com/nodejs/node/issues/54232). `--env-file` still works for an existing file.
 */
import type { Command } from 'commander';
import { importers, runImport } from '../config/import/run.ts';
import type { ImportResult } from '../config/import/result.ts';

export interface ImportCommandHooks {
  /**
   * Called after a successful import, e.g. to load `result.counters` into the store. Not used by
   * the import itself; the CLI composition root decides whether a store is available.
   */
  afterImport?: (result: ImportResult, output: string) => Promise<void> | void;
}

interface ImportFlags {
  output: string;
  force?: boolean;
  keysEnv?: string;
  envFile?: string;
}

export function registerImportCommand(program: Command, hooks: ImportCommandHooks = {}): void {
  program
    .command('import')
    .description('convert the config of a tool llmux replaces into llmux.yaml')
    .argument('<format>', Object.keys(importers).join(' | '))
    .argument('<path>', 'the file or folder of that tool (a repository root works too)')
    .option('-o, --output <file>', 'the YAML file to write', 'llmux.yaml')
    .option('--force', 'overwrite the output (and replace conflicting --keys-env variables)')
    .option('--keys-env <file>', 'write keys into this .env as LLMUX_<ID>_KEY and reference them from the YAML')
    .option('--env-file <file>', 'the same as --keys-env (Node refuses it when the file does not exist yet)')
    .addHelpText('after', '\nKeys are never printed; the summary shows them masked (sk-…abcd).')
    .action(async (format: string, path: string, flags: ImportFlags) => {
      const envFile = flags.keysEnv ?? flags.envFile;
      try {
        const { result, outcome } = await runImport(
          { format, path, output: flags.output, force: flags.force ?? false, ...(envFile ? { envFile } : {}) },
          { print: (line) => process.stdout.write(`${line}\n`) },
        );
        await hooks.afterImport?.(result, outcome.output);
      } catch (e) {
        process.stderr.write(`llmux import: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
