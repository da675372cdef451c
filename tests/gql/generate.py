#!/usr/bin/env python3
"""Generated requests for the GraphQL differential suite (tests/gql/differential.py).

From a schema (the introspection graphql-js gives of it, tests/gql/introspect.mjs) and a seed,
makes requests that both engines answer:

  - valid documents: random selections with aliases, repeated fields that merge, named
    fragments, inline fragments on abstract types, @skip/@include with literal and variable
    conditions, arguments as literals and variables of fitting types (lists, input objects,
    list coercion of single values, defaults), __typename, __schema and __type, several
    operations with an operationName;
  - invalid ones: a valid document with one mutation (an unknown field, a wrong argument
    type, a fragment cycle, conflicting aliases, a syntax error, ... see DOC_MUTATIONS), or
    valid documents with bad variable values (VAR_MUTATIONS);
  - a root value shaped by the document and the schema, with nulls, wrong-typed leaves,
    out-of-range ints and unknown __typename values sprinkled in, so that field errors and
    null propagation run too.

Everything is a function of (schema name, seed, index): case i of seed s on schema x comes from
random.Random("x:s:i"), so any one case can be made again on its own.

The generator keeps every valid document valid by construction. The one rule that needs care
is field merging (spec 5.3.2): a response key means one field, with one set of arguments and
one type, across the whole document (introspection types aside, where each selection set
names a field at most once), so whatever selection sets end up merged, they merge cleanly.

Usage (prints one request per line, as the runners read them):
  tests/gql/generate.py SCHEMA [--seed S] [--count N] [--index I] [--pretty]
SCHEMA is one of SCHEMAS (the name of a file of tests/gql/cases/).
"""
import glob
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE = os.environ.get("NODE", "node")
INTROSPECT = os.path.join(HERE, "introspect.mjs")

# The case files whose schema and data the generated set uses, in the order cases go round.
SCHEMAS = ["execution", "nulls", "variables", "introspection", "gateway"]

INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
BUILTIN_SCALARS = {"Int", "Float", "String", "Boolean", "ID"}
EXECUTABLE_LOCATIONS = {"QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION",
                        "FRAGMENT_SPREAD", "INLINE_FRAGMENT", "VARIABLE_DEFINITION"}


# ------------------------------------------------------------------------------ schema

def type_ref(j):
    """A type reference as "Name", ("!", inner) or ("[]", inner)."""
    if j["kind"] == "NON_NULL":
        return ("!", type_ref(j["ofType"]))
    if j["kind"] == "LIST":
        return ("[]", type_ref(j["ofType"]))
    return j["name"]


def type_text(t):
    if isinstance(t, str):
        return t
    return type_text(t[1]) + "!" if t[0] == "!" else "[" + type_text(t[1]) + "]"


def named(t):
    while not isinstance(t, str):
        t = t[1]
    return t


def non_null(t):
    return not isinstance(t, str) and t[0] == "!"


def is_list(t):
    return not isinstance(t, str) and t[0] == "[]"


class InputValue:
    def __init__(self, name, type_, default):
        self.name, self.type, self.default = name, type_, default

    @property
    def required(self):
        return non_null(self.type) and self.default is None


class FieldDef:
    def __init__(self, name, args, type_):
        self.name, self.args, self.type = name, args, type_


def input_values(items):
    return [InputValue(a["name"], type_ref(a["type"]), a.get("defaultValue")) for a in items or []]


class TypeDef:
    def __init__(self, j):
        self.name, self.kind = j["name"], j["kind"]
        self.fields = {f["name"]: FieldDef(f["name"], input_values(f["args"]), type_ref(f["type"]))
                       for f in j.get("fields") or []}
        self.possible = [p["name"] for p in j.get("possibleTypes") or []]
        self.values = [v["name"] for v in j.get("enumValues") or []]
        self.inputs = input_values(j.get("inputFields"))


class Directive:
    def __init__(self, j):
        self.name = j["name"]
        self.locations = set(j["locations"])
        self.args = input_values(j["args"])
        self.repeatable = j.get("isRepeatable", False)


TYPENAME = FieldDef("__typename", [], ("!", "String"))
SCHEMA_FIELD = FieldDef("__schema", [], ("!", "__Schema"))
TYPE_FIELD = FieldDef("__type", [InputValue("name", ("!", "String"), None)], "__Type")


class Schema:
    """What the generator needs to know of a schema, from graphql-js's introspection of it."""

    def __init__(self, intro):
        s = intro["__schema"]
        self.types = {t["name"]: TypeDef(t) for t in s["types"]}
        self.query = s["queryType"]["name"]
        self.mutation = (s.get("mutationType") or {}).get("name")
        self.subscription = (s.get("subscriptionType") or {}).get("name")
        self.directives = {d["name"]: Directive(d) for d in s["directives"]}
        self.field_names = {f for t in self.types.values() for f in t.fields} | {
            i.name for t in self.types.values() for i in t.inputs}
        self.composites = sorted(n for n, t in self.types.items()
                                 if t.kind in ("OBJECT", "INTERFACE", "UNION")
                                 and not n.startswith("__"))
        self.input_types = sorted(n for n, t in self.types.items()
                                  if t.kind in ("SCALAR", "ENUM", "INPUT_OBJECT"))

    def kind(self, name):
        return self.types[name].kind

    def possible(self, name):
        t = self.types[name]
        return {name} if t.kind == "OBJECT" else set(t.possible)

    def leaf(self, name):
        return self.kind(name) in ("SCALAR", "ENUM")

    def fields(self, parent):
        """The fields a selection on <parent> may name, meta-fields included."""
        out = dict(self.types[parent].fields)
        if parent == self.query:
            out["__schema"] = SCHEMA_FIELD
            out["__type"] = TYPE_FIELD
        return out

    def root(self, kind):
        return {"query": self.query, "mutation": self.mutation,
                "subscription": self.subscription}[kind]


def introspect(schema_path):
    """graphql-js's introspection of the SDL in <schema_path>, as JSON."""
    p = subprocess.run([NODE, INTROSPECT, schema_path], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"introspect.mjs {schema_path}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def load_case_file(path):
    """(SDL, root value) of a case file, "schemaFiles" read as differential.py reads them."""
    with open(path) as f:
        spec = json.load(f)
    if "schema" in spec:
        return spec["schema"], spec.get("data")
    texts = []
    for pattern in spec["schemaFiles"]:
        for name in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(name) as f:
                texts.append(f.read())
    return "\n".join(texts), spec.get("data")


# ------------------------------------------------------------------------------ documents

class Field:
    def __init__(self, name, fdef=None, parent=None):
        self.alias, self.name, self.fdef, self.parent = None, name, fdef, parent
        self.args, self.dirs, self.sels = [], [], None

    @property
    def key(self):
        return self.alias or self.name


class Spread:
    def __init__(self, name):
        self.name, self.dirs = name, []


class Inline:
    def __init__(self, on, sels):
        self.on, self.sels, self.dirs = on, sels, []


class Raw:
    """Text put into a document as is: how syntax errors get in."""

    def __init__(self, text):
        self.text = text


class Dir:
    def __init__(self, name, args=None):
        self.name, self.args = name, args or []


class VarDef:
    def __init__(self, name, type_, default=None):
        self.name, self.type, self.default, self.dirs = name, type_, default, []


class Op:
    def __init__(self, kind, name):
        self.kind, self.name = kind, name
        self.vars, self.dirs, self.sels = [], [], []
        self.uses, self.spreads = set(), set()
        self.shorthand = False


class Frag:
    def __init__(self, name, on):
        self.name, self.on = name, on
        self.dirs, self.sels = [], []
        self.uses, self.spreads = set(), set()
        self.done = False


class Doc:
    def __init__(self):
        self.ops, self.frags = [], []
        self.order = None  # definitions in print order; None: operations, then fragments

    def frag(self, name):
        return next(f for f in self.frags if f.name == name)

    def definitions(self):
        return self.order if self.order is not None else self.ops + self.frags


# Values are tuples: ("var", name) ("int", n) ("float", x) ("str", s) ("block", s)
# ("bool", b) ("null",) ("enum", name) ("list", [values]) ("obj", [(name, value)]) ("raw", text)

def value_key(v):
    """A text of <v> that is the same for values the field-merging rule takes as the same."""
    return print_value(v, block_ok=False)


# ------------------------------------------------------------------------------ printing

def gql_string(s, rng=None):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7f:
            out.append(f"\\u{o:04x}")
        elif o > 0x7e and rng is not None and rng.random() < 0.5:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def print_value(v, block_ok=True, rng=None):
    k = v[0]
    if k == "var":
        return "$" + v[1]
    if k == "int":
        return str(v[1])
    if k == "float":
        return repr(float(v[1]))
    if k == "str":
        return gql_string(v[1], rng)
    if k == "block":
        return '"""' + v[1] + '"""' if block_ok else gql_string(v[1])
    if k == "bool":
        return "true" if v[1] else "false"
    if k == "null":
        return "null"
    if k in ("enum", "raw"):
        return v[1]
    if k == "list":
        return "[" + ", ".join(print_value(x, block_ok, rng) for x in v[1]) + "]"
    return "{" + ", ".join(f"{n}: {print_value(x, block_ok, rng)}" for n, x in v[1]) + "}"


class Printer:
    """Prints a Doc, laid out at random (one line or many, commas, comments, CRLF), so that
    error locations fall on many lines and columns."""

    def __init__(self, rng):
        self.rng = rng
        self.compact = rng.random() < 0.2
        self.commas = rng.random() < 0.2
        self.comments = rng.random() < 0.1
        self.indent = rng.choice(["  ", "  ", "    ", "\t"])

    def doc(self, doc):
        parts = [self.definition(d) for d in doc.definitions()]
        sep = " " if self.compact else self.rng.choice(["\n\n", "\n"])
        text = sep.join(parts) + "\n"
        if self.rng.random() < 0.05:
            text = text.replace("\n", "\r\n")
        if self.rng.random() < 0.02:
            text = "\ufeff" + text
        return text

    def dirs(self, dirs):
        out = ""
        for d in dirs:
            out += " @" + d.name
            if d.args:
                out += "(" + ", ".join(f"{n}: {self.value(v)}" for n, v in d.args) + ")"
        return out

    def value(self, v):
        return print_value(v, True, self.rng)

    def definition(self, d):
        if isinstance(d, Frag):
            head = f"fragment {d.name} on {d.on}{self.dirs(d.dirs)}"
        elif d.shorthand:
            return self.selset(d.sels, 0)
        else:
            head = d.kind + (" " + d.name if d.name else "")
            if d.vars:
                head += "(" + ", ".join(self.vardef(v) for v in d.vars) + ")"
            head += self.dirs(d.dirs)
        return head + " " + self.selset(d.sels, 0)

    def vardef(self, v):
        text = f"${v.name}: {type_text(v.type)}"
        if v.default is not None:
            text += " = " + self.value(v.default)
        return text + self.dirs(v.dirs)

    def selset(self, sels, level):
        items = [self.selection(s, level + 1) for s in sels]
        if self.compact or (len(items) <= 2 and self.rng.random() < 0.3):
            return "{ " + (", " if self.commas else " ").join(items) + " }"
        pad = self.indent * (level + 1)
        lines = []
        for item in items:
            if self.comments and self.rng.random() < 0.2:
                lines.append(pad + "# " + self.rng.choice(["note", "a { comment }", "é"]))
            lines.append(pad + item + ("," if self.commas else ""))
        return "{\n" + "\n".join(lines) + "\n" + self.indent * level + "}"

    def selection(self, s, level):
        if isinstance(s, Raw):
            return s.text
        if isinstance(s, Spread):
            return "..." + s.name + self.dirs(s.dirs)
        if isinstance(s, Inline):
            on = f" on {s.on}" if s.on else ""
            return "..." + on + self.dirs(s.dirs) + " " + self.selset(s.sels, level)
        text = f"{s.alias}: {s.name}" if s.alias else s.name
        if s.args:
            text += "(" + ", ".join(f"{n}: {self.value(v)}" for n, v in s.args) + ")"
        text += self.dirs(s.dirs)
        if s.sels is not None:
            text += " " + self.selset(s.sels, level)
        return text


# ------------------------------------------------------------------------------ random values

WORDS = ["a", "R2-D2", "", " ", "héllo", "naïve", "日本", "line\nbreak", "tab\t", "quote \"q\"",
         "back\\slash", "ctl\u0001", "\u2028", "x" * 40, "null", "true", "0", "{}", "$v", "#"]
ASTRAL = ["🎉", "𝄞"]


def rand_string(rng, astral=True):
    if rng.random() < 0.5:
        return rng.choice(WORDS)
    chars = "abcXYZ019 _-\"\\\n\té日\u00a0"
    s = "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
    if astral and rng.random() < 0.2:
        s += rng.choice(ASTRAL)
    return s


def block_safe(s):
    """Whether <s> can be written as a block string as is."""
    return ('"""' not in s and "\\" not in s and not s.endswith('"')
            and all(c in "\t\n" or 0x20 <= ord(c) != 0x7f for c in s))


def rand_int(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randint(-20, 100)
    if r < 0.8:
        return rng.choice([0, -1, INT_MAX, INT_MIN, INT_MAX - 1, INT_MIN + 1])
    return rng.randint(INT_MIN, INT_MAX)


def rand_float(rng):
    r = rng.random()
    if r < 0.3:
        return round(rng.uniform(-100, 100), rng.randint(0, 4))
    if r < 0.5:
        return float(rng.randint(-1000, 1000))
    if r < 0.7:
        return rng.choice([0.0, -0.0, 0.1, 1.5, -2.25, 1e21, 1e-7, 5e-324, 1.7976931348623157e308,
                           0.30000000000000004, 123456789.125, 1e15, 2.5e-5])
    x = rng.uniform(-1, 1) * 10 ** rng.randint(-10, 25)
    # Not a whole number past 2^53 below 1e21: JSON.stringify writes it with all its digits
    # ("7189750598238163000"), which Python reads as an int that differs from the double.
    return x / 1e6 if 2 ** 53 <= abs(x) < 1e21 else x


def rand_json(rng, depth=0):
    """Any JSON value (what a custom scalar may hold)."""
    r = rng.random()
    if depth < 2 and r < 0.15:
        return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and r < 0.3:
        # Not keys that are array indexes ("0"): a JavaScript object lists those first.
        return {rng.choice(["k", "b", "a", "é", "_x", "key with space", "null"]):
                rand_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice([lambda: rand_string(rng, True), lambda: rand_int(rng),
                       lambda: rand_float(rng), lambda: rng.random() < 0.5, lambda: None])()


def rand_literal(rng, depth=0):
    """Any literal without variables (what a custom scalar argument may be given)."""
    r = rng.random()
    if depth < 2 and r < 0.15:
        return ("list", [rand_literal(rng, depth + 1) for _ in range(rng.randint(0, 3))])
    if depth < 2 and r < 0.3:
        names = sorted({rng.choice(["a", "b", "c", "_x", "on", "null"])
                        for _ in range(rng.randint(0, 3))})
        return ("obj", [(n, rand_literal(rng, depth + 1)) for n in names])
    return rng.choice([("str", rand_string(rng, False)), ("int", rand_int(rng)),
                       ("float", rand_float(rng)), ("bool", rng.random() < 0.5), ("null",),
                       ("enum", rng.choice(["FOO", "on", "Bar_1"]))])


# ------------------------------------------------------------------------------ the builder

class Builder:
    """Makes one valid document (and its variables and root value) at random."""

    def __init__(self, schema, rng, var_bias=0.2):
        self.s, self.rng = schema, rng
        self.var_bias = var_bias
        self.doc = Doc()
        self.vars = {}   # name -> VarDef: a variable has one definition in every operation
        self.keys = {}   # response key -> (field, arguments, type): see the module doc
        self.intro_args = {}
        self.counter = 0
        self.budget = rng.randint(6, 45)
        self.max_depth = rng.randint(2, 6)

    def fresh(self, prefix):
        while True:
            self.counter += 1
            name = f"{prefix}{self.counter}"
            if name not in self.s.field_names:
                return name

    # --- values

    def literal(self, t, owner, allow_var=True, depth=0):
        rng = self.rng
        if allow_var and owner is not None and rng.random() < self.var_bias:
            return self.variable(t, owner)
        if non_null(t):
            return self.literal_of(t[1], owner, allow_var, depth)
        if rng.random() < 0.1:
            return ("null",)
        return self.literal_of(t, owner, allow_var, depth)

    def literal_of(self, t, owner, allow_var, depth):
        rng = self.rng
        if is_list(t):
            item = t[1][1] if non_null(t[1]) else t[1]
            if rng.random() < 0.25 and not is_list(item):
                # One value for a list (coerced to a list of one): not null, which is a
                # null list, nor a variable, whose type would have to be the list's (5.8.5);
                # not for a list of lists either, where a list is the outer list.
                return self.literal_of(item, owner, allow_var, depth + 1)
            n = rng.choice([0, 1, 1, 2, 3])
            return ("list", [self.literal(t[1], owner, allow_var, depth + 1) for _ in range(n)])
        td = self.s.types[t]
        if td.kind == "ENUM":
            return ("enum", rng.choice(td.values))
        if td.kind == "INPUT_OBJECT":
            fields = [f for f in td.inputs
                      if f.required or (depth < 3 and rng.random() < 0.4)]
            if rng.random() < 0.3:
                rng.shuffle(fields)
            return ("obj", [(f.name, self.literal(f.type, owner, allow_var, depth + 1))
                            for f in fields])
        if t == "Int":
            return ("int", rand_int(rng))
        if t == "Float":
            return ("float", rand_float(rng)) if rng.random() < 0.7 else ("int", rand_int(rng))
        if t == "String":
            s = rand_string(rng, False)
            if rng.random() < 0.1 and block_safe(s):
                return ("block", s)
            return ("str", s)
        if t == "Boolean":
            return ("bool", rng.random() < 0.5)
        if t == "ID":
            return ("int", rng.randint(0, 10 ** 6)) if rng.random() < 0.3 else \
                ("str", rand_string(rng, False))
        v = rand_literal(rng)
        return v if v[0] != "null" else ("str", "null")  # null was decided by the caller

    def variable(self, t, owner):
        """A variable that may stand where a value of type <t> goes."""
        rng = self.rng
        fits = [v for v in self.vars.values()
                if v.type == t or (not non_null(t) and v.type == ("!", t))]
        if fits and rng.random() < 0.5:
            v = rng.choice(fits)
        else:
            vt, default = t, None
            if not non_null(t) and rng.random() < 0.3:
                vt = ("!", t)
            if rng.random() < 0.25:
                default = self.literal(vt, None, allow_var=False)
            elif non_null(t) and rng.random() < 0.15:
                # A nullable variable with a default may stand in a non-null place (5.8.5).
                vt, default = t[1], self.literal_of(t[1], None, False, 0)
            v = VarDef(self.fresh("v"), vt, default)
            if rng.random() < 0.05:
                v.dirs = self.directives("VARIABLE_DEFINITION", None)
            self.vars[v.name] = v
        owner.uses.add(v.name)
        return ("var", v.name)

    def arguments(self, args, owner):
        rng = self.rng
        chosen = [a for a in args if a.required or rng.random() < 0.35]
        if rng.random() < 0.3:
            rng.shuffle(chosen)
        return [(a.name, self.literal(a.type, owner)) for a in chosen]

    def directives(self, location, owner):
        """Directives for a place of kind <location>: mostly none."""
        rng = self.rng
        out = []
        if location in ("FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT") and rng.random() < 0.2:
            for name in rng.sample(["skip", "include"], rng.randint(1, 2)):
                out.append(Dir(name, [("if", self.literal(("!", "Boolean"), owner))]))
        custom = [d for d in self.s.directives.values() if location in d.locations
                  and d.name not in ("skip", "include")]
        if custom and rng.random() < 0.1:
            d = rng.choice(custom)
            for _ in range(2 if d.repeatable and rng.random() < 0.3 else 1):
                out.append(Dir(d.name, self.arguments(d.args, owner)))
        if len(out) > 1 and rng.random() < 0.5:
            rng.shuffle(out)
        return out

    # --- selections

    def compatible(self, parent):
        """Types a fragment in a selection on <parent> may name (5.5.2.3)."""
        mine = self.s.possible(parent)
        return [t for t in self.s.composites if self.s.possible(t) & mine]

    def selset(self, parent, depth, owner):
        if parent.startswith("__"):
            return self.intro_selset(parent, depth)
        rng = self.rng
        sels = []
        for _ in range(rng.randint(1, 4 if depth < 2 else 3)):
            if self.budget <= 0 and sels:
                break
            r = rng.random()
            kind = self.s.kind(parent)
            frag_p = 0.45 if kind != "OBJECT" else 0.2
            if r < frag_p / 2 and depth < self.max_depth:
                sel = self.inline(parent, depth, owner)
            elif r < frag_p and depth < self.max_depth:
                sel = self.spread(parent, depth, owner)
            else:
                sel = self.field(parent, depth, owner)
            if sel is not None:
                sels.append(sel)
        if not sels:
            sels.append(self.field(parent, depth, owner, typename=True))
        return sels

    def pick_key(self, fdef, args):
        """An alias for <fdef> with <args> (None: its own name), or another field's name, as
        long as the key means the same field everywhere (see the module doc). __schema keeps
        its name: the suite's rules find data.__schema by it."""
        rng = self.rng
        sig = (fdef.name, tuple(sorted((n, value_key(v)) for n, v in args)), type_text(fdef.type))
        r = rng.random()
        if fdef.name == "__schema" or r < 0.6:
            key = fdef.name
        elif r < 0.9:
            key = self.fresh("a")
        else:
            # Not a "__" key: __schema and __typename are not to alias other fields.
            key = rng.choice([k for k in self.keys if not k.startswith("__")] or [fdef.name])
        if self.keys.get(key, sig) != sig:
            key = self.fresh("a")
        self.keys[key] = sig
        return None if key == fdef.name else key

    def field(self, parent, depth, owner, typename=False, fdef=None, dirs=True):
        rng = self.rng
        fields = self.s.fields(parent)
        if fdef is not None:
            pass
        elif typename or not fields or rng.random() < 0.08:
            fdef = TYPENAME
        else:
            names = sorted(fields)
            if depth >= self.max_depth or self.budget <= 0:
                names = [n for n in names if self.s.leaf(named(fields[n].type))] or ["__typename"]
            if isinstance(owner, Op) and owner.kind == "subscription":
                names = [n for n in names if not n.startswith("__")] or names
            fdef = fields.get(rng.choice(names), TYPENAME)
        self.budget -= 1
        f = Field(fdef.name, fdef, parent)
        if fdef is TYPE_FIELD:
            f.args = [("name", self.type_name_value(owner))]
        else:
            f.args = self.arguments(fdef.args, owner)
        f.alias = self.pick_key(fdef, f.args)
        f.dirs = self.directives("FIELD", owner) if dirs else []
        inner = named(fdef.type)
        if not self.s.leaf(inner):
            f.sels = self.selset(inner, depth + 1, owner)
        return f

    def type_name_value(self, owner):
        rng = self.rng
        if rng.random() < 0.15:
            return self.variable(("!", "String"), owner)
        names = sorted(self.s.types) + ["Nope", "Float", "ID", "__Type", "string"]
        return ("str", rng.choice(names))

    def inline(self, parent, depth, owner):
        rng = self.rng
        types = self.compatible(parent)
        if not types:
            return None
        on = None if rng.random() < 0.2 else rng.choice(types)
        node = Inline(on, None)
        node.dirs = self.directives("INLINE_FRAGMENT", owner)
        node.sels = self.selset(on or parent, depth + 1, owner)
        return node

    def spread(self, parent, depth, owner):
        rng = self.rng
        mine = self.s.possible(parent)
        ready = [f for f in self.doc.frags if f.done and self.s.possible(f.on) & mine]
        types = self.compatible(parent)
        if ready and (rng.random() < 0.5 or not types):
            frag = rng.choice(ready)
        elif not types:
            return None
        else:
            frag = Frag(self.fresh("F"), rng.choice(types))
            self.doc.frags.append(frag)
            frag.dirs = self.directives("FRAGMENT_DEFINITION", frag)
            frag.sels = self.selset(frag.on, depth + 1, frag)
            frag.done = True
        owner.spreads.add(frag.name)
        node = Spread(frag.name)
        node.dirs = self.directives("FRAGMENT_SPREAD", owner)
        return node

    def intro_selset(self, parent, depth):
        """A selection on an introspection type: each field once, unaliased, no fragments or
        directives, "name" first, so that the suite can tell built-in definitions (whose
        descriptions each implementation words its own way) by name."""
        rng = self.rng
        fields = self.s.types[parent].fields
        names = sorted(fields)
        if depth >= self.max_depth + 2:
            names = [n for n in names if self.s.leaf(named(fields[n].type))]
        chosen = [n for n in names if rng.random() < 0.3]
        if "name" in fields:
            chosen = ["name"] + [n for n in chosen if n != "name"]
        if not chosen:
            chosen = [rng.choice(names)]
        if rng.random() < 0.1:
            chosen.insert(rng.randint(0, len(chosen)), "__typename")
        sels = []
        for n in chosen:
            fdef = TYPENAME if n == "__typename" else fields[n]
            f = Field(n, fdef, parent)
            if fdef.args:
                key = (parent, n)
                if key not in self.intro_args:
                    self.intro_args[key] = self.arguments(fdef.args, None)
                f.args = self.intro_args[key]
            inner = named(fdef.type)
            if not self.s.leaf(inner):
                f.sels = self.intro_selset(inner, depth + 1)
            sels.append(f)
        return sels

    # --- operations

    def operation(self, kind, name):
        op = Op(kind, name)
        root = self.s.root(kind)
        if kind == "subscription":
            fields = self.s.types[root].fields
            # No directive: graphql-js 16 evaluates them without variables in validation.
            f = self.field(root, 0, op, fdef=fields[self.rng.choice(sorted(fields))], dirs=False)
            op.sels = [f]
        else:
            op.sels = self.selset(root, 0, op)
        op.dirs = self.directives(kind.upper(), op)
        return op

    def used_vars(self, owner, seen=None):
        seen = set() if seen is None else seen
        out = set(owner.uses)
        for name in owner.spreads:
            if name not in seen:
                seen.add(name)
                out |= self.used_vars(self.doc.frag(name), seen)
        return out

    def document(self):
        rng, s = self.rng, self.s
        kinds = ["query"] * 8 + (["mutation"] * 2 if s.mutation else []) + \
            (["subscription"] if s.subscription and rng.random() < 0.3 else [])
        count = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        for i in range(count):
            kind = rng.choice(kinds)
            name = self.fresh("Op") if count > 1 or rng.random() < 0.4 else None
            self.doc.ops.append(self.operation(kind, name))
        for op in self.doc.ops:
            names = sorted(self.used_vars(op), key=lambda n: int(n[1:]))
            if rng.random() < 0.3:
                rng.shuffle(names)
            op.vars = [self.vars[n] for n in names]
            op.shorthand = (op.kind == "query" and op.name is None and not op.vars
                            and not op.dirs and rng.random() < 0.7)
        if rng.random() < 0.3:
            self.doc.order = self.doc.ops + self.doc.frags
            rng.shuffle(self.doc.order)
        return self.doc

    # --- variable values

    def json_value(self, t, depth=0):
        rng = self.rng
        if not non_null(t) and rng.random() < 0.1:
            return None
        t = t[1] if non_null(t) else t
        if is_list(t):
            item = t[1][1] if non_null(t[1]) else t[1]
            if rng.random() < 0.2 and not is_list(item):
                return self.json_value(("!", item), depth + 1)  # one value for a list
            return [self.json_value(t[1], depth + 1) for _ in range(rng.choice([0, 1, 2, 3]))]
        td = self.s.types[t]
        if td.kind == "ENUM":
            return rng.choice(td.values)
        if td.kind == "INPUT_OBJECT":
            return {f.name: self.json_value(f.type, depth + 1) for f in td.inputs
                    if f.required or (depth < 3 and rng.random() < 0.4)}
        if t == "Int":
            return rand_int(rng)
        if t == "Float":
            return rand_float(rng) if rng.random() < 0.7 else rand_int(rng)
        if t == "String":
            return rand_string(rng)
        if t == "Boolean":
            return rng.random() < 0.5
        if t == "ID":
            return rng.randint(0, 10 ** 6) if rng.random() < 0.3 else rand_string(rng)
        v = rand_json(rng)
        return v if v is not None else "null"  # null was decided by the caller

    def variables(self, op):
        out = {}
        for v in op.vars:
            if (not non_null(v.type) or v.default is not None) and self.rng.random() < 0.3:
                continue  # left to its default, or null
            out[v.name] = self.json_value(v.type)
        if self.rng.random() < 0.05:
            out["notDefined"] = 1  # ignored: only defined variables are coerced
        return out


# ------------------------------------------------------------------------------ root values

class DataMaker:
    """A root value for an operation: the members its selections read, of the types the
    schema gives them, with a share (<chaos>) of values that are null, of the wrong type, out
    of range or of an unknown type."""

    def __init__(self, schema, doc, rng, chaos):
        self.s, self.doc, self.rng, self.chaos = schema, doc, rng, chaos

    def collect(self, sels, concrete, out, seen=()):
        """Field name -> (type, [selection sets]) of what <sels> select on an object of type
        <concrete>, fragments expanded and directives ignored."""
        for sel in sels or []:
            if isinstance(sel, Field):
                if sel.name.startswith("__") or sel.fdef is None:
                    continue
                fdef = self.s.types[concrete].fields.get(sel.name, sel.fdef)
                out.setdefault(sel.name, (fdef.type, []))[1].append(sel.sels)
            elif isinstance(sel, Inline):
                if sel.on is None or concrete in self.s.possible(sel.on):
                    self.collect(sel.sels, concrete, out, seen)
            elif isinstance(sel, Spread) and sel.name not in seen:
                frag = self.doc.frag(sel.name)
                if concrete in self.s.possible(frag.on):
                    self.collect(frag.sels, concrete, out, seen + (sel.name,))
        return out

    def root(self, op):
        if self.rng.random() < 0.01:
            return None
        return self.obj(self.s.root(op.kind), [op.sels], 0)

    def obj(self, concrete, selsets, depth):
        rng = self.rng
        fields = {}
        for ss in selsets:
            self.collect(ss, concrete, fields)
        out = {}
        if self.s.kind(concrete) == "OBJECT" and rng.random() < 0.1:
            out["__typename"] = rng.choice([concrete, "Other"])  # read by nobody
        for name, (t, subs) in fields.items():
            if rng.random() < self.chaos / 3:
                continue  # missing: null
            out[name] = self.value(t, subs, depth + 1)
        if rng.random() < 0.05:
            out["notSelected"] = [1, {"x": None}]
        return out

    def value(self, t, subs, depth):
        rng = self.rng
        if rng.random() < self.chaos:
            return self.bad(t, subs, depth)
        if non_null(t):
            return self.value_of(t[1], subs, depth)
        if rng.random() < 0.1:
            return None
        return self.value_of(t, subs, depth)

    def value_of(self, t, subs, depth):
        rng = self.rng
        if is_list(t):
            n = rng.choice([0, 1, 2, 2, 3]) if depth < 6 else rng.choice([0, 1])
            return [self.value(t[1], subs, depth + 1) for _ in range(n)]
        td = self.s.types[t]
        if td.kind == "OBJECT":
            return self.obj(t, subs, depth)
        if td.kind in ("INTERFACE", "UNION"):
            if not self.s.possible(t):
                return None
            concrete = rng.choice(sorted(self.s.possible(t)))
            out = {"__typename": concrete}
            out.update(self.obj(concrete, subs, depth))
            return out
        return self.leaf(t)

    def leaf(self, t):
        rng = self.rng
        td = self.s.types[t]
        if td.kind == "ENUM":
            return rng.choice(td.values)
        if t == "Int":
            return rand_int(rng)
        if t == "Float":
            return rand_float(rng) if rng.random() < 0.8 else rand_int(rng)
        if t == "String":
            return rand_string(rng)
        if t == "Boolean":
            return rng.random() < 0.5
        if t == "ID":
            return rng.randint(-10, 2 ** 53 - 1) if rng.random() < 0.3 else rand_string(rng)
        return rand_json(rng)

    def bad(self, t, subs, depth):
        """A value that does not fit <t>: the engine must raise a field error for it (or, for
        null in a nullable place, simply answer null)."""
        rng = self.rng
        inner = t[1] if non_null(t) else t
        choices = [lambda: None]
        if is_list(inner):
            choices.append(lambda: rng.choice(["x", 1, {"a": 1}, True]))
        else:
            kind = self.s.kind(inner)
            if kind in ("SCALAR", "ENUM"):
                choices += [lambda: self.bad_leaf(inner)] * 3
            elif kind != "OBJECT":
                # Not for an object type: what a value that is not a JSON object means there
                # is left open (known-differences.json, "object field given a list"); graphql-js
                # reads no member of it, slipway raises a field error. For an abstract type
                # both raise one: the value names no type.
                choices += [lambda: self.bad_abstract(inner, subs, depth)] * 3
                choices.append(lambda: rng.choice(["x", 7, True]))
        return rng.choice(choices)()

    def bad_leaf(self, t):
        rng = self.rng
        td = self.s.types[t]
        if td.kind == "ENUM":
            v = rng.choice(td.values)
            return rng.choice(["NOT_A_VALUE", v.lower(), 1, True, {"v": v}, [v]])
        options = {
            "Int": [INT_MAX + 1, INT_MIN - 1, 10 ** 10, -(2 ** 53) + 1, 1.5, 3.0, "12", "x",
                    True, False, {"v": 1}, [1]],
            "Float": ["1.5", "pi", "", True, {"v": 1.5}, [1.5]],
            # Numbers whose text every implementation writes alike: how a String is made of
            # other values is left open (3.5.4), JavaScript writes 1e-7 and -0 its own way.
            "String": [42, -7, 1.5, -2.25, True, False, ["a"], {"a": 1}],
            "Boolean": [0, 1, "true", "", 1.5, {}, [True]],
            "ID": [1.5, True, {"id": 1}, ["1"]],
        }.get(t)
        if options is None:
            return None  # a custom scalar takes any value
        return rng.choice(options)

    def bad_abstract(self, t, subs, depth):
        rng = self.rng
        if not self.s.possible(t):
            return {"__typename": "Wookiee"}
        concrete = rng.choice(sorted(self.s.possible(t)))
        out = self.obj(concrete, subs, depth)
        objects = sorted(n for n, x in self.s.types.items() if x.kind == "OBJECT"
                         and n not in self.s.possible(t))
        tn = rng.choice([None, "Wookiee", t, 7, concrete.lower()] + objects[:3])
        if tn is not None:
            out = {"__typename": tn, **out}
        return out


# ------------------------------------------------------------------------------ walking

def selsets(doc, s):
    """(selection list, parent type, owner) of every selection set of <doc>."""
    out = []

    def walk(sels, parent, owner):
        out.append((sels, parent, owner))
        for sel in sels:
            if isinstance(sel, Field) and sel.sels is not None and sel.fdef is not None:
                walk(sel.sels, named(sel.fdef.type), owner)
            elif isinstance(sel, Inline):
                walk(sel.sels, sel.on or parent, owner)

    for op in doc.ops:
        root = s.root(op.kind)
        if root is not None:
            walk(op.sels, root, op)
    for frag in doc.frags:
        if frag.on in s.types:
            walk(frag.sels, frag.on, frag)
    return out


def fields_of(doc, s):
    """(field node, owner) of every field of <doc> that the schema defines."""
    return [(sel, owner) for sels, _, owner in selsets(doc, s) for sel in sels
            if isinstance(sel, Field) and sel.fdef is not None]


def value_places(value, t, s, put):
    """(put(new value), type) of <value> and of each value nested in it that has a type."""
    out = [(put, t)]
    inner = t[1] if non_null(t) else t
    if value[0] == "list" and is_list(inner):
        for i in range(len(value[1])):
            out += value_places(value[1][i], inner[1], s,
                                lambda v, i=i, items=value[1]: items.__setitem__(i, v))
    elif value[0] == "obj" and isinstance(inner, str) and s.kind(inner) == "INPUT_OBJECT":
        defs = {f.name: f for f in s.types[inner].inputs}
        for i, (n, x) in enumerate(value[1]):
            if n in defs:
                out += value_places(x, defs[n].type, s, lambda v, i=i, n=n, items=value[1]:
                                    items.__setitem__(i, (n, v)))
    return out


def argument_places(doc, s):
    """(put, type, node, arg name) of each argument value (and value nested in one)."""
    out = []

    def add(node, defs):
        by_name = {a.name: a for a in defs}
        for i, (n, v) in enumerate(node.args):
            if n in by_name:
                for put, t in value_places(v, by_name[n].type, s,
                                           lambda x, i=i, n=n, args=node.args:
                                           args.__setitem__(i, (n, x))):
                    out.append((put, t, node, n))

    def dirs(ds):
        for d in ds:
            if d.name in s.directives:
                add(d, s.directives[d.name].args)

    for sels, _, owner in selsets(doc, s):
        for sel in sels:
            if isinstance(sel, Field) and sel.fdef is not None:
                add(sel, sel.fdef.args)
            if not isinstance(sel, Raw):
                dirs(sel.dirs)
    for d in doc.ops + doc.frags:
        dirs(d.dirs)
    return out


# ------------------------------------------------------------------------------ wrong values

def wrong_literal(s, t, rng):
    """A literal that is not a value of type <t> (validation 5.6.1), or None if every literal
    is one (a custom scalar)."""
    if non_null(t):
        w = wrong_literal(s, t[1], rng)
        return ("null",) if w is None or rng.random() < 0.4 else w
    if is_list(t):
        w = wrong_literal(s, t[1], rng)
        if w is None:
            return None
        # A wrong item alone is wrong too (a list of one, 5.6.1), unless it is a list or
        # null (a null list).
        return ("list", [w]) if w[0] in ("list", "null") or rng.random() < 0.5 else w
    td = s.types[t]
    if td.kind == "ENUM":
        return rng.choice([("str", td.values[0]), ("enum", "NOT_A_VALUE"), ("int", 1),
                           ("bool", True), ("list", [("str", td.values[0])])])
    if td.kind == "INPUT_OBJECT":
        options = [("int", 1), ("str", "x"), ("enum", "VALUE"),
                   ("obj", [("notAField", ("int", 1))])]
        required = [f for f in td.inputs if f.required]
        if required:
            options.append(("obj", []))
        return rng.choice(options)
    options = {
        "Int": [("str", "1"), ("float", 1.5), ("float", 2.0), ("bool", True), ("enum", "ONE"),
                ("int", INT_MAX + 1), ("int", INT_MIN - 1), ("obj", []), ("list", [("int", 1)])],
        "Float": [("str", "1.5"), ("bool", False), ("enum", "PI"), ("obj", [])],
        "String": [("int", 1), ("float", 1.5), ("bool", True), ("enum", "TEXT"),
                   ("list", [("str", "a")])],
        "Boolean": [("int", 1), ("str", "true"), ("enum", "TRUE"), ("int", 0)],
        "ID": [("float", 1.5), ("bool", True), ("enum", "ID"), ("obj", [])],
    }.get(t)
    return rng.choice(options) if options else None


def wrong_json(s, t, rng):
    """A JSON value that is not a value of type <t> as a variable (6.4.1), or None if there
    is none but null (see v_null_for_non_null)."""
    if non_null(t):
        return wrong_json(s, t[1], rng)
    if is_list(t):
        w = wrong_json(s, t[1], rng)
        if w is None:
            return None
        return [w] if isinstance(w, list) or rng.random() < 0.5 else w
    td = s.types[t]
    if td.kind == "ENUM":
        v = td.values[0]
        return rng.choice(["NOT_A_VALUE", 1, True, {"v": v}] + ([v.lower()] if v.lower() != v
                                                                 else []))
    if td.kind == "INPUT_OBJECT":
        # Not a list: graphql-js 16 reads an array's members as fields.
        return rng.choice(["x", 1, True])
    options = {
        "Int": ["1", 1.5, True, {"v": 1}, [1, 2], INT_MAX + 1, INT_MIN - 1],
        "Float": ["1.5", True, {"v": 1}, [1.5, 2]],
        "String": [1, 1.5, True, {"s": "a"}, ["a", "b"]],
        "Boolean": ["true", 1, 0, {}],
        "ID": [1.5, True, {"id": 1}, ["1", "2"]],
    }.get(t)
    return rng.choice(options) if options else None


def json_places(value, t, s, put):
    """(put, type, value) of a variable's JSON value and of each value nested in it."""
    out = [(put, t, value)]
    inner = t[1] if non_null(t) else t
    if isinstance(value, list) and is_list(inner):
        for i in range(len(value)):
            out += json_places(value[i], inner[1], s,
                               lambda v, i=i, items=value: items.__setitem__(i, v))
    elif isinstance(value, dict) and isinstance(inner, str) and s.kind(inner) == "INPUT_OBJECT":
        defs = {f.name: f for f in s.types[inner].inputs}
        for n in list(value):
            if n in defs:
                out += json_places(value[n], defs[n].type, s,
                                   lambda v, n=n, obj=value: obj.__setitem__(n, v))
    return out


# ------------------------------------------------------------------------------ mutations
# Each takes (Mutator) and changes its document or variables so that graphql-js must answer
# without data; it returns False when it does not apply (the generator then tries another
# document or mutation).

class Mutator:
    def __init__(self, builder, op, variables):
        self.b, self.s, self.rng = builder, builder.s, builder.rng
        self.doc, self.op, self.variables = builder.doc, op, variables
        self.operation_name = op.name
        self.text_edit = None  # a function applied to the printed document

    def sets(self, composite=True):
        out = selsets(self.doc, self.s)
        if composite:
            out = [x for x in out if self.s.kind(x[1]) in ("OBJECT", "INTERFACE", "UNION")]
        return out

    def insert(self, sels, node):
        sels.insert(self.rng.randint(0, len(sels)), node)

    def any_selectable(self):
        """A node that takes directives: a field, inline fragment or fragment spread. Not the
        root field of a subscription: graphql-js 16 evaluates its @skip and @include in
        validation (SingleFieldSubscriptionsRule) with no variables, and throws on a missing
        or wrong "if" instead of answering."""
        roots = [op.sels for op in self.doc.ops if op.kind == "subscription"]
        nodes = [sel for sels, _, _ in self.sets() if not any(sels is r for r in roots)
                 for sel in sels if not isinstance(sel, Raw)]
        return self.rng.choice(nodes) if nodes else None


def add_definition(m, d):
    (m.doc.frags if isinstance(d, Frag) else m.doc.ops).append(d)
    if m.doc.order is not None:
        m.doc.order.insert(m.rng.randint(0, len(m.doc.order)), d)


def isolate(m, node):
    """Gives a field whose arguments a mutation changes a key of its own, so that the change
    does not also make it conflict with fields of the same key (5.3.2): graphql-js 16.8 misses
    some of those conflicts across nested fragments (graphql-js#4168, fixed in 16.9), and one
    error at a time is what a mutation is meant to test."""
    if isinstance(node, Field):
        node.alias = m.b.fresh("m")


def m_unknown_field(m):
    sels, parent, _ = m.rng.choice(m.sets())
    known = m.s.fields(parent)
    names = [n for n in sorted(m.s.field_names) if n not in known] + ["notAField", "__types"]
    f = Field(m.rng.choice(names))
    if m.rng.random() < 0.3:
        f.sels = [Field("__typename")]
    m.insert(sels, f)
    return True


def m_wrong_argument_type(m):
    places = [(put, t, node) for put, t, node, _ in argument_places(m.doc, m.s)]
    m.rng.shuffle(places)
    for put, t, node in places:
        w = wrong_literal(m.s, t, m.rng)
        if w is not None:
            put(w)
            isolate(m, node)
            return True
    # No argument to spoil: add a field or directive with a spoilt one.
    node = m.any_selectable()
    if node is None:
        return False
    node.dirs.append(Dir(m.rng.choice(["skip", "include"]),
                         [("if", wrong_literal(m.s, ("!", "Boolean"), m.rng))]))
    return True


def m_missing_required_argument(m):
    nodes = []
    for put, t, node, name in argument_places(m.doc, m.s):
        defs = node.fdef.args if isinstance(node, Field) else m.s.directives[node.name].args
        if any(a.name == name and a.required for a in defs):
            nodes.append((node, name))
    if nodes:
        node, name = m.rng.choice(nodes)
        node.args = [(n, v) for n, v in node.args if n != name]
        isolate(m, node)
        return True
    node = m.any_selectable()
    if node is None:
        return False
    node.dirs.append(Dir(m.rng.choice(["skip", "include"])))
    return True


def random_input_type(m):
    rng = m.rng
    t = rng.choice(m.s.input_types)
    if rng.random() < 0.3:
        t = ("[]", t)
    if rng.random() < 0.3:
        t = ("!", t)
    return t


def m_unused_variable(m):
    op = m.rng.choice(m.doc.ops)
    v = VarDef(m.b.fresh("unused"), random_input_type(m))
    op.vars.insert(m.rng.randint(0, len(op.vars)), v)
    op.shorthand = False
    return True


def m_undefined_variable(m):
    name = m.b.fresh("undefined")
    places = [(put, node) for put, _, node, _ in argument_places(m.doc, m.s)]
    if places and m.rng.random() < 0.6:
        put, node = m.rng.choice(places)
        put(("var", name))
        isolate(m, node)
        return True
    node = m.any_selectable()
    if node is None:
        return False
    node.dirs.append(Dir("include", [("if", ("var", name))]))
    return True


def m_fragment_cycle(m):
    rng, s = m.rng, m.s
    frags = [f for f in m.doc.frags if f.on in s.types]
    if not frags or rng.random() < 0.2:
        # Two new fragments on the root type that spread each other, one spread by the
        # operation.
        op = m.op
        root = s.root(op.kind)
        if root is None or op.kind == "subscription":
            return False
        a, b = Frag(m.b.fresh("Cycle"), root), Frag(m.b.fresh("Cycle"), root)
        a.sels = [Field("__typename"), Spread(b.name)]
        b.sels = [Spread(a.name)]
        add_definition(m, a)
        add_definition(m, b)
        m.insert(op.sels, Spread(a.name))
        return True
    frag = rng.choice(frags)
    targets = [(sels, parent) for sels, parent, owner in m.sets() if owner is frag
               and s.possible(parent) & s.possible(frag.on)]
    if not targets:
        return False
    sels, _ = rng.choice(targets)
    m.insert(sels, Spread(frag.name))
    return True


def m_conflicting_aliases(m):
    rng, s = m.rng, m.s
    sets = [x for x in m.sets() if s.kind(x[1]) != "UNION" and not x[1].startswith("__")]
    if not sets:
        return False
    sels, parent, owner = rng.choice(sets)
    fields = s.types[parent].fields
    alias = m.b.fresh("same")
    with_args = [f for f in fields.values() if any(differs(s, a) for a in f.args)]
    pair = []
    if with_args and rng.random() < 0.6:
        fdef = rng.choice(with_args)
        for _ in range(2):
            f = Field(fdef.name, fdef, parent)
            f.args = m.b.arguments(fdef.args, None)
            pair.append(f)
        # Make the two argument lists differ for sure: one more argument, or another value.
        arg = next(a for a in fdef.args if differs(s, a))
        pair[0].args = [(n, v) for n, v in pair[0].args if n != arg.name] + \
            [(arg.name, distinct_literal(m, arg.type, 0))]
        pair[1].args = [(n, v) for n, v in pair[1].args if n != arg.name] + \
            [(arg.name, distinct_literal(m, arg.type, 1))]
    else:
        names = sorted(fields)
        if len(names) < 2:
            names.append("__typename")
        for n in rng.sample(names, 2):
            fdef = fields.get(n, TYPENAME)
            f = Field(n, fdef, parent)
            f.args = m.b.arguments(fdef.args, None)
            pair.append(f)
    for f in pair:
        f.alias = alias
        if not s.leaf(named(f.fdef.type)):
            f.sels = [Field("__typename", TYPENAME, named(f.fdef.type))]
    if rng.random() < 0.3 and s.kind(parent) == "OBJECT":
        pair[1] = Inline(parent, [pair[1]])  # the conflict across a fragment
    m.insert(sels, pair[0])
    m.insert(sels, pair[1])
    return True


def differs(s, arg):
    """Whether distinct_literal() gives two different values for <arg>."""
    t = named(arg.type)
    return t in BUILTIN_SCALARS or (s.kind(t) == "ENUM" and (
        len(s.types[t].values) > 1 or not non_null(arg.type) or is_list(arg.type[1])))


def distinct_literal(m, t, which):
    """Two literals of type <t> that differ (which = 0 or 1)."""
    inner = named(t)
    td = m.s.types[inner]
    if td.kind == "ENUM":
        v = ("enum", td.values[which % len(td.values)])
        if len(td.values) < 2 and which:
            v = ("null",) if not non_null(t) else ("list", [v]) if is_list(t) else v
    else:
        v = {"Int": ("int", which), "Float": ("float", which + 0.5), "String": ("str", str(which)),
             "Boolean": ("bool", bool(which)), "ID": ("str", f"id{which}")}.get(inner,
                                                                            ("int", which))
    base = t[1] if non_null(t) else t
    if is_list(base):
        return ("list", [v] * (which + 1))
    return v


def m_selection_on_leaf(m):
    leaves = [(f, o) for f, o in fields_of(m.doc, m.s) if m.s.leaf(named(f.fdef.type))]
    if not leaves:
        return False
    f, _ = m.rng.choice(leaves)
    f.sels = [Field(m.rng.choice(["__typename", "name", "value", "id"]))]
    return True


def m_missing_selection(m):
    comps = [(f, o) for f, o in fields_of(m.doc, m.s) if not m.s.leaf(named(f.fdef.type))]
    if comps:
        f, _ = m.rng.choice(comps)
        f.sels = None
        return True
    op = m.op
    if op.kind != "query":
        return False
    f = Field("__schema", SCHEMA_FIELD, m.s.query)
    m.insert(op.sels, f)
    return True


def m_duplicate_operation_name(m):
    op = m.op
    if op.name is None:
        op.name = m.b.fresh("Op")
        op.shorthand = False
        m.operation_name = op.name
    other = Op(m.rng.choice(["query", "query", op.kind]), op.name)
    other.sels = [Field("__typename", TYPENAME, m.s.query)]
    if other.kind == "subscription":
        other.kind = "query"
    add_definition(m, other)
    return True


def m_unknown_argument(m):
    nodes = [f for f, _ in fields_of(m.doc, m.s)]
    if not nodes:
        return False
    f = m.rng.choice(nodes)
    f.args.insert(m.rng.randint(0, len(f.args)), ("notAnArgument", ("int", 1)))
    isolate(m, f)
    return True


def m_unknown_directive(m):
    node = m.any_selectable()
    if node is None:
        return False
    node.dirs.append(Dir("notADirective", [("x", ("int", 1))] if m.rng.random() < 0.5 else []))
    return True


def m_misplaced_directive(m):
    rng = m.rng
    where = rng.choice(["op", "frag", "var", "field"])
    if where == "op":
        m.op.dirs.append(Dir("skip", [("if", ("bool", True))]))
        m.op.shorthand = False
        return True
    if where == "frag" and m.doc.frags:
        rng.choice(m.doc.frags).dirs.append(Dir("include", [("if", ("bool", True))]))
        return True
    if where == "var" and m.op.vars:
        rng.choice(m.op.vars).dirs.append(Dir("skip", [("if", ("bool", False))]))
        return True
    node = m.any_selectable()
    wrong = [d for d in m.s.directives.values() if "FIELD" not in d.locations
             and not any(a.required for a in d.args)]
    if node is None or not isinstance(node, Field) or not wrong:
        return False
    node.dirs.append(Dir(rng.choice(wrong).name))
    return True


def m_duplicate_argument(m):
    nodes = [f for f, _ in fields_of(m.doc, m.s) if f.args]
    nodes += [d for sels, _, _ in m.sets() for sel in sels if not isinstance(sel, Raw)
              for d in sel.dirs if d.args]
    if not nodes:
        return False
    node = m.rng.choice(nodes)
    node.args.append(m.rng.choice(node.args))
    isolate(m, node)
    return True


def m_undefined_fragment(m):
    sels, _, _ = m.rng.choice(m.sets())
    m.insert(sels, Spread(m.b.fresh("Missing")))
    return True


def m_unused_fragment(m):
    frag = Frag(m.b.fresh("Unused"), m.rng.choice(m.s.composites))
    frag.sels = [Field("__typename", TYPENAME, frag.on)]
    add_definition(m, frag)
    return True


def m_fragment_on_bad_type(m):
    rng, s = m.rng, m.s
    bad = ["NotAType"] + sorted(n for n in s.types if s.kind(n) in
                                ("SCALAR", "ENUM", "INPUT_OBJECT"))
    on = rng.choice(bad)
    sels, _, _ = rng.choice(m.sets())
    if rng.random() < 0.5:
        m.insert(sels, Inline(on, [Field("__typename")]))
        return True
    frag = Frag(m.b.fresh("Bad"), on)
    frag.sels = [Field("__typename")]
    add_definition(m, frag)
    m.insert(sels, Spread(frag.name))
    return True


def m_impossible_fragment(m):
    rng, s = m.rng, m.s
    options = []
    for sels, parent, _ in m.sets():
        mine = s.possible(parent)
        others = [t for t in s.composites if not s.possible(t) & mine]
        if others:
            options.append((sels, others))
    if not options:
        return False
    sels, others = rng.choice(options)
    on = rng.choice(others)
    if rng.random() < 0.5:
        m.insert(sels, Inline(on, [Field("__typename", TYPENAME, on)]))
    else:
        frag = Frag(m.b.fresh("Never"), on)
        frag.sels = [Field("__typename", TYPENAME, on)]
        add_definition(m, frag)
        m.insert(sels, Spread(frag.name))
    return True


def m_variable_of_output_type(m):
    outputs = [n for n in m.s.composites] or ["NotAType"]
    v = VarDef(m.b.fresh("out"), m.rng.choice(outputs))
    m.op.vars.append(v)
    m.op.shorthand = False
    return True


def m_variable_in_wrong_place(m):
    op = m.op
    if op.kind == "subscription":
        return False
    t = m.rng.choice(["Int", "String", ("[]", "Boolean"), "Boolean", ("!", "Int")])
    v = VarDef(m.b.fresh("wrong"), t)
    op.vars.append(v)
    op.shorthand = False
    target = m.rng.choice(op.sels)
    if isinstance(target, Raw):
        return False
    target.dirs.append(Dir("include", [("if", ("var", v.name))]))
    return True


def m_anonymous_not_alone(m):
    other = Op("query", None)
    other.sels = [Field("__typename", TYPENAME, m.s.query)]
    other.shorthand = m.rng.random() < 0.5
    add_definition(m, other)
    return True


SYNTAX_ERRORS = ["{}", "a()", "...", "$x", "&", "1", '"x"', '"unterminated', "a @",
                 "a(b: 1 b)", "a(b: )", "a(b: $)", "a(b: 1.)", "a(b: 00)", 'a(b: "\\u12")',
                 "a(b: [1, 2)", "a(b: {c 1})", "a(b: 1e)", "a(b: .5)", "a(b: \u0007)",
                 "a(b: 0x1)", "a(b: 1.5e+)", 'a(b: "\\q")', "a(b: \"\"\"x)", "... on",
                 "... on {", "a {", "a(", "a:b:c", "a(b: 1){}", "? a", "a(b: -)",
                 "a(b: 1_000)", "a(b: 12a)"]


def m_syntax_error(m):
    rng = m.rng
    r = rng.random()
    if r < 0.15:
        # The document ends early: drop its last "}".
        def drop_last_brace(text):
            i = text.rstrip().rfind("}")
            return text[:i] + text[i + 1:]
        m.text_edit = drop_last_brace
        return True
    if r < 0.25 and m.doc.ops:
        op = rng.choice(m.doc.ops)
        if op.vars:
            bad = rng.choice(["$", "$v", "$v:", "$v: = 1", "v: Int", "$v: Int =", "$v: [Int"])
            op.vars.append(VarDef(bad, "Int"))
            m.text_edit = lambda text, bad=bad: text.replace(f"${bad}: Int", bad, 1)
            return True
    sels, _, _ = rng.choice(m.sets(composite=False))
    m.insert(sels, Raw(rng.choice(SYNTAX_ERRORS)))
    return True


def m_duplicate_fragment(m):
    if not m.doc.frags:
        return False
    frag = m.rng.choice(m.doc.frags)
    twin = Frag(frag.name, frag.on)
    # The same selections: which of the two a spread means is not defined (graphql-js takes
    # the last), so they must not differ in what other rules see (variables, spreads).
    twin.sels = frag.sels
    add_definition(m, twin)
    return True


def m_subscription_fields(m):
    s = m.s
    if s.subscription is None:
        return False
    op = Op("subscription", m.b.fresh("Sub"))
    fields = sorted(s.types[s.subscription].fields)
    first = Field(fields[0], s.types[s.subscription].fields[fields[0]], s.subscription)
    second = m.rng.choice([Field("__typename", TYPENAME, s.subscription), Field(fields[-1])])
    if second.name == first.name:
        second.alias = "again"
    second.fdef = second.fdef or s.types[s.subscription].fields[second.name]
    for f in (first, second):
        if not s.leaf(named(f.fdef.type)):
            f.sels = [Field("__typename", TYPENAME, named(f.fdef.type))]
    op.sels = [first, second] if m.rng.random() < 0.5 else [second, first]
    add_definition(m, op)
    if m.op.name is None:
        m.op.name = m.b.fresh("Op")
        m.op.shorthand = False
        m.operation_name = m.op.name
    return True


def m_duplicate_directive(m):
    node = m.any_selectable()
    if node is None:
        return False
    d = Dir(m.rng.choice(["skip", "include"]), [("if", ("bool", m.rng.random() < 0.5))])
    node.dirs += [d, Dir(d.name, [("if", ("bool", True))])]
    return True


def m_duplicate_input_field(m):
    literals = []

    def find(v, f):
        if v[0] == "obj" and v[1]:
            literals.append((v, f))
        if v[0] in ("obj", "list"):
            for x in v[1]:
                find(x[1] if v[0] == "obj" else x, f)

    for f, _ in fields_of(m.doc, m.s):
        for _, v in f.args:
            find(v, f)
    if not literals:
        return False
    lit, f = m.rng.choice(literals)
    lit[1].append(m.rng.choice(lit[1]))
    isolate(m, f)
    return True


def m_duplicate_variable(m):
    op = m.op
    if not op.vars:
        return False
    v = m.rng.choice(op.vars)
    op.vars.insert(m.rng.randint(0, len(op.vars)), VarDef(v.name, random_input_type(m)))
    return True


DOC_MUTATIONS = {
    "unknown field": m_unknown_field,
    "wrong argument type": m_wrong_argument_type,
    "missing required argument": m_missing_required_argument,
    "unused variable": m_unused_variable,
    "undefined variable": m_undefined_variable,
    "fragment cycle": m_fragment_cycle,
    "conflicting aliases": m_conflicting_aliases,
    "selection on a leaf": m_selection_on_leaf,
    "missing selection": m_missing_selection,
    "duplicate operation name": m_duplicate_operation_name,
    "unknown argument": m_unknown_argument,
    "unknown directive": m_unknown_directive,
    "misplaced directive": m_misplaced_directive,
    "duplicate argument": m_duplicate_argument,
    "undefined fragment": m_undefined_fragment,
    "unused fragment": m_unused_fragment,
    "fragment on a bad type": m_fragment_on_bad_type,
    "impossible fragment": m_impossible_fragment,
    "variable of an output type": m_variable_of_output_type,
    "variable in a wrong place": m_variable_in_wrong_place,
    "anonymous operation not alone": m_anonymous_not_alone,
    "syntax error": m_syntax_error,
    "duplicate fragment": m_duplicate_fragment,
    "subscription with two fields": m_subscription_fields,
    "duplicate directive": m_duplicate_directive,
    "duplicate input field": m_duplicate_input_field,
    "duplicate variable": m_duplicate_variable,
}


def variable_places(m):
    """(put, type, value) of each defined variable's value and of the values nested in it."""
    out = []
    for v in m.op.vars:
        if v.name in m.variables:
            out += json_places(m.variables[v.name], v.type, m.s,
                               lambda x, n=v.name: m.variables.__setitem__(n, x))
    return out


def v_wrong_type(m):
    places = variable_places(m)
    m.rng.shuffle(places)
    for put, t, _ in places:
        w = wrong_json(m.s, t, m.rng)
        if w is not None:
            put(w)
            return True
    return False


def v_null_for_non_null(m):
    places = [p for p in variable_places(m) if non_null(p[1])]
    places += [(lambda x, n=v.name: m.variables.__setitem__(n, x), v.type, None)
               for v in m.op.vars if non_null(v.type) and v.name not in m.variables]
    if not places:
        return False
    m.rng.choice(places)[0](None)
    return True


def v_unknown_input_field(m):
    objs = [(val, t) for _, t, val in variable_places(m) if isinstance(val, dict)
            and m.s.kind(named(t)) == "INPUT_OBJECT" and not is_list(t[1] if non_null(t) else t)]
    if not objs:
        return False
    obj, t = m.rng.choice(objs)
    known = {f.name for f in m.s.types[named(t)].inputs}
    obj[m.rng.choice([n for n in ["notAField", "NAME", "name_"] if n not in known])] = 1
    return True


def v_int_out_of_range(m):
    places = [p for p in variable_places(m) if named(p[1]) == "Int" and not isinstance(p[2], list)]
    if not places:
        return False
    m.rng.choice(places)[0](m.rng.choice([INT_MAX + 1, INT_MIN - 1, 10 ** 12, -(2 ** 53) + 1]))
    return True


def v_missing_required(m):
    required = [v for v in m.op.vars if non_null(v.type) and v.default is None
                and v.name in m.variables]
    if not required:
        return False
    del m.variables[m.rng.choice(required).name]
    return True


def v_operation_name(m):
    if len(m.doc.ops) < 2 and m.rng.random() < 0.5:
        m.operation_name = "NotAnOperation"
        return True
    if len(m.doc.ops) < 2:
        return False
    m.operation_name = m.rng.choice([None, "NotAnOperation"])
    return True


VAR_MUTATIONS = {
    "variable of the wrong type": v_wrong_type,
    "null for a non-null variable": v_null_for_non_null,
    "unknown input field in a variable": v_unknown_input_field,
    "Int variable out of range": v_int_out_of_range,
    "required variable missing": v_missing_required,
    "unknown or missing operationName": v_operation_name,
}


# ------------------------------------------------------------------------------ cases

class Generator:
    """The generated cases of one schema."""

    def __init__(self, name, intro, file_data):
        self.name = name
        self.schema = Schema(intro)
        self.file_data = file_data

    def case(self, seed, index):
        """Case <index> of <seed>: {"name", "request", "valid", "about"}; "valid" is what
        graphql-js must answer (True: a response with data)."""
        rng = random.Random(f"{self.name}:{seed}:{index}")
        r = rng.random()
        mode = "valid" if r < 0.5 else "document" if r < 0.82 else "variables"
        plan = [("valid", None)]
        if mode != "valid":
            # Each mutation gets a few documents to apply to before the next one is tried
            # (some need a variable of an input object type, a fragment, ...).
            plan = []
            for kind in [mode, "document"] if mode == "variables" else [mode]:
                table = DOC_MUTATIONS if kind == "document" else VAR_MUTATIONS
                names = sorted(table)
                rng.shuffle(names)
                plan += [(kind, n) for n in names for _ in range(4)]
        for mode, name in plan:
            b = Builder(self.schema, rng, var_bias=0.45 if mode == "variables" else 0.2)
            doc = b.document()
            op = rng.choice(doc.ops)
            if mode == "variables" and op.kind == "subscription":
                continue  # js-run.mjs refuses a subscription before it coerces variables
            variables = b.variables(op)
            chaos = rng.choice([0, 0, 0.03, 0.1, 0.25])
            if self.file_data is not None and rng.random() < 0.1:
                data = self.file_data
            else:
                data = DataMaker(self.schema, doc, rng, chaos).root(op)
            m = Mutator(b, op, variables)
            about = "valid"
            if mode != "valid":
                table = DOC_MUTATIONS if mode == "document" else VAR_MUTATIONS
                if not table[name](m):
                    continue
                about = name
            text = Printer(rng).doc(doc)
            if m.text_edit:
                text = m.text_edit(text)
            req = {"data": data, "query": text}
            if op.vars or variables or rng.random() < 0.1:
                req["variables"] = m.variables
            if len(doc.ops) > 1 or m.operation_name != op.name or (op.name and rng.random() < 0.3):
                req["operationName"] = m.operation_name
            valid = mode == "valid" and op.kind != "subscription"
            return {"name": f"{seed}:{index}", "request": req, "valid": valid, "about": about}
        raise RuntimeError(f"{self.name}:{seed}:{index}: no mutation applies")


def generators(schema_dir, names=SCHEMAS):
    """{name: Generator} for the case files <names>, their schemas written to <schema_dir>."""
    out = {}
    for name in names:
        sdl, data = load_case_file(os.path.join(HERE, "cases", name + ".json"))
        path = os.path.join(schema_dir, f"generated-{name}.graphql")
        with open(path, "w") as f:
            f.write(sdl)
        out[name] = (Generator(name, introspect(path), data), path)
    return out


def main(argv):
    import argparse
    import tempfile
    p = argparse.ArgumentParser(description="Prints generated requests, one per line.")
    p.add_argument("schema", help="the case file whose schema and data to use: "
                   + ", ".join(SCHEMAS))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--index", type=int, help="only this case")
    p.add_argument("--pretty", action="store_true", help="the cases, readable")
    a = p.parse_args(argv)
    name = os.path.basename(a.schema).removesuffix(".json")
    with tempfile.TemporaryDirectory(prefix="slipway-gql-gen-") as tmp:
        gen, _ = generators(tmp, [name])[name]
    indexes = [a.index] if a.index is not None else range(a.count)
    for i in indexes:
        case = gen.case(a.seed, i)
        if a.pretty:
            print(f"# {name}:{case['name']} ({case['about']}, valid: {case['valid']})")
            print(case["request"]["query"])
            print(json.dumps({k: v for k, v in case["request"].items() if k != "query"}))
        else:
            print(json.dumps(case["request"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
