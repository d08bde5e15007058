"""Checks of the registry scenario: a TLS registry with basic auth, used by the node's own engine."""
import os
import shlex
import subprocess

import pytest

NAME = "registry"
PORT = 5000
CONFIG_DIR = "/etc/hna-cloudos/registry/" + NAME
GC_SCRIPT = "/usr/local/sbin/registry-gc"


@pytest.fixture(scope="module")
def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def address(host):
    """The node's own address: what the certificate names and the engine trusts the CA for."""
    out = host.check_output("ip -4 -o route get 1.1.1.1 2>/dev/null || hostname -I")
    words = out.split()
    return words[words.index("src") + 1] if "src" in words else words[0]


@pytest.fixture(scope="module")
def ca_file(host):
    return "/etc/docker/certs.d/registry.molecule.test:%d/ca.crt" % PORT


def curl_code(host, ca_file, url, user=None, extra=""):
    """HTTP status of a GET, verifying the server with the registry CA only (no -k)."""
    auth = "-u %s" % shlex.quote(user) if user else ""
    cmd = "curl -sS -o /dev/null -w '%%{http_code}' --cacert %s %s %s %s" % (ca_file, auth, extra, url)
    result = host.run(cmd)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def test_container_is_healthy(host):
    out = host.check_output("docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' %s" % NAME)
    assert out == "running healthy"


def test_storage_on_named_volume_and_config_read_only(host):
    mounts = host.check_output(
        "docker inspect -f '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}};{{end}}' %s" % NAME)
    assert "volume %s-data /var/lib/docker-registry true" % NAME in mounts
    assert "bind  /etc/docker/registry false" in mounts


def test_api_needs_credentials(host, ca_file, address):
    assert curl_code(host, ca_file, "https://%s:%d/v2/" % (address, PORT)) == "401"
    resolve = "--resolve registry.molecule.test:%d:%s" % (PORT, address)
    assert curl_code(host, ca_file, "https://registry.molecule.test:%d/v2/" % PORT, extra=resolve) == "401"


def test_api_accepts_credentials(host, hostvars, ca_file, address):
    user = "%s:%s" % (hostvars["registry_test_user"], hostvars["registry_test_password"])
    assert curl_code(host, ca_file, "https://%s:%d/v2/" % (address, PORT), user=user) == "200"
    wrong = "%s:%s" % (hostvars["registry_test_user"], "not-the-password")
    assert curl_code(host, ca_file, "https://%s:%d/v2/" % (address, PORT), user=wrong) == "401"


def test_engine_pushes_and_pulls_through_the_ca(host, hostvars, address):
    registry = "%s:%d" % (address, PORT)
    image = "%s/molecule/dash:1" % registry
    login = host.run("docker login --username %s --password-stdin %s <<'EOF'\n%s\nEOF"
                     % (hostvars["registry_test_user"], registry, hostvars["registry_test_password"]))
    assert login.rc == 0, login.stderr
    try:
        host.check_output(
            "tar -chf - $(ldd /usr/bin/dash | grep -o '/[^ ]*') /usr/bin/dash 2>/dev/null | docker import - %s" % image)
        push = host.run("docker push %s" % image)
        assert push.rc == 0, push.stderr
        host.check_output("docker image rm %s" % image)
        pull = host.run("docker pull %s" % image)
        assert pull.rc == 0, pull.stderr
        assert host.run("docker image inspect %s" % image).rc == 0
    finally:
        host.run("docker image rm %s" % image)
        host.run("docker logout %s" % registry)


def test_delete_and_garbage_collection(host, hostvars, ca_file, address):
    """Deleting is enabled; the GC script then removes the blobs of the deleted image."""
    registry = "%s:%d" % (address, PORT)
    image = "%s/molecule/gc:1" % registry
    user = "%s:%s" % (hostvars["registry_test_user"], hostvars["registry_test_password"])
    host.check_output("docker login --username %s --password-stdin %s <<'EOF'\n%s\nEOF"
                      % (hostvars["registry_test_user"], registry, hostvars["registry_test_password"]))
    try:
        host.check_output("tar -chf - /etc/hostname /etc/os-release | docker import - %s" % image)
        host.check_output("docker push %s" % image)
        digest = host.check_output(
            "curl -sS -I --cacert %s -u '%s' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
            "https://%s/v2/molecule/gc/manifests/1 | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p' | tr -d '\\r'"
            % (ca_file, user, registry))
        assert digest.startswith("sha256:")
        code = host.check_output("curl -sS -o /dev/null -w '%%{http_code}' -X DELETE --cacert %s -u '%s' "
                                 "https://%s/v2/molecule/gc/manifests/%s" % (ca_file, user, registry, digest))
        assert code == "202"
    finally:
        host.run("docker image rm %s" % image)
        host.run("docker logout %s" % registry)
    gc = host.run(GC_SCRIPT)
    assert gc.rc == 0, gc.stderr
    assert "blob eligible for deletion" in gc.stdout + gc.stderr
    again = host.run(GC_SCRIPT + " --dry-run")
    assert again.rc == 0, again.stderr
    assert "blob eligible for deletion" not in again.stdout + again.stderr


def test_files_and_permissions(host):
    for path, mode in (("config.yml", 0o640), ("htpasswd", 0o640), ("tls/server.key", 0o640), ("tls/server.crt", 0o644)):
        f = host.file("%s/%s" % (CONFIG_DIR, path))
        assert f.is_file and f.user == "root" and f.gid == 5000 and f.mode == mode, path
    config = host.file(CONFIG_DIR + "/config.yml").content_string
    assert "delete:\n    enabled: true" in config
    assert "path: /etc/docker/registry/htpasswd" in config
    gc = host.file(GC_SCRIPT)
    assert gc.mode == 0o750
    assert "garbage-collect --delete-untagged" in gc.content_string
    assert not host.file("/etc/cron.d/registry-gc-%s" % NAME).exists


def test_htpasswd_holds_a_bcrypt_hash(host, hostvars):
    lines = host.file(CONFIG_DIR + "/htpasswd").content_string.splitlines()
    assert len(lines) == 1
    name, hashed = lines[0].split(":", 1)
    assert name == hostvars["registry_test_user"]
    assert hashed.startswith(("$2y$", "$2b$", "$2a$"))


def test_password_appears_nowhere(host, hostvars):
    password = hostvars["registry_test_password"]
    inspect = host.check_output("docker inspect %s" % NAME)
    assert password not in inspect
    for path in ("config.yml", "htpasswd"):
        assert password not in host.file("%s/%s" % (CONFIG_DIR, path)).content_string
    assert host.run("grep -rqF -- '%s' %s" % (password, CONFIG_DIR)).rc == 1


def test_verbose_rerun_changes_nothing_and_hides_the_password(hostvars):
    """Runs the converge again with -vvv on the controller: no change, and the password is never printed."""
    env = dict(os.environ)
    inventory = env.get("MOLECULE_INVENTORY_FILE")
    scenario = env.get("MOLECULE_SCENARIO_DIRECTORY")
    if not inventory or not scenario:
        pytest.skip("not run by molecule")
    inventory_dir = os.path.dirname(inventory)
    result = subprocess.run(
        ["ansible-playbook", "-vvv", "-i", inventory_dir, os.path.join(scenario, "converge.yml")],
        capture_output=True, text=True, env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Hash the passwords of new or changed entries" in output  # the secret-handling tasks ran
    assert hostvars["registry_test_password"] not in output
    assert "changed=0" in output and "failed=0" in output
