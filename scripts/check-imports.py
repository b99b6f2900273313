#!/usr/bin/env python3
"""Fails when two modules of src/ import each other, directly or in a loop,
or when one imports from main. A module is a file: src/doctor/host.rs is
`doctor::host`, src/doctor/mod.rs and src/init.rs are `doctor` and `init`.
An import is any path through `crate::`, `super::` or `self::` outside tests."""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(rel):
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts)


def main():
    files = {}
    for top, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(top, name)
                files[module_of(os.path.relpath(path, SRC))] = open(path).read()
    modules = set(files)

    def resolve(path):
        """The longest known module a `a::b::c` path starts with."""
        parts = path.split("::")
        for n in range(len(parts), 0, -1):
            name = "::".join(parts[:n])
            if name in modules:
                return name
        return None

    edges = {m: set() for m in modules}
    for module, text in files.items():
        text = text.split("#[cfg(test)]")[0]
        text = re.sub(r"//.*", "", text)
        # `use a::{b, c::d}` groups: expand one level.
        def expand(match):
            head, body = match.group(1), match.group(2)
            return " ".join(f"{head}::{item.strip()}" for item in body.split(","))

        text = re.sub(r"((?:crate|super|self)(?:::\w+)*)::\{([^{}]*)\}", expand, text)
        parent = module.rsplit("::", 1)[0] if "::" in module else ""
        for kind, rest in re.findall(r"\b(crate|super|self)::([\w:]+)", text):
            base = {"crate": "", "super": parent, "self": module}[kind]
            target = resolve(f"{base}::{rest}" if base else rest)
            if target is None and kind == "super":
                target = parent or None
            if target and target != module:
                edges[module].add(target)

    bad = [m for m, deps in edges.items() if "main" in deps]
    for m in bad:
        print(f"{m} imports from main")
    # Cycles: Tarjan's strongly connected components.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    for c in cycles:
        print("modules that import each other: " + ", ".join(c))
    if bad or cycles:
        return 1
    print(f"imports: {len(modules)} modules, no cycle, none imports main")
    return 0


if __name__ == "__main__":
    sys.exit(main())
