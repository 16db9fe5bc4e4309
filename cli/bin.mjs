#!/usr/bin/env node
// `npx cellkv ...`: runs the TypeScript CLI (cli/cellkv.ts) through tsx's ESM loader, so the
// bin works from a checkout without a build step.
import { register } from 'tsx/esm/api';

register();
await import('./cellkv.ts');
