/** How each e_machine value is named; some names depend on the class or byte order (ppc64 vs ppc64le). */
type Namer = (is64: boolean, little: boolean) => string;

/**
 * Names follow `uname -m` / the GNU triplet's first part, which is what packages and hosts are matched against.
 * EM_X86_64 in a 32-bit file is the x32 ABI.
 */
const MACHINES: ReadonlyMap<number, Namer> = new Map<number, Namer>([
  [2, () => 'sparc'],
  [3, () => 'i386'],
  [4, () => 'm68k'],
  [8, (is64, little) => `mips${is64 ? '64' : ''}${little ? 'el' : ''}`],
  [15, () => 'hppa'],
  [20, () => 'ppc'],
  [21, (_, little) => (little ? 'ppc64le' : 'ppc64')],
  [22, (is64) => (is64 ? 's390x' : 's390')],
  [40, (_, little) => (little ? 'arm' : 'armeb')],
  [42, (_, little) => (little ? 'sh4' : 'sh4eb')],
  [43, () => 'sparc64'],
  [50, () => 'ia64'],
  [62, (is64) => (is64 ? 'x86_64' : 'x32')],
  [183, (_, little) => (little ? 'aarch64' : 'aarch64_be')],
  [243, (is64) => (is64 ? 'riscv64' : 'riscv32')],
  [258, (is64) => (is64 ? 'loongarch64' : 'loongarch32')],
  [0x9026, () => 'alpha'],
]);

/** The architecture name for an e_machine value; unknown values become `em-<n>` so they still compare. */
export function archName(machine: number, is64: boolean, little: boolean): string {
  return MACHINES.get(machine)?.(is64, little) ?? `em-${machine}`;
}
