#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate in the workspace.

An edge A -> B means module A names module B (a `use` or an inline `crate::`, `super::` or
`self::` path). A module may use its ancestors, and declaring `mod child;` is not an edge; every
other pair of modules must depend one way only. Inline `mod name { ... }` blocks (unit tests)
are leaves and are skipped. Prints each cycle and exits 1 if there is any.

Usage: module-cycles.py [REPO_ROOT]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()


def strip(text):
    """Source without comments, string and char literals (roughly, but enough for paths)."""
    text = re.sub(r'r(#*)"(?:.|\n)*?"\1', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    text = re.sub(r"/\*(?:.|\n)*?\*/", "", text)
    return re.sub(r"//[^\n]*", "", text)


def skip_inline_modules(text):
    """Drops the bodies of `mod name { ... }` blocks."""
    out, i = [], 0
    for match in re.finditer(r"\bmod\s+\w+\s*\{", text):
        if match.start() < i:
            continue
        out.append(text[i:match.start()])
        depth, j = 0, match.end() - 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d}}` -> [a::b, a::c::d]."""
    tree = tree.replace(" ", "").replace("\n", "")
    depth, start = 0, None
    for k, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = k
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1 : k]
                parts, d, s = [], 0, 0
                for m, c in enumerate(inner):
                    d += c == "{"
                    d -= c == "}"
                    if c == "," and d == 0:
                        parts.append(inner[s:m])
                        s = m + 1
                parts.append(inner[s:])
                return [p for part in parts if part for p in expand(prefix + part)]
    return [tree]


def modules_of(src):
    """Module path (tuple) for every file of a crate root directory."""
    mods = {}
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        mods[path] = tuple(parts)
    return mods


def resolve(segments, here, known):
    """The module a path names, or None for an outside crate."""
    if segments[0] == "crate":
        base, rest = (), segments[1:]
    elif segments[0] in ("super", "self"):
        base, rest = here, segments
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    elif here + (segments[0],) in known:
        base, rest = here, segments
    else:
        return None
    target = base
    for seg in rest:
        if target + (seg,) in known:
            target = target + (seg,)
        else:
            break
    return target


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def crate_roots():
    for manifest in ROOT.rglob("Cargo.toml"):
        if any(part in ("target", ".local", "node_modules") for part in manifest.parts):
            continue
        crate = manifest.parent
        if (crate / "src").is_dir():
            yield crate.relative_to(ROOT), crate / "src"
        tests = crate / "tests"
        if tests.is_dir():
            for sub in tests.iterdir():
                if sub.is_dir() and (sub / "main.rs").exists():
                    yield sub.relative_to(ROOT), sub


def main():
    bad = 0
    for name, src in sorted(crate_roots()):
        mods = modules_of(src)
        known = set(mods.values())
        graph = {m: set() for m in known}
        for path, here in mods.items():
            text = skip_inline_modules(strip(path.read_text()))
            paths = [p for tree in re.findall(r"\buse\s+([^;]+);", text) for p in expand(tree)]
            paths += re.findall(r"\b(?:crate|super|self)(?:::\w+)+", text)
            for p in paths:
                segments = [s for s in p.split("::") if s and s != "*"]
                if not segments:
                    continue
                target = resolve(segments, here, known)
                if target is None or target == here or here[: len(target)] == target:
                    continue  # another crate, itself, or an ancestor
                graph[here].add(target)
        for comp in cycles(graph):
            bad += 1
            names = sorted("::".join(m) or "(root)" for m in comp)
            print(f"{name}: cycle between {', '.join(names)}")
    if bad:
        sys.exit(1)
    print("module-cycles: no import cycle between the modules of any crate")


main()
