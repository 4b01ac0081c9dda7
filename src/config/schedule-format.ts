/**
 * The rules for the schedule's strings, used by the schema (so a bad value is
 * refused at load, with its file and key path, like every other key) and by
 * triggers/schedule.ts before it starts the scheduler: the cron expression as
 * node-cron (the scheduler that runs it) validates it, the time zone as Intl
 * (which node-cron uses to apply it) knows it.
 */
import cron from 'node-cron';
import type { Check } from './formats.js';

/** A cron expression node-cron accepts: 5 fields, or 6 with seconds first. */
export const cronExpression: Check = (v) =>
  cron.validate(v)
    ? undefined
    : 'not a valid cron expression: expected 5 fields "minute hour day-of-month month day-of-week" (or 6 with seconds first), e.g. "17 3 * * *"';

/** An IANA time zone name Intl knows ("Europe/Berlin", "UTC"). */
export const timeZone: Check = (v) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: v });
    return undefined;
  } catch {
    return 'unknown time zone: expected an IANA name like "Europe/Berlin" or "UTC"';
  }
};
