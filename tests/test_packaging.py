"""What `pip install .` ships: every package of the source tree, and the C sources."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_package_is_listed_for_installation():
    """A package missing from [tool.setuptools] packages installs without it (an editable
    install would hide that): vqcodec.coding once did."""
    # tomllib is 3.11+; the line is a plain list literal.
    line = re.search(r"^packages = (\[.*\])$", (ROOT / "pyproject.toml").read_text(), re.M)
    listed = set(ast.literal_eval(line.group(1)))
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "vqcodec").rglob("__init__.py")
    }
    assert found <= listed, found - listed


def test_c_sources_live_outside_the_package():
    """A folder named like the extension (vqcodec/_core/) would shadow vqcodec._core."""
    assert not (ROOT / "vqcodec" / "_core").is_dir()
    assert {p.name for p in (ROOT / "csrc").glob("*.c")} >= {"module.c", "entropy.c", "pack.c"}
