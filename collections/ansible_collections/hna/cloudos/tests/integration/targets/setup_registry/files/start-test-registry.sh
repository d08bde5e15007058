#!/bin/sh
# Start a throwaway Docker registry (CNCF Distribution 2.8 from Debian's docker-registry package)
# with TLS and basic authentication on 127.0.0.1:<free port>, for the integration tests.
#
#   start-test-registry.sh STATE_DIR
#
# Builds the image hnatest/registry:2.8 once (reused when present), writes a throwaway CA, a
# server certificate for 127.0.0.1 and localhost, and an htpasswd file (bcrypt) for the user
# hnatest with a random password into STATE_DIR, runs the container hnatest-registry-<port>
# and prints one JSON line: {"url", "port", "container", "ca_path", "username", "password_file"}.
set -eu
state_dir="$1"
image=hnatest/registry:2.8
username=hnatest

need() {  # need COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
    command -v "$1" >/dev/null 2>&1 || { echo "$1 is missing and apt-get could not install $2" >&2; exit 1; }
}
need openssl openssl
need htpasswd apache2-utils
need python3 python3

build_image() {
    docker image inspect "$image" >/dev/null 2>&1 && return 0
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download docker-registry >/dev/null 2>&1) \
        || { apt-get update -q >/dev/null 2>&1 && (cd "$work" && apt-get download docker-registry >/dev/null); }
    dpkg-deb -x "$work"/docker-registry_*.deb "$work/deb"
    root="$work/root"
    mkdir -p "$root/bin" "$root/etc/docker/registry" "$root/var/lib/registry" "$root/certs" "$root/auth" "$root/tmp"
    cp "$work/deb/usr/bin/docker-registry" "$root/bin/registry"
    # The Debian binary is linked against the C library: copy the libraries it needs.
    for lib in $(ldd "$root/bin/registry" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    echo "root:x:0:0:root:/root:/bin/false" > "$root/etc/passwd"
    cat > "$root/etc/docker/registry/config.yml" <<'CONFIG'
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  tls:
    certificate: /certs/server.crt
    key: /certs/server.key
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: hnatest-registry
    path: /auth/htpasswd
CONFIG
    tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' --change 'EXPOSE 5000' \
        --change 'ENTRYPOINT ["registry"]' --change 'CMD ["serve", "/etc/docker/registry/config.yml"]' - "$image" >/dev/null
    rm -rf "$work"
    trap - EXIT
}
build_image

mkdir -p "$state_dir"
chmod 0700 "$state_dir"
if [ ! -s "$state_dir/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=hnatest throwaway registry CA' \
        -keyout "$state_dir/ca.key" -out "$state_dir/ca.crt" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' \
        -keyout "$state_dir/server.key" -out "$state_dir/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$state_dir/server.ext"
    openssl x509 -req -in "$state_dir/server.csr" -CA "$state_dir/ca.crt" -CAkey "$state_dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$state_dir/server.ext" -out "$state_dir/server.crt" >/dev/null 2>&1
fi
if [ ! -s "$state_dir/password" ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > "$state_dir/password")
fi
htpasswd -bBc "$state_dir/htpasswd" "$username" "$(cat "$state_dir/password")" >/dev/null 2>&1

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
container="hnatest-registry-$port"
docker create --name "$container" --label io.hna.cloudos.test=setup_registry \
    -p "127.0.0.1:$port:5000" "$image" >/dev/null
docker cp "$state_dir/server.crt" "$container:/certs/server.crt"
docker cp "$state_dir/server.key" "$container:/certs/server.key"
docker cp "$state_dir/htpasswd" "$container:/auth/htpasswd"
docker start "$container" >/dev/null
# Wait until the registry answers (401 without credentials).
tries=0
until curl -s -o /dev/null --cacert "$state_dir/ca.crt" "https://127.0.0.1:$port/v2/"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 50 ]; then
        docker logs "$container" >&2 || true
        echo "the test registry $container did not answer on 127.0.0.1:$port" >&2
        exit 1
    fi
    sleep 0.2
done
printf '{"url": "127.0.0.1:%s", "port": %s, "container": "%s", "ca_path": "%s", "username": "%s", "password_file": "%s"}\n' \
    "$port" "$port" "$container" "$state_dir/ca.crt" "$username" "$state_dir/password"
