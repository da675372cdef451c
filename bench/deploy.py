"""bench/deploy.sh's measurements (see there). Prints one line per figure with its target."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import gql_data  # noqa: E402
from test_deploy import (DEPLOY, Load, add_service, deployed, git, repo_of,  # noqa: E402
                         wait_deploy)


def deploy_time(s, token, project):
    t0 = time.monotonic()
    d = gql_data(s, DEPLOY, {"i": {"projectId": project, "service": "web",
                                   "environment": "development"}}, token=token)
    st = wait_deploy(s, token, d["deploy"]["id"])
    if st["phase"] != "SUCCEEDED":
        raise SystemExit(f"deploy.py: the deploy ended {st}")
    return time.monotonic() - t0


def mem_kb(pids, field):
    """The sum of <field> ("Rss" or "Pss") of <pids> from /proc/<pid>/smaps_rollup, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def show_maps(pid):
    """The mappings of <pid> holding the most RSS (SHOW_MAPS=1: where the memory is)."""
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                cur = [0, head[5] if len(head) > 5 else "[anon]"]
                maps.append(cur)
            elif head[0] == "Rss:":
                cur[0] += int(head[1])
    by = {}
    for rss, name in maps:
        by[name] = by.get(name, 0) + rss
    for name, rss in sorted(by.items(), key=lambda x: -x[1])[:15]:
        print(f"#   {rss / 1024:7.1f} MB  {name}")


def own_pids(slipway_pid, data_dir):
    """slipway, its nginx and the log relays of its replicas (runc's children are the apps)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    pids = [slipway_pid]
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if int(pid) != slipway_pid and data_dir in args and \
                ("nginx" in args or args.split(" ")[0].endswith("slipway")):
            pids.append(int(pid))
    return pids


def main():
    with deployed("bench", "node-express") as (p, s, token, repo, host):
        tmp = os.path.dirname(os.path.dirname(repo))
        # Warm: one source change first (the dependency layer and npm cache get made).
        git(repo, "commit", "-q", "--allow-empty", "-m", "warm")
        deploy_time(s, token, "bench")
        with open(os.path.join(repo, "server.js"), "a") as f:
            f.write("\n// a source change\n")
        git(repo, "commit", "-qam", "change")
        load = Load(p, host)
        change = deploy_time(s, token, "bench")
        same = deploy_time(s, token, "bench")
        failed = load.end()
        print(f"source-change deploy (mutation to SUCCEEDED): {change:.2f} s  (target <= 15 s)")
        print(f"same-commit redeploy:                         {same:.2f} s  (target <= 2 s)")
        print(f"failed requests during the rollouts: {failed} of {load.ok + failed}"
              "  (target 0)")
        for i in range(9):
            add = add_service(s, token, "bench", f"app{i}", repo_of(tmp, "static")
                              if i else repo_of(tmp, "python"))
            if wait_deploy(s, token, add[0])["phase"] != "SUCCEEDED":
                raise SystemExit(f"deploy.py: app{i} failed")
        time.sleep(5)
        pids = own_pids(s.proc.pid, p.data_dir)
        if os.environ.get("SHOW_MAPS"):
            show_maps(s.proc.pid)
        main_rss = mem_kb([s.proc.pid], "Rss") / 1024
        print(f"idle RSS of slipway with 10 apps: {main_rss:.1f} MB  (target <= 50 MB)")
        print(f"with nginx and the {len(pids) - 2} log relays ({len(pids)} processes): "
              f"RSS {mem_kb(pids, 'Rss') / 1024:.1f} MB summed, PSS "
              f"{mem_kb(pids, 'Pss') / 1024:.1f} MB (shared pages counted once)")


if __name__ == "__main__":
    main()
