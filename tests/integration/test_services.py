"""Services, variables, domains, scaling and resources over GraphQL (schema/services.graphql).
Services are added from an image on a registry that does not exist, so their first deploy
fails harmlessly: these tests look at what is wanted (the project's repository), not at what
runs (deploys have tests of their own). Runs the real binary on SQLite."""
from harness import Slipway, gql_raw, new_user, run, test

SVC = ("{ id name environment image port framework sourceUrl contextPath startCommand "
       "customStartCommand imageTag ready replicas syncStatus statusMessage "
       "scaling { replicas autoscaling { enabled minReplicas maxReplicas targetCPU } } "
       "resources { tier cpuMillicores memoryMB } "
       "domains { hostname type dnsStatus tlsStatus } deployments { id } initialDeploy { id } }")
IMAGE = "127.0.0.1:9/nowhere/web:1.0"


def ok(t, s, query, variables=None, token=None):
    status, body = gql_raw(s, query, variables, token=token)
    t.eq(status, 200, f"{query}: {body}")
    t.true("errors" not in body, f"{query}: {body}")
    return body["data"]


def error(t, s, query, variables=None, token=None):
    """The first error of a request that must fail: (code, message)."""
    _, body = gql_raw(s, query, variables, token=token)
    t.true(body.get("errors"), f"{query} should fail: {body}")
    e = body["errors"][0]
    return e.get("extensions", {}).get("code"), e["message"]


def project(t, s, token, name="shop", services=("web",)):
    ok(t, s, "mutation($n: String!) { createProject(input: {name: $n}) { id } }", {"n": name},
       token=token)
    for svc in services:
        add(t, s, token, name, svc)


def add(t, s, token, proj, name, **extra):
    i = {"projectId": proj, "environment": "development", "name": name, "image": IMAGE,
         "port": 3000}
    i.update(extra)
    return ok(t, s, "mutation($i: AddServiceInput!) { addService(input: $i) " + SVC + " }",
              {"i": i}, token=token)["addService"]


def services(t, s, token, proj="shop"):
    d = ok(t, s, '{ project(id: "%s") { environments { name syncStatus services %s } } }'
           % (proj, SVC), token=token)
    return d["project"]["environments"][0]["services"]


SET_SVC = ("mutation($v: [ServiceVariableInput!]!) { setServiceVariables(projectId: \"shop\", "
           "environment: \"development\", service: \"web\", variables: $v) { key value secret "
           "fromShared databaseRef { database key } serviceRef { service field } } }")
SET_SHARED = ("mutation($v: [VariableInput!]!) { setSharedVariables(projectId: \"shop\", "
              "environment: \"development\", variables: $v) { key value secret } }")


@test
def add_and_list(t):
    with Slipway() as s:
        token = new_user(s)[0]
        project(t, s, token, services=())
        w = add(t, s, token, "shop", "web", startCommand="node server.js")
        t.eq(w["id"], "shop/development/web")
        t.eq(w["environment"], "development")
        t.eq(w["port"], 3000)
        t.eq(w["image"], None)  # nothing deployed yet
        t.eq(w["startCommand"], "node server.js")
        t.eq(w["sourceUrl"], None)
        t.eq(w["replicas"], 1)
        t.eq(w["ready"], False)
        t.eq(w["scaling"], {"replicas": 1, "autoscaling": {
            "enabled": False, "minReplicas": None, "maxReplicas": None, "targetCPU": None}})
        t.eq(w["resources"]["tier"], "small")
        t.eq([d["type"] for d in w["domains"]], ["PLATFORM"])
        t.eq(w["domains"][0]["hostname"], "web-development-shop.localhost")
        t.eq(w["domains"][0]["dnsStatus"], "VALID")
        t.eq(w["domains"][0]["tlsStatus"], "NONE")
        t.true(w["initialDeploy"] and w["initialDeploy"]["id"], w)
        add(t, s, token, "shop", "api")
        listed = services(t, s, token)
        t.eq([x["name"] for x in listed], ["api", "web"])  # name order
        t.eq(listed[1]["initialDeploy"], None)  # only addService's answer carries it

        code, msg = error(t, s, 'mutation { addService(input: {projectId: "shop", environment: '
                                '"development", name: "web", image: "%s"}) { id } }' % IMAGE,
                          token=token)
        t.eq(code, "CONFLICT", msg)
        for bad, field in [({"name": "Web"}, "input.name"), ({"name": "9web"}, "input.name"),
                           ({"name": "a" * 32}, "input.name"), ({"port": 0}, "input.port"),
                           ({"projectId": "NO"}, "input.projectId"),
                           ({"image": None}, "repository or image")]:
            i = {"projectId": "shop", "environment": "development", "name": "ok", "image": IMAGE}
            i.update(bad)
            code, msg = error(t, s, "mutation($i: AddServiceInput!) { addService(input: $i) "
                                    "{ id } }", {"i": i}, token=token)
            t.eq(code, "BAD_USER_INPUT", f"{bad}: {msg}")
            t.contains(msg, field)
        code, msg = error(t, s, 'mutation { addService(input: {projectId: "nope", environment: '
                                '"development", name: "x", image: "%s"}) { id } }' % IMAGE,
                          token=token)
        t.eq(code, "NOT_FOUND", msg)

        # Removal takes it out of the environment; a second removal finds nothing.
        t.eq(ok(t, s, 'mutation { removeService(projectId: "shop", environment: "development", '
                      'service: "api") }', token=token)["removeService"], True)
        t.eq([x["name"] for x in services(t, s, token)], ["web"])
        code, msg = error(t, s, 'mutation { removeService(projectId: "shop", environment: '
                                '"development", service: "api") }', token=token)
        t.eq(code, "NOT_FOUND", msg)


@test
def start_command_scaling_resources(t):
    with Slipway() as s:
        token = new_user(s)[0]
        project(t, s, token)
        q = ('mutation($c: String) { setCustomStartCommand(projectId: "shop", environment: '
             '"development", service: "web", command: $c) { customStartCommand } }')
        t.eq(ok(t, s, q, {"c": "npm run serve"}, token=token)["setCustomStartCommand"],
             {"customStartCommand": "npm run serve"})
        t.eq(ok(t, s, q, {"c": None}, token=token)["setCustomStartCommand"],
             {"customStartCommand": None})

        q = ("mutation($i: ServiceScalingInput!) { setServiceScaling(input: $i) "
             "{ replicas autoscaling { enabled minReplicas maxReplicas targetCPU } } }")
        base = {"projectId": "shop", "environment": "development", "service": "web"}
        d = ok(t, s, q, {"i": dict(base, replicas=3)}, token=token)["setServiceScaling"]
        t.eq(d["replicas"], 3)
        t.eq(d["autoscaling"]["enabled"], False)
        d = ok(t, s, q, {"i": dict(base, replicas=2, autoscaling={
            "enabled": True, "minReplicas": 2, "maxReplicas": 6, "targetCPU": 60})},
            token=token)["setServiceScaling"]
        t.eq(d["autoscaling"], {"enabled": True, "minReplicas": 2, "maxReplicas": 6,
                                "targetCPU": 60})
        t.eq(services(t, s, token)[0]["scaling"]["autoscaling"]["maxReplicas"], 6)
        for bad, field in [({"replicas": 0}, "input.replicas"), ({"replicas": 21}, "input.replicas"),
                           ({"autoscaling": {"enabled": True, "targetCPU": 96}},
                            "input.autoscaling.targetCPU"),
                           ({"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
                            "input.autoscaling.maxReplicas"),
                           ({"autoscaling": {"enabled": True, "minReplicas": 0}},
                            "input.autoscaling.minReplicas")]:
            code, msg = error(t, s, q, {"i": {**base, "replicas": 1, **bad}}, token=token)
            t.eq(code, "BAD_USER_INPUT", f"{bad}: {msg}")
            t.contains(msg, field)
        code, msg = error(t, s, q, {"i": dict(base, service="nope", replicas=1)}, token=token)
        t.eq(code, "NOT_FOUND", msg)

        r = ok(t, s, '{ environmentResources(projectId: "shop", environment: "development") '
                     '{ tier cpuMillicores memoryMB diskMB } }', token=token)
        t.eq(r["environmentResources"], {"tier": None, "cpuMillicores": None, "memoryMB": None,
                                         "diskMB": None})
        q = ("mutation($i: EnvironmentResourcesInput!) { setEnvironmentResources(input: $i) "
             "{ tier cpuMillicores memoryMB diskMB } }")
        base = {"projectId": "shop", "environment": "development", "tier": "PRODUCTION",
                "cpuMillicores": 2000, "memoryMB": 4096, "diskMB": 1024}
        t.eq(ok(t, s, q, {"i": base}, token=token)["setEnvironmentResources"],
             {"tier": "PRODUCTION", "cpuMillicores": 2000, "memoryMB": 4096, "diskMB": 1024})
        d = ok(t, s, '{ project(id: "shop") { environments { resourceTier } } }', token=token)
        t.eq(d["project"]["environments"][0]["resourceTier"], "PRODUCTION")
        for bad, field in [({"cpuMillicores": 99}, "input.cpuMillicores"),
                           ({"memoryMB": 65537}, "input.memoryMB"),
                           ({"diskMB": 102401}, "input.diskMB")]:
            code, msg = error(t, s, q, {"i": dict(base, **bad)}, token=token)
            t.eq(code, "BAD_USER_INPUT", f"{bad}: {msg}")
            t.contains(msg, field)


@test
def variables(t):
    with Slipway() as s:
        token = new_user(s)[0]
        project(t, s, token, services=("web", "api"))
        v = ok(t, s, SET_SHARED, {"v": [{"key": "REGION", "value": "eu"},
                                        {"key": "TOKEN", "value": "s3cret", "secret": True}]},
               token=token)["setSharedVariables"]
        t.eq(v, [{"key": "REGION", "value": "eu", "secret": False},
                 {"key": "TOKEN", "value": "********", "secret": True}])

        v = ok(t, s, SET_SVC, {"v": [
            {"key": "A", "value": "1"},
            {"key": "PASSWORD", "value": "hunter2", "secret": True},
            {"key": "REGION", "fromShared": "REGION"},
            {"key": "API_URL", "serviceRef": {"service": "api"}},
        ]}, token=token)["setServiceVariables"]
        by = {x["key"]: x for x in v}
        t.eq(sorted(by), ["A", "API_URL", "PASSWORD", "REGION"])
        t.eq(by["A"]["value"], "1")
        t.eq(by["PASSWORD"], {"key": "PASSWORD", "value": "********", "secret": True,
                              "fromShared": None, "databaseRef": None, "serviceRef": None})
        t.eq(by["REGION"]["fromShared"], "REGION")
        t.eq(by["REGION"]["value"], None)
        t.eq(by["API_URL"]["serviceRef"], {"service": "api", "field": "internalUrl"})

        # Replace: what the new set leaves out goes; the masked secret sent back is kept.
        v = ok(t, s, SET_SVC, {"v": [{"key": "A", "value": "2"},
                                     {"key": "PASSWORD", "value": "********", "secret": True}]},
               token=token)["setServiceVariables"]
        t.eq([(x["key"], x["value"], x["secret"]) for x in v],
             [("A", "2", False), ("PASSWORD", "********", True)])
        got = ok(t, s, '{ serviceVariables(projectId: "shop", environment: "development", '
                       'service: "web") { key value } }', token=token)["serviceVariables"]
        t.eq(got, [{"key": "A", "value": "2"}, {"key": "PASSWORD", "value": "********"}])
        t.eq(ok(t, s, SET_SVC, {"v": []}, token=token)["setServiceVariables"], [])

        v = ok(t, s, SET_SHARED, {"v": [{"key": "TOKEN", "value": "********", "secret": True}]},
               token=token)["setSharedVariables"]
        t.eq(v, [{"key": "TOKEN", "value": "********", "secret": True}])
        got = ok(t, s, '{ sharedVariables(projectId: "shop", environment: "development") '
                       '{ key } }', token=token)["sharedVariables"]
        t.eq(got, [{"key": "TOKEN"}])

        for bad, field in [([{"key": "1X", "value": "a"}], "variables[0].key"),
                           ([{"key": "X", "value": "a"}, {"key": "X", "value": "b"}],
                            "variables[1].key"),
                           ([{"key": "X"}], "exactly one"),
                           ([{"key": "X", "value": "a", "fromShared": "REGION"}], "exactly one")]:
            code, msg = error(t, s, SET_SVC, {"v": bad}, token=token)
            t.eq(code, "BAD_USER_INPUT", f"{bad}: {msg}")
            t.contains(msg, field)


@test
def domains(t):
    with Slipway() as s:
        token = new_user(s)[0]
        project(t, s, token)
        project(t, s, token, name="blog", services=("api",))
        q = ('mutation($p: ID!, $s: String!) { generateDomain(input: {projectId: $p, '
             'environment: "development", service: $s}) { hostname type dnsStatus } }')
        d = ok(t, s, q, {"p": "shop", "s": "web"}, token=token)["generateDomain"]
        t.eq(d, {"hostname": "web-development-shop.localhost", "type": "PLATFORM",
                 "dnsStatus": "VALID"})
        t.eq(ok(t, s, q, {"p": "shop", "s": "web"}, token=token)["generateDomain"], d)  # stable

        add_q = ('mutation($p: ID!, $s: String!, $h: String!) { addCustomDomain(projectId: $p, '
                 'environment: "development", service: $s, hostname: $h) { hostname type '
                 'tlsStatus } }')
        d = ok(t, s, add_q, {"p": "shop", "s": "web", "h": "Shop.Example.invalid"},
               token=token)["addCustomDomain"]
        t.eq(d, {"hostname": "shop.example.invalid", "type": "CUSTOM", "tlsStatus": "NONE"})
        doms = services(t, s, token)[0]["domains"]
        t.eq([(x["hostname"], x["type"]) for x in doms],
             [("web-development-shop.localhost", "PLATFORM"), ("shop.example.invalid", "CUSTOM")])
        t.eq(doms[1]["dnsStatus"], "PENDING")  # .invalid never resolves

        code, msg = error(t, s, add_q, {"p": "blog", "s": "api", "h": "shop.example.invalid"},
                          token=token)
        t.eq(code, "CONFLICT", msg)
        t.contains(msg, "shop")
        code, msg = error(t, s, add_q, {"p": "shop", "s": "web", "h": "bad..name"}, token=token)
        t.eq(code, "BAD_USER_INPUT", msg)
        t.contains(msg, "hostname")

        rm = ('mutation($h: String!) { removeDomain(projectId: "shop", environment: "development",'
              ' service: "web", hostname: $h) }')
        t.eq(ok(t, s, rm, {"h": "shop.example.invalid"}, token=token)["removeDomain"], True)
        code, msg = error(t, s, rm, {"h": "shop.example.invalid"}, token=token)
        t.eq(code, "NOT_FOUND", msg)
        # Freed: another project may take it now.
        ok(t, s, add_q, {"p": "blog", "s": "api", "h": "shop.example.invalid"}, token=token)

        c = ok(t, s, '{ platformConfig { workloadDomain domainTarget ipAddress } '
                     'a: checkDnsStatus(hostname: "localhost") { hostname status addresses } '
                     'b: checkDnsStatus(hostname: "nothing.invalid") { status addresses } }',
               token=token)
        t.eq(c["platformConfig"], {"workloadDomain": "localhost", "domainTarget": "localhost",
                                   "ipAddress": "127.0.0.1"})
        t.eq(c["a"]["status"], "VALID")
        t.true("127.0.0.1" in c["a"]["addresses"] or "::1" in c["a"]["addresses"], c["a"])
        t.eq(c["b"], {"status": "PENDING", "addresses": []})


@test
def other_workspace_is_invisible(t):
    with Slipway() as s:
        token = new_user(s)[0]
        other = new_user(s)[0]
        project(t, s, token)
        for q in ['{ serviceVariables(projectId: "shop", environment: "development", '
                  'service: "web") { key } }',
                  '{ sharedVariables(projectId: "shop", environment: "development") { key } }',
                  'mutation { removeService(projectId: "shop", environment: "development", '
                  'service: "web") }',
                  'mutation { setServiceVariables(projectId: "shop", environment: "development", '
                  'service: "web", variables: []) { key } }']:
            code, msg = error(t, s, q, token=other)
            t.eq(code, "NOT_FOUND", f"{q}: {msg}")
        t.eq([x["name"] for x in services(t, s, token)], ["web"])  # untouched


if __name__ == "__main__":
    run()
