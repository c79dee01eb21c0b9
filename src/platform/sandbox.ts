import { existsSync } from 'node:fs';
import { runProcess } from './process.js';

/** What a build may see and write. Paths are absolute. */
export interface SandboxSpec {
  /** The ferry root: hidden as a whole, then the pieces below are mapped back in. */
  readonly rootDir: string;
  /** Read-write: the unpacked sources and scratch space. */
  readonly buildDir: string;
  /** Read-write: where outputs are really written… */
  readonly outDir: string;
  /** …seen inside the sandbox at this path (the final store path), so embedded paths are already right. */
  readonly prefixPath: string;
  /** Read-only: the declared dependencies' store paths; every other store path stays invisible. */
  readonly inputPaths: readonly string[];
  /** Read-only: individual files the build must read (verified source archives). */
  readonly readOnlyFiles: readonly string[];
  /** Directories hidden behind an empty tmpfs ($HOME, /usr/local, /opt). */
  readonly hiddenDirs: readonly string[];
}

export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

/** Wraps a command so it runs confined. One implementation per isolation technique. */
export interface Sandbox {
  readonly kind: 'bwrap' | 'none';
  /** The build's view of its output directory. */
  prefixFor(spec: SandboxSpec): string;
  wrap(spec: SandboxSpec, command: Command): Command;
}

/**
 * Linux namespaces through bubblewrap: unprivileged user namespaces where the kernel allows, root's own
 * privileges otherwise. No network, host read-only, /tmp and the hidden directories empty.
 */
export class BwrapSandbox implements Sandbox {
  readonly kind = 'bwrap';
  readonly bwrapPath: string;
  constructor(bwrapPath: string) {
    this.bwrapPath = bwrapPath;
  }

  prefixFor(spec: SandboxSpec): string {
    return spec.prefixPath;
  }

  wrap(spec: SandboxSpec, command: Command): Command {
    const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
    for (const dir of spec.hiddenDirs) if (existsSync(dir)) args.push('--tmpfs', dir);
    args.push('--tmpfs', spec.rootDir);
    for (const p of [...spec.inputPaths, ...spec.readOnlyFiles]) args.push('--ro-bind', p, p);
    args.push('--bind', spec.buildDir, spec.buildDir, '--bind', spec.outDir, spec.prefixPath);
    args.push('--unshare-all', '--die-with-parent', '--new-session', '--chdir', spec.buildDir, '--');
    return { file: this.bwrapPath, args: [...args, command.file, ...command.args] };
  }
}

/** `--sandbox=off`: the build writes straight into its temporary output directory. */
export class NoSandbox implements Sandbox {
  readonly kind = 'none';
  prefixFor(spec: SandboxSpec): string {
    return spec.outDir;
  }
  wrap(_spec: SandboxSpec, command: Command): Command {
    return command;
  }
}

/** A working sandbox, or why namespaces cannot be used here. */
export async function probeSandbox(
  bwrapPath?: string,
): Promise<{ sandbox: BwrapSandbox } | { reason: string }> {
  const bwrap = (bwrapPath === undefined ? ['/usr/bin/bwrap', '/bin/bwrap'] : [bwrapPath]).find((p) =>
    existsSync(p),
  );
  if (bwrap === undefined)
    return {
      reason: `bubblewrap (bwrap) is not installed${bwrapPath === undefined ? '' : ` at ${bwrapPath}`}`,
    };
  const probe = await runProcess(bwrap, [
    '--ro-bind',
    '/',
    '/',
    '--unshare-all',
    '--dev',
    '/dev',
    '--',
    '/bin/true',
  ]);
  if (probe.exitCode !== 0) return { reason: `bwrap cannot create namespaces: ${probe.stderr.trim()}` };
  return { sandbox: new BwrapSandbox(bwrap) };
}
