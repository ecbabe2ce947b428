"""Guards against a Qt binding that breaks the app in ways our own tests would only
show as a random abort much later."""

from __future__ import annotations

import sys

from PySide6.QtCore import QAbstractListModel, QIdentityProxyModel, QModelIndex


class _NoneModel(QAbstractListModel):
    def rowCount(self, parent: object = QModelIndex()) -> int:  # noqa: B008, N802
        return 1

    def data(self, index: object, role: int = 0) -> None:
        return None  # what every model returns for roles it does not serve


def test_python_models_returning_none_do_not_leak_none_references() -> None:
    """PySide6 6.12.0 decrefs None on each such call; Python 3.11 then aborts
    ("deallocating None") once scrolling a gallery has made enough calls."""
    source = _NoneModel()
    proxy = QIdentityProxyModel()
    proxy.setSourceModel(source)
    index = proxy.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(500):
        proxy.data(index, 256)  # C++ calls the Python data() and converts its None
    assert sys.getrefcount(None) - before > -50
