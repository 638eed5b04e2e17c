# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One key per certificate name for the whole ansible-playbook run, shared by the forked workers.

Why a file: when several hosts serve the same names (load-balanced backends), they need one key and one
order, but Ansible decides each host in its own forked worker process, so memory is not shared. The first
worker to ask makes the key and writes it (mode 0600, in a 0700 directory) under the run's private local
temp dir, which Ansible removes when the run ends; the others read it. An exclusive flock makes "read or
make" atomic across workers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os


class RunKeyShare:
    """``get(name, make)`` returns the (key_pem, csr_pem) made by ``make()`` for ``name`` once per run."""

    def __init__(self, directory):
        self.directory = directory

    def _path(self, name):
        return os.path.join(self.directory, hashlib.sha256(name.encode()).hexdigest() + ".json")

    def get(self, name, make):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        os.chmod(self.directory, 0o700)
        path = self._path(name)
        with open(os.path.join(self.directory, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(path):
                with open(path) as handle:
                    shared = json.load(handle)
                return shared["key"], shared["csr"]
            key_pem, csr_pem = make()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({"key": key_pem, "csr": csr_pem}, handle)
            return key_pem, csr_pem
