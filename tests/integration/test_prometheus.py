"""GET /metrics as Prometheus itself sees it: promtool's linter, and a real Prometheus
server (the Debian package) scraping the real binary over loopback."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from harness import Failure, Process, Slipway, free_port, run, test, wait_until

PROMETHEUS = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = os.environ.get("PROMTOOL_BIN") or shutil.which("promtool") or "/usr/bin/promtool"


def some_traffic(t, s):
    """A few answered requests on several routes, so /metrics has series with labels."""
    for _ in range(3):
        t.eq(s.get("/healthz")[0], 200, "/healthz")
    t.eq(s.get("/no/such/route")[0], 404, "unknown path")
    t.eq(s.get("/readyz")[0], 200, "/readyz")


@test
def promtool_check_metrics_finds_no_problem(t):
    with Slipway() as s:
        some_traffic(t, s)
        status, h, body = s.get("/metrics")
        t.eq(status, 200, "/metrics")
        t.contains(h["content-type"], "text/plain", "content-type")
        t.true(body.strip(), "empty /metrics body")
        # promtool prints each lint problem (to stdout or stderr, depending on the kind) and
        # exits 3 for lint problems, 1 for parse errors: any output at all is a complaint.
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                           timeout=60)
        said = (r.stdout + r.stderr).decode(errors="replace").strip()
        if r.returncode != 0 or said:
            raise Failure(f"promtool check metrics exited {r.returncode}:\n{said}\n"
                          f"--- body ---\n{body.decode(errors='replace')[:4000]}")


class Prometheus(Process):
    """A Prometheus server of our own: loopback only, its own config and storage in a
    temporary directory that stop() removes."""

    def __init__(self, targets, job="slipway", interval="1s"):
        self.dir = tempfile.mkdtemp(prefix="slipway-prom-")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n"
                f"  scrape_interval: {interval}\n"
                f"  scrape_timeout: {interval}\n"
                f"  evaluation_interval: {interval}\n"
                "scrape_configs:\n"
                f"  - job_name: {job}\n"
                "    metrics_path: /metrics\n"
                "    static_configs:\n"
                f"      - targets: [{', '.join(repr(x) for x in targets)}]\n")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        try:
            for _ in range(3):  # free_port() can lose a race with another process: retry
                self.port = free_port()
                argv = [PROMETHEUS, f"--config.file={config}",
                        f"--storage.tsdb.path={os.path.join(self.dir, 'tsdb')}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=warn"]  # quiet: only problems reach the log we keep
                super().__init__(argv, env=env, cwd=self.dir)
                wait_until(lambda: self.ready() or self.proc.poll() is not None,
                           timeout=60, step=0.1, what="prometheus /-/ready")
                if self.proc.poll() is None:
                    return
                self._reader.join(5)  # the whole log of the exited attempt
                if "address already in use" not in self.log():
                    break
            raise Failure(f"prometheus exited {self.proc.returncode} at start:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def http(self, path, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def ready(self):
        try:
            return self.http("/-/ready", timeout=2)[0] == 200
        except OSError:
            return False

    def api(self, path, **params):
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        status, body = self.http(f"/api/v1/{path}{q}")
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise Failure(f"prometheus {path}{q}: HTTP {status}: {body[:500]!r}")
        return doc["data"]

    def query(self, expr):
        """The instant vector of <expr>: a list of {"metric": {...}, "value": [ts, "v"]}."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise Failure(f"{expr}: result type {data['resultType']}, want vector")
        return data["result"]

    def log(self, n=30):
        return "\n".join(getattr(self, "lines", [])[-n:])

    def stop(self):
        """SIGTERM, SIGKILL after 15 s; then the directory goes. Safe to call twice."""
        try:
            if getattr(self, "proc", None) is None:
                return
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self._reader.join(5)
            self._out.join(5)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@test
def prometheus_scrapes_slipway_and_sees_its_series(t):
    with Slipway() as s:
        some_traffic(t, s)
        target = f"127.0.0.1:{s.port}"
        prom = Prometheus([target])
        try:
            last = []

            def scraped_up():
                last[:] = prom.query('up{job="slipway"}')
                return any(r["value"][1] == "1" for r in last)

            try:
                wait_until(scraped_up, timeout=60, step=0.25, what='up{job="slipway"} == 1')
            except Failure as e:
                targets = prom.api("targets")["activeTargets"]
                raise Failure(f"{e}; last up = {last}; targets = {targets}\n"
                              f"prometheus log:\n{prom.log()}")
            t.eq(len(last), 1, 'number of up{job="slipway"} series')
            t.eq(last[0]["metric"].get("instance"), target, "instance label")

            got = prom.query('http_requests_total{job="slipway",route="/healthz"}')
            t.true(got, f"no http_requests_total{{route=\"/healthz\"}} sample; log:\n{prom.log()}")
            t.true(any(float(r["value"][1]) >= 3 for r in got),
                   f"http_requests_total for /healthz below the 3 requests made: {got}")
            got = prom.query('process_resident_memory_bytes{job="slipway"}')
            t.true(got, "no process_resident_memory_bytes sample")
            t.true(float(got[0]["value"][1]) > 0, f"process_resident_memory_bytes {got}")

            active = [x for x in prom.api("targets", state="active")["activeTargets"]
                      if x["labels"].get("job") == "slipway"]
            t.eq(len(active), 1, "active slipway targets")
            t.eq(active[0]["scrapeUrl"], f"http://{target}/metrics", "scrapeUrl")
            t.eq(active[0]["health"], "up", f"target health (lastError {active[0]['lastError']!r})")
            t.eq(active[0]["lastError"], "", "target lastError")
        finally:
            prom.stop()
        t.true(not os.path.exists(prom.dir), f"{prom.dir} left behind")


run()
