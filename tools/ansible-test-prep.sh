#!/usr/bin/env bash
# Prepare ansible-test to build its per-test virtual environments without downloading the
# pip bootstrap script (get-pip) from the internet.
#
# ansible-test bootstraps pip in each new virtual environment by running a get-pip script that it
# first looks for in its cache, ~/.ansible/test/cache/get_pip_<pip version with _>.py. This script
# writes a stand-in there for every pip version the installed ansible-test asks for. The stand-in
# installs pip with the interpreter's own ensurepip, then brings it to the wanted version with
# "pip install" from the configured package index.
#
# Safe to run again: an existing stand-in is rewritten, a real get-pip script is left alone.
#
# Usage: tools/ansible-test-prep.sh [PYTHON]   (PYTHON: the interpreter that has ansible-test;
#        default: .venv/bin/python of the repository if it exists, else python3)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:-}"
if [[ -z "${python}" ]]; then
    if [[ -x "${repo_root}/.venv/bin/python" ]]; then
        python="${repo_root}/.venv/bin/python"
    else
        python="python3"
    fi
fi

"${python}" - <<'PYTHON'
import os
import re
import sys

try:
    import ansible_test
except ImportError:
    sys.exit('ansible-test is not installed for %s: install ansible-core first.' % sys.executable)

package_dir = os.path.dirname(ansible_test.__file__)
requirements_source = os.path.join(package_dir, '_internal', 'python_requirements.py')
with open(requirements_source, encoding='utf-8') as source:
    text = source.read()

# get_venv_packages() names the pip version(s): "pip='24.2'" in default_packages and in
# per-Python overrides.
versions = sorted(set(re.findall(r"""\bpip\s*=\s*['"]([0-9][0-9A-Za-z.]*)['"]""", text)))
if not versions:
    sys.exit('Cannot find the pip version ansible-test wants in %s.' % requirements_source)

# Where ansible-test reads the script from (see _util/target/setup/requirements.py).
setup_source = os.path.join(package_dir, '_util', 'target', 'setup', 'requirements.py')
with open(setup_source, encoding='utf-8') as source:
    if 'get_pip_%s.py' not in source.read():
        sys.exit('ansible-test in %s no longer uses ~/.ansible/test/cache/get_pip_<version>.py: '
                 'this script needs updating.' % package_dir)

MARKER = '# ansible-test get-pip stand-in (installs pip with ensurepip, then pip install)'
STAND_IN = MARKER + '''
"""Stand-in for get-pip.py: ansible-test runs it as "python get_pip.py [pip options] PACKAGES..."."""
import subprocess
import sys

IGNORED = ('--no-setuptools', '--no-wheel')


def main():
    arguments = [argument for argument in sys.argv[1:] if argument not in IGNORED]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
    if arguments:
        subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--upgrade'] + arguments)


if __name__ == '__main__':
    main()
'''

cache_dir = os.path.expanduser('~/.ansible/test/cache')
os.makedirs(cache_dir, exist_ok=True)
for version in versions:
    path = os.path.join(cache_dir, 'get_pip_%s.py' % version.replace('.', '_'))
    if os.path.exists(path):
        with open(path, encoding='utf-8', errors='replace') as existing:
            if not existing.read().startswith(MARKER):
                print('%s already holds a real get-pip script: left alone.' % path)
                continue
    with open(path + '.tmp', 'w', encoding='utf-8') as stand_in:
        stand_in.write(STAND_IN)
    os.replace(path + '.tmp', path)
    print('pip %s bootstrap stand-in written to %s' % (version, path))
PYTHON
