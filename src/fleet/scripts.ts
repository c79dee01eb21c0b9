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
 * $1 root, $2 token, $3 generations to stage ("P:N,P:N" or ''), then the store ids sent, then "--" and the
 * store ids the generations need. stdin: gzip'd tar of <id>/…, .meta/<id>.json and .gen-<P>/…, extracted
 * into a directory of this run's own. Each path's metadata goes into place before the path, and a path is
 * renamed into the store only once complete (then made read-only); a dropped connection leaves only .tmp-
 * names, cleaned by a later run. Then each generation is checked, synced and renamed to <P>.d/<N>, complete
 * but not current.
 */
export const RECEIVE = `set -eu
root=$1; tok=$2; gens=$3; shift 3
s="$root/store"
mkdir -p "$s/.meta"
find "$s" -maxdepth 1 -name '.tmp-*' -mmin +60 -exec chmod -R u+w {} + -exec rm -rf {} + 2>/dev/null || :
in="$s/.tmp-$tok"
mkdir -p "$in"
gzip -dc | (cd "$in" && tar -xmf -)
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  id=$1; shift
  [ -d "$in/$id" ] && [ -f "$in/.meta/$id.json" ] || { echo "ferry: $id is missing from what was sent" >&2; exit 3; }
  [ ! -d "$s/$id" ] || continue
  mv -f "$in/.meta/$id.json" "$s/.meta/$id.json"
  mv "$in/$id" "$s/$id"
  chmod -R a-w "$s/$id"
done
[ $# -eq 0 ] || shift
if [ -n "$gens" ]; then
  for id in "$@"; do [ -d "$s/$id" ] || { echo "ferry: store path $id is missing" >&2; exit 3; }; done
  for g in $(echo "$gens" | tr , ' '); do
    prof=\${g%%:*}; n=\${g#*:}; d="$root/profiles/$prof.d"
    [ -d "$in/.gen-$prof" ] || { echo "ferry: generation of $prof is missing from what was sent" >&2; exit 3; }
    mkdir -p "$d"
    if [ -e "$d/$n" ]; then echo "ferry: generation $n of $prof exists already" >&2; exit 75; fi
  done
  sync
  for g in $(echo "$gens" | tr , ' '); do
    prof=\${g%%:*}; n=\${g#*:}
    mv "$in/.gen-$prof" "$root/profiles/$prof.d/$n"
  done
fi
chmod -R u+w "$in"; rm -rf "$in"
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

/**
 * $1 root, $2 token, $3 check command ('' for none), $4 check timeout (seconds), then triples PROFILE FROM TO
 * (FROM '' when the profile had no generation). Switches each profile (one rename each), runs the check with
 * the profiles' bin/ first on PATH, and when it fails switches every profile back itself, so a host never
 * stays on a failing generation because the connection dropped. Prints `switched P T0 T1`, `check ok` or
 * `check failed STATUS` with the check's last output lines as `| …`, and `rolled-back P`.
 */
export const ACTIVATE = `set -eu
root=$1; tok=$2; check=$3; secs=$4; shift 4
p="$root/profiles"
flip() {
  if [ -z "$2" ]; then rm -f "$p/$1"; return 0; fi
  ln -s "$1.d/$2" "$p/.tmp-$1-$tok"
  mv -Tf "$p/.tmp-$1-$tok" "$p/$1" 2>/dev/null ||
    perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\\n"' "$p/.tmp-$1-$tok" "$p/$1"
}
# RECEIVE synced the store paths and generation contents before renaming the generation into place; journaled
# file systems commit that rename before this one, so no sync is needed before the switch.
done_list=
while [ $# -ge 3 ]; do
  prof=$1; from=$2; to=$3; shift 3
  [ -d "$p/$prof.d/$to" ] || { echo "ferry: $prof has no generation $to" >&2; exit 3; }
  t0=$(date +%s%N); flip "$prof" "$to"; t1=$(date +%s%N)
  echo "switched $prof $t0 $t1"
  done_list="$prof:$from $done_list"
done
sync
[ -n "$check" ] || exit 0
path=$PATH
for pf in $done_list; do path="$p/\${pf%%:*}/bin:$path"; done
mkdir -p "$root/var"
out="$root/var/.check-$tok"
run_check() {
  if command -v timeout >/dev/null 2>&1; then timeout "$secs" sh -c "$check"; else sh -c "$check"; fi
}
if (cd "$root" && PATH=$path && FERRY_ROOT=$root && export PATH FERRY_ROOT && run_check) >"$out" 2>&1; then
  echo "check ok"; rm -f "$out"; exit 0
else
  status=$?
fi
echo "check failed $status"
tail -n 5 "$out" | sed 's/^/| /'
rm -f "$out"
for pf in $done_list; do flip "\${pf%%:*}" "\${pf#*:}"; echo "rolled-back \${pf%%:*}"; done
sync
`;

/** $1 root, $2 profile, $3 generation: remove a staged generation that never became current. */
export const DISCARD = `set -eu
root=$1; prof=$2; n=$3
d="$root/profiles/$prof.d/$n"
cur=$(readlink "$root/profiles/$prof" 2>/dev/null) || cur=
[ "$cur" != "$prof.d/$n" ] || exit 0
[ ! -d "$d" ] || { chmod -R u+w "$d"; rm -rf "$d"; }
`;
