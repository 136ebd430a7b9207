"""The install instructions stay true: pyproject.toml, environment.yml, README and .ci/run agree."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement

# conda-forge's name where it differs from PyPI's.
CONDA_TO_PYPI = {"pytorch": "torch"}
SETUP_COMMAND = 'python3 -m venv .venv && source .venv/bin/activate && pip install -e ".[dev]"'
TEST_COMMAND = "pytest"


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject(root):
    with open(root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]


def _requirements(lines):
    return {_normalise(r.name): str(r.specifier) for r in map(Requirement, lines)}


def test_environment_yml_lists_exactly_the_dependencies_of_pyproject(root):
    project = _pyproject(root)
    wanted = _requirements(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_requirements(extra))

    env = yaml.safe_load((root / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "conda-forge only"
    conda, pip = [], []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            pip.extend(item["pip"])
        else:
            conda.append(item)
    conda_requirements = {}
    for line in conda:
        requirement = Requirement(line.replace("=", "==", 1) if re.match(r"^[\w-]+=[^=]", line) else line)
        name = CONDA_TO_PYPI.get(requirement.name, requirement.name)
        if name not in ("python", "pip"):
            conda_requirements[_normalise(name)] = str(requirement.specifier)
    editable = [line for line in pip if line.startswith("-e")]
    pip_requirements = _requirements([line for line in pip if not line.startswith("-e")])

    assert not conda_requirements.keys() & pip_requirements.keys(), "listed twice"
    listed = {**conda_requirements, **pip_requirements}
    assert listed == wanted, (
        f"environment.yml and pyproject.toml drifted apart: only in environment.yml "
        f"{sorted(listed.keys() - wanted.keys())}, only in pyproject.toml {sorted(wanted.keys() - listed.keys())}, "
        f"different versions {sorted(k for k in listed.keys() & wanted.keys() if listed[k] != wanted[k])}"
    )
    extras = ",".join(sorted(project["optional-dependencies"]))
    assert editable == [f"-e .[{extras}]"], "the pip section installs the package with the same extras"


def test_python_version_of_environment_yml_is_allowed_by_pyproject(root):
    env = yaml.safe_load((root / "environment.yml").read_text())
    [python] = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert Requirement(_pyproject(root)["requires-python"].join(["python", ""])).specifier.contains(
        python.split("=", 1)[1] + ".0"
    )


def test_ci_runs_exactly_the_readme_commands(root):
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    assert f"```bash\n{SETUP_COMMAND}\n```" in readme
    assert f"```bash\n{TEST_COMMAND}\n```" in readme
    assert SETUP_COMMAND in ci.splitlines()
    assert re.search(rf"['\s]{TEST_COMMAND}'?$", ci, flags=re.MULTILINE), "CI runs the README's test command"


def test_pytest_runs_every_notebook_under_nbval_in_the_current_env(root):
    with open(root / "pyproject.toml", "rb") as handle:
        options = tomllib.load(handle)["tool"]["pytest"]["ini_options"]
    assert "notebooks" in options["testpaths"] and "tests" in options["testpaths"]
    assert "--nbval-lax" in options["addopts"] and "--nbval-current-env" in options["addopts"]


def test_images_the_readme_shows_exist(root):
    readme = (root / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images, "the README shows the course"
    for image in images:
        assert (root / image).is_file(), image
