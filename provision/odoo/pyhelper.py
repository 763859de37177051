# odoobot's Python helper: what only Python reads exactly. Odoo's
# __manifest__.py files, with ast.literal_eval as Odoo reads them (never
# executed), and PEP 508 environment markers, with the packaging library
# as pip evaluates them. One request, a JSON object, on stdin; one answer,
# a JSON object, on stdout. Run by odoobot with -I (and -S when the
# request needs no installed package); the Go side bounds its time and
# its output.
import ast
import json
import os
import stat
import sys


def main():
    try:
        import resource

        gib = 1 << 30
        resource.setrlimit(resource.RLIMIT_AS, (gib, gib))
    except (ImportError, ValueError, OSError):
        pass
    req = json.load(sys.stdin)
    op = req.get("op")
    if op == "manifests":
        out = {"results": [manifest(p, req["limit"]) for p in req["paths"]]}
    elif op == "markers":
        out = markers(req["markers"], req.get("environment") or {})
    else:
        out = {"error": "unknown request %r" % (op,)}
    json.dump(out, sys.stdout)


# The manifest keys odoobot reads.
KEYS = ("license", "depends", "installable", "auto_install")


def manifest(path, limit):
    """Reads one manifest: {"keys": {...}} with the keys odoobot reads, in
    JSON (a value JSON cannot say exactly is {"python": its type}), or
    {"error": what is wrong}."""
    try:
        data = read_bounded(path, limit)
    except OSError as e:
        return {"error": e.strerror or str(e)}
    except ValueError as e:
        return {"error": str(e)}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return {"error": "not UTF-8 text (byte %d)" % e.start}
    try:
        # What ast.literal_eval does with a string, parsed here to report
        # where a non-literal is.
        tree = ast.parse(text.lstrip(" \t"), mode="eval")
    except SyntaxError as e:
        if not text.strip():
            return {"error": "empty"}
        return {"error": "line %d: %s" % (e.lineno, e.msg) if e.lineno else e.msg}
    except (ValueError, RecursionError, MemoryError) as e:
        return {"error": "unreadable: %s" % (short(e),)}
    try:
        value = ast.literal_eval(tree)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
        node = culprit(tree.body)
        if node is None:
            return {"error": "not a Python literal: %s" % (short(e),)}
        seg = ast.get_source_segment(text.lstrip(" \t"), node) or type(node).__name__
        if len(seg) > 80:
            seg = seg[:77] + "..."
        return {"error": "line %d: %s is not a literal (Odoo reads a manifest with ast.literal_eval)" % (node.lineno, " ".join(seg.split()))}
    if not isinstance(value, dict):
        return {"error": "not a dict but a %s" % (type(value).__name__,)}
    return {"keys": {k: plain(value[k]) for k in KEYS if k in value}}


def read_bounded(path, limit):
    """The bytes of the regular file at path, refusing more than limit
    bytes; never blocks on a FIFO or a device."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > limit:
            raise ValueError("%d bytes, larger than the %d odoobot reads of a manifest" % (st.st_size, limit))
        chunks, n = [], 0
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            n += len(b)
            if n > limit:
                raise ValueError("larger than the %d bytes odoobot reads of a manifest" % (limit,))
            chunks.append(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def plain(v):
    """v in JSON: strings, booleans and None as they are, lists, tuples
    and sets as lists (sets sorted), anything else as {"python": type}."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [plain(e) for e in v]
    if isinstance(v, (set, frozenset)):
        return [plain(e) for e in sorted(v, key=lambda e: (type(e).__name__, repr(e)))]
    return {"python": type(v).__name__}


def culprit(node):
    """The first node that ast.literal_eval refuses in node, or None."""
    if isinstance(node, ast.Constant):
        return None
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        for e in node.elts:
            c = culprit(e)
            if c is not None:
                return c
        return None
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values):
            if k is None:  # {**other}
                return v
            c = culprit(k) or culprit(v)
            if c is not None:
                return c
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        return culprit(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return culprit(node.left) or culprit(node.right) or node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "set" and not node.args and not node.keywords:
        return None
    return node


def markers(ms, environment):
    """Evaluates each marker for this interpreter's environment updated
    with environment: {"results": [{"value": bool} or {"error": why}]},
    or {"missing": "packaging"}."""
    try:
        from packaging.markers import Marker, default_environment
    except ImportError:
        try:  # pip vendors it
            from pip._vendor.packaging.markers import Marker, default_environment
        except ImportError:
            return {"missing": "packaging", "error": "%s has neither the packaging library nor pip" % (sys.executable,)}
    env = default_environment()
    env.update(environment)
    out = []
    for m in ms:
        try:
            out.append({"value": bool(Marker(m).evaluate(env))})
        except Exception as e:  # InvalidMarker, UndefinedComparison, UndefinedEnvironmentName…
            out.append({"error": short(e)})
    return {"results": out}


def short(e):
    """The first line of an exception's message, with its type when empty."""
    s = str(e).strip().split("\n")[0]
    return s or type(e).__name__


main()
