"""Run the job templates of awx/ the way AWX runs them: ansible-runner in a private data directory.

The directory holds what AWX writes for a job: ``project/`` (the project's tracked files, as AWX checks them out: no
``.venv``, no ``.lab``), ``inventory/hosts`` (an executable that prints the inventory as JSON, as AWX's inventory
script does, from ``ansible-inventory --list --export`` of the lab's inventory), ``env/extravars`` (the survey's
answers), ``env/envvars`` (``LAB_STATE_DIR``: where the lab's key, CA and secrets are, as a credential would inject
them) and ``env/ssh_key`` (the Machine credential). ansible-runner starts the playbook from ``project/`` with no
terminal and no stdin; its artifacts are kept per job.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / '.lab'
BIN = Path(sys.executable).parent


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """YAML with Ansible's !unsafe tag."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def templates():
    """The job templates of awx/job_templates.yml by name."""
    data = yaml.load((REPO / 'awx' / 'job_templates.yml').read_text(encoding='utf-8'), Loader=_Loader)  # noqa: S506
    return {t['name']: t for t in data['awx_job_templates']}


def survey_defaults(template):
    return {q['variable']: q['default'] for q in template['survey']}


def lab_secrets():
    """The values of the lab's secrets (none may appear in a job's artifacts)."""
    return [p.read_text(encoding='utf-8').strip() for p in sorted((LAB / 'secrets').iterdir()) if p.is_file()]


class Job:
    """One finished job: ``status`` (successful, failed, ...), ``rc``, ``stdout``, ``ok``, ``changed`` and ``failed``
    per host from the play recap event, and the artifacts' directory."""

    def __init__(self, artifacts):
        self.artifacts = artifacts
        self.status = (artifacts / 'status').read_text(encoding='utf-8').strip()
        self.rc = int((artifacts / 'rc').read_text(encoding='utf-8').strip())
        self.stdout = (artifacts / 'stdout').read_text(encoding='utf-8', errors='replace')
        self.ok, self.changed, self.failed = {}, {}, {}
        for path in sorted((artifacts / 'job_events').glob('*.json')):
            event = json.loads(path.read_text(encoding='utf-8'))
            if event.get('event') == 'playbook_on_stats':
                data = event.get('event_data') or {}
                self.ok = data.get('ok') or {}
                self.changed = data.get('changed') or {}
                self.failed = dict(data.get('failures') or {}, **(data.get('dark') or {}))

    def text(self):
        return ' '.join(self.stdout.split())

    def leaked(self, secrets):
        """The artifacts' files that contain one of ``secrets``: ``[(path, index of the secret)]``."""
        found = []
        for path in sorted(self.artifacts.rglob('*')):
            if path.is_file():
                data = path.read_text(encoding='utf-8', errors='replace')
                found.extend((str(path.relative_to(self.artifacts)), i) for i, s in enumerate(secrets) if s and s in data)
        return found


class PrivateDataDir:
    """A private data directory with the project, the inventory, the environment and the SSH key; ``run`` starts
    one job of a template in it."""

    def __init__(self, base):
        self.base = Path(base)
        self.count = 0
        project = self.base / 'project'
        files = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, check=True, capture_output=True).stdout.decode()
        for name in filter(None, files.split('\0')):
            source = REPO / name
            if source.is_file() or source.is_symlink():
                target = project / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_symlink():
                    os.symlink(os.readlink(source), target)
                else:
                    shutil.copy2(source, target)
        assert not (project / '.venv').exists() and not (project / '.lab').exists()
        inventory = subprocess.run([str(BIN / 'ansible-inventory'), '-i', str(REPO / 'inventories' / 'lab'), '--list',
                                    '--export'], cwd=REPO, check=True, capture_output=True, text=True,
                                   env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'))).stdout
        (self.base / 'inventory').mkdir()
        (self.base / 'inventory' / 'inventory.json').write_text(inventory, encoding='utf-8')
        script = self.base / 'inventory' / 'hosts'
        script.write_text('#!%s\nimport sys\nsys.stdout.write(open(%r).read())\n'
                          % (sys.executable, str(self.base / 'inventory' / 'inventory.json')), encoding='utf-8')
        script.chmod(0o755)
        (self.base / 'env').mkdir()
        (self.base / 'env' / 'envvars').write_text(yaml.safe_dump({'LAB_STATE_DIR': str(LAB)}), encoding='utf-8')
        (self.base / 'env' / 'ssh_key').write_text((LAB / 'ssh' / 'id_ed25519').read_text(encoding='utf-8'),
                                                    encoding='utf-8')
        (self.base / 'env' / 'ssh_key').chmod(0o600)

    def run(self, template, answers=None, limit=None):
        """Run ``template`` (an item of awx/job_templates.yml) with its survey's defaults and ``answers``."""
        self.count += 1
        ident = '%02d-%s' % (self.count, re.sub(r'[^a-z0-9]+', '-', template['name'].lower()).strip('-'))
        extravars = dict(survey_defaults(template), **(answers or {}))
        (self.base / 'env' / 'extravars').write_text(yaml.safe_dump(extravars), encoding='utf-8')
        cmd = [str(BIN / 'ansible-runner'), 'run', str(self.base), '-p', template['playbook'], '--ident', ident]
        if limit:
            cmd += ['--limit', limit]
        env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_') and k != 'PWD'}
        env['PATH'] = '%s:%s' % (BIN, env.get('PATH', '/usr/bin:/bin'))
        subprocess.run(cmd, cwd=self.base, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        return Job(self.base / 'artifacts' / ident)
