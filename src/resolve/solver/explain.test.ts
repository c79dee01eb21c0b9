import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ListSource, pkg, requires } from './fixtures.js';
import { renderExplanation, solve } from './index.js';
import type { Candidate, Requirement } from './types.js';

function explainText(all: Candidate[], roots: Requirement[]): string {
  const r = solve(new ListSource(all), { requires: roots });
  assert.equal(r.kind, 'unsat');
  return r.kind === 'unsat' ? renderExplanation(r.explanation, { rootName: 'profile web' }) : '';
}

const shapes: { name: string; all: Candidate[]; roots: Requirement[]; want: string }[] = [
  {
    name: '1. a required name does not exist',
    all: [pkg('nginx 1.24')],
    roots: requires('ngnix'),
    want:
      'Because profile web requires ngnix (ferry.toml:3) and no package named or providing ngnix is available, profile web cannot be resolved.\n' +
      'hint: check the spelling of "ngnix" (ferry.toml:3), or add a package named or providing ngnix',
  },
  {
    name: '2. no version in the required range',
    all: [pkg('nginx 1.22'), pkg('nginx 1.20')],
    roots: requires('nginx >= 1.24'),
    want:
      'Because profile web requires nginx >= 1.24 (ferry.toml:3), and only nginx 1.22 and 1.20 are available, profile web cannot be resolved.\n' +
      'hint: relax "nginx >= 1.24" (ferry.toml:3) to allow an available version, or add a version of nginx that satisfies it',
  },
  {
    name: "3. a dependency's range is unsatisfiable",
    all: [pkg('nginx 1.24', { depends: ['pcre2 >= 10.40'] }), pkg('pcre2 10.39')],
    roots: requires('nginx >= 1.24'),
    want:
      'Because nginx 1.24 depends on pcre2 >= 10.40 (ports/nginx/1.24.toml:10) and only pcre2 10.39 is available, nginx 1.24 cannot be used.\n' +
      'And because profile web requires nginx >= 1.24 (ferry.toml:3), profile web cannot be resolved.\n' +
      'hint: relax "pcre2 >= 10.40" (ports/nginx/1.24.toml:10) to allow pcre2 10.39, or add a version of pcre2 that satisfies it',
  },
  {
    name: '4. a transitive two-level chain',
    all: [
      pkg('app 2', { depends: ['libweb >= 3'] }),
      pkg('libweb 3', { depends: ['openssl >= 3'] }),
      pkg('openssl 1.1.1'),
    ],
    roots: requires('app'),
    want:
      'Because libweb 3 depends on openssl >= 3 (ports/libweb/3.toml:10) and only openssl 1.1.1 is available, libweb 3 cannot be used.\n' +
      'And because app 2 depends on libweb >= 3 (ports/app/2.toml:10), app 2 cannot be used.\n' +
      'And because profile web requires app (ferry.toml:3), profile web cannot be resolved.\n' +
      'hint: relax "openssl >= 3" (ports/libweb/3.toml:10) to allow openssl 1.1.1, or add a version of openssl that satisfies it',
  },
  {
    name: '5. two requirements on one name:slot with disjoint ranges',
    all: [pkg('lua 5.4'), pkg('lua 5.1')],
    roots: requires('lua >= 5.4', 'lua < 5.2'),
    want:
      'Because profile web requires lua >= 5.4 (ferry.toml:3) and lua < 5.2 (ferry.toml:4), and only one version of lua can be installed at a time, profile web cannot be resolved.\n' +
      'hint: no single version of lua satisfies every requirement on it: relax one of them',
  },
  {
    name: '6. a conflict between two required packages',
    all: [pkg('openssl 3', { conflicts: ['libressl'] }), pkg('libressl 3.8')],
    roots: requires('openssl', 'libressl'),
    want:
      'Because profile web requires openssl (ferry.toml:3) and libressl (ferry.toml:4), and openssl 3 conflicts with libressl (ports/openssl/3.toml:1), profile web cannot be resolved.\n' +
      'hint: openssl 3 and libressl 3.8 conflict: keep only one of them in profile web (or in the requirements that pull them in)',
  },
  {
    name: '7. every alternative of `a | b` fails',
    all: [
      pkg('app 1', { depends: ['curl | wget'] }),
      pkg('curl 8', { depends: ['libcurl'] }),
      pkg('wget 1.21', { depends: ['gnutls >= 3.8'] }),
      pkg('gnutls 3.7'),
    ],
    roots: requires('app'),
    want:
      'Because wget 1.21 depends on gnutls >= 3.8 (ports/wget/1.21.toml:10) and only gnutls 3.7 is available, wget 1.21 cannot be used. (1)\n' +
      'Because curl 8 depends on libcurl (ports/curl/8.toml:10) and no package named or providing libcurl is available, curl 8 cannot be used.\n' +
      'And because app 1 depends on curl | wget (ports/app/1.toml:10) and wget 1.21 cannot be used (1), app 1 cannot be used.\n' +
      'And because profile web requires app (ferry.toml:3), profile web cannot be resolved.\n' +
      'hint: check the spelling of "libcurl" (ports/curl/8.toml:10), or add a package named or providing libcurl',
  },
  {
    name: '8. a virtual name without any provider',
    all: [pkg('mutt 2', { depends: ['mail-transport-agent'] })],
    roots: requires('mutt'),
    want:
      'Because mutt 2 depends on mail-transport-agent (ports/mutt/2.toml:10) and no package named or providing mail-transport-agent is available, mutt 2 cannot be used.\n' +
      'And because profile web requires mutt (ferry.toml:3), profile web cannot be resolved.\n' +
      'hint: check the spelling of "mail-transport-agent" (ports/mutt/2.toml:10), or add a package named or providing mail-transport-agent',
  },
  {
    name: '8b. a virtual name whose providers all conflict with a requirement',
    all: [
      pkg('mutt 2', { depends: ['mail-transport-agent'] }),
      pkg('postfix 3.7', { provides: ['mail-transport-agent'] }),
      pkg('exim4 4.96', { provides: ['mail-transport-agent'] }),
      pkg('sendmail-blocker 1', { conflicts: ['postfix', 'exim4'] }),
    ],
    roots: requires('sendmail-blocker', 'mutt'),
    want:
      'Because mutt 2 depends on mail-transport-agent (ports/mutt/2.toml:10), sendmail-blocker 1 conflicts with exim4 (ports/sendmail-blocker/1.toml:1) and sendmail-blocker 1 conflicts with postfix (ports/sendmail-blocker/1.toml:1), mutt 2 and sendmail-blocker 1 cannot be installed together.\n' +
      'And because profile web requires sendmail-blocker (ferry.toml:3) and mutt (ferry.toml:4), profile web cannot be resolved.\n' +
      'hint: sendmail-blocker 1 and exim4 4.96 conflict: keep only one of them in profile web (or in the requirements that pull them in)',
  },
  {
    name: '9. diamond: two dependencies need incompatible versions of a shared library',
    all: [
      pkg('web 1', { depends: ['libssl = 1.1'] }),
      pkg('mail 1', { depends: ['libssl = 3.0'] }),
      pkg('libssl 3.0'),
      pkg('libssl 1.1'),
    ],
    roots: requires('web', 'mail'),
    want:
      'Because mail 1 depends on libssl = 3.0 (ports/mail/1.toml:10), web 1 depends on libssl = 1.1 (ports/web/1.toml:10) and only one version of libssl can be installed at a time, mail 1 and web 1 cannot be installed together.\n' +
      'And because profile web requires web (ferry.toml:3) and mail (ferry.toml:4), profile web cannot be resolved.\n' +
      'hint: no single version of libssl satisfies every requirement on it: relax one of them',
  },
  {
    name: '10. failure after backtracking over several versions, each failing differently',
    all: [
      pkg('app 3', { depends: ['libfoo >= 3'] }),
      pkg('app 2', { depends: ['libbar'] }),
      pkg('app 1', { conflicts: ['zlib'] }),
      pkg('libfoo 2'),
      pkg('zlib 1.3'),
    ],
    roots: requires('app', 'zlib'),
    want:
      'Because app 2 depends on libbar (ports/app/2.toml:10) and no package named or providing libbar is available, app 2 cannot be used. (1)\n' +
      'Because app 3 depends on libfoo >= 3 (ports/app/3.toml:10) and only libfoo 2 is available, app 3 cannot be used.\n' +
      'And because profile web requires app (ferry.toml:3), app 1 conflicts with zlib (ports/app/1.toml:1) and app 2 cannot be used (1), zlib 1.3 cannot be used.\n' +
      'And because profile web requires zlib (ferry.toml:4), profile web cannot be resolved.\n' +
      'hint: check the spelling of "libbar" (ports/app/2.toml:10), or add a package named or providing libbar',
  },
  {
    name: '11. self-conflict via provides (postfix/exim4)',
    all: [
      pkg('postfix 3.7', { provides: ['mail-transport-agent'], conflicts: ['mail-transport-agent'] }),
      pkg('exim4 4.96', { provides: ['mail-transport-agent'], conflicts: ['mail-transport-agent'] }),
    ],
    roots: requires('postfix', 'exim4'),
    want:
      'Because profile web requires postfix (ferry.toml:3) and exim4 (ferry.toml:4), and postfix 3.7 conflicts with mail-transport-agent (ports/postfix/3.7.toml:1), which exim4 4.96 provides, profile web cannot be resolved.\n' +
      'hint: postfix 3.7 and exim4 4.96 conflict: keep only one of them in profile web (or in the requirements that pull them in)',
  },
  {
    name: '12. a slot-specific requirement while only another slot exists',
    all: [pkg('python:2.7 2.7.18'), pkg('tool 1', { depends: ['python:3.11 >= 3.11'] })],
    roots: requires('tool'),
    want:
      'Because tool 1 depends on python:3.11 >= 3.11 (ports/tool/1.toml:10) and only python:2.7 2.7.18 is available, tool 1 cannot be used.\n' +
      'And because profile web requires tool (ferry.toml:3), profile web cannot be resolved.\n' +
      'hint: relax "python:3.11 >= 3.11" (ports/tool/1.toml:10) to allow python:2.7 2.7.18, or add a version of python:3.11 that satisfies it',
  },
];

describe('explanations', () => {
  for (const s of shapes)
    test(s.name, () => {
      assert.equal(explainText(s.all, s.roots), s.want);
    });
});

describe('explanations as data', () => {
  test('a missing dependency is one step from two facts, then the request', () => {
    const r = solve(
      new ListSource([pkg('nginx 1.24', { depends: ['pcre2 >= 10.40'] }), pkg('pcre2 10.39')]),
      {
        requires: requires('nginx'),
      },
    );
    assert.equal(r.kind, 'unsat');
    if (r.kind !== 'unsat') return;
    const nginx = { name: 'nginx', slot: '0', version: '1.24', showSlot: false };
    const pcre2 = { name: 'pcre2', slot: '0', version: '10.39', showSlot: false };
    const origin = { file: 'ports/nginx/1.24.toml', line: 10 };
    assert.deepEqual(r.explanation, {
      steps: [
        {
          because: [
            {
              kind: 'fact',
              fact: { kind: 'depends', package: nginx, requirement: 'pcre2 >= 10.40', origin },
            },
            {
              kind: 'fact',
              fact: {
                kind: 'unavailable',
                term: 'pcre2 >= 10.40',
                name: 'pcre2',
                available: [pcre2],
                providers: [],
                requirement: 'pcre2 >= 10.40',
                origin,
              },
            },
          ],
          therefore: { installed: [nginx], alternatives: [] },
        },
        {
          because: [
            { kind: 'step', step: 0 },
            {
              kind: 'fact',
              fact: { kind: 'requires', requirement: 'nginx', origin: { file: 'ferry.toml', line: 3 } },
            },
          ],
          therefore: { installed: [], alternatives: [] },
        },
      ],
      hint: { kind: 'relax', name: 'pcre2', requirement: 'pcre2 >= 10.40', origin, available: [pcre2] },
    });
  });

  test('the request is "the request" unless named; origins are optional', () => {
    const r = solve(new ListSource([]), {
      requires: [{ alternatives: [{ name: 'zlib', range: [] }], text: 'zlib' }],
    });
    assert.equal(r.kind, 'unsat');
    if (r.kind !== 'unsat') return;
    assert.equal(
      renderExplanation(r.explanation),
      'Because the request requires zlib and no package named or providing zlib is available, the request cannot be resolved.\n' +
        'hint: check the spelling of "zlib", or add a package named or providing zlib',
    );
  });
});
