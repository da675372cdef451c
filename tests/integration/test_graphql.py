"""GraphQL over HTTP at /graphql (docs/graphql.md): POST and GET, media types and status codes,
errors with locations and extensions.code, every query and mutation of the identity schema,
authorization per resolver (USER, ADMIN, not a member, no credential), tokens made and revoked
through the API, hostile text arguments, and limits. Runs the real binary on SQLite."""
import json
import os
import re
import subprocess
import urllib.parse

from harness import BIN, Failure, Slipway, admin_create, login, run, test

GQL_JSON = "application/graphql-response+json"


# ---------------------------------------------------------------- helpers

def user(s, name=None):
    """A new user, logged in: (token, id, email)."""
    email, password = admin_create(s, name=name)
    token = login(s, email, password)
    me = gql(s, "{ me { id } }", token=token)[2]
    return token, me["data"]["me"]["id"], email


def gql(s, query, variables=None, token=None, ws=None, accept=None, method="POST",
        operation=None, raw=None, content_type="application/json", headers=None):
    """One request; returns (status, headers, parsed body or the raw bytes when not JSON)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if ws:
        h["X-Slipway-Workspace"] = ws
    if accept:
        h["Accept"] = accept
    if method == "POST":
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation is not None:
            body["operationName"] = operation
        h["Content-Type"] = content_type
        status, hdrs, data = s.request("POST", "/graphql",
                                       body=raw if raw is not None else json.dumps(body),
                                       headers=h)
    else:
        params = {"query": query}
        if variables is not None:
            params["variables"] = variables if isinstance(variables, str) else json.dumps(
                variables)
        if operation is not None:
            params["operationName"] = operation
        status, hdrs, data = s.request(method, "/graphql?" + urllib.parse.urlencode(params),
                                       headers=h)
    try:
        return status, hdrs, json.loads(data)
    except ValueError:
        return status, hdrs, data


def ok(t, res, what=""):
    status, _, body = res
    t.eq(status, 200, f"{what} status ({body})")
    t.true("errors" not in body, f"{what}: unexpected errors {body.get('errors')}")
    return body["data"]


def code_of(body, i=0):
    return body["errors"][i].get("extensions", {}).get("code")


def team(s):
    """An ADMIN (A) of workspace team-x, a USER (B) of it who joined through an invitation,
    and someone (C) outside it: {name: (token, id, email)}."""
    a, b, c = user(s, "Ada"), user(s, "Bob"), user(s, "Cy")
    ok(T0, gql(s, 'mutation { createWorkspace(input:{id:"team-x", name:"Team X"}) { id } }',
               token=a[0]))
    inv = ok(T0, gql(s, "mutation($e:String!){ inviteMember(input:{email:$e, role:USER}) "
                        "{ token } }", {"e": b[2]}, token=a[0], ws="team-x"))
    ok(T0, gql(s, "mutation($t:String!){ acceptInvitation(token:$t) { workspace role } }",
               {"t": inv["inviteMember"]["token"]}, token=b[0]))
    return {"A": a, "B": b, "C": c}


class _T:
    def eq(self, got, want, what=""):
        if got != want:
            raise Failure(f"{what}: got {got!r}, want {want!r}")

    def true(self, cond, what):
        if not cond:
            raise Failure(what)


T0 = _T()


def audit(s, token, ws, limit=200):
    return ok(T0, gql(s, "query($n:Int){ auditLog(limit:$n) { action outcome target actorId "
                         "workspace detail at } }", {"n": limit}, token=token,
                      ws=ws))["auditLog"]


# ---------------------------------------------------------------- transport

@test
def post_and_get_answer_with_either_media_type(t):
    with Slipway() as s:
        token, uid, email = user(s, "Grace")
        status, h, body = gql(s, "{ me { id email name avatarUrl } }", token=token)
        t.eq(status, 200, body)
        t.true(h["content-type"].startswith("application/json"), h["content-type"])
        t.eq(body["data"]["me"], {"id": uid, "email": email, "name": "Grace", "avatarUrl": None})
        status, h, body2 = gql(s, "{ me { id email name avatarUrl } }", token=token,
                               accept=f"{GQL_JSON}, application/json;q=0.9")
        t.eq((status, body2), (200, body))
        t.true(h["content-type"].startswith(GQL_JSON), h["content-type"])
        status, h, body3 = gql(s, "query Q($x: Boolean!) { me { id @include(if: $x) email } }",
                               {"x": False}, token=token, method="GET", operation="Q")
        t.eq(status, 200, body3)
        t.eq(body3["data"]["me"], {"email": email})
        # no Accept at all, and */*: application/json
        status, h, _ = gql(s, "{ me { id } }", token=token, accept="*/*")
        t.true(h["content-type"].startswith("application/json"), h["content-type"])
        status, h, body = gql(s, "{ me { id } }", token=token, accept="text/html")
        t.eq(status, 406, body)
        t.eq(code_of(body), "BAD_USER_INPUT")
        # two operations: operationName picks one
        doc = "query A { me { id } } query B { me { email } }"
        t.eq(ok(t, gql(s, doc, token=token, operation="B"))["me"], {"email": email})
        status, _, body = gql(s, doc, token=token)
        t.eq(status, 200, body)
        t.true("data" not in body and body["errors"], body)


@test
def mutation_over_get_is_405_with_allow_post(t):
    with Slipway() as s:
        token, _, _ = user(s)
        status, h, body = gql(s, 'mutation { createApiToken(name:"x") { id } }', token=token,
                              method="GET")
        t.eq(status, 405, body)
        t.eq(h.get("allow"), "POST")
        t.eq(ok(t, gql(s, "{ apiTokens { id } }", token=token))["apiTokens"], [],
             "nothing was made")
        status, _, body = gql(s, "subscription { workspaceActivity { id } }", token=token,
                              accept=GQL_JSON)
        t.eq(status, 400, body)
        t.true("WebSocket" in body["errors"][0]["message"], body)


@test
def status_codes_follow_the_media_type(t):
    with Slipway() as s:
        token, _, _ = user(s)
        cases = [
            # (document, variables, graphql-response+json status, code)
            ("{ me { id }", None, 400, "GRAPHQL_PARSE_FAILED"),
            ("{ me { nope } }", None, 400, "GRAPHQL_VALIDATION_FAILED"),
            ("query($n: Int!) { auditLog(limit: $n) { id } }", {"n": "ten"}, 400, None),
            ("query($n: Int!) { auditLog(limit: $n) { id } }", {}, 400, None),
        ]
        for doc, variables, want, code in cases:
            status, h, body = gql(s, doc, variables, token=token, accept=GQL_JSON)
            t.eq(status, want, f"{doc} as {GQL_JSON}: {body}")
            t.true(h["content-type"].startswith(GQL_JSON), h["content-type"])
            t.true("data" not in body and body["errors"], f"{doc}: {body}")
            if code:
                t.eq(code_of(body), code, doc)
            status, h, body2 = gql(s, doc, variables, token=token)
            t.eq(status, 200, f"{doc} as application/json: {body2}")
            t.eq(body2, body, doc)
        # parse and validation errors say where
        _, _, body = gql(s, "{\n  me {\n    nope\n  }\n}", token=token)
        t.eq(body["errors"][0]["locations"], [{"line": 3, "column": 5}], body)
        _, _, body = gql(s, "{ me { id }", token=token)
        t.true(body["errors"][0]["locations"][0]["line"] == 1, body)
        # a field error is a 200 either way, with path, locations and code
        for accept in (GQL_JSON, None):
            status, _, body = gql(s, "{ me { id }\n  auditLog(limit: 5000) { id } }",
                                  token=token, accept=accept)
            t.eq(status, 200, body)
            t.eq(body["data"], None, "a non-null root field failed")
            e = body["errors"][0]
            t.eq((e["path"], e["locations"], code_of(body)),
                 (["auditLog"], [{"line": 2, "column": 3}], "BAD_USER_INPUT"), body)


@test
def malformed_requests_get_400_with_a_graphql_error(t):
    with Slipway() as s:
        token, _, _ = user(s)
        bad = [
            ("not json", "body"),
            ("[1, 2]", "body"),
            (json.dumps({"variables": {}}), "query"),
            (json.dumps({"query": 42}), "query"),
            (json.dumps({"query": "{ me { id } }", "variables": [1]}), "variables"),
            (json.dumps({"query": "{ me { id } }", "variables": "x"}), "variables"),
            (json.dumps({"query": "{ me { id } }", "operationName": 7}), "operationName"),
            (json.dumps({"query": "{ me { id } }", "extensions": 7}), "extensions"),
        ]
        for raw, field in bad:
            for accept in (None, GQL_JSON):
                status, _, body = gql(s, None, token=token, raw=raw, accept=accept)
                t.eq(status, 400, f"{raw}: {body}")
                t.eq(code_of(body), "BAD_USER_INPUT", raw)
                t.true(body["errors"][0]["message"].startswith(field), f"{raw}: {body}")
        status, _, body = gql(s, "{ me { id } }", token=token, content_type="text/plain")
        t.eq(status, 415, body)
        status, _, body = s.request("GET", "/graphql", headers={"Authorization": f"Bearer {token}"})
        t.eq(status, 400, body)
        status, _, body = gql(s, "{ me { id } }", variables="{nope", token=token, method="GET")
        t.eq(status, 400, body)
        t.true(body["errors"][0]["message"].startswith("variables"), body)
        status, _, body = gql(s, "{ me { id } }", variables="[1]", token=token, method="GET")
        t.eq(status, 400, body)
        t.eq(ok(t, gql(s, "{ me { id } }", variables="null", token=token, method="GET"))
             ["me"]["id"] is not None, True)


@test
def no_credential_is_401_except_introspection(t):
    with Slipway() as s:
        token, _, _ = user(s)
        status, h, body = gql(s, "{ me { id } }")
        t.eq(status, 401, body)
        t.eq(code_of(body), "UNAUTHENTICATED")
        t.true("www-authenticate" in h, h)
        status, _, body = gql(s, "{ __typename me { id } }")
        t.eq(status, 401, "introspection mixed with data")
        status, _, body = gql(s, "mutation { __typename }")
        t.eq(status, 401, "a mutation, even of __typename")
        full = ("query IntrospectionQuery { __schema { queryType { name } mutationType { name }"
                " subscriptionType { name } types { ...T } } }"
                " fragment T on __Type { kind name description fields(includeDeprecated: true)"
                " { name args { name } } }")
        for doc in ["{ __typename }", full, '{ __type(name: "User") { fields { name } } }',
                    "{ ... on Query { __typename } }",
                    "query { ...F } fragment F on Query { __schema { types { name } } }"]:
            status, _, body = gql(s, doc, accept=GQL_JSON)
            t.eq(status, 200, f"{doc}: {body}")
            t.true("errors" not in body, body)
        body = gql(s, full)[2]["data"]["__schema"]
        t.eq((body["queryType"]["name"], body["mutationType"]["name"],
              body["subscriptionType"]["name"]), ("Query", "Mutation", "Subscription"))
        names = {ty["name"]: ty for ty in body["types"]}
        for want in ["User", "Workspace", "WorkspaceMember", "WorkspaceMembership", "ApiToken",
                     "AuditEntry", "Invitation", "WorkspaceRole", "Time"]:
            t.true(want in names, f"type {want} missing")
            t.true(names[want]["description"], f"type {want} has no description")
        # every field of our types is described
        for tname in ["Query", "Mutation", "Subscription", "User", "Workspace", "ApiToken",
                      "AuditEntry", "Invitation", "WorkspaceMember", "WorkspaceMembership"]:
            ty = gql(s, '{ __type(name: "%s") { fields { name description } } }' % tname)[2]
            for f in ty["data"]["__type"]["fields"]:
                t.true(f["description"], f"{tname}.{f['name']} has no description")
        # a bad credential is refused even for introspection
        status, _, body = gql(s, "{ __typename }", token="nope.nope.nope")
        t.eq(status, 401, body)
        status, _, body = gql(s, "{ __typename }", headers={"Authorization": "Basic eDp5"})
        t.eq(status, 401, body)
        t.eq(ok(t, gql(s, "{ __typename }", token=token))["__typename"], "Query")


# ---------------------------------------------------------------- the schema at work

@test
def every_query_and_mutation_works_and_is_audited(t):
    with Slipway() as s:
        people = team(s)
        a, b = people["A"], people["B"]
        d = ok(t, gql(s, "{ workspaces { id name personal suspended createdAt members { id } } }",
                      token=a[0]))
        team_x = [w for w in d["workspaces"] if w["id"] == "team-x"][0]
        t.eq((team_x["name"], team_x["personal"], team_x["suspended"]), ("Team X", False, False))
        t.true(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", team_x["createdAt"]),
               team_x["createdAt"])
        t.eq(sorted(m["id"] for m in team_x["members"]), sorted([a[1], b[1]]))
        d = ok(t, gql(s, "{ me { workspaces { workspace role } } }", token=b[0]))
        t.true({"workspace": "team-x", "role": "USER"} in d["me"]["workspaces"], d)
        d = ok(t, gql(s, 'mutation { updateWorkspace(input:{name:"Team Ex"}) { id name } }',
                      token=a[0], ws="team-x"))
        t.eq(d["updateWorkspace"], {"id": "team-x", "name": "Team Ex"})
        d = ok(t, gql(s, "mutation($u:ID!){ updateMemberRole(input:{userId:$u, role:ADMIN}) "
                         "{ id email name role joinedAt } }", {"u": b[1]}, token=a[0],
                      ws="team-x"))
        t.eq((d["updateMemberRole"]["id"], d["updateMemberRole"]["role"]), (b[1], "ADMIN"))
        d = ok(t, gql(s, '{ workspace { invitations { email role acceptedAt createdAt expiresAt '
                         'token } } }', token=b[0], ws="team-x"))
        inv = d["workspace"]["invitations"][0]
        t.eq((inv["email"], inv["role"], inv["token"]), (b[2], "USER", None),
             "the token is never shown again")
        t.true(inv["acceptedAt"] is not None, inv)
        d = ok(t, gql(s, "mutation($u:ID!){ removeMember(userId:$u) }", {"u": b[1]},
                      token=a[0], ws="team-x"))
        t.eq(d["removeMember"], True)
        d = ok(t, gql(s, 'mutation { createApiToken(name:"ci") { id name prefix secret '
                         'createdAt expiresAt lastUsedAt } }', token=a[0]))
        tok = d["createApiToken"]
        t.eq((tok["expiresAt"], tok["lastUsedAt"]), (None, None))
        t.true(tok["secret"].startswith(tok["prefix"]) and tok["prefix"].startswith("slp_"), tok)
        d = ok(t, gql(s, "mutation($i:ID!){ revokeApiToken(id:$i) }", {"i": tok["id"]},
                      token=a[0], ws="team-x"))
        t.eq(d["revokeApiToken"], True)
        entries = audit(s, a[0], "team-x")
        seen = [(e["action"], e["outcome"], e["actorId"]) for e in entries]
        for want in [("workspace.create", "OK", a[1]), ("member.invite", "OK", a[1]),
                     ("member.join", "OK", b[1]), ("workspace.update", "OK", a[1]),
                     ("member.role", "OK", a[1]), ("member.remove", "OK", a[1]),
                     ("token.revoke", "OK", a[1])]:
            t.true(want in seen, f"{want} missing from {seen}")
        t.true(all(e["workspace"] == "team-x" for e in entries), entries)
        t.true(all(tok["secret"] not in json.dumps(e) for e in entries), "a secret was audited")
        d = ok(t, gql(s, "mutation { deleteWorkspace }", token=a[0], ws="team-x"))
        t.eq(d["deleteWorkspace"], True)
        status, _, body = gql(s, "{ workspace { id } }", token=a[0], ws="team-x")
        t.eq((status, code_of(body)), (403, "FORBIDDEN"), "gone")
        d = ok(t, gql(s, "{ workspace { id personal } }", token=a[0]))
        t.eq(d["workspace"]["personal"], True, "no header: the personal workspace")
        status, _, body = gql(s, "mutation { deleteWorkspace }", token=a[0])
        t.eq(code_of(body), "CONFLICT", body)
        status, _, body = gql(s, 'mutation { createWorkspace(input:{id:"team-y", name:"Y"}) '
                                 '{ id } }', token=a[0])
        status, _, body = gql(s, 'mutation { createWorkspace(input:{id:"team-y", name:"Y"}) '
                                 '{ id } }', token=b[0])
        t.eq((status, code_of(body)), (200, "CONFLICT"), body)
        t.true("team-y" in body["errors"][0]["message"], body)
        t.eq(body["errors"][0]["path"], ["createWorkspace"])


@test
def authorization_per_resolver(t):
    with Slipway() as s:
        people = team(s)
        a, b, c = people["A"], people["B"], people["C"]
        admin_only = [
            ("auditLog", "{ auditLog { id } }", None),
            ("invitations", "{ workspace { invitations { id } } }", None),
            ("updateWorkspace", 'mutation { updateWorkspace(input:{name:"no"}) { id } }', None),
            ("deleteWorkspace", "mutation { deleteWorkspace }", None),
            ("inviteMember", 'mutation { inviteMember(input:{email:"z@example.test"}) { id } }',
             None),
            ("removeMember", "mutation($u:ID!){ removeMember(userId:$u) }", {"u": a[1]}),
            ("updateMemberRole", "mutation($u:ID!){ updateMemberRole(input:{userId:$u, "
                                 "role:USER}) { id } }", {"u": a[1]}),
        ]
        for name, doc, variables in admin_only:
            status, _, body = gql(s, doc, variables, token=b[0], ws="team-x")
            t.eq(status, 200, f"{name}: {body}")
            t.eq(code_of(body), "FORBIDDEN", f"{name} as USER: {body}")
            t.true("ADMIN" in body["errors"][0]["message"], body)
        open_to_members = [
            "{ me { id workspaces { workspace } } }",
            "{ workspace { id name members { id role } } }",
            "{ workspaces { id } }",
            "{ apiTokens { id } }",
        ]
        for doc in open_to_members:
            ok(t, gql(s, doc, token=b[0], ws="team-x"), doc)
        d = ok(t, gql(s, 'mutation { createApiToken(name:"b") { id } }', token=b[0],
                      ws="team-x"))
        ok(t, gql(s, "mutation($i:ID!){ revokeApiToken(id:$i) }",
                  {"i": d["createApiToken"]["id"]}, token=b[0], ws="team-x"))
        # a token is its owner's alone
        d = ok(t, gql(s, 'mutation { createApiToken(name:"a") { id } }', token=a[0]))
        status, _, body = gql(s, "mutation($i:ID!){ revokeApiToken(id:$i) }",
                              {"i": d["createApiToken"]["id"]}, token=b[0])
        t.eq(code_of(body), "NOT_FOUND", body)
        # the USER's refused attempts are in the log, as denied
        entries = audit(s, a[0], "team-x")
        denied = {e["action"] for e in entries if e["outcome"] == "DENIED" and e["actorId"] == b[1]}
        for want in ["workspace.update", "workspace.delete", "member.invite", "member.remove",
                     "member.role"]:
            t.true(want in denied, f"{want} not audited as denied: {denied}")
        # someone outside the workspace: the whole request is refused, for every operation
        for _, doc, variables in admin_only:
            status, _, body = gql(s, doc, variables, token=c[0], ws="team-x")
            t.eq((status, code_of(body)), (403, "FORBIDDEN"), f"{doc}: {body}")
        for doc in open_to_members:
            status, _, body = gql(s, doc, token=c[0], ws="team-x")
            t.eq((status, code_of(body)), (403, "FORBIDDEN"), f"{doc}: {body}")
            t.true("not a member of workspace team-x" in body["errors"][0]["message"], body)
        status, _, body = gql(s, "{ me { id } }", token=c[0], ws="no-such-workspace")
        t.eq(status, 403, body)
        status, _, body = gql(s, "{ me { id } }", token=c[0], ws="x" * 100)
        t.eq((status, code_of(body)), (400, "BAD_USER_INPUT"), body)
        t.true("X-Slipway-Workspace" in body["errors"][0]["message"], body)


@test
def removed_member_is_denied_on_the_next_request(t):
    with Slipway() as s:
        people = team(s)
        a, b = people["A"], people["B"]
        ok(t, gql(s, "{ workspace { id } }", token=b[0], ws="team-x"), "while a member")
        ok(t, gql(s, "mutation($u:ID!){ removeMember(userId:$u) }", {"u": b[1]}, token=a[0],
                  ws="team-x"))
        status, _, body = gql(s, "{ workspace { id } }", token=b[0], ws="team-x")
        t.eq((status, code_of(body)), (403, "FORBIDDEN"), body)
        ok(t, gql(s, "{ workspace { id } }", token=b[0]), "the personal workspace still works")
        # the last ADMIN stays
        status, _, body = gql(s, "mutation($u:ID!){ removeMember(userId:$u) }", {"u": a[1]},
                              token=a[0], ws="team-x")
        t.eq(code_of(body), "CONFLICT", body)
        # an invitation is for its email only, and only once
        inv = ok(t, gql(s, "mutation($e:String!){ inviteMember(input:{email:$e, role:ADMIN}) "
                           "{ token } }", {"e": people["C"][2]}, token=a[0], ws="team-x"))
        tk = inv["inviteMember"]["token"]
        status, _, body = gql(s, "mutation($t:String!){ acceptInvitation(token:$t) { role } }",
                              {"t": tk}, token=b[0])
        t.eq(code_of(body), "FORBIDDEN", body)
        d = ok(t, gql(s, "mutation($t:String!){ acceptInvitation(token:$t) { workspace role } }",
                      {"t": tk}, token=people["C"][0]))
        t.eq(d["acceptInvitation"], {"workspace": "team-x", "role": "ADMIN"})
        status, _, body = gql(s, "mutation($t:String!){ acceptInvitation(token:$t) { role } }",
                              {"t": tk}, token=people["C"][0])
        t.eq(code_of(body), "CONFLICT", body)
        status, _, body = gql(s, 'mutation { acceptInvitation(token:"nope") { role } }',
                              token=people["C"][0])
        t.eq(code_of(body), "NOT_FOUND", body)


@test
def api_token_from_the_api_authenticates_until_revoked(t):
    with Slipway() as s:
        token, uid, _ = user(s)
        d = ok(t, gql(s, 'mutation { createApiToken(name:"laptop", expiresInDays: 30) '
                         '{ id secret expiresAt } }', token=token))
        pat = d["createApiToken"]["secret"]
        t.true(d["createApiToken"]["expiresAt"] is not None, d)
        t.eq(ok(t, gql(s, "{ me { id } }", token=pat))["me"]["id"], uid, "the PAT works")
        listed = ok(t, gql(s, "{ apiTokens { id name secret lastUsedAt } }", token=pat))
        t.eq(len(listed["apiTokens"]), 1)
        t.eq(listed["apiTokens"][0]["secret"], None, "the secret is shown once only")
        t.true(listed["apiTokens"][0]["lastUsedAt"] is not None, listed)
        ok(t, gql(s, "mutation($i:ID!){ revokeApiToken(id:$i) }",
                  {"i": d["createApiToken"]["id"]}, token=pat))
        status, _, body = gql(s, "{ me { id } }", token=pat)
        t.eq((status, code_of(body)), (401, "UNAUTHENTICATED"), body)
        ok(t, gql(s, "{ me { id } }", token=token), "the session is unaffected")


@test
def hostile_text_arguments_get_bad_user_input(t):
    # 1 MiB strings reach the resolvers only past the default 512 KiB request limit
    with Slipway(config="gateway.graphql_max_body = 4MiB\n") as s:
        token, _, _ = user(s)
        sql = "x'); DROP TABLE users; --"
        d = ok(t, gql(s, "mutation($n:String!){ createWorkspace(input:{id:\"sq\", name:$n}) "
                         "{ name } }", {"n": sql}, token=token))
        t.eq(d["createWorkspace"]["name"], sql, "stored as text, verbatim")
        d = ok(t, gql(s, "mutation($n:String!){ createApiToken(name:$n) { name } }",
                      {"n": "\"; DELETE FROM api_tokens; --"}, token=token))
        big = "x" * (1 << 20)
        cases = [
            ("mutation($v:ID!){ createWorkspace(input:{id:$v, name:\"n\"}) { id } }", sql,
             "input.id"),
            ("mutation($v:ID!){ createWorkspace(input:{id:$v, name:\"n\"}) { id } }", "Upper",
             "input.id"),
            ("mutation($v:ID!){ createWorkspace(input:{id:$v, name:\"n\"}) { id } }", "-lead",
             "input.id"),
            ("mutation($v:ID!){ createWorkspace(input:{id:$v, name:\"n\"}) { id } }", "a" * 64,
             "input.id"),
            ("mutation($v:ID!){ createWorkspace(input:{id:$v, name:\"n\"}) { id } }", big,
             "input.id"),
            ("mutation($v:String!){ createWorkspace(input:{id:\"ok\", name:$v}) { id } }", big,
             "input.name"),
            ("mutation($v:String!){ createWorkspace(input:{id:\"ok\", name:$v}) { id } }", "",
             "input.name"),
            ("mutation($v:String!){ createWorkspace(input:{id:\"ok\", name:$v}) { id } }",
             "a\u0000b", "input.name"),
            ("mutation($v:String!){ updateWorkspace(input:{name:$v}) { id } }", big,
             "input.name"),
            ("mutation($v:String!){ createApiToken(name:$v) { id } }", big, "name"),
            ("mutation($v:String!){ createApiToken(name:$v) { id } }", "tab\tok\nnot", "name"),
            ("mutation($v:ID!){ revokeApiToken(id:$v) }", big, "id"),
            ("mutation($v:ID!){ removeMember(userId:$v) }", big, "userId"),
            ("mutation($v:String!){ inviteMember(input:{email:$v}) { id } }", big,
             "input.email"),
            ("mutation($v:String!){ inviteMember(input:{email:$v}) { id } }", "no-at-sign",
             "input.email"),
            ("mutation($v:String!){ acceptInvitation(token:$v) { role } }", big, "token"),
        ]
        for doc, value, field in cases:
            status, _, body = gql(s, doc, {"v": value}, token=token)
            t.eq(status, 200, f"{field} = {value[:20]!r}: {body if len(str(body)) < 500 else ''}")
            t.eq(code_of(body), "BAD_USER_INPUT", f"{field} = {value[:20]!r}: {str(body)[:300]}")
            t.true(body["errors"][0]["message"].startswith(field),
                   f"the message names {field}: {body['errors'][0]['message']}")
            t.eq(body["errors"][0]["path"], [doc.split("{ ")[1].split("(")[0]], body)
        for days in (0, -1, 3651):
            status, _, body = gql(s, "mutation($d:Int){ createApiToken(name:\"x\", "
                                     "expiresInDays:$d) { id } }", {"d": days}, token=token)
            t.eq(code_of(body), "BAD_USER_INPUT", body)
            t.true("expiresInDays" in body["errors"][0]["message"], body)
        for n in (0, 1001):
            status, _, body = gql(s, "query($n:Int){ auditLog(limit:$n) { id } }", {"n": n},
                                  token=token)
            t.eq(code_of(body), "BAD_USER_INPUT", body)
            t.true("limit" in body["errors"][0]["message"], body)
        ok(t, gql(s, "{ me { id } }", token=token), "still serving")


@test
def limits_give_errors_not_crashes(t):
    conf = ("gateway.graphql_max_depth = 12\n"
            "gateway.graphql_max_aliases = 3\n"
            "gateway.graphql_max_field_depth = 4\n"
            "gateway.graphql_max_cost = 50\n"
            "gateway.graphql_max_tokens = 400\n"
            "gateway.graphql_max_bytes = 4KiB\n"
            "gateway.graphql_max_body = 16KiB\n")
    with Slipway(config=conf) as s:
        token, _, _ = user(s)
        wide = ("{ workspace { id name personal suspended createdAt"
                " members { id email name role joinedAt }"
                " invitations { id email role createdAt expiresAt acceptedAt token } }"
                " me { id name email avatarUrl workspaces { workspace role } }"
                " workspaces { id name personal suspended createdAt"
                " members { id email name role joinedAt } }"
                " apiTokens { id name prefix createdAt expiresAt lastUsedAt secret }"
                " auditLog { id at actorId workspace action target outcome detail } }")
        cases = [
            ("{ me { id } x1: me { id } x2: me { id } x3: me { id } x4: me { id } }",
             "max_aliases"),
            ("{ me { workspaces { workspace role } } workspace { members { id } } }", None),
            (wide, "max_cost"),
            ("{ " + "a { " * 40 + "b" + " }" * 41, "max_depth"),
            ("{ " + "a " * 450 + "}", "max_tokens"),
            ("{ me { id } }" + " " * 5000, "max_bytes"),
            ("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }",
             "max_field_depth"),
        ]
        for doc, limit in cases:
            status, _, body = gql(s, doc, token=token, accept=GQL_JSON)
            if limit is None:
                t.eq(status, 200, body)
                continue
            t.eq(status, 400, f"{limit}: {str(body)[:300]}")
            t.eq(code_of(body), "QUERY_TOO_COMPLEX", f"{limit}: {body}")
            t.true(limit in body["errors"][0]["message"], f"{limit}: {body}")
        status, _, _ = gql(s, None, token=token, raw=json.dumps({"query": "{ me { id } }",
                                                                 "variables": {"x": "y" * 20000}}))
        t.eq(status, 413, "a body over gateway.graphql_max_body")
        ok(t, gql(s, "{ me { id } }", token=token), "still serving")


@test
def config_keys_list_the_graphql_limits(t):
    p = subprocess.run([BIN, "config", "keys"], capture_output=True, text=True, timeout=60)
    t.eq(p.returncode, 0, p.stderr)
    for key in ["gateway.graphql_max_bytes", "gateway.graphql_max_tokens",
                "gateway.graphql_max_depth", "gateway.graphql_max_aliases",
                "gateway.graphql_max_field_depth", "gateway.graphql_max_cost",
                "gateway.graphql_cache_entries", "gateway.graphql_max_body",
                "gateway.graphql_ws_init_timeout", "gateway.graphql_ws_send_buffer",
                "gateway.graphql_ws_max_operations"]:
        t.true(key in p.stdout, f"{key} missing from slipway config keys")
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                            "configuration.md")).read()
    t.true(p.stdout.strip() in doc, "docs/configuration.md is not the output of config keys")


@test
def introspection_builds_the_served_schema_in_graphql_js(t):
    """What GraphiQL and graphql-codegen do: the standard introspection query, without a
    token, then graphql-js buildClientSchema + validateSchema; the client schema must print
    exactly as schema/*.graphql does."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    query = subprocess.run(["node", os.path.join(root, "tests/gql/js-run.mjs"),
                            "--introspection-query"], capture_output=True, text=True,
                           timeout=60, cwd=root)
    t.eq(query.returncode, 0, query.stderr)
    with Slipway() as s:
        status, _, body = gql(s, query.stdout)
        t.eq(status, 200, body)
    sdl = sorted(os.path.join(root, "schema", f) for f in os.listdir(os.path.join(root, "schema"))
                 if f.endswith(".graphql"))
    check = subprocess.run(["node", os.path.join(root, "tests/gql/client-schema.mjs"), *sdl],
                           input=json.dumps(body), capture_output=True, text=True, timeout=60,
                           cwd=root)
    t.eq((check.returncode, check.stdout.strip()[:4]), (0, "same"),
         check.stdout[-3000:] + check.stderr[-2000:])


if __name__ == "__main__":
    run()
