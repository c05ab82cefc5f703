"""_native.pyi tells the truth about tidehash._native: every public name of the module is
in the stub and every stubbed name is in the module; each function and method has the
stub's parameters (names, order, which have defaults, and their values where the stub
gives one); and each parameter's annotation matches its Cython declaration, read from
the signature Cython embeds in the docstring (embedsignature): C integers are `int`,
`bint` is `bool`, a typed memoryview is `NDArray[np.<its element type>]` (or `Buffer`
for a 1-D byte buffer), `list` a `list[...]`.

The constructor of a cdef class (`__cinit__`) has no introspectable signature, so
`__init__` in the stub is not checked."""

import ast
import inspect
import re
from pathlib import Path

import pytest

from tidehash import _native

STUB = Path(_native.__file__).with_name("_native.pyi")
if not STUB.is_file():
    STUB = Path(__file__).resolve().parent.parent / "src" / "tidehash" / "_native.pyi"

C_INTEGERS = {"int", "long", "size_t", "ssize_t", "Py_ssize_t"} | {
    f"{u}int{b}_t" for u in ("", "u") for b in (8, 16, 32, 64)}


def stub_tree():
    return ast.parse(STUB.read_text(encoding="utf-8"))


def stub_names(tree):
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def module_public_names():
    return {name for name, value in vars(_native).items()
            if not name.startswith("_") and not inspect.ismodule(value)}


def split_params(text):
    """Split a C parameter list at the commas outside brackets."""
    params, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            params.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        params.append(text[start:].strip())
    return params


def cython_param_types(func):
    """{name: C type or ''} from the embedded signature `name(type name=default, ...)`."""
    first = (func.__doc__ or "").splitlines()[0]
    m = re.fullmatch(r"[\w.]+\((.*)\)(?:\s*->.*)?", first)
    assert m, f"{func.__qualname__}: no embedded signature in {first!r}"
    types = {}
    for param in split_params(m.group(1)):
        decl = param.split("=", 1)[0].strip()
        ctype, _, name = decl.rpartition(" ")
        types[name] = ctype.strip()
    return types


def strip_optional(annotation):
    return annotation.removesuffix(" | None")


def annotation_fits(ctype, annotation, has_none_default):
    annotation = strip_optional(annotation) if has_none_default else annotation
    base = ctype.replace("const ", "").strip()
    if "[" in base:  # a typed memoryview
        element, dims = base.split("[", 1)
        dtype = element.strip().removesuffix("_t")
        one_dim = "," not in dims
        return annotation == f"NDArray[np.{dtype}]" or (
            annotation == "Buffer" and dtype == "uint8" and one_dim)
    if base in C_INTEGERS:
        return annotation == "int"
    if base in ("bint", "bool"):
        return annotation == "bool"
    if base == "list":
        return annotation.startswith("list[")
    if base in ("", "object"):
        return annotation == "object"
    if base == "double":
        return annotation == "float"
    return False


def compare_function(qualname, func, node, skip_self=False):
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    args = node.args
    stub_params = args.posonlyargs + args.args
    if skip_self:
        params, stub_params = params[1:], stub_params[1:]
    assert [a.arg for a in stub_params] == [p.name for p in params], qualname
    defaults = [None] * (len(stub_params) - len(args.defaults)) + list(args.defaults)
    ctypes = cython_param_types(func)
    for p, sp, default in zip(params, stub_params, defaults):
        assert (default is not None) == (p.default is not inspect.Parameter.empty), \
            f"{qualname}({p.name}): default in the stub and the module disagree"
        if isinstance(default, ast.Constant) and default.value is not Ellipsis:
            assert default.value == p.default, f"{qualname}({p.name})"
        assert sp.annotation is not None, f"{qualname}({p.name}) has no annotation"
        annotation = ast.unparse(sp.annotation)
        ctype = ctypes[p.name]
        assert annotation_fits(ctype, annotation, p.default is None), \
            f"{qualname}({p.name}): stub says {annotation}, Cython declares {ctype or 'object'}"
    assert node.returns is not None, f"{qualname} has no return annotation"


def test_stub_and_module_have_the_same_names():
    stubbed = set(stub_names(stub_tree()))
    public = module_public_names()
    assert public - stubbed == set(), "missing from _native.pyi"
    assert stubbed - public == set(), "in _native.pyi but not in the module"


def test_constants_have_their_stub_types():
    for name, node in stub_names(stub_tree()).items():
        if isinstance(node, ast.AnnAssign):
            annotation = ast.unparse(node.annotation)
            expected = {"int": int, "dict[str, int]": dict}[annotation]
            assert isinstance(getattr(_native, name), expected), name


FUNCTIONS = [name for name, node in stub_names(stub_tree()).items()
             if isinstance(node, ast.FunctionDef)]
CLASSES = [name for name, node in stub_names(stub_tree()).items()
           if isinstance(node, ast.ClassDef)]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_matches_stub(name):
    compare_function(name, getattr(_native, name), stub_names(stub_tree())[name])


@pytest.mark.parametrize("name", CLASSES)
def test_class_matches_stub(name):
    cls = getattr(_native, name)
    node = stub_names(stub_tree())[name]
    stubbed = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            stubbed.add(item.name)
            if item.name == "__init__":
                continue
            member = cls.__dict__[item.name]
            is_property = any(ast.unparse(d) == "property" for d in item.decorator_list)
            if is_property:
                assert inspect.isgetsetdescriptor(member) or isinstance(member, property), \
                    f"{name}.{item.name} is not a property"
            else:
                compare_function(f"{name}.{item.name}", member, item, skip_self=True)
        elif isinstance(item, ast.AnnAssign):
            stubbed.add(item.target.id)
            assert inspect.isgetsetdescriptor(cls.__dict__[item.target.id]), item.target.id
    public = {n for n in cls.__dict__ if not n.startswith("_")}
    assert public - stubbed == set(), f"{name}: missing from _native.pyi"


def test_stub_check_catches_a_wrong_type():
    """The checker itself can fail: an int parameter stubbed as bool, a memoryview of
    uint64 stubbed as uint32."""
    assert not annotation_fits("int", "bool", False)
    assert not annotation_fits("const uint64_t[:, ::1]", "NDArray[np.uint32]", False)
    assert annotation_fits("int16_t[::1]", "NDArray[np.int16] | None", True)
    assert not annotation_fits("const uint8_t[:, ::1]", "Buffer", False)
