import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/index.js';

/** One package of a profile's closure, as a bill of materials lists it. */
export interface SbomComponent {
  /** The store path name: unique within the closure, and the component's reference. */
  readonly id: string;
  readonly name: string;
  readonly version: string;
  /** SPDX license expression from the recipe; empty when the recipe has none. */
  readonly license: string;
  readonly summary: string;
  /** sha256 (hex) of the package's canonical file records (see docs/formats/advisories.md). */
  readonly sha256: string;
  /** Store path names this one needs at run time. */
  readonly dependsOn: readonly string[];
  /** Asked for by the profile, as opposed to pulled in as a dependency. */
  readonly requested: boolean;
}

export interface SbomInput {
  readonly profile: string;
  readonly generation: number;
  readonly components: readonly SbomComponent[];
  readonly toolVersion: string;
  /** ISO 8601 time of the document (SOURCE_DATE_EPOCH when set, for reproducible output). */
  readonly timestamp: string;
}

/** A name-based UUID (version 5 layout) over the input, so the same closure gives the same document. */
function stableUuid(input: SbomInput, salt: string): string {
  const h = createHash('sha256')
    .update(salt)
    .update(canonicalJson({ ...input, timestamp: '' }))
    .digest('hex');
  const variant = ((parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const purl = (c: SbomComponent) =>
  `pkg:generic/${encodeURIComponent(c.name)}@${encodeURIComponent(c.version)}`;
const sorted = (cs: readonly SbomComponent[]) =>
  [...cs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

/** A CycloneDX 1.5 JSON BOM: the profile as the described application, each store path a component. */
export function cycloneDxBom(input: SbomInput): Record<string, unknown> {
  const profileRef = `profile:${input.profile}`;
  const components = sorted(input.components);
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${stableUuid(input, 'cyclonedx')}`,
    version: 1,
    metadata: {
      timestamp: input.timestamp,
      tools: { components: [{ type: 'application', name: 'ferry', version: input.toolVersion }] },
      component: {
        type: 'application',
        'bom-ref': profileRef,
        name: input.profile,
        version: `generation-${input.generation}`,
      },
    },
    components: components.map((c) => ({
      type: 'library',
      'bom-ref': c.id,
      name: c.name,
      version: c.version,
      ...(c.summary === '' ? {} : { description: c.summary }),
      ...(c.license === '' ? {} : { licenses: [{ expression: c.license }] }),
      hashes: [{ alg: 'SHA-256', content: c.sha256 }],
      purl: purl(c),
      properties: [
        { name: 'ferry:storePath', value: c.id },
        { name: 'ferry:requested', value: String(c.requested) },
      ],
    })),
    dependencies: [
      { ref: profileRef, dependsOn: components.filter((c) => c.requested).map((c) => c.id) },
      ...components.map((c) => ({ ref: c.id, dependsOn: [...c.dependsOn].sort() })),
    ],
  };
}

const LICENSE_RE = /^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$/;

/** An SPDX 2.3 JSON document: the document DESCRIBES the requested packages; DEPENDS_ON follows references. */
export function spdxDocument(input: SbomInput): Record<string, unknown> {
  const components = sorted(input.components);
  const spdxId = new Map(
    components.map((c) => [
      c.id,
      `SPDXRef-Package-${c.name.replace(/[^A-Za-z0-9.-]/g, '-')}-${c.id.slice(0, 8)}`,
    ]),
  );
  const ref = (id: string) => spdxId.get(id) ?? 'NOASSERTION';
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `ferry-${input.profile}-generation-${input.generation}`,
    documentNamespace: `https://spdx.org/spdxdocs/ferry-${input.profile}-${stableUuid(input, 'spdx')}`,
    creationInfo: {
      created: `${input.timestamp.slice(0, 19)}Z`,
      creators: [`Tool: ferry-${input.toolVersion}`],
    },
    documentDescribes: components.filter((c) => c.requested).map((c) => ref(c.id)),
    packages: components.map((c) => ({
      SPDXID: ref(c.id),
      name: c.name,
      versionInfo: c.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: LICENSE_RE.test(c.license) ? c.license : 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      checksums: [{ algorithm: 'SHA256', checksumValue: c.sha256 }],
      ...(c.summary === '' ? {} : { summary: c.summary }),
      externalRefs: [
        { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl(c) },
      ],
    })),
    relationships: [
      ...components
        .filter((c) => c.requested)
        .map((c) => ({
          spdxElementId: 'SPDXRef-DOCUMENT',
          relationshipType: 'DESCRIBES',
          relatedSpdxElement: ref(c.id),
        })),
      ...components.flatMap((c) =>
        [...c.dependsOn].sort().map((d) => ({
          spdxElementId: ref(c.id),
          relationshipType: 'DEPENDS_ON',
          relatedSpdxElement: ref(d),
        })),
      ),
    ],
  };
}

/** The package hash an SBOM records: sha256 over the canonical JSON of its file records (path → record). */
export function filesDigest(files: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(files)).digest('hex');
}
