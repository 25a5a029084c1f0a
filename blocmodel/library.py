"""The scenario library (`data/scenarios/`) and designs composed from it.

A design is written `a+b+c`: each part a library name (a file `data/scenarios/<name>.toml`)
or a path to a TOML file; parts compose left to right (`scenario.compose`). A scenario
whose `baseline` names another library scenario is a diff against it, so it is composed on
top of that one first (`china_ban_response` brings `china_ban`). Named sets of designs
live in `data/scenario_sets.toml` (`headline` is what `blocmodel compare` runs by default).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .dataset import DEFAULT_DATA
from .errors import InputError, Problem, suggest
from .scenario import Scenario, compose, load_scenario

LIBRARY = DEFAULT_DATA / "scenarios"
SETS = DEFAULT_DATA / "scenario_sets.toml"


def library_names(library: Path = LIBRARY) -> list[str]:
    return sorted(p.stem for p in Path(library).glob("*.toml"))


def _part(name: str, library: Path, seen: tuple[str, ...]) -> list[Scenario]:
    path = Path(name)
    if path.suffix != ".toml":
        path = Path(library) / f"{name}.toml"
    elif not path.is_file() and not path.is_absolute() and (DEFAULT_DATA.parent / path).is_file():
        path = DEFAULT_DATA.parent / path      # 'data/scenarios/x.toml' from anywhere, e.g. notebooks/
    if not path.is_file():
        raise InputError([Problem(name, "no such scenario in the library or file",
                                  hint=suggest(name, library_names(library)) or f"library: {library}")])
    scenario = load_scenario(path)
    key = str(path.resolve())
    if key in seen:
        raise InputError([Problem(str(path), f"baseline chain loops back to itself ({' -> '.join(seen)})", field="baseline")])
    parts = []
    if scenario.baseline and scenario.baseline != "baseline":
        parts = _part(scenario.baseline, library, seen + (key,))
    return parts + [scenario]


def load_design(spec: str | Path, library: Path = LIBRARY) -> Scenario:
    """The scenario a design spec names: `full_bloc`, `bloc_msp+cet25`, `my.toml+floor_ndpr_stockpile`."""
    names = [p.strip() for p in str(spec).split("+") if p.strip()]
    if not names:
        raise InputError([Problem(str(spec), "empty design")])
    parts: list[Scenario] = []
    for name in names:
        for s in _part(name, library, ()):
            if s not in parts:
                parts.append(s)
    if len(parts) == 1 and len(names) == 1:
        return parts[0]
    return compose(parts, name="+".join(Path(n).stem for n in names))


def scenario_set(name: str = "headline", sets: Path = SETS) -> list[str]:
    data = tomllib.loads(Path(sets).read_text())
    if name not in data:
        raise InputError([Problem(str(sets), f"no scenario set '{name}'", hint=suggest(name, list(data)))])
    return list(data[name]["designs"])


SET_KEYS = ("title", "designs", "key_products", "focus", "baseline")


def scenario_set_options(name: str = "headline", sets: Path = SETS) -> dict:
    """What a named set says beside its designs: `title`, `key_products` (the products the
    report tabulates), `focus` (the outsider it watches), `baseline` (a library scenario or
    'baseline' for no policy). Unknown keys are errors."""
    data = tomllib.loads(Path(sets).read_text())
    if name not in data:
        raise InputError([Problem(str(sets), f"no scenario set '{name}'", hint=suggest(name, list(data)))])
    entry = data[name]
    unknown = [k for k in entry if k not in SET_KEYS]
    if unknown:
        raise InputError([Problem(str(sets), f"unknown key '{k}' in set '{name}'", hint=suggest(k, list(SET_KEYS)))
                          for k in unknown])
    return {k: entry[k] for k in SET_KEYS if k in entry and k != "designs"}
