import { shQuote } from '../platform/index.js';

/**
 * The POSIX sh that runs on hosts. A host needs only sh, tar, gzip and coreutils: no ferry, no Node, no root
 * (zstd, when the host has it, is used instead of gzip).
 * Every script takes its data as positional parameters ("$1"…), never spliced into its text, so a hostile
 * path or name is only ever a string. Layout on the host is a ferry root: store/<id>, store/.meta/<id>.json,
 * profiles/<P> → <P>.d/<N>.
 */

/** $1 root, $2… profiles. Prints `key value` lines, each profile's current manifest between markers. */
export const PROBE = `set -u
root=$1; shift
echo "os $(uname -s)"
echo "arch $(uname -m)"
g=$(getconf GNU_LIBC_VERSION 2>/dev/null) || g=
[ -n "$g" ] || g=$(ldd --version 2>/dev/null | head -n 1) || g=
echo "glibc $g"
! zstd -V >/dev/null 2>&1 || echo "zstd yes"
for p in "$root"/store/*; do [ -d "$p" ] && echo "path \${p##*/}"; done
for prof in "$@"; do
  cur=$(readlink "$root/profiles/$prof" 2>/dev/null) || cur=
  echo "current $prof \${cur##*/}"
  for g in "$root/profiles/$prof.d"/*; do [ -d "$g" ] && echo "generation $prof \${g##*/}"; done
  if [ -n "$cur" ] && [ -f "$root/profiles/$cur/.generation.json" ]; then
    echo "manifest-begin $prof"; cat "$root/profiles/$cur/.generation.json"; echo; echo "manifest-end $prof"
  fi
done
echo end
`;

/**
 * $1 root, $2 token. stdin: first a line of quoted words (receiveHeader): the generations to stage ("P:N,P:N"
 * or ''), the codec (gzip or zstd), the store ids sent, "--" and the store ids the generations need. The script
 * waits for that line, so it can be started (its session set up) before ferry knows what it will send; stdin
 * closed before the line ends it with nothing done. Then a compressed tar of <id>/…, .meta/<id>.json and
 * .gen-<P>/…, extracted into a directory of this run's own. A stream cut short (the decompressor's status,
 * which tar would hide) fails. Then
 * what came is written out (the root's file system only: syncfs; a sync without -f flushes everything), and
 * only then each path's metadata and the path go into the store (made read-only), so a path the probe lists is
 * whole even after a power cut; a path another deploy put there meanwhile stays. Those renames are made
 * durable by ACTIVATE's syncfs, before anything points at them.
 * Each generation must be complete (its .generation.json comes last) and is renamed to <P>.d/<N>, not current;
 * a number taken meanwhile fails with 75. A dropped connection leaves only .tmp- names, cleaned later.
 * Forks are few (each costs a loaded host milliseconds): old .tmp- names are looked for only when one exists,
 * and the paths moved in are made read-only by one chmod (store path names are checked to be plain words).
 */
export const RECEIVE = `set -eu
root=$1; tok=$2
IFS= read -r hdr || exit 0
eval "set -- $hdr"
gens=$1; codec=$2; shift 2
case $codec in gzip|zstd) ;; *) echo "ferry: unknown codec $codec" >&2; exit 3 ;; esac
s="$root/store"
in="$s/.tmp-$tok"
mkdir -p "$s/.meta" "$in"
for t in "$s"/.tmp-*; do
  [ "$t" = "$in" ] || [ ! -e "$t" ] && continue
  find "$s" -maxdepth 1 -name '.tmp-*' -mmin +60 -exec chmod -R u+w {} + -exec rm -rf {} + 2>/dev/null || :
  break
done
{ "$codec" -dc || : >"$in/.cut"; } | (cd "$in" && tar -xmf -)
[ ! -e "$in/.cut" ] || { echo "ferry: what was sent was cut short" >&2; exit 3; }
sync -f "$in" 2>/dev/null || sync
mvdir() { mv -T "$1" "$2" 2>/dev/null || perl -e 'rename($ARGV[0], $ARGV[1]) or exit 1' "$1" "$2"; }
set -f
moved=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  id=$1; shift
  case $id in '' | [.-]* | *[!0-9A-Za-z+._~:-]*) echo "ferry: bad store path name" >&2; exit 3 ;; esac
  [ -d "$in/$id" ] && [ -f "$in/.meta/$id.json" ] || { echo "ferry: $id is missing from what was sent" >&2; exit 3; }
  [ ! -d "$s/$id" ] || continue
  mv -f "$in/.meta/$id.json" "$s/.meta/$id.json"
  mvdir "$in/$id" "$s/$id" || [ -d "$s/$id" ] || { echo "ferry: cannot move $id into the store" >&2; exit 3; }
  moved="$moved $id"
done
[ -z "$moved" ] || (cd "$s" && chmod -R a-w $moved)
[ $# -eq 0 ] || shift
if [ -n "$gens" ]; then
  for id in "$@"; do [ -d "$s/$id" ] || { echo "ferry: store path $id is missing" >&2; exit 3; }; done
  rest=$gens
  while [ -n "$rest" ]; do
    g=\${rest%%,*}
    case $rest in *,*) rest=\${rest#*,} ;; *) rest= ;; esac
    prof=\${g%%:*}; n=\${g#*:}; d="$root/profiles/$prof.d"
    [ -f "$in/.gen-$prof/.generation.json" ] || { echo "ferry: the generation of $prof is incomplete" >&2; exit 3; }
    mkdir -p "$d"
    mvdir "$in/.gen-$prof" "$d/$n" || { echo "ferry: generation $n of $prof exists already" >&2; exit 75; }
  done
fi
rm -rf "$in" 2>/dev/null || { chmod -R u+w "$in"; rm -rf "$in"; }
`;

/**
 * RECEIVE's first line: shell words (read by \`read\`, which takes one byte at a time from a pipe, so the data
 * after it stays for the decompressor). Every word is a store id, a profile name, a number or a codec, so it
 * never holds a newline.
 */
export function receiveHeader(
  generations: string,
  codec: string,
  sent: readonly string[],
  needs: readonly string[],
): string {
  const words = [generations, codec, ...sent, '--', ...needs];
  if (words.some((w) => w.includes('\n'))) throw new Error('Assertion failed: a newline in a RECEIVE word');
  return `${words.map(shQuote).join(' ')}\n`;
}

/**
 * $1 root, $2 token, $3 check command ('' for none), $4 check timeout (seconds), then pairs PROFILE TO.
 * Checks every target first (a bad request switches nothing), remembers each profile's link (in variables: a
 * scratch file costs a create and a delete, which a disk mounted with discard pays for), switches each
 * (one rename), syncs the root's file system (syncfs: the links, and the store paths and generation RECEIVE
 * moved in, whose data it synced already; all of it, since a file system may replay one directory's fsync
 * without earlier renames), runs the check with the profiles' bin/ first on PATH, and when it fails or times
 * out puts every link back as it was. All of that happens before anything is printed, and SIGPIPE/SIGHUP are
 * ignored, so a controller that is gone cannot stop the host half-way or on a failing generation. Prints
 * `switched P T0 T1`, then `check ok`, or `check failed STATUS`, the check's last lines as `| …` and
 * `rolled-back P`.
 */
export const ACTIVATE = `set -eu
trap '' PIPE HUP
root=$1; tok=$2; check=$3; secs=$4; shift 4
p="$root/profiles"; v="$root/var"
pairs=$*
while [ $# -ge 2 ]; do
  [ -d "$p/$1.d/$2" ] || { echo "ferry: $1 has no generation $2" >&2; exit 3; }
  shift 2
done
log=
say() { log="$log$*
"; }
flip() {
  if [ -z "$2" ]; then rm -f "$p/$1"; return 0; fi
  ln -s "$2" "$p/.tmp-$1-$tok"
  mv -Tf "$p/.tmp-$1-$tok" "$p/$1" 2>/dev/null ||
    perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\\n"' "$p/.tmp-$1-$tok" "$p/$1"
}
finish() { printf '%s' "$log"; [ -z "$check" ] || rm -f "$out"; }
n=0; bins=
set -- $pairs
while [ $# -ge 2 ]; do
  prof=$1; to=$2; shift 2; n=$((n + 1))
  back=$(readlink "$p/$prof" 2>/dev/null) || back=
  eval "prof_$n=\\$prof back_$n=\\$back"
  t0=$(date +%s%N); flip "$prof" "$prof.d/$to"; t1=$(date +%s%N)
  say "switched $prof $t0 $t1"
  bins="$bins$p/$prof/bin:"
done
sync -f "$p" "$root/store" 2>/dev/null || sync
if [ -z "$check" ]; then finish; exit 0; fi
mkdir -p "$v"; out="$v/.check-$tok"
kill_after=
if timeout -k 1 5 true 2>/dev/null; then kill_after="-k 5"; fi
run_check() {
  if command -v timeout >/dev/null 2>&1; then timeout $kill_after "$secs" sh -c "$check"; else sh -c "$check"; fi
}
if (cd "$root" && PATH=$bins$PATH && FERRY_ROOT=$root && export PATH FERRY_ROOT && run_check) >"$out" 2>&1; then
  say "check ok"; finish; exit 0
else
  status=$?
fi
i=$n
while [ $i -gt 0 ]; do eval "flip \\"\\$prof_$i\\" \\"\\$back_$i\\""; i=$((i - 1)); done
sync -f "$p" "$root/store" 2>/dev/null || sync
say "check failed $status"
last=$(tail -n 5 "$out" | sed 's/^/| /') || last=
[ -z "$last" ] || say "$last"
i=$n
while [ $i -gt 0 ]; do eval "say \\"rolled-back \\$prof_$i\\""; i=$((i - 1)); done
finish
`;

/** $1 root, $2 profile, $3 generation: remove a staged generation that never became current. */
export const DISCARD = `set -eu
root=$1; prof=$2; n=$3
d="$root/profiles/$prof.d/$n"
cur=$(readlink "$root/profiles/$prof" 2>/dev/null) || cur=
[ "$cur" != "$prof.d/$n" ] || exit 0
[ ! -d "$d" ] || { chmod -R u+w "$d"; rm -rf "$d"; }
`;
