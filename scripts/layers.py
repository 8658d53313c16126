#!/usr/bin/env python3
"""The module graph of src/, and its circles.

A module is a file at a level that has subfolders, or a whole folder without subfolders
(docs/ARCHITECTURE.md: `server/auth/` is one module, `server/domain/streams.rs` another). An edge
A -> B is a path into B written in A (`crate::…`, `super::…`, or a `use` of either), tests
included. Prints every circle and the files over the line limit; exits 1 if there is any.

    scripts/layers.py            the check (scripts/test runs it)
    scripts/layers.py --graph    also print every edge
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
MAX_LINES = 600


def modules():
    """Maps each .rs file to its module, a tuple of path segments."""
    owner = {}
    for folder, subfolders, files in os.walk(ROOT):
        rel = os.path.relpath(folder, ROOT)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        leaf = not [d for d in subfolders if not d.startswith(".")]
        for name in files:
            if not name.endswith(".rs"):
                continue
            stem = name[:-3]
            if parts and leaf:
                module = parts
            elif stem in ("mod", "lib", "main"):
                module = parts if parts else ("crate",)
            else:
                module = parts + (stem,)
            owner[os.path.join(folder, name)] = module
    return owner


def file_path(path):
    """The path segments a file stands for (`server/db/pool.rs` -> server, db, pool)."""
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


PATH = re.compile(r"\b((?:crate|super)(?:::(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*))+)")
USE = re.compile(r"\buse\s+((?:crate|super)::[^;]+);", re.S)


def strip(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def expand(tree):
    """`crate::a::{b, c::{d, e}}` -> [crate::a::b, crate::a::c::d, crate::a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                items, level, item = [], 0, ""
                for c in inner:
                    if c == "," and level == 0:
                        items.append(item)
                        item = ""
                        continue
                    level += c == "{"
                    level -= c == "}"
                    item += c
                items.append(item)
                out = []
                for it in items:
                    if it:
                        out += expand(prefix + it + rest)
                return out
    return [tree]


INLINE_MOD = re.compile(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{")


def inline_mods(text):
    """The spans of inline `mod name { … }` blocks: (start, end, name)."""
    spans = []
    for m in INLINE_MOD.finditer(text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            depth += text[i] == "{"
            depth -= text[i] == "}"
            if depth == 0:
                break
            i += 1
        spans.append((m.start(), i, m.group(1)))
    return spans


def resolve(path, here):
    parts = path.split("::")
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    else:
        base = list(here)
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
    return tuple(base + [p for p in parts if p not in ("self", "*")])


def target(segments, known):
    """The module a path lands in: the longest known module that prefixes it."""
    for n in range(len(segments), 0, -1):
        if segments[:n] in known:
            return segments[:n]
    return ("crate",)


def main():
    owner = modules()
    known = set(owner.values())
    edges = {}
    long_files = []
    for path, module in owner.items():
        text = open(path, encoding="utf-8").read()
        lines = text.count("\n")
        if lines > MAX_LINES:
            long_files.append((lines, os.path.relpath(path, ROOT)))
        text = strip(text)
        here = file_path(path)
        spans = inline_mods(text)
        inside = lambda at: here + tuple(n for (a, b, n) in spans if a <= at <= b)
        found = []
        for m in USE.finditer(text):
            found += [(p, m.start()) for p in expand(m.group(1))]
        for m in PATH.finditer(text):
            found.append((m.group(1), m.start()))
        for p, at in found:
            if "{" in p:
                continue
            to = target(resolve(p, inside(at)), known)
            if to != module and to != ("crate",):
                edges.setdefault(module, {}).setdefault(to, set()).add(os.path.relpath(path, ROOT))
    name = lambda m: "/".join(m)
    if "--graph" in sys.argv:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{name(a)} -> {name(b)}")
    # Strongly connected components (Tarjan): each with more than one module is a circle.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(scc)

    sys.setrecursionlimit(10000)
    for v in sorted(known):
        if v not in index:
            visit(v)
    for scc in sccs:
        members = set(scc)
        print("circle: " + ", ".join(sorted(name(m) for m in scc)))
        for a in sorted(scc):
            for b, files in sorted(edges.get(a, {}).items()):
                if b in members:
                    print(f"  {name(a)} -> {name(b)}  ({', '.join(sorted(files))})")
    for lines, path in sorted(long_files, reverse=True):
        print(f"over {MAX_LINES} lines: src/{path} ({lines})")
    print(f"{len(known)} modules, {sum(len(v) for v in edges.values())} edges, "
          f"{len(sccs)} circles, {len(long_files)} files over {MAX_LINES} lines")
    return 1 if sccs or long_files else 0


if __name__ == "__main__":
    sys.exit(main())
