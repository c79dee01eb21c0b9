export { isElf, readElf, type ElfInfo } from './elf.js';
export { compareGlibc } from './versions.js';
