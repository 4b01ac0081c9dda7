#!/usr/bin/env node
// `npx zx tasks/bootstrap.mjs --help`: see README.md
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { bootstrap } from '../dist/tasks/container.js';

process.exitCode = await runScript(bootstrap, argv);
