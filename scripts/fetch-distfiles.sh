#!/usr/bin/env bash
# Fill a ferry distfiles directory from Debian's source packages, for CI and offline use.
#
#   scripts/fetch-distfiles.sh [--ports DIR] [DIR]
#
# DIR defaults to $FERRY_ROOT/distfiles, or ~/.local/share/ferry/distfiles. For every [[source]] with a url in
# the ports tree (default: the bundled ports/ next to this script), the file the recipe names (the URL's last
# path segment) is taken from the orig tarball of the Debian source package of the same name and upstream
# version, fetched with `apt-get source --download-only`, and copied into DIR only if its sha256 is the one
# pinned in the recipe. The recipes are the single source of truth for the hashes: this script reads them.
# Sources given as `path = ...` ship with the recipe and are skipped.
#
# Idempotent: files already in DIR with the right sha256 are left alone, and when nothing is missing apt is not
# touched at all. apt needs deb-src entries; when there are none the script derives them from the machine's own
# deb entries (written to /etc/apt/sources.list.d/ferry-deb-src.sources or .list) and runs apt-get update,
# which needs root: as another user it stops and says what to run.
#
# Exit status: 0 all files present and verified; 1 a file is missing or does not match its pinned sha256
# (the message names the file and both hashes); 2 usage.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ports_dir="$here/../ports"
dest=""

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --ports) [ "$#" -ge 2 ] || { echo "fetch-distfiles: --ports needs a directory" >&2; exit 2; }; ports_dir="$2"; shift 2 ;;
    --ports=*) ports_dir="${1#--ports=}"; shift ;;
    --) shift; break ;;
    -*) echo "fetch-distfiles: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ "$#" -gt 1 ]; then echo "fetch-distfiles: at most one directory, got $# arguments (see --help)" >&2; exit 2; fi
if [ "$#" -eq 1 ]; then
  dest="$1"
elif [ -n "${FERRY_ROOT:-}" ]; then
  dest="$FERRY_ROOT/distfiles"
else
  dest="${HOME:?HOME is not set; pass the distfiles directory}/.local/share/ferry/distfiles"
fi
[ -d "$ports_dir" ] || { echo "fetch-distfiles: no ports tree at $ports_dir" >&2; exit 2; }

log() { printf 'fetch-distfiles: %s\n' "$*" >&2; }
sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }

# Print "name<TAB>version<TAB>url<TAB>sha256" for every url source, read straight from the recipe files
# (<tree>/<name>/<version>.toml; single-line `url = "…"` and `sha256 = "…"` inside [[source]] tables).
url_sources() {
  local recipe name version rc=0
  for recipe in "$ports_dir"/*/*.toml; do
    [ -f "$recipe" ] || continue
    name="$(basename "$(dirname "$recipe")")"
    version="$(basename "$recipe" .toml)"
    awk -v name="$name" -v version="$version" -v file="$recipe" '
      function flush() {
        if (insrc && url != "") {
          if (sha == "") { printf "fetch-distfiles: %s: [[source]] %s has no sha256\n", file, url > "/dev/stderr"; bad = 1 }
          else printf "%s\t%s\t%s\t%s\n", name, version, url, sha
        }
        url = ""; sha = ""
      }
      /^[ \t]*\[/ { flush(); insrc = ($0 ~ /^[ \t]*\[\[[ \t]*source[ \t]*\]\]/); next }
      insrc && /^[ \t]*url[ \t]*=/ { v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); url = v }
      insrc && /^[ \t]*sha256[ \t]*=/ { v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); sha = v }
      END { flush(); exit bad }
    ' "$recipe" || rc=1
  done
  return "$rc"
}

# Which Debian source package carries a recipe's upstream tarball. The same name for everything so far;
# add a line here when a port's Debian name differs.
debian_source_of() {
  case "$1" in
    *) printf '%s\n' "$1" ;;
  esac
}

sources_configured() {
  # shellcheck disable=SC2016 # $(CREATED_BY) is apt's format syntax, not the shell's
  apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -qx 'Sources'
}

# deb-src twins of the machine's own deb entries, in the same two formats apt reads.
derive_deb822() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; ORS = "" }
      {
        n = split($0, line, "\n"); out = ""; deb = 0; off = 0
        for (i = 1; i <= n; i++) {
          l = line[i]
          if (l ~ /^#/) continue
          if (tolower(l) ~ /^types:/) {
            if (l ~ /[: \t]deb([ \t]|$)/) deb = 1
            l = "Types: deb-src"
          }
          if (tolower(l) ~ /^enabled:[ \t]*no/) off = 1
          out = out l "\n"
        }
        if (deb && !off) printf "%s\n", out
      }' "$f"
  done
}

derive_one_line() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}/deb-src /p' "$f"
  done
}

need_root() {
  log "$1 needs root. Run this script as root once, or do it by hand:"
  log "  add a deb-src twin of each deb entry of /etc/apt/sources.list.d/*.sources (Types: deb-src)"
  log "  or /etc/apt/sources.list (deb-src …), then: apt-get update"
  exit 1
}

ensure_deb_src() {
  if ! sources_configured; then
    [ "$(id -u)" -eq 0 ] || need_root "Adding deb-src entries (apt has none)"
    local d822 oneline
    d822="$(derive_deb822)"
    oneline="$(derive_one_line)"
    if [ -z "$d822" ] && [ -z "$oneline" ]; then
      log "apt has no deb entries to derive deb-src entries from (looked in /etc/apt/sources.list and /etc/apt/sources.list.d/)"
      exit 1
    fi
    if [ -n "$d822" ]; then
      printf '# deb-src twins of the deb entries in this directory, added by ferry'"'"'s scripts/fetch-distfiles.sh\n\n%s\n' "$d822" \
        >/etc/apt/sources.list.d/ferry-deb-src.sources
      log "added /etc/apt/sources.list.d/ferry-deb-src.sources"
    fi
    if [ -n "$oneline" ]; then
      printf '# deb-src twins of the deb entries, added by ferry'"'"'s scripts/fetch-distfiles.sh\n%s\n' "$oneline" \
        >/etc/apt/sources.list.d/ferry-deb-src.list
      log "added /etc/apt/sources.list.d/ferry-deb-src.list"
    fi
    apt-get update -q >&2
  fi
  # deb-src entries exist; make sure their indices were downloaded.
  local pkg stale=0
  for pkg in "$@"; do
    [ -n "$(apt-cache showsrc --only-source "$pkg" 2>/dev/null)" ] || stale=1
  done
  if [ "$stale" -eq 1 ]; then
    [ "$(id -u)" -eq 0 ] || need_root "Downloading the source package indices (apt-get update)"
    apt-get update -q >&2
  fi
}

# Debian versions of a source package whose upstream part is $2, newest first.
debian_versions() {
  local pkg="$1" upstream="$2" v up
  apt-cache showsrc --only-source "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | while read -r v; do
    up="${v#*:}"
    up="${up%-*}"
    [ "$up" = "$upstream" ] && printf '%s\n' "$v"
  done | sort -rV
}

mkdir -p -- "$dest"
dest="$(cd "$dest" && pwd)"

entries="$(url_sources)" || { log "cannot read the recipes in $ports_dir"; exit 1; }
missing=()
while IFS=$'\t' read -r name version url sha; do
  [ -n "$name" ] || continue
  file="${url##*/}"
  file="${file%%\?*}"
  if [ -f "$dest/$file" ]; then
    have="$(sha256_of "$dest/$file")"
    if [ "$have" = "$sha" ]; then
      log "ok       $file (already present, sha256 verified)"
      continue
    fi
    log "stale    $file in $dest has sha256 $have, not the pinned $sha: replacing it"
  fi
  missing+=("$name"$'\t'"$version"$'\t'"$file"$'\t'"$sha")
done <<<"$entries"

if [ "${#missing[@]}" -eq 0 ]; then
  log "all $(printf '%s\n' "$entries" | grep -c .) distfiles present in $dest"
  exit 0
fi

pkgs=()
for m in "${missing[@]}"; do
  IFS=$'\t' read -r name _ _ _ <<<"$m"
  pkgs+=("$(debian_source_of "$name")")
done
ensure_deb_src "${pkgs[@]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/ferry-fetch.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
# apt downloads as its unprivileged _apt user when that user can write to the directory.
chmod 0755 "$work"
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi

failed=0
for m in "${missing[@]}"; do
  IFS=$'\t' read -r name version file sha <<<"$m"
  pkg="$(debian_source_of "$name")"
  mapfile -t versions < <(debian_versions "$pkg" "$version")
  if [ "${#versions[@]}" -eq 0 ]; then
    log "MISSING  $file: Debian has no source package $pkg with upstream version $version" \
      "(it has: $(apt-cache showsrc --only-source "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' '))"
    failed=1
    continue
  fi
  got=""
  for dv in "${versions[@]}"; do
    # The .dsc and the Debian diff are fetched too; a mirror missing one of them is not fatal as long as the
    # orig tarball arrived (it is verified below against the recipe's hash).
    (cd "$work" && apt-get source --download-only -q --only-source "$pkg=$dv" >&2) ||
      log "apt-get source $pkg=$dv reported an error; checking what arrived"
    for f in "$work/${pkg}_${version}.orig.tar."*; do
      [ -f "$f" ] && [[ "$f" != *.asc ]] && got="$f"
    done
    [ -n "$got" ] && break
  done
  if [ -z "$got" ]; then
    log "MISSING  $file: apt-get source $pkg (${versions[*]}) did not deliver ${pkg}_${version}.orig.tar.*"
    failed=1
    continue
  fi
  actual="$(sha256_of "$got")"
  if [ "$actual" != "$sha" ]; then
    log "MISMATCH $file: Debian's $(basename "$got") has sha256 $actual, the recipe $name/$version.toml pins $sha"
    failed=1
    continue
  fi
  cp -- "$got" "$dest/.$file.part"
  mv -f -- "$dest/.$file.part" "$dest/$file"
  log "copied   $file (Debian's $(basename "$got"), sha256 $sha)"
done

if [ "$failed" -ne 0 ]; then
  log "some distfiles could not be provided (see above); $dest holds the others"
  exit 1
fi
log "all $(printf '%s\n' "$entries" | grep -c .) distfiles present in $dest"
