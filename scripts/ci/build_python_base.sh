#!/usr/bin/env bash
# Builds the minimal Python 3.11 base image for modeldeploy's container tests and pushes it
# to the local CI registry (started by scripts/ci/engine_up.sh).
#
# No Docker Hub here, so the image is made from Debian packages: `apt-get download` the
# interpreter, its stdlib and the shared libraries it loads, `dpkg-deb -x` them into a
# rootfs, link busybox-static's applets for a /bin/sh (not `busybox` itself: self-loop),
# and `docker import` the tarball. ~50 MB, full stdlib (json, http, asyncio, sqlite3, ssl).
#
# Idempotent: skips everything when the registry already holds the tag (FORCE=1 rebuilds).
# Needs a running dockerd (DOCKER_HOST honoured) and the registry on $MODELDEPLOY_TEST_REGISTRY.
set -euo pipefail

STATE="${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}"
REGISTRY="${MODELDEPLOY_TEST_REGISTRY:-127.0.0.1:5000}"
REPO="modeldeploy/python-base"
TAG="3.11"
IMAGE="${REGISTRY}/${REPO}:${TAG}"
FORCE="${FORCE:-0}"
APT_OPTS=(-q -o APT::Sandbox::User=root)

# python3.11-minimal alone lacks json/http/asyncio: the stdlib and every library it dlopens.
PACKAGES=(
  python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
  libc6 libssl3 libffi8 zlib1g libsqlite3-0 libexpat1 liblzma5 libbz2-1.0 libuuid1
  libncursesw6 libtinfo6 libreadline8 libcrypt1 libdb5.3 libnsl2 libtirpc3 libtirpc-common
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
  gcc-12-base libgcc-s1 media-types busybox-static
)
SMOKE="import json, http.server, asyncio, sqlite3, ssl, hashlib, urllib.request, decimal, lzma, bz2, zlib, ctypes, uuid; print('ok')"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "build_python_base: $*"; }

registry_has_tag() {
  curl -fsS -o /dev/null --max-time 5 -I \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://${REGISTRY}/v2/${REPO}/manifests/${TAG}"
}

t0=$(now)
if [ "$FORCE" != 1 ] && registry_has_tag 2>/dev/null; then
  log "${IMAGE} already in the registry: build skipped ($(since "$t0") s)"
  exit 0
fi

work="$(mktemp -d "${STATE}/python-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
debs="${STATE}/cache/debs"            # kept between builds: a rebuild downloads nothing new
rootfs="${work}/rootfs"
mkdir -p "$debs" "$rootfs"

# --- download -----------------------------------------------------------------------------
t=$(now)
missing=()
for p in "${PACKAGES[@]}"; do
  compgen -G "${debs}/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! (cd "$debs" && apt-get download "${APT_OPTS[@]}" "${missing[@]}" >/dev/null); then
    log "apt-get download failed; refreshing the package lists once"
    apt-get update -qq -o APT::Sandbox::User=root
    (cd "$debs" && apt-get download "${APT_OPTS[@]}" "${missing[@]}" >/dev/null)
  fi
fi
log "download: ${#missing[@]} of ${#PACKAGES[@]} packages fetched ($(since "$t") s)"

# --- rootfs -------------------------------------------------------------------------------
t=$(now)
for p in "${PACKAGES[@]}"; do
  # newest cached version of each package
  deb="$(printf '%s\n' "${debs}/${p}"_*.deb | sort -V | tail -n1)"
  dpkg-deb -x "$deb" "$rootfs"
done
ln -sf python3.11 "${rootfs}/usr/bin/python3"
# busybox applets for a shell and the usual tools; never overwrite a file a package shipped.
bb="${rootfs}/bin/busybox"
while read -r applet; do
  [ -n "$applet" ] || continue
  case "$applet" in */busybox) continue ;; esac
  dest="${rootfs}/${applet}"
  if [ -e "$dest" ] || [ -L "$dest" ]; then continue; fi
  mkdir -p "$(dirname "$dest")"
  ln -s /bin/busybox "$dest"
done < <("$bb" --list-full)
[ -L "${rootfs}/bin/sh" ] || [ -e "${rootfs}/bin/sh" ] || { log "no /bin/sh in the rootfs"; exit 1; }
mkdir -p "${rootfs}"/{tmp,root,proc,sys,dev,etc,var/tmp,run}
chmod 1777 "${rootfs}/tmp" "${rootfs}/var/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"${rootfs}/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"${rootfs}/etc/group"
rm -rf "${rootfs}/usr/share/doc" "${rootfs}/usr/share/man" "${rootfs}/usr/share/lintian" \
       "${rootfs}/usr/share/locale" "${rootfs}/usr/share/info"
log "rootfs: $(du -sm "$rootfs" | cut -f1) MB ($(since "$t") s)"

# --- import -------------------------------------------------------------------------------
t=$(now)
previous="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
tar --numeric-owner -C "$rootfs" -cf - . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHONUNBUFFERED=1' \
  --change 'CMD ["python3"]' \
  --message "modeldeploy python-base 3.11 from Debian packages" \
  - "$IMAGE" >/dev/null
log "import: ${IMAGE} ($(since "$t") s)"

# --- smoke test ---------------------------------------------------------------------------
t=$(now)
out="$(docker run --rm --init "$IMAGE" python3 -c "$SMOKE")"
[ "$out" = ok ] || { log "smoke test printed: $out"; exit 1; }
docker run --rm --init "$IMAGE" /bin/sh -c 'test -x /bin/sh && echo sh-ok' | grep -qx sh-ok
log "smoke test: stdlib imports and /bin/sh ok ($(since "$t") s)"

# --- push ---------------------------------------------------------------------------------
t=$(now)
docker push -q "$IMAGE" >/dev/null
registry_has_tag
log "push: ${IMAGE} ($(since "$t") s)"
# A rebuild leaves the previous image dangling: drop it unless a container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
log "done in $(since "$t0") s"
