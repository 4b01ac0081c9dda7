#!/usr/bin/env node
// `npx zx tasks/firstboot-injection.mjs --help`: see README.md
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { firstbootInjection } from '../dist/tasks/container.js';

process.exitCode = await runScript(firstbootInjection, argv);
