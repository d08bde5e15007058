"""Pure logic of the lab tool: reading apt sources, recipe hashes, topology checks."""

import pytest

from scriptmodule import load

lab = load("lab_tool", "lab/lab.py")


def test_sources_deb822(tmp_path):
    f = tmp_path / "debian.sources"
    f.write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://src.invalid/debian\nSuites: bookworm\n"
    )
    assert lab._sources(f) == [
        ("http://mirror.invalid/debian", ["bookworm", "bookworm-updates"]),
        ("http://mirror.invalid/debian-security", ["bookworm-security"]),
    ]


def test_sources_one_line_format(tmp_path):
    f = tmp_path / "sources.list"
    f.write_text(
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main\n"
        "deb-src http://src.invalid/debian bookworm main\n"
    )
    assert lab._sources(f) == [("http://mirror.invalid/debian", ["bookworm"])]


def test_mirror_from_environment_wins(monkeypatch):
    monkeypatch.setenv("LAB_DEBIAN_MIRROR", "http://mirror.invalid/debian/")
    monkeypatch.setenv("LAB_DEBIAN_SECURITY_MIRROR", "http://mirror.invalid/sec")
    assert lab.debian_mirrors() == ("http://mirror.invalid/debian", "http://mirror.invalid/sec")


def test_recipe_hash_changes_with_content_only(tmp_path):
    (tmp_path / "packages").write_text("python3\n")
    first = lab.recipe_hash(tmp_path)
    assert first == lab.recipe_hash(tmp_path)
    (tmp_path / "packages").write_text("python3\nless\n")
    second = lab.recipe_hash(tmp_path)
    assert second != first
    assert lab.recipe_hash(tmp_path, extra="base:1") != second
    assert len(second) == 12


def test_lab_topology_is_consistent():
    """The lab inventory: every node in a known cloud, addresses inside their network, unique."""
    import ipaddress
    topo = lab.topology()
    nets = {name: ipaddress.ip_network(cidr) for name, cidr in topo["networks"].items()}
    assert topo["interconnect"] in nets
    clouds = {n["cloud"] for n in topo["nodes"]}
    assert len(clouds) >= 2, "the lab has two clouds"
    for cloud in clouds:
        assert sum(n["cloud"] == cloud for n in topo["nodes"]) >= 2, f"{cloud} has two nodes"
    seen = set()
    for node in topo["nodes"]:
        assert ipaddress.ip_address(node["address"]) in nets[node["cloud"]]
        assert ipaddress.ip_address(node["interconnect_address"]) in nets[topo["interconnect"]]
        for a in (node["address"], node["interconnect_address"]):
            assert a not in seen
            seen.add(a)
    for a, b in [(a, b) for a in nets.values() for b in nets.values() if a is not b]:
        assert not a.overlaps(b)


@pytest.mark.parametrize("bad", ["nope-cloud"])
def test_topology_rejects_unknown_cloud(tmp_path, monkeypatch, bad):
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        f"all:\n  hosts:\n    n1:\n      ansible_host: 10.0.0.1\n      lab_cloud: {bad}\n")
    (inv / "group_vars" / "all" / "lab.yml").write_text("lab_networks:\n  interconnect: 10.0.9.0/24\n")
    monkeypatch.setattr(lab, "INVENTORY", inv)
    with pytest.raises(SystemExit):
        lab.topology()


def test_app_builds_chain_fleet_on_tomcat_one_image_per_version():
    builds = {public: (name, args, ref) for public, name, args, ref in lab.app_builds("hna-cloudos/lab-node:x")}
    order = [public for public, *_ in lab.app_builds("hna-cloudos/lab-node:x")]
    # Images of one recipe keep the private reference they had before recipes could have variants.
    name, args, ref = builds["cloudos/tomcat:10.1"]
    assert args == {"BASE": "hna-cloudos/lab-node:x"}
    assert ref == f"hna-cloudos/lab-app-tomcat:{lab.recipe_hash(lab.RECIPES / 'apps' / 'tomcat', extra='hna-cloudos/lab-node:x')}"
    versions = [f"cloudos/fleet:{v}" for v in ("1", "2", "3")]
    for version in versions:
        name, args, _ = builds[version]
        assert name == "fleet"
        assert args == {"BASE": ref, "APP_VERSION": version[-1]}
        assert order.index(version) > order.index("cloudos/tomcat:10.1")
    assert len({builds[v][2] for v in versions}) == 3
    # Another base (a rebuilt tomcat after a new node image) is another fleet image.
    other = {p: r for p, _, _, r in lab.app_builds("hna-cloudos/lab-node:y")}
    assert other["cloudos/fleet:1"] != builds["cloudos/fleet:1"][2]


def test_secrets_are_written_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "STATE", tmp_path)
    assert lab.ensure_secrets() == list(lab.LAB_SECRETS)
    folder = tmp_path / "secrets"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    values = {}
    for name in lab.LAB_SECRETS:
        path = folder / name
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        values[name] = path.read_text()
        assert values[name].endswith("\n") and len(values[name].strip()) == 24 and values[name].strip().isalnum()
    assert len(set(values.values())) == len(values)
    assert sorted(p.name for p in folder.iterdir()) == sorted(lab.LAB_SECRETS)  # no temporary file left
    (folder / "registry-cloudos").unlink()
    assert lab.ensure_secrets() == ["registry-cloudos"]
    assert all((folder / name).read_text() == values[name] for name in lab.LAB_SECRETS if name != "registry-cloudos")
