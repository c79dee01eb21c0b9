# Writes one synthetic package into $PREFIX, deterministically from ./params (this directory is the recipe's
# source). Used unchanged by ferry (the recipe's build script) and by Nix (the derivation's builder), so both
# tools hold byte-identical trees. Only host tools that ferry's sandbox sees read-only are used: sh, awk,
# head, openssl, mkdir, chmod.
set -e
. ./params
# params sets: NAME VERSION KEY (32 hex digits) BLOBS (sizes in bytes) TEXT (bytes of large text files)
#              SMALL (count of small text files) SEED (integer for the text generator)

mkdir -p "$PREFIX/bin" "$PREFIX/lib/$NAME" "$PREFIX/include/$NAME" "$PREFIX/share/doc/$NAME"

# The program: the benchmark runs the top package's one from the profile after each install.
printf '#!/bin/sh\necho "%s %s ok"\n' "$NAME" "$VERSION" > "$PREFIX/bin/$NAME"
chmod 755 "$PREFIX/bin/$NAME"

# Incompressible bytes (like code and already-compressed data): the AES-128-CTR keystream of a key derived
# from the package, i.e. AES over zeros. Deterministic, fast, and gzip cannot shrink it.
i=0
for size in $BLOBS; do
  head -c "$size" /dev/zero |
    openssl enc -aes-128-ctr -nosalt -K "$KEY" -iv "$(printf '%032x' "$i")" > "$PREFIX/lib/$NAME/part$i.bin"
  i=$((i + 1))
done

# Compressible text (like headers, docs, scripts): word salad from a Park-Miller generator (exact in awk's
# doubles: the product stays below 2^53). Large files under share/doc, SMALL files of 0.2-6 KB under include/.
awk -v seed="$SEED" -v text="$TEXT" -v small="$SMALL" -v dir="$PREFIX" -v name="$NAME" '
  function rnd(n) { x = (x * 16807) % 2147483647; return x % n }
  function word(   w, k, n) {
    n = 1 + rnd(3); w = ""
    for (k = 0; k < n; k++) w = w syl[rnd(nsyl)]
    return w
  }
  function line(   s, k, n, kind) {
    kind = rnd(4)
    if (kind == 0) return "#define " toupper(name "_" word() "_" word()) " " rnd(65536)
    if (kind == 1) return "int " name "_" word() "_" word() "(const char *" word() ", size_t " word() ");"
    n = 4 + rnd(12); s = word()
    for (k = 1; k < n; k++) s = s " " word()
    return s "."
  }
  function fill(file, bytes,   got, l) {
    got = 0
    while (got < bytes) { l = line(); print l > file; got += length(l) + 1 }
    close(file)
  }
  BEGIN {
    x = seed % 2147483646 + 1
    nsyl = split("an ba ce di el fo gu ha in jo ka le mi no op pu qu re si ta un ve wo xa yo ze str ing tion ment", syl, " ")
    big = text
    for (f = 0; f < small; f++) {
      b = 200 + rnd(5800)
      fill(dir "/include/" name "/h" f ".h", b)
      big -= b
    }
    if (big < 0) big = 0
    fill(dir "/share/doc/" name "/manual.txt", int(big * 0.7))
    fill(dir "/share/doc/" name "/changes.txt", big - int(big * 0.7))
  }'
