"""bench/mysql_backup.py: what it needs before it builds its sysbench image is named, with the command to get it."""

import subprocess
import sys

import pytest

from scriptmodule import REPO, load

sys.path.insert(0, str(REPO / "bench"))  # the benchmark imports benchrecord from its own folder
bench = load("bench_mysql_backup", "bench/mysql_backup.py")


class Engine:
    """Answers the benchmark's docker commands as an engine with the listed images and networks would."""

    def __init__(self, images=(), networks=()):
        self.images = set(images)
        self.networks = set(networks)
        self.commands = []

    def run(self, argv, **kwargs):
        self.commands.append(argv)
        if argv[1:3] == ["image", "inspect"]:
            known = argv[-1] in self.images
            return subprocess.CompletedProcess(argv, 0 if known else 1, "sha256:abc\n" if known else "", "")
        if argv[1:3] == ["network", "inspect"]:
            return subprocess.CompletedProcess(argv, 0 if argv[-1] in self.networks else 1, "", "")
        raise AssertionError("unexpected command: %s" % argv)


def test_a_missing_base_image_says_how_to_build_it(monkeypatch):
    engine = Engine()
    monkeypatch.setattr(bench, "run", engine.run)
    with pytest.raises(SystemExit) as caught:
        bench.bench_image()
    assert "%s is not on this engine" % bench.BASE_IMAGE in str(caught.value)
    assert "lab/lab.py build" in str(caught.value)


def test_a_missing_package_cache_network_says_to_start_the_lab_before_anything_is_built(monkeypatch):
    engine = Engine(images=[bench.BASE_IMAGE])
    monkeypatch.setattr(bench, "run", engine.run)
    with pytest.raises(SystemExit) as caught:
        bench.bench_image()
    message = str(caught.value)
    assert "network %s, which does not exist" % bench.APT_NETWORK in message
    assert "lab/lab.py up" in message
    assert not [argv for argv in engine.commands if argv[1] == "build"]


def test_a_built_image_needs_neither_the_lab_nor_a_build(monkeypatch):
    engine = Engine(images=[bench.BASE_IMAGE])
    prefix = "%s/mariadb-sysbench:" % bench.PREFIX

    def run(argv, **kwargs):
        if argv[1:3] == ["image", "inspect"] and argv[-1].startswith(prefix):
            engine.commands.append(argv)
            return subprocess.CompletedProcess(argv, 0, "", "")
        return engine.run(argv, **kwargs)

    monkeypatch.setattr(bench, "run", run)
    assert bench.bench_image().startswith(prefix)
    assert [argv[1] for argv in engine.commands] == ["image", "image"]
