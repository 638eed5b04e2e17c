#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that each role's meta/argument_specs.yml documents exactly the variables of its defaults/main.yml.

For every role (default: every directory under <collection>/roles/ that has defaults/main.yml), the
options of the ``main`` entry point must have the same names as the variables of defaults/main.yml, and
each option needs a type, a description and a ``default`` equal to the value in defaults/main.yml.
The public variables must carry the role's prefix (``<role>_``).

Usage: check_argument_specs.py [ROLE_DIR ...]    (exit 0: in sync, 1: drift, 2: unreadable files)
Needs PyYAML (it comes with ansible-core).
"""

from __future__ import annotations

import os
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.stderr.write("check_argument_specs.py needs PyYAML: run it with the Python that has ansible-core\n")
    sys.exit(2)

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def check_role(role_dir):
    """Return the list of problems of one role (empty when in sync)."""
    role = os.path.basename(os.path.normpath(role_dir))
    defaults_path = os.path.join(role_dir, "defaults", "main.yml")
    specs_path = os.path.join(role_dir, "meta", "argument_specs.yml")
    if not os.path.exists(specs_path):
        return ["%s: missing; document every variable of %s there" % (specs_path, defaults_path)]
    defaults = _load(defaults_path) or {}
    specs = _load(specs_path) or {}
    options = ((specs.get("argument_specs") or {}).get("main") or {}).get("options") or {}
    problems = []
    for name in sorted(set(defaults) - set(options)):
        problems.append("%s: %s is in defaults/main.yml but not documented in argument_specs.yml" % (role, name))
    # Required options have no default on purpose (the run must not start without them).
    required = {n for n, o in options.items() if (o or {}).get("required")}
    for name in sorted(set(options) - set(defaults) - required):
        problems.append("%s: %s is documented in argument_specs.yml but has no default in defaults/main.yml"
                        % (role, name))
    for name in sorted(set(defaults) | set(options)):
        if not name.startswith(role + "_"):
            problems.append("%s: %s lacks the role prefix %s_ (private variables are __%s_*, in vars/)"
                            % (role, name, role, role))
    for name in sorted(set(defaults) & set(options)):
        spec = options[name] or {}
        for key in ("type", "description"):
            if not spec.get(key):
                problems.append("%s: %s has no %s in argument_specs.yml" % (role, name, key))
        if "default" not in spec:
            problems.append("%s: %s has no default in argument_specs.yml (defaults/main.yml says %r)"
                            % (role, name, defaults[name]))
        elif spec["default"] != defaults[name]:
            problems.append("%s: %s defaults to %r in argument_specs.yml but to %r in defaults/main.yml"
                            % (role, name, spec["default"], defaults[name]))
    return problems


def main(argv):
    role_dirs = argv or sorted(
        os.path.join(COLLECTION_ROOT, "roles", name) for name in os.listdir(os.path.join(COLLECTION_ROOT, "roles"))
        if os.path.exists(os.path.join(COLLECTION_ROOT, "roles", name, "defaults", "main.yml")))
    problems = []
    for role_dir in role_dirs:
        try:
            problems.extend(check_role(role_dir))
        except (OSError, yaml.YAMLError) as error:
            sys.stderr.write("%s: %s\n" % (role_dir, error))
            return 2
    for problem in problems:
        sys.stderr.write(problem + "\n")
    if not problems:
        sys.stdout.write("argument_specs.yml in sync with defaults/main.yml: %s\n"
                         % ", ".join(os.path.basename(os.path.normpath(d)) for d in role_dirs))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
