"""olympus_zeus: the Python worker shim of Olympus (see ../README.md).

Run it as ``python3 -m olympus_zeus PLAN_MODULE [ROOT_ACTION]``. A plan may
import this package to report extra files::

    import olympus_zeus
    olympus_zeus.track("config/settings.toml")
"""

from .worker import track

__all__ = ["track"]
