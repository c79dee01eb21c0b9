/**
 * Finds where a field sits in TOML source text, so schema errors can name a line and column. TOML parsers
 * return plain values without positions; this scans the text the way a reader's eye would: table headers,
 * then `key =` lines, then the n-th element of an array.
 */
export interface Position {
  readonly line: number;
  readonly column: number;
}

export type FieldPath = readonly (string | number)[];

export function locateField(text: string, path: FieldPath): Position {
  const lines = text.split('\n');
  const want = splitPath(path);
  let table: string[] = [];
  let tableIndex = -1;
  const arrayCounts = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const header = /^\s*\[(\[?)\s*([^\]]+?)\s*\]/.exec(raw);
    if (header !== null) {
      table = (header[2] ?? '').split('.').map((s) => s.trim().replace(/^"|"$/g, ''));
      tableIndex = -1;
      if (header[1] === '[') {
        const name = table.join('.');
        tableIndex = arrayCounts.get(name) ?? 0;
        arrayCounts.set(name, tableIndex + 1);
      }
      if (want.key === undefined && sameTable(table, tableIndex, want)) return { line: i + 1, column: 1 };
      continue;
    }
    if (want.key === undefined || !sameTable(table, tableIndex, want)) continue;
    const m = new RegExp(`^\\s*("?)${escapeRe(want.key)}\\1\\s*=\\s*`).exec(raw);
    if (m === null) continue;
    const valueAt = { line: i + 1, column: m[0].length + 1 };
    if (want.index === undefined) return valueAt;
    return locateElement(lines, i, m[0].length, want.index) ?? valueAt;
  }
  // A key never written as `key =` may be a table of its own: `[profiles.web]` for profiles.web.
  const header = want.key === undefined ? -1 : findHeader(lines, [...want.table, want.key]);
  return { line: header + 1 || 1, column: 1 };
}

function findHeader(lines: readonly string[], names: readonly string[]): number {
  const wanted = names.join('.');
  return lines.findIndex((l) => {
    const m = /^\s*\[\[?\s*([^\]]+?)\s*\]/.exec(l);
    return (
      m !== null &&
      (m[1] ?? '')
        .split('.')
        .map((x) => x.trim().replace(/^"|"$/g, ''))
        .join('.') === wanted
    );
  });
}

interface Target {
  readonly table: readonly string[];
  readonly tableIndex: number | undefined;
  readonly key: string | undefined;
  readonly index: number | undefined;
}

/**
 * `a.b.key`, `a.b.key.n` (n-th element of an array value) and `arr.n.key` (key in the n-th `[[arr]]` table):
 * a number that is not last indexes an array of tables; a number that is last indexes an array value.
 */
function splitPath(path: FieldPath): Target {
  const last = path[path.length - 1];
  const index = typeof last === 'number' ? last : undefined;
  const body = index === undefined ? path : path.slice(0, -1);
  const key = body[body.length - 1];
  const head = body.slice(0, -1);
  const tableIndex = head.find((p): p is number => typeof p === 'number');
  const table = head.filter((p): p is string => typeof p === 'string');
  if (typeof key !== 'string')
    return {
      table: body.filter((p): p is string => typeof p === 'string'),
      tableIndex: index,
      key: undefined,
      index: undefined,
    };
  return { table, tableIndex, key, index };
}

function sameTable(table: readonly string[], tableIndex: number, want: Target): boolean {
  if (want.table.length !== table.length || want.table.some((n, i) => n !== table[i])) return false;
  return want.tableIndex === undefined || want.tableIndex === tableIndex;
}

/** Column of the n-th quoted string after `=`, possibly across lines of a multi-line array. */
function locateElement(
  lines: readonly string[],
  line: number,
  start: number,
  n: number,
): Position | undefined {
  let seen = 0;
  for (let i = line; i < lines.length; i++) {
    const text = lines[i] ?? '';
    const re = /"(?:[^"\\]|\\.)*"|'[^']*'/g;
    re.lastIndex = i === line ? start : 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (seen === n) return { line: i + 1, column: m.index + 2 };
      seen++;
    }
    if (text.includes(']')) return undefined;
  }
  return undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
