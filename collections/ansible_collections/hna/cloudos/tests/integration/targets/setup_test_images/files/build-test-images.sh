#!/bin/sh
# Build small local test images from Debian's busybox-static (no registry is needed):
#   hnatest/busybox:1 and hnatest/busybox:2  (same tools, different image IDs)
#   hnatest/web:1                            (busybox httpd on port 8080, with a HEALTHCHECK)
# Prints "changed" when it built anything. Idempotent: existing tags are kept.
set -eu
BUSYBOX="${BUSYBOX:-/bin/busybox}"
[ -x "$BUSYBOX" ] || { echo "busybox-static is missing: apt-get install busybox-static" >&2; exit 1; }
changed=""
build() {  # build TAG VERSION [docker import --change ...]
    tag="$1"; version="$2"; shift 2
    docker image inspect "$tag" >/dev/null 2>&1 && return 0
    dir=$(mktemp -d)
    mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/www" "$dir/data"
    cp "$BUSYBOX" "$dir/bin/busybox"
    for applet in $("$BUSYBOX" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" > "$dir/etc/passwd"
    echo "nobody:x:65534:65534:nobody:/:/bin/false" >> "$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
    echo "$tag $version" > "$dir/etc/hnatest-release"
    echo "hello from $tag" > "$dir/www/index.html"
    tar -C "$dir" -c . | docker import --change 'ENV PATH=/bin' "$@" - "$tag" >/dev/null
    rm -rf "$dir"
    changed=1
}
build hnatest/busybox:1 1 --change 'CMD ["sleep", "infinity"]'
build hnatest/busybox:2 2 --change 'CMD ["sleep", "infinity"]'
build hnatest/web:1 1 --change 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]' \
    --change 'EXPOSE 8080' --change 'ENV APP_MODE=image-default' --change 'LABEL org.example.from-image=yes' \
    --change 'HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'
build hnatest/web:2 2 --change 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]' \
    --change 'EXPOSE 8080' --change 'ENV APP_MODE=image-default' --change 'LABEL org.example.from-image=yes' \
    --change 'HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'
if [ -n "$changed" ]; then echo changed; fi
