// @ts-check
import { writeFileSync } from 'node:fs';

/**
 * Writes a benchmark's report as JSON, formatted as the repository's `prettier --check` expects when prettier
 * (a dev dependency) is there, plain otherwise.
 * @param {string} file @param {unknown} report
 */
export async function writeReport(file, report) {
  let text = `${JSON.stringify(report, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    text = await prettier.format(text, { ...(await prettier.resolveConfig(file)), parser: 'json' });
  } catch {
    // plain JSON.stringify output
  }
  writeFileSync(file, text);
}
