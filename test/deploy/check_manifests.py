#!/usr/bin/env python3
"""check_manifests.py — static checks of apps/deploy/ against coraft-kv itself.

  check_manifests.py SOURCE_DIR HELP_FILE CORAFT_KV

HELP_FILE: the output of `coraft-kv --help` (the flags; a flag's variable is
CORAFT_ + its name upper-cased, '-' as '_'). CORAFT_KV: the built binary,
whose `ldd` libraries the image's runtime stage must install. Prints one line
per finding ("FAIL: ...") and exits 1 if there is any; run by
test/deploy/deploy_test.sh.
"""
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print("FAIL: " + what)
    return ok


def help_flags(path):
    flags = set()
    for line in open(path, encoding="utf-8"):
        # boost::program_options: "  --id arg   ..." or "  -h [ --help ]   ..."
        m = re.match(r"^\s{1,8}(?:-\w \[ )?--([a-z0-9][a-z0-9-]*)", line)
        if m:
            flags.add(m.group(1))
    return flags


def env_name(flag):
    return "CORAFT_" + flag.upper().replace("-", "_")


def host_port(s):
    """'host:port' or '[v6]:port' -> (host, port)."""
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", s)
    if not m:
        return None
    return (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), int(m.group(4)))


def parse_cluster(s):
    """'1=R/H,2=R/H' -> [(id, raft host_port, http host_port)] or None."""
    out = []
    for part in s.split(","):
        m = re.fullmatch(r"(\d+)=([^/]+)/(.+)", part.strip())
        if not m:
            return None
        raft, http = host_port(m.group(2)), host_port(m.group(3))
        if not raft or not http:
            return None
        out.append((int(m.group(1)), raft, http))
    return out


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- Kubernetes -------------------------------------------------------------

def check_k8s(paths, flags, envs, image_uid):
    docs = [d for p in paths for d in yaml.safe_load_all(open(p, encoding="utf-8")) if d]
    path = ", ".join(os.path.relpath(p) for p in paths)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    stss = by_kind.get("StatefulSet", [])
    if not check(len(stss) == 1, f"{path}: exactly one StatefulSet (found {len(stss)})"):
        return
    sts = stss[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    check(selects(spec.get("selector", {}).get("matchLabels"), labels), "StatefulSet: its selector matches its pods")
    check(spec.get("podManagementPolicy") == "Parallel", "StatefulSet: podManagementPolicy Parallel")
    check(isinstance(pod.get("terminationGracePeriodSeconds"), int) and pod["terminationGracePeriodSeconds"] >= 10,
          "StatefulSet: terminationGracePeriodSeconds set (>= 10 s)")

    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    headless = services.get(spec.get("serviceName"))
    if check(headless is not None, f"StatefulSet: serviceName '{spec.get('serviceName')}' is a Service here"):
        hs = headless["spec"]
        check(hs.get("clusterIP") == "None", f"Service {spec['serviceName']}: headless (clusterIP: None)")
        check(hs.get("publishNotReadyAddresses") is True,
              f"Service {spec['serviceName']}: publishNotReadyAddresses: true (peers resolve before Ready)")
        check(selects(hs.get("selector"), labels), f"Service {spec['serviceName']}: selects the StatefulSet's pods")
    clients = [n for n, s in services.items() if s["spec"].get("clusterIP") != "None"]
    check(len(clients) >= 1, "a client Service (not headless)")
    for n in clients:
        check(selects(services[n]["spec"].get("selector"), labels), f"Service {n}: selects the StatefulSet's pods")
    # Service links would put <NAME>_SERVICE_HOST, <NAME>_PORT, ... into the
    # environment: for a Service named coraft*, inside coraft-kv's CORAFT_*.
    for n in services:
        if n.upper().replace("-", "_").startswith("CORAFT") and services[n]["spec"].get("clusterIP") != "None":
            check(pod.get("enableServiceLinks") is False,
                  f"pods: enableServiceLinks: false (Service {n} would inject CORAFT_*_SERVICE_HOST etc.)")

    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, "pods: securityContext.runAsNonRoot: true")
    check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] != 0, "pods: runAsUser set, not 0")
    if image_uid is not None:
        check(psc.get("runAsUser") == image_uid, f"pods: runAsUser {psc.get('runAsUser')} is the image's USER {image_uid}")
    check(psc.get("fsGroup") is not None, "pods: fsGroup set (the volume writable by the non-root user)")

    containers = pod.get("containers", [])
    if not check(len(containers) == 1, "pods: one container"):
        return
    c = containers[0]
    csc = c.get("securityContext", {})
    check(csc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation: false")

    # Every flag and CORAFT_* variable named exists in coraft-kv --help.
    for a in (c.get("command") or []) + (c.get("args") or []):
        if isinstance(a, str) and a.startswith("--"):
            f = a[2:].split("=", 1)[0]
            check(f in flags, f"container: flag --{f} is one of coraft-kv --help's")
    env = {}
    env_order = []
    for e in c.get("env", []):
        env[e["name"]] = e
        env_order.append(e["name"])
        if e["name"].startswith("CORAFT_"):
            check(e["name"] in envs, f"container: {e['name']} names a flag of coraft-kv --help")

    def value(name):
        """The variable's value with $(VAR) references resolved symbolically:
        each must name a variable defined earlier in the list."""
        e = env.get(name)
        if e is None or "value" not in e:
            return None
        v = str(e["value"])
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", v):
            check(ref in env_order[:env_order.index(name)], f"container: $({ref}) in {name} is defined before it")
        return v

    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    check("raft" in ports and "http" in ports, "container: ports named raft and http")
    raft_port, http_port = ports.get("raft"), ports.get("http")

    for name, want in (("CORAFT_LISTEN_RAFT", raft_port), ("CORAFT_LISTEN_HTTP", http_port)):
        v = value(name)
        if v is not None:
            hp = host_port(v)
            check(hp is not None and hp[1] == want, f"container: {name}={v} listens on the container port {want}")

    cluster = value("CORAFT_CLUSTER")
    replicas = spec.get("replicas", 1)
    if check(cluster is not None, "container: CORAFT_CLUSTER set"):
        members = parse_cluster(cluster)
        if check(members is not None, f"container: CORAFT_CLUSTER parses as ID=RAFT/HTTP,... ({cluster[:60]}...)"):
            check(len(members) == replicas, f"StatefulSet: replicas {replicas} = the {len(members)} members of CORAFT_CLUSTER")
            check(sorted(m[0] for m in members) == list(range(1, len(members) + 1)),
                  "CORAFT_CLUSTER: ids 1..N (pod coraft-K is node K+1, the entrypoint's rule)")
            ns = value("POD_NAMESPACE")
            ns_ref = env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            check(ns_ref == "metadata.namespace" or ns is not None,
                  "POD_NAMESPACE from the downward API (metadata.namespace)")
            name, svc = sts["metadata"]["name"], spec.get("serviceName")
            for mid, raft, http in members:
                want = re.compile(rf"{re.escape(name)}-{mid - 1}\.{re.escape(svc)}\."
                                  r"(\$\(POD_NAMESPACE\)|[a-z0-9-]+)\.svc\.cluster\.local")
                check(want.fullmatch(raft[0]) is not None and raft[0] == http[0],
                      f"CORAFT_CLUSTER: member {mid} is pod {name}-{mid - 1}'s DNS name under {svc} ({raft[0]})")
                check(raft[1] == raft_port, f"CORAFT_CLUSTER: member {mid}'s raft port {raft[1]} is the container's {raft_port}")
                check(http[1] == http_port, f"CORAFT_CLUSTER: member {mid}'s http port {http[1]} is the container's {http_port}")

    def probe_port(p):
        port = p.get("httpGet", {}).get("port")
        return ports.get(port) if isinstance(port, str) else port

    for probe, path_ in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/livez")):
        p = c.get(probe)
        if p is None and probe == "startupProbe":
            continue
        if check(p is not None and "httpGet" in p, f"container: {probe} is an httpGet"):
            check(p["httpGet"].get("path") == path_, f"container: {probe} on {path_} (is {p['httpGet'].get('path')})")
            check(probe_port(p) == http_port, f"container: {probe} on the http port {http_port}")

    if headless is not None:
        hports = {p.get("name"): p for p in headless["spec"].get("ports", [])}
        for n, want in (("raft", raft_port), ("http", http_port)):
            p = hports.get(n)
            if check(p is not None, f"Service {spec['serviceName']}: port {n}"):
                check(p.get("port") == want and p.get("targetPort") in (n, want),
                      f"Service {spec['serviceName']}: port {n} is {want}, to the container's {n}")
    for n in clients:
        for p in services[n]["spec"].get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            check((ports.get(tp) if isinstance(tp, str) else tp) == http_port,
                  f"Service {n}: port {p.get('port')} goes to the http port {http_port}")

    # The data directory is on the claim.
    vcts = [v["metadata"]["name"] for v in spec.get("volumeClaimTemplates", [])]
    check(len(vcts) >= 1, "StatefulSet: volumeClaimTemplates")
    data_dir = value("CORAFT_DATA_DIR") or "/var/lib/coraft/data"
    mounts = [m for m in c.get("volumeMounts", []) if m.get("name") in vcts]
    check(any(data_dir == m["mountPath"] or data_dir.startswith(m["mountPath"].rstrip("/") + "/") for m in mounts),
          f"container: the data directory {data_dir} is on a volumeClaimTemplate's mount")

    pdbs = by_kind.get("PodDisruptionBudget", [])
    if check(len(pdbs) == 1, "one PodDisruptionBudget"):
        ps = pdbs[0]["spec"]
        check(ps.get("maxUnavailable") == 1, "PodDisruptionBudget: maxUnavailable: 1")
        check(selects(ps.get("selector", {}).get("matchLabels"), labels), "PodDisruptionBudget: selects the pods")


# --- Dockerfile -------------------------------------------------------------

def dockerfile_stages(path):
    lines, cur = [], ""
    for raw in open(path, encoding="utf-8"):
        s = raw.rstrip("\n")
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if s.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append((cur + s).strip())
        cur = ""
    stages = []
    for ln in lines:
        word, _, rest = ln.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append({"from": rest.split()[0], "name": rest.split()[2] if " AS " in rest.upper() else None,
                           "instr": []})
        elif stages:
            stages[-1]["instr"].append((word, rest.strip()))
    return stages


def apt_packages(run):
    pkgs = set()
    for cmd in re.split(r"&&|;|\|\|", run):
        w = cmd.split()
        if "apt-get" in w and "install" in w:
            pkgs |= {x for x in w[w.index("install") + 1:] if not x.startswith("-")}
    return pkgs


def ldd_packages(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    pkgs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if not m:
            continue
        lib, path = m.group(1), m.group(2)
        pkg = None
        for p in (path, os.path.realpath(path), "/usr" + path if not path.startswith("/usr") else path):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                pkg = r.stdout.split(":")[0].strip()
                break
        pkgs[lib] = pkg
    return pkgs


def check_dockerfile(path, src, binary, entrypoint_default_bin):
    stages = dockerfile_stages(path)
    if not check(len(stages) >= 2, f"{path}: a multi-stage build (found {len(stages)} stages)"):
        return None
    for s in stages:
        check(s["from"].startswith("debian:12"), f"Dockerfile: FROM {s['from']} is Debian 12")
    build, run = stages[0], stages[-1]
    runs = " && ".join(r for w, r in build["instr"] if w == "RUN")
    check(".ci/setup" in runs, "Dockerfile build stage: installs the packages with .ci/setup")
    check("-DCMAKE_BUILD_TYPE=Release" in runs, "Dockerfile build stage: a Release build")
    check(re.search(r"--target\s+coraft-kv\b", runs) is not None, "Dockerfile build stage: builds the target coraft-kv")
    # The sources copied cover what the top-level CMakeLists.txt needs
    # outside the test and bench builds (both off in the image).
    copied = set()
    for w, r in build["instr"]:
        if w == "COPY" and "--from" not in r:
            copied |= {os.path.normpath(x) for x in r.split()[:-1] if not x.startswith("--")}
    needed, depth = {"CMakeLists.txt", "cmake"}, 0
    for line in open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8"):
        line = line.split("#", 1)[0]
        if re.match(r"\s*if\s*\(", line):
            depth += 1
        elif re.match(r"\s*endif\s*\(", line):
            depth -= 1
        m = re.match(r"\s*add_subdirectory\s*\(\s*([^\s)]+)", line)
        if m and depth == 0:
            needed.add(os.path.normpath(m.group(1)))
    for n in sorted(needed):
        check(n in copied or any(n.startswith(c + "/") for c in copied) or "." in copied,
              f"Dockerfile build stage: copies {n} (the top-level CMakeLists.txt needs it)")
    if "." in copied:
        check(False, "Dockerfile build stage: COPY . would copy the build directories too (no top-level .dockerignore)")
    for n in copied:
        check(os.path.exists(os.path.join(src, n)), f"Dockerfile: COPY source {n} exists")

    instr = run["instr"]
    users = [r for w, r in instr if w == "USER"]
    uid = None
    if check(len(users) >= 1, "Dockerfile runtime stage: a USER"):
        u = users[-1].split(":")[0]
        check(u not in ("root", "0"), f"Dockerfile: USER {users[-1]} is not root")
        check(u.isdigit(), f"Dockerfile: USER {users[-1]} is numeric (runAsNonRoot can check it)")
        uid = int(u) if u.isdigit() else None
    vols = " ".join(r for w, r in instr if w == "VOLUME")
    check("/var/lib/coraft" in vols, "Dockerfile: VOLUME /var/lib/coraft")
    exposed = set(" ".join(r for w, r in instr if w == "EXPOSE").split())
    check({"7001", "8001"} <= exposed, f"Dockerfile: EXPOSE 7001 8001 (is {sorted(exposed)})")
    hc = " ".join(r for w, r in instr if w == "HEALTHCHECK")
    check("/livez" in hc and ":8001/" in hc, "Dockerfile: HEALTHCHECK on /livez at port 8001")
    dests = {}
    for w, r in instr:
        if w == "COPY":
            parts = [x for x in r.split() if not x.startswith("--")]
            for s_ in parts[:-1]:
                dests[s_] = parts[-1]
    eps = [r for w, r in instr if w == "ENTRYPOINT"]
    if check(len(eps) == 1, "Dockerfile: one ENTRYPOINT"):
        try:
            ep = json.loads(eps[0])
        except ValueError:
            ep = None
        check(isinstance(ep, list), "Dockerfile: ENTRYPOINT in exec form (signals reach it)")
        if isinstance(ep, list):
            check(ep[0] == dests.get("apps/deploy/entrypoint.sh"),
                  f"Dockerfile: ENTRYPOINT {ep[0]} is apps/deploy/entrypoint.sh (copied to {dests.get('apps/deploy/entrypoint.sh')})")
    kv_dest = [d for s_, d in dests.items() if s_.endswith("/coraft-kv")]
    check(kv_dest == [entrypoint_default_bin],
          f"Dockerfile: coraft-kv copied to {kv_dest}, where the entrypoint looks ({entrypoint_default_bin})")
    # The runtime stage installs the package of every library ldd lists
    # (libc6 and libgcc-s1: in every Debian image, Priority: required).
    installed = set()
    for w, r in instr:
        if w == "RUN":
            installed |= apt_packages(r)
    base = {"libc6", "libgcc-s1"}
    for lib, pkg in sorted(ldd_packages(binary).items()):
        if check(pkg is not None, f"ldd: {lib} belongs to a Debian package (dpkg -S)"):
            check(pkg in installed | base, f"Dockerfile runtime stage: installs {pkg} (for {lib})")
    return uid


# --- systemd unit and its environment file --------------------------------

def check_unit(unit, env_example, envs):
    kv = {}
    for line in open(unit, encoding="utf-8"):
        if "=" in line and not line.startswith("#"):
            k, _, v = line.strip().partition("=")
            kv.setdefault(k, []).append(v)
    one = lambda k: (kv.get(k) or [None])[-1]
    check(one("Type") in ("simple", "exec"), "unit: Type=simple or exec (coraft-kv does not call sd_notify)")
    check(one("Restart") == "on-failure", "unit: Restart=on-failure")
    check(one("KillSignal") == "SIGTERM", "unit: KillSignal=SIGTERM")
    check(one("TimeoutStopSec") is not None, "unit: TimeoutStopSec")
    check(one("EnvironmentFile") in ("/etc/coraft/coraft-kv.env", "-/etc/coraft/coraft-kv.env"),
          "unit: EnvironmentFile=/etc/coraft/coraft-kv.env")
    check(one("StateDirectory") == "coraft", "unit: StateDirectory=coraft")
    check(one("DynamicUser") == "yes" or (one("User") not in (None, "root")), "unit: a dedicated user")
    check(any("/readyz" in v for v in kv.get("ExecStartPost", [])), "unit: ExecStartPost polls /readyz")
    check((one("ExecStart") or "").split()[0] == "/usr/bin/coraft-kv", "unit: ExecStart=/usr/bin/coraft-kv")
    for v in kv.get("Environment", []):
        for name in re.findall(r"\b(CORAFT_[A-Z0-9_]+)=", v):
            check(name in envs, f"unit: Environment {name} names a flag of coraft-kv --help")
    for name in re.findall(r"\b(CORAFT_[A-Z0-9_]+)", " ".join(kv.get("ExecStartPost", []))):
        check(name in envs, f"unit: ExecStartPost's {name} names a flag of coraft-kv --help")
    names = set()
    for line in open(env_example, encoding="utf-8"):
        m = re.match(r"^#?\s*(CORAFT_[A-Z0-9_]+)=", line)
        if m:
            names.add(m.group(1))
    check({"CORAFT_ID", "CORAFT_CLUSTER"} <= names, "env example: sets CORAFT_ID and CORAFT_CLUSTER")
    for n in sorted(names):
        check(n in envs, f"env example: {n} names a flag of coraft-kv --help")


def main():
    src, help_file, binary = sys.argv[1:4]
    flags = help_flags(help_file)
    check(len(flags) >= 10, f"coraft-kv --help lists its flags (found {len(flags)})")
    envs = {env_name(f) for f in flags}
    deploy = os.path.join(src, "apps", "deploy")
    ep_text = open(os.path.join(deploy, "entrypoint.sh"), encoding="utf-8").read()
    m = re.search(r"\$\{CORAFT_KV_BIN:-([^}]+)\}", ep_text)
    ep_bin = m.group(1) if m else None
    check(ep_bin is not None, "entrypoint.sh: a default for CORAFT_KV_BIN")
    # The variables the entrypoint fills in are coraft-kv's (CORAFT_KV_BIN is its own).
    for name in sorted(set(re.findall(r"\b(CORAFT_[A-Z0-9_]+)=", ep_text)) - {"CORAFT_KV_BIN"}):
        check(name in envs, f"entrypoint.sh: {name} names a flag of coraft-kv --help")
    for flag in re.findall(r"\bgiven ([a-z][a-z-]*) \"\$@\"", ep_text):
        check(flag in flags, f"entrypoint.sh: setting {flag} is a flag of coraft-kv --help")
    uid = check_dockerfile(os.path.join(deploy, "Dockerfile"), src, binary, ep_bin)
    k8s_dir = os.path.join(deploy, "k8s")
    check_k8s([os.path.join(k8s_dir, f) for f in sorted(os.listdir(k8s_dir)) if f.endswith((".yaml", ".yml"))],
              flags, envs, uid)
    check_unit(os.path.join(deploy, "coraft-kv.service"), os.path.join(deploy, "coraft-kv.env.example"), envs)
    print(f"check_manifests: {passed} checks passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
