/**
 * The POSIX sh that runs on hosts. A host needs only sh, tar, gzip and coreutils: no ferry, no Node, no root.
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
 * $1 root, $2 token, $3… store ids. stdin: gzip'd tar of <id>/… and .meta/<id>.json, extracted into a
 * directory of this run's own. Each path's metadata goes into place before the path, and a path is renamed
 * into the store only once complete (then made read-only); a dropped connection leaves only .tmp- names,
 * cleaned by a later run.
 */
export const RECEIVE = `set -eu
root=$1; tok=$2; shift 2
s="$root/store"
mkdir -p "$s/.meta"
find "$s" -maxdepth 1 -name '.tmp-*' -mmin +60 -exec chmod -R u+w {} + -exec rm -rf {} + 2>/dev/null || :
in="$s/.tmp-$tok"
mkdir -p "$in"
gzip -dc | (cd "$in" && tar -xmf -)
for id in "$@"; do
  [ -d "$in/$id" ] && [ -f "$in/.meta/$id.json" ] || { echo "ferry: $id is missing from what was sent" >&2; exit 3; }
  [ ! -d "$s/$id" ] || continue
  mv -f "$in/.meta/$id.json" "$s/.meta/$id.json"
  mv "$in/$id" "$s/$id"
  chmod -R a-w "$s/$id"
done
chmod -R u+w "$in"; rm -rf "$in"
`;

/**
 * $1 root, $2 profile, $3 generation number, $4 token, $5… store ids it needs. stdin: gzip'd tar of the
 * generation's tree. Makes <P>.d/<N> complete (not current): every store path checked, synced, renamed.
 */
export const STAGE = `set -eu
root=$1; prof=$2; n=$3; tok=$4; shift 4
d="$root/profiles/$prof.d"
mkdir -p "$d"
for id in "$@"; do [ -d "$root/store/$id" ] || { echo "ferry: store path $id is missing" >&2; exit 3; }; done
if [ -e "$d/$n" ]; then echo "ferry: generation $n of $prof exists already" >&2; exit 75; fi
t="$d/.tmp-$tok"
rm -rf "$t"; mkdir "$t"
gzip -dc | (cd "$t" && tar -xmf -)
sync
mv "$t" "$d/$n"
`;

/**
 * $1 root, $2 profile, $3 generation number ('' to leave the profile without one), $4 token. The switch is
 * one rename of a symlink; prints the nanoseconds around it and the generation it replaced.
 */
export const SWITCH = `set -eu
root=$1; prof=$2; n=$3; tok=$4
p="$root/profiles"
old=$(readlink "$p/$prof" 2>/dev/null) || old=
if [ -z "$n" ]; then rm -f "$p/$prof"; echo "switched \${old##*/} -"; exit 0; fi
[ -d "$p/$prof.d/$n" ] || { echo "ferry: $prof has no generation $n" >&2; exit 3; }
ln -s "$prof.d/$n" "$p/.tmp-$prof-$tok"
t0=$(date +%s%N)
mv -Tf "$p/.tmp-$prof-$tok" "$p/$prof" 2>/dev/null ||
  perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\\n"' "$p/.tmp-$prof-$tok" "$p/$prof"
t1=$(date +%s%N)
sync
echo "switched \${old##*/} $n $t0 $t1"
`;

/** $1 root, $2 profile, $3 generation: remove a staged generation that never became current. */
export const DISCARD = `set -eu
root=$1; prof=$2; n=$3
d="$root/profiles/$prof.d/$n"
cur=$(readlink "$root/profiles/$prof" 2>/dev/null) || cur=
[ "$cur" != "$prof.d/$n" ] || exit 0
[ ! -d "$d" ] || { chmod -R u+w "$d"; rm -rf "$d"; }
`;

/** $1 root, $2 check command, $3… profiles whose bin/ go first on PATH. */
export const CHECK = `root=$1; check=$2; shift 2
for prof in "$@"; do PATH="$root/profiles/$prof/bin:$PATH"; done
FERRY_ROOT=$root; export PATH FERRY_ROOT
cd "$root" && exec sh -c "$check"
`;
