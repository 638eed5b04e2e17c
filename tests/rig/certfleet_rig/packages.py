"""The binaries the rig runs, and the Debian packages that provide them (installed by `up` if missing)."""

import os
import shutil

from .errors import RigError, fail
from .files import log, rm, write
from .processes import run

# binary -> (candidate absolute paths, Debian package). A new service adds its binaries here.
BINARIES = {
    "pebble": (["/usr/bin/pebble"], "pebble"),
    "pebble-challtestsrv": (["/usr/bin/pebble-challtestsrv"], "pebble"),
    "sshd": (["/usr/sbin/sshd"], "openssh-server"),
    "ssh": (["/usr/bin/ssh"], "openssh-client"),
    "ssh-keygen": (["/usr/bin/ssh-keygen"], "openssh-client"),
    "nginx": (["/usr/sbin/nginx"], "nginx"),
    "apache2": (["/usr/sbin/apache2"], "apache2"),
    "openssl": (["/usr/bin/openssl"], "openssl"),
    "python3": (["/usr/bin/python3"], "python3"),  # ocsp.py: the OCSP responder front
    "faketime": (["/usr/bin/faketime"], "faketime"),  # ocsp.py: stale answers from openssl ocsp
    "named": (["/usr/sbin/named"], "bind9"),  # bind.py: the rig's name server
    "nsupdate": (["/usr/bin/nsupdate"], "bind9-dnsutils"),  # bind.py: RFC 2136 updates of the rig's records
    "chromium": (["/usr/bin/chromium"], "chromium"),  # tests/integration/test_report_outputs.py renders the HTML report
}


def binary(name, required=True):
    """Absolute path of a binary of BINARIES; RigError naming its package if it is missing."""
    paths, _pkg = BINARIES[name]
    for p in paths:
        if os.access(p, os.X_OK):
            return p
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    if found:
        return os.path.abspath(found)
    if required:
        raise RigError("binary %r not found (Debian package %s); run `rig.py up` as root so it can "
                       "apt-get install it" % (name, BINARIES[name][1]))
    return None


def ensure_packages(paths):
    """apt-get install the Debian packages whose binaries are missing (and only then)."""
    missing = sorted({pkg for name, (_c, pkg) in BINARIES.items() if not binary(name, required=False)})
    if not missing:
        return []
    if os.geteuid() != 0:
        raise RigError("missing packages %s and not root: run `apt-get install %s` as root"
                       % (missing, " ".join(missing)))
    policy = "/usr/sbin/policy-rc.d"
    created_policy = False
    if not os.path.exists(policy):
        # keep the distro daemons from starting on 0.0.0.0 during the install
        write(policy, "#!/bin/sh\n# created by certfleet rig.py for the duration of apt-get install\nexit 101\n",
              mode=0o755)
        created_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        try:
            run(paths, ["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                "apt-get install", log=paths.apt_log, env=env, timeout=900)
        except RigError:
            run(paths, ["apt-get", "update"], "apt-get update", log=paths.apt_log, env=env, timeout=900)
            run(paths, ["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                "apt-get install", log=paths.apt_log, env=env, timeout=900)
    finally:
        if created_policy:
            rm(policy)
    still = sorted({pkg for name, (_c, pkg) in BINARIES.items() if not binary(name, required=False)})
    if still:
        fail("packages %s installed but binaries still missing" % still, paths.apt_log)
    log(paths, "installed packages %s" % missing)
    return missing
