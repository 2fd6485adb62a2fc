#!/usr/bin/python3
"""Checks that the modules under src/ depend on each other one way only.

The order is declared once, in the top CMakeLists.txt (`set(SIDECACHE_MODULES ...)`): a module
may link and include only modules listed before it. Checked:
  - each src/<module>/CMakeLists.txt: every sidecache_<x> it links comes earlier in the order;
  - each file of src/<module>/: every `#include "<x>/..."` names the module itself or one it
    links (directly, or through another module's PUBLIC link);
  - include/sidecache/ (the seams every module may use) includes no module at all.
Prints each violation as file:line: message and exits 1 if there is any.

Usage: check_deps.py [SOURCE_DIR]   (default: the checkout this script is in)
"""
import os
import re
import sys

ORDER_RE = re.compile(r"set\(\s*SIDECACHE_MODULES\s+([^)]*)\)", re.S)
LINK_RE = re.compile(r"target_link_libraries\(\s*(\S+)([^)]*)\)", re.S)
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/[^"]*"')
SOURCE_EXTENSIONS = (".cpp", ".hpp", ".h", ".cc", ".inc")


def declared_order(root):
    path = os.path.join(root, "CMakeLists.txt")
    with open(path) as f:
        text = f.read()
    match = ORDER_RE.search(text)
    if not match:
        sys.exit("%s: no set(SIDECACHE_MODULES ...) declaring the module order" % path)
    body = re.sub(r"#[^\n]*", "", match.group(1))
    return body.split()


def module_links(root, module, modules):
    """The modules `module`'s library links, each with the line it is named on."""
    path = os.path.join(root, "src", module, "CMakeLists.txt")
    links = []
    with open(path) as f:
        text = f.read()
    for match in LINK_RE.finditer(text):
        if match.group(1) != "sidecache_" + module:
            continue
        start = match.start(2)
        for token in re.finditer(r"\S+", match.group(2)):
            name = token.group(0)
            if not name.startswith("sidecache_") or name == "sidecache_options":
                continue
            line = text.count("\n", 0, start + token.start()) + 1
            links.append((name[len("sidecache_"):], os.path.relpath(path, root), line))
    return links


def source_files(directory):
    for dirpath, _, names in os.walk(directory):
        for name in sorted(names):
            if name.endswith(SOURCE_EXTENSIONS):
                yield os.path.join(dirpath, name)


def includes(path, modules):
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            match = INCLUDE_RE.match(line)
            if match and match.group(1) in modules:
                yield match.group(1), number


def check(root):
    order = declared_order(root)
    position = {m: i for i, m in enumerate(order)}
    errors = []
    direct = {}
    for module in order:
        if not os.path.isdir(os.path.join(root, "src", module)):
            errors.append("CMakeLists.txt: module '%s' in SIDECACHE_MODULES has no src/%s/"
                          % (module, module))
            continue
        direct[module] = set()
        for dep, path, line in module_links(root, module, order):
            if dep not in position:
                errors.append("%s:%d: sidecache_%s links sidecache_%s, which is not a module in "
                              "SIDECACHE_MODULES" % (path, line, module, dep))
            elif position[dep] >= position[module]:
                errors.append("%s:%d: back edge: %s links %s, which comes after it in "
                              "SIDECACHE_MODULES (%s)" % (path, line, module, dep,
                                                         " -> ".join(order)))
            else:
                direct[module].add(dep)
    for name in sorted(os.listdir(os.path.join(root, "src"))):
        if os.path.isdir(os.path.join(root, "src", name)) and name not in position:
            errors.append("src/%s/: not listed in SIDECACHE_MODULES (CMakeLists.txt)" % name)

    # Everything a module may use: what it links, and what those link, in order.
    reach = {}
    for module in order:
        if module not in direct:
            continue
        seen = set(direct[module])
        for dep in direct[module]:
            seen |= reach.get(dep, set())
        reach[module] = seen

    for module in order:
        if module not in reach:
            continue
        for path in source_files(os.path.join(root, "src", module)):
            for dep, line in includes(path, position):
                if dep == module or dep in reach[module]:
                    continue
                rel = os.path.relpath(path, root)
                if position[dep] > position[module]:
                    errors.append("%s:%d: back edge: %s includes %s/, which comes after it in "
                                  "SIDECACHE_MODULES" % (rel, line, module, dep))
                else:
                    errors.append("%s:%d: %s includes %s/ but does not link sidecache_%s"
                                  % (rel, line, module, dep, dep))
    for path in source_files(os.path.join(root, "include", "sidecache")):
        for dep, line in includes(path, position):
            errors.append("%s:%d: include/sidecache/ holds the seams below every module; it "
                          "includes %s/" % (os.path.relpath(path, root), line, dep))
    return order, errors


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    order, errors = check(root)
    for error in errors:
        print(error)
    if errors:
        print("%d dependency problem(s); the order is %s" % (len(errors), " -> ".join(order)))
        return 1
    print("ok: %s" % " -> ".join(order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
