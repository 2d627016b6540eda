#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks BlueFog.jl without a Julia runtime (none can be installed on the CI machines).

  check_julia.py syntax PATH...               every .jl file parses with tree-sitter-julia
  check_julia.py selftest HEADER DLPACK     both checks catch seeded mistakes in a scratch file
  check_julia.py ccalls HEADER DLPACK PATH... every ccall names a function of bluefog.h with the
      same number and kinds of arguments and return type; every header function has a ccall;
      every header enumerator and argument struct (and the DLPack structs) is mirrored

DLPACK is dlpack/dlpack.h, or "-" to leave the DLPack structs unchecked. Both parse the header at
run time: nothing about the API is listed here. Exit status 0 when all
checks pass, 1 on a finding (printed as file:line:column), 77 (Meson's "skipped") when
tree-sitter is not installed.
"""
import os
import re
import sys

try:
    import tree_sitter_julia
    from tree_sitter import Language, Parser
except ImportError:
    print("tree-sitter / tree-sitter-julia not installed: pip install tree-sitter tree-sitter-julia")
    sys.exit(77)

PARSER = Parser(Language(tree_sitter_julia.language()))

# ----------------------------------------------------------------------------------------------
# Julia side


def parse(path):
    with open(path, "rb") as f:
        return PARSER.parse(f.read())


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def where(path, node):
    line, column = node.start_point
    return f"{path}:{line + 1}:{column + 1}"


def syntax_errors(path):
    return [f"{where(path, n)}: {'missing ' + n.type if n.is_missing else 'syntax error'} "
            f"near {n.text[:40].decode(errors='replace')!r}"
            for n in walk(parse(path).root_node) if n.type == "ERROR" or n.is_missing]


def text(node):
    return node.text.decode()


def named(node):
    """Children without punctuation."""
    return [c for c in node.children if c.is_named]


JULIA_PRIMITIVES = {
    "Cint": "int", "Int32": "int", "Cuint": "unsigned int", "UInt32": "unsigned int",
    "Cdouble": "double", "Float64": "double", "Csize_t": "size_t", "Int64": "int64_t",
    "Clonglong": "int64_t", "UInt64": "uint64_t", "Culonglong": "uint64_t", "Cchar": "char",
    "UInt8": "uint8_t", "UInt16": "uint16_t", "Cvoid": "void",
}


class JuliaTypes:
    """Resolves Julia type expressions (with `const X = Y` aliases) to canonical C types."""

    def __init__(self, trees):
        self.aliases = {}
        self.structs = {}
        self.constants = {}
        for path, tree in trees:
            for node in walk(tree.root_node):
                if node.type == "const_statement":
                    assignment = named(node)[0]
                    if assignment.type == "assignment":
                        name, value = named(assignment)[0], named(assignment)[-1]
                        if value.type in ("identifier", "field_expression"):
                            self.aliases[text(name)] = text(value)
                        match = re.fullmatch(r"[A-Za-z_]\w*\((-?\d+)\)|(-?\d+)", text(value))
                        if match:
                            self.constants[text(name)] = int(match.group(1) or match.group(2))
                elif node.type == "struct_definition":
                    head = next(c for c in named(node) if c.type == "type_head")
                    fields = [(text(named(f)[0]), named(f)[-1]) for f in named(node)
                              if f.type == "typed_expression"]
                    self.structs[text(head)] = fields

    def canonical(self, node):
        if node.type == "parametrized_type_expression":
            outer = text(named(node)[0])
            inner = named(named(node)[1])
            if outer in ("Ptr", "Ref") and len(inner) == 1:
                return self.canonical(inner[0]) + "*"
            return text(node)
        name = text(node).split(".")[-1]  # DLPack.DLTensor -> DLTensor
        if name == "Cstring":
            return "char*"
        seen = set()
        while name in self.aliases and name not in seen:
            seen.add(name)
            name = self.aliases[name].split(".")[-1]
        return JULIA_PRIMITIVES.get(name, name)


def ccalls(path, tree):
    """(node, name or None, return type node, [argument type nodes], argument count)."""
    for node in walk(tree.root_node):
        if node.type != "call_expression" or text(named(node)[0]) != "ccall":
            continue
        args = named(named(node)[1])
        if len(args) < 3:
            yield node, None, None, None, None, "ccall needs (function, library), types"
            continue
        target, ret, types = args[0], args[1], args[2]
        if target.type != "tuple_expression":
            continue  # a call through a function pointer (the DLPack deleter), not bluefog.h
        symbol = named(target)[0]
        if symbol.type != "quote_expression":
            yield node, None, None, None, None, "function name is not a :symbol"
            continue
        if types.type != "tuple_expression":
            yield node, None, None, None, None, "argument types are not a tuple (missing comma?)"
            continue
        yield node, text(named(symbol)[0]), ret, named(types), len(args) - 3, None


# ----------------------------------------------------------------------------------------------
# C side

C_PRIMITIVES = {"int", "unsigned int", "double", "size_t", "int64_t", "uint64_t", "char",
                "void", "uint8_t", "uint16_t"}


def c_code(path):
    with open(path) as f:
        code = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
    code = re.sub(r"//[^\n]*", " ", code)
    return "\n".join(l for l in code.splitlines() if not l.lstrip().startswith("#"))


def c_typedefs(code):
    """Typedef name -> canonical type: enums are int, scalar typedefs their type."""
    typedefs = {}
    for match in re.finditer(r"typedef\s+enum\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;", code, re.S):
        typedefs[match.group(2)] = "int"
    for match in re.finditer(r"typedef\s+([\w ]+?)\s+(\w+)\s*;", code):
        base = match.group(1).strip()
        if base in C_PRIMITIVES:
            typedefs[match.group(2)] = base
    return typedefs


def c_enumerators(code):
    values = {}
    for body in re.findall(r"typedef\s+enum\s*\w*\s*\{(.*?)\}", code, re.S):
        for item in body.split(","):
            if "=" in item:
                name, value = item.split("=")
                values[name.strip()] = int(value.strip().rstrip("uU"), 0)
    return values


def c_type(decl, typedefs, named_decl):
    """'const bf_topology *topology' -> 'bf_topology*' (const dropped: Julia has none)."""
    tokens = decl.replace("*", " * ").split()
    if named_decl and len([t for t in tokens if t not in ("*", "const", "struct")]) >= 2:
        tokens.pop()
    stars = tokens.count("*")
    base = " ".join(t for t in tokens if t not in ("*", "const", "struct"))
    return typedefs.get(base, base) + "*" * stars


def c_functions(code, typedefs):
    functions = {}
    for piece in code.split("BF_API")[1:]:
        decl = piece[:piece.index(";")]
        head, params = decl[:decl.index("(")], decl[decl.index("(") + 1:decl.rindex(")")]
        name = re.findall(r"\w+", head)[-1]
        ret = c_type(head[:head.rindex(name)], typedefs, False)
        types = [c_type(p, typedefs, True) for p in params.split(",")
                 if p.strip() and p.strip() != "void"]
        functions[name] = (ret, types)
    return functions


def c_structs(code, typedefs):
    """typedef struct [tag] { fields } NAME; -> NAME: [(field, canonical type)]."""
    structs = {}
    for match in re.finditer(r"typedef\s+struct\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;", code, re.S):
        fields = []
        for field in match.group(1).split(";"):
            field = " ".join(field.split())
            if not field:
                continue
            pointer_to_function = re.match(r".*\(\s*\*\s*(\w+)\s*\)", field)
            if pointer_to_function:
                fields.append((pointer_to_function.group(1), "void*"))
            else:
                fields.append((re.findall(r"\w+", field)[-1], c_type(field, typedefs, True)))
        structs[match.group(2)] = fields
    return structs


# ----------------------------------------------------------------------------------------------


def check_ccalls(header, dlpack, paths):
    header_code = c_code(header)
    dlpack_code = c_code(dlpack) if dlpack != "-" else ""  # "-": skip the DLPack structs
    typedefs = {**c_typedefs(dlpack_code), **c_typedefs(header_code)}
    functions = c_functions(header_code, typedefs)
    if len(functions) < 40:
        return [f"{header}: found only {len(functions)} functions; the header parse is broken"]
    trees = [(p, parse(p)) for p in paths]
    julia = JuliaTypes(trees)
    problems, called = [], set()
    count = 0
    for path, tree in trees:
        for node, name, ret, types, nargs, error in ccalls(path, tree):
            count += 1
            if error:
                problems.append(f"{where(path, node)}: {error}")
                continue
            if name not in functions:
                problems.append(f"{where(path, node)}: {name} is not a function of bluefog.h")
                continue
            called.add(name)
            c_ret, c_params = functions[name]
            j_params = [julia.canonical(t) for t in types]
            if len(j_params) != len(c_params):
                problems.append(f"{where(path, node)}: {name} takes {len(c_params)} arguments, "
                                f"the ccall declares {len(j_params)}")
            elif j_params != c_params:
                problems.append(f"{where(path, node)}: {name} argument types {j_params}, "
                                f"header {c_params}")
            if nargs != len(j_params):
                problems.append(f"{where(path, node)}: {name} declares {len(j_params)} argument "
                                f"types but passes {nargs} arguments")
            if julia.canonical(ret) != c_ret:
                problems.append(f"{where(path, node)}: {name} returns {c_ret}, the ccall "
                                f"declares {julia.canonical(ret)}")
    for name in sorted(set(functions) - called):
        problems.append(f"{header}: {name} has no ccall in BlueFog.jl")

    for name, value in c_enumerators(header_code).items():
        if julia.constants.get(name) != value:
            problems.append(f"{header}: {name} = {value}, BlueFog.jl has "
                            f"{julia.constants.get(name)}")
    c_struct_fields = {**c_structs(dlpack_code, typedefs), **c_structs(header_code, typedefs)}
    for name, fields in c_struct_fields.items():
        if name not in julia.structs:
            problems.append(f"{name}: struct of the C API without a Julia mirror")
            continue
        ours = [(field, julia.canonical(ty)) for field, ty in julia.structs[name]]
        if ours != fields:
            problems.append(f"{name}: C fields {fields}, Julia fields {ours}")
    print(f"{count} ccalls checked against {len(functions)} header functions, "
          f"{len(c_struct_fields)} structs")
    return problems


SEEDED_MISTAKES = """
const bf_status = Cint
const BF_ERR_TIMEOUT = bf_status(6)
a() = ccall((:bf_barrier_typo, libbluefog), bf_status, ())
b(t, f, to, w) = ccall((:bf_topology_weight, libbluefog), Cdouble,
                       (Ptr{bf_topology}, Cint, Ptr{Cdouble}), t, f, to, w)
c() = ccall((:bf_rank, libbluefog), Cint, (Cint))
d(x) = ccall((:bf_size, libbluefog), Cint, (), x)
e(s) = ccall((:bf_status_string, libbluefog), Cstring, (Cdouble,), s)
"""

SEEDED_FINDINGS = [
    "bf_barrier_typo is not a function of bluefog.h",
    "bf_topology_weight takes 4 arguments, the ccall declares 3",
    "bf_topology_weight returns int, the ccall declares double",
    "argument types are not a tuple",
    "bf_size declares 0 argument types but passes 1 arguments",
    "bf_status_string argument types ['double'], header ['int']",
    "BF_ERR_TIMEOUT = 5, BlueFog.jl has 6",
    "bf_init has no ccall",
    "bf_init_options: struct of the C API without a Julia mirror",
]


def selftest(header, dlpack):
    """Runs both checks on seeded mistakes; returns what they failed to catch."""
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "seeded.jl")
        with open(path, "w") as f:
            f.write(SEEDED_MISTAKES)
        findings = "\n".join(check_ccalls(header, dlpack, [path]))
        with open(path, "w") as f:
            f.write("f(x = ccall((:bf_rank, libbluefog), Cint, ())\n")
        syntax = syntax_errors(path)
    missed = [f"selftest: the ccall check missed {s!r}" for s in SEEDED_FINDINGS
              if s not in findings]
    if not syntax:
        missed.append("selftest: the syntax check missed an unclosed parenthesis")
    return missed


def julia_files(paths):
    """The given files, and the .jl files under the given directories, sorted."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += [os.path.join(d, f) for d, _, names in os.walk(path) for f in names
                      if f.endswith(".jl") and os.path.isfile(os.path.join(d, f))]
        else:
            files.append(path)
    return sorted(files)


def main(argv):
    if len(argv) >= 3 and argv[1] == "syntax":
        files = julia_files(argv[2:])
        problems = [p for path in files for p in syntax_errors(path)]
        print(f"{len(files)} Julia files parsed")
        if not files:
            problems.append("no .jl files found")
    elif len(argv) == 4 and argv[1] == "selftest":
        problems = selftest(argv[2], argv[3])
    elif len(argv) >= 5 and argv[1] == "ccalls":
        problems = check_ccalls(argv[2], argv[3], julia_files(argv[4:]))
    else:
        print(__doc__)
        return 2
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
