import type { Code } from './codes.js';

/** What long work is doing, for progress display. `id` ties updates of one activity together. */
export interface Activity {
  readonly id: string;
  readonly kind: 'build' | 'fetch' | 'copy' | 'check' | 'sync';
  readonly text: string;
}

/**
 * The only way library code talks to the user. The CLI picks a renderer (tty, plain, json, silent,
 * recording); libraries never write to stdout or stderr themselves.
 */
export interface Reporter {
  info(text: string): void;
  warn(code: Code | undefined, text: string): void;
  section(title: string): void;
  start(activity: Activity): void;
  progress(id: string, text: string): void;
  finish(id: string, outcome: 'ok' | 'failed' | 'skipped', text?: string): void;
}

export type ReporterEvent =
  | { readonly kind: 'info'; readonly text: string }
  | { readonly kind: 'warn'; readonly code: Code | undefined; readonly text: string }
  | { readonly kind: 'section'; readonly title: string }
  | { readonly kind: 'start'; readonly activity: Activity }
  | { readonly kind: 'progress'; readonly id: string; readonly text: string }
  | { readonly kind: 'finish'; readonly id: string; readonly outcome: string; readonly text?: string };

/** Keeps every event; for tests and for building a summary after the fact. */
export class RecordingReporter implements Reporter {
  readonly events: ReporterEvent[] = [];
  info(text: string): void {
    this.events.push({ kind: 'info', text });
  }
  warn(code: Code | undefined, text: string): void {
    this.events.push({ kind: 'warn', code, text });
  }
  section(title: string): void {
    this.events.push({ kind: 'section', title });
  }
  start(activity: Activity): void {
    this.events.push({ kind: 'start', activity });
  }
  progress(id: string, text: string): void {
    this.events.push({ kind: 'progress', id, text });
  }
  finish(id: string, outcome: 'ok' | 'failed' | 'skipped', text?: string): void {
    this.events.push(
      text === undefined ? { kind: 'finish', id, outcome } : { kind: 'finish', id, outcome, text },
    );
  }
}
