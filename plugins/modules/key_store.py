#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: key_store
short_description: Keep a certificate's active and backup keys on the control node, publish their pins, rotate them
version_added: 0.2.0
description:
  - Runs on the control node. Keeps the operator's own keys for one certificate in a key store directory
    (O(store_path), mode C(0700); one subdirectory per certificate, files C(0600)), or, in an execution
    environment without a persistent disk, takes them from no_log variables (O(key_source=content)).
  - Under O(policy=pinned) the store holds an active key, which signs the CSR and goes to the web server, and
    a backup key, which never leaves the control node; only the backup's pin is published (RFC 7469 section
    4.3). Under O(policy=reuse) it holds the active key only, so renewals keep the key (and DANE TLSA C(3 1 1)
    records stay valid).
  - O(state=present) makes the missing keys (or imports the operator's own key or CSR, see O(active_key_path),
    O(backup_key_path), O(backup_csr_path), O(active_csr_path)) and returns the pins, the HPKP header and the
    TLSA records.
  - O(state=published) records when the current pins were first published (a header served, TLSA records in
    DNS). A planned rotation waits until the backup's pin has been published for max(O(max_age), O(tlsa_ttl))
    seconds.
  - O(state=rotated) is a planned rotation. The backup becomes active, a new backup is made, and the old active
    key is retired. It is refused, with the date at which it becomes safe, while the backup's pin is too recent.
  - O(state=emergency_rotated) is the same rotation after a key compromise. It needs O(reason), skips the
    pin-safety wait and says why. Revoke the old key's certificates afterwards with M(certfleet.tls.acme_revoke)
    (reason C(keyCompromise), signed by the retired key, RV(rotated.retired_key_path)); playbook
    C(certfleet.tls.rotate) does all of it.
  - No private key is ever returned, printed or shown in a diff, with one exception. In content mode, a key made
    by this call is returned in RV(new_keys) only when the task has C(no_log=true). Otherwise it is written to
    O(new_keys_dir), or the module fails and names both ways.
  - Each result warns that browsers removed HPKP (Chrome 72, Firefox 72). The same pins serve DANE, app
    pinning and C(curl --pinnedpubkey).
author:
  - certfleet.tls developers (@certfleet)
options:
  name:
    description:
      - The certificate's name, as the certificate role names it (C(certificate_name), by default the domains
        joined by commas). Hosts that serve the same name share its keys.
    type: str
    required: true
  domains:
    description:
      - The names the certificate carries, for the TLSA records (C(_443._tcp.<name>)).
      - Default is O(name) split at commas. When that gives no valid DNS name, no TLSA data is returned and a
        warning says so.
    type: list
    elements: str
  key_source:
    description:
      - V(store) keeps the keys in O(store_path).
      - V(content) takes them from O(active_key_content) and O(backup_key_content), for an AWX execution
        environment whose disk does not outlive the job. Keys made or moved by this call must then be stored
        again by the operator; RV(update_variables) says which variable gets which key (by pin).
    type: str
    choices: [store, content]
    default: store
  store_path:
    description:
      - The key store directory on the control node, created with mode C(0700). In AWX, a path on a persistent
        volume.
      - Keep it out of any git checkout (an inventory directory often is one).
    type: path
    default: ~/.local/share/certfleet/keys
  policy:
    description:
      - V(pinned) keeps an active and a backup key; rotation happens only on request.
      - V(reuse) keeps the active key only; renewals reuse it.
      - The certificate role's third policy, C(rotate_each_issue), keeps no key and does not use the store.
    type: str
    choices: [pinned, reuse]
    default: pinned
  key_type:
    description:
      - Type of the keys this call makes. Default is V(ec256) for a new certificate, and the type of the stored
        keys for a rotation.
      - Stored keys keep their type; a value that differs from the active key's type warns. A rotation makes
        the new backup of this type, so a key type changes over two rotations without breaking the pins.
    type: str
    choices: [ec256, ec384, rsa2048, rsa3072, rsa4096]
  state:
    description:
      - V(present), V(published), V(rotated) or V(emergency_rotated); see the description.
    type: str
    choices: [present, published, rotated, emergency_rotated]
    default: present
  reason:
    description:
      - Why the keys are rotated. Required with O(state=emergency_rotated), where it is printed and kept in the
        store's history.
    type: str
  max_age:
    description:
      - The HPKP C(max-age) of the published header, in seconds. It also sets how long the backup's pin must be
        published before a planned rotation. Use V(0) when no client caches the header.
    type: int
    default: 5184000
  tlsa_ttl:
    description:
      - TTL of the TLSA records in seconds. It is the TTL of the zone lines in RV(tlsa_zone_lines), and a
        planned rotation waits at least this long after the backup's pin is published.
    type: int
    default: 3600
  tlsa_ports:
    description: Services that get TLSA records, C(_<port>._tcp.<name>) (443 for HTTPS, 25 for mail).
    type: list
    elements: int
    default: [443]
  issuer_certificate:
    description:
      - The issuer's certificate (PEM, or a file path), to add a C(2 1 1) (DANE-TA) record. Such a record
        only works while the server sends that issuer in its chain.
    type: str
  include_subdomains:
    description: Add C(includeSubDomains) to the header in RV(hpkp).
    type: bool
    default: false
  report_uri:
    description: The C(report-uri) of the header in RV(hpkp).
    type: str
  report_only:
    description: Name the header C(Public-Key-Pins-Report-Only) (default) rather than C(Public-Key-Pins).
    type: bool
    default: true
  pins:
    description:
      - With O(state=published), the pins to mark as published. Default is the active and the backup pin.
    type: list
    elements: str
  published_at:
    description:
      - With O(state=published), when the pins were first published (ISO 8601 with a zone, or a date). Default is
        now. An earlier time replaces a recorded later one; a future time is refused.
    type: str
  active_key_path:
    description:
      - The operator's own private key (PEM file on the control node) to import as the active key. An imported
        key that the store already holds changes nothing; a different one is refused unless O(replace=true).
    type: path
  backup_key_path:
    description:
      - The operator's own backup private key to import. It also completes a backup that was imported as a CSR
        only, which a rotation needs.
    type: path
  active_csr_path:
    description:
      - The operator's CSR for the active key (the seed's C(--csr)). Its public key sets the active pin, and the
        certificate is ordered from it as given. The private key must be in the store (O(active_key_path)),
        because the role deploys it.
    type: path
  backup_csr_path:
    description:
      - The CSR of a backup key that the operator keeps offline. Only its pin is published, and the private key
        never reaches the control node until the rotation (O(backup_key_path)).
    type: path
  key_passphrase:
    description: Passphrase of an encrypted key given in O(active_key_path) or O(backup_key_path). It is stored decrypted (0600).
    type: str
  replace:
    description: Let an imported key or CSR replace a different one in the store (the old one is retired).
    type: bool
    default: false
  certificates:
    description:
      - Certificates (PEM, or file paths) to match against the store's keys, for example the ones the hosts
        serve. RV(certificates) says for each whether its key is the active, the backup, a retired key or none.
    type: list
    elements: str
  active_key_content:
    description: With O(key_source=content), the active private key (PEM). Never logged.
    type: str
  backup_key_content:
    description: With O(key_source=content), the backup private key (PEM). Never logged.
    type: str
  backup_published:
    description:
      - With O(key_source=content), when the backup's pin was first published (ISO 8601). Content mode keeps no
        state between runs, so the operator records this date beside the key.
    type: str
  active_key_variable:
    description:
      - With O(key_source=content), the name of the variable holding the active key, for the instructions.
      - Default is the certificate role's C(certificate_key_contents['<name>'].active).
    type: str
  backup_key_variable:
    description:
      - With O(key_source=content), the name of the variable holding the backup key, for the instructions.
      - Default is the certificate role's C(certificate_key_contents['<name>'].backup).
    type: str
  new_keys_dir:
    description:
      - With O(key_source=content), the directory where keys that this call makes are written
        (C(<name>.<role>.<pin prefix>.key), mode C(0600), directory C(0700)), for the operator to move into the
        vault or credential.
    type: path
  lock_timeout:
    description: Seconds to wait for another run's lock on this certificate's keys.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    description: Computes the result and writes nothing. Pins of keys that would be made are returned as null.
  diff_mode:
    support: full
    description: Shows the pins (and when each was published) before and after, never a key.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (C(delegate_to=localhost)); the managed hosts need nothing.
requirements:
  - cryptography on the control node
seealso:
  - module: certfleet.tls.hpkp_header
  - module: certfleet.tls.acme_revoke
  - name: RFC 7469, Public Key Pinning Extension for HTTP
    description: Backup pins (section 4.3) and max-age (section 2.1.2).
    link: https://www.rfc-editor.org/rfc/rfc7469
  - name: RFC 7671, DANE operational guidance
    description: Key rotation with TLSA 3 1 1 records for the current and the next key (section 8.1).
    link: https://www.rfc-editor.org/rfc/rfc7671
"""

EXAMPLES = r"""
- name: Active and backup keys for www.example.org (made when missing), their pins, header and TLSA records
  certfleet.tls.key_store:
    name: www.example.org
    store_path: /srv/certfleet/keys
    policy: pinned
  delegate_to: localhost
  run_once: true
  become: false
  register: www_keys

- name: The header and the TLSA records are live since today
  certfleet.tls.key_store:
    name: www.example.org
    store_path: /srv/certfleet/keys
    state: published
  delegate_to: localhost
  run_once: true
  become: false

- name: Keep the backup key offline, publish only its pin (the seed's --csr)
  certfleet.tls.key_store:
    name: www.example.org
    store_path: /srv/certfleet/keys
    backup_csr_path: /media/offline/www-backup.csr
  delegate_to: localhost
  run_once: true
  become: false

- name: The active key leaked - rotate now
  certfleet.tls.key_store:
    name: www.example.org
    store_path: /srv/certfleet/keys
    state: emergency_rotated
    reason: key copied off web1 in the 2026-12-01 incident
  delegate_to: localhost
  run_once: true
  become: false
  register: www_rotation

- name: AWX without a persistent volume - keys from the vault, new keys written for the operator
  certfleet.tls.key_store:
    name: www.example.org
    key_source: content
    active_key_content: "{{ certificate_key_contents['www.example.org'].active }}"
    backup_key_content: "{{ certificate_key_contents['www.example.org'].backup }}"
    backup_published: "{{ certificate_key_contents['www.example.org'].backup_published }}"
    new_keys_dir: /runner/artifacts/new-keys
    state: rotated
  delegate_to: localhost
  run_once: true
  become: false
"""

RETURN = r"""
name:
  description: The certificate's name.
  returned: always
  type: str
policy:
  description: The store's key policy for this certificate.
  returned: success
  type: str
key_type:
  description: Type of the active key.
  returned: success
  type: str
  sample: ec256
store:
  description: The certificate's directory in the store, or V(content) in content mode.
  returned: success
  type: str
pins:
  description: The active pin, then the backup pin.
  returned: success
  type: list
  elements: dict
  contains:
    sha256:
      description: The pin-sha256 value (base64 of the SHA-256 of the SubjectPublicKeyInfo); null in check mode for a key not made yet.
      type: str
    role:
      description: V(active) or V(backup).
      type: str
    published:
      description: When this pin was first published (ISO 8601, UTC), null when it never was.
      type: str
    private_key_held:
      description: Whether the store holds the private key (false for a backup known by its CSR only).
      type: bool
active_pin:
  description: The active pin.
  returned: success
  type: str
backup_pin:
  description: The backup pin (null under policy reuse).
  returned: success
  type: str
hpkp:
  description:
    - The RFC 7469 header for these pins, as M(certfleet.tls.hpkp_header) builds it. Null when there is no
      backup pin (policy reuse); browsers ignore HPKP today (see the warning).
  returned: success
  type: dict
  contains:
    header_name:
      description: C(Public-Key-Pins-Report-Only) or C(Public-Key-Pins).
      type: str
    header_value:
      description: C(pin-sha256="..."; pin-sha256="..."; max-age=N...).
      type: str
    curl_pinnedpubkey:
      description: The same pins for C(curl --pinnedpubkey).
      type: str
tlsa:
  description: DANE TLSA records, C(3 1 1) for the active and the backup key per name and port (and C(2 1 1) for O(issuer_certificate)).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Owner name, C(_443._tcp.www.example.org.).
      type: str
    usage:
      description: 3 (DANE-EE) or 2 (DANE-TA).
      type: int
    selector:
      description: 1 (SubjectPublicKeyInfo).
      type: int
    matching_type:
      description: 1 (SHA-256).
      type: int
    data:
      description: The SHA-256 in hex.
      type: str
    role:
      description: V(active), V(backup) or V(issuer).
      type: str
tlsa_zone_lines:
  description: The same records as zone file lines, with O(tlsa_ttl).
  returned: success
  type: list
  elements: str
  sample: ['_443._tcp.www.example.org. 3600 IN TLSA 3 1 1 6f6e4f15e0f51d3dbe2a63cb2f9659da072e1c4b0ba83924b61851b4c2b42d6f']
rotation:
  description: Whether a planned rotation is safe now (after this call).
  returned: success
  type: dict
  contains:
    safe:
      description: Whether a planned rotation would be done now.
      type: bool
    safe_at:
      description: From when it is safe (ISO 8601), null when no date can be given yet (backup never published).
      type: str
    code:
      description: V(safe), V(no_wait), V(no_pins), V(wait), V(backup_unpublished), V(backup_without_key) or V(no_keys).
      type: str
    reason:
      description: The same in words.
      type: str
rotated:
  description: What the rotation did.
  returned: O(state=rotated) or O(state=emergency_rotated)
  type: dict
  contains:
    old_active_pin:
      description: Pin of the retired key.
      type: str
    new_active_pin:
      description: Pin of the new active key (the old backup under policy pinned).
      type: str
    new_backup_pin:
      description: Pin of the new backup key (null under policy reuse, and in check mode).
      type: str
    emergency:
      description: Whether the pin-safety wait was skipped on purpose.
      type: bool
    reason:
      description: O(reason).
      type: str
    wait_skipped:
      description: Why an emergency rotation did not wait, and what that costs; null when the wait was over anyway.
      type: str
    retired_key_path:
      description:
        - The retired key's file in the store, to sign the revocation of its certificates (M(certfleet.tls.acme_revoke)
          O(certfleet.tls.acme_revoke#module:private_key_path)). Null in content mode, where the old active
          key is still the variable's content.
      type: str
certificates:
  description: One entry per O(certificates) item, in order.
  returned: O(certificates) is set
  type: list
  elements: dict
  contains:
    index:
      description: Position in O(certificates).
      type: int
    serial:
      description: Serial number (hex), null for key material that is not a certificate.
      type: str
    pin:
      description: Pin of the certificate's key.
      type: str
    role:
      description: V(active), V(backup), V(retired) or V(none).
      type: str
    retired_key_path:
      description: For V(retired), the retired key's file in the store (to revoke by key).
      type: str
update_variables:
  description:
    - Content mode. For each key this call made or moved, the variable it must be stored in, and the key's pin
      (never the key). A moved key is in RV(update_variables[].from_variable) already; a new key is in
      O(new_keys_dir) (RV(update_variables[].file)) or in RV(new_keys).
  returned: O(key_source=content)
  type: list
  elements: dict
  contains:
    variable:
      description: The variable to update (O(active_key_variable) or O(backup_key_variable)).
      type: str
    role:
      description: V(active) or V(backup).
      type: str
    pin:
      description: The pin of the key that now belongs in the variable.
      type: str
    from_variable:
      description:
        - The variable that already holds this key, null for a key made by this call. A rotation moves the backup
          key to the active variable, so copy that variable's content.
      type: str
    file:
      description:
        - Where a key made by this call was written (O(new_keys_dir)), null when it is returned in RV(new_keys)
          or when RV(update_variables[].from_variable) holds it.
      type: str
new_keys:
  description:
    - Content mode, task with C(no_log=true) and no O(new_keys_dir). Maps the variable of each key made by this
      call to the key (PEM). Never returned otherwise.
  returned: see description
  type: dict
changes:
  description: Codes of what this call changed (created_active, created_backup, imported_backup_csr, published, rotated, ...).
  returned: success
  type: list
  elements: str
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils import keystore
    from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys as tls_keys
    from ansible_collections.certfleet.tls.plugins.module_utils._tls import pins as tls_pins
    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def read_file(path, option):
    try:
        with open(path, "rb") as handle:  # path options: Ansible expanded ~ already
            return handle.read()
    except (IOError, OSError) as error:
        raise _glue.InputError("%s %s cannot be read: %s" % (option, path, error.strerror))


def import_material(store, params, dry_run):
    """Import the operator's keys and CSRs named by the *_path options; the changes they made."""
    changes = []
    common = dict(policy=params["policy"], replace=params["replace"], dry_run=dry_run)
    for option, role in (("active_key_path", "active"), ("backup_key_path", "backup")):
        if params[option]:
            pem = read_file(params[option], option)
            changes += store.import_key(params["name"], pem, role=role, passphrase=params["key_passphrase"],
                                        **common).changes
    for option, role in (("active_csr_path", "active"), ("backup_csr_path", "backup")):
        if params[option]:
            pem = read_file(params[option], option)
            changes += store.import_csr(params["name"], pem, role=role, **common).changes
    return changes


def tlsa_names(params, warn):
    if params["domains"]:
        return params["domains"]
    names = [part.strip() for part in params["name"].split(",") if part.strip()]
    try:
        for name in names:
            tls_keys.normalize_domain(name, challenge_type="dns-01")
    except _glue.InputError:
        warn("name %r is not a list of DNS names: give domains to get TLSA records" % params["name"])
        return []
    return names


def describe_pins(keyset, unknown_roles):
    if keyset is None:
        return []
    pins = []
    for role, pin, held in (("active", keyset.active_pin, keyset.active_pem is not None or "active" in unknown_roles),
                            ("backup", keyset.backup_pin, keyset.backup_has_key)):
        if pin:
            known = role not in unknown_roles
            pins.append({"sha256": pin if known else None, "role": role,
                         "published": keyset.published.get(pin) if known else None, "private_key_held": bool(held)})
    return pins


def diff_text(pins):
    if not pins:
        return "(no keys)\n"
    return "".join("%s: %s (published: %s)\n" % (entry["role"], entry["sha256"] or "(a new key)",
                                                 entry["published"] or "never") for entry in pins)


def classify(store, name, items, content_mode):
    """Which stored key each given certificate carries (files read here, errors name certificates[N])."""
    inputs = []
    for index, item in enumerate(items):
        what = "certificates[%d]" % index
        if tls_pins.input_kind(item) == "path":
            inputs.append(("%s (file %s)" % (what, item), read_file(item, what)))
        else:
            inputs.append((what, item))
    matches = store.match_certificates(name, inputs)
    if content_mode:
        for match in matches:
            match["retired_key_path"] = None
    return matches


def content_output(module, store, params, result):
    """Content mode: which variable gets which key, and new keys only where nobody can see them."""
    role_variable = "certificate_key_contents['%s'].%%s" % params["name"]  # the certificate role's content mode
    variables = {"active": params["active_key_variable"] or role_variable % "active",
                 "backup": params["backup_key_variable"] or role_variable % "backup"}
    result["update_variables"] = []
    if module.check_mode:
        # Nothing was made: name the variables this call would change, without pins of keys that do not exist.
        rotated = result.get("rotated")
        for role in ("active", "backup"):
            if rotated and role == "active":
                moved = rotated["new_active_pin"] if result["policy"] == "pinned" else None
                result["update_variables"].append({"variable": variables[role], "role": role, "pin": moved,
                                                   "from_variable": variables["backup"] if moved else None,
                                                   "file": None})
            elif (rotated and result["policy"] == "pinned") or "created_%s" % role in result["changes"]:
                result["update_variables"].append({"variable": variables[role], "role": role, "pin": None,
                                                   "from_variable": None, "file": None})
        return
    updates = store.content_updates(params["name"])
    made = [update for update in updates if update["key_pem"] is not None]
    if made and not params["new_keys_dir"] and not module.no_log:
        raise _glue.InputError(
            "content mode made new keys (%s) that only you can store: give new_keys_dir (a directory on the control "
            "node, the keys are written there with mode 0600), or set no_log: true on this task to receive them in "
            "new_keys; nothing was kept" % ", ".join("%s pin %s" % (u["role"], u["pin"]) for u in made))
    new_keys = {}
    for update in updates:
        variable = variables[update["role"]]
        entry = {"variable": variable, "role": update["role"], "pin": update["pin"],
                 "from_variable": variables[update["from_role"]] if update["from_role"] else None, "file": None}
        if entry["from_variable"]:
            where = "the key now in %s" % entry["from_variable"]
        elif params["new_keys_dir"]:
            directory = params["new_keys_dir"]  # type path: ~ already expanded
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
            file_name = "%s.%s.%s.key" % (keystore.safe_dirname(params["name"]), update["role"],
                                          keystore.key_id(update["pin"])[:16])
            entry["file"] = os.path.join(directory, file_name)
            keystore.atomic_write(entry["file"], update["key_pem"].encode("ascii"))
            where = "a new key, written to %s" % entry["file"]
        else:
            new_keys[variable] = update["key_pem"]
            where = "a new key, returned in new_keys of this no_log task"
        result["update_variables"].append(entry)
        module.warn("content mode: store in %s the %s key with pin %s (%s)%s" % (
            variable, update["role"], update["pin"], where,
            "; then set %s when its pin is live" % (role_variable % "backup_published") if update["role"] == "backup"
            else ""))
    if new_keys:
        result["new_keys"] = new_keys


def manage_keys(call):
    """The module's work (see _glue.run_module)."""
    module, params, dry_run = call.module, call.params, call.check_mode
    name, state = params["name"], params["state"]
    content_mode = params["key_source"] == "content"
    if content_mode:
        store = keystore.KeyStore.from_content(name, params["active_key_content"], params["backup_key_content"],
                                               params["backup_published"], policy=params["policy"])
    else:
        if params["active_key_content"] or params["backup_key_content"]:
            raise _glue.InputError("active_key_content and backup_key_content are for key_source=content; with a "
                                   "store, import keys with active_key_path or backup_key_path")
        store = keystore.KeyStore(params["store_path"], lock_timeout=params["lock_timeout"])
    try:
        return _manage(module, store, params, name, state, dry_run, content_mode)
    finally:
        store.close()


def _manage(module, store, params, name, state, dry_run, content_mode):
    before = store.describe(name)
    result = {"name": name, "changed": False}
    changes = []
    unknown_roles = set()  # roles whose key a dry run would make: no pin to show
    if not content_mode:
        changes += import_material(store, params, dry_run)
    rotation = None
    if state == "published":
        marked = store.mark_published(name, params["pins"] or None, dry_run=dry_run,
                                      at=keystore.parse_time(params["published_at"], "published_at")
                                      if params["published_at"] else None)
        keyset = store.describe(name)
        if marked:
            changes.append("published")
            keyset = keyset._replace(published=dict(keyset.published, **{m["pin"]: m["published"] for m in marked}))
    elif state in ("rotated", "emergency_rotated"):
        emergency = state == "emergency_rotated"
        rotation = store.rotate(name, emergency=emergency, reason=params["reason"], max_age=params["max_age"],
                                tlsa_ttl=params["tlsa_ttl"], key_type=params["key_type"], dry_run=dry_run)
        keyset = rotation.keyset
        changes += keyset.changes
        if dry_run:
            unknown_roles.add("backup" if rotation.new_backup_pin else "active")
    else:
        keyset = store.ensure(name, key_type=params["key_type"] or "ec256", policy=params["policy"],
                              explicit_key_type=params["key_type"] is not None, dry_run=dry_run)
        changes += keyset.changes
        if dry_run:
            unknown_roles.update(code.split("_", 1)[1] for code in keyset.changes
                                 if code in ("created_active", "created_backup"))
    for warning in keyset.warnings:
        module.warn(warning)

    pins = describe_pins(keyset, unknown_roles)
    result.update(policy=keyset.policy, key_type=keyset.key_type, pins=pins, changes=sorted(set(changes)),
                  store="content" if content_mode else (keyset.path or store.certificate_path(name)),
                  active_pin=None if "active" in unknown_roles else keyset.active_pin,
                  backup_pin=None if "backup" in unknown_roles else keyset.backup_pin)
    result["changed"] = bool(result["changes"])
    result.update(publishable(module, store, params, name, keyset, unknown_roles))
    check = store.rotation_check(name, max_age=params["max_age"], tlsa_ttl=params["tlsa_ttl"])
    result["rotation"] = {"safe": check.safe, "safe_at": keystore.format_time(check.safe_at) if check.safe_at else None,
                          "code": check.code, "reason": check.reason}
    if rotation is not None:
        result["rotated"] = {
            "old_active_pin": rotation.old_active_pin, "new_active_pin": rotation.new_active_pin,
            "new_backup_pin": None if dry_run else rotation.new_backup_pin, "emergency": rotation.emergency,
            "reason": rotation.reason, "wait_skipped": rotation.wait_skipped,
            "retired_key_path": None if content_mode or dry_run else rotation.retired_key_path}
        if rotation.wait_skipped:
            module.warn(rotation.wait_skipped)
    if params["certificates"]:
        result["certificates"] = classify(store, name, params["certificates"], content_mode)
    if content_mode:
        content_output(module, store, params, result)
    if module._diff:
        result["diff"] = {"before": diff_text(describe_pins(before, set())), "after": diff_text(pins)}
    return result


def publishable(module, store, params, name, keyset, unknown_roles):
    """The header and TLSA data of the current pins (nothing for a key a dry run would make)."""
    out = {"hpkp": None, "tlsa": [], "tlsa_zone_lines": []}
    if unknown_roles or not keyset.active_pin:
        return out
    names = tlsa_names(params, module.warn)
    if names:
        issuer = None
        if params["issuer_certificate"]:
            issuer = params["issuer_certificate"]
            if tls_pins.input_kind(issuer) == "path":
                issuer = read_file(issuer, "issuer_certificate")
        records = tls_pins.tlsa_records(store.public_keys(name), names, ports=params["tlsa_ports"], issuer_cert=issuer)
        out.update(tlsa=records, tlsa_zone_lines=tls_pins.tlsa_zone_lines(records, ttl=params["tlsa_ttl"]))
    pins = [keyset.active_pin] + ([keyset.backup_pin] if keyset.backup_pin else [])
    if keyset.backup_pin:
        header_name, header_value = tls_pins.hpkp_header([keyset.active_pin], [keyset.backup_pin],
                                                         max_age=params["max_age"],
                                                         include_subdomains=params["include_subdomains"],
                                                         report_uri=params["report_uri"],
                                                         report_only=params["report_only"])
        out["hpkp"] = {"header_name": header_name, "header_value": header_value,
                       "curl_pinnedpubkey": tls_pins.curl_pinnedpubkey(pins)}
        module.warn(tls_pins.BROWSER_REMOVAL_WARNING % (header_name, "'%s'" % tls_pins.curl_pinnedpubkey(pins)))
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            domains=dict(type="list", elements="str"),
            key_source=dict(type="str", default="store", choices=["store", "content"]),
            store_path=dict(type="path", default="~/.local/share/certfleet/keys"),
            policy=dict(type="str", default="pinned", choices=["pinned", "reuse"]),
            key_type=dict(type="str", choices=["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"]),
            state=dict(type="str", default="present", choices=["present", "published", "rotated",
                                                               "emergency_rotated"]),
            reason=dict(type="str"),
            max_age=dict(type="int", default=5184000),
            tlsa_ttl=dict(type="int", default=3600),
            tlsa_ports=dict(type="list", elements="int", default=[443]),
            issuer_certificate=dict(type="str"),
            include_subdomains=dict(type="bool", default=False),
            report_uri=dict(type="str"),
            report_only=dict(type="bool", default=True),
            pins=dict(type="list", elements="str"),
            published_at=dict(type="str"),
            active_key_path=dict(type="path"),
            backup_key_path=dict(type="path"),
            active_csr_path=dict(type="path"),
            backup_csr_path=dict(type="path"),
            key_passphrase=dict(type="str", no_log=True),
            replace=dict(type="bool", default=False),
            certificates=dict(type="list", elements="str"),
            active_key_content=dict(type="str", no_log=True),
            backup_key_content=dict(type="str", no_log=True),
            backup_published=dict(type="str"),
            active_key_variable=dict(type="str", no_log=False),
            backup_key_variable=dict(type="str", no_log=False),
            new_keys_dir=dict(type="path"),
            lock_timeout=dict(type="float", default=60),
        ),
        required_if=[("state", "emergency_rotated", ("reason",))],
        supports_check_mode=True,
    )
    _glue.run_module(module, manage_keys, acme_requests=False, requires_acme=False, import_error=IMPORT_ERROR)


if __name__ == "__main__":
    main()
