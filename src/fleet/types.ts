import type { GenerationManifest, GenerationPackage } from '../profile/index.js';
import type { StoreId } from '../store/index.js';

/** A host as the inventory (ferry.toml's `[hosts.NAME]`) describes it. */
export interface FleetHost {
  readonly name: string;
  readonly address:
    | { readonly kind: 'ssh'; readonly user?: string; readonly host: string; readonly port?: number }
    | { readonly kind: 'path'; readonly dir: string };
  readonly root: string;
  readonly profiles: readonly string[];
  readonly groups: readonly string[];
  readonly check?: string;
  readonly checkTimeoutS: number;
}

export interface FleetSettings {
  readonly sshConfig?: string;
  readonly knownHosts: string;
}

/** What a profile should be on every host that carries it: built (or substituted) on this machine. */
export interface ProfileTarget {
  readonly profile: string;
  readonly requests: readonly string[];
  readonly packages: readonly GenerationPackage[];
  /** The whole run-time closure, dependencies before dependents. */
  readonly closure: readonly StoreId[];
}

export interface HostProfileState {
  readonly current: number | undefined;
  readonly generations: readonly number[];
  readonly manifest: GenerationManifest | undefined;
}

/** What a probe found on a host. */
export interface HostState {
  readonly os: string;
  readonly arch: string;
  readonly glibc: string | undefined;
  /** The host can unpack zstd (its `zstd -V` worked); otherwise it is sent gzip. */
  readonly zstd: boolean;
  readonly storeIds: ReadonlySet<StoreId>;
  readonly profiles: ReadonlyMap<string, HostProfileState>;
}
