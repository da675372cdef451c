#!/usr/bin/env python3
"""Differential tests of slipway's GraphQL engine against graphql-js, the reference
implementation. Each file tests/gql/cases/*.json holds a schema (SDL), a root value (JSON) and
requests; both engines answer every request with no resolvers bound, and the answers must agree:

  - "data": present in both or in neither, and deep-equal, member order included (an Int and a
    Float compare by value: 1 and 1.0 are the same JSON number; true is not 1);
  - a response without data (a document that does not parse or validate, or a request error):
    both have errors, and the set of error locations is the same; messages are not compared,
    because slipway words them its own way;
  - a response with data: the same number of errors and the same set of (path, locations);
  - slipway's response is well-formed: only data/errors/extensions, "errors" non-empty when
    present, every error with a message.

A case may state what graphql-js must answer, which checks the case itself: "valid": false
(true) means the response has no data (has data). "introspection": true in place of "query"
sends the query GraphiQL sends (graphql-js getIntrospectionQuery() with every option on). A
case's own "data" replaces the file's root value. A file may give "schemaFiles" (globs relative
to the repository, concatenated in name order, as bench/graphql.sh does) in place of "schema".

tests/gql/known-differences.json exempts single cases, each with its reason, and lists what
applies to every case (also with reasons): rules ("built-in-descriptions" takes the
descriptions of built-in types and directives as equal whatever their text) and lists whose
order does not count.

After the hand-written cases comes a generated set (tests/gql/generate.py): random valid and
invalid requests with random root values on the schemas of generate.SCHEMAS, named
"generated:<schema>:<seed>:<i>", compared the same way. A failing one prints the request as a
case to paste into cases/*.json, and both answers.

Usage:
  tests/gql/differential.py [--js-only] [-v] [--generated N] [--seed S] [FILTER]
    --js-only      run graphql-js alone: every case answers and meets its "valid" (no slipway)
    -v             print both responses for every case, not only failing ones
    --generated N  N generated cases in all, spread over the schemas (default
                   DEFAULT_GENERATED; 0: none)
    --seed S       the generated set's seed (default DEFAULT_SEED)
    FILTER         only cases whose "file:name" contains it ("generated:" for the
                   generated set alone, "generated:nulls:7:" for one schema and seed)

Environment: GQL_RUN (the gql-run binary; default $SLIPWAY_BUILD/tests/gql-run, else
build/asan/tests/gql-run), NODE (node). Prints TAP, one test per case; exits 1 on a failure.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import generate  # noqa: E402  (tests/gql/generate.py)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASES_DIR = os.path.join(HERE, "cases")
JS_RUN = os.path.join(HERE, "js-run.mjs")
KNOWN = os.path.join(HERE, "known-differences.json")
NODE = os.environ.get("NODE", "node")
BATCH_TIMEOUT = 300
ONE_TIMEOUT = 60
# The generated set of the default run (make test): about 20 s of the suite's time under ASan
# on two cores (see README.md). Change the seed only with the cases of the new one agreeing.
DEFAULT_GENERATED = 2000
DEFAULT_SEED = 1
GENERATED_BATCH = 500  # requests per runner process (a crash reruns a batch one by one)


class Obj(list):
    """A JSON object as its (key, value) pairs in document order, so order can be compared."""


def no_constant(name):
    raise ValueError(f"{name} is not JSON")


def load_ordered(text):
    return json.loads(text, object_pairs_hook=Obj, parse_constant=no_constant)


# Types and directives every schema has, whose descriptions each implementation writes in its
# own words (the specification gives them none).
BUILTIN_TYPES = {"String", "Int", "Float", "Boolean", "ID", "__Schema", "__Type", "__TypeKind",
                 "__Field", "__InputValue", "__EnumValue", "__Directive", "__DirectiveLocation"}
BUILTIN_DIRECTIVES = {"skip", "include", "deprecated", "specifiedBy"}


def mask_builtin_descriptions(v, inside=False, key=None):
    """<v> with the descriptions of built-in types and directives, and of their fields,
    arguments and values, replaced by one marker."""
    if isinstance(v, Obj):
        name = get(v, "name")
        here = inside or name in BUILTIN_TYPES or (key == "directives" and
                                                   name in BUILTIN_DIRECTIVES)
        return Obj((k, "<built-in description>" if k == "description" and here else
                    mask_builtin_descriptions(x, here, k)) for k, x in v)
    if isinstance(v, list):
        return [mask_builtin_descriptions(x, inside, key) for x in v]
    return v


RULES = {"built-in-descriptions": mask_builtin_descriptions}


def get(obj, key, default=None):
    if isinstance(obj, Obj):
        for k, v in obj:
            if k == key:
                return v
    return default


def has(obj, key):
    return isinstance(obj, Obj) and any(k == key for k, _ in obj)


def gql_run_path():
    if os.environ.get("GQL_RUN"):
        return os.environ["GQL_RUN"]
    build = os.environ.get("SLIPWAY_BUILD") or os.path.join(ROOT, "build", "asan")
    return os.path.join(build, "tests", "gql-run")


# ------------------------------------------------------------------------------ comparison

def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Obj):
        return "object"
    return "array"


def canonical(v):
    """A text for sorting values whose order does not count."""
    if isinstance(v, Obj):
        return "{" + ",".join(json.dumps(k) + ":" + canonical(x) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    return json.dumps(v)


def short(v, limit=160):
    text = canonical(v)
    return text if len(text) <= limit else text[:limit] + "…"


def compare(a, b, path, pattern, unordered, out):
    """Appends to <out> each place where reference <a> and slipway's <b> differ. <path> names
    the place for people ("data.hero.friends[2]"), <pattern> for the allow-list ("[]" for any
    index)."""
    if len(out) >= 8:
        return
    ka, kb = kind(a), kind(b)
    if ka != kb:
        out.append(f"{path}: graphql-js {short(a)}, slipway {short(b)}")
    elif ka == "object":
        keys_a, keys_b = [k for k, _ in a], [k for k, _ in b]
        if keys_a != keys_b:
            out.append(f"{path}: members graphql-js {keys_a}, slipway {keys_b}")
        mb = dict(b)
        for k, v in a:
            if k in mb:
                compare(v, mb[k], f"{path}.{k}", f"{pattern}.{k}", unordered, out)
    elif ka == "array":
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items in graphql-js, {len(b)} in slipway: "
                       f"graphql-js {short(a)}, slipway {short(b)}")
            return
        if pattern in unordered:
            a, b = sorted(a, key=canonical), sorted(b, key=canonical)
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", f"{pattern}[]", unordered, out)
    elif ka == "number" and (isinstance(a, float) or isinstance(b, float)):
        # JSON numbers compare by value: JavaScript writes some doubles with every digit
        if float(a) != float(b):
            out.append(f"{path}: graphql-js {short(a)}, slipway {short(b)}")
    elif a != b:
        out.append(f"{path}: graphql-js {short(a)}, slipway {short(b)}")


def error_places(resp):
    """[(path, locations)] of each error of <resp>."""
    places = []
    for e in get(resp, "errors") or []:
        path = tuple(get(e, "path") or ())
        locs = tuple((get(l, "line"), get(l, "column")) for l in get(e, "locations") or [])
        places.append((path, locs))
    return places


def fmt_place(p):
    path, locs = p
    where = ",".join(f"{l}:{c}" for l, c in locs) or "no location"
    return f"[{'.'.join(str(x) for x in path) or 'no path'} @ {where}]"


def well_formed(resp):
    problems = []
    if not isinstance(resp, Obj):
        return ["the response is not a JSON object"]
    extra = [k for k, _ in resp if k not in ("data", "errors", "extensions")]
    if extra:
        problems.append(f"unexpected response members {extra}")
    if has(resp, "errors"):
        errs = get(resp, "errors")
        if not isinstance(errs, list) or isinstance(errs, Obj) or not errs:
            problems.append("\"errors\" is present but not a non-empty list")
        else:
            for e in errs:
                if not isinstance(get(e, "message"), str) or not get(e, "message"):
                    problems.append(f"an error without a message: {short(e)}")
    if not has(resp, "data") and not has(resp, "errors"):
        problems.append("neither data nor errors")
    return problems


def differences(js, c, unordered, rules):
    out = well_formed(c)
    if out:
        return out
    for rule in rules:
        js = Obj((k, rule(v) if k == "data" else v) for k, v in js)
        c = Obj((k, rule(v) if k == "data" else v) for k, v in c)
    if has(js, "data") != has(c, "data"):
        who = "graphql-js" if has(js, "data") else "slipway"
        return [f"only {who} has \"data\" (graphql-js errors {short(get(js, 'errors'))}, "
                f"slipway errors {short(get(c, 'errors'))})"]
    if has(js, "data"):
        compare(get(js, "data"), get(c, "data"), "data", "data", unordered, out)
        pj, pc = error_places(js), error_places(c)
        if len(pj) != len(pc) or set(pj) != set(pc):
            out.append(f"errors: graphql-js {len(pj)} {' '.join(map(fmt_place, pj))}; "
                       f"slipway {len(pc)} {' '.join(map(fmt_place, pc))}")
        return out
    # No data: a parse, validation or request error on both sides. Locations only.
    lj = {l for _, locs in error_places(js) for l in locs}
    lc = {l for _, locs in error_places(c) for l in locs}
    if lj != lc:
        out.append(f"error locations: graphql-js {sorted(lj)}, slipway {sorted(lc)} "
                   f"(graphql-js says {short([get(e, 'message') for e in get(js, 'errors')], 400)})")
    return out


# ------------------------------------------------------------------------------ running

def split_lines(text):
    """Lines ended by LF only: a JSON string may hold U+2028 and friends unescaped, which
    str.splitlines() would take for line ends."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def run_lines(argv, requests, timeout):
    """Runs <argv> with one request per stdin line; returns (output lines, exit code, stderr)."""
    text = "".join(json.dumps(r) + "\n" for r in requests)
    try:
        p = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return split_lines(out), "timeout", f"no answer in {timeout} s"
    return split_lines(p.stdout), p.returncode, p.stderr


def run_js(schema_path, requests):
    lines, rc, err = run_lines([NODE, JS_RUN, schema_path], requests, BATCH_TIMEOUT)
    if rc != 0 or len(lines) != len(requests):
        raise RuntimeError(f"js-run exited {rc} after {len(lines)} of {len(requests)} answers: "
                           f"{err.strip()[-2000:]}")
    return lines


def run_c(gql_run, schema_path, requests):
    """slipway's answers, one (line or None, problem) per request. A run that crashes, leaks
    (sanitizer exit status) or hangs is repeated one request per process to find which."""
    lines, rc, err = run_lines([gql_run, schema_path], requests, BATCH_TIMEOUT)
    if rc == 0 and len(lines) == len(requests):
        return [(line, None) for line in lines]
    results = []
    for r in requests:
        one, rc, err = run_lines([gql_run, schema_path], [r], ONE_TIMEOUT)
        if rc == 0 and len(one) == 1:
            results.append((one[0], None))
        else:
            tail = "\n".join(err.strip().splitlines()[-30:])
            results.append((one[0] if one else None, f"gql-run exited {rc}:\n{tail}"))
    return results


def introspection_query():
    p = subprocess.run([NODE, JS_RUN, "--introspection-query"], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"js-run --introspection-query: {p.stderr.strip()}")
    return p.stdout


def load_known():
    """({"file:case": entry}, [functions applied to both answers' data in every case],
    [list paths whose order never counts])."""
    with open(KNOWN) as f:
        known = json.load(f)
    rules, unordered = [], []
    for entry in known.get("everywhere", []):
        if not entry.get("reason", "").strip() or not (entry.get("rule") in RULES or
                                                       entry.get("unordered")):
            raise ValueError(f"known-differences.json: bad 'everywhere' entry {entry}")
        if "rule" in entry:
            rules.append(RULES[entry["rule"]])
        unordered += entry.get("unordered", [])
    table = {}
    for entry in known.get("differences", []):
        key = f"{entry['file']}:{entry['case']}"
        if not entry.get("reason", "").strip():
            raise ValueError(f"known-differences.json: {key} has no reason")
        table[key] = entry
    return table, rules, unordered


def load_file(path, iq):
    with open(path) as f:
        spec = json.load(f)
    if "schemaFiles" in spec:
        texts = []
        for pattern in spec["schemaFiles"]:
            names = sorted(glob.glob(os.path.join(ROOT, pattern)))
            if not names:
                raise ValueError(f"{path}: no file matches {pattern}")
            for name in names:
                with open(name) as f:
                    texts.append(f.read())
        spec["schema"] = "\n".join(texts)
    names = set()
    requests = []
    for case in spec["cases"]:
        if case["name"] in names:
            raise ValueError(f"{path}: two cases named {case['name']!r}")
        names.add(case["name"])
        req = {"data": case.get("data", spec.get("data")),
               "query": iq if case.get("introspection") else case["query"]}
        for k in ("variables", "operationName"):
            if k in case:
                req[k] = case[k]
        requests.append(req)
    return spec, requests


def expectation_problem(case, js):
    if "valid" in case and case["valid"] != has(js, "data"):
        want = "data" if case["valid"] else "no data"
        return [f"the case expects {want} from graphql-js, which answered {short(js, 400)}"]
    return []


def diag(text):
    for line in str(text).splitlines() or [""]:
        print(f"#   {line}")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, name, directive=""):
        self.n += 1
        print(f"ok {self.n} - {name}{directive}", flush=True)

    def not_ok(self, name, why):
        self.n += 1
        self.failed += 1
        print(f"not ok {self.n} - {name}", flush=True)
        for w in why:
            diag(w)


def run_file(tap, fname, spec, requests, js_lines, c_results, allowed, verbose):
    known, rules, unordered = allowed
    for i, case in enumerate(spec["cases"]):
        name = f"{fname}:{case['name']}"
        js = load_ordered(js_lines[i])
        why = expectation_problem(case, js)
        c = None
        if c_results is not None and not why:
            line, problem = c_results[i]
            if problem:
                why.append(problem)
            if line is not None:
                try:
                    c = load_ordered(line)
                except ValueError as e:
                    why.append(f"slipway's answer is not JSON ({e}): {line[:300]}")
            elif not problem:
                why.append("slipway gave no answer")
            if c is not None and not problem:
                entry = known.get(name, {})
                if entry and not entry.get("unordered"):
                    tap.ok(name, f" # SKIP known difference: {entry['reason']}")
                    continue
                why += differences(js, c, set(entry.get("unordered", []) + unordered), rules)
        if why and case.get("generated"):
            tap.not_ok(name, why + generated_details(case, requests[i], js, c))
        elif why:
            why.append(f"query: {short(requests[i].get('query'), 300)}")
            if "variables" in requests[i]:
                why.append(f"variables: {json.dumps(requests[i]['variables'])}")
            why.append(f"graphql-js: {short(js, 1500)}")
            if c is not None:
                why.append(f"slipway:    {short(c, 1500)}")
            tap.not_ok(name, why)
        else:
            tap.ok(name)
            if verbose:
                diag(f"graphql-js: {short(js, 1500)}")
                if c is not None:
                    diag(f"slipway:    {short(c, 1500)}")


# ------------------------------------------------------------------------------ generated set

def generated_details(case, req, js, c):
    """What a failing generated case prints: the request as a hand-written case, the document
    as it reads, and both answers."""
    pasted = {"name": f"generated {case['name']} ({case['about']})", "query": req["query"]}
    for k in ("variables", "operationName"):
        if k in req:
            pasted[k] = req[k]
    pasted["data"] = req["data"]
    pasted["valid"] = has(js, "data")
    return [f"generated: {case['about']}",
            "as a case of cases/" + case["file"] + ".json:",
            json.dumps(pasted, ensure_ascii=False),
            "document:", req["query"].rstrip("\n"),
            f"graphql-js: {short(js, 6000)}",
            f"slipway:    {short(c, 6000)}" if c is not None else "slipway:    (no answer)"]


def load_generated(count, seed, only):
    """[(file name, spec, requests)] of the generated set, in batches of GENERATED_BATCH."""
    names = generate.SCHEMAS
    wanted = {}
    for i in range(count):
        schema = names[i % len(names)]
        if only in f"generated:{schema}:{seed}:{i}":
            wanted.setdefault(schema, []).append(i)
    if not wanted:
        return []
    with tempfile.TemporaryDirectory(prefix="slipway-gql-gen-") as tmp:
        gens = generate.generators(tmp, [n for n in names if n in wanted])
    out = []
    for schema, indexes in wanted.items():
        gen, _ = gens[schema]
        sdl, _ = generate.load_case_file(os.path.join(CASES_DIR, schema + ".json"))
        for start in range(0, len(indexes), GENERATED_BATCH):
            cases, requests = [], []
            for i in indexes[start:start + GENERATED_BATCH]:
                g = gen.case(seed, i)
                cases.append({"name": g["name"], "valid": g["valid"], "about": g["about"],
                              "generated": True, "file": schema})
                requests.append(g["request"])
            out.append((f"generated:{schema}", {"schema": sdl, "cases": cases}, requests))
    return out


def option(argv, name, default):
    """The integer value of "<name> N" in <argv> (removed from it), else <default>."""
    if name not in argv:
        return default
    i = argv.index(name)
    if i + 1 >= len(argv):
        raise SystemExit(f"{name} needs a number")
    value = int(argv[i + 1])
    del argv[i:i + 2]
    return value


def main(argv):
    started = time.monotonic()
    argv = list(argv)
    count = option(argv, "--generated", DEFAULT_GENERATED)
    seed = option(argv, "--seed", DEFAULT_SEED)
    js_only = "--js-only" in argv
    verbose = "-v" in argv
    rest = [a for a in argv if a not in ("--js-only", "-v")]
    only = rest[0] if rest else ""
    allowed = load_known()
    iq = introspection_query()
    gql_run = gql_run_path()

    files = sorted(f for f in os.listdir(CASES_DIR) if f.endswith(".json"))
    loaded = []
    for fname in files:
        spec, requests = load_file(os.path.join(CASES_DIR, fname), iq)
        keep = [i for i, c in enumerate(spec["cases"]) if only in f"{fname}:{c['name']}"]
        spec["cases"] = [spec["cases"][i] for i in keep]
        requests = [requests[i] for i in keep]
        if requests:
            loaded.append((fname, spec, requests))
    gen_started = time.monotonic()
    generated = load_generated(count, seed, only)
    gen_time = time.monotonic() - gen_started
    loaded += generated
    total = sum(len(r) for _, _, r in loaded)
    print(f"1..{total}", flush=True)
    if generated:
        print(f"# generated set: {sum(len(r) for _, _, r in generated)} of {count} cases, "
              f"seed {seed}, made in {gen_time:.1f} s", flush=True)
    if not js_only and not os.access(gql_run, os.X_OK):
        print(f"# no gql-run at {gql_run}: build it with make MODE=asan tools (or set GQL_RUN)")

    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="slipway-gql-diff-") as tmp:
        for fname, spec, requests in loaded:
            schema_path = os.path.join(tmp, fname.replace(".json", ".graphql"))
            with open(schema_path, "w") as f:
                f.write(spec["schema"])
            try:
                js_lines = run_js(schema_path, requests)
            except Exception as e:  # the whole file fails, the suite goes on
                for case in spec["cases"]:
                    tap.not_ok(f"{fname}:{case['name']}", [str(e)])
                continue
            c_results = None
            if not js_only:
                if os.access(gql_run, os.X_OK):
                    c_results = run_c(gql_run, schema_path, requests)
                else:
                    c_results = [(None, f"no gql-run at {gql_run}")] * len(requests)
            run_file(tap, fname, spec, requests, js_lines, c_results, allowed, verbose)
    print(f"# {tap.n - tap.failed} of {tap.n} agree" if not js_only else
          f"# graphql-js answered {tap.n - tap.failed} of {tap.n} as the cases expect")
    print(f"# {time.monotonic() - started:.1f} s in all")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
