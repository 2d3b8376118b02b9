"""Package list for setuptools (everything else is in pyproject.toml).

The top-level resources/ folder (icons, desktop entry, MIME types, style sheets, the default Modelfile, the
quality text) is installed as the package `workbench.resources`. pyproject.toml's `packages.find` cannot map a
folder outside the package tree, so the list and that mapping live here; new subpackages of workbench/ and ui/
are still found automatically.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["workbench", "workbench.*", "ui", "ui.*"]), "workbench.resources"],
    package_dir={"workbench.resources": "resources"},
    package_data={"workbench.resources": ["*", "**/*"]},
)
