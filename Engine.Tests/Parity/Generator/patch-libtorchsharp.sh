#!/bin/bash
# Makes TorchSharp-cpu 0.107's native library load on a system whose libstdc++ predates GCC 13 (Debian 12: 3.4.30).
# libLibTorchSharp.so asks for one symbol of GLIBCXX_3.4.32, std::ios_base_library_init, which only initialises
# iostreams (libtorch already does): a no-op shim supplies it and the version requirement is pointed at 3.4.30.
# Patches the NuGet cache's copy once (TorchSharp copies its natives from there at start-up); a second run does nothing.
# Needs gcc, patchelf (apt-get install patchelf) and python3; run after the first `dotnet build` of the generator.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
native=${NUGET_PACKAGES:-$HOME/.nuget/packages}/torchsharp/0.107.0/runtimes/linux-x64/native
[ -f "$native/libLibTorchSharp.so" ] || { echo "no $native/libLibTorchSharp.so: build the generator first (dotnet build -c Release $here)" >&2; exit 1; }
if [ -f "$native/libiosshim.so" ]; then echo "already patched: $native"; exit 0; fi
shim=$(mktemp --suffix=.c)
echo 'void _ZSt21ios_base_library_initv(void) {}' > "$shim"
gcc -shared -fPIC -o "$native/libiosshim.so" "$shim"
rm -f "$shim"
patchelf --clear-symbol-version _ZSt21ios_base_library_initv "$native/libLibTorchSharp.so"
patchelf --add-needed libiosshim.so "$native/libLibTorchSharp.so"
patchelf --set-rpath '$ORIGIN' "$native/libLibTorchSharp.so"
python3 "$here/retarget_verneed.py" "$native/libLibTorchSharp.so" GLIBCXX_3.4.32 GLIBCXX_3.4.30
echo "patched $native"
