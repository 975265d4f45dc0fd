#!/usr/bin/env bash
# Build the one-folder desktop bundle (dist/tflite-studio/) and check it with its own
# self-test: the bundle opens its window offscreen, runs an int8 candidate on the demo in
# a worker process (the bundle's program started again as a worker) and exits 0.
#
#   packaging/build.sh     # from anywhere; DIST and WORK move the output and build folders
#
# The bundle also carries the desktop entry, AppStream metainfo and icons under share/,
# laid out as a Linux desktop expects them, for whoever packages it (deb, Flatpak, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
dist=$(realpath -m "${DIST:-dist}")
work=$(realpath -m "${WORK:-build/pyinstaller}")
python -m pip install --quiet -e ".[bundle]"

start=$(date +%s)
python -m PyInstaller --noconfirm --clean --log-level ERROR \
    --distpath "$dist" --workpath "$work" packaging/tflite-studio.spec
bundle=$dist/tflite-studio
app_id=io.github.tflite_studio.TFLiteStudio
install -D -m 644 "packaging/$app_id.desktop" "$bundle/share/applications/$app_id.desktop"
install -D -m 644 "packaging/$app_id.metainfo.xml" "$bundle/share/metainfo/$app_id.metainfo.xml"
install -D -m 644 resources/icons/tflite-studio.svg \
    "$bundle/share/icons/hicolor/scalable/apps/tflite-studio.svg"
for size in 16 32 48 64 128 256; do
    install -D -m 644 "resources/icons/tflite-studio-$size.png" \
        "$bundle/share/icons/hicolor/${size}x${size}/apps/tflite-studio.png"
done
built=$(date +%s)

python -c "from studio.values import modes; print('optional int4 (LiteRT Quantizer):', 'not included: ' + modes.missing('int4') if modes.missing('int4') else 'included')"
echo "bundle: $bundle ($(du -sh "$bundle" | cut -f1), $(find "$bundle" -type f | wc -l) files)," \
    "built in $((built - start)) s"
# The self-test must not find this checkout's Python files: run it from elsewhere.
(cd / && env -u PYTHONPATH "$bundle/tflite-studio" --self-test)
