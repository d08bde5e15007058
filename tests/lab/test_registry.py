"""The lab's private registry after `make lab`: TLS with the lab's CA, basic auth, the lab's
images in it, every node logged in and holding the images it pulled from it, and no password
in any output."""

import json
from pathlib import Path

import pytest

from conftest import HOSTVARS, NODES, REPO, group_hosts, node_host, run_module, run_playbook

ANY = HOSTVARS[NODES[0]]
REGISTRY = ANY["lab_registry_address"]
CA = REPO / ".lab" / "registry-ca" / "ca.crt"
PASSWORD_FILE = REPO / ".lab" / "secrets" / "registry-cloudos"
MANIFEST = json.loads((REPO / ".lab" / "images" / "apps.json").read_text()) \
    if (REPO / ".lab" / "images" / "apps.json").exists() else {"apps": []}


def test_registry_lists_every_lab_image():
    rc, result = run_module(
        "localhost", "hna.cloudos.registry_info",
        # The password is templated from the inventory, so it is in no command line.
        f"registry_url={REGISTRY} username=cloudos password={{{{ lab_registry_password }}}} "
        f"ca_path={CA} include_details=true")
    assert rc == 0, result
    found = {f"{r['name']}:{t['tag']}" for r in result["repositories"] for t in r["tags"]}
    assert set(MANIFEST["apps"]) <= found, f"missing in the registry: {set(MANIFEST['apps']) - found}"


def test_untrusted_certificate_is_refused_with_the_fix():
    rc, result = run_module(
        "localhost", "hna.cloudos.registry_info",
        f"registry_url={REGISTRY} username=cloudos password=x")
    assert rc != 0
    assert REGISTRY in result["msg"] and "ca_path" in result["msg"], result["msg"]


def test_every_node_pulled_the_images_from_the_registry(node):
    name, host = node
    assert host.file(f"/etc/docker/certs.d/{REGISTRY}/ca.crt").exists
    auths = json.loads(host.file("/root/.docker/config.json").content_string)["auths"]
    assert REGISTRY in auths
    wanted = HOSTVARS[name].get("lab_node_images", MANIFEST["apps"])
    assert wanted and set(wanted) <= set(MANIFEST["apps"]), wanted
    for image in wanted:
        digests = host.check_output(
            f"docker image inspect --format '{{{{json .RepoDigests}}}}' {REGISTRY}/{image}")
        assert f"{REGISTRY}/{image.split(':')[0]}@sha256:" in digests, f"{name}: {image} {digests}"


def test_wrong_password_fails_and_writes_nothing():
    name = NODES[-1]
    host = node_host(name)
    before = host.file("/root/.docker/config.json").content_string
    rc, result = run_module(
        name, "hna.cloudos.registry_login",
        f"registry_url={REGISTRY} username=cloudos password=wrong-password "
        f"ca_path=/etc/docker/certs.d/{REGISTRY}/ca.crt reauthorize=true")
    assert rc != 0
    assert "wrong-password" not in json.dumps(result)
    assert host.file("/root/.docker/config.json").content_string == before


def test_no_password_in_verbose_output():
    """Every play and task of lab_registry.yml, at -vvv: the registry's host, the control machine (the
    push) and one node of the other cloud (its CA, login and pulls); the other nodes run the same tasks."""
    password = PASSWORD_FILE.read_text().strip()
    registry_host = sorted(group_hosts("lab_registry"))[0]
    other = [n for n in NODES if HOSTVARS[n].get("lab_cloud") != HOSTVARS[registry_host].get("lab_cloud")]
    assert other, "no node outside the cloud of the registry"
    res = run_playbook("playbooks/lab_registry.yml", "--check", "-vvv", "--limit", f"localhost,{registry_host},{other[0]}")
    assert res.returncode == 0, res.stdout[-3000:]
    assert password not in res.stdout + res.stderr
