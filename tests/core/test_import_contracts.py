"""The apps' import arrows point down (pyproject's import-linter contracts), so no two apps
import each other; a new app has to be placed in a layer."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_import_contracts__are_kept():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_contracts__every_project_app_sits_in_a_layer():
    [layers] = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    layered = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    project_apps = {
        config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT
    }

    assert project_apps == layered
    assert set(CONFIG["root_packages"]) == layered
    assert layers["layers"][0] == "lmo" and layers["layers"][-1] == "core"


def test_import_contracts__console_and_api_modules_are_the_only_ones_looking_up():
    # Only presentation modules (console pages, API views and serializers) may import an
    # app above their own; a model, service, selector or task never does.
    # The one exception: lmo.clock, which every layer asks what time it is (issue 16).
    [layers] = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    rules = [[part.strip() for part in rule.split("->")] for rule in layers["ignore_imports"]]
    assert [source for source, target in rules if target == "lmo.clock"] == ["**"]
    importers = {source for source, target in rules if target != "lmo.clock"}
    presentation = (".admin", ".admin_forms", ".admin_views", ".console", ".api.")

    assert all(any(part in name + "." for part in presentation) for name in importers), importers
