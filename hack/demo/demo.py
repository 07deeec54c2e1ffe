#!/usr/bin/env python3
"""Small JSON helpers for hack/demo.sh (standard library only, any python3).

    demo.py get PATH [DEFAULT]       stdin JSON -> the value at a dotted PATH (`a.0.b`,
                                     `a.length`); strings raw, anything else as compact
                                     JSON; DEFAULT (or exit 1) when there is none
    demo.py deployment-env NS        stdin Deployment JSON -> its first container's env,
                                     NUL-separated NAME=VALUE, downward API filled in
    demo.py pod-env CONTAINER        stdin Pod JSON -> that (init) container's env, likewise
    demo.py pod-summary              stdin Pod JSON -> what the webhook injected, in a few
                                     lines; exit 1 unless the sidecar is there
    demo.py audit-table              stdin audit lines -> one short row per decision
    demo.py audit-has KEY=VALUE...   stdin audit lines -> exit 0 if one line has every
                                     KEY=VALUE (VALUE `-`: the key is absent)
    demo.py metrics PREFIX           stdin Prometheus text -> the samples starting with
                                     PREFIX whose value is not 0, one per line
    demo.py cargo-exe NAME           stdin `cargo build --message-format=json` -> the
                                     path of executable NAME
    demo.py report OUT OUTCOMES METRICS AUDIT EXPLAIN TRANSCRIPT
                                     writes the JSON report (AGENTNET_DEMO_REPORT)
"""

import json
import os
import sys


def get(path, default=None):
    value = json.load(sys.stdin)
    for part in path.split(".") if path else []:
        if part == "length" and isinstance(value, (list, dict, str)):
            value = len(value)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            value = None
            break
    if value is None:
        if default is None:
            sys.exit(1)
        value = default
    print(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))


def env_of(container, fields):
    out = []
    for var in container.get("env", []):
        if "value" in var:
            value = var["value"]
        else:
            path = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if path not in fields:
                sys.exit(f"unsupported env entry {json.dumps(var)}")
            value = fields[path]
        out.append(f"{var['name']}={value}")
    sys.stdout.write("".join(f"{e}\0" for e in out))


def deployment_env(namespace):
    deployment = json.load(sys.stdin)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env_of(container, {"metadata.namespace": namespace, "metadata.name": "agentnet-webhook-demo"})


def pod_fields(pod):
    meta, spec = pod["metadata"], pod["spec"]
    return {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta.get("uid", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "spec.nodeName": spec.get("nodeName", ""),
    }


def pod_env(name):
    pod = json.load(sys.stdin)
    containers = pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
    container = next((c for c in containers if c["name"] == name), None)
    if container is None:
        sys.exit(f"pod has no container {name}")
    env_of(container, pod_fields(pod))


def pod_summary():
    pod = json.load(sys.stdin)
    meta, spec = pod["metadata"], pod["spec"]
    inits = spec.get("initContainers", [])
    sidecar = inits[0] if inits else {}
    if sidecar.get("name") != "agentnet-sidecar":
        print("no agentnet-sidecar in initContainers[0]")
        sys.exit(1)
    env = {e["name"]: e.get("value") or "<- " + e["valueFrom"]["fieldRef"]["fieldPath"] for e in sidecar.get("env", [])}
    probe = sidecar.get("startupProbe", {}).get("httpGet", {})
    sec = sidecar.get("securityContext", {})
    limits = sidecar.get("resources", {}).get("limits", {})
    rows = [
        ("initContainers[0]", f"{sidecar['name']}  image {sidecar.get('image')}  restartPolicy: {sidecar.get('restartPolicy')} (native sidecar)"),
        ("probe, security", f"startupProbe GET {probe.get('path')} :{probe.get('port')}  runAsUser {sec.get('runAsUser')}  "
                            f"readOnlyRootFilesystem {str(sec.get('readOnlyRootFilesystem')).lower()}  memory limit {limits.get('memory', '-')}"),
        ("identity env", f"AGENTNET_SERVICE_ACCOUNT {env.get('AGENTNET_SERVICE_ACCOUNT')}  AGENTNET_IDENTITY_URL={env.get('AGENTNET_IDENTITY_URL')}"),
    ]
    volumes = []
    for v in spec.get("volumes", []):
        if not v["name"].startswith("agentnet-"):
            continue
        if "projected" in v:
            token = next((s["serviceAccountToken"] for s in v["projected"]["sources"] if "serviceAccountToken" in s), {})
            volumes.append(f"{v['name']} (projected token, audience {token.get('audience')}, {token.get('expirationSeconds')}s)")
        elif "configMap" in v:
            volumes.append(f"{v['name']} (ConfigMap {v['configMap']['name']}, optional)")
        else:
            volumes.append(v["name"])
    rows.append(("volumes", "  ".join(volumes)))
    for c in spec["containers"]:
        cenv = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        no_proxy = cenv.get("NO_PROXY", "")
        if len(no_proxy) > 48:
            no_proxy = no_proxy[:45] + "..."
        rows.append((f"container {c['name']}", f"HTTP_PROXY={cenv.get('HTTP_PROXY')}  NO_PROXY={no_proxy}"))
    annotations = meta.get("annotations", {})
    rows.append(("annotations", "  ".join(f"{k}={v}" for k, v in sorted(annotations.items()) if k.startswith("agentnet.dev/"))))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def audit_table():
    rows = []
    for line in sys.stdin:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("decision") is None:
            continue
        by = record.get("policy", "-")
        if record.get("rule"):
            by += f" / {record['rule']}"
        rows.append((record["decision"], record.get("backend") or record.get("destination", "-"),
                     record.get("method", "-"), record.get("target", "-"), by))
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(f"{str(r[i]):<{widths[i]}}" for i in range(4)) + "  " + r[4])


def audit_has(*pairs):
    wanted = [p.split("=", 1) for p in pairs]
    for line in sys.stdin:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if all(record.get(k) == (None if v == "-" else v) for k, v in wanted):
            sys.exit(0)
    sys.exit(1)


def metrics(prefix):
    samples = []
    for line in sys.stdin:
        if line.startswith(prefix):
            series, _, value = line.rstrip("\n").rpartition(" ")
            if float(value) != 0:
                samples.append(f"{series} {value}")
    print("\n".join(sorted(samples)))


def cargo_exe(name):
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") == "compiler-artifact" and message.get("target", {}).get("name") == name:
            if message.get("executable"):
                print(message["executable"])
                return
    sys.exit(f"cargo reported no executable {name}")


def report(out, outcomes, metrics_file, audit, explain, transcript):
    def read(path):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""

    results = []
    for line in read(outcomes).splitlines():
        oid, ok, detail = line.split("\t", 2)
        results.append({"id": oid, "ok": ok == "ok", "detail": detail})
    audit_lines = []
    for line in read(audit).splitlines():
        try:
            audit_lines.append(json.loads(line))
        except ValueError:
            pass
    document = {
        "ok": bool(results) and all(r["ok"] for r in results),
        "outcomes": results,
        "metrics": read(metrics_file),
        "audit": audit_lines,
        "explain": read(explain),
        "transcript": read(transcript),
    }
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
    os.replace(out + ".tmp", out)


def main():
    args = sys.argv[1:]
    commands = {
        "get": get,
        "deployment-env": deployment_env,
        "pod-env": pod_env,
        "pod-summary": pod_summary,
        "audit-table": audit_table,
        "audit-has": audit_has,
        "metrics": metrics,
        "cargo-exe": cargo_exe,
        "report": report,
    }
    if not args or args[0] not in commands:
        sys.exit(__doc__)
    commands[args[0]](*args[1:])


if __name__ == "__main__":
    main()
