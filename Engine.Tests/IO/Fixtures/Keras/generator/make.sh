#!/bin/sh
# Regenerates the Keras fixtures in the parent folder: builds make_fixtures.c with h5cc (HDF5 1.10.8 was used),
# writes the JSON configs, the HDF5 files and the .keras zip (python3 stdlib zipfile, the calls Keras'
# saving_lib._save_model_to_fileobj makes), and the h5dump header listings.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

h5cc -Wall -O1 -o "$tmp/make_fixtures" "$here/make_fixtures.c"
python3 "$here/make_configs.py" "$tmp"
cp "$tmp/mixed.config.json" "$tmp/seed_small.config.json" "$out/"
"$tmp/make_fixtures" "$tmp" "$tmp/seed_small.legacy_model.config.json"
h5cc -Wall -O1 -o "$tmp/make_hostile" "$here/make_hostile.c"
"$tmp/make_hostile" "$out"
# Written by h5py itself (Debian's python3-h5py and python3-numpy: apt-get install python3-h5py).
/usr/bin/python3 "$here/make_h5py.py" "$out"
h5cc -Wall -O1 -o "$tmp/make_audit" "$here/make_audit.c"
mkdir -p "$out/audit"
"$tmp/make_audit" "$out/audit"

for f in seed_small.weights.h5 seed_small.latest.weights.h5 seed_small.mismatch.weights.h5 seed_small.f64.weights.h5 \
         mixed.weights.h5 seed_small.legacy.h5 seed_small.legacy_model.h5; do
    cp "$tmp/$f" "$out/$f"
done

# .keras: zf.open(metadata.json, "w"), zf.open(config.json, "w"), zf.writestr(model.weights.h5, bytes); ZipFile's
# default compression (ZIP_STORED). The entries' timestamps are what Python gives: 1980-01-01 for zf.open(name, "w"),
# the current local time for writestr (not reproducible byte for byte).
python3 - "$tmp" "$out/seed_small.keras" <<'PY'
import sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
with open(dest, "wb") as fo:
    with zipfile.ZipFile(fo, "w") as zf:
        with zf.open("metadata.json", "w") as f:
            f.write(open(f"{tmp}/seed_small.metadata.json", "rb").read())
        with zf.open("config.json", "w") as f:
            f.write(open(f"{tmp}/seed_small.config.json", "rb").read())
        zf.writestr("model.weights.h5", open(f"{tmp}/seed_small.keras.model.weights.h5", "rb").read())
PY
cp "$tmp/seed_small.keras.model.weights.h5" "$tmp/model.weights.h5"

cd "$out"
for f in seed_small.weights.h5 seed_small.latest.weights.h5 seed_small.mismatch.weights.h5 seed_small.f64.weights.h5 \
         mixed.weights.h5 seed_small.legacy.h5 seed_small.legacy_model.h5; do
    h5dump -H "$f" > "$f.h5dump.txt"
done
(cd "$tmp" && h5dump -H model.weights.h5) > seed_small.keras.model.weights.h5.h5dump.txt
h5dump -B -H seed_small.weights.h5 | sed -n '/SUPER_BLOCK/,/^   }/p' > seed_small.weights.h5.superblock.txt
h5dump -B -H seed_small.latest.weights.h5 | sed -n '/SUPER_BLOCK/,/^   }/p' > seed_small.latest.weights.h5.superblock.txt
echo "fixtures written to $out"
