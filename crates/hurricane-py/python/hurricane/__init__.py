"""hurricane: a Kubernetes-native application server for Django, written in Rust.

Add ``"hurricane"`` to ``INSTALLED_APPS`` and run ``python manage.py serve``, or run the
``hurricane serve`` console script in the project directory. The server itself is the
extension module ``hurricane._hurricane``; this package only starts it.
"""

from hurricane._hurricane import __version__

__all__ = ["__version__"]
