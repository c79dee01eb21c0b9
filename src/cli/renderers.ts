import { type Activity, type Code, type Reporter } from '../core/index.js';
import { writeErr } from './output.js';

/** Plain lines on stderr: for CI logs and pipes. Progress lines are shown only with -v. */
export class PlainReporter implements Reporter {
  private readonly verbose: boolean;
  private readonly names = new Map<string, string>();
  private readonly started = new Map<string, number>();
  private readonly lastShown = new Map<string, number>();
  constructor(verbose: boolean) {
    this.verbose = verbose;
  }
  info(text: string): void {
    writeErr(`${text}\n`);
  }
  warn(code: Code | undefined, text: string): void {
    writeErr(`warning${code === undefined ? '' : ` [${code}]`}: ${text}\n`);
  }
  section(title: string): void {
    writeErr(`== ${title}\n`);
  }
  start(a: Activity): void {
    this.names.set(a.id, a.text);
    this.started.set(a.id, Date.now());
    writeErr(`${a.kind} ${a.text} …\n`);
  }
  /** Every line with -v; otherwise a heartbeat every 20 s, so a long build in CI is visibly alive. */
  progress(id: string, text: string): void {
    const name = this.names.get(id) ?? id;
    if (this.verbose) {
      writeErr(`  ${name}| ${text}\n`);
      return;
    }
    const now = Date.now();
    const start = this.started.get(id) ?? now;
    if (now - (this.lastShown.get(id) ?? start) < 20_000) return;
    this.lastShown.set(id, now);
    writeErr(`  … ${name} (${Math.round((now - start) / 1000)}s): ${text.trim().slice(0, 100)}\n`);
  }
  finish(id: string, outcome: 'ok' | 'failed' | 'skipped', text?: string): void {
    const secs = ((Date.now() - (this.started.get(id) ?? Date.now())) / 1000).toFixed(1);
    writeErr(
      `${outcome === 'ok' ? 'done' : outcome} ${this.names.get(id) ?? id} (${secs}s)${text ? `: ${text}` : ''}\n`,
    );
  }
}

/** One status line per running activity, redrawn in place, on an interactive terminal. */
export class TtyReporter extends PlainReporter {
  private readonly live = new Map<string, string>();
  private drawn = 0;
  private last = 0;
  override info(text: string): void {
    this.clear();
    super.info(text);
    this.draw();
  }
  override warn(code: Code | undefined, text: string): void {
    this.clear();
    super.warn(code, text);
    this.draw();
  }
  override start(a: Activity): void {
    this.clear();
    super.start(a);
    this.live.set(a.id, `${a.kind} ${a.text}`);
    this.draw();
  }
  override progress(id: string, text: string): void {
    const label = this.live.get(id)?.split(' | ')[0];
    if (label === undefined) return;
    this.live.set(id, `${label} | ${text.replace(/\s+/g, ' ').slice(0, 70)}`);
    if (Date.now() - this.last < 100) return;
    this.clear();
    this.draw();
  }
  override finish(id: string, outcome: 'ok' | 'failed' | 'skipped', text?: string): void {
    this.live.delete(id);
    this.clear();
    super.finish(id, outcome, text);
    this.draw();
  }
  private clear(): void {
    if (this.drawn > 0) writeErr(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }
  private draw(): void {
    this.last = Date.now();
    const cols = process.stderr.columns || 80;
    for (const line of this.live.values()) writeErr(`${line.slice(0, cols - 1)}\n`);
    this.drawn = this.live.size;
  }
}

/** NDJSON events on stderr, for programs watching long work. */
export class JsonReporter implements Reporter {
  private emit(event: Record<string, unknown>): void {
    writeErr(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }
  info(text: string): void {
    this.emit({ event: 'info', text });
  }
  warn(code: Code | undefined, text: string): void {
    this.emit({ event: 'warn', code, text });
  }
  section(title: string): void {
    this.emit({ event: 'section', title });
  }
  start(a: Activity): void {
    this.emit({ event: 'start', ...a });
  }
  progress(id: string, text: string): void {
    this.emit({ event: 'progress', id, text });
  }
  finish(id: string, outcome: string, text?: string): void {
    this.emit({ event: 'finish', id, outcome, text });
  }
}
