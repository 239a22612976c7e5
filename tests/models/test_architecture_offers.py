"""Architectures from installed packages: a distribution offers a params class through the
entry-point group, and a manifest names it like a built-in one. A name offered twice, a broken
entry point or an unknown name is refused for that name alone, saying which packages offer it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service import __version__
from service.errors import ManifestError
from service.models.architectures import (
    ENTRY_POINT_GROUP,
    MLPParams,
    architecture_origin,
    find_architecture,
    offers,
    resolve_architecture,
)
from service.models.manifest import ArchitectureSpec
from tests.support.distributions import write_distribution

TINY = '''
from torch import nn
from service.models.architectures import ArchitectureParams


class TinyParams(ArchitectureParams):
    """y = a * x, one weight."""

    width: int = 1

    def widths(self):
        return self.width, self.width

    def build(self):
        return nn.Linear(self.width, self.width, bias=False)


NOT_PARAMS = 42
'''


Install = Callable[..., None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install a distribution offering `entries` (its module is ``TINY``) on ``sys.path`` for
    this test; the offers are read afresh before and after."""

    def put(name: str, entries: dict[str, str], version: str = "1.0") -> None:
        root = write_distribution(
            tmp_path / name,
            name,
            version,
            entry_points={ENTRY_POINT_GROUP: entries},
            modules={f"{name.replace('-', '_')}_arch.py": TINY},
        )
        monkeypatch.syspath_prepend(str(root))
        offers.cache_clear()

    yield put
    offers.cache_clear()


def test_an_installed_package_offers_an_architecture_a_manifest_can_name(install: Install):
    install("tiny-arch", {"tiny": "tiny_arch_arch:TinyParams"}, version="2.3")
    cls, origin = find_architecture("tiny")
    assert (cls.__name__, origin) == ("TinyParams", "tiny-arch 2.3")
    params = resolve_architecture(ArchitectureSpec(name="tiny", params={"width": 3}))
    assert params.widths() == (3, 3)
    assert find_architecture("mlp")[0] is MLPParams


@pytest.mark.parametrize(
    ("entries", "name", "message"),
    [
        ({"mlp": "tiny_arch_arch:TinyParams"}, "mlp", "offered 2 times (dimtensor-serve"),
        ({"ghost": "no_such_module:Params"}, "ghost", "ModuleNotFoundError"),
        ({"missing": "tiny_arch_arch:Absent"}, "missing", "AttributeError"),
        ({"number": "tiny_arch_arch:NOT_PARAMS"}, "number", "expected a subclass"),
        ({}, "elsewhere", f"entry-point group {ENTRY_POINT_GROUP!r}"),
    ],
)
def test_a_bad_offer_is_refused_naming_where_it_came_from(
    install: Install, entries: dict[str, str], name: str, message: str
):
    install("tiny-arch", entries)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        find_architecture(name)


def test_a_bad_offer_leaves_every_other_architecture_usable(install: Install):
    install("tiny-arch", {"ghost": "no_such_module:Params"})
    assert find_architecture("mlp")[0] is MLPParams


def test_the_model_listing_says_where_each_architecture_comes_from(install: Install):
    install("tiny-arch", {"tiny": "tiny_arch_arch:TinyParams"}, version="2.3")
    assert architecture_origin("tiny") == "tiny-arch 2.3"
    assert architecture_origin("mlp") == f"dimtensor-serve {__version__}"
    assert architecture_origin("elsewhere") is None
