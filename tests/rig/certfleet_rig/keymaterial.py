"""Keys and TLS material, generated once and kept across down/up.

Made with the openssl and ssh-keygen command-line tools: the system python3 has no `cryptography`.
"""

import os

from .files import mkdir, rm, write
from .packages import binary
from .paths import host_name
from .processes import run


def ensure_pebble_tls(paths):
    """Pebble's own HTTPS listener: a small CA (pebble/ca.pem, what ACME clients trust) and a
    certificate for localhost and 127.0.0.1 signed by it."""
    d = paths.pebble_dir
    files = [os.path.join(d, n) for n in ("ca.pem", "ca.key", "cert.pem", "key.pem")]
    if all(os.path.exists(f) for f in files):
        return False
    mkdir(d)
    openssl = binary("openssl")
    ext = os.path.join(d, "server.ext")
    write(ext, "subjectAltName=DNS:localhost,DNS:pebble,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run(paths, [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "3650", "-subj", "/CN=certfleet rig Pebble HTTPS CA",
                "-keyout", files[1], "-out", files[0],
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "Pebble TLS CA generation")
    csr = os.path.join(d, "server.csr")
    run(paths, [openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=localhost", "-keyout", files[3], "-out", csr], "Pebble TLS key generation")
    run(paths, [openssl, "x509", "-req", "-in", csr, "-CA", files[0], "-CAkey", files[1],
                "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", files[2]],
        "Pebble TLS certificate signing")
    for f in (files[1], files[3]):
        os.chmod(f, 0o600)
    for f in (files[0], files[2]):
        os.chmod(f, 0o644)
    return True


def ensure_ssh_client_key(paths):
    """The controller's SSH key (ssh/id_ed25519) and the authorized_keys every sshd reads."""
    mkdir(paths.ssh_dir, 0o700)
    if not (os.path.exists(paths.ssh_key) and os.path.exists(paths.ssh_key + ".pub")):
        for f in (paths.ssh_key, paths.ssh_key + ".pub"):
            rm(f)
        run(paths, [binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "certfleet-rig",
                    "-f", paths.ssh_key], "SSH client key generation")
    with open(paths.ssh_key + ".pub") as f:
        write(paths.authorized_keys, f.read(), mode=0o600)


def ensure_account_key(paths):
    """The ACME account key the inventory points to (EC P-256, PKCS#8, 0600)."""
    if os.path.exists(paths.account_key):
        os.chmod(paths.account_key, 0o600)
        return False
    tmp = paths.account_key + ".tmp"
    rm(tmp)
    old = os.umask(0o077)
    try:
        run(paths, [binary("openssl"), "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", tmp], "ACME account key generation")
    finally:
        os.umask(old)
    os.chmod(tmp, 0o600)
    os.replace(tmp, paths.account_key)
    return True


def ensure_host_material(paths, i):
    """Host dir, host key, webroot, placeholder certificate and the `live` symlink."""
    h, d = host_name(i), paths.host_dir(host_name(i))
    mkdir(d)
    mkdir(os.path.join(d, "ssh"), 0o700)
    mkdir(os.path.join(d, "webroot"))
    ssl_dir = os.path.join(d, "ssl")
    mkdir(ssl_dir)
    key = os.path.join(d, "ssh", "ssh_host_ed25519_key")
    if not (os.path.exists(key) and os.path.exists(key + ".pub")):
        for f in (key, key + ".pub"):
            rm(f)
        run(paths, [binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", h, "-f", key],
            "host key generation for %s" % h)
    ph = os.path.join(ssl_dir, "placeholder")
    if not (os.path.exists(os.path.join(ph, "fullchain.pem")) and os.path.exists(os.path.join(ph, "privkey.pem"))):
        mkdir(ph)
        run(paths, [binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "365", "-subj", "/CN=%s.test" % h,
                    "-addext", "subjectAltName=DNS:%s.test" % h,
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-keyout", os.path.join(ph, "privkey.pem"), "-out", os.path.join(ph, "fullchain.pem")],
            "placeholder certificate for %s" % h)
        os.chmod(os.path.join(ph, "privkey.pem"), 0o600)
        os.chmod(os.path.join(ph, "fullchain.pem"), 0o644)
    live = os.path.join(ssl_dir, "live")
    if not os.path.lexists(live):  # never overwrite: the deploy module owns `live` afterwards
        os.symlink("placeholder", live)
