"""Output files (tidehash._atomic): written whole or not at all, with the mode a new
file gets (the umask), an existing file's mode kept, and links written through."""

from __future__ import annotations

import errno
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

    def atomic_write(path, mask):
        with atomic_file(path) as f:
            f.write(b"whole\n")

    def cli(*args):
        def run(path, mask):
            r = _cli(*[path if a is None else a for a in args], mask=mask)
            assert r.returncode == 0, r.stderr
        return run

    return {
        "Index.save": index_save,
        "write_list": lambda path, mask: write_list(hl, path, "hex"),
        "save_list": lambda path, mask: save_list(hl, path),
        "atomic_file": atomic_write,
        "write_vpdq": lambda path, mask: tidehash.write_vpdq(
            [tidehash.VPDQFeature.from_line(f"0,100,{HEX},0.000")], path),
        "hash -o": cli("hash", "-o", None, img),
        "match -o": cli("match", "--against", listed, "-o", None, img),
        "index build -o": cli("index", "build", listed, "-o", None),
        "convert -o": cli("convert", listed, "--to", "hex", "-o", None),
    }


WRITERS = ("Index.save", "write_list", "save_list", "write_vpdq", "hash -o", "match -o",
           "index build -o", "convert -o")
API_WRITERS = ("Index.save", "write_list", "save_list", "write_vpdq", "atomic_file")
CLI_WRITERS = ("hash -o", "match -o", "index build -o", "convert -o")


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


def _same_output(writer, data: bytes, reference: bytes) -> None:
    """``data`` (written into a FIFO or pipe) is what ``writer`` writes into a file
    (``index build`` records when it ran: the same length and header then)."""
    if writer == "index build -o":
        assert len(data) == len(reference) and data[:8] == reference[:8], writer
    else:
        assert data == reference, writer


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:  # a writer still has it open: nothing more can come
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("writer", WRITERS + ("atomic_file",))
def test_output_into_a_fifo_writes_into_it(tmp_path, umask, writer):
    """Regression (fixed): -o onto a FIFO (and every API writer) renamed a regular
    file over it: the FIFO was gone and a reader waiting on it got nothing. Now a
    path that is not a regular file is opened and written into, as ``> fifo`` does.
    The FIFO is opened non-blocking for reading first, so the writer's open never
    waits and the test cannot hang (outputs are far below a pipe's buffer)."""
    write = _writers(tmp_path)[writer]
    reference = tmp_path / "reference"
    write(reference, 0o022)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link-to-fifo"
    link.symlink_to(fifo)
    for path in (fifo, link):
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            write(path, 0o022)
            assert stat.S_ISFIFO(os.lstat(fifo).st_mode), f"{writer}: the FIFO was replaced"
            data = _drain(reader)
        finally:
            os.close(reader)
        _same_output(writer, data, reference.read_bytes())
    assert link.is_symlink()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.parametrize("writer", API_WRITERS)
def test_api_output_into_a_pipe_by_its_proc_path(tmp_path, writer):
    """Regression (fixed): /proc/self/fd/N of a pipe (what ``>(cat)`` and
    /dev/stdout give) failed: the temporary file went into /proc/<pid>/fd/ (ENOENT)."""
    write = _writers(tmp_path)[writer]
    reference = tmp_path / "reference"
    write(reference, 0o022)
    r, w = os.pipe()
    try:
        os.set_blocking(r, False)
        write(f"/proc/self/fd/{w}", 0o022)
        write(f"/dev/fd/{w}", 0o022)
        os.close(w)
        w = None
        data = _drain(r)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
    ref = reference.read_bytes()
    assert data == ref + ref, writer


@pytest.mark.parametrize("writer", CLI_WRITERS)
def test_cli_output_to_dev_stdout_on_a_pipe(tmp_path, writer):
    """Regression (fixed): ``-o /dev/stdout | cat`` exited 1 naming a temporary
    file in /proc/<pid>/fd/; now it is written there, as ``> /dev/stdout`` does."""
    write = _writers(tmp_path)[writer]
    reference = tmp_path / "reference"
    write(reference, 0o022)
    args = {"hash -o": ("hash", "-o", "/dev/stdout", tmp_path / "img.png"),
            "match -o": ("match", "--against", tmp_path / "in.txt", "-o", "/dev/stdout",
                         tmp_path / "img.png"),
            "index build -o": ("index", "build", tmp_path / "in.txt", "-o", "/dev/stdout"),
            "convert -o": ("convert", tmp_path / "in.txt", "--to", "hex", "-o",
                           "/dev/stdout")}[writer]
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, "-m", "tidehash.cli", *map(str, args)], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 0 and r.stderr == b"", (writer, r.stderr)
    _same_output(writer, r.stdout, reference.read_bytes())


@pytest.mark.parametrize("writer", WRITERS)
def test_output_onto_a_hard_link_replaces_that_name_only(tmp_path, writer):
    """The atomic replace gives the path written a new file: the other hard links
    keep the old content (documented; a half-written shared file would be worse)."""
    write = _writers(tmp_path)[writer]
    one, two = tmp_path / "hl1", tmp_path / "hl2"
    one.write_bytes(b"old")
    os.link(one, two)
    write(one, 0o022)
    assert two.read_bytes() == b"old" and one.read_bytes() != b"old"
    assert os.stat(one).st_nlink == 1 and os.stat(two).st_nlink == 1


def _api_error(writer, tmp_path, path) -> OSError:
    write = _writers(tmp_path)[writer]
    with pytest.raises(OSError) as info:
        write(path, 0o022)
    return info.value


@pytest.mark.parametrize("writer", API_WRITERS)
def test_api_errors_name_the_path_given_not_the_temporary_file(tmp_path, writer):
    """Regression (fixed): an output into a missing folder (also through a dangling
    link), onto a folder or to "" raised an error naming the temporary file
    (``.name.<hex>.tmp``) or left one behind."""
    folder = tmp_path / "folder"
    folder.mkdir()
    dangling = tmp_path / "dang"
    dangling.symlink_to(tmp_path / "missing" / "t.json")
    cases = [(tmp_path / "missing" / "out", FileNotFoundError),
             (dangling, FileNotFoundError),
             (folder, IsADirectoryError),
             ("", FileNotFoundError)]
    for path, kind in cases:
        exc = _api_error(writer, tmp_path, path)
        assert isinstance(exc, kind), (writer, path, exc)
        assert exc.filename == str(path) and ".tmp" not in str(exc), (writer, exc)
    assert os.listdir(folder) == []
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert not [n for n in os.listdir(os.getcwd()) if n.endswith(".tmp")]


def test_atomic_file_into_a_folder_raises_eisdir_before_writing(tmp_path):
    with pytest.raises(IsADirectoryError) as info, atomic_file(tmp_path):
        pytest.fail("the block must not run")
    assert info.value.errno == errno.EISDIR and info.value.filename == str(tmp_path)
