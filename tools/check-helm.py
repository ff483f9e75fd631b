#!/usr/bin/env python3
"""Renders helm/teredo-fleet and validates the output (ctest deploy.helm_chart).

  check-helm.py --renderer BIN --build-dir DIR [--root SRC] [--promtool BIN] [--bird BIN]

There is no helm binary or cluster here: BIN is tools/helm-render (Go text/template + sprig, Helm's
own engine). For the chart's defaults and for every helm/teredo-fleet/ci/*-values.yaml:
  - the values validate against values.schema.json, and every ci/bad-*.yaml is refused by it;
  - every rendered object of a built-in kind deserializes into its python3-kubernetes model with
    no unknown field at any depth and every required field present; the cert-manager and
    Prometheus Operator objects have their required fields;
  - every generated daemon config passes the daemon's own `--check-config`, and the
    PrometheusRule passes `promtool check rules`;
  - agents are on the host network with ALL capabilities dropped but NET_RAW (server) or
    NET_ADMIN + NET_RAW (relay); pods carry a checksum of their config;
  - with relayAnycast.enabled, every relay pod has the BIRD sidecar `bgp` (the values' image and
    pull policy, uid 0, ALL dropped but NET_BIND_SERVICE, plus NET_ADMIN with bfd, read-only root)
    and a termination grace beyond withdrawGrace; its bird.conf parses (`bird -p`), has
    deploy/bgp/bird.conf's import and export filters word for word, imports nothing from BGP,
    never writes the kernel table, and names the relay config's relay.announce table, protocol
    and prefixes (the relay's /32 when it lists none); without it there is no sidecar;
  - every container runs the image the values name (repository:tag, the tag defaulting to the
    chart's appVersion, or repository@digest) with their pull policy and a read-only root file
    system, every pod carries the values' imagePullSecrets, and the controller runs as the
    image's numeric user (TEREDO_UID/TEREDO_GID of deploy/container/Containerfile);
  - the chart's appVersion is the project version (CMakeLists.txt), the tag
    tools/build-images.sh gives the image.
Prints every problem; exit status 1 if there is any.
"""
import argparse
import ipaddress
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes.client
import yaml

BUILTIN = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}
# Custom resources: the fields their controllers require (no schema package for them here).
CUSTOM = {
    ("cert-manager.io/v1", "Certificate"): ["spec.secretName", "spec.issuerRef.name"],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["spec.selector", "spec.endpoints"],
    ("monitoring.coreos.com/v1", "PodMonitor"): ["spec.selector", "spec.podMetricsEndpoints"],
    ("monitoring.coreos.com/v1", "PrometheusRule"): ["spec.groups"],
}
AGENT_CAPS = {"server": ["NET_RAW"], "relay": ["NET_ADMIN", "NET_RAW"]}


def model_class(name):
    return getattr(kubernetes.client, name)


def strict(data, type_name, where, problems):
    """Checks `data` (parsed YAML) against python3-kubernetes' model `type_name`, recursively."""
    if data is None:
        return
    if type_name.startswith("list["):
        if not isinstance(data, list):
            problems.append(f"{where}: expected a list")
            return
        for i, item in enumerate(data):
            strict(item, type_name[5:-1], f"{where}[{i}]", problems)
        return
    if type_name.startswith("dict("):
        if not isinstance(data, dict):
            problems.append(f"{where}: expected a mapping")
            return
        inner = type_name[type_name.index(",") + 1:-1].strip()
        for k, v in data.items():
            strict(v, inner, f"{where}.{k}", problems)
        return
    if type_name in ("str", "int", "bool", "float", "object", "datetime", "date"):
        expected = {"str": str, "int": int, "bool": bool, "float": (int, float)}.get(type_name)
        if expected is not None and not isinstance(data, expected):
            problems.append(f"{where}: expected {type_name}, got {type(data).__name__}")
        return
    cls = model_class(type_name)
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a {type_name} mapping")
        return
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for key, value in data.items():
        if key not in by_json:
            problems.append(f"{where}: unknown field {key!r} for {type_name}")
            continue
        attr = by_json[key]
        strict(value, cls.openapi_types[attr], f"{where}.{key}", problems)
    # Required fields: the generated constructors refuse None for them.
    try:
        kubernetes.client.ApiClient()._ApiClient__deserialize(data, type_name)
    except ValueError as e:
        problems.append(f"{where}: {e}")


def field(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def render(renderer, chart, values, notes):
    cmd = [str(renderer), "-chart", str(chart), "-release", "fleet", "-namespace", "teredo",
           "-notes", str(notes)]
    if values is not None:
        cmd += ["-f", str(values)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return None, res.stderr.strip()
    return [d for d in yaml.safe_load_all(res.stdout) if d is not None], None


def check_notes(text, values, docs, label, problems):
    """NOTES.txt names the objects the operator needs: the admin token's Secret, the controller's
    Service, and says what the hosts need."""
    if not text.strip():
        problems.append(f"{label}: NOTES.txt rendered empty or missing")
        return
    names = {(d.get("kind"), d["metadata"]["name"]) for d in docs}
    secret = ((values.get("controller") or {}).get("adminTokenSecret") or
              next((n for k, n in names if k == "Secret" and n.endswith("-admin-token")), None))
    service = next((n for k, n in names if k == "Service" and n.endswith("-controller")), None)
    for what, needle in (("the admin token Secret", secret), ("the controller Service", service),
                         ("teredoctl", "teredoctl"), ("IPv6 forwarding", "forwarding"),
                         ("the Pod Security level", "privileged")):
        if not needle or needle not in text:
            problems.append(f"{label}: NOTES.txt does not mention {what} ({needle})")
    if "<no value>" in text or "{{" in text:
        problems.append(f"{label}: NOTES.txt has unrendered parts")


def check_config(binary, role, text, where, problems, tmp):
    path = pathlib.Path(tmp) / f"{role}.yaml"
    path.write_text(text, encoding="utf-8")
    res = subprocess.run([str(binary), "--check-config", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        problems.append(f"{where}: teredo-{role} --check-config refused it:\n"
                        f"{res.stdout}{res.stderr}".rstrip())


def image_facts(root, problems):
    """The image's numeric user and group (Containerfile) and the project version (CMake)."""
    text = (root / "deploy" / "container" / "Containerfile").read_text(encoding="utf-8")
    ids = {}
    for key in ("TEREDO_UID", "TEREDO_GID"):
        m = re.search(rf"^ARG {key}=([0-9]+)$", text, re.M)
        if not m:
            problems.append(f"deploy/container/Containerfile: no 'ARG {key}=<number>'")
        ids[key] = int(m.group(1)) if m else None
    cmake = (root / "CMakeLists.txt").read_text(encoding="utf-8")
    m = re.search(r"^project\(teredo_fleet VERSION ([0-9][0-9.]*)", cmake, re.M)
    if not m:
        problems.append("CMakeLists.txt: no project VERSION")
    return {"uid": ids["TEREDO_UID"], "gid": ids["TEREDO_GID"], "version": m and m.group(1)}


def expected_image(values, app_version):
    image = values.get("image") or {}
    if image.get("digest"):
        return f"{image.get('repository')}@{image['digest']}"
    return f"{image.get('repository')}:{image.get('tag') or app_version}"


def bird_blocks(text):
    """The `import filter { ... };` and `export filter { ... };` blocks of a bird.conf, comments
    dropped and each line stripped, so indentation does not count."""
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    text = "\n".join(ln for ln in lines if ln)
    return re.findall(r"^((?:im|ex)port filter \{\n.*?\n\};)$", text, re.M | re.S)


def duration_seconds(text):
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h)", str(text))
    if not m:
        return None
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def check_bird(text, relay_yaml, where, args, problems, tmp):
    """A relay's generated bird.conf: parses, keeps the reference filters, matches the relay."""
    if args.bird:
        path = pathlib.Path(tmp) / "bird.conf"
        path.write_text(text, encoding="utf-8")
        env = dict(os.environ)
        lib = args.bird.parent.parent / "lib" / "x86_64-linux-gnu"
        env["LD_LIBRARY_PATH"] = f"{lib}:{env['LD_LIBRARY_PATH']}" if env.get(
            "LD_LIBRARY_PATH") else str(lib)
        res = subprocess.run([str(args.bird), "-p", "-c", str(path)], capture_output=True,
                             text=True, env=env)
        if res.returncode != 0:
            problems.append(f"{where}: bird -p refused it:\n{res.stdout}{res.stderr}".rstrip())
    got = bird_blocks(text)  # the import filter once, the export filter once per session
    if set(got) != set(args.reference_filters):
        problems.append(f"{where}: its filters are not deploy/bgp/bird.conf's:\n"
                        + "\n".join(got))
    sessions = len(re.findall(r"^protocol bgp ", text, re.M))
    if sessions == 0 or len(re.findall(r"^\s*import none;$", text, re.M)) != sessions:
        problems.append(f"{where}: every BGP session must import none ({sessions} sessions)")
    if len(re.findall(r"^\s*export none;$", text, re.M)) != 1:
        problems.append(f"{where}: the kernel protocol must export none (never write the table)")
    announce = ((yaml.safe_load(relay_yaml) or {}).get("relay") or {}).get("announce") or {}
    if announce.get("enabled") is not True:
        problems.append(f"{where}: the relay beside it does not have relay.announce.enabled")
    relay_prefix = str(((yaml.safe_load(relay_yaml) or {}).get("relay") or {})
                       .get("prefix", "2001::/32"))
    if "/" not in relay_prefix:
        relay_prefix += "/32"
    want_prefixes = {ipaddress.IPv6Network(p) for p in announce.get("prefixes") or [relay_prefix]}
    facts = {
        "table": (r"^\s*kernel table ([0-9]+);$", announce.get("table")),
        "protocol": (r"^define TEREDO_ROUTE_PROTOCOL = ([0-9]+);$", announce.get("protocol")),
    }
    for key, (pattern, want) in facts.items():
        found = [int(x) for x in re.findall(pattern, text, re.M)]
        if found != [want]:
            problems.append(f"{where}: {key} {found}, the relay's relay.announce.{key} is {want}")
    m = re.search(r"^define TEREDO_PREFIXES = \[ (.*) \];$", text, re.M)
    got_prefixes = {ipaddress.IPv6Network(p.strip()) for p in m.group(1).split(",")} if m else set()
    if got_prefixes != want_prefixes:
        problems.append(f"{where}: TEREDO_PREFIXES {sorted(map(str, got_prefixes))}, the relay "
                        f"announces {sorted(map(str, want_prefixes))}")


def check_render(docs, where, args, problems):
    daemons = {
        "server": args.build_dir / "services/server/teredo-server",
        "relay": args.build_dir / "services/relay/teredo-relay",
        "controller": args.build_dir / "services/controller/teredo-controller",
    }
    names = set()
    args.configmaps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for doc in docs:
            key = (doc.get("apiVersion"), doc.get("kind"))
            name = field(doc, "metadata.name")
            here = f"{where}: {key[1]}/{name}"
            if (key, name) in names:
                problems.append(f"{here}: rendered twice")
            names.add((key, name))
            if not name or len(name) > 63:
                problems.append(f"{here}: metadata.name missing or longer than 63 characters")
            if key in BUILTIN:
                strict(doc, BUILTIN[key], here, problems)
            elif key in CUSTOM:
                for f in CUSTOM[key]:
                    if field(doc, f) in (None, [], {}):
                        problems.append(f"{here}: {f} is required")
            else:
                problems.append(f"{here}: unexpected kind {key}")
                continue
            if key == ("v1", "ConfigMap"):
                args.configmaps[name] = doc.get("data") or {}
                if "bird.conf" in (doc.get("data") or {}):
                    check_bird(doc["data"]["bird.conf"], doc["data"].get("relay.yaml", ""),
                               f"{here} bird.conf", args, problems, tmp)
                for fname, text in (doc.get("data") or {}).items():
                    role = fname[:-5] if fname.endswith(".yaml") else None
                    if role in daemons:
                        check_config(daemons[role], role, text, f"{here} {fname}", problems, tmp)
            if key == ("monitoring.coreos.com/v1", "PrometheusRule"):
                base = ((args.values.get("metrics") or {}).get("prometheusRule") or {}).get(
                    "runbookBaseUrl") or "docs/runbooks.md"
                for group in field(doc, "spec.groups") or []:
                    for rule in group.get("rules") or []:
                        if "alert" not in rule:
                            continue
                        url = (rule.get("annotations") or {}).get("runbook_url", "")
                        want = f"{base}#{rule['alert'].lower()}"
                        if url != want:
                            problems.append(f"{here}: alert {rule['alert']}: runbook_url "
                                            f"{url!r}, expected {want!r}")
            if key == ("monitoring.coreos.com/v1", "PrometheusRule") and args.promtool:
                rules = pathlib.Path(tmp) / "rules.yaml"
                rules.write_text(yaml.safe_dump({"groups": field(doc, "spec.groups")}))
                res = subprocess.run([str(args.promtool), "check", "rules", str(rules)],
                                     capture_output=True, text=True)
                if res.returncode != 0:
                    problems.append(f"{here}: promtool: {res.stdout}{res.stderr}".rstrip())
            if key == ("apps/v1", "Deployment"):
                check_pod(doc, here, args, problems)


def check_pod(doc, where, args, problems):
    tmpl = field(doc, "spec.template") or {}
    role = (field(tmpl, "metadata.labels") or {}).get("app.kubernetes.io/component")
    if not field(tmpl, "metadata.annotations.checksum/config"):
        problems.append(f"{where}: no checksum/config annotation (config changes would not roll)")
    want_secrets = args.values.get("imagePullSecrets") or None
    if field(tmpl, "spec.imagePullSecrets") != want_secrets:
        problems.append(f"{where}: imagePullSecrets {field(tmpl, 'spec.imagePullSecrets')}, "
                        f"expected {want_secrets}")
    if role == "controller":
        psc = field(tmpl, "spec.securityContext") or {}
        want = {"runAsNonRoot": True, "runAsUser": args.image["uid"],
                "runAsGroup": args.image["gid"], "fsGroup": args.image["gid"]}
        got = {k: psc.get(k) for k in want}
        if got != want:
            problems.append(f"{where}: pod securityContext {got}, expected the image's user {want}")
    anycast = args.values.get("relayAnycast") or {}
    bgp = anycast.get("bgp") or {}
    names = [c.get("name") for c in field(tmpl, "spec.containers") or []]
    if role == "relay" and anycast.get("enabled"):
        if "bgp" not in names:
            problems.append(f"{where}: relayAnycast.enabled but no bgp sidecar")
        volumes = {v.get("name"): v for v in field(tmpl, "spec.volumes") or []}
        data = args.configmaps.get(field(volumes.get("config"), "configMap.name")) or {}
        if "bird.conf" not in data:
            problems.append(f"{where}: the config volume has no bird.conf")
        grace = duration_seconds((anycast.get("announce") or {}).get("withdrawGrace"))
        tgps = field(tmpl, "spec.terminationGracePeriodSeconds")
        if grace is None or not isinstance(tgps, int) or tgps < grace + 10:
            problems.append(f"{where}: terminationGracePeriodSeconds {tgps} leaves no 10s beyond "
                            f"withdrawGrace")
    elif "bgp" in names:
        problems.append(f"{where}: a bgp sidecar without relayAnycast.enabled")
    for c in field(tmpl, "spec.containers") or []:
        if role == "relay" and c.get("name") == "bgp":
            check_bgp_sidecar(c, where, bgp, problems)
            continue
        if c.get("image") != args.expected_image:
            problems.append(f"{where}: container {c.get('name')} runs {c.get('image')}, "
                            f"expected {args.expected_image}")
        if c.get("imagePullPolicy") != (args.values.get("image") or {}).get("pullPolicy"):
            problems.append(f"{where}: container {c.get('name')} imagePullPolicy "
                            f"{c.get('imagePullPolicy')} is not the values' image.pullPolicy")
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: container {c.get('name')} has a writable root file system")
        caps = sc.get("capabilities") or {}
        if caps.get("drop") != ["ALL"]:
            problems.append(f"{where}: container {c.get('name')} does not drop ALL capabilities")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if role in AGENT_CAPS:
            if caps.get("add") != AGENT_CAPS[role]:
                problems.append(f"{where}: {role} adds {caps.get('add')}, "
                                f"expected exactly {AGENT_CAPS[role]}")
            if field(tmpl, "spec.hostNetwork") is not True:
                problems.append(f"{where}: {role} is not on the host network")
        elif caps.get("add"):
            problems.append(f"{where}: the controller adds capabilities {caps.get('add')}")


def check_bgp_sidecar(c, where, bgp, problems):
    """The BIRD sidecar: the values' image, uid 0 (Kubernetes gives no ambient capabilities),
    NET_BIND_SERVICE for port 179 and NET_ADMIN only for BFD's socket priority."""
    if c.get("image") != bgp.get("image") or c.get("imagePullPolicy") != bgp.get("pullPolicy"):
        problems.append(f"{where}: bgp runs {c.get('image')} ({c.get('imagePullPolicy')}), "
                        f"expected relayAnycast.bgp.image {bgp.get('image')} "
                        f"({bgp.get('pullPolicy')})")
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    want = ["NET_ADMIN", "NET_BIND_SERVICE"] if bgp.get("bfd") else ["NET_BIND_SERVICE"]
    if caps.get("drop") != ["ALL"] or caps.get("add") != want:
        problems.append(f"{where}: bgp drops {caps.get('drop')} and adds {caps.get('add')}, "
                        f"expected ALL and exactly {want}")
    if (sc.get("readOnlyRootFilesystem") is not True
            or sc.get("allowPrivilegeEscalation") is not False):
        problems.append(f"{where}: bgp needs a read-only root and no privilege escalation")
    if sc.get("runAsUser") != 0:
        problems.append(f"{where}: bgp must run as uid 0 (added capabilities are lost at exec "
                        f"otherwise)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renderer", required=True, type=pathlib.Path)
    ap.add_argument("--build-dir", required=True, type=pathlib.Path)
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent,
                    type=pathlib.Path)
    ap.add_argument("--promtool", type=pathlib.Path)
    ap.add_argument("--bird", type=pathlib.Path,
                    help="BIRD 2's bird, to parse the generated sidecar configs (bird -p)")
    args = ap.parse_args()
    chart = args.root / "helm" / "teredo-fleet"
    schema = json.loads((chart / "values.schema.json").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    args.image = image_facts(args.root, problems)
    reference = (args.root / "deploy" / "bgp" / "bird.conf").read_text(encoding="utf-8")
    args.reference_filters = bird_blocks(reference)
    if len(args.reference_filters) != 2:
        problems.append("deploy/bgp/bird.conf: expected one import filter and one export filter, "
                        f"found {len(args.reference_filters)}")
    if args.bird and not args.bird.exists():
        problems.append(f"{args.bird}: no such file (tools/setup.sh extracts BIRD 2 there)")
        args.bird = None
    app_version = str(yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
                      .get("appVersion"))
    if app_version != args.image["version"]:
        problems.append(f"Chart.yaml: appVersion {app_version} is not the project version "
                        f"{args.image['version']} (CMakeLists.txt) the image is tagged with")
    cases = [("defaults", None)] + [(p.name, p) for p in sorted((chart / "ci").glob("*-values.yaml"))]
    objects = 0
    for label, path in cases:
        values = defaults
        if path is not None:
            values = merge(defaults, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        for e in validator.iter_errors(values):
            problems.append(f"{label}: values.schema.json: {'.'.join(map(str, e.path))}: "
                            f"{e.message}")
        notes = pathlib.Path(tempfile.mkdtemp()) / "NOTES.txt"
        docs, err = render(args.renderer, chart, path, notes)
        if err:
            problems.append(f"{label}: render failed: {err}")
            continue
        check_notes(notes.read_text(encoding="utf-8") if notes.exists() else "", values, docs,
                    label, problems)
        args.values = values
        args.expected_image = expected_image(values, app_version)
        objects += len(docs)
        check_render(docs, label, args, problems)
    refused = 0
    for path in sorted((chart / "ci").glob("bad-*.yaml")):
        values = merge(defaults, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        if not list(validator.iter_errors(values)):
            problems.append(f"{path.name}: values.schema.json accepts it, but it must be refused")
        else:
            refused += 1
    for p in problems:
        print(p)
    if problems:
        print(f"check-helm: {len(problems)} problem(s)")
        return 1
    print(f"check-helm: {len(cases)} value sets, {objects} objects valid; "
          f"{refused} bad value sets refused by the schema")
    return 0


def merge(base, over):
    out = dict(base)
    for k, v in over.items():
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


if __name__ == "__main__":
    sys.exit(main())
