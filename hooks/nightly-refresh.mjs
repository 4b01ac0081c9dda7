#!/usr/bin/env node
// One `mirror refresh` now (import every archive, warm, gc, publish and
// re-sign), under the one mirror lock: what the schedule runs nightly, alone.
// For cron or a systemd timer. `--help` for the options (src/tasks/hooks.ts).
import { argv } from 'zx';
import { nightlyRefresh, runHook } from '../dist/tasks/hooks.js';

process.exitCode = await runHook(nightlyRefresh, argv);
