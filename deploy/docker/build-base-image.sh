#!/usr/bin/env bash
# Builds a stand-in for `python:3.11-slim` from Debian bookworm's packages (Python 3.11) where no image
# registry can be reached, so the Dockerfile builds unchanged. Does nothing when the image exists already
# (pass --force to rebuild). Needs root, debootstrap and a running Docker engine.
#
#   deploy/docker/build-base-image.sh [--force]
set -euo pipefail

IMAGE="${BASE_IMAGE:-python:3.11-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${1:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "$IMAGE exists already"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

root="$(mktemp -d /tmp/python-slim-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase \
    --include=python3,python3-pip,python3-venv,ca-certificates,python-is-python3 \
    bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# pip may install into the system interpreter, as in the official image.
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
echo "built $IMAGE from Debian bookworm: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
