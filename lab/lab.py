#!/usr/bin/env python3
"""Build, start, inspect and remove the local lab: two clouds of Debian nodes in containers.

The lab is described by the Ansible inventory ``inventories/lab`` (hosts, addresses, clouds,
networks); this tool reads it with ``ansible-inventory`` and makes the containers match, so the
inventory stays the one description of the topology. Nodes start as bare Debian machines with
sshd and Python; the ``docker_host`` role installs their Docker engine over SSH.

Commands:
  build     build the node image (and the package cache image) if their recipe changed
  up        build, then create networks, the package cache and the nodes; wait for SSH
  status    one line per lab container
  down      remove the lab's containers, networks and node volumes (keeps images and caches)
  clean     remove everything the lab created: containers, networks, volumes, images, keys, caches
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import docker
    from docker.errors import APIError, DockerException, ImageNotFound, NotFound
except ImportError:  # pragma: no cover - reported to the user
    sys.exit("lab: the Docker SDK for Python is missing; run 'make setup' first.")

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("LAB_STATE_DIR", REPO / ".lab"))
# The inventory of the lab; LAB_INVENTORY names another, or several sources separated by ':' (a benchmark adds nodes
# to the lab with a second source).
_SOURCES = [Path(p) for p in os.environ.get("LAB_INVENTORY", str(REPO / "inventories" / "lab")).split(os.pathsep) if p]
INVENTORY, EXTRA_INVENTORIES = _SOURCES[0], _SOURCES[1:]
RECIPES = Path(__file__).resolve().parent / "images"

LABEL = "io.hna.cloudos.lab"
NODE_IMAGE = "hna-cloudos/lab-node"
CACHE_IMAGE = "hna-cloudos/lab-aptcache"
SUITE = "bookworm"
# Application and middleware images for the lab's namespaces, built from Debian packages on the
# node image: recipe folder under lab/images/apps -> the name the nodes know the image by.
APP_IMAGES = {
    "mariadb": "cloudos/mariadb:10.11",
    "nginx": "cloudos/nginx:1.22",
    "redis": "cloudos/redis:7.0",
    # The Redis exporter of monitoring (role monitoring_agent, monitoring_agent_redis_exporters).
    "redis-exporter": "cloudos/redis-exporter:1.45",
    "testlog-app": "cloudos/testlog-app:1",
    "tomcat": "cloudos/tomcat:10.1",
    "activemq": "cloudos/activemq:5.17",
    "registry": "cloudos/registry:2.8",
    # The demo application of releases (docs/releases.md): one recipe, one image per version.
    "fleet": ["cloudos/fleet:1", "cloudos/fleet:2", "cloudos/fleet:3", "cloudos/fleet:4"],
}
# Recipes built on another recipe's image instead of the node image: recipe -> base recipe
# (listed before it in APP_IMAGES). A recipe with a list of images is built once per image, with
# the build argument APP_VERSION set to the image's tag; its images share every layer but the last.
APP_BASES = {"fleet": "tomcat"}
# The one image that cannot come from the lab's registry: the registry itself. It reaches the
# registry host as a `docker save` archive; every other image is pushed to the registry.
BUNDLED_IMAGES = ["cloudos/registry:2.8"]
APP_BUNDLE_DIR = STATE / "images"
# Bump when the way images are built changes in a way their recipe files do not show.
BUILDER_VERSION = "1"

# What a container needs to run its own Docker engine here (a privileged container is refused).
NODE_CAPS = [
    "DAC_READ_SEARCH", "LINUX_IMMUTABLE", "NET_BROADCAST", "NET_ADMIN", "IPC_LOCK", "IPC_OWNER",
    "SYS_RAWIO", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_TIME",
    "SYS_TTY_CONFIG", "LEASE", "AUDIT_CONTROL", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
]
NODE_SECURITY_OPT = ["seccomp=unconfined", "apparmor=unconfined"]


def say(msg: str) -> None:
    print(f"lab: {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"lab: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


class Timer:
    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.start = time.monotonic()
        say(f"{self.what} ...")
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            say(f"{self.what}: done in {time.monotonic() - self.start:.1f}s")


def engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except DockerException as exc:
        fail(f"cannot reach the Docker engine of this machine ({exc}); run 'make setup' first.")
    raise AssertionError  # unreachable


# --------------------------------------------------------------------------------------------
# Topology, read from the inventory


def topology() -> dict:
    """Return {'networks': {...}, 'nodes': [...], 'cache': {...}} from the lab inventory."""
    try:
        out = subprocess.run(
            ["ansible-inventory"] + [arg for path in [INVENTORY] + EXTRA_INVENTORIES for arg in ("-i", str(path))] + ["--list"],
            check=True, capture_output=True, text=True, cwd=REPO,
        ).stdout
    except FileNotFoundError:
        fail("ansible-inventory is not on PATH; run 'make setup' and use the project's virtualenv.")
    except subprocess.CalledProcessError as exc:
        fail(f"cannot read the inventory {':'.join(map(str, [INVENTORY] + EXTRA_INVENTORIES))}: {exc.stderr.strip()}")
    inv = json.loads(out)
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    nodes = []
    for name, hv in sorted(hostvars.items()):
        if "lab_cloud" not in hv:
            continue
        nodes.append({
            "name": name,
            "cloud": hv["lab_cloud"],
            "address": hv["ansible_host"],
            "interconnect_address": hv.get("lab_interconnect_address"),
        })
    if not nodes:
        fail(f"the inventory {INVENTORY} defines no lab nodes (hosts with lab_cloud)")
    any_host = hostvars[nodes[0]["name"]]
    networks = any_host.get("lab_networks")
    if not networks:
        fail("the lab inventory must define lab_networks in group_vars/all")
    for node in nodes:
        if node["cloud"] not in networks:
            fail(f"node {node['name']}: lab_cloud {node['cloud']!r} is not in lab_networks")
    return {
        "registry": any_host.get("lab_registry_address"),
        "prefix": any_host.get("lab_prefix", "hnalab"),
        "networks": networks,
        "interconnect": any_host.get("lab_interconnect_network", "interconnect"),
        "cache": {
            "address": any_host.get("lab_apt_cache_address"),
            "alias": any_host.get("lab_apt_cache_alias", "aptcache"),
        },
        "nodes": nodes,
    }


# --------------------------------------------------------------------------------------------
# Images


def _sources(path: Path) -> list[tuple[str, list[str]]]:
    """(uri, suites) pairs from an apt sources file in either format."""
    pairs = []
    text = path.read_text(errors="replace")
    if path.suffix == ".sources":
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []):
                for uri in fields.get("uris", []):
                    pairs.append((uri, fields.get("suites", [])))
    else:
        for line in text.splitlines():
            line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0])
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                pairs.append((parts[1], [parts[2]]))
    return pairs


def debian_mirrors() -> tuple[str, str]:
    """The Debian archive and security mirrors this machine's apt already uses."""
    mirror = os.environ.get("LAB_DEBIAN_MIRROR")
    security = os.environ.get("LAB_DEBIAN_SECURITY_MIRROR")
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in files:
        if not path.is_file():
            continue
        for uri, suites in _sources(path):
            if not mirror and SUITE in suites:
                mirror = uri
            if not security and f"{SUITE}-security" in suites:
                security = uri
    if not mirror:
        fail("cannot tell which Debian mirror to use: set LAB_DEBIAN_MIRROR "
             "(this machine's apt sources name none for " + SUITE + ")")
    return mirror.rstrip("/"), (security or "").rstrip("/")


def recipe_hash(*paths: Path, extra: str = "") -> str:
    digest = hashlib.sha256(f"{BUILDER_VERSION}\n{SUITE}\n{extra}\n".encode())
    for base in paths:
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def image_exists(client, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except ImageNotFound:
        return False


def build_node_image(client) -> str:
    recipe = RECIPES / "node"
    tag = recipe_hash(recipe)
    ref = f"{NODE_IMAGE}:{tag}"
    if image_exists(client, ref):
        say(f"node image {ref} is up to date")
        client.images.get(ref).tag(NODE_IMAGE, "latest")
        return ref
    if not shutil.which("debootstrap"):
        fail("debootstrap is missing; run 'make setup' (apt-get install debootstrap).")
    packages = [
        line.strip() for line in (recipe / "packages").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    mirror, security = debian_mirrors()
    cache = STATE / "cache" / "debootstrap"
    cache.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    with Timer(f"building node image {ref} with debootstrap"), \
            tempfile.TemporaryDirectory(prefix="rootfs-", dir=STATE) as rootfs:
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
               f"--cache-dir={cache}", SUITE, rootfs, mirror]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            fail(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        root = Path(rootfs)
        lines = [f"deb {mirror} {SUITE} main", f"deb {mirror} {SUITE}-updates main"]
        if security:
            lines.append(f"deb {security} {SUITE}-security main")
        (root / "etc/apt/sources.list").write_text("\n".join(lines) + "\n")
        shutil.copy2(recipe / "lab-node-init", root / "usr/local/sbin/lab-node-init")
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        for junk in (root / "var/cache/apt/archives").glob("*.deb"):
            junk.unlink()
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        tar = subprocess.Popen(
            ["tar", "-C", rootfs, "--numeric-owner", "--exclude=./proc", "--exclude=./sys",
             "--exclude=./dev", "-c", "."], stdout=subprocess.PIPE)
        changes = [
            'ENTRYPOINT ["/usr/local/sbin/lab-node-init"]',
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"LABEL {LABEL}=1 {LABEL}.recipe={tag}",
        ]
        # The engine's import endpoint takes the tar stream directly.
        resp = client.api._post(
            client.api._url("/images/create"),
            params={"fromSrc": "-", "repo": NODE_IMAGE, "tag": tag, "changes": changes},
            data=tar.stdout, headers={"Content-Type": "application/x-tar"},
            timeout=None,
        )
        tar.wait()
        client.api._raise_for_status(resp)
        if tar.returncode != 0:
            fail("packing the node's root file system failed")
    client.images.get(ref).tag(NODE_IMAGE, "latest")
    return ref


def build_cache_image(client, node_ref: str) -> str:
    recipe = RECIPES / "aptcache"
    tag = recipe_hash(recipe, extra=node_ref)
    ref = f"{CACHE_IMAGE}:{tag}"
    if image_exists(client, ref):
        say(f"package cache image {ref} is up to date")
        return ref
    with Timer(f"building package cache image {ref}"):
        try:
            client.images.build(
                path=str(recipe), tag=ref, buildargs={"BASE": node_ref}, rm=True, pull=False,
                labels={LABEL: "1", f"{LABEL}.recipe": tag},
            )
        except Exception as exc:  # BuildError, APIError
            fail(f"building {ref} failed: {exc}")
    return ref


def app_builds(node_ref: str) -> list[tuple[str, str, dict, str]]:
    """(image, recipe, build arguments, private reference) of every application image, in build order.

    The private reference is named after a hash of the recipe and of the build arguments, which
    include the base image's reference: a changed base rebuilds the images built on it.
    """
    builds, refs = [], {}
    for name, images in APP_IMAGES.items():
        base = refs[APP_BASES[name]] if name in APP_BASES else node_ref
        for public in [images] if isinstance(images, str) else images:
            args, extra = {"BASE": base}, base
            if not isinstance(images, str):
                args["APP_VERSION"] = public.rpartition(":")[2]
                extra = json.dumps(args, sort_keys=True)
            ref = f"hna-cloudos/lab-app-{name}:{recipe_hash(RECIPES / 'apps' / name, extra=extra)}"
            refs.setdefault(name, ref)
            builds.append((public, name, args, ref))
    return builds


def build_app_images(client, node_ref: str) -> dict:
    """Build the application images; save the bundled ones in an archive the nodes can load.

    Writes and returns the manifest {"bundle": archive file name, "images": {tag: image id} of
    the bundled images, "apps": [every application image]}.
    """
    hashes = {}
    for public, name, args, ref in app_builds(node_ref):
        tag = ref.rpartition(":")[2]
        hashes[public] = tag
        if not image_exists(client, ref):
            with Timer(f"building {public} ({ref})"):
                try:
                    client.images.build(
                        path=str(RECIPES / "apps" / name), tag=ref, buildargs=args, rm=True, pull=False,
                        labels={LABEL: "1", f"{LABEL}.recipe": tag},
                    )
                except Exception as exc:  # BuildError, APIError
                    fail(f"building {public} failed: {exc}")
        repo, _, version = public.rpartition(":")
        client.images.get(ref).tag(repo, version)
    bundle_id = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:12]
    bundle = APP_BUNDLE_DIR / f"bootstrap-{bundle_id}.tar"
    manifest = {
        "bundle": bundle.name,
        "images": {public: client.images.get(public).id for public in BUNDLED_IMAGES},
        "apps": sorted(hashes),
    }
    if not bundle.exists():
        APP_BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
        for old in APP_BUNDLE_DIR.glob("bootstrap-*.tar"):
            old.unlink()
        with Timer(f"saving {', '.join(BUNDLED_IMAGES)} to {bundle.relative_to(REPO) if bundle.is_relative_to(REPO) else bundle}"):
            tmp = bundle.with_suffix(".partial")
            proc = subprocess.run(["docker", "save", "-o", str(tmp), *BUNDLED_IMAGES],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                fail(f"docker save failed: {proc.stderr.strip()}")
            tmp.rename(bundle)
    (APP_BUNDLE_DIR / "apps.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def cmd_build(_args) -> tuple[str, str]:
    client = engine()
    node = build_node_image(client)
    cache = build_cache_image(client, node)
    if not getattr(_args, "base_only", False):
        build_app_images(client, node)
    return node, cache


# --------------------------------------------------------------------------------------------
# Containers and networks


def ssh_key() -> str:
    key = STATE / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hna-cloudos-lab",
                        "-f", str(key)], check=True)
    return (key.with_suffix(".pub")).read_text().strip()


# The lab's secrets (.lab/secrets/<name>, 24 letters and digits each), made once by `lab.py up` and only read by
# the lab inventory: a missing one is an error there, never a new password for a database that has another.
LAB_SECRETS = ("mysql-root-password", "mysql-repl-password", "testlog-mysql-root-password", "registry-cloudos",
               "store-cache-redis", "mysql-exporter-password", "fleet-db-password")


def ensure_secrets() -> list[str]:
    """Write each secret of LAB_SECRETS that is missing (mode 0600, atomically); return the names written."""
    folder = STATE / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    alphabet = string.ascii_letters + string.digits
    written = []
    for name in LAB_SECRETS:
        path = folder / name
        if path.exists():
            continue
        value = "".join(secrets.choice(alphabet) for _ in range(24))
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        try:
            os.write(fd, (value + "\n").encode())
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        written.append(name)
    return written


def ensure_network(client, name: str, subnet: str, labels: dict):
    try:
        net = client.networks.get(name)
        configs = net.attrs.get("IPAM", {}).get("Config") or []
        if not any(c.get("Subnet") == subnet for c in configs):
            fail(f"network {name} exists with another subnet ({configs}); run 'make lab-clean'")
        return net
    except NotFound:
        pass
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    try:
        say(f"creating network {name} ({subnet})")
        return client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
    except APIError as exc:
        fail(f"cannot create network {name} with subnet {subnet}: {exc.explanation}. "
             "Change lab_networks in inventories/lab/group_vars/all/lab.yml to a free range.")
    raise AssertionError


def ensure_volume(client, name: str) -> str:
    try:
        client.volumes.get(name)
    except NotFound:
        client.volumes.create(name, labels={LABEL: "1"})
    return name


def container_or_none(client, name: str):
    try:
        return client.containers.get(name)
    except NotFound:
        return None


def ensure_container(client, name: str, image: str, networks: list[tuple[str, str, list]],
                     disks: tuple = (), **kw):
    """Create (or keep) a container on the given (network, address, aliases); start it.

    A container whose image or settings (key, proxy, networks, capabilities...) differ from
    what is asked is recreated. The volumes named in ``disks`` are its system disk: a
    recreated node starts from a fresh one, as a VM rebuilt from a new image would (an engine
    state left from another installation is not something a real host ever sees).
    """
    fingerprint = hashlib.sha256(json.dumps(
        [image, networks, kw], sort_keys=True, default=str).encode()).hexdigest()[:16]
    kw["labels"] = {**kw.get("labels", {}), f"{LABEL}.config": fingerprint}
    current = container_or_none(client, name)
    if current is not None and current.labels.get(f"{LABEL}.config") != fingerprint:
        say(f"{name}: settings changed, recreating")
        current.remove(force=True)
        current = None
        for disk in disks:
            try:
                client.volumes.get(disk).remove(force=True)
            except NotFound:
                pass
            ensure_volume(client, disk)
    if current is None:
        first, address, aliases = networks[0]
        endpoint = client.api.create_endpoint_config(ipv4_address=address, aliases=aliases or None)
        current = client.containers.create(
            image, name=name, detach=True, network=first,
            networking_config={first: endpoint}, **kw)
        for net, address, aliases in networks[1:]:
            client.networks.get(net).connect(current, ipv4_address=address, aliases=aliases or None)
        say(f"{name}: created")
    current.reload()
    if current.status != "running":
        current.start()
        say(f"{name}: started")
    return current


def wait_for_port(address: str, port: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=2) as sock:
                if port != 22 or sock.recv(4).startswith(b"SSH"):
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def cmd_up(args) -> None:
    started = time.monotonic()
    topo = topology()
    written = ensure_secrets()
    if written:
        say(f"secrets written: {', '.join(written)} (in {STATE / 'secrets'})")
    node_ref, cache_ref = cmd_build(args)
    client = engine()
    prefix = topo["prefix"]
    labels = {LABEL: "1"}
    nets = {}
    for cloud, subnet in topo["networks"].items():
        nets[cloud] = ensure_network(client, f"{prefix}-{cloud}", subnet, {**labels, f"{LABEL}.cloud": cloud})
    inter = topo["interconnect"]
    if inter not in nets:
        fail(f"lab_networks must include the interconnect network {inter!r}")

    cache = topo["cache"]
    proxy = None
    if cache["address"]:
        ensure_container(
            client, f"{prefix}-aptcache", cache_ref,
            [(f"{prefix}-{inter}", cache["address"], [cache["alias"]])],
            hostname="aptcache", labels={**labels, f"{LABEL}.role": "aptcache"},
            volumes={ensure_volume(client, f"{prefix}-aptcache"): {"bind": "/var/cache/apt-cacher-ng", "mode": "rw"}},
            restart_policy={"Name": "unless-stopped"},
        )
        proxy = f"http://{cache['alias']}:3142"

    pubkey = ssh_key()
    env = {"LAB_SSH_PUBKEY": pubkey}
    if proxy:
        env["LAB_APT_PROXY"] = proxy
    for node in topo["nodes"]:
        disk = ensure_volume(client, f"{prefix}-{node['name']}-docker")
        networks = [(f"{prefix}-{node['cloud']}", node["address"], [node["name"]])]
        if node["interconnect_address"]:
            networks.append((f"{prefix}-{inter}", node["interconnect_address"], [node["name"]]))
        ensure_container(
            client, f"{prefix}-{node['name']}", node_ref, networks, disks=(disk,),
            hostname=node["name"], init=True, environment=env,
            labels={**labels, f"{LABEL}.role": "node", f"{LABEL}.cloud": node["cloud"]},
            cap_add=NODE_CAPS, security_opt=NODE_SECURITY_OPT,
            device_cgroup_rules=["a *:* rwm"],
            volumes={
                "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                str(APP_BUNDLE_DIR): {"bind": "/srv/lab-images", "mode": "ro"},
                disk: {"bind": "/var/lib/docker", "mode": "rw"},
            },
        )
    for node in topo["nodes"]:
        if not wait_for_port(node["address"], 22):
            fail(f"node {node['name']} ({node['address']}) does not answer on SSH; "
                 f"see 'docker logs {prefix}-{node['name']}'")
    say(f"lab is up: {len(topo['nodes'])} nodes in {len(topo['networks']) - 1} clouds "
        f"({time.monotonic() - started:.1f}s)")


def lab_containers(client):
    return client.containers.list(all=True, filters={"label": f"{LABEL}=1"})


def cmd_status(_args) -> None:
    client = engine()
    rows = []
    for c in lab_containers(client):
        nets = c.attrs["NetworkSettings"]["Networks"]
        addrs = ", ".join(f"{n}={v['IPAddress']}" for n, v in sorted(nets.items()))
        rows.append((c.name, c.labels.get(f"{LABEL}.cloud", "-"), c.status, addrs))
    if not rows:
        say("no lab containers")
        return
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in sorted(rows):
        print(f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}")


def remove_lab(client, images: bool, caches: bool) -> None:
    for c in lab_containers(client):
        say(f"removing container {c.name}")
        c.remove(force=True, v=True)
    for net in client.networks.list(filters={"label": f"{LABEL}=1"}):
        say(f"removing network {net.name}")
        net.remove()
    for vol in client.volumes.list(filters={"label": f"{LABEL}=1"}):
        if caches or not vol.name.endswith("-aptcache"):
            say(f"removing volume {vol.name}")
            vol.remove(force=True)
    if images:
        for img in client.images.list(filters={"label": f"{LABEL}=1"}):
            for tag in img.tags or [img.id]:
                say(f"removing image {tag}")
                try:
                    client.images.remove(tag, force=True)
                except NotFound:
                    pass
        client.images.prune(filters={"dangling": True, "label": f"{LABEL}=1"})
    if caches:
        # The control machine's engine was told to trust the lab registry's CA.
        try:
            registry = topology().get("registry")
        except SystemExit:
            registry = None
        trust = Path("/etc/docker/certs.d") / registry if registry else None
        if trust and trust.is_dir():
            say(f"removing {trust}")
            shutil.rmtree(trust)
    if caches and STATE.exists():
        say(f"removing {STATE.relative_to(REPO) if STATE.is_relative_to(REPO) else STATE}")
        shutil.rmtree(STATE)


def cmd_down(_args) -> None:
    remove_lab(engine(), images=False, caches=False)


def cmd_clean(_args) -> None:
    remove_lab(engine(), images=True, caches=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("build", cmd_build), ("up", cmd_up), ("status", cmd_status),
                       ("down", cmd_down), ("clean", cmd_clean)):
        cmd = sub.add_parser(name)
        cmd.set_defaults(func=func)
        if name == "build":
            cmd.add_argument("--base-only", action="store_true",
                             help="only the node and package cache images (what molecule needs)")
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
