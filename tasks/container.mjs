#!/usr/bin/env node
// `npx zx tasks/container.mjs --help`: see README.md
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { container } from '../dist/tasks/container.js';

process.exitCode = await runScript(container, argv);
