"""Output files (tidehash._atomic): written whole or not at all, with the mode a new
file gets (the umask), an existing file's mode kept, and links written through."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tidehash
from tidehash._atomic import atomic_file
from tidehash.formats import read_list, save_list, write_list

SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])
HEX = "f" * 64


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _cli(*args, mask: int):
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    return subprocess.run([sys.executable, "-c", f"import os, sys; os.umask({mask:#o}); "
                           "from tidehash.cli import main; sys.exit(main(sys.argv[1:]))",
                           *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=120)


def _writers(tmp_path):
    """Each output path of the API and the CLI, as a function writing ``path``."""
    img = tmp_path / "img.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(img)
    listed = tmp_path / "in.txt"
    listed.write_text(tidehash.hash_file(img).pdq.hex + "\n")
    hl = read_list(listed)

    def index_save(path, mask):
        ix = tidehash.Index()
        ix.add([HEX])
        ix.save(path)

    def cli(*args):
        def run(path, mask):
            r = _cli(*[path if a is None else a for a in args], mask=mask)
            assert r.returncode == 0, r.stderr
        return run

    return {
        "Index.save": index_save,
        "write_list": lambda path, mask: write_list(hl, path, "hex"),
        "save_list": lambda path, mask: save_list(hl, path),
        "atomic_file": lambda path, mask: atomic_file(path).__enter__().close() or None,
        "hash -o": cli("hash", "-o", None, img),
        "match -o": cli("match", "--against", listed, "-o", None, img),
        "index build -o": cli("index", "build", listed, "-o", None),
        "convert -o": cli("convert", listed, "--to", "hex", "-o", None),
    }


WRITERS = ("Index.save", "write_list", "save_list", "hash -o", "match -o", "index build -o",
           "convert -o")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("writer", WRITERS)
def test_new_files_respect_the_umask_and_existing_files_keep_their_mode(tmp_path, umask,
                                                                        writer):
    """Regression (fixed): every output was mode 0600 (the temporary file's), and an
    overwritten 0644 file became 0600."""
    write = _writers(tmp_path)[writer]
    for mask in (0o022, 0o077, 0o002):
        umask(mask)
        path = tmp_path / f"new-{mask:o}"
        write(path, mask)
        assert _mode(path) == 0o666 & ~mask, (writer, oct(mask), oct(_mode(path)))
    umask(0o077)
    for keep in (0o644, 0o640, 0o604):
        path = tmp_path / f"old-{keep:o}"
        path.write_bytes(b"old")
        os.chmod(path, keep)
        write(path, 0o077)
        assert _mode(path) == keep and path.read_bytes() != b"old", writer
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.parametrize("writer", WRITERS)
def test_output_onto_a_symlink_writes_its_target(tmp_path, umask, writer):
    """Regression (fixed): -o onto a symbolic link replaced the link by a file. The
    link stays and the file it points to is written (as shell redirection does),
    also through a chain of links and to a target that does not exist yet."""
    write = _writers(tmp_path)[writer]
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link"
    link.symlink_to(target)
    chain = tmp_path / "chain"
    chain.symlink_to(link)
    write(chain, 0o022)
    assert chain.is_symlink() and link.is_symlink()
    assert target.read_bytes() != b"old" and _mode(target) == 0o640
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "real" / "new")
    write(dangling, 0o022)
    assert dangling.is_symlink() and (tmp_path / "real" / "new").is_file()
    assert _mode(tmp_path / "real" / "new") == 0o644
    assert not [n for d in (tmp_path, tmp_path / "real") for n in os.listdir(d)
                if n.endswith(".tmp")]


def test_a_failed_write_leaves_the_file_and_its_mode(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old")
    os.chmod(path, 0o604)
    with pytest.raises(RuntimeError), atomic_file(path) as f:
        f.write(b"new")
        raise RuntimeError
    assert path.read_bytes() == b"old" and _mode(path) == 0o604
    assert os.listdir(tmp_path) == ["out"]
