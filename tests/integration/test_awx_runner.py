"""AWX behaviour, proven with the tools AWX uses: ansible-runner on the rig, ansible-builder on the EE definition.

ansible-runner runs certfleet.tls.issue the way AWX runs a job template: a private data dir, the inventory in it
(without the account key), the account key injected by the credential type of docs/awx.md into env/extravars, and
job events and artifacts written by runner's event callback. The private-key search reads every job event, the
stdout and every artifact file.
"""

import ast
import base64
import glob
import importlib.metadata
import json
import os
import re
import subprocess
import sys

import jinja2.sandbox
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from packaging.requirements import Requirement
from packaging.version import Version

import rig as rigmod
from rigtools import BASE, served_certificate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.environ.get("CERTFLEET_COLLECTIONS", "/tmp/certfleet/collections")
VENV_BIN = os.path.dirname(sys.executable)


# --- the credential type of docs/awx.md, rendered the way AWX renders an injector ---------------------------------

def documented_injector():
    """The injector configuration block of docs/awx.md (the credential type operators paste into AWX)."""
    with open(os.path.join(REPO, "docs", "awx.md")) as handle:
        text = handle.read()
    match = re.search(r"```yaml\n# Injector configuration\n(.*?)```", text, re.S)
    assert match, "docs/awx.md has no '# Injector configuration' yaml block"
    return yaml.safe_load(match.group(1))


def inject_credential(inputs):
    """AWX renders each injector value as a sandboxed Jinja template over the credential's inputs."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    return {name: env.from_string(template).render(**inputs)
            for name, template in documented_injector()["extra_vars"].items()}


# --- the private data dir ---------------------------------------------------------------------------------------

def private_data_dir(tmp_path, extravars):
    """What AWX lays out for a job: inventory/, env/extravars (0600, the credential's extra vars), env/envvars."""
    data = tmp_path / "runner"
    (data / "inventory").mkdir(parents=True)
    (data / "env").mkdir()
    with open(os.path.join(BASE, "inventory.yml")) as handle:
        inventory = yaml.safe_load(handle)
    # In AWX the key comes from the credential, never from the inventory.
    del inventory["all"]["vars"]["certificate_account_key_path"]
    (data / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    extravars_path = data / "env" / "extravars"
    fd = os.open(extravars_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(extravars, handle)
    envvars = {"ANSIBLE_CONFIG": os.path.join(BASE, "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
               "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")}
    (data / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    return str(data)


def run_job(data, ident, verbosity=0):
    import ansible_runner
    # extravars come from env/extravars, as in AWX: runner's extravars= argument would put them on the command line
    # (and in artifacts/<ident>/command).
    return ansible_runner.run(private_data_dir=data, ident=ident, playbook="certfleet.tls.issue",
                              inventory=os.path.join(data, "inventory", "hosts.yml"), verbosity=verbosity,
                              quiet=True, timeout=600)


def changed_events(runner):
    return [event for event in runner.events
            if event.get("event") == "runner_on_ok" and (event.get("event_data", {}).get("res") or {}).get("changed")]


# --- the private-key search -------------------------------------------------------------------------------------

def private_scalar(pem):
    """(the key's DER or OpenSSH blob, its secret bytes): EC private value, RSA private exponent, Ed25519 seed."""
    body = "".join(line.strip() for line in pem.strip().splitlines() if not line.startswith("-----"))
    blob = base64.b64decode(body)
    if "OPENSSH PRIVATE KEY" in pem:
        key = serialization.load_ssh_private_key(pem.encode(), None)
    else:
        key = serialization.load_pem_private_key(pem.encode(), None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        secret = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
    elif isinstance(key, rsa.RSAPrivateKey):
        exponent = key.private_numbers().d
        secret = exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        secret = key.private_bytes_raw()
    else:
        raise AssertionError("no secret extraction for %s" % type(key).__name__)
    assert secret in blob
    return body, blob, secret


def key_needles(pems):
    """What betrays a private key: its whole base64 body; any 16 characters of the part of the body that encodes
    only secret bytes (one line of the PEM, or the body re-wrapped, shows them); the secret in base64 and base64url
    (a JWK's "d"). The rest of a key's body encodes its public key, which CSRs and certificates rightly carry, so it
    is no needle."""
    needles = set()
    for pem in pems:
        body, blob, secret = private_scalar(pem)
        needles.add(body)
        offset = blob.find(secret)
        first, last = -(-offset // 3) * 4, (offset + len(secret)) // 3 * 4
        assert last - first >= 24, "secret too short to search for"
        # every 16-character window of the secret part (96 bits: no false positives), so one PEM line is enough
        needles.update(body[start:start + 16] for start in range(first, last - 15))
        needles.add(base64.b64encode(secret).decode().rstrip("="))
        needles.add(base64.urlsafe_b64encode(secret).decode().rstrip("="))
    return needles


# The marker, and the marker of a key file read whole and base64-encoded (ansible.builtin.slurp)
MARKERS = ["PRIVATE KEY"] + [base64.b64encode(b"-----BEGIN %sPRIVATE KEY-----" % kind).decode()[:28]
                             for kind in (b"", b"EC ", b"RSA ", b"OPENSSH ")]


def leaks(sources, needles):
    """(where, what) for every marker and every needle, in text as is and with line breaks removed."""
    found = []
    for where, text in sources:
        flat = re.sub(r"\\r|\\n|\r|\n|\s", "", text)
        found += [(where, "marker %s" % marker) for marker in MARKERS if marker in text]
        found += [(where, "key material %s..." % needle[:8]) for needle in needles if needle in text or needle in flat]
    return found


def artifact_sources(data):
    sources = []
    for path in sorted(glob.glob(os.path.join(data, "artifacts", "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                sources.append((os.path.relpath(path, data), handle.read().decode("utf-8", "replace")))
    return sources


def keys_in_use(account_pem):
    pems = [account_pem]
    for pattern in ("hosts/*/ssl/live/privkey.pem", "hosts/*/ssl/releases/*/privkey.pem",
                    "hosts/*/ssl/next/privkey.pem", "hosts/*/ssl/placeholder/privkey.pem", "ssh/id_ed25519",
                    "account.key"):
        for path in glob.glob(os.path.join(BASE, pattern)):
            with open(path) as handle:
                pems.append(handle.read())
    return pems


def test_the_key_search_finds_keys_in_every_form(tmp_path):
    """The search must be able to fail: a key in a JSON event, re-wrapped base64, or slurped, is found."""
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    body = "".join(key.strip().splitlines()[1:-1])
    needles = key_needles([key])
    unmarked = [("event", json.dumps({"res": {"content": body}})),  # the body without its marker lines
                ("stdout", "x " + "\n".join(body[i:i + 76] for i in range(0, len(body), 76))),  # re-wrapped
                ("stdout", key.splitlines()[1]),  # one line of the PEM: part of the secret
                ("stdout", key.splitlines()[2]),
                ("jwk", json.dumps({"d": base64.urlsafe_b64encode(private_scalar(key)[2]).decode().rstrip("=")}))]
    for source in unmarked:
        assert leaks([source], needles), source
    assert leaks([("event", json.dumps({"res": {"content": key}}))], needles)
    assert leaks([("slurp", json.dumps({"content": base64.b64encode(key.encode()).decode()}))], needles)
    # what is public is no leak: a CSR carries the same public key
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .sign(serialization.load_pem_private_key(key.encode(), None), hashes.SHA256()))
    assert not leaks([("csr", csr.public_bytes(serialization.Encoding.PEM).decode())], needles)
    assert not leaks([("clean", "serial=4e2c12c1b9f6394b tls=verified")], needles)


def test_issue_under_ansible_runner_with_the_credential_injected_key(fresh_rig, pebble_log, tmp_path):
    root = fresh_rig["pebble_root"]
    hosts = fresh_rig["host_names"]
    # A new account key, injected by the documented credential type: Pebble must register a new account with it.
    account_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    extravars = inject_credential({"account_key": account_pem, "eab_kid": "", "eab_hmac_key": ""})
    assert extravars["certificate_account_key_content"] == account_pem
    data = private_data_dir(tmp_path, extravars)

    log = pebble_log()
    mark = rigmod.pebble_log_mark(base=BASE)["offset"]
    first = run_job(data, "first", verbosity=3)
    assert first.status == "successful" and first.rc == 0, first.stdout.read()[-6000:]
    assert re.search(r"There are now \d+ accounts in memory", rigmod.pebble_log_since(mark, base=BASE)), \
        "Pebble registered no account: the injected key was not the one used"
    assert sum(1 for _method, path in log.requests() if path.startswith("/order-plz")) == len(hosts)
    for index, name in enumerate(hosts, start=1):
        served_certificate("127.0.1.%d" % index, "%s.test" % name, cafile=root)  # chain and name verified
    assert {event["event_data"]["host"] for event in changed_events(first)} == set(hosts)
    assert sorted(first.stats["ok"]) == sorted(hosts) and not first.stats["failures"]

    log = pebble_log()
    second = run_job(data, "second")
    assert second.status == "successful" and second.rc == 0, second.stdout.read()[-6000:]
    assert changed_events(second) == [], [e["event_data"].get("task") for e in changed_events(second)]
    assert second.stats["changed"] == {} and not second.stats["failures"]
    assert log.requests() == [], "a scheduled job with nothing due must not contact the CA"

    # No private key anywhere AWX would store or show: job events, stdout, artifacts of both jobs.
    sources = artifact_sources(data)
    assert any(where.endswith("stdout") for where, _text in sources)
    assert len([where for where, _text in sources if "/job_events/" in where]) > 20
    for job in (first, second):
        sources += [("event %s" % event.get("uuid"), json.dumps(event)) for event in job.events]
        sources.append(("stdout", job.stdout.read()))
    found = leaks(sources, key_needles(keys_in_use(account_pem)))
    assert len(found) == 0, found[:20]


# --- the execution environment ----------------------------------------------------------------------------------

def pins():
    """requirements.txt: name -> pinned version (what the tests run with)."""
    pinned = {}
    with open(os.path.join(REPO, "requirements.txt")) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pinned[name.strip().lower()] = version.strip()
    return pinned


def imported_distributions(collections_path):
    """Third-party distributions that the installed collection's plugins import (what must be in the EE)."""
    names = set()
    plugins = os.path.join(collections_path, "ansible_collections", "certfleet", "tls", "plugins")
    for path in glob.glob(os.path.join(plugins, "**", "*.py"), recursive=True):
        with open(path) as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third_party = names - set(sys.stdlib_module_names) - {"__future__", "ansible", "ansible_collections"}
    mapping = importlib.metadata.packages_distributions()
    missing = sorted(name for name in third_party if name not in mapping)
    assert not missing, "imported but not installed: %s" % missing
    return {dist.lower() for name in third_party for dist in mapping[name]}


def clean_env():
    """As in an EE build: only the collections given on the command line. `make` exports ANSIBLE_COLLECTIONS_PATH
    and ANSIBLE_CONFIG (the rig's): with them, ansible-galaxy finds the working tree's collection already installed
    and installs nothing where the test looks."""
    return dict((k, v) for k, v in os.environ.items() if k not in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_CONFIG"))


def builder(*args, cwd=None):
    env = clean_env()
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-builder")] + list(args), capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False, env=env)
    assert proc.returncode == 0, "ansible-builder %s: rc=%s\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory):
    """The collection as an EE gets it: built with ansible-galaxy (build_ignore applies), then installed."""
    work = tmp_path_factory.mktemp("galaxy")
    galaxy = os.path.join(VENV_BIN, "ansible-galaxy")
    subprocess.run([galaxy, "collection", "build", REPO, "--output-path", str(work)], check=True,
                   capture_output=True, timeout=300, env=clean_env())
    tarball = glob.glob(str(work / "certfleet-tls-*.tar.gz"))[0]
    subprocess.run([galaxy, "collection", "install", tarball, "-p", str(work / "collections"), "--no-deps"],
                   check=True, capture_output=True, timeout=300, env=clean_env())
    return str(work / "collections")


def introspected(output):
    document = yaml.safe_load(output.split("---", 1)[1])
    python = [line.split("#", 1)[0].strip() for line in document["python"] if "from collection certfleet.tls" in line]
    system = [line.split("#", 1)[0].strip() for line in document["system"] if "from collection certfleet.tls" in line]
    return python, system


def test_introspect_lists_exactly_the_python_requirements_the_tests_run_with(installed_collection):
    python, system = introspected(builder("introspect", installed_collection))
    requirements = {Requirement(line).name.lower(): Requirement(line) for line in python}
    imported = imported_distributions(installed_collection)
    assert set(requirements) == imported, "meta/ee-requirements.txt must list exactly what plugins/ imports: %s vs %s" % (
        sorted(requirements), sorted(imported))
    pinned = pins()
    for name, requirement in requirements.items():
        installed = importlib.metadata.version(name)
        assert requirement.specifier.contains(Version(installed)), "tests run %s %s, the EE allows %s" % (
            name, installed, requirement)
        assert pinned.get(name) and requirement.specifier.contains(Version(pinned[name])), (
            "requirements.txt pins %s==%s, the EE allows %s" % (name, pinned.get(name), requirement))
    with open(os.path.join(REPO, "meta", "bindep.txt")) as handle:
        bindep = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    assert system == bindep and "openssh-client [platform:dpkg]" in system


def test_ansible_builder_create_on_the_documented_definition(installed_collection, tmp_path):
    definition = os.path.join(REPO, "docs", "execution-environment.yml")
    with open(definition) as handle:
        ee = yaml.safe_load(handle)
    assert ee["version"] == 3
    builder("create", "-f", definition, "-c", str(tmp_path / "context"), "--output-filename", "Containerfile")
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    pinned = pins()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', containerfile, re.M).group(1).split()
    assert sorted(refs) == sorted(["ansible-core==%s" % pinned["ansible-core"],
                                   "ansible-runner==%s" % pinned["ansible-runner"]]), refs
    galaxy = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["certfleet.tls"]
    # The build runs this very script over the installed collections: run it here on ours.
    script = tmp_path / "context" / "_build" / "scripts" / "introspect.py"
    proc = subprocess.run([sys.executable, str(script), "introspect", "--write-pip", str(tmp_path / "pip.txt"),
                           "--write-bindep", str(tmp_path / "bindep.txt"), installed_collection],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(REPO, "meta", "ee-requirements.txt")) as handle:
        wanted = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    written = [line.split("#", 1)[0].strip() for line in (tmp_path / "pip.txt").read_text().splitlines() if line]
    assert written == wanted
