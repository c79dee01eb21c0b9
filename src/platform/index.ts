export {
  fsyncDir,
  makeReadOnly,
  makeWritable,
  readPieces,
  pathExists,
  placeFile,
  readTextIfExists,
  removeTree,
  replaceSymlink,
  syncFileSystem,
  tempSibling,
  walkTree,
  writeFileAtomic,
  type TreeEntry,
} from './fs.js';
export { FileLock, isLockHeld } from './lock.js';
export { recheck, signature, Witness, type Signature, type WitnessEntry } from './witness.js';
export { runProcess, type RunOptions, type RunResult } from './process.js';
export {
  BwrapSandbox,
  NoSandbox,
  probeSandbox,
  type Command,
  type Sandbox,
  type SandboxSpec,
} from './sandbox.js';
export { runStreaming, shCommand, shQuote, type StreamOptions, type StreamResult } from './shell.js';
export {
  formatEndpoint,
  scanHostKeys,
  SshConnection,
  type FirstCommand,
  type SshEndpoint,
  type SshSettings,
} from './ssh.js';
