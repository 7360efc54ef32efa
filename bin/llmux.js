#!/usr/bin/env node
// Launcher: the CLI is TypeScript run by Node's type stripping (Node >= 24).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`llmux needs Node.js 24 or newer (this is ${process.version}). Run it through npm (npm start / npm run llmux), which uses the Node 24 pinned in package.json, or install Node 24.`);
  process.exit(1);
}
await import('../src/cli.ts');
