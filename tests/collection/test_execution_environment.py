"""The execution environments: ``ansible-builder create`` on the project's ``execution-environment.yml`` and on the
collection's ``meta/execution-environment.yml``, and what the build contexts hold.

- the project's context pins the ansible-core these tests run (and pyproject.toml pins), with ansible-runner;
- its galaxy requirements install hna.cloudos from the copy of the collection in the context (run here with
  ansible-galaxy, as the build's galaxy stage runs it), and ansible-builder's introspection of that installed
  collection finds the collection's Python requirements;
- the collection's own definition gives meta/requirements.txt.

Building the image itself needs the base image from a registry, which this machine cannot reach: not run here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

from pathlib import Path

import ansible
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTION_DIR = REPO_ROOT / 'collections' / 'ansible_collections' / 'hna' / 'cloudos'
BIN = Path(sys.executable).parent


def tool(name):
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    assert path, '%s is not installed: pip install ".[test]" (pyproject.toml) installs it' % name
    return str(path)


def run(*args, cwd):
    # As in the image build: no ansible.cfg of this project, no ANSIBLE_* settings of the caller (its collections path
    # holds hna.cloudos already, and ansible-galaxy would install nothing).
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith('ANSIBLE_'))
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, ' '.join(args) + '\n' + result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def requirement_lines(text):
    return [line.split('#')[0].strip() for line in text.splitlines() if line.split('#')[0].strip()]


def test_the_project_execution_environment_pins_the_tested_ansible_core(tmp_path):
    context = tmp_path / 'context'
    run(tool('ansible-builder'), 'create', '--file', 'execution-environment.yml', '--context', str(context), cwd=REPO_ROOT)
    containerfile = (context / 'Dockerfile').read_text(encoding='utf-8')
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M)
    assert refs, containerfile[:2000]
    pins = dict(ref.split('==') for ref in refs.group(1).split())
    assert pins['ansible-core'] == ansible.__version__, (pins, ansible.__version__)
    assert 'ansible-runner' in pins
    declared = tomllib.loads((REPO_ROOT / 'pyproject.toml').read_text(encoding='utf-8'))['project']['dependencies']
    assert 'ansible-core==%s' % ansible.__version__ in declared, declared

    # The galaxy stage: ansible-galaxy installs the collection from the copy in the context (cwd /build there).
    build = context / '_build'
    assert (build / 'collections' / 'hna.cloudos' / 'galaxy.yml').exists()
    installed = tmp_path / 'installed'
    run(tool('ansible-galaxy'), 'collection', 'install', '-r', 'requirements.yml', '-p', str(installed), cwd=build)
    galaxy = yaml.safe_load((COLLECTION_DIR / 'galaxy.yml').read_text(encoding='utf-8'))
    manifest = (installed / 'ansible_collections' / 'hna' / 'cloudos' / 'MANIFEST.json').read_text(encoding='utf-8')
    assert '"version": "%s"' % galaxy['version'] in manifest

    # The builder stage: introspection of the installed collection gives its Python requirements.
    found = yaml.safe_load(run(tool('ansible-builder'), 'introspect', '--sanitize', str(installed), cwd=tmp_path))
    names = sorted(re.split(r'[<>=!~ ]', entry, maxsplit=1)[0].lower() for entry in found['python'])
    wanted = sorted(re.split(r'[<>=!~ ]', line, maxsplit=1)[0].lower()
                    for line in requirement_lines((COLLECTION_DIR / 'meta' / 'requirements.txt').read_text(encoding='utf-8'))
                    if not line.lower().startswith('pyyaml'))  # ansible-builder leaves out what ansible-core brings
    assert names == wanted, found


def test_the_collection_execution_environment_gives_its_requirements(tmp_path):
    context = tmp_path / 'context'
    run(tool('ansible-builder'), 'create', '--file', 'meta/execution-environment.yml', '--context', str(context),
        cwd=COLLECTION_DIR)
    given = requirement_lines((context / '_build' / 'requirements.txt').read_text(encoding='utf-8'))
    assert given == requirement_lines((COLLECTION_DIR / 'meta' / 'requirements.txt').read_text(encoding='utf-8'))
