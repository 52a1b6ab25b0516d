"""The Vega, Vega-Lite and Vega-Embed JavaScript, inlined into every report page.

vl-convert ships the three libraries and bundles them into one script (`javascript_bundle`), so
a page needs no CDN and opens from `file://` offline. Bundling takes several seconds, so the
result is kept under the cache folder (`R2D_CACHE_DIR`, default ~/.cache/r2d-sdk), one file per
vl-convert and Vega-Lite version.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from r2d_sdk._errors import ConfigError
from r2d_sdk._settings import cache_dir

INSTALL = "pip install 'altair==6.3.0' 'vl-convert-python==1.9.0.post1'"


def require_charts() -> None:
    """Fail with the install command when the chart libraries are missing (without importing them)."""
    from importlib.util import find_spec

    missing = [name for name in ("altair", "vl_convert", "jinja2") if find_spec(name) is None]
    if missing:
        raise ConfigError(f"the report needs Altair, vl-convert and Jinja2 ({', '.join(missing)} not installed)",
                          fix=INSTALL + " jinja2")


def vega_lite_version() -> str:
    """The Vega-Lite version Altair writes specifications for, as vl-convert names it (`6.4`)."""
    import altair

    major, minor = altair.SCHEMA_VERSION.lstrip("v").split(".")[:2]
    return f"{major}.{minor}"


@functools.cache
def javascript_bundle() -> str:
    """The bundled libraries (a global `vegaEmbed`), from the cache folder or built once."""
    require_charts()
    from importlib.metadata import version as installed

    version = vega_lite_version()
    path = cache_dir() / "report" / f"vega-bundle-vlc{installed('vl-convert-python')}-vl{version}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    import vl_convert

    # Inlined in a <script> element: a literal "</script" inside it would end the element early.
    made: str = vl_convert.javascript_bundle(vl_version=version)  # type: ignore[call-arg]
    bundle = made.replace("</script", "<\\/script")
    _write_quietly(path, bundle)
    return bundle


def _write_quietly(path: Path, content: str) -> None:
    # The cache is an optimisation: a read-only home folder only costs the next report a rebuild.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(content)
        os.replace(partial, path)
    except OSError:
        pass
